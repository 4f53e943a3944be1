"""The RTL build and estimate keys cover every source that shapes the Verilog.

:func:`ese_hw.simulation.runner.verilog_sources` derives the set from the gateware's
imports; a change to a table function in ``model/lut.py`` (made in a scratch copy of the
package, imported in a subprocess) changes the key, and ``ese-hw run --engine rtl`` then
rebuilds instead of reusing a stale build.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ese_hw
import ese_hw.boards
import ese_hw.simulation.testbenches
from ese_hw.cli import main
from ese_hw.flows import estimate
from ese_hw.simulation.runner import gateware_digest, simulator_available, verilog_sources

PACKAGE = Path(ese_hw.__file__).resolve().parent
#: A different table function: the sigmoid's slope halved. The golden model and the
#: gateware both read it, so a fresh build stays bit-exact and a stale one does not.
LUT_EDIT = ("return 0.5 * (1.0 + np.tanh(0.5 * z))", "return 0.5 * (1.0 + np.tanh(0.25 * z))")


def _relative(paths):
    return {p.relative_to(PACKAGE).as_posix() for p in paths}


def test_sources_are_the_gateware_and_what_it_imports():
    sources = _relative(verilog_sources())
    gateware = _relative(PACKAGE.joinpath("gateware").rglob("*.py"))
    assert gateware <= sources
    assert {"model/lut.py", "model/timing.py", "model/limits.py", "model/encode.py",
            "model/images.py", "model/quant.py", "__init__.py", "model/__init__.py"} <= sources
    assert not {s for s in sources if s.startswith(("flows/", "simulation/", "synthesis/",
                                                    "study/", "cli"))}
    assert "model/torch_import.py" not in sources and "model/cycles.py" not in sources


def _scratch_package(root: Path) -> Path:
    """A copy of the ``ese_hw`` package under ``root`` (its installed sub-packages that
    live elsewhere, the testbenches and boards, copied into place); returns the copy."""
    ignore = shutil.ignore_patterns("__pycache__")
    copy = root / "ese_hw"
    shutil.copytree(PACKAGE, copy, ignore=ignore)
    for package in (ese_hw.simulation.testbenches, ese_hw.boards):
        target = copy.joinpath(*package.__name__.split(".")[1:])
        if not target.exists():
            shutil.copytree(Path(package.__file__).parent, target, ignore=ignore)
    return copy


def _scratch_env(root: Path) -> dict:
    """The environment of a subprocess that imports the copy under ``root``: run it with
    ``cwd=root`` too, since ``python -c`` puts the working directory first on the path."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root), *filter(None, [os.environ.get("PYTHONPATH")])])}


def _digests(root: Path) -> dict:
    """The build and estimate digests as a fresh interpreter importing ``root`` sees them."""
    code = ("import json, ese_hw; from ese_hw.simulation.runner import gateware_digest; "
            "from ese_hw.flows.estimate import _source_digest; "
            "print(json.dumps({'file': ese_hw.__file__, 'build': gateware_digest(), "
            "'estimate': _source_digest()}))")
    run = subprocess.run([sys.executable, "-c", code], env=_scratch_env(root), cwd=root,
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def test_a_table_function_change_changes_the_build_and_estimate_keys(tmp_path):
    copy = _scratch_package(tmp_path)
    before = _digests(tmp_path)
    assert Path(before["file"]).resolve() == (copy / "__init__.py").resolve()
    # The digest names sources relative to the package: the same text, the same key.
    assert before["build"] == gateware_digest()
    assert before["estimate"] == estimate._source_digest()
    # A change outside what the gateware imports leaves both keys alone ...
    sweep = copy / "flows" / "sweep.py"
    sweep.write_text(sweep.read_text() + "\n# a comment\n")
    assert _digests(tmp_path) == before
    # ... a change to a table function changes both.
    lut = copy / "model" / "lut.py"
    text = lut.read_text()
    assert LUT_EDIT[0] in text
    lut.write_text(text.replace(*LUT_EDIT))
    after = _digests(tmp_path)
    assert after["build"] != before["build"] and after["estimate"] != before["estimate"]


def _cli_run(root: Path, args, report: Path) -> dict:
    """``ese-hw run`` in a fresh interpreter importing the package under ``root``."""
    code = "import sys; from ese_hw.cli import main; sys.exit(main(sys.argv[1:]))"
    run = subprocess.run([sys.executable, "-c", code, *args, "--report", str(report)],
                         env=_scratch_env(root), cwd=root, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(report.read_text())


@pytest.mark.sim
@pytest.mark.skipif(not simulator_available("icarus"), reason="icarus is not installed")
def test_rtl_run_rebuilds_after_a_table_change_and_stays_bit_exact(tmp_path):
    """End to end on a tiny model (8 inputs, 16 cells, 8 projections, 2 PEs) on Icarus."""
    weights, model, x = tmp_path / "w.npz", tmp_path / "m.npz", tmp_path / "x.npy"
    assert main(["init", str(weights), "--input", "8", "--cells", "16", "--proj", "8",
                 "--seed", "4"]) == 0
    assert main(["compress", str(weights), "-o", str(model), "--pes", "2",
                 "--density", "0.5"]) == 0
    np.save(x, np.random.default_rng(9).standard_normal((3, 8)))
    scratch = tmp_path / "scratch"
    copy = _scratch_package(scratch)
    args = ["run", str(model), "--engine", "rtl", "--sim", "icarus", "--inputs", str(x),
            "--build-dir", str(tmp_path / "build")]
    first = _cli_run(scratch, [*args, "-o", str(tmp_path / "y1.npy")], tmp_path / "r1.json")
    assert first["bit_exact_vs_golden"] is True
    lut = copy / "model" / "lut.py"
    lut.write_text(lut.read_text().replace(*LUT_EDIT))
    changed = _cli_run(scratch, [*args, "-o", str(tmp_path / "y2.npy")], tmp_path / "r2.json")
    assert changed["build_cached"] is False and changed["bit_exact_vs_golden"] is True
    assert changed["build_dir"] != first["build_dir"]
    # The new tables change the outputs: the old build would not have been bit-exact.
    assert not np.array_equal(np.load(tmp_path / "y1.npy"), np.load(tmp_path / "y2.npy"))
    again = _cli_run(scratch, [*args, "-o", str(tmp_path / "y3.npy")], tmp_path / "r3.json")
    assert again["build_cached"] is True and again["bit_exact_vs_golden"] is True
    assert again["build_dir"] == changed["build_dir"]


def test_sources_are_read_one_thread_at_a_time(monkeypatch):
    """CPython 3.11's ``ast.parse`` fails when two threads parse at once (the demo's
    estimate beside its RTL step did), so the sources are parsed under one lock."""
    import ast
    import threading

    from ese_hw.simulation import runner

    parse = ast.parse
    parses = []

    def guarded(*args, **kwargs):
        assert runner._SOURCES_LOCK.locked(), "ast.parse outside the sources' lock"
        parses.append(1)
        return parse(*args, **kwargs)

    monkeypatch.setattr(runner.ast, "parse", guarded)
    runner._read_verilog_sources.cache_clear()
    results, errors = [], []

    def read():
        try:
            results.append(runner.verilog_sources())
        except AssertionError as e:
            errors.append(e)

    threads = [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and parses
    assert results[0] == results[1] == verilog_sources()
