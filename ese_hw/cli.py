"""The ``ese-hw`` command: a thin argparse layer over :mod:`ese_hw.flows.engines` and
:mod:`ese_hw.model`.

Subcommands::

    ese-hw init WEIGHTS.npz [--input I --cells H --proj P --seed S]
    ese-hw import MODEL.pt -o WEIGHTS.npz [--prefix NAME.]   (PyTorch nn.LSTM; torch extra)
    ese-hw compress WEIGHTS.npz -o MODEL.npz [--pes N --density D --weight-bits B
                    --act-bits A --index-bits X --accum-bits C --balance pe|column|none
                    --calib X.npy --report R.json]
    ese-hw run MODEL_OR_WEIGHTS.npz --inputs X.npy -o Y.npy [--engine float|golden|rtl]
               [--sim icarus|verilator --channels C --queue-depth D --broadcast K
                --ew-share G --bake]
               [--report R.json]
    ese-hw demo [--frames T] [--out DIR] [--rtl-frames N] [--sim SIM]   (ese_hw.flows.demo)
    ese-hw generate | estimate | sweep [MODEL.npz] [design options]   (ese_hw.flows)

argparse lives here and only here: the library takes typed values
(:func:`ese_hw.flows.design.make_design`, :func:`ese_hw.flows.design.design_grid`,
:func:`ese_hw.flows.engines.run_rtl_engine`), and this module parses the strings of the
command line into them (:func:`design_from_args`, :func:`grid_from_args`).

Every user error (an :class:`~ese_hw.errors.EseError` from the library, an
unreadable or malformed file, an unwritable output) is reported as one line
``ese-hw: error: <message>`` on stderr with exit status 2, and no output file is
written: all outputs of a command are staged in temporary files beside their
targets and moved into place (``os.replace``) only once everything has succeeded.
RTL that differs from the golden model (``run --engine rtl``, ``sweep --rtl-check``,
``demo``) is the one line of a :class:`~ese_hw.errors.MismatchError` with exit status 1,
naming the first differing lane, frame and element; ``run`` writes its outputs and
report first, so that the user can look.
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np

from . import __version__
from .errors import EseError, MismatchError
from .flows import demo, sweep
from .flows import engines as flows
from .flows.demo import DEFAULT_RTL_FRAMES
from .flows.design import DEFAULT_CACHE_DIR as DESIGN_CACHE_DIR
from .flows.design import (
    DEFAULT_INDEX_BITS,
    DEFAULT_SHAPE,
    GRID_AXES,
    check_clock,
    check_density,
    check_int_option,
    design_grid,
    make_design,
)
from .flows.estimate import (
    DEFAULT_CACHE_DIR,
    DEFAULT_MARGIN,
    estimate,
    format_estimate,
    parse_margin,
)
from .flows.generate import check_out_dir, check_y_fifo_depth, generate
from .flows.sweep import DEFAULT_GRID, format_grid
from .gateware.top import DEFAULT_Y_FIFO_DEPTH
from .model.compress import (
    Config,
    check_config,
    compress_stack,
    dropped_column_warnings,
    is_compressed,
    stack_from_arrays,
)
from .model.limits import DEFAULTS, LIMITS, check_int
from .model.lstmp import MATRIX_KEYS, check_inputs, random_weights
from .model.npzio import read_npy, read_npz
from .model.stack import describe_stack, save_weight_stack, save_weights, weight_stack_from_arrays
from .model.torch_import import import_lstm
from .simulation.rtl import check_ew_share, check_rtl_options

__all__ = ["main", "build_parser"]

PROG = "ese-hw"
#: Exit statuses: bad input (and every other error), and RTL that differs from the golden
#: model (:class:`~ese_hw.errors.MismatchError`; its outputs and report are written).
EXIT_ERROR = 2
EXIT_MISMATCH = 1


# ---------------------------------------------------------------------------- file I/O

class _Outputs:
    """Outputs of one command, staged in temporary files and moved into place together.

    Use as a context manager; call :meth:`commit` once all the work has succeeded.
    Leaving the block without committing (an exception) removes every staged file.
    """

    def __init__(self):
        self._staged = []                       # (temporary path, target path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for tmp, _ in self._staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._staged = []
        return False

    def _stage(self, path):
        path = os.fspath(path)
        if any(os.path.abspath(path) == os.path.abspath(p) for _, p in self._staged):
            raise EseError(f"{path}: named twice as an output")
        if os.path.isdir(path):
            raise EseError(f"{path}: is a directory")
        directory = os.path.dirname(os.path.abspath(path))
        try:
            fd, tmp = tempfile.mkstemp(prefix=".ese-hw-", suffix=".tmp", dir=directory)
        except OSError as e:
            raise EseError(f"cannot write {path}: {e.strerror}") from None
        self._staged.append((tmp, path))
        return fd, tmp

    def npy(self, path, array):
        fd, _ = self._stage(path)
        with os.fdopen(fd, "wb") as f:
            np.save(f, array, allow_pickle=False)

    def json(self, path, obj):
        fd, _ = self._stage(path)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(_dumps(obj))

    def saved(self, path, save):
        """Stage ``save(tmp_path)`` (e.g. ``CompressedModel.save``)."""
        fd, tmp = self._stage(path)
        os.close(fd)
        save(tmp)

    def commit(self):
        for tmp, path in self._staged:
            os.replace(tmp, path)
        self._staged = []


def _dumps(obj):
    return json.dumps(obj, indent=2) + "\n"


def _read_npy(path, n_in):
    """A (T, n_in) finite float sequence from a ``.npy`` file."""
    return check_inputs(read_npy(path), n_in, source=str(path))


def _weights_from(arrays, path):
    """The layers of a float weights file (either layout)."""
    try:
        return weight_stack_from_arrays(arrays, source=str(path))
    except EseError:
        raise
    except (TypeError, ValueError) as e:      # malformed content the checks did not foresee
        raise EseError(f"{path}: malformed weights ({type(e).__name__})") from None


def _model_from(arrays, path):
    """The :class:`~ese_hw.model.compress.CompressedStack` of a compressed model file."""
    try:
        return stack_from_arrays(arrays, source=str(path))
    except EseError:
        raise
    except (TypeError, ValueError) as e:      # e.g. a non-scalar format_version
        raise EseError(f"{path}: malformed compressed model ({type(e).__name__})") from None


def _load_weights(path):
    arrays = read_npz(path)
    if is_compressed(arrays):
        raise EseError(f"{path}: a compressed model, expected float weights")
    return _weights_from(arrays, path)


def _load_any(path):
    """(kind, object): ``("model", CompressedStack)`` or ``("weights", [LSTMPWeights])``."""
    arrays = read_npz(path)
    if is_compressed(arrays):
        return "model", _model_from(arrays, path)
    return "weights", _weights_from(arrays, path)


# ---------------------------------------------------------------------------- reports

def compress_report(stack):
    """The JSON report of a compressed model or stack: its stats plus ``config`` and
    ``qformats``; a stack of several layers lists them under ``layers``."""
    def one(m):
        return {**m.stats, "config": m.config.to_dict(), "qformats": dict(m.qformats)}

    layers = getattr(stack, "layers", (stack,))
    if len(layers) == 1 and layers[0].has_projection:
        return one(layers[0])
    return {"n_layers": len(layers), "config": layers[0].config.to_dict(),
            "layers": [{**one(m), "projection": m.has_projection} for m in layers]}


def format_compress_report(stack):
    """A human-readable table of a compressed model's (or stack's) statistics."""
    layers = getattr(stack, "layers", (stack,))
    if len(layers) == 1:
        return _format_layer(layers[0])
    head = (f"{describe_stack([m.float_weights for m in layers])}, the same configuration "
            f"in every layer")
    return "\n\n".join([head] + [f"layer {k}: {_format_layer(m)}"
                                 for k, m in enumerate(layers)])


def _format_layer(model):
    s, c, q = model.stats, model.config, model.qformats
    kind = (f"LSTMP {model.n_in} inputs, {model.n_cells} cells, {model.n_proj} projections"
            if model.has_projection else
            f"LSTM {model.n_in} inputs, {model.n_cells} cells, no projection (y = m)")
    lines = [
        f"{kind}; {c.n_pe} PEs, density {c.density:g}, balance {c.balance}",
        f"{c.weight_bits}-bit weights, {c.act_bits}-bit activations, {c.index_bits}-bit "
        f"indices, {c.accum_bits}-bit accumulators "
        f"({s.get('accum_bits_needed', '?')} needed)",
        "",
        f"{'matrix':<7} {'shape':>11} {'density':>8} {'nnz':>9} {'PE min':>7} {'PE max':>7} "
        f"{'empty cols':>10}",
    ]
    for k in MATRIX_KEYS:
        if k not in s["matrices"]:
            continue
        m = s["matrices"][k]
        shape = "x".join(str(d) for d in m["shape"])
        lines.append(f"{k:<7} {shape:>11} {m['density']:>8.4f} {m['nnz']:>9} "
                     f"{m['pe_nnz_min']:>7} {m['pe_nnz_max']:>7} "
                     f"{m.get('empty_columns', '?'):>10}")
    lines += ["", f"{'SpMV':<7} {'entries':>9} {'padding':>9} {'fraction':>9} "
                  f"{'PE min':>7} {'PE max':>7} {'ptr bits':>8}"]
    for name, v in s["spmv"].items():
        lines.append(f"{name:<7} {v['entries']:>9} {v['padding']:>9} "
                     f"{v['padding_fraction']:>9.2%} {v['pe_entries_min']:>7} "
                     f"{v['pe_entries_max']:>7} {v['pointer_bits']:>8}")
    lines += [
        "",
        f"non-zeros      {s['nnz_total']} (density {s['density']:.4f}), "
        f"per PE {s['pe_nnz_min']}..{s['pe_nnz_max']}",
        f"padding        {s['padding_total']} entries ({s['padding_fraction']:.2%} of all)",
        f"compression    {s['compression_ratio']:.2f}x against dense fp32 "
        f"({s['compressed_bits']} bits with pointers, biases, peepholes), "
        f"{s['matrix_compression_ratio']:.2f}x matrices only",
        ("Q formats      fractional bits: gate weights {fw_g}, W_ym {fw_y}, peepholes {fp}, "
         "x/y {fa}, c {fc}, gates/m {fg}" if model.has_projection else
         "Q formats      fractional bits: gate weights {fw_g}, peepholes {fp}, x/y {fa}, "
         "c {fc}, gates/m {fg}").format(**q),
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- design options

def add_design_options(parser, *, multi=False):
    """Add the design options of :func:`ese_hw.flows.design.make_design` to ``parser``.

    ``multi=True`` (a sweep): ``--pes``, ``--channels``, ``--index-bits``,
    ``--broadcast`` and ``--ew-share`` take comma lists. Values are parsed and checked by
    :func:`design_from_args` / :func:`grid_from_args`, not by argparse, so a bad one is
    one line naming it.
    Options a model fixes (``--shape``, ``--density``, ``--pes``, ``--index-bits``)
    default to the model's values when a ``MODEL.npz`` is given.
    """
    d = Config()
    lists = " (comma list)" if multi else ""
    shape = ",".join(map(str, DEFAULT_SHAPE))
    parser.add_argument("model", metavar="MODEL.npz", nargs="?",
                        help="a compressed model (ese-hw compress) or float weights "
                             "(ese-hw init, compressed with these options); without one, "
                             "seeded random weights of --shape compressed at --density")
    parser.add_argument("--shape", metavar="I,H,P",
                        help=f"LSTMP input, cells, projection (default {shape}, or the model's)")
    parser.add_argument("--density", metavar="D",
                        help=f"fraction of weights kept, in (0, 1] (default {d.density})")
    parser.add_argument("--pes", metavar="N", help=f"PEs per channel{lists} (default {d.n_pe})")
    parser.add_argument("--channels", metavar="C", default=str(DEFAULTS["n_channels"]),
                        help=f"lock-step channels{lists} (default {DEFAULTS['n_channels']})")
    parser.add_argument("--ew-share", metavar="G", default=str(DEFAULTS["ew_share"]),
                        help=f"PEs sharing one element-wise unit and its tables{lists}; "
                             f"must divide the PE count (default {DEFAULTS['ew_share']})")
    parser.add_argument("--index-bits", metavar="B",
                        help=f"relative-index bits{lists} (default {DEFAULT_INDEX_BITS})")
    parser.add_argument("--broadcast", metavar="K", default=str(DEFAULTS["broadcast"]),
                        help=f"activations handed to every PE per transfer{lists}; must "
                             f"divide the PE count (default {DEFAULTS['broadcast']})")
    parser.add_argument("--queue-depth", metavar="Q", default=str(DEFAULTS["queue_depth"]),
                        help=f"activation queue depth per PE (default {DEFAULTS['queue_depth']})")
    _add_clock_option(parser, default=str(DEFAULTS["clock_mhz"]))
    return parser


def _add_clock_option(parser, *, default=None, what=""):
    parser.add_argument("--clock-mhz", metavar="F", default=default,
                        help=f"{what}clock frequency in MHz (default "
                             f"{DEFAULTS['clock_mhz']:g})")


def parse_int_option(option, text):
    """``text`` as an integer checked against the bounds of ``option``."""
    try:
        value = int(str(text).strip())
    except ValueError:
        raise EseError(f"{option} must be an integer, got {text!r}") from None
    return check_int_option(option, value)


def parse_int_list(option, text):
    """A comma list of integers for ``option`` (``"16,32"``), each checked, no repeats."""
    items = str(text).split(",")
    if not all(t.strip() for t in items):
        raise EseError(f"{option} must be a comma list of integers, got {text!r}")
    values = [parse_int_option(option, t) for t in items]
    if len(set(values)) != len(values):
        raise EseError(f"{option} lists a value twice: {text!r}")
    return values


def parse_shape(text):
    """``"I,H,P"`` as three positive integers."""
    parts = str(text).split(",")
    if len(parts) != 3:
        raise EseError(f"--shape must be I,H,P (three integers), got {text!r}")
    out = []
    for name, part in zip(("n_in", "n_cells", "n_proj"), parts, strict=True):
        try:
            value = int(part.strip())
        except ValueError:
            raise EseError(f"--shape must be I,H,P (three integers), got {text!r}") from None
        out.append(check_int(name, value, label=f"--shape {LIMITS[name].label}"))
    return tuple(out)


def parse_density(text):
    """``--density`` as a float in (0, 1]."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise EseError(f"--density must be a number in (0, 1], got {text!r}") from None
    return check_density(value)


