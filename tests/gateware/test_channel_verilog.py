"""A multi-PE, multi-channel LSTMP channel converts to Verilog that Verilator accepts."""


import pytest

from ese_hw.gateware import Channel
from ese_hw.model.compress import Config, compress
from ese_hw.model.lstmp import random_weights
from ese_hw.simulation.runner import generate_verilog, simulator_available, verilator_lint


@pytest.mark.sim
@pytest.mark.skipif(not simulator_available("verilator"), reason="verilator not installed")
def test_channel_verilator_lint(tmp_path):
    # 8 PEs, 2 lock-step channels, 6-bit indices, run-time loading: every part of the
    # paper-shape channel (32 PEs) at a size Verilator lints in seconds.
    model = compress(random_weights(24, 64, 32, seed=0),
                     Config(n_pe=8, density=0.2, index_bits=6))
    dut = Channel.for_model(model, n_channels=2, queue_depth=8, preload=False)
    path = generate_verilog(dut, "channel_lint", tmp_path)
    errors = verilator_lint(path, "channel_lint")
    assert not errors, "\n".join(errors[:20])
