"""The bit-exact golden model: integer LSTMP run from the encoded memory images.

Every number here follows docs/contract.md; the gateware must produce the
same bits. Two implementations of the sparse matrix-vector product are kept:
:func:`spmv_walk`, a literal entry-by-entry walk of every PE's memories (the
reference, slow), and :func:`spmv`, the vectorized one used for real runs; a
test holds them equal.
"""

import numpy as np

from ..errors import EseError
from .compress import CompressedModel, CompressedStack
from .encode import entry_table, ym_row_index
from .lstmp import N_GATES, check_inputs
from .lut import lut_index, make_lut
from .quant import quantize, rshift_round, sat, wrap

__all__ = ["spmv", "spmv_walk", "SpmvPlan", "GoldenModel", "GoldenStack"]


def spmv_walk(image, act, *, accum_bits, init=None):
    """Entry-by-entry walk, PE by PE, column by column, exactly as the hardware reads memory.

    Returns (n_pe, local_rows) accumulators (int64, wrapped to ``accum_bits``).
    """
    act = [int(a) for a in act]
    wb, ib = image.weight_bits, image.index_bits
    acc = np.zeros((image.n_pe, image.local_rows), dtype=object)
    if init is not None:
        acc[:] = np.asarray(init, dtype=np.int64).astype(object)
    half, mod = 1 << (accum_bits - 1), 1 << accum_bits
    for p in range(image.n_pe):
        words = [int(w) for w in image.words[p]]
        for j in range(image.n_cols):
            a = act[j]
            if a == 0:                       # zero-activation skipping
                continue
            pos = -1
            for addr in range(int(image.ptr[p, j]), int(image.ptr[p, j + 1])):
                word = words[addr]
                w = word & ((1 << wb) - 1)
                if w >= 1 << (wb - 1):
                    w -= 1 << wb
                pos += ((word >> wb) & ((1 << ib) - 1)) + 1
                acc[p, pos] = (acc[p, pos] + w * a + half) % mod - half
    return acc.astype(np.int64)


class SpmvPlan:
    """Vectorized SpMV over one image: entries pre-sorted by destination accumulator."""

    def __init__(self, image):
        self.image = image
        rows, cols, ws = [], [], []
        lr = image.local_rows
        for p in range(image.n_pe):
            r, c, w = entry_table(image, p)
            rows.append(p * lr + r)
            cols.append(c)
            ws.append(w)
        dest = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        order = np.argsort(dest, kind="stable")
        self.dest = dest[order]
        self.col = np.concatenate(cols)[order]
        self.w = np.concatenate(ws)[order]
        self.size = image.n_pe * lr
        uniq, start = np.unique(self.dest, return_index=True)
        self.uniq, self.start = uniq, start

    def __call__(self, act, *, accum_bits, init=None):
        act = np.asarray(act, dtype=np.int64)
        out = np.zeros(self.size, dtype=np.int64)
        if len(self.w):
            prod = self.w * act[self.col]
            out[self.uniq] = np.add.reduceat(prod, self.start)
        if init is not None:
            out += np.asarray(init, dtype=np.int64).ravel()
        return wrap(out, accum_bits).reshape(self.image.n_pe, self.image.local_rows)


def spmv(image, act, *, accum_bits, init=None):
    """Vectorized golden SpMV; (n_pe, local_rows) accumulators wrapped to ``accum_bits``."""
    return SpmvPlan(image)(act, accum_bits=accum_bits, init=init)


