"""Shared Amaranth-simulator helpers for the gateware tests (stream put/get with seeded
stalls, and an SpMV bench that loads, runs and reads out one or more SpMVs)."""

import numpy as np
from amaranth.sim import Simulator
from sim_streams import stream_get, stream_put

from ese_hw.gateware.spmv import LoadTarget

__all__ = ["run_spmv", "spmv_load_words", "random_image_mats"]


def spmv_load_words(image, *, bias=None):
    """``load`` payloads (dicts) that write ``image`` (and ``bias``) into an SpMV."""
    out = []
    for p in range(image.n_pe):
        for a, w in enumerate(image.words[p]):
            out.append({"target": LoadTarget.ENTRY, "pe": p, "addr": a, "data": int(w)})
        for a, v in enumerate(image.ptr[p]):
            out.append({"target": LoadTarget.PTR, "pe": p, "addr": a, "data": int(v)})
        if bias is not None:
            for a, v in enumerate(bias[p]):
                out.append({"target": LoadTarget.BIAS, "pe": p, "addr": a, "data": int(v)})
    return out


def random_image_mats(rng, *, n_pe, rows, cols, density, weight_bits, extreme=False):
    """Per-PE integer sub-matrices with random masks (rows per PE may differ by one)."""
    lim = 1 << (weight_bits - 1)
    mats = []
    for p in range(n_pe):
        r = rows - (p % 2 if n_pe > 1 else 0)
        w = rng.integers(-lim, lim, size=(r, cols))
        if extreme:
            w = np.where(rng.random((r, cols)) < 0.5, -lim, w)
        w[rng.random((r, cols)) >= density] = 0
        mats.append(w)
    return mats


def run_spmv(dut, acts, *, n_rows, n_cols, loads=(), seed=0, act_idle=0.0, res_stall=0.0,
             load_idle=0.0):
    """Simulate: optional run-time loads, then one SpMV per vector in ``acts``.

    Returns ``(results, cycles, readout)``: per run the results in stream order
    reshaped to (n_pe, n_rows), the start -> done cycle count, and the cycles from
    ``done`` until ``busy`` drops (the readout).
    """
    n_pe = dut.n_pe
    results, cycles, readout = [], [], []
    rng_act, rng_res, rng_load = (np.random.default_rng(seed + k) for k in range(3))

    async def control(ctx):
        for payload in loads:
            await stream_put(ctx, dut.load, payload, rng=rng_load, idle_prob=load_idle)
        for _ in acts:
            ctx.set(dut.n_cols, n_cols)
            ctx.set(dut.n_rows, n_rows)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            count = 1
            while not ctx.get(dut.done):
                await ctx.tick()
                count += 1
                assert count < 100_000, "no done"
            cycles.append(count)
            count = 0
            while ctx.get(dut.busy):
                await ctx.tick()
                count += 1
            readout.append(count)

    async def producer(ctx):
        for act in acts:
            for a in act:
                await stream_put(ctx, dut.act, int(a), rng=rng_act, idle_prob=act_idle)

    async def consumer(ctx):
        for _ in acts:
            got = [await stream_get(ctx, dut.result, rng=rng_res, stall_prob=res_stall)
                   for _ in range(n_rows * n_pe)]
            results.append(np.array(got, dtype=np.int64).reshape(n_rows, n_pe).T)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(control)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    assert len(results) == len(acts)
    return results, cycles, readout
