"""The channel's PE: its front end, its SpMV half, its cells and its y bank.

:class:`ChannelPE` is one PE of :class:`~ese_hw.gateware.channel.Channel`, made of
:class:`SpmvUnit` (a :class:`ColumnWalker` -- activation queue, pointer reader,
matrix reader -- feeding every lane's gate and projection
:class:`~ese_hw.gateware.accumulator.Accumulator`), a
:class:`~ese_hw.gateware.cell.CellUnit` (the element-wise half) and a
:class:`~ese_hw.gateware.readout.YBank`.
"""

from amaranth.hdl import Cat, Module, signed
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from ..model.images import peep_word_bits, sub_bits
from ..model.limits import DEFAULTS
from ..model.lstmp import N_GATES
from ..model.timing import DEFAULT_TIMING
from ._checks import CheckedComponent, check_int
from .accumulator import Accumulator
from .cell import CellUnit
from .lanes import (
    accum_lanes_layout,
    accum_read_signature,
    bank_read_signature,
    column_layout,
    elementwise_control_signature,
    lanes_layout,
    readout_command_signature,
    row_bits,
    tag_layout,
)
from .load import loadable_memory, write_layout
from .matrix_reader import MatrixReader, product_layout
from .pointer import PointerReader, column_request_layout
from .readout import YBank

__all__ = ["ColumnWalker", "SpmvUnit", "ChannelPE"]


class ColumnWalker(CheckedComponent):
    """A PE's front end: activation queue -> pointer reader -> matrix reader.

    Columns offered on ``column`` are queued (``SyncFIFO`` of ``queue_depth`` + 1; ready
    while it has room, whatever ``valid`` is; ``room`` while it has room for one more
    after this cycle's: the lock-step fan-out registers that, and the extra entry
    absorbs its cycle), their pointers read in one cycle
    (:class:`PointerReader`, which drops empty columns), and their entries issued
    one per cycle, decoded, on ``entry`` (:class:`MatrixReader`). Whatever rides
    with a column (``act_bits``: an activation, or any shape) rides with its entries.

    Members
    -------
    column : In(stream.Signature(column_request_layout))
        A column (``col``) and what rides with it (``act``).
    entry_load, ptr_load : In(stream.Signature(write_layout, always_ready=True))
    entry : Out(stream.Signature(product_layout, always_ready=True))
    idle : Out(1)
        Queue empty, no column held, nothing in the reader.
    room : Out(1)
        The queue takes a column next cycle, whatever this cycle brings: it holds
        fewer than ``queue_depth`` (:class:`~ese_hw.gateware.broadcaster.LockstepFanout`).
    """

    @classmethod
    def check_parameters(cls, *, weight_bits, index_bits, act_bits, queue_depth, entry_depth,
                         n_cols_max, local_rows, sub_bits, init_words, init_ptr):
        check_int("queue_depth", queue_depth)
        check_int("entry_depth", entry_depth)
        PointerReader.check(n_cols_max=n_cols_max, ptr_bits=bits_for(entry_depth),
                            act_bits=act_bits, init=init_ptr)
        MatrixReader.check(weight_bits=weight_bits, index_bits=index_bits, act_bits=act_bits,
                           entry_depth=entry_depth, local_rows=local_rows,
                           ptr_bits=bits_for(entry_depth), sub_bits=sub_bits, init=init_words)

    def __init__(self, *, weight_bits, index_bits, act_bits, queue_depth, entry_depth,
                 n_cols_max, local_rows, sub_bits=0, init_words=None, init_ptr=None):
        self._ptr = PointerReader(n_cols_max=n_cols_max, ptr_bits=bits_for(entry_depth),
                                  act_bits=act_bits, init=init_ptr)
        self._reader = MatrixReader(weight_bits=weight_bits, index_bits=index_bits,
                                    act_bits=act_bits, entry_depth=entry_depth,
                                    local_rows=local_rows, ptr_bits=bits_for(entry_depth),
                                    sub_bits=sub_bits, init=init_words)
        self._queue_depth = queue_depth
        super().__init__({
            "column": In(stream.Signature(column_request_layout(self._ptr.col_bits, act_bits))),
            **self.load_ports(weight_bits=weight_bits, index_bits=index_bits + sub_bits,
                              entry_depth=entry_depth, n_cols_max=n_cols_max),
            "entry": Out(stream.Signature(
                product_layout(self._reader.row_bits, weight_bits, act_bits, sub_bits),
                always_ready=True)),
            "idle": Out(1),
            "room": Out(1),
        })

    @staticmethod
    def load_ports(*, weight_bits, index_bits, entry_depth, n_cols_max):
        """The walker's two run-time memory writes, for a PE that passes them through
        (``index_bits`` counts the word's sub-column bits too)."""
        return {
            "entry_load": In(stream.Signature(
                write_layout(max(1, ceil_log2(entry_depth)), weight_bits + index_bits),
                always_ready=True)),
            "ptr_load": In(stream.Signature(
                write_layout(max(1, ceil_log2(n_cols_max + 1)), bits_for(entry_depth)),
                always_ready=True)),
        }

    def elaborate(self, platform):
        m = Module()
        m.submodules.ptr = ptr = self._ptr
        m.submodules.reader = reader = self._reader
        m.submodules.queue = queue = SyncFIFO(width=self.column.payload.shape().size,
                                              depth=self._queue_depth + 1)
        m.d.comb += [
            queue.w_data.eq(self.column.payload),
            queue.w_en.eq(self.column.valid),
            self.column.ready.eq(queue.w_rdy),
            self.room.eq(queue.level < self._queue_depth),
            ptr.req.valid.eq(queue.r_rdy),
            ptr.req.payload.eq(queue.r_data),
            queue.r_en.eq(ptr.req.ready),
            self.idle.eq(~queue.r_rdy & ~ptr.busy & reader.idle),
        ]
        wiring.connect(m, ptr.span, reader.span)
        wiring.connect(m, reader.entry, wiring.flipped(self.entry))
        wiring.connect(m, wiring.flipped(self.entry_load), reader.load)
        wiring.connect(m, wiring.flipped(self.ptr_load), ptr.load)
        return m


