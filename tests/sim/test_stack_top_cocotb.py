"""A 2-layer stack behind the AXI4-Stream top, on Icarus and Verilator (cocotbext-axi).

One build per simulator of a two-lane top holding both layers, one PE each (no baked
images). One
run of phases, with seeded pauses on ``s_axis_load``, ``s_axis_x`` and ``m_axis_y``:
first the load stream of another stack (its first layer alone: another configuration
hash), which the top must refuse, with 2 frames offered that it must not take; then the
stack's own ``load.bin`` (both layers in one stream), after which the held frames and 6
more run, lane 1 restarted on frame 5 through TUSER. Every output equals the golden
stack's, bit for bit, and every frame is counted once (``frame_done`` of the last layer).
"""

from pathlib import Path

import numpy as np
import pytest

from ese_hw.gateware.load import LoadError
from ese_hw.gateware.top import DEFAULT_Y_FIFO_DEPTH, AxisTop, x_stream_bytes, y_from_stream_bytes
from ese_hw.model.compress import Config, compress_stack
from ese_hw.model.golden import GoldenStack
from ese_hw.model.loadstream import model_load_bytes
from ese_hw.model.lstmp import random_weights
from ese_hw.simulation.rtl import TOP_TB_MODULE, stack_params, top_key
from ese_hw.simulation.runner import SIMULATORS, build_design, run_test, simulator_available
from ese_hw.simulation.testbenches.tb_top import read_top_out, top_tb_data

pytestmark = pytest.mark.sim

BUILD_ROOT = Path(__file__).resolve().parents[2] / "build" / "sim"
SHAPES = ((3, 8, 4), (4, 8, 4))
T = 6
HELD = 2                                   # frames offered while a stream is refused


@pytest.mark.parametrize("sim", SIMULATORS)
def test_two_layer_stack_through_axi_streams_with_pauses(sim):
    """Stays on cocotb: a refused stream (another stack's) with frames held while it is
    refused, its status and held x checked from Python before the good load."""
    if not simulator_available(sim):
        pytest.skip(f"{sim} is not installed")
    # One PE per layer: the smallest stack (its Verilator build is most of the test's time).
    stack = compress_stack([random_weights(*s, seed=40 + k) for k, s in enumerate(SHAPES)],
                           Config(n_pe=1, density=0.5))
    params = stack_params(stack, n_channels=2)
    golden = GoldenStack(stack)
    rng = np.random.default_rng(41)
    x_q = np.stack([golden.quantize_inputs(rng.standard_normal((HELD + T, SHAPES[0][0]))
                                           * (1 + c)) for c in range(2)])
    resets = np.zeros((HELD + T, 2), bool)
    resets[0] = True                       # the first frame starts both lanes afresh
    resets[HELD + 3, 1] = True             # lane 1 restarts mid-sequence
    masks = [int(r[0]) | int(r[1]) << 1 for r in resets]
    first_alone = type(stack)(stack.layers[:1])
    other = model_load_bytes(stack_params(first_alone, n_channels=2), first_alone)
    phases = [(other, x_stream_bytes(params, x_q[:, :HELD]), masks[:HELD], LoadError.CONFIG),
              (model_load_bytes(params, stack), x_stream_bytes(params, x_q[:, HELD:]),
               masks[HELD:])]
    build = build_design(sim, lambda: AxisTop(params=params), "axis_top", BUILD_ROOT,
                         key=top_key(params, y_fifo_depth=DEFAULT_Y_FIFO_DEPTH),
                         progress=False)
    run = run_test(build, TOP_TB_MODULE, data=top_tb_data(params, phases, pause=0.3),
                   seed=42, progress=False)
    out = read_top_out(run.run_dir)
    assert out["status"][0] == (0, 0, LoadError.CONFIG)
    assert out["held_x"][0] == 0 and out["y_bytes"][0] == b""
    assert out["status"][1] == (1, 0, LoadError.NONE)
    # The held frames waited for the good stream, then ran first.
    y = y_from_stream_bytes(params, out["y_bytes"][1], HELD + T)
    np.testing.assert_array_equal(y, golden.run_channels(x_q, resets))
    assert out["frame_done"] == HELD + T and out["x_tlast_error"] == 0
