"""The ESE compression flow and the compressed-model file.

``compress`` = prune (load-balance-aware) -> calibrate Q formats on a float run
-> quantize -> encode per-PE memory images -> statistics. The result, a
:class:`CompressedModel`, is everything the accelerator loads, and is saved as
one ``.npz`` holding its configuration, Q formats, statistics, the memory images
and (for the float reference) the pruned float weights.

A stack of L layers (:func:`compress_stack`) is a :class:`CompressedStack` of one
:class:`CompressedModel` per layer, all with the same :class:`Config` (density, bit
widths, PEs, balance) and one activation format ``fa`` shared by every layer, so that
layer k's ``y`` is layer k+1's ``x`` bit for bit (docs/contract.md section 3). A plain
LSTM layer has no ``W_ym`` image (``ym`` is None) and outputs ``y = m`` rescaled to ``fa``.

File layouts: version 1, one LSTMP layer (keys ``gate_*``, ``ym_*``, ``bias``, ``peep``,
``float_*``); version 2, ``meta`` holds ``n_layers`` and per layer its Q formats,
statistics and ``projection`` flag, and layer k's arrays are the version-1 keys under
``l{k}_`` (no ``l{k}_ym_*`` or ``l{k}_float_W_ym`` for a plain layer). One LSTMP layer is
written as version 1, anything else as version 2; both load.
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
    merge_ym,
    proj_split,
    row_parts,
    ym_pe_mats,
    ym_rows_per_pe,
)
from .limits import LIMITS, check_int, check_pe_count
from .lstmp import (
    GATES,
    MATRIX_KEYS,
    N_GATES,
    PEEPHOLE_GATES,
    PLAIN_WEIGHT_KEYS,
    WEIGHT_KEYS,
    LSTMPWeights,
)
from .npzio import atomic_savez, read_npz
from .prune import check_prune_args, prune_weights
from .quant import frac_bits_for, quantize
from .stack import check_stack, describe_stack, stack_float

__all__ = ["FORMAT_VERSION", "STACK_FORMAT_VERSION", "QFORMAT_KEYS", "Config",
           "CompressedModel", "CompressedStack", "compress", "compress_stack",
           "load_compressed", "load_compressed_stack", "check_config", "check_qformats",
           "calibration_inputs", "dropped_column_warnings",
           "from_arrays", "stack_from_arrays", "is_compressed"]

#: The single-LSTMP-layer layout (still written for exactly that case).
FORMAT_VERSION = 1
#: The layout of L layers, LSTMP or plain.
STACK_FORMAT_VERSION = 2

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
    gate, ym : SpmvImage of the gate SpMV ``[W_x | W_r]`` and of ``W_ym`` (None for
        a plain LSTM layer, which has no projection)
    bias : (4, H) int64, gate biases at the gate accumulator's format ``fw_g + fa``
    peep : (3, H) int64, peepholes ``W_ic W_fc W_oc`` at ``fp``
    float_weights : LSTMPWeights, the pruned float weights (the float reference)
    stats : dict, the compression report
    """

    config: Config
    qformats: dict
    gate: SpmvImage
    ym: SpmvImage | None
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
        """The output size: P, or H for a plain layer."""
        return self.float_weights.n_proj

    @property
    def has_projection(self):
        return self.ym is not None

    def quantized_matrices(self):
        """The pruned, quantized integer matrices (nine, or eight for a plain layer),
        decoded from the memory images."""
        wx, wr = gate_from_pe_mats(decode_spmv(self.gate), self.n_in)
        out = {f"W_{g}x": wx[k] for k, g in enumerate(GATES)}
        out.update({f"W_{g}r": wr[k] for k, g in enumerate(GATES)})
        if self.has_projection:
            out["W_ym"] = merge_ym(decode_spmv(self.ym), self.n_proj)
        return out

    def layer_arrays(self, prefix=""):
        """The arrays of this layer in a model ``.npz``, names prefixed by ``prefix``."""
        arrays = {"bias": self.bias, "peep": self.peep}
        for name, img in (("gate", self.gate), ("ym", self.ym)):
            if img is None:
                continue
            arrays[f"{name}_words"] = (np.concatenate(img.words) if img.words
                                       else np.zeros(0, np.uint32))
            arrays[f"{name}_ptr"] = img.ptr
            arrays[f"{name}_rows"] = img.rows_per_pe
        for k in self.float_weights.keys:
            arrays[f"float_{k}"] = self.float_weights[k].astype(np.float64)
        return {prefix + k: v for k, v in arrays.items()}

    def save(self, path):
        """Write the model ``.npz`` atomically: a one-layer :meth:`CompressedStack.save`."""
        CompressedStack((self,)).save(path)


