"""The documentation site builds with warnings as errors, as `make docs` builds it.

A broken link or anchor, a page left out of the tree, a missing image or a docstring
napoleon cannot read fails the build (``-W``); ``--keep-going`` lists every such
problem in one run. Also: no file cites DESIGN.md, which users do not have (what the
sources rely on is docs/design.md), and every plot in docs/ is shown on some page.
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_the_site_builds_without_a_warning(tmp_path):
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q",
                          "-b", "html", str(DOCS), str(tmp_path / "html")],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    for page in ("index", "guide", "measured", "contract", "schedule", "design",
                 "testing", "api", "tutorials/pytorch-to-vivado", "tutorials/sweep",
                 "tutorials/runtime-load"):
        assert (tmp_path / "html" / f"{page}.html").is_file(), page
    api = (tmp_path / "html" / "api.html").read_text(encoding="utf-8")
    for name in ("ese_hw.model.golden.GoldenStack", "ese_hw.gateware.top.AxisTop",
                 "ese_hw.flows.generate.generate", "ese_hw.simulation.rtl.run_rtl",
                 "ese_hw.synthesis.yosys.yosys_resource_estimate"):
        assert f'id="{name}"' in api, name


def test_no_file_cites_a_design_file_users_do_not_have():
    citing = []
    folders = ["ese_hw", "sim", "boards", "benchmarks", "tests", "docs"]
    files = [p for f in folders for p in (ROOT / f).rglob("*") if p.suffix in (".py", ".md")]
    for path in files + [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml"]:
        if path == Path(__file__).resolve():
            continue
        text = path.read_text(encoding="utf-8")
        citing += [f"{path.relative_to(ROOT)}:{n}" for n, line in
                   enumerate(text.splitlines(), 1) if "DESIGN.md" in line]
    assert citing == []


def test_every_plot_in_docs_is_shown():
    pages = "".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md"))
    shown = set(re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", pages))
    assert {p.name for p in DOCS.glob("*.png")} <= shown


def _slug(heading):
    """GitHub's and myst-parser's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_the_readme_links_to_pages_and_sections_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)#]+)(?:#([^)]+))?\)", readme)
    assert links
    for path, anchor in links:
        page = ROOT / path
        assert page.is_file(), path
        if anchor:
            headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.M)
            assert anchor in {_slug(h) for h in headings}, f"{path}#{anchor}"
