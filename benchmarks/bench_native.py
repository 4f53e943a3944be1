"""The AXI4-Stream top through the native harness against the cocotb path (issue 19).

Three designs, each run through :func:`ese_hw.simulation.rtl.run_top` (the model sent as
``load.bin`` on ``s_axis_load``, then the frames):

* ``tiny``: the issue's model, 40 inputs, 128 cells, 64 projections, 8 PEs, one lane,
  20 frames, on every simulator, through cocotbext-axi and through the native harness
  in the same run: simulation seconds of each (the same load and frames; the fastest of
  :data:`TINY_REPEATS` runs) and their ratio;
* ``paper``: 153 / 1024 / 512, 32 PEs, density 0.112, 6-bit indices, queue depth 8,
  seeded weights and inputs, through the native harness on Verilator only;
* ``batch1``: the same model compressed for the frontier's batch-1 point
  (``pe384-k8-ch1-column-g12``: 384 PEs, broadcast 8, column balance, 12 PEs per cell
  unit), likewise.

The two large ones report the Verilog's size and module count, the build's time (Amaranth
writing the Verilog, then Verilator and g++) and peak memory, the simulation's cycles,
seconds, cycles per second and frames per second at the cycles per frame measured,
and the load's own rate (a run of one frame: the load is all but its last 0.3 %).

Wall times stretch when the machine is busy; each native run also reports its
simulator's CPU seconds, and the rates per CPU second, with the load average.

Every run checks every output against the golden model (bit-exact) and, without
pauses, every ``frame_done`` against the cycle model (counted from the first x beat
taken). Writes ``build/bench/native.json``. Not a test: nothing is asserted on time.

    python -m benchmarks.bench_native [--frames 200] [--designs tiny paper batch1]
"""

import argparse
import json
import os
import re
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_frontier import POINT_SETS, peak_memory
from benchmarks.bench_frontier import _model as frontier_model
from ese_hw.model.compress import Config, compress
from ese_hw.model.cycles import stack_cycles
from ese_hw.model.figures import frame_interval
from ese_hw.model.golden import GoldenModel
from ese_hw.model.lstmp import random_weights
from ese_hw.simulation.rtl import TOP_TOPLEVEL, run_top, top_params
from ese_hw.simulation.runner import simulator_available

OUT = Path("build/bench/native.json")
BUILD_ROOT = Path("build/rtl")
QUEUE_DEPTH = 8
TINY = dict(shape=(40, 128, 64), n_pe=8, index_bits=4, frames=20)
PAPER = dict(shape=(153, 1024, 512), n_pe=32, index_bits=6, queue_depth=QUEUE_DEPTH)
#: The frontier's batch-1 point (docs/measured.md): the largest design the suite's
#: figures quote.
BATCH1_KEY = "pe384-k8-ch1-column-g12"


def _case(model, frames, *, broadcast=1, ew_share=1, seed=0):
    """Everything a run of ``model`` needs: its top's parameters, seeded inputs, the
    golden outputs and the cycle model's ``frame_done``."""
    golden = GoldenModel(model)
    x = np.random.default_rng(seed).standard_normal((1, frames, model.n_in))
    x_q = np.stack([golden.quantize_inputs(s) for s in x])
    params = top_params(model, n_channels=1, queue_depth=QUEUE_DEPTH, broadcast=broadcast,
                        ew_share=ew_share)
    done = stack_cycles(model, x_q, queue_depth=QUEUE_DEPTH, broadcast=broadcast,
                        ew_share=ew_share)["frame_done"]
    return {"model": model, "x_q": x_q, "want": golden.run_channels(x_q),
            "model_done": done, "params": params}


def _verilog_figures(build_dir):
    """Size and module count of the build's Verilog, and its build's phases (from its
    stamp, also when this run reused it)."""
    verilog = Path(build_dir) / f"{TOP_TOPLEVEL}.v"
    stamp = json.loads((Path(build_dir) / "built.json").read_text())
    return {"verilog_bytes": verilog.stat().st_size,
            "verilog_modules": len(re.findall(r"^module ", verilog.read_text(), re.M)),
            "verilog_seconds": stamp["verilog_seconds"],
            "simulator_build_seconds": stamp["build_seconds"]}


