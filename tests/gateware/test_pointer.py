"""Pointer read unit: both ends of a column in one cycle, held under back-pressure."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from ese_hw.gateware.pointer import PointerReader
from tests.gateware.sim_streams import stream_get, stream_put


# 1, 6, 7: both banks in one shared memory; 1100: a memory per bank.
@pytest.mark.parametrize("n_cols_max", [1, 6, 7, 1100])
@pytest.mark.parametrize("runtime_load", [False, True])
def test_spans(n_cols_max, runtime_load):
    rng = np.random.default_rng(n_cols_max)
    ptr = np.concatenate([[0], np.cumsum(rng.integers(0, 5, n_cols_max))])
    dut = PointerReader(n_cols_max=n_cols_max, ptr_bits=max(6, int(ptr[-1]).bit_length()),
                        act_bits=8, init=None if runtime_load else ptr)
    assert dut.shared_banks == (n_cols_max < 1100)
    cols = rng.integers(0, n_cols_max, 30)
    acts = rng.integers(-128, 128, 30)
    # A column with no entries (lo == hi) is dropped, so it yields no span.
    want = [(ptr[c], ptr[c + 1], a) for c, a in zip(cols, acts, strict=True)
            if ptr[c] != ptr[c + 1]]
    got = []

    async def producer(ctx):
        if runtime_load:
            for a, v in enumerate(ptr):
                ctx.set(dut.load.valid, 1)
                ctx.set(dut.load.payload, {"addr": a, "data": int(v)})
                await ctx.tick()
            ctx.set(dut.load.valid, 0)
        for c, a in zip(cols, acts, strict=True):
            await stream_put(ctx, dut.req, {"col": int(c), "act": int(a)}, rng=rng,
                             idle_prob=0.3)

    async def consumer(ctx):
        for _ in want:
            span = await stream_get(ctx, dut.span, rng=rng, stall_prob=0.4)
            got.append((span.lo, span.hi, span.act))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    assert got == want


def test_one_column_per_cycle():
    """Always-valid requests and an always-ready sink: a span every cycle after the
    read and the span register (``latency``, 2 cycles)."""
    ptr = np.arange(0, 18, 2)
    dut = PointerReader(n_cols_max=8, ptr_bits=5, act_bits=4, init=ptr)
    seen = []

    async def bench(ctx):
        ctx.set(dut.span.ready, 1)
        ctx.set(dut.req.valid, 1)
        for c in range(8):
            ctx.set(dut.req.payload, {"col": c, "act": 1})
            _, _, valid, lo = await ctx.tick().sample(dut.span.valid, dut.span.payload.lo)
            seen.append((valid, lo))
        ctx.set(dut.req.valid, 0)
        for _ in range(dut.latency):
            _, _, valid, lo = await ctx.tick().sample(dut.span.valid, dut.span.payload.lo)
            seen.append((valid, lo))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert dut.latency == 2
    assert seen == [(0, 0), (0, 0)] + [(1, 2 * c) for c in range(8)]


def test_bad_parameters():
    with pytest.raises(ValueError, match="n_cols_max"):
        PointerReader(n_cols_max=0, ptr_bits=4, act_bits=4)
    with pytest.raises(ValueError, match="pointer image"):
        PointerReader(n_cols_max=2, ptr_bits=4, act_bits=4, init=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="pointer image"):
        PointerReader(n_cols_max=2, ptr_bits=2, act_bits=4, init=[0, 1, 9])


def test_load_holds_off_columns():
    """A load writes through a read port's address, so no column is taken while one is
    offered; the column taken after it reads the pointers just loaded."""
    dut = PointerReader(n_cols_max=4, ptr_bits=5, act_bits=4, init=[0, 1, 2, 3, 4])
    seen = []

    async def bench(ctx):
        ctx.set(dut.span.ready, 1)
        ctx.set(dut.req.valid, 1)
        ctx.set(dut.req.payload, {"col": 2, "act": 3})
        for addr, value in ((2, 7), (3, 11)):
            ctx.set(dut.load.valid, 1)
            ctx.set(dut.load.payload, {"addr": addr, "data": value})
            seen.append(ctx.get(dut.req.ready))
            await ctx.tick()
        ctx.set(dut.load.valid, 0)
        seen.append(ctx.get(dut.req.ready))
        await ctx.tick()
        ctx.set(dut.req.valid, 0)
        await ctx.tick()                    # the span register
        seen.append((ctx.get(dut.span.valid), ctx.get(dut.span.payload.lo),
                     ctx.get(dut.span.payload.hi)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [0, 0, 1, (1, 7, 11)]
