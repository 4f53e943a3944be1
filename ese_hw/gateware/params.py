"""The gateware's parameter values: :class:`ChannelParams` (one channel) and
:class:`StackParams` (a stack of channels, one per layer).

Plain values, not elaboratables: they hold everything a
:class:`~ese_hw.gateware.channel.Channel` or a :class:`~ese_hw.gateware.stack.ChannelStack`
is built from except its memory images, and every size and payload layout that follows,
so the host side (testbench data, configuration files, load streams) reads them without
making hardware. Both are checked on construction (``TypeError`` / ``ValueError`` naming
the bad value). The up-front checks the components share are in :mod:`._checks`.
"""

from dataclasses import dataclass, field, fields
from types import MappingProxyType

from amaranth.hdl import Shape
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from ..model.compress import QFORMAT_KEYS
from ..model.encode import proj_split
from ..model.images import model_entry_depth, peep_word_bits, sub_bits
from ..model.limits import DEFAULTS, check_int
from ..model.loadstream import (
    LOAD_FIELD_BITS,
    TARGET_BITS,
    load_config,
    load_word_fields,
    max_load_words,
    stack_load_config,
)
from ..model.lstmp import N_GATES
from ..model.timing import DEFAULT_TIMING, Timing, check_timing
from .broadcaster import check_broadcast
from .lanes import lanes_layout, x_layout
from .load import LoadError, load_beat_layout, word_layout

__all__ = ["QFORMAT_KEYS", "ChannelParams", "StackParams", "as_stack_params", "layers_of"]

#: Derived sizes :meth:`ChannelParams.to_dict` lists (recomputed, never read back).
_DERIVED = ("cells_per_pe", "proj_rows", "n_cols", "n_groups", "sub_bits", "pe_bits",
            "ptr_bits", "load_addr_bits", "load_data_bits", "load_config", "load_max_words",
            "ew_slot")


