"""The one function of performance figures, against values computed by hand."""

from types import SimpleNamespace

import numpy as np
import pytest

from ese_hw.model.compress import Config, compress
from ese_hw.model.cycles import channel_cycles
from ese_hw.model.figures import dense_macs, frame_figures, frame_interval, useful_macs
from ese_hw.model.golden import GoldenModel
from ese_hw.model.limits import DEFAULTS
from ese_hw.model.lstmp import random_weights


def _layer(n_in, n_cells, n_proj, *, gate_nnz, ym_nnz, n_pe):
    """A stand-in layer: ``gate_nnz`` / ``ym_nnz`` non-zero weights (``ym_nnz=None``: a
    plain layer, no ``W_ym``)."""
    def weights(nnz):
        w = np.zeros(64)
        w[:nnz] = 3
        return [w]

    return SimpleNamespace(
        n_in=n_in, n_cells=n_cells, n_proj=n_proj, has_projection=ym_nnz is not None,
        gate=SimpleNamespace(weights=lambda: weights(gate_nnz)),
        ym=SimpleNamespace(weights=lambda: weights(ym_nnz or 0)),
        config=SimpleNamespace(n_pe=n_pe))


LSTMP = _layer(8, 16, 4, gate_nnz=40, ym_nnz=10, n_pe=2)      # 50 useful MACs
PLAIN = _layer(4, 8, 8, gate_nnz=30, ym_nnz=None, n_pe=4)      # 30 useful MACs


def test_macs_by_hand():
    assert useful_macs(LSTMP) == 50 and useful_macs(PLAIN) == 30
    # 4H(I + P) + PH and, without a projection, 4H(I + H).
    assert dense_macs(LSTMP) == 4 * 16 * (8 + 4) + 4 * 16 == 832
    assert dense_macs(PLAIN) == 4 * 8 * (4 + 8) == 384


def test_interval_skips_frame_zero():
    assert frame_interval([100, 350, 600, 900]) == pytest.approx(800 / 3)
    assert frame_interval([123]) == 123.0


def test_one_layer_at_the_default_clock():
    f = frame_figures(LSTMP, n_channels=2, frame_done=[90, 340, 590, 840])
    assert f == pytest.approx({
        "clock_mhz": 200.0, "n_channels": 2, "total_pes": 2,
        "cycles_per_frame": 250.0, "latency_us": 1.25,     # one interval: batch 1
        "utilization": 50 / (2 * 250),
        "useful_macs_per_frame": 50, "dense_macs_per_frame": 832,
        # 2 ops per MAC, 2 lanes, one frame per 1.25 us: 160 MOPS = 0.16 GOPS.
        "gops": 2 * 50 * 2 / 1.25 / 1e3, "dense_equiv_gops": 2 * 832 * 2 / 1.25 / 1e3,
    })
    assert f["clock_mhz"] == DEFAULTS["clock_mhz"]


def test_the_clock_scales_times_and_throughput_only():
    at_200 = frame_figures(LSTMP, n_channels=1, frame_done=[0, 500, 1000])
    at_250 = frame_figures(LSTMP, n_channels=1, frame_done=[0, 500, 1000], clock_mhz=250)
    assert at_250["clock_mhz"] == 250 and at_250.keys() == at_200.keys()
    assert at_250["latency_us"] == pytest.approx(2.0)
    assert at_250["gops"] == pytest.approx(2 * 50 / 2.0 / 1e3)
    assert at_250["gops"] == pytest.approx(at_200["gops"] * 250 / 200)
    for k in ("cycles_per_frame", "utilization", "useful_macs_per_frame"):
        assert at_250[k] == at_200[k]


def test_a_stack_counts_every_layer_and_a_given_interval_and_pipeline_latency():
    f = frame_figures([LSTMP, PLAIN], n_channels=1, cycles_per_frame=400.0,
                      pipeline_latency_cycles=900.0, clock_mhz=100)
    assert f["total_pes"] == 6 and f["useful_macs_per_frame"] == 80
    assert f["dense_macs_per_frame"] == 832 + 384
    assert f["utilization"] == pytest.approx(80 / (6 * 400))
    # latency_us is one interval whoever calls; the measured pipeline latency has its
    # own keys, so one key never means two quantities.
    assert f["latency_us"] == pytest.approx(4.0)
    assert f["pipeline_latency_cycles"] == 900.0
    assert f["pipeline_latency_us"] == pytest.approx(9.0)
    # Throughput is per interval, whatever the latency.
    assert f["gops"] == pytest.approx(2 * 80 / 4.0 / 1e3)


@pytest.mark.parametrize("kw", [{}, {"frame_done": [1, 2], "cycles_per_frame": 1.0}])
def test_exactly_one_source_of_the_interval(kw):
    with pytest.raises(ValueError, match="exactly one"):
        frame_figures(LSTMP, n_channels=1, **kw)


def test_the_cycle_model_reports_them():
    """channel_cycles' figures are frame_figures' of its own frame_done (latency: its
    measured one), on a real compressed model."""
    model = compress(random_weights(8, 16, 8, seed=2), Config(n_pe=2, density=0.5))
    golden = GoldenModel(model)
    x_q = golden.quantize_inputs(np.random.default_rng(3).standard_normal((4, 8)))[None]
    cyc = channel_cycles(model, x_q, queue_depth=DEFAULTS["queue_depth"])
    f = frame_figures(model, n_channels=1, frame_done=cyc["frame_done"])
    assert cyc["cycles_per_frame"] == f["cycles_per_frame"]
    assert cyc["utilization"] == f["utilization"]
    assert cyc["useful_macs_per_frame"] == f["useful_macs_per_frame"]
    assert cyc["pipeline_latency_cycles"] > cyc["cycles_per_frame"] / 2
    assert "pipeline_latency_cycles" not in f
