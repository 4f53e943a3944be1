"""One accelerator design: the typed options ``generate``, ``estimate`` and ``sweep``
share (:func:`make_design`, :func:`design_grid`; the command line parses its strings into
them in :mod:`ese_hw.cli`), and the :class:`Design` they describe.

A design is a channel's parameters (:class:`~ese_hw.gateware.channel.ChannelParams`;
for a stack of layers, :class:`~ese_hw.gateware.stack.StackParams`, every layer on
chip), the compressed model that sized its memories, and a clock. Its memory depths always
come from a real encoding: given a compressed ``MODEL.npz``, from that model; given
float weights (``ese-hw init``), from their compression with the options; given only
``--shape`` and ``--density``, from seeded random weights of that shape
(:func:`ese_hw.model.lstmp.random_weights`) compressed at that density. Compressions are
cached on disk (:func:`cached_compress`) by everything they depend on, so a sweep or a
second command does not compress the same model twice.

Every integer option is checked against :data:`ese_hw.model.limits.LIMITS` and a bad
one is an :class:`~ese_hw.errors.EseError` naming the option (``--pes must be an
integer >= 1, got 0``), which the command line prints as one line.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import numbers
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from .. import __version__
from ..errors import EseError
from ..gateware.params import ChannelParams, StackParams
from ..model.compress import (
    FORMAT_VERSION,
    CompressedModel,
    CompressedStack,
    Config,
    compress,
    compress_stack,
    is_compressed,
    load_compressed,
    load_compressed_stack,
    stack_from_arrays,
)
from ..model.encode import proj_split
from ..model.limits import (
    CLOCK_MHZ_RANGE,
    DEFAULTS,
    check_divides_pes,
    check_int,
    check_pe_count,
)
from ..model.lstmp import random_weights
from ..model.npzio import read_npz
from ..model.stack import weight_stack_from_arrays

__all__ = ["DEFAULT_CACHE_DIR", "DEFAULT_INDEX_BITS", "DEFAULT_SHAPE", "GRID_AXES", "INT_OPTIONS",
           "RANDOM_SEED", "Design", "cached_compress", "check_clock", "check_density",
           "check_int_list", "check_int_option", "design_grid", "file_digest", "make_design"]

#: The paper's LSTMP shape (I, H, P), docs/design.md section 1.
DEFAULT_SHAPE = (153, 1024, 512)
#: 6-bit indices: 0.02 % padding at the paper's density, and 12 + 6 bits is one BRAM18
#: word (docs/design.md section 2); the compressor's own default stays 4, the paper's.
DEFAULT_INDEX_BITS = 6
#: Seed of the random weights behind a design given by shape and density.
RANDOM_SEED = 0
#: Where compressed random models are cached.
DEFAULT_CACHE_DIR = Path("build") / "models"

_CONFIG_DEFAULTS = Config()

#: The axes of a sweep (:func:`design_grid`): option -> :func:`make_design` keyword.
GRID_AXES = {"--pes": "n_pe", "--channels": "n_channels", "--index-bits": "index_bits",
             "--broadcast": "broadcast", "--ew-share": "ew_share"}

#: Option -> (LIMITS name) of the integer options: errors name a value by its option.
INT_OPTIONS = {"--pes": "n_pe", "--channels": "n_channels", "--index-bits": "index_bits",
                "--queue-depth": "queue_depth", "--broadcast": "broadcast",
                "--ew-share": "ew_share"}


@dataclass(frozen=True)
class Design:
    """One accelerator configuration.

    Members
    -------
    params : ChannelParams or StackParams
        Every parameter of the channel (of a stack: of every layer's channel), memory
        depths from :attr:`model`.
    model : CompressedModel, CompressedStack or None
        The model that sized the memories (``None`` only for a caller that built
        ``params`` by hand and needs no images); a stack of several layers runs every
        layer on chip.
    clock_mhz : float
    source : str
        Where the model came from: the ``MODEL.npz`` path, or
        ``random(I,H,P, density=D, seed=S)``.
    model_path : Path or None
        The model file (the given ``MODEL.npz``, or the cached random model).
    """

    params: ChannelParams | StackParams
    model: CompressedModel | CompressedStack | None
    clock_mhz: float
    source: str
    model_path: Path | None = None

    @property
    def clock_period_ns(self):
        return 1e3 / self.clock_mhz

    @property
    def shape(self):
        """(I, H, P); a stack's: one such tuple per layer."""
        return _shape_of(self.params)


# ---------------------------------------------------------------------------- checks

def check_int_option(option, value):
    """``value`` (an integer) checked against the bounds of ``option`` (``"--pes"``),
    as an int; the :class:`EseError` names the option."""
    try:
        return check_int(INT_OPTIONS[option], value, label=option)
    except TypeError as e:
        raise EseError(str(e)) from None


def check_int_list(option, values):
    """A sequence of integers for ``option`` (a sweep's axis), each checked, no repeats."""
    values = [check_int_option(option, v) for v in values]
    if not values:
        raise EseError(f"{option} lists no value")
    if len(set(values)) != len(values):
        raise EseError(f"{option} lists a value twice: {','.join(map(str, values))}")
    return values


def check_density(value):
    """A density in (0, 1], as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not 0.0 < value <= 1.0:                  # also refuses NaN
        raise EseError(f"--density must be a number in (0, 1], got {value}")
    return float(value)


def check_clock(value):
    """A clock frequency (MHz) in :data:`ese_hw.model.limits.CLOCK_MHZ_RANGE`, as a float."""
    lo, hi = CLOCK_MHZ_RANGE
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not lo <= value <= hi:                   # also refuses NaN
        raise EseError(f"--clock-mhz must be a number in {lo:g}..{hi:g}, got {value}")
    return float(value)


def design_grid(*, model_path=None, shape=None, density=None, n_pe=(None,),
                n_channels=(DEFAULTS["n_channels"],),
                index_bits=(None,), broadcast=(DEFAULTS["broadcast"],),
                ew_share=(DEFAULTS["ew_share"],), queue_depth=DEFAULTS["queue_depth"],
                clock_mhz=DEFAULTS["clock_mhz"]):
    """The points of a sweep: a list of :func:`make_design` keyword dicts, every value
    checked before any is built (PEs outermost, then channels, then index bits, then
    broadcast widths, then PEs per element-wise unit).

    ``model_path``, ``shape``, ``density``, ``queue_depth`` and ``clock_mhz`` are single
    values, as for :func:`make_design`; the other five are sequences (the grid's axes;
    ``None`` in ``n_pe`` or ``index_bits``: the model's or the default). A broadcast
    width and an ``ew_share`` value must divide every PE count listed (a model file's PE
    count is checked when its point is built), and without a model file no PE count may
    exceed the random model's cells."""
    common = {"model_path": model_path, "shape": None if shape is None else tuple(shape),
              "density": None if density is None else check_density(density),
              "queue_depth": check_int_option("--queue-depth", queue_depth),
              "clock_mhz": check_clock(clock_mhz)}
    pes = [None] if list(n_pe) == [None] else check_int_list("--pes", n_pe)
    channels = check_int_list("--channels", n_channels)
    bits = [None] if list(index_bits) == [None] else check_int_list("--index-bits", index_bits)
    widths = check_int_list("--broadcast", broadcast)
    shares = check_int_list("--ew-share", ew_share)
    for n, k, g in itertools.product(pes, widths, shares):
        if n is not None or model_path is None:
            _check_groupings(k, g, _CONFIG_DEFAULTS.n_pe if n is None else n)
    if model_path is None:                      # random weights: their cells are known
        cells = (common["shape"] or DEFAULT_SHAPE)[1]
        for n in pes:
            check_pe_count(_CONFIG_DEFAULTS.n_pe if n is None else n, cells)
    return [{**common, "n_pe": n, "n_channels": c, "index_bits": b, "broadcast": k,
             "ew_share": g}
            for n, c, b, k, g in itertools.product(pes, channels, bits, widths, shares)]


def _check_groupings(broadcast, ew_share, n_pe):
    """The broadcast width (a group's y/m elements lie in K PEs at one address) and the
    PEs per element-wise unit must divide the PE count."""
    check_divides_pes("--broadcast", broadcast, n_pe)
    check_divides_pes("--ew-share", ew_share, n_pe)


# ---------------------------------------------------------------------------- designs

def _check_agrees(option, given, model_value, path):
    if given is not None and given != model_value:
        raise EseError(f"{option} {given} disagrees with {path}, which has {model_value}")


def _load_model(arrays, path, *, shape, density, n_pe, index_bits):
    """A compressed model file's ``arrays``, checked against the options given."""
    try:
        stack = stack_from_arrays(arrays, source=str(path))
    except EseError:
        raise
    except (TypeError, ValueError) as e:        # malformed content the checks did not foresee
        raise EseError(f"{path}: malformed compressed model ({type(e).__name__})") from None
    model = stack.layers[0] if len(stack.layers) == 1 else stack
    _check_shape(shape, _shape_of(model), path)
    _check_agrees("--pes", n_pe, model.config.n_pe, path)
    _check_agrees("--index-bits", index_bits, model.config.index_bits, path)
    _check_agrees("--density", density, model.config.density, path)
    return model


def _shape_of(model):
    """(I, H, P) of one layer; of a stack, one such tuple per layer (``model``: a
    compressed model or stack, or their channel or stack parameters alike)."""
    layers = getattr(model, "layers", None)
    if layers is not None:
        return tuple(_shape_of(m) for m in layers)
    return (model.n_in, model.n_cells, model.n_proj)


def _check_shape(shape, file_shape, path):
    if shape is not None and isinstance(file_shape[0], tuple):
        raise EseError(f"--shape {','.join(map(str, shape))} cannot describe {path}, a "
                       f"{len(file_shape)}-layer stack (its shapes come from the file)")
    if shape is not None and tuple(shape) != file_shape:
        raise EseError(f"--shape {','.join(map(str, shape))} disagrees with {path}, which "
                       f"is {','.join(map(str, file_shape))}")


def _cache_key(weights_id, shape, config):
    """Everything a compression depends on, as a file name (``shape``: (I, H, P), or
    one such tuple per layer of a stack)."""
    key = {"weights": weights_id, "shape": list(shape), "config": config.to_dict(),
           "format_version": FORMAT_VERSION, "ese_hw": __version__}
    layers = shape if isinstance(shape[0], tuple) else (shape,)
    splits = [proj_split(config.n_pe, p) for _, _, p in layers]
    if max(splits) > 1:          # W_ym in parts: unlike an entry cached before the split
        key["ym_split"] = splits
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    i, h, p = layers[0]
    stem = f"{i}x{h}x{p}" if len(layers) == 1 else f"stack{len(layers)}_{i}x{h}x{p}"
    return f"{stem}_pe{config.n_pe}_i{config.index_bits}_{digest}.npz"


def cached_compress(weights_id, make_weights, shape, config, *, cache_dir=DEFAULT_CACHE_DIR):
    """(path, model): ``make_weights()`` compressed with ``config``, from the cache under
    ``cache_dir`` (keyed by ``weights_id``, ``shape`` and every ``config`` field) or
    compressed now and cached. With ``shape`` one (I, H, P) per layer,
    ``make_weights()`` gives the layers and the model is a ``CompressedStack``. A
    ``filelock`` lock makes concurrent callers (a sweep's workers) compress once."""
    cache_dir = Path(cache_dir)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EseError(f"cannot create {cache_dir}: {e.strerror}") from None
    path = cache_dir / _cache_key(weights_id, shape, config)
    stacked = isinstance(shape[0], tuple)
    with FileLock(str(path) + ".lock"):
        if path.exists():
            try:
                return path, (load_compressed_stack if stacked else load_compressed)(path)
            except EseError:
                pass                            # a damaged cache entry: compress again
        weights = make_weights()
        model = compress_stack(weights, config) if stacked else compress(weights, config)
        model.save(path)                        # atomic: no half-written cache entry
    return path, model


def file_digest(path):
    """SHA-256 of a file's contents (hex); an unreadable file is an :class:`EseError`.
    Read in blocks: ``hashlib.file_digest`` needs Python 3.11, and the project supports 3.10."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise EseError(f"{path}: {e.strerror}") from None
    return h.hexdigest()


def _model_and_source(model_path, *, shape, density, n_pe, index_bits, cache_dir):
    """(model, source, model file) of the options: the compressed model given, the
    float weights given compressed with the options, or seeded random weights."""
    config = Config(n_pe=_CONFIG_DEFAULTS.n_pe if n_pe is None else n_pe,
                    density=_CONFIG_DEFAULTS.density if density is None else density,
                    index_bits=DEFAULT_INDEX_BITS if index_bits is None else index_bits)
    if model_path is None:
        shape = DEFAULT_SHAPE if shape is None else tuple(shape)
        path, model = cached_compress(
            f"random seed {RANDOM_SEED}", lambda: random_weights(*shape, seed=RANDOM_SEED),
            shape, config, cache_dir=cache_dir)
        source = (f"random({','.join(map(str, shape))}, density={config.density:g}, "
                  f"seed={RANDOM_SEED})")
        return model, source, path
    arrays = read_npz(model_path)
    if is_compressed(arrays):
        model = _load_model(arrays, model_path, shape=shape, density=density, n_pe=n_pe,
                            index_bits=index_bits)
        return model, str(model_path), Path(model_path)
    try:
        layers = weight_stack_from_arrays(arrays, source=str(model_path))
    except EseError:
        raise
    except (TypeError, ValueError) as e:
        raise EseError(f"{model_path}: malformed weights ({type(e).__name__})") from None
    file_shape = tuple((w.n_in, w.n_cells, w.n_proj) for w in layers)
    if len(layers) == 1:
        file_shape = file_shape[0]
    _check_shape(shape, file_shape, model_path)
    make = (lambda: layers[0]) if len(layers) == 1 else (lambda: layers)
    path, model = cached_compress(file_digest(model_path), make, file_shape, config,
                                  cache_dir=cache_dir)
    return model, f"{model_path} (compressed at density {config.density:g})", path


def make_design(*, model_path=None, shape=None, density=None, n_pe=None,
                n_channels=DEFAULTS["n_channels"], index_bits=None,
                queue_depth=DEFAULTS["queue_depth"], broadcast=DEFAULTS["broadcast"],
                ew_share=DEFAULTS["ew_share"], clock_mhz=DEFAULTS["clock_mhz"],
                cache_dir=DEFAULT_CACHE_DIR):
    """A checked :class:`Design`.

    Parameters
    ----------
    model_path : path-like, optional
        A compressed model (``ese-hw compress``): ``shape``, ``density``, ``n_pe`` and
        ``index_bits`` then default to its own and must agree with it when given. Or
        float weights (``ese-hw init``): compressed with the options (cached), and
        ``shape`` must agree with them.
    shape : (I, H, P), optional
        Without a file: the random model's shape (default :data:`DEFAULT_SHAPE`).
    density, n_pe, index_bits : optional
        The compression's, unless a compressed model fixes them (defaults
        :class:`Config`'s density and PE count, :data:`DEFAULT_INDEX_BITS`).
    n_channels, queue_depth : int
    broadcast : int
        Activations per transfer (K); must divide the PE count.
    ew_share : int
        PEs per element-wise unit (G); must divide the PE count.
    clock_mhz : float
    cache_dir : path-like
        Cache of compressed random models.

    Raises
    ------
    EseError
        A bad value (one line naming its option), an unreadable model, or a model
        that disagrees with the options.
    """
    for option, value in (("--pes", n_pe), ("--channels", n_channels),
                          ("--index-bits", index_bits), ("--queue-depth", queue_depth),
                          ("--broadcast", broadcast), ("--ew-share", ew_share)):
        if value is not None:
            check_int_option(option, value)
    if n_pe is not None or model_path is None:  # before any compression, when known
        _check_groupings(broadcast, ew_share, _CONFIG_DEFAULTS.n_pe if n_pe is None else n_pe)
    if density is not None:
        check_density(density)
    clock_mhz = check_clock(clock_mhz)
    model, source, path = _model_and_source(model_path, shape=shape, density=density,
                                            n_pe=n_pe, index_bits=index_bits,
                                            cache_dir=cache_dir)
    _check_groupings(broadcast, ew_share, model.config.n_pe)
    if isinstance(model, CompressedStack):          # every layer on chip (ChannelStack)
        params = StackParams.for_stack(model, n_channels=n_channels, queue_depth=queue_depth,
                                       broadcast=broadcast, ew_share=ew_share)
    else:
        params = ChannelParams.for_model(model, n_channels=n_channels, queue_depth=queue_depth,
                                         broadcast=broadcast, ew_share=ew_share)
    return Design(params=params, model=model, clock_mhz=clock_mhz, source=source,
                  model_path=path)

