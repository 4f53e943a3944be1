"""Up-front parameter checks shared by the gateware components."""

import functools

import numpy as np

__all__ = ["check_int", "check_bool", "check_image", "validated"]


def check_int(name, value, lo, hi=None):
    """Raise ``TypeError``/``ValueError`` naming ``name`` unless ``lo <= value (<= hi)``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"in {lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be {bound}, not {value!r}")
    return value


def check_bool(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {value!r}")
    return value


def check_image(name, values, *, depth, depth_name, bits, signed=False):
    """Validate an elaboration-time memory image; returns it as a list of Python ints."""
    if values is None:
        return None
    values = [int(v) for v in np.asarray(values).reshape(-1)]
    if len(values) > depth:
        raise ValueError(f"{name} has {len(values)} words, more than {depth_name} = {depth}")
    lo, hi = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)
    if values and (min(values) < lo or max(values) >= hi):
        kind = "signed" if signed else "unsigned"
        raise ValueError(f"{name} values must fit {kind}({bits})")
    return values


def validated(init):
    """Decorate a component's ``__init__``: if it raises, the half-built object must not
    also warn "created but never used" (an Amaranth ``MustUse`` check) when collected."""
    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        try:
            init(self, *args, **kwargs)
        except Exception:
            self._MustUse__silence = True
            raise
    return wrapper
