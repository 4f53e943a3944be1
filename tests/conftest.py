"""Hypothesis profiles for the property tests (tests/property), one Yosys result cache
per session, and the guard that keeps the test tiers honest.

``ci`` (the default) is deterministic: a derandomized search of a fixed size with no
example database, so every run of the suite draws the same examples. ``long`` searches
much further with fresh random draws and keeps failing examples in the local database
(``.hypothesis/``); select it with ``HYPOTHESIS_PROFILE=long``.

Several tests synthesize the same Verilog (the 16-lane shell of the lane check both
ways, the parts of one configuration that several files estimate): ``ESE_SYNTH_CACHE``
(:data:`ese_hw.synthesis.yosys.SYNTH_CACHE_ENV`) points at a directory new to each session, so each
distinct input runs through Yosys once per session and never comes from an earlier run.
The estimate's own cache (``cache_dir``) is left as each test sets it.

Tiers: a test that runs a simulator carries ``@pytest.mark.sim``, Yosys ``synth``,
SymbiYosys ``formal`` (a whole file: ``pytestmark``). ``make test-fast`` deselects them
and ``slow``. A test without the marker that reaches one of those tools, in its body or
in a fixture of any scope it sets up, fails naming the marker (:data:`TOOL_ENTRY_POINTS`).
Only this process is guarded: the Dask worker processes of a sweep are not, so a test
that sweeps through a ``LocalCluster`` is tagged by what its points run.
"""

import contextlib
import os

import pytest
from hypothesis import HealthCheck, settings

from ese_hw.synthesis.yosys import SYNTH_CACHE_ENV

settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, max_examples=50,
    print_blob=True,
    # Examples build small models and files; a slow draw is not a failure here.
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "long", max_examples=1000, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session", autouse=True)
def synth_cache(tmp_path_factory):
    """A Yosys result cache shared by this session's tests (and their subprocesses)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SYNTH_CACHE_ENV, str(tmp_path_factory.mktemp("synth_cache")))
        yield


# ---------------------------------------------------------------------------- tiers

#: The entry points through which each external tool starts, by the marker a test needs
#: to reach them (pyproject.toml registers the markers; ``make test-fast`` leaves these
#: out). Each is looked up as a module global by every path that starts the tool, so
#: replacing it there covers the library, the flows and the CLI alike:
#: ``get_runner`` builds and runs cocotb on either simulator, ``verilator_env`` precedes
#: every Verilator call (builds, runs and ``verilator_lint``), ``tool_env`` every native
#: harness build and run on either simulator, ``find_synth_yosys``
#: precedes every Yosys run (and its version, part of each cache key), and
#: ``_tool_path`` finds SymbiYosys for ``run_formal``.
TOOL_ENTRY_POINTS = {
    "sim": ("ese_hw.simulation.runner.get_runner", "ese_hw.simulation.runner.verilator_env",
            "ese_hw.simulation.native.tool_env"),
    "synth": ("ese_hw.synthesis.yosys.find_synth_yosys",),
    "formal": ("ese_hw.synthesis.formal._tool_path",),
}


class UntaggedToolRun(BaseException):
    """A test without the marker reached a tool. A ``BaseException``, so the library's
    ``except Exception`` (or ``except RuntimeError``) cannot turn it into a user error
    that a test expecting one would accept."""


@contextlib.contextmanager
def _tool_guard(item):
    """While ``item`` sets up, runs or tears down (its fixtures of any scope included):
    every tool whose marker it lacks raises :class:`UntaggedToolRun`. A call that the
    code under test swallowed anyway still fails the test afterwards."""
    hits = []

    def forbidden(marker, target):
        def stand_in(*args, **kwargs):
            hits.append(target)
            raise UntaggedToolRun(f"{item.nodeid} reached {target} without the "
                                  f"'{marker}' marker: tag it @pytest.mark.{marker}")
        return stand_in

    with pytest.MonkeyPatch.context() as mp:
        for marker, targets in TOOL_ENTRY_POINTS.items():
            if item.get_closest_marker(marker) is None:
                for target in targets:
                    mp.setattr(target, forbidden(marker, target))
        yield
    if hits:
        pytest.fail(f"{item.nodeid} reached {', '.join(hits)} without its marker",
                    pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    with _tool_guard(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    with _tool_guard(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    with _tool_guard(item):
        return (yield)


# ---------------------------------------------------------------------------- order

#: Modules that start first on the xdist workers (``--dist loadscope``), in this order:
#: each takes minutes in few tests. xdist's default order (``--loadscope-reorder``: most
#: tests first) would start them last, and one of them alone on a worker would then set
#: the tail of the suite while the other cores idle.
FIRST_MODULES = (
    "tests/simulation/test_paper_shape.py",        # the paper-shape top's Verilator build
    "tests/flows/test_estimate.py",                # Yosys: 327 + 168 + 152 s in its slow tests
    "tests/flows/test_sweep.py",                   # its fixture's sweep: 589 s on 2 busy cores
)


def pytest_configure(config):
    # The order comes from pytest_collection_modifyitems below, so xdist must keep it.
    if getattr(config.option, "loadscopereorder", False):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    """xdist's reorder (modules with most tests first, otherwise as collected), with
    :data:`FIRST_MODULES` ahead of every other module."""
    modules = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)

    def rank(path):
        first = FIRST_MODULES.index(path) if path in FIRST_MODULES else len(FIRST_MODULES)
        return first, -len(modules[path])

    items[:] = [item for path in sorted(modules, key=rank) for item in modules[path]]
