# amaranth: UnusedElaboratable=no
"""ElementwiseUnit == ``GoldenModel.elementwise`` bit for bit, under random stalls.

Inputs come from real compressed models (gate accumulators and cell states of a
few golden frames) and from random extreme values (accumulators, cell states and
peepholes at their limits), with Q formats that make every shift amount
positive, zero or negative. The golden model is the oracle: extreme cases are
run through ``GoldenModel.elementwise`` on a copy of the model whose peepholes
and Q formats are replaced.

(The first line silences Amaranth's unused-elaboratable warning for the
property test, whose unit is inspected but never simulated; refused parameters
never create one.)
"""

import dataclasses
import gc
import warnings

import numpy as np
import pytest
from amaranth.hdl import Fragment, UnusedElaboratable
from amaranth.sim import Simulator

from ese_hw.gateware.elementwise import ElementwiseUnit
from ese_hw.model.compress import Config, compress
from ese_hw.model.golden import GoldenModel
from ese_hw.model.lstmp import random_weights
from ese_hw.model.timing import DEFAULT_TIMING, Timing
from tests.gateware.sim_streams import stream_get, stream_put, stream_rules

FIELDS = ("acc_i", "acc_f", "acc_c", "acc_o", "c_prev", "p_i", "p_f", "p_o")


def run_unit(dut, acc, c_prev, peep, *, seed, idle_prob=0.3, stall_prob=0.3):
    """Stream every cell through ``dut``; return (c, m) in order.

    A monitor checks the stream rule on ``o`` (a stalled output keeps valid and
    payload), and the consumer checks that nothing extra comes out at the end.
    """
    n = len(c_prev)
    cells = [{"acc_i": int(acc[0, h]), "acc_f": int(acc[1, h]), "acc_c": int(acc[2, h]),
              "acc_o": int(acc[3, h]), "c_prev": int(c_prev[h]), "p_i": int(peep[0, h]),
              "p_f": int(peep[1, h]), "p_o": int(peep[2, h])} for h in range(n)]
    out_c, out_m = [], []
    rng_in, rng_out = np.random.default_rng(seed), np.random.default_rng(seed + 1)

    async def producer(ctx):
        for cell in cells:
            await stream_put(ctx, dut.i, cell, rng=rng_in, idle_prob=idle_prob)

    async def consumer(ctx):
        for _ in cells:
            p = await stream_get(ctx, dut.o, rng=rng_out, stall_prob=stall_prob)
            out_c.append(p.c)
            out_m.append(p.m)
        ctx.set(dut.o.ready, 1)
        for _ in range(dut.latency + 3):
            _, _, valid = await ctx.tick().sample(dut.o.valid)
            assert not valid, "more outputs than inputs"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.add_testbench(stream_rules(dut.o), background=True)
    sim.run()
    return np.array(out_c, dtype=np.int64), np.array(out_m, dtype=np.int64)


def make_dut(gm, timing=DEFAULT_TIMING):
    cfg, q = gm.cfg, gm.q
    return ElementwiseUnit(act_bits=cfg.act_bits, weight_bits=cfg.weight_bits,
                           accum_bits=cfg.accum_bits, fw_g=q["fw_g"], fa=q["fa"], fc=q["fc"],
                           fp=q["fp"], lut_bits=cfg.lut_bits,
                           lut_range_log2=cfg.lut_range_log2, timing=timing)


# Config, and Q formats for the extreme-value test (None: the model's own). Shift
# amounts (peephole fp+fc-A, LUT index of pre A-base, of c fc-base, i*g 2fg-fc):
CONFIGS = {
    # model's Q formats: peephole +1, LUT +14 / +3, i*g +19
    "a16w12": (Config(n_pe=4, density=0.25), None),
    # overridden: peephole -2, LUT -1 / -4, i*g +20
    "a12w8": (Config(n_pe=4, density=0.25, act_bits=12, weight_bits=8, accum_bits=30,
                     lut_bits=10, lut_range_log2=3),
              {"fw_g": 2, "fa": 3, "fp": 1, "fc": 2}),
    # overridden: peephole +19, LUT +1 / +11, i*g -1 (fc > 2 fg)
    "a8w6": (Config(n_pe=4, density=0.25, act_bits=8, weight_bits=6, accum_bits=24,
                    lut_bits=6, lut_range_log2=1),
             {"fw_g": 3, "fa": 2, "fp": 9, "fc": 15}),
}

