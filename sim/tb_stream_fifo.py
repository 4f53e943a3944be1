"""cocotb testbench for a stream FIFO (``i`` in, ``o`` out): in order, no loss, no duplicates.

Data (``ese_hw.simulation.runner.load_tb_data``): ``words`` (uint array to push), ``idle_prob``
and ``stall_prob`` (0-d floats). Random stalls are seeded from ``cocotb.RANDOM_SEED``. The
producer and consumer are cocotbext-axi's (:mod:`ese_hw.simulation.testbenches.streams`),
and :class:`~ese_hw.simulation.testbenches.streams.StreamRuleChecker` checks the FIFO's
output against the stream rules.
"""

import cocotb
import numpy as np
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, First, Timer

from ese_hw.simulation.runner import load_tb_data
from ese_hw.simulation.testbenches.streams import (
    StreamRuleChecker,
    reset,
    seeded_pauses,
    start_clock,
    stream_sink,
    stream_source,
)

CLOCK_NS = 5.0


class StreamFifoTB:
    def __init__(self, dut, data):
        self.dut = dut
        self.words = [int(w) for w in data["words"]]
        rng = np.random.default_rng(cocotb.RANDOM_SEED)
        start_clock(dut, CLOCK_NS)
        self.source = stream_source(dut, "i",
                                    pauses=seeded_pauses(rng, float(data["idle_prob"])))
        self.sink = stream_sink(dut, "o", pauses=seeded_pauses(rng, float(data["stall_prob"])))
        self.checker = StreamRuleChecker(dut, "o")

    def send(self, words):
        """Queue ``words``: the source offers the first in the cycle after the next edge."""
        for w in words:
            self.source.send_nowait(self.source._transaction_obj(payload=w))

    async def received(self, count, *, timeout_cycles=100_000):
        """The first ``count`` payloads the sink took, as ints, in order."""
        got = []

        async def collect():
            while len(got) < count:
                got.append((await self.sink.recv()).payload.to_unsigned())

        task = cocotb.start_soon(collect())
        await First(task, Timer(timeout_cycles * CLOCK_NS, "ns"))
        if not task.done():
            task.cancel()
            raise AssertionError(f"timeout: {len(got)} of {count} payloads after "
                                 f"{timeout_cycles} cycles")
        return got

    async def run(self):
        await reset(self.dut)
        self.checker.start()
        self.send(self.words)
        got = await self.received(len(self.words), timeout_cycles=50 * len(self.words))
        # Linger: a duplicated or spurious transfer after the last word must show up.
        await ClockCycles(self.dut.clk, 20)
        self.checker.check_ok()
        while not self.sink.empty():
            got.append(self.sink.recv_nowait().payload.to_unsigned())
        return got


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
    tb.send(tb.words[:n])
    t0 = get_sim_time("ns")
    await tb.source.wait()
    # The first word is offered one edge after it was queued; the source is idle right
    # after the edge of the last transfer.
    cycles = round((get_sim_time("ns") - t0) / CLOCK_NS) - 1
    got = await tb.received(n)
    assert got == tb.words[:n]
    assert cycles == n, f"{n} words took {cycles} cycles to enter the FIFO"