@dataclass(frozen=True)
class CompressedStack:
    """A compressed stack: one :class:`CompressedModel` per layer, layer 0 first, all
    with the same :class:`Config` and activation format ``fa``.

    Members
    -------
    layers : tuple of CompressedModel
    """

    layers: tuple

    @property
    def config(self):
        return self.layers[0].config

    @property
    def n_in(self):
        return self.layers[0].n_in

    @property
    def n_out(self):
        return self.layers[-1].n_proj

    @property
    def float_layers(self):
        """The pruned float weights of every layer (the float reference)."""
        return [m.float_weights for m in self.layers]

    def describe(self):
        return describe_stack(self.float_layers)

    def save(self, path):
        """Write the model ``.npz`` atomically: version 1 (bare names) for exactly one
        LSTMP layer, so that files and tools made before stacks keep working, else
        version 2 (``l{k}_`` prefixes)."""
        cfg = self.config.to_dict()
        if len(self.layers) == 1 and self.layers[0].has_projection:
            m = self.layers[0]
            meta = {"config": cfg, "qformats": m.qformats, "stats": m.stats}
            arrays = {"format_version": np.array(FORMAT_VERSION), **m.layer_arrays()}
        else:
            meta = {"config": cfg, "n_layers": len(self.layers),
                    "layers": [{"qformats": m.qformats, "stats": m.stats,
                                "projection": m.has_projection} for m in self.layers]}
            arrays = {"format_version": np.array(STACK_FORMAT_VERSION)}
            for k, m in enumerate(self.layers):
                arrays.update(m.layer_arrays(f"l{k}_"))
        atomic_savez(path, {**arrays, "meta": np.array(json.dumps(meta))})


def _fail(path, what):
    raise EseError(f"{path}: {what}")


def load_compressed_stack(path):
    """Load and check a compressed model ``.npz`` of either layout (one loader for the
    format); any inconsistency is an :class:`EseError` naming the file."""
    return stack_from_arrays(read_npz(path), source=str(path))


def load_compressed(path):
    """Load a compressed model ``.npz`` that holds one layer; return its
    :class:`CompressedModel` (a stack is an :class:`EseError`: use
    :func:`load_compressed_stack`)."""
    return from_arrays(read_npz(path), source=str(path))


def is_compressed(arrays):
    return "meta" in arrays and "format_version" in arrays


def from_arrays(arrays, *, source):
    """The one layer of a compressed model's arrays (see :func:`stack_from_arrays`)."""
    stack = stack_from_arrays(arrays, source=source)
    if len(stack.layers) != 1:
        _fail(source, f"holds {len(stack.layers)} layers, expected one")
    return stack.layers[0]


def _layer_entries(meta, version, source):
    """(config, [(qformats, stats, projection)] per layer) from the parsed metadata."""
    cfg = Config(**meta["config"])
    if version == FORMAT_VERSION:
        entries = [(meta["qformats"], meta["stats"], True)]
    else:
        n_layers = meta["n_layers"]
        if not isinstance(n_layers, int) or n_layers < 1 or len(meta["layers"]) != n_layers:
            raise ValueError(f"n_layers {n_layers!r} does not match the layer list")
        entries = [(e["qformats"], e["stats"], e["projection"]) for e in meta["layers"]]
    out = []
    for qf, stats, projection in entries:
        if not isinstance(projection, bool):
            raise TypeError(f"projection flag {projection!r} is not a boolean")
        out.append(({k: int(qf[k]) for k in QFORMAT_KEYS}, stats, projection))
    return cfg, out


