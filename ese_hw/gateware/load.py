"""Run-time loading in the gateware: the checker of the one load stream, and its routing
to memories.

A channel's memories (entries, pointers, biases, peepholes of every PE) are
written through one ``load`` stream. A load is one *load stream*
(docs/contract.md section 5, :mod:`ese_hw.model.loadstream`): a header of
:data:`~ese_hw.model.loadstream.HEADER_FIELDS` beats (magic, format version, the
channel's configuration hash, the payload length), the payload (one :func:`load_layout`
word per beat), and the CRC-32 of every beat before it; ``last`` marks the final beat.
:class:`LoadChecker` checks the framing as the beats arrive and passes on only the
payload words of a load whose header matched; a load counts (``loaded``) once its
checksum does. The receiver demultiplexes each payload word by ``pe`` and ``target``
(:func:`route_load`) onto always-ready :func:`write_layout` ports, one per memory; a
memory that loads at run time is made with :func:`loadable_memory`.

The format is defined once, on the host side, by :mod:`ese_hw.model.loadstream`: the
header constants, the configuration hash, the checksum and the payload word's fields
(:func:`~ese_hw.model.loadstream.load_word_fields`), from which :func:`word_layout` makes
the Amaranth layout the checker takes. The packer that writes ``load.bin`` is there too.
:func:`pack_fields` packs any :mod:`amaranth.lib.data` layout's payloads on the host
(testbench data and the top's ``s_axis_x`` bytes); it needs Amaranth's layouts, so it
stays beside them.
"""

from collections.abc import Mapping

import numpy as np
from amaranth.hdl import Module, Mux, Shape, Signal, unsigned
from amaranth.lib import data, enum, stream
from amaranth.lib.crc import catalog
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..model.images import LOAD_BIAS, LOAD_ENTRY, LOAD_PEEP, LOAD_PTR
from ..model.loadstream import (
    LOAD_FIELD_BITS,
    LOAD_MAGIC,
    LOAD_VERSION,
    TARGET_BITS,
    byte_width,
    load_word_fields,
    pack_bit_rows,
)
from ._checks import CheckedComponent, check_int

__all__ = ["LOAD_CRC", "LoadChecker", "LoadError", "LoadTarget", "load_beat_layout",
           "load_layout", "loadable_memory", "pack_fields", "route_load", "stack_load_layout",
           "word_layout", "write_layout"]

#: The checksum: CRC-32 as zlib and Ethernet compute it (reflected polynomial
#: 0x04C11DB7, initial and final XOR 0xFFFFFFFF), over the stream's bytes before the
#: checksum beat (each beat ``byte_width(word)`` bytes, little-endian); the host side
#: computes it with zlib (:func:`ese_hw.model.loadstream.stream_crc`).
LOAD_CRC = catalog.CRC32_ISO_HDLC


class LoadTarget(enum.Enum, shape=TARGET_BITS):
    """Which per-PE memory a ``load`` word goes to (codes of :mod:`ese_hw.model.images`)."""
    ENTRY = LOAD_ENTRY   #: entry word ``addr`` (gate entries, then projection entries)
    PTR = LOAD_PTR       #: pointer ``addr`` (``0 .. n_groups``)
    BIAS = LOAD_BIAS     #: bias of gate row ``addr`` (``4k + g``)
    PEEP = LOAD_PEEP     #: packed peepholes of local cell ``addr``


class LoadError(enum.Enum, shape=3):
    """Why the last load stream was refused (``load_error`` of the channel and the top).

    ``NONE`` while a load is under way and after one that passed (or before any). The
    header's values are :mod:`ese_hw.model.loadstream`'s."""
    NONE = 0       #: no error
    MAGIC = 1      #: the first beat is not ``LOAD_MAGIC``
    VERSION = 2    #: the second beat is not ``LOAD_VERSION``
    CONFIG = 3     #: the third beat is not this channel's ``load_config``
    #: the length is more than the memories hold (``max_load_words``), or ``last``
    #: came before the checksum beat (early) or not on it (late)
    LENGTH = 4
    CHECKSUM = 5   #: the checksum beat is not the CRC-32 of the beats before it


def write_layout(addr_bits, data_bits):
    """One memory word written at run time (the per-memory slice of the load stream)."""
    return data.StructLayout({"addr": unsigned(addr_bits), "data": unsigned(data_bits)})


def word_layout(fields):
    """The layout of a load-stream payload word of ``fields`` (``(name, width)`` pairs of
    :func:`~ese_hw.model.loadstream.load_word_fields`, least significant first):
    ``target`` is a :class:`LoadTarget`, every other field unsigned."""
    return data.StructLayout({name: LoadTarget if name == "target" else unsigned(width)
                              for name, width in fields})


