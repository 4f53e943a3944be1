"""Cycle model: hand-checked recurrences and invariants; the latencies it counts (Timing)."""

import numpy as np
import pytest

from ese_hw.model.cycles import ArrayTimer
from ese_hw.model.encode import encode_spmv, split_rows
from ese_hw.model.timing import DEFAULT_TIMING, Timing


def sweep(counts, act, *, queue_depth, timing=DEFAULT_TIMING):
    """Broadcast columns ``0 ..`` one per cycle from cycle 1, skipping zero activations,
    each pushed only when every queue has room; return (push cycles, all-idle cycle)."""
    counts = np.asarray(counts, dtype=np.int64)
    timer = ArrayTimer(counts.shape[0], queue_depth, timing=timing)
    pushes, t_prev, j_prev = [], 0, -1
    for j in np.flatnonzero(np.asarray(act) != 0):
        t = timer.earliest(t_prev + (j - j_prev))      # a skipped column costs one cycle
        timer.push(t, counts[:, j])
        pushes.append(t)
        t_prev, j_prev = t, j
    return pushes, timer.all_idle()


def test_one_column():
    # push 1; pop 2; pointers 3 (moved into the span register); taken 4; issue 5, 6, 7;
    # idle 7 + accum_latency = 11.
    assert sweep([[3]], [5], queue_depth=4) == ([1], 11)


def test_empty_columns_cost_the_reader_nothing():
    # col 0 (2 entries): push 1, pop 2, move 3, take 4, issue 5, 6, idle 10. col 1
    # (empty): push 2, pop max(3, move0 = 3) = 3, read 4, dropped on its move at
    # max(4, take0 = 4) = 4, idle from 5.
    assert sweep([[2, 0]], [1, 1], queue_depth=4)[1] == 10
    # 1 entry then 4 empty columns: issue 5, idle 9; the empty columns are popped in
    # 3, 4, 5, 6 and dropped one cycle later each (idle from 8 < 9).
    assert sweep([[1, 0, 0, 0, 0]], np.ones(5), queue_depth=8)[1] == 9
    # An empty column between two full ones does not separate them: col 0 issues 5..7;
    # col 1 is popped at 3 and dropped at 4; col 2 is pushed at 3, popped at 4, moved
    # at 5, taken at max(move + 1, last = 7) = 7 and issues 8..10: idle 14.
    assert sweep([[3, 0, 3]], [1, 1, 1], queue_depth=8)[1] == 14


def test_queue_depth_one_back_pressure():
    # 3 columns of 5 entries, queue depth 1 (2 entries, room while it holds none, seen by
    # the fan-out a cycle later):
    # col 0: push 1, pop 2, move 3, take 4, issue 5..9
    # col 1: push 2 (the queue was empty at 1), pop max(3, move0 = 3) = 3,
    #        move max(4, take0 = 4) = 4, take max(5, 9) = 9, issue 10..14
    # col 2: not at 3 (col 0 was still queued at 2), push pop1 + 2 = 5, pop 6,
    #        move max(7, take1 = 9) = 9, take max(10, 14) = 14, issue 15..19, idle 23.
    assert sweep([[5, 5, 5]], [1, 2, 3], queue_depth=1) == ([1, 2, 5], 23)


def test_skipped_columns_cost_one_cycle():
    counts = [[4, 9, 1, 0], [0, 9, 2, 2]]
    skipped = sweep(counts, [1, 0, 1, 1], queue_depth=4)
    full = sweep(counts, [1, 1, 1, 1], queue_depth=4)
    assert skipped[0] == [1, 3, 4] and full[1] > skipped[1]


def test_deeper_queue_never_slower_and_busiest_pe_is_a_floor():
    rng = np.random.default_rng(0)
    w = rng.integers(-5, 6, size=(64, 50)) * (rng.random((64, 50)) < 0.15)
    counts = np.diff(encode_spmv(split_rows(w, 8), index_bits=4, weight_bits=8).ptr, axis=1)
    act = rng.integers(-3, 4, 50)
    idle = [sweep(counts, act, queue_depth=d)[1] for d in (1, 2, 4, 8, 16)]
    assert idle == sorted(idle, reverse=True)
    assert idle[-1] >= counts[:, act != 0].sum(axis=1).max()


def test_accum_latency_comes_from_timing(monkeypatch):
    """The PE's drain is Timing.accum_latency (the one source), not a copy."""
    base = sweep([[3]], [5], queue_depth=4)[1]
    monkeypatch.setattr(Timing, "accum_latency", Timing.accum_latency + 2)
    assert sweep([[3]], [5], queue_depth=4)[1] == base + 2


def test_span_latency_comes_from_timing(monkeypatch):
    """The span register's cycle is Timing.span_latency (the one source)."""
    base = sweep([[3]], [5], queue_depth=4)[1]
    monkeypatch.setattr(Timing, "span_latency", Timing.span_latency + 1)
    assert sweep([[3]], [5], queue_depth=4)[1] == base + 1


def test_bad_queue_depth():
    with pytest.raises(ValueError, match="queue_depth"):
        ArrayTimer(2, 0)


def test_default_timing_is_the_measured_channel():
    """The defaults are the channel every figure was measured with."""
    t = DEFAULT_TIMING
    assert t == Timing(y_write_stages=3, ew_output_stages=0)
    assert t.ew_latency == 15 and t.ew_feed_offset == 5 and t.ew_slot(3) == 8
    assert t.m_round_ready(1) == 22           # 5 + C + 15 + 1 after ew_start (docs/schedule.md)
    assert t.readout_extra == 5 and t.output_extra == 2 and t.accum_latency == 4


def test_timing_parameters_move_the_derived_latencies():
    t = Timing(y_write_stages=5, ew_output_stages=3)
    assert t.y_convert_stages == 4 and t.readout_extra == 7
    assert t.ew_latency == 18 and t.m_round_ready(2) == DEFAULT_TIMING.m_round_ready(2) + 3


@pytest.mark.parametrize("kw, error", [
    (dict(y_write_stages=0), ValueError),
    (dict(ew_output_stages=-1), ValueError),
    (dict(y_write_stages=2.0), TypeError),
    (dict(ew_output_stages=True), TypeError),
])
def test_bad_timing(kw, error):
    with pytest.raises(error, match=next(iter(kw))):
        Timing(**kw)