def stack_from_arrays(arrays, *, source):
    """Check the arrays of a compressed model ``.npz`` (version 1 or 2); return a
    :class:`CompressedStack`."""
    for k in ("format_version", "meta"):
        if k not in arrays:
            _fail(source, f"missing key {k!r} (not a compressed model?)")
    version = np.asarray(arrays["format_version"])
    if version.shape != () or not np.issubdtype(version.dtype, np.integer):
        _fail(source, "malformed format_version")
    if int(version) not in (FORMAT_VERSION, STACK_FORMAT_VERSION):
        _fail(source, f"format version {int(version)}, this ese_hw reads "
                      f"{FORMAT_VERSION} and {STACK_FORMAT_VERSION}")
    try:
        cfg, entries = _layer_entries(json.loads(str(arrays["meta"])), int(version), source)
    except (ValueError, KeyError, TypeError) as e:
        _fail(source, f"corrupted metadata ({type(e).__name__}: {e})")
    try:
        check_config(cfg)
    except TypeError as e:                      # e.g. a float where an integer belongs
        _fail(source, f"corrupted metadata ({e})")
    layers = []
    for k, (qformats, stats, projection) in enumerate(entries):
        prefix = "" if int(version) == FORMAT_VERSION else f"l{k}_"
        where = source if not prefix else f"{source} layer {k}"
        layers.append(_layer_from_arrays(arrays, prefix, cfg, qformats, stats, projection,
                                         source=where))
    check_stack([m.float_weights for m in layers], source=source)
    if len({m.qformats["fa"] for m in layers}) > 1:
        _fail(source, "layers have different activation formats fa")
    return CompressedStack(tuple(layers))


def _image_from_arrays(arrays, name, cfg, cols, rows, source, row_layouts=None):
    """One SpMV image (``{name}_words``, ``_ptr``, ``_rows``), checked; with
    ``row_layouts`` (arrays of rows per PE) its rows per PE must be one of them."""
    ptr = np.asarray(arrays[f"{name}_ptr"])
    words = np.asarray(arrays[f"{name}_words"])
    rpp = np.asarray(arrays[f"{name}_rows"])
    label = name.rsplit("_", 1)[-1]
    if (ptr.ndim != 2 or ptr.shape != (cfg.n_pe, cols + 1) or rpp.shape != (cfg.n_pe,)
            or words.ndim != 1 or not np.issubdtype(ptr.dtype, np.integer)
            or not np.issubdtype(words.dtype, np.integer)):
        _fail(source, f"{label} image has the wrong shape")
    if np.any(ptr[:, 0] != 0) or np.any(np.diff(ptr, axis=1) < 0):
        _fail(source, f"{label} pointers are not monotonic from 0")
    if int(ptr[:, -1].sum()) != len(words):
        _fail(source, f"{label} pointers do not match {len(words)} entry words")
    if len(words) and (words.min() < 0 or
                       int(words.max()) >= 1 << (cfg.weight_bits + cfg.index_bits)):
        _fail(source, f"{label} entry words exceed {cfg.weight_bits + cfg.index_bits} bits")
    if int(rpp.sum()) != rows and row_layouts is None:
        _fail(source, f"{label} row split does not add up to {rows} rows")
    if row_layouts is not None and not any(np.array_equal(rpp, r) for r in row_layouts):
        _fail(source, f"{label} row split is neither {rows} rows over {cfg.n_pe} PEs "
                      f"nor their parts")
    split = np.cumsum(ptr[:, -1])[:-1]
    img = SpmvImage(np.split(words.astype(np.uint32), split), ptr.astype(np.int64),
                    rpp.astype(np.int64), cfg.index_bits, cfg.weight_bits)
    try:
        decode_spmv(img)
    except EseError as e:
        _fail(source, f"{label} image: {e}")
    return img


