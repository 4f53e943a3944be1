"""The activation broadcaster: a phase's column groups, one per cycle, into every PE's queue.

:class:`Broadcaster` walks the groups of K columns of a phase (``x_t``,
``y_{t-1}`` or ``m_t``) and offers each non-zero one on a stream;
:class:`LockstepFanout` copies that stream to every PE so that a group enters
all queues in the same cycle or none.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream
from amaranth.lib.wiring import In, Out

from ..model.limits import DEFAULTS, check_divides_pes
from ._checks import CheckedComponent, check_int
from .lanes import (
    bank_read_signature,
    column_layout,
    group_lanes_layout,
    lanes_layout,
    next_interleaved,
)
from .scheduler import Phase

__all__ = ["Broadcaster", "LockstepFanout", "check_broadcast"]


class Broadcaster(CheckedComponent):
    """Walks a phase's column groups and offers their activations to the PEs.

    A phase's columns go in groups of ``broadcast`` (K) consecutive columns, the last
    group of a phase padded with zero activations; one group is one transfer (K = 1:
    one column). Two stages (``Timing.activation_read_latency`` = 1 apart, the
    synchronous read of the activation banks):

    * *read*: reads the activations of the next group of the phase: ``x_t`` from
      the input buffer (K elements per read), or ``y_{t-1}`` / ``m_t`` from the PEs
      whose banks hold it (element ``j`` in PE ``j % n_pe``; as K divides ``n_pe``,
      a group's K elements lie in K neighbouring PEs at one address, read in the
      same cycle). An ``m_t`` group is read only once its cells are written
      (``m_ready``: the element-wise pass runs in rounds, and a group's cells are in
      one round). ``y_{t-1}`` of a lane that starts from zero state reads as 0
      (``zero``).
    * *offer*: offers the group on ``column``; a group that is zero in every lane
      is dropped instead (its products would all be zero). The read stage moves on
      in the cycle the offer stage hands its group on (or drops it).

    ``column`` obeys the stream rules: valid depends only on the offer stage's
    registers and the read data, which hold (the read ports are enabled only when
    the stage advances) until the transfer.

    Parameters
    ----------
    n_in, n_cells, n_proj, n_pe, n_channels, act_bits : int
    broadcast : int
        Columns per group (K); must divide ``n_pe``.
    projection : bool
        The layer has a projection (default). ``False`` (a plain LSTM layer): no ``P``
        phase, so no ``m_rd`` ports, no ``m_ready`` and no ``m_t`` columns.

    Members
    -------
    start : In(1), phase : In(Phase)
        Begin walking ``phase``'s groups.
    idle : Out(1)
        Every group of the phase has been handed on or dropped.
    x_rd : In(bank_read_signature)
        The input buffer's front slot, K elements (one group) per address.
    y_rd, m_rd : In(bank_read_signature).array(n_pe)
        Every PE's y bank and m bank (``m_rd`` only with a projection).
    m_ready : In
        Local cells whose ``m_t`` is written in every PE (only with a projection).
    zero : In(n_channels)
    column : Out(stream.Signature(column_layout))
    """

    @classmethod
    def check_parameters(cls, *, n_in, n_cells, n_proj, n_pe, n_channels, act_bits,
                         broadcast, projection):
        for name, v in (("n_in", n_in), ("n_cells", n_cells), ("n_proj", n_proj),
                        ("n_pe", n_pe), ("n_channels", n_channels), ("act_bits", act_bits),
                        ("broadcast", broadcast)):
            check_int(name, v)
        check_broadcast(broadcast, n_pe)
        if not isinstance(projection, bool):
            raise TypeError(f"projection must be a bool, not {projection!r}")

    def __init__(self, *, n_in, n_cells, n_proj, n_pe, n_channels, act_bits,
                 broadcast=DEFAULTS["broadcast"], projection=True):
        self._dims = (n_in, n_cells, n_proj)
        self._n_pe, self._c, self._ab, self._k = n_pe, n_channels, act_bits, broadcast
        self._projection = projection
        lanes = lanes_layout(act_bits, n_channels)
        m_ports = {
            "m_rd": In(bank_read_signature(self.cells_per_pe, lanes)).array(n_pe),
            "m_ready": In(range(self.cells_per_pe + 1)),
        } if projection else {}
        super().__init__({
            "start": In(1),
            "phase": In(Phase),
            "idle": Out(1),
            "x_rd": In(bank_read_signature(self.groups(n_in),
                                           group_lanes_layout(act_bits, n_channels, broadcast))),
            "y_rd": In(bank_read_signature(self.proj_rows, lanes)).array(n_pe),
            **m_ports,
            "zero": In(n_channels),
            "column": Out(stream.Signature(column_layout(self.n_cols, act_bits, n_channels,
                                                         broadcast))),
        })

    def groups(self, n):
        """Groups of ``n`` columns (the last one possibly short)."""
        return -(-n // self._k)

    @property
    def cells_per_pe(self):
        return -(-self._dims[1] // self._n_pe)

    @property
    def proj_rows(self):
        return -(-self._dims[2] // self._n_pe)

    @property
    def phase_lengths(self):
        """Columns of each phase, by :class:`Phase`: x, y and (with a projection) m."""
        n_in, n_cells, n_proj = self._dims
        lengths = {Phase.X: n_in, Phase.Y: n_proj}
        return {**lengths, Phase.P: n_cells} if self._projection else lengths

    @property
    def n_cols(self):
        """Pointer-memory columns: the groups of every phase."""
        return sum(self.groups(n) for n in self.phase_lengths.values())

    def _gather(self, m, ports, first_pe):
        """The K lanes-values that PEs ``first_pe .. first_pe + K - 1`` read (``ports``:
        their banks' read ports)."""
        k, n_pe = self._k, self._n_pe
        out = [Signal(lanes_layout(self._ab, self._c), name=f"gather{s}") for s in range(k)]
        with m.Switch(first_pe):
            for p in range(0, n_pe, k):
                with m.Case(p):
                    m.d.comb += [out[s].eq(ports[p + s].data) for s in range(k)]
        return out

    def elaborate(self, platform):
        m = Module()
        n_in, n_cells, n_proj = self._dims
        n_pe, n_lanes, ab, k = self._n_pe, self._c, self._ab, self._k
        lanes_bits = lanes_layout(ab, n_lanes).size

        # Read stage: the phase's group counter and where its activations live.
        phase = Signal(Phase)
        count = Signal(range(self.groups(max(self._dims)) + 1))
        length = Signal.like(count)
        tail = Signal(k)                # the subs of the phase's last group that exist
        col = Signal(range(max(2, self.n_cols)))
        bank = Signal(range(max(2, n_pe)))
        row = Signal(range(max(self.cells_per_pe, self.proj_rows) + 1))
        # Offer stage.
        offer_valid = Signal()
        offer_phase = Signal(Phase)
        offer_col = Signal.like(col)
        offer_bank = Signal.like(bank)
        offer_subs = Signal(k)
        acts = Signal(lanes_bits * k)
        all_zero = Signal()
        handed_on = Signal()            # the offer stage is done with its group this cycle
        advance = Signal()
        read = Signal()

        y_data = self._gather(m, self.y_rd, offer_bank)
        x_data = self.x_rd.data.as_value()
        kept = Cat(Mux(self.zero[ch], 0, Const(-1, ab)) for ch in range(n_lanes))
        source = Signal(lanes_bits * k)
        with m.Switch(offer_phase):
            with m.Case(Phase.X):
                m.d.comb += source.eq(x_data)
            with m.Case(Phase.Y):
                m.d.comb += source.eq(Cat(v.as_value() & kept for v in y_data))
            if self._projection:
                with m.Case(Phase.P):
                    m.d.comb += source.eq(Cat(self._gather(m, self.m_rd, offer_bank)))
        # A padded group's missing columns are zero, whatever the banks hold there.
        m.d.comb += acts.eq(Cat(Mux(offer_subs[s], source.word_select(s, lanes_bits), 0)
                                for s in range(k)))
        # An m_t group waits for its cells; x and y groups are always there.
        available = (phase != Phase.P) | (row < self.m_ready) if self._projection else 1
        m.d.comb += [
            all_zero.eq(acts == 0),
            handed_on.eq(offer_valid & (all_zero | self.column.ready)),
            advance.eq(~offer_valid | handed_on),
            read.eq((count != length) & available & advance),
            self.column.valid.eq(offer_valid & ~all_zero),
            self.column.payload.col.eq(offer_col),
            self.column.payload.act.acts.eq(acts),
            self.column.payload.act.proj.eq(offer_phase == Phase.P if self._projection else 0),
            self.x_rd.addr.eq(count),
            self.x_rd.en.eq(advance),
            self.idle.eq((count == length) & ~offer_valid),
        ]
        for p in range(n_pe):
            m.d.comb += [self.y_rd[p].addr.eq(row), self.y_rd[p].en.eq(advance)]
            if self._projection:
                m.d.comb += [self.m_rd[p].addr.eq(row), self.m_rd[p].en.eq(advance)]

        with m.If(self.start):
            lengths = self.phase_lengths
            firsts = {Phase.X: 0, Phase.Y: self.groups(n_in),
                      Phase.P: self.groups(n_in) + self.groups(n_proj)}
            m.d.sync += [phase.eq(self.phase), count.eq(0), bank.eq(0), row.eq(0)]
            with m.Switch(self.phase):
                for ph, n in lengths.items():
                    with m.Case(ph):
                        short = n - (self.groups(n) - 1) * k
                        m.d.sync += [length.eq(self.groups(n)), col.eq(firsts[ph]),
                                     tail.eq((1 << short) - 1)]
        with m.Elif(read):
            m.d.sync += [count.eq(count + 1), col.eq(col + 1)]
            next_interleaved(m, bank, row, n_pe, step=k)
        with m.If(advance):
            m.d.sync += [offer_valid.eq(read), offer_phase.eq(phase), offer_col.eq(col),
                         offer_bank.eq(bank),
                         offer_subs.eq(Mux(count == length - 1, tail, (1 << k) - 1))]
        return m


def check_broadcast(broadcast, n_pe):
    """Refuse (:class:`~ese_hw.errors.EseError`, a ``ValueError``) a broadcast width that
    does not divide the PE count: a group's y/m elements must lie in K different PEs at
    one address."""
    check_divides_pes("broadcast", broadcast, n_pe)


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
