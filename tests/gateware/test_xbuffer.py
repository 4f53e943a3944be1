"""InputBuffer: frames in through a stalling stream, read back slot by slot, reset masks."""

import numpy as np
import pytest
from amaranth.sim import Simulator
from sim_streams import stream_put

from ese_hw.gateware.xbuffer import InputBuffer


def run_buffer(n_in, c_n, frames, resets, *, seed, x_idle, step_gap):
    """Stream ``frames`` (T, I, C) in; a step testbench takes each frame when full,
    latches its reset mask, reads it back in random order and releases it.

    Returns (frames read back (T, I, C), zero masks (T,), reset_all flags (T,)).
    """
    t_n = len(frames)
    dut = InputBuffer(n_in=n_in, n_channels=c_n, act_bits=12)
    rng_x, rng_s = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    got = np.zeros_like(frames)
    zeros, all_flags = [], []

    async def producer(ctx):
        for t in range(t_n):
            for j in range(n_in):
                await stream_put(ctx, dut.x, {"x": [int(v) for v in frames[t, j]],
                                              "reset": int(resets[t]) if j == 0 else 0},
                                 rng=rng_x, idle_prob=x_idle)

    async def step(ctx):
        for t in range(t_n):
            await ctx.tick().until(dut.full)
            ctx.set(dut.step_begin, 1)
            await ctx.tick()
            ctx.set(dut.step_begin, 0)
            zeros.append(ctx.get(dut.zero))
            all_flags.append(ctx.get(dut.reset_all))
            for j in rng_s.permutation(n_in):
                ctx.set(dut.rd.en, 1)
                ctx.set(dut.rd.addr, int(j))
                await ctx.tick()
                ctx.set(dut.rd.en, 0)
                for _ in range(int(rng_s.integers(0, step_gap + 1))):
                    await ctx.tick()                 # the data holds while en is low
                got[t, j] = [int(v) for v in ctx.get(dut.rd.data)]
            ctx.set(dut.release, 1)
            await ctx.tick()
            ctx.set(dut.release, 0)

    async def monitor(ctx):
        """Flags against the count of whole frames buffered (written - released)."""
        taken = released = 0
        async for _, _, valid, ready, full, empty, release in ctx.tick().sample(
                dut.x.valid, dut.x.ready, dut.full, dut.empty, dut.release):
            held = taken // n_in - released
            assert ready == (held < 2), "x.ready must be low exactly when both slots are full"
            assert full == (held >= 1) and empty == (held == 0)
            taken += valid and ready
            released += release

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer, background=True)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(step)
    sim.run()
    return got, np.array(zeros), np.array(all_flags)


@pytest.mark.parametrize("n_in, c_n, x_idle, step_gap", [
    (5, 1, 0.0, 0),        # the producer outruns the step: both slots fill, x stalls
    (3, 3, 0.5, 2),
    (1, 2, 0.3, 3),        # one element per frame
    (8, 2, 0.0, 4),
])
def test_frames_come_back_with_their_reset_masks(n_in, c_n, x_idle, step_gap):
    rng = np.random.default_rng(n_in * 10 + c_n)
    t_n = 7
    frames = rng.integers(-2048, 2048, size=(t_n, n_in, c_n))
    resets = rng.integers(0, 1 << c_n, size=t_n)
    got, zeros, all_flags = run_buffer(n_in, c_n, frames, resets, seed=n_in, x_idle=x_idle,
                                       step_gap=step_gap)
    np.testing.assert_array_equal(got, frames)
    all_lanes = (1 << c_n) - 1
    # Power-on: every lane starts from zero state, whatever the first frame says.
    expect = [all_lanes] + [int(r) for r in resets[1:]]
    np.testing.assert_array_equal(zeros, expect)
    np.testing.assert_array_equal(all_flags, [z == all_lanes for z in expect])
