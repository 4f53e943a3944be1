"""The activation broadcaster: a phase's columns, one per cycle, into every PE's queue.

:class:`Broadcaster` walks the columns of a phase (``x_t``, ``y_{t-1}`` or
``m_t``) and offers each non-zero one on a stream; :class:`LockstepFanout`
copies that stream to every PE so that a column enters all queues in the same
cycle or none.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream
from amaranth.lib.wiring import In, Out

from ._params import CheckedComponent, check_int
from .lanes import bank_read_signature, column_layout, lanes_layout, next_interleaved
from .scheduler import Phase

__all__ = ["Broadcaster", "LockstepFanout"]


class Broadcaster(CheckedComponent):
    """Walks a phase's columns and offers their activations to the PEs.

    Two stages (``Timing.activation_read_latency`` = 1 apart, the synchronous read
    of the activation banks):

    * *read*: reads the activations of the next column of the phase: ``x_t`` from
      the input buffer, or ``y_{t-1}`` / ``m_t`` from the PE whose bank holds it
      (element ``j`` in PE ``j % n_pe``). An ``m_t`` column is read only once
      its cell is written (``m_ready``: the element-wise pass runs in rounds).
      ``y_{t-1}`` of a lane that starts from zero state reads as 0 (``zero``).
    * *offer*: offers the column on ``column``; a column that is zero in every lane
      is dropped instead (its products would all be zero). The read stage moves on
      in the cycle the offer stage hands its column on (or drops it).

    ``column`` obeys the stream rules: valid depends only on the offer stage's
    registers and the read data, which hold (the read ports are enabled only when
    the stage advances) until the transfer.

    Parameters
    ----------
    n_in, n_cells, n_proj, n_pe, n_channels, act_bits : int

    Members
    -------
    start : In(1), phase : In(Phase)
        Begin walking ``phase``'s columns.
    idle : Out(1)
        Every column of the phase has been handed on or dropped.
    x_rd : In(bank_read_signature)
        The input buffer's front slot.
    y_rd, m_rd : In(bank_read_signature).array(n_pe)
        Every PE's y bank and m bank.
    m_ready : In
        Local cells whose ``m_t`` is written in every PE.
    zero : In(n_channels)
    column : Out(stream.Signature(column_layout))
    """

    @classmethod
    def check_parameters(cls, *, n_in, n_cells, n_proj, n_pe, n_channels, act_bits):
        for name, v in (("n_in", n_in), ("n_cells", n_cells), ("n_proj", n_proj),
                        ("n_pe", n_pe), ("n_channels", n_channels), ("act_bits", act_bits)):
            check_int(name, v)

    def __init__(self, *, n_in, n_cells, n_proj, n_pe, n_channels, act_bits):
        self._dims = (n_in, n_cells, n_proj)
        self._n_pe, self._c, self._ab = n_pe, n_channels, act_bits
        lanes = lanes_layout(act_bits, n_channels)
        super().__init__({
            "start": In(1),
            "phase": In(Phase),
            "idle": Out(1),
            "x_rd": In(bank_read_signature(n_in, lanes)),
            "y_rd": In(bank_read_signature(self.proj_rows, lanes)).array(n_pe),
            "m_rd": In(bank_read_signature(self.cells_per_pe, lanes)).array(n_pe),
            "m_ready": In(range(self.cells_per_pe + 1)),
            "zero": In(n_channels),
            "column": Out(stream.Signature(column_layout(self.n_cols, act_bits, n_channels))),
        })

    @property
    def cells_per_pe(self):
        return -(-self._dims[1] // self._n_pe)

    @property
    def proj_rows(self):
        return -(-self._dims[2] // self._n_pe)

    @property
    def n_cols(self):
        return sum(self._dims)

    def elaborate(self, platform):
        m = Module()
        n_in, n_cells, n_proj = self._dims
        n_pe, n_lanes, ab = self._n_pe, self._c, self._ab
        lanes = lanes_layout(ab, n_lanes)

        # Read stage: the phase's column counter and where its activations live.
        phase = Signal(Phase)
        count = Signal(range(max(self._dims) + 1))
        length = Signal.like(count)
        col = Signal(range(max(2, self.n_cols)))
        bank = Signal(range(max(2, n_pe)))
        row = Signal(range(max(self.cells_per_pe, self.proj_rows) + 1))
        # Offer stage.
        offer_valid = Signal()
        offer_phase = Signal(Phase)
        offer_col = Signal.like(col)
        offer_bank = Signal.like(bank)
        acts = Signal(lanes)
        all_zero = Signal()
        handed_on = Signal()            # the offer stage is done with its column this cycle
        advance = Signal()
        read = Signal()

        m_data, y_data = Signal(lanes), Signal(lanes)
        with m.Switch(offer_bank):
            for p in range(n_pe):
                with m.Case(p):
                    m.d.comb += [m_data.eq(self.m_rd[p].data), y_data.eq(self.y_rd[p].data)]
        kept = Cat(Mux(self.zero[ch], 0, Const(-1, ab)) for ch in range(n_lanes))
        with m.Switch(offer_phase):
            with m.Case(Phase.X):
                m.d.comb += acts.eq(self.x_rd.data)
            with m.Case(Phase.Y):
                m.d.comb += acts.eq(y_data.as_value() & kept)
            with m.Default():
                m.d.comb += acts.eq(m_data)
        available = (phase != Phase.P) | (row < self.m_ready)
        m.d.comb += [
            all_zero.eq(acts.as_value() == 0),
            handed_on.eq(offer_valid & (all_zero | self.column.ready)),
            advance.eq(~offer_valid | handed_on),
            read.eq((count != length) & available & advance),
            self.column.valid.eq(offer_valid & ~all_zero),
            self.column.payload.col.eq(offer_col),
            self.column.payload.act.acts.eq(acts),
            self.column.payload.act.proj.eq(offer_phase == Phase.P),
            self.x_rd.addr.eq(count),
            self.x_rd.en.eq(advance),
            self.idle.eq((count == length) & ~offer_valid),
        ]
        for p in range(n_pe):
            m.d.comb += [self.m_rd[p].addr.eq(row), self.m_rd[p].en.eq(advance),
                         self.y_rd[p].addr.eq(row), self.y_rd[p].en.eq(advance)]

        with m.If(self.start):
            lengths = {Phase.X: n_in, Phase.Y: n_proj, Phase.P: n_cells}
            firsts = {Phase.X: 0, Phase.Y: n_in, Phase.P: n_in + n_proj}
            m.d.sync += [phase.eq(self.phase), count.eq(0), bank.eq(0), row.eq(0)]
            with m.Switch(self.phase):
                for ph, k in lengths.items():
                    with m.Case(ph):
                        m.d.sync += [length.eq(k), col.eq(firsts[ph])]
        with m.Elif(read):
            m.d.sync += [count.eq(count + 1), col.eq(col + 1)]
            next_interleaved(m, bank, row, n_pe)
        with m.If(advance):
            m.d.sync += [offer_valid.eq(read), offer_phase.eq(phase), offer_col.eq(col),
                         offer_bank.eq(bank)]
        return m


class LockstepFanout(CheckedComponent):
    """One stream into ``n`` streams that transfer together: a column enters every PE's
    queue in the same cycle, or none.

    A transfer needs every output ready. Output ``p`` is valid when the input is
    valid and every *other* output is ready, so ``valid_p & ready_p`` is the same for
    all ``p`` (``i.valid & all ready``) and no output's valid depends on its own
    ready (no combinational loop). The outputs are therefore not independent
    streams: ``valid_p`` falls without a transfer when another PE's queue fills.
    Their consumers must act on ``valid & ready`` only, as a PE's queue (a
    ``SyncFIFO`` write) does. The input side keeps the stream rules: its ready
    (``all ready``) never depends on ``i.valid``, and ``i``'s valid and payload pass
    through, so the broadcaster's own output holds until the column is taken.

    Parameters
    ----------
    shape : shape-like
        The payload.
    n : int
        Outputs.

    Members
    -------
    i : In(stream.Signature(shape))
    o : Out(stream.Signature(shape)).array(n)
    """

    @classmethod
    def check_parameters(cls, *, shape, n):
        check_int("n", n, 1)

    def __init__(self, *, shape, n):
        self._n = n
        super().__init__({
            "i": In(stream.Signature(shape)),
            "o": Out(stream.Signature(shape)).array(n),
        })

    def elaborate(self, platform):
        m = Module()
        readies = [o.ready for o in self.o]
        m.d.comb += self.i.ready.eq(Cat(readies).all())
        for p, o in enumerate(self.o):
            others = readies[:p] + readies[p + 1:]
            others_ready = Cat(others).all() if others else Const(1)
            m.d.comb += [o.valid.eq(self.i.valid & others_ready), o.payload.eq(self.i.payload)]
        return m