@dataclass(frozen=True, kw_only=True)
class ChannelParams:
    """Everything a :class:`~ese_hw.gateware.channel.Channel` is built from except its
    memory images, and every size and payload layout that follows from it.

    A plain value, not an elaboratable: the host side (the testbench data of
    :mod:`ese_hw.simulation.rtl`, a generated configuration file) reads a channel's layouts and
    sizes from it without making hardware. Checked on construction (``TypeError`` /
    ``ValueError`` naming the bad value).

    Parameters (keyword-only)
    ----------
    n_in, n_cells, n_proj : int
        The model's shape (I, H, P).
    projection : bool
        The layer has a projection ``W_ym`` (LSTMP, default). ``False``: a plain LSTM
        layer, ``y_t = sat(rshift_round(m_t, fg - fa))`` (docs/contract.md section 3):
        ``n_proj`` must equal ``n_cells``, no projection entries, pointers or
        accumulators exist and a step has no projection phase; the read-out copies each
        PE's m bank into its y bank (cell ``h`` and y row ``h`` are both PE ``h mod N``,
        local row ``h // N``).
    n_pe, n_channels : int
    weight_bits, index_bits, act_bits, accum_bits : int
    qformats : mapping
        Fractional bits ``fw_g fw_y fp fa fc fg`` of the compressed model; kept as a
        read-only mapping of ints in that order (``fg`` must be ``act_bits - 1``).
    lut_bits, lut_range_log2 : int
    queue_depth : int
        Activation queue depth of every PE (in column groups).
    broadcast : int
        Columns the broadcaster hands every PE per transfer (K, a *column group*);
        must divide ``n_pe``.
    ew_share : int
        PEs per cell unit (G; divides ``n_pe``): each local cell's element-wise slot
        feeds ``G * n_channels`` lanes. 1 (default): every PE has its own.
    entry_depth : int
        Entry words per PE (gate and projection entries together).
    timing : Timing
        The latencies to build (:mod:`ese_hw.model.timing`).

    Members
    -------
    cells_per_pe, proj_rows : int
        Cells and projection rows of one PE (``ceil(H / N)``, ``ceil(P / N)``).
    n_cols : int
        Columns of a step: x, y and m (``I + P + H``; a plain layer ``I + H``, no m).
    n_groups : int
        Pointer-memory entries but the last: the column groups of the phases
        (``ceil(I/K) + ceil(P/K) + ceil(H/K)``, a plain layer without ``ceil(H/K)``;
        ``n_cols`` for K = 1).
    sub_bits : int
        Entry-word bits of an entry's column within its group (``ceil_log2(K)``).
    pe_bits, ptr_bits, load_addr_bits, load_data_bits : int
        Widths of the load words' fields and of an entry pointer (the data field is
        widened where needed so that a word holds a 32-bit header value).
    load_config, load_max_words : int
        What a load stream's header must carry: the configuration hash, and at most
        this payload length (:mod:`ese_hw.model.loadstream`).
    ew_slot : int
        Cycles per local cell of the element-wise pass (``timing.ew_slot(G * C)``).
    x_layout, y_layout, load_beat_layout : data layouts
        Payloads of the ``x``, ``y`` and ``load`` streams.
    load_fields : tuple of (name, width)
        A payload word's fields (:func:`ese_hw.model.loadstream.load_word_fields`): what
        the host's packer writes and :attr:`load_layout` is made from.
    load_layout : data layout
        A payload word of a load stream (the ``word`` of a ``load`` beat).
    signature : wiring.Signature
        The channel's ports.
    """

    n_in: int
    n_cells: int
    n_proj: int
    projection: bool = True
    n_pe: int
    n_channels: int = DEFAULTS["n_channels"]
    weight_bits: int = 12
    index_bits: int = 4
    act_bits: int = 16
    accum_bits: int = 48
    # A mapping is not hashable; equal parameters still hash alike without it.
    qformats: MappingProxyType = field(hash=False)
    lut_bits: int = 12
    lut_range_log2: int = 3
    queue_depth: int = DEFAULTS["queue_depth"]
    broadcast: int = DEFAULTS["broadcast"]
    ew_share: int = DEFAULTS["ew_share"]
    entry_depth: int
    timing: Timing = DEFAULT_TIMING

    def __post_init__(self):
        for name in ("n_in", "n_cells", "n_proj", "n_pe", "n_channels", "weight_bits",
                     "index_bits", "act_bits", "lut_bits", "lut_range_log2", "queue_depth",
                     "broadcast", "ew_share", "entry_depth"):
            object.__setattr__(self, name, check_int(name, getattr(self, name)))
        check_broadcast(self.broadcast, self.n_pe)
        if not isinstance(self.projection, bool):
            raise TypeError(f"projection must be a bool, not {self.projection!r}")
        if not self.projection and self.n_proj != self.n_cells:
            raise ValueError(f"a plain layer (projection=False) outputs its {self.n_cells} "
                             f"cells: n_proj must be {self.n_cells}, not {self.n_proj}")
        if self.n_pe % self.ew_share:
            raise ValueError(f"ew_share = {self.ew_share} must divide n_pe = {self.n_pe}")
        object.__setattr__(self, "accum_bits", check_int(
            "accum_bits", self.accum_bits, self.weight_bits + self.act_bits))
        check_timing(self.timing)
        q = self.qformats
        missing = [k for k in QFORMAT_KEYS if k not in q]
        if missing:
            raise ValueError(f"qformats lacks {missing[0]!r}")
        unknown = sorted(set(q) - set(QFORMAT_KEYS))
        if unknown:
            raise ValueError(f"qformats has an unknown format {unknown[0]!r}")
        q = {k: check_int(f"qformats[{k!r}]", q[k]) for k in QFORMAT_KEYS}
        if q["fg"] != self.act_bits - 1:
            raise ValueError(f"qformats fg = {q['fg']}, must be act_bits - 1")
        object.__setattr__(self, "qformats", MappingProxyType(q))

    @classmethod
    def for_model(cls, model, *, n_channels=DEFAULTS["n_channels"],
                  queue_depth=DEFAULTS["queue_depth"], broadcast=DEFAULTS["broadcast"],
                  ew_share=DEFAULTS["ew_share"], entry_depth=None, timing=DEFAULT_TIMING):
        """Parameters sized for ``model``: its shape, kind (``projection``: LSTMP or a
        plain layer), configuration and Q formats, and (``entry_depth=None``) entry
        memories that fit its longest PE exactly. A stack's layers each give their own."""
        cfg = model.config
        if entry_depth is None:
            entry_depth = max(1, model_entry_depth(model))
        return cls(n_in=model.n_in, n_cells=model.n_cells, n_proj=model.n_proj,
                   projection=model.has_projection, n_pe=cfg.n_pe, n_channels=n_channels,
                   weight_bits=cfg.weight_bits, index_bits=cfg.index_bits,
                   act_bits=cfg.act_bits, accum_bits=cfg.accum_bits, qformats=model.qformats,
                   lut_bits=cfg.lut_bits, lut_range_log2=cfg.lut_range_log2,
                   queue_depth=queue_depth, broadcast=broadcast, ew_share=ew_share,
                   entry_depth=entry_depth, timing=timing)

    def kwargs(self):
        """The parameters as keyword arguments (``ChannelParams(**params.kwargs())``)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __reduce__(self):
        # The read-only qformats mapping neither pickles nor deep-copies; rebuild instead.
        return _params_from_kwargs, ({**self.kwargs(), "qformats": dict(self.qformats)},)

    # ---- Derived sizes.
    @property
    def cells_per_pe(self):
        return -(-self.n_cells // self.n_pe)

    @property
    def proj_rows(self):
        return -(-self.n_proj // self.n_pe)

    @property
    def proj_split(self):
        """PEs per ``W_ym`` row (S, :func:`ese_hw.model.encode.proj_split`): PE ``r`` owns
        row ``r`` and adds the parts of PEs ``r + P, r + 2P, ...`` (1 without a projection)."""
        return proj_split(self.n_pe, self.n_proj) if self.projection else 1

    @property
    def phase_lengths(self):
        """Columns of each broadcast phase: x, y and m (a plain layer: x and y)."""
        return ((self.n_in, self.n_proj, self.n_cells) if self.projection
                else (self.n_in, self.n_proj))

    @property
    def n_cols(self):
        """Columns of a step: x, y and m (a plain layer: x and y)."""
        return sum(self.phase_lengths)

    @property
    def n_groups(self):
        """Column groups of a step (pointer-memory entries but the last)."""
        return sum(-(-n // self.broadcast) for n in self.phase_lengths)

    @property
    def sub_bits(self):
        """Entry-word bits naming an entry's column within its group."""
        return sub_bits(self.broadcast)

    @property
    def pe_bits(self):
        return max(1, ceil_log2(self.n_pe))

    @property
    def ptr_bits(self):
        return bits_for(self.entry_depth)

    @property
    def load_addr_bits(self):
        return max(1, ceil_log2(self.entry_depth), bits_for(self.n_groups),
                   ceil_log2(N_GATES * self.cells_per_pe))

    @property
    def load_data_bits(self):
        need = max(self.weight_bits + self.index_bits + self.sub_bits, self.ptr_bits,
                   self.accum_bits, peep_word_bits(self.weight_bits))
        # A whole load word also carries a 32-bit header value or the checksum.
        fields = TARGET_BITS + self.pe_bits + self.load_addr_bits
        return max(need, LOAD_FIELD_BITS - fields)

    @property
    def load_config(self):
        """The configuration hash a load stream for this channel carries
        (:func:`ese_hw.model.loadstream.load_config`)."""
        return load_config(self)

    @property
    def load_max_words(self):
        """The most payload words a load stream may announce
        (:func:`ese_hw.model.loadstream.max_load_words`)."""
        return max_load_words(self)

    @property
    def ew_slot(self):
        """Cycles per local cell of the element-wise pass (4 reads, 1 latch, one per lane
        of a cell unit's G PEs)."""
        return self.timing.ew_slot(self.ew_share * self.n_channels)

    # ---- Payload layouts and ports.
    @property
    def x_layout(self):
        """Payload layout of the ``x`` stream (:func:`ese_hw.gateware.lanes.x_layout`)."""
        return x_layout(self.act_bits, self.n_channels)

    @property
    def y_layout(self):
        """Payload layout of the ``y`` stream (:func:`ese_hw.gateware.lanes.lanes_layout`)."""
        return lanes_layout(self.act_bits, self.n_channels)

    @property
    def load_fields(self):
        """A payload word's fields, ``(name, width)`` least significant first
        (:func:`ese_hw.model.loadstream.load_word_fields`): the one description of the
        word that the checker's layout and the host's packer share."""
        return load_word_fields(self.pe_bits, self.load_addr_bits, self.load_data_bits)

    @property
    def load_layout(self):
        """A payload word of the ``load`` stream: :attr:`load_fields` as a layout
        (:func:`ese_hw.gateware.load.word_layout`)."""
        return word_layout(self.load_fields)

    @property
    def load_beat_layout(self):
        """Payload layout of the ``load`` stream: a word and ``last``
        (:func:`ese_hw.gateware.load.load_beat_layout`)."""
        return load_beat_layout(self.load_layout)

    @property
    def signature(self):
        """The channel's ports (a new, unfrozen ``wiring.Signature`` on every access)."""
        return wiring.Signature({
            "x": In(stream.Signature(self.x_layout)),
            "y": Out(stream.Signature(self.y_layout)),
            "load": In(stream.Signature(self.load_beat_layout)),
            "frame_done": Out(1),
            "busy": Out(1),
            "loaded": Out(1),
            "loading": Out(1),
            "load_error": Out(LoadError),
        })

    @property
    def checked_words_signature(self):
        """The ports of a channel whose load stream is checked outside it (one layer of
        :class:`~ese_hw.gateware.stack.ChannelStack`): ``x``, ``y``, ``frame_done`` and
        ``busy`` as in :attr:`signature`; ``load_words`` (payload words already passed
        by a :class:`~ese_hw.gateware.load.LoadChecker`, always ready, taken only while
        ``busy`` is low) and ``frames_allowed`` (a good model is loaded and no load
        stream is under way) in place of ``load`` and its status."""
        return wiring.Signature({
            "x": In(stream.Signature(self.x_layout)),
            "y": Out(stream.Signature(self.y_layout)),
            "load_words": In(stream.Signature(self.load_layout, always_ready=True)),
            "frames_allowed": In(1),
            "frame_done": Out(1),
            "busy": Out(1),
        })

    # ---- Serialisation.
    def to_dict(self):
        """JSON-ready: the parameters (``qformats`` and ``timing`` as nested dicts of
        ints), then ``derived`` sizes and ``ports`` (flow, and width or the stream's
        payload width and fields) for a reader; :meth:`from_dict` recomputes those."""
        out = self.kwargs()
        out["qformats"] = dict(self.qformats)
        out["timing"] = {f.name: getattr(self.timing, f.name) for f in fields(self.timing)}
        out["derived"] = {name: getattr(self, name) for name in _DERIVED}
        out["ports"] = {name: _port_dict(member)
                        for name, member in self.signature.members.items()}
        return out

    @classmethod
    def from_dict(cls, d):
        """Inverse of :meth:`to_dict` (``derived`` and ``ports``, if present, are ignored:
        the parameters give them). Unknown keys are refused (``ValueError``)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names - {"derived", "ports"})
        if unknown:
            raise ValueError(f"unknown channel parameter {unknown[0]!r}")
        kw = {k: v for k, v in d.items() if k in names}
        if "timing" in kw:
            kw["timing"] = Timing(**kw["timing"])
        return cls(**kw)


def _params_from_kwargs(kwargs):
    return ChannelParams(**kwargs)


def _port_dict(member):
    """A port of :attr:`ChannelParams.signature` as JSON: flow, and its width or, for a
    stream, its payload's width and fields (offset and width, lanes by index, a nested
    struct's own fields within it)."""
    flow = member.flow.value.lower()
    if not member.is_signature:
        return {"flow": flow, "width": Shape.cast(member.shape).width}
    layout = member.signature.members["payload"].shape
    return {"flow": flow, "stream": {"payload_width": layout.size,
                                     "fields": _fields_dict(layout)}}


