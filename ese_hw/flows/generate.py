"""``ese-hw generate``: everything needed to build a design for the XCKU060 with Vivado.

:func:`generate` writes, for one :class:`~ese_hw.flows.design.Design`, into a directory:

``ese_top.v``
    The AXI4-Stream top (:class:`ese_hw.gateware.top.AxisTop`) as Verilog; with
    ``bake`` the model's memory images are in it, else they are loaded at run time.
``ese_top.xdc``, ``ese_top.tcl``, ``build_ese_top.sh``
    The out-of-context Vivado flow of :func:`ese_hw.boards.xcku060.extract_vivado_project`:
    the clock on ``aclk`` at the design's frequency, ``synth_design -mode
    out_of_context -part xcku060-ffva1156-2-e``, opt/place/route, utilization and
    timing reports to files; the script runs ``vivado -mode batch -source ese_top.tcl``.
``load.bin``
    The exact ``s_axis_load`` byte stream of the design's model
    (:func:`ese_hw.gateware.top.model_load_bytes`): a checked load stream, its header
    (magic, version, configuration hash, length), the words and a CRC-32. Always
    written: a design always has a model, the given one or the seeded random one its
    memory depths come from, and the random model's stream is what a first test of a
    bitstream loads.
``config.json``
    Every channel parameter (``ChannelParams.to_dict()``; for a stack of layers
    ``stack``, ``StackParams.to_dict()``: every layer's), memory depths, Q formats,
    the port table, the clock, the model's source, ``load.bin``'s size, header, CRC-32
    and digest,
    and the cycle model's frame interval and latency at the clock.
``README.md``
    Ports, the load protocol and how to run Vivado.

The directory appears whole or not at all: everything is written into a temporary
directory beside it and renamed into place. An existing directory is replaced only if
it is empty or a previous ``generate`` output holding nothing but the files its
``config.json`` lists (so Vivado's results, or anyone's files, are never deleted);
anything else is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..boards.xcku060 import PART, extract_vivado_project
from ..errors import EseError
from ..gateware.load import LoadError
from ..gateware.top import DEFAULT_Y_FIFO_DEPTH, AxisTop
from ..gateware.verilog import convert as convert_verilog
from ..model.cycles import stack_cycles
from ..model.figures import frame_figures
from ..model.golden import GoldenStack
from ..model.images import peep_word_bits
from ..model.limits import check_int
from ..model.loadstream import HEADER_FIELDS, model_load_bytes, split_beats
from ..model.lstmp import N_GATES

__all__ = ["GENERATOR", "PERF_FRAMES", "TOP_NAME", "Generated", "check_out_dir",
           "check_y_fifo_depth", "cycle_figures", "generate", "memory_depths"]

#: ``config.json``'s ``generator``: marks a directory as a previous output.
GENERATOR = "ese-hw generate"
#: Verilog module name and file stem of the top.
TOP_NAME = "ese_top"
#: Seeded frames the cycle model runs for the figures in config.json (frame 0 starts
#: from an idle channel, the rest give the steady-state interval).
PERF_FRAMES = 8
PERF_SEED = 0
LOAD_FILE = "load.bin"
CONFIG_FILE = "config.json"
README_FILE = "README.md"


@dataclass(frozen=True)
class Generated:
    """What :func:`generate` wrote.

    Members
    -------
    out_dir : Path
    files : list of str, the file names in ``out_dir``
    config : dict, the contents of ``config.json``
    """

    out_dir: Path
    files: list
    config: dict


# ---------------------------------------------------------------------------- out dir

def _previous_files(out_dir):
    """The files a previous output's config.json lists, or None if it is not one."""
    try:
        config = json.loads((out_dir / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or config.get("generator") != GENERATOR:
        return None
    files = config.get("files")
    return set(files) if isinstance(files, list) else None


def check_out_dir(out_dir):
    """Refuse (:class:`EseError`) an ``out_dir`` :func:`generate` may not replace: a
    file, or a non-empty directory that is not a previous output or holds files that
    output did not write. Returns whether ``out_dir`` exists."""
    out_dir = Path(out_dir)
    if not out_dir.exists():
        return False
    if not out_dir.is_dir():
        raise EseError(f"{out_dir}: exists and is not a directory")
    present = {p.name for p in out_dir.iterdir()}
    if not present:
        return True
    previous = _previous_files(out_dir)
    if previous is None:
        raise EseError(f"{out_dir}: exists and is not an {GENERATOR} output; remove it "
                       f"or choose another directory")
    foreign = sorted(present - previous)
    if foreign:
        raise EseError(f"{out_dir}: a previous {GENERATOR} output, but {foreign[0]!r} is not "
                       f"one of its files (Vivado results?); move it or choose another "
                       f"directory")
    return True


def check_y_fifo_depth(y_fifo_depth):
    """``y_fifo_depth`` checked (``None``: the top's default), as an int."""
    if y_fifo_depth is None:
        return DEFAULT_Y_FIFO_DEPTH
    try:
        return check_int("y_fifo_depth", y_fifo_depth, label="--y-fifo-depth")
    except TypeError as e:
        raise EseError(str(e)) from None


def _commit_dir(tmp, out_dir, exists):
    """Move the finished ``tmp`` to ``out_dir``, replacing the checked old one."""
    if not exists:
        os.rename(tmp, out_dir)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    os.rename(out_dir, old / "dir")
    os.rename(tmp, out_dir)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------- figures

def cycle_figures(design, frames=PERF_FRAMES, *, seed=PERF_SEED):
    """The cycle model's figures for ``design`` at its clock, on ``frames`` seeded
    standard-normal frames per channel (:func:`ese_hw.model.cycles.stack_cycles`; a
    stack's frames go through every layer, its interval is the last layer's).

    The figures are :func:`ese_hw.model.figures.frame_figures`' (``cycles_per_frame`` the
    steady state over frames 1 .. T-1, ``latency_us`` one interval at the clock, the
    figure ESE's 82.7 us counts), plus ``frames``, ``seed``, ``frame_done_cycles`` and
    ``step_cycles`` / ``step_us``: what one frame takes once its x frame is buffered,
    from the step's start to its last y element leaving the channel (mean over frames
    1 .. T-1; frame 0 starts from zero state and skips its ``W_r y_{t-1}`` phase; the y
    FIFO adds its pass-through on top). A stack adds ``layer_cycles_per_frame``.
    """
    model, params = design.model, design.params
    if frames < 2:
        raise ValueError(f"frames must be at least 2 for a steady state, got {frames}")
    golden = GoldenStack(model)
    rng = np.random.default_rng(seed)
    x_q = np.stack([golden.quantize_inputs(rng.standard_normal((frames, golden.stack.n_in)))
                    for _ in range(params.n_channels)])
    cyc = stack_cycles(model, x_q, queue_depth=params.queue_depth, broadcast=params.broadcast,
                       ew_share=params.ew_share, timing=params.timing)
    events = cyc["events"]
    # From layer 0's step start to the last layer's last y element.
    step = float(np.mean([last["output_end"] - first["x_start"]
                          for first, last in zip(events[0][1:], events[-1][1:], strict=True)]))
    out = {"frames": frames, "seed": seed,
           "frame_done_cycles": [int(d) for d in cyc["frame_done"]],
           **frame_figures(model, n_channels=params.n_channels, clock_mhz=design.clock_mhz,
                           frame_done=cyc["frame_done"]),
           "step_cycles": step, "step_us": step / design.clock_mhz}
    if len(events) > 1:
        out["layer_cycles_per_frame"] = cyc["layer_cycles_per_frame"]
    return out


def memory_depths(params):
    """Words and widths of every PE's memories (the loadable ones first); the lookup
    tables are a cell unit's, one per ``ew_share`` PEs (``n_cell_units``). A stack's:
    ``{"layers": [...]}``, one such dict per layer."""
    if hasattr(params, "layers"):
        return {"layers": [memory_depths(p) for p in params.layers]}
    p = params
    return {
        "per_pe": {
            "entry": {"words": p.entry_depth,
                      "bits": p.weight_bits + p.index_bits + p.sub_bits, "loaded": True},
            "pointer": {"words": p.n_groups + 1, "bits": p.ptr_bits, "loaded": True},
            "bias": {"words": N_GATES * p.cells_per_pe, "bits": p.accum_bits, "loaded": True},
            "peephole": {"words": p.cells_per_pe, "bits": peep_word_bits(p.weight_bits),
                         "loaded": True},
            "activation_queue": {"words": p.queue_depth, "loaded": False},
        },
        "per_cell_unit": {
            "lookup_tables": {"tables": 3, "words": 1 << p.lut_bits, "bits": p.act_bits,
                              "loaded": False},
        },
        "n_pe": p.n_pe,
        "n_cell_units": p.n_pe // p.ew_share,
    }


# ---------------------------------------------------------------------------- files

def _config(design, top, load_bytes, perf, files, bake):
    params, model = design.params, design.model
    layers = getattr(params, "layers", None)
    if layers is None:
        kind, entries, qformats = "channel", params.entry_depth, dict(params.qformats)
    else:
        kind = "stack"
        entries = [p.entry_depth for p in layers]
        qformats = [dict(p.qformats) for p in layers]
    return {
        "generator": GENERATOR,
        "ese_hw_version": __version__,
        "files": files,
        "top": TOP_NAME,
        "part": _part(),
        "clock": {"port": "aclk", "mhz": design.clock_mhz,
                  "period_ns": round(design.clock_period_ns, 6)},
        "model": {"source": design.source, "baked": bake,
                  "config": model.config.to_dict(),
                  "entries_per_pe_max": entries},
        kind: params.to_dict(),
        "qformats": qformats,
        "memory_depths": memory_depths(params),
        "y_fifo_depth": top.y_fifo_depth,
        "tdata_bits": {"s_axis_x": top.x_tdata_bits, "m_axis_y": top.y_tdata_bits,
                       "s_axis_load": top.load_tdata_bits},
        "ports": top.port_table(),
        "load_stream": _load_stream(params, top, load_bytes),
        "performance": perf,
    }


def _load_stream(params, top, load_bytes):
    """``config.json``'s description of ``load.bin``: sizes, the header's values, the
    CRC-32 beat, the error codes of ``load_error``, and a digest."""
    beats = split_beats(load_bytes, params.load_layout.size)
    header = dict(zip(HEADER_FIELDS, beats[:len(HEADER_FIELDS)], strict=True))
    return {"file": LOAD_FILE, "bytes": len(load_bytes),
            "beat_bytes": top.load_tdata_bits // 8, "beats": len(beats),
            "header": header, "payload_words": header["length"], "crc32": beats[-1],
            "max_payload_words": params.load_max_words,
            "load_error_codes": {e.name.lower(): e.value for e in LoadError},
            "sha256": hashlib.sha256(load_bytes).hexdigest()}


def _part():

    return PART


def _design_line(config):
    """The README's sentence on the shape and the channel's configuration."""
    c = config
    layers = c["stack"]["layers"] if "stack" in c else [c["channel"]]
    ch = layers[0]
    shapes = ", then ".join(f"{p['n_in']}/{p['n_cells']}/{p['n_proj']}"
                            if p["projection"] else
                            f"{p['n_in']}/{p['n_cells']}/- (a plain LSTM layer, y = m)"
                            for p in layers)
    what = (f"shape {shapes} (input/cells/projection)" if len(layers) == 1 else
            f"{len(layers)} stacked layers, all on chip (layer k's y feeds layer "
            f"k+1's x), shapes {shapes} (input/cells/projection)")
    pes = " + ".join(str(p["n_pe"]) for p in layers)
    return (f"Model: {c['model']['source']}, {what}; {pes} PEs, {ch['n_channels']} "
            f"lock-step channel(s), {ch['index_bits']}-bit indices, queue depth "
            f"{ch['queue_depth']}, broadcast width {ch['broadcast']}, {ch['ew_share']} PE(s) "
            f"per element-wise unit.")


def _readme(config):
    c, perf = config, config["performance"]
    rows = "\n".join(f"| `{p['name']}` | {p['direction']} | {p['width']} | {p['role']} |"
                     for p in c["ports"])
    lb = c["load_stream"]
    codes = ", ".join(f"{v} {k}" for k, v in lb["load_error_codes"].items())
    baked = ("The memory images are baked into the Verilog; `load.bin` reloads them (or "
             "another model of this configuration) at run time." if c["model"]["baked"] else
             "The Verilog has no weights: send `load.bin` (or another model of this "
             "configuration) through `s_axis_load` before the first frame.")
    return f"""# {c['top']}: ESE sparse-LSTM accelerator for the XCKU060

Written by `{GENERATOR}` (ese_hw {c['ese_hw_version']}) for `{c['part']}` at \
{c['clock']['mhz']:g} MHz. {_design_line(c)} Every parameter, memory depth and Q \
format is in `config.json`.

Cycle model at {perf['clock_mhz']:g} MHz: {perf['cycles_per_frame']:.0f} cycles per \
frame ({perf['latency_us']:.2f} us), PE utilization {perf['utilization']:.3f}, \
{perf['gops']:.1f} GOPS sparse ({perf['dense_equiv_gops']:.1f} dense-equivalent). Once a \
frame's x is buffered, its step takes {perf['step_cycles']:.0f} cycles \
({perf['step_us']:.2f} us) to its last y element.

## Ports

All synchronous to `aclk`; `aresetn` is active low. The `<prefix>_t<signal>` names let
Vivado's "Add Module" infer the three AXI4-Stream interfaces.

| port | dir | width | role |
|---|---|---|---|
{rows}

## Loading a model

{baked} `load.bin` is the `s_axis_load` stream byte for byte: {lb['beats']} beats of \
{lb['beat_bytes']} bytes (`tdata` little-endian, one word per beat), TLAST on the last \
beat. It is a checked load stream: 4 header beats (the magic `ESEL`, format version \
{lb['header']['version']}, this configuration's hash 0x{lb['header']['config']:08x}, the \
payload length {lb['payload_words']:,}), the payload words, and the CRC-32 (zlib's) of the \
beats before it, 0x{lb['crc32']:08x}. The core checks all of it: `loaded` goes high \
after a stream that passes; a refused stream leaves it low and says why in `load_error` \
({codes}), and x beats are held off (`s_axis_x_tready` low) until a good stream has \
loaded. A load waits while frames are in flight, and no x beat is taken between a \
stream's first beat and its TLAST. `aresetn` keeps the memories and `loaded` (a stream \
cut by the reset leaves it low). The word format (target, PE, address and data fields) \
is in ese_hw's docs/contract.md, section "The AXI4-Stream top"; the field widths are \
`channel.ports.load` in `config.json` (for a stack, `stack.load_layout`: the word has a \
`layer` field too, and the hash covers every layer).

## Running Vivado

    sh build_{c['top']}.sh          # vivado -mode batch -source {c['top']}.tcl

Out-of-context synthesis (`synth_design -mode out_of_context -part {c['part']}`), \
opt/place/route, then the reports: `{c['top']}_utilization_route.rpt` (after routing; \
`_synth` and `_place` versions too) and `{c['top']}_timing.rpt` (timing summary against \
the {c['clock']['period_ns']:.3f} ns clock on `aclk` in `{c['top']}.xdc`). Set `VIVADO` to \
the Vivado binary if it is not on PATH. An out-of-context run makes no bitstream: \
instantiate `{c['top']}` in a block design (or your own top) for one.
"""


def _write_all(design, tmp, *, bake, y_fifo_depth, progress):
    """Write every file into ``tmp``; return config.json's contents."""
    params, model = design.params, design.model
    tmp.chmod(0o755)                    # mkdtemp's 0700 would become the output's mode
    top = AxisTop(params=params, y_fifo_depth=y_fifo_depth, model=model if bake else None)
    progress("Verilog of the AXI4-Stream top")
    text = convert_verilog(top, TOP_NAME)       # one module per distinct unit
    progress("Vivado project")
    extract_vivado_project(top, tmp, name=TOP_NAME, clock_period_ns=design.clock_period_ns,
                           clock_port="aclk", verilog_text=text)
    script = tmp / f"build_{TOP_NAME}.sh"
    script.chmod(script.stat().st_mode | 0o111)
    load_bytes = model_load_bytes(params, model)
    (tmp / LOAD_FILE).write_bytes(load_bytes)
    progress("cycle model")
    perf = cycle_figures(design)
    files = sorted([p.name for p in tmp.iterdir()] + [CONFIG_FILE, README_FILE])
    config = _config(design, top, load_bytes, perf, files, bake)
    (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    (tmp / README_FILE).write_text(_readme(config))
    return config


def generate(design, out_dir, *, bake=False, y_fifo_depth=None, progress=None):
    """Write the Vivado-ready tree of ``design`` into ``out_dir`` (see the module doc).

    Parameters
    ----------
    design : Design
        With its model (:func:`ese_hw.flows.design.make_design` always has one).
    out_dir : path-like
        Must not exist, or be empty, or be a previous output (:func:`check_out_dir`).
    bake : bool
        Put the memory images into the Verilog.
    y_fifo_depth : int, optional
        Depth of the top's y FIFO (default ``ese_hw.gateware.top.DEFAULT_Y_FIFO_DEPTH``).
    progress : callable, optional
        Called with a short description of each step as it starts.

    Returns
    -------
    Generated

    Raises
    ------
    EseError
        A bad ``out_dir`` or ``y_fifo_depth`` (checked before any work), or a design
        without a model. Nothing is left behind on any failure.
    """
    y_fifo_depth = check_y_fifo_depth(y_fifo_depth)
    if design.model is None:
        raise EseError("generate needs the design's model (its memory images and cycles)")
    out_dir = Path(out_dir)
    exists = check_out_dir(out_dir)
    parent = out_dir.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=parent))
    except OSError as e:
        raise EseError(f"cannot write {out_dir}: {e.strerror}") from None
    try:
        config = _write_all(design, tmp, bake=bake, y_fifo_depth=y_fifo_depth,
                            progress=progress or (lambda step: None))
        _commit_dir(tmp, out_dir, exists)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return Generated(out_dir, config["files"], config)
