"""``ese-hw run --engine rtl`` on a tiny model with Icarus: outputs, report, errors.

The model is tiny (8 inputs, 16 cells, 8 projections, 2 PEs) so a build takes seconds;
the build cache is shared by the tests of this module.
"""

import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ese_hw.cli import main
from ese_hw.model.compress import load_compressed
from ese_hw.model.golden import GoldenModel
from ese_hw.model.images import channel_images, load_words
from ese_hw.model.loadstream import HEADER_FIELDS
from ese_hw.model.lstmp import PLAIN_WEIGHT_KEYS, LSTMPWeights, random_weights
from ese_hw.model.stack import save_weight_stack
from ese_hw.simulation.runner import simulator_available

T = 5
#: The cocotb channel tests' build directory (tests/sim/test_channel_cocotb.py).
SHARED_BUILD = Path(__file__).resolve().parents[2] / "build" / "sim"
REPORT_KEYS = ("cycles_per_frame", "utilization", "clock_mhz", "latency_us", "gops",
               "dense_equiv_gops", "model_cycles_per_frame", "frames", "engine",
               "max_abs_error", "mean_abs_error", "bit_exact_vs_golden")

pytestmark = pytest.mark.skipif(not simulator_available("icarus"),
                                reason="icarus is not installed")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("rtl")
    f = SimpleNamespace(dir=d, weights=d / "w.npz", model=d / "m.npz", x=d / "x.npy",
                        x2=d / "x2.npy", build=d / "build")
    assert main(["init", str(f.weights), "--input", "8", "--cells", "16", "--proj", "8",
                 "--seed", "4"]) == 0
    assert main(["compress", str(f.weights), "-o", str(f.model), "--pes", "2",
                 "--density", "0.5"]) == 0
    rng = np.random.default_rng(9)
    np.save(f.x, rng.standard_normal((T, 8)))
    np.save(f.x2, rng.standard_normal((2, T, 8)))
    return f


def _rtl(files, *extra):
    return ["run", str(files.model), "--engine", "rtl", "--sim", "icarus",
            "--build-dir", str(files.build), *extra]


@pytest.mark.sim
def test_rtl_engine_equals_golden_with_report(files, tmp_path, capsys):
    y_path, rep = tmp_path / "y.npy", tmp_path / "r.json"
    assert main([*_rtl(files, "--inputs", str(files.x), "-o", str(y_path),
                       "--report", str(rep))]) == 0
    y = np.load(y_path)
    model = load_compressed(files.model)
    np.testing.assert_array_equal(y, GoldenModel(model).run(np.load(files.x)))
    r = json.loads(rep.read_text())
    for k in REPORT_KEYS:
        assert k in r, k
    assert r["engine"] == "rtl" and r["frames"] == T and r["bit_exact_vs_golden"] is True
    assert abs(r["cycles_per_frame"] - r["model_cycles_per_frame"]) <= 0.02 * r[
        "model_cycles_per_frame"]
    assert 0 < r["utilization"] <= 1
    assert r["clock_mhz"] == 200
    assert r["latency_us"] == pytest.approx(r["cycles_per_frame"] / 200)
    assert r["dense_equiv_gops"] > r["gops"] > 0
    assert "bit-exact vs golden: True" in capsys.readouterr().out


@pytest.mark.sim
@pytest.mark.parametrize("ew_share", [1, 2])
def test_rtl_engine_two_channels(files, tmp_path, ew_share):
    """Two lanes, each PE with its own element-wise unit or both PEs sharing one."""
    y_path, rep = tmp_path / "y.npy", tmp_path / "r.json"
    assert main([*_rtl(files, "--inputs", str(files.x2), "-o", str(y_path),
                       "--channels", "2", "--ew-share", str(ew_share),
                       "--report", str(rep))]) == 0
    r = json.loads(rep.read_text())
    assert r["ew_share"] == ew_share and r["bit_exact_vs_golden"] is True
    assert r["cycles_per_frame"] == r["model_cycles_per_frame"]
    y = np.load(y_path)
    assert y.shape == (2, T, 8)
    g = GoldenModel(load_compressed(files.model))
    x = np.load(files.x2)
    for ch in range(2):
        np.testing.assert_array_equal(y[ch], g.run(x[ch]))
    assert not np.array_equal(y[0], y[1])


