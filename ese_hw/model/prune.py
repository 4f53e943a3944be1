"""Load-balance-aware pruning (ESE), column-balanced pruning (Spartus) and plain pruning.

Rows are interleaved over the ``n_pe`` PEs of a channel: row ``r`` of a matrix
belongs to PE ``r mod n_pe``; when the PEs outnumber ``W_ym``'s rows, each of its rows is
split over S PEs (:func:`ese_hw.model.encode.row_parts`) and each part counts as its PE's
row. Every matrix keeps ``round(density * rows * cols)``
weights, chosen by magnitude:

* ``pe`` (ESE): each PE's part keeps the same count (max - min <= 1). The
  remainders rotate over the PEs from one matrix to the next, so the sum over
  the eight gate matrices is balanced within 1 as well.
* ``column`` (Spartus): within every column, every PE keeps the same count.
* ``none``: the largest weights of the whole matrix, wherever they are.

Ties in magnitude are broken by position (stable sort), so pruning is deterministic.
"""

import numpy as np

from ..errors import EseError
from .encode import proj_split, row_parts
from .limits import LIMITS, check_int, check_pe_count

__all__ = ["BALANCES", "prune_matrix", "prune_weights"]

BALANCES = ("pe", "column", "none")


def _top_mask(values, k):
    """Mask of the ``k`` largest ``|values|`` (flat), ties to the lower index."""
    mask = np.zeros(values.size, dtype=bool)
    if k > 0:
        order = np.argsort(-np.abs(values.ravel()), kind="stable")
        mask[order[:k]] = True
    return mask.reshape(values.shape)


def _spread(total, n, offset=0):
    """``n`` counts summing to ``total``, max - min <= 1, the +1s starting at ``offset``."""
    base, extra = divmod(total, n)
    counts = np.full(n, base, dtype=np.int64)
    counts[(offset + np.arange(extra)) % n] += 1
    return counts


def prune_matrix(w, *, n_pe, density, balance="pe", offset=0, split=1):
    """Boolean keep-mask for one matrix.

    Parameters
    ----------
    w : (rows, cols) float array
    n_pe : int
        PEs per channel; row ``r`` belongs to PE ``r % n_pe``.
    density : float in (0, 1]
        Fraction of weights kept: ``round(density * rows * cols)``.
    balance : ``"pe"``, ``"column"`` or ``"none"``
    offset : int
        For ``pe``: the PE that gets the first of the remainder's extra weights.
    split : int
        PEs per row (``W_ym`` when the PEs outnumber its rows,
        :func:`~ese_hw.model.encode.proj_split`): each PE's part of a row
        (:func:`~ese_hw.model.encode.row_parts`) is balanced as that PE's row.
    """
    rows, cols = w.shape
    total = int(round(density * rows * cols))
    if balance == "none":
        return _top_mask(w, total)
    if balance not in ("pe", "column"):
        raise EseError(f"balance must be one of {', '.join(BALANCES)}, got {balance!r}")
    parts = row_parts(rows, cols, n_pe, split=split)
    # The PEs that hold a part: all of them, or with a split the first S * rows.
    working = n_pe if split == 1 else split * rows
    mask = np.zeros(w.shape, dtype=bool)
    if balance == "pe":
        counts = _spread(total, working, offset)
        for p, (ri, ci) in enumerate(parts[:working]):
            sub = w[np.ix_(ri, ci)]
            mask[np.ix_(ri, ci)] = _top_mask(sub, min(int(counts[p]), sub.size))
        return mask
    rows_min = min(len(ri) for ri, _ in parts[:working])
    per_pe = total // working
    for ri, ci in parts[:working]:
        # Per-column count (of this PE's columns; every PE alike without a split): floor
        # or ceil of the mean, spread evenly.
        n_cols = len(ci)
        base, extra = divmod(per_pe, n_cols)
        cnt = np.full(n_cols, base, dtype=np.int64)
        cnt[(np.arange(extra) * n_cols) // max(extra, 1)] += 1
        cnt = np.minimum(cnt, rows_min)
        sub = np.abs(w[np.ix_(ri, ci)])
        order = np.argsort(-sub, axis=0, kind="stable")
        keep = np.arange(sub.shape[0])[:, None] < cnt[None, :]
        m = np.zeros(sub.shape, dtype=bool)
        np.put_along_axis(m, order, keep, axis=0)
        mask[np.ix_(ri, ci)] = m
    return mask


def prune_weights(weights, *, n_pe, density, balance="pe", split_projection=True):
    """Prune the nine matrices of an :class:`LSTMPWeights` (eight for a plain layer,
    which has no ``W_ym``); return (pruned weights, masks).

    With more PEs than ``W_ym`` rows its rows are balanced in parts
    (:func:`~ese_hw.model.encode.proj_split`), unless ``split_projection`` is False
    (the layout before the split, kept to measure what the split buys).

    Peepholes and biases are dense vectors and are never pruned.

    Raises
    ------
    EseError
        Bad arguments, more PEs than the model has cells, or a density so low that no
        weight of the matrices survives (a model with nothing to compute).
    """
    check_prune_args(n_pe=n_pe, density=density, balance=balance)
    check_pe_count(n_pe, weights.n_cells)
    masks, arrays = {}, {}
    offset = 0
    for key in weights.matrix_keys:
        w = weights[key]
        if key == "W_ym":
            offset = 0
        split = proj_split(n_pe, w.shape[0]) if key == "W_ym" and split_projection else 1
        m = prune_matrix(w, n_pe=n_pe, density=density, balance=balance, offset=offset,
                         split=split)
        offset = (offset + int(round(density * w.size))) % n_pe
        masks[key] = m
        arrays[key] = np.where(m, w, 0.0)
    if not any(m.any() for m in masks.values()):
        size = sum(weights[k].size for k in weights.matrix_keys)
        raise EseError(f"density {density:g} keeps none of the {size} matrix weights "
                       f"(balance {balance}, {n_pe} PEs); give a larger density")
    return weights.replace(**arrays), masks


def check_prune_args(*, n_pe, density, balance):
    check_int("n_pe", n_pe, label=LIMITS["n_pe"].label)
    if not (isinstance(density, (int, float, np.floating)) and 0.0 < density <= 1.0):
        raise EseError(f"density must be in (0, 1], got {density!r}")
    if balance not in BALANCES:
        raise EseError(f"balance must be one of {', '.join(BALANCES)}, got {balance!r}")
