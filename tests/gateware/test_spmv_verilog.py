"""The 32-PE array at realistic memory depths converts to Verilog that Verilator accepts."""

import os
import subprocess

import pytest
from amaranth.back import verilog

from ese_hw.gateware.spmv import SpMV
from ese_hw.simtools import simulator_available, verilator_env


@pytest.mark.slow
@pytest.mark.skipif(not simulator_available("verilator"), reason="verilator not installed")
def test_spmv32_verilator_lint(tmp_path):
    dut = SpMV(n_pe=32, weight_bits=12, index_bits=6, act_bits=16, accum_bits=40,
               queue_depth=8, entry_depth=16384, n_cols_max=1024, local_rows=128, bias=True)
    path = tmp_path / "spmv32.v"
    path.write_text(verilog.convert(dut, name="spmv32"))
    run = subprocess.run(
        ["verilator", "--lint-only", "-Wno-fatal", "-Wno-WIDTH", "--top-module", "spmv32",
         str(path)],
        capture_output=True, text=True, env={**os.environ, **verilator_env(apply=False)},
        timeout=600)
    errors = [line for line in run.stderr.splitlines() if line.startswith("%Error")]
    assert not errors, "\n".join(errors[:20])
    assert run.returncode == 0, run.stderr[-2000:]
