"""The ESE compression flow and the compressed-model file.

``compress`` = prune (load-balance-aware) -> calibrate Q formats on a float run
-> quantize -> encode per-PE memory images -> statistics. The result, a
:class:`CompressedModel`, is everything the accelerator loads, and is saved as
one ``.npz`` holding its configuration, Q formats, statistics, the memory images
and (for the float reference) the pruned float weights.
"""

import json
from dataclasses import dataclass

import numpy as np

from ..errors import EseError
from .encode import (
    SpmvImage,
    decode_spmv,
    encode_spmv,
    gate_from_pe_mats,
    gate_pe_mats,
    merge_rows,
    split_rows,
)
from .limits import LIMITS, check_int, check_pe_count
from .lstmp import GATES, MATRIX_KEYS, WEIGHT_KEYS, LSTMPWeights, atomic_savez, lstmp_float
from .npzio import read_npz
from .prune import check_prune_args, prune_weights
from .quant import frac_bits_for, quantize

__all__ = ["FORMAT_VERSION", "QFORMAT_KEYS", "Config", "CompressedModel", "compress",
           "load_compressed", "check_config", "check_qformats", "calibration_inputs"]

FORMAT_VERSION = 1

#: The Q formats of a compressed model (fractional bits; see docs/contract.md).
QFORMAT_KEYS = ("fw_g", "fw_y", "fp", "fa", "fc", "fg")

#: Config fields bounded by ese_hw.model.limits.LIMITS (n_pe is checked with pruning).
_BOUNDED_FIELDS = ("weight_bits", "act_bits", "index_bits", "accum_bits", "lut_bits",
                   "lut_range_log2")


@dataclass(frozen=True)
class Config:
    """Compression parameters (validated by :func:`check_config`)."""

    n_pe: int = 32
    density: float = 0.112
    weight_bits: int = 12
    act_bits: int = 16
    index_bits: int = 4
    accum_bits: int = 48
    balance: str = "pe"
    lut_bits: int = 12
    lut_range_log2: int = 3

    def to_dict(self):
        return dict(self.__dict__)


def check_config(cfg):
    """Raise :class:`EseError` (``TypeError`` for a non-integer) unless the channel can
    run ``cfg``: bounds from :data:`ese_hw.model.limits.LIMITS`."""
    check_prune_args(n_pe=cfg.n_pe, density=cfg.density, balance=cfg.balance)
    for name in _BOUNDED_FIELDS:
        check_int(name, getattr(cfg, name), label=LIMITS[name].label)
    if cfg.accum_bits < cfg.weight_bits + cfg.act_bits:
        raise EseError(f"accumulator bits ({cfg.accum_bits}) must be at least weight bits "
                       f"+ activation bits ({cfg.weight_bits + cfg.act_bits})")
    if cfg.index_bits + cfg.weight_bits > 32:
        raise EseError("weight bits + index bits must fit a 32-bit word")


def check_qformats(qformats, *, source=None):
    """Refuse (:class:`EseError`) fractional-bit counts outside ``LIMITS["frac_bits"]``:
    weights or calibration values so large or small that no sane fixed point holds them
    (``source`` names the model file, if any)."""
    where = "" if source is None else f"{source}: "
    for key in QFORMAT_KEYS:
        try:
            check_int("frac_bits", qformats[key], label=f"Q format {key} (fractional bits)")
        except (EseError, TypeError) as e:
            raise EseError(f"{where}{e}: the values it holds are too large or too small "
                           f"for fixed point") from None


def calibration_inputs(n_in, frames=64, seed=1):
    """Default calibration sequence: seeded standard-normal frames."""
    return np.random.default_rng(seed).standard_normal((frames, n_in))


