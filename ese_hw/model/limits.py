"""The parameter bounds the product supports, in one table, and the one integer checker.

Compression (:func:`ese_hw.model.compress.check_config`), the gateware components
and the ``ese-hw`` command all check their integer parameters against
:data:`LIMITS` through :func:`check_int`, so a bound is stated once and a model
that compresses is a model the channel can build.
"""

import numbers
from dataclasses import dataclass
from types import MappingProxyType

from ..errors import EseError

__all__ = ["CLOCK_MHZ_RANGE", "DEFAULTS", "LIMITS", "Limit", "check_divides_pes", "check_int",
           "check_pe_count"]


@dataclass(frozen=True)
class Limit:
    """Bounds of one integer parameter.

    Members
    -------
    name : the parameter's keyword (``act_bits``)
    label : how the command line names it (``activation bits``)
    lo, hi : inclusive bounds (``hi=None``: no upper bound)
    why : where the bounds come from
    """

    name: str
    label: str
    lo: int
    hi: int | None
    why: str


LIMITS = {limit.name: limit for limit in (
    Limit("weight_bits", "weight bits", 2, 18,
          "weights feed the 18-bit port of the DSP48E2's 27 x 18 multiplier; "
          "1 bit leaves only 0 and -1"),
    Limit("act_bits", "activation bits", 4, 24,
          "the element-wise unit multiplies activations by activations (f*c, i*g, "
          "o*tanh c): at 24 bits a product is 48 bits, the width of a DSP48E2's P path "
          "(two cascaded 27 x 18 multipliers); below 4 the sigmoid/tanh outputs have "
          "no resolution"),
    Limit("index_bits", "index bits", 2, 8,
          "relative row index of an entry word; 8 bits already pad almost nothing "
          "(0.02 % at 6 bits for the paper's density), 1 bit pads half the entries"),
    Limit("accum_bits", "accumulator bits", 8, 62,
          "the golden model computes in int64: 62 bits leave headroom for the "
          "element-wise sums on top of an accumulator (and >= weight_bits + act_bits)"),
    Limit("lut_bits", "LUT bits", 4, 14,
          "sigmoid/tanh tables of 2**lut_bits words in every PE's element-wise unit "
          "(three per PE): 14 bits is 16 Ki words each; 4 bits is the coarsest table "
          "worth building"),
    Limit("lut_range_log2", "LUT range log2", 0, 6,
          "the tables span [-2**r, 2**r); beyond 64 sigmoid and tanh are flat"),
    Limit("n_pe", "PE count", 1, None,
          "PEs per channel (the paper uses 32); a model also bounds it by its cells "
          "(check_pe_count)"),
    Limit("n_channels", "channels", 1, 64,
          "lock-step channels sharing one weight read; each adds accumulators and "
          "c/m/y banks to every PE and act_bits + 1 bits to the x word; 64 is twice "
          "ESE's ~32 (docs/design.md section 7)"),
    Limit("broadcast", "broadcast width", 1, 16,
          "activations the broadcaster hands every PE per cycle (K): each PE's queue "
          "word carries K activations per lane and each entry word log2 K more bits; "
          "past 16 the x/y/m read muxes grow and the queue word passes 256 bits a lane"),
    Limit("ew_share", "PEs per element-wise unit", 1, None,
          "PEs that share one element-wise unit and its tables (G); must divide the "
          "PE count"),
    Limit("queue_depth", "queue depth", 1, 256,
          "columns in each PE's activation queue (the paper uses 8, where an event model "
          "already reaches U 0.976, docs/design.md section 4); 256 is a block RAM per PE and "
          "lane (a billion-deep queue was elaborated as asked until the OOM killer came)"),
    Limit("entry_depth", "entry depth", 1, None, "entry-memory words per PE"),
    Limit("y_fifo_depth", "y FIFO depth", 1, 65536,
          "y_t elements the AXI top's output FIFO holds while the consumer pauses: 65536 "
          "is 128 frames of the paper's 512 projections; a deeper buffer is the host's "
          "(a billion-entry FIFO took minutes and all the memory to elaborate)"),
    Limit("frames", "frames", 1, 1_000_000,
          "seeded input frames a demo or a sweep runs per channel: a million frames of "
          "the paper's 153 inputs are 1.2 GB of float64 inputs per channel"),
    Limit("n_cols_max", "column count", 1, None, "columns a pointer memory describes"),
    Limit("local_rows", "local rows", 1, None, "accumulator rows per PE"),
    Limit("ptr_bits", "pointer bits", 1, 32, "entry addresses of a 32-bit word"),
    Limit("n_in", "inputs", 1, None, "LSTMP input size I"),
    Limit("n_cells", "cells", 1, None, "LSTMP cells H"),
    Limit("n_proj", "projections", 1, None, "LSTMP projection size P"),
    Limit("frac_bits", "fractional bits", -62, 62,
          "a Q format's fractional bits (docs/contract.md section 3): the golden model "
          "shifts int64 values by these and their differences; values outside mean "
          "weights or activations near the float range's ends"),
    Limit("matrix_weights", "matrix weights", 1, 1 << 26,
          "weights of the nine matrices, 4H(I+P) + PH: the paper's model has 3,248,128; "
          "2**26 is 20 times more, already 0.5 GB per float64 copy, and more than any "
          "channel's entry memories on the XCKU060 hold at the paper's density"),
)}

