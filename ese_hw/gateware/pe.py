"""One processing element: activation queue, pointer reader, matrix reader, accumulator."""

from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from ._params import CheckedComponent, check_bool, check_image, check_int, validated
from .accumulator import Accumulator
from .load import write_layout
from .matrix_reader import MatrixReader, product_layout
from .pointer import PointerReader, act_shape, column_request_layout

__all__ = ["ColumnWalker", "PE"]


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


class PE(wiring.Component):
    """A sparse-column PE (EIE/ESE lineage).

    Data path: activation queue (``SyncFIFO`` of ``queue_depth`` columns) ->
    :class:`PointerReader` (``ptr[j]``, ``ptr[j+1]`` in one cycle) ->
    :class:`MatrixReader` (one entry per cycle, decode, row position) ->
    :class:`Accumulator` (multiply, wrap-around accumulate with forwarding).
    Once a column is popped nothing stalls; a column costs ``max(entries, 1)``
    cycles of the matrix reader and columns run back to back.

    Parameters
    ----------
    weight_bits, index_bits, act_bits, accum_bits : int
    queue_depth : int
        Activation queue depth (columns).
    entry_depth : int
        Entry memory words.
    n_cols_max : int
        Columns the pointer memory can describe.
    local_rows : int
        Accumulator rows.
    bias : bool
        Give the PE a bias memory (``local_rows`` words) whose values are the
        accumulators' initial values after ``clear``; otherwise they start at 0.
    init_words, init_ptr, init_bias : sequences of int, optional
        Elaboration-time memory images.

    Members
    -------
    push : In(1)
        Append ``push_col`` / ``push_act`` to the queue (only when ``~full``).
    full : Out(1)
    clear : In(1)
        Start of an SpMV: every accumulator row returns to its initial value.
    entry_load, ptr_load, bias_load : In(stream.Signature(write_layout, always_ready=True))
        Run-time memory writes (``bias_load`` only with ``bias=True``).
    ro_en, ro_addr, ro_data
        Accumulator readout (see :class:`Accumulator`).
    idle : Out(1)
        Queue empty and nothing in flight.
    """

    @validated
    def __init__(self, *, weight_bits, index_bits, act_bits, accum_bits, queue_depth=8,
                 entry_depth, n_cols_max, local_rows, bias=False,
                 init_words=None, init_ptr=None, init_bias=None):
        check_int("weight_bits", weight_bits, 2, 18)
        check_int("index_bits", index_bits, 2, 8)
        check_int("act_bits", act_bits, 2, 27)
        check_int("accum_bits", accum_bits, weight_bits + act_bits, 64)
        check_int("queue_depth", queue_depth, 1)
        check_int("entry_depth", entry_depth, 1)
        check_int("n_cols_max", n_cols_max, 1)
        check_int("local_rows", local_rows, 1)
        check_bool("bias", bias)
        if init_bias is not None and not bias:
            raise ValueError("init_bias needs bias=True")
        self._p = dict(weight_bits=weight_bits, index_bits=index_bits, act_bits=act_bits,
                       accum_bits=accum_bits, queue_depth=queue_depth,
                       entry_depth=entry_depth, n_cols_max=n_cols_max,
                       local_rows=local_rows, bias=bias)
        # Sub-units are built in elaborate(); their images are checked here, up front.
        self._init_words = check_image("entry image", init_words, depth=entry_depth,
                                       depth_name="entry_depth",
                                       bits=weight_bits + index_bits)
        self._init_ptr = check_image("pointer image", init_ptr, depth=n_cols_max + 1,
                                     depth_name="n_cols_max + 1", bits=self.ptr_bits)
        self._init_bias = check_image("bias image", init_bias, depth=local_rows,
                                      depth_name="local_rows", bits=accum_bits, signed=True)
        ports = {
            **ColumnWalker.front_ports(weight_bits=weight_bits, index_bits=index_bits,
                                       act_bits=act_bits, entry_depth=entry_depth,
                                       n_cols_max=n_cols_max),
            "clear": In(1),
            "ro_en": In(1),
            "idle": Out(1),
            "ro_addr": In(unsigned(self.row_bits)),
            "ro_data": Out(signed(accum_bits)),
        }
        if bias:
            ports["bias_load"] = In(stream.Signature(
                write_layout(self.row_bits, accum_bits), always_ready=True))
        super().__init__(ports)

    @property
    def ptr_bits(self):
        """Pointer width: entry addresses ``0 .. entry_depth``."""
        return bits_for(self._p["entry_depth"])

    @property
    def row_bits(self):
        return max(1, ceil_log2(self._p["local_rows"]))

    @property
    def latency(self):
        """Cycles from the last entry's issue until the PE is idle (entry read, decode,
        multiply, accumulate)."""
        return 4

    def elaborate(self, platform):
        m = Module()
        p = self._p
        m.submodules.walker = walker = ColumnWalker(
            weight_bits=p["weight_bits"], index_bits=p["index_bits"], act_bits=p["act_bits"],
            queue_depth=p["queue_depth"], entry_depth=p["entry_depth"],
            n_cols_max=p["n_cols_max"], local_rows=p["local_rows"],
            init_words=self._init_words, init_ptr=self._init_ptr)
        m.submodules.acc = acc = Accumulator(
            weight_bits=p["weight_bits"], act_bits=p["act_bits"], accum_bits=p["accum_bits"],
            local_rows=p["local_rows"])
        walker.connect_front(m, self)
        wiring.connect(m, walker.entry, acc.entry)
        m.d.comb += [
            acc.clear.eq(self.clear),
            acc.ro_en.eq(self.ro_en),
            acc.ro_addr.eq(self.ro_addr),
            self.ro_data.eq(acc.ro_data),
            self.idle.eq(walker.idle & acc.idle),
        ]

        if p["bias"]:
            m.submodules.bias = bias = Memory(shape=signed(p["accum_bits"]),
                                              depth=p["local_rows"],
                                              init=self._init_bias or [])
            bias_rd, bias_wr = bias.read_port(), bias.write_port()
            m.d.comb += [
                bias_rd.addr.eq(acc.init_addr),
                acc.init_data.eq(bias_rd.data),
                bias_wr.addr.eq(self.bias_load.payload.addr),
                bias_wr.data.eq(self.bias_load.payload.data),
                bias_wr.en.eq(self.bias_load.valid),
            ]
        else:
            m.d.comb += acc.init_data.eq(0)
        return m


def _param_property(name):
    return property(lambda self: self._p[name], doc=f"The ``{name}`` parameter (read-only).")


for _name in ("weight_bits", "index_bits", "act_bits", "accum_bits", "queue_depth",
              "entry_depth", "n_cols_max", "local_rows", "bias"):
    setattr(PE, _name, _param_property(_name))
del _name
