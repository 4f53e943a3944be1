"""The formal proofs' shared run directory and their summary table.

Every proof run through the ``prove`` fixture is recorded; at the end of the session the
results go to ``build/formal/results.json`` and a Markdown table (docs/testing.md's) is
printed in pytest's terminal summary.
"""

import json
from pathlib import Path

import pytest

from ese_hw.synthesis.formal import run_formal

RESULTS_DIR = Path(__file__).resolve().parents[2] / "build" / "formal"
_RESULTS = []


@pytest.fixture
def prove():
    """``prove(harness, name=, mode=, depth=)`` -> :class:`ese_hw.synthesis.formal.FormalResult`,
    run under ``build/formal`` and recorded for the summary."""
    def run(harness, **kwargs):
        result = run_formal(harness, workdir=RESULTS_DIR, **kwargs)
        _RESULTS.append(result)
        return result
    return run


def pytest_terminal_summary(terminalreporter):
    if not _RESULTS:
        return
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    rows = [{"name": r.name, "mode": r.mode, "depth": r.depth, "passed": r.passed,
             "seconds": round(r.seconds, 2), "summary": r.summary,
             "trace": str(r.trace) if r.trace else None} for r in _RESULTS]
    (RESULTS_DIR / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    terminalreporter.section("formal proofs")
    terminalreporter.line("| run | mode | depth | result | s |")
    terminalreporter.line("|---|---|---|---|---|")
    for r in rows:
        result = "pass" if r["passed"] else "FAIL"
        terminalreporter.line(f"| {r['name']} | {r['mode']} | {r['depth']} | {result} | "
                              f"{r['seconds']:.1f} |")
    total = sum(r["seconds"] for r in rows)
    terminalreporter.line(f"{len(rows)} sby runs, {total:.1f} s in sby")