def _layer_from_arrays(arrays, prefix, cfg, qformats, stats, projection, *, source):
    """One layer's :class:`CompressedModel` from the keys under ``prefix``."""
    images = ("gate", "ym") if projection else ("gate",)
    need = [f"{prefix}{k}" for k in ("bias", "peep")] + [
        f"{prefix}{n}_{k}" for n in images for k in ("words", "ptr", "rows")]
    for k in need:
        if k not in arrays:
            _fail(source, f"missing key {k!r} (not a compressed model?)")
    keys = WEIGHT_KEYS if projection else PLAIN_WEIGHT_KEYS
    missing = [k for k in keys if f"{prefix}float_{k}" not in arrays]
    if missing:
        _fail(source, f"missing key '{prefix}float_{missing[0]}'")
    float_w = LSTMPWeights.from_arrays({k: arrays[f"{prefix}float_{k}"] for k in keys},
                                       source=source, projection=projection)
    h, n_in, n_proj = float_w.n_cells, float_w.n_in, float_w.n_proj
    try:
        check_pe_count(cfg.n_pe, h)
    except EseError as e:
        _fail(source, str(e))
    check_qformats(qformats, source=source)
    gate = _image_from_arrays(arrays, f"{prefix}gate", cfg, n_in + n_proj, 4 * h, source)
    # W_ym's rows as files before the split held them (one PE per row), or in parts.
    ym_layouts = [ym_rows_per_pe(n_proj, cfg.n_pe, s)
                  for s in sorted({1, proj_split(cfg.n_pe, n_proj)})]
    ym = (_image_from_arrays(arrays, f"{prefix}ym", cfg, h, n_proj, source, ym_layouts)
          if projection else None)
    bias, peep = np.asarray(arrays[f"{prefix}bias"]), np.asarray(arrays[f"{prefix}peep"])
    if bias.shape != (4, h) or peep.shape != (3, h):
        _fail(source, "bias or peephole vectors have the wrong shape")
    if not (np.issubdtype(bias.dtype, np.integer) and np.issubdtype(peep.dtype, np.integer)):
        _fail(source, "bias or peephole vectors are not integers")
    return CompressedModel(cfg, qformats, gate, ym, bias.astype(np.int64),
                           peep.astype(np.int64), float_w, stats)


def compress(weights, config=Config(), *, calib=None, split_projection=True):
    """Prune, quantize and encode one layer's ``weights`` (LSTMP or plain); return a
    :class:`CompressedModel`.

    ``calib`` is a (T, I) float sequence used to choose the activation and cell
    Q formats (default :func:`calibration_inputs`). With more PEs than ``W_ym`` rows
    each row is split over :func:`~ese_hw.model.encode.proj_split` PEs, unless
    ``split_projection`` is False (one PE per row, the others idle in that phase: the
    layout before the split, which still loads and runs, kept for comparison).
    """
    return compress_stack([weights], config, calib=calib,
                          split_projection=split_projection).layers[0]


