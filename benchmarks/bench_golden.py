"""Golden-model speed and accuracy at the paper's shape (153 / 1024 / 512, 32 PEs).

Writes ``build/bench/golden.json``: frames per second of the vectorized golden
model, of the float model, and of the literal entry walk on one frame (the
ratio is measured in this one run), plus the error against float, the padding
and the compression ratio for index widths 4, 5 and 6.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

from ese_hw.model.compress import Config, compress
from ese_hw.model.golden import GoldenModel, spmv_walk
from ese_hw.model.lstmp import lstmp_float, random_weights


def _timed(fn, repeat=3):
    best = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return out, best


def main(out="build/bench/golden.json", frames=50):
    weights = random_weights(153, 1024, 512, seed=0)
    x = np.random.default_rng(5).standard_normal((frames, 153))
    result = {"shape": [153, 1024, 512], "n_pe": 32, "density": 0.112, "frames": frames,
              "weight_bits": 12, "act_bits": 16, "by_index_bits": {}}
    for ib in (4, 5, 6):
        t = time.perf_counter()
        model = compress(weights, Config(index_bits=ib))
        t_compress = time.perf_counter() - t
        golden = GoldenModel(model)
        y_g, t_g = _timed(lambda golden=golden: golden.run(x))
        y_f, t_f = _timed(lambda model=model: lstmp_float(model.float_weights, x))
        err = np.abs(y_g - y_f)
        s = model.stats
        entry = {
            "compress_s": t_compress,
            "golden_fps": frames / t_g, "float_fps": frames / t_f,
            "max_abs_error": float(err.max()), "mean_abs_error": float(err.mean()),
            "mean_abs_output": float(np.abs(y_f).mean()),
            "padding_total": s["padding_total"], "padding_fraction": s["padding_fraction"],
            "nnz_total": s["nnz_total"], "compression_ratio": s["compression_ratio"],
            "qformats": model.qformats,
        }
        if ib == 6:
            x_q = golden.quantize_inputs(x[:1])
            act = np.concatenate([x_q[0], np.zeros(512, np.int64)])
            _, t_walk = _timed(lambda model=model, act=act: spmv_walk(
                model.gate, act, accum_bits=48), repeat=1)
            _, t_vec = _timed(lambda golden=golden, act=act: golden.gate_plan(
                act, accum_bits=48))
            entry["gate_spmv_walk_s"] = t_walk
            entry["gate_spmv_vectorized_s"] = t_vec
            entry["vectorized_speedup"] = t_walk / t_vec
        result["by_index_bits"][str(ib)] = entry
        print(f"index bits {ib}: golden {entry['golden_fps']:.0f} frames/s, "
              f"max |err| {entry['max_abs_error']:.4f}, mean {entry['mean_abs_error']:.5f}, "
              f"padding {100 * entry['padding_fraction']:.3f} %, "
              f"compression {entry['compression_ratio']:.2f}x")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
