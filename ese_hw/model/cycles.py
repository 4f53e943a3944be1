"""Cycle model of the SpMV PE array, pinned cycle for cycle to ``ese_hw/gateware/spmv.py``.

Pure numpy; never imports Amaranth. The recurrence below is the RTL's handshake
rules written as event times (cycle 0 is the cycle in which ``start`` is high):

* Broadcaster (``SpMV``): from cycle ``START_LATENCY`` on it takes one activation
  per cycle (the activation stream is assumed always valid). A zero activation
  is consumed without a push. A non-zero one is pushed, as the ``i``-th column,
  into every PE's queue in the cycle ``push_i`` it is taken, and only if no
  queue is full: ``push_i >= pop[p, i - D] + 1`` for every PE (``D`` =
  ``queue_depth``; a queue slot freed by a pop is seen the next cycle).
* Queue -> pointer reader: ``pop[p, i] = max(push_i + QUEUE_LATENCY, ptr_free)``
  (the pointer stage holds one column; it may be refilled in the cycle it is
  handed on).
* Pointer reader: both pointers arrive ``POINTER_LATENCY`` after the pop. An
  empty column (no entries in this PE) is dropped there and frees the stage at
  once: it costs the matrix reader nothing. Otherwise
  ``take[p, i] = max(pop[p, i] + POINTER_LATENCY, last)`` where ``last`` is the
  last issue cycle of the PE's previous non-empty column (the next column is
  taken in that cycle, so there is no bubble between columns).
* Issue: column ``i`` issues its ``n`` entries (one per cycle) in cycles
  ``take + ISSUE_LATENCY .. take + n`` (``ISSUE_LATENCY`` = 1).
* Drain: a PE is idle ``ACCUM_LATENCY`` cycles after its last entry issue
  (entry memory read, decode, multiply, accumulate/write).
* ``done`` is high ``DONE_LATENCY`` cycles after the first cycle in which the
  broadcaster has taken all ``n_cols`` activations and every PE is idle.

Readout (not part of ``cycles``), from ``done`` until ``busy`` drops, with a
never-stalling consumer: ``readout_cycles = n_rows * (n_pe + READOUT_ROW_GAP) +
READOUT_LATENCY``: each local row is read from all PEs at once into a shift
register (one bubble cycle per row), then shifted out one word per cycle.
"""

import numpy as np

__all__ = [
    "ArrayTimer",
    "spmv_cycles",
    "START_LATENCY",
    "QUEUE_LATENCY",
    "POINTER_LATENCY",
    "ISSUE_LATENCY",
    "ACCUM_LATENCY",
    "DONE_LATENCY",
    "READOUT_ROW_GAP",
    "READOUT_LATENCY",
]

#: ``start`` strobe -> first cycle the broadcaster may take an activation.
START_LATENCY = 1
#: push into a queue -> earliest pop (SyncFIFO level registered).
QUEUE_LATENCY = 1
#: pop -> pointers valid for the matrix reader (synchronous even/odd bank read).
POINTER_LATENCY = 1
#: column taken by the matrix reader -> its first entry address issued.
ISSUE_LATENCY = 1
#: last entry issue -> PE idle: entry read (1), decode (1), multiply (1), accumulate (1).
ACCUM_LATENCY = 4
#: all idle -> ``done`` (registered strobe).
DONE_LATENCY = 1
#: readout: idle cycles per local row (buffer read into the shift register).
READOUT_ROW_GAP = 1
#: readout: first read's latency plus the return to ``IDLE``.
READOUT_LATENCY = 2


def _useful_per_column(image):
    """(n_pe, n_cols) non-padding entries per PE and column (non-zero weight)."""
    wb = image.weight_bits
    mask = (1 << wb) - 1
    ptr = np.asarray(image.ptr, dtype=np.int64)
    out = np.zeros((ptr.shape[0], ptr.shape[1] - 1), dtype=np.int64)
    for p, words in enumerate(image.words):
        nz = (np.asarray(words, dtype=np.int64) & mask) != 0
        cum = np.concatenate([[0], np.cumsum(nz)])
        out[p] = cum[ptr[p, 1:]] - cum[ptr[p, :-1]]
    return out