@pytest.mark.parametrize("extra, which, message", [
    (["--channels", "0"], "x", "channels"),
    (["--channels", "2"], "x", r"\(T, I\) sequence feeds one channel"),
    (["--channels", "3"], "x2", "2 sequences"),
    ([], "x4", r"shape \(1, 2, 5, 8\)"),
    (["--queue-depth", "0"], "x", "queue depth"),
    (["--broadcast", "0"], "x", "--broadcast must be an integer in 1..16, got 0"),
    (["--broadcast", "17"], "x", "--broadcast must be an integer in 1..16, got 17"),
    (["--broadcast", "x"], "x", "--broadcast must be an integer, got 'x'"),
    (["--broadcast", "4"], "x", "broadcast width 4 must divide the PE count 2"),
    (["--sim", "modelsim"], "x", "icarus or verilator"),
    (["--clock-mhz", "0"], "x", r"--clock-mhz must be a number in 1\.\.1000, got 0"),
    (["--clock-mhz", "fast"], "x", "--clock-mhz must be a number, got 'fast'"),
])
def test_rtl_engine_errors(files, tmp_path, capsys, extra, which, message):
    if which == "x4":
        np.save(tmp_path / "x4.npy", np.zeros((1, 2, T, 8)))
        x = tmp_path / "x4.npy"
    else:
        x = getattr(files, which)
    y_path, rep = tmp_path / "y.npy", tmp_path / "r.json"
    capsys.readouterr()
    assert main([*_rtl(files, "--inputs", str(x), "-o", str(y_path), "--report", str(rep),
                       *extra)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("ese-hw: error: "), err
    assert re.search(message, err[0]), err[0]
    assert not y_path.exists() and not rep.exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".ese-hw-")]


def test_channels_needs_rtl_engine(files, tmp_path, capsys):
    assert main(["run", str(files.model), "--inputs", str(files.x), "-o",
                 str(tmp_path / "y.npy"), "--channels", "2"]) == 2
    assert "--channels needs --engine rtl" in capsys.readouterr().err
    assert main(["run", str(files.model), "--inputs", str(files.x), "-o",
                 str(tmp_path / "y.npy"), "--broadcast", "2"]) == 2
    assert "--broadcast needs --engine rtl" in capsys.readouterr().err
    # Given at all, even as "01" (which is 1), like --ew-share: only the rtl engine takes it.
    assert main(["run", str(files.model), "--inputs", str(files.x), "-o",
                 str(tmp_path / "y.npy"), "--broadcast", "01"]) == 2
    assert "--broadcast needs --engine rtl" in capsys.readouterr().err


@pytest.mark.sim
def test_rtl_engine_broadcast(files, tmp_path):
    """``--broadcast 2`` builds a K = 2 channel (loaded at run time with the grouped
    images): bit-exact, on the cycle model's cycles for K = 2. (At this tiny shape the
    PEs' entries, not the broadcast, bound a step, so K = 1 takes as long: the
    Amaranth-simulator tests show the cycles that K changes.)"""
    rep = tmp_path / "r.json"
    assert main([*_rtl(files, "--inputs", str(files.x), "-o", str(tmp_path / "y.npy"),
                       "--broadcast", "2", "--report", str(rep))]) == 0
    r = json.loads(rep.read_text())
    assert r["bit_exact_vs_golden"] is True and r["broadcast"] == 2
    assert r["cycles_per_frame"] == r["model_cycles_per_frame"]


