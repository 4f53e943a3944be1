"""The channel's computation on RTL at native speed: the AXI4-Stream top on Verilator
through the native harness (:func:`ese_hw.simulation.rtl.run_top`, ``harness="native"``),
against the golden model bit for bit and the cycle model cycle for cycle.

The channel configurations tests/sim/test_channel_cocotb.py ran through cocotb, each
one build run twice: without pauses (every y bit equal to the golden model's, every
``frame_done`` on the cycle the cycle model gives, counted from the first x beat taken)
and with seeded pauses on ``s_axis_load``, ``s_axis_x`` and ``m_axis_y`` (every y bit
equal, later than without; the harness checks the stream rules):

* the small model of the Amaranth-simulator tests (16 inputs, 64 cells, 32 projections,
  4 PEs, density 0.25), two lanes loaded at run time with lane restarts (TUSER): one
  lane in the middle, both later, a silent frame and skipped zero columns;
* four PEs sharing two cell units (``ew_share`` 2) with the projection split over two
  PEs (their partner sums added at read-out);
* a K-wide broadcast (K = 2, one lane; K = 4, two lanes, one restarted);
* a plain LSTM layer (no projection), two lanes, K = 2, G = 2, a lane restart;
* a grid of small models, PE counts {1, 2, 4} x index widths {4, 6}, one lane without
  pauses, on Icarus (so both simulators run the native top's computation here).

The cycle model assumes an always-ready top, so cycles are compared without pauses only.
"""

import numpy as np
import pytest

from ese_hw.gateware.params import ChannelParams
from ese_hw.model.compress import Config, compress
from ese_hw.model.cycles import stack_cycles
from ese_hw.model.figures import frame_figures
from ese_hw.model.golden import GoldenModel
from ese_hw.model.lstmp import PLAIN_WEIGHT_KEYS, LSTMPWeights, random_weights
from ese_hw.simulation.rtl import run_top, top_params
from ese_hw.simulation.runner import simulator_available

pytestmark = pytest.mark.sim
needs_verilator = pytest.mark.skipif(not simulator_available("verilator"),
                                     reason="verilator is not installed")

T = 24
QUEUE_DEPTH = 8


@pytest.fixture(scope="module")
def build_root(tmp_path_factory):
    return tmp_path_factory.mktemp("channel_native")


@pytest.fixture(scope="module")
def model():
    return compress(random_weights(16, 64, 32, seed=5), Config(n_pe=4, density=0.25))


def _runs(model, x_q, resets, build_root, *, broadcast=1, ew_share=1, pause=0.3, seed=1,
          sim="verilator"):
    """One build of the top for ``model``, run without and with pauses: both bit-exact
    (``run_top`` checks ``expected``; asserted again here), the first cycle-exact.
    Returns both results and the frame figures of the first."""
    want = GoldenModel(model).run_channels(x_q, resets)
    params = top_params(model, n_channels=x_q.shape[0], queue_depth=QUEUE_DEPTH,
                        broadcast=broadcast, ew_share=ew_share)
    kw = dict(params=params, sim=sim, resets=resets, expected=want,
              build_root=build_root, progress=False, harness="native")
    plain = run_top(model, x_q, **kw)
    np.testing.assert_array_equal(plain.y, want)
    assert plain.frames_done == x_q.shape[1]
    cycles = stack_cycles(model, x_q, queue_depth=QUEUE_DEPTH, broadcast=broadcast,
                          ew_share=ew_share, resets=resets)
    done = plain.channel_frame_done
    np.testing.assert_array_equal(done, cycles["frame_done"])
    fig = frame_figures(model, n_channels=x_q.shape[0], frame_done=done)
    if not pause:
        return plain, None, fig
    paused = run_top(model, x_q, **kw, pause=pause, seed=seed)
    assert paused.cached                                  # the same configuration, one build
    np.testing.assert_array_equal(paused.y, want)
    assert paused.frame_done[-1] > plain.frame_done[-1]     # the pauses happened
    return plain, paused, fig


@needs_verilator
def test_two_lanes_with_restarts(model, build_root):
    """Two lanes, lane 1 restarted in the middle and both later, a silent frame and
    zero (skipped) columns: a restart is a fresh start of that lane."""
    g = GoldenModel(model)
    rng = np.random.default_rng(12)
    x_q = np.stack([g.quantize_inputs(rng.standard_normal((T, 16)) * s) for s in (1.0, 1.7)])
    x_q[0, 5, :7] = 0                                     # some zero (skipped) columns
    x_q[1, 9, :] = 0                                      # a silent frame in lane 1
    resets = np.zeros((T, 2), bool)
    resets[9, 1] = True                                   # lane 1 restarts mid-sequence
    resets[17, :] = True                                  # both restart later
    plain, paused, fig = _runs(model, x_q, resets, build_root, seed=5)
    assert not np.array_equal(plain.y[0], plain.y[1])
    for res in (plain, paused):
        np.testing.assert_array_equal(res.y[1, 9:17], g.run_quantized(x_q[1, 9:17]))
        np.testing.assert_array_equal(res.y[0, 17:], g.run_quantized(x_q[0, 17:]))
    assert 0 < fig["utilization"] <= 1


