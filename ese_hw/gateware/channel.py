"""The LSTMP channel: PEs, input buffer, broadcaster, element-wise sequencer, read-out, scheduler.

A :class:`Channel` runs one LSTMP time step after another with the recurrent
state (``y_{t-1}``, ``c_{t-1}``) kept on chip, for ``n_channels`` lock-step
channels ("lanes") that share every weight read while each keeps its own
activations, accumulators and state. Everything it computes is bit-exact with
:class:`ese_hw.model.golden.GoldenModel` (docs/contract.md); the schedule is in
:mod:`ese_hw.gateware.scheduler` and docs/schedule.md, and
:func:`ese_hw.model.cycles.frame_cycles` counts its cycles from the same
:class:`~ese_hw.model.timing.Timing` the channel is built with. Its parameters, sizes
and payload layouts are a plain value, :class:`ChannelParams`, which the host side
(testbench data, configuration files) uses without making hardware.

Parts (each a component, wired with ``wiring.connect``)::

    x --> InputBuffer --x_rd--> Broadcaster --column--> LockstepFanout --> ChannelPE x N
                                   ^  ^ y_rd, m_rd (every PE's banks)         |  ^ ew
                                   |  +---------------------------------------+  |
               Scheduler (phases)  +-- m_ready            ElementwiseSequencer --+
                                        YReadout --readout--> every PE's YBank
    y <-- YOutput <--out_rd-- every PE's YBank

With ``ew_share`` = G > 1 the PEs have no cells of their own: N / G
:class:`~ese_hw.gateware.cell.CellUnit` s each serve G PEs (unit ``u`` PEs
``u G .. u G + G - 1``), reading their gate accumulators (``gate_rd``) and holding
their m banks (``m_rd``, one per PE, read by the broadcaster as before); the
sequencer drives the units.

A plain LSTM layer (``ChannelParams.projection`` False) has no projection phase: the
broadcaster walks x and y only, the PEs hold no projection accumulators or entries,
and the m banks feed each PE's y bank (``m_copy_rd``) instead of the broadcaster; the
read-out converts ``m_t`` into ``y_t`` there once the scheduler sees every cell written
(``m_done``).
"""

from dataclasses import dataclass, field, fields
from types import MappingProxyType

from amaranth.hdl import Cat, Module, Shape
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from ..model.compress import QFORMAT_KEYS
from ..model.encode import proj_split
from ..model.images import channel_images, sub_bits
from ..model.limits import check_int
from ..model.timing import DEFAULT_TIMING, Timing, check_timing
from ._params import CheckedComponent
from .broadcaster import Broadcaster, LockstepFanout, check_broadcast
from .cell import CellUnit, pack_peepholes
from .lanes import lanes_layout, row_bits, x_layout
from .load import (
    LOAD_FIELD_BITS,
    LoadChecker,
    LoadError,
    LoadTarget,
    load_beat_layout,
    load_config,
    load_layout,
    max_load_words,
    route_load,
)
from .pe import ChannelPE
from .readout import YOutput, YReadout
from .scheduler import Scheduler, Step
from .sequencer import ElementwiseSequencer
from .xbuffer import InputBuffer

__all__ = ["QFORMAT_KEYS", "Channel", "ChannelParams", "model_entry_depth"]

#: Derived sizes :meth:`ChannelParams.to_dict` lists (recomputed, never read back).
_DERIVED = ("cells_per_pe", "proj_rows", "n_cols", "n_groups", "sub_bits", "pe_bits",
            "ptr_bits", "load_addr_bits", "load_data_bits", "load_config", "load_max_words",
            "ew_slot")


def model_entry_depth(model):
    """Entry words the longest PE of ``model`` needs (gate and projection entries; a
    plain layer has gate entries only)."""
    entries = model.gate.entries_per_pe
    if model.has_projection:
        entries = entries + model.ym.entries_per_pe
    return int(entries.max())


