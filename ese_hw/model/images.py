"""Per-PE memory images of a whole LSTMP channel, and the load-stream words that fill them.

A channel PE runs both SpMVs of a step from one entry memory and one pointer
memory: the gate SpMV's columns ``0 .. I+P-1`` (``x_t`` then ``y_{t-1}``),
then the projection's columns ``I+P .. I+P+H-1`` (``m_t``), whose entries follow
the gate entries in the entry memory. A plain LSTM layer (no ``W_ym``, ``P = H``) has
the gate SpMV's columns only: no projection entries and no pointers for ``m_t``.
Besides those, each PE holds the biases
of its gate rows (the gate accumulators' initial values) and the three
peepholes of its cells.

With a K-wide broadcast (``broadcast=K``) the pointer memory describes *groups*
of K consecutive columns of a phase (x, y or m; a phase's last group may be
short): one pointer per group, the group's entries contiguous (its columns in
order, the same entries as with K = 1). Each entry word then carries
``sub_bits(K)`` more bits above the index: the entry's column within its group
(docs/contract.md section 2).
"""

from dataclasses import dataclass

import numpy as np

from .limits import DEFAULTS, check_int
from .lstmp import N_GATES, PEEPHOLE_GATES

__all__ = ["LOAD_ENTRY", "LOAD_PTR", "LOAD_BIAS", "LOAD_PEEP", "ChannelImages",
           "channel_images", "check_model_fits", "group_starts", "load_words", "model_entry_depth",
           "peep_word_bits", "phase_lengths", "sub_bits", "walk_groups"]

#: ``target`` codes of the channel's load stream (``ese_hw.gateware.load.LoadTarget``).
LOAD_ENTRY, LOAD_PTR, LOAD_BIAS, LOAD_PEEP = 0, 1, 2, 3


@dataclass(frozen=True)
class ChannelImages:
    """Memory contents of every PE of a channel (lists indexed by PE).

    Members
    -------
    words : entry words (gate entries, then projection entries); with K > 1 each has
        ``sub << (weight_bits + index_bits)`` added, ``sub`` its column within its group
    ptr : one pointer per group and one past the last:
        ``ceil(I/K) + ceil(P/K) + ceil(H/K) + 1`` per PE (a plain layer:
        ``ceil(I/K) + ceil(H/K) + 1``, no ``m_t`` groups)
    bias : gate-row biases (local row ``4k + g``), ``4 * cells_per_pe`` per PE
    peep : packed peepholes per local cell: ``p_i | p_f << wb | p_o << 2 wb`` (two's
        complement fields of ``weight_bits``)
    """

    words: list
    ptr: list
    bias: list
    peep: list


def peep_word_bits(weight_bits):
    """Bits of a packed peephole word (:attr:`ChannelImages.peep`): one ``weight_bits``
    field per gate with a peephole."""
    return len(PEEPHOLE_GATES) * weight_bits


def sub_bits(broadcast):
    """Bits of an entry's column within its group of ``broadcast`` columns (0 for K = 1)."""
    return int(broadcast - 1).bit_length()


def group_starts(lengths, broadcast):
    """First column of every group, and the end: the phases of ``lengths`` (columns
    numbered through all phases) each cut into groups of ``broadcast`` columns, the last
    group of a phase short. Returns an int64 array of ``sum(ceil(n / K)) + 1`` columns."""
    starts, first = [], 0
    for n in lengths:
        starts.append(np.arange(first, first + n, broadcast))
        first += n
    return np.concatenate(starts + [[first]]).astype(np.int64)


def phase_lengths(model):
    """Columns of each broadcast phase of a step of ``model``: ``(I, P, H)`` (``x_t``,
    ``y_{t-1}``, ``m_t``), or ``(I, H)`` for a plain layer, which has no projection
    phase."""
    if model.has_projection:
        return (model.n_in, model.n_proj, model.n_cells)
    return (model.n_in, model.n_proj)


