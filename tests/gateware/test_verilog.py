"""One copy of each distinct module in Amaranth's Verilog (:mod:`ese_hw.gateware.verilog`).

The simulations that run the deduplicated Verilog bit-exact are in
tests/simulation/test_native.py; here the text itself, with no simulator.
"""

import re

from amaranth.back import verilog
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ese_hw.gateware.verilog import dedupe_modules, split_verilog_modules


class Scaled(wiring.Component):
    """A register of ``d * factor``: two of one factor are copies, another is not."""

    def __init__(self, factor):
        self._factor = factor
        super().__init__({"d": In(8), "q": Out(16)})

    def elaborate(self, platform):
        m = Module()
        # A numbered intermediate name in each copy (``$1``...), and a submodule.
        product = Signal(16)
        m.d.comb += product.eq(self.d * self._factor)
        m.submodules.stage = stage = Stage()
        m.d.comb += stage.d.eq(product)
        m.d.sync += self.q.eq(stage.q)
        return m


class Stage(wiring.Component):
    d: In(16)
    q: Out(16)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.q.eq(self.d + 1)
        return m


class Three(wiring.Component):
    d: In(8)
    q: Out(16)

    def elaborate(self, platform):
        m = Module()
        m.submodules.a = a = Scaled(3)
        m.submodules.b = b = Scaled(3)
        m.submodules.c = c = Scaled(5)
        m.d.comb += [a.d.eq(self.d), b.d.eq(self.d + 1), c.d.eq(self.d)]
        m.d.comb += self.q.eq(a.q ^ b.q ^ c.q)
        return m


def _instances(text):
    """``(type, name)`` of every instance in Amaranth's Verilog."""
    return re.findall(r"^  \\(\S+) +(\S+) +\($", text, re.M)


def test_copies_are_written_once():
    text = verilog.convert(Three(), name="three")
    before = split_verilog_modules(text)
    assert {"three.a", "three.b", "three.c", "three.a.stage", "three.b.stage",
            "three.c.stage"} <= set(before)
    out = dedupe_modules(text)
    after = split_verilog_modules(out)
    # b is a copy of a (its ports listed in another order); c (another constant) is not,
    # nor its stage (Amaranth narrows the stage's port to c's product: 11 bits, not 10).
    assert set(after) == {"three", "three.a", "three.c", "three.a.stage", "three.c.stage"}
    assert len(out) < len(text)
    for name in after:
        if name != "three":                         # no instance of a copy inside
            assert after[name] == before[name], name
    # Every instance names a module that is still there; b is an instance of a's.
    instances = _instances(out)
    assert all(kind in after for kind, _ in instances)
    assert ("three.a", "b") in instances and ("three.a.stage", "stage") in instances


def test_deduplication_is_idempotent_and_keeps_distinct_designs():
    text = verilog.convert(Three(), name="three")
    once = dedupe_modules(text)
    assert dedupe_modules(once) == once
    single = verilog.convert(Scaled(7), name="single")
    assert dedupe_modules(single) == "".join(split_verilog_modules(single).values())
