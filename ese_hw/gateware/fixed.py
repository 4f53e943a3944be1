"""The contract's fixed-point primitives as Amaranth expressions (docs/contract.md section 3).

Each is the twin of a function of :mod:`ese_hw.model.quant`, which defines the
arithmetic the golden model computes: :func:`rshift_round_value` is ``rshift_round``,
:func:`sat_value` is ``sat``, and :func:`round_sat_value` is ``sat(rshift_round(...))``
with a cheaper saturation test. They live here, not beside their twins, because the
model never imports Amaranth; tests/gateware/test_fixed.py holds each equal to its twin.
"""

from amaranth.hdl import Mux

__all__ = ["rshift_round_value", "round_sat_value", "sat_value"]


def rshift_round_value(v, s):
    """``rshift_round`` of the contract as an Amaranth expression (exact, full width).

    ``s > 0``: ``(v + 2**(s-1)) >> s`` (arithmetic: round half up); ``s == 0``: ``v``;
    ``s < 0``: ``v << -s``.
    """
    v = v.as_signed()
    if s > 0:
        return (v + (1 << (s - 1))).shift_right(s)
    if s < 0:
        return v.shift_left(-s)
    return v


def sat_value(v, bits):
    """``sat`` of the contract: clamp ``v`` to ``signed(bits)``; result is ``signed(bits)``."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return Mux(v > hi, hi, Mux(v < lo, lo, v)).as_signed()[:bits].as_signed()



def round_sat_value(v, shift, bits):
    """``sat(rshift_round(v, shift), bits)`` (:func:`rshift_round_value` then
    :func:`sat_value`, the contract's), with a cheaper saturation test; every lane of
    every y bank has one.

    For ``shift > 0``, adding ``2**(shift-1)`` cannot carry out of the ``shift - 1`` low
    bits (they are zero in the addend), so ``(v + 2**(shift-1)) >> shift`` is
    ``((v >> (shift-1)) + 1) >> 1`` (Yosys narrows the contract's adder so by itself).
    The result fits ``signed(bits)`` exactly when its bits from ``bits - 1`` up are all
    equal, which two wide ANDs test instead of two comparators: 10 LUTs and 4 CARRY4
    fewer per lane at the paper shape (benchmarks/bench_lane_cost.py), at the price of
    three more LUT levels before the conversion register.
    """
    if shift <= 0:
        return sat_value(rshift_round_value(v, shift), bits)
    r = (v.as_signed().shift_right(shift - 1) + 1).shift_right(1)
    if len(r) <= bits:
        return r
    top = r[bits - 1:]
    fits = top.all() | ~top.any()
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return Mux(fits, r[:bits].as_signed(), Mux(r[-1], lo, hi)).as_signed()[:bits].as_signed()