def _fields_dict(layout):
    fields = {}
    for key, f in layout:
        fields[str(key)] = {"offset": f.offset, "width": f.width}
        if isinstance(f.shape, data.StructLayout):
            fields[str(key)]["fields"] = _fields_dict(f.shape)
    return fields


# ------------------------------------------------------------------------------------
# A stack of channels.

#: Parameters every layer of a stack shares: the lanes run in lock-step through every
#: layer, an activation keeps its width, and one cycle model steps every layer with one
#: queue depth, broadcast width, cell sharing and timing (:meth:`StackParams.for_stack`
#: gives every layer the same).
_SHARED = ("n_channels", "act_bits", "queue_depth", "broadcast", "ew_share", "timing")

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
        The stack's ports (:class:`~ese_hw.gateware.stack.ChannelStack`).
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
    def for_stack(cls, stack, *, n_channels=DEFAULTS["n_channels"],
                  queue_depth=DEFAULTS["queue_depth"], broadcast=DEFAULTS["broadcast"],
                  ew_share=DEFAULTS["ew_share"], entry_depth=None, timing=DEFAULT_TIMING):
        """Parameters sized for ``stack`` (a ``CompressedStack``, or a ``CompressedModel``
        as one layer): every layer's :meth:`ChannelParams.for_model` with the same
        lanes, queue depth, broadcast width, cell sharing and timing. ``entry_depth`` is
        ``None`` (each layer's exact need), or one value per layer."""
        models = layers_of(stack)
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
    def load_fields(self):
        """A payload word's fields in the stack's load stream
        (:func:`ese_hw.model.loadstream.load_word_fields` with a ``layer`` field): every
        field as wide as the widest layer's, the data field widened where needed so that
        a word holds a 32-bit header value. One layer: the channel's, no ``layer``."""
        if self.n_layers == 1:
            return self.layers[0].load_fields
        pe_bits = max(p.pe_bits for p in self.layers)
        addr_bits = max(p.load_addr_bits for p in self.layers)
        others = TARGET_BITS + self.layer_bits + pe_bits + addr_bits
        data_bits = max(max(p.load_data_bits for p in self.layers), LOAD_FIELD_BITS - others)
        return load_word_fields(pe_bits, addr_bits, data_bits, self.layer_bits)

    @property
    def load_layout(self):
        """:attr:`load_fields` as a layout (:func:`ese_hw.gateware.load.word_layout`)."""
        return word_layout(self.load_fields)

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


def layers_of(stack):
    """The ``CompressedModel`` s of a stack (or of one model, as one layer)."""
    return list(getattr(stack, "layers", (stack,)))


def as_stack_params(params):
    """``params`` as :class:`StackParams` (a ``ChannelParams`` is a one-layer stack)."""
    if isinstance(params, StackParams):
        return params
    if isinstance(params, ChannelParams):
        return StackParams((params,))
    raise TypeError(f"params must be a StackParams or a ChannelParams, not {params!r}")
