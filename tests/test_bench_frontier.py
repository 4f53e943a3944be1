"""benchmarks/bench_frontier.py's RTL bookkeeping, without a simulator: what an RTL run
is compared on, how a difference is reported, and which earlier checks a re-run keeps.

The RTL run itself (the paper-shape channel in Verilator) is a benchmark, not a test: its
parts are checked at reduced shapes in tests/sim.
"""

import numpy as np
import pytest

from benchmarks import bench_frontier as bf
from ese_hw.simulation.runner import gateware_digest


def _y(seed=0):
    return np.random.default_rng(seed).integers(-2**15, 2**15, (2, 3, 5))


def test_equal_runs_have_no_differences():
    y = _y()
    assert bf.rtl_differences(y, y.copy(), [10, 20, 30], np.array([10, 20, 30])) == []


def test_a_flipped_bit_is_named_with_its_place_and_values():
    y = _y()
    bad = y.copy()
    bad[1, 2, 3] ^= 1
    lines = bf.rtl_differences(bad, y, [10, 20], [10, 20])
    assert len(lines) == 1
    assert lines[0].startswith("y: 1 of 30 elements differ")
    assert f"channel 1, frame 2, element 3: RTL {bad[1, 2, 3]}, golden {y[1, 2, 3]}" in lines[0]


def test_a_late_frame_done_is_named_with_both_cycles():
    y = _y()
    lines = bf.rtl_differences(y, y, [10, 21, 30], [10, 20, 30])
    assert lines == ["frame_done: frame 1 at cycle 21, the cycle model says 20 "
                     "(RTL [10, 21, 30], model [10, 20, 30])"]


def test_missing_frames_and_a_wrong_shape_are_differences():
    y = _y()
    lines = bf.rtl_differences(y[:, :2], y, [10, 20], [10, 20, 30])
    assert lines == [f"y: shape (2, 2, 5), golden {y.shape}",
                     "frame_done: 2 pulses, the cycle model has 3"]


def _row(key, **rtl):
    return {"key": key, **bf.NOT_RTL_CHECKED, **rtl}


def _checked(key, digest, ok=True):
    return _row(key, rtl_checked=ok, rtl_frames=3, rtl_build_s=600.0, rtl_run_s=90.0,
                simulator="verilator", rtl={"gateware": digest, "differences": []})


def test_a_rerun_keeps_earlier_checks_of_the_same_gateware_only():
    digest = gateware_digest()
    rows = [_row("a"), _row("b"), _row("c"), _checked("d", digest, ok=False)]
    previous = {"points": [_checked("a", digest), _checked("b", "an older gateware"),
                           _checked("d", digest)]}
    bf.carry_rtl_checks(rows, previous)
    a, b, c, d = rows
    assert a["rtl_checked"] and a["rtl_frames"] == 3 and a["rtl_build_s"] == 600.0
    assert a["rtl"]["from_earlier_run"]
    assert b == _row("b") and c == _row("c")          # stale gateware, never checked
    assert d["rtl_checked"] is False and "from_earlier_run" not in d["rtl"]   # this run's


def test_only_replaces_its_points_and_keeps_the_others_in_order():
    old = [_row("a"), _row("b"), _row("c")]
    new = [_checked("b", "x"), _checked("z", "x")]
    assert bf._merged(old, new) == [_row("a"), new[0], _row("c"), new[1]]


def test_a_point_not_estimated_keeps_its_earlier_estimate():
    estimated = {**_row("a"), "LUT": 242_517, "fits": True, "share_LUT": 0.731}
    rows = [{**_row("a"), "LUT": None, "fits": None}, {**_row("b"), "LUT": None, "fits": None},
            {**_row("c"), "LUT": 1, "fits": False}]
    bf.carry_estimates(rows, {"points": [estimated, _row("b") | {"fits": None},
                                         {**_row("c"), "LUT": 2, "fits": True}]})
    a, b, c = rows
    assert a["LUT"] == 242_517 and a["fits"] is True and a["estimate_from_earlier_run"]
    assert b["fits"] is None and "estimate_from_earlier_run" not in b   # nothing to keep
    assert c["LUT"] == 1 and c["fits"] is False    # estimated in this run: its own figures


def test_rows_of_a_json_from_before_the_rtl_fields_read_as_unchecked():
    # frontier.json files written before --rtl existed have no rtl_* fields: merged
    # with --only they must neither stop the run nor count as checked.
    old_row = {k: v for k, v in _row("a").items() if k not in bf.NOT_RTL_CHECKED}
    rows = bf._merged([old_row], [_checked("b", "x")])
    bf.carry_rtl_checks(rows, {"points": [old_row]})
    assert rows[0] == _row("a") and rows[0]["rtl_checked"] is False


@pytest.mark.parametrize("argv, message", [
    (["--rtl", "pe7-k1-ch1-pe-g1"], "--rtl: no point pe7-k1-ch1-pe-g1 among --points"),
    (["--only", "pe7-k1-ch1-pe-g1"], "--only: no point pe7-k1-ch1-pe-g1 among --points"),
    (["--only", "pe32-k1-ch1-pe-g1", "--rtl", "pe64-k1-ch1-pe-g2"],
     "--rtl: every point checked must be among --only"),
    (["--rtl-frames", "1"], "--rtl-frames must be at least 2"),
])
def test_bad_rtl_options_stop_before_anything_runs(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        bf.main(argv)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
