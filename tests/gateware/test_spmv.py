"""SpMV PE array: bit-exact against the golden SpMV, cycle-exact against the cycle model."""

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator
from sim_streams import stream_put
from spmv_bench import random_image_mats, run_spmv, spmv_load_words

from ese_hw.gateware.spmv import LoadTarget, SpMV
from ese_hw.model import golden
from ese_hw.model.cycles import spmv_cycles
from ese_hw.model.encode import encode_spmv, split_rows


def make_dut(image, *, accum_bits, act_bits, queue_depth=4, init=True, bias=False,
             init_bias=None, entry_depth=None, n_cols_max=None, local_rows=None):
    return SpMV(
        n_pe=image.n_pe, weight_bits=image.weight_bits, index_bits=image.index_bits,
        act_bits=act_bits, accum_bits=accum_bits, queue_depth=queue_depth,
        entry_depth=entry_depth or max(8, int(image.entries_per_pe.max()) + 3),
        n_cols_max=n_cols_max or image.n_cols + 2,
        local_rows=local_rows or image.local_rows + 1,
        bias=bias, init=image if init else None, init_bias=init_bias)


def random_acts(rng, n, act_bits, *, zero_frac=0.25):
    lim = 1 << (act_bits - 1)
    a = rng.integers(-lim, lim, size=n)
    a[rng.random(n) < zero_frac] = 0
    return a


def check(image, dut, acts, *, accum_bits, queue_depth, exact_cycles=True, init=None,
          **kw):
    res, cyc, readout = run_spmv(dut, acts, n_rows=image.local_rows, n_cols=image.n_cols,
                                 **kw)
    for act, got, c, ro in zip(acts, res, cyc, readout, strict=True):
        want = golden.spmv(image, act, accum_bits=accum_bits, init=init)
        np.testing.assert_array_equal(got, want)
        model = spmv_cycles(image, act, queue_depth=queue_depth)["cycles"]
        if exact_cycles:
            assert c == model
            if not kw.get("res_stall"):
                assert ro == spmv_cycles(image, act, queue_depth=queue_depth)["readout_cycles"]
        else:
            assert c >= model
    return res, cyc


@pytest.mark.parametrize("n_pe", [1, 2, 4])
@pytest.mark.parametrize("index_bits", [2, 4, 6])
def test_random_exact(n_pe, index_bits):
    """Elaboration-time images, always-valid activations, stalling consumer: exact cycles."""
    rng = np.random.default_rng(100 * n_pe + index_bits)
    wb, ab, accb, depth = 8, 10, 24, 4
    mats = random_image_mats(rng, n_pe=n_pe, rows=20, cols=24, density=0.2, weight_bits=wb)
    image = encode_spmv(mats, index_bits=index_bits, weight_bits=wb)
    acts = [random_acts(rng, image.n_cols, ab), random_acts(rng, image.n_cols, ab)]
    dut = make_dut(image, accum_bits=accb, act_bits=ab, queue_depth=depth)
    check(image, dut, acts, accum_bits=accb, queue_depth=depth, seed=n_pe, res_stall=0.3)


@pytest.mark.parametrize("n_pe", [1, 2, 4])
@pytest.mark.parametrize("index_bits", [2, 4, 6])
def test_random_runtime_load_stalls(n_pe, index_bits):
    """Images written through ``load``; random stalls on every stream."""
    rng = np.random.default_rng(7 + 10 * n_pe + index_bits)
    wb, ab, accb, depth = 6, 7, 16, 2
    w = rng.integers(-32, 32, size=(12 * n_pe, 16))
    w[rng.random(w.shape) >= 0.3] = 0
    image = encode_spmv(split_rows(w, n_pe), index_bits=index_bits, weight_bits=wb)
    acts = [random_acts(rng, image.n_cols, ab, zero_frac=0.4) for _ in range(2)]
    dut = make_dut(image, accum_bits=accb, act_bits=ab, queue_depth=depth, init=False)
    check(image, dut, acts, accum_bits=accb, queue_depth=depth, exact_cycles=False,
          loads=spmv_load_words(image), seed=index_bits, act_idle=0.3, res_stall=0.3,
          load_idle=0.2)


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
    check(image, dut, acts, accum_bits=accb, queue_depth=depth, res_stall=0.2)


