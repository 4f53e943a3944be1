"""Per-PE compressed sparse columns with relative indices: the memory images of the hardware.

See docs/contract.md section 2. One :class:`SpmvImage` is the content of every
PE's entry memory and pointer memory for one sparse matrix-vector product.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import EseError
from .lstmp import N_GATES

__all__ = [
    "SpmvImage", "encode_spmv", "decode_spmv", "entry_table", "split_rows", "merge_rows",
    "gate_pe_mats", "gate_from_pe_mats", "pack_word", "unpack_words",
    "proj_split", "row_parts", "ym_pe_mats", "ym_rows_per_pe", "ym_row_index", "merge_ym",
]


def pack_word(weight, index, *, weight_bits):
    """``(index << weight_bits) | (weight mod 2**weight_bits)`` as uint32."""
    w = np.asarray(weight, dtype=np.int64) & ((1 << weight_bits) - 1)
    return ((np.asarray(index, dtype=np.int64) << weight_bits) | w).astype(np.uint32)


def unpack_words(words, *, weight_bits, index_bits):
    """Inverse of :func:`pack_word`: (signed weights, indices) as int64."""
    words = np.asarray(words, dtype=np.int64)
    w = words & ((1 << weight_bits) - 1)
    w = np.where(w >= 1 << (weight_bits - 1), w - (1 << weight_bits), w)
    idx = (words >> weight_bits) & ((1 << index_bits) - 1)
    return w, idx


@dataclass(frozen=True)
class SpmvImage:
    """The entry and pointer memories of every PE for one SpMV.

    Members
    -------
    words : list of uint32 arrays, one per PE (packed entries, padding included)
    ptr : (n_pe, n_cols + 1) int64; column ``j`` is ``words[p][ptr[p, j]:ptr[p, j+1]]``
    rows_per_pe : (n_pe,) int64, local rows of each PE
    index_bits, weight_bits : int
    """

    words: list
    ptr: np.ndarray
    rows_per_pe: np.ndarray
    index_bits: int
    weight_bits: int

    @property
    def n_pe(self):
        return self.ptr.shape[0]

    @property
    def n_cols(self):
        return self.ptr.shape[1] - 1

    @property
    def local_rows(self):
        """Accumulator rows a PE needs (the largest PE's row count)."""
        return int(self.rows_per_pe.max())

    @property
    def entries_per_pe(self):
        """Entries per PE, padding included (what bounds the cycles)."""
        return np.array([len(w) for w in self.words], dtype=np.int64)

    @property
    def padding_per_pe(self):
        """Entries per PE that add nothing: padding (and weights that quantized to 0)."""
        return np.array([int(np.count_nonzero(w == 0)) for w in self.weights()], dtype=np.int64)

    def weights(self):
        """Signed weights of every PE's entries."""
        return [unpack_words(w, weight_bits=self.weight_bits, index_bits=self.index_bits)[0]
                for w in self.words]


def encode_spmv(pe_mats, *, index_bits, weight_bits, pe_masks=None):
    """Encode per-PE integer sub-matrices into an :class:`SpmvImage`.

    Parameters
    ----------
    pe_mats : list of (rows_p, n_cols) integer arrays, PE ``p``'s local rows
    index_bits : int in 2..8
    weight_bits : int
    pe_masks : optional list of boolean arrays: which positions are entries
        (default: the non-zeros). A masked position whose weight is 0 is still
        an entry, so the pruning's balance survives quantization.
    """
    if not 2 <= index_bits <= 8:
        raise EseError(f"index bits must be in 2..8, got {index_bits}")
    n_cols = pe_mats[0].shape[1]
    words, ptrs = [], []
    span = 1 << index_bits
    lo, hi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
    for p, mat in enumerate(pe_mats):
        mat = np.asarray(mat, dtype=np.int64)
        if mat.shape[1] != n_cols:
            raise EseError(f"PE {p}: {mat.shape[1]} columns, expected {n_cols}")
        if mat.size and (mat.min() < lo or mat.max() > hi):
            raise EseError(f"PE {p}: weight outside {weight_bits}-bit signed range")
        mask = (mat != 0) if pe_masks is None else np.asarray(pe_masks[p], dtype=bool)
        cols, rows = np.nonzero(mask.T)                  # column-major order
        prev = np.empty_like(rows)
        if len(rows):
            prev[0] = -1
            prev[1:] = np.where(cols[1:] == cols[:-1], rows[:-1], -1)
        gap = rows - prev - 1
        n_pad = gap // span
        n_out = n_pad + 1
        end = np.cumsum(n_out)                            # one past each real entry
        total = int(end[-1]) if len(end) else 0
        weight = np.zeros(total, dtype=np.int64)
        index = np.full(total, span - 1, dtype=np.int64)
        weight[end - 1] = mat[rows, cols]
        index[end - 1] = gap % span
        col_of = np.repeat(cols, n_out)
        words.append(pack_word(weight, index, weight_bits=weight_bits))
        ptrs.append(np.searchsorted(col_of, np.arange(n_cols + 1), side="left"))
    rows_per_pe = np.array([m.shape[0] for m in pe_mats], dtype=np.int64)
    return SpmvImage(words, np.array(ptrs, dtype=np.int64), rows_per_pe, index_bits, weight_bits)


def entry_table(image, p):
    """Walk PE ``p``'s image: (local row, column, weight) of every entry, padding included.

    Vectorized form of the per-column walk ``pos = pos + index + 1`` from ``pos = -1``.
    A padding entry has weight 0 and the row it lands on.
    """
    w, idx = unpack_words(image.words[p], weight_bits=image.weight_bits,
                          index_bits=image.index_bits)
    counts = np.diff(image.ptr[p])
    col = np.repeat(np.arange(image.n_cols), counts)
    step = np.cumsum(idx + 1)
    start = image.ptr[p, :-1]
    base = np.concatenate([[0], step])[start]             # cumulative sum before the column
    row = step - np.repeat(base, counts) - 1
    return row, col, w


def decode_spmv(image):
    """Dense per-PE integer sub-matrices back from an image (inverse of :func:`encode_spmv`)."""
    mats = []
    for p in range(image.n_pe):
        m = np.zeros((int(image.rows_per_pe[p]), image.n_cols), dtype=np.int64)
        row, col, w = entry_table(image, p)
        if len(row) and (row.max() >= m.shape[0]):
            raise EseError(f"PE {p}: entry walks past row {m.shape[0] - 1}")
        np.add.at(m, (row, col), w)
        mats.append(m)
    return mats


def split_rows(w, n_pe):
    """Row ``r`` goes to PE ``r % n_pe`` as local row ``r // n_pe``."""
    return [np.asarray(w)[p::n_pe] for p in range(n_pe)]


def merge_rows(pe_mats):
    """Inverse of :func:`split_rows`."""
    n_pe = len(pe_mats)
    rows = sum(m.shape[0] for m in pe_mats)
    out = np.zeros((rows, pe_mats[0].shape[1]), dtype=pe_mats[0].dtype)
    for p, m in enumerate(pe_mats):
        out[p::n_pe] = m
    return out


def gate_pe_mats(wx, wr, n_pe):
    """Per-PE sub-matrices of the gate SpMV ``[W_x | W_r]`` (docs/contract.md section 1).

    ``wx``, ``wr`` are sequences of the four gate matrices (i, f, c, o), each (H, I)
    and (H, P). PE ``p``'s local row ``4k + g`` is gate ``g`` of cell ``k*n_pe + p``.
    """
    # (4, H, I+P)
    stacked = np.stack([np.concatenate([x, r], axis=1) for x, r in zip(wx, wr, strict=True)])
    mats = []
    for p in range(n_pe):
        cells = stacked[:, p::n_pe, :]                        # (4, Hp, C)
        mats.append(cells.transpose(1, 0, 2).reshape(-1, stacked.shape[2]))
    return mats


def gate_from_pe_mats(pe_mats, n_in):
    """Inverse of :func:`gate_pe_mats`: ((W_ix, W_fx, W_cx, W_ox), (W_ir, ..., W_or))."""
    n_pe = len(pe_mats)
    hp = [m.shape[0] // N_GATES for m in pe_mats]
    h = sum(hp)
    cols = pe_mats[0].shape[1]
    stacked = np.zeros((N_GATES, h, cols), dtype=pe_mats[0].dtype)
    for p, m in enumerate(pe_mats):
        stacked[:, p::n_pe, :] = m.reshape(hp[p], N_GATES, cols).transpose(1, 0, 2)
    return tuple(stacked[:, :, :n_in]), tuple(stacked[:, :, n_in:])


# ----------------------------------------------------------------- the projection's parts

def proj_split(n_pe, n_proj):
    """PEs that share each row of ``W_ym`` (S): ``n_pe // n_proj`` when the PEs outnumber
    its ``n_proj`` rows, else 1 (row ``r`` on PE ``r % n_pe``, as every other matrix)."""
    return max(1, n_pe // n_proj)


def row_parts(rows, cols, n_pe, *, split=1):
    """(row indices, column indices) of every PE's part of a ``rows x cols`` matrix.

    ``split`` 1: PE ``p`` has rows ``p, p + n_pe, ...``, every column. ``split`` S > 1
    (``S * rows <= n_pe``): PE ``q = r + j * rows`` (``j < S``) has row ``r``'s columns
    ``j, j + S, j + 2S, ...``, so every PE sees about ``cols / S`` of the row, spread
    over the whole broadcast (a K-wide group's columns go to all S parts); PEs from
    ``S * rows`` on have no part.
    """
    if split == 1:
        return [(np.arange(p, rows, n_pe), np.arange(cols)) for p in range(n_pe)]
    if split * rows > n_pe:
        raise EseError(f"{split} parts of {rows} rows need {split * rows} PEs, not {n_pe}")
    empty = np.zeros(0, np.int64)
    return [(np.array([q % rows]), np.arange(q // rows, cols, split)) if q < split * rows
            else (empty, empty) for q in range(n_pe)]


def ym_pe_mats(w, n_pe, *, split=None):
    """Per-PE sub-matrices of ``W_ym`` (P, H): :func:`split_rows` when ``n_pe <= P``;
    else each PE's part (:func:`row_parts` with :func:`proj_split`, or ``split``) as a
    (1, H) row, zero outside its columns (the m phase broadcasts all H columns to every
    PE), or (0, H) for a PE without a part. The hardware adds the S parts of a row."""
    w = np.asarray(w)
    rows, cols = w.shape
    split = proj_split(n_pe, rows) if split is None else split
    mats = []
    for ri, ci in row_parts(rows, cols, n_pe, split=split):
        mat = np.zeros((len(ri), cols), dtype=w.dtype)
        mat[:, ci] = w[np.ix_(ri, ci)]
        mats.append(mat)
    return mats


def ym_rows_per_pe(n_proj, n_pe, split):
    """Local ``W_ym`` rows of every PE, unsplit (``split`` 1) or with ``split`` parts."""
    return np.array([len(ri) for ri, _ in row_parts(n_proj, 1, n_pe, split=split)],
                    dtype=np.int64)


def ym_row_index(rows_per_pe, n_proj, local_rows):
    """(n_pe, local_rows) int64: the ``W_ym`` row that PE ``q``'s local row ``l`` adds
    into, ``q % P + l * n_pe`` (-1 past the PE's rows). One rule for both layouts: unsplit
    (PE ``q < P`` holds rows ``q + l n``) and split (every PE one row, ``l = 0``)."""
    n_pe = len(rows_per_pe)
    q, l_ = np.meshgrid(np.arange(n_pe), np.arange(local_rows), indexing="ij")
    index = q % n_proj + l_ * n_pe
    return np.where(l_ < np.asarray(rows_per_pe)[:, None], index, -1)


def merge_ym(pe_mats, n_proj):
    """Inverse of :func:`ym_pe_mats` (and of :func:`split_rows` for ``W_ym``): every PE's
    local rows added into the rows :func:`ym_row_index` names."""
    rows_per_pe = [m.shape[0] for m in pe_mats]
    index = ym_row_index(rows_per_pe, n_proj, max(rows_per_pe, default=0))
    out = np.zeros((n_proj, pe_mats[0].shape[1]), dtype=pe_mats[0].dtype)
    for q, mat in enumerate(pe_mats):
        rows = index[q, :mat.shape[0]]
        if len(rows) and rows.max() >= n_proj:
            raise EseError(f"PE {q}: W_ym row {int(rows.max())} past {n_proj} rows")
        np.add.at(out, rows, mat)
    return out
