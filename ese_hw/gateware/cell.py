"""A PE's cells: gate registers, ``c`` and peephole memories, element-wise unit, ``m_t`` bank."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..model.timing import DEFAULT_TIMING
from .elementwise import ElementwiseUnit
from .lanes import (
    GATES,
    accum_read_signature,
    bank_read_signature,
    elementwise_control_signature,
    lanes_layout,
    row_bits,
)
from .load import loadable_memory, write_layout

__all__ = ["CellUnit"]


class CellUnit(wiring.Component):
    """The element-wise half of a PE: ``c_t`` and ``m_t`` of its local cells, every lane.

    Driven by the :class:`~ese_hw.gateware.sequencer.ElementwiseSequencer`
    (``control``): the four gate sums of a cell are read from the gate
    accumulators (``gate_rd``, every lane at once) into gate registers; ``c_{t-1}``
    and the packed peepholes (``p_i | p_f << wb | p_o << 2 wb``) are read from their
    memories; then each lane is fed to the :class:`ElementwiseUnit`. Its results go
    back in feed order: ``c_t`` into the ``c`` memory, ``m_t`` into the m bank (read
    by the broadcaster), and ``cells_done`` counts the cells written for every lane.

    Parameters
    ----------
    n_channels, weight_bits, act_bits, accum_bits, cells : int
    qformats : dict
        ``fw_g fa fc fp`` (and others, ignored).
    lut_bits, lut_range_log2 : int
    timing : Timing
        ``ew_output_stages`` extra registers after the element-wise unit.
    init_peep : sequence of int, optional
        Elaboration-time peephole image.

    Members
    -------
    control : In(elementwise_control_signature)
    gate_rd : In(accum_read_signature(4 * cells))
    peep_load : In(stream.Signature(write_layout, always_ready=True))
    m_rd : Out(bank_read_signature(cells, lanes_layout))
    cells_done : Out(range(cells + 1))
    """

    def __init__(self, *, n_channels, weight_bits, act_bits, accum_bits, cells, qformats,
                 lut_bits, lut_range_log2, timing=DEFAULT_TIMING, init_peep=None):
        self._c, self._wb, self._ab, self._accb = n_channels, weight_bits, act_bits, accum_bits
        self._cells = cells
        self._ew = dict(act_bits=act_bits, weight_bits=weight_bits, accum_bits=accum_bits,
                        fw_g=qformats["fw_g"], fa=qformats["fa"], fc=qformats["fc"],
                        fp=qformats["fp"], lut_bits=lut_bits, lut_range_log2=lut_range_log2,
                        timing=timing)
        self._init_peep = init_peep
        super().__init__({
            "control": In(elementwise_control_signature(cells, n_channels)),
            "gate_rd": In(accum_read_signature(GATES * cells, accum_bits, n_channels)),
            "peep_load": In(stream.Signature(write_layout(row_bits(cells), 3 * weight_bits),
                                             always_ready=True)),
            "m_rd": Out(bank_read_signature(cells, lanes_layout(act_bits, n_channels))),
            "cells_done": Out(range(cells + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        n_lanes, wb, ab, accb = self._c, self._wb, self._ab, self._accb
        ctl = self.control
        lanes = lanes_layout(ab, n_lanes)

        # Gate registers: all four gate sums of one cell, every lane; a read's data
        # arrives one cycle later, so the gate it belongs to is delayed with it.
        gate_regs = [[Signal(signed(accb), name=f"gate{g}_ch{ch}") for ch in range(n_lanes)]
                     for g in range(GATES)]
        read_pending = Signal()
        pending_gate = Signal(range(GATES))
        m.d.comb += [self.gate_rd.en.eq(ctl.gate_read), self.gate_rd.addr.eq(ctl.gate_row)]
        m.d.sync += [read_pending.eq(ctl.gate_read), pending_gate.eq(ctl.gate_row)]
        with m.If(read_pending):
            for g in range(GATES):
                with m.If(pending_gate == g):
                    m.d.sync += [gate_regs[g][ch].eq(self.gate_rd.data[ch])
                                 for ch in range(n_lanes)]

        depth = max(1, self._cells)
        m.submodules.cmem = cmem = Memory(shape=lanes, depth=depth, init=[])
        peep = loadable_memory(m, "peep", shape=unsigned(3 * wb), depth=depth,
                               init=self._init_peep, load=self.peep_load)
        c_rd, c_wr = cmem.read_port(transparent_for=()), cmem.write_port(granularity=1)
        peep_rd = peep.read_port()
        m.d.comb += [c_rd.addr.eq(ctl.cell), c_rd.en.eq(ctl.cell_read),
                     peep_rd.addr.eq(ctl.cell), peep_rd.en.eq(ctl.cell_read)]

        m.submodules.ew = ew = ElementwiseUnit(**self._ew)
        lane = ctl.lane
        feed = ew.i.payload
        gate = [Cat(gate_regs[g]).word_select(lane, accb) for g in range(GATES)]
        m.d.comb += [
            ew.i.valid.eq(ctl.feed),
            ew.o.ready.eq(1),
            feed.acc_i.eq(gate[0]), feed.acc_f.eq(gate[1]),
            feed.acc_c.eq(gate[2]), feed.acc_o.eq(gate[3]),
            feed.c_prev.eq(Mux(ctl.zero.bit_select(lane, 1), 0,
                               c_rd.data.as_value().word_select(lane, ab))),
            feed.p_i.eq(peep_rd.data[0:wb]),
            feed.p_f.eq(peep_rd.data[wb:2 * wb]),
            feed.p_o.eq(peep_rd.data[2 * wb:3 * wb]),
        ]

        # Results in feed order: lane after lane of one cell, then the next cell.
        out_cell = Signal(range(self._cells + 1))
        out_lane = Signal(range(max(2, n_lanes)))
        m.submodules.mbank = mbank = Memory(shape=lanes, depth=depth, init=[])
        m_wr = mbank.write_port(granularity=1)
        lane_bit = Mux(ew.o.valid, Const(1, n_lanes) << out_lane, 0)
        m.d.comb += [
            c_wr.addr.eq(out_cell), c_wr.data.eq(ew.o.payload.c.replicate(n_lanes)),
            c_wr.en.eq(lane_bit),
            m_wr.addr.eq(out_cell), m_wr.data.eq(ew.o.payload.m.replicate(n_lanes)),
            m_wr.en.eq(lane_bit),
            self.cells_done.eq(out_cell),
        ]
        wiring.connect(m, wiring.flipped(self.m_rd), mbank.read_port(transparent_for=()))
        with m.If(ctl.restart):
            m.d.sync += [out_cell.eq(0), out_lane.eq(0)]
        with m.Elif(ew.o.valid):
            with m.If(out_lane == n_lanes - 1):
                m.d.sync += [out_lane.eq(0), out_cell.eq(out_cell + 1)]
            with m.Else():
                m.d.sync += out_lane.eq(out_lane + 1)
        return m