@pytest.mark.sim
def test_rtl_engine_runs_a_plain_lstm_layer(tmp_path, capsys):
    """A plain LSTM layer (no W_ym, y = m rescaled) from its weights file through
    ``compress`` and ``run --engine rtl`` (two lanes, ``--broadcast 2 --ew-share 2``):
    bit-exact against golden, frames on the cycle model's cycles, no projection MACs
    counted. The model and options are tests/sim/test_channel_cocotb.py's plain-layer
    test's, built under the same directory, so the two share one Icarus build."""
    w = random_weights(6, 8, 8, seed=8)
    plain = LSTMPWeights.from_arrays({k: w[k] for k in PLAIN_WEIGHT_KEYS}, projection=False)
    weights, model_path, x = tmp_path / "w.npz", tmp_path / "m.npz", tmp_path / "x.npy"
    save_weight_stack(weights, [plain])
    assert main(["compress", str(weights), "-o", str(model_path), "--pes", "2",
                 "--density", "0.5"]) == 0
    np.save(x, np.random.default_rng(3).standard_normal((2, T, 6)))
    y_path, rep = tmp_path / "y.npy", tmp_path / "r.json"
    assert main(["run", str(model_path), "--engine", "rtl", "--sim", "icarus",
                 "--build-dir", str(SHARED_BUILD), "--channels", "2", "--broadcast", "2",
                 "--ew-share", "2", "--inputs", str(x), "-o", str(y_path),
                 "--report", str(rep)]) == 0
    model = load_compressed(model_path)
    assert not model.has_projection
    y = np.load(y_path)
    assert y.shape == (2, T, 8)
    golden = GoldenModel(model)
    for lane in range(2):
        np.testing.assert_array_equal(y[lane], golden.run(np.load(x)[lane]))
    r = json.loads(rep.read_text())
    assert r["bit_exact_vs_golden"] is True
    assert r["cycles_per_frame"] == r["model_cycles_per_frame"]
    gate_nonzeros = sum(int(np.count_nonzero(m)) for m in model.gate.weights())
    assert r["useful_macs_per_frame"] == gate_nonzeros
    assert "bit-exact vs golden: True" in capsys.readouterr().out


@pytest.mark.sim
def test_rtl_flow_runs_golden_and_images_once(files, monkeypatch):
    """One rtl run: one golden model (outputs and the cycle model's trace), one
    computation of the memory images (the load words of ``load.bin``)."""
    from ese_hw.flows import engines as flows
    from ese_hw.model import golden, images, loadstream
    from ese_hw.simulation import rtl

    made = {"golden": 0, "images": 0}
    run_channels = golden.GoldenModel.run_channels

    def counted_run_channels(self, *a, **k):       # every caller, the cycle model's too
        made["golden"] += 1
        return run_channels(self, *a, **k)

    def counted_images(model, broadcast=1):
        made["images"] += 1
        return images.channel_images(model, broadcast)

    monkeypatch.setattr(golden.GoldenModel, "run_channels", counted_run_channels)
    monkeypatch.setattr(flows, "channel_images", counted_images)
    monkeypatch.setattr(rtl, "channel_images", counted_images)
    monkeypatch.setattr(loadstream, "channel_images", counted_images)   # the native load
    model = load_compressed(files.model)
    run = flows.run_rtl_engine(model, np.load(files.x)[None], sim="icarus",
                               build_root=files.build, progress=False)
    assert run.report["bit_exact_vs_golden"] is True
    assert run.report["cycles_per_frame"] == run.report["model_cycles_per_frame"]
    assert made == {"golden": 1, "images": 1}


@pytest.mark.sim
def test_rtl_progress_counts_every_frame(files, capsys):
    """With progress on, the cocotb harness's line reaches T of T frames (reported by the
    testbench through the runner's pipe), and the native harness draws its own (it
    counts no frames: no Python runs in its loop); off, nothing is drawn."""
    from ese_hw.flows import engines as flows

    model = load_compressed(files.model)
    x = np.load(files.x)[None]
    flows.run_rtl_engine(model, x, sim="icarus", build_root=files.build, progress=True,
                         harness="cocotb")
    err = capsys.readouterr().err
    assert "channel: simulate on icarus" in err and f"{T}/{T} [" in err, err
    flows.run_rtl_engine(model, x, sim="icarus", build_root=files.build, progress=True)
    assert "axis_top: simulate on icarus (native)" in capsys.readouterr().err
    for harness in flows.RTL_HARNESSES:
        flows.run_rtl_engine(model, x, sim="icarus", build_root=files.build, progress=False,
                             harness=harness)
        assert capsys.readouterr().err == ""


