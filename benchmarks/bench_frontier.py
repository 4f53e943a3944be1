"""Past the broadcast wall: batch-1 interval and throughput at the paper shape (issue 9).

Every point is one channel configuration on the paper's LSTMP (153/1024/512, seeded
random weights, density 0.112, 6-bit indices, queue depth 8, 200 MHz):

* ``n_pe`` PEs, a ``broadcast`` of K activations per transfer, ``n_channels`` lock-step
  channels, the pruning's ``balance`` (``pe``: equal entries per PE; ``column``: equal
  entries per PE in every column) and ``ew_share`` PEs per element-wise unit;
* past 2 P = 1,024 PEs, ``split_projection``: each ``W_ym`` row split over
  ``n_pe // P`` PEs (the compressor's default; keys end in ``-split``) or one PE per row
  with the others idle in the projection (the layout before the split, ``-nosplit``).

What each point records:

* the cycle model (:func:`ese_hw.model.cycles.stack_cycles`, equal to the RTL cycle
  for cycle wherever the two are compared) over ``--frames`` seeded frames per channel:
  cycles per frame (steady state), the frame interval and the frame latency (last x
  element in to last y element out) in µs, utilization, sparse and dense-equivalent
  GOPS (all channels);
* the golden model's error against the pruned float model on those frames (the issue
  bounds it: no worse than max 0.0050, mean 0.00090);
* ``ese-hw estimate`` of the AXI4-Stream top (:func:`ese_hw.flows.estimate.estimate`, cached
  under ``build/estimate``): LUT, FF, DSP48E2, BRAM36, each one's share of the XCKU060,
  and ``fits`` (every share within the 80 % margin). ``--no-estimate`` leaves them
  ``None`` (not measured), never guessed;
* ``rtl_checked``: whether this point's design (``--rtl KEY``: the paper shape at the
  point's configuration, the AXI4-Stream top in the native harness, the point's seeded
  model sent as ``load.bin``)
  ran ``--rtl-frames`` seeded frames in Verilator with every y bit equal to the golden
  model's and every ``frame_done`` on the cycle model's cycle (no stalls: the cycle
  model assumes none); with ``rtl_frames``, ``rtl_build_s`` (Verilog generation and
  Verilator build), ``rtl_run_s`` (the simulation: load and frames), ``simulator`` and
  the details under ``rtl`` (both models' ``frame_done``, the peak memory and CPU time
  of the build and run, what differed). A difference or a failed run is printed and
  leaves ``rtl_checked`` false. The builds are cached under ``build/rtl``;
  a later run without ``--rtl`` keeps a point's check while the gateware sources are
  unchanged (:func:`carry_rtl_checks`). Slow: a 320-PE channel is a 90 MB Verilog
  file (docs/measured.md, "Past the broadcast wall"); the suite checks every feature at reduced
  shapes.

Points run on a Dask ``LocalCluster`` (:func:`ese_hw.flows.sweep.dask_client`); the estimates
are what takes time (minutes per new configuration). Writes
``build/bench/frontier.json``; ``--markdown`` prints docs/measured.md's table.

    python -m benchmarks.bench_frontier [--frames 6] [--points batch1,throughput,split]
                                        [--no-estimate] [--estimate-only KEY ...]
                                        [--rtl KEY ...] [--rtl-frames 3] [--markdown]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ese_hw.flows.design import DEFAULT_INDEX_BITS, DEFAULT_SHAPE, RANDOM_SEED, cached_compress
from ese_hw.flows.engines import ESE_FIGURES, output_errors
from ese_hw.flows.estimate import RESOURCES, estimate
from ese_hw.flows.sweep import dask_client, sweep_inputs
from ese_hw.gateware.params import ChannelParams
from ese_hw.model.compress import Config, compress
from ese_hw.model.cycles import stack_cycles
from ese_hw.model.encode import proj_split
from ese_hw.model.golden import GoldenModel
from ese_hw.model.limits import DEFAULTS
from ese_hw.model.lstmp import lstmp_float, random_weights
from ese_hw.simulation.runner import gateware_digest

OUT = Path("build/bench/frontier.json")
#: Spartus (TNNLS'22), the batch-1 record for sparse RNNs: ~1 µs per 1024-unit layer
#: (docs/design.md section 7, recalled from its abstract).
SPARTUS_US_PER_LAYER = 1.0
#: The issue's goals: batch-1 frame interval and throughput (with its interval bound).
GOAL_INTERVAL_US, GOAL_GOPS, GOAL_GOPS_INTERVAL_US = 5.0, 700.0, 60.0
#: The RTL check: its simulator, its build cache and its frames per point.
SIMULATOR, RTL_BUILD_ROOT, DEFAULT_RTL_FRAMES = "verilator", "build/rtl", 3
#: A point's RTL fields before (or without) a check.
NOT_RTL_CHECKED = {"rtl_checked": False, "rtl_frames": 0, "rtl_build_s": None,
                   "rtl_run_s": None, "simulator": None}


@dataclass(frozen=True)
class Point:
    """One configuration of the frontier."""

    n_pe: int
    broadcast: int
    n_channels: int
    balance: str
    ew_share: int
    split_projection: bool = True

    @property
    def splits(self):
        """The PEs outnumber W_ym's rows twice or more, so its rows can be split."""
        return proj_split(self.n_pe, DEFAULT_SHAPE[2]) > 1

    @property
    def key(self):
        split = ("" if not self.splits else "-split" if self.split_projection
                 else "-nosplit")
        return (f"pe{self.n_pe}-k{self.broadcast}-ch{self.n_channels}-{self.balance}"
                f"-g{self.ew_share}{split}")