class SpmvUnit(wiring.Component):
    """The SpMV half of a channel PE: both SpMVs of a step through one column walker.

    Columns (or groups of ``broadcast`` columns) arrive on ``column`` (a stream; ready
    while the activation queue has room) and go through the
    :class:`~ese_hw.gateware.pe.ColumnWalker`. Their tag carries one activation per
    lane (per column of the group: an entry takes the one its ``sub`` names) and the
    ``proj`` flag, which routes the
    products to the gate accumulators (``4 * cells`` rows, initialised to the
    biases) or the projection accumulators (``proj_rows`` rows, from 0); one
    :class:`Accumulator` per lane each. ``gate_rd`` and ``proj_rd`` read a row of
    every lane's accumulator at once (only while idle). With ``projection=False`` (a
    plain LSTM layer) there are no projection accumulators and no ``proj_rd``.

    Members
    -------
    column : In(stream.Signature(column_layout))
    gate_clear, proj_clear : In(1)
        Every gate row returns to its bias / every projection row to 0.
    idle, room : Out(1)
        :class:`ColumnWalker`'s.
    entry_load, ptr_load, bias_load : In(stream.Signature(write_layout, always_ready=True))
    gate_rd : Out(accum_read_signature(4 * cells))
    proj_rd : Out(accum_read_signature(proj_rows))
        Only with a projection.
    """

    def __init__(self, *, n_channels, weight_bits, index_bits, act_bits, accum_bits,
                 queue_depth, entry_depth, n_cols, cells, proj_rows,
                 broadcast=DEFAULTS["broadcast"],
                 projection=True, init_words=None, init_ptr=None, init_bias=None):
        self._c, self._ab, self._accb, self._k = n_channels, act_bits, accum_bits, broadcast
        self._gate_rows, self._proj_rows = N_GATES * cells, proj_rows
        self._projection = projection
        self._walker = dict(weight_bits=weight_bits, index_bits=index_bits,
                            act_bits=tag_layout(act_bits, n_channels, broadcast),
                            queue_depth=queue_depth, entry_depth=entry_depth, n_cols_max=n_cols,
                            local_rows=max(N_GATES * cells, proj_rows),
                            sub_bits=sub_bits(broadcast),
                            init_words=init_words, init_ptr=init_ptr)
        self._acc = dict(weight_bits=weight_bits, act_bits=act_bits, accum_bits=accum_bits)
        self._init_bias = init_bias
        super().__init__({
            **self.step_ports(n_channels=n_channels, weight_bits=weight_bits,
                              index_bits=index_bits, act_bits=act_bits, accum_bits=accum_bits,
                              entry_depth=entry_depth, n_cols=n_cols, cells=cells,
                              broadcast=broadcast),
            "gate_rd": Out(accum_read_signature(self._gate_rows, accum_bits, n_channels)),
            **({"proj_rd": Out(accum_read_signature(proj_rows, accum_bits, n_channels))}
               if projection else {}),
        })

    @staticmethod
    def step_ports(*, n_channels, weight_bits, index_bits, act_bits, accum_bits, entry_depth,
                   n_cols, cells, broadcast=DEFAULTS["broadcast"]):
        """The ports a :class:`ChannelPE` passes straight through to its SpMV unit: the
        column stream, the clears, ``idle`` and the entry, pointer and bias loads."""
        walker_ports = ColumnWalker.load_ports(
            weight_bits=weight_bits, index_bits=index_bits + sub_bits(broadcast),
            entry_depth=entry_depth, n_cols_max=n_cols)
        return {
            "column": In(stream.Signature(column_layout(n_cols, act_bits, n_channels,
                                                        broadcast))),
            "gate_clear": In(1),
            "proj_clear": In(1),
            "idle": Out(1),
            "room": Out(1),
            **walker_ports,
            "bias_load": In(stream.Signature(
                write_layout(row_bits(N_GATES * cells), accum_bits), always_ready=True)),
        }

    def elaborate(self, platform):
        m = Module()
        m.submodules.walker = walker = ColumnWalker(**self._walker)
        proj = self._projection
        # Every lane's accumulator takes the same entries, clears and read-outs: the
        # first lane's keeps the rows' touched flags for all of them.
        acc_g, acc_p = [], []
        for accs, rows in ((acc_g, self._gate_rows),) + (((acc_p, self._proj_rows),)
                                                           if proj else ()):
            for _ in range(self._c):
                accs.append(Accumulator(**self._acc, local_rows=rows,
                                        rows_of=accs[0] if accs else None))
        for ch in range(self._c):
            m.submodules[f"acc_g{ch}"] = acc_g[ch]
            if proj:
                m.submodules[f"acc_p{ch}"] = acc_p[ch]

        wiring.connect(m, wiring.flipped(self.column), walker.column)
        wiring.connect(m, wiring.flipped(self.entry_load), walker.entry_load)
        wiring.connect(m, wiring.flipped(self.ptr_load), walker.ptr_load)

        # Entries to the gate or the projection accumulators of every lane.
        ent = walker.entry.payload
        tag = tag_layout(self._ab, self._c, self._k)(ent.act)
        # An entry of a group multiplies the activation of its own column (sub).
        acts = tag.acts if self._k == 1 else tag.acts[ent.sub]
        for ch in range(self._c):
            # Without a projection every entry is a gate entry.
            routes = ([(acc_g[ch], ~tag.proj), (acc_p[ch], tag.proj)] if proj
                      else [(acc_g[ch], 1)])
            for acc, selected in routes:
                m.d.comb += [
                    acc.entry.valid.eq(walker.entry.valid & selected),
                    acc.entry.payload.row.eq(ent.row),
                    acc.entry.payload.weight.eq(ent.weight),
                    acc.entry.payload.act.eq(acts[ch]),
                ]
            m.d.comb += acc_g[ch].clear.eq(self.gate_clear)
            if proj:
                m.d.comb += [acc_p[ch].clear.eq(self.proj_clear), acc_p[ch].init_data.eq(0)]
        m.d.comb += [self.idle.eq(walker.idle & Cat(a.idle for a in acc_g + acc_p).all()),
                     self.room.eq(walker.room)]

        # Gate biases are the gate accumulators' initial values; every lane's
        # accumulator asks for the same row, so one read serves them all.
        bias = loadable_memory(m, "bias", shape=signed(self._accb), depth=self._gate_rows,
                               init=self._init_bias, load=self.bias_load)
        bias_rd = bias.read_port()
        m.d.comb += bias_rd.addr.eq(acc_g[0].init_addr)
        m.d.comb += [a.init_data.eq(bias_rd.data) for a in acc_g]

        for port, accs in ((self.gate_rd, acc_g),) + (((self.proj_rd, acc_p),) if proj else ()):
            for ch, acc in enumerate(accs):
                m.d.comb += [acc.ro_en.eq(port.en), acc.ro_addr.eq(port.addr),
                             port.data[ch].eq(acc.ro_data)]
        return m


