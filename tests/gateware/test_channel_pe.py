"""ChannelPE on its own: one frame through its parts (SpMV, cells, y bank) equals golden.

The testbench plays the channel: it pushes the gate columns on the PE's column
stream (with stalls), runs the element-wise pass with a sequencer, pushes the
``m_t`` columns, runs the read-out, and reads ``m_t`` and ``y_t`` back through
the PE's bank read ports.
"""

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from ese_hw.gateware.pe import ChannelPE
from ese_hw.gateware.readout import YReadout
from ese_hw.gateware.sequencer import ElementwiseSequencer
from ese_hw.model.compress import Config, compress
from ese_hw.model.golden import GoldenModel
from ese_hw.model.images import channel_images
from ese_hw.model.lstmp import random_weights
from ese_hw.model.timing import Timing
from tests.gateware.sim_streams import stream_put


def _pe(model, n_lanes, timing, **kw):
    cfg = model.config
    im = channel_images(model)
    return ChannelPE(
        n_channels=n_lanes, weight_bits=cfg.weight_bits, index_bits=cfg.index_bits,
        act_bits=cfg.act_bits, accum_bits=cfg.accum_bits, queue_depth=2,
        entry_depth=len(im.words[0]), n_cols=model.n_in + model.n_proj + model.n_cells,
        cells=model.n_cells, proj_rows=model.n_proj, qformats=model.qformats,
        lut_bits=cfg.lut_bits, lut_range_log2=cfg.lut_range_log2, timing=timing,
        init=dict(words=im.words[0], ptr=im.ptr[0], bias=[int(v) for v in im.bias[0]],
                  peep=[int(v) for v in im.peep[0]]), **kw)


class Bench(wiring.Component):
    def __init__(self, model, n_lanes, timing):
        self.pe = _pe(model, n_lanes, timing)
        self.seq = ElementwiseSequencer(cells=model.n_cells, n_channels=n_lanes, timing=timing)
        self.readout = YReadout(proj_rows=model.n_proj, timing=timing)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.pe, m.submodules.seq = self.pe, self.seq
        m.submodules.readout = self.readout
        wiring.connect(m, self.seq.control, self.pe.ew)
        wiring.connect(m, self.readout.command, self.pe.readout)
        return m


async def read_bank(ctx, port, rows):
    out = []
    for r in range(rows):
        ctx.set(port.en, 1)
        ctx.set(port.addr, r)
        await ctx.tick()
        ctx.set(port.en, 0)
        out.append([int(v) for v in ctx.get(port.data)])
    return np.array(out).T                                   # (lanes, rows)


@pytest.mark.parametrize("n_lanes, timing", [(1, Timing()), (2, Timing(y_write_stages=2))])
def test_one_frame_equals_golden(n_lanes, timing):
    model = compress(random_weights(5, 6, 4, seed=2), Config(n_pe=1, density=0.5))
    g = GoldenModel(model)
    rng = np.random.default_rng(n_lanes)
    x = g.quantize_inputs(rng.standard_normal((n_lanes, model.n_in)))
    dut = Bench(model, n_lanes, timing)
    pe, n_in, n_proj, n_cells = dut.pe, model.n_in, model.n_proj, model.n_cells
    got = {}

    async def tb(ctx):
        ctx.set(dut.seq.zero, (1 << n_lanes) - 1)            # first frame: zero state
        for sig in (pe.gate_clear, pe.proj_clear):
            ctx.set(sig, 1)
        await ctx.tick()
        for sig in (pe.gate_clear, pe.proj_clear):
            ctx.set(sig, 0)
        for j in range(n_in):                                # y_{-1} = 0: no Y columns
            await stream_put(ctx, pe.column, {"col": j, "act": {
                "acts": [int(v) for v in x[:, j]], "proj": 0}}, rng=rng, idle_prob=0.3)
        await ctx.tick().until(pe.idle)
        ctx.set(dut.seq.start, 1)
        await ctx.tick()
        ctx.set(dut.seq.start, 0)
        await ctx.tick().until(pe.cells_done == n_cells)
        got["m"] = await read_bank(ctx, pe.m_rd, n_cells)
        for k in range(n_cells):
            await stream_put(ctx, pe.column, {"col": n_in + n_proj + k, "act": {
                "acts": [int(v) for v in got["m"][:, k]], "proj": 1}}, rng=rng, idle_prob=0.3)
        await ctx.tick().until(pe.idle)
        ctx.set(dut.readout.start, 1)
        await ctx.tick()
        ctx.set(dut.readout.start, 0)
        await ctx.tick().until(dut.readout.frame_done)
        got["y"] = await read_bank(ctx, pe.y_rd, n_proj)
        got["y_out"] = await read_bank(ctx, pe.out_rd, n_proj)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert np.any(got["m"] != 0) and np.any(got["y"] != 0)   # not a trivial frame
    for ch in range(n_lanes):
        acc = g.gate_accumulators(x[ch], np.zeros(n_proj, np.int64))
        _, m = g.elementwise(acc, np.zeros(n_cells, np.int64))
        np.testing.assert_array_equal(got["m"][ch], m)
        np.testing.assert_array_equal(got["y"][ch], g.project(m))
        np.testing.assert_array_equal(got["y_out"][ch], g.project(m))


def test_pe_without_cells_exposes_its_gate_sums():
    """A PE whose cells live in a shared unit (own_cells=False) has no element-wise ports;
    its gate_rd reads the gate sums (bias included) of every lane, as golden's."""
    model = compress(random_weights(5, 6, 4, seed=3), Config(n_pe=1, density=0.5))
    g = GoldenModel(model)
    rng = np.random.default_rng(5)
    x = g.quantize_inputs(rng.standard_normal((2, model.n_in)))
    pe = _pe(model, 2, Timing(), own_cells=False)
    assert not {"ew", "m_rd", "cells_done", "peep_load"} & set(pe.signature.members)
    got = []

    async def tb(ctx):
        ctx.set(pe.gate_rd.en, 0)            # a read port's en starts high; entries flow
        for sig in (pe.gate_clear, pe.proj_clear):
            ctx.set(sig, 1)
        await ctx.tick()
        for sig in (pe.gate_clear, pe.proj_clear):
            ctx.set(sig, 0)
        for j in range(model.n_in):
            await stream_put(ctx, pe.column, {"col": j, "act": {
                "acts": [int(v) for v in x[:, j]], "proj": 0}}, rng=rng, idle_prob=0.3)
        await ctx.tick().until(pe.idle)
        got.append(await read_bank(ctx, pe.gate_rd, 4 * model.n_cells))

    sim = Simulator(pe)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    for ch in range(2):
        acc = g.gate_accumulators(x[ch], np.zeros(model.n_proj, np.int64))   # (4, H)
        np.testing.assert_array_equal(got[0][ch], acc.T.reshape(-1))          # row 4k + g
