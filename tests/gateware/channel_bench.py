"""Amaranth-simulator bench for the Channel: load, stream frames in, collect y_t and timings."""

import numpy as np
from amaranth.sim import Simulator

from ese_hw.model.images import channel_images
from ese_hw.model.loadstream import load_stream_words
from tests.gateware.sim_streams import get_frames, put_frames, stream_put

__all__ = ["run_channel", "channel_load_payloads"]


def channel_load_payloads(params, model):
    """``model``'s load stream for a channel of ``params`` as ``load`` beat payloads."""
    words = load_stream_words(params, channel_images(model, params.broadcast))
    return [{"word": params.load_layout.from_bits(w), "last": int(k == len(words) - 1)}
            for k, w in enumerate(words)]


def run_channel(dut, x_q, *, loads=(), resets=None, seed=0, x_idle=0.0, y_stall=0.0,
                load_idle=0.0, max_cycles=2_000_000):
    """Stream frames ``x_q`` (C, T, I) through ``dut``; return (y (C, T, P), frame_done cycles).

    ``resets`` (T, C) booleans: start that channel from zero state at that frame.
    """
    c_n, t_n, n_in = x_q.shape
    n_proj = dut.n_proj
    resets = np.zeros((t_n, c_n), bool) if resets is None else np.asarray(resets, bool)
    ys = np.zeros((c_n, t_n, n_proj), dtype=np.int64)
    done_cycles = []
    rng_x, rng_y, rng_l = (np.random.default_rng(seed + k) for k in range(3))
    state = {"cycle": 0}

    async def counter(ctx):
        async for _, _, done in ctx.tick().sample(dut.frame_done):
            state["cycle"] += 1
            if done:
                done_cycles.append(state["cycle"])
            if state["cycle"] > max_cycles:
                raise AssertionError("channel deadlocked (no progress)")

    async def producer(ctx):
        for payload in loads:
            await stream_put(ctx, dut.load, payload, rng=rng_l, idle_prob=load_idle)
        if loads:
            await ctx.tick()
            assert ctx.get(dut.loaded), f"load refused: {ctx.get(dut.load_error)}"
        await put_frames(ctx, dut.x, x_q, resets, rng=rng_x, idle_prob=x_idle)

    async def consumer(ctx):
        await get_frames(ctx, dut.y, ys, rng=rng_y, stall_prob=y_stall)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(counter)
    sim.add_testbench(producer, background=True)
    sim.add_testbench(consumer)
    sim.run()
    return ys, done_cycles
