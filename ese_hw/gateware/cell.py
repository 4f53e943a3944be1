"""The cells of G PEs: gate registers, ``c`` and peephole memories, one element-wise unit,
an ``m_t`` bank per PE."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..model.images import peep_word_bits
from ..model.limits import DEFAULTS
from ..model.lstmp import GATES, N_GATES, PEEPHOLE_GATES
from ..model.timing import DEFAULT_TIMING
from .elementwise import ElementwiseUnit
from .lanes import (
    accum_read_signature,
    bank_read_signature,
    elementwise_control_signature,
    lanes_layout,
    row_bits,
)
from .load import loadable_memory, write_layout

__all__ = ["CellUnit", "pack_peepholes"]


def pack_peepholes(images, weight_bits):
    """The peephole image of a cell unit from its PEs' images (one list of packed
    :func:`~ese_hw.model.images.peep_word_bits` words per PE, in the unit's PE order):
    word ``k`` holds PE ``g``'s word ``k`` at bit ``peep_word_bits(weight_bits) * g``."""
    width = peep_word_bits(weight_bits)
    depth = max(len(im) for im in images)
    return [sum((int(im[k]) if k < len(im) else 0) << (width * g) for g, im in enumerate(images))
            for k in range(depth)]


class CellUnit(wiring.Component):
    """The element-wise half of ``ew_share`` PEs: ``c_t`` and ``m_t`` of their local cells,
    every lane.

    The unit serves G PEs (``ew_share``) of C lock-step channels each and treats them
    as ``G * C`` lanes, PE-major (lane ``l`` is channel ``l % C`` of the unit's PE
    ``l // C``). Driven by the
    :class:`~ese_hw.gateware.sequencer.ElementwiseSequencer` (``control``): the four
    gate sums of a cell are read from the gate accumulators (``gate_rd``, every lane
    of every PE at once) into gate registers; ``c_{t-1}`` and the packed peepholes
    (``p_i | p_f << wb | p_o << 2 wb`` per PE, PE ``g`` at bit ``3 wb g``) are read
    from their memories; then each lane is fed to the :class:`ElementwiseUnit`. Its
    results go back in feed order: ``c_t`` into the ``c`` memory, ``m_t`` into its
    PE's m bank (read by the broadcaster), and ``cells_done`` counts the cells
    written for every lane. With G = 1 this is one PE's cells.

    Parameters
    ----------
    n_channels, weight_bits, act_bits, accum_bits, cells : int
    qformats : dict
        ``fw_g fa fc fp`` (and others, ignored).
    lut_bits, lut_range_log2 : int
    timing : Timing
        ``ew_output_stages`` extra registers after the element-wise unit.
    ew_share : int
        PEs served (G, default 1).
    init_peep : sequence of int, optional
        Elaboration-time peephole image (:func:`pack_peepholes` of the PEs' images).

    Members
    -------
    control : In(elementwise_control_signature)
    gate_rd : In(accum_read_signature(4 * cells, G * C lanes))
        The G PEs' gate accumulators side by side (PE-major), one address for all.
    peep_load : In(stream.Signature(write_layout, always_ready=True))
        Peepholes of local cell ``addr % 2**row_bits(cells)`` of the unit's PE
        ``addr >> row_bits(cells)`` (:attr:`peep_addr_bits`).
    m_rd : Out(bank_read_signature(cells, lanes_layout)).array(G)
        Each PE's m bank (C lanes), read at its own address.
    cells_done : Out(range(cells + 1))
    """

    @staticmethod
    def peep_addr_bits(cells, ew_share):
        """Address bits of ``peep_load``: the local cell, then the PE within the unit."""
        return row_bits(cells) + ceil_log2(ew_share)

    def __init__(self, *, n_channels, weight_bits, act_bits, accum_bits, cells, qformats,
                 lut_bits, lut_range_log2, timing=DEFAULT_TIMING, ew_share=DEFAULTS["ew_share"],
                 init_peep=None):
        self._c, self._wb, self._ab, self._accb = n_channels, weight_bits, act_bits, accum_bits
        self._cells, self._g = cells, ew_share
        self._ew = dict(act_bits=act_bits, weight_bits=weight_bits, accum_bits=accum_bits,
                        fw_g=qformats["fw_g"], fa=qformats["fa"], fc=qformats["fc"],
                        fp=qformats["fp"], lut_bits=lut_bits, lut_range_log2=lut_range_log2,
                        timing=timing)
        self._init_peep = init_peep
        lanes = ew_share * n_channels
        super().__init__({
            "control": In(elementwise_control_signature(cells, n_channels, ew_share)),
            "gate_rd": In(accum_read_signature(N_GATES * cells, accum_bits, lanes)),
            "peep_load": In(stream.Signature(
                write_layout(self.peep_addr_bits(cells, ew_share), peep_word_bits(weight_bits)),
                always_ready=True)),
            "m_rd": Out(bank_read_signature(cells, lanes_layout(act_bits, n_channels)))
            .array(ew_share),
            "cells_done": Out(range(cells + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        n_ch, n_pe = self._c, self._g
        n_lanes, wb, ab, accb = n_pe * n_ch, self._wb, self._ab, self._accb
        ctl = self.control

        # Gate registers: all four gate sums of one cell, every lane; a read's data
        # arrives one cycle later, so the gate it belongs to is delayed with it.
        gate_regs = [[Signal(signed(accb), name=f"gate{g}_ch{ch}") for ch in range(n_lanes)]
                     for g in range(N_GATES)]
        read_pending = Signal()
        pending_gate = Signal(range(N_GATES))
        m.d.comb += [self.gate_rd.en.eq(ctl.gate_read), self.gate_rd.addr.eq(ctl.gate_row)]
        m.d.sync += [read_pending.eq(ctl.gate_read), pending_gate.eq(ctl.gate_row)]
        with m.If(read_pending):
            for g in range(N_GATES):
                with m.If(pending_gate == g):
                    m.d.sync += [gate_regs[g][ch].eq(self.gate_rd.data[ch])
                                 for ch in range(n_lanes)]

        depth = max(1, self._cells)
        lane = ctl.lane
        # The fed lane's PE (lane // C; PE 0 when G = 1).
        lane_pe = Signal(range(max(2, n_pe)))
        if n_pe > 1:
            with m.Switch(lane):
                for ln in range(n_lanes):
                    with m.Case(ln):
                        m.d.comb += lane_pe.eq(ln // n_ch)
        # c_{t-1} one word per (cell, lane), read without a clock at the lane being fed,
        # so no register holds every lane's c and no mux picks one (LUT RAM reads
        # asynchronously). A lane's c_t is written a whole element-wise latency after
        # its feed, so the read always sees c_{t-1}.
        m.submodules.cmem = cmem = Memory(shape=signed(ab), depth=depth << self._lane_bits,
                                          init=[])
        c_rd, c_wr = cmem.read_port(domain="comb"), cmem.write_port()
        pe_peep = self._peep_word(m, depth, lane_pe)
        m.d.comb += c_rd.addr.eq(self._lane_cell_addr(lane, ctl.cell))

        m.submodules.ew = ew = ElementwiseUnit(**self._ew)
        feed = ew.i.payload
        gate = [Cat(gate_regs[g]).word_select(lane, accb) for g in range(N_GATES)]
        m.d.comb += [
            ew.i.valid.eq(ctl.feed),
            ew.o.ready.eq(1),
            # Zero-state is per channel: lane l is channel l % C.
            feed.c_prev.eq(Mux(ctl.zero.replicate(n_pe).bit_select(lane, 1), 0, c_rd.data)),
        ]
        # The gates in GATES order; the peephole word's fields in PEEPHOLE_GATES order
        # (ese_hw.model.images packs them so).
        m.d.comb += [feed[f"acc_{g}"].eq(gate[k]) for k, g in enumerate(GATES)]
        m.d.comb += [feed[f"p_{g}"].eq(pe_peep.word_select(j, wb))
                     for j, g in enumerate(PEEPHOLE_GATES)]

        # Results in feed order: lane after lane of one cell, then the next cell.
        out_cell = Signal(range(self._cells + 1))
        out_lane = Signal(range(max(2, n_lanes)))
        lane_bit = Mux(ew.o.valid, Const(1, n_lanes) << out_lane, 0)
        m.d.comb += [
            c_wr.addr.eq(self._lane_cell_addr(out_lane, out_cell)),
            c_wr.data.eq(ew.o.payload.c), c_wr.en.eq(ew.o.valid),
            self.cells_done.eq(out_cell),
        ]
        # One m bank per PE (C lanes), so the broadcaster reads each at its own address.
        for g in range(n_pe):
            mbank = Memory(shape=lanes_layout(ab, n_ch), depth=depth, init=[])
            m.submodules["mbank" if n_pe == 1 else f"mbank{g}"] = mbank
            m_wr = mbank.write_port(granularity=1)
            m.d.comb += [m_wr.addr.eq(out_cell), m_wr.data.eq(ew.o.payload.m.replicate(n_ch)),
                         m_wr.en.eq(lane_bit[g * n_ch:(g + 1) * n_ch])]
            wiring.connect(m, wiring.flipped(self.m_rd[g]), mbank.read_port(transparent_for=()))
        with m.If(ctl.restart):
            m.d.sync += [out_cell.eq(0), out_lane.eq(0)]
        with m.Elif(ew.o.valid):
            with m.If(out_lane == n_lanes - 1):
                m.d.sync += [out_lane.eq(0), out_cell.eq(out_cell + 1)]
            with m.Else():
                m.d.sync += out_lane.eq(out_lane + 1)
        return m

    @property
    def _lane_bits(self):
        """Address bits of a lane within a cell's words of the ``c`` memory."""
        return ceil_log2(self._g * self._c)

    def _lane_cell_addr(self, lane, cell):
        """Word of (``cell``, ``lane``) in the ``c`` memory: the lane in the low bits."""
        lb = self._lane_bits
        return Cat(lane[:lb], cell) if lb else cell

    def _peep_word(self, m, depth, lane_pe):
        """The packed peepholes of local cell ``control.cell`` of PE ``lane_pe``.

        One PE (G = 1): one word per cell, read with ``c_{t-1}`` at the slot's start
        and held. G PEs: a word per (PE, cell) at the load's own address (the PE above
        the cell bits), read without a clock at the fed lane's PE, so no register holds
        every PE's word and no mux picks one."""
        width, ctl = peep_word_bits(self._wb), self.control
        if self._g == 1:
            peep = loadable_memory(m, "peep", shape=unsigned(width), depth=depth,
                                   init=self._init_peep, load=self.peep_load)
            peep_rd = peep.read_port()
            m.d.comb += [peep_rd.addr.eq(ctl.cell), peep_rd.en.eq(ctl.cell_read)]
            return peep_rd.data
        rb = row_bits(self._cells)
        init = []
        if self._init_peep is not None:
            packed = [int(v) for v in self._init_peep]
            init = [(packed[k] >> (width * g)) & ((1 << width) - 1) if k < len(packed) else 0
                    for g in range(self._g) for k in range(1 << rb)]
        m.submodules.peep = peep = Memory(shape=unsigned(width), depth=self._g << rb,
                                          init=init)
        wr, rd = peep.write_port(), peep.read_port(domain="comb")
        load = self.peep_load
        m.d.comb += [
            wr.addr.eq(load.payload.addr), wr.data.eq(load.payload.data),
            wr.en.eq(load.valid),
            rd.addr.eq(Cat(ctl.cell[:rb], lane_pe)),
        ]
        return rd.data