def _run(case, *, sim, harness):
    t0 = time.perf_counter()
    with peak_memory() as mem:
        res = run_top(case["model"], case["x_q"], params=case["params"], sim=sim,
                      expected=case["want"], build_root=BUILD_ROOT, progress=True,
                      harness=harness)
    row = {"sim": sim, "harness": harness, "build_cached": res.cached,
           "load_average_1min": round(os.getloadavg()[0], 2),
           "build_seconds": round(res.build_seconds, 1), "sim_seconds": round(res.sim_seconds, 3),
           "wall_seconds": round(time.perf_counter() - t0, 1), "load_beats": res.load_beats,
           "bit_exact": bool(np.array_equal(res.y, case["want"])),
           "peak_memory_gb": mem["peak_gb"]}
    if harness == "native":
        done = res.channel_frame_done
        row.update({"sim_cycles": res.sim_cycles,
                    "sim_cycles_per_second": round(res.sim_cycles_per_second),
                    "sim_cpu_seconds": round(res.sim_cpu_seconds, 3),
                    "sim_cycles_per_cpu_second": round(res.sim_cycles / res.sim_cpu_seconds),
                    "first_x_cycle": res.first_x,
                    "cycles_per_frame": frame_interval(done),
                    "frame_done_equals_model": bool(np.array_equal(done, case["model_done"])),
                    **_verilog_figures(res.build_dir)})
        row["frames_per_second"] = round(row["sim_cycles_per_second"]
                                         / row["cycles_per_frame"], 2)
        row["frames_per_cpu_second"] = round(row["sim_cycles_per_cpu_second"]
                                             / row["cycles_per_frame"], 2)
    print(json.dumps(row), flush=True)
    return row


def _first_frame(case):
    """``case`` cut to its first frame: a run that is the load and little else."""
    return {**case, "x_q": case["x_q"][:, :1], "want": case["want"][:, :1],
            "model_done": case["model_done"][:1]}


#: Runs of each path on the tiny model: a native run there lasts a tenth of a second, so
#: one sample is as much the machine's noise as the simulator; the fastest of these is
#: reported (every sample is kept).
TINY_REPEATS = 3


def _fastest(case, *, sim, harness):
    """The fastest of :data:`TINY_REPEATS` runs (the first builds), with every sample."""
    rows = [_run(case, sim=sim, harness=harness) for _ in range(TINY_REPEATS)]
    best = min(rows, key=lambda row: row["sim_seconds"])
    return {**best, "build_seconds": rows[0]["build_seconds"],
            "build_cached": rows[0]["build_cached"],
            "sim_seconds_samples": [row["sim_seconds"] for row in rows]}


def bench_tiny():
    """cocotb against native on every simulator, same load and frames."""
    model = compress(random_weights(*TINY["shape"], seed=0),
                     Config(n_pe=TINY["n_pe"], index_bits=TINY["index_bits"]))
    case = _case(model, TINY["frames"])
    rows = []
    for sim in ("icarus", "verilator"):
        if not simulator_available(sim):
            continue
        cocotb, native = (_fastest(case, sim=sim, harness=h) for h in ("cocotb", "native"))
        native["speedup_over_cocotb"] = round(cocotb["sim_seconds"] / native["sim_seconds"], 1)
        rows += [cocotb, native]
    return {**TINY, "repeats": TINY_REPEATS, "runs": rows}


def _bench_large(case, frames):
    """A large design through the native harness on Verilator: ``frames`` frames, then
    the load's own rate (one frame, the build reused)."""
    run = _run(case, sim="verilator", harness="native")
    load = _run(_first_frame(case), sim="verilator", harness="native")
    return {"frames": frames, "run": run,
            "load": {k: load[k] for k in ("sim_cycles", "first_x_cycle", "sim_seconds",
                                          "sim_cycles_per_second", "sim_cpu_seconds",
                                          "sim_cycles_per_cpu_second", "bit_exact")}}


def bench_paper(frames):
    """The paper shape through the native harness on Verilator."""
    model = compress(random_weights(*PAPER["shape"], seed=0),
                     Config(n_pe=PAPER["n_pe"], index_bits=PAPER["index_bits"]))
    return {**PAPER, **_bench_large(_case(model, frames), frames)}


def bench_batch1(frames):
    """The frontier's batch-1 point (384 PEs) through the native harness on Verilator."""
    point = next(p for p in POINT_SETS["batch1"]() if p.key == BATCH1_KEY)
    case = _case(frontier_model(point), frames, broadcast=point.broadcast,
                 ew_share=point.ew_share)
    return {"key": BATCH1_KEY, "n_pe": point.n_pe, "broadcast": point.broadcast,
            "ew_share": point.ew_share, "balance": point.balance,
            "queue_depth": QUEUE_DEPTH, **_bench_large(case, frames)}


BENCHES = {"tiny": lambda frames: bench_tiny(), "paper": bench_paper, "batch1": bench_batch1}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=200,
                   help="frames of the large designs (default 200)")
    p.add_argument("--designs", nargs="+", choices=tuple(BENCHES), default=list(BENCHES))
    p.add_argument("-o", "--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    result = {name: BENCHES[name](args.frames) for name in args.designs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
