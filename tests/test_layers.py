"""The package's layering (pyproject.toml ``[tool.importlinter]``), held by import-linter.

The contracts are checked on the real tree, and on a scratch copy with one import that
breaks each of them, so a contract that could never fail would show here.
"""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(cwd, *, pythonpath=None):
    env = None
    if pythonpath is not None:
        env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True)


def test_the_tree_keeps_every_contract():
    run = _lint(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("model/_scratch.py", "import amaranth\n", "never imports Amaranth"),
    ("gateware/_scratch.py", "from ..flows import demo\n", "cli and study -> flows"),
    ("simulation/_scratch.py", "from ..synthesis import yosys\n", "cli and study -> flows"),
])
def test_a_wrong_import_breaks_a_contract(tmp_path, module, line, broken):
    shutil.copytree(ROOT / "ese_hw", tmp_path / "ese_hw",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "ese_hw" / module).write_text(line)
    run = _lint(tmp_path, pythonpath=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"{broken}" in run.stdout and "BROKEN" in run.stdout


def _ese_imports(path):
    """Every absolute module name a file imports."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


@pytest.mark.parametrize(("folder", "allowed"), [
    # sim/ installs as ese_hw.simulation.testbenches and boards/ as ese_hw.boards: they
    # live outside ese_hw/, where import-linter does not look, so their layer is held here.
    ("sim", ("ese_hw.simulation", "ese_hw.gateware", "ese_hw.model", "ese_hw.errors")),
    ("boards", ("ese_hw.gateware", "ese_hw.model", "ese_hw.errors")),
])
def test_folders_outside_the_package_keep_their_layer(folder, allowed):
    for path in sorted((ROOT / folder).glob("*.py")):
        for name in _ese_imports(path):
            if name == "ese_hw" or name.startswith("ese_hw."):
                assert name.startswith(allowed), f"{path.name} imports {name}"
