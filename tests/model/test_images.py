"""Channel images with a K-wide broadcast: the grouped pointer image and the sub bits walk
back to the same entries as the ungrouped image."""

import numpy as np
import pytest

from ese_hw.model.compress import Config, compress
from ese_hw.model.encode import entry_table
from ese_hw.model.images import (
    LOAD_PTR,
    channel_images,
    group_starts,
    load_words,
    sub_bits,
    walk_groups,
)
from ese_hw.model.lstmp import random_weights

# I = 10, P = 6, H = 13: no phase a multiple of 4 or 8, P a multiple of 2 only.
SHAPE = (10, 13, 6)


@pytest.fixture(scope="module")
def model():
    return compress(random_weights(*SHAPE, seed=3), Config(n_pe=8, density=0.35, index_bits=2))


def _ungrouped_entries(model, p):
    """(row, column, weight) of PE ``p``'s entries, gate then projection, columns
    numbered through the step (x, y, then m)."""
    g, y = entry_table(model.gate, p), entry_table(model.ym, p)
    n_gate = model.n_in + model.n_proj
    return tuple(np.concatenate([a, b + (n_gate if i == 1 else 0)])
                 for i, (a, b) in enumerate(zip(g, y, strict=True)))


@pytest.mark.parametrize("k", [1, 2, 4, 8])
def test_grouped_walk_gives_the_ungrouped_entries(model, k):
    im = channel_images(model, k)
    i, h, p_ = SHAPE
    groups = -(-i // k) + -(-p_ // k) + -(-h // k)
    wb, ib = model.config.weight_bits, model.config.index_bits
    for p in range(model.config.n_pe):
        assert len(im.ptr[p]) == groups + 1
        got = walk_groups(im.words[p], im.ptr[p], (i, p_, h), k, weight_bits=wb, index_bits=ib)
        want = _ungrouped_entries(model, p)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
        assert int(np.max(im.words[p], initial=0)) < 1 << (wb + ib + sub_bits(k))


def test_k1_is_todays_image(model):
    """K = 1 changes nothing: the words and the per-column pointers."""
    im = channel_images(model)
    for p in range(model.config.n_pe):
        np.testing.assert_array_equal(
            im.words[p], np.concatenate([model.gate.words[p], model.ym.words[p]]))
        np.testing.assert_array_equal(
            im.ptr[p], np.concatenate([model.gate.ptr[p],
                                       len(model.gate.words[p]) + model.ym.ptr[p][1:]]))


def test_groups_and_sub_bits(model):
    np.testing.assert_array_equal(group_starts((10, 6, 13), 4),
                                  [0, 4, 8, 10, 14, 16, 20, 24, 28, 29])
    assert [sub_bits(k) for k in (1, 2, 3, 4, 5, 8, 16)] == [0, 1, 2, 2, 3, 3, 4]
    rows = load_words(channel_images(model, 4))
    ptr_rows = rows[(rows[:, 0] == LOAD_PTR) & (rows[:, 1] == 0)]
    assert len(ptr_rows) == 3 + 2 + 4 + 1
    # A walk that ignores sub (one column per group) lands entries on other rows.
    im = channel_images(model, 4)
    wrong = walk_groups(im.words[0] & ((1 << 14) - 1), im.ptr[0], (10, 6, 13), 4,
                        weight_bits=12, index_bits=2)
    assert not np.array_equal(wrong[0], _ungrouped_entries(model, 0)[0])
