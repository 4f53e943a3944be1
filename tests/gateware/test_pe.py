"""The PE datapath as the channel uses it (column walker -> accumulator, bias memory, loads):
bit-exact against the golden SpMV, cycle-exact against ``ArrayTimer``."""

import numpy as np
import pytest
from amaranth.hdl import Fragment, signed

from ese_hw.gateware.pe import ColumnWalker
from ese_hw.model import golden
from ese_hw.model.encode import encode_spmv, split_rows
from ese_hw.model.images import LOAD_BIAS, LOAD_ENTRY, LOAD_PTR
from ese_hw.model.loadstream import pack_load_words
from tests.gateware.pe_bench import PEArray, array_cycles, random_image_mats, run_array


def make_dut(image, *, accum_bits, act_bits, queue_depth, init=True, bias=None):
    return PEArray(n_pe=image.n_pe, weight_bits=image.weight_bits,
                   index_bits=image.index_bits, act_bits=act_bits, accum_bits=accum_bits,
                   queue_depth=queue_depth,
                   entry_depth=max(8, int(image.entries_per_pe.max()) + 3),
                   n_cols_max=image.n_cols + 2, local_rows=image.local_rows + 1,
                   image=image if init else None, bias=bias if init else None)


def random_acts(rng, n, act_bits, *, zero_frac=0.25):
    lim = 1 << (act_bits - 1)
    a = rng.integers(-lim, lim, size=n)
    a[rng.random(n) < zero_frac] = 0
    return a


def _fields(layout):
    """The ``(name, width)`` fields of a load-word layout, for the host's packer."""
    return [(name, f.width) for name, f in layout]


def load_rows(image, bias=None):
    """(target, pe, addr, data) rows writing ``image`` (and ``bias``), as a channel loads."""
    rows = []
    for p in range(image.n_pe):
        blocks = [(LOAD_ENTRY, image.words[p]), (LOAD_PTR, image.ptr[p])]
        if bias is not None:
            blocks.append((LOAD_BIAS, bias[p]))
        for target, values in blocks:
            rows += [[target, p, a, int(v)] for a, v in enumerate(values)]
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def check(image, dut, acts, *, accum_bits, queue_depth, bias=None, **kw):
    """Every SpMV equals the golden one; every push and the idle cycle equal ArrayTimer's."""
    results, timing = run_array(dut, acts, n_rows=image.local_rows, **kw)
    for act, got, rec in zip(acts, results, timing, strict=True):
        np.testing.assert_array_equal(got, golden.spmv(image, act, accum_bits=accum_bits,
                                                       init=bias))
        pushed, idle = array_cycles(image, act, rec["offered"], queue_depth=queue_depth)
        assert rec["pushed"] == pushed
        assert rec["idle"] == idle
    return results, timing


@pytest.mark.parametrize("n_pe", [1, 2, 4])
@pytest.mark.parametrize("index_bits", [2, 4, 6])
def test_random_exact(n_pe, index_bits):
    """Elaboration-time images, columns back to back; an all-zero vector between two runs
    shows ``clear`` works."""
    rng = np.random.default_rng(100 * n_pe + index_bits)
    wb, ab, accb, depth = 8, 10, 24, 4
    mats = random_image_mats(rng, n_pe=n_pe, rows=20, cols=24, density=0.2, weight_bits=wb)
    image = encode_spmv(mats, index_bits=index_bits, weight_bits=wb)
    acts = [random_acts(rng, image.n_cols, ab), np.zeros(image.n_cols, np.int64),
            random_acts(rng, image.n_cols, ab)]
    dut = make_dut(image, accum_bits=accb, act_bits=ab, queue_depth=depth)
    results, timing = check(image, dut, acts, accum_bits=accb, queue_depth=depth)
    assert not results[1].any() and timing[1]["idle"] == 0
    # The queue filled: some column waited for room, so back-pressure was exercised.
    assert any(p > o for rec in timing for o, p in zip(rec["offered"], rec["pushed"],
                                                      strict=True))