@dataclass(frozen=True)
class CompressedModel:
    """Everything the accelerator runs from.

    Members
    -------
    config : Config
    qformats : dict of fractional-bit counts ``fw_g fw_y fp fa fc fg``
    gate, ym : SpmvImage of the gate SpMV ``[W_x | W_r]`` and of ``W_ym``
    bias : (4, H) int64, gate biases at the gate accumulator's format ``fw_g + fa``
    peep : (3, H) int64, peepholes ``W_ic W_fc W_oc`` at ``fp``
    float_weights : LSTMPWeights, the pruned float weights (the float reference)
    stats : dict, the compression report
    """

    config: Config
    qformats: dict
    gate: SpmvImage
    ym: SpmvImage
    bias: np.ndarray
    peep: np.ndarray
    float_weights: LSTMPWeights
    stats: dict

    @property
    def n_in(self):
        return self.float_weights.n_in

    @property
    def n_cells(self):
        return self.float_weights.n_cells

    @property
    def n_proj(self):
        return self.float_weights.n_proj

    def quantized_matrices(self):
        """The nine pruned, quantized integer matrices, decoded from the memory images."""
        wx, wr = gate_from_pe_mats(decode_spmv(self.gate), self.n_in)
        out = {f"W_{g}x": wx[k] for k, g in enumerate(GATES)}
        out.update({f"W_{g}r": wr[k] for k, g in enumerate(GATES)})
        out["W_ym"] = merge_rows(decode_spmv(self.ym))
        return out

    def save(self, path):
        arrays = {
            "format_version": np.array(FORMAT_VERSION),
            "meta": np.array(json.dumps({"config": self.config.to_dict(),
                                         "qformats": self.qformats, "stats": self.stats})),
            "bias": self.bias, "peep": self.peep,
        }
        for name, img in (("gate", self.gate), ("ym", self.ym)):
            arrays[f"{name}_words"] = (np.concatenate(img.words) if img.words
                                       else np.zeros(0, np.uint32))
            arrays[f"{name}_ptr"] = img.ptr
            arrays[f"{name}_rows"] = img.rows_per_pe
        for k in WEIGHT_KEYS:
            arrays[f"float_{k}"] = self.float_weights[k].astype(np.float64)
        atomic_savez(path, arrays)


def _fail(path, what):
    raise EseError(f"{path}: {what}")


def load_compressed(path):
    """Load and check a compressed model ``.npz``; any inconsistency is an :class:`EseError`."""
    return from_arrays(read_npz(path), source=str(path))


def is_compressed(arrays):
    return "meta" in arrays and "format_version" in arrays


