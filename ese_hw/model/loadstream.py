"""The load stream on the host: its format, and the packer that writes ``load.bin``.

A channel's memories load at run time from one *load stream* (docs/contract.md section
5): a header of :data:`HEADER_FIELDS` beats (magic, format version, the channel's
configuration hash, the payload length), one payload word per beat, and the CRC-32 of
every beat before it. This module defines the format once, in plain numbers: the header
constants, the payload word's fields (:func:`load_word_fields`, the one field layout that
:class:`ese_hw.gateware.load.LoadChecker` checks and this packer writes), the
configuration hash (:func:`load_config`) and the checksum (zlib's CRC-32). The gateware
builds its Amaranth layouts from these fields; this module never imports Amaranth.

:func:`pack_load_words` turns the ``(target, pe, addr, data)`` rows of
:func:`ese_hw.model.images.load_words` into the exact payload integers,
:func:`frame_load_stream` frames them with the header and checksum, and
:func:`load_stream_bytes` / :func:`stack_load_bytes` / :func:`model_load_bytes` write the
whole stream as the bytes of ``load.bin`` and of the AXI4-Stream top's ``s_axis_load``.
``params`` here is a :class:`~ese_hw.gateware.params.ChannelParams` or
:class:`~ese_hw.gateware.params.StackParams` (read through their attributes only).
"""

import hashlib
import json
import zlib

import numpy as np

from .images import channel_images, check_model_fits, load_words
from .lstmp import N_GATES

__all__ = ["HEADER_FIELDS", "LOAD_CONFIG_FIELDS", "LOAD_FIELD_BITS", "LOAD_MAGIC",
           "LOAD_VERSION", "TARGET_BITS", "beat_bytes", "byte_width", "frame_load_stream",
           "load_config", "load_stream_bytes", "load_stream_words", "load_word_fields",
           "max_load_words", "model_load_bytes", "pack_bit_rows", "pack_load_words",
           "split_beats", "stack_load_bytes", "stack_load_config", "stack_load_words",
           "stream_crc"]

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
#: Bits of a payload word's ``target`` field: which of a PE's four memories
#: (:data:`~ese_hw.model.images.LOAD_ENTRY` ... ``LOAD_PEEP``) the word is for.
TARGET_BITS = 2
#: The ``ChannelParams`` fields that decide what a load word means: the model's
#: shape, PE count, widths, Q formats and tables, the broadcast grouping and the entry
#: memories (their address and pointer widths), and whether the layer has a projection
#: (hashed only for a plain layer, ``projection`` False, so that every LSTMP hash is what
#: it was before plain layers existed). The lane count, queue depth, cell-unit sharing and
#: timing change neither the words nor their meaning, so one load stream serves every
#: channel that differs only in those.
LOAD_CONFIG_FIELDS = ("n_in", "n_cells", "n_proj", "n_pe", "weight_bits", "index_bits",
                      "act_bits", "accum_bits", "qformats", "lut_bits", "lut_range_log2",
                      "broadcast", "entry_depth", "projection")


def load_word_fields(pe_bits, addr_bits, data_bits, layer_bits=0):
    """The fields of a payload word, least significant first: ``(name, width)`` pairs.

    Memory ``target`` (:data:`TARGET_BITS`) of PE ``pe``, word ``addr``, and ``data``
    (the word's bit pattern; a receiver narrower than ``data_bits`` keeps the low bits).
    A stack's word has a ``layer`` field after ``target`` (``layer_bits`` > 0); with one
    layer there is none, so a one-layer stack's word is a channel's, bit for bit.
    """
    layer = (("layer", layer_bits),) if layer_bits else ()
    return (("target", TARGET_BITS), *layer, ("pe", pe_bits), ("addr", addr_bits),
            ("data", data_bits))


# --------------------------------------------------------------------------------------
# Payload integers, vectorised over the words (a paper-shape model loads ~400k of them),
# exact for any width.

def pack_bit_rows(bits):
    """Rows of a ``(k, width)`` 0/1 matrix (least significant bit first) as Python ints."""
    bits = np.asarray(bits, dtype=np.uint8)
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


def pack_load_words(fields, rows):
    """Payload integers of the load stream.

    Parameters
    ----------
    fields : sequence of (name, width)
        :func:`load_word_fields` (``params.load_fields``).
    rows : (k, 4) or, for fields with a ``layer``, (k, 5) integers
        ``(target, pe, addr, data)`` rows of :func:`ese_hw.model.images.load_words`
        (``(target, layer, pe, addr, data)`` for a stack).

    Returns
    -------
    list of int
        One payload per row; ``data`` is truncated to the data field's width (two's
        complement for a negative value).

    Raises
    ------
    ValueError
        A target, layer, PE or address does not fit its field (it would load the wrong
        word).
    """
    fields = tuple(fields)
    rows = np.asarray(rows, dtype=np.int64).reshape(-1, len(fields))
    for name, width in fields:
        if width > 64:
            raise ValueError(f"cannot pack a {width}-bit field {name!r} (at most 64 bits)")
    for (name, width), col in zip(fields[:-1], rows.T, strict=False):
        if len(col) and (col.min() < 0 or col.max() >= 1 << width):
            raise ValueError(f"load {name} values must fit unsigned({width})")
    # Arithmetic shifts of int64: a negative data value comes out in two's complement.
    bits = np.concatenate([(col[:, None] >> np.arange(width)) & 1
                           for (_, width), col in zip(fields, rows.T, strict=True)], axis=1)
    return pack_bit_rows(bits)


