"""``ese-hw demo`` (``make demo``): the project's three jobs end to end on the paper's model.

On the default design of :func:`ese_hw.flows.design.make_design` (seeded random LSTMP weights
153/1024/512 compressed to density 0.112 for 32 PEs with 6-bit indices, one channel,
queue depth 8, 200 MHz):

1. **compress** (cached under ``build/models``), and the golden model against the
   pruned float LSTMP on ``frames`` seeded frames;
2. **generate** the XCKU060 tree (:func:`ese_hw.flows.generate.generate`: the AXI4-Stream
   top's Verilog, the Vivado flow, ``load.bin``, ``config.json``) into ``DIR/xcku060``;
3. **RTL**: the top's Verilog in a simulator (:func:`ese_hw.simulation.rtl.run_top`
   through the native harness, :mod:`ese_hw.simulation.native`), the model sent from
   that tree's ``load.bin`` through ``s_axis_load`` and ``rtl_frames`` frames through
   ``s_axis_x``; the outputs must equal the golden model bit for bit, and every
   ``frame_done`` the cycle model's cycle;
4. **estimate** its FPGA resources (:func:`ese_hw.flows.estimate.estimate`, Yosys), run
   beside step 3 (Yosys is a process of its own; the simulation uses one core);
5. a small **sweep** (:data:`DEMO_SWEEP`, :func:`ese_hw.flows.sweep.run_sweep` on a Dask
   ``LocalCluster``) into ``DIR/sweep``, with its plots;
6. one **summary table**: the design, the sweep's point with the most GOPS that fits,
   and ESE's own figures (:data:`ese_hw.flows.engines.ESE_FIGURES`).

Latency and GOPS are the cycle model's (:func:`ese_hw.flows.generate.cycle_figures`), which
the RTL matches cycle for cycle (tests/sim, ``benchmarks/bench_channel.py``).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ..errors import EseError, MismatchError
from ..model.cycles import stack_cycles
from ..model.golden import GoldenModel
from ..model.limits import check_int
from ..simulation.rtl import first_mismatch, mismatch_error, run_top
from ..simulation.runner import check_simulator
from . import sweep
from .design import design_grid, make_design
from .engines import ESE_FIGURES, run_golden
from .estimate import estimate, format_estimate
from .generate import check_out_dir, generate

__all__ = ["DEFAULT_FRAMES", "DEFAULT_RTL_FRAMES", "DEMO_SWEEP", "check_demo_options",
           "format_summary", "run_demo", "summary_rows"]

#: Frames of the golden model against float.
DEFAULT_FRAMES = 50
#: Frames through the AXI top in RTL: each costs ~1 s of Verilator at the paper's shape,
#: after the 423,072-beat load.
DEFAULT_RTL_FRAMES = 4
#: The demo's sweep (``ese-hw sweep`` options): the paper's 32 PEs next to half and
#: double. The 32-PE point is the design of step 4 (its estimate is cached); each other
#: point is a Yosys run of one to two minutes, two at a time on two cores.
DEMO_SWEEP = MappingProxyType({"n_pe": (16, 32, 64), "n_channels": (1,), "index_bits": (6,)})

_SWEEP_DIR = "sweep"
_TREE_DIR = "xcku060"


def check_demo_options(*, frames, rtl_frames, sim, out_dir):
    """Refuse bad options before any work (:class:`EseError`, one line)."""
    try:
        check_int("frames", frames, label="--frames")
    except TypeError as e:
        raise EseError(str(e)) from None
    if isinstance(rtl_frames, bool) or not isinstance(rtl_frames, int) \
            or not 0 <= rtl_frames <= frames:
        raise EseError(f"--rtl-frames must be in 0..{frames}, got {rtl_frames}")
    if rtl_frames:
        check_simulator(sim)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise EseError(f"{out_dir}: exists and is not a directory")
    check_out_dir(out_dir / _TREE_DIR)


def _compress(log, frames, design_options, cache_dir):

    t0 = time.perf_counter()
    design = make_design(**design_options, cache_dir=cache_dir)
    model = design.model
    x = np.random.default_rng(0).standard_normal((frames, model.n_in))
    golden = run_golden(model, x)
    s = model.stats
    log(f"== 1. compress: {design.source} -> {design.model_path}")
    log(f"   {s['nnz_total']:,} non-zeros (density {s['density']:.4f}) on {model.config.n_pe} "
        f"PEs, {s['pe_nnz_min']:,}..{s['pe_nnz_max']:,} per PE; padding "
        f"{s['padding_fraction']:.3%}; {s['compression_ratio']:.1f}x against dense fp32")
    log(f"   golden vs pruned float over {frames} frames: max abs error "
        f"{golden.report['max_abs_error']:.4f}, mean {golden.report['mean_abs_error']:.5f} "
        f"({time.perf_counter() - t0:.0f} s)")
    return design, x, golden


def _generate(log, design, tree):

    t0 = time.perf_counter()
    log(f"== 2. generate the XCKU060 tree into {tree}")
    result = generate(design, tree, progress=lambda step: log(f"   {step} ..."))
    load = result.config["load_stream"]
    log(f"   wrote {', '.join(result.files)}; load.bin {load['bytes']:,} bytes "
        f"({load['beats']:,} beats) ({time.perf_counter() - t0:.0f} s)")
    return result


def _rtl(log, design, x, tree, out_dir, *, rtl_frames, sim, build_root, progress):

    log(f"== 3. RTL: the AXI4-Stream top on {sim}, load.bin then {rtl_frames} frames "
        f"(the first build takes minutes; cached in {build_root})")
    g = GoldenModel(design.model)
    x_q = g.quantize_inputs(x[:rtl_frames])[None]
    want = g.run_channels(x_q)
    res = run_top(design.model, x_q, params=design.params,
                  load=(Path(tree) / "load.bin").read_bytes(), sim=sim,
                  build_root=build_root, progress=progress, harness="native")
    np.save(Path(out_dir) / "y_rtl.npy", res.y[0])      # written first: the user can look
    mismatch = first_mismatch(res.y, want)
    if mismatch is not None:
        raise mismatch_error(f"RTL simulation of the AXI4-Stream top on {sim}", mismatch)
    # The native harness offers a beat every cycle and takes every y: the cycle model's
    # inputs, counted from the first x beat taken.
    model_done = stack_cycles(design.model, x_q, queue_depth=design.params.queue_depth,
                              broadcast=design.params.broadcast,
                              ew_share=design.params.ew_share,
                              timing=design.params.timing)["frame_done"]
    done = res.channel_frame_done
    if not np.array_equal(done, model_done):
        k = int(np.flatnonzero(done != model_done)[0])
        raise MismatchError(f"RTL simulation of the AXI4-Stream top on {sim}: frame {k} "
                            f"done at cycle {done[k]}, the cycle model says {model_done[k]}")
    log(f"   bit-exact with the golden model on all {rtl_frames} frames x "
        f"{design.params.n_proj} outputs, every frame_done on the cycle model's cycle; "
        f"build {res.build_seconds:.0f} s{' (cached)' if res.cached else ''}, simulation "
        f"{res.sim_seconds:.1f} s ({res.load_beats:,} load beats, {res.sim_cycles:,} "
        f"cycles, {res.sim_cycles_per_second:,.0f} cycles/s, native harness)")
    return {"sim": sim, "frames": rtl_frames, "bit_exact_vs_golden": True,
            "cycle_exact_vs_model": True, "harness": res.harness,
            "build_cached": res.cached, "build_seconds": round(res.build_seconds, 1),
            "sim_seconds": round(res.sim_seconds, 1), "load_beats": res.load_beats,
            "sim_cycles": res.sim_cycles,
            "sim_cycles_per_second": round(res.sim_cycles_per_second),
            "build_dir": str(res.build_dir)}


def _log_estimate(log, result, seconds):

    log(f"== 4. estimate: Yosys synth_xilinx, shell + N x PE (beside the RTL step; "
        f"{seconds:.0f} s)")
    log("   " + format_estimate(result).replace("\n", "\n   "))


def _timed_estimate(params):

    t0 = time.perf_counter()
    return estimate(params, progress=False), time.perf_counter() - t0


def _sweep(log, out_dir, sweep_grid, design_options, cache_dir, progress):

    log(f"== 5. sweep {sweep.format_grid(sweep_grid)} on a Dask LocalCluster into {out_dir}")
    designs = design_grid(shape=design_options.get("shape"),
                          density=design_options.get("density"), **sweep_grid)
    result = sweep.run_sweep(designs, out_dir, frames=sweep.DEFAULT_FRAMES,
                             cache_dir=cache_dir, progress=progress)
    log("   " + sweep.format_summary(result, out_dir).replace("\n", "\n   "))
    return result


def summary_rows(perf, est, best):
    """``(figure, this design, most GOPS that fits, ESE)`` rows of the summary table.

    ``perf``: the design's cycle-model figures (``config.json``'s ``performance``);
    ``est``: its :func:`~ese_hw.flows.estimate.estimate`; ``best``: a sweep row or None."""
    def pick(row, key, sweep_key=None):
        return None if row is None else row[sweep_key or key]

    rows = [("latency per frame (us)", perf["latency_us"], pick(best, "latency_us"),
             ESE_FIGURES["latency_us"]),
            ("GOPS, sparse", perf["gops"], pick(best, "gops"), ESE_FIGURES["gops"])]
    rows += [(name, est[name], pick(best, name), ESE_FIGURES[name])
             for name in ("LUT", "FF", "DSP48E2", "BRAM36")]
    return rows


def _cell(value, digits):
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def format_summary(rows, *, design_label, best_label):
    """The summary table of :func:`summary_rows`."""
    head = (f"{'':<24} {design_label:>22} {best_label:>24} {'ESE (FPGA17)':>14}")
    lines = [head, "-" * len(head)]
    for name, ours, best, ese in rows:
        digits = 2 if "latency" in name else (1 if name in ("GOPS, sparse", "BRAM36") else 0)
        lines.append(f"{name:<24} {_cell(ours, digits):>22} {_cell(best, digits):>24} "
                     f"{_cell(ese, digits):>14}")
    return "\n".join(lines)


def run_demo(out_dir, *, frames=DEFAULT_FRAMES, rtl_frames=DEFAULT_RTL_FRAMES,
             sim="verilator", shape=None, density=None, n_pe=None, sweep_grid=DEMO_SWEEP,
             build_root="build/rtl", cache_dir="build/models", log=print, progress=None):
    """Run the demo into ``out_dir`` (see the module docstring); returns its report.

    ``shape``, ``density`` and ``n_pe`` default to :func:`ese_hw.flows.design.make_design`'s
    (the paper's); ``sweep_grid`` holds the sweep's ``n_pe``, ``n_channels`` and
    ``index_bits`` values (:data:`DEMO_SWEEP`, :func:`ese_hw.flows.design.design_grid`
    keywords). ``log`` gets every line of the
    story (and the summary table last); ``progress`` as for :func:`ese_hw.simulation.rtl.run_rtl`.
    The report (JSON-ready) holds every step's figures, ``summary`` (the table's rows)
    and ``files`` (tree, sweep, plots).

    Raises
    ------
    MismatchError
        The RTL's outputs differ from the golden model's (``DIR/y_rtl.npy`` written).
    EseError
        Bad options (before any work), or a step that fails.
    """
    t0 = time.perf_counter()
    check_demo_options(frames=frames, rtl_frames=rtl_frames, sim=sim, out_dir=out_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tree, sweep_dir = out_dir / _TREE_DIR, out_dir / _SWEEP_DIR
    design_options = {"shape": shape, "density": density, "n_pe": n_pe}
    design, x, golden = _compress(log, frames, design_options, cache_dir)
    generated = _generate(log, design, tree)
    report = {"design": design.source, "model": str(design.model_path),
              "golden_vs_float": {k: golden.report[k]
                                  for k in ("max_abs_error", "mean_abs_error")},
              "performance": generated.config["performance"]}
    # Yosys runs in its own process: started now, it works beside the RTL step (whose
    # simulation keeps one core busy) instead of after it. Its line would garble the
    # RTL step's, so it draws none.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="estimate") as pool:
        estimating = pool.submit(_timed_estimate, design.params)
        if rtl_frames:
            report["rtl"] = _rtl(log, design, x, tree, out_dir, rtl_frames=rtl_frames,
                                 sim=sim, build_root=build_root, progress=progress)
        est, est_seconds = estimating.result()
    _log_estimate(log, est, est_seconds)
    swept = _sweep(log, sweep_dir, sweep_grid, design_options, cache_dir, progress)
    best = swept["best"]["most_gops"]
    report["estimate"] = {k: est[k] for k in ("LUT", "FF", "DSP48E2", "BRAM36", "share", "fits",
                                              "lut_levels")}
    report["sweep_best"] = best
    report["summary"] = rows = summary_rows(generated.config["performance"], est, best)
    p = design.params
    best_label = "-" if best is None else (f"{best['n_pe']} PEs x {best['n_channels']} "
                                           f"ch. (sweep best)")
    log(f"\n== summary: {design.source}, {design.clock_mhz:g} MHz")
    log(format_summary(rows, design_label=f"{p.n_pe} PEs x {p.n_channels} channel",
                       best_label=best_label))
    rtl = report.get("rtl")
    log(("RTL: skipped (--rtl-frames 0)" if rtl is None else
         f"RTL: {rtl['frames']} frames through the AXI4-Stream top on {rtl['sim']}, "
         f"bit-exact with the golden model") +
        "; latency and GOPS from the cycle model, which the RTL matches cycle for cycle; "
        "resources are Yosys estimates (ESE's are Vivado's); ESE's GOPS count all its "
        "channels")
    report["files"] = {"tree": str(tree), "sweep": str(sweep_dir), "plots": swept["plots"]}
    log(f"XCKU060 tree: {tree}   sweep: {sweep_dir / 'sweep.csv'}")
    log("plots: " + ", ".join(swept["plots"]))
    report["seconds"] = round(time.perf_counter() - t0, 1)
    log(f"demo done in {report['seconds']:.0f} s")
    return report
