"""Up-front parameter checks shared by the gateware components.

Integer bounds come from the one table, :data:`ese_hw.model.limits.LIMITS`,
through the one checker :func:`check_int` (re-exported here).
"""

import functools
import inspect

import numpy as np
from amaranth.lib import wiring

from ..model.limits import check_int

__all__ = ["CheckedComponent", "check_image", "check_int", "image_ints"]


def image_ints(values):
    """An elaboration-time memory image as a list of Python ints (``None`` stays ``None``)."""
    return None if values is None else [int(v) for v in np.asarray(values).reshape(-1)]


def check_image(name, values, *, depth, depth_name, bits, signed=False):
    """Validate an elaboration-time memory image; returns it as a list of Python ints."""
    values = image_ints(values)
    if values is None:
        return None
    if len(values) > depth:
        raise ValueError(f"{name} has {len(values)} words, more than {depth_name} = {depth}")
    lo, hi = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)
    if values and (min(values) < lo or max(values) >= hi):
        kind = "signed" if signed else "unsigned"
        raise ValueError(f"{name} values must fit {kind}({bits})")
    return values


class CheckedComponent(wiring.Component):
    """A component whose parameters are checked before the object exists.

    Amaranth warns, when it is collected, about every elaboratable that was created
    and never elaborated, including one whose constructor raised. So a subclass
    states its checks in :meth:`check_parameters`, which runs in ``__new__`` on the
    constructor's keyword arguments (defaults applied): a refused component is never
    created. ``__init__`` then only stores and derives.
    """

    @classmethod
    def check_parameters(cls, **params):
        """Raise ``TypeError`` or ``ValueError`` naming a bad parameter (override this).

        Receives every keyword of ``__init__``, defaults applied; a subclass names the
        ones it checks and takes the rest as ``**_``.
        """

    @classmethod
    def check(cls, **params):
        """Run :meth:`check_parameters` on ``__init__``'s keywords, defaults applied
        (a component that builds sub-components checks their parameters this way)."""
        bound = _init_signature(cls).bind(**params)     # TypeError: unknown or missing
        bound.apply_defaults()
        cls.check_parameters(**bound.arguments)

    def __new__(cls, *args, src_loc_at=0, **params):
        if args:
            raise TypeError(f"{cls.__name__} takes keyword arguments only")
        cls.check(**params)
        # src_loc_at + 1: the "created here" location is our caller's, not this frame.
        return super().__new__(cls, src_loc_at=src_loc_at + 1, **params)


@functools.cache
def _init_signature(cls):
    """``cls.__init__``'s signature without ``self``."""
    sig = inspect.signature(cls.__init__)
    return sig.replace(parameters=list(sig.parameters.values())[1:])

