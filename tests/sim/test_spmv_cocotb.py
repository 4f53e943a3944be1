"""The generated Verilog of the SpMV PE array, on Icarus and on Verilator, against the golden model.

Each parameter set is generated and built once per simulator (builds are the expensive
part); one build then runs a whole session through ``sim.tb_spmv``: several SpMVs on
an elaboration-time (or loaded) image, a reload of a different image through the
``load`` stream, and more SpMVs on it. Covered: PE counts 1/2/4/8, index widths 4 and 6,
padding entries (gaps longer than ``2**index_bits`` rows), empty columns, a PE with an
empty column while others are busy, all-zero activations, the largest and smallest
weights and activations, an accumulator just wide enough to wrap, and seeded random
stalls on ``load``, ``act`` and ``result``.

Cycles (``start`` -> ``done``) are compared with ``spmv_cycles`` only on runs whose
``act`` stream is always valid -- the cycle model assumes that; runs with ``act``
stalls check the results only. The testbench asserts agreement within 2 %; the driver
then also requires the exact count, since the cycle model claims cycle-exactness.
"""

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ese_hw.gateware.spmv import SpMV
from ese_hw.model.encode import encode_spmv, split_rows
from ese_hw.model.golden import spmv
from ese_hw.simtools import SIMULATORS, generate_verilog, run_cocotb, simulator_available
from sim.tb_spmv import read_tb_out, spmv_tb_data

BUILD_ROOT = Path(__file__).resolve().parents[2] / "build" / "sim"


@dataclass(frozen=True)
class Case:
    name: str
    n_pe: int
    index_bits: int
    weight_bits: int = 8
    act_bits: int = 10
    accum_bits: int = 24
    queue_depth: int = 4
    rows: int = 20           # local rows per PE (the last PE gets one fewer)
    cols: int = 24
    density: float = 0.15
    init: bool = True        # image A at elaboration time (else loaded first)
    wrap: bool = False       # extreme values everywhere, accumulator wraps


# Every PE count in {1, 2, 4, 8} with both index widths 4 and 6.
CASES = [
    Case("pe1_ib4", n_pe=1, index_bits=4, queue_depth=2),
    Case("pe1_ib6", n_pe=1, index_bits=6, queue_depth=8, rows=80, density=0.05),
    Case("pe2_ib4", n_pe=2, index_bits=4, queue_depth=1, cols=16, density=0.3),
    Case("pe2_ib6", n_pe=2, index_bits=6, queue_depth=4, rows=70, density=0.08),
    Case("pe4_ib4", n_pe=4, index_bits=4, queue_depth=8, cols=32),
    Case("pe4_ib6", n_pe=4, index_bits=6, queue_depth=3, rows=70, cols=16, density=0.1),
    Case("pe8_ib4", n_pe=8, index_bits=4, queue_depth=16, rows=24, cols=20, density=0.2),
    Case("pe8_ib6", n_pe=8, index_bits=6, queue_depth=2, rows=70, cols=20, density=0.06),
    Case("pe2_ib4_wrap", n_pe=2, index_bits=4, weight_bits=6, act_bits=5, accum_bits=11,
         queue_depth=1, rows=20, cols=16, density=0.5, init=False, wrap=True),
]


