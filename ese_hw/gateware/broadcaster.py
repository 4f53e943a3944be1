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
    one column). Three stages: read, data (``Timing.activation_read_latency`` = 1
    later, the synchronous read of the activation banks) and offer:

    * *read*: reads the activations of the next group of the phase: ``x_t`` from
      the input buffer (K elements per read), or ``y_{t-1}`` / ``m_t`` from the PEs
      whose banks hold it (element ``j`` in PE ``j % n_pe``; as K divides ``n_pe``,
      a group's K elements lie in K neighbouring PEs at one address, read in the
      same cycle). An ``m_t`` group is read only once its cells are written
      (``m_ready``: the element-wise pass runs in rounds, and a group's cells are in
      one round). ``y_{t-1}`` of a lane that starts from zero state reads as 0
      (``zero``).
    * *data*: the group's activations are on the banks' read ports; they are
      gathered (the K PEs of the group, out of N / K) and masked (padding, zero lanes)
      on their way into
    * *offer* (``Timing.offer_latency`` = 1 later): offers the group on ``column``
      from registers; a group that is zero in every lane is dropped instead (its
      products would all be zero). The offer register is for timing: the gather over
      N / K PEs, the zero check over K x C activations and the read stage's reaction
      to it were 12 LUT levels in one cycle at 384 PEs, K 8; the gather is now before
      the register, the zero check after it.

    The stages move together, in the cycle the offer stage hands its group on (or
    drops it, or is empty), so a group moves on every cycle while the PEs take them.
    ``column`` obeys the stream rules: its valid and payload are the offer stage's
    registers, which hold until the transfer.

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
        # Data stage: a group's activations on the banks' read ports.
        data_valid = Signal()
        data_phase = Signal(Phase)
        data_col = Signal.like(col)
        data_bank = Signal.like(bank)
        data_subs = Signal(k)
        acts = Signal(lanes_bits * k)
        # Offer stage: the group, gathered and masked, registered; checked for zero there.
        offer_valid = Signal()
        offer_zero = Signal()
        offer_col = Signal.like(col)
        offer_proj = Signal()
        offer_acts = Signal.like(acts)
        handed_on = Signal()            # the offer stage is done with its group this cycle
        advance = Signal()
        read = Signal()

        y_data = self._gather(m, self.y_rd, data_bank)
        x_data = self.x_rd.data.as_value()
        kept = Cat(Mux(self.zero[ch], 0, Const(-1, ab)) for ch in range(n_lanes))
        source = Signal(lanes_bits * k)
        with m.Switch(data_phase):
            with m.Case(Phase.X):
                m.d.comb += source.eq(x_data)
            with m.Case(Phase.Y):
                m.d.comb += source.eq(Cat(v.as_value() & kept for v in y_data))
            if self._projection:
                with m.Case(Phase.P):
                    m.d.comb += source.eq(Cat(self._gather(m, self.m_rd, data_bank)))
        # A padded group's missing columns are zero, whatever the banks hold there.
        m.d.comb += acts.eq(Cat(Mux(data_subs[s], source.word_select(s, lanes_bits), 0)
                                for s in range(k)))
        # An m_t group waits for its cells; x and y groups are always there.
        available = (phase != Phase.P) | (row < self.m_ready) if self._projection else 1
        m.d.comb += [
            offer_zero.eq(offer_acts == 0),
            handed_on.eq(offer_valid & (offer_zero | self.column.ready)),
            advance.eq(~offer_valid | handed_on),
            read.eq((count != length) & available & advance),
            self.column.valid.eq(offer_valid & ~offer_zero),
            self.column.payload.col.eq(offer_col),
            self.column.payload.act.acts.eq(offer_acts),
            self.column.payload.act.proj.eq(offer_proj),
            self.x_rd.addr.eq(count),
            self.x_rd.en.eq(advance),
            self.idle.eq((count == length) & ~data_valid & ~offer_valid),
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
        # Every stage moves together (the read ports hold the data stage's group while
        # ``advance`` is low): a group a cycle while the PEs take them.
        with m.If(advance):
            m.d.sync += [data_valid.eq(read), data_phase.eq(phase), data_col.eq(col),
                         data_bank.eq(bank),
                         data_subs.eq(Mux(count == length - 1, tail, (1 << k) - 1)),
                         offer_valid.eq(data_valid),
                         offer_col.eq(data_col), offer_acts.eq(acts),
                         offer_proj.eq(data_phase == Phase.P if self._projection else 0)]
        return m


def check_broadcast(broadcast, n_pe):
    """Refuse (:class:`~ese_hw.errors.EseError`, a ``ValueError``) a broadcast width that
    does not divide the PE count: a group's y/m elements must lie in K different PEs at
    one address."""
    check_divides_pes("broadcast", broadcast, n_pe)


class LockstepFanout(CheckedComponent):
    """One stream into ``n`` streams that transfer together: a column enters every PE's
    queue in the same cycle, or none.

    Every consumer says, on ``room``, that it will take a transfer in the next cycle
    whatever this cycle brings (a PE's queue: a free entry beyond the one a transfer
    this cycle fills). The fan-out registers the AND of those, and that register is
    ``i.ready`` and gates every output's ``valid``: so ``valid_p`` is the same for all
    ``p``, and each consumer's ``ready`` is high whenever it is valid (the consumer's
    promise). Registered, because the AND over hundreds of PEs and the broadcaster's
    reaction to it were one path: 13 LUT levels at 384 PEs, K 8; and it replaces the
    N trees of "every other output ready" that the outputs' valids needed before.
    The cost is one cycle of reaction, which the queues' one extra entry absorbs
    (:meth:`ese_hw.model.cycles.ArrayTimer.earliest`).

    Parameters
    ----------
    shape : shape-like
        The payload.
    n : int
        Outputs.

    Members
    -------
    i : In(stream.Signature(shape))
        Its ``ready`` is a register: it never depends on ``i.valid``.
    o : Out(stream.Signature(shape)).array(n)
        Their ``ready`` is not read: a consumer with ``room`` high is ready next cycle.
    room : In(n)
        Consumer ``p`` takes a transfer next cycle, whatever this cycle brings.
    """

    @classmethod
    def check_parameters(cls, *, shape, n):
        check_int("n", n, 1)

    def __init__(self, *, shape, n):
        self._n = n
        super().__init__({
            "i": In(stream.Signature(shape)),
            "o": Out(stream.Signature(shape)).array(n),
            "room": In(n),
        })

    def elaborate(self, platform):
        m = Module()
        every_room = Signal()
        m.d.sync += every_room.eq(self.room.all())
        m.d.comb += self.i.ready.eq(every_room)
        for o in self.o:
            m.d.comb += [o.valid.eq(self.i.valid & every_room), o.payload.eq(self.i.payload)]
        return m