@needs_verilator
def test_shared_cell_units_two_lanes(build_root):
    """Two PEs per cell unit (G 2), two lanes, lane 0 restarted: each PE's peepholes
    reach its unit's right word. P 2 on 4 PEs splits the projection (S 2), every part
    holding entries, so the owners' partner sums are checked too."""
    model = compress(random_weights(12, 24, 2, seed=9), Config(n_pe=4, density=0.3))
    assert ChannelParams.for_model(model).proj_split == 2
    assert (model.ym.entries_per_pe > 0).all()
    g = GoldenModel(model)
    rng = np.random.default_rng(14)
    x_q = np.stack([g.quantize_inputs(rng.standard_normal((6, 12)) * s) for s in (1.0, 1.5)])
    resets = np.zeros((6, 2), bool)
    resets[3, 0] = True                                   # lane 0 restarts mid-sequence
    plain, _, fig = _runs(model, x_q, resets, build_root, ew_share=2, seed=7)
    # Sharing costs cycles the cycle model counts, so the cycle check could fail.
    alone = stack_cycles(model, x_q, queue_depth=QUEUE_DEPTH, resets=resets)
    assert fig["cycles_per_frame"] > float(np.diff(alone["frame_done"]).mean())


@needs_verilator
@pytest.mark.parametrize("k, lanes", [(2, 1), (4, 2)])
def test_broadcast(model, build_root, k, lanes):
    """A K-wide broadcast (whole zero groups skipped; the last lane restarted)."""
    g = GoldenModel(model)
    rng = np.random.default_rng(40 + k)
    x_q = np.stack([g.quantize_inputs(rng.standard_normal((8, 16))) for _ in range(lanes)])
    x_q[:, 2, :8] = 0                                     # whole zero groups (skipped)
    resets = np.zeros((8, lanes), bool)
    resets[5, -1] = True
    _runs(model, x_q, resets, build_root, broadcast=k, seed=k)


@needs_verilator
def test_plain_lstm_layer_two_lanes(build_root):
    """A plain LSTM layer (no projection phase; the y banks copy m_t rescaled), two
    lanes with lane 1 restarted, K = 2 and two PEs per cell unit."""
    w = random_weights(6, 8, 8, seed=8)
    layer = LSTMPWeights.from_arrays({k: w[k] for k in PLAIN_WEIGHT_KEYS}, projection=False)
    model = compress(layer, Config(n_pe=2, density=0.5))
    assert not model.has_projection
    g = GoldenModel(model)
    rng = np.random.default_rng(15)
    x_q = np.stack([g.quantize_inputs(rng.standard_normal((5, 6)) * s) for s in (1.0, 1.5)])
    x_q[:, 2, :2] = 0                                     # a zero (skipped) group
    resets = np.zeros((5, 2), bool)
    resets[3, 1] = True                                   # lane 1 restarts mid-sequence
    plain, paused, _ = _runs(model, x_q, resets, build_root, broadcast=2, ew_share=2, seed=8)
    for res in (plain, paused):
        np.testing.assert_array_equal(res.y[1, 3:], g.run_quantized(x_q[1, 3:]))


@pytest.mark.skipif(not simulator_available("icarus"), reason="icarus is not installed")
@pytest.mark.parametrize("n_pe", [1, 2, 4])
@pytest.mark.parametrize("index_bits", [4, 6])
def test_grid_on_icarus(n_pe, index_bits, build_root):
    """Small channels over PE counts and index widths (those the stand-alone SpMV's
    cocotb test covered), on Icarus (a build of seconds; a few hundred cycles a frame):
    bit-exact and cycle-exact."""
    weights = random_weights(8, 12, 6, seed=20 + n_pe)
    model = compress(weights, Config(n_pe=n_pe, density=0.3, index_bits=index_bits))
    g = GoldenModel(model)
    x_q = g.quantize_inputs(np.random.default_rng(n_pe * 10 + index_bits)
                            .standard_normal((4, 8)))[None]
    x_q[0, 2, ::3] = 0                                    # skipped (zero) columns
    _runs(model, x_q, np.zeros((4, 1), bool), build_root, pause=0.0, sim="icarus")
