"""The AXI4-Stream top's Verilog on Icarus and Verilator through cocotbext-axi.

Testbench ``ese_hw.simulation.testbenches.tb_top``: ``AxiStreamSource`` on ``s_axis_load`` and
``s_axis_x``, ``AxiStreamSink`` on ``m_axis_y``, seeded pause generators on all three.
One build per simulator of a small two-lane top without baked images, then one run of
phases: model A loaded from its ``load.bin`` bytes and 6 frames (lane 1 restarted
on frame 3 through TUSER); then seven load streams the top must refuse
(:func:`ese_hw.simulation.testbenches.tb_top.refused_load_streams`: wrong magic, wrong version, a
``load.bin`` for another PE count, a length more than the memories hold, TLAST early,
TLAST late, a flipped payload bit), each with the code ``load_error`` must show, the
first with 2 frames of B offered (both lanes restarted) that must not be taken while
no good model is loaded; then model B loaded at run time (no reset between; B's x
frames are queued as soon as its first load word is taken) and its 6 frames. Every
output equals the golden model of the model that was loaded, bit for bit: B's 8
frames (the 2 held ones first) are B's, although the refused checksum stream had
written a corrupted word. The Verilog passes ``verilator --lint-only``.
"""

import time
from pathlib import Path

import numpy as np
import pytest

from ese_hw.gateware.load import LoadError
from ese_hw.gateware.params import ChannelParams
from ese_hw.gateware.top import DEFAULT_Y_FIFO_DEPTH, AxisTop, x_stream_bytes, y_from_stream_bytes
from ese_hw.model.compress import Config, compress
from ese_hw.model.golden import GoldenModel
from ese_hw.model.images import model_entry_depth
from ese_hw.model.loadstream import byte_width, model_load_bytes
from ese_hw.model.lstmp import random_weights
from ese_hw.simulation.rtl import TOP_TB_MODULE, top_key
from ese_hw.simulation.runner import (
    SIMULATORS,
    build_design,
    generate_verilog,
    run_test,
    simulator_available,
    verilator_lint,
)
from ese_hw.simulation.testbenches.tb_top import read_top_out, refused_load_streams, top_tb_data

pytestmark = pytest.mark.sim

BUILD_ROOT = Path(__file__).resolve().parents[2] / "build" / "sim"
SHAPE = (8, 12, 6)
T = 6
HELD = 2                                   # B's frames offered while streams are refused


@pytest.fixture(scope="module")
def models():
    return [compress(random_weights(*SHAPE, seed=s), Config(n_pe=2, density=0.4))
            for s in (32, 35)]                  # seeds with equal Q formats


@pytest.fixture(scope="module")
def params(models):
    # Entry memories that hold either model: one build serves both.
    depth = max(model_entry_depth(m) for m in models)
    return ChannelParams.for_model(models[0], n_channels=2, entry_depth=depth)


def _top(params):
    return AxisTop(params=params)


@pytest.mark.parametrize("sim", SIMULATORS)
def test_two_models_through_axi_streams_with_pauses(sim, models, params, request):
    """Stays on cocotb: seven refused load streams and frames held while they are
    refused, each phase's status and held x checked from Python as it happens."""
    if not simulator_available(sim):
        pytest.skip(f"{sim} is not installed")
    goldens = [GoldenModel(m) for m in models]
    rng = np.random.default_rng(33)
    xs = [np.stack([g.quantize_inputs(rng.standard_normal((T, SHAPE[0])) * (1 + c))
                    for c in range(2)]) for g in goldens]
    # Model B's sequence: 2 frames offered while refused streams arrive, then 6.
    xs[1] = np.concatenate([np.stack([goldens[1].quantize_inputs(
        rng.standard_normal((HELD, SHAPE[0]))) for _ in range(2)]), xs[1]], axis=1)
    resets = [np.zeros((T, 2), bool), np.zeros((HELD + T, 2), bool)]
    resets[0][3, 1] = True                 # lane 1 restarts mid-sequence
    resets[1][0] = True                    # model B starts both lanes afresh
    masks = [[int(r[0]) | int(r[1]) << 1 for r in rs] for rs in resets]
    loads = [model_load_bytes(params, m) for m in models]
    other = compress(random_weights(*SHAPE, seed=32), Config(n_pe=3, density=0.4))
    other_params = ChannelParams.for_model(other, n_channels=2)
    assert byte_width(other_params.load_layout.size) == byte_width(params.load_layout.size)
    refused = refused_load_streams(params, loads[1],
                                   other=model_load_bytes(other_params, other))
    held = (x_stream_bytes(params, xs[1][:, :HELD]), masks[1][:HELD])
    phases = [(loads[0], x_stream_bytes(params, xs[0]), masks[0]),
              *[(blob, *(held if k == 0 else (b"", [])), code)
                for k, (_, blob, code) in enumerate(refused)],
              (loads[1], x_stream_bytes(params, xs[1][:, HELD:]), masks[1][HELD:])]

    t0 = time.perf_counter()
    build = build_design(sim, lambda: _top(params), "axis_top", BUILD_ROOT,
                         key=top_key(params, y_fifo_depth=DEFAULT_Y_FIFO_DEPTH),
                         progress=False)
    run = run_test(build, TOP_TB_MODULE, data=top_tb_data(params, phases, pause=0.3),
                   seed=34, progress=False)
    out = read_top_out(run.run_dir)
    request.node.user_properties.append(("wall_s", round(time.perf_counter() - t0, 2)))
    print(f"{sim}: build {build.seconds:.1f} s (cached {build.cached}), "
          f"simulation {run.test_seconds:.1f} s")

    answered = [0, len(phases) - 1]        # the phases whose streams load
    for k, g, x, rs in zip(answered, goldens, xs, resets, strict=True):
        y = y_from_stream_bytes(params, out["y_bytes"][k], x.shape[1])
        np.testing.assert_array_equal(y, g.run_channels(x, rs), err_msg=f"phase {k}")
        assert out["status"][k] == (1, 0, LoadError.NONE), f"phase {k}"
    for k, (name, _, code) in enumerate(refused, start=1):
        assert out["status"][k] == (0, 0, code), name
        assert out["held_x"][k] == 0 and out["y_bytes"][k] == b"", name
    # The two models really differ on these frames (B is not A's outputs again).
    assert not np.array_equal(goldens[0].run_channels(xs[1]), goldens[1].run_channels(xs[1]))
    assert out["frame_done"] == 2 * T + HELD
    assert out["x_tlast_error"] == 0


@pytest.mark.skipif(not simulator_available("verilator"), reason="verilator not installed")
def test_top_verilator_lint(params, tmp_path):
    path = generate_verilog(_top(params), "axis_top_lint", tmp_path)
    errors = verilator_lint(path, "axis_top_lint")
    assert not errors, "\n".join(errors[:20])
