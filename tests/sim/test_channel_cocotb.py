"""The channel's generated Verilog on Icarus and Verilator, against the golden model.

Through :func:`ese_hw.simulation.rtl.run_rtl` (the ``rtl`` engine's library, testbench
``ese_hw.simulation.testbenches.tb_channel``) on the small model of the Amaranth-simulator tests
(16 inputs, 64
cells, 32 projections, 4 PEs, density 0.25). Two builds per simulator:

* one channel, memory images baked in: 24 frames bit-exact without stalls (and the
  cycles per frame against the cycle model), then again with random stalls on ``x``
  and ``y``;
* two lock-step channels built without images: the model is written through ``load``
  at run time; the channels run different sequences, with a state reset of one channel
  in the middle and of both later; bit-exact with random stalls on ``load``, ``x`` and
  ``y``, and cycle-checked without stalls.

* four PEs sharing two cell units (``ew_share`` 2), two lanes, built without images,
  with two projections, so each ``W_ym`` row is split over two PEs whose sums its owner
  adds at read-out: loaded at run time, bit-exact with random stalls on ``load``, ``x``
  and ``y``, and cycle-checked (the cycle model counting ``G * C`` lanes per
  element-wise slot) without stalls.

A K-wide broadcast (K = 2 baked, K = 4 loaded with two lanes) runs on both simulators,
with and without stalls, and so does a plain LSTM layer (no projection; two lanes, K = 2,
G = 2, loaded at run time, a lane reset).

A grid of small models (PE counts {1, 2, 4} x index widths {4, 6}, the configurations
the stand-alone SpMV's cocotb test used to cover) runs on Icarus without stalls: outputs
equal to the golden model, and every ``frame_done`` on the cycle the cycle model gives.

A reset must give the same outputs as a fresh start of the same frames. Cycles per
frame are compared only on runs without stalls (the cycle model assumes an
always-valid ``x`` and an always-ready ``y``): every ``frame_done`` must fall on the
cycle the model gives.
"""

import time
from pathlib import Path

import numpy as np
import pytest

from ese_hw.gateware.params import ChannelParams
from ese_hw.model.compress import Config, compress
from ese_hw.model.cycles import channel_cycles
from ese_hw.model.figures import frame_figures
from ese_hw.model.golden import GoldenModel
from ese_hw.model.lstmp import PLAIN_WEIGHT_KEYS, LSTMPWeights, random_weights
from ese_hw.simulation.rtl import run_rtl
from ese_hw.simulation.runner import SIMULATORS, VERILATOR_FAST_BUILD_ARGS, simulator_available

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


