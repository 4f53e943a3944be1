"""Amaranth's Verilog as text: split into its modules, and one copy of each distinct one.

Amaranth writes every instance of an elaboratable as a module of its own, named by its
place in the hierarchy (``\\axis_top.channel.pe0``, ``...pe1``): a 32-PE channel holds
32 copies of the PE, each with its element-wise unit's lookup tables, and the
paper-shape top is 28.7 MB of Verilog where a few MB are distinct (issue 19).
:func:`dedupe_modules` writes each distinct module once and points every instance of a
copy at it. Two modules are copies when their texts are equal once every name Yosys or
Amaranth numbered (an escaped identifier with a ``$`` in it: ``\\$auto$...$3``,
``\\port$8588$0``, ``\\busy$385``) is replaced by its order of first appearance, their
own names are set aside, and their submodules' copies are already pointed at the same
modules. A copy's numbered port names are translated to the kept module's where its
parent connects them.
"""

import re

__all__ = ["dedupe_modules", "split_verilog_modules"]

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


def split_verilog_modules(text: str) -> dict[str, str]:
    """Amaranth's Verilog split into ``{module name: its text}``, in file order.

    Names are given without Verilog's escape (``channel.pe0``, not ``\\channel.pe0``);
    each text includes the module's attribute lines, so joining any subset is valid
    Verilog again.
    """
    return {m.group(1).strip().lstrip("\\"): m.group(0) for m in _MODULE.finditer(text)}


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
