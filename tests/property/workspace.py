"""The inputs, working directory and stubs of the command-line properties
(tests/property/test_prop_cli.py, test_prop_npz.py), and the check they share.

Commands run in process (``ese_hw.cli.main``) on a tiny model. The steps that take
minutes are replaced by a checkpoint that records the options they were handed and
stops there: the RTL build and simulation (``rtl.run_rtl``, ``rtl.run_model_native``),
the estimate (``estimate.estimate``), the sweep's Dask cluster (``sweep.dask_client``), the
generator's file writing (``generate._write_all``) and the demo's steps after its option
checks (``demo._compress``). Everything before them, every option check included, runs
for real; the checkpoint asserts that what got through is within the bounds the backend
can build.
"""

from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import pytest

from ese_hw.model.limits import CLOCK_MHZ_RANGE, LIMITS
from tests.cli_expect import assert_one_line_error, run_cli, snapshot

__all__ = ["MODEL_PES", "N_CELLS", "N_IN", "N_PROJ", "Checkpoint", "check_command",
           "workspace"]

N_IN, N_CELLS, N_PROJ = 6, 8, 4
MODEL_PES = 2


class Checkpoint(Exception):
    """A minutes-long step was reached with options that passed every check."""


def _bounded(name, value):
    limit = LIMITS[name]
    assert isinstance(value, int) and limit.lo <= value, (name, value)
    assert limit.hi is None or value <= limit.hi, (name, value)


def _check_params(params):
    """What a design hands the generator, the estimate or the RTL engine is buildable:
    every parameter within its bounds (and the hardware depths have an upper one)."""
    for name in ("n_pe", "n_channels", "index_bits", "queue_depth", "broadcast", "ew_share",
                 "weight_bits", "act_bits", "accum_bits"):
        _bounded(name, getattr(params, name))
    assert LIMITS["queue_depth"].hi is not None
    assert params.n_pe <= params.n_cells
    assert params.n_pe % params.broadcast == 0 and params.n_pe % params.ew_share == 0


def _stop_rtl(model, x_q, *, sim, queue_depth, broadcast, ew_share, **_):
    assert sim in ("icarus", "verilator")
    _bounded("queue_depth", queue_depth)
    _bounded("broadcast", broadcast)
    _bounded("ew_share", ew_share)
    _bounded("n_channels", x_q.shape[0])
    assert model.config.n_pe % broadcast == 0 and model.config.n_pe % ew_share == 0
    raise Checkpoint("rtl")


def _stop_estimate(params, *, margin, y_fifo_depth, **_):
    _check_params(params)
    assert 0 < margin <= 1
    _bounded("y_fifo_depth", y_fifo_depth)
    raise Checkpoint("estimate")


def _stop_write_all(design, tmp, *, y_fifo_depth, **_):
    _check_params(design.params)
    _bounded("y_fifo_depth", y_fifo_depth)
    assert CLOCK_MHZ_RANGE[0] <= design.clock_mhz <= CLOCK_MHZ_RANGE[1]
    raise Checkpoint("generate")


def _stop_dask(*_, n_workers=None, **__):
    assert n_workers is None or n_workers >= 1
    raise Checkpoint("sweep")


def _stop_demo(log, frames, design_options, cache_dir):
    _bounded("frames", frames)
    raise Checkpoint("demo")


def _lstm_state_dict(path):
    """An ``nn.LSTM`` state_dict of the tiny shape for ``ese-hw import``, or None without
    torch (an optional extra)."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    torch.save(torch.nn.LSTM(N_IN, N_CELLS, proj_size=N_PROJ).state_dict(), path)
    return path


@contextmanager
def workspace(root):
    """The inputs (read-only) under ``root``, a working directory for the caches, the
    stubs in place; yields the namespace ``check_command`` takes."""
    inputs = root / "in"
    inputs.mkdir()
    f = SimpleNamespace(root=root, inputs=inputs, n=0, weights=inputs / "w.npz",
                        model=inputs / "m.npz", x=inputs / "x.npy", x3=inputs / "x3.npy",
                        xbad=inputs / "xbad.npy", dir=inputs / "adir")
    f.dir.mkdir()
    shape = ["--input", N_IN, "--cells", N_CELLS, "--proj", N_PROJ]
    assert run_cli(["init", f.weights, *shape]).code == 0
    assert run_cli(["compress", f.weights, "-o", f.model, "--pes", MODEL_PES,
                    "--density", "0.5"]).code == 0
    rng = np.random.default_rng(0)
    np.save(f.x, rng.standard_normal((3, N_IN)))
    np.save(f.x3, rng.standard_normal((2, 3, N_IN)))
    np.save(f.xbad, rng.standard_normal((3, N_IN + 1)))
    f.pt = _lstm_state_dict(inputs / "lstm.pt")
    work = root / "cwd"
    work.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        # Where the commands look them up: the engines and the CLI import them by name
        # (patching only their home modules let the real RTL and Yosys runs through).
        mp.setattr("ese_hw.simulation.rtl.run_rtl", _stop_rtl)
        mp.setattr("ese_hw.flows.engines.run_rtl", _stop_rtl)
        mp.setattr("ese_hw.simulation.rtl.run_model_native", _stop_rtl)
        mp.setattr("ese_hw.flows.engines.run_model_native", _stop_rtl)
        mp.setattr("ese_hw.flows.estimate.estimate", _stop_estimate)
        mp.setattr("ese_hw.cli.estimate", _stop_estimate)
        mp.setattr("ese_hw.flows.generate._write_all", _stop_write_all)
        mp.setattr("ese_hw.flows.sweep.dask_client", _stop_dask)
        mp.setattr("ese_hw.flows.demo._compress", _stop_demo)
        yield f


# ---------------------------------------------------------------------------- the check

def check_command(ws, args):
    """Run ``args`` (``{name}`` placeholders filled in) in a fresh output directory and
    hold the command to its contract; returns ``"ok"``, ``"error"`` or the checkpoint."""
    ws.n += 1
    out = ws.root / f"ex{ws.n}"
    out.mkdir()
    names = {"out": out, "dir": ws.dir, "missing": ws.inputs / "missing.npz",
             **{k: getattr(ws, k) for k in ("weights", "model", "x", "x3", "xbad", "pt")}}
    args = [a.format(**names) if "{" in a else a for a in args]
    guarded = (ws.inputs, out)
    before = snapshot(*guarded)
    try:
        r = run_cli(args)
    except Checkpoint as stop:
        return str(stop)
    if r.code == 0:
        # Only the tool's own one-line warnings (compress's dropped columns), never a
        # traceback or a library's warning.
        assert all(line.startswith("ese-hw: warning: ") for line in r.err.splitlines()), r.err
        return "ok"
    assert_one_line_error(r.code, r.err)
    assert snapshot(*guarded) == before, args               # nothing written
    return "error"