@pytest.mark.parametrize("sim", SIMULATORS)
def test_two_channels_loaded_at_run_time_with_resets(sim, model, request):
    _need(sim)
    g = GoldenModel(model)
    rng = np.random.default_rng(12)
    x_q = np.stack([g.quantize_inputs(rng.standard_normal((T, 16)) * s) for s in (1.0, 1.7)])
    x_q[1, 9, :] = 0                                      # a silent frame in channel 1
    resets = np.zeros((T, 2), bool)
    resets[9, 1] = True                                   # channel 1 restarts mid-sequence
    resets[17, :] = True                                  # both restart later
    want = g.run_channels(x_q, resets)
    assert not np.array_equal(want[0], want[1])

    t0 = time.perf_counter()
    stalled = run_rtl(model, x_q, sim=sim, build_root=BUILD_ROOT, resets=resets,
                      expected=want, preload=False, load_idle=0.3, x_idle=0.3, y_stall=0.4,
                      seed=5, progress=False)
    _timing(request, sim, "loaded_stalled", stalled, t0)
    np.testing.assert_array_equal(stalled.y, want)
    # The reset is a fresh start: frames 9..16 of channel 1 alone, from zero state.
    np.testing.assert_array_equal(stalled.y[1, 9:17], g.run_quantized(x_q[1, 9:17]))
    np.testing.assert_array_equal(stalled.y[0, 17:], g.run_quantized(x_q[0, 17:]))

    t0 = time.perf_counter()
    plain = run_rtl(model, x_q, sim=sim, build_root=BUILD_ROOT, resets=resets,
                    expected=want, preload=False, progress=False)
    _timing(request, sim, "loaded_plain", plain, t0)
    assert plain.cached
    np.testing.assert_array_equal(plain.y, want)
    _check_cycles(model, x_q, plain, resets=resets)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_shared_cell_units_two_lanes(sim, request):
    """Two PEs per cell unit, two lanes, the model loaded at run time: bit-exact with
    stalls, cycle-exact without (each PE's peepholes reach its unit's right word). P 2
    on 4 PEs: the projection is split (S 2), every part holding entries, so the
    owners' partner sums are checked too (the same build)."""
    _need(sim)
    model = compress(random_weights(12, 24, 2, seed=9), Config(n_pe=4, density=0.3))
    assert ChannelParams.for_model(model).proj_split == 2
    assert (model.ym.entries_per_pe > 0).all()
    g = GoldenModel(model)
    rng = np.random.default_rng(14)
    x_q = np.stack([g.quantize_inputs(rng.standard_normal((6, 12)) * s) for s in (1.0, 1.5)])
    resets = np.zeros((6, 2), bool)
    resets[3, 0] = True                                   # lane 0 restarts mid-sequence
    want = g.run_channels(x_q, resets)

    t0 = time.perf_counter()
    stalled = run_rtl(model, x_q, sim=sim, build_root=BUILD_ROOT, ew_share=2, resets=resets,
                      expected=want, preload=False, load_idle=0.3, x_idle=0.3, y_stall=0.4,
                      seed=7, progress=False)
    _timing(request, sim, "shared_stalled", stalled, t0)
    np.testing.assert_array_equal(stalled.y, want)
    plain = run_rtl(model, x_q, sim=sim, build_root=BUILD_ROOT, ew_share=2, resets=resets,
                    expected=want, preload=False, progress=False)
    assert plain.cached and plain.ew_share == 2
    fig = _check_cycles(model, x_q, plain, resets=resets)
    # Sharing costs cycles the model counts, so the check above could fail.
    alone = channel_cycles(model, x_q, queue_depth=plain.queue_depth, resets=resets)
    assert fig["cycles_per_frame"] > float(np.diff(alone["frame_done"]).mean())


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("k, lanes", [(2, 1), (4, 2)])
def test_broadcast_bit_exact_and_cycle_model(sim, k, lanes, model, request):
    """A K-wide broadcast (K = 2 baked in, one lane; K = 4 loaded at run time, two lanes,
    one restarted): bit-exact without and with random stalls on ``x``, ``y`` (and
    ``load``), and every ``frame_done`` on the cycle model's cycle for that K without.
    Verilator builds these with the cheaper build arguments the paper-shape frontier
    check uses (public access to the top's ports only), so they are held to the same."""
    _need(sim)
    g = GoldenModel(model)
    rng = np.random.default_rng(40 + k)
    x_q = np.stack([g.quantize_inputs(rng.standard_normal((8, 16))) for _ in range(lanes)])
    x_q[:, 2, :8] = 0                                     # whole zero groups (skipped)
    resets = np.zeros((8, lanes), bool)
    resets[5, -1] = True
    want = g.run_channels(x_q, resets)
    kw = dict(sim=sim, broadcast=k, build_root=BUILD_ROOT, resets=resets, expected=want,
              preload=lanes == 1, progress=False,
              build_args=VERILATOR_FAST_BUILD_ARGS if sim == "verilator" else ())

    t0 = time.perf_counter()
    plain = run_rtl(model, x_q, **kw)
    _timing(request, sim, f"broadcast{k}_plain", plain, t0)
    np.testing.assert_array_equal(plain.y, want)
    _check_cycles(model, x_q, plain, resets=resets)
    stalled = run_rtl(model, x_q, **kw, x_idle=0.3, y_stall=0.4, load_idle=0.2, seed=k)
    assert stalled.cached
    np.testing.assert_array_equal(stalled.y, want)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_plain_lstm_layer_two_lanes_loaded(sim, request):
    """A plain LSTM layer (no projection phase; the y banks copy m_t rescaled), two
    lanes with a lane reset, K = 2 and two PEs per cell unit, its images loaded at run
    time: bit-exact with random stalls on ``load``, ``x`` and ``y``, and every
    ``frame_done`` on the cycle model's cycle without stalls (the same build)."""
    _need(sim)
    w = random_weights(6, 8, 8, seed=8)
    plain = LSTMPWeights.from_arrays({k: w[k] for k in PLAIN_WEIGHT_KEYS}, projection=False)
    model = compress(plain, Config(n_pe=2, density=0.5))
    g = GoldenModel(model)
    rng = np.random.default_rng(15)
    x_q = np.stack([g.quantize_inputs(rng.standard_normal((5, 6)) * s) for s in (1.0, 1.5)])
    x_q[:, 2, :2] = 0                                     # a zero (skipped) group
    resets = np.zeros((5, 2), bool)
    resets[3, 1] = True                                   # lane 1 restarts mid-sequence
    want = g.run_channels(x_q, resets)
    kw = dict(sim=sim, build_root=BUILD_ROOT, broadcast=2, ew_share=2, resets=resets,
              expected=want, preload=False, progress=False)

    t0 = time.perf_counter()
    stalled = run_rtl(model, x_q, **kw, load_idle=0.3, x_idle=0.3, y_stall=0.4, seed=8)
    _timing(request, sim, "plain_layer_stalled", stalled, t0)
    np.testing.assert_array_equal(stalled.y, want)
    np.testing.assert_array_equal(stalled.y[1, 3:], g.run_quantized(x_q[1, 3:]))
    unstalled = run_rtl(model, x_q, **kw)
    assert unstalled.cached
    np.testing.assert_array_equal(unstalled.y, want)
    _check_cycles(model, x_q, unstalled, resets=resets)


