"""Run-time loading: the one checked load stream, its routing to memories, and its host-side packer.

A channel's memories (entries, pointers, biases, peepholes of every PE) are
written through one ``load`` stream. A load is one *load stream*
(docs/contract.md section 5): a header of :data:`HEADER_FIELDS` beats (magic,
format version, the channel's configuration hash, the payload length), the payload
(one :func:`load_layout` word per beat), and the CRC-32 of every beat before it;
``last`` marks the final beat. :class:`LoadChecker` checks the framing as the beats
arrive and passes on only the payload words of a load whose header matched; a load
counts (``loaded``) once its checksum does. The receiver demultiplexes each payload
word by ``pe`` and ``target`` (:func:`route_load`) onto always-ready
:func:`write_layout` ports, one per memory; a memory that loads at run time is made
with :func:`loadable_memory`.

On the host, :func:`pack_load_words` turns the ``(target, pe, addr, data)`` rows of
:func:`ese_hw.model.images.load_words` into the exact payload integers,
:func:`pack_fields` packs any :mod:`amaranth.lib.data` layout the same way,
:func:`load_stream_words` frames the payload with the header and checksum, and
:func:`load_stream_bytes` writes the whole stream as the bytes of ``load.bin`` and of the
AXI4-Stream top's ``s_axis_load``. The header's constants, the configuration hash
(:func:`load_config`) and the checksum (:data:`LOAD_CRC`, zlib's CRC-32) are defined
here only: the checker and the packer both take them from this module.
"""

import hashlib
import json
import zlib
from collections.abc import Mapping

import numpy as np
from amaranth.hdl import Module, Mux, Shape, Signal, unsigned
from amaranth.lib import data, enum, stream
from amaranth.lib.crc import catalog
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..model.images import LOAD_BIAS, LOAD_ENTRY, LOAD_PEEP, LOAD_PTR, load_words
from ..model.lstmp import N_GATES
from ._checks import CheckedComponent, check_int

__all__ = ["HEADER_FIELDS", "LOAD_CONFIG_FIELDS", "LOAD_CRC", "LOAD_FIELD_BITS", "LOAD_MAGIC",
           "LOAD_VERSION", "LoadChecker", "LoadError", "LoadTarget", "byte_width",
           "frame_load_stream", "load_beat_layout", "load_config", "load_layout",
           "stack_load_config", "stack_load_layout",
           "load_stream_bytes", "load_stream_words", "beat_bytes", "loadable_memory",
           "max_load_words",
           "pack_fields", "pack_load_words", "route_load", "split_beats", "stream_crc",
           "write_layout"]

#: First beat of every load stream: the bytes ``ESEL`` (little-endian, so ``load.bin``
#: starts with them).
LOAD_MAGIC = int.from_bytes(b"ESEL", "little")
#: Second beat: the load stream's format version (this module's header and checksum).
LOAD_VERSION = 1
#: The header's beats, in order; each carries one value in the beat's word (zero above
#: it). After them come ``length`` payload words, then the checksum beat.
HEADER_FIELDS = ("magic", "version", "config", "length")
#: Bits of a header value and of the checksum: every load word is at least this wide
#: (``ChannelParams.load_data_bits`` makes sure of it).
LOAD_FIELD_BITS = 32
#: The checksum: CRC-32 as zlib and Ethernet compute it (reflected polynomial
#: 0x04C11DB7, initial and final XOR 0xFFFFFFFF), over the stream's bytes before the
#: checksum beat (each beat ``byte_width(word)`` bytes, little-endian).
LOAD_CRC = catalog.CRC32_ISO_HDLC
#: The :class:`ChannelParams` fields that decide what a load word means: the model's
#: shape, PE count, widths, Q formats and tables, the broadcast grouping and the entry
#: memories (their address and pointer widths), and whether the layer has a projection
#: (hashed only for a plain layer, ``projection`` False, so that every LSTMP hash is what
#: it was before plain layers existed). The lane count, queue depth, cell-unit sharing and
#: timing change neither the words nor their meaning, so one load stream serves every
#: channel that differs only in those.
LOAD_CONFIG_FIELDS = ("n_in", "n_cells", "n_proj", "n_pe", "weight_bits", "index_bits",
                      "act_bits", "accum_bits", "qformats", "lut_bits", "lut_range_log2",
                      "broadcast", "entry_depth", "projection")


