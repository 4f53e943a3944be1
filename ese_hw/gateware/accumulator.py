"""Arithmetic unit and accumulator buffer: ``acc[row] = wrap(acc[row] + w * a)``."""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ._params import CheckedComponent, check_int
from .matrix_reader import product_layout

__all__ = ["Accumulator"]


class Accumulator(CheckedComponent):
    """Multiply-accumulate into a local-row buffer, with forwarding and lazy clearing.

    Fixed point: ``weight`` is ``signed(weight_bits)`` in Q ``fw``, ``act`` is
    ``signed(act_bits)`` in Q ``fa``; the accumulator is ``signed(accum_bits)`` in
    Q ``fw + fa`` and wraps around (two's complement, like a DSP48 accumulator; it
    never saturates): ``acc = wrap(acc + weight * act, accum_bits)``.

    Pipeline (the stage names follow the entry):

    * X (input ``entry``, registered upstream = multiplier input registers):
      issue the buffer read of ``row``; read the row's ``touched`` flag;
    * Y (+1): registered product (DSP M register) and the old value;
      ``sum = base + product`` is written back in this cycle.

    ``base`` is the in-flight sum when the entry just ahead (in Y in the previous
    cycle) wrote the same row (forwarding: the read was issued before that write
    landed), otherwise the buffer's value if the row was touched since ``clear``,
    otherwise ``init_data`` (the row's initial value: zero, or a bias).

    ``clear`` empties the buffer in one cycle by resetting the ``touched`` flags, so
    no cycles are spent zeroing (or preloading) rows.

    Init hook: ``init_addr`` is the row whose initial value is needed;
    ``init_data`` must hold that row's value one cycle later (the timing of a
    synchronous memory read, e.g. a bias memory). Tie ``init_data`` to 0 for
    zero-initialized accumulators.

    Members
    -------
    entry : In(stream.Signature(product_layout, always_ready=True))
    clear : In(1)
        Forget all rows (they read as their initial value from the next cycle on).
    ro_en, ro_addr : In
        Readout: read row ``ro_addr`` instead of the pipeline's row (only when idle).
    ro_data : Out(signed(accum_bits))
        The row requested by ``ro_en`` in the previous cycle.
    init_addr : Out, init_data : In
        Initial-value hook (see above).
    idle : Out(1)
    """

    @classmethod
    def check_parameters(cls, *, weight_bits, act_bits, accum_bits, local_rows):
        check_int("weight_bits", weight_bits)
        check_int("act_bits", act_bits)
        check_int("accum_bits", accum_bits, weight_bits + act_bits)
        check_int("local_rows", local_rows)

    def __init__(self, *, weight_bits, act_bits, accum_bits, local_rows):
        self._wb, self._ab, self._accb, self._local_rows = (
            weight_bits, act_bits, accum_bits, local_rows)
        row_bits = self.row_bits
        super().__init__({
            "clear": In(1),
            "ro_en": In(1),
            "idle": Out(1),
            "entry": In(stream.Signature(product_layout(row_bits, weight_bits, act_bits),
                                         always_ready=True)),
            "ro_addr": In(unsigned(row_bits)),
            "ro_data": Out(signed(accum_bits)),
            "init_addr": Out(unsigned(row_bits)),
            "init_data": In(signed(accum_bits)),
        })

    @property
    def accum_bits(self):
        return self._accb

    @property
    def row_bits(self):
        return max(1, ceil_log2(self._local_rows))

    @property
    def latency(self):
        """Cycles from ``entry`` valid to the sum written (and idle one cycle later)."""
        return 1

    def elaborate(self, platform):
        m = Module()
        rows = self._local_rows
        m.submodules.buf = buf = Memory(shape=signed(self._accb), depth=rows, init=[])
        rd, wr = buf.read_port(), buf.write_port()
        touched = Signal(rows)

        ent = self.entry.payload
        x_row = Mux(self.ro_en, self.ro_addr, ent.row)
        m.d.comb += [rd.addr.eq(x_row), rd.en.eq(1), self.init_addr.eq(x_row)]

        y_valid = Signal()
        y_row = Signal.like(ent.row)
        y_prod = Signal(signed(self._wb + self._ab))
        y_touched = Signal()
        y_fwd = Signal()
        y_fwd_sum = Signal(signed(self._accb))
        acc_sum = Signal(signed(self._accb))
        m.d.sync += [
            y_valid.eq(self.entry.valid),
            y_row.eq(ent.row),
            y_prod.eq(ent.weight * ent.act),
            y_touched.eq(touched.bit_select(x_row, 1)),
            # The entry in Y writes ent.row this cycle; the read issued now misses it.
            y_fwd.eq(y_valid & (y_row == ent.row)),
            y_fwd_sum.eq(acc_sum),
        ]
        old = Mux(y_touched, rd.data, self.init_data)
        base = Mux(y_fwd, y_fwd_sum, old)
        m.d.comb += [
            acc_sum.eq(base + y_prod),          # truncation to accum_bits = wrap-around
            wr.addr.eq(y_row),
            wr.data.eq(acc_sum),
            wr.en.eq(y_valid),
            self.ro_data.eq(old),
            self.idle.eq(~y_valid),
        ]
        with m.If(y_valid):
            m.d.sync += touched.bit_select(y_row, 1).eq(1)
        with m.If(self.clear):
            m.d.sync += touched.eq(0)
        return m