@pytest.mark.sim
@pytest.mark.parametrize("preload", [True, False])
def test_cached_run_makes_no_channel(files, monkeypatch, preload):
    """The testbench data come from the channel's parameters (ChannelParams), so a run
    whose build is cached constructs no Channel at all, with or without baked-in images
    (the load words are packed from the params' layout)."""
    from ese_hw.gateware.channel import Channel
    from ese_hw.simulation.rtl import run_rtl

    model = load_compressed(files.model)
    g = GoldenModel(model)
    x_q = g.quantize_inputs(np.load(files.x))[None]
    want = g.run_quantized(x_q[0])[None]
    run_rtl(model, x_q, sim="icarus", build_root=files.build, preload=preload,
            expected=want, progress=False)                  # builds, or finds, the Verilog
    made = []

    def counting_new(cls, *args, **kwargs):
        made.append(cls)
        return super(Channel, cls).__new__(cls, *args, **kwargs)

    monkeypatch.setattr(Channel, "__new__", staticmethod(counting_new))
    res = run_rtl(model, x_q, sim="icarus", build_root=files.build, preload=preload,
                  expected=want, progress=False)
    assert res.cached and made == []
    np.testing.assert_array_equal(res.y, want)


# ---------------------------------------------------------------------------- run-time load

#: Seeds of two models of one configuration (8/16/8, 2 PEs, density 0.2) with the same
#: Q formats whose longest PEs need different entry words (118 and 120): sized exactly,
#: each would need its own build.
LOAD_SEEDS = (5, 8)


@pytest.fixture(scope="module")
def two_models():
    from ese_hw.model.compress import Config, compress
    from ese_hw.model.lstmp import random_weights

    return [compress(random_weights(8, 16, 8, seed=s), Config(n_pe=2, density=0.2))
            for s in LOAD_SEEDS]


def test_entry_capacity_rounds_to_whole_bram36():
    """The load build's entry memories hold the model's need rounded up to whole BRAM36s
    of the entry word; the paper-shape models of seeds 0 and 1 need 11,374 and 11,375
    words on their longest PE and share 12,288 (six BRAM36 of 2K x 18)."""
    from ese_hw.model.compress import Config, compress
    from ese_hw.model.images import model_entry_depth
    from ese_hw.model.lstmp import random_weights
    from ese_hw.simulation.rtl import bram36_words, entry_capacity

    assert [bram36_words(w) for w in (1, 9, 10, 16, 18, 19, 36, 48, 72, 100)] == \
        [32768, 4096, 2048, 2048, 2048, 1024, 1024, 512, 512, 512]
    models = [compress(random_weights(seed=s), Config(index_bits=6)) for s in (0, 1)]
    assert [model_entry_depth(m) for m in models] == [11374, 11375]
    assert [entry_capacity(m) for m in models] == [12288, 12288]


@pytest.mark.sim
def test_second_model_of_a_configuration_reuses_the_build(two_models, tmp_path, monkeypatch):
    """The rtl engine loads the model through the load stream: the build is keyed by the
    configuration, so a second model of it runs on the first one's build (the top is
    made once), and each model's outputs equal its own golden model."""
    from ese_hw.flows import engines as flows
    from ese_hw.simulation import rtl

    factory_calls = []
    build_top = rtl.AxisTop

    def counted(*args, **kwargs):
        factory_calls.append(1)
        return build_top(*args, **kwargs)

    monkeypatch.setattr(rtl, "AxisTop", counted)
    x = np.random.default_rng(10).standard_normal((1, T, 8))
    runs = [flows.run_rtl_engine(m, x, sim="icarus", build_root=tmp_path, progress=False)
            for m in two_models]
    assert factory_calls == [1]
    assert [r.report["build_cached"] for r in runs] == [False, True]
    assert runs[0].rtl.build_dir == runs[1].rtl.build_dir
    for model, run in zip(two_models, runs, strict=True):
        assert run.report["baked"] is False and run.report["entry_depth"] == 2048
        # Every word of the model plus the load stream's 4 header beats and its CRC beat.
        words = len(load_words(channel_images(model))) + len(HEADER_FIELDS) + 1
        assert run.report["load_cycles"] >= words
        assert run.report["cycles_per_frame"] == run.report["model_cycles_per_frame"]
        np.testing.assert_array_equal(run.y[0], GoldenModel(model).run(x[0]))
    assert not np.array_equal(runs[0].y, runs[1].y)