def test_all_zero_activations():
    """Every column skipped: results are all zero, done after the broadcaster's sweep."""
    rng = np.random.default_rng(9)
    mats = random_image_mats(rng, n_pe=2, rows=8, cols=12, density=0.5, weight_bits=8)
    image = encode_spmv(mats, index_bits=4, weight_bits=8)
    acts = [np.zeros(12, np.int64), random_acts(rng, 12, 8), np.zeros(12, np.int64)]
    dut = make_dut(image, accum_bits=20, act_bits=8)
    res, cyc = check(image, dut, acts, accum_bits=20, queue_depth=4)
    assert not res[0].any() and not res[2].any()     # the clear between runs works
    assert cyc[0] == 12 + 2


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
    res, _ = check(image, dut, acts, accum_bits=accb, queue_depth=1, res_stall=0.1)
    unwrapped = 16 * lo_w * lo_a
    assert unwrapped >= 1 << (accb - 1)          # would overflow: wrap-around exercised
    assert res[0][0, 0] == golden.spmv(image, acts[0], accum_bits=64)[0, 0] % (1 << accb) - (
        1 << accb if golden.spmv(image, acts[0], accum_bits=64)[0, 0] % (1 << accb) >= 1 << (
            accb - 1) else 0)


def test_forwarding_same_row_back_to_back():
    """One local row: every entry hits the row the previous one is still writing."""
    rng = np.random.default_rng(3)
    w = rng.integers(-100, 100, size=(1, 24))
    w[0, [2, 9]] = 0                     # two empty columns between hits
    image = encode_spmv([w, w[:, ::-1].copy()], index_bits=3, weight_bits=8)
    acts = [random_acts(rng, 24, 9, zero_frac=0.1)]
    dut = make_dut(image, accum_bits=24, act_bits=9, queue_depth=2)
    check(image, dut, acts, accum_bits=24, queue_depth=2)
    # Dense 2-row columns: last entry of column j and first of j+1 alternate rows 1, 0.
    w2 = rng.integers(1, 100, size=(2, 20))
    image2 = encode_spmv([w2], index_bits=2, weight_bits=8)
    dut2 = make_dut(image2, accum_bits=24, act_bits=9, queue_depth=2)
    check(image2, dut2, [random_acts(rng, 20, 9, zero_frac=0.0)], accum_bits=24,
          queue_depth=2)


def test_bias_init_and_load():
    """Accumulators start from a bias: elaboration-time image, then one loaded at run time."""
    rng = np.random.default_rng(21)
    wb, ab, accb = 8, 8, 22
    mats = random_image_mats(rng, n_pe=2, rows=9, cols=14, density=0.3, weight_bits=wb)
    image = encode_spmv(mats, index_bits=4, weight_bits=wb)
    lim = 1 << (accb - 1)
    bias = rng.integers(-lim, lim, size=(2, image.local_rows))
    act = random_acts(rng, 14, ab)
    dut = make_dut(image, accum_bits=accb, act_bits=ab, bias=True, init_bias=bias)
    check(image, dut, [act, act], accum_bits=accb, queue_depth=4, init=bias)
    bias2 = rng.integers(-lim, lim, size=(2, image.local_rows))
    dut = make_dut(image, accum_bits=accb, act_bits=ab, bias=True, init=False)
    check(image, dut, [act], accum_bits=accb, queue_depth=4, init=bias2,
          loads=spmv_load_words(image, bias=bias2))