class ChannelPE(wiring.Component):
    """One PE of a channel: :class:`SpmvUnit`, :class:`~ese_hw.gateware.cell.CellUnit` and
    :class:`~ese_hw.gateware.readout.YBank`, driven in lock-step with the other PEs.

    With ``own_cells=False`` the PE has no cell unit: a channel whose PEs share cell
    units (``ew_share`` > 1) reads the gate accumulators through ``gate_rd`` instead,
    and the ``peep_load``, ``ew``, ``cells_done`` and ``m_rd`` ports are the shared
    unit's.

    With ``proj_partners`` S - 1 > 0 (the PEs outnumber ``W_ym``'s rows, so each row is
    split over S PEs, :func:`ese_hw.model.encode.row_parts`) the PE owns its row's y: the
    read-out adds the partners' projection sums (``proj_partner``, read at the same row
    in the same cycle: the read-out command reaches every PE at once) to its own before
    the conversion, in ``accum_bits`` like the accumulators (the compressor's
    ``accum_bits`` check bounds the whole row, so neither a part nor the sum wraps). Every
    PE with a projection exposes its projection sum as ``proj_sum`` for an owner to add.

    With ``projection=False`` (a plain LSTM layer, ``proj_rows == cells``) the PE has no
    projection accumulators: its y bank is filled from its cells' m bank (``m_copy_rd``,
    wired by the channel to ``m_rd`` or to the shared unit's bank of this PE), row ``k``
    = local cell ``k``, as ``sat(rshift_round(m, fg - fa))``.

    Parameters (keyword-only)
    ----------
    n_channels, weight_bits, index_bits, act_bits, accum_bits : int
    queue_depth, entry_depth : int
    n_cols, cells, proj_rows : int
        Pointer-memory columns (column groups), local cells, local projection rows.
    broadcast : int
        Columns per group (K): activations per lane in a ``column`` transfer.
    qformats : dict
    lut_bits, lut_range_log2 : int
    timing : Timing
    own_cells : bool
        The PE has its own cell unit (default); else it exposes ``gate_rd``.
    projection : bool
        The layer has a projection (default); else the y bank copies the m bank.
    proj_partners : int
        PEs whose projection sums this PE's read-out adds to its own (S - 1, or 0).
    init : dict, optional
        Elaboration-time images ``words``, ``ptr``, ``bias``, ``peep``.

    Members
    -------
    column : In(stream.Signature(column_layout))
        A column of the phase being broadcast (from the lock-step fan-out).
    gate_clear, proj_clear : In(1); idle, room : Out(1)
    entry_load, ptr_load, bias_load, peep_load : run-time memory writes
    ew : In(elementwise_control_signature)
        The element-wise sequencer.
    cells_done : Out
        Local cells whose ``m_t`` is written (every lane).
    m_rd, y_rd : Out(bank_read_signature)
        The broadcaster's reads of ``m_t`` and ``y_{t-1}``.
    readout : In(readout_command_signature)
    out_rd : Out(bank_read_signature)
        The output stream's read of ``y_t``.
    gate_rd : Out(accum_read_signature(4 * cells))
        Only without its own cells: the shared cell unit's read of the gate sums.
    m_copy_rd : In(bank_read_signature)
        Only without a projection: the read-out's read of this PE's m bank.
    proj_sum : Out(accum_lanes_layout)
        Only with a projection: the projection row the read-out is reading (every lane).
    proj_partner : In(accum_lanes_layout).array(proj_partners)
        Only with partners: their ``proj_sum``.
    """

    def __init__(self, *, n_channels, weight_bits, index_bits, act_bits, accum_bits,
                 queue_depth, entry_depth, n_cols, cells, proj_rows, qformats,
                 lut_bits, lut_range_log2, broadcast=DEFAULTS["broadcast"], timing=DEFAULT_TIMING,
                 own_cells=True,
                 projection=True, proj_partners=0, init=None):
        init = init or {}
        self._own_cells = bool(own_cells)
        self._projection = bool(projection)
        self._partners = check_int("proj_partners", proj_partners, 0)
        if self._partners and not self._projection:
            raise ValueError("a plain layer (projection=False) has no projection partners")
        self._spmv = dict(n_channels=n_channels, weight_bits=weight_bits,
                          index_bits=index_bits, act_bits=act_bits, accum_bits=accum_bits,
                          queue_depth=queue_depth, entry_depth=entry_depth, n_cols=n_cols,
                          cells=cells, proj_rows=proj_rows, broadcast=broadcast,
                          projection=self._projection, init_words=init.get("words"),
                          init_ptr=init.get("ptr"), init_bias=init.get("bias"))
        self._cell = dict(n_channels=n_channels, weight_bits=weight_bits, act_bits=act_bits,
                          accum_bits=accum_bits, cells=cells, qformats=qformats,
                          lut_bits=lut_bits, lut_range_log2=lut_range_log2, timing=timing,
                          init_peep=init.get("peep"))
        # A plain layer's y bank converts m_t (Q fg, act_bits) instead of a projection
        # sum (Q fw_y + fg): W_ym = I at fw_y = 0 (docs/contract.md section 3).
        fw_y = qformats["fw_y"] if self._projection else 0
        self._ybank = dict(n_channels=n_channels, act_bits=act_bits,
                           accum_bits=accum_bits if self._projection else act_bits,
                           proj_rows=proj_rows, timing=timing,
                           shift=fw_y + qformats["fg"] - qformats["fa"])
        lanes = lanes_layout(act_bits, n_channels)
        cell_ports = {
            "peep_load": In(stream.Signature(
                write_layout(row_bits(cells), peep_word_bits(weight_bits)),
                always_ready=True)),
            "ew": In(elementwise_control_signature(cells, n_channels)),
            "cells_done": Out(range(cells + 1)),
            "m_rd": Out(bank_read_signature(cells, lanes)),
        } if own_cells else {
            "gate_rd": Out(accum_read_signature(N_GATES * cells, accum_bits, n_channels)),
        }
        if not self._projection:
            cell_ports["m_copy_rd"] = In(bank_read_signature(cells, lanes))
        else:
            sums = accum_lanes_layout(accum_bits, n_channels)
            cell_ports["proj_sum"] = Out(sums)
            if self._partners:
                cell_ports["proj_partner"] = In(sums).array(self._partners)
        super().__init__({
            **SpmvUnit.step_ports(n_channels=n_channels, weight_bits=weight_bits,
                                  index_bits=index_bits, act_bits=act_bits,
                                  accum_bits=accum_bits, entry_depth=entry_depth,
                                  n_cols=n_cols, cells=cells, broadcast=broadcast),
            **cell_ports,
            "y_rd": Out(bank_read_signature(proj_rows, lanes)),
            "readout": In(readout_command_signature(proj_rows)),
            "out_rd": Out(bank_read_signature(proj_rows, lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.spmv = spmv = SpmvUnit(**self._spmv)
        m.submodules.ybank = ybank = YBank(**self._ybank)
        flip = wiring.flipped
        wiring.connect(m, flip(self.column), spmv.column)
        for name in ("entry_load", "ptr_load", "bias_load"):
            wiring.connect(m, flip(getattr(self, name)), getattr(spmv, name))
        m.d.comb += [spmv.gate_clear.eq(self.gate_clear), spmv.proj_clear.eq(self.proj_clear),
                     self.idle.eq(spmv.idle), self.room.eq(spmv.room)]
        if self._own_cells:
            m.submodules.cell = cell = CellUnit(**self._cell)
            m.d.comb += self.cells_done.eq(cell.cells_done)
            wiring.connect(m, flip(self.ew), cell.control)
            wiring.connect(m, flip(self.peep_load), cell.peep_load)
            wiring.connect(m, cell.gate_rd, spmv.gate_rd)
            wiring.connect(m, cell.m_rd[0], flip(self.m_rd))
        else:
            wiring.connect(m, spmv.gate_rd, flip(self.gate_rd))
        wiring.connect(m, flip(self.readout), ybank.command)
        if self._projection:
            own = spmv.proj_rd
            m.d.comb += [own.addr.eq(ybank.proj_rd.addr), own.en.eq(ybank.proj_rd.en),
                         self.proj_sum.eq(own.data)]
            for ch in range(len(own.data)):
                # Integer sums: truncating to accum_bits is the accumulators' wrap-around.
                total = sum((p[ch] for p in getattr(self, "proj_partner", ())), own.data[ch])
                m.d.comb += ybank.proj_rd.data[ch].eq(total)
        else:
            # The m bank reads like an accumulator (one cycle, the row addressed while
            # en was high), so the y bank's timing is the same; only the widths differ.
            src = self.m_copy_rd
            m.d.comb += [src.addr.eq(ybank.proj_rd.addr), src.en.eq(ybank.proj_rd.en),
                         ybank.proj_rd.data.eq(src.data)]
        wiring.connect(m, ybank.bc_rd, flip(self.y_rd))
        wiring.connect(m, ybank.out_rd, flip(self.out_rd))
        return m
