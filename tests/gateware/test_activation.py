# amaranth: UnusedElaboratable=no
"""LookupUnit against ``make_lut``/``lut_index`` exactly, under random stalls on both sides.

(The first line silences Amaranth's unused-elaboratable warning for the property
test, whose unit is inspected but never simulated; refused parameters never create one.)

Each configuration sweeps every input value of a narrow input (so every table
index the shift can reach is reached, and both saturation ends are hit),
covering positive, zero and negative index shifts.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator

from ese_hw.gateware.activation import LookupUnit
from ese_hw.model.lut import lut_index, make_lut
from tests.gateware.sim_streams import stream_get, stream_put


def run_lookup(dut, inputs, *, seed, idle_prob, stall_prob):
    """Stream ``inputs`` through ``dut``; return the outputs in order."""
    out = []
    rng_in, rng_out = np.random.default_rng(seed), np.random.default_rng(seed + 1)

    async def producer(ctx):
        for v in inputs:
            await stream_put(ctx, dut.i, int(v), rng=rng_in, idle_prob=idle_prob)

    async def consumer(ctx):
        for _ in inputs:
            out.append(await stream_get(ctx, dut.o, rng=rng_out, stall_prob=stall_prob))
        # Nothing extra may come out afterwards (no duplicated value).
        ctx.set(dut.o.ready, 1)
        for _ in range(dut.latency + 3):
            _, _, valid = await ctx.tick().sample(dut.o.valid)
            assert not valid, "lookup produced more outputs than inputs"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    return np.array(out, dtype=np.int64)


# (func, in_bits, in_frac, act_bits, lut_bits, lut_range_log2); base = lut_bits-1-range_log2
CONFIGS = [
    ("sigmoid", 10, 5, 16, 6, 2),    # shift +2 (in_frac > base): every index, both ends
    ("tanh", 9, 3, 12, 6, 2),        # shift 0
    ("sigmoid", 6, 1, 8, 6, 2),      # shift -2 (in_frac < base): left shift
    ("tanh", 8, -2, 16, 5, 3),       # shift -3, negative in_frac
    ("tanh", 3, 12, 10, 4, 0),       # shift +9 >= in_bits: index S/2 - 1 or S/2 only
]


@pytest.mark.parametrize("func,in_bits,in_frac,act_bits,lut_bits,range_log2", CONFIGS)
def test_lookup_exhaustive(func, in_bits, in_frac, act_bits, lut_bits, range_log2):
    dut = LookupUnit(func=func, in_bits=in_bits, in_frac=in_frac, act_bits=act_bits,
                     lut_bits=lut_bits, lut_range_log2=range_log2)
    lo, hi = -(1 << (in_bits - 1)), 1 << (in_bits - 1)
    rng = np.random.default_rng(in_bits * 100 + lut_bits)
    # Every input once (shuffled, so consecutive values differ), ends repeated back to back.
    inputs = np.concatenate([rng.permutation(np.arange(lo, hi)), [lo, lo, hi - 1, hi - 1, 0]])
    got = run_lookup(dut, inputs, seed=in_bits, idle_prob=0.3, stall_prob=0.3)

    args = dict(lut_bits=lut_bits, range_log2=range_log2)
    table = make_lut(func, out_bits=act_bits, **args)
    idx = lut_index(inputs, in_frac, **args)
    np.testing.assert_array_equal(got, table[idx])

    size = 1 << lut_bits
    shift = dut.shift
    if shift >= 0 and (hi >> shift) >= size // 2:
        assert set(idx.tolist()) == set(range(size)), "sweep must reach every table index"
    if shift <= in_bits - lut_bits:
        # The input range covers the table range: both saturation ends are reached.
        assert idx[inputs == lo][0] == 0 and idx[inputs == hi - 1][0] == size - 1


def test_lookup_full_rate():
    """No stalls: one value per cycle, first output after ``latency`` cycles."""
    dut = LookupUnit(func="sigmoid", in_bits=8, in_frac=4, act_bits=16, lut_bits=6,
                     lut_range_log2=2)
    inputs = list(range(-128, 128, 3))
    seen = []

    async def tb(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.valid, 1)
        for cycle in range(len(inputs) + dut.latency):
            if cycle < len(inputs):
                ctx.set(dut.i.payload, inputs[cycle])
            else:
                ctx.set(dut.i.valid, 0)
            _, _, ready, valid, payload = await ctx.tick().sample(
                dut.i.ready, dut.o.valid, dut.o.payload)
            assert ready
            if valid:
                seen.append((cycle, payload))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    table = make_lut("sigmoid", lut_bits=6, range_log2=2, out_bits=16)
    expect = table[lut_index(np.array(inputs), 4, lut_bits=6, range_log2=2)]
    assert [c for c, _ in seen] == list(range(dut.latency, len(inputs) + dut.latency))
    np.testing.assert_array_equal([p for _, p in seen], expect)


@pytest.mark.parametrize("kwargs,exc", [
    (dict(func="relu"), ValueError),
    (dict(in_bits=0), ValueError),
    (dict(in_frac=1.5), TypeError),
    (dict(act_bits=True), TypeError),
    (dict(lut_bits=0), ValueError),
    (dict(lut_range_log2="3"), TypeError),
])
def test_lookup_rejects_bad_parameters(kwargs, exc):
    args = dict(func="tanh", in_bits=16, in_frac=8, act_bits=16, lut_bits=12, lut_range_log2=3)
    args.update(kwargs)
    with pytest.raises(exc):
        LookupUnit(**args)


def test_lookup_properties_read_only():
    dut = LookupUnit(func="tanh", in_bits=16, in_frac=10, act_bits=12)
    assert (dut.func, dut.in_bits, dut.in_frac, dut.act_bits, dut.lut_bits,
            dut.lut_range_log2, dut.shift) == ("tanh", 16, 10, 12, 12, 3, 2)
    with pytest.raises(AttributeError):
        dut.latency = 3
