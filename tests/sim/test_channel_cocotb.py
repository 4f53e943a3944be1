"""The channel alone (no AXI top) through cocotb, against the golden model.

Through :func:`ese_hw.simulation.rtl.run_rtl` (the ``rtl`` engine's library, testbench
``ese_hw.simulation.testbenches.tb_channel``) on the small model of the Amaranth-simulator
tests (16 inputs, 64 cells, 32 projections, 4 PEs, density 0.25), memory images baked in:
24 frames bit-exact without stalls (every ``frame_done`` on the cycle model's cycle), then
again with random stalls on ``x`` and ``y``, which the testbench checks beat by beat from
Python (the stream rules on ``y``); and a wrong golden value the testbench must report.

What these tests used to run besides (two lanes loaded at run time with restarts, shared
cell units, K-wide broadcasts, a plain LSTM layer, the grid of PE counts and index widths)
runs at native speed behind the top: tests/sim/test_channel_native.py.
"""

import time
from pathlib import Path

import numpy as np
import pytest

from ese_hw.model.compress import Config, compress
from ese_hw.model.cycles import channel_cycles
from ese_hw.model.figures import frame_figures
from ese_hw.model.golden import GoldenModel
from ese_hw.model.lstmp import random_weights
from ese_hw.simulation.rtl import run_rtl
from ese_hw.simulation.runner import SIMULATORS, simulator_available

pytestmark = pytest.mark.sim

BUILD_ROOT = Path(__file__).resolve().parents[2] / "build" / "sim"
T = 24


@pytest.fixture(scope="module")
def model():
    return compress(random_weights(16, 64, 32, seed=5), Config(n_pe=4, density=0.25))


def _need(sim):
    if not simulator_available(sim):
        pytest.skip(f"{sim} is not installed")


def _check_cycles(model, x_q, result, resets=None):
    """Every ``frame_done`` on the cycle the cycle model gives (it claims exactness)."""
    want = channel_cycles(model, x_q, queue_depth=result.queue_depth,
                          broadcast=result.broadcast, ew_share=result.ew_share, resets=resets)
    np.testing.assert_array_equal(result.frame_done, want["frame_done"])
    return frame_figures(model, n_channels=x_q.shape[0], frame_done=result.frame_done)


def _timing(request, sim, name, result, t0):
    timing = {"wall_s": round(time.perf_counter() - t0, 2),
              "build_s": round(result.build_seconds, 2), "sim_s": round(result.sim_seconds, 2),
              "cached": result.cached, "sim_cycles": result.sim_cycles}
    request.node.user_properties.append((name, timing))
    print(f"{sim} {name}: {timing}")


@pytest.mark.parametrize("sim", SIMULATORS)
def test_one_channel_bit_exact_and_cycle_model(sim, model, request):
    """Stays on cocotb: the channel's own streams (not the top's), stalled, with the
    testbench checking every y beat from Python; bit-exact, cycle-exact unstalled."""
    _need(sim)
    g = GoldenModel(model)
    rng = np.random.default_rng(11)
    x_q = g.quantize_inputs(rng.standard_normal((T, 16)))[None]
    x_q[0, 5, :7] = 0                                     # some zero (skipped) columns
    want = g.run_quantized(x_q[0])[None]

    t0 = time.perf_counter()
    plain = run_rtl(model, x_q, sim=sim, build_root=BUILD_ROOT, expected=want, progress=False)
    _timing(request, sim, "plain", plain, t0)
    np.testing.assert_array_equal(plain.y, want)
    fig = _check_cycles(model, x_q, plain)
    assert 0 < fig["utilization"] <= 1

    t0 = time.perf_counter()
    stalled = run_rtl(model, x_q, sim=sim, build_root=BUILD_ROOT, expected=want,
                      x_idle=0.3, y_stall=0.5, seed=3, progress=False)
    _timing(request, sim, "stalled", stalled, t0)
    assert stalled.cached                                 # same configuration, same build
    np.testing.assert_array_equal(stalled.y, want)
    # Stalls slow it down but it still completes every frame.
    assert stalled.cycles_per_frame >= plain.cycles_per_frame


def test_testbench_catches_a_wrong_output(model):
    """Stays on cocotb: it checks the channel testbench itself. One wrong golden value
    must fail the run (and name where)."""
    _need("icarus")
    from ese_hw.errors import EseError

    g = GoldenModel(model)
    x_q = g.quantize_inputs(np.random.default_rng(13).standard_normal((3, 16)))[None]
    want = g.run_quantized(x_q[0])[None]
    want[0, 2, 30] += 1
    with pytest.raises(EseError, match=r"frame 2, element 30"):
        run_rtl(model, x_q, sim="icarus", build_root=BUILD_ROOT, expected=want,
                progress=False)
