"""Run-time loading: the one load stream, its routing to memories, and its host-side packer.

A channel's memories (entries, pointers, biases, peepholes of every PE) are
written through one ``load`` stream of :func:`load_layout` words. The receiver
demultiplexes each word by ``pe`` and ``target`` (:func:`route_load`) onto
always-ready :func:`write_layout` ports, one per memory; a memory that loads at
run time is made with :func:`loadable_memory`. On the host,
:func:`pack_load_words` turns the ``(target, pe, addr, data)`` rows of
:func:`ese_hw.model.images.load_words` into the exact payload integers, and
:func:`pack_fields` packs any :mod:`amaranth.lib.data` layout the same way, and
:func:`load_stream_bytes` writes those words as the byte stream of ``load.bin`` and of
the AXI4-Stream top's ``s_axis_load`` (docs/contract.md, "The load byte stream").
"""

from collections.abc import Mapping

import numpy as np
from amaranth.hdl import Shape, unsigned
from amaranth.lib import data, enum
from amaranth.lib.memory import Memory

from ..model.images import LOAD_BIAS, LOAD_ENTRY, LOAD_PEEP, LOAD_PTR, load_words

__all__ = ["LoadTarget", "byte_width", "load_layout", "load_stream_bytes", "loadable_memory",
           "pack_fields", "pack_load_words", "route_load", "write_layout"]


class LoadTarget(enum.Enum, shape=2):
    """Which per-PE memory a ``load`` word goes to (codes of :mod:`ese_hw.model.images`)."""
    ENTRY = LOAD_ENTRY   #: entry word ``addr`` (gate entries, then projection entries)
    PTR = LOAD_PTR       #: pointer ``addr`` (``0 .. n_groups``)
    BIAS = LOAD_BIAS     #: bias of gate row ``addr`` (``4k + g``)
    PEEP = LOAD_PEEP     #: packed peepholes of local cell ``addr``


def write_layout(addr_bits, data_bits):
    """One memory word written at run time (the per-memory slice of the load stream)."""
    return data.StructLayout({"addr": unsigned(addr_bits), "data": unsigned(data_bits)})


def load_layout(pe_bits, addr_bits, data_bits):
    """One word of the load stream: memory ``target`` of PE ``pe``, word ``addr``.

    ``data`` is the word's bit pattern; a receiver narrower than ``data_bits``
    keeps the low bits (a negative bias is two's complement).
    """
    return data.StructLayout({
        "target": LoadTarget,
        "pe": unsigned(pe_bits),
        "addr": unsigned(addr_bits),
        "data": unsigned(data_bits),
    })


def route_load(m, load, strobe, ports):
    """Drive always-ready write ports from one load-stream payload.

    Parameters
    ----------
    m : Module
    load : view of :func:`load_layout` (at least ``target``, ``addr``, ``data``)
    strobe : Value
        The payload is for these ports this cycle (valid, ready and the PE matched).
    ports : dict of LoadTarget to stream interface of :func:`write_layout`
    """
    for target, port in ports.items():
        m.d.comb += [
            port.valid.eq(strobe & (load.target == target)),
            port.payload.addr.eq(load.addr),
            port.payload.data.eq(load.data),
        ]


def loadable_memory(m, name, *, shape, depth, init, load):
    """A ``Memory`` written at run time from an always-ready :func:`write_layout` stream.

    Parameters
    ----------
    m : Module
        The memory becomes ``m.submodules[name]``.
    shape, depth
        As for :class:`amaranth.lib.memory.Memory`.
    init : sequence or array of int, or None
        Elaboration-time contents (``None``: zeros).
    load : stream interface of :func:`write_layout`, always ready
        Every valid word is written (``data`` truncated to ``shape``).

    Returns
    -------
    Memory
        The memory, with its one write port driven; the caller makes its read ports.
    """
    init = [] if init is None else [int(v) for v in np.asarray(init).reshape(-1)]
    mem = Memory(shape=shape, depth=depth, init=init)
    m.submodules[name] = mem
    wr = mem.write_port()
    m.d.comb += [
        wr.addr.eq(load.payload.addr),
        wr.data.eq(load.payload.data),
        wr.en.eq(load.valid),
    ]
    return mem


# --------------------------------------------------------------------------------------
# Host side: payload integers, vectorised over the words (a paper-shape model loads
# ~400k of them), exact for any width.

def _field_bits(shape, values):
    """``values`` as a ``(k, width)`` bit matrix, least significant bit first.

    ``values`` is an integer array of ``k`` rows for a plain shape or an enum (two's
    complement, truncated to the width), a ``(k, length, ...)`` array for an
    :class:`~amaranth.lib.data.ArrayLayout`, and a mapping of field name to such
    columns for a :class:`~amaranth.lib.data.StructLayout` (missing fields are 0).
    """
    if isinstance(shape, data.ArrayLayout):
        values = np.asarray(values, dtype=np.int64)
        return np.concatenate([_field_bits(shape.elem_shape, values[:, i])
                               for i in range(shape.length)], axis=1)
    if isinstance(shape, data.StructLayout):
        return _struct_bits(shape, values)
    width = Shape.cast(shape).width
    if width > 64:
        raise ValueError(f"cannot pack a {width}-bit scalar field (at most 64 bits)")
    values = np.asarray(values, dtype=np.int64).reshape(-1)
    # Arithmetic shifts of int64: negative values come out in two's complement.
    return ((values[:, None] >> np.arange(width)) & 1).astype(np.uint8)


