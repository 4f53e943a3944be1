"""The longest LUT chain :func:`yosys_resource_estimate` reports, named: its depth and the
registers it runs between, in the design's hierarchy after ``synth_xilinx -flatten``.

Synthesis keeps one name per net: a register that drives a port through wires only
(here ``front.word`` rotated into ``front.q``, ``back.parity`` into ``back.y``) may be
named by that port, which is the same net in the same module."""

import re

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ese_hw.simulation.runner import generate_verilog
from ese_hw.synthesis.yosys import yosys_resource_estimate


class Source(wiring.Component):
    """A register of ``width`` bits, and its one-bit neighbour: the short path's start."""

    def __init__(self, width):
        self._width = width
        super().__init__({"d": In(width), "q": Out(width), "flag": Out(1)})

    def elaborate(self, platform):
        m = Module()
        word = Signal(self._width)
        m.d.sync += [word.eq(self.d), self.flag.eq(self.d[0])]
        # A rotation of the register: Amaranth names such wires ``$1``, which must not
        # name the register after synthesis.
        m.d.comb += self.q.eq(word.rotate_left(1))
        return m


class Chain(wiring.Component):
    """``front.word`` (64 bits) -> a 64-input XOR (6-input LUTs: at least 3 levels) ->
    ``back.parity``; beside it a one-LUT path, ``front.flag`` -> ``back.other``."""

    def __init__(self):
        super().__init__({"d": In(64), "y": Out(2)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.front = front = Source(64)
        m.submodules.back = back = Sink()
        m.d.comb += [front.d.eq(self.d), back.parity_in.eq(front.q.xor()),
                     back.other_in.eq(~front.flag), self.y.eq(back.y)]
        return m


class Sink(wiring.Component):
    parity_in: In(1)
    other_in: In(1)
    y: Out(2)

    def elaborate(self, platform):
        m = Module()
        parity, other = Signal(), Signal()
        m.d.sync += [parity.eq(self.parity_in), other.eq(self.other_in)]
        m.d.comb += self.y.eq(parity | (other << 1))
        return m


@pytest.mark.synth
def test_longest_path_named_by_its_registers(tmp_path):
    """64 bits need 3 levels; ABC9 was measured to use 4 (tests/synthesis/test_yosys.py)."""
    est = yosys_resource_estimate(generate_verilog(Chain(), "chain", tmp_path), "chain")
    path = est["lut_path"]
    print(path)
    assert path["levels"] == est["lut_levels"] and 3 <= path["levels"] <= 4
    assert re.fullmatch(r"front\.(word|q)\[\d+\]", path["from"]), path
    # Not a Yosys or Amaranth internal name ($1...), and not the top's port y.
    assert path["to"] in ("back.parity", "back.y[0]"), path


class Adder(wiring.Component):
    """``a + b``, 32 bits, between registers: one LUT level (the sum bits' XOR) into a
    carry chain of eight CARRY4s (Yosys' mapping; four CARRY8s once Vivado packs them)."""

    a: In(32)
    b: In(32)
    s: Out(32)

    def elaborate(self, platform):
        m = Module()
        a, b = Signal(32, name="ra"), Signal(32, name="rb")
        m.d.sync += [a.eq(self.a), b.eq(self.b), self.s.eq(a + b)]
        return m


@pytest.mark.synth
def test_levels_with_carry_count_the_chain(tmp_path):
    """``ltp`` over LUTs stops at the carry chain; the carry-aware depth counts the LUT
    and the chain at a level per 8 bits: 1 + 32 / 8."""
    est = yosys_resource_estimate(generate_verilog(Adder(), "adder", tmp_path), "adder")
    print(est["lut_path"], est["by_type"])
    assert est["CARRY"] == 8 and est["lut_levels"] == 1
    # The LUT-only chain runs from a register into the carry chain.
    assert re.fullmatch(r"r[ab]\[\d+\]", est["lut_path"]["from"])
    assert est["lut_path"]["to"].endswith("(CARRY4)")
    # The carry-aware chain: from a register through the LUT and the chain to the sum.
    assert re.fullmatch(r"r[ab]\[\d+\]", est["lut_path"]["carry_from"])
    assert est["lut_path"]["carry_to"] == "s[31]"
    assert est["lut_path"]["levels_with_carry"] == 1 + 32 / 8