def load_layout(pe_bits, addr_bits, data_bits):
    """One word of the load stream: memory ``target`` of PE ``pe``, word ``addr``.

    ``data`` is the word's bit pattern; a receiver narrower than ``data_bits``
    keeps the low bits (a negative bias is two's complement).
    """
    return word_layout(load_word_fields(pe_bits, addr_bits, data_bits))


def stack_load_layout(layer_bits, pe_bits, addr_bits, data_bits):
    """One payload word of a stack's load stream: :func:`load_layout` with a ``layer``
    field (which layer's channel the word is for) after ``target``; no ``layer`` field
    when ``layer_bits`` is 0 (one layer: a channel's word, bit for bit)."""
    return word_layout(load_word_fields(pe_bits, addr_bits, data_bits, layer_bits))


def load_beat_layout(word_layout):
    """One beat of a channel's ``load`` stream: a ``word`` (a header value, a payload word
    of ``word_layout`` or the checksum, in its low bits) and ``last`` on the stream's
    final beat (the AXI4-Stream top's TLAST)."""
    return data.StructLayout({"word": word_layout, "last": 1})


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


class _Expect(enum.Enum, shape=3):
    """The beat :class:`LoadChecker` expects next."""
    MAGIC = 0       # a new load stream (idle)
    VERSION = 1
    CONFIG = 2
    LENGTH = 3
    PAYLOAD = 4
    CHECKSUM = 5
    DRAIN = 6       # the rest of a refused stream, up to its last beat