def test_load_refused_while_busy_and_stream_rules():
    """``load.ready`` is low while busy; ``result`` holds valid and payload until taken."""
    rng = np.random.default_rng(4)
    mats = random_image_mats(rng, n_pe=2, rows=6, cols=8, density=0.5, weight_bits=8)
    image = encode_spmv(mats, index_bits=4, weight_bits=8)
    dut = make_dut(image, accum_bits=20, act_bits=8)
    act = random_acts(rng, 8, 8, zero_frac=0.0)
    log = {"busy_ready": 0, "held": 0}

    async def control(ctx):
        ctx.set(dut.n_cols, 8)
        ctx.set(dut.n_rows, image.local_rows)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for a in act:
            await stream_put(ctx, dut.act, int(a))
        ctx.set(dut.result.ready, 0)
        held = None
        got = []
        while len(got) < 2 * image.local_rows:
            if ctx.get(dut.busy) and ctx.get(dut.load.ready):
                log["busy_ready"] += 1
            ready = bool(rng.random() < 0.5)
            ctx.set(dut.result.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.result.valid,
                                                           dut.result.payload)
            if held is not None:
                assert valid and payload == held
                log["held"] += 1
            held = payload if valid and not ready else None
            if valid and ready:
                got.append(payload)
        ctx.set(dut.result.ready, 0)
        await ctx.tick()
        assert not ctx.get(dut.busy) and ctx.get(dut.load.ready)
        want = golden.spmv(image, act, accum_bits=20)
        np.testing.assert_array_equal(np.array(got).reshape(-1, 2).T, want)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(control)
    sim.run()
    assert log["busy_ready"] == 0 and log["held"] > 0


def test_load_payload_targets():
    """The load layout's target enum and field widths follow the parameters."""
    dut = SpMV(n_pe=3, weight_bits=12, index_bits=6, act_bits=16, accum_bits=40,
               entry_depth=1000, n_cols_max=600, local_rows=50, bias=True)
    layout = dut.load.payload.shape()
    assert layout["target"].shape is LoadTarget
    assert layout["pe"].shape.width == 2
    assert layout["addr"].shape.width == 10
    assert layout["data"].shape.width == 40
    assert dut.word_bits == 18 and dut.ptr_bits == 10
    Fragment.get(dut, None)               # elaborates (and marks the component used)


@pytest.mark.parametrize("kwargs, exc, word", [
    ({"n_pe": 0}, ValueError, "n_pe"),
    ({"n_pe": 2.0}, TypeError, "n_pe"),
    ({"weight_bits": 19}, ValueError, "weight_bits"),
    ({"weight_bits": 1}, ValueError, "weight_bits"),
    ({"index_bits": 9}, ValueError, "index_bits"),
    ({"act_bits": 28}, ValueError, "act_bits"),
    ({"accum_bits": 15}, ValueError, "accum_bits"),
    ({"accum_bits": 65}, ValueError, "accum_bits"),
    ({"queue_depth": 0}, ValueError, "queue_depth"),
    ({"queue_depth": True}, TypeError, "queue_depth"),
    ({"entry_depth": 0}, ValueError, "entry_depth"),
    ({"n_cols_max": 0}, ValueError, "n_cols_max"),
    ({"local_rows": 0}, ValueError, "local_rows"),
    ({"bias": 1}, TypeError, "bias"),
    ({"init_bias": np.zeros((2, 4))}, ValueError, "init_bias"),
])
def test_bad_parameters(kwargs, exc, word):
    base = dict(n_pe=2, weight_bits=8, index_bits=4, act_bits=8, accum_bits=20,
                entry_depth=64, n_cols_max=16, local_rows=8)
    base.update(kwargs)
    with pytest.raises(exc, match=word):
        SpMV(**base)


def test_image_does_not_fit():
    rng = np.random.default_rng(0)
    mats = random_image_mats(rng, n_pe=2, rows=8, cols=12, density=0.5, weight_bits=8)
    image = encode_spmv(mats, index_bits=4, weight_bits=8)
    base = dict(n_pe=2, weight_bits=8, index_bits=4, act_bits=8, accum_bits=20,
                entry_depth=64, n_cols_max=16, local_rows=8, init=image)
    for key, value, word in [("entry_depth", 4, "entry_depth"), ("n_cols_max", 8, "n_cols_max"),
                             ("local_rows", 4, "local_rows"), ("index_bits", 5, "index_bits"),
                             ("n_pe", 4, "n_pe")]:
        with pytest.raises(ValueError, match=word):
            SpMV(**{**base, key: value})
