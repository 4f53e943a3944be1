"""Pruning: the balance each mode promises, the density it keeps, magnitude order."""

import numpy as np
import pytest

from ese_hw.errors import EseError
from ese_hw.model.encode import proj_split, row_parts
from ese_hw.model.lstmp import MATRIX_KEYS, random_weights
from ese_hw.model.prune import prune_matrix, prune_weights


def _pe_counts(mask, n):
    return np.array([mask[p::n].sum() for p in range(n)])


@pytest.mark.parametrize("n_pe", [1, 3, 8, 32])
@pytest.mark.parametrize("density", [0.05, 0.112, 0.5, 1.0])
def test_pe_balance(n_pe, density):
    w = np.random.default_rng(n_pe).standard_normal((96, 97))
    m = prune_matrix(w, n_pe=n_pe, density=density, balance="pe")
    c = _pe_counts(m, n_pe)
    assert c.max() - c.min() <= 1
    assert m.sum() == round(density * w.size)


def test_pe_balance_with_uneven_rows():
    w = np.random.default_rng(1).standard_normal((100, 13))     # 100 rows over 3 PEs: 34/33/33
    m = prune_matrix(w, n_pe=3, density=0.4, balance="pe")
    c = _pe_counts(m, 3)
    assert c.max() - c.min() <= 1 and m.sum() == 520


@pytest.mark.parametrize("n_pe", [1, 4, 32])
def test_pe_balance_keeps_largest_per_pe(n_pe):
    w = np.random.default_rng(0).standard_normal((64, 40))
    m = prune_matrix(w, n_pe=n_pe, density=0.2, balance="pe")
    for p in range(n_pe):
        sub, keep = np.abs(w[p::n_pe]), m[p::n_pe]
        assert sub[keep].min() >= sub[~keep].max()


def test_remainders_rotate_so_gate_total_balances():
    w = random_weights(10, 33, 7, seed=1)
    _, masks = prune_weights(w, n_pe=4, density=0.3)
    total = sum(_pe_counts(masks[k], 4) for k in MATRIX_KEYS[:8])
    assert total.max() - total.min() <= 1
    for k in MATRIX_KEYS:
        c = _pe_counts(masks[k], 4)
        assert c.max() - c.min() <= 1


@pytest.mark.parametrize("n_pe", [2, 8, 32])
@pytest.mark.parametrize("density", [0.112, 0.3])
def test_column_balance(n_pe, density):
    w = np.random.default_rng(5).standard_normal((256, 61))
    m = prune_matrix(w, n_pe=n_pe, density=density, balance="column")
    per_col = np.stack([m[p::n_pe].sum(axis=0) for p in range(n_pe)])   # (pe, col)
    assert np.all(per_col == per_col[0])                                 # equal in every column
    assert abs(m.sum() - density * w.size) <= n_pe * w.shape[1]          # density kept
    c = _pe_counts(m, n_pe)
    assert c.max() == c.min()


def test_none_is_global_magnitude():
    w = np.random.default_rng(2).standard_normal((50, 30))
    m = prune_matrix(w, n_pe=4, density=0.1, balance="none")
    assert m.sum() == 150
    assert np.abs(w[m]).min() >= np.abs(w[~m]).max()


def test_pe_balance_differs_from_global():
    # A matrix whose large weights all sit in PE 0's rows: global pruning piles them on PE 0.
    w = np.random.default_rng(3).standard_normal((32, 32)) * 0.01
    w[0::4] *= 100
    glob = _pe_counts(prune_matrix(w, n_pe=4, density=0.25, balance="none"), 4)
    bal = _pe_counts(prune_matrix(w, n_pe=4, density=0.25, balance="pe"), 4)
    assert glob[0] > 200 and bal.tolist() == [64, 64, 64, 64]


def test_prune_weights_zeroes_pruned_and_keeps_vectors():
    w = random_weights(6, 8, 4, seed=9)
    pruned, masks = prune_weights(w, n_pe=2, density=0.25)
    for k in MATRIX_KEYS:
        np.testing.assert_array_equal(pruned[k], np.where(masks[k], w[k], 0))
    np.testing.assert_array_equal(pruned["W_ic"], w["W_ic"])
    np.testing.assert_array_equal(pruned["b_f"], w["b_f"])


