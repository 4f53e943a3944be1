"""The full default sweep on the paper shape: where the XCKU060's limits fall.

Seeded random paper-shape LSTMP (153/1024/512, density 0.112), the grid of
:data:`ese_hw.flows.sweep.DEFAULT_GRID` (PEs 16..256 x channels 1, 8, 32 x index bits 4, 6:
30 points), queue depth 8, 200 MHz, ``--frames`` seeded frames per channel, on a
Dask ``LocalCluster`` (one worker per core) through :func:`ese_hw.flows.sweep.run_sweep`.
The sweep directory is ``build/bench/sweep`` (resumed if it is there); the summary
(every point, the largest configuration that fits two ways, wall time) goes to
``build/bench/sweep.json``. ``--docs`` copies the plots to ``docs/``. Not a test:
nothing is asserted on time. The estimates dominate: each point's Yosys runs take
minutes at this shape (4-8 min on 2 busy cores for 16-64 PEs; cached by
configuration), so ``--pes/--channels/--index-bits`` can run a smaller grid first; a
larger one later reuses its points.

    python -m benchmarks.bench_sweep [--frames 8] [--rtl-check 0] [--docs]
                                     [--pes 16,32 --channels 1,8 --index-bits 6]
"""

import argparse
import json
import shutil
from pathlib import Path

from ese_hw.cli import build_parser, grid_from_sweep_args
from ese_hw.flows.sweep import DEFAULT_FRAMES, run_sweep

OUT = Path("build/bench/sweep.json")
SWEEP_DIR = Path("build/bench/sweep")
DOCS = Path("docs")


def _grid(options):
    """The grid ``ese-hw sweep OPTIONS -o DIR`` runs (the command's own defaults)."""
    return grid_from_sweep_args(build_parser().parse_args(["sweep", *options,
                                                           "-o", str(SWEEP_DIR)]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=DEFAULT_FRAMES)
    p.add_argument("--rtl-check", type=int, default=0)
    p.add_argument("--docs", action="store_true", help="copy the plots to docs/")
    for axis in ("--pes", "--channels", "--index-bits"):
        p.add_argument(axis, help="a smaller grid than ese-hw sweep's default")
    args = p.parse_args(argv)
    options = [a for axis in ("pes", "channels", "index_bits") if getattr(args, axis)
               for a in (f"--{axis.replace('_', '-')}", getattr(args, axis))]
    res = run_sweep(_grid(options), SWEEP_DIR, frames=args.frames, rtl_check=args.rtl_check,
                    progress=True)
    summary = {"frames": args.frames, "points": len(res["rows"]),
               "computed": len(res["computed"]), "seconds": res["seconds"],
               "best": res["best"], "plots": res["plots"], "rows": res["rows"]}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(summary, indent=1, default=str) + "\n")
    for label, r in res["best"].items():
        if r is not None:
            print(f"{label}: {r['key']}: {r['latency_us']:.2f} us, {r['gops']:.1f} GOPS, "
                  f"LUT {r['LUT']}, FF {r['FF']}, DSP {r['DSP48E2']}, BRAM36 {r['BRAM36']}")
        else:
            print(f"{label}: nothing fits")
    if args.docs:
        for plot in res["plots"]:
            shutil.copy(plot, DOCS / Path(plot).name)
    print(f"{len(res['computed'])} points computed in {res['seconds']:.0f} s; wrote {OUT}")


if __name__ == "__main__":
    main()
