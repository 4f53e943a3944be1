"""Stacked layers on chip: L channels in a pipeline, one per layer, for every frame.

:class:`ChannelStack` holds one :class:`~ese_hw.gateware.channel.Channel` per layer
of a compressed stack (each with its own PEs, memory images and recurrent state, and
its own :class:`~ese_hw.gateware.channel.ChannelParams` from ``for_model``), and wires
layer ``k``'s ``y`` stream straight into layer ``k + 1``'s ``x`` stream, so a frame
never returns to the host between layers::

    x --> Channel 0 --y/x--> Channel 1 --y/x--> ... --> Channel L-1 --> y
             |  reset FIFO 0 ^   |  reset FIFO 1 ^
             +---------------+   +---------------+
    load --> LoadChecker --words (by layer)--> every channel's memories

Frames pipeline across the layers: layer 1 works on frame t while layer 0 works on
frame t + 1, so the frame interval is the slowest layer's and the latency the sum of
the layers' (:func:`ese_hw.model.cycles.stack_frame_cycles` counts both). A layer's
``y`` is back-pressured when the next layer's two x slots are full.

Lane resets
    ``x`` carries ``reset`` bits on a frame's first element; ``y`` does not. Between
    layers ``k`` and ``k + 1`` a FIFO of :data:`RESET_FIFO_DEPTH` reset words carries
    them: pushed when layer ``k`` takes a frame's first ``x`` element, popped when
    layer ``k + 1`` takes that frame's first element (layer ``k``'s first ``y`` of it).
    Neither side can lose a word: layer ``k`` takes a first element only while the FIFO
    has room, layer ``k + 1`` only while it holds a word. Neither wait ever happens: a
    word is pushed long before its frame's ``y`` exists, and a layer never holds more
    than 4 frames between its first ``x`` and its first ``y`` (frame ``f + 4`` needs
    the x slot that frame ``f + 2``'s X phase frees, which starts after frame
    ``f + 1``'s read-out, which waits until frame ``f``'s ``y`` has all left). The test
    of the stack holds the cycles equal to the cycle model, which has no such wait.

Load
    One load stream loads the whole stack (docs/contract.md section 5): the header's
    configuration hash covers every layer (:func:`~ese_hw.gateware.load.stack_load_config`),
    and each payload word carries a ``layer`` field that routes it to that layer's
    channel (:func:`~ese_hw.gateware.load.stack_load_layout`). One
    :class:`~ese_hw.gateware.load.LoadChecker` checks the stream; a load waits until
    every layer is idle. With one layer there is no ``layer`` field and the hash is the
    channel's, so a one-layer stack takes a channel's ``load.bin`` byte for byte.
"""

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Cat, Module, Mux, Shape, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..model.images import channel_images, load_words
from ..model.timing import DEFAULT_TIMING
from ._params import CheckedComponent
from .channel import Channel, ChannelParams
from .load import (
    LOAD_FIELD_BITS,
    LoadChecker,
    LoadError,
    LoadTarget,
    beat_bytes,
    byte_width,
    frame_load_stream,
    load_beat_layout,
    pack_load_words,
    stack_load_config,
    stack_load_layout,
)

__all__ = ["RESET_FIFO_DEPTH", "ChannelStack", "StackParams", "as_stack_params",
           "stack_load_bytes", "stack_load_words"]

#: Parameters every layer of a stack shares: the lanes run in lock-step through every
#: layer, an activation keeps its width, and one cycle model steps every layer with one
#: queue depth, broadcast width, cell sharing and timing (:meth:`StackParams.for_stack`
#: gives every layer the same).
_SHARED = ("n_channels", "act_bits", "queue_depth", "broadcast", "ew_share", "timing")

#: Reset words between two layers: the most frames a layer can hold from taking a
#: frame's first x element to handing on its first y element (module doc).
RESET_FIFO_DEPTH = 4


