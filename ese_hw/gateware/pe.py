"""The front end of a channel PE: activation queue, pointer reader, matrix reader.

The channel's PE (:mod:`ese_hw.gateware.channel`) feeds the entries it issues to its
accumulators (:class:`~ese_hw.gateware.accumulator.Accumulator`).
"""

from amaranth.hdl import Module, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from ._params import CheckedComponent, check_int
from .load import write_layout
from .matrix_reader import MatrixReader, product_layout
from .pointer import PointerReader, act_shape, column_request_layout

__all__ = ["ColumnWalker"]


class ColumnWalker(CheckedComponent):
    """A PE's front end: activation queue -> pointer reader -> matrix reader.

    Columns pushed by the broadcaster (``push``, only when not ``full``) are
    queued (``SyncFIFO`` of ``queue_depth``), their pointers read in one cycle
    (:class:`PointerReader`, which drops empty columns), and their entries issued
    one per cycle, decoded, on ``entry`` (:class:`MatrixReader`). Whatever rides
    with a column (``act_bits``: an activation, or any shape) rides with its entries.

    Members
    -------
    push : In(1); push_col, push_act : In; full : Out(1)
    entry_load, ptr_load : In(stream.Signature(write_layout, always_ready=True))
    entry : Out(stream.Signature(product_layout, always_ready=True))
    idle : Out(1)
        Queue empty, no column held, nothing in the reader.
    """

    @classmethod
    def check_parameters(cls, *, weight_bits, index_bits, act_bits, queue_depth, entry_depth,
                         n_cols_max, local_rows, init_words, init_ptr):
        check_int("queue_depth", queue_depth)
        check_int("entry_depth", entry_depth)
        PointerReader.check(n_cols_max=n_cols_max, ptr_bits=bits_for(entry_depth),
                            act_bits=act_bits, init=init_ptr)
        MatrixReader.check(weight_bits=weight_bits, index_bits=index_bits, act_bits=act_bits,
                           entry_depth=entry_depth, local_rows=local_rows,
                           ptr_bits=bits_for(entry_depth), init=init_words)

    def __init__(self, *, weight_bits, index_bits, act_bits, queue_depth, entry_depth,
                 n_cols_max, local_rows, init_words=None, init_ptr=None):
        self._ptr = PointerReader(n_cols_max=n_cols_max, ptr_bits=bits_for(entry_depth),
                                  act_bits=act_bits, init=init_ptr)
        self._reader = MatrixReader(weight_bits=weight_bits, index_bits=index_bits,
                                    act_bits=act_bits, entry_depth=entry_depth,
                                    local_rows=local_rows, ptr_bits=bits_for(entry_depth),
                                    init=init_words)
        self._queue_depth = queue_depth
        self._act_bits = act_bits
        super().__init__({
            **self.front_ports(weight_bits=weight_bits, index_bits=index_bits,
                               act_bits=act_bits, entry_depth=entry_depth,
                               n_cols_max=n_cols_max),
            "entry": Out(stream.Signature(
                product_layout(self._reader.row_bits, weight_bits, act_bits),
                always_ready=True)),
            "idle": Out(1),
        })

    @staticmethod
    def front_ports(*, weight_bits, index_bits, act_bits, entry_depth, n_cols_max):
        """The walker's column and load ports, for a PE that passes them through."""
        return {
            "push": In(1),
            "push_col": In(unsigned(max(1, ceil_log2(n_cols_max)))),
            "push_act": In(act_shape(act_bits)),
            "full": Out(1),
            "entry_load": In(stream.Signature(
                write_layout(max(1, ceil_log2(entry_depth)), weight_bits + index_bits),
                always_ready=True)),
            "ptr_load": In(stream.Signature(
                write_layout(max(1, ceil_log2(n_cols_max + 1)), bits_for(entry_depth)),
                always_ready=True)),
        }

    def connect_front(self, m, pe):
        """Pass ``pe``'s :meth:`front_ports` through to this walker."""
        m.d.comb += [
            self.push.eq(pe.push),
            self.push_col.eq(pe.push_col),
            self.push_act.eq(pe.push_act),
            pe.full.eq(self.full),
        ]
        wiring.connect(m, wiring.flipped(pe.entry_load), self.entry_load)
        wiring.connect(m, wiring.flipped(pe.ptr_load), self.ptr_load)

    def elaborate(self, platform):
        m = Module()
        m.submodules.ptr = ptr = self._ptr
        m.submodules.reader = reader = self._reader
        req_layout = column_request_layout(ptr.col_bits, self._act_bits)
        m.submodules.queue = queue = SyncFIFO(width=req_layout.size, depth=self._queue_depth)
        req = req_layout(queue.w_data)
        m.d.comb += [
            req.col.eq(self.push_col),
            req.act.eq(self.push_act),
            queue.w_en.eq(self.push),
            self.full.eq(~queue.w_rdy),
            ptr.req.valid.eq(queue.r_rdy),
            ptr.req.payload.eq(queue.r_data),
            queue.r_en.eq(ptr.req.ready),
            self.idle.eq(~queue.r_rdy & ~ptr.span.valid & reader.idle),
        ]
        wiring.connect(m, ptr.span, reader.span)
        wiring.connect(m, reader.entry, wiring.flipped(self.entry))
        wiring.connect(m, wiring.flipped(self.entry_load), reader.load)
        wiring.connect(m, wiring.flipped(self.ptr_load), ptr.load)
        return m
