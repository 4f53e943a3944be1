"""The paper-shape channel behind the AXI4-Stream top, on Verilator through the native
harness (:mod:`ese_hw.simulation.native`): the model as ``load.bin`` on
``s_axis_load``, then the frames; no Python in the cycle loop.

ESE's shape and configuration: 153 inputs, 1,024 cells, 512 projections, 32 PEs,
density 0.112, 6-bit indices, queue depth 8, seeded weights and inputs, one lane, 24
frames with the lane restarted (TUSER) on frame 13. One build (a module fixture, about
2.5 minutes; tests/conftest.py starts this module first) runs twice:

* without pauses: every y bit equals the golden model's and every ``frame_done`` falls
  on the cycle model's cycle, counted from the first x beat taken;
* with seeded pauses on ``s_axis_load``, ``s_axis_x`` and ``m_axis_y`` (the harness's
  stream-rule checks armed): every y bit equals the golden model's, later than without.
"""

import time
from pathlib import Path

import numpy as np
import pytest

from ese_hw.model.compress import Config, compress
from ese_hw.model.cycles import stack_cycles
from ese_hw.model.golden import GoldenModel
from ese_hw.model.lstmp import random_weights
from ese_hw.simulation.rtl import run_top
from ese_hw.simulation.runner import simulator_available

pytestmark = [pytest.mark.sim, pytest.mark.slow,
              pytest.mark.skipif(not simulator_available("verilator"),
                                 reason="verilator is not installed")]

BUILD_ROOT = Path(__file__).resolve().parents[2] / "build" / "sim"
SHAPE = (153, 1024, 512)
QUEUE_DEPTH = 8
T = 24
RESET_AT = 13


@pytest.fixture(scope="module")
def case():
    """The paper-shape model, one lane of seeded inputs restarted at :data:`RESET_AT`,
    and what the golden model and the cycle model say it gives."""
    model = compress(random_weights(*SHAPE, seed=0), Config(n_pe=32, index_bits=6))
    assert model.config.density == pytest.approx(0.112)
    golden = GoldenModel(model)
    x_q = golden.quantize_inputs(np.random.default_rng(19).standard_normal((T, SHAPE[0])))[None]
    resets = np.zeros((T, 1), bool)
    resets[RESET_AT, 0] = True
    want = golden.run_channels(x_q, resets)
    # The restart is a fresh start: the frames after it as a sequence of their own.
    np.testing.assert_array_equal(want[0, RESET_AT:], golden.run_quantized(x_q[0, RESET_AT:]))
    cycles = stack_cycles(model, x_q, queue_depth=QUEUE_DEPTH, resets=resets)
    return dict(model=model, x_q=x_q, resets=resets, want=want,
                frame_done=cycles["frame_done"])


def _run(case, name, **kw):
    t0 = time.perf_counter()
    res = run_top(case["model"], case["x_q"], sim="verilator", resets=case["resets"],
                  expected=case["want"], build_root=BUILD_ROOT, progress=False,
                  harness="native", **kw)
    timing = {"wall_s": round(time.perf_counter() - t0, 1), "cached": res.cached,
              "build_s": round(res.build_seconds, 1), "sim_s": round(res.sim_seconds, 2),
              "sim_cycles": res.sim_cycles, "load_beats": res.load_beats}
    print(f"paper shape, {name}: {timing}")
    return res, timing


@pytest.fixture(scope="module")
def unpaused(case):
    """The run without pauses, and its times; it builds the top (shared by the module)."""
    return _run(case, "unpaused")


def test_paper_shape_bit_exact_and_cycle_exact(case, unpaused, request):
    """Every output equals the golden model's; every ``frame_done`` is on the cycle
    model's cycle (from the first x beat taken, the model's cycle 0)."""
    unpaused, timing = unpaused
    request.node.user_properties.append(("unpaused", timing))
    np.testing.assert_array_equal(unpaused.y, case["want"])
    assert unpaused.frames_done == T and unpaused.load_beats > 400_000
    np.testing.assert_array_equal(unpaused.channel_frame_done, case["frame_done"])


def test_paper_shape_under_pauses_on_every_interface(case, unpaused, request):
    """Seeded pauses (probability 0.2) on load, x and y: still bit-exact, every frame
    counted, and later than without pauses (so the pauses happened); the same build."""
    unpaused, _ = unpaused
    paused, timing = _run(case, "paused", pause=0.2, seed=23)
    request.node.user_properties.append(("paused", timing))
    assert paused.cached
    np.testing.assert_array_equal(paused.y, case["want"])
    assert paused.frames_done == T
    assert paused.first_x > unpaused.first_x                 # the load was paused
    assert paused.frame_done[-1] > unpaused.frame_done[-1]