def channel_images(model, broadcast=DEFAULTS["broadcast"]):
    """The :class:`ChannelImages` of a :class:`~ese_hw.model.compress.CompressedModel`
    for a channel that broadcasts ``broadcast`` (K) columns per transfer."""
    k = check_int("broadcast", broadcast)
    n = model.config.n_pe
    wb = model.config.weight_bits
    mask = (1 << wb) - 1
    h = model.n_cells
    hl = -(-h // n)
    lengths = phase_lengths(model)
    starts = group_starts(lengths, k)
    # Each column's place in its group: its offset from its phase's first column, mod K.
    phase_first = np.repeat(np.cumsum((0,) + lengths[:-1]), lengths)
    sub = (np.arange(sum(lengths)) - phase_first) % k
    sub_shift = wb + model.config.index_bits
    words, ptr, bias, peep = [], [], [], []
    for p in range(n):
        g_words, full = model.gate.words[p], model.gate.ptr[p]
        w = np.asarray(g_words, dtype=np.int64)
        if model.has_projection:
            y_words = model.ym.words[p]
            full = np.concatenate([full, len(g_words) + model.ym.ptr[p][1:]])
            w = np.concatenate([w, np.asarray(y_words, dtype=np.int64)])
        col_of = np.repeat(np.arange(len(full) - 1), np.diff(full))
        words.append((w | sub[col_of] << sub_shift).astype(np.uint32))
        ptr.append(full[starts])
        cells = np.arange(p, h, n)
        b = np.zeros(N_GATES * hl, dtype=np.int64)
        for g in range(N_GATES):
            b[N_GATES * np.arange(len(cells)) + g] = model.bias[g, cells]
        bias.append(b)
        pk = np.zeros(hl, dtype=np.int64)
        for j in range(len(PEEPHOLE_GATES)):
            pk[:len(cells)] |= (model.peep[j, cells] & mask) << (j * wb)
        peep.append(pk)
    return ChannelImages(words, ptr, bias, peep)


def load_words(images):
    """(target, pe, addr, data) rows for the load stream, as an int64 array (k, 4).

    ``data`` is the word's bit pattern (a bias is two's complement in ``accum_bits``;
    the receiver truncates it to its memory's width).
    """
    rows = []
    for p in range(len(images.words)):
        for target, values in ((LOAD_ENTRY, images.words[p]), (LOAD_PTR, images.ptr[p]),
                               (LOAD_BIAS, images.bias[p]), (LOAD_PEEP, images.peep[p])):
            v = np.asarray(values, dtype=np.int64)
            block = np.zeros((len(v), 4), dtype=np.int64)
            block[:, 0], block[:, 1], block[:, 2], block[:, 3] = target, p, np.arange(len(v)), v
            rows.append(block)
    return np.concatenate(rows) if rows else np.zeros((0, 4), np.int64)


def walk_groups(words, ptr, lengths, broadcast, *, weight_bits, index_bits):
    """Walk one PE's grouped image as the matrix reader does: (local row, column, weight)
    of every entry, padding included.

    Per group (``ptr[g] .. ptr[g+1] - 1``) the row position restarts at ``-1`` at the
    group's start and whenever an entry's ``sub`` differs from the previous entry's;
    the column is the group's first column plus ``sub``. With K = 1 this is
    :func:`ese_hw.model.encode.entry_table` of the ungrouped image.
    """
    starts = group_starts(lengths, broadcast)
    shift = weight_bits + index_bits
    words = np.asarray(words, dtype=np.int64)
    rows, cols, weights = [], [], []
    for g in range(len(ptr) - 1):
        pos, prev = -1, -1
        for word in words[ptr[g]:ptr[g + 1]]:
            sub = int(word) >> shift
            w = int(word) & ((1 << weight_bits) - 1)
            if sub != prev:
                pos, prev = -1, sub
            pos += ((int(word) >> weight_bits) & ((1 << index_bits) - 1)) + 1
            rows.append(pos)
            cols.append(int(starts[g]) + sub)
            weights.append(w - (1 << weight_bits) if w >> (weight_bits - 1) else w)
    return (np.array(rows, np.int64), np.array(cols, np.int64), np.array(weights, np.int64))


def model_entry_depth(model):
    """Entry words the longest PE of ``model`` needs (gate and projection entries; a
    plain layer has gate entries only)."""
    entries = model.gate.entries_per_pe
    if model.has_projection:
        entries = entries + model.ym.entries_per_pe
    return int(entries.max())


def check_model_fits(params, model):
    """Refuse (``ValueError``) a ``model`` whose images a channel of ``params`` cannot
    hold: another configuration, shape or Q formats, or more entry words in a PE than
    ``entry_depth``. ``None`` (no images) always fits."""
    if model is None:
        return
    for k in ("n_pe", "weight_bits", "index_bits", "act_bits", "accum_bits", "lut_bits",
              "lut_range_log2"):
        got, mine = getattr(model.config, k), getattr(params, k)
        if got != mine:
            raise ValueError(f"model has {k} = {got}, the channel has {mine}")
    shape = (model.n_in, model.n_cells, model.n_proj)
    mine = (params.n_in, params.n_cells, params.n_proj)
    if shape != mine:
        raise ValueError(f"model shape {shape} != channel shape {mine}")
    if model.has_projection != params.projection:
        kind = {True: "an LSTMP layer", False: "a plain LSTM layer"}
        raise ValueError(f"model is {kind[model.has_projection]}, the channel is built "
                         f"for {kind[params.projection]}")
    if {k: int(v) for k, v in model.qformats.items()} != dict(params.qformats):
        raise ValueError("model Q formats differ from the channel's")
    longest = model_entry_depth(model)
    if longest > params.entry_depth:
        raise ValueError(f"model needs {longest} entry words in a PE, more than "
                         f"entry_depth = {params.entry_depth}")