def from_arrays(arrays, *, source):
    need = ["format_version", "meta", "bias", "peep"] + [
        f"{n}_{k}" for n in ("gate", "ym") for k in ("words", "ptr", "rows")]
    for k in need:
        if k not in arrays:
            _fail(source, f"missing key {k!r} (not a compressed model?)")
    version = np.asarray(arrays["format_version"])
    if version.shape != () or not np.issubdtype(version.dtype, np.integer):
        _fail(source, "malformed format_version")
    if int(version) != FORMAT_VERSION:
        _fail(source, f"format version {int(version)}, this ese_hw reads {FORMAT_VERSION}")
    try:
        meta = json.loads(str(arrays["meta"]))
        cfg = Config(**meta["config"])
        qformats = {k: int(meta["qformats"][k]) for k in QFORMAT_KEYS}
        stats = meta["stats"]
    except (ValueError, KeyError, TypeError) as e:
        _fail(source, f"corrupted metadata ({type(e).__name__}: {e})")
    try:
        check_config(cfg)
    except TypeError as e:                      # e.g. a float where an integer belongs
        _fail(source, f"corrupted metadata ({e})")
    check_qformats(qformats, source=source)
    missing = [k for k in WEIGHT_KEYS if f"float_{k}" not in arrays]
    if missing:
        _fail(source, f"missing key 'float_{missing[0]}'")
    float_w = LSTMPWeights.from_arrays({k: arrays[f"float_{k}"] for k in WEIGHT_KEYS},
                                       source=source)
    h, n_in, n_proj = float_w.n_cells, float_w.n_in, float_w.n_proj
    try:
        check_pe_count(cfg.n_pe, h)
    except EseError as e:
        _fail(source, str(e))
    images = {}
    for name, cols, rows in (("gate", n_in + n_proj, 4 * h), ("ym", h, n_proj)):
        ptr = np.asarray(arrays[f"{name}_ptr"])
        words = np.asarray(arrays[f"{name}_words"])
        rpp = np.asarray(arrays[f"{name}_rows"])
        if (ptr.ndim != 2 or ptr.shape != (cfg.n_pe, cols + 1) or rpp.shape != (cfg.n_pe,)
                or words.ndim != 1 or not np.issubdtype(ptr.dtype, np.integer)
                or not np.issubdtype(words.dtype, np.integer)):
            _fail(source, f"{name} image has the wrong shape")
        if np.any(ptr[:, 0] != 0) or np.any(np.diff(ptr, axis=1) < 0):
            _fail(source, f"{name} pointers are not monotonic from 0")
        if int(ptr[:, -1].sum()) != len(words):
            _fail(source, f"{name} pointers do not match {len(words)} entry words")
        if len(words) and (words.min() < 0 or
                           int(words.max()) >= 1 << (cfg.weight_bits + cfg.index_bits)):
            _fail(source, f"{name} entry words exceed {cfg.weight_bits + cfg.index_bits} bits")
        if int(rpp.sum()) != rows:
            _fail(source, f"{name} row split does not add up to {rows} rows")
        split = np.cumsum(ptr[:, -1])[:-1]
        img = SpmvImage(np.split(words.astype(np.uint32), split), ptr.astype(np.int64),
                        rpp.astype(np.int64), cfg.index_bits, cfg.weight_bits)
        try:
            decode_spmv(img)
        except EseError as e:
            _fail(source, f"{name} image: {e}")
        images[name] = img
    bias, peep = np.asarray(arrays["bias"]), np.asarray(arrays["peep"])
    if bias.shape != (4, h) or peep.shape != (3, h):
        _fail(source, "bias or peephole vectors have the wrong shape")
    if not (np.issubdtype(bias.dtype, np.integer) and np.issubdtype(peep.dtype, np.integer)):
        _fail(source, "bias or peephole vectors are not integers")
    return CompressedModel(cfg, qformats, images["gate"], images["ym"], bias.astype(np.int64),
                           peep.astype(np.int64), float_w, stats)


def compress(weights, config=Config(), *, calib=None):
    """Prune, quantize and encode ``weights``; return a :class:`CompressedModel`.

    ``calib`` is a (T, I) float sequence used to choose the activation and cell
    Q formats (default :func:`calibration_inputs`).
    """
    check_config(config)
    cfg = config
    pruned, masks = prune_weights(weights, n_pe=cfg.n_pe, density=cfg.density,
                                  balance=cfg.balance)
    if calib is None:
        calib = calibration_inputs(weights.n_in)
    y_cal, c_cal = lstmp_float(pruned, calib, return_state=True)
    wb, ab = cfg.weight_bits, cfg.act_bits
    gate_keys = MATRIX_KEYS[:8]
    q = {
        "fw_g": frac_bits_for(max(np.abs(pruned[k]).max() for k in gate_keys), wb),
        "fw_y": frac_bits_for(np.abs(pruned["W_ym"]).max(), wb),
        "fp": frac_bits_for(max(np.abs(pruned[f"W_{g}c"]).max() for g in "ifo"), wb),
        "fa": frac_bits_for(max(np.abs(calib).max(), np.abs(y_cal).max()), ab, headroom=1),
        "fc": frac_bits_for(np.abs(c_cal).max(), ab, headroom=1),
        "fg": ab - 1,
    }
    check_qformats(q)
    acc_frac = q["fw_g"] + q["fa"]
    wq = {k: quantize(pruned[k], q["fw_y" if k == "W_ym" else "fw_g"], wb) for k in MATRIX_KEYS}
    bias = np.stack([quantize(pruned[f"b_{g}"], acc_frac, cfg.accum_bits) for g in GATES])
    peep = np.stack([quantize(pruned[f"W_{g}c"], q["fp"], wb) for g in "ifo"])

    # The accumulator wraps; refuse a width that the actual weights could overflow.
    amax = 1 << (ab - 1)
    gate_abs = np.stack([np.abs(wq[f"W_{g}x"]).sum(1) + np.abs(wq[f"W_{g}r"]).sum(1)
                         for g in GATES])
    worst = max(int((gate_abs * amax + np.abs(bias)).max()),
                int(np.abs(wq["W_ym"]).sum(1).max() * amax))
    need = worst.bit_length() + 1
    if need > cfg.accum_bits:
        raise EseError(f"accumulator bits ({cfg.accum_bits}) too narrow: the worst case "
                       f"with these weights needs {need}")

    gate_img = encode_spmv(
        gate_pe_mats([wq[f"W_{g}x"] for g in GATES], [wq[f"W_{g}r"] for g in GATES], cfg.n_pe),
        index_bits=cfg.index_bits, weight_bits=wb,
        pe_masks=gate_pe_mats([masks[f"W_{g}x"] for g in GATES],
                              [masks[f"W_{g}r"] for g in GATES], cfg.n_pe))
    ym_img = encode_spmv(split_rows(wq["W_ym"], cfg.n_pe), index_bits=cfg.index_bits,
                         weight_bits=wb, pe_masks=split_rows(masks["W_ym"], cfg.n_pe))
    stats = _stats(cfg, masks, gate_img, ym_img, weights, accum_need=need)
    stats["calibration"] = {"frames": int(calib.shape[0]),
                            "max_abs_x": float(np.abs(calib).max()),
                            "max_abs_y": float(np.abs(y_cal).max()),
                            "max_abs_c": float(np.abs(c_cal).max())}
    return CompressedModel(cfg, q, gate_img, ym_img, bias, peep, pruned, stats)