@dataclass(frozen=True, kw_only=True)
class ChannelParams:
    """Everything a :class:`Channel` is built from except its memory images, and every
    size and payload layout that follows from it.

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
        this payload length (:mod:`ese_hw.gateware.load`).
    ew_slot : int
        Cycles per local cell of the element-wise pass (``timing.ew_slot(G * C)``).
    x_layout, y_layout, load_beat_layout : data layouts
        Payloads of the ``x``, ``y`` and ``load`` streams.
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
    n_channels: int = 1
    weight_bits: int = 12
    index_bits: int = 4
    act_bits: int = 16
    accum_bits: int = 48
    # A mapping is not hashable; equal parameters still hash alike without it.
    qformats: MappingProxyType = field(hash=False)
    lut_bits: int = 12
    lut_range_log2: int = 3
    queue_depth: int = 8
    broadcast: int = 1
    ew_share: int = 1
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
    def for_model(cls, model, *, n_channels=1, queue_depth=8, broadcast=1, ew_share=1,
                  entry_depth=None, timing=DEFAULT_TIMING):
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
        """The parameters as keyword arguments (``Channel(**params.kwargs())``)."""
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
                   ceil_log2(4 * self.cells_per_pe))

    @property
    def load_data_bits(self):
        need = max(self.weight_bits + self.index_bits + self.sub_bits, self.ptr_bits,
                   self.accum_bits, 3 * self.weight_bits)
        # A whole load word also carries a 32-bit header value or the checksum.
        fields = Shape.cast(LoadTarget).width + self.pe_bits + self.load_addr_bits
        return max(need, LOAD_FIELD_BITS - fields)

    @property
    def load_config(self):
        """The configuration hash a load stream for this channel carries
        (:func:`ese_hw.gateware.load.load_config`)."""
        return load_config(self)

    @property
    def load_max_words(self):
        """The most payload words a load stream may announce
        (:func:`ese_hw.gateware.load.max_load_words`)."""
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
    def load_layout(self):
        """A payload word of the ``load`` stream (:func:`ese_hw.gateware.load.load_layout`)."""
        return load_layout(self.pe_bits, self.load_addr_bits, self.load_data_bits)

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


def _check_model_fits(params, model):
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


class _SharedCells:
    """A shared :class:`CellUnit` seen as a PE is by the channel: its sequencer port is
    ``ew`` and it counts ``cells_done``."""

    def __init__(self, unit):
        self.ew, self.cells_done, self.peep_load = unit.control, unit.cells_done, unit.peep_load


def _from_params(name):
    """A read-only :class:`Channel` property that is its ``params``' ``name``."""
    return property(lambda self: getattr(self._params, name),
                    doc=f"``params.{name}`` (:class:`ChannelParams`).")


