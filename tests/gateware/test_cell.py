"""CellUnit under the ElementwiseSequencer: c_t and m_t of every local cell and lane of
its G PEs, bit-exact with ``GoldenModel.elementwise``, over two passes (c_{t-1} carried, a
lane reset)."""

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from ese_hw.gateware.cell import CellUnit
from ese_hw.gateware.lanes import accum_lanes_layout
from ese_hw.gateware.sequencer import ElementwiseSequencer
from ese_hw.model.compress import Config, compress
from ese_hw.model.golden import GoldenModel
from ese_hw.model.images import channel_images
from ese_hw.model.lstmp import random_weights
from ese_hw.model.timing import Timing


class Bench(wiring.Component):
    """Sequencer -> CellUnit of G PEs (the model's, G = n_pe), the gate accumulators stood
    in for by a memory of G * C lanes (PE-major); PE p's local cell k is cell k G + p."""

    def __init__(self, model, acc, c_n, timing):
        cfg = model.config
        g_n = cfg.n_pe
        cells = model.n_cells // g_n
        self._acc, self._g = acc, g_n                       # (C, 4, H)
        self.seq = ElementwiseSequencer(cells=cells, n_channels=c_n, timing=timing,
                                        ew_share=g_n)
        self.cell = CellUnit(n_channels=c_n, weight_bits=cfg.weight_bits,
                             act_bits=cfg.act_bits, accum_bits=cfg.accum_bits, cells=cells,
                             qformats=model.qformats, lut_bits=cfg.lut_bits,
                             lut_range_log2=cfg.lut_range_log2, timing=timing, ew_share=g_n)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.seq = seq = self.seq
        m.submodules.cell = cell = self.cell
        c_n, g_n = self._acc.shape[0], self._g
        cells = self._acc.shape[2] // g_n
        rows = [[int(self._acc[ch, r % 4, (r // 4) * g_n + p])
                 for p in range(g_n) for ch in range(c_n)]
                for r in range(4 * cells)]                  # local row 4k + gate
        gates = Memory(shape=accum_lanes_layout(len(cell.gate_rd.data[0]), g_n * c_n),
                       depth=4 * cells, init=rows)
        m.submodules.gates = gates
        wiring.connect(m, cell.gate_rd, gates.read_port(transparent_for=()))
        wiring.connect(m, seq.control, cell.control)
        return m


def run_passes(model, acc, zero_masks, timing):
    """Load the peepholes, then one element-wise pass per zero mask; return per pass the
    m banks as (C, H) and the cycle (from the start strobe) at which cell 0 was counted."""
    c_n, g_n = acc.shape[0], model.config.n_pe
    cells = acc.shape[2] // g_n
    dut = Bench(model, acc, c_n, timing)
    peep = channel_images(model).peep
    out = []

    async def tb(ctx):
        load = dut.cell.peep_load
        row = 1 << max(1, (cells - 1).bit_length())         # PE index above the cell
        for p in reversed(range(g_n)):                      # the run-time load path
            for a, v in enumerate(peep[p]):
                ctx.set(load.valid, 1)
                ctx.set(load.payload, {"addr": p * row + a, "data": int(v)})
                await ctx.tick()
        ctx.set(load.valid, 0)
        for zero in zero_masks:
            ctx.set(dut.seq.zero, zero)
            ctx.set(dut.seq.start, 1)
            await ctx.tick()
            ctx.set(dut.seq.start, 0)
            first, cycle = None, 1
            while ctx.get(dut.cell.cells_done) < cells:
                if first is None and ctx.get(dut.cell.cells_done) >= 1:
                    first = cycle
                cycle += 1
                await ctx.tick()
            first = cycle if first is None else first
            for _ in range(timing.ew_latency + 2):          # nothing more is written
                await ctx.tick()
            assert ctx.get(dut.cell.cells_done) == cells
            bank = np.zeros((c_n, g_n * cells), np.int64)
            for p, port in enumerate(dut.cell.m_rd):
                for k in range(cells):
                    ctx.set(port.en, 1)
                    ctx.set(port.addr, k)
                    await ctx.tick()
                    ctx.set(port.en, 0)
                    bank[:, k * g_n + p] = [int(v) for v in ctx.get(port.data)]
            out.append((bank, first))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return out


@pytest.mark.parametrize("cells, c_n, cfg, timing", [
    (3, 1, Config(n_pe=1, density=0.5), Timing()),
    (4, 3, Config(n_pe=1, density=0.5, act_bits=12, weight_bits=8, accum_bits=32,
                  lut_bits=8), Timing(ew_output_stages=2)),
    (1, 2, Config(n_pe=1, density=0.5), Timing()),
    # Shared by G = n_pe PEs (cells are the unit's total): G * C lanes per cell.
    (6, 1, Config(n_pe=2, density=0.5), Timing()),
    (6, 2, Config(n_pe=3, density=0.5), Timing(ew_output_stages=1)),
])
def test_cells_equal_golden(cells, c_n, cfg, timing):
    model = compress(random_weights(4, cells, 2, seed=cells), cfg)
    g = GoldenModel(model)
    rng = np.random.default_rng(cells + c_n)
    scale = 1 << (g.q["fw_g"] + g.q["fa"])                 # gate sums around +-4
    acc = rng.integers(-4 * scale, 4 * scale, size=(c_n, 4, cells))
    all_lanes, lane0 = (1 << c_n) - 1, 1
    passes = run_passes(model, acc, [all_lanes, lane0], timing)

    c_prev = np.zeros((c_n, cells), np.int64)
    for (bank, first), zero in zip(passes, [all_lanes, lane0], strict=True):
        for ch in range(c_n):
            start = np.zeros(cells, np.int64) if zero >> ch & 1 else c_prev[ch]
            c, m = g.elementwise(acc[ch], start)
            np.testing.assert_array_equal(bank[ch], m)
            c_prev[ch] = c
        # The cycle model's first m_t round: the same Timing, the same cycle.
        assert first == timing.m_round_ready(cfg.n_pe * c_n)
