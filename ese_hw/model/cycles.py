"""Cycle model of the channel, cycle for cycle the RTL's handshake rules as event times.

Pure numpy; never imports Amaranth. Every latency comes from
:class:`ese_hw.model.timing.Timing`, the object the gateware is built from, so
the two cannot drift apart.

* :class:`ArrayTimer` is the PE array: a column pushed into every PE's queue
  (only when no queue is full: ``push_i >= pop[p, i - D] + 1``, ``D`` =
  ``queue_depth``) is popped ``queue_latency`` later (or when the pointer stage
  frees), its pointers arrive ``pointer_latency`` after the pop, an empty column
  (no entries in this PE) is dropped there and costs the matrix reader nothing,
  otherwise its ``n`` entries issue one per cycle from ``issue_latency`` after
  the matrix reader takes it (in the cycle of the previous column's last issue:
  no bubble); a PE is idle ``accum_latency`` after its last issue.
* :func:`frame_cycles` is a whole LSTMP step of
  :class:`ese_hw.gateware.channel.Channel`: the scheduler's phases
  (docs/schedule.md), the broadcaster's two stages, the element-wise pass in
  rounds of ``ew_slot(C)`` cycles per cell, the y read-out and output stream. A
  plain LSTM layer (no ``W_ym``) has no projection phase: the read-out copies
  ``m_t`` into the y banks once the element-wise pass has written its last cell.
* :func:`channel_cycles` runs the golden model for the activations, then
  :func:`frame_cycles`, and reports cycles per frame and PE utilization.
"""

import numpy as np

from .limits import check_int
from .timing import DEFAULT_TIMING

__all__ = [
    "ArrayTimer",
    "group_columns",
    "useful_macs",
    "frame_cycles",
    "channel_cycles",
]

class ArrayTimer:
    """Event times of the PE array's queues, pointer readers and matrix readers.

    One :meth:`push` per broadcast column; the state carries over, so a caller
    can chain several SpMVs (a whole LSTMP step) through the same array.
    Per PE ``p`` and pushed column ``i`` with ``n`` entries (latencies of
    :class:`~ese_hw.model.timing.Timing`):

    * ``pop = max(push + queue_latency, ptr_free)``;
    * an empty column is dropped by the pointer stage when its pointers arrive:
      ``ptr_free = pop + pointer_latency``, idle from then;
    * otherwise ``take = max(pop + pointer_latency, last)``, ``last = take + n``
      (issues in ``take + 1 .. take + n``), ``ptr_free = take``, idle at
      ``last + accum_latency``;
    * a push needs room in every queue: ``push >= pop[p, i - D] + 1``.
    """

    def __init__(self, n_pe, queue_depth, *, timing=DEFAULT_TIMING):
        if not isinstance(queue_depth, int) or queue_depth < 1:
            raise ValueError(f"queue_depth must be an integer >= 1, not {queue_depth!r}")
        self.n_pe, self.depth = n_pe, queue_depth
        self.timing = timing
        self.pops = np.full((queue_depth, n_pe), -(1 << 40), dtype=np.int64)  # ring buffer
        self.n_pushed = 0
        self.ptr_free = np.full(n_pe, -(1 << 40), dtype=np.int64)
        self.last = np.full(n_pe, -(1 << 40), dtype=np.int64)
        self.idle = np.zeros(n_pe, dtype=np.int64)

    def earliest(self, t):
        """The first cycle ``>= t`` at which a push finds room in every queue."""
        oldest = self.pops[self.n_pushed % self.depth]
        return max(t, int(oldest.max()) + 1) if self.n_pe else t

    def push(self, t, n):
        """Push a column at cycle ``t`` (must be :meth:`earliest`-valid); ``n`` per-PE entries."""
        n = np.asarray(n, dtype=np.int64)
        tm = self.timing
        pop = np.maximum(t + tm.queue_latency, self.ptr_free)
        take = np.maximum(pop + tm.pointer_latency, self.last)
        nonempty = n > 0
        last = take + tm.issue_latency + n - 1
        self.last = np.where(nonempty, last, self.last)
        self.ptr_free = np.where(nonempty, take, pop + tm.pointer_latency)
        self.idle = np.maximum(self.idle, np.where(nonempty, last + tm.accum_latency,
                                                   pop + tm.pointer_latency))
        self.pops[self.n_pushed % self.depth] = pop
        self.n_pushed += 1

    def all_idle(self):
        """First cycle in which every PE is idle (queue empty, nothing in flight)."""
        return int(self.idle.max()) if self.n_pe else 0


