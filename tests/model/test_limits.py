"""The one table of parameter bounds and the one integer checker."""

import numpy as np
import pytest

from ese_hw.errors import EseError
from ese_hw.model.compress import Config, check_config
from ese_hw.model.limits import CLOCK_MHZ_RANGE, DEFAULTS, LIMITS, check_int


def test_table_is_consistent():
    for name, limit in LIMITS.items():
        assert limit.name == name and limit.label and limit.why
        # Counts and widths; only a Q format's fractional bits may be negative
        # (docs/contract.md section 3).
        assert limit.lo >= 0 or name == "frac_bits"
        assert limit.hi is None or limit.hi >= limit.lo
    # The paper's configuration is inside every bound.
    paper = dict(weight_bits=12, act_bits=16, index_bits=4, accum_bits=48, lut_bits=12,
                 lut_range_log2=3, n_pe=32, n_channels=1, queue_depth=8)
    for name, value in paper.items():
        assert check_int(name, value) == value


@pytest.mark.parametrize("name", sorted(n for n, lim in LIMITS.items() if lim.hi is not None))
def test_bounds_come_from_the_table(name):
    lim = LIMITS[name]
    assert check_int(name, lim.lo) == lim.lo and check_int(name, lim.hi) == lim.hi
    for bad in (lim.lo - 1, lim.hi + 1):
        with pytest.raises(EseError, match=rf"^{name} must be an integer in "
                                           rf"{lim.lo}\.\.{lim.hi}, got {bad}$"):
            check_int(name, bad)


def test_explicit_bounds_and_labels():
    # A bound that depends on other parameters overrides the table's; the other stays.
    assert check_int("accum_bits", 28, 28) == 28
    with pytest.raises(EseError, match=r"accum_bits must be an integer in 28\.\.62, got 27"):
        check_int("accum_bits", 27, 28)
    with pytest.raises(EseError, match="in 28..62, got 63"):
        check_int("accum_bits", 63, 28)
    with pytest.raises(EseError, match=r"^PE count must be an integer >= 1, got 0$"):
        check_int("n_pe", 0, label=LIMITS["n_pe"].label)
    # Names outside the table: only the bounds given.
    assert check_int("fw_g", -256, -256, 256) == -256
    with pytest.raises(EseError, match="x must be an integer <= 3, got 4"):
        check_int("x", 4, hi=3)
    assert check_int("unbounded", -(1 << 80)) == -(1 << 80)


@pytest.mark.parametrize("value", [True, 1.0, "4", None, np.float64(4)])
def test_non_integers_are_type_errors(value):
    with pytest.raises(TypeError, match="act_bits must be an integer, got"):
        check_int("act_bits", value)


def test_numpy_integers_become_python_ints():
    got = check_int("act_bits", np.int64(16))
    assert got == 16 and type(got) is int


@pytest.mark.parametrize("field, value, message", [
    ("act_bits", 25, "activation bits must be an integer in 4..24, got 25"),
    ("weight_bits", 1, "weight bits must be an integer in 2..18, got 1"),
    ("index_bits", 9, "index bits must be an integer in 2..8, got 9"),
    ("accum_bits", 63, "accumulator bits must be an integer in 8..62, got 63"),
    ("lut_bits", 15, "LUT bits must be an integer in 4..14, got 15"),
    ("lut_range_log2", -1, "LUT range log2 must be an integer in 0..6, got -1"),
    ("n_pe", 0, "PE count must be an integer >= 1, got 0"),
])
def test_compress_config_uses_the_table(field, value, message):
    with pytest.raises(EseError, match=f"^{message}$".replace("(", r"\(").replace(".", r"\.")):
        check_config(Config(**{field: value}))
    check_config(Config(**{field: LIMITS[field].lo if field != "accum_bits" else 62}))


def test_every_default_is_inside_its_bounds():
    for name, value in DEFAULTS.items():
        if name == "clock_mhz":
            assert CLOCK_MHZ_RANGE[0] <= value <= CLOCK_MHZ_RANGE[1]
        else:
            assert check_int(name, value) == value