@pytest.mark.parametrize("n_pe, index_bits, queue_depth", [(1, 2, 1), (2, 4, 2), (3, 6, 3),
                                                           (4, 3, 8)])
def test_runtime_load_with_stalls(n_pe, index_bits, queue_depth):
    """Images and biases written through the one load stream (packed by
    ``pack_load_words``); seeded idle cycles on the load and column streams. The cycle
    model still holds, from the cycles the columns were actually offered."""
    rng = np.random.default_rng(7 + 10 * n_pe + index_bits)
    wb, ab, accb = 6, 7, 16
    w = rng.integers(-32, 32, size=(12 * n_pe, 16))
    w[rng.random(w.shape) >= 0.3] = 0
    image = encode_spmv(split_rows(w, n_pe), index_bits=index_bits, weight_bits=wb)
    bias = rng.integers(-(1 << (accb - 1)), 1 << (accb - 1), size=(n_pe, image.local_rows))
    acts = [random_acts(rng, image.n_cols, ab, zero_frac=0.4) for _ in range(2)]
    dut = make_dut(image, accum_bits=accb, act_bits=ab, queue_depth=queue_depth, init=False)
    loads = pack_load_words(_fields(dut.load.payload.shape()), load_rows(image, bias))
    check(image, dut, acts, accum_bits=accb, queue_depth=queue_depth, bias=bias,
          loads=loads, seed=index_bits, col_idle=0.3, load_idle=0.2)


def test_padding_empty_columns_idle_pe():
    """Long gaps (padding), empty columns, and a PE that owns no entries at all."""
    rng = np.random.default_rng(5)
    wb, ab, accb, depth = 8, 8, 20, 3
    mats = random_image_mats(rng, n_pe=4, rows=32, cols=20, density=0.06, weight_bits=wb)
    mats[2][:] = 0                        # PE 2: no entries
    for m in mats:
        m[:, [3, 4, 11]] = 0              # empty columns everywhere
    mats[0][31, 0] = 5                    # a 31-row gap: 7 padding entries at index_bits 2
    mats[1][:, 7] = 0
    mats[1][28, 7] = -3
    image = encode_spmv(mats, index_bits=2, weight_bits=wb)
    assert image.padding_per_pe.max() > 0 and image.entries_per_pe[2] == 0
    acts = [random_acts(rng, image.n_cols, ab, zero_frac=0.2), np.ones(20, np.int64)]
    dut = make_dut(image, accum_bits=accb, act_bits=ab, queue_depth=depth)
    check(image, dut, acts, accum_bits=accb, queue_depth=depth)


def test_extremes_and_wrap():
    """Most negative weight and activation; accumulator just wide enough to wrap."""
    wb, ab = 6, 5
    accb = wb + ab
    lo_w, lo_a = -(1 << (wb - 1)), -(1 << (ab - 1))
    rng = np.random.default_rng(11)
    mats = random_image_mats(rng, n_pe=2, rows=10, cols=16, density=0.6, weight_bits=wb,
                             extreme=True)
    mats[0][0, :] = lo_w                  # row 0: 16 x (lo_w * lo_a) wraps many times
    image = encode_spmv(mats, index_bits=2, weight_bits=wb)
    acts = [np.full(16, lo_a), np.where(rng.random(16) < 0.5, lo_a, 2 ** (ab - 1) - 1)]
    dut = make_dut(image, accum_bits=accb, act_bits=ab, queue_depth=1)
    results, _ = check(image, dut, acts, accum_bits=accb, queue_depth=1)
    unwrapped = int(golden.spmv(image, acts[0], accum_bits=62)[0, 0])
    assert unwrapped == 16 * lo_w * lo_a >= 1 << (accb - 1)     # would overflow accb bits
    half = 1 << (accb - 1)
    assert results[0][0, 0] == (unwrapped + half) % (2 * half) - half


