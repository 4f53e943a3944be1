"""``y_t``: the per-PE y bank, the read-out that fills it, and the output stream that empties it.

After the projection SpMV, :class:`YReadout` steps every PE (in lock-step)
through its projection rows; each PE's :class:`YBank` reads the row from its
projection accumulators, converts it to Q ``fa`` and writes it into its y bank.
The y banks then serve two readers: the broadcaster (``y_{t-1}`` of the next
step's Y phase) and :class:`YOutput`, which streams ``y_t`` out in row order.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..model.timing import DEFAULT_TIMING, check_timing
from ._checks import CheckedComponent, check_int
from .fixed import round_sat_value
from .lanes import (
    accum_read_signature,
    bank_read_signature,
    lanes_layout,
    next_interleaved,
    readout_command_signature,
)

__all__ = ["YBank", "YReadout", "YOutput"]


class YBank(CheckedComponent):
    """One PE's ``y_t`` rows (every lane), converted from its projection accumulators.

    A ``command`` for row ``r`` reads the row from the projection accumulators
    (``proj_rd``); ``timing.y_write_stages`` cycles after the command the row is in
    the bank as ``sat(rshift_round(acc, fw_y + fg - fa), act_bits)`` (Q ``fa``):
    the accumulator read, then ``timing.y_convert_stages`` conversion registers (from
    two on, the first holds the sums before the rounding: for timing).

    Parameters
    ----------
    n_channels, act_bits, accum_bits, proj_rows : int
    shift : int
        ``fw_y + fg - fa``.
    timing : Timing

    Members
    -------
    command : In(readout_command_signature(proj_rows))
    proj_rd : In(accum_read_signature(proj_rows))
    bc_rd, out_rd : Out(bank_read_signature(proj_rows, lanes_layout))
        Two read ports: the broadcaster's and the output stream's.
    """

    @classmethod
    def check_parameters(cls, *, n_channels, act_bits, accum_bits, proj_rows, shift, timing):
        check_int("n_channels", n_channels)
        check_int("act_bits", act_bits)
        check_int("accum_bits", accum_bits)
        check_int("proj_rows", proj_rows, 1)
        check_int("shift", shift, -256, 256)
        check_timing(timing)

    def __init__(self, *, n_channels, act_bits, accum_bits, proj_rows, shift,
                 timing=DEFAULT_TIMING):
        self._c, self._ab, self._rows, self._shift = n_channels, act_bits, proj_rows, shift
        self._timing = timing
        lanes = lanes_layout(act_bits, n_channels)
        super().__init__({
            "command": In(readout_command_signature(proj_rows)),
            "proj_rd": In(accum_read_signature(proj_rows, accum_bits, n_channels)),
            "bc_rd": Out(bank_read_signature(proj_rows, lanes)),
            "out_rd": Out(bank_read_signature(proj_rows, lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        lanes = lanes_layout(self._ab, self._c)
        m.d.comb += [self.proj_rd.en.eq(self.command.en),
                     self.proj_rd.addr.eq(self.command.row)]
        # The command travels beside the data: the accumulator read, then the conversion.
        write_en, write_row = self.command.en, self.command.row
        for k in range(self._timing.y_write_stages):
            en_d = Signal(name=f"write_en_d{k + 1}")
            row_d = Signal.like(self.command.row, name=f"write_row_d{k + 1}")
            m.d.sync += [en_d.eq(write_en), row_d.eq(write_row)]
            write_en, write_row = en_d, row_d
        # With two conversion registers or more, the first holds the sums as read: the
        # accumulator's read through its adder and the rounding adder behind it were one
        # path (14.5 levels counting a CARRY8 as one, at the paper shape).
        stages = self._timing.y_convert_stages
        sums = self.proj_rd.data
        if stages >= 2:
            sums = Signal.like(self.proj_rd.data, name="y_sums")
            m.d.sync += sums.eq(self.proj_rd.data)
            stages -= 1
        value = Signal(lanes, name="y_q")
        m.d.comb += [value[ch].eq(round_sat_value(sums[ch], self._shift, self._ab))
                     for ch in range(self._c)]
        for k in range(stages):
            reg = Signal(lanes, name=f"y_q_d{k + 1}")
            m.d.sync += reg.eq(value)
            value = reg

        m.submodules.bank = bank = Memory(shape=lanes, depth=max(1, self._rows), init=[])
        wr = bank.write_port()
        m.d.comb += [wr.addr.eq(write_row), wr.data.eq(value), wr.en.eq(write_en)]
        wiring.connect(m, wiring.flipped(self.bc_rd), bank.read_port(transparent_for=()))
        wiring.connect(m, wiring.flipped(self.out_rd), bank.read_port(transparent_for=()))
        return m


class YReadout(CheckedComponent):
    """Moves ``y_t`` from every PE's projection accumulators into its y bank.

    From ``start``, one row command per cycle (rows ``0 .. proj_rows - 1``, all
    PEs at once), then ``timing.y_write_stages`` cycles for the last row's write;
    ``finish`` marks the last cycle of the read-out and ``frame_done`` follows it
    (a register). ``ro_start -> frame_done`` is ``proj_rows + timing.readout_extra``.

    Members
    -------
    start : In(1)
    busy : Out(1)
    command : Out(readout_command_signature(proj_rows))
    finish : Out(1)
        Strobe: every row is in the y banks from the next cycle on.
    frame_done : Out(1)
    """

    @classmethod
    def check_parameters(cls, *, proj_rows, timing):
        check_int("proj_rows", proj_rows, 1)
        check_timing(timing)

    def __init__(self, *, proj_rows, timing=DEFAULT_TIMING):
        self._rows, self._timing = proj_rows, timing
        super().__init__({
            "start": In(1),
            "busy": Out(1),
            "command": Out(readout_command_signature(proj_rows)),
            "finish": Out(1),
            "frame_done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        rows, stages = self._rows, self._timing.y_write_stages
        row = Signal(range(rows + 1))
        tail = Signal(range(stages + 1))    # cycles spent on the last row's write stages
        m.d.comb += [self.command.en.eq(self.busy & (row != rows)), self.command.row.eq(row)]
        m.d.sync += self.frame_done.eq(self.finish)
        with m.If(self.start):
            m.d.sync += [self.busy.eq(1), row.eq(0), tail.eq(0)]
        with m.Elif(self.busy):
            with m.If(row != rows):
                m.d.sync += row.eq(row + 1)
            with m.Elif(tail != stages):
                m.d.sync += tail.eq(tail + 1)
            with m.Else():
                m.d.comb += self.finish.eq(1)
                m.d.sync += self.busy.eq(0)
        return m


class YOutput(CheckedComponent):
    """Streams ``y_t`` out in row order (element ``j`` from PE ``j % n_pe``, row ``j // n_pe``).

    From ``start`` (the read-out's ``finish``) until every element has been taken,
    ``busy`` is high. One bank read per cycle feeds an output register
    (``Timing.y_bank_read_latency`` = 1); the read moves on only when the register
    is empty or taken, so ``y`` obeys the stream rules (valid and payload hold
    until the transfer).

    Parameters
    ----------
    n_proj, n_pe, n_channels, act_bits : int

    Members
    -------
    start : In(1)
    busy : Out(1)
    bank_rd : In(bank_read_signature(proj_rows, lanes_layout)).array(n_pe)
    y : Out(stream.Signature(lanes_layout))
    """

    @classmethod
    def check_parameters(cls, *, n_proj, n_pe, n_channels, act_bits):
        for name, v in (("n_proj", n_proj), ("n_pe", n_pe), ("n_channels", n_channels),
                        ("act_bits", act_bits)):
            check_int(name, v)

    def __init__(self, *, n_proj, n_pe, n_channels, act_bits):
        self._n_proj, self._n_pe = n_proj, n_pe
        lanes = lanes_layout(act_bits, n_channels)
        super().__init__({
            "start": In(1),
            "busy": Out(1),
            "bank_rd": In(bank_read_signature(self.proj_rows, lanes)).array(n_pe),
            "y": Out(stream.Signature(lanes)),
        })

    @property
    def proj_rows(self):
        return -(-self._n_proj // self._n_pe)

    def elaborate(self, platform):
        m = Module()
        n_pe, n_proj = self._n_pe, self._n_proj
        count = Signal(range(n_proj + 1))     # elements read
        bank = Signal(range(max(2, n_pe)))
        row = Signal(range(self.proj_rows + 1))
        out_bank = Signal.like(bank)          # the bank the output register's data came from
        advance = Signal()
        read = Signal()
        m.d.comb += [
            advance.eq(~self.y.valid | self.y.ready),
            read.eq(self.busy & (count != n_proj) & advance),
        ]
        with m.Switch(out_bank):
            for p in range(n_pe):
                with m.Case(p):
                    m.d.comb += self.y.payload.eq(self.bank_rd[p].data)
        for rd in self.bank_rd:
            m.d.comb += [rd.addr.eq(row), rd.en.eq(advance)]
        with m.If(advance):
            m.d.sync += [self.y.valid.eq(read), out_bank.eq(bank)]
        with m.If(read):
            m.d.sync += count.eq(count + 1)
            next_interleaved(m, bank, row, n_pe)
        with m.If(self.start):
            m.d.sync += self.busy.eq(1)
        with m.If(self.busy & (count == n_proj) & ~self.y.valid):
            m.d.sync += [self.busy.eq(0), count.eq(0), bank.eq(0), row.eq(0)]
        return m
