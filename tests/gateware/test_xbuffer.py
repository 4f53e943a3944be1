"""InputBuffer: frames in through a stalling stream, read back slot by slot, reset masks."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from ese_hw.gateware.xbuffer import InputBuffer
from tests.gateware.sim_streams import stream_put


def run_buffer(n_in, c_n, frames, resets, *, seed, x_idle, step_gap, k=1):
    """Stream ``frames`` (T, I, C) in; a step testbench takes each frame when full,
    latches its reset mask, reads it back a group of ``k`` elements per address in
    random order and releases it.

    Returns (frames read back (T, ceil(I/k) * k, C), zero masks (T,), reset_all flags (T,)).
    """
    t_n = len(frames)
    dut = InputBuffer(n_in=n_in, n_channels=c_n, act_bits=12, broadcast=k)
    rng_x, rng_s = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    groups = dut.groups
    got = np.zeros((t_n, groups, k, c_n), np.int64)
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
            for j in rng_s.permutation(groups):
                ctx.set(dut.rd.en, 1)
                ctx.set(dut.rd.addr, int(j))
                await ctx.tick()
                ctx.set(dut.rd.en, 0)
                for _ in range(int(rng_s.integers(0, step_gap + 1))):
                    await ctx.tick()                 # the data holds while en is low
                data = ctx.get(dut.rd.data)
                got[t, j] = [[int(v) for v in e] for e in (data if k > 1 else [data])]
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
    return got.reshape(t_n, groups * k, c_n), np.array(zeros), np.array(all_flags)


@pytest.mark.parametrize("n_in, c_n, x_idle, step_gap, k", [
    (5, 1, 0.0, 0, 1),     # the producer outruns the step: both slots fill, x stalls
    (3, 3, 0.5, 2, 1),
    (1, 2, 0.3, 3, 1),     # one element per frame
    (8, 2, 0.0, 4, 1),
    (8, 2, 0.3, 1, 2),     # two elements per read
    (7, 1, 0.0, 2, 4),     # a short last group: its missing element reads 0
    (5, 2, 0.4, 0, 3),
    (3, 1, 0.2, 1, 8),     # one short group per frame
])
def test_frames_come_back_with_their_reset_masks(n_in, c_n, x_idle, step_gap, k):
    rng = np.random.default_rng(n_in * 10 + c_n)
    t_n = 7
    frames = rng.integers(-2048, 2048, size=(t_n, n_in, c_n))
    resets = rng.integers(0, 1 << c_n, size=t_n)
    got, zeros, all_flags = run_buffer(n_in, c_n, frames, resets, seed=n_in, x_idle=x_idle,
                                       step_gap=step_gap, k=k)
    np.testing.assert_array_equal(got[:, :n_in], frames)
    assert not got[:, n_in:].any()
    all_lanes = (1 << c_n) - 1
    # Power-on: every lane starts from zero state, whatever the first frame says.
    expect = [all_lanes] + [int(r) for r in resets[1:]]
    np.testing.assert_array_equal(zeros, expect)
    np.testing.assert_array_equal(all_flags, [z == all_lanes for z in expect])
