"""Float LSTMP against an independent scalar computation and against PyTorch's equations."""

import math

import numpy as np
import pytest

from ese_hw.errors import EseError
from ese_hw.model.lstmp import WEIGHT_KEYS, LSTMPWeights, lstmp_float, random_weights
from ese_hw.model.stack import load_weights, save_weights


def _sig(z):
    return 1.0 / (1.0 + math.exp(-z))


def _scalar_lstmp(a, xs):
    """Plain-Python step-by-step LSTMP, written from docs/design.md section 1 with loops."""
    h, n_in = len(a["W_ix"]), len(a["W_ix"][0])
    n_proj = len(a["W_ym"])
    y, c = [0.0] * n_proj, [0.0] * h
    out = []
    for x in xs:
        def pre(g, k, x=x, y=y):
            s = a[f"b_{g}"][k]
            s += sum(a[f"W_{g}x"][k][j] * x[j] for j in range(n_in))
            s += sum(a[f"W_{g}r"][k][j] * y[j] for j in range(n_proj))
            return s
        new_c, m = [], []
        for k in range(h):
            i = _sig(pre("i", k) + a["W_ic"][k] * c[k])
            f = _sig(pre("f", k) + a["W_fc"][k] * c[k])
            g = math.tanh(pre("c", k))
            ck = f * c[k] + i * g
            o = _sig(pre("o", k) + a["W_oc"][k] * ck)
            new_c.append(ck)
            m.append(o * math.tanh(ck))
        c = new_c
        y = [sum(a["W_ym"][p][k] * m[k] for k in range(h)) for p in range(n_proj)]
        out.append(y)
    return np.array(out)


def test_hand_checkable_single_cell():
    # One input, one cell, one projection; every weight chosen so the numbers are easy.
    a = {k: np.zeros((1, 1)) if k.startswith("W_") and k[-1] in "xrm" else np.zeros(1)
         for k in WEIGHT_KEYS}
    a["W_cx"][0, 0] = 1.0          # g = tanh(x)
    a["b_i"][0] = 100.0            # i = 1
    a["b_f"][0] = -100.0           # f = 0
    a["b_o"][0] = 100.0            # o = 1
    a["W_ym"][0, 0] = 2.0
    w = LSTMPWeights.from_arrays(a)
    y = lstmp_float(w, np.array([[0.5], [-1.0]]))
    # c = tanh(x), m = tanh(tanh(x)), y = 2 m
    np.testing.assert_allclose(y[:, 0], 2 * np.tanh(np.tanh([0.5, -1.0])), rtol=1e-12)


def test_forget_gate_keeps_cell_state():
    a = {k: np.zeros((1, 1)) if k.startswith("W_") and k[-1] in "xrm" else np.zeros(1)
         for k in WEIGHT_KEYS}
    a["W_cx"][0, 0] = 1.0
    a["W_ix"][0, 0] = 100.0        # i = 1 when x > 0, 0 when x < 0
    a["b_f"][0] = 100.0            # f = 1: c accumulates
    a["b_o"][0] = 100.0
    a["W_ym"][0, 0] = 1.0
    w = LSTMPWeights.from_arrays(a)
    y = lstmp_float(w, np.array([[0.5], [0.5], [-0.5]]))
    c = np.cumsum([np.tanh(0.5), np.tanh(0.5), 0.0])
    np.testing.assert_allclose(y[:, 0], np.tanh(c), atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 4, 2), (5, 6, 3), (1, 2, 5)])
def test_matches_scalar_reference(shape):
    w = random_weights(*shape, seed=7)
    xs = np.random.default_rng(3).standard_normal((4, shape[0]))
    ref = _scalar_lstmp({k: w[k].tolist() for k in WEIGHT_KEYS}, xs.tolist())
    np.testing.assert_allclose(lstmp_float(w, xs), ref, rtol=1e-10, atol=1e-12)


def test_zero_peepholes_match_pytorch_equations():
    # nn.LSTM(proj_size=P): gates = W_ih x + b_ih + W_hh h + b_hh, chunked i, f, g, o;
    # c = f c + i g; h = W_hr (o * tanh(c)). Written independently with stacked weights.
    rng = np.random.default_rng(11)
    n_in, h, p = 5, 7, 3
    w_ih, w_hh = rng.normal(size=(4 * h, n_in)), rng.normal(size=(4 * h, p))
    b = rng.normal(size=4 * h)
    w_hr = rng.normal(size=(p, h))
    a = {}
    for k, g in enumerate("ifco"):
        a[f"W_{g}x"] = w_ih[k * h:(k + 1) * h]
        a[f"W_{g}r"] = w_hh[k * h:(k + 1) * h]
        a[f"b_{g}"] = b[k * h:(k + 1) * h]
    for g in "ifo":
        a[f"W_{g}c"] = np.zeros(h)
    a["W_ym"] = w_hr
    xs = rng.normal(size=(6, n_in))
    hh, cc, ref = np.zeros(p), np.zeros(h), []
    for x in xs:
        z = w_ih @ x + w_hh @ hh + b
        i, f, g, o = (z[k * h:(k + 1) * h] for k in range(4))
        cc = 1 / (1 + np.exp(-f)) * cc + 1 / (1 + np.exp(-i)) * np.tanh(g)
        hh = w_hr @ (1 / (1 + np.exp(-o)) * np.tanh(cc))
        ref.append(hh)
    np.testing.assert_allclose(lstmp_float(LSTMPWeights.from_arrays(a), xs), ref, rtol=1e-10)


def test_save_load_roundtrip(tmp_path):
    w = random_weights(4, 6, 3, seed=2)
    save_weights(tmp_path / "w.npz", w)
    w2 = load_weights(tmp_path / "w.npz")
    for k in WEIGHT_KEYS:
        np.testing.assert_array_equal(w2[k], w[k].astype(np.float32))


def test_random_weights_seeded():
    a, b = random_weights(8, 16, 4, seed=3), random_weights(8, 16, 4, seed=3)
    assert all(np.array_equal(a[k], b[k]) for k in WEIGHT_KEYS)
    assert not np.array_equal(a["W_ix"], random_weights(8, 16, 4, seed=4)["W_ix"])


@pytest.mark.parametrize("mutate, message", [
    (lambda a: a.pop("W_oc"), "missing key 'W_oc'"),
    (lambda a: a.update(W_fr=np.zeros((6, 4))), "W_fr has shape (6, 4), expected (6, 3)"),
    (lambda a: a["b_c"].__setitem__(0, np.nan), "b_c contains NaN or Inf"),
    (lambda a: a["W_ym"].__setitem__((0, 0), np.inf), "W_ym contains NaN or Inf"),
    (lambda a: a.update(extra=np.zeros(1)), "unexpected key 'extra'"),
])
def test_validation(mutate, message):
    a = {k: v.copy() for k, v in random_weights(4, 6, 3).arrays.items()}
    mutate(a)
    with pytest.raises(EseError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LSTMPWeights.from_arrays(a)
