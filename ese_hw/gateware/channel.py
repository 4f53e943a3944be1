"""The LSTMP channel: PEs, activation buffers, broadcaster, element-wise units, scheduler.

A :class:`Channel` runs one LSTMP time step after another with the recurrent
state (``y_{t-1}``, ``c_{t-1}``) kept on chip, for ``n_channels`` lock-step
channels that share every weight read while each keeps its own activations,
accumulators and state. Everything it computes is bit-exact with
:class:`ese_hw.model.golden.GoldenModel` (docs/contract.md); the schedule is in
:mod:`ese_hw.gateware.scheduler` and docs/schedule.md, and
:func:`ese_hw.model.cycles.frame_cycles` counts its cycles.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from ..model.images import LOAD_BIAS, LOAD_ENTRY, LOAD_PEEP, LOAD_PTR, channel_images
from ._params import check_int, validated
from .accumulator import Accumulator
from .elementwise import ElementwiseUnit, rshift_round_value, sat_value
from .pe import ColumnWalker
from .pointer import route_load, write_layout
from .scheduler import Phase, Scheduler, Step

__all__ = ["LoadTarget", "ChannelPE", "Channel", "channel_load_layout", "x_layout",
           "lanes_layout", "tag_layout"]


class LoadTarget(enum.Enum, shape=2):
    """Which per-PE memory a ``load`` word goes to (codes of ``ese_hw.model.images``)."""
    ENTRY = LOAD_ENTRY   #: entry word ``addr`` (gate entries, then projection entries)
    PTR = LOAD_PTR       #: pointer ``addr`` (``0 .. I+P+H``)
    BIAS = LOAD_BIAS     #: bias of gate row ``addr`` (``4k + g``)
    PEEP = LOAD_PEEP     #: packed peepholes of local cell ``addr``


def lanes_layout(act_bits, n_channels):
    """One value per lock-step channel."""
    return data.ArrayLayout(signed(act_bits), n_channels)


def tag_layout(act_bits, n_channels):
    """What travels with a column through a PE: its activations and its SpMV."""
    return data.StructLayout({"acts": lanes_layout(act_bits, n_channels), "proj": 1})


def x_layout(act_bits, n_channels):
    """One input element for every channel; ``reset`` (on a frame's first element)
    starts that channel's sequence from zero state."""
    return data.StructLayout({"x": lanes_layout(act_bits, n_channels),
                              "reset": unsigned(n_channels)})


def channel_load_layout(pe_bits, addr_bits, data_bits):
    return data.StructLayout({"target": LoadTarget, "pe": unsigned(pe_bits),
                              "addr": unsigned(addr_bits), "data": unsigned(data_bits)})


def _next_interleaved(m, bank, addr, n_pe):
    """Step to the next element of a vector spread over the PEs (element ``j`` in PE
    ``j % n_pe`` at ``j // n_pe``): the bank walks the PEs, the address the rows."""
    with m.If(bank == n_pe - 1):
        m.d.sync += [bank.eq(0), addr.eq(addr + 1)]
    with m.Else():
        m.d.sync += bank.eq(bank + 1)


class ChannelPE(wiring.Component):
    """One PE of a channel: the SpMV datapath for both SpMVs of a step, plus its cells.

    The front end is the plain PE's :class:`~ese_hw.gateware.pe.ColumnWalker`; the
    carried tag holds one activation per lock-step channel and the ``proj`` flag
    that routes entries to the gate accumulators (``4 * cells`` rows, initialised
    to the biases) or the projection accumulators (``proj_rows`` rows, from 0),
    one :class:`Accumulator` per channel each.

    The PE also owns its cells' state: ``c`` memory, peepholes, an
    :class:`ElementwiseUnit`, the ``m_t`` bank (read by the broadcaster) and the
    ``y`` bank (``y_t`` of its projection rows, converted to Q ``fa``).

    Members (all driven in lock-step by :class:`Channel`)
    -------
    push, push_col, push_act, full : the column queue (``push_act`` carries the tag)
    gate_clear, proj_clear : In(1)
    idle : Out(1)
    entry_load, ptr_load, bias_load, peep_load : run-time memory writes
    ew_acc_en, ew_acc_row : read gate accumulator row (all channels); latched next cycle
        into gate register ``row % 4``
    ew_cell_en, ew_cell : read ``c_{t-1}`` and the peepholes of local cell ``ew_cell``
    ew_feed, ew_lane, ew_zero : feed channel ``ew_lane``'s cell to the element-wise unit
        (``c_{t-1}`` reads as 0 for channels in ``ew_zero``)
    ew_reset : restart the element-wise output counters (start of a pass)
    ew_cells : Out, local cells whose results (every channel) are written this pass
    m_rd_en, m_rd_addr, m_rd_data : ``m_t`` bank read
    ro_en, ro_row : read projection row ``ro_row`` into the ``y`` bank (2 cycles later)
    y_rd_*, yo_rd_* : two read ports of the ``y`` bank (broadcaster, output)
    """

    @validated
    def __init__(self, *, n_channels, weight_bits, index_bits, act_bits, accum_bits,
                 queue_depth, entry_depth, n_cols, cells, proj_rows, qformats,
                 lut_bits, lut_range_log2, init=None):
        self._c = n_channels
        self._wb, self._ib, self._ab, self._accb = weight_bits, index_bits, act_bits, accum_bits
        self._queue_depth, self._entry_depth = queue_depth, entry_depth
        self._n_cols, self._cells, self._proj_rows = n_cols, cells, proj_rows
        self._q = dict(qformats)
        self._lut = dict(lut_bits=lut_bits, lut_range_log2=lut_range_log2)
        self._init = init
        self._tag = tag_layout(act_bits, n_channels)
        lanes = lanes_layout(act_bits, n_channels)
        gate_rows = 4 * cells
        super().__init__({
            **ColumnWalker.front_ports(weight_bits=weight_bits, index_bits=index_bits,
                                       act_bits=self._tag, entry_depth=entry_depth,
                                       n_cols_max=n_cols),
            "gate_clear": In(1),
            "proj_clear": In(1),
            "idle": Out(1),
            "bias_load": In(stream.Signature(
                write_layout(max(1, ceil_log2(gate_rows)), accum_bits), always_ready=True)),
            "peep_load": In(stream.Signature(
                write_layout(max(1, ceil_log2(cells)), 3 * weight_bits), always_ready=True)),
            "ew_acc_en": In(1),
            "ew_acc_row": In(range(max(2, gate_rows))),
            "ew_cell_en": In(1),
            "ew_cell": In(range(max(2, cells))),
            "ew_feed": In(1),
            "ew_lane": In(range(max(2, n_channels))),
            "ew_zero": In(n_channels),
            "ew_reset": In(1),
            "ew_cells": Out(range(cells + 1)),
            "m_rd_en": In(1),
            "m_rd_addr": In(range(max(2, cells))),
            "m_rd_data": Out(lanes),
            "ro_en": In(1),
            "ro_row": In(range(max(2, proj_rows))),
            "y_rd_en": In(1),
            "y_rd_addr": In(range(max(2, proj_rows))),
            "y_rd_data": Out(lanes),
            "yo_rd_en": In(1),
            "yo_rd_addr": In(range(max(2, proj_rows))),
            "yo_rd_data": Out(lanes),
        })

    def elaborate(self, platform):
        m = Module()
        c_n, ab, wb, accb = self._c, self._ab, self._wb, self._accb
        q = self._q
        cells, prow = self._cells, self._proj_rows
        gate_rows = 4 * cells
        init = self._init or {}

        m.submodules.walker = walker = ColumnWalker(
            weight_bits=wb, index_bits=self._ib, act_bits=self._tag,
            queue_depth=self._queue_depth, entry_depth=self._entry_depth,
            n_cols_max=self._n_cols, local_rows=max(gate_rows, prow),
            init_words=init.get("words"), init_ptr=init.get("ptr"))
        acc_g = [Accumulator(weight_bits=wb, act_bits=ab, accum_bits=accb, local_rows=gate_rows)
                 for _ in range(c_n)]
        acc_p = [Accumulator(weight_bits=wb, act_bits=ab, accum_bits=accb, local_rows=prow)
                 for _ in range(c_n)]
        for ch in range(c_n):
            m.submodules[f"acc_g{ch}"] = acc_g[ch]
            m.submodules[f"acc_p{ch}"] = acc_p[ch]
        walker.connect_front(m, self)

        # Entries to the gate or the projection accumulators of every channel.
        ent = walker.entry.payload
        tag = self._tag(ent.act)
        for ch in range(c_n):
            for acc, sel in ((acc_g[ch], ~tag.proj), (acc_p[ch], tag.proj)):
                m.d.comb += [
                    acc.entry.valid.eq(walker.entry.valid & sel),
                    acc.entry.payload.row.eq(ent.row),
                    acc.entry.payload.weight.eq(ent.weight),
                    acc.entry.payload.act.eq(tag.acts[ch]),
                ]
            m.d.comb += [acc_g[ch].clear.eq(self.gate_clear),
                         acc_p[ch].clear.eq(self.proj_clear),
                         acc_p[ch].init_data.eq(0)]
        m.d.comb += self.idle.eq(walker.idle & Cat(a.idle for a in acc_g + acc_p).all())

        # Gate biases: the gate accumulators' initial values (one read serves all channels).
        m.submodules.bias = bias = Memory(shape=signed(accb), depth=gate_rows,
                                          init=init.get("bias", []))
        bias_rd, bias_wr = bias.read_port(), bias.write_port()
        m.d.comb += [
            bias_rd.addr.eq(acc_g[0].init_addr),
            bias_wr.addr.eq(self.bias_load.payload.addr),
            bias_wr.data.eq(self.bias_load.payload.data),
            bias_wr.en.eq(self.bias_load.valid),
        ]
        m.d.comb += [a.init_data.eq(bias_rd.data) for a in acc_g]

        # Element-wise pass. Gate registers: all four gates of one cell, every channel.
        gate_regs = [[Signal(signed(accb), name=f"gate{g}_ch{ch}") for ch in range(c_n)]
                     for g in range(4)]
        acc_en_d = Signal()
        acc_gate_d = Signal(2)
        for a in acc_g:
            m.d.comb += [a.ro_en.eq(self.ew_acc_en), a.ro_addr.eq(self.ew_acc_row)]
        m.d.sync += [acc_en_d.eq(self.ew_acc_en), acc_gate_d.eq(self.ew_acc_row[:2])]
        with m.If(acc_en_d):
            for g in range(4):
                with m.If(acc_gate_d == g):
                    m.d.sync += [gate_regs[g][ch].eq(acc_g[ch].ro_data) for ch in range(c_n)]

        lanes = lanes_layout(ab, c_n)
        m.submodules.cmem = cmem = Memory(shape=lanes, depth=max(1, cells), init=[])
        m.submodules.peep = peep = Memory(shape=unsigned(3 * wb), depth=max(1, cells),
                                          init=init.get("peep", []))
        c_rd = cmem.read_port(transparent_for=())
        c_wr = cmem.write_port(granularity=1)
        peep_rd, peep_wr = peep.read_port(), peep.write_port()
        m.d.comb += [
            c_rd.addr.eq(self.ew_cell), c_rd.en.eq(self.ew_cell_en),
            peep_rd.addr.eq(self.ew_cell), peep_rd.en.eq(self.ew_cell_en),
            peep_wr.addr.eq(self.peep_load.payload.addr),
            peep_wr.data.eq(self.peep_load.payload.data),
            peep_wr.en.eq(self.peep_load.valid),
        ]
        m.submodules.ew = ew = ElementwiseUnit(
            act_bits=ab, weight_bits=wb, accum_bits=accb, fw_g=q["fw_g"], fa=q["fa"],
            fc=q["fc"], fp=q["fp"], **self._lut)
        lane = self.ew_lane
        feed = ew.i.payload
        m.d.comb += [
            ew.i.valid.eq(self.ew_feed),
            ew.o.ready.eq(1),
            feed.acc_i.eq(Cat(gate_regs[0]).word_select(lane, accb)),
            feed.acc_f.eq(Cat(gate_regs[1]).word_select(lane, accb)),
            feed.acc_c.eq(Cat(gate_regs[2]).word_select(lane, accb)),
            feed.acc_o.eq(Cat(gate_regs[3]).word_select(lane, accb)),
            feed.c_prev.eq(Mux(self.ew_zero.bit_select(lane, 1), 0,
                               c_rd.data.as_value().word_select(lane, ab))),
            feed.p_i.eq(peep_rd.data[0:wb]),
            feed.p_f.eq(peep_rd.data[wb:2 * wb]),
            feed.p_o.eq(peep_rd.data[2 * wb:3 * wb]),
        ]

        # Results: c_t back to the c memory, m_t into the m bank, in feed order.
        out_cell = Signal(range(cells + 1))
        out_lane = Signal(range(max(2, c_n)))
        m.submodules.mbank = mbank = Memory(shape=lanes, depth=max(1, cells), init=[])
        m_wr = mbank.write_port(granularity=1)
        m_rd = mbank.read_port(transparent_for=())
        lane_bit = Const(1, c_n) << out_lane
        m.d.comb += [
            c_wr.addr.eq(out_cell), c_wr.data.eq(ew.o.payload.c.replicate(c_n)),
            c_wr.en.eq(Mux(ew.o.valid, lane_bit, 0)),
            m_wr.addr.eq(out_cell), m_wr.data.eq(ew.o.payload.m.replicate(c_n)),
            m_wr.en.eq(Mux(ew.o.valid, lane_bit, 0)),
            self.ew_cells.eq(out_cell),
            m_rd.addr.eq(self.m_rd_addr), m_rd.en.eq(self.m_rd_en),
            self.m_rd_data.eq(m_rd.data),
        ]
        with m.If(self.ew_reset):
            m.d.sync += [out_cell.eq(0), out_lane.eq(0)]
        with m.Elif(ew.o.valid):
            with m.If(out_lane == c_n - 1):
                m.d.sync += [out_lane.eq(0), out_cell.eq(out_cell + 1)]
            with m.Else():
                m.d.sync += out_lane.eq(out_lane + 1)

        # y read-out: projection row -> Q fa, saturated, into the y bank (two cycles).
        shift = q["fw_y"] + q["fg"] - q["fa"]
        for a in acc_p:
            m.d.comb += [a.ro_en.eq(self.ro_en), a.ro_addr.eq(self.ro_row)]
        ro_d1 = Signal()
        ro_row_d1 = Signal.like(self.ro_row)
        ro_d2 = Signal()
        ro_row_d2 = Signal.like(self.ro_row)
        y_conv = Signal(lanes)
        m.d.sync += [ro_d1.eq(self.ro_en), ro_row_d1.eq(self.ro_row),
                     ro_d2.eq(ro_d1), ro_row_d2.eq(ro_row_d1)]
        m.d.sync += [y_conv[ch].eq(sat_value(rshift_round_value(acc_p[ch].ro_data, shift), ab))
                     for ch in range(c_n)]
        m.submodules.ybank = ybank = Memory(shape=lanes, depth=max(1, prow), init=[])
        y_wr = ybank.write_port()
        y_rd = ybank.read_port(transparent_for=())
        yo_rd = ybank.read_port(transparent_for=())
        m.d.comb += [
            y_wr.addr.eq(ro_row_d2), y_wr.data.eq(y_conv), y_wr.en.eq(ro_d2),
            y_rd.addr.eq(self.y_rd_addr), y_rd.en.eq(self.y_rd_en),
            self.y_rd_data.eq(y_rd.data),
            yo_rd.addr.eq(self.yo_rd_addr), yo_rd.en.eq(self.yo_rd_en),
            self.yo_rd_data.eq(yo_rd.data),
        ]
        return m


class Channel(wiring.Component):
    """A whole LSTMP channel (``n_channels`` lock-step channels) from x_t to y_t.

    Parameters (keyword-only)
    ----------
    n_in, n_cells, n_proj : int
        The model's shape (I, H, P); fixed at elaboration.
    n_pe, n_channels : int
    weight_bits, index_bits, act_bits, accum_bits : int
    qformats : dict
        ``fw_g fw_y fp fa fc fg`` of the compressed model (the shifts are constants).
    lut_bits, lut_range_log2 : int
    queue_depth : int
        Activation queue depth of every PE.
    entry_depth : int
        Entry words per PE (gate and projection entries together).
    model : CompressedModel, optional
        Elaboration-time memory images (else load them through ``load``).

    Members
    -------
    x : In(stream.Signature(x_layout))
        ``x_t``, I elements per frame, all channels side by side. ``reset`` bits on a
        frame's first element start those channels from zero state.
    y : Out(stream.Signature(lanes_layout))
        ``y_t``, P elements per frame (Q ``fa``).
    load : In(stream.Signature(channel_load_layout))
        Memory writes; accepted only while no frame is in flight.
    frame_done : Out(1)
        Pulses when a step's ``y_t`` has been written back (before it is streamed out).
    busy : Out(1)
    """

    @validated
    def __init__(self, *, n_in, n_cells, n_proj, n_pe, n_channels=1, weight_bits=12,
                 index_bits=4, act_bits=16, accum_bits=48, qformats, lut_bits=12,
                 lut_range_log2=3, queue_depth=8, entry_depth, model=None):
        check_int("n_in", n_in, 1)
        check_int("n_cells", n_cells, 1)
        check_int("n_proj", n_proj, 1)
        check_int("n_pe", n_pe, 1)
        check_int("n_channels", n_channels, 1, 64)
        check_int("weight_bits", weight_bits, 2, 18)
        check_int("index_bits", index_bits, 2, 8)
        check_int("act_bits", act_bits, 4, 24)
        check_int("accum_bits", accum_bits, weight_bits + act_bits, 62)
        check_int("queue_depth", queue_depth, 1)
        check_int("entry_depth", entry_depth, 1)
        missing = [k for k in ("fw_g", "fw_y", "fp", "fa", "fc", "fg") if k not in qformats]
        if missing:
            raise ValueError(f"qformats lacks {missing[0]!r}")
        if qformats["fg"] != act_bits - 1:
            raise ValueError(f"qformats fg = {qformats['fg']}, must be act_bits - 1")
        self._dims = (n_in, n_cells, n_proj)
        self._n_pe, self._c = n_pe, n_channels
        self._wb, self._ib, self._ab, self._accb = weight_bits, index_bits, act_bits, accum_bits
        self._q = {k: int(v) for k, v in qformats.items()}
        self._lut = dict(lut_bits=lut_bits, lut_range_log2=lut_range_log2)
        self._queue_depth, self._entry_depth = queue_depth, entry_depth
        self._images = None
        if model is not None:
            self._images = self._check_model(model)
        super().__init__({
            "x": In(stream.Signature(x_layout(act_bits, n_channels))),
            "y": Out(stream.Signature(lanes_layout(act_bits, n_channels))),
            "load": In(stream.Signature(channel_load_layout(
                self.pe_bits, self.load_addr_bits, self.load_data_bits))),
            "frame_done": Out(1),
            "busy": Out(1),
        })

    @classmethod
    def for_model(cls, model, *, n_channels=1, queue_depth=8, entry_depth=None,
                  preload=False):
        """A channel sized for ``model`` (memory depths to fit, its Q formats)."""
        cfg = model.config
        need = int((model.gate.entries_per_pe + model.ym.entries_per_pe).max())
        return cls(n_in=model.n_in, n_cells=model.n_cells, n_proj=model.n_proj,
                   n_pe=cfg.n_pe, n_channels=n_channels, weight_bits=cfg.weight_bits,
                   index_bits=cfg.index_bits, act_bits=cfg.act_bits,
                   accum_bits=cfg.accum_bits, qformats=model.qformats,
                   lut_bits=cfg.lut_bits, lut_range_log2=cfg.lut_range_log2,
                   queue_depth=queue_depth, entry_depth=entry_depth or max(1, need),
                   model=model if preload else None)

    def _check_model(self, model):
        cfg = model.config
        mine = dict(n_pe=self._n_pe, weight_bits=self._wb, index_bits=self._ib,
                    act_bits=self._ab, accum_bits=self._accb, **self._lut)
        for k, v in mine.items():
            got = getattr(cfg, k)
            if got != v:
                raise ValueError(f"model has {k} = {got}, the channel has {v}")
        if (model.n_in, model.n_cells, model.n_proj) != self._dims:
            raise ValueError(f"model shape {(model.n_in, model.n_cells, model.n_proj)} "
                             f"!= channel shape {self._dims}")
        if dict(model.qformats) != self._q:
            raise ValueError("model Q formats differ from the channel's")
        images = channel_images(model)
        longest = max(len(w) for w in images.words)
        if longest > self._entry_depth:
            raise ValueError(f"model needs {longest} entry words in a PE, more than "
                             f"entry_depth = {self._entry_depth}")
        return images

    # Read-only parameters and derived sizes.
    n_in = property(lambda self: self._dims[0])
    n_cells = property(lambda self: self._dims[1])
    n_proj = property(lambda self: self._dims[2])
    n_pe = property(lambda self: self._n_pe)
    n_channels = property(lambda self: self._c)
    weight_bits = property(lambda self: self._wb)
    index_bits = property(lambda self: self._ib)
    act_bits = property(lambda self: self._ab)
    accum_bits = property(lambda self: self._accb)
    queue_depth = property(lambda self: self._queue_depth)
    entry_depth = property(lambda self: self._entry_depth)
    qformats = property(lambda self: dict(self._q))

    @property
    def cells_per_pe(self):
        return -(-self._dims[1] // self._n_pe)

    @property
    def proj_rows(self):
        return -(-self._dims[2] // self._n_pe)

    @property
    def n_cols(self):
        """Pointer-memory columns: x, y and m."""
        return sum(self._dims)

    @property
    def pe_bits(self):
        return max(1, ceil_log2(self._n_pe))

    @property
    def ptr_bits(self):
        return bits_for(self._entry_depth)

    @property
    def load_addr_bits(self):
        return max(1, ceil_log2(self._entry_depth), bits_for(self.n_cols),
                   ceil_log2(4 * self.cells_per_pe))

    @property
    def load_data_bits(self):
        return max(self._wb + self._ib, self.ptr_bits, self._accb, 3 * self._wb)

    @property
    def ew_slot(self):
        """Cycles per local cell of the element-wise pass (4 reads, 1 latch, one per channel)."""
        return 5 + self._c

    def elaborate(self, platform):
        m = Module()
        n_in, n_cells, n_proj = self._dims
        n, c_n, ab = self._n_pe, self._c, self._ab
        cells, prow = self.cells_per_pe, self.proj_rows
        lanes = lanes_layout(ab, c_n)
        all_lanes = (1 << c_n) - 1

        pes = []
        for p in range(n):
            init = None
            if self._images is not None:
                im = self._images
                init = dict(words=im.words[p], ptr=im.ptr[p], bias=[int(v) for v in im.bias[p]],
                            peep=[int(v) for v in im.peep[p]])
            pe = ChannelPE(n_channels=c_n, weight_bits=self._wb, index_bits=self._ib,
                           act_bits=ab, accum_bits=self._accb, queue_depth=self._queue_depth,
                           entry_depth=self._entry_depth, n_cols=self.n_cols, cells=cells,
                           proj_rows=prow, qformats=self._q, init=init, **self._lut)
            m.submodules[f"pe{p}"] = pe
            pes.append(pe)
        m.submodules.sched = sched = Scheduler()

        any_full = Signal()
        all_idle = Signal()
        m.d.comb += [any_full.eq(Cat(pe.full for pe in pes).any()),
                     all_idle.eq(Cat(pe.idle for pe in pes).all())]

        # --- x buffer: two frame slots, written from the x stream. -----------------------
        m.submodules.xbuf = xbuf = Memory(shape=lanes, depth=2 * n_in, init=[])
        x_wr = xbuf.write_port()
        x_rd = xbuf.read_port(transparent_for=())
        slot_full = Signal(2)
        slot_reset = [Signal(c_n, name=f"slot{s}_reset") for s in range(2)]
        w_slot = Signal()
        w_idx = Signal(range(n_in + 1))
        r_slot = Signal()
        x_take = self.x.valid & self.x.ready
        m.d.comb += [
            self.x.ready.eq(~slot_full.bit_select(w_slot, 1)),
            x_wr.addr.eq(Mux(w_slot, n_in, 0) + w_idx),
            x_wr.data.eq(self.x.payload.x),
            x_wr.en.eq(x_take),
            sched.x_full.eq(slot_full.bit_select(r_slot, 1)),
        ]
        with m.If(x_take):
            with m.If(w_idx == 0):
                for s in range(2):
                    with m.If(w_slot == s):
                        m.d.sync += slot_reset[s].eq(self.x.payload.reset)
            with m.If(w_idx == n_in - 1):
                m.d.sync += [w_idx.eq(0), w_slot.eq(~w_slot),
                             slot_full.bit_select(w_slot, 1).eq(1)]
            with m.Else():
                m.d.sync += w_idx.eq(w_idx + 1)
        with m.If(sched.x_release):
            m.d.sync += [slot_full.bit_select(r_slot, 1).eq(0), r_slot.eq(~r_slot)]

        # The step's reset mask: channels that start from zero state (all after power-on).
        fresh = Signal(init=1)
        step_zero = Signal(c_n)
        with m.If(sched.step_begin):
            m.d.sync += [step_zero.eq(Mux(fresh, all_lanes,
                                          Mux(r_slot, slot_reset[1], slot_reset[0]))),
                         fresh.eq(0)]
        m.d.comb += sched.reset_all.eq(step_zero == all_lanes)

        # --- Element-wise pass sequencer (all PEs in lock-step). -------------------------
        slot_len = self.ew_slot
        ew_busy = Signal()
        ew_cell = Signal(range(max(2, cells + 1)))
        ew_cyc = Signal(range(slot_len))
        # Cells whose m_t exists in every PE: the PEs run the pass in lock-step, so PE 0's
        # count of written cells stands for all of them.
        m_rounds = pes[0].ew_cells
        for pe in pes:
            m.d.comb += [
                pe.ew_acc_en.eq(ew_busy & (ew_cyc < 4)),
                pe.ew_acc_row.eq(Cat(ew_cyc[:2], ew_cell)),
                pe.ew_cell_en.eq(ew_busy & (ew_cyc == 0)),
                pe.ew_cell.eq(ew_cell),
                pe.ew_feed.eq(ew_busy & (ew_cyc >= 5)),
                pe.ew_lane.eq(ew_cyc - 5),
                pe.ew_zero.eq(step_zero),
                pe.ew_reset.eq(sched.ew_start),
            ]
        with m.If(sched.ew_start):
            m.d.sync += [ew_busy.eq(1), ew_cell.eq(0), ew_cyc.eq(0)]
        with m.Elif(ew_busy):
            with m.If(ew_cyc == slot_len - 1):
                m.d.sync += [ew_cyc.eq(0), ew_cell.eq(ew_cell + 1)]
                with m.If(ew_cell == cells - 1):
                    m.d.sync += ew_busy.eq(0)
            with m.Else():
                m.d.sync += ew_cyc.eq(ew_cyc + 1)

        # --- Broadcaster: walks the phase's columns, one per cycle. ----------------------
        # Stage A reads the activations of column ``bc_cnt``; stage B pushes them into
        # every queue (or drops an all-zero column) when no queue is full.
        bc_phase = Signal(Phase)
        bc_cnt = Signal(range(max(n_in, n_proj, n_cells) + 1))
        bc_len = Signal.like(bc_cnt)
        bc_col = Signal(range(max(2, self.n_cols)))
        bc_bank = Signal(range(max(2, n)))
        bc_addr = Signal(range(max(cells, prow) + 1))
        b_valid = Signal()
        b_phase = Signal(Phase)
        b_col = Signal.like(bc_col)
        b_bank = Signal.like(bc_bank)
        b_acts = Signal(lanes)
        b_zero = Signal()
        b_done = Signal()
        advance = Signal()
        a_avail = Signal()
        a_go = Signal()

        m_data = Signal(lanes)
        y_data = Signal(lanes)
        with m.Switch(b_bank):
            for p, pe in enumerate(pes):
                with m.Case(p):
                    m.d.comb += [m_data.eq(pe.m_rd_data), y_data.eq(pe.y_rd_data)]
        zero_mask = Cat(Mux(step_zero[ch], 0, Const(-1, ab)) for ch in range(c_n))
        with m.Switch(b_phase):
            with m.Case(Phase.X):
                m.d.comb += b_acts.eq(x_rd.data)
            with m.Case(Phase.Y):
                m.d.comb += b_acts.eq(y_data.as_value() & zero_mask)
            with m.Default():
                m.d.comb += b_acts.eq(m_data)
        m.d.comb += [
            b_zero.eq(b_acts.as_value() == 0),
            b_done.eq(b_valid & (b_zero | ~any_full)),
            advance.eq(~b_valid | b_done),
            a_avail.eq((bc_phase != Phase.P) | (bc_addr < m_rounds)),
            a_go.eq((bc_cnt != bc_len) & a_avail & advance),
            x_rd.addr.eq(Mux(r_slot, n_in, 0) + bc_cnt),
            x_rd.en.eq(advance),
        ]
        for pe in pes:
            m.d.comb += [
                pe.m_rd_addr.eq(bc_addr), pe.m_rd_en.eq(advance),
                pe.y_rd_addr.eq(bc_addr), pe.y_rd_en.eq(advance),
                pe.push.eq(b_valid & ~b_zero & ~any_full),
                pe.push_col.eq(b_col),
                pe.push_act.acts.eq(b_acts),
                pe.push_act.proj.eq(b_phase == Phase.P),
            ]
        with m.If(sched.bc_start):
            lens = {Phase.X: n_in, Phase.Y: n_proj, Phase.P: n_cells}
            firsts = {Phase.X: 0, Phase.Y: n_in, Phase.P: n_in + n_proj}
            m.d.sync += [bc_phase.eq(sched.bc_phase), bc_cnt.eq(0), bc_bank.eq(0),
                         bc_addr.eq(0)]
            with m.Switch(sched.bc_phase):
                for ph, length in lens.items():
                    with m.Case(ph):
                        m.d.sync += [bc_len.eq(length), bc_col.eq(firsts[ph])]
        with m.Elif(a_go):
            m.d.sync += [bc_cnt.eq(bc_cnt + 1), bc_col.eq(bc_col + 1)]
            _next_interleaved(m, bc_bank, bc_addr, n)
        with m.If(advance):
            m.d.sync += [b_valid.eq(a_go), b_phase.eq(bc_phase), b_col.eq(bc_col),
                         b_bank.eq(bc_bank)]
        m.d.comb += [
            sched.bc_idle.eq((bc_cnt == bc_len) & ~b_valid),
            sched.all_idle.eq(all_idle),
        ]
        for pe in pes:
            m.d.comb += [pe.gate_clear.eq(sched.gate_clear), pe.proj_clear.eq(sched.proj_clear)]

        # --- y read-out: projection rows -> y banks (all PEs at once). ------------------
        ro_busy = Signal()
        ro_row = Signal(range(prow + 1))
        ro_tail = Signal(2)
        for pe in pes:
            m.d.comb += [pe.ro_en.eq(ro_busy & (ro_row != prow)), pe.ro_row.eq(ro_row)]
        out_busy = Signal()
        m.d.comb += [sched.ro_busy.eq(ro_busy), sched.out_busy.eq(out_busy)]
        m.d.sync += self.frame_done.eq(0)
        with m.If(sched.ro_start):
            m.d.sync += [ro_busy.eq(1), ro_row.eq(0), ro_tail.eq(0)]
        with m.Elif(ro_busy):
            with m.If(ro_row != prow):
                m.d.sync += ro_row.eq(ro_row + 1)
            with m.Elif(ro_tail != 2):             # the last row's two write cycles
                m.d.sync += ro_tail.eq(ro_tail + 1)
            with m.Else():
                m.d.sync += [ro_busy.eq(0), out_busy.eq(1), self.frame_done.eq(1)]

        # --- y output stream: y_t in row order from the y banks. -------------------------
        o_cnt = Signal(range(n_proj + 1))
        o_bank = Signal(range(max(2, n)))
        o_addr = Signal(range(prow + 1))
        ob_valid = Signal()
        ob_bank = Signal.like(o_bank)
        o_adv = Signal()
        o_go = Signal()
        m.d.comb += [
            o_adv.eq(~ob_valid | self.y.ready),
            o_go.eq(out_busy & (o_cnt != n_proj) & o_adv),
            self.y.valid.eq(ob_valid),
        ]
        with m.Switch(ob_bank):
            for p, pe in enumerate(pes):
                with m.Case(p):
                    m.d.comb += self.y.payload.eq(pe.yo_rd_data)
        for pe in pes:
            m.d.comb += [pe.yo_rd_addr.eq(o_addr), pe.yo_rd_en.eq(o_adv)]
        with m.If(o_adv):
            m.d.sync += [ob_valid.eq(o_go), ob_bank.eq(o_bank)]
        with m.If(o_go):
            m.d.sync += o_cnt.eq(o_cnt + 1)
            _next_interleaved(m, o_bank, o_addr, n)
        with m.If(out_busy & (o_cnt == n_proj) & ~ob_valid):
            m.d.sync += [out_busy.eq(0), o_cnt.eq(0), o_bank.eq(0), o_addr.eq(0)]

        # --- Loads (only while nothing is in flight). ------------------------------------
        quiet = ((sched.state == Step.WAIT_X) & all_idle & ~ro_busy & ~out_busy & (slot_full == 0)
                 & ~ew_busy)
        ld = self.load.payload
        m.d.comb += [self.load.ready.eq(quiet),
                     self.busy.eq(~quiet)]
        for p, pe in enumerate(pes):
            route_load(m, ld, self.load.valid & quiet & (ld.pe == p),
                       {LoadTarget.ENTRY: pe.entry_load, LoadTarget.PTR: pe.ptr_load,
                        LoadTarget.BIAS: pe.bias_load, LoadTarget.PEEP: pe.peep_load})
        return m

