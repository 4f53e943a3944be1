"""Amaranth's Verilog with one module per distinct unit, and that Verilog split into modules.

Amaranth writes every instance of an elaboratable as a module of its own, named by its
place in the hierarchy (``\\ese_top.channel.pe0``, ``...pe1``): a 32-PE channel holds
32 copies of the PE, each with its element-wise unit's lookup tables, and the
paper-shape top was 31.2 MB of Verilog in 364 modules, 24 of them distinct (issue 19).
:func:`convert` is the one way this project turns a design into Verilog (``ese-hw
generate``'s tree, the cocotb and native simulation builds, the estimate). It runs
Amaranth's own steps (``amaranth.back.verilog.convert``: elaborate, netlist, RTLIL, then
Yosys ``proc; memory_collect; write_verilog``) with three changes:

* the RTLIL's memory initialisers are written as one constant per memory, the same text
  Amaranth 0.5 writes after building a netlist value of every bit (14 M of them at the
  paper shape, most of its time);
* the RTLIL is deduplicated before Yosys reads it (:func:`dedupe_rtlil`): modules whose
  RTLIL is equal but for their own names (Amaranth numbers names per module, so copies
  of one elaboratable with the same parameters and connections mostly print the same:
  PEs 1..31) are written once, and Yosys reads 24 modules instead of 364;
* the Verilog is deduplicated again (:func:`dedupe_modules`) for the copies RTLIL still
  tells apart: the same module with its ports declared in another order, or ports
  Amaranth named with a number global to the design (``\\port$8588$0``).

Each distinct module is kept under the name of its first copy in the file and every
instance of a copy names it. Instance names, the hierarchy a user's Vivado shows
(``channel.pe3``), are unchanged. A copy whose ports differ is another module (PE 0
drives ``cells_done``; the other PEs' are unread, and Amaranth drops them).

For :func:`dedupe_modules`, two Verilog modules are copies when their texts are equal
once every name Yosys or Amaranth numbered (an escaped identifier with a ``$`` in it:
``\\$auto$...$3``, ``\\port$8588$0``, ``\\busy$385``) is replaced by its order of first
appearance, their own names are set aside, and their submodules' copies are already
pointed at the same modules. A copy's numbered port names are translated to the kept
module's where its parent connects them.
"""

from __future__ import annotations

import re

from amaranth.back import rtlil
from amaranth.back import verilog as amaranth_verilog
from amaranth.hdl import _ast, _ir, _nir
from amaranth.lib import wiring

__all__ = ["convert", "dedupe_modules", "dedupe_rtlil", "split_verilog_modules",
           "verilog_instances"]

# Amaranth writes one module per elaboratable, ``module name(`` or ``module \a.b (``,
# each preceded by its attribute lines and closed by ``endmodule`` on a line of its own.
_MODULE = re.compile(r"^(?:\(\*[^\n]*\*\)\n)*module (\\\S+ |[^\s(]+)\s*\(.*?^endmodule\n",
                     re.S | re.M)
# An escaped identifier: a backslash, then anything up to white space.
_ESCAPED = re.compile(r"\\\S+")
# An instance in Amaranth's Verilog: ``  <type> <name> (`` ... ``  );`` (type escaped).
_INSTANCE = re.compile(r"^  (\\\S+) +(\S+) +\(\n(.*?)^  \);\n", re.S | re.M)
# A module's header and its port list: ``module \a.b (p, q, \r$1 );``.
_HEADER_PORTS = re.compile(r"^(module (?:\\\S+ |[^\s(]+)\s*)\(.*?\);", re.S | re.M)
# A port connection naming a numbered port: ``.\port$8588$0 (``.
_NUMBERED_PORT = re.compile(r"\.(\\\S*\$\S*) \(")
# An RTLIL module: its attribute lines, ``module <name>``, its body, ``end``.
_RTLIL_MODULE = re.compile(r"^((?:attribute [^\n]*\n)*)module (\S+)\n(.*?^end\n)", re.S | re.M)
# An RTLIL cell of a user module (built-in cells' types start with ``$``).
_RTLIL_CELL = re.compile(r"^(  cell )(\\\S+)( )", re.M)