class LoadChecker(CheckedComponent):
    """Checks each load stream's header, length and CRC-32 as its beats arrive.

    Every beat is taken in the cycle it is valid (``beats`` is always ready; the channel
    holds the stream off while frames are in flight). A beat is registered as it
    arrives (for timing) and checked the next cycle. Payload words go on to ``words``
    then, one cycle after they arrive, but only after a header that matched, so a
    stream for another configuration never reaches a memory. A stream refused anywhere
    is taken up to its ``last`` beat and dropped; the next beat starts a new stream.
    One beat per cycle, the CRC computed a whole word per cycle
    (:class:`amaranth.lib.crc.Processor` of :data:`LOAD_CRC`).

    Parameters (keyword-only)
    ----------
    word_layout : data.StructLayout
        A payload word (``ChannelParams.load_layout``), at least
        :data:`~ese_hw.model.loadstream.LOAD_FIELD_BITS` bits wide.
    config : int
        The configuration hash the third beat must carry
        (:func:`~ese_hw.model.loadstream.load_config`).
    max_words : int
        The most payload words a stream may announce
        (:func:`~ese_hw.model.loadstream.max_load_words`).
    preloaded : bool
        ``loaded`` before any stream (a channel whose memory images are baked in).

    Members
    -------
    beats : In(stream.Signature(load_beat_layout(word_layout), always_ready=True))
    words : Out(stream.Signature(word_layout, always_ready=True))
        The payload words of a stream whose header matched.
    loaded : Out(1)
        The last stream begun passed every check; with ``preloaded``, also before
        any stream began (the images the memories were configured with). Cleared by a
        stream's first beat, so a frame never runs on a model that a refused or cut-off
        stream meant to replace. A reset does not clear it (it is ``reset_less``, like
        the memories, which keep their contents): a reset in the middle of a stream
        leaves it low, a reset between streams leaves the model loaded.
    loading : Out(1)
        A stream's first beat has been taken and its last not yet checked (a beat in
        the input register counts).
    error : Out(LoadError)
        Why the last stream was refused; ``NONE`` from a stream's first beat on, after a
        stream that passed, and after a reset.
    """

    @classmethod
    def check_parameters(cls, *, word_layout, config, max_words, preloaded):
        if not isinstance(word_layout, data.StructLayout):
            raise TypeError(f"word_layout must be a data.StructLayout, not {word_layout!r}")
        if word_layout.size < LOAD_FIELD_BITS:
            raise ValueError(f"load words of {word_layout.size} bits cannot carry the "
                             f"{LOAD_FIELD_BITS}-bit header values")
        check_int("config", config, 0, (1 << LOAD_FIELD_BITS) - 1)
        check_int("max_words", max_words, 0, (1 << LOAD_FIELD_BITS) - 1)

    def __init__(self, *, word_layout, config, max_words, preloaded=False):
        self._word_layout = word_layout
        self._config = int(config)
        self._max_words = int(max_words)
        self._preloaded = bool(preloaded)
        super().__init__({
            "beats": In(stream.Signature(load_beat_layout(word_layout), always_ready=True)),
            "words": Out(stream.Signature(word_layout, always_ready=True)),
            "loaded": Out(1),
            "loading": Out(1),
            "error": Out(LoadError),
        })

    def elaborate(self, platform):
        m = Module()
        # The input register (for timing): the beat, and how its word compares with the
        # header's values and the length limit, computed on the way in. The checks and
        # the state machine act on those a cycle later: in one cycle, the 32-bit
        # compares, the state machine and the CRC behind them were 11 LUT levels at
        # 384 PEs' word layout.
        take = Signal()
        beat = Signal.like(self.beats.payload)
        value = beat.word.as_value()
        arriving = self.beats.payload.word.as_value()
        header = {_Expect.MAGIC: LOAD_MAGIC, _Expect.VERSION: LOAD_VERSION,
                  _Expect.CONFIG: self._config}
        matches = {where: Signal(name=f"is_{where.name.lower()}") for where in header}
        too_long, empty = Signal(), Signal()
        m.d.sync += [take.eq(self.beats.valid), beat.eq(self.beats.payload),
                     too_long.eq(arriving > self._max_words), empty.eq(arriving == 0),
                     *(matches[where].eq(arriving == want) for where, want in header.items())]
        m.submodules.crc = crc = LOAD_CRC(8 * byte_width(value.shape().width)).create()
        state = Signal(_Expect)
        remaining = Signal(range(self._max_words + 1))     # payload words still to come
        # Like the memories it speaks for, kept through a reset (an FPGA register's
        # initial value is its configuration's).
        loaded = Signal(init=int(self._preloaded), reset_less=True)
        fail = self._beat_error(m, state, value, beat.last, crc.crc, matches, too_long)

        m.d.comb += [
            self.loaded.eq(loaded),
            # A beat in the input register counts: a frame must not start beside it.
            self.loading.eq((state != _Expect.MAGIC) | take),
            # The CRC covers every beat before the checksum; a stream's first restarts it.
            crc.data.eq(value),
            crc.start.eq(take & (state == _Expect.MAGIC)),
            crc.valid.eq(take & (state.as_value() <= _Expect.PAYLOAD.value)),
            # A payload beat passes unless it carries last (early); written directly, not
            # through ``fail``, to keep the write enables' logic short.
            self.words.payload.eq(beat.word),
            self.words.valid.eq(take & (state == _Expect.PAYLOAD) & ~beat.last),
        ]
        with m.If(take & (state == _Expect.MAGIC)):
            m.d.sync += [loaded.eq(0), self.error.eq(LoadError.NONE)]
        with m.If(take & (state == _Expect.DRAIN)):
            with m.If(beat.last):
                m.d.sync += state.eq(_Expect.MAGIC)
        with m.Elif(take & (fail != LoadError.NONE)):
            m.d.sync += [self.error.eq(fail),
                         state.eq(Mux(beat.last, _Expect.MAGIC, _Expect.DRAIN))]
        with m.Elif(take):
            self._advance(m, state, remaining, value, empty, loaded)
        return m

    def _beat_error(self, m, state, value, last, crc, matches, too_long):
        """Why the beat in the input register fails in ``state`` (``NONE``: it passes);
        ``matches``: whether its word is each header value, ``too_long``: over the limit."""
        fail = Signal(LoadError)
        with m.Switch(state):
            for where, match in matches.items():
                with m.Case(where):
                    with m.If(~match):
                        m.d.comb += fail.eq(LoadError[where.name])
                    with m.Elif(last):                      # a stream shorter than a header
                        m.d.comb += fail.eq(LoadError.LENGTH)
            with m.Case(_Expect.LENGTH):
                with m.If(too_long | last):
                    m.d.comb += fail.eq(LoadError.LENGTH)
            with m.Case(_Expect.PAYLOAD):
                with m.If(last):                            # early: before the checksum
                    m.d.comb += fail.eq(LoadError.LENGTH)
            with m.Case(_Expect.CHECKSUM):
                with m.If(~last):                           # late: more words than announced
                    m.d.comb += fail.eq(LoadError.LENGTH)
                with m.Elif(value != crc):
                    m.d.comb += fail.eq(LoadError.CHECKSUM)
        return fail

    def _advance(self, m, state, remaining, value, empty, loaded):
        """The next expected beat after a beat that passed (``empty``: its word is 0)."""
        with m.Switch(state):
            with m.Case(_Expect.MAGIC):
                m.d.sync += state.eq(_Expect.VERSION)
            with m.Case(_Expect.VERSION):
                m.d.sync += state.eq(_Expect.CONFIG)
            with m.Case(_Expect.CONFIG):
                m.d.sync += state.eq(_Expect.LENGTH)
            with m.Case(_Expect.LENGTH):
                m.d.sync += [remaining.eq(value),
                             state.eq(Mux(empty, _Expect.CHECKSUM, _Expect.PAYLOAD))]
            with m.Case(_Expect.PAYLOAD):
                m.d.sync += remaining.eq(remaining - 1)
                with m.If(remaining == 1):
                    m.d.sync += state.eq(_Expect.CHECKSUM)
            with m.Case(_Expect.CHECKSUM):
                m.d.sync += [state.eq(_Expect.MAGIC), loaded.eq(1)]


# --------------------------------------------------------------------------------------
# Host side: payload integers of any layout (testbench data), vectorised over the rows.

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
    return pack_bit_rows(_struct_bits(layout, columns))