class Channel(CheckedComponent):
    """A whole LSTMP channel (``n_channels`` lock-step channels) from x_t to y_t.

    Parameters (keyword-only)
    ----------
    n_in, n_cells, n_proj, projection, n_pe, n_channels, weight_bits, index_bits
        With ``act_bits, accum_bits, qformats, lut_bits, lut_range_log2, queue_depth,
        broadcast, ew_share, entry_depth, timing``: as for :class:`ChannelParams`,
        which the channel keeps (:attr:`params`) and takes every size and layout from.
        Give the same ``timing`` to :func:`ese_hw.model.cycles.frame_cycles`.
    model : CompressedModel, optional
        Elaboration-time memory images (else load them through ``load``); it must fit
        the parameters (its shape, configuration, Q formats, entries within
        ``entry_depth``).
    checked_words : bool
        Take load words already checked outside (a layer of a
        :class:`~ese_hw.gateware.stack.ChannelStack`, whose one checker serves every
        layer): the ports of :attr:`ChannelParams.checked_words_signature`
        (``load_words`` and ``frames_allowed``) replace ``load`` and its status.

    Members
    -------
    x : In(stream.Signature(x_layout))
        ``x_t``, I elements per frame, all channels side by side. ``reset`` bits on a
        frame's first element start those channels from zero state.
    y : Out(stream.Signature(lanes_layout))
        ``y_t``, P elements per frame (Q ``fa``).
    load : In(stream.Signature(load_beat_layout))
        Load streams (header, payload words, CRC-32; ``last`` on the final beat;
        docs/contract.md section 5), checked by a :class:`~ese_hw.gateware.load.LoadChecker`.
        Accepted only while no frame is in flight.
    frame_done : Out(1)
        Pulses when a step's ``y_t`` has been written back (before it is streamed out).
    busy : Out(1)
        A frame is in flight (``load`` is held off).
    loaded : Out(1)
        The last load stream begun passed every check (or none has begun and the images
        are baked in). Kept through a reset, like the memories; a stream cut by a reset
        leaves it low. Without it ``x`` is held off (not ready).
    loading : Out(1)
        A load stream's first beat has been taken and its last has not; ``x`` is held off.
    load_error : Out(LoadError)
        Why the last load stream was refused (``NONE``: it was not, or one is under way).
    """

    @classmethod
    def check_parameters(cls, *, model, checked_words, **params):
        _check_model_fits(ChannelParams(**params), model)

    def __init__(self, *, n_in, n_cells, n_proj, projection=True, n_pe, n_channels=1,
                 weight_bits=12, index_bits=4, act_bits=16, accum_bits=48, qformats,
                 lut_bits=12, lut_range_log2=3, queue_depth=8, broadcast=1, ew_share=1,
                 entry_depth, model=None, timing=DEFAULT_TIMING, checked_words=False):
        self._params = ChannelParams(
            n_in=n_in, n_cells=n_cells, n_proj=n_proj, projection=projection, n_pe=n_pe,
            n_channels=n_channels, weight_bits=weight_bits, index_bits=index_bits,
            act_bits=act_bits, accum_bits=accum_bits, qformats=qformats, lut_bits=lut_bits,
            lut_range_log2=lut_range_log2, queue_depth=queue_depth, broadcast=broadcast,
            ew_share=ew_share, entry_depth=entry_depth, timing=timing)
        self._images = None if model is None else channel_images(model, broadcast)
        self._checked_words = bool(checked_words)
        super().__init__(self._params.checked_words_signature if checked_words
                         else self._params.signature)

    @classmethod
    def from_params(cls, params, *, model=None, checked_words=False):
        """The channel of ``params`` (with ``model``'s memory images baked in, if given;
        with ``checked_words``, the ports of :attr:`ChannelParams.checked_words_signature`)."""
        if not isinstance(params, ChannelParams):
            raise TypeError(f"params must be a ChannelParams, not {params!r}")
        return cls(**params.kwargs(), model=model, checked_words=checked_words)

    @classmethod
    def for_model(cls, model, *, n_channels=1, queue_depth=8, broadcast=1, ew_share=1,
                  entry_depth=None, preload=False, timing=DEFAULT_TIMING):
        """A channel sized for ``model`` (:meth:`ChannelParams.for_model`), its images
        baked in if ``preload``."""
        params = ChannelParams.for_model(model, n_channels=n_channels, queue_depth=queue_depth,
                                         broadcast=broadcast, ew_share=ew_share,
                                         entry_depth=entry_depth, timing=timing)
        return cls.from_params(params, model=model if preload else None)

    @property
    def params(self):
        """The channel's :class:`ChannelParams`."""
        return self._params

    # Read-only parameters, derived sizes and layouts: the params'.
    n_in = _from_params("n_in")
    n_cells = _from_params("n_cells")
    n_proj = _from_params("n_proj")
    projection = _from_params("projection")
    n_pe = _from_params("n_pe")
    n_channels = _from_params("n_channels")
    weight_bits = _from_params("weight_bits")
    index_bits = _from_params("index_bits")
    act_bits = _from_params("act_bits")
    accum_bits = _from_params("accum_bits")
    lut_bits = _from_params("lut_bits")
    lut_range_log2 = _from_params("lut_range_log2")
    queue_depth = _from_params("queue_depth")
    broadcast = _from_params("broadcast")
    ew_share = _from_params("ew_share")
    entry_depth = _from_params("entry_depth")
    timing = _from_params("timing")
    cells_per_pe = _from_params("cells_per_pe")
    proj_rows = _from_params("proj_rows")
    n_cols = _from_params("n_cols")
    n_groups = _from_params("n_groups")
    sub_bits = _from_params("sub_bits")
    pe_bits = _from_params("pe_bits")
    ptr_bits = _from_params("ptr_bits")
    load_addr_bits = _from_params("load_addr_bits")
    load_data_bits = _from_params("load_data_bits")
    ew_slot = _from_params("ew_slot")
    x_layout = _from_params("x_layout")
    y_layout = _from_params("y_layout")
    load_layout = _from_params("load_layout")
    load_beat_layout = _from_params("load_beat_layout")

    @property
    def qformats(self):
        return dict(self._params.qformats)

    def _pe(self, p):
        """PE ``p``, with its memory images when the channel was given a model (its own
        cells only when it shares them with no other PE)."""
        init = None
        if self._images is not None:
            im = self._images
            init = dict(words=im.words[p], ptr=im.ptr[p], bias=[int(v) for v in im.bias[p]],
                        peep=[int(v) for v in im.peep[p]])
        c = self._params
        return ChannelPE(n_channels=c.n_channels, weight_bits=c.weight_bits,
                         index_bits=c.index_bits, act_bits=c.act_bits, accum_bits=c.accum_bits,
                         queue_depth=c.queue_depth, entry_depth=c.entry_depth,
                         n_cols=c.n_groups, broadcast=c.broadcast, cells=c.cells_per_pe,
                         proj_rows=c.proj_rows, qformats=dict(c.qformats),
                         timing=c.timing, init=init, lut_bits=c.lut_bits,
                         lut_range_log2=c.lut_range_log2, own_cells=c.ew_share == 1,
                         projection=c.projection,
                         proj_partners=c.proj_split - 1 if p < c.n_proj else 0)

    def _cell_unit(self, u):
        """Cell unit ``u`` (of PEs ``u G .. u G + G - 1``), with their peephole images when
        the channel was given a model."""
        c = self._params
        g = c.ew_share
        init = None
        if self._images is not None:
            init = pack_peepholes(self._images.peep[u * g:(u + 1) * g], c.weight_bits)
        return CellUnit(n_channels=c.n_channels, weight_bits=c.weight_bits,
                        act_bits=c.act_bits, accum_bits=c.accum_bits, cells=c.cells_per_pe,
                        qformats=dict(c.qformats), lut_bits=c.lut_bits,
                        lut_range_log2=c.lut_range_log2, timing=c.timing, ew_share=g,
                        init_peep=init)

    def elaborate(self, platform):
        m = Module()
        c = self._params
        n_in, n_cells, n_proj, n_pe = c.n_in, c.n_cells, c.n_proj, c.n_pe
        n_lanes, ab, timing = c.n_channels, c.act_bits, c.timing
        pes = [self._pe(p) for p in range(n_pe)]
        for p, pe in enumerate(pes):
            m.submodules[f"pe{p}"] = pe
        m.submodules.sched = sched = Scheduler(projection=c.projection)
        m.submodules.xbuf = xbuf = InputBuffer(n_in=n_in, n_channels=n_lanes, act_bits=ab,
                                               broadcast=c.broadcast)
        m.submodules.bc = bc = Broadcaster(n_in=n_in, n_cells=n_cells, n_proj=n_proj, n_pe=n_pe,
                                           n_channels=n_lanes, act_bits=ab,
                                           broadcast=c.broadcast, projection=c.projection)
        m.submodules.fanout = fanout = LockstepFanout(shape=bc.column.payload.shape(), n=n_pe)
        m.submodules.ew_seq = ew_seq = ElementwiseSequencer(cells=c.cells_per_pe,
                                                            n_channels=n_lanes, timing=timing,
                                                            ew_share=c.ew_share)
        m.submodules.readout = readout = YReadout(proj_rows=c.proj_rows, timing=timing)
        m.submodules.output = output = YOutput(n_proj=n_proj, n_pe=n_pe, n_channels=n_lanes,
                                               act_bits=ab)
        all_idle = Cat(pe.idle for pe in pes).all()

        # Step sequencing: the scheduler's strobes start the parts; their status returns.
        m.d.comb += [
            sched.x_full.eq(xbuf.full), xbuf.release.eq(sched.x_release),
            xbuf.step_begin.eq(sched.step_begin), sched.reset_all.eq(xbuf.reset_all),
            bc.start.eq(sched.bc_start), bc.phase.eq(sched.bc_phase), sched.bc_idle.eq(bc.idle),
            ew_seq.start.eq(sched.ew_start), readout.start.eq(sched.ro_start),
            sched.ro_busy.eq(readout.busy), sched.out_busy.eq(output.busy),
            sched.all_idle.eq(all_idle),
        ]
        m.d.comb += [[pe.gate_clear.eq(sched.gate_clear), pe.proj_clear.eq(sched.proj_clear)]
                     for pe in pes]

        # Data paths: x into the buffer, columns to the PEs, y out.
        if self._checked_words:
            words, frames_allowed = self.load_words, self.frames_allowed
        else:
            checker, frames_allowed = self._check_loads(m)
            words = checker.words
        m.d.comb += [xbuf.x.payload.eq(self.x.payload),
                     xbuf.x.valid.eq(self.x.valid & frames_allowed),
                     self.x.ready.eq(xbuf.x.ready & frames_allowed)]
        wiring.connect(m, bc.x_rd, xbuf.rd)
        wiring.connect(m, bc.column, fanout.i)
        for p, pe in enumerate(pes):
            wiring.connect(m, fanout.o[p], pe.column)
            wiring.connect(m, bc.y_rd[p], pe.y_rd)
            wiring.connect(m, output.bank_rd[p], pe.out_rd)
        # A split projection: each row's owner adds its partners' parts at read-out.
        for r in range(n_proj if c.proj_split > 1 else 0):
            m.d.comb += [pes[r].proj_partner[j - 1].eq(pes[r + j * n_proj].proj_sum)
                         for j in range(1, c.proj_split)]
        # The cell units (each PE's own, or the shared ones) run the element-wise pass
        # in lock-step, so the first's count of written cells stands for all of them.
        units, m_rd = self._cell_units(m, pes)
        for p in range(n_pe):
            # The m banks feed the projection phase, or (a plain layer) the y banks.
            wiring.connect(m, bc.m_rd[p] if c.projection else pes[p].m_copy_rd, m_rd[p])
        if c.projection:
            m.d.comb += bc.m_ready.eq(units[0].cells_done)
        m.d.comb += [bc.zero.eq(xbuf.zero), ew_seq.zero.eq(xbuf.zero),
                     sched.m_done.eq(units[0].cells_done == c.cells_per_pe),
                     output.start.eq(readout.finish), self.frame_done.eq(readout.frame_done)]
        wiring.connect(m, ew_seq.control, *(unit.ew for unit in units))
        wiring.connect(m, readout.command, *(pe.readout for pe in pes))
        wiring.connect(m, output.y, wiring.flipped(self.y))

        # Loads only while nothing is in flight: between steps, every part idle.
        loads_allowed = ((sched.state == Step.WAIT_X) & all_idle & xbuf.empty & ~ew_seq.busy
                         & ~readout.busy & ~output.busy)
        m.d.comb += self.busy.eq(~loads_allowed)
        if not self._checked_words:
            m.d.comb += [self.load.ready.eq(loads_allowed),
                         checker.beats.valid.eq(self.load.valid & loads_allowed)]
        self._route_loads(m, pes, units, words)
        return m

    def _check_loads(self, m):
        """The :class:`LoadChecker` of the ``load`` stream (the caller drives its ``valid``)
        and the status ports; returns it and ``frames_allowed``: a good model is loaded and
        no load stream is under way."""
        c = self._params
        m.submodules.load_check = checker = LoadChecker(
            word_layout=c.load_layout, config=c.load_config, max_words=c.load_max_words,
            preloaded=self._images is not None)
        m.d.comb += [checker.beats.payload.eq(self.load.payload),
                     self.loaded.eq(checker.loaded), self.loading.eq(checker.loading),
                     self.load_error.eq(checker.error)]
        return checker, checker.loaded & ~checker.loading

    def _route_loads(self, m, pes, units, words):
        """Each payload word of ``words`` (the checker's: only those of a stream whose
        header matched) to its PE's memory; with shared cell units a PE's peepholes go to
        its unit, the PE's index within the unit on top of the cell address
        (:attr:`CellUnit.peep_load`)."""
        load, strobe, g = words.payload, words.valid, self._params.ew_share
        for p, pe in enumerate(pes):
            ports = {LoadTarget.ENTRY: pe.entry_load, LoadTarget.PTR: pe.ptr_load,
                     LoadTarget.BIAS: pe.bias_load}
            if g == 1:
                ports[LoadTarget.PEEP] = pe.peep_load
            route_load(m, load, strobe & (load.pe == p), ports)
        if g == 1:
            return
        rb = row_bits(self._params.cells_per_pe)
        for u, unit in enumerate(units):
            mine = (load.pe >= u * g) & (load.pe < (u + 1) * g)
            port = unit.peep_load
            m.d.comb += [
                port.valid.eq(strobe & mine & (load.target == LoadTarget.PEEP)),
                port.payload.addr.eq(Cat(load.addr[:rb], (load.pe - u * g)[:ceil_log2(g)])),
                port.payload.data.eq(load.data),
            ]

    def _cell_units(self, m, pes):
        """The cell units and every PE's m-bank read port: the PEs themselves (G = 1), or
        N / G shared :class:`CellUnit` s wired to their PEs' gate accumulators (returned
        as objects with ``ew`` for the sequencer and ``cells_done``)."""
        g = self._params.ew_share
        if g == 1:
            return pes, [pe.m_rd for pe in pes]
        units, m_rd = [], []
        for u in range(len(pes) // g):
            unit = self._cell_unit(u)
            m.submodules[f"cells{u}"] = unit
            group = pes[u * g:(u + 1) * g]
            n_ch = self._params.n_channels
            for k, pe in enumerate(group):
                # One gate address for the group; the G PEs' lanes side by side, PE-major.
                m.d.comb += [pe.gate_rd.addr.eq(unit.gate_rd.addr),
                             pe.gate_rd.en.eq(unit.gate_rd.en)]
                m.d.comb += [unit.gate_rd.data[k * n_ch + ch].eq(pe.gate_rd.data[ch])
                             for ch in range(n_ch)]
                m_rd.append(unit.m_rd[k])
            units.append(_SharedCells(unit))
        return units, m_rd