class GoldenModel:
    """Integer LSTMP over a :class:`CompressedModel`, frame by frame.

    ``run_quantized`` takes and returns integers in the model's Q formats; ``run`` takes
    float inputs (T, I), quantizes them at ``fa`` and returns the outputs as floats.
    """

    def __init__(self, model: CompressedModel):
        self.model = model
        cfg, q = model.config, model.qformats
        self.cfg, self.q = cfg, q
        self.gate_plan = SpmvPlan(model.gate)
        self.ym_plan = SpmvPlan(model.ym) if model.has_projection else None
        lut = dict(lut_bits=cfg.lut_bits, range_log2=cfg.lut_range_log2)
        self.lut_args = lut
        self.sig = make_lut("sigmoid", out_bits=cfg.act_bits, **lut)
        self.tanh = make_lut("tanh", out_bits=cfg.act_bits, **lut)
        n, h = cfg.n_pe, model.n_cells
        # Gate accumulator (p, 4k+g) belongs to gate g of cell k*n + p.
        lr = model.gate.local_rows
        cell = np.arange(h)
        self._gate_index = np.stack([(cell % n) * lr + N_GATES * (cell // n) + g
                                     for g in range(N_GATES)])
        self._bias_init = np.zeros(n * lr, dtype=np.int64)
        self._bias_init[self._gate_index] = model.bias
        if model.has_projection:
            # The y row each projection accumulator adds into: one per row, or with the
            # PEs outnumbering W_ym's rows S parts per row, which the read-out adds.
            self._ym_row = ym_row_index(model.ym.rows_per_pe, model.n_proj,
                                        model.ym.local_rows).ravel()

    def quantize_inputs(self, x):
        x = check_inputs(x, self.model.n_in)
        return quantize(x, self.q["fa"], self.cfg.act_bits)

    def initial_state(self):
        return (np.zeros(self.model.n_proj, np.int64), np.zeros(self.model.n_cells, np.int64))

    def gate_accumulators(self, x_q, y_prev):
        """(4, H) gate pre-activations before peepholes: bias + [W_x | W_r] [x ; y]."""
        act = np.concatenate([x_q, y_prev])
        acc = self.gate_plan(act, accum_bits=self.cfg.accum_bits, init=self._bias_init)
        return acc.ravel()[self._gate_index]

    def elementwise(self, acc, c_prev):
        """Gate math, cell update and ``m_t`` for all cells; returns (c, m)."""
        q, ab = self.q, self.cfg.act_bits
        fg, fc, fp = q["fg"], q["fc"], q["fp"]
        a = q["fw_g"] + q["fa"]
        p = self.model.peep

        def look(table, v, frac):
            return table[lut_index(v, frac, **self.lut_args)]

        i = look(self.sig, acc[0] + rshift_round(p[0] * c_prev, fp + fc - a), a)
        f = look(self.sig, acc[1] + rshift_round(p[1] * c_prev, fp + fc - a), a)
        g = look(self.tanh, acc[2], a)
        c = sat(rshift_round(f * c_prev, fg) + rshift_round(i * g, 2 * fg - fc), ab)
        o = look(self.sig, acc[3] + rshift_round(p[2] * c, fp + fc - a), a)
        m = sat(rshift_round(o * look(self.tanh, c, fc), fg), ab)
        return c, m

    def project(self, m):
        """``y = sat(rshift_round(W_ym m, fw_y + fg - fa))``; a plain layer (no ``W_ym``)
        has ``y = sat(rshift_round(m, fg - fa))``, the same rule with ``W_ym = I`` at
        ``fw_y = 0`` (docs/contract.md section 3)."""
        q = self.q
        if self.ym_plan is None:
            return sat(rshift_round(m, q["fw_y"] + q["fg"] - q["fa"]), self.cfg.act_bits)
        parts = self.ym_plan(m, accum_bits=self.cfg.accum_bits).ravel()
        used = self._ym_row >= 0
        acc = np.zeros(self.model.n_proj, np.int64)
        np.add.at(acc, self._ym_row[used], parts[used])
        acc = wrap(acc, self.cfg.accum_bits)
        return sat(rshift_round(acc, q["fw_y"] + q["fg"] - q["fa"]), self.cfg.act_bits)

    def run_quantized(self, x_q, state=None, *, trace=False):
        """Run integer inputs (T, I); return integer outputs (T, P) (and per-frame traces)."""
        x_q = np.asarray(x_q, dtype=np.int64)
        if x_q.ndim != 2 or x_q.shape[1] != self.model.n_in:
            raise EseError(f"inputs: shape {x_q.shape}, expected (T, {self.model.n_in})")
        state = self.initial_state() if state is None else state
        ys, ms, cs = [], [], []
        for t in range(x_q.shape[0]):
            acc = self.gate_accumulators(x_q[t], state[0])
            c, m = self.elementwise(acc, state[1])
            y = self.project(m)
            state = (y, c)
            ys.append(y)
            if trace:
                ms.append(m)
                cs.append(c)
        if trace:
            return np.array(ys), {"m": np.array(ms), "c": np.array(cs)}
        return np.array(ys)

    def run_channels(self, x_q, resets=None, *, trace=False):
        """Several independent sequences, as lock-step channels run them.

        ``x_q`` is (C, T, I) integers; ``resets`` (T, C) booleans restart channel ``c``
        from zero state at frame ``t``. Returns (C, T, P) outputs (and, with ``trace``,
        ``{"m": (C, T, H), "c": (C, T, H)}``).
        """
        x_q = np.asarray(x_q, dtype=np.int64)
        if x_q.ndim != 3:
            raise EseError(f"inputs: shape {x_q.shape}, expected (C, T, {self.model.n_in})")
        c_n, t_n = x_q.shape[:2]
        resets = np.zeros((t_n, c_n), bool) if resets is None else np.asarray(resets, bool)
        ys, ms, cs = [], [], []
        for ch in range(c_n):
            starts = [0] + [t for t in range(1, t_n) if resets[t, ch]] + [t_n]
            parts = [self.run_quantized(x_q[ch, a:b], trace=True)
                     for a, b in zip(starts[:-1], starts[1:], strict=True)]
            ys.append(np.concatenate([y for y, _ in parts]))
            ms.append(np.concatenate([tr["m"] for _, tr in parts]))
            cs.append(np.concatenate([tr["c"] for _, tr in parts]))
        if trace:
            return np.stack(ys), {"m": np.stack(ms), "c": np.stack(cs)}
        return np.stack(ys)

    def run(self, x):
        """Float inputs (T, I) -> float outputs (T, P) through the integer model."""
        return self.run_quantized(self.quantize_inputs(x)) / 2.0 ** self.q["fa"]


class GoldenStack:
    """The golden model of a :class:`CompressedStack`: each layer's
    :class:`GoldenModel` in turn, layer k's integer ``y`` (at the stack's one ``fa``)
    being layer k+1's integer ``x`` unchanged, as the hardware will pass it on.

    Accepts a single :class:`CompressedModel` too (a one-layer stack).
    """

    def __init__(self, stack):
        if isinstance(stack, CompressedModel):
            stack = CompressedStack((stack,))
        self.stack = stack
        self.layers = [GoldenModel(m) for m in stack.layers]
        self.fa = stack.layers[0].qformats["fa"]

    def quantize_inputs(self, x):
        return self.layers[0].quantize_inputs(x)

    def run_quantized(self, x_q):
        """Integer inputs (T, I) at ``fa`` -> the last layer's integer outputs (T, P)."""
        for layer in self.layers:
            x_q = layer.run_quantized(x_q)
        return x_q

    def run_channels(self, x_q, resets=None, *, trace=False):
        """Several independent sequences through the stack, as the lock-step lanes of
        :class:`~ese_hw.gateware.stack.ChannelStack` run them: ``x_q`` (C, T, I) integers,
        ``resets`` (T, C) booleans restarting lane ``c`` of *every* layer at frame ``t``
        (the stack carries a frame's reset bits from layer to layer). Returns the last
        layer's (C, T, P) outputs and, with ``trace``, one dict per layer (layer 0 first)
        of its inputs ``x``, outputs ``y`` and ``m``, ``c`` traces, each (C, T, n)."""
        layers = []
        for layer in self.layers:
            y, tr = layer.run_channels(x_q, resets, trace=True)
            layers.append({"x": np.asarray(x_q, dtype=np.int64), "y": y, **tr})
            x_q = y
        return (x_q, layers) if trace else x_q

    def run(self, x):
        """Float inputs (T, I) -> float outputs (T, P_last) through the integer stack."""
        return self.run_quantized(self.quantize_inputs(x)) / 2.0 ** self.fa