def _ptr_bits(img):
    return max(1, int(img.entries_per_pe.max()).bit_length())


def _stats(cfg, masks, gate_img, ym_img, weights, *, accum_need):
    n = cfg.n_pe
    matrices = {}
    per_pe_nnz = np.zeros(n, dtype=np.int64)            # over all nine matrices
    for k in MATRIX_KEYS:
        m = masks[k]
        per_pe = np.array([int(m[p::n].sum()) for p in range(n)])
        per_pe_nnz += per_pe
        matrices[k] = {"shape": list(m.shape), "nnz": int(m.sum()),
                       "density": float(m.mean()),
                       "pe_nnz_min": int(per_pe.min()), "pe_nnz_max": int(per_pe.max())}
    nnz = sum(v["nnz"] for v in matrices.values())
    dense_params = sum(weights[k].size for k in WEIGHT_KEYS)
    spmvs = {}
    comp_bits = 0
    for name, img in (("gate", gate_img), ("ym", ym_img)):
        e = img.entries_per_pe
        pad = img.padding_per_pe
        pb = _ptr_bits(img)
        spmvs[name] = {"entries": int(e.sum()), "padding": int(pad.sum()),
                       "padding_fraction": float(pad.sum() / max(1, e.sum())),
                       "pe_entries_min": int(e.min()), "pe_entries_max": int(e.max()),
                       "pointer_bits": pb, "columns": img.n_cols,
                       "local_rows": img.local_rows}
        comp_bits += int(e.sum()) * (cfg.weight_bits + cfg.index_bits) + img.ptr.size * pb
    h = weights.n_cells
    comp_bits += 4 * h * cfg.accum_bits + 3 * h * cfg.weight_bits
    matrix_bits = sum(s["entries"] for s in spmvs.values()) * (cfg.weight_bits + cfg.index_bits)
    padding_total = sum(s["padding"] for s in spmvs.values())
    return {
        "nnz_total": int(nnz),
        "padding_total": int(padding_total),
        "padding_fraction": float(padding_total / max(1, nnz + padding_total)),
        "pe_nnz_min": int(per_pe_nnz.min()),
        "pe_nnz_max": int(per_pe_nnz.max()),
        "density": float(nnz / sum(weights[k].size for k in MATRIX_KEYS)),
        "compression_ratio": float(dense_params * 32 / comp_bits),
        "matrix_compression_ratio": float(
            sum(weights[k].size for k in MATRIX_KEYS) * 32 / matrix_bits),
        "compressed_bits": int(comp_bits),
        "dense_fp32_bits": int(dense_params * 32),
        "accum_bits_needed": int(accum_need),
        "matrices": matrices,
        "spmv": spmvs,
    }