_models = {}


def golden(name):
    if name not in _models:
        cfg, _ = CONFIGS[name]
        _models[name] = GoldenModel(compress(random_weights(16, 64, 32, seed=5), cfg))
    return _models[name]


@pytest.mark.parametrize("name, timing", [(name, DEFAULT_TIMING) for name in CONFIGS]
                         + [("a16w12", Timing(ew_output_stages=2))])
def test_elementwise_real_frames(name, timing):
    """Cells of six golden frames (real accumulators and cell states) match exactly, under
    stalls (extra output stages stall with the rest)."""
    gm = golden(name)
    x_q = gm.quantize_inputs(np.random.default_rng(11).standard_normal((6, gm.model.n_in)) * 2)
    y, c_prev = gm.initial_state()
    accs, cps, cs, ms = [], [], [], []
    for t in range(x_q.shape[0]):
        acc = gm.gate_accumulators(x_q[t], y)
        c, m = gm.elementwise(acc, c_prev)
        accs.append(acc)
        cps.append(c_prev)
        cs.append(c)
        ms.append(m)
        y, c_prev = gm.project(m), c
    acc, c_prev, c, m = (np.concatenate(a, axis=-1) for a in (accs, cps, cs, ms))
    peep = np.tile(gm.model.peep, (1, x_q.shape[0]))
    assert len(np.unique(c)) > 20 and np.any(c_prev != 0)      # the data is not trivial

    got_c, got_m = run_unit(make_dut(gm, timing), acc, c_prev, peep, seed=3)
    np.testing.assert_array_equal(got_c, c)
    np.testing.assert_array_equal(got_m, m)


