"""Cycle model: hand-checked recurrences and invariants; the latencies it counts (Timing)."""

from types import SimpleNamespace

import numpy as np
import pytest

from ese_hw.model.cycles import spmv_cycles
from ese_hw.model.encode import encode_spmv, split_rows
from ese_hw.model.timing import DEFAULT_TIMING, Timing


def image_from_counts(counts, *, weight_bits=8):
    """An image with ``counts[p][j]`` non-padding entries (weight 1, index 0) per column."""
    counts = np.asarray(counts, dtype=np.int64)
    ptr = np.concatenate([np.zeros((counts.shape[0], 1), np.int64),
                          np.cumsum(counts, axis=1)], axis=1)
    words = [np.ones(int(ptr[p, -1]), np.uint32) for p in range(counts.shape[0])]
    return SimpleNamespace(ptr=ptr, words=words, weight_bits=weight_bits,
                           local_rows=int(counts.max(initial=1)))


def test_one_column():
    # start 0; push 1; pop 2; pointers 3 (taken); issue 4, 5, 6; idle 10; done 11.
    r = spmv_cycles(image_from_counts([[3]]), [5], queue_depth=4)
    assert r["cycles"] == 11
    assert r["bound"] == 3 and r["useful_macs"] == 3 and r["columns"] == 1
    assert r["utilization"] == pytest.approx(3 / 11)


def test_all_zero_activations():
    # The broadcaster sweeps 5 columns in cycles 1..5, done at 5 + 1 + 1.
    r = spmv_cycles(image_from_counts([[3, 1, 0, 2, 2]]), np.zeros(5), queue_depth=2)
    assert r["cycles"] == 7 and r["useful_macs"] == 0 and r["bound"] == 0


def test_empty_columns_cost_the_reader_nothing():
    # col 0 (2 entries): push 1, pop 2, take 3, issue 4, 5, idle 9. col 1 (empty): push 2,
    # pop max(3, take0 = 3) = 3, dropped by the pointer stage at 4. done = 9 + 1.
    r = spmv_cycles(image_from_counts([[2, 0]]), [1, 1], queue_depth=4)
    assert r["cycles"] == 10
    # 1 entry then 4 empty columns: issue 4, idle 8; the empty columns are popped in
    # 3, 4, 5, 6 and dropped one cycle later each (last at 7 < 8). done 9.
    r = spmv_cycles(image_from_counts([[1, 0, 0, 0, 0]]), np.ones(5), queue_depth=8)
    assert r["cycles"] == 9
    # An empty column between two full ones does not separate them: col 0 issues 4..6;
    # col 1 is popped at 3 and dropped at 4; col 2 is pushed at 3, popped at 4, taken at
    # max(pop + 1, last = 6) = 6 and issues 7..9: idle 13, done 14.
    r = spmv_cycles(image_from_counts([[3, 0, 3]]), [1, 1, 1], queue_depth=8)
    assert r["cycles"] == 14


def test_queue_depth_one_back_pressure():
    # 3 columns of 5 entries, queue depth 1:
    # col 0: push 1, pop 2, take 3, issue 4..8
    # col 1: push max(2, pop0 + 1 = 3) = 3, pop max(4, take0 = 3) = 4, take max(5, 8) = 8
    # col 2: push max(4, pop1 + 1 = 5) = 5, pop max(6, 8) = 8, take max(9, 13) = 13,
    #        issue 14..18, idle 22, done 23.
    r = spmv_cycles(image_from_counts([[5, 5, 5]]), [1, 2, 3], queue_depth=1)
    assert r["cycles"] == 23


def test_skipped_columns_and_busiest_pe():
    counts = [[4, 9, 1, 0], [0, 9, 2, 2]]
    r = spmv_cycles(image_from_counts(counts), [1, 0, 1, 1], queue_depth=4)
    assert r["bound"] == 5 and r["useful_macs"] == 9 and r["columns"] == 3
    # The skipped column costs the broadcaster one cycle only.
    full = spmv_cycles(image_from_counts(counts), [1, 1, 1, 1], queue_depth=4)
    assert full["cycles"] > r["cycles"]


def test_padding_is_not_useful():
    w = np.zeros((40, 3), np.int64)
    w[39, 0] = 7                                   # 39-row gap: 9 padding entries (b = 2)
    w[0, 1] = -2
    image = encode_spmv([w], index_bits=2, weight_bits=8)
    r = spmv_cycles(image, [1, 1, 1], queue_depth=8)
    assert r["bound"] == 11 and r["useful_macs"] == 2


def test_deeper_queue_never_slower_and_bound_is_a_floor():
    rng = np.random.default_rng(0)
    w = rng.integers(-5, 6, size=(64, 50)) * (rng.random((64, 50)) < 0.15)
    image = encode_spmv(split_rows(w, 8), index_bits=4, weight_bits=8)
    act = rng.integers(-3, 4, 50)
    cycles = [spmv_cycles(image, act, queue_depth=d)["cycles"] for d in (1, 2, 4, 8, 16)]
    assert cycles == sorted(cycles, reverse=True)
    r = spmv_cycles(image, act, queue_depth=8)
    assert r["cycles"] >= r["bound"]


def test_paper_shape():
    """32 PEs, the 4096 x 665 gate matrix at 11.2 % density, 6-bit indices."""
    rng = np.random.default_rng(1)
    rows, cols = 4096, 665
    w = (rng.random((rows, cols)) < 0.112) * rng.integers(1, 100, (rows, cols))
    image = encode_spmv(split_rows(w, 32), index_bits=6, weight_bits=12)
    act = rng.integers(1, 100, cols)
    r = spmv_cycles(image, act, queue_depth=8)
    assert r["cycles"] >= r["bound"] and r["columns"] == cols


def test_bad_arguments():
    image = image_from_counts([[1, 2]])
    with pytest.raises(ValueError, match="queue_depth"):
        spmv_cycles(image, [1, 1], queue_depth=0)
    with pytest.raises(ValueError, match="columns"):
        spmv_cycles(image, [1, 1, 1], queue_depth=2)


def test_default_timing_is_the_measured_channel():
    """The defaults are the channel every figure was measured with."""
    t = DEFAULT_TIMING
    assert t == Timing(y_write_stages=2, ew_output_stages=0)
    assert t.ew_latency == 15 and t.ew_feed_offset == 5 and t.ew_slot(3) == 8
    assert t.m_round_ready(1) == 22           # 5 + C + 15 + 1 after ew_start (docs/schedule.md)
    assert t.readout_extra == 4 and t.output_extra == 2 and t.accum_latency == 4


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
