"""The workspace of the command-line properties (tests/property/workspace.py)."""

import pytest

from tests.property.workspace import workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    with workspace(tmp_path_factory.mktemp("fuzz")) as f:
        yield f
