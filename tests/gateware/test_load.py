"""The load path: payload packer == Amaranth's own layout constants; loadable memories."""

import numpy as np
import pytest
from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from ese_hw.gateware.load import (
    LoadTarget,
    load_layout,
    loadable_memory,
    pack_fields,
    pack_load_words,
    route_load,
    write_layout,
)
from ese_hw.model import images


def _const(layout, row):
    return layout.const(row).as_value().value


def test_targets_are_the_model_codes():
    assert [t.value for t in LoadTarget] == [images.LOAD_ENTRY, images.LOAD_PTR,
                                             images.LOAD_BIAS, images.LOAD_PEEP]


@pytest.mark.parametrize("pe_bits, addr_bits, data_bits", [(1, 1, 1), (5, 12, 48), (6, 13, 62)])
def test_load_words_match_layout_constants(pe_bits, addr_bits, data_bits):
    rng = np.random.default_rng(pe_bits * 100 + data_bits)
    layout = load_layout(pe_bits, addr_bits, data_bits)
    k = 300
    rows = np.stack([
        np.arange(k) % len(LoadTarget),                       # every target
        rng.integers(0, 1 << pe_bits, k),
        rng.integers(0, 1 << addr_bits, k),
        rng.integers(-(1 << 62), 1 << 62, k),                 # negative biases too
    ], axis=1)
    rows[:4, 3] = [-1, 0, (1 << data_bits) - 1, -(1 << (data_bits - 1))]
    mask = (1 << data_bits) - 1
    want = [_const(layout, {"target": LoadTarget(int(t)), "pe": int(p), "addr": int(a),
                            "data": int(d) & mask}) for t, p, a, d in rows]
    assert pack_load_words(layout, rows) == want


def test_load_words_refuse_fields_that_do_not_fit():
    layout = load_layout(2, 3, 8)
    pack_load_words(layout, [[3, 3, 7, -5]])
    for bad in ([0, 4, 0, 0], [0, 0, 8, 0], [0, -1, 0, 0]):
        with pytest.raises(ValueError, match="pe|addr"):
            pack_load_words(layout, [bad])
    assert pack_load_words(layout, np.zeros((0, 4), np.int64)) == []


def test_pack_fields_arrays_and_nested_structs():
    # The shape of a channel's x word: one signed value per lane and a reset mask.
    rng = np.random.default_rng(7)
    lanes, act_bits, k = 5, 13, 50
    layout = data.StructLayout({
        "x": data.ArrayLayout(signed(act_bits), lanes),
        "reset": unsigned(lanes),
        "tag": data.StructLayout({"proj": 1, "n": signed(3)}),
    })
    x = rng.integers(-(1 << (act_bits - 1)), 1 << (act_bits - 1), (k, lanes))
    reset = rng.integers(0, 1 << lanes, k)
    n = rng.integers(-4, 4, k)
    got = pack_fields(layout, x=x, reset=reset, tag={"proj": np.ones(k, int), "n": n})
    want = [_const(layout, {"x": [int(v) for v in x[i]], "reset": int(reset[i]),
                            "tag": {"proj": 1, "n": int(n[i])}}) for i in range(k)]
    assert got == want
    # Fields left out are zero.
    assert pack_fields(layout, reset=reset) == [int(r) << layout["reset"].offset
                                                for r in reset]


def test_pack_fields_checks_its_columns():
    layout = write_layout(4, 8)
    with pytest.raises(ValueError, match="no field"):
        pack_fields(layout, addr=[1], value=[2])
    with pytest.raises(ValueError, match="same number of rows"):
        pack_fields(layout, addr=[1, 2], data=[3])
    with pytest.raises(ValueError, match="64"):
        pack_fields(data.StructLayout({"wide": unsigned(65)}), wide=[1])


class _TwoMemories(wiring.Component):
    """Two loadable memories behind one load stream (what a PE does), one read port each."""

    def __init__(self, depth, init):
        self._depth, self._init = depth, init
        super().__init__({
            "load": In(stream.Signature(load_layout(1, 3, 16))),
            "rd_addr": In(range(depth)),
            "rd_entry": Out(unsigned(10)),
            "rd_bias": Out(signed(16)),
        })

    def elaborate(self, platform):
        m = Module()
        ports = {}
        for target, shape in ((LoadTarget.ENTRY, unsigned(10)), (LoadTarget.BIAS, signed(16))):
            port = stream.Signature(write_layout(3, 16), always_ready=True).create()
            mem = loadable_memory(m, target.name.lower(), shape=shape, depth=self._depth,
                                  init=self._init.get(target), load=port)
            rd = mem.read_port(domain="comb")
            m.d.comb += [rd.addr.eq(self.rd_addr),
                         (self.rd_entry if target == LoadTarget.ENTRY else self.rd_bias)
                         .eq(rd.data)]
            ports[target] = port
        m.d.comb += self.load.ready.eq(1)
        route_load(m, self.load.payload, self.load.valid & (self.load.payload.pe == 1), ports)
        return m


def test_loadable_memory_in_simulation():
    rng = np.random.default_rng(3)
    depth = 8
    entry_init = [int(v) for v in rng.integers(0, 1024, depth)]
    dut = _TwoMemories(depth, {LoadTarget.ENTRY: entry_init})
    bias = rng.integers(-(1 << 15), 1 << 15, depth)
    rows = [[LoadTarget.BIAS.value, 1, a, int(b)] for a, b in enumerate(bias)]
    rows += [[LoadTarget.ENTRY.value, 0, 2, 5]]            # another PE's word: ignored
    rows += [[LoadTarget.ENTRY.value, 1, 6, 1023 + 1024]]   # truncated to 10 bits
    words = pack_load_words(dut.load.payload.shape(), rows)
    seen = []

    async def bench(ctx):
        for a in range(depth):
            ctx.set(dut.rd_addr, a)
            assert ctx.get(dut.rd_bias) == 0               # no init: zeros
        for w in words:
            ctx.set(dut.load.valid, 1)
            ctx.set(dut.load.payload.as_value(), w)
            await ctx.tick()
        ctx.set(dut.load.valid, 0)
        for a in range(depth):
            ctx.set(dut.rd_addr, a)
            seen.append((ctx.get(dut.rd_entry), ctx.get(dut.rd_bias)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    want_entry = list(entry_init)
    want_entry[6] = 1023
    assert seen == list(zip(want_entry, bias.tolist(), strict=True))
