"""``generate``, ``run --engine rtl`` and ``sweep`` report the same figures for the same
design, at ESE's 200 MHz and at another clock: all three call
:func:`ese_hw.model.figures.frame_figures` (one vocabulary of keys, the clock a field).

The design is tests/flows/test_sweep.py's ``pe2-ch2-ib4`` point (8/16/8 random weights at
density 0.5, 2 PEs, 2 lanes, 4-bit indices), so its estimate is cached when both run;
the RTL is one small Icarus build, shared by both clocks.
"""

import json

import numpy as np
import pytest

from ese_hw.cli import main
from ese_hw.flows.design import make_design
from ese_hw.flows.sweep import sweep_inputs
from ese_hw.simulation.runner import simulator_available

DESIGN = ["--shape", "8,16,8", "--density", "0.5", "--pes", "2", "--channels", "2",
          "--index-bits", "4"]
FRAMES = 8
#: Every key frame_figures returns.
FIGURES = ("clock_mhz", "n_channels", "total_pes", "cycles_per_frame", "latency_us",
           "utilization", "useful_macs_per_frame",
           "dense_macs_per_frame", "gops", "dense_equiv_gops")

# run builds the design on Icarus; sweep estimates it with Yosys (in a Dask worker, where
# tests/conftest.py's guard does not reach, so the marker is set by hand).
pytestmark = [pytest.mark.sim, pytest.mark.synth,
              pytest.mark.skipif(not simulator_available("icarus"),
                                 reason="icarus is not installed")]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("agree")
    model = make_design(shape=(8, 16, 8), density=0.5, n_pe=2, n_channels=2,
                        index_bits=4).model_path
    np.save(d / "x.npy", sweep_inputs(8, 2, FRAMES, seed=0))      # the sweep's inputs
    return d, model


@pytest.mark.parametrize("clock", ["200", "250"])
def test_generate_run_and_sweep_agree(work, clock):
    d, model = work
    assert main(["generate", *DESIGN, "--clock-mhz", clock, "-o", str(d / f"gen{clock}")]) == 0
    generated = json.loads((d / f"gen{clock}" / "config.json").read_text())["performance"]
    assert main(["sweep", *DESIGN, "--clock-mhz", clock, "--frames", str(FRAMES),
                 "--workers", "1", "-o", str(d / f"sweep{clock}")]) == 0
    (swept,) = json.loads((d / f"sweep{clock}" / "sweep.json").read_text())["points"]
    report = d / f"run{clock}.json"
    assert main(["run", str(model), "--engine", "rtl", "--sim", "icarus", "--channels", "2",
                 "--clock-mhz", clock, "--inputs", str(d / "x.npy"), "-o",
                 str(d / f"y{clock}.npy"), "--report", str(report),
                 "--build-dir", str(d / "build")]) == 0
    ran = json.loads(report.read_text())
    assert ran["bit_exact_vs_golden"] is True
    assert generated["frame_done_cycles"] == swept["frame_done"]
    for key in FIGURES:
        assert generated[key] == swept[key] == ran[key], key
    assert ran["clock_mhz"] == float(clock)
    assert ran["latency_us"] == pytest.approx(ran["cycles_per_frame"] / float(clock))
