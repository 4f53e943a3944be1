"""Sigmoid and tanh lookup tables: one function, used by the golden model and the gateware.

Table ``i`` of size ``S = 2**lut_bits`` over ``[-R, R)``, ``R = 2**range_log2``,
holds ``f`` at the centre of bin ``i``: ``-R + (i + 0.5) * 2R/S``, rounded half
up to ``out_frac`` fractional bits and saturated to ``out_bits`` signed. The
index of a fixed-point value is a floor shift plus ``S/2``, clamped
(:func:`lut_index`), so no multiplier or comparator chain is needed.
"""

import numpy as np

from .quant import quantize, shift_floor

__all__ = ["FUNCTIONS", "sigmoid", "make_lut", "lut_index", "lut_shift"]


def sigmoid(z):
    """The logistic function, written through tanh (no overflow for large ``|z|``)."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


FUNCTIONS = {"sigmoid": sigmoid, "tanh": np.tanh}


def make_lut(func, *, lut_bits=12, range_log2=3, out_bits=16, out_frac=None):
    """Return the table (int64 array of ``2**lut_bits``) for ``func`` (a name or callable)."""
    if isinstance(func, str):
        func = FUNCTIONS[func]
    if out_frac is None:
        out_frac = out_bits - 1
    size = 1 << lut_bits
    r = 2.0 ** range_log2
    centres = -r + (np.arange(size) + 0.5) * (2 * r / size)
    return quantize(func(centres), out_frac, out_bits)


def lut_shift(frac, *, lut_bits=12, range_log2=3):
    """Right-shift amount from a value with ``frac`` fractional bits to a table index."""
    return frac - (lut_bits - 1 - range_log2)


def lut_index(v, frac, *, lut_bits=12, range_log2=3):
    """Table index of fixed-point ``v`` (``frac`` fractional bits): floor shift, offset, clamp."""
    size = 1 << lut_bits
    idx = shift_floor(v, lut_shift(frac, lut_bits=lut_bits, range_log2=range_log2)) + size // 2
    return np.clip(idx, 0, size - 1)
