"""Encoding into per-PE CSC images and decoding back, at every index width."""

import numpy as np
import pytest

from ese_hw.model.encode import (
    decode_spmv,
    encode_spmv,
    gate_from_pe_mats,
    gate_pe_mats,
    merge_rows,
    pack_word,
    split_rows,
    unpack_words,
)


def _roundtrip(mats, ib, wb=12):
    img = encode_spmv(mats, index_bits=ib, weight_bits=wb)
    back = decode_spmv(img)
    for m, b in zip(mats, back, strict=True):
        np.testing.assert_array_equal(b, m)
    return img


def _col(rows, nz_rows, val=5):
    c = np.zeros((rows, 1), dtype=np.int64)
    c[list(nz_rows), 0] = val
    return c


@pytest.mark.parametrize("ib", range(2, 9))
def test_gap_edges(ib):
    span = 1 << ib
    rows = 3 * span + 4
    # Gaps of exactly 2^b - 1 zeros (no padding) and 2^b zeros (one padding entry).
    a = _col(rows, [span - 1])                  # 2^b - 1 leading zeros
    b = _col(rows, [span])                      # 2^b leading zeros
    c = _col(rows, [0, span + 1])               # gap of 2^b between entries
    d = _col(rows, [0, 2 * span + 1, 2 * span + 2])   # gap of 2^(b+1): two paddings
    for m, n_pad in ((a, 0), (b, 1), (c, 1), (d, 2)):
        img = _roundtrip([m], ib)
        assert img.entries_per_pe[0] == np.count_nonzero(m) + n_pad
        assert img.padding_per_pe[0] == n_pad
        _, idx = unpack_words(img.words[0], weight_bits=12, index_bits=ib)
        assert idx.max() <= span - 1


@pytest.mark.parametrize("ib", range(2, 9))
@pytest.mark.parametrize("density", [0.05, 0.3, 1.0])
def test_random_roundtrip(ib, density):
    rng = np.random.default_rng(ib * 100 + int(density * 10))
    n_pe, rows, cols = 4, 70, 23
    w = rng.integers(-2048, 2048, size=(n_pe * rows, cols))
    w[rng.random(w.shape) >= density] = 0
    w[:, 3] = 0                                # an empty column
    w[1::n_pe] = 0                             # PE 1 has no entries at all
    w[-1, -1] = -2048                          # the most negative weight, last row
    img = _roundtrip(split_rows(w, n_pe), ib)
    assert img.entries_per_pe[1] == 0
    assert np.all(img.ptr[:, 3] == img.ptr[:, 4])
    np.testing.assert_array_equal(merge_rows(decode_spmv(img)), w)
    if density == 1.0:
        assert img.padding_per_pe.sum() == 0


def test_pointers_and_words_layout():
    m = np.array([[0, 3], [0, 0], [-1, 0], [0, 0], [0, 0], [0, 7]])
    img = encode_spmv([m], index_bits=2, weight_bits=4)
    # column 0: row 2 -> index 2; column 1: row 0 (index 0), row 5 (gap 4 = one padding + index 0)
    np.testing.assert_array_equal(img.ptr[0], [0, 1, 4])
    np.testing.assert_array_equal(
        img.words[0], pack_word([-1, 3, 0, 7], [2, 0, 3, 0], weight_bits=4))
    assert img.words[0][0] == (2 << 4) | 0xF


def test_masked_zero_weight_stays_an_entry():
    m = np.array([[0], [0], [4]])
    mask = np.array([[True], [False], [True]])
    img = encode_spmv([m], index_bits=4, weight_bits=8, pe_masks=[mask])
    assert img.entries_per_pe[0] == 2
    np.testing.assert_array_equal(decode_spmv(img)[0], m)


@pytest.mark.parametrize("n_pe, h", [(1, 4), (4, 8), (3, 7)])
def test_gate_stacking_roundtrip(n_pe, h):
    rng = np.random.default_rng(h)
    wx = [rng.integers(-9, 9, (h, 5)) for _ in range(4)]
    wr = [rng.integers(-9, 9, (h, 3)) for _ in range(4)]
    mats = gate_pe_mats(wx, wr, n_pe)
    # PE p local row 4k+g is gate g of cell k*n_pe+p
    np.testing.assert_array_equal(mats[n_pe - 1][4 * 1 + 2, :5], wx[2][n_pe + n_pe - 1])
    bx, br = gate_from_pe_mats(decode_spmv(encode_spmv(mats, index_bits=3, weight_bits=6)), 5)
    for a, b in zip(wx + wr, list(bx) + list(br), strict=True):
        np.testing.assert_array_equal(a, b)