def _matrix(rng, case, *, rows, cols, density):
    """Random (n_pe * rows - 1, cols) integer matrix with padding gaps and empty columns."""
    wb = case.weight_bits
    lo, hi = -(1 << (wb - 1)), (1 << (wb - 1)) - 1
    n_rows = case.n_pe * rows - (1 if case.n_pe > 1 else 0)
    w = rng.integers(lo, hi + 1, size=(n_rows, cols))
    if case.wrap:
        w = np.where(rng.random(w.shape) < 0.6, lo, w)
        w[:, 0] = lo                               # a full column of the most negative
        w[0, :] = lo                               # ... and a full row: wraps many times
    w[rng.random(w.shape) >= density] = 0
    w[:, 1] = 0                                    # empty in every PE
    w[:, cols - 1] = 0                             # empty last column
    # Long gap: in column 2 only the last row of PE 0's local rows (padding entries).
    w[:, 2] = 0
    w[case.n_pe * (rows - 1), 2] = hi
    # Column 3: only PE 0 has entries (the others see an empty column).
    w[:, 3] = 0
    w[0::case.n_pe, 3][: rows // 2] = lo
    return w


def _acts(rng, case, n):
    lo, hi = -(1 << (case.act_bits - 1)), (1 << (case.act_bits - 1)) - 1
    rand = rng.integers(lo, hi + 1, size=n)
    rand[rng.random(n) < 0.25] = 0
    extreme = np.where(rng.random(n) < 0.5, lo, hi)
    extreme[rng.random(n) < 0.2] = 0
    sparse = rng.integers(lo, hi + 1, size=n)
    sparse[rng.random(n) < 0.7] = 0
    return {"random": rand, "zero": np.zeros(n, np.int64), "extreme": extreme,
            "all_lo": np.full(n, lo), "sparse": sparse}


def make_session(case, seed=0):
    """(dut, data, info): the DUT and a session of loads and runs for one case."""
    rng = np.random.default_rng([seed, case.n_pe, case.index_bits, case.wrap])
    wb, ib = case.weight_bits, case.index_bits
    img_a = encode_spmv(split_rows(_matrix(rng, case, rows=case.rows, cols=case.cols,
                                           density=case.density), case.n_pe),
                        index_bits=ib, weight_bits=wb)
    # Image B: fewer columns and rows, another density (stale words of A stay behind).
    img_b = encode_spmv(split_rows(_matrix(rng, case, rows=case.rows - 3, cols=case.cols - 5,
                                           density=case.density * 1.5), case.n_pe),
                        index_bits=ib, weight_bits=wb)
    assert img_a.padding_per_pe.max() > 0, "no padding entries: the gap is too short"
    entry_depth = int(max(img_a.entries_per_pe.max(), img_b.entries_per_pe.max())) + 4
    dut = SpMV(n_pe=case.n_pe, weight_bits=wb, index_bits=ib, act_bits=case.act_bits,
               accum_bits=case.accum_bits, queue_depth=case.queue_depth,
               entry_depth=entry_depth, n_cols_max=case.cols + 1, local_rows=case.rows + 1,
               init=img_a if case.init else None)
    acts_a = _acts(rng, case, img_a.n_cols)
    acts_b = _acts(rng, case, img_b.n_cols)
    phases = [
        {"image": img_a, "load": not case.init, "runs": [
            {"act": acts_a["random"], "res_stall": 0.3},
            {"act": acts_a["zero"], "res_stall": 0.3},
            {"act": acts_a["extreme"], "res_stall": 0.2},
            {"act": acts_a["sparse"], "act_idle": 0.4, "res_stall": 0.4},   # correctness only
            {"act": acts_a["all_lo"], "res_stall": 0.0},
        ]},
        {"image": img_b, "load": True, "runs": [
            {"act": acts_b["random"], "act_idle": 0.3, "res_stall": 0.5},   # correctness only
            {"act": acts_b["extreme"], "res_stall": 0.3},
        ]},
    ]
    data, info = spmv_tb_data(dut, phases, accum_bits=case.accum_bits,
                              queue_depth=case.queue_depth, load_idle=0.3)
    digest = hashlib.sha256(b"".join(
        np.ascontiguousarray(a).tobytes() for a in (*img_a.words, img_a.ptr))).hexdigest()[:12]
    key = {**case.__dict__, "entry_depth": entry_depth,
           "image": digest if case.init else None}
    if case.wrap:     # the session must really overflow the accumulator
        wide = [spmv(img_a, r["act"], accum_bits=64) for r in phases[0]["runs"]]
        assert any(np.any(np.abs(x) >= 1 << (case.accum_bits - 1)) for x in wide)
    return dut, data, info, key


_VERILOG = {}


def _verilog(case):
    """Generate once per parameter set (shared by both simulators)."""
    if case.name not in _VERILOG:
        dut, data, info, key = make_session(case)
        digest = hashlib.sha256(repr(sorted(key.items())).encode()).hexdigest()[:12]
        vdir = BUILD_ROOT / "verilog" / f"spmv-{digest}"
        _VERILOG[case.name] = (generate_verilog(dut, "spmv", vdir), data, info, key)
    return _VERILOG[case.name]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("sim", SIMULATORS)
def test_spmv_rtl_vs_golden(sim, case, request):
    if not simulator_available(sim):
        pytest.skip(f"{sim} is not installed")
    t0 = time.perf_counter()
    verilog, data, info, key = _verilog(case)
    t1 = time.perf_counter()
    result = run_cocotb(sim, [verilog], "spmv", "sim.tb_spmv", BUILD_ROOT, key=key,
                        data=data, seed=1234)
    assert result.tests == ["test_spmv_golden"]
    out = read_tb_out(result.build_dir)
    assert len(out["cycles"]) == len(info)
    for r, (got, want) in enumerate(zip(out["cycles"], info, strict=True)):
        if want["check_cycles"]:
            assert got == want["cycles"]["cycles"], (
                f"run {r}: RTL {got} cycles start -> done, cycle model "
                f"{want['cycles']['cycles']}")
    timing = {"verilog_s": round(t1 - t0, 2), "build_s": round(result.build_seconds, 2),
              "test_s": round(result.test_seconds, 2), "sim_cycles": out["sim_cycles"]}
    request.node.user_properties.append(("timing", timing))
    print(f"{sim} {case.name}: {timing}")


@pytest.mark.parametrize("corrupt", ["result", "cycles"])
def test_testbench_catches_mismatch(corrupt):
    """One wrong golden value, or a cycle count 5 % off, must fail the cocotb test."""
    if not simulator_available("icarus"):
        pytest.skip("icarus is not installed")
    verilog, data, info, key = _verilog(CASES[0])
    data = dict(data)
    if corrupt == "result":
        data["expected"] = data["expected"].copy()
        data["expected"][-3] += 1                 # last run, a late word
    else:
        data["exp_cycles"] = data["exp_cycles"].copy()
        data["exp_cycles"][0] = int(data["exp_cycles"][0] * 1.05) + 1
    with pytest.raises(AssertionError, match="test_spmv_golden"):
        run_cocotb("icarus", [verilog], "spmv", "sim.tb_spmv", BUILD_ROOT,
                   key={**key, "corrupt": corrupt}, data=data, seed=1234)