def test_testbench_catches_a_wrong_output(model):
    """One wrong golden value must fail the run (and name where)."""
    _need("icarus")
    from ese_hw.errors import EseError

    g = GoldenModel(model)
    x_q = g.quantize_inputs(np.random.default_rng(13).standard_normal((3, 16)))[None]
    want = g.run_quantized(x_q[0])[None]
    want[0, 2, 30] += 1
    with pytest.raises(EseError, match=r"frame 2, element 30"):
        run_rtl(model, x_q, sim="icarus", build_root=BUILD_ROOT, expected=want,
                progress=False)


@pytest.mark.parametrize("n_pe", [1, 2, 4])
@pytest.mark.parametrize("index_bits", [4, 6])
def test_grid_bit_exact_and_cycle_exact(n_pe, index_bits, request):
    """Small channels over PE counts and index widths: the generated Verilog equals the
    golden model bit for bit and the cycle model cycle for cycle."""
    _need("icarus")
    weights = random_weights(8, 12, 6, seed=20 + n_pe)
    model = compress(weights, Config(n_pe=n_pe, density=0.3, index_bits=index_bits))
    g = GoldenModel(model)
    x_q = g.quantize_inputs(np.random.default_rng(n_pe * 10 + index_bits)
                            .standard_normal((4, 8)))[None]
    x_q[0, 2, ::3] = 0                                    # skipped (zero) columns
    want = g.run_channels(x_q)

    t0 = time.perf_counter()
    result = run_rtl(model, x_q, sim="icarus", build_root=BUILD_ROOT, expected=want,
                     progress=False)
    _timing(request, "icarus", f"grid_pe{n_pe}_i{index_bits}", result, t0)
    np.testing.assert_array_equal(result.y, want)
    _check_cycles(model, x_q, result)
