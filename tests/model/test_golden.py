"""The golden model: bit-exact against the literal entry walk, bounded error against float."""

import numpy as np
import pytest

from ese_hw.errors import EseError
from ese_hw.model.compress import (
    Config,
    compress,
    compress_stack,
    dropped_column_warnings,
    load_compressed,
)
from ese_hw.model.encode import encode_spmv, split_rows
from ese_hw.model.golden import GoldenModel, spmv, spmv_walk
from ese_hw.model.lstmp import GATES, lstmp_float, random_weights
from ese_hw.model.lut import lut_index, make_lut
from ese_hw.model.quant import frac_bits_for, quantize, rshift_round, sat, wrap


def test_quant_primitives():
    assert rshift_round(5, 1) == 3 and rshift_round(-5, 1) == -2     # half up
    assert rshift_round(3, -2) == 12 and rshift_round(7, 0) == 7
    assert sat(40000, 16) == 32767 and sat(-40000, 16) == -32768
    assert wrap(2**15, 16) == -2**15 and wrap(-2**15 - 1, 16) == 2**15 - 1
    np.testing.assert_array_equal(quantize([0.5, -0.5, 1.0, -9.0], 2, 4), [2, -2, 4, -8])
    f = frac_bits_for(1.5, 12)
    assert quantize(1.5, f, 12) <= 2047 and quantize(1.5, f + 1, 12) == 2047
    assert np.floor(1.5 * 2.0 ** (f + 1) + 0.5) > 2047