def convert(design, name: str, *, ports=None) -> str:
    """``design`` as Verilog with top module ``name`` and one module per distinct unit
    (module doc).

    Parameters
    ----------
    design : amaranth.lib.wiring.Component or Elaboratable
        A ``Component``'s ports come from its signature.
    name : str
        The top module's name.
    ports : list of Signal, optional
        Only for a plain ``Elaboratable``; ignored for a ``Component``.

    Returns
    -------
    str
        The Verilog: each distinct module once, every instance under its own name.
    """
    if isinstance(design, wiring.Component) or ports is None:
        ports = _signature_ports(design)
    fragment = _ir.Fragment.get(design, None)
    return dedupe_modules(_rtlil_to_verilog(dedupe_rtlil(_rtlil(fragment, ports, name))))


def _signature_ports(component) -> dict:
    """A component's ports as ``amaranth.back.verilog.convert`` names them
    (``a__b`` for member ``a.b``)."""
    if not isinstance(getattr(component, "signature", None), wiring.Signature):
        raise TypeError(f"{component!r} has no signature: give its ports")
    ports = {}
    for path, member, value in component.signature.flatten(component):
        if isinstance(value, _ast.ValueCastable):
            value = value.as_value()
        if isinstance(value, _ast.Value):
            flow = (_ir.PortDirection.Input if member.flow == wiring.In
                    else _ir.PortDirection.Output)
            ports["__".join(map(str, path))] = (value, flow)
    return ports


class _ModuleEmitter(rtlil.ModuleEmitter):
    """Amaranth's RTLIL writer with a memory's initialiser written as one constant: the
    same text as ``rtlil.ModuleEmitter.emit_memory``'s, without building a netlist value
    of every bit first (module doc)."""

    def emit_memory(self, cell_idx, cell):
        bits = cell.width * cell.depth
        if not bits:
            return super().emit_memory(cell_idx, cell)
        mask = (1 << cell.width) - 1
        # Amaranth's sigspec of constant bits: LSB first in the value, written MSB first.
        data = "".join(format(row & mask, f"0{cell.width}b") for row in reversed(cell.init))
        self.builder.cell("$meminit_v2", ports={
            "ADDR": self.sigspec(),
            "DATA": f"{bits}'{data}",
            "EN": self.sigspec(_nir.Value.ones(cell.width)),
        }, parameters={
            "MEMID": self.memories[cell_idx].memid,
            "ABITS": 0,
            "WIDTH": cell.width,
            "WORDS": cell.depth,
            "PRIORITY": 0,
        }, src_loc=cell.src_loc)


def _rtlil(fragment, ports: dict, name: str) -> str:
    """``amaranth.back.rtlil.convert_fragment`` with :class:`_ModuleEmitter`: the same
    RTLIL (Amaranth 0.5's internals; the package pins ``amaranth<0.6``)."""
    netlist = _ir.build_netlist(fragment, ports=ports, name=name)
    empty = rtlil.EmptyModuleChecker(netlist)
    builder = rtlil.Design(emit_src=True)
    name_map = _ast.SignalDict()
    for index, module in enumerate(netlist.modules):
        if empty.is_empty(index):
            continue
        module_builder = builder.module(".".join(module.name), src_loc=module.src_loc)
        if index == 0:
            module_builder.attribute("top", 1)
        _ModuleEmitter(module_builder, netlist, module, name_map, empty_checker=empty).emit()
    return str(builder)


def _rtlil_to_verilog(text: str) -> str:
    """Amaranth's own Yosys step (``proc -nomux -norom; memory_collect; write_verilog
    -norename``), so the Verilog is what ``amaranth.back.verilog.convert`` writes."""
    return amaranth_verilog._convert_rtlil_text(text)


