"""A plain LSTM step against LSTMP steps, on the cycle model (exact against the RTL).

Writes ``build/bench/plain.json``. Per shape (seeded random weights, density 0.112,
6-bit indices, queue depth 8, one channel, 8 seeded N(0, 1) frames), three layers of
the same input size I and cells H:

* ``lstmp``: the LSTMP layer with its own projection P;
* ``lstmp_p_eq_h``: an LSTMP layer with P = H, whose gate SpMV is the plain layer's
  shape (``W_r`` is H x H), so the two differ only in what follows the gate sums;
* ``plain``: the plain layer (``y = m`` rescaled: no projection phase, the read-out
  copies the m banks into the y banks).

Each gets cycles per frame (steady state), utilization, useful MACs, and frame 2's phase
boundaries from ``frame_cycles(..., events=...)`` counted from its X phase's start; the
``tail`` is gate sums complete -> ``frame_done`` (the element-wise pass with the
projection phase, or the element-wise pass and the copy).
"""

import json
import sys
from pathlib import Path

import numpy as np

from ese_hw.model.compress import Config, compress
from ese_hw.model.cycles import channel_cycles, frame_cycles
from ese_hw.model.golden import GoldenModel
from ese_hw.model.lstmp import PLAIN_WEIGHT_KEYS, LSTMPWeights, random_weights

SHAPES = ((40, 128, 64, 16), (153, 1024, 512, 32))
FRAMES = 8


def _layers(n_in, n_cells, n_proj):
    square = random_weights(n_in, n_cells, n_cells, seed=0)
    plain = LSTMPWeights.from_arrays({k: square[k] for k in PLAIN_WEIGHT_KEYS},
                                     projection=False)
    return {"lstmp": random_weights(n_in, n_cells, n_proj, seed=0),
            "lstmp_p_eq_h": square, "plain": plain}


def _figures(weights, n_pe):
    model = compress(weights, Config(n_pe=n_pe, density=0.112, index_bits=6))
    golden = GoldenModel(model)
    x_q = golden.quantize_inputs(
        np.random.default_rng(0).standard_normal((FRAMES, model.n_in)))[None]
    cyc = channel_cycles(model, x_q, queue_depth=8)
    y_q, trace = golden.run_channels(x_q, trace=True)
    events = []
    frame_cycles(model, x_q, y_q, trace["m"], queue_depth=8, events=events)
    start = events[2]["x_start"]
    step = {k: (None if v is None else int(v) - start) for k, v in events[2].items()}
    return {"n_proj": model.n_proj, "projection": model.has_projection,
            "cycles_per_frame": cyc["cycles_per_frame"], "utilization": cyc["utilization"],
            "useful_macs_per_frame": cyc["useful_macs_per_frame"],
            "frame2_from_x_start": step, "tail": step["frame_done"] - step["gate_done"]}


def main(out="build/bench/plain.json"):
    result = []
    for n_in, n_cells, n_proj, n_pe in SHAPES:
        point = {"n_in": n_in, "n_cells": n_cells, "n_pe": n_pe, "density": 0.112,
                 "index_bits": 6, "queue_depth": 8, "frames": FRAMES, "layers": {}}
        for name, weights in _layers(n_in, n_cells, n_proj).items():
            point["layers"][name] = fig = _figures(weights, n_pe)
            print(f"{n_in}/{n_cells} {n_pe} PEs {name:13s} P {fig['n_proj']:5d}: "
                  f"{fig['cycles_per_frame']:9.1f} cycles/frame, U {fig['utilization']:.3f}, "
                  f"tail {fig['tail']}")
        result.append(point)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