def _default_share(n_pe):
    """PEs per element-wise unit: at most 32 units, so that the unit count (each with its
    DSPs and three lookup tables) stays where one 32-PE channel is today."""
    return max(1, n_pe // 32)


def _batch1_points():
    pts = [Point(n, k, 1, "pe", _default_share(n))
           for n in (32, 64, 128, 256, 512, 1024) for k in (1, 2, 4, 8)]
    # Where the estimate's LUT limit falls (between 256 and 512 PEs), in steps of 64.
    pts += [Point(n, 8, 1, "pe", _default_share(n)) for n in (320, 384)]
    pts += [Point(n, k, 1, "column", _default_share(n))
            for n in (256, 320, 384, 512) for k in (4, 8)]
    pts += [pt for pt in _split_points() if pt not in pts]
    # The LUT margin falls between 320 and 384 PEs at K 8 (column).
    pts += [Point(352, 8, 1, "column", _default_share(352))]
    # What sharing the element-wise units costs in cycles and saves in area.
    pts += [Point(512, 4, 1, "pe", g) for g in (1, 4)]
    return pts


def _split_points():
    """1024 PEs (two per W_ym row), K 8, both balances, with the projection split and
    without: without it half the PEs hold no projection row, so ``pe`` balance keeps
    half of W_ym's weights and ``column`` balance none."""
    return [Point(1024, 8, 1, b, _default_share(1024), split)
            for b in ("pe", "column") for split in (True, False)]


def _throughput_points():
    return ([Point(n, 1, c, "pe", 1) for n, c in ((16, 32), (32, 16), (32, 32), (64, 16),
                                                  (64, 32), (128, 8))]
            + [Point(64, 1, 32, "pe", 2), Point(256, 4, 4, "pe", 8),
               Point(512, 4, 4, "pe", 16)])


POINT_SETS = {"batch1": _batch1_points, "throughput": _throughput_points,
              "split": _split_points}


def _model(point):
    """The paper-shape model compressed for ``point`` (cached under build/models)."""
    config = Config(n_pe=point.n_pe, index_bits=DEFAULT_INDEX_BITS, balance=point.balance)
    if not point.split_projection:          # not the compressor's default: not cached
        return compress(random_weights(*DEFAULT_SHAPE, seed=RANDOM_SEED), config,
                        split_projection=False)
    _, model = cached_compress(f"random seed {RANDOM_SEED}",
                               lambda: random_weights(*DEFAULT_SHAPE, seed=RANDOM_SEED),
                               DEFAULT_SHAPE, config)
    return model


def _cycle_figures(point, model, frames):
    """Cycle model, golden-vs-float error and the derived figures at 200 MHz."""
    x = sweep_inputs(model.n_in, point.n_channels, frames, seed=0)
    golden = GoldenModel(model)
    x_q = np.stack([golden.quantize_inputs(s) for s in x])
    cyc = stack_cycles(model, x_q, queue_depth=8, broadcast=point.broadcast,
                       ew_share=point.ew_share, clock_mhz=DEFAULTS["clock_mhz"])
    ref = np.stack([lstmp_float(model.float_weights, s) for s in x])
    errors = output_errors(cyc["y"] / 2.0 ** model.qformats["fa"], ref)
    return {
        # frame_figures' (pipeline latency: the cycle model's last x in to last y out).
        **{k: cyc[k] for k in ("cycles_per_frame", "latency_us", "pipeline_latency_cycles",
                               "pipeline_latency_us", "utilization", "gops",
                               "dense_equiv_gops")},
        "golden_vs_float_max_abs_error": errors["max_abs_error"],
        "golden_vs_float_mean_abs_error": errors["mean_abs_error"],
        # Achieved density: below the target where the balance cannot keep it (1024
        # PEs without the split: half the PEs have no projection row, and pe balance
        # gives every PE the same entry count).
        "density": float(model.stats["density"]),
        "entries_per_pe_max": int((model.gate.entries_per_pe + model.ym.entries_per_pe).max()),
    }


def _estimate_figures(params):
    est = estimate(params, progress=False)
    row = {k: est[k] for k in RESOURCES}
    row.update({f"share_{k}": float(est["share"][k]) for k in RESOURCES})
    row["fits"] = bool(est["fits"])
    row["estimate_method"] = est["method"]
    return row


def run_point(point, frames, with_estimate):
    """One point's row (runs on a Dask worker)."""
    t0 = time.perf_counter()
    model = _model(point)
    row = {"key": point.key, **point.__dict__, "frames": frames,
           **_cycle_figures(point, model, frames)}
    params = ChannelParams.for_model(model, n_channels=point.n_channels, queue_depth=8,
                                     broadcast=point.broadcast, ew_share=point.ew_share)
    row.update(_estimate_figures(params) if with_estimate
               else {**{k: None for k in RESOURCES}, "fits": None})
    row.update(NOT_RTL_CHECKED)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def rtl_differences(y_rtl, y_golden, done_rtl, done_model):
    """What differs between an RTL run and the models, one line per kind (empty: nothing).

    ``y_rtl``/``y_golden`` are (C, T, P) integers; ``done_rtl``/``done_model`` the
    ``frame_done`` cycles of the RTL and of the cycle model.
    """
    lines = []
    y_rtl, y_golden = np.asarray(y_rtl), np.asarray(y_golden)
    if y_rtl.shape != y_golden.shape:
        lines.append(f"y: shape {y_rtl.shape}, golden {y_golden.shape}")
    else:
        bad = np.argwhere(y_rtl != y_golden)
        if len(bad):
            c, t, q = (int(i) for i in bad[0])
            lines.append(f"y: {len(bad)} of {y_rtl.size} elements differ from golden; first at "
                         f"channel {c}, frame {t}, element {q}: RTL {y_rtl[c, t, q]}, golden "
                         f"{y_golden[c, t, q]}")
    done_rtl, done_model = np.asarray(done_rtl), np.asarray(done_model)
    if done_rtl.shape != done_model.shape:
        lines.append(f"frame_done: {done_rtl.size} pulses, the cycle model has {done_model.size}")
    elif not np.array_equal(done_rtl, done_model):
        t = int(np.flatnonzero(done_rtl != done_model)[0])
        lines.append(f"frame_done: frame {t} at cycle {done_rtl[t]}, the cycle model says "
                     f"{done_model[t]} (RTL {done_rtl.tolist()}, model {done_model.tolist()})")
    return lines


@contextlib.contextmanager
def peak_memory(interval_s=1.0):
    """Samples the resident memory of this process and all its children (the Verilog
    generation here, Verilator, make and g++ below) every ``interval_s``; yields a
    dict whose ``peak_gb`` holds the largest sum seen once the block ends."""
    import psutil

    me, found, stop = psutil.Process(), {"peak_gb": 0.0}, threading.Event()

    def sample():
        while True:
            total = 0
            for proc in (me, *me.children(recursive=True)):
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
            found["peak_gb"] = max(found["peak_gb"], round(total / 2**30, 2))
            if stop.wait(interval_s):
                return

    sampler = threading.Thread(target=sample, daemon=True, name="peak memory")
    sampler.start()
    try:
        yield found
    finally:
        stop.set()
        sampler.join()


def _cpu_seconds():
    """CPU seconds of this process and of its waited-for children so far (the Verilog
    generation runs here; Verilator, g++ and the simulator are children). On a shared
    machine the wall times stretch with the load; these do not."""
    return sum(getattr(resource.getrusage(who), f) for who in
               (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN) for f in ("ru_utime", "ru_stime"))


def _build_timings(build_dir):
    """Verilog generation and simulator build seconds from a build's ``built.json``
    (also when this run reused the build)."""
    stamp = json.loads((Path(build_dir) / "built.json").read_text())
    return stamp["verilog_seconds"], stamp["build_seconds"]


def rtl_check(point, frames, *, build_root=RTL_BUILD_ROOT):
    """Run ``point``'s AXI4-Stream top in Verilator through the native harness
    (:func:`ese_hw.flows.engines.run_rtl_engine`): the point's seeded model sent as
    ``load.bin`` (one build serves every model of the configuration), then ``frames``
    seeded frames, compared with the golden model (every y bit) and the cycle model
    (every ``frame_done`` cycle, counted from the first x beat; no stalls, which the
    cycle model assumes).

    Returns the point's RTL fields: ``rtl_checked`` (true only when both agree),
    ``rtl_frames``, ``rtl_build_s`` (Verilog generation plus Verilator build, from the
    build's stamp even when it was reused), ``rtl_run_s`` (the simulation: load and
    frames), ``simulator`` and ``rtl`` (the details, the differences included). A
    difference or a failed run is printed and leaves ``rtl_checked`` false.
    """
    from ese_hw.errors import EseError
    from ese_hw.flows.engines import run_rtl_engine

    model = _model(point)
    x = sweep_inputs(model.n_in, point.n_channels, frames, seed=0)
    golden = GoldenModel(model)
    y_golden = golden.run_channels(np.stack([golden.quantize_inputs(s) for s in x]))
    row = {"rtl_checked": False, "rtl_frames": frames, "rtl_build_s": None, "rtl_run_s": None,
           "simulator": SIMULATOR}
    cpu0, load0 = _cpu_seconds(), os.getloadavg()[1]
    with peak_memory() as mem:
        try:
            run = run_rtl_engine(model, x, sim=SIMULATOR, queue_depth=8,
                                 broadcast=point.broadcast, ew_share=point.ew_share,
                                 build_root=build_root, progress=True)
        except EseError as e:
            print(f"{point.key}: RTL run failed: {e}")
            return {**row, "rtl": {"error": str(e), "peak_memory_gb": mem["peak_gb"]}}
    cpu_s, load = round(_cpu_seconds() - cpu0, 1), round((load0 + os.getloadavg()[1]) / 2, 1)
    differences = rtl_differences(run.rtl.y, y_golden, run.rtl.frame_done, run.model_frame_done)
    for line in differences:
        print(f"{point.key}: RTL differs: {line}")
    verilog_s, build_s = _build_timings(run.rtl.build_dir)
    rep = run.report
    return {**row, "rtl_checked": not differences, "rtl_build_s": round(verilog_s + build_s, 1),
            "rtl_run_s": rep["sim_seconds"],
            "rtl": {"differences": differences,
                    "bit_exact_vs_golden": bool(rep["bit_exact_vs_golden"]),
                    "cycles_equal_model": not any(d.startswith("frame_done")
                                                  for d in differences),
                    "frame_done": [int(v) for v in run.rtl.frame_done],
                    "model_frame_done": [int(v) for v in run.model_frame_done],
                    "rtl_cycles_per_frame": rep["cycles_per_frame"],
                    "verilog_s": verilog_s, "verilator_build_s": build_s,
                    "build_reused": bool(run.rtl.cached), "harness": rep["harness"],
                    "sim_cycles": rep["sim_cycles"], "load_cycles": rep["load_cycles"],
                    "sim_cycles_per_second": rep["sim_cycles_per_second"],
                    "peak_memory_gb": mem["peak_gb"], "cpu_s": cpu_s,
                    "load_average_5min": load, "gateware": gateware_digest(),
                    "build_dir": rep["build_dir"]}}


def carry_rtl_checks(rows, previous):
    """Keep, for every point not checked in this run, an earlier run's RTL check of the
    same point (``previous``: that run's JSON) if it ran on the same gateware sources:
    re-running the frontier without ``--rtl`` then keeps the table's RTL column."""
    digest = gateware_digest()
    before = {r["key"]: r for r in previous.get("points", [])}
    for row in rows:
        old = before.get(row["key"])
        if row["rtl_frames"] or not old or (old.get("rtl") or {}).get("gateware") != digest:
            continue
        row.update({k: old[k] for k in NOT_RTL_CHECKED})
        row["rtl"] = {**old["rtl"], "from_earlier_run": True}


def carry_estimates(rows, previous):
    """Keep, for every point of ``rows`` not estimated in this run (``fits`` None), an
    earlier run's estimate of the same point (``previous``: that run's JSON), marked
    ``estimate_from_earlier_run``: an ``--only KEY --rtl KEY --no-estimate`` check must not
    drop the point's resources (a 384-PE estimate takes ~30 min). docs/measured.md says
    which code each estimate ran on."""
    before = {r["key"]: r for r in previous.get("points", [])}
    for row in rows:
        old = before.get(row["key"])
        if row["fits"] is not None or not old or old.get("fits") is None:
            continue
        fields = [*RESOURCES, *(f"share_{k}" for k in RESOURCES), "fits", "estimate_method"]
        row.update({k: old[k] for k in fields if k in old})
        row["estimate_from_earlier_run"] = True


def _merged(old_rows, new_rows):
    """``old_rows`` with each point of ``new_rows`` replacing its old row (or appended)."""
    new = {r["key"]: r for r in new_rows}
    # A row from a JSON written before the RTL fields existed reads as not checked.
    kept = [new.pop(r["key"], {**NOT_RTL_CHECKED, **r}) for r in old_rows]
    return kept + list(new.values())


def best_points(rows):
    """The best batch-1 point (shortest interval, one channel) and the best throughput
    point (most sparse GOPS within the interval bound) among those that fit."""
    fit = [r for r in rows if r["fits"]]
    batch1 = [r for r in fit if r["n_channels"] == 1]
    thr = [r for r in fit if r["latency_us"] <= GOAL_GOPS_INTERVAL_US]
    return {"batch1": min(batch1, key=lambda r: r["latency_us"], default=None),
            "throughput": max(thr, key=lambda r: r["gops"], default=None)}


def _cell(value, fmt):
    return "n/m" if value is None else format(value, fmt)


def markdown_table(rows, best):
    """docs/measured.md's table: one line per point (``rows``, any subset), the best two that
    fit marked, ESE and Spartus."""
    marks = {}
    for tag, r in (("**best batch-1**", best["batch1"]), ("**best throughput**",
                                                          best["throughput"])):
        if r:
            marks[id(r)] = f"{marks[id(r)]}, {tag}" if id(r) in marks else tag
    lines = ["| PEs | K | channels | balance | G | cycles/frame | latency µs | pipeline latency µs "
             "| U | sparse GOPS | LUT | FF | DSP | BRAM36 | fits | RTL | |",
             "|" + "---|" * 17]
    for r in rows:
        fits = "n/m" if r["fits"] is None else ("yes" if r["fits"] else "no")
        balance = r["balance"] + {True: ", split", False: ", no split"}.get(
            r.get("split_projection") if r["n_pe"] >= 2 * DEFAULT_SHAPE[2] else None, "")
        lines.append(
            f"| {r['n_pe']} | {r['broadcast']} | {r['n_channels']} | {balance} "
            f"| {r['ew_share']} | {r['cycles_per_frame']:,.0f} | {r['latency_us']:.2f} "
            f"| {r['pipeline_latency_us']:.2f} | {r['utilization']:.3f} | {r['gops']:.1f} "
            f"| {_cell(r['LUT'], ',')} | {_cell(r['FF'], ',')} | {_cell(r['DSP48E2'], ',')} "
            f"| {_cell(r['BRAM36'], ',')} | {fits} | {'yes' if r['rtl_checked'] else '-'} "
            f"| {marks.get(id(r), '')} |")
    lines.append(f"| ESE (FPGA'17) | | 32 | | | | {ESE_FIGURES['latency_us']} | | | "
                 f"{ESE_FIGURES['gops']:.0f} | {ESE_FIGURES['LUT']:,} | {ESE_FIGURES['FF']:,} "
                 f"| {ESE_FIGURES['DSP48E2']:,} | {ESE_FIGURES['BRAM36']} | | | |")
    lines.append(f"| Spartus (TNNLS'22) | | 1 | | | | ~{SPARTUS_US_PER_LAYER:g} per layer "
                 "| | | | | | | | | | |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=6)
    p.add_argument("--points", default="batch1,throughput",
                   help=f"comma list of {', '.join(POINT_SETS)}")
    p.add_argument("--no-estimate", action="store_true")
    p.add_argument("--estimate-only", nargs="*", metavar="KEY",
                   help="estimate only these points (the others' resources stay None)")
    p.add_argument("--rtl", nargs="*", default=[], metavar="KEY",
                   help="points to run in Verilator too (keys as in the JSON)")
    p.add_argument("--rtl-frames", type=int, default=DEFAULT_RTL_FRAMES, metavar="N",
                   help=f"frames per RTL check (default {DEFAULT_RTL_FRAMES})")
    p.add_argument("--only", nargs="+", metavar="KEY",
                   help="run only these points and update them in the existing JSON")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    points = [pt for name in args.points.split(",") for pt in POINT_SETS[name]()]
    by_key_point = {pt.key: pt for pt in points}
    for option, keys in (("--only", args.only or []), ("--rtl", args.rtl)):
        unknown = [key for key in keys if key not in by_key_point]
        if unknown:
            p.error(f"{option}: no point {unknown[0]} among --points {args.points}")
    if args.only:
        points = [by_key_point[key] for key in dict.fromkeys(args.only)]
        if not set(args.rtl) <= set(args.only):
            p.error("--rtl: every point checked must be among --only")
    if args.rtl_frames < 2:
        p.error(f"--rtl-frames must be at least 2 (cycles per frame), got {args.rtl_frames}")
    t0 = time.perf_counter()
    with dask_client() as client:
        wanted = None if args.estimate_only is None else set(args.estimate_only)
        flags = [not args.no_estimate and (wanted is None or pt.key in wanted) for pt in points]
        # The slow points first, so that both workers stay busy to the end.
        order = sorted(range(len(points)), key=lambda i: not flags[i])
        futures = client.map(run_point, [points[i] for i in order],
                             [args.frames] * len(points), [flags[i] for i in order], pure=False)
        gathered = client.gather(futures)
    rows = [None] * len(points)
    for i, row in zip(order, gathered, strict=True):
        rows[i] = row
    by_key = {r["key"]: r for r in rows}
    for key in args.rtl:                       # one build at a time: each takes the cores
        by_key[key].update(rtl_check(by_key_point[key], args.rtl_frames))
    previous = json.loads(OUT.read_text()) if OUT.is_file() else {"points": []}
    if args.only:                              # the other points as the last run left them
        rows = _merged(previous["points"], rows)
    carry_rtl_checks(rows, previous)
    carry_estimates(rows, previous)
    best = best_points(rows)
    out = {"shape": list(DEFAULT_SHAPE), "density": Config().density,
           "index_bits": DEFAULT_INDEX_BITS, "queue_depth": 8, "clock_mhz": DEFAULTS["clock_mhz"],
           "frames": args.frames, "goals": {"batch1_interval_us": GOAL_INTERVAL_US,
                                            "gops": GOAL_GOPS,
                                            "gops_interval_us": GOAL_GOPS_INTERVAL_US},
           "ese": dict(ESE_FIGURES), "spartus_us_per_layer": SPARTUS_US_PER_LAYER,
           "best": {k: (r["key"] if r else None) for k, r in best.items()},
           "seconds": round(time.perf_counter() - t0, 1), "points": rows}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(markdown_table(rows, best) if args.markdown else
          "\n".join(f"{r['key']}: {r['latency_us']:.2f} us, {r['gops']:.1f} GOPS, "
                    f"fits {r['fits']}, RTL-checked {r['rtl_checked']}" for r in rows))


if __name__ == "__main__":
    main()
