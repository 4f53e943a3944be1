"""Fixed-point primitives of the contract (docs/contract.md section 3).

All functions work on numpy int64 arrays (or Python ints) and are the single
definition of rounding, saturation and wrap-around that the gateware copies.
"""

import math

import numpy as np

from ..errors import EseError

__all__ = ["frac_bits_for", "quantize", "sat", "wrap", "rshift_round", "shift_floor"]


def frac_bits_for(maxabs, bits, *, headroom=0):
    """Largest fractional-bit count ``F`` such that ``maxabs * 2**headroom`` fits ``bits`` signed.

    "Fits" means ``floor(v * 2**F + 0.5) <= 2**(bits-1) - 1``. For ``maxabs == 0``
    returns ``bits - 1``; a non-finite ``maxabs`` is an :class:`EseError`.
    """
    maxabs = float(maxabs)
    top = 2 ** (bits - 1) - 1
    if not math.isfinite(maxabs):
        raise EseError(f"no {bits}-bit fixed-point format holds a magnitude of {maxabs}")
    if maxabs <= 0.0:
        return bits - 1

    def scaled(f):                      # maxabs * 2**(headroom + f), exact, no overflow
        return math.ldexp(maxabs, headroom + f)

    # Logs, not top / v: v * 2**headroom may overflow near the float maximum.
    f = math.floor(math.log2(top) - math.log2(maxabs)) - headroom
    while math.floor(scaled(f + 1) + 0.5) <= top:
        f += 1
    while math.floor(scaled(f) + 0.5) > top:
        f -= 1
    return f


def sat(v, bits):
    """Clamp to the ``bits``-wide signed range."""
    return np.clip(v, -(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def wrap(v, bits):
    """Two's-complement wrap-around to ``bits`` (what a DSP48 accumulator does)."""
    v = np.asarray(v, dtype=np.int64)
    if bits >= 64:
        return v
    m, mask = np.int64(1 << (bits - 1)), np.int64((1 << bits) - 1)
    # int64 sums wrap modulo 2**64, which the mask reduces modulo 2**bits: the overflow
    # numpy warns about (at 63 bits) is the arithmetic wanted.
    with np.errstate(over="ignore"):
        return ((v + m) & mask) - m


def quantize(x, frac, bits):
    """``sat(floor(x * 2**frac + 0.5), bits)`` as int64 (round half up).

    A product beyond the float range is infinite and saturates like any other value
    out of range, so numpy's overflow warning is silenced (on the command line it
    would be stray lines on stderr).
    """
    with np.errstate(over="ignore"):
        q = np.floor(np.asarray(x, dtype=np.float64) * 2.0 ** frac + 0.5)
    return sat(q, bits).astype(np.int64)


def rshift_round(v, s):
    """Shift right by ``s`` rounding half up; ``s <= 0`` is an exact left shift."""
    v = np.asarray(v, dtype=np.int64)
    if s > 0:
        return (v + (np.int64(1) << np.int64(s - 1))) >> np.int64(s)
    if s < 0:
        return v << np.int64(-s)
    return v


def shift_floor(v, s):
    """Arithmetic shift right by ``s`` (floor); ``s < 0`` shifts left."""
    v = np.asarray(v, dtype=np.int64)
    return v >> np.int64(s) if s >= 0 else v << np.int64(-s)
