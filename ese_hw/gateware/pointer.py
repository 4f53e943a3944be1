"""Pointer read unit: both ends of a column's entry range in one cycle (even/odd banks)."""

from amaranth.hdl import Cat, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..model.timing import Timing
from ._checks import CheckedComponent, check_image, check_int, image_ints
from .load import write_layout

__all__ = ["PointerReader", "SHARED_BANKS_LUTRAM_MAX_WORDS", "SHARED_BANKS_MAX_BITS",
           "SHARED_BANKS_MAX_WORDS", "act_shape",
           "column_request_layout", "column_span_layout"]

#: Both banks share one block RAM when they fit one RAMB18 in true-dual-port mode (1,024
#: words of up to 18 bits): at K 8 (212 groups at the paper shape) two banks of their own
#: fall into LUT RAM (64 LUT in a PE, against 0.5 BRAM36 shared); at K 1 (1,689 columns)
#: they are two RAMB18 and a shared memory would need a RAMB36 and 12 LUT more.
SHARED_BANKS_MAX_WORDS, SHARED_BANKS_MAX_BITS = 1024, 18
#: Up to this many words (both banks) the shared memory is left to LUT RAM: a small
#: model's few pointers cost a handful of LUTs there, less than half a BRAM36 (at 128
#: words both banks fit one RAM64M column per 3 bits of pointer in each bank).
SHARED_BANKS_LUTRAM_MAX_WORDS = 128


def act_shape(act_bits):
    """The shape carried with a column: ``signed(act_bits)``, or any shape given as is
    (a channel carries one activation per lock-step channel and a region flag)."""
    return signed(act_bits) if isinstance(act_bits, int) else act_bits


def check_act(act_bits):
    if isinstance(act_bits, int):
        check_int("act_bits", act_bits)
    else:
        Shape.cast(act_bits)
    return act_bits


def column_request_layout(col_bits, act_bits):
    """A queued column: its index and its (non-zero) activation."""
    return data.StructLayout({"col": unsigned(col_bits), "act": act_shape(act_bits)})


def column_span_layout(ptr_bits, act_bits):
    """A column ready to walk: entry words ``lo .. hi - 1`` and its activation."""
    return data.StructLayout({
        "lo": unsigned(ptr_bits), "hi": unsigned(ptr_bits), "act": act_shape(act_bits),
    })