def compress_stack(layers, config=Config(), *, calib=None, split_projection=True):
    """Prune, quantize and encode every layer of a stack with the same ``config``;
    return a :class:`CompressedStack`.

    The calibration run goes through the whole pruned float stack: every layer's
    input and output must fit the one activation format ``fa``, since layer k's
    ``y`` is layer k+1's ``x`` unchanged; the cell format ``fc`` is per layer.
    """
    check_config(config)
    layers = check_stack(layers)
    pruned = [prune_weights(w, n_pe=config.n_pe, density=config.density,
                            balance=config.balance, split_projection=split_projection)
              for w in layers]
    if calib is None:
        calib = calibration_inputs(layers[0].n_in)
    _, states = stack_float([p for p, _ in pruned], calib, return_state=True)
    act_max = max([np.abs(calib).max()] + [np.abs(y).max() for y, _ in states])
    fa = frac_bits_for(act_max, config.act_bits, headroom=1)
    models, x_cal = [], calib
    for (p, masks), w, (y_cal, c_cal) in zip(pruned, layers, states, strict=True):
        model = _compress_layer(p, masks, w, config, fa=fa, c_max=np.abs(c_cal).max(),
                                split_projection=split_projection)
        model.stats["calibration"] = {"frames": int(calib.shape[0]),
                                      "max_abs_x": float(np.abs(x_cal).max()),
                                      "max_abs_y": float(np.abs(y_cal).max()),
                                      "max_abs_c": float(np.abs(c_cal).max())}
        models.append(model)
        x_cal = y_cal
    return CompressedStack(tuple(models))


def _compress_layer(pruned, masks, weights, cfg, *, fa, c_max, split_projection=True):
    """Quantize and encode one pruned layer at the stack's activation format ``fa``."""
    wb, ab = cfg.weight_bits, cfg.act_bits
    gate_keys = MATRIX_KEYS[:8]
    q = {
        "fw_g": frac_bits_for(max(np.abs(pruned[k]).max() for k in gate_keys), wb),
        # A plain layer has no W_ym: its y = m rescaled is W_ym = I at fw_y = 0.
        "fw_y": frac_bits_for(np.abs(pruned["W_ym"]).max(), wb)
        if pruned.has_projection else 0,
        "fp": frac_bits_for(max(np.abs(pruned[f"W_{g}c"]).max() for g in "ifo"), wb),
        "fa": fa,
        "fc": frac_bits_for(c_max, ab, headroom=1),
        "fg": ab - 1,
    }
    check_qformats(q)
    acc_frac = q["fw_g"] + q["fa"]
    wq = {k: quantize(pruned[k], q["fw_y" if k == "W_ym" else "fw_g"], wb)
          for k in pruned.matrix_keys}
    bias = np.stack([quantize(pruned[f"b_{g}"], acc_frac, cfg.accum_bits) for g in GATES])
    peep = np.stack([quantize(pruned[f"W_{g}c"], q["fp"], wb) for g in "ifo"])

    # The accumulator wraps; refuse a width that the actual weights could overflow.
    amax = 1 << (ab - 1)
    gate_abs = np.stack([np.abs(wq[f"W_{g}x"]).sum(1) + np.abs(wq[f"W_{g}r"]).sum(1)
                         for g in GATES])
    worst = int((gate_abs * amax + np.abs(bias)).max())
    if pruned.has_projection:
        worst = max(worst, int(np.abs(wq["W_ym"]).sum(1).max() * amax))
    need = worst.bit_length() + 1
    if need > cfg.accum_bits:
        raise EseError(f"accumulator bits ({cfg.accum_bits}) too narrow: the worst case "
                       f"with these weights needs {need}")

    gate_img = encode_spmv(
        gate_pe_mats([wq[f"W_{g}x"] for g in GATES], [wq[f"W_{g}r"] for g in GATES], cfg.n_pe),
        index_bits=cfg.index_bits, weight_bits=wb,
        pe_masks=gate_pe_mats([masks[f"W_{g}x"] for g in GATES],
                              [masks[f"W_{g}r"] for g in GATES], cfg.n_pe))
    ym_img = None
    if pruned.has_projection:
        split = proj_split(cfg.n_pe, pruned.n_proj) if split_projection else 1
        ym_img = encode_spmv(ym_pe_mats(wq["W_ym"], cfg.n_pe, split=split),
                             index_bits=cfg.index_bits, weight_bits=wb,
                             pe_masks=ym_pe_mats(masks["W_ym"], cfg.n_pe, split=split))
    stats = _stats(cfg, masks, gate_img, ym_img, weights, accum_need=need,
                   split=split if pruned.has_projection else 1)
    return CompressedModel(cfg, q, gate_img, ym_img, bias, peep, pruned, stats)