#: The default of every generator parameter that more than one entry point takes: the
#: gateware's parameter classes, the engines, the flows and the command line all read
#: them here, so a default is stated once (each is inside its :data:`LIMITS` bounds).
DEFAULTS = MappingProxyType({
    "n_channels": 1,
    "queue_depth": 8,        # the paper's best depth (docs/design.md section 4)
    "broadcast": 1,
    "ew_share": 1,
    "clock_mhz": 200,        # ESE's clock
})


#: Clock frequencies (MHz) a design may ask for, inclusive: the Vivado flow writes the
#: period into its constraints, and UltraScale fabric clocks stay well under 1 GHz; a
#: kilohertz clock, or a period of ``inf`` ns, is a typo.
CLOCK_MHZ_RANGE = (1.0, 1000.0)


def check_int(name, value, lo=None, hi=None, *, label=None):
    """Check an integer parameter against its bounds.

    Parameters
    ----------
    name : str
        The parameter; its :data:`LIMITS` entry, if any, gives the bounds not passed.
    value
        An integer (Python or numpy; ``bool`` is refused).
    lo, hi : int, optional
        Inclusive bounds overriding the table's (``lo`` may depend on other
        parameters, as ``accum_bits >= weight_bits + act_bits`` does).
    label : str, optional
        How the message names the parameter (default ``name``; the command line
        passes ``LIMITS[name].label``).

    Returns
    -------
    int
        ``value`` as a Python int.

    Raises
    ------
    TypeError
        ``value`` is not an integer.
    EseError
        ``value`` is out of bounds (a ``ValueError``); the message is one line:
        ``"<label> must be an integer in <lo>..<hi>, got <value>"``.
    """
    limit = LIMITS.get(name)
    if limit is not None:
        lo = limit.lo if lo is None else lo
        hi = limit.hi if hi is None else hi
    label = name if label is None else label
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{label} must be an integer, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if hi is None:
            bound = f">= {lo}"
        elif lo is None:
            bound = f"<= {hi}"
        else:
            bound = f"in {lo}..{hi}"
        raise EseError(f"{label} must be an integer {bound}, got {int(value)}")
    return int(value)


def check_divides_pes(label, value, n_pe):
    """Refuse (:class:`EseError`) a per-PE grouping ``value`` (a broadcast width, PEs
    per element-wise unit) that does not divide the PE count ``n_pe`` (``None``: not
    known yet, nothing to check); the one-line message names it by ``label``."""
    if n_pe is not None and n_pe % value:
        raise EseError(f"{label} {value} must divide the PE count {n_pe}")


def check_pe_count(n_pe, n_cells):
    """Refuse (:class:`EseError`) a PE count a model of ``n_cells`` cells cannot use.

    A PE owns whole cells (cell ``h`` in PE ``h mod N``, docs/contract.md section 1) and
    the four gate rows of each, so a PE beyond the cells would own no gate row and no
    cell: an empty PE that still costs its memories, tables and a lane in every step.
    Returns ``n_pe`` as an int.
    """
    n_pe = check_int("n_pe", n_pe, label=LIMITS["n_pe"].label)
    if n_pe > n_cells:
        raise EseError(f"PE count {n_pe} exceeds the model's {n_cells} cells (a PE owns "
                       f"whole cells, so at most {n_cells} PEs)")
    return n_pe
