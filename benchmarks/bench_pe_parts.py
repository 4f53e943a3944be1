"""Where a frontier design's PE and shared cell unit spend their LUTs, part by part.

The design is a point of :mod:`benchmarks.bench_frontier` (paper shape, seed 0, its
balance, compressed as that benchmark does and cached under ``build/models``): PE 0
(:class:`~ese_hw.gateware.pe.ChannelPE`, without its own cells when ``ew_share`` > 1)
and cell unit 0 (:class:`~ese_hw.gateware.cell.CellUnit`) exactly as the channel
builds them (:meth:`~ese_hw.gateware.channel.Channel._pe`), without memory images, as
``ese-hw estimate`` synthesizes them. Each part below is cut out of their Verilog and
synthesized on its own, flattened (:func:`benchmarks.bench_lane_cost.synth_part`):

* PE: ``pe``, ``spmv``, ``walker`` and its ``queue``, ``ptr`` (pointer reader) and
  ``reader`` (matrix reader), ``acc_g`` and ``acc_p`` (lane 0's accumulators, counted
  once per lane), ``ybank``; by difference ``walker_glue`` and ``spmv_glue`` (the
  K:1 pick of the activation, the lane fan-out, the bias memory) and ``pe_glue``;
* cell unit (``ew_share`` > 1): ``cell_unit``, ``ew`` (the element-wise unit) and by
  difference ``cell_own`` (gate registers, the lane muxes, ``c``/peephole memories, m
  banks).

Writes ``build/bench/pe_parts.json`` (one entry per design key). Yosys mappings, not
Vivado results; not a test.

    python -m benchmarks.bench_pe_parts [--pes 384] [--broadcast 8] [--ew-share 12]
                                        [--balance column] [--out build/bench/pe_parts.json]
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from ese_hw.gateware.channel import Channel
from ese_hw.gateware.params import ChannelParams
from ese_hw.synthesis.yosys import split_verilog_modules, yosys_version

from .bench_frontier import Point, _model
from .bench_lane_cost import KEYS, component_verilog, synth_part

OUT = Path("build/bench/pe_parts.json")
#: PE subtrees synthesized, as paths below the PE (``""`` is the PE itself).
PE_PARTS = {"pe": "", "spmv": "spmv", "walker": "spmv.walker", "queue": "spmv.walker.queue",
            "ptr": "spmv.walker.ptr", "reader": "spmv.walker.reader", "acc_g": "spmv.acc_g0",
            "acc_p": "spmv.acc_p0", "ybank": "ybank"}
#: Parts built once per lane (lane 0's is synthesized and counted C times).
PER_LANE = ("acc_g", "acc_p")
CELL_PARTS = {"cell_unit": "", "ew": "ew"}


def design_parts(point):
    """PE 0 and (with ``ew_share`` > 1) cell unit 0 of ``point``'s channel, no images."""
    params = ChannelParams.for_model(_model(point), n_channels=point.n_channels,
                                     queue_depth=8, broadcast=point.broadcast,
                                     ew_share=point.ew_share)
    channel = Channel(params=params)
    parts = {"pe": channel._pe(0)}
    if point.ew_share > 1:
        parts["cell_unit"] = channel._cell_unit(0)
    return params, parts


def _synth_tree(component, name, subparts, tmp, log):
    modules = split_verilog_modules(component_verilog(component, name))
    out = {}
    for part, sub in subparts.items():
        root = f"top.{name}" + ("." + sub if sub else "")
        if root not in modules:
            continue
        out[part] = synth_part(modules, root, tmp)
        log(f"  {part:<10} LUT {out[part]['LUT']:>6,} FF {out[part]['FF']:>6,} "
            f"LUTRAM-LUT {out[part]['LUT_AS_MEMORY']:>4} DSP {out[part]['DSP48E2']} "
            f"BRAM36 {out[part]['BRAM36']}")
    return out


def _diff(parts, whole, minus, lanes=1):
    if whole not in parts:
        return None
    return {k: parts[whole][k] - sum(parts[p][k] * (lanes if p in PER_LANE else 1)
                                     for p in minus if p in parts) for k in KEYS}


def measure(point, tmp, log) -> dict:
    t0 = time.perf_counter()
    params, comps = design_parts(point)
    log(f"{point.key}: PE")
    parts = _synth_tree(comps["pe"], "pe", PE_PARTS, tmp, log)
    c = point.n_channels
    derived = {"walker_glue": _diff(parts, "walker", ("queue", "ptr", "reader")),
               "spmv_glue": _diff(parts, "spmv", ("walker", *PER_LANE), c),
               "pe_glue": _diff(parts, "pe", ("spmv", "ybank"))}
    if "cell_unit" in comps:
        log(f"{point.key}: cell unit")
        cell = _synth_tree(comps["cell_unit"], "cell_unit", CELL_PARTS, tmp, log)
        parts.update(cell)
        derived["cell_own"] = _diff(parts, "cell_unit", ("ew",))
    for name, d in derived.items():
        if d is not None:
            log(f"  {name:<10} LUT {d['LUT']:>6,} FF {d['FF']:>6,}")
    return {"key": point.key, "point": point.__dict__, "n_groups": params.n_groups,
            "cells_per_pe": params.cells_per_pe, "proj_rows": params.proj_rows,
            "parts": parts, "derived": {k: v for k, v in derived.items() if v is not None},
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pes", type=int, default=384)
    ap.add_argument("--broadcast", type=int, nargs="+", default=[8])
    ap.add_argument("--ew-share", type=int, default=12)
    ap.add_argument("--balance", default="column", choices=("pe", "column"))
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    report.setdefault("designs", {})
    with tempfile.TemporaryDirectory(prefix="ese_pe_parts_") as tmp:
        for k in args.broadcast:
            point = Point(args.pes, k, args.channels, args.balance, args.ew_share)
            report["designs"][point.key] = measure(point, Path(tmp),
                                                   lambda s: print(s, flush=True))
    report.update(note=__doc__.strip().splitlines()[0], yosys=yosys_version())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