def _extreme(rng, n, bits):
    """``n`` values of ``signed(bits)``, biased to the limits, 0 and +-1."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    special = np.array([lo, hi, lo + 1, hi - 1, 0, 1, -1], dtype=np.int64)
    v = rng.integers(lo, hi + 1, size=n, dtype=np.int64)
    pick = rng.random(n) < 0.6
    v[pick] = rng.choice(special, size=int(pick.sum()))
    return v


@pytest.mark.parametrize("name", CONFIGS)
def test_elementwise_extremes(name):
    """Random extreme inputs (limits of every field) against the golden model."""
    gm0 = golden(name)
    cfg, q_over = CONFIGS[name]
    n = 400
    rng = np.random.default_rng(sum(map(ord, name)))
    acc = np.stack([_extreme(rng, n, cfg.accum_bits) for _ in range(4)])
    c_prev = _extreme(rng, n, cfg.act_bits)
    peep = np.stack([_extreme(rng, n, cfg.weight_bits) for _ in range(3)])
    q = dict(gm0.q, **(q_over or {}))
    gm = GoldenModel(dataclasses.replace(gm0.model, peep=peep, qformats=q))
    c, m = gm.elementwise(acc, c_prev)
    # Both saturation ends of c are exercised (needs f = 1 - 2**-fg at the table's top).
    lim = 1 << (cfg.act_bits - 1)
    assert c.min() == -lim and c.max() == lim - 1

    got_c, got_m = run_unit(make_dut(gm), acc, c_prev, peep, seed=7, idle_prob=0.2,
                            stall_prob=0.4)
    np.testing.assert_array_equal(got_c, c)
    np.testing.assert_array_equal(got_m, m)


@pytest.mark.parametrize("timing", [DEFAULT_TIMING, Timing(ew_output_stages=3)])
def test_elementwise_full_rate(timing):
    """Without stalls: one cell per cycle, each result exactly ``latency`` cycles later
    (``Timing.ew_latency``: 15, plus the output stages asked for)."""
    gm = golden("a12w8")
    n = 40
    rng = np.random.default_rng(1)
    cfg = gm.cfg
    acc = rng.integers(-(1 << 20), 1 << 20, size=(4, n))
    c_prev = rng.integers(-(1 << 11), 1 << 11, size=n)
    peep = rng.integers(-(1 << 7), 1 << 7, size=(3, n))
    gm = GoldenModel(dataclasses.replace(gm.model, peep=peep))
    c, m = gm.elementwise(acc, c_prev)
    dut = make_dut(gm, timing)
    assert dut.latency == timing.ew_latency == 15 + timing.ew_output_stages
    seen = []

    async def tb(ctx):
        ctx.set(dut.o.ready, 1)
        for cycle in range(n + dut.latency + 2):
            if cycle < n:
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, {
                    "acc_i": int(acc[0, cycle]), "acc_f": int(acc[1, cycle]),
                    "acc_c": int(acc[2, cycle]), "acc_o": int(acc[3, cycle]),
                    "c_prev": int(c_prev[cycle]), "p_i": int(peep[0, cycle]),
                    "p_f": int(peep[1, cycle]), "p_o": int(peep[2, cycle])})
            else:
                ctx.set(dut.i.valid, 0)
            _, _, ready, valid, oc, om = await ctx.tick().sample(
                dut.i.ready, dut.o.valid, dut.o.payload.c, dut.o.payload.m)
            assert ready
            if valid:
                seen.append((cycle, oc, om))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert cfg.act_bits == 12
    assert [s[0] for s in seen] == list(range(dut.latency, n + dut.latency))
    np.testing.assert_array_equal([s[1] for s in seen], c)
    np.testing.assert_array_equal([s[2] for s in seen], m)


def test_pipeline_stages_are_timings(monkeypatch):
    """The unit counts the stages it builds and refuses to elaborate when they are not
    ``Timing.ew_core_latency``, which the sequencer and the cycle model count."""
    gm = golden("a12w8")
    Fragment.get(make_dut(gm), None)                  # 15 stages: Timing's
    monkeypatch.setattr(Timing, "ew_core_latency", 14)
    # The refused unit's half-built parts (its ROMs) are never elaborated: collect them
    # here, where Amaranth's warning about them is expected.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(RuntimeError, match="has 15 stages, Timing.ew_core_latency says 14"):
            Fragment.get(make_dut(gm), None)
        gc.collect()


@pytest.mark.parametrize("kwargs,exc", [
    (dict(act_bits=1), ValueError),
    (dict(weight_bits=19), ValueError),
    (dict(accum_bits=48.0), TypeError),
    (dict(fc=None), TypeError),
    (dict(lut_bits=0), ValueError),
])
def test_elementwise_rejects_bad_parameters(kwargs, exc):
    args = dict(act_bits=16, weight_bits=12, accum_bits=48, fw_g=10, fa=12, fc=11, fp=12)
    args.update(kwargs)
    with pytest.raises(exc):
        ElementwiseUnit(**args)


def test_elementwise_properties():
    dut = ElementwiseUnit(act_bits=12, weight_bits=8, accum_bits=30, fw_g=6, fa=8, fc=7, fp=8,
                          lut_bits=10, lut_range_log2=2)
    assert dut.qformats == {"fw_g": 6, "fa": 8, "fc": 7, "fp": 8, "fg": 11}
    assert (dut.act_bits, dut.weight_bits, dut.accum_bits, dut.lut_bits,
            dut.lut_range_log2, dut.latency) == (12, 8, 30, 10, 2, 15)
    assert set(dut.in_layout.members) == set(FIELDS)
    with pytest.raises(AttributeError):
        dut.fc = 3