@dataclass(frozen=True)
class StackParams:
    """Every layer's :class:`ChannelParams` (layer 0 first), and what follows for the stack.

    Checked on construction (``TypeError`` / ``ValueError``): at least one layer; layer
    ``k + 1``'s ``n_in`` is layer ``k``'s ``n_proj``; every layer has the same lane
    count, ``act_bits``, activation format ``fa`` (an integer ``y`` passes on
    unchanged), queue depth, broadcast width, ``ew_share`` and timing (one cycle model
    steps them all).

    Members
    -------
    layers : tuple of ChannelParams
    n_layers, n_in, n_proj, n_pe : int
        L, layer 0's inputs, the last layer's outputs, the PEs of every layer together.
    n_channels, act_bits, queue_depth, broadcast, ew_share, timing
        What every layer shares.
    index_bits : int
        Layer 0's (``compress_stack`` gives every layer the same configuration).
    x_layout, y_layout : data layouts
        Layer 0's ``x`` and the last layer's ``y`` payloads.
    layer_bits : int
        Width of a load word's ``layer`` field (0 for one layer: no field).
    load_layout, load_beat_layout : data layouts
        A payload word of the stack's load stream, and a beat of it.
    load_config, load_max_words : int
        The stream's configuration hash and its most payload words (every layer's).
    signature : wiring.Signature
        The stack's ports (:class:`ChannelStack`).
    """

    layers: tuple

    def __post_init__(self):
        layers = tuple(self.layers)
        if not layers:
            raise ValueError("a stack needs at least one layer")
        for k, p in enumerate(layers):
            if not isinstance(p, ChannelParams):
                raise TypeError(f"layer {k} must be a ChannelParams, not {p!r}")
        first = layers[0]
        for k in range(1, len(layers)):
            p, prev = layers[k], layers[k - 1]
            if p.n_in != prev.n_proj:
                raise ValueError(f"layer {k} has n_in = {p.n_in}, layer {k - 1} gives "
                                 f"n_proj = {prev.n_proj}")
            for name in _SHARED:
                if getattr(p, name) != getattr(first, name):
                    raise ValueError(f"layer {k} has {name} = {getattr(p, name)}, layer 0 "
                                     f"has {getattr(first, name)}")
            if p.qformats["fa"] != first.qformats["fa"]:
                raise ValueError(f"layer {k} has fa = {p.qformats['fa']}, layer 0 has "
                                 f"{first.qformats['fa']}")
        object.__setattr__(self, "layers", layers)

    @classmethod
    def for_stack(cls, stack, *, n_channels=1, queue_depth=8, broadcast=1, ew_share=1,
                  entry_depth=None, timing=DEFAULT_TIMING):
        """Parameters sized for ``stack`` (a ``CompressedStack``, or a ``CompressedModel``
        as one layer): every layer's :meth:`ChannelParams.for_model` with the same
        lanes, queue depth, broadcast width, cell sharing and timing. ``entry_depth`` is
        ``None`` (each layer's exact need), or one value per layer."""
        models = _layers_of(stack)
        depths = [None] * len(models) if entry_depth is None else list(entry_depth)
        if len(depths) != len(models):
            raise ValueError(f"entry_depth has {len(depths)} values for {len(models)} layers")
        return cls(tuple(ChannelParams.for_model(
            m, n_channels=n_channels, queue_depth=queue_depth, broadcast=broadcast,
            ew_share=ew_share, entry_depth=d, timing=timing) for m, d in zip(models, depths,
                                                                             strict=True)))

    @property
    def n_layers(self):
        return len(self.layers)

    @property
    def n_in(self):
        return self.layers[0].n_in

    @property
    def n_proj(self):
        return self.layers[-1].n_proj

    @property
    def n_pe(self):
        return sum(p.n_pe for p in self.layers)

    n_channels = property(lambda self: self.layers[0].n_channels)
    act_bits = property(lambda self: self.layers[0].act_bits)
    queue_depth = property(lambda self: self.layers[0].queue_depth)
    broadcast = property(lambda self: self.layers[0].broadcast)
    ew_share = property(lambda self: self.layers[0].ew_share)
    timing = property(lambda self: self.layers[0].timing)
    index_bits = property(lambda self: self.layers[0].index_bits)

    @property
    def x_layout(self):
        return self.layers[0].x_layout

    @property
    def y_layout(self):
        return self.layers[-1].y_layout

    @property
    def layer_bits(self):
        return ceil_log2(self.n_layers)

    @property
    def load_layout(self):
        """A payload word of the stack's load stream (:func:`stack_load_layout`): every
        field as wide as the widest layer's, the data field widened where needed so that
        a word holds a 32-bit header value."""
        if self.n_layers == 1:
            return self.layers[0].load_layout
        pe_bits = max(p.pe_bits for p in self.layers)
        addr_bits = max(p.load_addr_bits for p in self.layers)
        others = Shape.cast(LoadTarget).width + self.layer_bits + pe_bits + addr_bits
        data_bits = max(max(p.load_data_bits for p in self.layers), LOAD_FIELD_BITS - others)
        return stack_load_layout(self.layer_bits, pe_bits, addr_bits, data_bits)

    @property
    def load_beat_layout(self):
        return load_beat_layout(self.load_layout)

    @property
    def load_config(self):
        return stack_load_config(self.layers)

    @property
    def load_max_words(self):
        return sum(p.load_max_words for p in self.layers)

    @property
    def signature(self):
        """The stack's ports: a channel's (:attr:`ChannelParams.signature`) with the
        stack's layouts, and ``layer_done`` (every layer's ``frame_done``)."""
        return wiring.Signature({
            "x": In(stream.Signature(self.x_layout)),
            "y": Out(stream.Signature(self.y_layout)),
            "load": In(stream.Signature(self.load_beat_layout)),
            "frame_done": Out(1),
            "layer_done": Out(self.n_layers),
            "busy": Out(1),
            "loaded": Out(1),
            "loading": Out(1),
            "load_error": Out(LoadError),
        })

    def to_dict(self):
        """JSON-ready: ``layers`` (every layer's ``ChannelParams.to_dict()``) and the
        stack's load word (``load_layout`` fields, ``load_config``, ``load_max_words``)."""
        return {"layers": [p.to_dict() for p in self.layers],
                "load_layout": {name: {"offset": f.offset, "width": f.width}
                                for name, f in self.load_layout},
                "load_config": self.load_config, "load_max_words": self.load_max_words}

    @classmethod
    def from_dict(cls, d):
        """Inverse of :meth:`to_dict` (the load figures are recomputed)."""
        return cls(tuple(ChannelParams.from_dict(p) for p in d["layers"]))