class LoadTarget(enum.Enum, shape=2):
    """Which per-PE memory a ``load`` word goes to (codes of :mod:`ese_hw.model.images`)."""
    ENTRY = LOAD_ENTRY   #: entry word ``addr`` (gate entries, then projection entries)
    PTR = LOAD_PTR       #: pointer ``addr`` (``0 .. n_groups``)
    BIAS = LOAD_BIAS     #: bias of gate row ``addr`` (``4k + g``)
    PEEP = LOAD_PEEP     #: packed peepholes of local cell ``addr``


class LoadError(enum.Enum, shape=3):
    """Why the last load stream was refused (``load_error`` of the channel and the top).

    ``NONE`` while a load is under way and after one that passed (or before any)."""
    NONE = 0       #: no error
    MAGIC = 1      #: the first beat is not :data:`LOAD_MAGIC`
    VERSION = 2    #: the second beat is not :data:`LOAD_VERSION`
    CONFIG = 3     #: the third beat is not this channel's :func:`load_config`
    #: the length is more than the memories hold (:func:`max_load_words`), or ``last``
    #: came before the checksum beat (early) or not on it (late)
    LENGTH = 4
    CHECKSUM = 5   #: the checksum beat is not the CRC-32 of the beats before it


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
    holds the stream off while frames are in flight). Payload words go on to ``words``
    in the cycle they arrive, but only after a header that matched, so a stream for
    another configuration never reaches a memory. A stream refused anywhere is taken up
    to its ``last`` beat and dropped; the next beat starts a new stream. The check adds
    no cycles: one beat per cycle, the CRC computed a whole word per cycle
    (:class:`amaranth.lib.crc.Processor` of :data:`LOAD_CRC`).

    Parameters (keyword-only)
    ----------
    word_layout : data.StructLayout
        A payload word (``ChannelParams.load_layout``), at least :data:`LOAD_FIELD_BITS`
        bits wide.
    config : int
        The configuration hash the third beat must carry (:func:`load_config`).
    max_words : int
        The most payload words a stream may announce (:func:`max_load_words`).
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
        A stream's first beat has been taken and its last has not.
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
        beat = self.beats.payload
        value = beat.word.as_value()
        m.submodules.crc = crc = LOAD_CRC(8 * byte_width(value.shape().width)).create()
        state = Signal(_Expect)
        remaining = Signal(range(self._max_words + 1))     # payload words still to come
        # Like the memories it speaks for, kept through a reset (an FPGA register's
        # initial value is its configuration's).
        loaded = Signal(init=int(self._preloaded), reset_less=True)
        take = self.beats.valid
        fail = self._beat_error(m, state, value, beat.last, crc.crc)

        m.d.comb += [
            self.loaded.eq(loaded),
            self.loading.eq(state != _Expect.MAGIC),
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
            self._advance(m, state, remaining, value, loaded)
        return m

    def _beat_error(self, m, state, value, last, crc):
        """Why the beat now offered fails in ``state`` (``NONE``: it passes)."""
        fail = Signal(LoadError)
        expected = {_Expect.MAGIC: LOAD_MAGIC, _Expect.VERSION: LOAD_VERSION,
                    _Expect.CONFIG: self._config}
        with m.Switch(state):
            for where, want in expected.items():
                with m.Case(where):
                    with m.If(value != want):
                        m.d.comb += fail.eq(LoadError[where.name])
                    with m.Elif(last):                      # a stream shorter than a header
                        m.d.comb += fail.eq(LoadError.LENGTH)
            with m.Case(_Expect.LENGTH):
                with m.If((value > self._max_words) | last):
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

    def _advance(self, m, state, remaining, value, loaded):
        """The next expected beat after a beat that passed."""
        with m.Switch(state):
            with m.Case(_Expect.MAGIC):
                m.d.sync += state.eq(_Expect.VERSION)
            with m.Case(_Expect.VERSION):
                m.d.sync += state.eq(_Expect.CONFIG)
            with m.Case(_Expect.CONFIG):
                m.d.sync += state.eq(_Expect.LENGTH)
            with m.Case(_Expect.LENGTH):
                m.d.sync += [remaining.eq(value),
                             state.eq(Mux(value == 0, _Expect.CHECKSUM, _Expect.PAYLOAD))]
            with m.Case(_Expect.PAYLOAD):
                m.d.sync += remaining.eq(remaining - 1)
                with m.If(remaining == 1):
                    m.d.sync += state.eq(_Expect.CHECKSUM)
            with m.Case(_Expect.CHECKSUM):
                m.d.sync += [state.eq(_Expect.MAGIC), loaded.eq(1)]


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
    rows : (k, 4) or, for a :func:`stack_load_layout` with a layer field, (k, 5) integers
        ``(target, pe, addr, data)`` rows of :func:`ese_hw.model.images.load_words`
        (``(target, layer, pe, addr, data)`` for a stack).

    Returns
    -------
    list of int
        One payload per row; ``data`` is truncated to the data field's width.

    Raises
    ------
    ValueError
        A target, layer, PE or address does not fit its field (it would load the wrong
        word).
    """
    names = tuple(name for name, _ in layout)          # a stack's word has a layer field
    rows = np.asarray(rows, dtype=np.int64).reshape(-1, len(names))
    columns = dict(zip(names, rows.T, strict=True))
    for name in names[:-1]:
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


def _config_fields(params):
    fields = {name: getattr(params, name) for name in LOAD_CONFIG_FIELDS}
    fields["qformats"] = {k: int(v) for k, v in dict(fields["qformats"]).items()}
    if fields["projection"]:
        del fields["projection"]        # LSTMP: the hash it had before plain layers
    return fields


def _hash32(value):
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def load_config(params):
    """The configuration hash of a load stream's third beat: the first 4 bytes
    (little-endian) of the SHA-256 of ``params``' :data:`LOAD_CONFIG_FIELDS` as compact
    JSON with sorted keys. ``params`` is a ``ChannelParams`` (or anything with those
    attributes); the gateware compares with this same number."""
    return _hash32(_config_fields(params))


def stack_load_config(layers):
    """The configuration hash of a stack of channels (``layers``: every layer's
    ``ChannelParams``, layer 0 first). One layer: its :func:`load_config`, so a one-layer
    stack takes a channel's load stream unchanged. Several: the same hash of
    ``{"layers": [...]}``, every layer's :data:`LOAD_CONFIG_FIELDS` in order, so a
    stream for another layer count, order or any layer's shape is refused."""
    layers = list(layers)
    if len(layers) == 1:
        return load_config(layers[0])
    return _hash32({"layers": [_config_fields(p) for p in layers]})


def stack_load_layout(layer_bits, pe_bits, addr_bits, data_bits):
    """One payload word of a stack's load stream: :func:`load_layout` with a ``layer``
    field (which layer's channel the word is for) after ``target``; no ``layer`` field
    when ``layer_bits`` is 0 (one layer: a channel's word, bit for bit)."""
    if layer_bits == 0:
        return load_layout(pe_bits, addr_bits, data_bits)
    return data.StructLayout({
        "target": LoadTarget,
        "layer": unsigned(layer_bits),
        "pe": unsigned(pe_bits),
        "addr": unsigned(addr_bits),
        "data": unsigned(data_bits),
    })


def max_load_words(params):
    """The most payload words a load stream for ``params`` can need: every PE's entry
    memory full, its pointers, biases (one per gate of a cell) and peepholes (one word per
    cell); a longer header length is refused."""
    per_pe = params.entry_depth + params.n_groups + 1 + (N_GATES + 1) * params.cells_per_pe
    return params.n_pe * per_pe


def split_beats(blob, word_bits):
    """The beats of a load stream's bytes (``load.bin``) as integers, ``byte_width(word_bits)``
    bytes each; ``ValueError`` if ``blob`` is not whole beats."""
    n_bytes = byte_width(word_bits)
    if len(blob) % n_bytes:
        raise ValueError(f"a load stream of {len(blob)} bytes is not whole beats of {n_bytes}")
    return [int.from_bytes(blob[k:k + n_bytes], "little") for k in range(0, len(blob), n_bytes)]


def beat_bytes(words, n_bytes):
    """A load stream's beats ``words`` (integers) as ``load.bin`` bytes: ``n_bytes`` per
    beat, little-endian (bit 0 of a word is bit 0 of its first byte)."""
    return b"".join(int(w).to_bytes(n_bytes, "little") for w in words)


def stream_crc(words, word_bits):
    """The checksum of a load stream's beats ``words`` (integers of ``word_bits`` bits):
    ``zlib.crc32`` of their bytes, ``byte_width(word_bits)`` bytes each, little-endian."""
    return zlib.crc32(beat_bytes(words, byte_width(word_bits)))


def frame_load_stream(payload, *, config, word_bits):
    """One load stream around ``payload`` (integers of ``word_bits`` bits): the header
    (:data:`LOAD_MAGIC`, :data:`LOAD_VERSION`, ``config``, ``len(payload)``), the payload
    and its :func:`stream_crc`. ``last`` belongs on the final beat."""
    words = [LOAD_MAGIC, LOAD_VERSION, int(config), len(payload), *payload]
    return words + [stream_crc(words, word_bits)]


def load_stream_words(params, images):
    """A model's memory images as the beats of one load stream, as integers: the header
    (:data:`LOAD_MAGIC`, :data:`LOAD_VERSION`, :func:`load_config` of ``params``, the
    payload length), one :func:`load_layout` payload per word of
    :func:`ese_hw.model.images.load_words` (PE by PE: entries, pointers, biases,
    peepholes), and the :func:`stream_crc` of all of them. ``last`` belongs on the final
    beat.

    Raises
    ------
    ValueError
        The images do not fit the channel (PE count, entry depth, column count).
    """
    _check_images_fit(params, images)
    layout = params.load_layout
    return frame_load_stream(pack_load_words(layout, load_words(images)),
                             config=load_config(params), word_bits=layout.size)


def load_stream_bytes(params, images):
    """The exact bytes of ``load.bin``: :func:`load_stream_words` as the ``s_axis_load``
    stream of the AXI4-Stream top.

    One beat per word, each padded with zero bits to :func:`byte_width`
    ``(params.load_layout.size)`` bytes, little-endian (bit 0 of the word is bit 0 of
    the beat's first byte); the stream starts with the bytes ``ESEL`` and TLAST goes on
    the last (checksum) beat.

    Parameters
    ----------
    params : ChannelParams
        The channel the stream is for (its load layout, configuration and memory sizes).
    images : ChannelImages
        ``ese_hw.model.images.channel_images(model, params.broadcast)``.

    Returns
    -------
    bytes
        ``(len(HEADER_FIELDS) + len(words) + 1) * byte_width(params.load_layout.size)``
        bytes.

    Raises
    ------
    ValueError
        The images do not fit the channel (PE count, entry depth, column count).
    """
    words = load_stream_words(params, images)
    return beat_bytes(words, byte_width(params.load_layout.size))