def _n_rows(columns):
    """The common number of rows of a struct's columns (mappings for nested structs)."""
    lengths = {_n_rows(v) if isinstance(v, Mapping) else len(np.asarray(v))
               for v in columns.values()}
    if len(lengths) != 1:
        raise ValueError(f"columns must have the same number of rows, not {sorted(lengths)}")
    return lengths.pop()


def _struct_bits(layout, columns):
    unknown = set(columns) - {name for name, _ in layout}
    if unknown:
        raise ValueError(f"the layout has no field(s) {sorted(unknown)}")
    k = _n_rows(columns)
    bits = np.zeros((k, layout.size), dtype=np.uint8)
    for name, field in layout:
        if name in columns:
            bits[:, field.offset:field.offset + field.width] = _field_bits(field.shape,
                                                                            columns[name])
    return bits


def pack_fields(layout, **columns):
    """Payload integers of ``layout`` from one column of values per field.

    Parameters
    ----------
    layout : amaranth.lib.data.StructLayout
    **columns : array_like
        One entry per row for each named field (fields not given are 0): integers
        for plain and enum fields (truncated to the field's width, so negative
        values become two's complement), ``(k, length)`` arrays for array fields,
        mappings for nested structs. Bit offsets and widths are the layout's own.

    Returns
    -------
    list of int
        ``layout.const(row).as_value().value`` for every row, as Python ints.
    """
    if not columns:
        raise ValueError("pack_fields needs at least one column")
    bits = _struct_bits(layout, columns)
    packed = np.packbits(bits, axis=1, bitorder="little")
    # Whole 64-bit chunks, least significant first, joined as Python ints (any width).
    n_chunks = max(1, -(-packed.shape[1] // 8))
    wide = np.zeros((len(bits), 8 * n_chunks), dtype=np.uint8)
    wide[:, :packed.shape[1]] = packed
    chunks = wide.view("<u8")
    words = chunks[:, -1].astype(object)
    for c in range(n_chunks - 2, -1, -1):
        words = (words << 64) | chunks[:, c].astype(object)
    return words.tolist()


def pack_load_words(layout, rows):
    """Payload integers of the load stream.

    Parameters
    ----------
    layout : :func:`load_layout`
    rows : (k, 4) integers
        ``(target, pe, addr, data)`` rows of :func:`ese_hw.model.images.load_words`.

    Returns
    -------
    list of int
        One payload per row; ``data`` is truncated to the data field's width.

    Raises
    ------
    ValueError
        A target, PE or address does not fit its field (it would load the wrong word).
    """
    rows = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
    columns = dict(zip(("target", "pe", "addr", "data"), rows.T, strict=True))
    for name in ("target", "pe", "addr"):
        width = layout[name].width
        col = columns[name]
        if len(col) and (col.min() < 0 or col.max() >= 1 << width):
            raise ValueError(f"load {name} values must fit unsigned({width})")
    return pack_fields(layout, **columns)


def byte_width(bits):
    """Whole bytes that hold ``bits`` bits (an AXI4-Stream ``tdata`` is whole bytes)."""
    return max(1, -(-int(bits) // 8))


def _check_images_fit(params, images):
    """Refuse (``ValueError``) images another channel's memories would hold: another PE
    count, more entry words than ``entry_depth``, or pointers for other columns."""
    if len(images.words) != params.n_pe:
        raise ValueError(f"images are for {len(images.words)} PEs, the channel has "
                         f"{params.n_pe}")
    longest = max(len(w) for w in images.words)
    if longest > params.entry_depth:
        raise ValueError(f"images need {longest} entry words in a PE, more than "
                         f"entry_depth = {params.entry_depth}")
    for p, ptr in enumerate(images.ptr):
        if len(ptr) != params.n_groups + 1:
            raise ValueError(f"PE {p} has {len(ptr)} pointers, the channel has "
                             f"n_groups + 1 = {params.n_groups + 1}")


def load_stream_bytes(params, images):
    """The exact bytes of ``load.bin``: a model's memory images as the ``s_axis_load``
    stream of the AXI4-Stream top.

    One beat per load word (the rows of :func:`ese_hw.model.images.load_words`, PE by
    PE: entries, pointers, biases, peepholes), each the :func:`load_layout` payload of
    ``params`` (``params.load_layout``) padded with zero bits to
    :func:`byte_width` ``(params.load_layout.size)`` bytes, little-endian (bit 0 of
    the payload is bit 0 of the beat's first byte). TLAST goes on the last beat.

    Parameters
    ----------
    params : ChannelParams
        The channel the stream is for (its load layout and memory sizes).
    images : ChannelImages
        ``ese_hw.model.images.channel_images(model)``.

    Returns
    -------
    bytes
        ``len(words) * byte_width(params.load_layout.size)`` bytes.

    Raises
    ------
    ValueError
        The images do not fit the channel (PE count, entry depth, column count).
    """
    _check_images_fit(params, images)
    layout = params.load_layout
    n_bytes = byte_width(layout.size)
    words = pack_load_words(layout, load_words(images))
    return b"".join(w.to_bytes(n_bytes, "little") for w in words)
