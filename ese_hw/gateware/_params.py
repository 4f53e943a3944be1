"""Up-front parameter checks shared by the gateware components."""

__all__ = ["check_int", "check_bool"]


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
