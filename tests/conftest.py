"""Hypothesis profiles for the property tests (tests/property).

``ci`` (the default) is deterministic: a derandomized search of a fixed size with no
example database, so every run of the suite draws the same examples. ``long`` searches
much further with fresh random draws and keeps failing examples in the local database
(``.hypothesis/``); select it with ``HYPOTHESIS_PROFILE=long``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, max_examples=50,
    print_blob=True,
    # Examples build small models and files; a slow draw is not a failure here.
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "long", max_examples=1000, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