def _layers_of(stack):
    """The ``CompressedModel`` s of a stack (or of one model, as one layer)."""
    return list(getattr(stack, "layers", (stack,)))


def as_stack_params(params):
    """``params`` as :class:`StackParams` (a ``ChannelParams`` is a one-layer stack)."""
    if isinstance(params, StackParams):
        return params
    if isinstance(params, ChannelParams):
        return StackParams((params,))
    raise TypeError(f"params must be a StackParams or a ChannelParams, not {params!r}")


class ChannelStack(CheckedComponent):
    """L :class:`Channel` s, layer ``k``'s ``y`` into layer ``k + 1``'s ``x`` (module doc).

    Parameters (keyword-only)
    ----------
    params : StackParams
    model : CompressedStack, optional
        Elaboration-time memory images of every layer (else load them through ``load``);
        each layer must fit its parameters.

    Members
    -------
    x, y, load, frame_done, busy, loaded, loading, load_error
        As for :class:`Channel` (x is layer 0's, y and ``frame_done`` the last layer's,
        the load stream and its status the stack's; ``busy``: some layer has a frame
        in flight, so a load waits).
    layer_done : Out(L)
        Every layer's ``frame_done``.
    """

    @classmethod
    def check_parameters(cls, *, params, model):
        if not isinstance(params, StackParams):
            raise TypeError(f"params must be a StackParams, not {params!r}")
        if model is not None:
            models = _layers_of(model)
            if len(models) != params.n_layers:
                raise ValueError(f"model has {len(models)} layers, the stack "
                                 f"{params.n_layers}")
            for p, m in zip(params.layers, models, strict=True):
                Channel.check(**p.kwargs(), model=m)

    def __init__(self, *, params, model=None):
        self._params = params
        self._models = None if model is None else _layers_of(model)
        super().__init__(params.signature)

    @property
    def params(self):
        """The stack's :class:`StackParams`."""
        return self._params

    @property
    def n_proj(self):
        """Outputs per frame (the last layer's ``n_proj``)."""
        return self._params.n_proj

    def elaborate(self, platform):
        m = Module()
        sp = self._params
        chans = []
        for k, p in enumerate(sp.layers):
            chan = Channel.from_params(p, model=None if self._models is None
                                       else self._models[k], checked_words=True)
            m.submodules[f"layer{k}"] = chan
            chans.append(chan)
        self._load(m, chans)
        fifos = [SyncFIFO(width=sp.n_channels, depth=RESET_FIFO_DEPTH)
                 for _ in range(sp.n_layers - 1)]
        for k, fifo in enumerate(fifos):
            m.submodules[f"resets{k}"] = fifo
        sources = [self.x] + [c.y for c in chans[:-1]]
        for k, chan in enumerate(chans):
            self._feed(m, k, chan, sources[k], fifos)
        wiring.connect(m, chans[-1].y, wiring.flipped(self.y))
        m.d.comb += self.frame_done.eq(chans[-1].frame_done)
        m.d.comb += [self.layer_done[k].eq(c.frame_done) for k, c in enumerate(chans)]
        return m

    def _load(self, m, chans):
        """The one checker of the stack's load stream; each payload word to its layer."""
        sp = self._params
        m.submodules.load_check = checker = LoadChecker(
            word_layout=sp.load_layout, config=sp.load_config, max_words=sp.load_max_words,
            preloaded=self._models is not None)
        loads_allowed = Signal()
        m.d.comb += [loads_allowed.eq(~Cat(c.busy for c in chans).any()),
                     self.busy.eq(~loads_allowed),
                     self.load.ready.eq(loads_allowed),
                     checker.beats.payload.eq(self.load.payload),
                     checker.beats.valid.eq(self.load.valid & loads_allowed),
                     self.loaded.eq(checker.loaded), self.loading.eq(checker.loading),
                     self.load_error.eq(checker.error)]
        word = checker.words.payload
        for k, chan in enumerate(chans):
            mine = checker.words.valid
            if sp.n_layers > 1:
                # The word's layer, and a PE and address within this layer's fields (a
                # wider value would alias another word once cut to them).
                mine = mine & (word.layer == k)
                for name in ("pe", "addr"):
                    width = chan.load_layout[name].width
                    if word[name].shape().width > width:
                        mine = mine & (word[name][width:] == 0)
            dst = chan.load_words.payload
            m.d.comb += [chan.load_words.valid.eq(mine),
                         chan.frames_allowed.eq(checker.loaded & ~checker.loading),
                         dst.target.eq(word.target), dst.pe.eq(word.pe),
                         dst.addr.eq(word.addr), dst.data.eq(word.data)]

    def _feed(self, m, k, chan, src, fifos):
        """Layer ``k``'s x stream from ``src`` (the stack's x, or layer ``k - 1``'s y):
        a frame's first element carries the reset word (the stack's, or popped from
        FIFO ``k - 1``) and pushes it into FIFO ``k``; it waits for a word to pop and
        for room to push (module doc: neither wait happens)."""
        n_in = chan.params.n_in
        position = Signal(range(n_in), name=f"layer{k}_x_position")
        first = position == 0
        ok = Signal(name=f"layer{k}_x_ok")          # the reset FIFOs allow this element
        pop = fifos[k - 1] if k > 0 else None
        push = fifos[k] if k < len(fifos) else None
        can = 1
        if pop is not None:
            can = can & pop.r_rdy
        if push is not None:
            can = can & push.w_rdy
        m.d.comb += ok.eq(~first | can)
        reset = src.payload.reset if k == 0 else Mux(first, pop.r_data, 0)
        lanes = src.payload.x if k == 0 else src.payload
        take = Signal(name=f"layer{k}_x_take")
        m.d.comb += [chan.x.valid.eq(src.valid & ok), src.ready.eq(chan.x.ready & ok),
                     chan.x.payload.x.eq(lanes), chan.x.payload.reset.eq(reset),
                     take.eq(chan.x.valid & chan.x.ready)]
        if pop is not None:
            m.d.comb += pop.r_en.eq(take & first)
        if push is not None:
            m.d.comb += [push.w_en.eq(take & first), push.w_data.eq(reset)]
        with m.If(take):
            m.d.sync += position.eq(Mux(position == n_in - 1, 0, position + 1))