def test_lut_tables_and_index():
    sig = make_lut("sigmoid", lut_bits=6, range_log2=2, out_bits=16)
    tanh = make_lut("tanh", lut_bits=6, range_log2=2, out_bits=16)
    centres = -4 + (np.arange(64) + 0.5) / 8
    np.testing.assert_allclose(sig / 2**15, 1 / (1 + np.exp(-centres)), atol=2**-15)
    np.testing.assert_allclose(tanh / 2**15, np.tanh(centres), atol=2**-15)
    assert tanh.max() <= 2**15 - 1 and np.all(np.diff(sig) >= 0)
    # value 0.0 with 10 fractional bits sits in bin 32; -4 in bin 0; saturates beyond.
    assert lut_index(0, 10, lut_bits=6, range_log2=2) == 32
    assert lut_index(-4 * 2**10, 10, lut_bits=6, range_log2=2) == 0
    assert lut_index(-2**20, 10, lut_bits=6, range_log2=2) == 0
    assert lut_index(2**20, 10, lut_bits=6, range_log2=2) == 63
    assert lut_index(2**10 // 8 - 1, 10, lut_bits=6, range_log2=2) == 32   # floor
    assert lut_index(1, 0, lut_bits=6, range_log2=2) == 40                  # left shift


@pytest.mark.parametrize("ib", [2, 4, 6])
@pytest.mark.parametrize("n_pe", [1, 3, 8])
def test_vectorized_spmv_equals_entry_walk(ib, n_pe):
    rng = np.random.default_rng(ib + 10 * n_pe)
    w = rng.integers(-2048, 2048, (n_pe * 20 + 1, 37))
    w[rng.random(w.shape) > 0.15] = 0
    w[:, 5] = 0
    img = encode_spmv(split_rows(w, n_pe), index_bits=ib, weight_bits=12)
    act = rng.integers(-2**15, 2**15, 37)
    act[[0, 9, 10]] = 0
    act[1] = -2**15
    init = rng.integers(-2**20, 2**20, (n_pe, img.local_rows))
    for bits in (48, 26):                                  # 26 bits: the sums wrap
        ref = spmv_walk(img, act, accum_bits=bits, init=init)
        np.testing.assert_array_equal(spmv(img, act, accum_bits=bits, init=init), ref)
    dense = w @ act
    got = spmv(img, act, accum_bits=48)
    for p in range(n_pe):
        np.testing.assert_array_equal(got[p, :len(dense[p::n_pe])], dense[p::n_pe])


def _proj_sum(model, accy, j):
    """Row ``j`` of ``W_ym m`` from the PEs' projection accumulators: PE ``j % n``'s local
    row ``j // n``, or, when each row is split over S PEs (one row per PE), the sum of
    PEs ``j, j + P, ..., j + (S-1) P``."""
    n, p_ = model.config.n_pe, model.n_proj
    if model.ym.rows_per_pe.sum() == p_:
        return int(accy[j % n, j // n])
    s = n // p_
    assert model.ym.rows_per_pe.tolist() == [1] * (s * p_) + [0] * (n - s * p_)
    total = sum(int(accy[q, 0]) for q in range(j, s * p_, p_))
    return (total + (1 << (model.config.accum_bits - 1))) % (1 << model.config.accum_bits) \
        - (1 << (model.config.accum_bits - 1))


def _walk_lstmp(model, x_q):
    """Frame loop built from spmv_walk and scalar per-cell maths (no shared vector code)."""
    cfg, q = model.config, model.qformats
    n, h, p_ = cfg.n_pe, model.n_cells, model.n_proj
    sig = make_lut("sigmoid", lut_bits=cfg.lut_bits, range_log2=cfg.lut_range_log2,
                   out_bits=cfg.act_bits)
    tnh = make_lut("tanh", lut_bits=cfg.lut_bits, range_log2=cfg.lut_range_log2,
                   out_bits=cfg.act_bits)

    def idx(v, f):
        s = f - (cfg.lut_bits - 1 - cfg.lut_range_log2)
        i = (v >> s if s >= 0 else v << -s) + (1 << (cfg.lut_bits - 1))
        return min(max(i, 0), (1 << cfg.lut_bits) - 1)

    def rr(v, s):
        return (v + (1 << (s - 1))) >> s if s > 0 else v << -s

    def st(v):
        return min(max(v, -(1 << (cfg.act_bits - 1))), (1 << (cfg.act_bits - 1)) - 1)

    a_f = q["fw_g"] + q["fa"]
    fg, fc, fp = q["fg"], q["fc"], q["fp"]
    lr = model.gate.local_rows
    y, c = [0] * p_, [0] * h
    out = []
    for x in x_q:
        init = np.zeros((n, lr), dtype=np.int64)
        for k in range(h):
            for g in range(4):
                init[k % n, 4 * (k // n) + g] = model.bias[g, k]
        acc = spmv_walk(model.gate, list(x) + y, accum_bits=cfg.accum_bits, init=init)
        m = []
        for k in range(h):
            ai, af, ac, ao = (int(acc[k % n, 4 * (k // n) + g]) for g in range(4))
            pi, pf, po = (int(model.peep[j, k]) for j in range(3))
            i = int(sig[idx(ai + rr(pi * c[k], fp + fc - a_f), a_f)])
            f = int(sig[idx(af + rr(pf * c[k], fp + fc - a_f), a_f)])
            g = int(tnh[idx(ac, a_f)])
            c[k] = st(rr(f * c[k], fg) + rr(i * g, 2 * fg - fc))
            o = int(sig[idx(ao + rr(po * c[k], fp + fc - a_f), a_f)])
            m.append(st(rr(o * int(tnh[idx(c[k], fc)]), fg)))
        accy = spmv_walk(model.ym, m, accum_bits=cfg.accum_bits)
        y = [st(rr(_proj_sum(model, accy, j), q["fw_y"] + fg - q["fa"])) for j in range(p_)]
        out.append(y)
    return np.array(out)


@pytest.mark.parametrize("cfg", [
    Config(n_pe=4, density=0.25, index_bits=4),
    Config(n_pe=3, density=0.4, index_bits=2, weight_bits=8, act_bits=12, accum_bits=30),
    Config(n_pe=1, density=1.0, index_bits=6, balance="none"),
    Config(n_pe=2, density=0.2, index_bits=3, balance="column", lut_bits=8),
    # More PEs than W_ym's 8 rows: each row split over 2 PEs (18 PEs: two without a part).
    Config(n_pe=16, density=0.3, index_bits=4),
    Config(n_pe=18, density=0.3, index_bits=3, balance="column"),
])
def test_golden_model_equals_scalar_walk(cfg):
    w = random_weights(16, 20, 8, seed=cfg.n_pe)
    model = compress(w, cfg)
    g = GoldenModel(model)
    x_q = g.quantize_inputs(np.random.default_rng(0).standard_normal((6, 16)) * 2)
    np.testing.assert_array_equal(g.run_quantized(x_q), _walk_lstmp(model, x_q))


def test_golden_error_against_float_at_paper_shape():
    """The figure quoted in the README and docs/measured.md: 32 PEs, density 0.112,
    12-bit weights, 16-bit acts."""
    w = random_weights(153, 1024, 512, seed=0)
    model = compress(w, Config(n_pe=32, density=0.112, weight_bits=12, act_bits=16))
    x = np.random.default_rng(5).standard_normal((50, 153))
    err = np.abs(GoldenModel(model).run(x) - lstmp_float(model.float_weights, x))
    # Measured: max 0.0050, mean 0.00090 (outputs' mean |y| is 0.26). Flooring instead of
    # rounding the shifts gives 0.0079 / 0.00122; a LUT one bin off gives 0.049 / 0.0083.
    assert err.max() < 0.0065
    assert err.mean() < 0.0011
    assert model.stats["pe_nnz_max"] - model.stats["pe_nnz_min"] <= 1


def test_state_carries_over_frames():
    model = compress(random_weights(8, 12, 6, seed=3), Config(n_pe=2, density=0.5))
    g = GoldenModel(model)
    x_q = g.quantize_inputs(np.random.default_rng(1).standard_normal((8, 8)))
    whole = g.run_quantized(x_q)
    _, trace = g.run_quantized(x_q[:4], trace=True)
    state = (whole[3], trace["c"][3])
    np.testing.assert_array_equal(g.run_quantized(x_q[4:], state), whole[4:])
    assert not np.array_equal(g.run_quantized(x_q[4:]), whole[4:])


@pytest.mark.parametrize("n_pe", [4, 12])
def test_save_load_keeps_everything(tmp_path, n_pe):
    """Also with W_ym's 6 rows split over 12 PEs (nothing more is stored)."""
    model = compress(random_weights(8, 12, 6, seed=3), Config(n_pe=n_pe, density=0.3))
    model.save(tmp_path / "m.npz")
    back = load_compressed(tmp_path / "m.npz")
    assert back.config == model.config and back.qformats == model.qformats
    assert back.stats == model.stats
    for k, v in model.quantized_matrices().items():
        np.testing.assert_array_equal(back.quantized_matrices()[k], v)
    x = np.random.default_rng(2).standard_normal((5, 8))
    np.testing.assert_array_equal(GoldenModel(back).run(x), GoldenModel(model).run(x))


@pytest.mark.parametrize("n_pe", [4, 12])
def test_quantized_matrices_are_the_pruned_weights(n_pe):
    w = random_weights(8, 12, 6, seed=3)
    model = compress(w, Config(n_pe=n_pe, density=0.3))
    q = model.qformats
    for k, m in model.quantized_matrices().items():
        f = q["fw_y"] if k == "W_ym" else q["fw_g"]
        np.testing.assert_array_equal(m, quantize(model.float_weights[k], f, 12))


def test_unsplit_projection_files_still_load_and_run(tmp_path):
    """A model whose W_ym rows sit one per PE although the PEs outnumber them (as files
    written before the split hold them) loads and runs: its layout is told apart by its
    rows per PE, and the golden model equals the scalar walk. The split keeps the whole
    density where the unsplit layout keeps the rows' share; a row layout that is
    neither is refused."""
    w = random_weights(8, 12, 4, seed=3)
    cfg = Config(n_pe=12, density=0.3)
    old = compress(w, cfg, split_projection=False)
    assert old.ym.rows_per_pe.tolist() == [1] * 4 + [0] * 8
    old.save(tmp_path / "old.npz")
    back = load_compressed(tmp_path / "old.npz")
    np.testing.assert_array_equal(back.ym.rows_per_pe, old.ym.rows_per_pe)
    np.testing.assert_array_equal(back.quantized_matrices()["W_ym"],
                                  old.quantized_matrices()["W_ym"])
    g = GoldenModel(back)
    x_q = g.quantize_inputs(np.random.default_rng(4).standard_normal((5, 8)))
    np.testing.assert_array_equal(g.run_quantized(x_q), _walk_lstmp(back, x_q))
    new = compress(w, cfg)
    assert new.ym.rows_per_pe.tolist() == [1] * 12
    assert new.stats["matrices"]["W_ym"]["nnz"] == round(0.3 * 4 * 12)
    assert old.stats["matrices"]["W_ym"]["nnz"] < new.stats["matrices"]["W_ym"]["nnz"]
    arrays = dict(np.load(tmp_path / "old.npz"))
    arrays["ym_rows"] = np.array([2, 1, 1] + [0] * 9)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(EseError, match="ym row split is neither"):
        load_compressed(tmp_path / "bad.npz")


def test_padding_at_paper_shape_shrinks_with_index_bits():
    w = random_weights(153, 1024, 512, seed=0)
    pad = [compress(w, Config(index_bits=b)).stats["padding_fraction"] for b in (4, 5, 6)]
    # Measured 11.1 %, 1.41 %, 0.023 % of all entries (docs/design.md section 2: ~15 %, 1.7 %,
    # 0.02 % of non-zeros for a random mask).
    assert 0.08 < pad[0] < 0.16 and 0.008 < pad[1] < 0.025 and pad[2] < 0.001


def test_accumulator_too_narrow_is_refused():
    with pytest.raises(EseError, match="accumulator bits"):
        compress(random_weights(16, 20, 8), Config(n_pe=2, density=0.5, accum_bits=28))


def test_bias_goes_into_gate_accumulators():
    model = compress(random_weights(4, 6, 3, seed=1), Config(n_pe=2, density=0.5))
    g = GoldenModel(model)
    acc = g.gate_accumulators(np.zeros(4, np.int64), np.zeros(3, np.int64))
    np.testing.assert_array_equal(acc, model.bias)
    assert [GATES[k] for k in range(4)] == ["i", "f", "c", "o"]


def test_run_channels_resets_restart_from_zero_state():
    model = compress(random_weights(8, 12, 6, seed=3), Config(n_pe=2, density=0.5))
    g = GoldenModel(model)
    x_q = np.stack([g.quantize_inputs(np.random.default_rng(s).standard_normal((6, 8)))
                    for s in (1, 2)])
    resets = np.zeros((6, 2), bool)
    resets[4, 1] = True
    y, tr = g.run_channels(x_q, resets, trace=True)
    np.testing.assert_array_equal(y[0], g.run_quantized(x_q[0]))
    np.testing.assert_array_equal(y[1, :4], g.run_quantized(x_q[1, :4]))
    np.testing.assert_array_equal(y[1, 4:], g.run_quantized(x_q[1, 4:]))
    assert tr["m"].shape == (2, 6, 12) and tr["c"].shape == (2, 6, 12)


def test_split_projection_column_balance_warns_with_one_row_per_part():
    """Column balance on a split W_ym (12 PEs, 4 rows: each PE a part of one row) keeps
    the same columns in every part; the dropped-column warning names that one row (it
    said 0 rows per PE, rows // n_pe, before it knew the split)."""
    stack = compress_stack([random_weights(8, 12, 4, seed=3)],
                           Config(n_pe=12, density=0.3, balance="column"))
    lines = [line for line in dropped_column_warnings(stack) if line.startswith("W_ym:")]
    assert len(lines) == 1 and "9 of 12 columns" in lines[0] and "0.3 x 1)" in lines[0]
