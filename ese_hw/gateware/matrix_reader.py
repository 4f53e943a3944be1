"""Sparse matrix read unit: walks a column's entries, one per cycle, and decodes them."""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ._checks import CheckedComponent, check_image, check_int, image_ints
from .load import loadable_memory, write_layout
from .pointer import act_shape, check_act, column_span_layout

__all__ = ["MatrixReader", "product_layout"]


def product_layout(row_bits, weight_bits, act_bits, sub_bits=0):
    """One decoded entry on its way to the arithmetic unit (with ``sub_bits``: ``sub``,
    its column within its group, which picks the activation out of ``act``)."""
    fields = {"row": unsigned(row_bits), "weight": signed(weight_bits),
              "act": act_shape(act_bits)}
    if sub_bits:
        fields["sub"] = unsigned(sub_bits)
    return data.StructLayout(fields)


class MatrixReader(CheckedComponent):
    """Entry memory of one PE and the walker that issues a column's entries.

    An entry word is ``(sub << (weight_bits + index_bits)) | (index << weight_bits) |
    (weight mod 2**weight_bits)`` (docs/contract.md section 2; ``sub`` has
    ``sub_bits`` bits, none without a K-wide broadcast). A "column" here is what the
    pointer memory describes: one column, or a group of K columns whose entries lie
    column after column. The row position starts at ``-1`` at a column's start and
    whenever ``sub`` differs from the previous entry's (the next column of a group
    starts), and each entry moves it to ``pos + index + 1``.

    Pipeline (no stalls once a column is taken):

    * issue: the walker presents ``addr`` to the entry memory (one entry per
      cycle; an empty column holds the walker for one cycle and issues nothing);
      it takes the next column in the cycle it issues the current column's last
      entry, so consecutive columns run back to back;
    * decode (+1): the word arrives; ``row = (first ? 0 : pos + 1) + index``, ``first``
      at a column's start or a change of ``sub``;
    * out (+2): registered ``row``, ``weight``, ``act`` on ``entry`` (these
      registers are the multiplier's input registers).

    Parameters
    ----------
    weight_bits, index_bits, act_bits : int
    entry_depth : int
        Words in the entry memory.
    local_rows : int
        Accumulator rows (sets the row width).
    ptr_bits : int
        Pointer width (``span`` payload).
    sub_bits : int
        Bits of an entry's column within its group (``ceil_log2(K)``; 0 without groups).
    init : sequence of int, optional
        Elaboration-time entry image.

    Members
    -------
    span : In(stream.Signature(column_span_layout))
        Next column (from the pointer reader).
    entry : Out(stream.Signature(product_layout, always_ready=True))
        Decoded entries (valid-only: the arithmetic unit never stalls).
    load : In(stream.Signature(write_layout, always_ready=True))
        Run-time write of entry word ``addr``.
    idle : Out(1)
        Nothing in flight in this unit.
    """

    @classmethod
    def check_parameters(cls, *, weight_bits, index_bits, act_bits, entry_depth, local_rows,
                         ptr_bits, sub_bits, init):
        check_int("weight_bits", weight_bits)
        check_int("index_bits", index_bits)
        check_act(act_bits)
        check_int("entry_depth", entry_depth)
        check_int("local_rows", local_rows)
        check_int("ptr_bits", ptr_bits)
        check_int("sub_bits", sub_bits, 0, 4)
        if (1 << ptr_bits) <= entry_depth:
            raise ValueError(f"ptr_bits {ptr_bits} cannot address entry_depth {entry_depth}")
        check_image("entry image", init, depth=entry_depth, depth_name="entry_depth",
                    bits=weight_bits + index_bits + sub_bits)

    def __init__(self, *, weight_bits, index_bits, act_bits, entry_depth, local_rows,
                 ptr_bits, sub_bits=0, init=None):
        self._wb, self._ib, self._ab, self._sb = weight_bits, index_bits, act_bits, sub_bits
        self._entry_depth, self._local_rows, self._ptr_bits = entry_depth, local_rows, ptr_bits
        self._init = image_ints(init)
        super().__init__({
            "idle": Out(1),
            "span": In(stream.Signature(column_span_layout(ptr_bits, act_bits))),
            "entry": Out(stream.Signature(
                product_layout(self.row_bits, weight_bits, act_bits, sub_bits),
                always_ready=True)),
            "load": In(stream.Signature(write_layout(self.addr_bits, self.word_bits),
                                        always_ready=True)),
        })

    @property
    def word_bits(self):
        return self._wb + self._ib + self._sb

    @property
    def row_bits(self):
        return max(1, ceil_log2(self._local_rows))

    @property
    def addr_bits(self):
        return max(1, ceil_log2(self._entry_depth))

    @property
    def latency(self):
        """Cycles from an entry's issue to its decoded value on ``entry``."""
        return 2

    def elaborate(self, platform):
        m = Module()
        wb, ib = self._wb, self._ib
        mem = loadable_memory(m, "mem", shape=unsigned(self.word_bits),
                              depth=self._entry_depth, init=self._init, load=self.load)
        rd = mem.read_port()

        # Walker (issue stage). Whether this is a column's last slot is kept as a
        # count of the entries left (``left``), not a compare of the address with the
        # column's end: for timing, so that ``cur_last`` follows from registers through
        # a short compare rather than an adder and a 14-bit compare in a row.
        cur_valid = Signal()
        cur_last = Signal()      # this cycle is the column's last (or its only, empty) slot
        cur_empty = Signal()     # the column has no entries: nothing is issued
        cur_first = Signal()
        cur_addr = Signal(self._ptr_bits)
        left = Signal(self._ptr_bits)   # entries after the current one
        cur_act = Signal(act_shape(self._ab))
        span = self.span.payload
        m.d.comb += [
            self.span.ready.eq(~cur_valid | cur_last),
            rd.addr.eq(cur_addr),
        ]
        issue = cur_valid & ~cur_empty
        # Pointers only grow (docs/contract.md section 2): hi - lo is the entry count.
        count = Signal(self._ptr_bits)
        m.d.comb += count.eq(span.hi - span.lo)
        with m.If(self.span.valid & self.span.ready):
            m.d.sync += [
                cur_valid.eq(1),
                cur_addr.eq(span.lo),
                left.eq(count - 1),
                cur_last.eq(count[1:] == 0),
                cur_empty.eq(count == 0),
                cur_first.eq(1),
                cur_act.eq(span.act),
            ]
        with m.Elif(cur_valid & ~cur_last):
            m.d.sync += [
                cur_addr.eq(cur_addr + 1),
                left.eq(left - 1),
                cur_last.eq(left == 1),
                cur_first.eq(0),
            ]
        with m.Elif(cur_valid):
            m.d.sync += cur_valid.eq(0)

        # Decode stage: the word is on rd.data.
        d_valid = Signal()
        d_first = Signal()
        d_act = Signal(act_shape(self._ab))
        m.d.sync += [d_valid.eq(issue), d_first.eq(cur_first), d_act.eq(cur_act)]
        pos = Signal(self.row_bits)
        index = rd.data[wb:wb + ib]
        row = Signal(self.row_bits)
        restart = Signal()
        m.d.comb += row.eq(Mux(restart, 0, pos + 1) + index)
        with m.If(d_valid):
            m.d.sync += pos.eq(row)
        if self._sb:
            # The next column of a group starts where sub changes (a group's columns
            # lie one after another, and a column without entries has no words).
            sub, prev_sub = rd.data[wb + ib:], Signal(self._sb)
            m.d.comb += restart.eq(d_first | (sub != prev_sub))
            with m.If(d_valid):
                m.d.sync += prev_sub.eq(sub)
            m.d.sync += self.entry.payload.sub.eq(sub)
        else:
            m.d.comb += restart.eq(d_first)

        out = self.entry.payload
        m.d.sync += [
            self.entry.valid.eq(d_valid),
            out.row.eq(row),
            out.weight.eq(rd.data[:wb]),
            out.act.eq(d_act),
        ]
        m.d.comb += self.idle.eq(~cur_valid & ~d_valid & ~self.entry.valid)
        return m