# --------------------------------------------------------------------------- channel

def group_columns(values, broadcast, *, reduce=np.sum):
    """Columns (last axis) in groups of ``broadcast`` consecutive ones, the last group
    padded with zeros: what the broadcaster hands the PEs in one transfer. ``reduce``
    folds each group (``np.sum`` for entry counts, ``np.any`` for non-zero flags,
    ``np.max`` for availability)."""
    values = np.asarray(values)
    n = values.shape[-1]
    groups = -(-n // broadcast)
    pad = np.zeros(values.shape[:-1] + (groups * broadcast - n,), values.dtype)
    grouped = np.concatenate([values, pad], axis=-1)
    return reduce(grouped.reshape(values.shape[:-1] + (groups, broadcast)), axis=-1)


def _phase(timer, start, counts, nonzero, timing, avail=None):
    """Broadcast one phase from ``bc_start`` at cycle ``start``; return the cycle the
    scheduler sees the broadcaster idle.

    Stage A reads column ``i`` at ``r_i`` (from a strobe after ``start``); stage B
    offers it ``activation_read_latency`` later and pushes it at ``timer.earliest``
    (or drops an all-zero column at once); A reads the next column in the cycle B
    finishes, and never before the column is available (``avail``).
    """
    done = start + timing.strobe_latency
    for i in range(counts.shape[1]):
        r = done if avail is None else max(done, int(avail[i]))
        if nonzero[i]:
            done = timer.earliest(r + timing.activation_read_latency)
            timer.push(done, counts[:, i])
        else:
            done = r + timing.activation_read_latency
    return done + timing.bc_idle_latency


def frame_cycles(model, x_q, y_q, m_q, *, queue_depth, broadcast=1, ew_share=1, resets=None,
                 events=None, timing=DEFAULT_TIMING):
    """Cycle of every ``frame_done`` of :class:`ese_hw.gateware.channel.Channel`.

    Parameters
    ----------
    model : CompressedModel
    x_q, y_q, m_q : (C, T, I), (C, T, P), (C, T, H) integers
        Every channel's inputs, outputs and ``m_t`` (from the golden model); only
        zero / non-zero matters (a column is skipped when it is zero in every channel).
    broadcast : int
        Columns the broadcaster hands the PEs per transfer (K): each phase's columns go
        in groups of K (:func:`group_columns`); a group is skipped only when all its
        activations are zero, and a PE walks all its entries of the group as one column.
    ew_share : int
        PEs per element-wise unit (G): each local cell's slot feeds ``G * C`` lanes.
    resets : (T, C) booleans, optional
        Channels that start from zero state at that frame (frame 0 always does).
    timing : Timing
        The channel's latencies (the same object the channel was built with).

    The recurrence follows ``ese_hw.gateware.scheduler`` (the step's phases) and
    the channel's broadcaster, element-wise sequencer and read-out; the PEs are
    :class:`ArrayTimer`. Inputs are assumed to arrive one element per cycle from
    cycle 0 and outputs to be taken at once. Returns an int64 array of T cycles.
    With ``events`` (a list), one dict of phase boundaries per frame is appended.
    Every ``+ timing.strobe_latency`` below is a registered reaction: a scheduler
    state change, a freed x slot, a full-slot flag.
    """
    c_n, t_n, n_in = x_q.shape
    n = model.config.n_pe
    n_cells, n_proj = model.n_cells, model.n_proj
    cells = -(-n_cells // n)
    prow = -(-n_proj // n)
    k = check_int("broadcast", broadcast)
    ew_share = check_int("ew_share", ew_share)
    gate_counts = np.diff(model.gate.ptr, axis=1)
    x_counts = group_columns(gate_counts[:, :n_in], k)
    y_counts = group_columns(gate_counts[:, n_in:], k)
    projection = model.has_projection
    m_counts = group_columns(np.diff(model.ym.ptr, axis=1), k) if projection else None
    resets = np.zeros((t_n, c_n), bool) if resets is None else np.asarray(resets, bool)
    lanes = ew_share * c_n                  # what one element-wise unit feeds per cell
    slot = timing.ew_slot(lanes)
    step = timing.strobe_latency

    timer = ArrayTimer(n, queue_depth, timing=timing)
    x_nz = group_columns(np.any(np.asarray(x_q) != 0, axis=0), k, reduce=np.any)   # (T, I/K)
    m_nz = group_columns(np.any(np.asarray(m_q) != 0, axis=0), k, reduce=np.any)   # (T, H/K)
    y_q = np.asarray(y_q)
    done = np.zeros(t_n, dtype=np.int64)
    release = [-(1 << 40)] * 2     # cycle each slot was last released
    wait_x = 0                     # the scheduler enters WAIT_X
    ro_free = -(1 << 40)           # ro_busy low from this cycle
    out_free = -(1 << 40)
    prev_load_start = -n_in
    for t in range(t_n):
        s = t % 2
        load_start = max(prev_load_start + n_in, release[s] + step)
        prev_load_start = load_start
        x_full = load_start + n_in - 1 + step       # the slot's full flag after its last write
        s_x = max(wait_x, x_full)
        zero = np.ones(c_n, bool) if t == 0 else resets[t]
        e_x = _phase(timer, s_x, x_counts, x_nz[t], timing)
        release[s] = e_x
        y_wait = e_x + step
        if zero.all():
            g0 = y_wait + step
        else:
            s_y = max(y_wait, ro_free)
            y_prev = np.where(zero[:, None], 0, y_q[:, t - 1])
            y_nz = group_columns(np.any(y_prev != 0, axis=0), k, reduce=np.any)
            e_y = _phase(timer, s_y, y_counts, y_nz, timing)
            g0 = e_y + step
        s_p = max(g0, timer.all_idle(), ro_free)
        rounds = s_p + np.arange(cells) * slot + timing.m_round_ready(lanes)
        if projection:
            avail = group_columns(rounds[np.arange(n_cells) // n], k, reduce=np.max)
            e_p = _phase(timer, s_p, m_counts, m_nz[t], timing, avail)
            s_r = max(e_p + step, timer.all_idle(), out_free)
        else:
            # No projection phase: the scheduler waits in EW for the last cell's m_t
            # (the read-out then copies the m banks into the y banks).
            e_p = None
            s_r = max(s_p + step, int(rounds[-1]), out_free)
        done[t] = s_r + prow + timing.readout_extra
        output_end = int(done[t] + n_proj + timing.output_extra)
        if events is not None:
            events.append({"x_start": s_x, "x_end": e_x,
                           "y_start": None if zero.all() else s_y,
                           "gate_done": s_p, "first_m": int(rounds[0]) if cells else s_p,
                           "proj_pushed": e_p, "readout_start": s_r, "frame_done": int(done[t]),
                           "output_end": output_end})
        ro_free = done[t]
        out_free = output_end
        wait_x = s_r + step
    return done


def useful_macs(model):
    """Useful MACs per frame: non-zero weights of the nine matrices (padding excluded;
    a plain layer has eight, no ``W_ym``)."""
    weights = model.gate.weights() + (model.ym.weights() if model.has_projection else [])
    return sum(int(np.count_nonzero(w)) for w in weights)


def channel_cycles(model, x_q, *, queue_depth, broadcast=1, ew_share=1, resets=None,
                   timing=DEFAULT_TIMING):
    """Steady-state cycles per frame and utilization of a channel running ``x_q`` (C, T, I).

    Runs the golden model for the activations, then :func:`frame_cycles`. The
    figures are over frames 1 .. T-1 (frame 0 starts from an empty pipeline).
    """
    from .golden import GoldenModel

    x_q = np.asarray(x_q, dtype=np.int64)
    y_q, tr = GoldenModel(model).run_channels(x_q, resets, trace=True)
    m_q = tr["m"]
    t_n = x_q.shape[1]
    events = []
    done = frame_cycles(model, x_q, y_q, m_q, queue_depth=queue_depth, broadcast=broadcast,
                        ew_share=ew_share, resets=resets, events=events, timing=timing)
    per_frame = float(np.diff(done).mean()) if t_n > 1 else float(done[0])
    n = model.config.n_pe
    useful = useful_macs(model)
    return {
        "frame_done": done,
        "cycles_per_frame": per_frame,
        "useful_macs_per_frame": useful,
        "utilization": useful / (n * per_frame),
        # Last x element in -> last y element out, steady state (frames 1 .. T-1), for
        # a frame whose last element arrives just as the channel can start it (inputs
        # sent ahead wait in the x slots, and that wait is queueing, not latency).
        "latency_cycles": float(np.mean([e["output_end"] - e["x_start"] + timing.strobe_latency
                                         for e in events[1:] or events])),
        "y": y_q,
    }