class PointerReader(CheckedComponent):
    """Pointer memory of one PE and the stage that reads a column's start and end.

    ``ptr[j]`` lives in the even bank (at ``j // 2``) when ``j`` is even, else in the
    odd bank. Column ``j`` needs ``ptr[j]`` and ``ptr[j + 1]``, which are always in
    different banks: even address ``(j + 1) // 2``, odd address ``j // 2``; the bank
    outputs swap when ``j`` is odd, so two read ports serve one column per cycle
    (EIE's layout). With many pointers (one per column) each bank is a
    simple-dual-port memory (a block RAM each). When both fit one RAMB18
    (:data:`SHARED_BANKS_MAX_WORDS`: a K-wide broadcast's groups, whose banks would
    fall into LUT RAM) they lie in one memory, the odd bank at ``2**bank_bits``, and a
    load writes through the even bank's read port, so the pair is one true-dual-port
    block RAM; no column is then taken in a cycle in which a load is offered.

    Two stages, each holding one column: the read (the pointers on the read ports) and
    the span register (``span``). Each takes a new column when it is empty or handing
    its column on this cycle, so a column is read while the matrix reader takes the
    one before: no bubble between columns. A column with no entries in this PE
    (``lo == hi``) is dropped on its way into the span register, so it costs the read
    stage one cycle and the matrix reader none (EIE steps past empty columns the same
    way).

    Parameters
    ----------
    n_cols_max : int
        Columns the pointer memory can describe (``n_cols_max + 1`` pointers).
    ptr_bits : int
        Pointer width (entry addresses ``0 .. entry_depth``).
    act_bits : int
        Activation width (carried along with the column).
    init : sequence of int, optional
        Elaboration-time pointer image ``ptr[0 .. n_cols]``.

    Members
    -------
    req : In(stream.Signature(column_request_layout))
        Column to read (from the activation queue).
    span : Out(stream.Signature(column_span_layout))
        ``lo``/``hi`` pointers of the column, registered: :attr:`latency` cycles after
        ``req`` is taken.
    load : In(stream.Signature(write_layout, always_ready=True))
        Run-time write of pointer ``addr`` (``0 .. n_cols_max``).
    busy : Out(1)
        A column is in either stage (an empty one too, until it is dropped).
    """

    @classmethod
    def check_parameters(cls, *, n_cols_max, ptr_bits, act_bits, init):
        check_int("n_cols_max", n_cols_max)
        check_int("ptr_bits", ptr_bits)
        check_act(act_bits)
        check_image("pointer image", init, depth=n_cols_max + 1,
                    depth_name="n_cols_max + 1", bits=ptr_bits)

    def __init__(self, *, n_cols_max, ptr_bits, act_bits, init=None):
        self._n_cols_max = n_cols_max
        self._ptr_bits = ptr_bits
        self._act_bits = act_bits
        self._init = image_ints(init)
        super().__init__({
            "req": In(stream.Signature(column_request_layout(self.col_bits, act_bits))),
            "span": Out(stream.Signature(column_span_layout(ptr_bits, act_bits))),
            "load": In(stream.Signature(write_layout(self.addr_bits, ptr_bits),
                                        always_ready=True)),
            "busy": Out(1),
        })

    @property
    def n_cols_max(self):
        return self._n_cols_max

    @property
    def ptr_bits(self):
        return self._ptr_bits

    @property
    def col_bits(self):
        """Width of a column index ``0 .. n_cols_max - 1``."""
        return max(1, ceil_log2(self._n_cols_max))

    @property
    def addr_bits(self):
        """Width of a pointer index ``0 .. n_cols_max``."""
        return max(1, ceil_log2(self._n_cols_max + 1))

    @property
    def latency(self):
        """Cycles from ``req`` taken to ``span`` valid (the read and the span register)."""
        return Timing.pointer_latency + Timing.span_latency

    @property
    def shared_banks(self):
        """Both banks in one block RAM (they fit one RAMB18: a K-wide broadcast's groups),
        else a memory per bank (one pointer per column: two block RAMs already)."""
        return ((2 << self.bank_bits) <= SHARED_BANKS_MAX_WORDS
                and self._ptr_bits <= SHARED_BANKS_MAX_BITS)

    @property
    def bank_bits(self):
        """Address bits within a bank; with shared banks the odd one lies above the even."""
        return max(1, ceil_log2(self._n_cols_max // 2 + 1))

    def elaborate(self, platform):
        m = Module()
        col = self.req.payload.col
        load = self.load
        even_rd, odd_rd = self._shared(m) if self.shared_banks else self._split(m)
        # Two stages: the read (``held``: a column's pointers are on the read ports)
        # and the span register the matrix reader takes from. The register is for
        # timing: the bank swap, the empty-column compare and the matrix reader's
        # decisions on the pointers were 12 LUT levels from the block RAM's output in
        # one cycle (Timing.span_latency counts the cycle it costs).
        held = Signal()
        span = self.span.payload
        # The span register takes the read stage's column when it is empty or handing
        # its column on; the read stage takes a request when it is empty or moving.
        advance = ~self.span.valid | self.span.ready
        # No column is taken while a load holds the shared even port (a channel loads
        # only while idle, so this never costs it a cycle).
        loading = load.valid if self.shared_banks else 0
        m.d.comb += [
            self.req.ready.eq((~held | advance) & ~loading),
            # Reading only when the stage accepts keeps the held column's pointers stable.
            even_rd.en.eq(self.req.ready),
            odd_rd.en.eq(self.req.ready),
            self.busy.eq(held | self.span.valid),
        ]
        odd_col = Signal()
        act = Signal(act_shape(self._act_bits))
        with m.If(self.req.ready):
            m.d.sync += [
                held.eq(self.req.valid),
                odd_col.eq(col[0]),
                act.eq(self.req.payload.act),
            ]
        with m.Elif(advance):
            m.d.sync += held.eq(0)
        lo, hi = Signal.like(span.lo, name="held_lo"), Signal.like(span.hi, name="held_hi")
        m.d.comb += [lo.eq(Mux(odd_col, odd_rd.data, even_rd.data)),
                     hi.eq(Mux(odd_col, even_rd.data, odd_rd.data))]
        with m.If(advance):
            m.d.sync += [
                # An empty column (lo == hi) is dropped here, on its way into the span
                # register: it never reaches the matrix reader, so it costs that no cycle.
                self.span.valid.eq(held & (lo != hi)),
                span.lo.eq(lo),
                span.hi.eq(hi),
                span.act.eq(act),
            ]
        return m

    def _split(self, m):
        """A simple-dual-port memory per bank; returns the even and odd read ports."""
        init = self._init or []
        n_even = self._n_cols_max // 2 + 1
        n_odd = (self._n_cols_max + 1) // 2
        m.submodules.even = even = Memory(shape=unsigned(self._ptr_bits), depth=n_even,
                                          init=init[0::2])
        m.submodules.odd = odd = Memory(shape=unsigned(self._ptr_bits), depth=n_odd,
                                        init=init[1::2])
        even_rd, odd_rd = even.read_port(), odd.read_port()
        even_wr, odd_wr = even.write_port(), odd.write_port()
        col, addr = self.req.payload.col, self.load.payload.addr
        m.d.comb += [
            even_rd.addr.eq((col + 1) >> 1),
            odd_rd.addr.eq(col >> 1),
            even_wr.addr.eq(addr >> 1),
            odd_wr.addr.eq(addr >> 1),
            even_wr.data.eq(self.load.payload.data),
            odd_wr.data.eq(self.load.payload.data),
            even_wr.en.eq(self.load.valid & ~addr[0]),
            odd_wr.en.eq(self.load.valid & addr[0]),
        ]
        return even_rd, odd_rd

    def _shared(self, m):
        """Both banks in one memory (the odd one at ``2**bank_bits``) with two read ports,
        the even bank's shared with the load's write (it takes the write's address while
        a load is offered), so the pair maps to one true-dual-port block RAM rather than
        LUT RAM (up to :data:`SHARED_BANKS_LUTRAM_MAX_WORDS`, where LUT RAM is cheaper);
        returns the even and odd read ports."""
        init = self._init or []
        bb = self.bank_bits
        image = [0] * (2 << bb)
        image[0:len(init[0::2])] = init[0::2]
        image[1 << bb:(1 << bb) + len(init[1::2])] = init[1::2]
        block = (2 << bb) > SHARED_BANKS_LUTRAM_MAX_WORDS
        m.submodules.banks = banks = Memory(shape=unsigned(self._ptr_bits), depth=2 << bb,
                                            init=image,
                                            attrs={"ram_style": "block"} if block else {})
        even_rd, odd_rd, wr = banks.read_port(), banks.read_port(), banks.write_port()
        col, load = self.req.payload.col, self.load
        load_addr = load.payload.addr
        shared_addr = Signal(bb + 1)
        m.d.comb += [
            shared_addr.eq(Mux(load.valid, Cat((load_addr >> 1)[:bb], load_addr[0]),
                               Cat(((col + 1) >> 1)[:bb], 0))),
            even_rd.addr.eq(shared_addr),
            odd_rd.addr.eq(Cat((col >> 1)[:bb], 1)),
            wr.addr.eq(shared_addr),
            wr.data.eq(load.payload.data),
            wr.en.eq(load.valid),
        ]
        return even_rd, odd_rd
