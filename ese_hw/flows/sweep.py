"""Sweep designs (PEs x channels x PEs per element-wise unit x index bits) on Dask: speed
against area.

Every point of the grid is one :class:`~ese_hw.flows.design.Design`: its compressed model
(cached on disk by :mod:`ese_hw.flows.design`), the golden and cycle models over ``frames``
seeded input frames per channel (:func:`ese_hw.model.cycles.stack_cycles`; C
lock-step channels run C different sequences), the figures
(:func:`ese_hw.model.figures.frame_figures`, as ``generate`` and ``run`` report them) and
the resource estimate
(:func:`ese_hw.flows.estimate.estimate`, cached by configuration).

Points run as tasks on Dask distributed: a ``LocalCluster`` of one single-threaded
worker process per core, or an existing scheduler given by address (a real cluster;
its workers must see the same files: the model and cache directories). The client
writes each finished point to ``DIR/points/<key>.json`` atomically as it completes,
so an interrupted sweep keeps what it finished and a second run with the same DIR
computes only the rest. ``DIR/sweep-manifest.json`` marks a sweep directory and holds
the settings its points were computed with; a DIR that lacks it is refused, and so is
one whose settings differ (its points would not be comparable).

Outputs, rewritten at the end of every run: ``DIR/sweep.csv`` and ``DIR/sweep.json``
(one row per point of the grid) and PNG plots (:func:`plot_sweep`). ``rtl_check=K``
re-runs the K smallest points on Verilator (:func:`ese_hw.flows.engines.run_rtl_engine`) and
records, per point, whether the RTL equals the golden model bit for bit and whether
every frame's completion cycle equals the cycle model's.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
from distributed import Client, LocalCluster, as_completed
from distributed.comm import resolve_address

from ..errors import EseError, MismatchError
from ..model.compress import Config, is_compressed
from ..model.cycles import stack_cycles
from ..model.figures import frame_figures
from ..model.golden import GoldenStack
from ..model.limits import LIMITS, check_int
from ..model.npzio import atomic_write, read_npz
from ..model.stack import stack_float
from ..simulation.rtl import mismatch_error
from ..simulation.runner import progress_line
from .design import DEFAULT_CACHE_DIR as MODEL_CACHE_DIR
from .design import DEFAULT_INDEX_BITS, GRID_AXES, file_digest, make_design
from .engines import ESE_LATENCY_US, output_errors, run_rtl_engine
from .estimate import DEFAULT_CACHE_DIR as ESTIMATE_CACHE_DIR
from .estimate import DEFAULT_MARGIN, RESOURCES, check_margin, estimate
from .plots import plot_all

__all__ = ["DEFAULT_FRAMES", "DEFAULT_GRID", "MANIFEST", "RESOURCES", "SweepSettings",
           "best_fits", "dask_client", "format_grid", "format_summary",
           "plot_sweep", "point_key", "rtl_mismatch", "run_point", "run_rtl_check",
           "run_sweep", "sweep_inputs", "write_tables"]

#: The file that marks a directory as a sweep and holds its settings.
MANIFEST = "sweep-manifest.json"
#: Finished points, one JSON file each.
POINTS = "points"
MANIFEST_KIND = "ese-hw sweep"
MANIFEST_VERSION = 1

#: Input frames per channel ``ese-hw sweep`` runs by default: frame 0 starts from an
#: empty pipeline, the steady state is the mean over the other 7.
DEFAULT_FRAMES = 8

#: Seconds to wait for a scheduler given by address before giving up.
SCHEDULER_TIMEOUT_S = 5


@dataclass(frozen=True)
class SweepSettings:
    """What every point of a sweep shares (the grid's axes aside).

    Members
    -------
    design : dict
        :func:`ese_hw.flows.design.make_design` keywords other than ``n_pe``,
        ``n_channels``, ``index_bits``, ``broadcast`` and ``ew_share`` (model path, shape,
        density, queue depth,
        clock, cache directory).
    frames : int
        Input frames per channel (T).
    seed : int
        Seed of the input sequences (:func:`sweep_inputs`).
    margin : float
        Share of every XCKU060 resource a design may use and still fit.
    model_digest : str or None
        SHA-256 of the model file, if one is given (a changed file is a new sweep).
    estimate_cache_dir : str
        :func:`ese_hw.flows.estimate.estimate`'s cache (absolute: workers may run elsewhere).
    """

    design: dict
    frames: int
    seed: int = 0
    margin: float = DEFAULT_MARGIN
    model_digest: str | None = None
    estimate_cache_dir: str | None = None

    def manifest(self):
        """JSON-ready: what a resumed sweep must share with the one that made DIR (the
        caches aside: where results are cached does not change them)."""
        d = asdict(self)
        del d["estimate_cache_dir"]
        d["design"] = {k: (str(v) if isinstance(v, Path) else v)
                       for k, v in self.design.items() if k != "cache_dir"}
        if d["design"].get("shape") is not None:
            d["design"]["shape"] = list(d["design"]["shape"])
        return {"kind": MANIFEST_KIND, "version": MANIFEST_VERSION, "settings": d}


def point_key(n_pe, n_channels, index_bits, broadcast=1, ew_share=1):
    """File-name key of a grid point, e.g. ``pe32-ch8-ib6``, ``pe32-ch8-ib6-bc4`` or
    ``pe512-ch1-ib6-bc4-g8`` (a broadcast of 1 and one PE per element-wise unit, the
    defaults, are left out: a sweep from before them resumes)."""
    return (f"pe{n_pe}-ch{n_channels}-ib{index_bits}"
            + (f"-bc{broadcast}" if broadcast > 1 else "")
            + (f"-g{ew_share}" if ew_share > 1 else ""))


def sweep_inputs(n_in, n_channels, frames, seed):
    """(C, T, I) seeded standard-normal inputs; channel ``c``'s sequence depends only on
    ``(seed, c)``, so channel 0 runs the same frames at every channel count."""
    return np.stack([np.random.default_rng((seed, c)).standard_normal((frames, n_in))
                     for c in range(n_channels)])


# ---------------------------------------------------------------------------- one point

def _design(point, settings):
    return make_design(**settings.design, n_pe=point["n_pe"],
                       n_channels=point["n_channels"], index_bits=point["index_bits"],
                       broadcast=point.get("broadcast", 1), ew_share=point.get("ew_share", 1))


def _quantized_inputs(model, n_channels, settings):
    x = sweep_inputs(model.n_in, n_channels, settings.frames, settings.seed)
    golden = GoldenStack(model)
    return x, np.stack([golden.quantize_inputs(s) for s in x])


def _padding_fraction(model):
    """Padding entries over all entries, of every layer of a stack together."""
    stats = [m.stats for m in getattr(model, "layers", (model,))]
    padding = sum(st["padding_total"] for st in stats)
    return float(padding / max(1, padding + sum(st["nnz_total"] for st in stats)))


def _estimate_columns(params, settings):
    est = estimate(params, margin=settings.margin, progress=False,
                   cache_dir=settings.estimate_cache_dir or ESTIMATE_CACHE_DIR)
    row = {k: est[k] for k in RESOURCES}
    row.update({f"share_{k}": float(est["share"][k]) for k in RESOURCES})
    row["max_share"] = max(row[f"share_{k}"] for k in RESOURCES)
    row["fits"] = bool(est["fits"])
    row["lut_levels"] = est.get("lut_levels")
    return row


def run_point(point, settings):
    """One grid point (runs on a Dask worker): design, golden and cycle models, estimate.

    Parameters
    ----------
    point : dict
        ``n_pe``, ``n_channels``, ``index_bits``, ``broadcast``, ``ew_share``.
    settings : SweepSettings

    Returns
    -------
    dict
        One JSON-ready row: the point, cycles per frame and utilization (cycle model,
        steady state over frames 1..T-1), frame interval and latency at the clock,
        sparse and dense-equivalent GOPS (all channels), the golden model's error
        against the pruned float model, the estimate (resources, shares, ``fits``,
        ``lut_levels``) and the seconds it took.
    """
    t0 = time.perf_counter()
    design = _design(point, settings)
    model, c_n = design.model, point["n_channels"]
    x, x_q = _quantized_inputs(model, c_n, settings)
    cyc = stack_cycles(model, x_q, queue_depth=design.params.queue_depth,
                       broadcast=design.params.broadcast, ew_share=design.params.ew_share,
                       timing=design.params.timing)
    golden = GoldenStack(model)
    y = cyc["y"] / 2.0 ** golden.fa
    ref = np.stack([stack_float(golden.stack.float_layers, s) for s in x])
    row = {
        "key": point_key(**point), **point,
        "frames": settings.frames, "queue_depth": design.params.queue_depth,
        # The figures of generate and run: latency one interval (the scheduler runs one
        # step at a time, so at batch 1 a frame's step takes one interval).
        **frame_figures(model, n_channels=c_n, clock_mhz=design.clock_mhz,
                        frame_done=cyc["frame_done"]),
        "padding_fraction": _padding_fraction(model),
        "golden_vs_float_max_abs_error": output_errors(y, ref)["max_abs_error"],
        **_estimate_columns(design.params, settings),
        "frame_done": [int(v) for v in cyc["frame_done"]],
    }
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return row


def run_rtl_check(point, settings, build_root):
    """Re-run one point on Verilator (runs on a Dask worker): the same inputs through
    :func:`ese_hw.flows.engines.run_rtl_engine`; returns what the point's row records."""
    design = _design(point, settings)
    x, _ = _quantized_inputs(design.model, point["n_channels"], settings)
    run = run_rtl_engine(design.model, x, sim="verilator",
                         queue_depth=design.params.queue_depth,
                         broadcast=design.params.broadcast, ew_share=design.params.ew_share,
                         build_root=str(build_root), progress=False)
    rep = run.report
    return {"sim": "verilator", "frames": rep["frames"],
            "bit_exact_vs_golden": rep["bit_exact_vs_golden"],
            "first_mismatch": rep["first_mismatch"],
            "cycles_equal_model": bool(np.array_equal(run.rtl.frame_done,
                                                      run.model_frame_done)),
            "rtl_cycles_per_frame": rep["cycles_per_frame"],
            "model_cycles_per_frame": rep["model_cycles_per_frame"],
            "build_seconds": rep["build_seconds"], "sim_seconds": rep["sim_seconds"]}


# ---------------------------------------------------------------------------- Dask

@contextlib.contextmanager
def dask_client(scheduler=None, *, n_workers=None, timeout_s=SCHEDULER_TIMEOUT_S):
    """A ``distributed.Client``: on the scheduler at ``scheduler`` (``tcp://host:port``),
    or on a new ``LocalCluster`` of ``n_workers`` single-threaded worker processes
    (default: one per core; the points are numpy and hold the GIL).

    Raises
    ------
    EseError
        No scheduler answers at ``scheduler`` within ``timeout_s`` seconds.
    """
    if scheduler is not None:
        try:
            # A malformed address or unknown host fails here, before a Client exists: a
            # Client that fails to start spends 10 s closing itself at exit.
            resolve_address(scheduler)
            client = Client(scheduler, timeout=f"{timeout_s}s", set_as_default=False)
        except (OSError, ValueError, TypeError) as e:
            raise EseError(f"--scheduler {scheduler}: no Dask scheduler answers "
                           f"({' '.join(str(e).split())})") from None
        with client:
            yield client
        return
    n_workers = n_workers or os.cpu_count() or 1
    # Any free port for the scheduler's HTTP server: the default 8787 may be taken (a
    # second sweep, another cluster), and Dask then warns.
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as client:
        yield client


# ---------------------------------------------------------------------------- files

def _dumps(obj):
    return json.dumps(obj, indent=1) + "\n"


def _check_sweep_dir(out_dir, manifest):
    """Refuse an existing ``out_dir`` that is not a sweep of the same settings; returns
    whether it exists. Creates nothing."""
    out_dir = Path(out_dir)
    if not out_dir.exists():
        return False
    mpath = out_dir / MANIFEST
    if not out_dir.is_dir() or not mpath.is_file():
        raise EseError(f"{out_dir}: exists and is not a sweep directory (no {MANIFEST}); "
                       "give a new directory or a previous sweep's")
    try:
        old = json.loads(mpath.read_text())
    except (OSError, ValueError) as e:
        raise EseError(f"{mpath}: unreadable sweep manifest ({type(e).__name__})") from None
    if not isinstance(old, dict) or old.get("kind") != MANIFEST_KIND:
        raise EseError(f"{mpath}: not an ese-hw sweep manifest")
    if old != manifest:
        differ = sorted(k for k in manifest["settings"]
                        if old.get("settings", {}).get(k) != manifest["settings"][k])
        raise EseError(f"{out_dir}: a sweep with other settings ({', '.join(differ) or 'version'}"
                       " differ); give a new directory to sweep these")
    return True


def _finished(out_dir, keys):
    """Rows of the points of ``keys`` already in ``out_dir`` (unreadable ones recompute)."""
    rows = {}
    for key in keys:
        path = Path(out_dir) / POINTS / f"{key}.json"
        with contextlib.suppress(OSError, ValueError):
            row = json.loads(path.read_text())
            if isinstance(row, dict) and row.get("key") == key:
                rows[key] = row
    return rows


def _save_point(out_dir, row):
    points = Path(out_dir) / POINTS
    points.mkdir(exist_ok=True)             # a resumed DIR whose points/ was removed
    atomic_write(points / f"{row['key']}.json", _dumps(row))


def _csv_value(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v


#: Row entries too long for a table cell (they stay in the JSON).
_JSON_ONLY = ("frame_done", "rtl_check")


def write_tables(out_dir, rows):
    """``sweep.json`` (the rows as they are) and ``sweep.csv`` (one line per row; the
    RTL check as ``rtl_bit_exact`` / ``rtl_cycles_equal``, empty when not run)."""
    out_dir = Path(out_dir)
    atomic_write(out_dir / "sweep.json", _dumps({"points": rows}))
    flat = []
    for row in rows:
        r = {k: v for k, v in row.items() if k not in _JSON_ONLY}
        check = row.get("rtl_check") or {}
        r["rtl_bit_exact"] = check.get("bit_exact_vs_golden")
        r["rtl_cycles_equal"] = check.get("cycles_equal_model")
        flat.append(r)
    columns = list(dict.fromkeys(k for r in flat for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in flat:
        writer.writerow({k: _csv_value(r.get(k)) for k in columns})
    atomic_write(out_dir / "sweep.csv", buf.getvalue())


# ---------------------------------------------------------------------------- analysis

def best_fits(rows):
    """The fitting points that are best two ways: ``most_gops`` (ties: the lower
    latency) and ``lowest_latency`` (ties: the more GOPS); ``None`` if nothing fits."""
    fit = [r for r in rows if r["fits"]]
    if not fit:
        return {"most_gops": None, "lowest_latency": None}
    return {"most_gops": max(fit, key=lambda r: (r["gops"], -r["latency_us"])),
            "lowest_latency": min(fit, key=lambda r: (r["latency_us"], -r["gops"]))}


def rtl_mismatch(rows):
    """The :class:`~ese_hw.errors.MismatchError` of the first row whose RTL check failed,
    or ``None``: the command line raises it once the tables are written. A check fails
    when the outputs differ from the golden model (one line naming the point, lane, frame
    and element) or the ``frame_done`` cycles from the cycle model (the RTL is promised
    cycle-exact, so a cycle difference is as much a failed check as a wrong bit)."""
    for row in rows:
        check = row.get("rtl_check") or {}
        where = f"point {row['key']}: RTL simulation on {check.get('sim')}"
        if check.get("bit_exact_vs_golden") is False:
            if check.get("first_mismatch") is None:     # a row of an older sweep
                return MismatchError(f"{where}: outputs differ from the golden model")
            return mismatch_error(where, check["first_mismatch"])
        if check.get("cycles_equal_model") is False:
            return MismatchError(
                f"{where}: frame_done cycles differ from the cycle model "
                f"({check['rtl_cycles_per_frame']:,.2f} against "
                f"{check['model_cycles_per_frame']:,.2f} cycles per frame)")
    return None


# ---------------------------------------------------------------------------- run

def _grid_points(designs):
    """(key, point) of each :func:`ese_hw.flows.design.design_grid` entry, defaults filled
    in. A given file is read here, before DIR exists, so a bad or disagreeing one is
    refused without leaving anything: a compressed model fixes PEs and index bits
    (every point must agree with it); float weights are compressed once for the first
    point (cached: its worker reuses it), which checks their shape."""
    path = designs[0]["model_path"]
    fixed = path is not None and is_compressed(read_npz(path))
    if path is not None and not fixed:
        make_design(**designs[0])
    out = []
    for kw in designs:
        n_pe, bits = kw["n_pe"], kw["index_bits"]
        if fixed:                       # the model's own (every layer's, for a stack)
            config = make_design(**kw).model.config
            n_pe, bits = config.n_pe, config.index_bits
        point = {"n_pe": Config().n_pe if n_pe is None else n_pe,
                 "n_channels": kw["n_channels"],
                 "index_bits": DEFAULT_INDEX_BITS if bits is None else bits,
                 "broadcast": kw.get("broadcast", 1), "ew_share": kw.get("ew_share", 1)}
        out.append((point_key(**point), point))
    return out


def _smallest_first(points):
    return sorted(points, key=lambda kp: (kp[1]["n_pe"] * kp[1]["n_channels"],
                                          kp[1]["n_pe"], kp[1]["index_bits"],
                                          kp[1].get("broadcast", 1)))


def _run_tasks(client, fn, items, args, on_done, *, desc, progress):
    """Submit ``fn(point, *args)`` for each ``(key, point)``; call ``on_done(key, result)``
    in completion order under a progress line. A failed point cancels the rest."""
    if not items:
        return
    futures = {client.submit(fn, point, *args, pure=False, key=f"{desc}-{key}-{os.getpid()}-"
                             f"{time.monotonic_ns()}"): key for key, point in items}
    with progress_line(desc, enabled=progress, total=len(items), unit="points") as bar:
        try:
            for fut in as_completed(futures, loop=client.loop):
                key = futures[fut]
                try:
                    result = fut.result()
                except Exception as e:      # a worker's failure, e.g. a Yosys run that
                    # aborts: one line naming the point; the finished points stay.
                    raise EseError(f"point {key}: {type(e).__name__}: {e}") from None
                on_done(key, result)
                bar.update(1)
        finally:
            client.cancel(list(futures))


def run_sweep(designs, out_dir, *, frames, seed=0, margin=DEFAULT_MARGIN, scheduler=None,
              n_workers=None, rtl_check=0, cache_dir=None, rtl_build_root="build/rtl",
              progress=None):
    """Run (or resume) a sweep into ``out_dir``.

    Parameters
    ----------
    designs : list of dict
        :func:`ese_hw.flows.design.design_grid` output: one :func:`make_design` keyword
        dict per point (they differ only in ``n_pe``, ``n_channels``, ``index_bits``,
        ``broadcast``, ``ew_share``).
    out_dir : path-like
        A new directory, or a previous sweep's (its finished points are kept).
    frames, seed, margin
        As in :class:`SweepSettings`.
    scheduler : str, optional
        A Dask scheduler's address; default a ``LocalCluster`` of ``n_workers``.
    rtl_check : int
        Points to re-run on Verilator, smallest first (``n_pe x n_channels``).
    cache_dir : path-like, optional
        Cache of compressed models (default :data:`ese_hw.flows.design.DEFAULT_CACHE_DIR`);
        workers on other machines must see it at the same path.
    rtl_build_root : path-like
        Verilator build cache (shared with ``ese-hw run``).
    progress : bool or None
        Progress line on stderr (``None``: when stderr is a terminal).

    Returns
    -------
    dict
        ``rows`` (grid order), ``computed`` and ``reused`` keys, ``rtl_checked`` keys,
        ``plots`` (paths), ``best`` (:func:`best_fits`), ``seconds``.

    Raises
    ------
    EseError
        Bad options, a DIR that is not a sweep of these settings, or no scheduler at
        ``scheduler``; all before DIR is created or changed.
    """
    t0 = time.perf_counter()
    settings = _settings(designs, frames=frames, seed=seed, margin=margin,
                         cache_dir=cache_dir)
    points = _grid_points(designs)
    n_check = _check_count("--rtl-check", rtl_check, 0, len(points))
    if n_workers is not None:
        _check_count("--workers", n_workers, 1, None)
    manifest = settings.manifest()
    out_dir = Path(out_dir)
    existed = _check_sweep_dir(out_dir, manifest)
    with dask_client(scheduler, n_workers=n_workers) as client:
        if not existed:
            _create_sweep_dir(out_dir, manifest)
        rows = _finished(out_dir, [k for k, _ in points])
        reused = sorted(rows)
        todo = [(k, p) for k, p in points if k not in rows]

        def keep(key, row):
            rows[key] = row
            _save_point(out_dir, row)

        _run_tasks(client, run_point, todo, (settings,), keep, desc="sweep",
                   progress=progress)
        checks = [(k, p) for k, p in _smallest_first(points)[:n_check]
                  if "rtl_check" not in rows[k]]

        def keep_check(key, check):
            keep(key, {**rows[key], "rtl_check": check})

        _run_tasks(client, run_rtl_check, checks, (settings, Path(rtl_build_root).resolve()),
                   keep_check, desc="rtl check", progress=progress)
    ordered = [rows[k] for k, _ in points]
    write_tables(out_dir, ordered)
    plots = plot_sweep(ordered, out_dir, margin=settings.margin)
    return {"rows": ordered, "computed": [k for k, _ in todo], "reused": reused,
            "rtl_checked": [k for k, _ in checks], "plots": [str(p) for p in plots],
            "best": best_fits(ordered), "seconds": round(time.perf_counter() - t0, 2)}


def _check_count(option, value, lo, hi):
    try:
        return check_int(option, value, lo, hi)
    except TypeError as e:
        raise EseError(str(e)) from None


def _settings(designs, *, frames, seed, margin, cache_dir):
    if not designs:
        raise EseError("the sweep's grid is empty")
    _check_count("--frames", frames, LIMITS["frames"].lo, LIMITS["frames"].hi)
    _check_count("--seed", seed, 0, None)
    margin = check_margin(margin)
    common = {k: v for k, v in designs[0].items()
              if k not in ("n_pe", "n_channels", "index_bits", "broadcast", "ew_share")}
    common["cache_dir"] = str(Path(cache_dir or MODEL_CACHE_DIR).resolve())
    path = common.get("model_path")
    if path is not None:
        common["model_path"] = str(Path(path).resolve())
    return SweepSettings(design=common, frames=frames, seed=seed, margin=margin,
                         model_digest=None if path is None else file_digest(path),
                         estimate_cache_dir=str(Path(ESTIMATE_CACHE_DIR).resolve()))


def _create_sweep_dir(out_dir, manifest):
    try:
        (out_dir / POINTS).mkdir(parents=True)
    except OSError as e:
        raise EseError(f"cannot create {out_dir}: {e.strerror}") from None
    atomic_write(out_dir / MANIFEST, _dumps(manifest))


# ---------------------------------------------------------------------------- plots

def plot_sweep(rows, out_dir, *, margin=0.8):
    """The sweep's PNG plots in ``out_dir``; returns their paths
    (:mod:`ese_hw.flows.plots`)."""
    return plot_all(rows, Path(out_dir), margin=margin, ese_latency_us=ESE_LATENCY_US)


# ---------------------------------------------------------------------------- command line

#: The grid ``ese-hw sweep`` runs for an axis not given (issue 8's sweep), as
#: :func:`ese_hw.flows.design.design_grid` keywords.
DEFAULT_GRID = MappingProxyType({"n_pe": (16, 32, 64, 128, 256), "n_channels": (1, 8, 32),
                                 "index_bits": (4, 6)})


def format_grid(grid):
    """A grid's axes (:func:`ese_hw.flows.design.design_grid` keywords -> values) as the
    command line writes them: ``--pes 16,32 --channels 1``."""
    options = {name: option for option, name in GRID_AXES.items()}
    return " ".join(f"{options[k]} {','.join(map(str, v))}" for k, v in grid.items())


def _fmt_row(r):
    check = r.get("rtl_check")
    rtl = "-" if check is None else (
        "ok" if check["bit_exact_vs_golden"] and check["cycles_equal_model"] else "FAIL")
    return (f"{r['key']:<16} {r['cycles_per_frame']:>9.0f} {r['utilization']:>5.3f} "
            f"{r['latency_us']:>8.2f} {r['gops']:>8.1f} {r['LUT']:>8} {r['DSP48E2']:>6} "
            f"{r['BRAM36']:>6} {r['max_share']:>6.1%} {'yes' if r['fits'] else 'NO':>4} {rtl:>4}")


def _fmt_best(label, r):
    if r is None:
        return f"{label}: no point fits"
    share = r.get("ew_share", 1)
    share = f", {share} PEs per element-wise unit" if share > 1 else ""
    return (f"{label}: {r['n_pe']} PEs x {r['n_channels']} channels, {r['index_bits']}-bit "
            f"indices, broadcast {r.get('broadcast', 1)}{share}: {r['latency_us']:.2f} "
            f"us/frame, {r['gops']:.1f} GOPS sparse "
            f"({r['dense_equiv_gops']:.0f} dense-equiv.), LUT {r['LUT']:,}, FF {r['FF']:,}, "
            f"DSP {r['DSP48E2']:,}, BRAM36 {r['BRAM36']:,} (largest share {r['max_share']:.1%})")


def format_summary(result, out_dir):
    """The table ``ese-hw sweep`` prints: every point, the two best fits, the files."""
    rows = result["rows"]
    clock = rows[0]["clock_mhz"]
    lines = [f"{'point':<16} {'cyc/frame':>9} {'U':>5} {'us@' + format(clock, 'g'):>8} "
             f"{'GOPS':>8} {'LUT':>8} {'DSP':>6} {'BRAM36':>6} {'share':>6} {'fits':>4} "
             f"{'rtl':>4}"]
    lines += [_fmt_row(r) for r in rows]
    best = result["best"]
    lines += ["", _fmt_best("most GOPS that fits", best["most_gops"]),
              _fmt_best("lowest latency that fits", best["lowest_latency"]),
              f"ESE: {ESE_LATENCY_US} us per frame",
              "", f"{len(result['computed'])} points computed, {len(result['reused'])} "
              f"reused, {len(result['rtl_checked'])} checked on Verilator, in "
              f"{result['seconds']:.1f} s",
              f"wrote {Path(out_dir) / 'sweep.csv'}, {Path(out_dir) / 'sweep.json'} and "
              f"{len(result['plots'])} plots: "
              + ", ".join(Path(p).name for p in result["plots"])]
    return "\n".join(lines)