# --------------------------------------------------------------------------------------
# Host side: the stack's load stream.

def stack_load_words(params, stack):
    """The beats of the one load stream that loads every layer of ``stack`` into a
    :class:`ChannelStack` of ``params`` (integers): the header with the stack's
    configuration hash, every layer's :func:`~ese_hw.model.images.load_words` in layer
    order (each word with its ``layer``), the CRC-32. ``ValueError`` if a layer's model
    does not fit its channel."""
    params = as_stack_params(params)
    models = _layers_of(stack)
    if len(models) != params.n_layers:
        raise ValueError(f"model has {len(models)} layers, the stack {params.n_layers}")
    rows = []
    for k, (p, model) in enumerate(zip(params.layers, models, strict=True)):
        Channel.check(**p.kwargs(), model=model)
        words = load_words(channel_images(model, p.broadcast))
        if params.n_layers > 1:
            words = np.insert(words, 1, k, axis=1)      # (target, layer, pe, addr, data)
        rows.append(words)
    layout = params.load_layout
    payload = pack_load_words(layout, np.concatenate(rows))
    return frame_load_stream(payload, config=params.load_config, word_bits=layout.size)


def stack_load_bytes(params, stack):
    """:func:`stack_load_words` as bytes: the stack's ``load.bin`` (one beat per word,
    ``byte_width(load_layout.size)`` bytes, little-endian)."""
    params = as_stack_params(params)
    return beat_bytes(stack_load_words(params, stack), byte_width(params.load_layout.size))
