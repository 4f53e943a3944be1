"""One copy of each distinct module in the Verilog (:mod:`ese_hw.gateware.verilog`).

The simulations that run the deduplicated Verilog bit-exact are the RTL tests (every
build goes through :func:`~ese_hw.gateware.verilog.convert`; tests/simulation/test_native.py
runs the top); here the text itself, with no simulator.
"""

import re
from pathlib import Path

from amaranth.back import rtlil, verilog
from amaranth.hdl import Fragment, Module, Signal, signed
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from ese_hw.gateware import verilog as gateware_verilog
from ese_hw.gateware.params import ChannelParams
from ese_hw.gateware.top import AxisTop
from ese_hw.gateware.verilog import (
    convert,
    dedupe_modules,
    dedupe_rtlil,
    split_verilog_modules,
    verilog_instances,
)
from ese_hw.simulation.runner import verilog_sources

#: A 4-PE channel at a tiny shape (the top around it is ``AxisTop``).
FOUR_PE = dict(n_in=4, n_cells=8, n_proj=4, n_pe=4,
               qformats=dict(fw_g=1, fw_y=1, fp=1, fa=1, fc=1, fg=15), entry_depth=64)


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


class Table(wiring.Component):
    """A lookup table with negative entries: its memory initialiser in RTLIL."""

    a: In(4)
    d: Out(signed(7))

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(
            shape=signed(7), depth=16, init=[(-1) ** i * 4 * i for i in range(16)])
        rd = mem.read_port(domain="comb")
        m.d.comb += [rd.addr.eq(self.a), self.d.eq(rd.data)]
        return m


def _tree(text, top):
    """Every instance path below ``top`` in ``text`` (Verilog) and its module."""
    modules = split_verilog_modules(text)
    found, todo = {}, [(top, top)]
    while todo:
        path, module = todo.pop()
        for kind, name in verilog_instances(modules[module]):
            found[f"{path}.{name}"] = kind
            todo.append((f"{path}.{name}", kind))
    return found


def test_convert_writes_each_distinct_unit_once():
    text = convert(Three(), "three")
    modules = split_verilog_modules(text)
    # b is a copy of a in all but its ports' order, which RTLIL still tells apart.
    assert set(modules) == {"three", "three.a", "three.c", "three.a.stage", "three.c.stage"}
    assert _tree(text, "three") == {
        "three.a": "three.a", "three.b": "three.a", "three.c": "three.c",
        "three.a.stage": "three.a.stage", "three.b.stage": "three.a.stage",
        "three.c.stage": "three.c.stage"}
    assert dedupe_modules(text) == text                 # nothing left to merge


def test_a_four_pe_top_is_one_pe_module_instantiated_three_times_and_pe0():
    params = ChannelParams(**FOUR_PE)
    text = convert(AxisTop(params=params), "ese_top")
    plain = verilog.convert(AxisTop(params=params), name="ese_top")
    tree = _tree(text, "ese_top")
    # The same instance hierarchy as Amaranth's own Verilog (what Vivado shows).
    assert set(tree) == set(_tree(plain, "ese_top"))
    pes = {path: kind for path, kind in tree.items() if re.search(r"\.pe\d+$", path)}
    assert sorted(pes) == [f"ese_top.channel.pe{k}" for k in range(4)]
    # PE 0 drives cells_done (the channel reads PE 0's only); PEs 1..3 share a module.
    assert pes["ese_top.channel.pe0"] == "ese_top.channel.pe0"
    assert {pes[f"ese_top.channel.pe{k}"] for k in (1, 2, 3)} == {"ese_top.channel.pe1"}
    modules = split_verilog_modules(text)
    assert not any(re.search(r"\.pe[23](\.|$)", name) for name in modules)
    assert set(tree.values()) | {"ese_top"} == set(modules)      # none unused
    assert dedupe_modules(text) == text
    assert len(text) < len(plain) / 2


def test_rtlil_is_amaranths_own():
    """The fast memory initialisers write the RTLIL Amaranth writes, to the character."""
    for make in (Table, lambda: AxisTop(params=ChannelParams(**FOUR_PE))):
        theirs = rtlil.convert(make(), name="t")
        design = make()
        ours = gateware_verilog._rtlil(Fragment.get(design, None),
                                       gateware_verilog._signature_ports(design), "t")
        assert ours == theirs
        assert "$meminit_v2" in ours


class Twins(wiring.Component):
    """Two stages on the same wires: their RTLIL is equal but for their names."""

    d: In(16)
    q: Out(16)

    def elaborate(self, platform):
        m = Module()
        m.submodules.x = x = Stage()
        m.submodules.y = y = Stage()
        m.d.comb += [x.d.eq(self.d), y.d.eq(self.d), self.q.eq(x.q ^ y.q)]
        return m


def test_rtlil_copies_are_written_once():
    text = rtlil.convert(Twins(), name="t")
    once = dedupe_rtlil(text)
    assert re.findall(r"^module (\S+)$", once, re.M) == ["\\t", "\\t.x"]
    assert re.findall(r"^  cell (\\\S+) (\S+)$", once, re.M) == [
        ("\\t.x", "\\x"), ("\\t.x", "\\y")]
    assert dedupe_rtlil(once) == once
    # Copies RTLIL tells apart (Three's b: its ports in another order, numbered names
    # global to the design) are left to the Verilog's deduplication.
    three = dedupe_rtlil(rtlil.convert(Three(), name="t"))
    assert "module \\t.b\n" in three


def test_generation_is_in_the_build_key():
    """A changed generation function invalidates every cached build and estimate: its
    module is among the sources :func:`gateware_digest` covers."""
    assert Path(gateware_verilog.__file__).resolve() in {p.resolve() for p in verilog_sources()}
