"""The whole LSTMP channel in Verilator on the paper's shape: cycles, utilization, GOPS.

153 inputs, 1024 cells, 512 projections, density 0.112, 32 PEs (``Config()``), index
widths 4 and 6, activation queue depth 8, one channel, 50 frames of seeded
standard-normal inputs. Through :func:`ese_hw.flows.engines.run_rtl_engine`, the ``rtl``
engine's flow (memory images baked into the Verilog; the build is cached under
``build/rtl``). Records, per index width: the RTL's steady-state cycles per frame,
utilization, latency and GOPS at 200 MHz, the cycle model's cycles per frame, the
RTL's error against float, whether the RTL equals the golden model bit for bit, and
build and simulation times. Writes
``build/bench/channel.json``. Not a test: nothing is asserted on time.

``--load-models 0 1`` measures the engine's default instead (the model sent through the
``load`` stream, 6-bit indices): one build without images, then every seed's model run
on it (the first run builds; the others must find the build cached). Records the first
build's time, the Verilog's size, and per model the load's cycles and wall time, the
simulation time, whether the build was reused, and the bit-exact and cycle checks.
Writes ``build/bench/channel_load.json``.

    python -m benchmarks.bench_channel [--frames 50] [--sim verilator] [--index-bits 4 6]
    python -m benchmarks.bench_channel --load-models 0 1 --frames 10
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ese_hw.flows.engines import run_rtl_engine
from ese_hw.model.compress import Config, compress
from ese_hw.model.lstmp import random_weights

OUT = Path("build/bench/channel.json")
LOAD_OUT = Path("build/bench/channel_load.json")
ERRORS = ("max_abs_error", "mean_abs_error", "max_abs_output")
# Report entries recorded under other names below, or not worth recording.
SHOWN_APART = ("engine", "frames", "channels", "build_dir", "bit_exact_vs_golden", *ERRORS)


def bench(index_bits, frames, sim, queue_depth=8):
    t0 = time.perf_counter()
    model = compress(random_weights(153, 1024, 512, seed=0), Config(index_bits=index_bits))
    t_compress = time.perf_counter() - t0
    x = np.random.default_rng(0).standard_normal((frames, model.n_in))
    run = run_rtl_engine(model, x[None], sim=sim, queue_depth=queue_depth, bake=True,
                         progress=True)
    rep, r = run.report, run.rtl
    return {
        "index_bits": index_bits,
        "frames": frames,
        **{k: v for k, v in rep.items() if k not in SHOWN_APART},
        "frame_done": [int(v) for v in r.frame_done],
        "model_frame_done": [int(v) for v in run.model_frame_done],
        "rtl_equals_golden": rep["bit_exact_vs_golden"],
        # The RTL's outputs against the pruned float LSTMP (the golden model's error
        # too whenever rtl_equals_golden).
        "rtl_vs_float": {k: rep[k] for k in ERRORS},
        "padding_fraction": model.stats["padding_fraction"],
        "sim_cycles": r.sim_cycles,
        "sim_cycles_per_second": round(r.sim_cycles / r.sim_seconds),
        "compress_seconds": round(t_compress, 1),
    }


def bench_load(seeds, frames, sim, queue_depth=8, index_bits=6):
    """Every seed's model through one build that loads it at run time."""
    x = np.random.default_rng(0).standard_normal((1, frames, 153))
    runs = []
    for seed in seeds:
        model = compress(random_weights(153, 1024, 512, seed=seed), Config(index_bits=index_bits))
        t0 = time.perf_counter()
        run = run_rtl_engine(model, x, sim=sim, queue_depth=queue_depth, progress=True)
        rep = run.report
        runs.append({
            "seed": seed, "wall_seconds": round(time.perf_counter() - t0, 1),
            **{k: rep[k] for k in ("build_cached", "build_seconds", "load_cycles",
                                   "load_seconds", "sim_seconds", "entry_depth",
                                   "cycles_per_frame", "model_cycles_per_frame")},
            "rtl_equals_golden": rep["bit_exact_vs_golden"],
            "frame_done_equals_model": bool(np.array_equal(run.rtl.frame_done,
                                                           run.model_frame_done)),
        })
        print(f"seed {seed}: build {rep['build_seconds']} s (cached {rep['build_cached']}), "
              f"load {rep['load_cycles']} cycles in {rep['load_seconds']} s, simulation "
              f"{rep['sim_seconds']} s, bit-exact {rep['bit_exact_vs_golden']}", flush=True)
    verilog = Path(run.report["build_dir"]) / "channel.v"
    return {"index_bits": index_bits, "frames": frames, "sim": sim, "queue_depth": queue_depth,
            "verilog_bytes": verilog.stat().st_size if verilog.is_file() else None,
            "runs": runs}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=50)
    p.add_argument("--sim", default="verilator")
    p.add_argument("--index-bits", type=int, nargs="+", default=[4, 6])
    p.add_argument("--load-models", type=int, nargs="+", metavar="SEED",
                   help="run these seeds' models through one build that loads them")
    args = p.parse_args(argv)
    if args.load_models:
        LOAD_OUT.parent.mkdir(parents=True, exist_ok=True)
        result = bench_load(args.load_models, args.frames, args.sim)
        LOAD_OUT.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {LOAD_OUT}")
        return
    OUT.parent.mkdir(parents=True, exist_ok=True)
    results = []
    for ib in args.index_bits:
        res = bench(ib, args.frames, args.sim)
        results.append(res)
        print(f"index {ib}: {res['cycles_per_frame']:.1f} cycles/frame (model "
              f"{res['model_cycles_per_frame']:.1f}, {res['model_rel_diff']:+.2%}), "
              f"U {res['utilization']:.3f}, {res['latency_us']:.2f} us, "
              f"{res['gops']:.1f} GOPS ({res['dense_equiv_gops']:.0f} "
              f"dense-equiv), bit-exact {res['rtl_equals_golden']}, build "
              f"{res['build_seconds']} s, sim {res['sim_seconds']} s", flush=True)
        OUT.write_text(json.dumps({"channel": results}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