def test_forwarding_same_row_back_to_back():
    """One local row: every entry hits the row the previous one is still writing."""
    rng = np.random.default_rng(3)
    w = rng.integers(-100, 100, size=(1, 24))
    w[0, [2, 9]] = 0                     # two empty columns between hits
    image = encode_spmv([w, w[:, ::-1].copy()], index_bits=3, weight_bits=8)
    dut = make_dut(image, accum_bits=24, act_bits=9, queue_depth=2)
    check(image, dut, [random_acts(rng, 24, 9, zero_frac=0.1)], accum_bits=24, queue_depth=2)
    # Dense 2-row columns: last entry of column j and first of j+1 alternate rows 1, 0.
    w2 = rng.integers(1, 100, size=(2, 20))
    image2 = encode_spmv([w2], index_bits=2, weight_bits=8)
    dut2 = make_dut(image2, accum_bits=24, act_bits=9, queue_depth=2)
    check(image2, dut2, [random_acts(rng, 20, 9, zero_frac=0.0)], accum_bits=24,
          queue_depth=2)


def test_bias_init_then_reload():
    """Accumulators start from the elaboration-time biases, run after run; a second
    array gets other biases through ``load`` (negative ones: two's complement)."""
    rng = np.random.default_rng(21)
    wb, ab, accb = 8, 8, 22
    mats = random_image_mats(rng, n_pe=2, rows=9, cols=14, density=0.3, weight_bits=wb)
    image = encode_spmv(mats, index_bits=4, weight_bits=wb)
    lim = 1 << (accb - 1)
    bias = rng.integers(-lim, lim, size=(2, image.local_rows))
    act = random_acts(rng, 14, ab)
    dut = make_dut(image, accum_bits=accb, act_bits=ab, queue_depth=4, bias=bias)
    check(image, dut, [act, act], accum_bits=accb, queue_depth=4, bias=bias)
    bias2 = rng.integers(-lim, lim, size=(2, image.local_rows))
    bias2[0, 0] = -lim
    dut = make_dut(image, accum_bits=accb, act_bits=ab, queue_depth=4, init=False)
    loads = pack_load_words(_fields(dut.load.payload.shape()), load_rows(image, bias2))
    check(image, dut, [act], accum_bits=accb, queue_depth=4, bias=bias2, loads=loads)


WALKER = dict(weight_bits=8, index_bits=4, act_bits=8, queue_depth=2, entry_depth=16,
              n_cols_max=6, local_rows=8)


@pytest.mark.parametrize("kwargs, exc, word", [
    ({"queue_depth": 0}, ValueError, "queue_depth"),
    ({"queue_depth": True}, TypeError, "queue_depth"),
    ({"entry_depth": 0}, ValueError, "entry_depth"),
    ({"n_cols_max": 0}, ValueError, "n_cols_max"),
    ({"local_rows": 0}, ValueError, "local_rows"),
    ({"weight_bits": 19}, ValueError, "weight_bits"),
    ({"index_bits": 1}, ValueError, "index_bits"),
    ({"act_bits": 25}, ValueError, "act_bits"),
    ({"init_words": list(range(17))}, ValueError, "entry image"),
    ({"init_words": [1 << 12]}, ValueError, "entry image"),
    ({"init_ptr": list(range(8))}, ValueError, "pointer image"),
    ({"depth": 4}, TypeError, "depth"),
])
def test_walker_refuses_bad_parameters(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        ColumnWalker(**{**WALKER, **kwargs})


def test_walker_ports_follow_parameters():
    walker = ColumnWalker(**WALKER)
    assert walker.column.payload.shape()["col"].width == 3     # columns 0 .. 5
    assert walker.column.payload.shape()["act"].shape == signed(8)
    assert walker.entry_load.payload.shape()["addr"].width == 4
    assert walker.entry_load.payload.shape()["data"].width == 12
    assert walker.ptr_load.payload.shape()["addr"].width == 3    # pointers 0 .. 6
    assert walker.ptr_load.payload.shape()["data"].width == 5    # entry addresses 0 .. 16
    assert walker.entry.payload.shape()["row"].width == 3
    Fragment.get(walker, None)            # elaborates (and marks the walker used)