def dedupe_rtlil(text: str) -> str:
    """``text`` (Amaranth's RTLIL) with one copy of each distinct module (module doc):
    the first of a set of copies in the file is kept, the others are left out and every
    cell instantiating one names the kept module. Modules keep their file order."""
    modules = {m.group(2): m for m in _RTLIL_MODULE.finditer(text)}
    kept: dict = {}         # module -> the module its instances name
    first: dict = {}        # a module's text without its name -> its first module
    rewritten: dict = {}
    # Deepest first: a module's submodules are settled before it is compared.
    for name in sorted(modules, key=lambda n: -n.count(".")):
        attributes, body = modules[name].group(1, 3)
        body = _RTLIL_CELL.sub(lambda c: c.group(1) + kept.get(c.group(2), c.group(2))
                               + c.group(3), body)
        kept[name] = first.setdefault((attributes, body), name)
        rewritten[name] = f"{attributes}module {name}\n{body}"
    order = sorted(modules, key=lambda n: modules[n].start())
    return "\n".join(rewritten[n] for n in order if kept[n] == n)


def split_verilog_modules(text: str) -> dict[str, str]:
    """Amaranth's Verilog split into ``{module name: its text}``, in file order.

    Names are given without Verilog's escape (``channel.pe0``, not ``\\channel.pe0``);
    each text includes the module's attribute lines, so joining any subset is valid
    Verilog again.
    """
    return {m.group(1).strip().lstrip("\\"): m.group(0) for m in _MODULE.finditer(text)}


def verilog_instances(module_text: str) -> list[tuple[str, str]]:
    """``(module, instance name)`` of every instance of a user module in one module's
    Verilog (a text of :func:`split_verilog_modules`), in order; the module unescaped."""
    return [(m.group(1)[1:], m.group(2)) for m in _INSTANCE.finditer(module_text)]


def _canonical(text: str, name: str):
    """``text`` (module ``name``'s) without its header's port list (its order varies
    between copies; the body declares every port again), with its own name and every
    numbered name replaced by placeholders; and the numbered names' ``{name:
    placeholder}``."""
    own = "\\" + name
    numbered: dict = {}
    text = _HEADER_PORTS.sub(r"\1();", text, count=1)

    def placeholder(m):
        token = m.group(0)
        if token == own:
            return "\\@self"
        if "$" not in token:
            return token
        return numbered.setdefault(token, f"\\@{len(numbered)}")

    return _ESCAPED.sub(placeholder, text), numbered


def _point_instances(text: str, kept: dict, ports: dict) -> str:
    """``text`` with every instance of a copy pointed at the module kept for it
    (``kept``: copy -> kept module) and its numbered port names translated (``ports``:
    copy -> {its port name: the kept module's})."""
    def point(m):
        kind = m.group(1)[1:]
        target = kept.get(kind, kind)
        if target == kind:
            return m.group(0)
        rename = ports[kind]
        body = _NUMBERED_PORT.sub(lambda p: f".{rename.get(p.group(1), p.group(1))} (",
                                  m.group(3))
        head = m.group(0)[:m.start(3) - m.start(0)].replace(m.group(1), "\\" + target, 1)
        return f"{head}{body}  );\n"
    return _INSTANCE.sub(point, text)


def dedupe_modules(text: str) -> str:
    """``text`` (Amaranth's Verilog) with one copy of each distinct module (module doc).
    The top and every module that has no copy are unchanged but for their instances of
    copies; the kept module of a set of copies is the first of them in the file."""
    modules = split_verilog_modules(text)
    kept: dict = {}           # module -> the module its instances use
    ports: dict = {}          # a copy -> {its numbered name: the kept module's}
    by_canon: dict = {}       # canonical text -> (kept module, its numbered names)
    rewritten: dict = {}
    # Deepest first: a module's submodules are settled before it is compared.
    for name in sorted(modules, key=lambda n: -n.count(".")):
        body = _point_instances(modules[name], kept, ports)
        canon, numbered = _canonical(body, name)
        first, first_numbered = by_canon.setdefault(canon, (name, numbered))
        kept[name] = first
        if first != name:
            inverse = {v: k for k, v in first_numbered.items()}
            ports[name] = {token: inverse[p] for token, p in numbered.items()}
        rewritten[name] = body
    return "".join(rewritten[n] for n in modules if kept[n] == n)
