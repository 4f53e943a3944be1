"""Hypothesis profiles for the property tests (tests/property), and one Yosys result
cache per session.

``ci`` (the default) is deterministic: a derandomized search of a fixed size with no
example database, so every run of the suite draws the same examples. ``long`` searches
much further with fresh random draws and keeps failing examples in the local database
(``.hypothesis/``); select it with ``HYPOTHESIS_PROFILE=long``.

Several tests synthesize the same Verilog (the 16-lane shell of the lane check both
ways, the parts of one configuration that several files estimate): ``ESE_SYNTH_CACHE``
(:data:`ese_hw.synthesis.yosys.SYNTH_CACHE_ENV`) points at a directory new to each session, so each
distinct input runs through Yosys once per session and never comes from an earlier run.
The estimate's own cache (``cache_dir``) is left as each test sets it.
"""

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
