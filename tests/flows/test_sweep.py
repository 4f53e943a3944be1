"""``ese-hw sweep``: a small grid through a real Dask ``LocalCluster``, resuming, outputs
against direct calls of the models and the estimate, and bad options.

One sweep (2 points of a tiny LSTMP, 2 worker processes, the smaller point re-run on
Verilator) is shared by the tests that read its outputs; a resumed sweep copies it.
"""

import csv
import json
import os
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from ese_hw.cli import build_parser, grid_from_sweep_args, main
from ese_hw.flows import plots, sweep
from ese_hw.flows.design import make_design
from ese_hw.flows.plots import PLOTS
from ese_hw.model.cycles import channel_cycles
from ese_hw.model.figures import frame_figures
from ese_hw.model.golden import GoldenModel

SHAPE = "8,16,8"
GRID = ["--shape", SHAPE, "--density", "0.5", "--pes", "1,2", "--channels", "2",
        "--index-bits", "4"]
FRAMES = 3
KEYS = ["pe1-ch2-ib4", "pe2-ch2-ib4"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _sweep_argv(out_dir, *extra):
    return ["sweep", *GRID, "--frames", str(FRAMES), "--workers", "2", "-o", str(out_dir),
            *extra]


def _one_error_line(capsys):
    _, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ese-hw: error: "), err
    return lines[0]


def _rows(out_dir):
    return json.loads((Path(out_dir) / "sweep.json").read_text())["points"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A finished 2-point sweep with the smaller point checked on Verilator."""
    out = tmp_path_factory.mktemp("sweep") / "run"
    t0 = time.perf_counter()
    assert main(_sweep_argv(out, "--rtl-check", "1")) == 0
    print(f"2-point sweep: {time.perf_counter() - t0:.1f} s")
    return out


def _direct(n_pe):
    """The figures of one point from direct calls (no Dask, no sweep code)."""
    from ese_hw.flows.estimate import estimate

    design = make_design(shape=(8, 16, 8), density=0.5, n_pe=n_pe, n_channels=2,
                         index_bits=4)
    model = design.model
    x = np.stack([np.random.default_rng((0, c)).standard_normal((FRAMES, model.n_in))
                  for c in range(2)])
    golden = GoldenModel(model)
    x_q = np.stack([golden.quantize_inputs(s) for s in x])
    cyc = channel_cycles(model, x_q, queue_depth=8)
    return (cyc, frame_figures(model, n_channels=2, frame_done=cyc["frame_done"]),
            estimate(design.params))


@pytest.mark.sim
@pytest.mark.synth
def test_outputs_match_direct_calls(swept):
    rows = _rows(swept)
    assert [r["key"] for r in rows] == KEYS
    with open(swept / "sweep.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["key"] for r in table] == KEYS
    for row, line in zip(rows, table, strict=True):
        cyc, perf, est = _direct(row["n_pe"])
        assert row["frame_done"] == [int(v) for v in cyc["frame_done"]]
        assert row["cycles_per_frame"] == pytest.approx(cyc["cycles_per_frame"])
        assert row["utilization"] == pytest.approx(cyc["utilization"])
        assert row["clock_mhz"] == 200
        assert row["latency_us"] == pytest.approx(cyc["cycles_per_frame"] / 200)
        assert row["gops"] == pytest.approx(perf["gops"])
        assert row["dense_equiv_gops"] == pytest.approx(perf["dense_equiv_gops"])
        for k in sweep.RESOURCES:
            assert row[k] == est[k]
            assert float(line[k]) == est[k]
            assert row[f"share_{k}"] == pytest.approx(est["share"][k])
        assert row["fits"] == est["fits"]
        assert line["fits"] == str(est["fits"])
        assert float(line["cycles_per_frame"]) == pytest.approx(row["cycles_per_frame"],
                                                               rel=1e-5)


@pytest.mark.sim
@pytest.mark.synth
def test_rtl_check_smallest_point(swept):
    first, second = _rows(swept)
    check = first["rtl_check"]
    assert check["sim"] == "verilator" and check["frames"] == FRAMES
    assert check["bit_exact_vs_golden"] is True
    assert check["cycles_equal_model"] is True
    assert check["rtl_cycles_per_frame"] == first["cycles_per_frame"]
    assert "rtl_check" not in second
    with open(swept / "sweep.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert (table[0]["rtl_bit_exact"], table[0]["rtl_cycles_equal"]) == ("True", "True")
    assert (table[1]["rtl_bit_exact"], table[1]["rtl_cycles_equal"]) == ("", "")


@pytest.mark.sim
@pytest.mark.synth
def test_files_and_plots(swept):
    assert sorted(p.name for p in (swept / "points").iterdir()) == [f"{k}.json" for k in KEYS]
    manifest = json.loads((swept / sweep.MANIFEST).read_text())
    assert manifest["settings"]["frames"] == FRAMES
    for name in PLOTS:
        data = (swept / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, name
    assert not [p for p in swept.rglob(".ese-hw-*")]


@pytest.mark.sim
@pytest.mark.synth
def test_resume_computes_only_missing_points(swept, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(swept, out)
    # The first point stays, marked so a recomputation would show; the second is lost
    # (as if the run was killed before it finished), leaving a stray temporary file.
    kept = json.loads((out / "points" / f"{KEYS[0]}.json").read_text())
    kept["seconds"] = -1.0
    (out / "points" / f"{KEYS[0]}.json").write_text(json.dumps(kept))
    (out / "points" / f"{KEYS[1]}.json").unlink()
    (out / "points" / ".ese-hw-half.tmp").write_text("{\"key\": ")
    for name in ("sweep.csv", "sweep.json", *PLOTS):
        (out / name).unlink()
    # What the command line's options above give (the manifest must match them).
    designs = [{"model_path": None, "shape": (8, 16, 8), "density": 0.5, "queue_depth": 8,
                "clock_mhz": 200.0, "n_pe": n, "n_channels": 2, "index_bits": 4}
               for n in (1, 2)]
    res = sweep.run_sweep(designs, out, frames=FRAMES, n_workers=1, rtl_check=1,
                          progress=False)
    assert res["computed"] == [KEYS[1]]
    assert res["reused"] == [KEYS[0]]
    assert res["rtl_checked"] == []                 # the kept point was already checked
    rows = _rows(out)
    assert rows[0]["seconds"] == -1.0
    fresh = _rows(swept)[1]
    assert {k: v for k, v in rows[1].items() if k != "seconds"} == \
        {k: v for k, v in fresh.items() if k != "seconds"}
    assert all((out / name).is_file() for name in PLOTS)


@pytest.mark.sim
@pytest.mark.synth
def test_other_settings_refused(swept, capsys):
    before = sorted(os.listdir(swept))
    assert main(["sweep", *GRID, "--frames", str(FRAMES + 1), "-o", str(swept)]) == 2
    line = _one_error_line(capsys)
    assert "other settings" in line and "frames" in line
    assert sorted(os.listdir(swept)) == before


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _small_argv(out_dir, extra=()):
    """A one-point sweep's options with ``extra`` (option, value) pairs replacing them."""
    options = {"--shape": SHAPE, "--density": "0.5", "--pes": "1", "--channels": "1",
               "--index-bits": "4",
               "--frames": "2", **dict(zip(extra[::2], extra[1::2], strict=True))}
    return ["sweep", *(a for kv in options.items() for a in kv), "-o", str(out_dir)]


@pytest.mark.parametrize("extra, message", [
    (["--pes", "0"], "--pes must be an integer >= 1, got 0"),
    (["--channels", "65"], "--channels must be an integer in 1..64, got 65"),
    (["--index-bits", "9"], "--index-bits must be an integer in 2..8, got 9"),
    (["--broadcast", "1,0"], "--broadcast must be an integer in 1..16, got 0"),
    (["--broadcast", "x"], "--broadcast must be an integer, got 'x'"),
    (["--broadcast", "1,2"], "--broadcast 2 must divide the PE count 1"),
    (["--frames", "0"], "--frames must be an integer in 1..1000000, got 0"),
    (["--margin", "1.5"], "--margin must be a number in (0, 1], got 1.5"),
    (["--rtl-check", "3"], "--rtl-check must be an integer in 0..1, got 3"),
    (["--scheduler", "CLOSED"], "no Dask scheduler answers"),
    (["--scheduler", "no-port"], "missing port number"),
])
def test_bad_options(tmp_path, capsys, extra, message):
    extra = [f"tcp://127.0.0.1:{_closed_port()}" if e == "CLOSED" else e for e in extra]
    t0 = time.perf_counter()
    assert main(_small_argv(tmp_path / "out", extra)) == 2
    # A scheduler that does not answer fails within seconds, not Dask's default 30 s.
    assert time.perf_counter() - t0 < 20
    assert message in _one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_model_given_as_option(tmp_path, capsys):
    missing = tmp_path / "missing.npz"
    assert main(_small_argv(tmp_path / "out", ["--model", str(missing)])) == 2
    assert "missing.npz" in _one_error_line(capsys)
    assert main([*_small_argv(tmp_path / "out", ["--model", str(missing)]), str(missing)]) == 2
    assert "give the model once" in _one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_existing_directory_that_is_not_a_sweep(tmp_path, capsys):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("keep me")
    assert main(["sweep", "--shape", SHAPE, "--density", "0.5", "--pes", "1",
                 "--channels", "1", "--frames", "2", "-o", str(d)]) == 2
    assert "not a sweep directory" in _one_error_line(capsys)
    assert os.listdir(d) == ["notes.txt"]


# ---------------------------------------------------------------------------- analysis

def _row(key, gops, latency, dsp, fits):
    return {"key": key, "gops": gops, "latency_us": latency, "DSP48E2": dsp, "fits": fits}


def test_broadcast_axis(tmp_path, monkeypatch):
    """``--broadcast`` is a list axis like ``--pes``: its points get their own keys, and
    a point's row is the cycle model of that K (the estimate stubbed: its key is the
    ChannelParams, which carry K)."""
    argv = ["--shape", SHAPE, "--density", "0.5", "--pes", "2,4", "--broadcast", "1,2",
            "--channels", "1", "--index-bits", "4"]
    args = build_parser().parse_args(["sweep", *argv, "-o", str(tmp_path / "s")])
    points = sweep._grid_points(grid_from_sweep_args(args))
    assert [k for k, _ in points] == ["pe2-ch1-ib4", "pe2-ch1-ib4-bc2", "pe4-ch1-ib4",
                                      "pe4-ch1-ib4-bc2"]
    seen = []
    monkeypatch.setattr(sweep, "_estimate_columns",
                        lambda params, settings: seen.append(params.broadcast) or {})
    settings = sweep.SweepSettings(design={"shape": (8, 16, 8), "density": 0.5},
                                   frames=FRAMES)
    row = sweep.run_point(points[3][1], settings)
    assert row["broadcast"] == 2 and row["key"] == "pe4-ch1-ib4-bc2" and seen == [2]
    design = make_design(shape=(8, 16, 8), density=0.5, n_pe=4, index_bits=4, broadcast=2)
    x = np.random.default_rng((0, 0)).standard_normal((FRAMES, 8))[None]
    x_q = GoldenModel(design.model).quantize_inputs(x[0])[None]
    want = channel_cycles(design.model, x_q, queue_depth=8, broadcast=2)["frame_done"]
    assert row["frame_done"] == [int(v) for v in want]


def test_pareto_front():
    rows = [_row("a", 10, 50, 100, True), _row("b", 20, 40, 200, True),
            _row("c", 15, 45, 250, True),      # dominated by b: more DSPs, fewer GOPS
            _row("d", 20, 30, 200, True),      # ties b on both: neither dominates
            _row("e", 40, 20, 900, False)]
    assert plots.pareto_front(rows, "DSP48E2", "gops") == [0, 1, 3, 4]
    assert plots.pareto_front(rows, "DSP48E2", "latency_us", maximize=False) == [0, 3, 4]


def test_best_fits_ignores_points_that_do_not_fit():
    rows = [_row("a", 10, 50, 100, True), _row("b", 30, 40, 200, True),
            _row("c", 20, 35, 300, True), _row("e", 40, 20, 900, False)]
    best = sweep.best_fits(rows)
    assert best["most_gops"]["key"] == "b"
    assert best["lowest_latency"]["key"] == "c"
    assert sweep.best_fits([rows[3]]) == {"most_gops": None, "lowest_latency": None}


def test_point_with_shared_cell_units(tmp_path, monkeypatch):
    """A point of G PEs per element-wise unit: its key and ``ew_share`` column, and the
    cycle model run with that G (slower than G = 1, so the check could fail). The
    estimate is stubbed (tests/flows/test_estimate.py checks the composition with cell units)."""
    monkeypatch.setattr(sweep, "_estimate_columns", lambda params, settings: {
        "LUT": params.ew_share})
    designs = [{"model_path": None, "shape": (8, 16, 8), "density": 0.5, "queue_depth": 8,
                "clock_mhz": 200.0, "n_pe": 2, "n_channels": 2, "ew_share": g,
                "index_bits": 4, "cache_dir": tmp_path} for g in (1, 2)]
    settings = sweep._settings(designs, frames=FRAMES, seed=0, margin=0.8,
                               cache_dir=tmp_path)
    points = [p for _, p in sweep._grid_points(designs)]
    alone, shared = (sweep.run_point(p, settings) for p in points)
    assert (alone["key"], shared["key"]) == ("pe2-ch2-ib4", "pe2-ch2-ib4-g2")
    assert (alone["ew_share"], shared["ew_share"], shared["LUT"]) == (1, 2, 2)
    model = make_design(shape=(8, 16, 8), density=0.5, n_pe=2, index_bits=4,
                        cache_dir=tmp_path).model
    golden = GoldenModel(model)
    x_q = np.stack([golden.quantize_inputs(s) for s in sweep.sweep_inputs(8, 2, FRAMES, 0)])
    want = channel_cycles(model, x_q, queue_depth=8, ew_share=2)["frame_done"]
    assert shared["frame_done"] == [int(v) for v in want]
    assert shared["cycles_per_frame"] > alone["cycles_per_frame"]
    sweep.write_tables(tmp_path, [alone, shared])
    with open(tmp_path / "sweep.csv", newline="") as f:
        assert [r["ew_share"] for r in csv.DictReader(f)] == ["1", "2"]


def test_point_of_a_stack(tmp_path, monkeypatch):
    """A 2-layer LSTMP model file sweeps like one layer: the point takes the model's PE
    count, the row is the stack's cycle model (every layer on chip), its MACs and PEs
    are both layers', and the estimate is asked for the stack's parameters (stubbed:
    tests/gateware/test_channel_stack.py checks how the stack's parts are found)."""
    from ese_hw.gateware.params import StackParams
    from ese_hw.model.compress import Config, compress_stack
    from ese_hw.model.cycles import stack_cycles
    from ese_hw.model.golden import GoldenStack
    from ese_hw.model.lstmp import random_weights

    stack = compress_stack([random_weights(3, 8, 4, seed=1), random_weights(4, 8, 4, seed=2)],
                           Config(n_pe=2, density=0.5))
    stack.save(tmp_path / "m.npz")
    seen = []
    monkeypatch.setattr(sweep, "_estimate_columns",
                        lambda params, settings: seen.append(params) or {"LUT": 1})
    designs = [{"model_path": tmp_path / "m.npz", "shape": None, "density": None,
                "queue_depth": 8, "clock_mhz": 200.0, "n_pe": None, "n_channels": 2,
                "index_bits": None, "cache_dir": tmp_path}]
    settings = sweep._settings(designs, frames=FRAMES, seed=0, margin=0.8, cache_dir=tmp_path)
    (key, point), = sweep._grid_points(designs)
    assert key == "pe2-ch2-ib4"
    row = sweep.run_point(point, settings)
    assert seen == [StackParams.for_stack(stack, n_channels=2)]
    golden = GoldenStack(stack)
    x_q = np.stack([golden.quantize_inputs(s) for s in sweep.sweep_inputs(3, 2, FRAMES, 0)])
    want = stack_cycles(stack, x_q, queue_depth=8)
    assert row["frame_done"] == [int(v) for v in want["frame_done"]]
    assert row["useful_macs_per_frame"] == want["useful_macs_per_frame"]
    assert row["utilization"] == pytest.approx(want["utilization"])


def test_rtl_check_mismatch_exits_1(tmp_path, capsys, monkeypatch):
    """A point whose RTL differs from the golden model: the check records where, and
    ``ese-hw sweep --rtl-check`` prints its table, then exits 1 with one line naming the
    point, lane, frame and element (the RTL engine stubbed: no simulator build)."""
    from types import SimpleNamespace

    from ese_hw.flows.engines import EngineRun

    mismatch = {"lane": 1, "frame": 2, "element": 3, "rtl": 5, "golden": 4, "count": 2,
                "total": 48}

    def broken(model, x, **kw):
        report = {"frames": FRAMES, "bit_exact_vs_golden": False, "first_mismatch": mismatch,
                  "cycles_per_frame": 10.0, "model_cycles_per_frame": 10.0,
                  "build_seconds": 0.0, "sim_seconds": 0.0}
        return EngineRun(np.zeros(1), report, SimpleNamespace(frame_done=np.arange(3)),
                         np.arange(3))

    monkeypatch.setattr(sweep, "run_rtl_engine", broken)
    settings = sweep.SweepSettings(design={"shape": (8, 16, 8), "density": 0.5},
                                   frames=FRAMES)
    check = sweep.run_rtl_check({"n_pe": 1, "n_channels": 2, "index_bits": 4}, settings,
                                tmp_path)
    assert check["bit_exact_vs_golden"] is False and check["first_mismatch"] == mismatch
    row = {"key": "pe1-ch2-ib4", "rtl_check": check}
    monkeypatch.setattr(sweep, "run_sweep", lambda designs, out_dir, **kw: {"rows": [row]})
    monkeypatch.setattr(sweep, "format_summary", lambda result, out_dir: "the table")
    capsys.readouterr()
    assert main(_sweep_argv(tmp_path / "s", "--rtl-check", "1")) == 1
    out, err = capsys.readouterr()
    assert out == "the table\n"
    assert err.splitlines() == [
        "ese-hw: error: point pe1-ch2-ib4: RTL simulation on verilator: 2 of 48 outputs "
        "differ from the golden model; first at lane 1, frame 2, element 3: RTL 5, golden 4"]
    exact = {**check, "bit_exact_vs_golden": True, "first_mismatch": None}
    assert sweep.rtl_mismatch([{**row, "rtl_check": exact}]) is None
    # Bit-exact but off the cycle model's cycles is a failed check too.
    late = {**exact, "cycles_equal_model": False, "rtl_cycles_per_frame": 11.5}
    assert str(sweep.rtl_mismatch([{**row, "rtl_check": late}])) == (
        "point pe1-ch2-ib4: RTL simulation on verilator: frame_done cycles differ from the "
        "cycle model (11.50 against 10.00 cycles per frame)")
