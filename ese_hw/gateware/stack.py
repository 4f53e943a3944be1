"""Stacked layers on chip: L channels in a pipeline, one per layer, for every frame.

:class:`ChannelStack` holds one :class:`~ese_hw.gateware.channel.Channel` per layer
of a compressed stack (each with its own PEs, memory images and recurrent state, and
its own :class:`~ese_hw.gateware.params.ChannelParams` from ``for_model``), and wires
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
    configuration hash covers every layer (:func:`~ese_hw.model.loadstream.stack_load_config`),
    and each payload word carries a ``layer`` field that routes it to that layer's
    channel (:func:`~ese_hw.gateware.load.stack_load_layout`). One
    :class:`~ese_hw.gateware.load.LoadChecker` checks the stream; a load waits until
    every layer is idle. With one layer there is no ``layer`` field and the hash is the
    channel's, so a one-layer stack takes a channel's ``load.bin`` byte for byte.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO

from ..model.images import check_model_fits
from ._checks import CheckedComponent
from .channel import Channel
from .load import LoadChecker
from .params import StackParams, layers_of

__all__ = ["RESET_FIFO_DEPTH", "ChannelStack"]

#: Reset words between two layers: the most frames a layer can hold from taking a
#: frame's first x element to handing on its first y element (module doc).
RESET_FIFO_DEPTH = 4


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
            models = layers_of(model)
            if len(models) != params.n_layers:
                raise ValueError(f"model has {len(models)} layers, the stack "
                                 f"{params.n_layers}")
            for p, m in zip(params.layers, models, strict=True):
                check_model_fits(p, m)

    def __init__(self, *, params, model=None):
        self._params = params
        self._models = None if model is None else layers_of(model)
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
            chan = Channel(params=p, model=None if self._models is None else self._models[k],
                           checked_words=True)
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
