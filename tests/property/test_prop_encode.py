"""Properties of the per-PE sparse encoding (ese_hw.model.encode) and the channel images
built from it (ese_hw.model.images): decoding gives back exactly what was encoded, for
any shape, density, index width, weight width and PE count."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ese_hw.model.encode import (
    decode_spmv,
    encode_spmv,
    entry_table,
    merge_rows,
    split_rows,
    unpack_words,
)
from ese_hw.model.images import channel_images, load_words, walk_groups
from tests.property.strategies import small_models


@st.composite
def sparse_matrices(draw):
    """(matrix, n_pe, index_bits, weight_bits): a random integer matrix at a random
    density (0 and 1 included), some columns forced empty, weights over the whole signed
    range (the most negative one included)."""
    n_pe = draw(st.integers(1, 9))
    rows = draw(st.integers(1, 70))
    cols = draw(st.integers(1, 12))
    wb = draw(st.integers(2, 18))
    ib = draw(st.integers(2, 8))
    density = draw(st.one_of(st.just(0.0), st.just(1.0), st.floats(0.0, 1.0)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    lo, hi = -(1 << (wb - 1)), (1 << (wb - 1)) - 1
    w = rng.integers(lo, hi + 1, size=(rows, cols))
    w[w == 0] = lo                                       # a drawn 0 stays an entry
    w[rng.random(w.shape) >= density] = 0
    empty = draw(st.lists(st.integers(0, cols - 1), max_size=cols))
    w[:, empty] = 0
    return w, n_pe, ib, wb


@given(sparse_matrices())
def test_encode_then_decode_is_exact(case):
    w, n_pe, ib, wb = case
    img = encode_spmv(split_rows(w, n_pe), index_bits=ib, weight_bits=wb)
    np.testing.assert_array_equal(merge_rows(decode_spmv(img)), w)
    span = 1 << ib
    for p, mat in enumerate(split_rows(w, n_pe)):
        # Entries: every non-zero plus one padding per 2**b zeros skipped before it.
        padding = 0
        for j in range(mat.shape[1]):
            nz = np.flatnonzero(mat[:, j])
            gaps = np.diff(np.concatenate([[-1], nz])) - 1
            padding += int((gaps // span).sum())
            assert img.ptr[p, j + 1] - img.ptr[p, j] == len(nz) + int((gaps // span).sum())
        assert img.entries_per_pe[p] == np.count_nonzero(mat) + padding
        assert img.padding_per_pe[p] == padding
        weights, idx = unpack_words(img.words[p], weight_bits=wb, index_bits=ib)
        assert np.all((idx >= 0) & (idx < span))
        assert np.all(img.words[p] < 1 << (wb + ib))
        assert img.ptr[p, 0] == 0 and np.all(np.diff(img.ptr[p]) >= 0)
        assert img.ptr[p, -1] == len(img.words[p])
        row, col, wt = entry_table(img, p)
        np.testing.assert_array_equal(wt, weights)
        assert np.all(mat[row[wt != 0], col[wt != 0]] == wt[wt != 0])


@given(sparse_matrices(), st.data())
def test_masked_zero_weights_stay_entries(case, data):
    """A mask position whose weight quantized to 0 is still an entry (the pruning's
    balance survives quantization), and decodes to 0."""
    w, n_pe, ib, wb = case
    mask = w != 0
    zeroed = data.draw(st.lists(st.integers(0, w.size - 1), max_size=5))
    w = w.copy()
    w.flat[zeroed] = 0
    img = encode_spmv(split_rows(w, n_pe), index_bits=ib, weight_bits=wb,
                      pe_masks=split_rows(mask, n_pe))
    np.testing.assert_array_equal(merge_rows(decode_spmv(img)), w)
    real = img.entries_per_pe - img.padding_per_pe
    assert real.sum() == np.count_nonzero(w)
    assert img.entries_per_pe.sum() >= mask.sum()


def _ungrouped(model, p):
    """(row, column, weight) of PE ``p``'s entries, gate then projection, columns
    numbered through the step (x, y, then m)."""
    g, y = entry_table(model.gate, p), entry_table(model.ym, p)
    n_gate = model.n_in + model.n_proj
    return [np.concatenate([a, b + (n_gate if i == 1 else 0)])
            for i, (a, b) in enumerate(zip(g, y, strict=True))]


@given(small_models(), st.integers(1, 16))
def test_channel_images_walk_back_and_load_words_rebuild_them(model, k):
    """The grouped images of any broadcast width walk back to the ungrouped entries,
    and the load stream's rows put every word at its PE and address."""
    im = channel_images(model, k)
    lengths = (model.n_in, model.n_proj, model.n_cells)
    cfg = model.config
    for p in range(cfg.n_pe):
        got = walk_groups(im.words[p], im.ptr[p], lengths, k, weight_bits=cfg.weight_bits,
                          index_bits=cfg.index_bits)
        for a, b in zip(got, _ungrouped(model, p), strict=True):
            np.testing.assert_array_equal(a, b)
    rows = load_words(im)
    for target, images in enumerate((im.words, im.ptr, im.bias, im.peep)):
        for p in range(cfg.n_pe):
            sel = rows[(rows[:, 0] == target) & (rows[:, 1] == p)]
            np.testing.assert_array_equal(sel[:, 2], np.arange(len(images[p])))
            np.testing.assert_array_equal(sel[:, 3], np.asarray(images[p], np.int64))
