"""A 2-layer stack on chip against its layers alone: frame interval and latency (issue 10).

The cycle model (:func:`ese_hw.model.cycles.stack_frame_cycles`, equal to the RTL cycle for
cycle in tests/gateware/test_channel_stack.py) of seeded random LSTMP stacks, one lane, queue
depth 8, 6-bit indices, 200 MHz, over ``--frames`` seeded frames:

* ``reduced``: 16/64/32 then 32/64/32, 4 PEs per layer, density 0.25;
* ``paper``: the paper's layer twice, 153/1024/512 then 512/1024/512, 32 PEs per layer,
  density 0.112 (what a 2-layer ESE model would be).

For each: cycles per frame (steady state: the second half of the frames, every frame
waiting at the input) and the latency of a frame (its last x element in to its last y
element out, frames offered one per interval so that none waits behind another) of the
stack, and of each layer run alone on the same inputs (fed the previous layer's golden
outputs), paced the same way. ``--estimate`` adds the stack's composed resource estimate
against one flat synthesis (minutes; cached under ``build/estimate``). Writes
``build/bench/stack.json``.

    python -m benchmarks.bench_stack [--frames 16] [--points reduced,paper] [--estimate]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ese_hw.flows.estimate import estimate
from ese_hw.gateware.params import StackParams
from ese_hw.model.compress import Config, compress_stack
from ese_hw.model.cycles import stack_frame_cycles
from ese_hw.model.figures import frame_figures
from ese_hw.model.golden import GoldenStack
from ese_hw.model.lstmp import random_weights

OUT = Path("build/bench/stack.json")
POINTS = {
    "reduced": {"shapes": ((16, 64, 32), (32, 64, 32)), "n_pe": 4, "density": 0.25},
    "paper": {"shapes": ((153, 1024, 512), (512, 1024, 512)), "n_pe": 32, "density": 0.112},
}
QUEUE_DEPTH = 8


def _steady_interval(done):
    """Mean frame interval over the second half of the frames (the pipeline filled)."""
    half = len(done) // 2
    return float(np.diff(done[half:]).mean())


def _run(models, x_q, traces, x_arrivals=None):
    events = [[] for _ in models]
    done = stack_frame_cycles(models, x_q, traces, queue_depth=QUEUE_DEPTH, events=events,
                              x_arrivals=x_arrivals)
    return done, events


def _figures(models, x_q, traces):
    """Steady interval with every frame waiting (x offered as fast as it is taken), and
    the latency of a frame (its last x element in to its last y element out, mean over
    frames 1..T-1) when frames are offered one per ``period`` cycles, ``period`` the
    steady interval: no frame waits behind another."""
    done, _ = _run(models, x_q, traces)
    interval = _steady_interval(done[-1])
    period = int(np.ceil(interval))
    arrivals = np.arange(x_q.shape[1]) * period
    _, events = _run(models, x_q, traces, x_arrivals=arrivals)
    n_in = models[0].n_in
    latency = float(np.mean([last["y_last"] - (first["x_first"] + n_in - 1)
                             for first, last in zip(events[0][1:], events[-1][1:],
                                                    strict=True)]))
    return {**frame_figures(models, n_channels=x_q.shape[0], cycles_per_frame=interval,
                            pipeline_latency_cycles=latency),
            "layer_cycles_per_frame": [_steady_interval(d) for d in done]}


def run_point(name, frames):
    spec = POINTS[name]
    t0 = time.perf_counter()
    stack = compress_stack([random_weights(*s, seed=k) for k, s in enumerate(spec["shapes"])],
                           Config(n_pe=spec["n_pe"], density=spec["density"], index_bits=6))
    golden = GoldenStack(stack)
    x = np.random.default_rng(0).standard_normal((frames, stack.n_in))
    x_q = golden.quantize_inputs(x)[None]
    _, traces = golden.run_channels(x_q, trace=True)
    both = _figures(stack.layers, x_q, traces)
    alone = [_figures([m], tr["x"], [tr]) for m, tr in zip(stack.layers, traces, strict=True)]
    return {"point": name, **spec, "frames": frames, "queue_depth": QUEUE_DEPTH,
            "stack": both, "layers_alone": alone,
            "seconds": round(time.perf_counter() - t0, 2)}


def estimate_check():
    """The stack's composed estimate (shell + each layer's N x PE) against one flattened
    synthesis of the whole stack top: 8/16/8 twice, 4 PEs per layer, 2 lanes."""
    stack = compress_stack([random_weights(8, 16, 8, seed=1), random_weights(8, 16, 8, seed=2)],
                           Config(n_pe=4, density=0.3))
    params = StackParams.for_stack(stack, n_channels=2)
    out = {}
    for method, flatten in (("composed", False), ("flat", True)):
        r = estimate(params, flatten=flatten, progress=False)
        out[method] = {k: r[k] for k in ("LUT", "FF", "DSP48E2", "BRAM36", "method")}
        out[method]["seconds"] = r.get("seconds")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--points", default=",".join(POINTS))
    ap.add_argument("--estimate", action="store_true",
                    help="also check the stack's composed estimate against a flat one (slow)")
    args = ap.parse_args(argv)
    rows = [run_point(name, args.frames) for name in args.points.split(",")]
    if args.estimate:
        rows.append({"point": "estimate_check", **estimate_check()})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=1) + "\n")
    for r in rows:
        if r["point"] == "estimate_check":
            print(f"estimate: composed {r['composed']}, flat {r['flat']}")
            continue
        s, a = r["stack"], r["layers_alone"]
        print(f"{r['point']}: stack {s['cycles_per_frame']:.0f} cycles/frame, latency "
              f"{s['pipeline_latency_cycles']:.0f}; layers alone "
              + ", ".join(f"{x['cycles_per_frame']:.0f} / {x['pipeline_latency_cycles']:.0f}"
                          for x in a))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