def byte_width(bits):
    """Whole bytes that hold ``bits`` bits (an AXI4-Stream ``tdata`` is whole bytes)."""
    return max(1, -(-int(bits) // 8))


def _word_bits(fields):
    return sum(width for _, width in fields)


# --------------------------------------------------------------------------------------
# The header's configuration hash and payload length.

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


def max_load_words(params):
    """The most payload words a load stream for ``params`` can need: every PE's entry
    memory full, its pointers, biases (one per gate of a cell) and peepholes (one word per
    cell); a longer header length is refused."""
    per_pe = params.entry_depth + params.n_groups + 1 + (N_GATES + 1) * params.cells_per_pe
    return params.n_pe * per_pe


# --------------------------------------------------------------------------------------
# Whole streams: beats and bytes.

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


def load_stream_words(params, images):
    """A model's memory images as the beats of one load stream, as integers: the header
    (:data:`LOAD_MAGIC`, :data:`LOAD_VERSION`, :func:`load_config` of ``params``, the
    payload length), one :func:`load_word_fields` payload per word of
    :func:`ese_hw.model.images.load_words` (PE by PE: entries, pointers, biases,
    peepholes), and the :func:`stream_crc` of all of them. ``last`` belongs on the final
    beat.

    Raises
    ------
    ValueError
        The images do not fit the channel (PE count, entry depth, column count).
    """
    _check_images_fit(params, images)
    fields = params.load_fields
    return frame_load_stream(pack_load_words(fields, load_words(images)),
                             config=load_config(params), word_bits=_word_bits(fields))


def load_stream_bytes(params, images):
    """The exact bytes of ``load.bin``: :func:`load_stream_words` as the ``s_axis_load``
    stream of the AXI4-Stream top.

    One beat per word, each padded with zero bits to :func:`byte_width` of the word's
    bits (``params.load_layout.size``), little-endian (bit 0 of the word is bit 0 of the
    beat's first byte); the stream starts with the bytes ``ESEL`` and TLAST goes on the
    last (checksum) beat.

    Parameters
    ----------
    params : ChannelParams
        The channel the stream is for (its load word, configuration and memory sizes).
    images : ChannelImages
        ``ese_hw.model.images.channel_images(model, params.broadcast)``.

    Returns
    -------
    bytes
        ``(len(HEADER_FIELDS) + len(words) + 1) * byte_width(word bits)`` bytes.

    Raises
    ------
    ValueError
        The images do not fit the channel (PE count, entry depth, column count).
    """
    words = load_stream_words(params, images)
    return beat_bytes(words, byte_width(_word_bits(params.load_fields)))


def _layers(params):
    """Every layer's ``ChannelParams`` (a ``ChannelParams`` is a one-layer stack)."""
    return tuple(getattr(params, "layers", (params,)))


def stack_load_words(params, stack):
    """The beats of the one load stream that loads every layer of ``stack`` into a
    ``ChannelStack`` of ``params`` (integers): the header with the stack's configuration
    hash, every layer's :func:`~ese_hw.model.images.load_words` in layer order (each word
    with its ``layer``), the CRC-32. ``ValueError`` if a layer's model does not fit its
    channel."""
    layers = _layers(params)
    models = list(getattr(stack, "layers", (stack,)))
    if len(models) != len(layers):
        raise ValueError(f"model has {len(models)} layers, the stack {len(layers)}")
    rows = []
    for k, (p, model) in enumerate(zip(layers, models, strict=True)):
        check_model_fits(p, model)
        words = load_words(channel_images(model, p.broadcast))
        if len(layers) > 1:
            words = np.insert(words, 1, k, axis=1)      # (target, layer, pe, addr, data)
        rows.append(words)
    fields = params.load_fields
    payload = pack_load_words(fields, np.concatenate(rows))
    return frame_load_stream(payload, config=stack_load_config(layers),
                             word_bits=_word_bits(fields))


def stack_load_bytes(params, stack):
    """:func:`stack_load_words` as bytes: the stack's ``load.bin`` (one beat per word,
    :func:`byte_width` of the word's bits, little-endian)."""
    return beat_bytes(stack_load_words(params, stack),
                      byte_width(_word_bits(params.load_fields)))


def model_load_bytes(params, model):
    """:func:`load_stream_bytes` of ``model``'s images (``load.bin``), after checking
    that ``model`` fits the channel of ``params`` (``ValueError`` otherwise: another
    shape, configuration or Q formats, which the images alone do not show, or more
    entries than ``entry_depth``). For a ``StackParams`` the stack's one load stream
    (:func:`stack_load_bytes`) of ``model``'s layers."""
    if hasattr(params, "layers"):
        return stack_load_bytes(params, model)
    check_model_fits(params, model)
    return load_stream_bytes(params, channel_images(model, params.broadcast))
