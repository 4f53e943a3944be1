"""Arithmetic unit and accumulator buffer: ``acc[row] = wrap(acc[row] + w * a)``."""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ._checks import CheckedComponent, check_int
from .lanes import accum_lanes_layout, lanes_layout
from .matrix_reader import product_layout

__all__ = ["LUTRAM_ROWS", "Accumulator"]

#: Deepest buffer read asynchronously from LUT RAM (in stage Y, no forwarding); deeper
#: ones are read synchronously (block RAM) in stage X with a forwarding path. Yosys
#: maps a 128-row x 48-bit buffer to LUT RAM and a 256-row one to a RAMB36E2 (measured
#: with synth_xilinx -family xcu), and an asynchronous read would force LUT RAM.
LUTRAM_ROWS = 128


class Accumulator(CheckedComponent):
    """Multiply-accumulate into a local-row buffer, with lazy clearing, for one or more lanes.

    Fixed point: ``weight`` is ``signed(weight_bits)`` in Q ``fw``, ``act`` is
    ``signed(act_bits)`` in Q ``fa``; the accumulator is ``signed(accum_bits)`` in
    Q ``fw + fa`` and wraps around (two's complement, like a DSP48 accumulator; it
    never saturates): ``acc = wrap(acc + weight * act, accum_bits)``.

    Lanes: with ``n_lanes`` given, one entry carries an activation per lane
    (``act`` and ``ro_data`` are arrays) and every lane accumulates its own product
    into its own copy of the row, in lock-step. The row logic -- the row pipeline,
    the ``touched`` flags and the initial-value hook -- is the same for every lane
    and is built once; each lane adds only its buffer, product, adder and read-out.
    Without ``n_lanes``, ``act`` and ``ro_data`` are single values (one lane).

    Pipeline (the stage names follow the entry):

    * X (input ``entry``, registered upstream = multiplier input registers): the
      row and the product are registered;
    * Y (+1): registered product (DSP M register); the buffer (LUT RAM) is read
      asynchronously at the registered row and ``sum = base + product`` is written
      back in this cycle.

    ``base`` is the buffer's value if the row was touched since ``clear``, otherwise
    ``init_data`` (the row's initial value: zero, or a bias). Because the read is
    made in Y, at the row being written, it sees the write of the entry just ahead
    (same row, previous cycle): no forwarding path, and no register for the read
    data. A buffer deeper than :data:`LUTRAM_ROWS` is block RAM instead, read in X
    (synchronously, so the same-cycle write of the entry in Y is missed): ``base`` is
    then that entry's sum, forwarded, when it wrote the same row. Both behave alike.

    A read-out (``ro_en`` in X) goes through the same adder: its product register is
    loaded with 0 instead of ``weight * act``, so ``ro_data`` is ``sum = base + 0`` in Y
    (and nothing is written: no entry is valid). ``base`` then has no reader but the
    adder, so the LUT that picks it also forms the adder's propagate bit; with a read
    port of its own it would cost a LUT per bit (measured by
    ``benchmarks/bench_pe_parts.py`` at 384 PEs, K 8: 99 LUT per PE).

    ``clear`` empties the buffer in one cycle by resetting the ``touched`` flags, so
    no cycles are spent zeroing (or preloading) rows: entries offered from the cycle
    of ``clear`` on accumulate onto the initial values, and what the entries before
    them wrote is forgotten.

    Init hook: ``init_addr`` is the row whose initial value is needed;
    ``init_data`` must hold that row's value one cycle later (the timing of a
    synchronous memory read, e.g. a bias memory). Tie ``init_data`` to 0 for
    zero-initialized accumulators. One initial value serves every lane.

    Parameters (keyword-only)
    ----------
    weight_bits, act_bits, accum_bits, local_rows : int
    n_lanes : int, optional
        Lanes sharing the row logic; their activations and read-out are arrays.
    rows_of : Accumulator, optional
        An accumulator of the same rows fed the same entries, clears and read-outs (a
        PE's other lanes): this one then uses its ``touched`` flags instead of keeping
        its own (a lane's 256 flags and their compares, which synthesis does not merge
        on its own).

    Members
    -------
    entry : In(stream.Signature(product_layout, always_ready=True))
        ``act`` is ``signed(act_bits)``, or with ``n_lanes`` an array of them.
    clear : In(1)
        Forget all rows (they read as their initial value from the next cycle on).
    ro_en, ro_addr : In
        Readout: read row ``ro_addr`` instead of the pipeline's row (only when idle).
    ro_data : Out(signed(accum_bits)), or with ``n_lanes`` an array of them
        The row requested by ``ro_en`` in the previous cycle.
    init_addr : Out, init_data : In
        Initial-value hook (see above).
    idle : Out(1)
    """

    @classmethod
    def check_parameters(cls, *, weight_bits, act_bits, accum_bits, local_rows, n_lanes=None,
                         rows_of=None):
        check_int("weight_bits", weight_bits)
        check_int("act_bits", act_bits)
        check_int("accum_bits", accum_bits, weight_bits + act_bits)
        check_int("local_rows", local_rows)
        if n_lanes is not None:
            check_int("n_lanes", n_lanes, 1)

    def __init__(self, *, weight_bits, act_bits, accum_bits, local_rows, n_lanes=None,
                 rows_of=None):
        self._wb, self._ab, self._accb, self._local_rows = (
            weight_bits, act_bits, accum_bits, local_rows)
        self._n_lanes = n_lanes
        if rows_of is not None and (not isinstance(rows_of, Accumulator)
                                    or rows_of._local_rows != local_rows):
            raise TypeError("rows_of must be an Accumulator of the same rows")
        self._rows_of = rows_of
        self._y_touched = Signal(name="y_touched")
        row_bits = self.row_bits
        if n_lanes is None:
            act, acc = signed(act_bits), signed(accum_bits)
        else:
            act, acc = lanes_layout(act_bits, n_lanes), accum_lanes_layout(accum_bits, n_lanes)
        super().__init__({
            "clear": In(1),
            "ro_en": In(1),
            "idle": Out(1),
            "entry": In(stream.Signature(product_layout(row_bits, weight_bits, act),
                                         always_ready=True)),
            "ro_addr": In(unsigned(row_bits)),
            "ro_data": Out(acc),
            "init_addr": Out(unsigned(row_bits)),
            "init_data": In(signed(accum_bits)),
        })

    def _touched_flags(self, m, x_row, y_valid, y_row):
        """The ``touched`` flags and ``y_touched``, the flag of the entry in Y registered
        in X (with the LUT RAM, counting the entry ahead when it writes the same row: the
        read in Y sees that write)."""
        rows = self._local_rows
        touched = Signal(rows)
        # A flag per row, set by a compare of its own: a variable-index write
        # (touched.bit_select(y_row, 1)) was mapped 8 to 13 LUT levels deep at 256 rows.
        with m.If(self.clear):
            m.d.sync += touched.eq(0)
        with m.Else():
            m.d.sync += [touched[r].eq(touched[r] | (y_valid & (y_row == r)))
                         for r in range(rows)]
        flag = touched.bit_select(x_row, 1)
        if self.async_read:
            flag = flag | (y_valid & (y_row == x_row))
        m.d.sync += self._y_touched.eq(flag & ~self.clear)

    @property
    def accum_bits(self):
        return self._accb

    @property
    def n_lanes(self):
        """Lanes (``None``: one, with single-valued ``act`` and ``ro_data``)."""
        return self._n_lanes

    @property
    def row_bits(self):
        return max(1, ceil_log2(self._local_rows))

    @property
    def latency(self):
        """Cycles from ``entry`` valid to the sum written (and idle one cycle later)."""
        return 1

    @property
    def async_read(self):
        """The buffer is LUT RAM read in Y (``local_rows`` <= :data:`LUTRAM_ROWS`), else
        block RAM read in X with a forwarding path."""
        return self._local_rows <= LUTRAM_ROWS

    def elaborate(self, platform):
        m = Module()
        rows = self._local_rows
        single = self._n_lanes is None
        n_lanes = 1 if single else self._n_lanes
        acts = [self.entry.payload.act] if single else list(self.entry.payload.act)
        ro_data = [self.ro_data] if single else list(self.ro_data)
        # The lanes' buffers side by side in one memory.
        m.submodules.buf = buf = Memory(shape=accum_lanes_layout(self._accb, n_lanes),
                                        depth=rows, init=[])
        wr = buf.write_port()

        # The row logic, once for every lane.
        ent = self.entry.payload
        x_row = Mux(self.ro_en, self.ro_addr, ent.row)
        y_valid = Signal()
        y_row = Signal.like(ent.row)
        m.d.sync += [y_valid.eq(self.entry.valid), y_row.eq(x_row)]
        m.d.comb += [self.init_addr.eq(x_row), wr.addr.eq(y_row), wr.en.eq(y_valid),
                     self.idle.eq(~y_valid)]
        if self._rows_of is None:
            self._touched_flags(m, x_row, y_valid, y_row)
        # Whether the entry's row was touched, known in X already (registered), so the
        # row's flag pick is not in front of the adder's carry chain; ``rows_of``'s when
        # this accumulator follows another one's rows.
        y_touched = (self._rows_of or self)._y_touched
        if self.async_read:
            # Read in Y at the row being written: the read sees the write of the entry
            # just ahead (same row, previous cycle), so nothing is forwarded and no
            # lane needs a register for the read data.
            rd = buf.read_port(domain="comb")
            m.d.comb += rd.addr.eq(y_row)
            fwd = None
        else:
            # Block RAM: read in X, so the write of the entry in Y (the same cycle) is
            # missed and that entry's sum is forwarded instead. What a clear in this
            # cycle forgets is neither touched nor forwarded, as in the LUT RAM case.
            rd = buf.read_port()
            m.d.comb += rd.addr.eq(x_row)
            fwd = Signal()
            m.d.sync += fwd.eq(y_valid & (y_row == x_row) & ~self.clear)

        # Each lane's data path.
        for ch in range(n_lanes):
            # Reset-less: its value matters only with y_valid, which is reset.
            # A read-out adds a zero product, so it reads the row through the adder: the
            # base (buffer or initial value) then feeds only the adder, and the LUT that
            # picks it also forms the adder's propagate bit (no LUT per bit of its own).
            y_prod = Signal(signed(self._wb + self._ab), name=f"y_prod{ch}", reset_less=True)
            m.d.sync += y_prod.eq(Mux(self.ro_en, 0, ent.weight * acts[ch]))
            old = Signal(signed(self._accb), name=f"old{ch}")
            acc_sum = Signal(signed(self._accb), name=f"sum{ch}")
            m.d.comb += [
                old.eq(Mux(y_touched, rd.data[ch], self.init_data)),
                wr.data[ch].eq(acc_sum),
                ro_data[ch].eq(acc_sum),
            ]
            if fwd is None:
                m.d.comb += acc_sum.eq(old + y_prod)    # truncation = wrap-around
            else:
                fwd_sum = Signal(signed(self._accb), name=f"fwd_sum{ch}")
                m.d.sync += fwd_sum.eq(acc_sum)
                m.d.comb += acc_sum.eq(Mux(fwd, fwd_sum, old) + y_prod)
        return m
