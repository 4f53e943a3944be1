"""Cycle model of the channel, cycle for cycle the RTL's handshake rules as event times.

Pure numpy; never imports Amaranth. Every latency comes from
:class:`ese_hw.model.timing.Timing`, the object the gateware is built from, so
the two cannot drift apart.

* :class:`ArrayTimer` is the PE array: a column pushed into every PE's queue
  (only when every queue had room for it a cycle before: :meth:`ArrayTimer.earliest`,
  ``D`` = ``queue_depth``) is popped ``queue_latency`` later (or when the pointer stage
  frees), its pointers arrive ``pointer_latency`` after the pop and move into the
  span register ``span_latency`` before the matrix reader may take them, an empty
  column (no entries in this PE) is dropped on that move and costs the matrix reader
  nothing, otherwise its ``n`` entries issue one per cycle from ``issue_latency`` after
  the matrix reader takes it (in the cycle of the previous column's last issue:
  no bubble); a PE is idle ``accum_latency`` after its last issue.
* :func:`frame_cycles` is a whole LSTMP step of
  :class:`ese_hw.gateware.channel.Channel`: the scheduler's phases
  (docs/schedule.md), the broadcaster's three stages, the element-wise pass in
  rounds of ``ew_slot(C)`` cycles per cell, the y read-out and output stream. A
  plain LSTM layer (no ``W_ym``) has no projection phase: the read-out copies
  ``m_t`` into the y banks once the element-wise pass has written its last cell.
* :func:`channel_cycles` runs the golden model for the activations, then
  :func:`frame_cycles`, and reports cycles per frame and PE utilization
  (:func:`ese_hw.model.figures.frame_figures`, the one place figures are computed).
"""

import numpy as np

from .figures import frame_figures, frame_interval, useful_macs
from .golden import GoldenStack
from .limits import DEFAULTS, check_int
from .timing import DEFAULT_TIMING

__all__ = [
    "ArrayTimer",
    "LayerTimer",
    "group_columns",
    "useful_macs",          # ese_hw.model.figures.useful_macs, here for the cycle model's users
    "frame_cycles",
    "stack_frame_cycles",
    "channel_cycles",
    "stack_cycles",
]

