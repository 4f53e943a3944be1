"""cocotb testbench for a stream FIFO (``i`` in, ``o`` out): in order, no loss, no duplicates.

Data (``ese_hw.simulation.runner.load_tb_data``): ``words`` (uint array to push), ``idle_prob``
and ``stall_prob`` (0-d floats). Random stalls are seeded from ``cocotb.RANDOM_SEED``.
"""

import cocotb
import numpy as np
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles

from ese_hw.simulation.runner import load_tb_data
from ese_hw.simulation.testbenches.streams import StreamDriver, StreamSink, reset, start_clock

CLOCK_NS = 5.0


class StreamFifoTB:
    def __init__(self, dut, data):
        self.dut = dut
        self.words = [int(w) for w in data["words"]]
        rng = np.random.default_rng(cocotb.RANDOM_SEED)
        start_clock(dut, CLOCK_NS)
        self.source = StreamDriver(dut, "i", rng=rng, idle_prob=float(data["idle_prob"]))
        self.sink = StreamSink(dut, "o", rng=rng, stall_prob=float(data["stall_prob"]))

    async def run(self):
        await reset(self.dut)
        self.sink.start()
        await self.source.send(self.words)
        await self.sink.wait_for(len(self.words), timeout_cycles=50 * len(self.words))
        # Linger: a duplicated or spurious transfer after the last word must show up.
        await ClockCycles(self.dut.clk, 20)
        self.sink.check_ok()
        return self.sink.items


@cocotb.test()
async def test_in_order_no_loss_no_dup(dut):
    tb = StreamFifoTB(dut, load_tb_data())
    got = await tb.run()
    assert len(got) == len(tb.words), f"got {len(got)} words, sent {len(tb.words)}"
    mismatch = [i for i, (a, b) in enumerate(zip(got, tb.words, strict=True)) if a != b]
    assert not mismatch, f"first mismatch at word {mismatch[0]}: {got[mismatch[0]]:#x}"


@cocotb.test()
async def test_full_throughput_without_stalls(dut):
    """With no stalls on either side the FIFO must accept one word per cycle."""
    data = load_tb_data()
    data["idle_prob"] = np.float64(0.0)
    data["stall_prob"] = np.float64(0.0)
    tb = StreamFifoTB(dut, data)
    n = 64
    await reset(dut)
    tb.sink.start()
    t0 = get_sim_time("ns")
    await tb.source.send(tb.words[:n])
    cycles = round((get_sim_time("ns") - t0) / CLOCK_NS)
    got = await tb.sink.wait_for(n)
    assert got == tb.words[:n]
    assert cycles == n, f"{n} words took {cycles} cycles to enter the FIFO"