def dropped_column_warnings(stack):
    """One line per matrix of ``stack`` (a :class:`CompressedStack`) in which ``column``
    balance dropped whole columns: it keeps the same count per column in every PE, so
    where density x rows per PE < 1 some columns keep nothing in any PE (their input
    then reaches no output). Empty under the other balances, whose empty columns are
    the weights' own (the report's ``empty_columns`` counts them all)."""
    cfg = stack.config
    if cfg.balance != "column":
        return []
    lines = []
    for k, model in enumerate(stack.layers):
        where = f"layer {k} " if len(stack.layers) > 1 else ""
        for key, m in model.stats["matrices"].items():
            empty, (rows, cols) = m.get("empty_columns", 0), m["shape"]
            per_pe = rows // cfg.n_pe
            if key == "W_ym" and int(model.ym.rows_per_pe.sum()) != rows:
                per_pe = 1              # split over S PEs: each holds a part of one row
            if empty and cfg.density * per_pe < 1:
                lines.append(f"{where}{key}: {empty} of {cols} columns keep no weight "
                             f"(column balance needs density x rows per PE >= 1, here "
                             f"{cfg.density:g} x {per_pe}); give fewer PEs, a higher "
                             f"density or --balance pe")
    return lines


def _ptr_bits(img):
    return max(1, int(img.entries_per_pe.max()).bit_length())


def _stats(cfg, masks, gate_img, ym_img, weights, *, accum_need, split=1):
    n = cfg.n_pe
    matrices = {}
    per_pe_nnz = np.zeros(n, dtype=np.int64)            # over all nine matrices
    for k in weights.matrix_keys:
        m = masks[k]
        parts = row_parts(*m.shape, n, split=split if k == "W_ym" else 1)
        per_pe = np.array([int(m[np.ix_(ri, ci)].sum()) for ri, ci in parts])
        per_pe_nnz += per_pe
        matrices[k] = {"shape": list(m.shape), "nnz": int(m.sum()),
                       "density": float(m.mean()),
                       "pe_nnz_min": int(per_pe.min()), "pe_nnz_max": int(per_pe.max()),
                       # An input (column) no kept weight reads: it reaches no output.
                       "empty_columns": int((~m.any(axis=0)).sum())}
    nnz = sum(v["nnz"] for v in matrices.values())
    dense_params = sum(weights[k].size for k in weights.keys)
    spmvs = {}
    comp_bits = 0
    for name, img in (("gate", gate_img), ("ym", ym_img)):
        if img is None:                                 # a plain layer: no projection
            continue
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
    comp_bits += N_GATES * h * cfg.accum_bits + len(PEEPHOLE_GATES) * h * cfg.weight_bits
    matrix_bits = sum(s["entries"] for s in spmvs.values()) * (cfg.weight_bits + cfg.index_bits)
    padding_total = sum(s["padding"] for s in spmvs.values())
    return {
        "nnz_total": int(nnz),
        "padding_total": int(padding_total),
        "padding_fraction": float(padding_total / max(1, nnz + padding_total)),
        "pe_nnz_min": int(per_pe_nnz.min()),
        "pe_nnz_max": int(per_pe_nnz.max()),
        "density": float(nnz / sum(weights[k].size for k in weights.matrix_keys)),
        "compression_ratio": float(dense_params * 32 / comp_bits),
        "matrix_compression_ratio": float(
            sum(weights[k].size for k in weights.matrix_keys) * 32 / matrix_bits),
        "compressed_bits": int(comp_bits),
        "dense_fp32_bits": int(dense_params * 32),
        "accum_bits_needed": int(accum_need),
        "matrices": matrices,
        "spmv": spmvs,
    }
