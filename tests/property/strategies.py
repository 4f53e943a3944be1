"""Hypothesis strategies shared by the property tests."""

from hypothesis import assume
from hypothesis import strategies as st

from ese_hw.errors import EseError
from ese_hw.model.compress import Config, compress
from ese_hw.model.lstmp import random_weights

__all__ = ["compress_or_reject", "small_models"]


def compress_or_reject(weights, cfg):
    """``compress(weights, cfg)``; a draw the compressor refuses because its density
    keeps no weight at all or its accumulator is too narrow for its weights
    (tests/property/test_prop_cli.py checks how) is rejected."""
    try:
        return compress(weights, cfg)
    except EseError as e:
        assume("keeps none of the" not in str(e) and "too narrow" not in str(e))
        raise


@st.composite
def small_models(draw):
    """A compressed model of a random small shape and configuration."""
    n_in, n_cells, n_proj = (draw(st.integers(1, 9)) for _ in range(3))
    cfg = Config(n_pe=draw(st.integers(1, n_cells)),
                 density=draw(st.one_of(st.just(1.0), st.floats(0.05, 1.0))),
                 index_bits=draw(st.integers(2, 8)),
                 weight_bits=draw(st.integers(4, 14)),
                 balance=draw(st.sampled_from(["pe", "column", "none"])))
    weights = random_weights(n_in, n_cells, n_proj, seed=draw(st.integers(0, 999)))
    return compress_or_reject(weights, cfg)