def _part_counts(mask, n_pe, split):
    """Kept weights per PE part (pe), and per PE and part column (pe, columns)."""
    parts = row_parts(*mask.shape, n_pe, split=split)
    return [mask[np.ix_(ri, ci)] for ri, ci in parts]


@pytest.mark.parametrize("n_pe, rows, split", [(16, 8, 2), (32, 8, 4), (20, 8, 2)])
@pytest.mark.parametrize("density", [0.112, 0.3])
def test_split_rows_pe_balance(n_pe, rows, split, density):
    """More PEs than rows: each row's columns are split over ``split`` PEs (PE r + jP
    takes columns j, j + S, ...), every part balanced as a PE's row under ``pe``: the
    density is kept whole, every part within 1 of the others, and each part holds its
    largest weights. PEs past S * rows (20 PEs on 8 rows: 4) hold nothing."""
    assert proj_split(n_pe, rows) == split
    w = np.random.default_rng(n_pe).standard_normal((rows, 61))
    m = prune_matrix(w, n_pe=n_pe, density=density, balance="pe", split=split)
    assert m.sum() == round(density * w.size)
    kept = _part_counts(m, n_pe, split)
    counts = np.array([k.sum() for k in kept[:split * rows]])
    assert counts.max() - counts.min() <= 1
    assert all(k.size == 0 for k in kept[split * rows:])
    for (ri, ci), keep in zip(row_parts(rows, 61, n_pe, split=split), kept, strict=False):
        sub = np.abs(w[np.ix_(ri, ci)])
        if keep.any() and not keep.all():
            assert sub[keep].min() >= sub[~keep].max()
    # Without the split the same PEs keep only the rows' share (PE p >= rows has none).
    unsplit = prune_matrix(w, n_pe=n_pe, density=density, balance="pe")
    assert unsplit.sum() < m.sum()


@pytest.mark.parametrize("n_pe, split", [(16, 2), (32, 4)])
def test_split_rows_column_balance(n_pe, split):
    """Under ``column`` every part keeps the same count in each of its columns (0 or 1:
    a part is one row) and the same total, within the column count's rounding; without
    the split column balance keeps nothing (half or more of the PEs hold no row)."""
    w = np.random.default_rng(7).standard_normal((8, 64))
    m = prune_matrix(w, n_pe=n_pe, density=0.2, balance="column", split=split)
    kept = _part_counts(m, n_pe, split)
    per_col = np.stack([k.sum(axis=0) for k in kept])               # (pe, part column)
    assert np.all(per_col == per_col[0]) and per_col.max() == 1
    assert abs(m.sum() - 0.2 * w.size) <= n_pe
    assert not prune_matrix(w, n_pe=n_pe, density=0.2, balance="column").any()


def test_prune_weights_splits_only_the_projection():
    """prune_weights splits W_ym's rows when the PEs outnumber them twice (8 PEs, P 4),
    never the gate matrices, and ``split_projection=False`` keeps the unsplit layout."""
    w = random_weights(6, 8, 4, seed=2)
    _, masks = prune_weights(w, n_pe=8, density=0.5)
    np.testing.assert_array_equal(
        masks["W_ym"], prune_matrix(w["W_ym"], n_pe=8, density=0.5, split=2))
    assert masks["W_ym"].sum() == 16
    _, unsplit = prune_weights(w, n_pe=8, density=0.5, split_projection=False)
    np.testing.assert_array_equal(unsplit["W_ym"], prune_matrix(w["W_ym"], n_pe=8,
                                                                density=0.5))
    for k in MATRIX_KEYS[:8]:
        np.testing.assert_array_equal(masks[k], unsplit[k])


@pytest.mark.parametrize("kw, message", [
    (dict(n_pe=0, density=0.1, balance="pe"), "PE count"),
    (dict(n_pe=2, density=0.0, balance="pe"), "density"),
    (dict(n_pe=2, density=1.5, balance="pe"), "density"),
    (dict(n_pe=2, density=0.1, balance="rows"), "balance"),
])
def test_bad_arguments(kw, message):
    with pytest.raises(EseError, match=message):
        prune_weights(random_weights(4, 4, 2), **kw)
