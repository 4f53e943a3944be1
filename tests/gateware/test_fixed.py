"""The fixed-point expressions of :mod:`ese_hw.gateware.fixed` equal their golden-model
twins in :mod:`ese_hw.model.quant`, on random values and on every value next to a
rounding half-point or a saturation edge."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

from ese_hw.gateware.fixed import round_sat_value, rshift_round_value, sat_value
from ese_hw.model.quant import rshift_round, sat

ACT_BITS, ACCUM_BITS = 12, 30
SHIFTS = [1, 2, 9, 15, 17, 29, 0, -3]


def _values(shift):
    """Accumulator values around every rounding half-point and saturation edge of
    ``shift``, the extremes, and 300 random ones."""
    rng = np.random.default_rng(shift + 40)
    lo, hi = -(1 << (ACCUM_BITS - 1)), (1 << (ACCUM_BITS - 1)) - 1
    edges = []
    for k in ((1 << (ACT_BITS - 1)) - 1, 1 << (ACT_BITS - 1), -(1 << (ACT_BITS - 1)),
              -(1 << (ACT_BITS - 1)) - 1, 0, -1, 1):
        for half in (0, 1):         # the value of k (half 0) and its rounding half-point
            centre = (k << shift) + (half << (shift - 1)) if shift > 0 else k
            edges += [centre - 1, centre, centre + 1]
    return [v for v in [*edges, lo, hi, *rng.integers(lo, hi, 300)] if lo <= v <= hi]


def _evaluate(expression, values, out_bits):
    """``expression(v)`` for every value of a ``signed(ACCUM_BITS)`` signal, through
    Amaranth's simulator, into a ``signed(out_bits)`` signal."""
    v_sig, out = Signal(signed(ACCUM_BITS)), Signal(signed(out_bits))
    m = Module()
    m.d.comb += out.eq(expression(v_sig))
    got = []

    async def bench(ctx):
        for v in values:
            ctx.set(v_sig, int(v))
            got.append(ctx.get(out))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.parametrize("shift", SHIFTS)
def test_round_sat_value_is_the_contract(shift):
    """The y bank's narrow conversion equals ``sat(rshift_round(v, shift))``."""
    values = _values(shift)
    got = _evaluate(lambda v: round_sat_value(v, shift, ACT_BITS), values, ACT_BITS)
    want = sat(rshift_round(np.array(values, np.int64), shift), ACT_BITS)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shift", SHIFTS)
def test_rshift_round_and_sat_values_are_their_twins(shift):
    """``rshift_round_value`` at full width is ``rshift_round``; ``sat_value`` of it is
    ``sat`` (the element-wise unit's composition)."""
    values = _values(shift)
    full = ACCUM_BITS + 3 + max(0, -shift)           # room for a left shift, never wraps
    rounded = rshift_round(np.array(values, np.int64), shift)
    np.testing.assert_array_equal(
        _evaluate(lambda v: rshift_round_value(v, shift), values, full), rounded)
    np.testing.assert_array_equal(
        _evaluate(lambda v: sat_value(rshift_round_value(v, shift), ACT_BITS), values,
                  ACT_BITS), sat(rounded, ACT_BITS))
