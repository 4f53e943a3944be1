"""Per-PE memory images of a whole LSTMP channel, and the load-stream words that fill them.

A channel PE runs both SpMVs of a step from one entry memory and one pointer
memory: the gate SpMV's columns ``0 .. I+P-1`` (``x_t`` then ``y_{t-1}``),
then the projection's columns ``I+P .. I+P+H-1`` (``m_t``), whose entries follow
the gate entries in the entry memory. Besides those, each PE holds the biases
of its gate rows (the gate accumulators' initial values) and the three
peepholes of its cells.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["LOAD_ENTRY", "LOAD_PTR", "LOAD_BIAS", "LOAD_PEEP", "ChannelImages",
           "channel_images", "load_words"]

#: ``target`` codes of the channel's load stream (``ese_hw.gateware.load.LoadTarget``).
LOAD_ENTRY, LOAD_PTR, LOAD_BIAS, LOAD_PEEP = 0, 1, 2, 3


@dataclass(frozen=True)
class ChannelImages:
    """Memory contents of every PE of a channel (lists indexed by PE).

    Members
    -------
    words : entry words (gate entries, then projection entries)
    ptr : ``I + P + H + 1`` pointers per PE
    bias : gate-row biases (local row ``4k + g``), ``4 * cells_per_pe`` per PE
    peep : packed peepholes per local cell: ``p_i | p_f << wb | p_o << 2 wb`` (two's
        complement fields of ``weight_bits``)
    """

    words: list
    ptr: list
    bias: list
    peep: list


def channel_images(model):
    """The :class:`ChannelImages` of a :class:`~ese_hw.model.compress.CompressedModel`."""
    n = model.config.n_pe
    wb = model.config.weight_bits
    mask = (1 << wb) - 1
    h = model.n_cells
    hl = -(-h // n)
    words, ptr, bias, peep = [], [], [], []
    for p in range(n):
        g_words, y_words = model.gate.words[p], model.ym.words[p]
        words.append(np.concatenate([g_words, y_words]).astype(np.uint32))
        ptr.append(np.concatenate([model.gate.ptr[p], len(g_words) + model.ym.ptr[p][1:]]))
        cells = np.arange(p, h, n)
        b = np.zeros(4 * hl, dtype=np.int64)
        for g in range(4):
            b[4 * np.arange(len(cells)) + g] = model.bias[g, cells]
        bias.append(b)
        pk = np.zeros(hl, dtype=np.int64)
        for j in range(3):
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
