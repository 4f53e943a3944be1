"""The ``ese-hw`` command, in process through ``main([...])`` on a small model.

Every user error must be one stderr line ``ese-hw: error: ...`` naming the
problem, exit status 2, and leave no output file (nor a stray temporary file).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ese_hw.cli import main
from ese_hw.model.compress import load_compressed
from ese_hw.model.golden import GoldenModel
from ese_hw.model.lstmp import WEIGHT_KEYS, lstmp_float
from ese_hw.model.stack import load_weights
from tests.cli_expect import assert_one_line_error
from tests.shared_designs import SMALL_DESIGN

N_IN, N_CELLS, N_PROJ = 16, 64, 32
SHAPE = ["--input", str(N_IN), "--cells", str(N_CELLS), "--proj", str(N_PROJ)]
CFG = ["--pes", "4", "--density", "0.25"]
T = 12
# Golden vs float on this model: measured max abs error 0.0044 (max |y| ~1.2) at
# 12/16 bits; the bound leaves room for other seeds and LUT sizes, not for a bug.
GOLDEN_TOL = 0.03


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    f = SimpleNamespace(dir=d, weights=d / "w.npz", model=d / "m.npz", x=d / "x.npy")
    assert main(["init", str(f.weights), *SHAPE, "--seed", "3"]) == 0
    assert main(["compress", str(f.weights), "-o", str(f.model), *CFG]) == 0
    np.save(f.x, np.random.default_rng(5).standard_normal((T, N_IN)))
    return f


def _one_error_line(code, capsys):
    """The error line of a command that returned ``code`` (checked: 2, bad input)."""
    return assert_one_line_error(code, capsys.readouterr().err)


def _read_json(path):
    return json.loads(Path(path).read_text())


# ---------------------------------------------------------------------------- happy path

def test_init_writes_requested_shape(tmp_path, capsys):
    path = tmp_path / "w.npz"
    assert main(["init", str(path), *SHAPE, "--seed", "7"]) == 0
    w = load_weights(path)
    assert (w.n_in, w.n_cells, w.n_proj) == (N_IN, N_CELLS, N_PROJ)
    assert str(path) in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ["w.npz"]          # no temporary left behind


def test_compress_report_and_table(files, tmp_path, capsys):
    out, rep = tmp_path / "m.npz", tmp_path / "r.json"
    assert main(["compress", str(files.weights), "-o", str(out), *CFG,
                 "--index-bits", "3", "--report", str(rep)]) == 0
    text = capsys.readouterr().out
    r = _read_json(rep)
    for key in ("nnz_total", "padding_total", "pe_nnz_min", "pe_nnz_max",
                "compression_ratio", "matrix_compression_ratio", "matrices", "spmv",
                "config", "qformats"):
        assert key in r, key
    assert r["config"]["n_pe"] == 4 and r["config"]["index_bits"] == 3
    assert set(r["qformats"]) == {"fw_g", "fw_y", "fp", "fa", "fc", "fg"}
    assert r["pe_nnz_max"] - r["pe_nnz_min"] <= 1                  # balance "pe"
    assert r["nnz_total"] == sum(m["nnz"] for m in r["matrices"].values())
    model = load_compressed(out)
    assert model.stats["nnz_total"] == r["nnz_total"]
    # The table names every matrix, both SpMVs and the headline figures.
    for word in ("W_ix", "W_ym", "gate", "ym", "padding", "compression", "Q formats",
                 f"{r['compression_ratio']:.2f}x", str(r["padding_total"])):
        assert word in text, word


def test_compress_warns_when_column_balance_drops_columns(files, tmp_path, capsys):
    # W_ym is 32 x 64: 8 rows per PE on 4 PEs, and 0.1 x 8 < 1, so column balance keeps
    # nothing in some of its columns in every PE; the gate matrices (16 rows per PE) keep
    # every column. Under pe balance the same density drops no W_ym column.
    for balance, warned in (("column", True), ("pe", False)):
        out, rep = tmp_path / f"{balance}.npz", tmp_path / f"{balance}.json"
        assert main(["compress", str(files.weights), "-o", str(out), "--pes", "4",
                     "--density", "0.1", "--balance", balance, "--report", str(rep)]) == 0
        err = capsys.readouterr().err
        empty = _read_json(rep)["matrices"]["W_ym"]["empty_columns"]
        assert (empty > 0) == warned, (balance, empty)
        lines = [line for line in err.splitlines() if "warning" in line]
        if warned:
            assert len(lines) == 1 and "W_ym" in lines[0], err
            assert f"{empty} of {N_CELLS} columns" in lines[0] and "0.1 x 8" in lines[0]
        else:
            assert not lines, err


def test_compress_is_deterministic(files, tmp_path):
    outs = []
    for k in range(2):
        out, rep = tmp_path / f"m{k}.npz", tmp_path / f"r{k}.json"
        assert main(["compress", str(files.weights), "-o", str(out), *CFG,
                     "--report", str(rep)]) == 0
        outs.append((out, rep))
    assert outs[0][1].read_bytes() == outs[1][1].read_bytes()
    with np.load(outs[0][0]) as a, np.load(outs[1][0]) as b:
        assert a.files == b.files
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_compress_uses_calibration_inputs(files, tmp_path):
    # 8x larger inputs must lower the activation format by 3 fractional bits.
    calib = tmp_path / "c.npy"
    np.save(calib, 8 * np.load(files.x))
    for name, extra in (("plain", []), ("calib", ["--calib", str(calib)])):
        assert main(["compress", str(files.weights), "-o", str(tmp_path / f"{name}.npz"),
                     *CFG, "--report", str(tmp_path / f"{name}.json"), *extra]) == 0
    plain, cal = _read_json(tmp_path / "plain.json"), _read_json(tmp_path / "calib.json")
    assert cal["calibration"]["frames"] == T
    assert cal["qformats"]["fa"] < plain["qformats"]["fa"]


def test_run_golden(files, tmp_path, capsys):
    y_path, rep = tmp_path / "y.npy", tmp_path / "r.json"
    assert main(["run", str(files.model), "--inputs", str(files.x), "-o", str(y_path),
                 "--engine", "golden", "--report", str(rep)]) == 0
    y = np.load(y_path)
    assert y.shape == (T, N_PROJ) and y.dtype == np.float64
    model = load_compressed(files.model)
    x = np.load(files.x)
    np.testing.assert_array_equal(y, GoldenModel(model).run(x))
    ref = lstmp_float(model.float_weights, x)
    r = _read_json(rep)
    assert r["frames"] == T and r["engine"] == "golden"
    assert r["max_abs_error"] == pytest.approx(np.abs(y - ref).max())
    assert r["mean_abs_error"] == pytest.approx(np.abs(y - ref).mean())
    assert r["max_abs_output"] == pytest.approx(np.abs(y).max())
    assert 0 < r["max_abs_error"] < GOLDEN_TOL
    assert "golden" in capsys.readouterr().out


def test_run_default_engine_is_golden_on_a_model(files, tmp_path):
    rep = tmp_path / "r.json"
    assert main(["run", str(files.model), "--inputs", str(files.x), "-o",
                 str(tmp_path / "y.npy"), "--report", str(rep)]) == 0
    assert _read_json(rep)["engine"] == "golden"


@pytest.mark.parametrize("which", ["weights", "model"])
def test_run_float(files, tmp_path, which):
    y_path, rep = tmp_path / "y.npy", tmp_path / "r.json"
    src = files.weights if which == "weights" else files.model
    assert main(["run", str(src), "--inputs", str(files.x), "-o", str(y_path),
                 "--engine", "float", "--report", str(rep)]) == 0
    w = load_weights(files.weights) if which == "weights" else \
        load_compressed(files.model).float_weights
    np.testing.assert_array_equal(np.load(y_path), lstmp_float(w, np.load(files.x)))
    r = _read_json(rep)
    assert r["engine"] == "float" and r["frames"] == T and "max_abs_error" not in r


#: A tiny design for the demo's test: the paper's demo builds the 32-PE top in Verilator
#: (minutes) and runs Yosys on it; here every step runs for real, on Icarus and small.
#: The sweep's one point is the design itself, whose estimate step 4 has cached: a
#: Yosys run costs ~100 s even this small (the three 4096-entry lookup tables), and
#: tests/flows/test_sweep.py sweeps more points. The design is tests/flows/test_estimate.py's too
#: (tests/shared_designs.py), so the session synthesizes its parts once.
TINY_DEMO = dict(**SMALL_DESIGN, sweep_grid={"n_pe": (2,), "n_channels": (1,),
                                             "index_bits": (6,)})


@pytest.mark.sim
@pytest.mark.synth
@pytest.mark.slow
def test_demo_end_to_end_on_a_tiny_design(tmp_path, capsys, monkeypatch):
    """`ese-hw demo`: compress, the generated tree with load.bin, that load.bin through
    the AXI top in RTL (bit-exact), the estimate, a sweep on a Dask LocalCluster, and
    the summary table next to ESE's figures, with the plots' paths."""
    import functools

    from ese_hw.flows import demo
    from ese_hw.flows.engines import ESE_FIGURES
    from ese_hw.simulation.runner import simulator_available

    if not simulator_available("icarus"):
        pytest.skip("icarus is not installed")
    monkeypatch.setattr(demo, "run_demo", functools.partial(
        demo.run_demo, **TINY_DEMO, build_root=tmp_path / "rtl",
        cache_dir=tmp_path / "models"))
    d = tmp_path / "demo"
    assert main(["demo", "--frames", "6", "--rtl-frames", "3", "--sim", "icarus",
                 "--out", str(d)]) == 0
    out = capsys.readouterr().out
    r = _read_json(d / "report.json")
    assert {"ese_top.v", "load.bin", "config.json"} <= set(os.listdir(d / "xcku060"))
    assert r["rtl"]["bit_exact_vs_golden"] is True and r["rtl"]["frames"] == 3
    assert r["rtl"]["cycle_exact_vs_model"] is True and r["rtl"]["harness"] == "native"
    assert r["rtl"]["sim_cycles"] > r["rtl"]["load_beats"] > 0
    golden = GoldenModel(load_compressed(r["model"]))
    x = np.random.default_rng(0).standard_normal((6, 8))      # the demo's seeded frames
    np.testing.assert_array_equal(np.load(d / "y_rtl.npy"),
                                  golden.run_quantized(golden.quantize_inputs(x[:3])))
    assert r["golden_vs_float"]["max_abs_error"] < GOLDEN_TOL
    points = _read_json(d / "sweep" / "sweep.json")["points"]
    assert [(row["n_pe"], row["LUT"]) for row in points] == [(2, r["estimate"]["LUT"])]
    assert r["files"]["plots"] and all(os.path.isfile(p) for p in r["files"]["plots"])
    names = [row[0] for row in r["summary"]]
    assert names == ["latency per frame (us)", "GOPS, sparse", "LUT", "FF", "DSP48E2",
                     "BRAM36"]
    assert [row[3] for row in r["summary"]] == [ESE_FIGURES[k] for k in (
        "latency_us", "gops", "LUT", "FF", "DSP48E2", "BRAM36")]
    assert r["summary"][2][1] == r["estimate"]["LUT"] > 0
    tail = out[out.index("== summary"):]
    assert "ESE (FPGA17)" in tail and "82.70" in tail and "293,920" in tail
    assert all(p in tail for p in r["files"]["plots"])


def test_demo_rtl_frame_done_off_its_cycle_is_a_mismatch(tmp_path, monkeypatch):
    """The demo's RTL step, given the right outputs but one ``frame_done`` a cycle late
    (run_top stubbed), raises a MismatchError naming the frame and both cycles."""
    from ese_hw.errors import MismatchError
    from ese_hw.flows import demo
    from ese_hw.flows.design import make_design
    from ese_hw.model.cycles import stack_cycles
    from ese_hw.simulation.rtl import TopResult

    design = make_design(shape=(8, 16, 8), density=0.5, n_pe=2, cache_dir=tmp_path / "m")
    x = np.random.default_rng(0).standard_normal((3, 8))
    g = GoldenModel(design.model)
    x_q = g.quantize_inputs(x)[None]
    done = stack_cycles(design.model, x_q, queue_depth=design.params.queue_depth)["frame_done"]
    late = done + 100
    late[2] += 1
    monkeypatch.setattr(demo, "run_top", lambda *a, **kw: TopResult(
        y=g.run_channels(x_q), sim="icarus", build_dir=tmp_path, cached=True,
        build_seconds=0.0, sim_seconds=1.0, load_beats=99, frames_done=3,
        harness="native", sim_cycles=int(late[-1]) + 10, frame_done=late, first_x=100))
    (tmp_path / "load.bin").write_bytes(b"")
    with pytest.raises(MismatchError, match=(
            rf"AXI4-Stream top on icarus: frame 2 done at cycle {done[2] + 1}, the cycle "
            rf"model says {done[2]}$")):
        demo._rtl(lambda line: None, design, x, tmp_path, tmp_path, rtl_frames=3,
                  sim="icarus", build_root=tmp_path, progress=False)


def test_demo_rtl_mismatch_exits_1(tmp_path, capsys, monkeypatch):
    """The demo's RTL step, given outputs that differ from the golden model (run_top
    stubbed: no simulator build), writes them and raises the one-line MismatchError;
    `ese-hw demo` turns it into exit 1."""
    from ese_hw.errors import MismatchError
    from ese_hw.flows import demo
    from ese_hw.flows.design import make_design
    from ese_hw.simulation.rtl import TopResult

    design = make_design(shape=(8, 16, 8), density=0.5, n_pe=2, cache_dir=tmp_path / "m")
    x = np.random.default_rng(0).standard_normal((3, 8))
    g = GoldenModel(design.model)
    want = g.run_channels(g.quantize_inputs(x)[None])
    wrong = want.copy()
    wrong[0, 1, 2] -= 1
    monkeypatch.setattr(demo, "run_top", lambda *a, **kw: TopResult(
        y=wrong, sim="icarus", build_dir=tmp_path, cached=True, build_seconds=0.0,
        sim_seconds=0.0, load_beats=0, frames_done=3))
    (tmp_path / "load.bin").write_bytes(b"")
    with pytest.raises(MismatchError, match=(
            r"AXI4-Stream top on icarus: 1 of 24 outputs differ from the golden model; "
            rf"first at lane 0, frame 1, element 2: RTL {wrong[0, 1, 2]}, golden "
            rf"{want[0, 1, 2]}$")) as e:
        demo._rtl(lambda line: None, design, x, tmp_path, tmp_path, rtl_frames=3,
                  sim="icarus", build_root=tmp_path, progress=False)
    np.testing.assert_array_equal(np.load(tmp_path / "y_rtl.npy"), wrong[0])

    def failing(out_dir, **kw):
        raise e.value

    monkeypatch.setattr(demo, "run_demo", failing)
    capsys.readouterr()
    assert main(["demo", "--out", str(tmp_path / "d")]) == 1
    assert capsys.readouterr().err.splitlines() == [f"ese-hw: error: {e.value}"]


def test_usage_errors_exit_2(capsys):
    assert main([]) == 2
    assert main(["compress", "w.npz"]) == 2                      # -o missing
    assert main(["run", "m.npz", "--inputs", "x.npy", "-o", "y.npy", "--engine", "rtlx"]) == 2
    assert main(["--help"]) == 0
    capsys.readouterr()


# ---------------------------------------------------------------------------- bad input

def _weights_arrays(files):
    with np.load(files.weights) as f:
        return {k: f[k] for k in f.files}


def _model_arrays(files):
    with np.load(files.model) as f:
        return {k: f[k] for k in f.files}


def _save_npz(path, arrays):
    np.savez(path, **arrays)
    return str(path)


def _bad_weights(mutate):
    def make(files, tmp):
        a = _weights_arrays(files)
        mutate(a)
        return _save_npz(tmp / "bad.npz", a)
    return make


def _bad_model(mutate):
    def make(files, tmp):
        a = _model_arrays(files)
        mutate(a)
        return _save_npz(tmp / "bad.npz", a)
    return make


def _set(key, value):
    def mutate(a):
        a[key] = value(a[key]) if callable(value) else value
    return mutate


def _nan(a):
    a["W_cr"] = a["W_cr"].copy()
    a["W_cr"][3, 4] = np.nan


def _meta(edit):
    def mutate(a):
        meta = json.loads(str(a["meta"]))
        edit(meta)
        a["meta"] = np.array(json.dumps(meta))
    return mutate


def _random_bytes(files, tmp):
    p = tmp / "rand.npz"
    p.write_bytes(np.random.default_rng(0).bytes(4000))
    return str(p)


def _truncated(src):
    def make(files, tmp):
        data = getattr(files, src).read_bytes()
        p = tmp / "trunc.npz"
        p.write_bytes(data[: len(data) // 2])
        return str(p)
    return make


def _damaged_member(files, tmp):
    # Flip bytes inside the first member's compressed data: the zip directory is
    # intact, so np.load succeeds and the damage shows while reading (zlib.error).
    import zipfile
    data = bytearray(files.weights.read_bytes())
    with zipfile.ZipFile(files.weights) as z:
        info = z.infolist()[0]
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 5, start + info.compress_size - 5):
        data[i] ^= 0xA5
    p = tmp / "damaged.npz"
    p.write_bytes(bytes(data))
    return str(p)


def _directory(files, tmp):
    (tmp / "adir.npz").mkdir()
    return str(tmp / "adir.npz")


def _missing(files, tmp):
    return str(tmp / "nonexistent.npz")


def _weights(files, tmp):
    return str(files.weights)


def _model(files, tmp):
    return str(files.model)


COMPRESS_ERRORS = {
    # name: (weights maker, extra args, words the message must contain)
    "missing key": (_bad_weights(lambda a: a.pop("W_ym")), [], "missing key 'W_ym'"),
    "wrong shape": (_bad_weights(_set("W_fx", np.zeros((N_CELLS, N_IN - 1)))), [],
                    "W_fx has shape"),
    "wrong vector shape": (_bad_weights(_set("b_o", np.zeros(N_CELLS + 1))), [],
                           "b_o has shape"),
    "extra key": (_bad_weights(_set("W_zz", np.zeros(3))), [], "unexpected key 'W_zz'"),
    "string dtype": (_bad_weights(_set("W_ic", np.array(["a"] * N_CELLS))), [],
                     "W_ic has non-real dtype"),
    "nan in weights": (_bad_weights(_nan), [], "W_cr contains NaN"),
    "random bytes": (_random_bytes, [], "not a readable .npz"),
    "truncated npz": (_truncated("weights"), [], "not a readable .npz"),
    "damaged member": (_damaged_member, [], "not a readable .npz"),
    "missing file": (_missing, [], "nonexistent.npz: no such file"),
    "directory": (_directory, [], "is a directory"),
    "compressed model as weights": (_model, [], "a compressed model, expected float weights"),
    "density 0": (_weights, ["--density", "0"], "density must be in (0, 1]"),
    "density 1.5": (_weights, ["--density", "1.5"], "density must be in (0, 1]"),
    "density nan": (_weights, ["--density", "nan"], "density must be in (0, 1]"),
    "pes 0": (_weights, ["--pes", "0"], "PE count"),
    "weight bits 1": (_weights, ["--weight-bits", "1"], "weight bits"),
    "weight bits 40": (_weights, ["--weight-bits", "40"], "weight bits"),
    "index bits 1": (_weights, ["--index-bits", "1"], "index bits"),
    "index bits 9": (_weights, ["--index-bits", "9"], "index bits"),
    "act bits 3": (_weights, ["--act-bits", "3"], "activation bits"),
    "act bits 25": (_weights, ["--act-bits", "25"], "activation bits"),
    "accum bits below w+a": (_weights, ["--accum-bits", "20"], "accumulator bits"),
    "accum bits 70": (_weights, ["--accum-bits", "70"], "accumulator bits"),
    "balance": (_weights, ["--balance", "rows"], "balance must be one of"),
}


@pytest.mark.parametrize("case", list(COMPRESS_ERRORS))
def test_compress_errors(files, tmp_path, capsys, case):
    make, extra, words = COMPRESS_ERRORS[case]
    src = make(files, tmp_path)
    before = set(os.listdir(tmp_path))
    out, rep = tmp_path / "out.npz", tmp_path / "r.json"
    code = main(["compress", src, "-o", str(out), *CFG, *extra, "--report", str(rep)])
    line = _one_error_line(code, capsys)
    assert words in line
    assert set(os.listdir(tmp_path)) == before            # no output, no temporary


def _npy(array_fn):
    def make(files, tmp):
        p = tmp / "in.npy"
        np.save(p, array_fn(np.load(files.x)))
        return str(p)
    return make


def _inf(x):
    x = x.copy()
    x[2, 3] = np.inf
    return x


def _pickled_npy(files, tmp):
    p = tmp / "obj.npy"
    np.save(p, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    return str(p)


def _npz_as_npy(files, tmp):
    p = tmp / "in.npy"
    with open(p, "wb") as f:
        np.savez(f, x=np.load(files.x))
    return str(p)


CALIB_ERRORS = {
    "calib wrong shape": (_npy(lambda x: x[:, :-1]), f"expected (T, {N_IN})"),
    "calib inf": (_npy(_inf), "NaN or Inf"),
    "calib pickled": (_pickled_npy, "not a readable .npy"),
}


@pytest.mark.parametrize("case", list(CALIB_ERRORS))
def test_compress_calib_errors(files, tmp_path, capsys, case):
    make, words = CALIB_ERRORS[case]
    calib = make(files, tmp_path)
    before = set(os.listdir(tmp_path))
    code = main(["compress", str(files.weights), "-o", str(tmp_path / "o.npz"), *CFG,
                 "--calib", calib])
    assert words in _one_error_line(code, capsys)
    assert set(os.listdir(tmp_path)) == before


def _x(files, tmp):
    return str(files.x)


RUN_ERRORS = {
    # name: (model maker, inputs maker, extra args, words)
    "inf in inputs": (_model, _npy(_inf), [], "contains NaN or Inf"),
    "nan in inputs": (_model, _npy(lambda x: x * np.nan), [], "contains NaN or Inf"),
    "inputs too narrow": (_model, _npy(lambda x: x[:, :-1]), [], f"expected (T, {N_IN})"),
    "inputs 1-D": (_model, _npy(lambda x: x[0]), [], f"expected (T, {N_IN})"),
    "inputs 3-D": (_model, _npy(lambda x: x[None]), [], f"expected (T, {N_IN})"),
    "inputs no frames": (_model, _npy(lambda x: x[:0]), [], "no frames"),
    "inputs complex": (_model, _npy(lambda x: x + 1j), [], "non-real dtype"),
    "inputs pickled": (_model, _pickled_npy, [], "not a readable .npy"),
    "inputs random bytes": (_model, _random_bytes, [], "not a readable .npy"),
    "inputs are a npz": (_model, _npz_as_npy, [], "a .npz archive, expected"),
    "inputs missing": (_model, _missing, [], "nonexistent.npz: no such file"),
    "inputs on float weights": (_weights, _npy(_inf), ["--engine", "float"], "NaN or Inf"),
    "golden on weights": (_weights, _x, ["--engine", "golden"], "compress` first"),
    "ew-share without rtl": (_model, _x, ["--ew-share", "2"], "--ew-share needs --engine rtl"),
    "ew-share 0": (_model, _x, ["--engine", "rtl", "--ew-share", "0"],
                   "--ew-share must be an integer >= 1, got 0"),
    "ew-share x": (_model, _x, ["--engine", "rtl", "--ew-share", "x"],
                   "--ew-share must be an integer, got 'x'"),
    "ew-share not dividing": (_model, _x, ["--engine", "rtl", "--ew-share", "3"],
                              "--ew-share 3 must divide the PE count"),
    "model missing": (_missing, _x, [], "nonexistent.npz: no such file"),
    "model random bytes": (_random_bytes, _x, [], "not a readable .npz"),
    "model is a npy": (_x, _x, [], "not a .npz archive"),
    "model truncated": (_truncated("model"), _x, [], "not a readable .npz"),
    "meta not json": (_bad_model(_set("meta", np.array("{not json"))), _x, [],
                      "corrupted metadata"),
    "meta numbers": (_bad_model(_set("meta", np.arange(3))), _x, [], "corrupted metadata"),
    "meta no qformats": (_bad_model(_meta(lambda m: m.pop("qformats"))), _x, [],
                         "corrupted metadata"),
    "meta unknown config": (_bad_model(_meta(lambda m: m["config"].update(foo=1))), _x, [],
                            "corrupted metadata"),
    "meta pes 0": (_bad_model(_meta(lambda m: m["config"].update(n_pe=0))), _x, [],
                   "PE count"),
    "format version": (_bad_model(_set("format_version", np.array(99))), _x, [],
                       "format version 99"),
    "format version array": (_bad_model(_set("format_version", np.array([1, 1]))), _x, [],
                             "malformed format_version"),
    "model missing pointers": (_bad_model(lambda a: a.pop("gate_ptr")), _x, [],
                               "missing key 'gate_ptr'"),
    "model words too wide": (_bad_model(_set("ym_words", lambda w: w | (1 << 20))), _x, [],
                             "ym entry words exceed"),
    "model float weights nan": (_bad_model(_set("float_b_i", lambda b: b * np.nan)), _x, [],
                                "b_i contains NaN"),
}


@pytest.mark.parametrize("case", list(RUN_ERRORS))
def test_run_errors(files, tmp_path, capsys, case):
    make_model, make_x, extra, words = RUN_ERRORS[case]
    model, x = make_model(files, tmp_path), make_x(files, tmp_path)
    before = set(os.listdir(tmp_path))
    y, rep = tmp_path / "y.npy", tmp_path / "r.json"
    code = main(["run", model, "--inputs", x, "-o", str(y), *extra,
                 "--report", str(rep)])
    assert words in _one_error_line(code, capsys)
    assert set(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("argv, words", [
    (["init", "{d}/w.npz", "--cells", "0"], "cells must be a positive integer"),
    (["init", "{d}/w.npz", "--seed", "-1"], "seed must be a non-negative integer"),
    (["init", "{d}/nodir/w.npz"], "cannot write"),
    (["demo", "--frames", "0", "--out", "{d}/demo"],
     "--frames must be an integer in 1..1000000, got 0"),
    (["demo", "--frames", "4", "--rtl-frames", "5", "--out", "{d}/demo"],
     "--rtl-frames must be in 0..4"),
    (["demo", "--sim", "modelsim", "--out", "{d}/demo"], "icarus or verilator"),
    # PEs per element-wise unit: checked before anything is compressed or built.
    *[([cmd, *out, "--shape", "8,16,8", "--pes", "4", "--ew-share", g], words)
      for cmd, out in (("generate", ["-o", "{d}/g"]), ("estimate", []),
                       ("sweep", ["-o", "{d}/s"]))
      for g, words in (("0", "--ew-share must be an integer >= 1, got 0"),
                       ("3", "--ew-share 3 must divide the PE count 4"),
                       ("x", "--ew-share must be an integer, got 'x'"))],
])
def test_other_errors(tmp_path, capsys, argv, words):
    code = main([a.format(d=tmp_path) for a in argv])
    assert words in _one_error_line(code, capsys)
    assert os.listdir(tmp_path) == []


def test_demo_refuses_an_out_dir_it_may_not_write(tmp_path, capsys):
    """A file as DIR, or a DIR whose xcku060 tree is not a generate output: one line,
    exit 2, nothing written (checked before the compression starts)."""
    (tmp_path / "file").write_text("x")
    foreign = tmp_path / "d" / "xcku060"
    foreign.mkdir(parents=True)
    (foreign / "mine.txt").write_text("x")
    for out, words in ((tmp_path / "file", "exists and is not a directory"),
                       (tmp_path / "d", "is not an ese-hw generate output")):
        code = main(["demo", "--out", str(out)])
        assert words in _one_error_line(code, capsys)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["d", "file", "mine.txt", "xcku060"]


def test_failed_run_keeps_existing_output(files, tmp_path, capsys):
    # The report directory does not exist: the run fails and the old output survives.
    y = tmp_path / "y.npy"
    y.write_bytes(b"previous")
    code = main(["run", str(files.model), "--inputs", str(files.x), "-o", str(y),
                 "--report", str(tmp_path / "nodir" / "r.json")])
    assert "cannot write" in _one_error_line(code, capsys)
    assert y.read_bytes() == b"previous"
    assert sorted(os.listdir(tmp_path)) == ["y.npy"]


def test_output_is_a_directory(files, tmp_path, capsys):
    (tmp_path / "y.npy").mkdir()
    code = main(["run", str(files.model), "--inputs", str(files.x), "-o",
                 str(tmp_path / "y.npy")])
    assert "is a directory" in _one_error_line(code, capsys)
    assert os.listdir(tmp_path) == ["y.npy"]


def test_subprocess_one_line_no_traceback(files, tmp_path):
    script = shutil.which("ese-hw", path=os.path.dirname(sys.executable))
    cmd = [script] if script else [sys.executable, "-m", "ese_hw.cli"]
    out = tmp_path / "o.npz"
    r = subprocess.run([*cmd, "compress", str(files.weights), "-o", str(out), *CFG,
                        "--index-bits", "9"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.splitlines() == ["ese-hw: error: index bits must be an integer in 2..8, "
                                     "got 9"]
    assert not out.exists()


def test_weights_file_roundtrip_matches_library(files):
    # The weights init wrote are exactly what the library loads (float32 on disk).
    with np.load(files.weights) as f:
        assert sorted(f.files) == sorted(WEIGHT_KEYS)
        assert all(f[k].dtype == np.float32 for k in f.files)