class ArrayTimer:
    """Event times of the PE array's queues, pointer readers and matrix readers.

    One :meth:`push` per broadcast column; the state carries over, so a caller
    can chain several SpMVs (a whole LSTMP step) through the same array.
    Per PE ``p`` and pushed column ``i`` with ``n`` entries (latencies of
    :class:`~ese_hw.model.timing.Timing`):

    * ``pop = max(push + queue_latency, ptr_free)``;
    * the pointers are read ``pointer_latency`` after the pop and move into the span
      register when it frees: ``move = max(pop + pointer_latency, span_free)``,
      ``ptr_free = move``;
    * an empty column is dropped on that move: idle from ``move + span_latency``;
    * otherwise ``take = max(move + span_latency, last)``, ``last = take + n``
      (issues in ``take + 1 .. take + n``), ``span_free = take``, idle at
      ``last + accum_latency``;
    * a push needs room in every queue, seen a cycle late (:meth:`earliest`).
    """

    def __init__(self, n_pe, queue_depth, *, timing=DEFAULT_TIMING):
        if not isinstance(queue_depth, int) or queue_depth < 1:
            raise ValueError(f"queue_depth must be an integer >= 1, not {queue_depth!r}")
        self.n_pe, self.depth = n_pe, queue_depth
        self.timing = timing
        # The last D + 1 pops per PE (a ring buffer), and the last push's cycle.
        self.pops = np.full((queue_depth + 1, n_pe), -(1 << 40), dtype=np.int64)
        self.n_pushed, self.last_push = 0, -(1 << 40)
        self.ptr_free = np.full(n_pe, -(1 << 40), dtype=np.int64)
        self.span_free = np.full(n_pe, -(1 << 40), dtype=np.int64)
        self.last = np.full(n_pe, -(1 << 40), dtype=np.int64)
        self.idle = np.zeros(n_pe, dtype=np.int64)

    def earliest(self, t):
        """The first cycle ``>= t`` at which a push finds room in every queue.

        The fan-out pushes on a register of last cycle's ``room`` (every queue held
        fewer than ``D``), into queues of ``D + 1`` entries
        (:class:`~ese_hw.gateware.broadcaster.LockstepFanout`). Push ``i`` at ``t``:
        right after push ``i - 1`` (``t`` = its cycle + 1), last cycle's count did
        not include it, so ``t >= pop[i - D - 1] + 2``; otherwise
        ``t >= pop[i - D] + 2``.
        """
        if not self.n_pe:
            return t
        i, d = self.n_pushed, self.depth
        if t == self.last_push + 1 and t >= int(self.pops[(i - d - 1) % (d + 1)].max()) + 2:
            return t
        return max(t, int(self.pops[(i - d) % (d + 1)].max()) + 2)

    def push(self, t, n):
        """Push a column at cycle ``t`` (must be :meth:`earliest`-valid); ``n`` per-PE entries."""
        n = np.asarray(n, dtype=np.int64)
        tm = self.timing
        pop = np.maximum(t + tm.queue_latency, self.ptr_free)
        move = np.maximum(pop + tm.pointer_latency, self.span_free)
        take = np.maximum(move + tm.span_latency, self.last)
        nonempty = n > 0
        last = take + tm.issue_latency + n - 1
        self.last = np.where(nonempty, last, self.last)
        self.ptr_free = move
        self.span_free = np.where(nonempty, take, self.span_free)
        self.idle = np.maximum(self.idle, np.where(nonempty, last + tm.accum_latency,
                                                   move + tm.span_latency))
        self.pops[self.n_pushed % (self.depth + 1)] = pop
        self.n_pushed += 1
        self.last_push = t

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

    The broadcaster's three stages move together, in every cycle its offer stage is
    empty or hands its group on (pushed, or dropped when all-zero):

    * the read stage reads group ``i`` at ``r_i``, the first such cycle from a strobe
      after ``start``, from the cycle group ``i - 1`` left the data stage, and from
      the group's availability (``avail``);
    * its activations are in the data stage ``activation_read_latency`` later and
      move on, into the offer stage, at ``a_i``: then, or when the offer stage hands
      group ``i - 1`` on, if later;
    * the offer stage pushes it ``offer_latency`` after ``a_i`` at
      ``timer.earliest`` (or drops an all-zero group at once).
    """
    # When group i - 1 left the data stage, and the offer stage (before the first
    # group: the phase's first possible read, so an empty phase is idle then).
    read_from = start + timing.strobe_latency
    moved, done = -(1 << 40), read_from
    for i in range(counts.shape[1]):
        r = max(read_from, moved, -(1 << 40) if avail is None else int(avail[i]))
        if moved < r < done:            # the stages wait on the offer stage
            r = done
        moved = max(r + timing.activation_read_latency, done)
        offered = moved + timing.offer_latency
        if nonzero[i]:
            done = timer.earliest(offered)
            timer.push(done, counts[:, i])
        else:
            done = offered
    return done + timing.bc_idle_latency


class LayerTimer:
    """The step recurrence of one :class:`ese_hw.gateware.channel.Channel`, frame after
    frame, with its state carried between frames (the PE array, the x slots, the
    scheduler, the read-out and the output stream).

    A frame is stepped in two calls, so that a stack can couple its layers:

    * :meth:`x_ready` is the earliest cycle the next frame's first ``x`` element can be
      taken (its x slot freed, the previous frame's last element taken);
    * :meth:`step` takes the frame's elements one per cycle from ``x_first`` (at least
      :meth:`x_ready`) and returns its ``frame_done`` cycle;
    * :meth:`output` streams its ``y``: element 0 is taken at ``y_first`` (at least
      ``frame_done + 1``; later when the consumer holds it off), the rest one per cycle
      after it (the output register refills in the cycle of each transfer and the
      consumer, an x slot being written, never waits in a frame). The next frame's
      read-out waits for the stream's end.

    Every ``+ timing.strobe_latency`` is a registered reaction: a scheduler state change,
    a freed x slot, a full-slot flag.

    Parameters
    ----------
    model : CompressedModel
    n_channels, queue_depth, broadcast, ew_share, timing
        As for :func:`frame_cycles`.
    """

    def __init__(self, model, *, n_channels, queue_depth, broadcast=1, ew_share=1,
                 timing=DEFAULT_TIMING):
        n = model.config.n_pe
        self.model, self.timing, self.n_channels = model, timing, n_channels
        self.k = check_int("broadcast", broadcast)
        ew_share = check_int("ew_share", ew_share)
        gate_counts = np.diff(model.gate.ptr, axis=1)
        n_in = model.n_in
        self.x_counts = group_columns(gate_counts[:, :n_in], self.k)
        self.y_counts = group_columns(gate_counts[:, n_in:], self.k)
        self.projection = model.has_projection
        self.m_counts = (group_columns(np.diff(model.ym.ptr, axis=1), self.k)
                         if self.projection else None)
        self.cells = -(-model.n_cells // n)
        self.prow = -(-model.n_proj // n)
        self.lanes = ew_share * n_channels      # what one element-wise unit feeds per cell
        self.slot = timing.ew_slot(self.lanes)
        self.timer = ArrayTimer(n, queue_depth, timing=timing)
        self.t = 0                              # frames stepped
        self.release = [-(1 << 40)] * 2         # cycle each x slot was last released
        self.last_x = -1                        # the previous frame's last x element taken
        self.wait_x = 0                         # the scheduler enters WAIT_X
        self.ro_free = -(1 << 40)               # ro_busy low from this cycle
        self.out_free = -(1 << 40)              # out_busy low from this cycle
        self.done = None

    def x_ready(self):
        """The earliest cycle the next frame's first ``x`` element can be taken."""
        return max(self.last_x + 1, self.release[self.t % 2] + self.timing.strobe_latency)

    def step(self, x_first, x_nz, y_prev, m_nz, zero, events=None):
        """Step the next frame; return its ``frame_done`` cycle.

        ``x_first``: the cycle its first x element is taken (elements one per cycle);
        ``x_nz`` / ``m_nz``: its grouped non-zero flags of x and m (every lane);
        ``y_prev``: (C, P) the lanes' ``y_{t-1}`` (zero-state lanes already 0);
        ``zero``: (C,) the lanes that start from zero state. With ``events`` (a list),
        the frame's phase boundaries are appended (``output_end`` set by :meth:`output`).
        """
        tm, model, timer, step = self.timing, self.model, self.timer, self.timing.strobe_latency
        n_in, n = model.n_in, model.config.n_pe
        if x_first < self.x_ready():
            raise ValueError(f"x_first = {x_first} is before the slot is free "
                             f"({self.x_ready()})")
        s = self.t % 2
        self.last_x = x_first + n_in - 1
        x_full = self.last_x + step                 # the slot's full flag after its last write
        s_x = max(self.wait_x, x_full)
        e_x = _phase(timer, s_x, self.x_counts, x_nz, tm)
        self.release[s] = e_x
        y_wait = e_x + step
        s_y = None
        if zero.all():
            g0 = y_wait + step
        else:
            s_y = max(y_wait, self.ro_free)
            y_nz = group_columns(np.any(y_prev != 0, axis=0), self.k, reduce=np.any)
            g0 = _phase(timer, s_y, self.y_counts, y_nz, tm) + step
        s_p = max(g0, timer.all_idle() + tm.idle_latency, self.ro_free)
        rounds = s_p + np.arange(self.cells) * self.slot + tm.m_round_ready(self.lanes)
        if self.projection:
            avail = group_columns(rounds[np.arange(model.n_cells) // n], self.k,
                                  reduce=np.max)
            e_p = _phase(timer, s_p, self.m_counts, m_nz, tm, avail)
            s_r = max(e_p + step, timer.all_idle() + tm.idle_latency, self.out_free)
        else:
            # No projection phase: the scheduler waits in EW for the last cell's m_t
            # (the read-out then copies the m banks into the y banks).
            e_p = None
            s_r = max(s_p + step, int(rounds[-1]), self.out_free)
        done = int(s_r + self.prow + tm.readout_extra)
        if events is not None:
            events.append({"x_first": int(x_first), "x_start": s_x, "x_end": e_x,
                           "y_start": s_y, "gate_done": s_p,
                           "first_m": int(rounds[0]) if self.cells else s_p,
                           "proj_pushed": e_p, "readout_start": s_r, "frame_done": done,
                           "y_last": None, "output_end": None})
        self.ro_free = done
        self.wait_x = s_r + step
        self.done = done
        self.t += 1
        return done

    def output(self, y_first=None, events=None):
        """The stepped frame's ``y`` leaves from ``y_first`` (default ``frame_done + 1``,
        taken at once); returns the cycle the output stream is idle again."""
        earliest = self.done + self.timing.y_bank_read_latency
        y_first = earliest if y_first is None else int(y_first)
        if y_first < earliest:
            raise ValueError(f"y_first = {y_first} is before the first y element exists "
                             f"({earliest})")
        # The last element is taken at y_first + P - 1; busy drops two cycles later.
        y_last = y_first + self.model.n_proj - 1
        self.out_free = y_last + self.timing.output_extra
        if events is not None:
            events[-1].update(y_last=y_last, output_end=self.out_free)
        return self.out_free


def _nonzero_flags(values, broadcast):
    """Grouped "non-zero in some lane" flags of (C, T, n) activations: (T, n / K)."""
    return group_columns(np.any(np.asarray(values) != 0, axis=0), broadcast, reduce=np.any)


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

    Notes
    -----
    One :class:`LayerTimer` stepped frame by frame. Inputs are assumed to arrive one
    element per cycle from cycle 0 and outputs to be taken at once. Returns an int64
    array of T cycles. With ``events`` (a list), one dict of phase boundaries per frame
    is appended.
    """
    return stack_frame_cycles([model], x_q, [{"y": y_q, "m": m_q}], queue_depth=queue_depth,
                              broadcast=broadcast, ew_share=ew_share, resets=resets,
                              events=None if events is None else [events],
                              timing=timing)[-1]


def stack_frame_cycles(models, x_q, traces, *, queue_depth, broadcast=1, ew_share=1,
                       resets=None, events=None, x_arrivals=None, timing=DEFAULT_TIMING):
    """Cycle of every layer's ``frame_done`` of :class:`ese_hw.gateware.stack.ChannelStack`.

    Parameters
    ----------
    models : sequence of CompressedModel
        The layers, layer 0 first (every layer built with the same ``queue_depth``,
        ``broadcast``, ``ew_share`` and ``timing``).
    x_q : (C, T, I) integers
        Layer 0's inputs.
    traces : sequence of dicts
        Per layer, its outputs ``y`` (C, T, P) and ``m`` (C, T, H) (the golden model's,
        :meth:`ese_hw.model.golden.GoldenStack.run_channels`); layer ``k + 1``'s inputs
        are layer ``k``'s ``y``.
    resets : (T, C) booleans, optional
        Lanes that start from zero state at that frame, in every layer.
    events : list of lists, optional
        One list per layer: the layer's per-frame phase boundaries are appended
        (``x_first`` / ``y_last``: the cycles its first x element was taken and its last
        y element left).
    x_arrivals : (T,) integers, optional
        The earliest cycle frame ``t``'s first x element is offered to layer 0 (then one
        element per cycle); default: every frame waiting from cycle 0.

    Notes
    -----
    Frame ``t`` goes through layers ``0 .. L-1`` in order (one :class:`LayerTimer` per
    layer). Layer 0 takes x one element per cycle as soon as a slot is free. Layer
    ``k``'s y leaves when it exists and layer ``k + 1`` can take it (its slot for frame
    ``t`` freed by its frame ``t - 2``, and frame ``t - 1``'s elements all taken: both
    already stepped), which is also when layer ``k + 1``'s frame ``t`` arrives; the last
    layer's y is taken at once. Returns an (L, T) int64 array.
    """
    x_q = np.asarray(x_q)
    c_n, t_n, _ = x_q.shape
    k = check_int("broadcast", broadcast)
    resets = np.zeros((t_n, c_n), bool) if resets is None else np.asarray(resets, bool)
    timers = [LayerTimer(m, n_channels=c_n, queue_depth=queue_depth, broadcast=k,
                         ew_share=ew_share, timing=timing) for m in models]
    inputs = [x_q] + [tr["y"] for tr in traces[:-1]]
    x_nz = [_nonzero_flags(x, k) for x in inputs]
    m_nz = [_nonzero_flags(tr["m"], k) for tr in traces]
    done = np.zeros((len(models), t_n), dtype=np.int64)
    for t in range(t_n):
        zero = np.ones(c_n, bool) if t == 0 else resets[t]
        x_first = timers[0].x_ready()
        if x_arrivals is not None:
            x_first = max(x_first, int(x_arrivals[t]))
        for layer, timer in enumerate(timers):
            y_prev = None if zero.all() else np.where(zero[:, None], 0,
                                                      np.asarray(traces[layer]["y"])[:, t - 1])
            ev = None if events is None else events[layer]
            done[layer, t] = timer.step(x_first, x_nz[layer][t], y_prev, m_nz[layer][t], zero,
                                        events=ev)
            y_first = done[layer, t] + timing.y_bank_read_latency
            if layer + 1 < len(timers):
                y_first = max(y_first, timers[layer + 1].x_ready())
            timer.output(y_first, events=ev)
            x_first = y_first
    return done


def channel_cycles(model, x_q, *, queue_depth, broadcast=1, ew_share=1, resets=None,
                   timing=DEFAULT_TIMING):
    """Steady-state cycles per frame and utilization of a channel running ``x_q`` (C, T, I):
    :func:`stack_cycles` of ``model`` as a one-layer stack, which runs the golden model for
    the activations, then :func:`frame_cycles`' recurrence. The figures are over frames
    1 .. T-1 (frame 0 starts from an empty pipeline); ``pipeline_latency_cycles`` is a frame's last
    x element in to its last y element out, for a frame whose last element arrives just
    as the channel can start it (inputs sent ahead wait in the x slots, and that wait is
    queueing, not latency).

    Returns ``frame_done``, ``cycles_per_frame``, ``useful_macs_per_frame``,
    ``utilization``, ``pipeline_latency_cycles`` and ``y``.
    """
    res = stack_cycles(model, x_q, queue_depth=queue_depth, broadcast=broadcast,
                       ew_share=ew_share, resets=resets, timing=timing)
    return {k: res[k] for k in ("frame_done", "cycles_per_frame", "useful_macs_per_frame",
                                "utilization", "pipeline_latency_cycles", "y")}


def stack_cycles(stack, x_q, *, queue_depth, broadcast=1, ew_share=1, resets=None,
                 timing=DEFAULT_TIMING, clock_mhz=DEFAULTS["clock_mhz"]):
    """:func:`channel_cycles` of a stack (a ``CompressedStack``, or one model): runs the
    golden stack for every layer's activations, then :func:`stack_frame_cycles`. The one
    golden -> trace -> cycle model pipeline: the engines, ``generate`` and the sweep call
    it.

    Returns the figures of :func:`ese_hw.model.figures.frame_figures` at ``clock_mhz``
    (``cycles_per_frame``: steady-state interval of the last layer's frames, the slowest
    layer's; ``useful_macs_per_frame`` of all layers; ``utilization`` over every layer's
    PEs; ``pipeline_latency_cycles``: layer 0's X phase start to the last layer's y stream end,
    plus a strobe, mean over frames 1 .. T-1), and ``frame_done`` (the last layer's, T),
    ``layer_frame_done`` (L, T), ``layer_cycles_per_frame`` (each layer's own interval),
    ``events`` (per layer, the phase boundaries of every frame, :meth:`LayerTimer.step`)
    and ``y`` (the last layer's outputs).
    """
    x_q = np.asarray(x_q, dtype=np.int64)
    golden = GoldenStack(stack)
    models = golden.stack.layers
    y_q, traces = golden.run_channels(x_q, resets, trace=True)
    events = [[] for _ in models]
    done = stack_frame_cycles(models, x_q, traces, queue_depth=queue_depth,
                              broadcast=broadcast, ew_share=ew_share, resets=resets,
                              events=events, timing=timing)
    t_n = x_q.shape[1]
    frames = range(1, t_n) if t_n > 1 else range(t_n)
    latency = [events[-1][t]["output_end"] - events[0][t]["x_start"] + timing.strobe_latency
               for t in frames]
    figures = frame_figures(models, n_channels=x_q.shape[0], clock_mhz=clock_mhz,
                            frame_done=done[-1],
                            pipeline_latency_cycles=float(np.mean(latency)))
    return {
        **figures,
        "frame_done": done[-1],
        "layer_frame_done": done,
        "layer_cycles_per_frame": [frame_interval(d) for d in done],
        "events": events,
        "y": y_q,
    }
