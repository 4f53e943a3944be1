"""The fixed-point primitives (ese_hw.model.quant, docs/contract.md section 3): results
stay within their saturation bounds, rounding is half up and monotone, wrapping is
congruent, for any finite or infinite float and any width."""

import math
import warnings

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ese_hw.model.quant import frac_bits_for, quantize, rshift_round, sat, shift_floor, wrap

bit_widths = st.integers(2, 32)
fracs = st.integers(-40, 40)
#: Any non-NaN float, the extremes drawn often: overflowing x * 2**frac must saturate.
any_float = st.one_of(st.floats(allow_nan=False, width=64),
                      st.sampled_from([1e308, -1e308, 5e-324, -0.0, np.inf, -np.inf]))


def _bounds(bits):
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


@given(st.lists(any_float, min_size=1, max_size=20), fracs, bit_widths)
def test_quantize_saturates_rounds_half_up_and_never_warns(xs, frac, bits):
    lo, hi = _bounds(bits)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                      # an overflow warning fails
        q = quantize(np.array(xs), frac, bits)
    assert q.dtype == np.int64
    assert np.all((lo <= q) & (q <= hi))
    for x, v in zip(xs, q, strict=True):
        exact = math.floor(x * 2.0 ** frac + 0.5) if math.isfinite(x * 2.0 ** frac) \
            else math.copysign(math.inf, x)
        assert v == min(max(exact, lo), hi)


@given(any_float, any_float, fracs, bit_widths)
def test_quantize_is_monotone(a, b, frac, bits):
    a, b = min(a, b), max(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert quantize(a, frac, bits) <= quantize(b, frac, bits)


@given(st.integers(-2**62, 2**62), st.integers(-2**62, 2**62), bit_widths)
def test_sat_clamps_and_is_monotone(a, b, bits):
    lo, hi = _bounds(bits)
    assert lo <= sat(a, bits) <= hi
    assert sat(a, bits) == a or (a < lo and sat(a, bits) == lo) or (a > hi and sat(a, bits) == hi)
    if a <= b:
        assert sat(a, bits) <= sat(b, bits)


@given(st.integers(-2**63, 2**63 - 1), st.integers(2, 63))
def test_wrap_stays_in_range_and_is_congruent(v, bits):
    lo, hi = _bounds(bits)
    w = int(wrap(v, bits))
    assert lo <= w <= hi
    assert (w - v) % (1 << bits) == 0


@given(st.integers(-2**40, 2**40), st.integers(-2**40, 2**40), st.integers(0, 20))
def test_rshift_round_is_round_half_up_and_monotone(a, b, s):
    got = int(rshift_round(a, s))
    assert got == math.floor(a / 2**s + 0.5)
    assert int(shift_floor(a, s)) == a >> s
    if a <= b:
        assert got <= int(rshift_round(b, s))


@given(st.integers(-2**40, 2**40), st.integers(-20, 0))
def test_negative_shifts_are_exact_left_shifts(a, s):
    assert int(rshift_round(a, s)) == a << -s == int(shift_floor(a, s))


@given(st.one_of(st.floats(0.0, 1e308), st.sampled_from([2.2250738585072014e-308, 5e-324,
                                                         1.7976931348623157e308])),
       st.integers(2, 24), st.integers(0, 2))
def test_frac_bits_for_is_the_largest_format_that_fits(maxabs, bits, headroom):
    f = frac_bits_for(maxabs, bits, headroom=headroom)
    top = (1 << (bits - 1)) - 1
    if maxabs == 0:
        assert f == bits - 1
        return
    assert math.floor(math.ldexp(maxabs, headroom + f) + 0.5) <= top
    assert math.floor(math.ldexp(maxabs, headroom + f + 1) + 0.5) > top
