"""The AXI4-Stream top through the native harness against the cocotb path (issue 19).

Two designs, each run through :func:`ese_hw.simulation.rtl.run_top` (the model sent as
``load.bin`` on ``s_axis_load``, then the frames):

* ``tiny``: the issue's model, 40 inputs, 128 cells, 64 projections, 8 PEs, one lane,
  20 frames, on every simulator, through cocotbext-axi and through the native harness
  in the same run: simulation seconds of each (the same load and frames) and their
  ratio;
* ``paper``: 153 / 1024 / 512, 32 PEs, density 0.112, 6-bit indices, queue depth 8,
  seeded weights and inputs, through the native harness on Verilator only: the Verilog's
  size, the build's time, the simulation's cycles and seconds, cycles per second and
  frames per second at the cycles per frame measured.

Both check every output against the golden model (bit-exact) and, without pauses,
every ``frame_done`` against the cycle model (counted from the first x beat taken).
Writes ``build/bench/native.json``. Not a test: nothing is asserted on time.

    python -m benchmarks.bench_native [--frames 200] [--designs tiny paper]
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ese_hw.model.compress import Config, compress
from ese_hw.model.cycles import stack_cycles
from ese_hw.model.figures import frame_interval
from ese_hw.model.golden import GoldenModel
from ese_hw.model.lstmp import random_weights
from ese_hw.simulation.rtl import TOP_TOPLEVEL, run_top
from ese_hw.simulation.runner import simulator_available

OUT = Path("build/bench/native.json")
BUILD_ROOT = Path("build/rtl")
TINY = dict(shape=(40, 128, 64), n_pe=8, frames=20)
PAPER = dict(shape=(153, 1024, 512), n_pe=32, index_bits=6, queue_depth=8)


def _case(shape, n_pe, frames, *, index_bits=4, seed=0):
    model = compress(random_weights(*shape, seed=seed), Config(n_pe=n_pe, index_bits=index_bits))
    golden = GoldenModel(model)
    x = np.random.default_rng(seed).standard_normal((1, frames, shape[0]))
    x_q = np.stack([golden.quantize_inputs(s) for s in x])
    want = golden.run_channels(x_q)
    model_done = stack_cycles(model, x_q, queue_depth=8)["frame_done"]
    return model, x_q, want, model_done


def _run(model, x_q, want, model_done, *, sim, harness):
    t0 = time.perf_counter()
    res = run_top(model, x_q, sim=sim, expected=want, build_root=BUILD_ROOT, progress=True,
                  harness=harness)
    row = {"sim": sim, "harness": harness, "build_cached": res.cached,
           "build_seconds": round(res.build_seconds, 1), "sim_seconds": round(res.sim_seconds, 3),
           "wall_seconds": round(time.perf_counter() - t0, 1), "load_beats": res.load_beats,
           "bit_exact": bool(np.array_equal(res.y, want))}
    if harness == "native":
        done = res.frame_done - res.first_x
        row.update({"sim_cycles": res.sim_cycles,
                    "sim_cycles_per_second": round(res.sim_cycles_per_second),
                    "first_x_cycle": res.first_x,
                    "cycles_per_frame": frame_interval(done),
                    "frame_done_equals_model": bool(np.array_equal(done, model_done))})
        row["frames_per_second"] = round(row["sim_cycles_per_second"]
                                         / row["cycles_per_frame"], 2)
        verilog = res.build_dir / f"{TOP_TOPLEVEL}.v"
        row["verilog_bytes"] = verilog.stat().st_size
    print(json.dumps(row), flush=True)
    return row


def bench_tiny():
    """cocotb against native on every simulator, same load and frames."""
    case = _case(TINY["shape"], TINY["n_pe"], TINY["frames"])
    rows = []
    for sim in ("icarus", "verilator"):
        if not simulator_available(sim):
            continue
        cocotb, native = (_run(*case, sim=sim, harness=h) for h in ("cocotb", "native"))
        native["speedup_over_cocotb"] = round(cocotb["sim_seconds"] / native["sim_seconds"], 1)
        rows += [cocotb, native]
    return {**TINY, "runs": rows}


def bench_paper(frames):
    """The paper shape through the native harness on Verilator."""
    case = _case(PAPER["shape"], PAPER["n_pe"], frames, index_bits=PAPER["index_bits"])
    return {**PAPER, "frames": frames, "run": _run(*case, sim="verilator", harness="native")}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=200, help="paper-shape frames (default 200)")
    p.add_argument("--designs", nargs="+", choices=("tiny", "paper"), default=["tiny", "paper"])
    p.add_argument("-o", "--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    result = {}
    if "tiny" in args.designs:
        result["tiny"] = bench_tiny()
    if "paper" in args.designs:
        result["paper"] = bench_paper(args.frames)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