def test_load_refuses_a_model_bigger_than_the_entry_depth(two_models, tmp_path):
    from ese_hw.errors import EseError
    from ese_hw.simulation.rtl import run_rtl

    g = GoldenModel(two_models[1])
    x_q = g.quantize_inputs(np.zeros((1, 8)))[None]
    with pytest.raises(EseError, match="needs 120 entry words .* entry_depth 119"):
        run_rtl(two_models[1], x_q, sim="icarus", preload=False, entry_depth=119,
                build_root=tmp_path, progress=False)
    assert not list(tmp_path.iterdir())                 # refused before building


@pytest.mark.sim
def test_bake_keeps_the_images_in_the_verilog(files, tmp_path, capsys):
    """``--harness cocotb --bake``: the images are in the channel's Verilog (no load; its
    own build), the outputs still equal the golden model's."""
    y_path, rep = tmp_path / "y.npy", tmp_path / "r.json"
    assert main([*_rtl(files, "--inputs", str(files.x), "-o", str(y_path), "--bake",
                       "--harness", "cocotb", "--report", str(rep))]) == 0
    model = load_compressed(files.model)
    np.testing.assert_array_equal(np.load(y_path), GoldenModel(model).run(np.load(files.x)))
    r = json.loads(rep.read_text())
    assert r["baked"] is True and r["load_cycles"] == 0 and r["bit_exact_vs_golden"] is True
    assert "images baked in" in capsys.readouterr().out
    assert main([*_rtl(files, "--inputs", str(files.x), "-o", str(y_path),
                       "--report", str(rep))]) == 0
    loaded = json.loads(rep.read_text())
    assert loaded["baked"] is False and loaded["load_cycles"] > 0
    assert loaded["build_dir"] != r["build_dir"]
    assert "model loaded in" in capsys.readouterr().out


