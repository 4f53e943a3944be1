"""The golden model against a literal entry walk, written out here from
docs/contract.md (sections 1-3) rather than taken from ese_hw.model.golden, on random
small models, activations over the whole signed range and accumulators narrow enough to
wrap. tests/model/test_golden.py checks whole frames on chosen configurations; these
properties draw the configurations."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ese_hw.model.compress import Config
from ese_hw.model.encode import proj_split
from ese_hw.model.golden import GoldenModel, spmv, spmv_walk
from ese_hw.model.lstmp import random_weights
from ese_hw.model.quant import rshift_round, sat
from tests.property.strategies import compress_or_reject


def literal_walk(image, act, accum_bits, init=None):
    """For each PE, each column, each entry of that column: move the row position by
    index + 1 and multiply-accumulate weight x activation, wrapping the sum to
    ``accum_bits`` two's complement (Python integers, no numpy arithmetic)."""
    wb, ib = image.weight_bits, image.index_bits
    half, full = 1 << (accum_bits - 1), 1 << accum_bits
    acc = [[0] * image.local_rows for _ in range(image.n_pe)]
    if init is not None:
        acc = [[int(v) for v in row] for row in init]
    for p in range(image.n_pe):
        for j in range(image.n_cols):
            pos = -1
            for addr in range(int(image.ptr[p][j]), int(image.ptr[p][j + 1])):
                word = int(image.words[p][addr])
                weight = word % (1 << wb)
                if weight >= 1 << (wb - 1):
                    weight -= 1 << wb
                pos += (word >> wb) % (1 << ib) + 1
                acc[p][pos] = (acc[p][pos] + weight * int(act[j]) + half) % full - half
    return np.array(acc, dtype=np.int64)


@st.composite
def models(draw):
    n_in, n_cells, n_proj = (draw(st.integers(1, 8)) for _ in range(3))
    wb = draw(st.integers(4, 14))
    ab = draw(st.integers(6, 18))
    cfg = Config(n_pe=draw(st.integers(1, n_cells)),
                 density=draw(st.one_of(st.just(1.0), st.floats(0.1, 1.0))),
                 index_bits=draw(st.integers(2, 8)), weight_bits=wb, act_bits=ab,
                 accum_bits=draw(st.integers(wb + ab, 48)),
                 balance=draw(st.sampled_from(["pe", "column", "none"])),
                 lut_bits=draw(st.integers(4, 10)))
    weights = random_weights(n_in, n_cells, n_proj, seed=draw(st.integers(0, 999)))
    return compress_or_reject(weights, cfg)


def activations(n, bits):
    """``n`` activations of ``bits`` bits, with the extremes and zeros drawn often."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return st.lists(st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi, 0])),
                    min_size=n, max_size=n)


@given(models(), st.data())
def test_spmvs_equal_the_literal_walk(model, data):
    """Both golden SpMVs (vectorized and the library's walk) equal the literal walk,
    also with accumulators too narrow for the sums (they wrap alike)."""
    ab = model.config.act_bits
    for image in (model.gate, model.ym):
        act = data.draw(activations(image.n_cols, ab), label="activations")
        bits = data.draw(st.integers(2, 48), label="accumulator bits")
        init = data.draw(st.lists(st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1),
                                  min_size=image.n_pe * image.local_rows,
                                  max_size=image.n_pe * image.local_rows), label="init")
        init = np.array(init, np.int64).reshape(image.n_pe, image.local_rows)
        want = literal_walk(image, act, bits, init)
        np.testing.assert_array_equal(spmv(image, act, accum_bits=bits, init=init), want)
        np.testing.assert_array_equal(spmv_walk(image, act, accum_bits=bits, init=init), want)


@given(models(), st.data())
def test_golden_frame_equals_the_literal_walk(model, data):
    """One frame of the golden model, its SpMVs replaced by the literal walk and its
    rows placed by the contract's ownership: gate g of cell h is PE h mod N's local row
    4 (h // N) + g, bias preloaded there; projection row q is PE q mod N's row q // N, or,
    split over S = N // P PEs when N >= 2P, the sum of PEs q + jP's row 0 (j < S), wrapped
    to the accumulator width (docs/contract.md section 1)."""
    cfg, q = model.config, model.qformats
    n, h, n_proj = cfg.n_pe, model.n_cells, model.n_proj
    golden = GoldenModel(model)
    x = np.array(data.draw(activations(model.n_in, cfg.act_bits), label="x"), np.int64)
    y_prev = np.array(data.draw(activations(n_proj, cfg.act_bits), label="y_prev"), np.int64)
    c_prev = np.array(data.draw(activations(h, cfg.act_bits), label="c_prev"), np.int64)

    init = np.zeros((n, model.gate.local_rows), np.int64)
    for cell in range(h):
        for g in range(4):
            init[cell % n, 4 * (cell // n) + g] = model.bias[g, cell]
    acc = literal_walk(model.gate, list(x) + list(y_prev), cfg.accum_bits, init)
    gates = np.array([[acc[cell % n, 4 * (cell // n) + g] for cell in range(h)]
                      for g in range(4)])
    np.testing.assert_array_equal(golden.gate_accumulators(x, y_prev), gates)

    c, m = golden.elementwise(gates, c_prev)
    acc_y = literal_walk(model.ym, m, cfg.accum_bits)
    split = proj_split(n, n_proj)
    half, full = 1 << (cfg.accum_bits - 1), 1 << cfg.accum_bits

    def row_sum(j):
        if split == 1:
            return int(acc_y[j % n, j // n])
        total = sum(int(acc_y[j + k * n_proj, 0]) for k in range(split))
        return (total + half) % full - half

    y = [int(sat(rshift_round(row_sum(j), q["fw_y"] + q["fg"] - q["fa"]), cfg.act_bits))
         for j in range(n_proj)]
    np.testing.assert_array_equal(golden.project(m), y)
    y_run, trace = golden.run_quantized(x[None], (y_prev, c_prev), trace=True)
    np.testing.assert_array_equal(y_run[0], y)
    np.testing.assert_array_equal(trace["c"][0], c)
    assert np.all(np.abs(y_run) <= 1 << (cfg.act_bits - 1))
