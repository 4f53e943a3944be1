"""Sigmoid and tanh lookup (docs/contract.md section 3, "Lookup").

The table is the one the golden model uses (:func:`ese_hw.model.lut.make_lut`),
stored in a ROM (:class:`amaranth.lib.memory.Memory` without a write port) that is
read through a synchronous port, so it maps to block RAM. The index of a
fixed-point value is a constant floor shift plus ``S/2``, clamped to the table
(:func:`ese_hw.model.lut.lut_index`): no multiplier, no comparator chain.

:func:`lut_index_value` and :func:`lut_memory` are the building blocks;
:class:`LookupUnit` wraps them behind stream ports. The element-wise unit builds
its five lookups from the same two functions with read ports that share its
pipeline enable (see :mod:`ese_hw.gateware.elementwise`).
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..model.lut import FUNCTIONS, lut_shift, make_lut
from ._checks import CheckedComponent, check_int

__all__ = ["LookupUnit", "lut_index_value", "lut_memory"]

def lut_index_value(value, frac, *, lut_bits, lut_range_log2):
    """Amaranth expression: the table index of ``value`` (a signed value in Q ``frac``).

    ``clamp((value >> lut_shift(frac)) + S/2, 0, S - 1)`` with a floor (arithmetic)
    shift; a negative shift amount is an exact left shift. Result is
    ``unsigned(lut_bits)``. Identical to :func:`ese_hw.model.lut.lut_index`.
    """
    size = 1 << lut_bits
    shift = lut_shift(frac, lut_bits=lut_bits, range_log2=lut_range_log2)
    scaled = value.as_signed().shift_right(shift)       # shift_right(<0) is a left shift
    offset = scaled + size // 2                          # at least lut_bits + 1 bits wide
    return Mux(scaled < -(size // 2), 0,
               Mux(scaled >= size // 2, size - 1, offset[:lut_bits]))


def lut_memory(func, *, act_bits, lut_bits, lut_range_log2):
    """A ROM holding ``make_lut(func)`` as ``signed(act_bits)`` words (Q ``act_bits - 1``)."""
    table = make_lut(func, lut_bits=lut_bits, range_log2=lut_range_log2, out_bits=act_bits)
    return Memory(shape=signed(act_bits), depth=1 << lut_bits,
                  init=[int(v) for v in table])


def check_lut_params(lut_bits, lut_range_log2):
    """Table size and range, bounded by :data:`ese_hw.model.limits.LIMITS` (as compression is)."""
    check_int("lut_bits", lut_bits)
    check_int("lut_range_log2", lut_range_log2)


class LookupUnit(CheckedComponent):
    """``o = TABLE[lut_index(i, in_frac)]`` for a sigmoid or tanh table, one value per cycle.

    Fixed point: the input is ``signed(in_bits)`` in Q ``in_frac`` (any integer);
    the output is ``signed(act_bits)`` in Q ``act_bits - 1``. The table has
    ``2**lut_bits`` entries over ``[-2**lut_range_log2, 2**lut_range_log2)``.

    Pipeline (:attr:`latency` = 2):

    * stage 1: the index (shift, offset, clamp) is registered;
    * stage 2: the ROM's synchronous read (its output register is the output).

    Stalls: the pipeline advances as a whole when ``advance = ~o.valid | o.ready``;
    ``i.ready = advance``, and the ROM read port is enabled by ``advance`` so its
    data holds while stalled. A bubble inside the pipeline is therefore not
    squeezed out during a stall (it costs nothing when ``o.ready`` is high:
    throughput is one value per cycle). ``o.valid`` does not depend on
    ``o.ready``; payload and valid hold until the transfer.

    Parameters
    ----------
    func : {"sigmoid", "tanh"}
    in_bits : int
        Width of the signed input.
    in_frac : int
        Fractional bits of the input (may be negative or exceed ``in_bits``).
    act_bits : int
        Output width; output Q format is ``act_bits - 1``.
    lut_bits : int
        log2 of the table size.
    lut_range_log2 : int
        log2 of the table's half range ``R``.

    Members
    -------
    i : In(stream.Signature(signed(in_bits)))
    o : Out(stream.Signature(signed(act_bits)))
    """

    @classmethod
    def check_parameters(cls, *, func, in_bits, in_frac, act_bits, lut_bits, lut_range_log2):
        if not isinstance(func, str) or func not in FUNCTIONS:
            raise ValueError(f"func must be one of {sorted(FUNCTIONS)}, not {func!r}")
        check_int("in_bits", in_bits, 1, 128)
        check_int("in_frac", in_frac, -1024, 1024)
        check_int("act_bits", act_bits)
        check_lut_params(lut_bits, lut_range_log2)

    def __init__(self, *, func, in_bits, in_frac, act_bits, lut_bits=12, lut_range_log2=3):
        self._func, self._in_bits, self._in_frac = func, in_bits, in_frac
        self._act_bits, self._lut_bits, self._lut_range_log2 = act_bits, lut_bits, lut_range_log2
        super().__init__({
            "i": In(stream.Signature(signed(in_bits))),
            "o": Out(stream.Signature(signed(act_bits))),
        })

    @property
    def func(self):
        return self._func

    @property
    def in_bits(self):
        return self._in_bits

    @property
    def in_frac(self):
        return self._in_frac

    @property
    def act_bits(self):
        return self._act_bits

    @property
    def lut_bits(self):
        return self._lut_bits

    @property
    def lut_range_log2(self):
        return self._lut_range_log2

    @property
    def shift(self):
        """Right-shift amount from the input to the index (negative: left shift)."""
        return lut_shift(self._in_frac, lut_bits=self._lut_bits, range_log2=self._lut_range_log2)

    @property
    def latency(self):
        """Cycles from an input transfer to its output being valid (without stalls)."""
        return 2

    def elaborate(self, platform):
        m = Module()
        m.submodules.rom = rom = lut_memory(self._func, act_bits=self._act_bits,
                                            lut_bits=self._lut_bits,
                                            lut_range_log2=self._lut_range_log2)
        rd = rom.read_port(domain="sync", transparent_for=())

        advance = Signal()
        idx = Signal(unsigned(self._lut_bits))
        v1 = Signal()
        v2 = Signal()
        m.d.comb += [
            advance.eq(~v2 | self.o.ready),
            self.i.ready.eq(advance),
            rd.addr.eq(idx),
            rd.en.eq(advance),
            self.o.valid.eq(v2),
            self.o.payload.eq(rd.data),
        ]
        with m.If(advance):
            m.d.sync += [
                idx.eq(lut_index_value(self.i.payload, self._in_frac, lut_bits=self._lut_bits,
                                       lut_range_log2=self._lut_range_log2)),
                v1.eq(self.i.valid),
                v2.eq(v1),
            ]
        return m
