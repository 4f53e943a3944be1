"""y_t: YReadout fills every PE's YBank from its projection accumulators, YOutput streams it.

Exact conversion (``sat(rshift_round(acc, shift))`` of the golden model), the
read-out's length from Timing (``proj_rows + readout_extra`` to ``frame_done``),
both y-bank read ports, and the output stream in row order under stalls.
"""

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from ese_hw.gateware.lanes import accum_lanes_layout
from ese_hw.gateware.readout import YBank, YOutput, YReadout
from ese_hw.model.quant import rshift_round, sat
from ese_hw.model.timing import Timing
from tests.gateware.sim_streams import stream_get, stream_rules

ACT_BITS, ACCUM_BITS = 12, 30


class Bench(wiring.Component):
    """YReadout, one YBank per PE over a memory standing in for its projection
    accumulators, and YOutput."""

    def __init__(self, acc, *, n_proj, shift, timing):
        n_pe, rows, c_n = acc.shape
        self._acc = acc
        self.readout = YReadout(proj_rows=rows, timing=timing)
        self.banks = [YBank(n_channels=c_n, act_bits=ACT_BITS, accum_bits=ACCUM_BITS,
                            proj_rows=rows, shift=shift, timing=timing) for _ in range(n_pe)]
        self.output = YOutput(n_proj=n_proj, n_pe=n_pe, n_channels=c_n, act_bits=ACT_BITS)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        n_pe, rows, c_n = self._acc.shape
        m.submodules.readout = readout = self.readout
        m.submodules.output = output = self.output
        for p, bank in enumerate(self.banks):
            m.submodules[f"bank{p}"] = bank
            acc = Memory(shape=accum_lanes_layout(ACCUM_BITS, c_n), depth=max(2, rows),
                         init=[[int(v) for v in r] for r in self._acc[p]])
            m.submodules[f"acc{p}"] = acc
            wiring.connect(m, bank.proj_rd, acc.read_port(transparent_for=()))
            wiring.connect(m, bank.out_rd, output.bank_rd[p])
        wiring.connect(m, readout.command, *(b.command for b in self.banks))
        m.d.comb += output.start.eq(readout.finish)
        return m


def run(acc, *, n_proj, shift, timing, seed, stall):
    """Start the read-out at cycle 0; return (frame_done cycle, busy cycles, y bank
    contents read through bc_rd, y streamed out, cycles the output was busy)."""
    n_pe, rows, c_n = acc.shape
    dut = Bench(acc, n_proj=n_proj, shift=shift, timing=timing)
    rng = np.random.default_rng(seed)
    res = {"y": []}

    async def control(ctx):
        ctx.set(dut.readout.start, 1)
        cycle, busy = 0, 0
        await ctx.tick()
        ctx.set(dut.readout.start, 0)
        while not ctx.get(dut.readout.frame_done):
            busy += ctx.get(dut.readout.busy)
            cycle += 1
            await ctx.tick()
        res["done"], res["busy"] = cycle + 1, busy
        assert not ctx.get(dut.readout.busy)
        banks = np.zeros((n_pe, rows, c_n), np.int64)
        for r in range(rows):                  # the broadcaster's port, all banks at once
            for b in dut.banks:
                ctx.set(b.bc_rd.en, 1)
                ctx.set(b.bc_rd.addr, r)
            await ctx.tick()
            for p, b in enumerate(dut.banks):
                ctx.set(b.bc_rd.en, 0)
                banks[p, r] = [int(v) for v in ctx.get(b.bc_rd.data)]
        res["banks"] = banks

    async def consumer(ctx):
        for _ in range(n_proj):
            res["y"].append([int(v) for v in await stream_get(ctx, dut.output.y, rng=rng,
                                                                stall_prob=stall)])
        ctx.set(dut.output.y.ready, 1)
        for _ in range(5):
            _, _, valid = await ctx.tick().sample(dut.output.y.valid)
            assert not valid, "an extra y element"

    async def output_busy(ctx):
        res["out_busy"] = 0
        async for _, _, busy in ctx.tick().sample(dut.output.busy):
            res["out_busy"] += busy

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(stream_rules(dut.output.y), background=True)
    sim.add_testbench(output_busy, background=True)
    sim.add_testbench(control)
    sim.add_testbench(consumer)
    sim.run()
    return res


@pytest.mark.parametrize("n_pe, n_proj, c_n, shift, y_write_stages, stall", [
    (2, 7, 1, 9, 2, 0.0),
    (3, 9, 2, 0, 1, 0.5),          # no conversion register
    (4, 5, 3, -2, 4, 0.3),         # negative shift: exact left shift, saturates
    (1, 1, 2, 14, 3, 0.0),         # one row
])
def test_readout_banks_and_stream(n_pe, n_proj, c_n, shift, y_write_stages, stall):
    timing = Timing(y_write_stages=y_write_stages)
    rows = -(-n_proj // n_pe)
    rng = np.random.default_rng(n_proj * 7 + c_n)
    acc = rng.integers(-(1 << (ACCUM_BITS - 1)), 1 << (ACCUM_BITS - 1), size=(n_pe, rows, c_n))
    acc[0, 0, 0] = (1 << (ACCUM_BITS - 1)) - 1                   # both saturation ends
    acc[-1, -1, -1] = -(1 << (ACCUM_BITS - 1))
    res = run(acc, n_proj=n_proj, shift=shift, timing=timing, seed=n_pe, stall=stall)

    y_q = sat(rshift_round(acc, shift), ACT_BITS)
    np.testing.assert_array_equal(res["banks"], y_q)
    order = [y_q[j % n_pe, j // n_pe] for j in range(n_proj)]     # element j: PE j % N
    np.testing.assert_array_equal(res["y"], order)
    # ro_start (cycle 0) -> frame_done, the number the cycle model counts.
    assert res["done"] == rows + timing.readout_extra
    assert res["busy"] == res["done"] - 1
    if stall == 0.0:                   # an always-ready consumer: n_proj + output_extra
        assert res["out_busy"] == n_proj + timing.output_extra
    else:
        assert res["out_busy"] >= n_proj + timing.output_extra