def test_clock_needs_the_rtl_engine(files, tmp_path, capsys):
    """Only the rtl engine counts cycles, so only it takes a clock."""
    y_path = tmp_path / "y.npy"
    assert main(["run", str(files.model), "--inputs", str(files.x), "-o", str(y_path),
                 "--engine", "golden", "--clock-mhz", "250"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["ese-hw: error: --clock-mhz needs --engine rtl (engine golden)"]
    assert not y_path.exists()


def test_bake_needs_the_rtl_engine(files, tmp_path, capsys):
    y_path = tmp_path / "y.npy"
    assert main(["run", str(files.model), "--inputs", str(files.x), "-o", str(y_path),
                 "--bake"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["ese-hw: error: --bake needs --engine rtl (engine default)"]


def test_bake_needs_the_cocotb_harness(files, tmp_path, capsys):
    """The native harness runs the top, which loads its model: baking is the channel's."""
    y_path = tmp_path / "y.npy"
    assert main([*_rtl(files, "--inputs", str(files.x), "-o", str(y_path), "--bake")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["ese-hw: error: --bake runs the channel through cocotb: add --harness cocotb"]
    assert not y_path.exists()


@pytest.mark.sim
def test_run_top_loads_the_model_and_equals_golden(two_models, tmp_path):
    """rtl.run_top: each model's load.bin through the AXI4-Stream top's s_axis_load,
    two lanes of frames with pauses on every interface and a lane restarted by TUSER;
    the outputs equal each model's golden model, and the second model runs on the first
    one's build."""
    from ese_hw.simulation.rtl import run_top

    rng = np.random.default_rng(12)
    resets = np.zeros((T, 2), bool)
    resets[2, 1] = True
    results = []
    for model in two_models:
        g = GoldenModel(model)
        x_q = np.stack([g.quantize_inputs(rng.standard_normal((T, 8))) for _ in range(2)])
        want = g.run_channels(x_q, resets)
        res = run_top(model, x_q, sim="icarus", resets=resets, expected=want, pause=0.3,
                      build_root=tmp_path, progress=False)
        np.testing.assert_array_equal(res.y, want)
        assert res.frames_done == T and res.load_beats > 0
        results.append(res)
    assert [r.cached for r in results] == [False, True]


# ---------------------------------------------------------------------------- stacks

@pytest.mark.sim
def test_rtl_engine_runs_a_two_layer_stack(tmp_path, monkeypatch):
    """A 2-layer LSTMP stack (weights file by save_weight_stack, compressed by the CLI)
    runs with both layers on chip, loaded through the stack's one load stream: bit-exact
    with the golden stack, frame_done on the cycle model's cycles."""
    from ese_hw.model.compress import load_compressed_stack
    from ese_hw.model.golden import GoldenStack
    from ese_hw.model.lstmp import random_weights
    from ese_hw.model.stack import save_weight_stack

    weights, model = tmp_path / "w.npz", tmp_path / "m.npz"
    save_weight_stack(weights, [random_weights(3, 8, 4, seed=1),
                                random_weights(4, 8, 4, seed=2)])
    assert main(["compress", str(weights), "-o", str(model), "--pes", "1",
                 "--density", "0.5"]) == 0
    x = np.random.default_rng(3).standard_normal((2, T, 3))
    np.save(tmp_path / "x.npy", x)
    y_path, rep = tmp_path / "y.npy", tmp_path / "r.json"
    # Every frame_done of the last layer on the stack cycle model's cycle (the rtl
    # engine's report only keeps their mean).
    from ese_hw.flows import engines as flows

    done = {}
    run_rtl_engine = flows.run_rtl_engine

    def recorded(*args, **kwargs):
        run = run_rtl_engine(*args, **kwargs)
        done.update(rtl=run.rtl.frame_done, model=run.model_frame_done)
        return run

    monkeypatch.setattr(flows, "run_rtl_engine", recorded)
    assert main(["run", str(model), "--engine", "rtl", "--sim", "icarus", "--channels", "2",
                 "--build-dir", str(tmp_path / "build"), "--inputs", str(tmp_path / "x.npy"),
                 "-o", str(y_path), "--report", str(rep)]) == 0
    golden = GoldenStack(load_compressed_stack(model))
    np.testing.assert_array_equal(np.load(y_path), np.stack([golden.run(s) for s in x]))
    r = json.loads(rep.read_text())
    assert r["layers"] == 2 and r["bit_exact_vs_golden"] is True and not r["baked"]
    assert r["cycles_per_frame"] == r["model_cycles_per_frame"]
    assert r["total_pes"] == 2             # one PE per layer
    np.testing.assert_array_equal(done["rtl"], done["model"])


@pytest.mark.sim
def test_rtl_mismatch_exits_1_and_writes_outputs(files, tmp_path, capsys, monkeypatch):
    """A broken build (its outputs one off at lane 0, frame 3, element 5) exits 1 with one
    line naming that place and the two values; y and the report are still written."""
    import dataclasses

    import ese_hw.flows.engines as engines

    real = engines.run_model_native

    def broken(*args, **kw):
        res = real(*args, **kw)
        y = res.y.copy()
        y[0, 3, 5] += 1
        return dataclasses.replace(res, y=y)

    monkeypatch.setattr(engines, "run_model_native", broken)
    y_path, rep = tmp_path / "y.npy", tmp_path / "r.json"
    capsys.readouterr()
    assert main([*_rtl(files, "--inputs", str(files.x), "-o", str(y_path),
                       "--report", str(rep))]) == 1
    out, err = capsys.readouterr()
    golden = GoldenModel(load_compressed(files.model))
    want = golden.run_quantized(golden.quantize_inputs(np.load(files.x)))
    err = err.splitlines()
    assert err == [f"ese-hw: error: RTL simulation on icarus: 1 of {T * 8} outputs differ "
                   f"from the golden model; first at lane 0, frame 3, element 5: RTL "
                   f"{want[3, 5] + 1}, golden {want[3, 5]}"]
    assert "bit-exact vs golden: False" in out
    r = json.loads(rep.read_text())
    assert r["bit_exact_vs_golden"] is False
    assert r["first_mismatch"] == {"lane": 0, "frame": 3, "element": 5,
                                   "rtl": int(want[3, 5]) + 1, "golden": int(want[3, 5]),
                                   "count": 1, "total": T * 8}
    y = np.load(y_path)                   # the RTL's outputs, written as they came
    assert y[3, 5] == (want[3, 5] + 1) / 2.0 ** golden.q["fa"]
    assert y[3, 4] == want[3, 4] / 2.0 ** golden.q["fa"]
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".ese-hw-")]
