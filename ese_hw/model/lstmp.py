"""Float LSTMP (Google's LSTM with peepholes and projection), weights I/O and defaults.

The model, docs/design.md section 1::

    i_t = sigmoid(W_ix x_t + W_ir y_{t-1} + W_ic * c_{t-1} + b_i)
    f_t = sigmoid(W_fx x_t + W_fr y_{t-1} + W_fc * c_{t-1} + b_f)
    g_t = tanh   (W_cx x_t + W_cr y_{t-1}                  + b_c)
    c_t = f_t * c_{t-1} + i_t * g_t
    o_t = sigmoid(W_ox x_t + W_or y_{t-1} + W_oc * c_t     + b_o)
    m_t = o_t * tanh(c_t)
    y_t = W_ym m_t
"""

from dataclasses import dataclass

import numpy as np

from ..errors import EseError
from .limits import LIMITS
from .lut import sigmoid

__all__ = [
    "GATES", "N_GATES", "PEEPHOLE_GATES", "MATRIX_KEYS", "VECTOR_KEYS", "WEIGHT_KEYS",
    "PLAIN_WEIGHT_KEYS",
    "LSTMPWeights", "random_weights", "lstmp_float", "check_inputs",
    "check_matrix_weights",
]

#: Gate order used everywhere (weights, accumulators, encoders): input, forget, cell, output.
GATES = ("i", "f", "c", "o")
#: Gates per cell: the gate rows of a cell, its biases, and the element-wise pass's reads.
N_GATES = len(GATES)
#: The gates with a diagonal peephole on the cell state (``W_ic``, ``W_fc``, ``W_oc``).
PEEPHOLE_GATES = ("i", "f", "o")
#: The nine sparse matrices, in the order the reports list them.
MATRIX_KEYS = tuple(f"W_{g}x" for g in GATES) + tuple(f"W_{g}r" for g in GATES) + ("W_ym",)
#: Dense vectors: the three diagonal peepholes and the four biases.
VECTOR_KEYS = tuple(f"W_{g}c" for g in PEEPHOLE_GATES) + tuple(f"b_{g}" for g in GATES)
WEIGHT_KEYS = MATRIX_KEYS + VECTOR_KEYS
#: The keys of a plain LSTM layer (no projection: ``y = m``).
PLAIN_WEIGHT_KEYS = tuple(k for k in WEIGHT_KEYS if k != "W_ym")


def _shape(key, n_in, n_cells, n_proj):
    if key.endswith("x"):
        return (n_cells, n_in)
    if key.endswith("r"):
        return (n_cells, n_proj)
    if key == "W_ym":
        return (n_proj, n_cells)
    return (n_cells,)


@dataclass(frozen=True)
class LSTMPWeights:
    """Float LSTMP weights: a mapping from the names in :data:`WEIGHT_KEYS` to arrays.

    Construct through :meth:`from_arrays` (which validates) or :func:`load_weights`.

    A plain LSTM layer (PyTorch's ``proj_size=0``) has no ``W_ym``: its output is
    ``y = m``, so ``W_{g}r`` are (H, H) and :attr:`n_proj` (the output size) is H.
    It is built with ``projection=False`` and has no identity matrix anywhere.
    """

    arrays: dict

    @classmethod
    def from_arrays(cls, arrays, *, source="weights", projection=True):
        """Validate names, shapes and values; return float64 copies.

        ``projection=False`` is a plain LSTM layer: ``W_ym`` must be absent and the
        recurrent matrices square. Raises :class:`EseError` naming the first problem.
        """
        keys = WEIGHT_KEYS if projection else PLAIN_WEIGHT_KEYS
        missing = [k for k in keys if k not in arrays]
        if missing:
            raise EseError(f"{source}: missing key {missing[0]!r}")
        extra = sorted(set(arrays) - set(keys))
        if extra:
            raise EseError(f"{source}: unexpected key {extra[0]!r}"
                           + ("" if projection else " (a layer without projection)"))
        w_ix = np.asarray(arrays["W_ix"])
        w_ir = np.asarray(arrays["W_ir"])
        if w_ix.ndim != 2 or w_ir.ndim != 2:
            raise EseError(f"{source}: W_ix and W_ir must be 2-D")
        n_cells, n_in = w_ix.shape
        n_proj = w_ir.shape[1] if projection else n_cells
        if min(n_cells, n_in, n_proj) < 1:
            raise EseError(f"{source}: empty dimension in W_ix {w_ix.shape} / W_ir {w_ir.shape}")
        out = {}
        for key in keys:
            a = np.asarray(arrays[key])
            want = _shape(key, n_in, n_cells, n_proj)
            if a.shape != want:
                raise EseError(f"{source}: {key} has shape {a.shape}, expected {want}")
            if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
                raise EseError(f"{source}: {key} has non-real dtype {a.dtype}")
            a = a.astype(np.float64)
            if not np.all(np.isfinite(a)):
                raise EseError(f"{source}: {key} contains NaN or Inf")
            out[key] = a
        return cls(out)

    def __getitem__(self, key):
        return self.arrays[key]

    @property
    def has_projection(self):
        """False for a plain LSTM layer (``y = m``, no ``W_ym``)."""
        return "W_ym" in self.arrays

    @property
    def keys(self):
        """The weight names this layer holds (:data:`WEIGHT_KEYS` or without ``W_ym``)."""
        return WEIGHT_KEYS if self.has_projection else PLAIN_WEIGHT_KEYS

    @property
    def matrix_keys(self):
        """The sparse matrices this layer holds (nine, or eight without ``W_ym``)."""
        return MATRIX_KEYS if self.has_projection else MATRIX_KEYS[:8]

    @property
    def n_in(self):
        return self.arrays["W_ix"].shape[1]

    @property
    def n_cells(self):
        return self.arrays["W_ix"].shape[0]

    @property
    def n_proj(self):
        """The output size: P with a projection, H without."""
        return self.arrays["W_ir"].shape[1]

    def replace(self, **arrays):
        """A copy with some arrays replaced (validated again)."""
        return LSTMPWeights.from_arrays({**self.arrays, **arrays},
                                        projection=self.has_projection)



