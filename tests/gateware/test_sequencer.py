"""ElementwiseSequencer: the slot of every local cell, cycle by cycle, from Timing."""

import pytest
from amaranth.sim import Simulator

from ese_hw.gateware.sequencer import ElementwiseSequencer
from ese_hw.model.timing import DEFAULT_TIMING, Timing


def record(cells, c_n, timing, *, idle_before=3, ew_share=1):
    """Start a pass after ``idle_before`` cycles; return the control of every cycle."""
    dut = ElementwiseSequencer(cells=cells, n_channels=c_n, timing=timing, ew_share=ew_share)
    rows = []

    async def tb(ctx):
        ctx.set(dut.zero, (1 << c_n) - 2)
        for _ in range(idle_before):
            assert not ctx.get(dut.busy) and not ctx.get(dut.control.feed)
            await ctx.tick()
        ctx.set(dut.start, 1)
        assert ctx.get(dut.control.restart)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for _ in range(cells * dut.slot + 4):
            c = dut.control
            rows.append({
                "busy": ctx.get(dut.busy),
                "gate": ctx.get(c.gate_row) if ctx.get(c.gate_read) else None,
                "cell": ctx.get(c.cell) if ctx.get(c.cell_read) else None,
                "lane": ctx.get(c.lane) if ctx.get(c.feed) else None,
                "zero": ctx.get(c.zero),
                "restart": ctx.get(c.restart),
            })
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return dut.slot, rows


@pytest.mark.parametrize("cells, c_n", [(1, 1), (3, 2), (5, 4)])
def test_slots(cells, c_n):
    t = DEFAULT_TIMING
    slot, rows = record(cells, c_n, t)
    assert slot == t.ew_slot(c_n) == 5 + c_n
    for k, row in enumerate(rows):
        cell, s = divmod(k, slot)
        if cell >= cells:                      # the pass is over
            assert row == {"busy": 0, "gate": None, "cell": None, "lane": None,
                           "zero": (1 << c_n) - 2, "restart": 0}
            continue
        assert row["busy"]
        # Four gate reads, c_{t-1} and peepholes with the first, then one feed per lane.
        assert row["gate"] == (4 * cell + s if s < t.gate_reads else None)
        assert row["cell"] == (cell if s == 0 else None)
        assert row["lane"] == (s - t.ew_feed_offset if s >= t.ew_feed_offset else None)
        assert row["zero"] == (1 << c_n) - 2 and not row["restart"]


def test_every_lane_is_fed_once_per_cell():
    slot, rows = record(4, 3, Timing())
    feeds = [(k // slot, row["lane"]) for k, row in enumerate(rows) if row["lane"] is not None]
    assert feeds == [(cell, lane) for cell in range(4) for lane in range(3)]


@pytest.mark.parametrize("cells, c_n, ew_share", [(2, 1, 2), (3, 2, 4), (1, 3, 3)])
def test_shared_unit_feeds_every_pe_lane(cells, c_n, ew_share):
    """A unit of G PEs: G * C lanes per cell (PE-major), slot ew_slot(G * C), gate reads
    and the zero mask (per channel) as with one PE."""
    t = DEFAULT_TIMING
    slot, rows = record(cells, c_n, t, ew_share=ew_share)
    lanes = ew_share * c_n
    assert slot == t.ew_slot(lanes) == 5 + lanes
    feeds = [(k // slot, row["lane"]) for k, row in enumerate(rows) if row["lane"] is not None]
    assert feeds == [(cell, lane) for cell in range(cells) for lane in range(lanes)]
    gates = [(k // slot, row["gate"]) for k, row in enumerate(rows) if row["gate"] is not None]
    assert gates == [(cell, 4 * cell + s) for cell in range(cells) for s in range(4)]
    assert all(row["zero"] == (1 << c_n) - 2 for row in rows)


@pytest.mark.parametrize("kw, error", [
    (dict(cells=0), ValueError),
    (dict(n_channels=0), ValueError),
    (dict(timing=5), TypeError),
    (dict(ew_share=0), ValueError),
])
def test_bad_parameters(kw, error):
    with pytest.raises(error):
        ElementwiseSequencer(**{"cells": 2, "n_channels": 1, **kw})