class ArrayTimer:
    """Event times of the PE array's queues, pointer readers and matrix readers.

    One :meth:`push` per broadcast column; the state carries over, so a caller
    can chain several SpMVs (a whole LSTMP step) through the same array.
    Per PE ``p`` and pushed column ``i`` with ``n`` entries:

    * ``pop = max(push + QUEUE_LATENCY, ptr_free)``;
    * an empty column is dropped by the pointer stage when its pointers arrive:
      ``ptr_free = pop + POINTER_LATENCY``, idle from then;
    * otherwise ``take = max(pop + POINTER_LATENCY, last)``, ``last = take + n``
      (issues in ``take + 1 .. take + n``), ``ptr_free = take``, idle at
      ``last + ACCUM_LATENCY``;
    * a push needs room in every queue: ``push >= pop[p, i - D] + 1``.
    """

    def __init__(self, n_pe, queue_depth):
        if not isinstance(queue_depth, int) or queue_depth < 1:
            raise ValueError(f"queue_depth must be an integer >= 1, not {queue_depth!r}")
        self.n_pe, self.depth = n_pe, queue_depth
        self.pops = np.full((queue_depth, n_pe), -(1 << 40), dtype=np.int64)  # ring buffer
        self.n_pushed = 0
        self.ptr_free = np.full(n_pe, -(1 << 40), dtype=np.int64)
        self.last = np.full(n_pe, -(1 << 40), dtype=np.int64)
        self.idle = np.zeros(n_pe, dtype=np.int64)
        self.busy = np.zeros(n_pe, dtype=np.int64)      # issue cycles, for utilization

    def earliest(self, t):
        """The first cycle ``>= t`` at which a push finds room in every queue."""
        oldest = self.pops[self.n_pushed % self.depth]
        return max(t, int(oldest.max()) + 1) if self.n_pe else t

    def push(self, t, n):
        """Push a column at cycle ``t`` (must be :meth:`earliest`-valid); ``n`` per-PE entries."""
        n = np.asarray(n, dtype=np.int64)
        pop = np.maximum(t + QUEUE_LATENCY, self.ptr_free)
        take = np.maximum(pop + POINTER_LATENCY, self.last)
        nonempty = n > 0
        last = take + ISSUE_LATENCY + n - 1
        self.last = np.where(nonempty, last, self.last)
        self.ptr_free = np.where(nonempty, take, pop + POINTER_LATENCY)
        self.idle = np.maximum(self.idle, np.where(nonempty, last + ACCUM_LATENCY,
                                                   pop + POINTER_LATENCY))
        self.pops[self.n_pushed % self.depth] = pop
        self.n_pushed += 1
        self.busy += n

    def all_idle(self):
        """First cycle in which every PE is idle (queue empty, nothing in flight)."""
        return int(self.idle.max()) if self.n_pe else 0


def spmv_cycles(image, act, *, queue_depth):
    """Cycles of one SpMV on the PE array, from the ``start`` strobe to ``done``.

    Parameters
    ----------
    image : SpmvImage-like
        Needs ``ptr`` ((n_pe, n_cols + 1)), ``words`` and ``weight_bits``.
    act : (n_cols,) integers
        Only zero / non-zero matters (zero columns are skipped).
    queue_depth : int >= 1
        Activation queue depth of every PE.

    Returns
    -------
    dict with ``cycles`` (start -> done), ``bound`` (busiest PE's entries, padding
    included, in non-skipped columns), ``useful_macs`` (non-padding entries in
    non-skipped columns), ``utilization`` (``useful_macs / (n_pe * cycles)``),
    ``bound_utilization`` (``useful_macs / (n_pe * bound)``), ``columns``
    (non-skipped columns) and ``readout_cycles``.
    """
    ptr = np.asarray(image.ptr, dtype=np.int64)
    n_pe, n_cols = ptr.shape[0], ptr.shape[1] - 1
    act = np.asarray(act).reshape(-1)
    if act.shape[0] != n_cols:
        raise ValueError(f"act has {act.shape[0]} values, the image has {n_cols} columns")
    counts = np.diff(ptr, axis=1)
    nz_cols = np.flatnonzero(act != 0)
    n_nz = len(nz_cols)
    timer = ArrayTimer(n_pe, queue_depth)
    t_prev = START_LATENCY - 1          # the broadcaster's previous transfer cycle
    j_prev = -1
    for j in nz_cols:
        t = timer.earliest(t_prev + (j - j_prev))   # skipped zero columns take a cycle each
        timer.push(t, counts[:, j])
        t_prev, j_prev = t, j
    idle = timer.idle
    t_last = t_prev + (n_cols - 1 - j_prev)     # remaining zero columns
    bcast_done = t_last + 1
    cycles = int(max(bcast_done, int(idle.max()) if n_pe else 0)) + DONE_LATENCY

    bound = int(counts[:, nz_cols].sum(axis=1).max()) if n_nz and n_pe else 0
    useful = int(_useful_per_column(image)[:, nz_cols].sum()) if n_nz else 0
    n_rows = int(getattr(image, "local_rows", 0))
    return {
        "cycles": cycles,
        "bound": bound,
        "useful_macs": useful,
        "utilization": useful / (n_pe * cycles) if n_pe else 0.0,
        "bound_utilization": useful / (n_pe * bound) if bound else 0.0,
        "columns": n_nz,
        "readout_cycles": n_rows * (n_pe + READOUT_ROW_GAP) + READOUT_LATENCY,
    }