def random_weights(n_in=153, n_cells=1024, n_proj=512, *, seed=0):
    """Seeded random weights of a realistic scale (Glorot-like), for demos and tests.

    Gate matrices ~ N(0, 1/(I+P)) scaled so that pruning to ~11 % leaves
    pre-activations of order 1; forget bias +1 (the usual initialisation);
    peepholes ~ N(0, 0.1); W_ym ~ N(0, 1/H) scaled likewise.
    """
    for name, v in (("input", n_in), ("cells", n_cells), ("proj", n_proj)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise EseError(f"{name} must be a positive integer, got {v!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise EseError(f"seed must be a non-negative integer, got {seed!r}")
    check_matrix_weights(n_in, n_cells, n_proj)
    rng = np.random.default_rng(seed)
    a = {}
    scale_g = 2.0 / np.sqrt(n_in + n_proj)
    for g in GATES:
        a[f"W_{g}x"] = rng.normal(0, scale_g, (n_cells, n_in))
        a[f"W_{g}r"] = rng.normal(0, scale_g, (n_cells, n_proj))
    for g in ("i", "f", "o"):
        a[f"W_{g}c"] = rng.normal(0, 0.1, n_cells)
    for g in GATES:
        a[f"b_{g}"] = rng.normal(0, 0.1, n_cells)
    a["b_f"] += 1.0
    a["W_ym"] = rng.normal(0, 2.0 / np.sqrt(n_cells), (n_proj, n_cells))
    return LSTMPWeights.from_arrays(a)


def check_matrix_weights(n_in, n_cells, n_proj):
    """Refuse (:class:`EseError`) a shape with more matrix weights than
    ``LIMITS["matrix_weights"]`` allows, naming the shape and the count."""
    count = 4 * n_cells * (n_in + n_proj) + n_proj * n_cells
    limit = LIMITS["matrix_weights"].hi
    if count > limit:
        raise EseError(f"{n_in} inputs, {n_cells} cells, {n_proj} projections make "
                       f"{count:,} matrix weights, more than the {limit:,} supported")


def check_inputs(x, n_in, *, source="inputs"):
    """Validate a (T, I) float input sequence; return it as float64."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != n_in:
        raise EseError(f"{source}: shape {x.shape}, expected (T, {n_in})")
    if x.shape[0] < 1:
        raise EseError(f"{source}: no frames")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise EseError(f"{source}: non-real dtype {x.dtype}")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise EseError(f"{source}: contains NaN or Inf")
    return x


def lstmp_float(w, x, *, return_state=False):
    """Run the float LSTMP over ``x`` (T, I) from zero state; return y (T, P).

    A plain layer (no ``W_ym``) returns ``y = m`` (T, H).

    With ``return_state``, also return the cell states c (T, H) (for calibration).
    """
    x = check_inputs(x, w.n_in)
    # Weights or inputs near the float maximum overflow the sums; sigmoid and tanh
    # saturate, so the outputs may still be finite. Numpy's warnings would be stray
    # stderr lines: silenced here, and outputs that are not finite refused below.
    with np.errstate(over="ignore", invalid="ignore"):
        ys, cs = _lstmp_frames(w, x)
    if not (np.all(np.isfinite(ys)) and np.all(np.isfinite(cs))):
        raise EseError(f"the float LSTMP overflows (max |weight| {_max_abs(w):.3g}, max "
                       f"|input| {np.abs(x).max():.3g}): its outputs are not finite")
    if return_state:
        return ys, cs
    return ys


def _max_abs(w):
    return max(float(np.abs(w[k]).max()) for k in w.keys)


def _lstmp_frames(w, x):
    wx = np.concatenate([w[f"W_{g}x"] for g in GATES])          # (4H, I)
    wr = np.concatenate([w[f"W_{g}r"] for g in GATES])          # (4H, P)
    b = np.concatenate([w[f"b_{g}"] for g in GATES])
    h = w.n_cells
    y = np.zeros(w.n_proj)
    c = np.zeros(h)
    ys, cs = [], []
    gx = x @ wx.T                                                 # all frames at once
    for t in range(x.shape[0]):
        z = gx[t] + wr @ y + b
        i = sigmoid(z[0:h] + w["W_ic"] * c)
        f = sigmoid(z[h:2 * h] + w["W_fc"] * c)
        g = np.tanh(z[2 * h:3 * h])
        c = f * c + i * g
        o = sigmoid(z[3 * h:] + w["W_oc"] * c)
        m = o * np.tanh(c)
        y = w["W_ym"] @ m if w.has_projection else m
        ys.append(y)
        cs.append(c)
    return np.array(ys), np.array(cs)