def parse_clock(text):
    """``--clock-mhz`` as a float in range."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise EseError(f"--clock-mhz must be a number, got {text!r}") from None
    return check_clock(value)


def _common_design_options(args):
    """The design options that are single values in both modes, parsed and checked."""
    return {
        "model_path": args.model,
        "shape": None if args.shape is None else parse_shape(args.shape),
        "density": None if args.density is None else parse_density(args.density),
        "queue_depth": parse_int_option("--queue-depth", args.queue_depth),
        "clock_mhz": parse_clock(args.clock_mhz),
    }


def design_from_args(args, *, cache_dir=DESIGN_CACHE_DIR):
    """The :class:`~ese_hw.flows.design.Design` of options added by
    ``add_design_options(parser)``."""
    kw = _common_design_options(args)
    return make_design(**kw, n_pe=None if args.pes is None else parse_int_option("--pes", args.pes),
                       n_channels=parse_int_option("--channels", args.channels),
                       ew_share=parse_int_option("--ew-share", args.ew_share),
                       index_bits=(None if args.index_bits is None
                                   else parse_int_option("--index-bits", args.index_bits)),
                       broadcast=parse_int_option("--broadcast", args.broadcast),
                       cache_dir=cache_dir)


def grid_from_args(args, defaults=None):
    """The points of ``add_design_options(parser, multi=True)``
    (:func:`ese_hw.flows.design.design_grid`); ``defaults`` (make_design keyword ->
    values) stands for an axis not given."""
    defaults = defaults or {}
    axes = {}
    for option, name in GRID_AXES.items():
        text = getattr(args, option[2:].replace("-", "_"))
        if text is not None:
            axes[name] = parse_int_list(option, text)
        elif name in defaults:
            axes[name] = list(defaults[name])
    return design_grid(**_common_design_options(args), **axes)


def grid_from_sweep_args(args):
    """:func:`grid_from_args` with :data:`ese_hw.flows.sweep.DEFAULT_GRID` for the axes
    not given; a compressed model's own PE count and index width stand instead of the
    defaults (it fixes them)."""
    fixed = args.model is not None and is_compressed(read_npz(args.model))
    defaults = {k: v for k, v in DEFAULT_GRID.items() if not fixed or k == "n_channels"}
    return grid_from_args(args, defaults)


# ---------------------------------------------------------------------------- commands

def _config(args):
    cfg = Config(n_pe=args.pes, density=args.density, weight_bits=args.weight_bits,
                 act_bits=args.act_bits, index_bits=args.index_bits,
                 accum_bits=args.accum_bits, balance=args.balance)
    try:
        check_config(cfg)
    except TypeError as e:                # argparse passes `--pes=--` on as [], not an int
        raise EseError(str(e)) from None
    return cfg


def cmd_init(args, out):
    if args.seed < 0:
        raise EseError(f"seed must be a non-negative integer, got {args.seed}")
    w = random_weights(args.input, args.cells, args.proj, seed=args.seed)
    out.saved(args.weights, lambda path: save_weights(path, w))
    out.commit()
    print(f"wrote {args.weights}: {w.n_in} inputs, {w.n_cells} cells, {w.n_proj} projections "
          f"(seed {args.seed})")


def cmd_import(args, out):

    layers = import_lstm(args.model, prefix=args.prefix)
    out.saved(args.output, lambda path: save_weight_stack(path, layers))
    out.commit()
    print(f"wrote {args.output}: {describe_stack(layers)}")


def cmd_compress(args, out):
    cfg = _config(args)                       # parameters first: fail before reading files
    layers = _load_weights(args.weights)
    calib = None if args.calib is None else _read_npy(args.calib, layers[0].n_in)
    model = compress_stack(layers, cfg, calib=calib)
    for line in dropped_column_warnings(model):
        print(f"ese-hw: warning: {line}", file=sys.stderr)
    out.saved(args.output, model.save)
    if args.report is not None:
        out.json(args.report, compress_report(model))
    out.commit()
    print(format_compress_report(model))
    print(f"wrote {args.output}" + (f" and {args.report}" if args.report else ""))


def _rtl_options(args):
    """The rtl options, checked before any file is read (the broadcast width and
    ``--ew-share`` against the model's PE count once the model is read)."""
    # Both default to None, so that the other engines can tell "not given" from "1".
    args.broadcast = 1 if args.broadcast is None else parse_int_option("--broadcast",
                                                                        args.broadcast)
    args.ew_share = 1 if args.ew_share is None else parse_int_option("--ew-share",
                                                                      args.ew_share)
    args.clock_mhz = (DEFAULTS["clock_mhz"] if args.clock_mhz is None
                      else parse_clock(args.clock_mhz))
    check_rtl_options(sim=args.sim, n_channels=args.channels, queue_depth=args.queue_depth,
                      broadcast=args.broadcast, ew_share=args.ew_share)
    if args.bake and args.harness != "cocotb":
        raise EseError("--bake runs the channel through cocotb: add --harness cocotb")


def _read_rtl_inputs(path, n_in, channels):
    """((C, T, n_in) float inputs, given as (T, I)?): (T, I) needs C == 1."""
    x = read_npy(path)
    if x.ndim == 2:
        if channels != 1:
            raise EseError(f"{path}: a (T, I) sequence feeds one channel; give (C, T, I) "
                           f"inputs for --channels {channels}")
        return _read_npy(path, n_in)[None], True
    if x.ndim != 3:
        raise EseError(f"{path}: shape {x.shape}, expected (T, {n_in}) or "
                       f"({channels}, T, {n_in})")
    if x.shape[0] != channels:
        raise EseError(f"{path}: {x.shape[0]} sequences, but --channels {channels}")
    return np.stack([check_inputs(s, n_in, source=str(path)) for s in x]), False


def _run_engine(args, obj):
    """(EngineRun, outputs to write) of ``args.engine`` on the model or weights ``obj``."""
    if args.engine == "rtl":
        x, one_seq = _read_rtl_inputs(args.inputs, obj.n_in, args.channels)
        run = flows.run_rtl_engine(obj, x, sim=args.sim, queue_depth=args.queue_depth,
                                   broadcast=args.broadcast, ew_share=args.ew_share,
                                   clock_mhz=args.clock_mhz, build_root=args.build_dir,
                                   bake=args.bake, harness=args.harness)
        return run, run.y[0] if one_seq else run.y
    x = _read_npy(args.inputs, obj[0].n_in if isinstance(obj, list) else obj.n_in)
    run = flows.run_golden(obj, x) if args.engine == "golden" else flows.run_float(obj, x)
    return run, run.y


def _run_message(args, run):
    r = run.report
    if r["engine"] == "rtl":
        layers = f", {r['layers']} layers on chip" if r["layers"] > 1 else ""
        return (f"rtl ({args.sim}, {r['harness']}{layers}): {r['frames']} frames x "
                f"{args.channels} "
                f"channel(s) -> "
                f"{args.output}; {r['cycles_per_frame']:.1f} cycles/frame (model "
                f"{r['model_cycles_per_frame']:.1f}), U {r['utilization']:.3f}, "
                f"{r['latency_us']:.2f} us at {r['clock_mhz']:g} MHz; bit-exact vs golden: "
                f"{r['bit_exact_vs_golden']}; {_build_note(r)}")
    msg = f"{r['engine']}: {r['frames']} frames -> {args.output} {run.y.shape}"
    if "max_abs_error" in r:
        msg += (f"; vs float: max abs error {r['max_abs_error']:.3g}, "
                f"mean {r['mean_abs_error']:.3g}")
    return msg


def _build_note(r):
    """How the rtl engine's build and model got there, for the summary line."""
    build = "cached build" if r["build_cached"] else f"built in {r['build_seconds']:.0f} s"
    speed = (f"; simulated {r['sim_cycles']:,} cycles in {r['sim_seconds']:.1f} s "
             f"({r['sim_cycles_per_second']:,} cycles/s, {r['frames_per_second']:g} frames/s)"
             if r["sim_cycles_per_second"] else "")
    if r["baked"]:
        return f"{build}, images baked in{speed}"
    load = "" if r["load_seconds"] is None else f" ({r['load_seconds']:.1f} s)"
    return f"{build}, model loaded in {r['load_cycles']:,} cycles{load}{speed}"


def cmd_run(args, out):
    if args.engine != "rtl" and args.bake:
        raise EseError(f"--bake needs --engine rtl (engine {args.engine or 'default'})")
    if args.engine == "rtl":
        _rtl_options(args)                # parameters first: fail before reading files
    kind, obj = _load_any(args.model)
    args.engine = args.engine or ("golden" if kind == "model" else "float")
    if kind == "weights" and args.engine != "float":
        raise EseError(f"{args.model}: float weights, not a compressed model; engine "
                       f"{args.engine} needs one (run `{PROG} compress` first)")
    if args.engine != "rtl" and args.channels != 1:
        raise EseError(f"--channels needs --engine rtl (engine {args.engine})")
    if args.engine != "rtl" and args.broadcast is not None:
        raise EseError(f"--broadcast needs --engine rtl (engine {args.engine})")
    if args.engine != "rtl" and args.ew_share is not None:
        raise EseError(f"--ew-share needs --engine rtl (engine {args.engine})")
    if args.engine != "rtl" and args.clock_mhz is not None:
        raise EseError(f"--clock-mhz needs --engine rtl (engine {args.engine})")
    if args.engine == "rtl":
        check_ew_share(args.ew_share, obj.config.n_pe, label="--ew-share")
    run, y = _run_engine(args, obj)
    out.npy(args.output, y)
    if args.report is not None:
        out.json(args.report, {**run.report, "model": kind})
    out.commit()
    print(_run_message(args, run))
    if run.mismatch is not None:          # written first, so that the user can look
        raise run.mismatch


def cmd_demo(args, out):

    # demo.run_demo, not a name imported here: a test swaps in a tiny design.
    report = demo.run_demo(args.out, frames=args.frames, rtl_frames=args.rtl_frames,
                           sim=args.sim, log=lambda line: print(line, flush=True))
    out.json(os.path.join(args.out, "report.json"), report)
    out.commit()


def cmd_generate(args, out):

    check_y_fifo_depth(args.y_fifo_depth)     # the cheap checks before any compression
    check_out_dir(args.output)
    design = design_from_args(args)
    result = generate(design, args.output, bake=args.bake, y_fifo_depth=args.y_fifo_depth,
                      progress=lambda step: print(f"generate: {step} ...", flush=True))
    perf = result.config["performance"]
    print(f"wrote {args.output}: {', '.join(result.files)}")
    share = design.params.ew_share
    share = f", {share} PEs per element-wise unit" if share > 1 else ""
    print(f"model {design.source}; {design.params.n_pe} PEs x {design.params.n_channels} "
          f"channel(s){share}; cycle model {perf['cycles_per_frame']:.0f} cycles/frame, "
          f"{perf['latency_us']:.2f} us at {design.clock_mhz:g} MHz, U {perf['utilization']:.3f}")


def cmd_sweep(args, out):

    margin = parse_margin(args.margin)              # every option checked first
    if args.model_option is not None:
        if args.model is not None:
            raise EseError("give the model once: MODEL.npz or --model, not both")
        args.model = args.model_option
    designs = grid_from_sweep_args(args)
    result = sweep.run_sweep(designs, args.output, frames=args.frames, margin=margin,
                             scheduler=args.scheduler, n_workers=args.workers,
                             rtl_check=args.rtl_check)
    print(sweep.format_summary(result, args.output))
    mismatch = sweep.rtl_mismatch(result["rows"])
    if mismatch is not None:                # the tables name it too: FAIL
        raise mismatch


def cmd_estimate(args, out):

    margin = parse_margin(args.margin)          # the cheap checks before any compression
    y_fifo_depth = check_y_fifo_depth(args.y_fifo_depth)
    design = design_from_args(args)
    result = estimate(design.params, margin=margin, cache_dir=args.cache_dir,
                      y_fifo_depth=y_fifo_depth)
    if args.report is not None:
        out.json(args.report, {**result, "model": design.source, "clock_mhz": design.clock_mhz})
    out.commit()
    print(format_estimate(result))


# ---------------------------------------------------------------------------- parser

def _add_init(sub):
    s = sub.add_parser("init", help="write seeded random float LSTMP weights")
    s.add_argument("weights", metavar="WEIGHTS.npz")
    s.add_argument("--input", type=int, default=153, help="input size I (default 153)")
    s.add_argument("--cells", type=int, default=1024, help="cells H (default 1024)")
    s.add_argument("--proj", type=int, default=512, help="projection size P (default 512)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.set_defaults(func=cmd_init)


def _add_import(sub):
    s = sub.add_parser("import", help="convert a PyTorch nn.LSTM state_dict (torch.save) "
                                      "to a float weights file (needs ese_hw[torch])")
    s.add_argument("model", metavar="MODEL.pt",
                   help="a state_dict of nn.LSTM, or of a module holding one")
    s.add_argument("-o", "--output", metavar="WEIGHTS.npz", required=True)
    s.add_argument("--prefix", default="", metavar="NAME.",
                   help="where the LSTM's keys start in the state_dict, e.g. 'encoder.rnn.' "
                        "(default: find the one LSTM)")
    s.set_defaults(func=cmd_import)


def _add_compress(sub):
    d = Config()
    s = sub.add_parser("compress", help="prune, quantize and encode float weights")
    s.add_argument("weights", metavar="WEIGHTS.npz")
    s.add_argument("-o", "--output", metavar="MODEL.npz", required=True)
    s.add_argument("--pes", type=int, default=d.n_pe, help=f"PEs per channel ({d.n_pe})")
    s.add_argument("--density", type=float, default=d.density,
                   help=f"fraction of weights kept, in (0, 1] ({d.density})")
    s.add_argument("--weight-bits", type=int, default=d.weight_bits, help=f"({d.weight_bits})")
    s.add_argument("--act-bits", type=int, default=d.act_bits, help=f"({d.act_bits})")
    s.add_argument("--index-bits", type=int, default=d.index_bits, help=f"({d.index_bits})")
    s.add_argument("--accum-bits", type=int, default=d.accum_bits, help=f"({d.accum_bits})")
    # Not restricted with choices=: check_config names the bad value in one line.
    s.add_argument("--balance", default=d.balance, help=f"pe, column or none ({d.balance})")
    s.add_argument("--calib", metavar="X.npy",
                   help="(T, I) calibration inputs for the activation Q formats "
                        "(default: 64 seeded standard-normal frames)")
    s.add_argument("--report", metavar="R.json", help="write the statistics as JSON")
    s.set_defaults(func=cmd_compress)


def _add_run(sub):
    s = sub.add_parser("run", help="run an LSTMP (or a stack of layers) over an input "
                                   "sequence")
    s.add_argument("model", metavar="MODEL_OR_WEIGHTS.npz")
    s.add_argument("--inputs", metavar="X.npy", required=True, help="(T, I) float inputs")
    s.add_argument("-o", "--output", metavar="Y.npy", required=True,
                   help="(T, P) float outputs")
    s.add_argument("--engine", choices=flows.ENGINES,
                   help="float: the (pruned) float LSTMP; golden: the bit-exact integer "
                        "model; rtl: the channel's generated Verilog in a simulator "
                        "(default: golden on a compressed model, float on weights)")
    s.add_argument("--sim", default="verilator",
                   help="rtl engine: icarus or verilator (default verilator)")
    s.add_argument("--channels", type=int, default=DEFAULTS["n_channels"],
                   help=f"rtl engine: lock-step channels C; X is then (C, T, I) "
                        f"(default {DEFAULTS['n_channels']})")
    s.add_argument("--queue-depth", type=int, default=DEFAULTS["queue_depth"],
                   help=f"rtl engine: activation queue depth per PE "
                        f"(default {DEFAULTS['queue_depth']})")
    s.add_argument("--broadcast", metavar="K",
                   help="rtl engine: activations handed to every PE per transfer; must "
                        "divide the PE count (default 1)")
    s.add_argument("--ew-share", metavar="G",
                   help="rtl engine: PEs sharing one element-wise unit; must divide the "
                        "model's PE count (default 1)")
    _add_clock_option(s, what="rtl engine: the report's ")
    s.add_argument("--build-dir", default=os.path.join("build", "rtl"), metavar="DIR",
                   help="rtl engine: build cache (default build/rtl)")
    s.add_argument("--harness", choices=flows.RTL_HARNESSES, default=flows.RTL_HARNESSES[0],
                   help="rtl engine: native: the AXI4-Stream top in a Verilog harness, no "
                        "Python in the cycle loop; cocotb: the channel alone, its streams "
                        "driven from Python (default native)")
    s.add_argument("--bake", action="store_true",
                   help="rtl engine, --harness cocotb: bake the model into the Verilog (a "
                        "build per model) instead of sending it through the load stream "
                        "(one build per configuration)")
    s.add_argument("--report", metavar="R.json", help="write a JSON run report")
    s.set_defaults(func=cmd_run)


def _add_demo(sub):

    s = sub.add_parser("demo", help="the main job end to end on the paper-shape model: "
                                    "compress, generate the XCKU060 tree, RTL through the "
                                    "AXI top, estimate, sweep, summary next to ESE")
    s.add_argument("--frames", type=int, default=demo.DEFAULT_FRAMES,
                   help=f"frames of the golden model against float (default {demo.DEFAULT_FRAMES})")
    s.add_argument("--out", default=os.path.join("build", "demo"), metavar="DIR",
                   help="output directory (default build/demo)")
    s.add_argument("--rtl-frames", type=int, default=DEFAULT_RTL_FRAMES,
                   help=f"frames through the AXI top in RTL, 0 to skip "
                        f"(default {DEFAULT_RTL_FRAMES})")
    s.add_argument("--sim", default="verilator", help="rtl simulator (default verilator)")
    s.set_defaults(func=cmd_demo)


def _add_generate(sub):

    s = sub.add_parser("generate", help="write the AXI4-Stream top's Verilog, a Vivado "
                                        "flow for the XCKU060, load.bin and config.json")
    add_design_options(s)
    s.add_argument("--bake", action="store_true",
                   help="put the model's memory images into the Verilog")
    s.add_argument("--y-fifo-depth", type=int,
                   help=f"entries of the y FIFO (default {DEFAULT_Y_FIFO_DEPTH})")
    s.add_argument("-o", "--output", metavar="DIR", required=True,
                   help="output directory: new, empty or a previous generate output")
    s.set_defaults(func=cmd_generate)


def _add_sweep(sub):

    grid = format_grid(DEFAULT_GRID)
    s = sub.add_parser("sweep", help="sweep PEs x channels x PEs per element-wise unit x "
                                     "index bits on Dask: cycle model, GOPS and resource "
                                     "estimate per point",
                       description=f"Axes not given default to {grid} (a compressed model "
                                   "fixes its PEs and index bits). Writes DIR/sweep.csv, "
                                   "DIR/sweep.json and PNG plots; a previous sweep's DIR "
                                   "is resumed.")
    add_design_options(s, multi=True)
    s.set_defaults(pes=None, channels=None, index_bits=None)
    s.add_argument("--model", dest="model_option", metavar="M.npz",
                   help="the model, as an option (the same as MODEL.npz)")
    s.add_argument("--frames", type=int, default=sweep.DEFAULT_FRAMES,
                   help=f"seeded input frames per channel (default {sweep.DEFAULT_FRAMES})")
    s.add_argument("--margin", default=str(DEFAULT_MARGIN), metavar="M",
                   help=f"largest share of any XCKU060 resource that still fits "
                        f"(default {DEFAULT_MARGIN})")
    s.add_argument("--rtl-check", type=int, default=0, metavar="K",
                   help="re-run the K smallest points on Verilator (default 0)")
    s.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="an existing Dask scheduler (default: a LocalCluster)")
    s.add_argument("--workers", type=int, help="LocalCluster workers (default: one per core)")
    s.add_argument("-o", "--output", metavar="DIR", required=True,
                   help="a new directory, or a previous sweep's to resume")
    s.set_defaults(func=cmd_sweep)


def _add_estimate(sub):

    s = sub.add_parser("estimate", help="FPGA resources of the AXI4-Stream top on the "
                                        "XCKU060 (Yosys synth_xilinx, no Vivado)")
    add_design_options(s)
    s.add_argument("--y-fifo-depth", type=int,
                   help=f"entries of the y FIFO (default {DEFAULT_Y_FIFO_DEPTH})")
    s.add_argument("--margin", default=str(DEFAULT_MARGIN), metavar="M",
                   help=f"largest share of any resource that still fits, in (0, 1] "
                        f"(default {DEFAULT_MARGIN})")
    s.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR), metavar="DIR",
                   help=f"estimates cached by configuration (default {DEFAULT_CACHE_DIR})")
    s.add_argument("--report", metavar="R.json", help="write the estimate as JSON")
    s.set_defaults(func=cmd_estimate)


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors in the one-line form of every other error (its
    own prints the usage first); subcommand parsers inherit it."""

    def error(self, message):
        self.exit(EXIT_ERROR, f"{PROG}: error: {_one_line(message)} (see {self.prog} "
                              f"--help)\n")


def build_parser():
    p = _Parser(
        prog=PROG, description="ESE sparse-LSTM accelerator: compression and reference runs.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_init, _add_import, _add_compress, _add_run, _add_demo, _add_generate,
                _add_estimate, _add_sweep):
        add(sub)
    return p


def _one_line(msg):
    return " ".join(str(msg).split())


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:                   # usage errors (2), --help / --version (0)
        return e.code if isinstance(e.code, int) else EXIT_ERROR
    code = EXIT_ERROR
    try:
        with _Outputs() as out:
            args.func(args, out)
    except MismatchError as e:
        msg, code = str(e), EXIT_MISMATCH
    except EseError as e:
        msg = str(e)
    except OSError as e:                      # an output that could not be written
        msg = f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e)
    else:
        return 0
    print(f"{PROG}: error: {_one_line(msg)}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
