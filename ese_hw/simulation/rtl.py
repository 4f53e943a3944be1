"""Run a compressed model on the channel's generated Verilog (the ``rtl`` engine).

:func:`run_rtl` elaborates :class:`~ese_hw.gateware.channel.Channel` for the model
(memory images baked in, or loaded at run time), builds its Verilog with Icarus or
Verilator through the one cocotb runner (:mod:`ese_hw.simulation.runner`: cached, locked, with
progress lines) and runs the testbench :mod:`ese_hw.simulation.testbenches.tb_channel` on it: the
frames
go in through the ``x`` stream, ``y_t`` is collected from ``y``, and the cycle of every
``frame_done`` pulse is recorded. :func:`ese_hw.model.figures.frame_figures` turns those
cycles into figures. :mod:`ese_hw.flows.engines` puts this next to the golden and
cycle models for the command line. :func:`run_top` does the same for the AXI4-Stream top
(:class:`~ese_hw.gateware.top.AxisTop`) with its cocotbext-axi testbench
:mod:`ese_hw.simulation.testbenches.tb_top`, the model sent as ``load.bin``.

Build cache
-----------
Generating the Verilog (a minute for the paper-shape model) and building it with
Verilator (minutes) happen once per :func:`channel_key`: every parameter of the channel
(``ChannelParams.to_dict()``: shape, widths, Q formats, depths, timing) and, when the
images are baked in, a digest of them; the runner adds the simulator, the Amaranth version and
the gateware sources. A cached run elaborates nothing.

Loaded at run time (``preload=False``, what ``ese-hw run --engine rtl`` does) the images
are not in the key, and the entry memories are sized by :func:`entry_capacity`, the
model's need rounded up to whole BRAM36s, not by the model's exact need: two models of
one configuration (shape, PEs, density, widths) differ by a few entries on their
longest PE (11,374 and 11,375 words for seeds 0 and 1 at the paper's shape), and both
fit 12,288. So a second model of the same configuration and Q formats reuses the first
one's build; only one with other Q formats (fixed in the Verilog) builds again.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EseError, MismatchError
from ..gateware.channel import Channel
from ..gateware.load import LoadError
from ..gateware.params import ChannelParams, StackParams
from ..gateware.stack import ChannelStack
from ..gateware.top import (
    DEFAULT_Y_FIFO_DEPTH,
    AxisTop,
    axis_tdata_bits,
    x_stream_bytes,
    y_from_stream_bytes,
)
from ..model.figures import frame_interval
from ..model.images import channel_images, model_entry_depth
from ..model.limits import DEFAULTS, LIMITS, check_divides_pes, check_int
from ..model.loadstream import load_stream_bytes, model_load_bytes, stack_load_bytes
from .native import compile_native, harness_digest, run_native, write_stimulus
from .runner import SimulationError, build_design, check_simulator, progress_line, run_test
from .testbenches.tb_channel import channel_tb_data, read_tb_out, watchdog_cycles, y_values
from .testbenches.tb_top import read_top_out, top_tb_data

__all__ = ["HARNESSES", "RtlResult", "TopResult", "bram36_words", "channel_key", "check_ew_share",
           "check_rtl_options", "entry_capacity", "first_mismatch", "mismatch_error",
           "run_model_native", "run_rtl", "run_top", "stack_params", "top_key", "top_params"]

TOPLEVEL = "channel"
TB_MODULE = "ese_hw.simulation.testbenches.tb_channel"

#: A BRAM36's shapes (word width, words) from 32K x 1 to 512 x 72: a memory of a given
#: word width occupies whole BRAM36s of the narrowest shape that holds its words.
BRAM36_SHAPES = ((1, 32768), (2, 16384), (4, 8192), (9, 4096), (18, 2048), (36, 1024),
                 (72, 512))


@dataclass(frozen=True)
class RtlResult:
    """Outcome of :func:`run_rtl`.

    Members
    -------
    y : (C, T, P) int64, the channel's outputs (Q ``fa``)
    frame_done : (T,) int64, cycle of each ``frame_done`` pulse (cycle 0: first ``x``
        element offered)
    sim, n_channels, queue_depth, broadcast : the run's configuration
    build_dir : the cached build
    cached : the build was reused (no Verilog generation, no simulator build)
    build_seconds, sim_seconds : wall time of the build (0 when cached) and simulation
    sim_cycles : simulated cycles from cycle 0 to the end of the run
    ew_share : PEs per cell unit of the channel run
    extra : ``load_cycles`` and ``load_seconds`` (cycles and wall time of the run-time
        load, 0 when baked), ``entry_depth`` (entry words per PE built),
        ``tb_wall_seconds``, ``run_dir`` (with ``keep_run``)
    """

    y: np.ndarray
    frame_done: np.ndarray
    sim: str
    n_channels: int
    queue_depth: int
    build_dir: Path
    cached: bool
    build_seconds: float
    sim_seconds: float
    sim_cycles: int
    ew_share: int = 1
    extra: dict = field(default_factory=dict)
    broadcast: int = 1

    @property
    def cycles_per_frame(self):
        """Steady state: mean of ``diff(frame_done)`` over frames 1..T-1 (T == 1: frame 0)."""
        return frame_interval(self.frame_done)


# ---------------------------------------------------------------------------- checks

def check_rtl_options(*, sim, n_channels, queue_depth, broadcast=1, ew_share=1, n_pe=None):
    """The rtl engine's own parameters, against the one bounds table (and, given the
    model's ``n_pe``, the broadcast width and ``ew_share`` must divide it).

    Raises
    ------
    EseError
        One line naming the bad value (the command line shows it as is).
    """
    for name, value in (("n_channels", n_channels), ("queue_depth", queue_depth),
                        ("broadcast", broadcast), ("ew_share", ew_share)):
        try:
            check_int(name, value, label=LIMITS[name].label)
        except TypeError as e:
            raise EseError(str(e)) from None
    check_divides_pes("broadcast width", broadcast, n_pe)
    check_ew_share(ew_share, n_pe)
    check_simulator(sim)


def check_ew_share(ew_share, n_pe, *, label=None):
    """``ew_share`` must divide the PE count (``None``: not known yet, nothing to check)."""
    check_divides_pes(LIMITS["ew_share"].label if label is None else label, ew_share, n_pe)


def _check_inputs(model, x_q):
    x_q = np.asarray(x_q)
    if x_q.ndim != 3 or x_q.shape[2] != model.n_in or x_q.shape[1] < 1 or x_q.shape[0] < 1:
        raise EseError(f"inputs: shape {x_q.shape}, expected (C, T, {model.n_in}) with "
                       "C, T >= 1")
    if not np.issubdtype(x_q.dtype, np.integer):
        raise EseError(f"inputs must be integers (quantized), not {x_q.dtype}")
    ab = model.config.act_bits
    if x_q.min() < -(1 << (ab - 1)) or x_q.max() >= 1 << (ab - 1):
        raise EseError(f"inputs exceed {ab}-bit signed values")
    return x_q


# ---------------------------------------------------------------------------- build

def _images_digest(images):
    h = hashlib.sha256()
    for group in (images.words, images.ptr, images.bias, images.peep):
        for a in group:
            a = np.ascontiguousarray(np.asarray(a, dtype=np.int64))
            h.update(str(a.shape).encode())
            h.update(a.tobytes())
    return h.hexdigest()


def _entry_need(model):
    """Entry words per PE the model needs: its longest PE's (at least 1)."""
    return max(1, model_entry_depth(model))


def bram36_words(width):
    """Words of ``width`` bits one BRAM36 holds (wider words: 512 per BRAM36 used)."""
    return next((words for bits, words in BRAM36_SHAPES if width <= bits),
                BRAM36_SHAPES[-1][1])


def entry_capacity(model):
    """Entry words per PE of a channel that loads ``model`` at run time: the longest
    PE's need rounded up to whole BRAM36s of the entry word (``weight_bits +
    index_bits``). The memory occupies those BRAMs anyway, and the headroom lets other
    models of the same configuration, whose longest PE needs a few words more or
    less, run on the same build."""
    need = _entry_need(model)
    step = bram36_words(model.config.weight_bits + model.config.index_bits)
    return -(-need // step) * step


def channel_key(params, images, *, preload):
    """What selects a channel build: everything the Verilog depends on.

    ``params`` (:class:`~ese_hw.gateware.channel.ChannelParams`) holds every
    parameter, the timing included; without ``preload`` the images are not in the
    Verilog, so one build serves every model of the same parameters.
    """
    return {
        "channel": params.to_dict(),
        "preload": preload,
        "images": _images_digest(images) if preload else None,
    }


def _channel_params(model, *, n_channels, queue_depth, broadcast, preload, entry_depth,
                    ew_share=1):
    """The :class:`~ese_hw.gateware.channel.ChannelParams` of the channel run for
    ``model``: its sizes and payload layouts serve the testbench data too, so nothing
    needs elaborating on the host side (and a cached run elaborates nothing at all).
    Entry memories: ``entry_depth`` if given, else exactly the model's need when the
    images are baked in, :func:`entry_capacity` when they are loaded."""
    need = _entry_need(model)
    if entry_depth is None:
        entry_depth = need if preload else entry_capacity(model)
    elif need > entry_depth:
        raise EseError(f"the model needs {need} entry words on its longest PE, more than "
                       f"entry_depth {entry_depth}")
    return ChannelParams.for_model(model, n_channels=n_channels, queue_depth=queue_depth,
                                   broadcast=broadcast, ew_share=ew_share,
                                   entry_depth=entry_depth)


def _build_channel(params, model, *, preload):
    """The channel to generate Verilog from (the build factory; not called when cached)."""
    return Channel(params=params, model=model if preload else None)


def _stack_layers(model):
    """The layers of ``model`` when it is a stack of several, else ``None`` (one layer runs
    on a :class:`~ese_hw.gateware.channel.Channel`, as it always has)."""
    layers = getattr(model, "layers", None)
    return None if layers is None or len(layers) == 1 else tuple(layers)


def stack_params(stack, *, n_channels, queue_depth=DEFAULTS["queue_depth"],
                 broadcast=DEFAULTS["broadcast"], ew_share=DEFAULTS["ew_share"], preload=False,
                 entry_depth=None):
    """The :class:`~ese_hw.gateware.stack.StackParams` run for a stack: every layer's
    :func:`_channel_params` (entry memories of :func:`entry_capacity` per layer when
    loaded at run time; ``entry_depth``, if given, one value per layer)."""
    layers = getattr(stack, "layers", (stack,))
    depths = [None] * len(layers) if entry_depth is None else list(entry_depth)
    if len(depths) != len(layers):
        raise EseError(f"entry_depth has {len(depths)} values for {len(layers)} layers")
    return StackParams(tuple(
        _channel_params(m, n_channels=n_channels, queue_depth=queue_depth, broadcast=broadcast,
                        preload=preload, entry_depth=d, ew_share=ew_share)
        for m, d in zip(layers, depths, strict=True)))


def top_params(model, *, n_channels, queue_depth=DEFAULTS["queue_depth"],
               broadcast=DEFAULTS["broadcast"], ew_share=DEFAULTS["ew_share"]):
    """The channel (:class:`~ese_hw.gateware.params.ChannelParams`) or, for a stack of
    several layers, the :func:`stack_params` of a top that loads ``model`` at run time:
    entry memories of :func:`entry_capacity`, so one build serves every model of the
    configuration."""
    if _stack_layers(model) is not None:
        return stack_params(model, n_channels=n_channels, queue_depth=queue_depth,
                            broadcast=broadcast, ew_share=ew_share)
    model = getattr(model, "layers", (model,))[0]
    return _channel_params(model, n_channels=n_channels, queue_depth=queue_depth,
                           broadcast=broadcast, preload=False, entry_depth=None,
                           ew_share=ew_share)


def _run_target(model, *, n_channels, queue_depth, broadcast, ew_share, preload, entry_depth,
                images):
    """What :func:`run_rtl` builds and sends for ``model``: (params, build factory, build
    key, load stream bytes or ``None`` when baked). One layer: a channel; a stack of
    several: a :class:`~ese_hw.gateware.stack.ChannelStack` and its one load stream."""
    layers = _stack_layers(model)
    if layers is None:
        model = getattr(model, "layers", (model,))[0]
        images = channel_images(model, broadcast) if images is None else images
        params = _channel_params(model, n_channels=n_channels, queue_depth=queue_depth,
                                 broadcast=broadcast, preload=preload,
                                 entry_depth=entry_depth, ew_share=ew_share)
        load = None if preload else load_stream_bytes(params, images)      # its load.bin
        return (params, lambda: _build_channel(params, model, preload=preload),
                channel_key(params, images, preload=preload), load)
    params = stack_params(model, n_channels=n_channels, queue_depth=queue_depth,
                          broadcast=broadcast, ew_share=ew_share, preload=preload,
                          entry_depth=entry_depth)
    key = {"stack": [channel_key(p, channel_images(m, broadcast), preload=preload)
                     for p, m in zip(params.layers, layers, strict=True)]}
    load = None if preload else stack_load_bytes(params, model)
    return (params, lambda: ChannelStack(params=params, model=model if preload else None),
            key, load)


def first_mismatch(y, expected):
    """Where ``y`` (C, T, P) first differs from ``expected`` (lane-major order), or
    ``None`` when they are equal: a JSON-ready dict of ``lane``, ``frame``, ``element``,
    ``rtl`` and ``golden`` (the two values), and ``count`` / ``total`` outputs."""
    y, expected = np.asarray(y), np.asarray(expected)
    bad = np.argwhere(y != expected)
    if not len(bad):
        return None
    c, t, q = (int(i) for i in bad[0])
    return {"lane": c, "frame": t, "element": q, "rtl": int(y[c, t, q]),
            "golden": int(expected[c, t, q]), "count": len(bad), "total": int(y.size)}


def mismatch_error(where, mismatch):
    """The one-line :class:`~ese_hw.errors.MismatchError` of a :func:`first_mismatch`
    ``mismatch``; ``where`` names the run (``"RTL simulation on icarus"``)."""
    m = mismatch
    return MismatchError(f"{where}: {m['count']} of {m['total']} outputs differ from the "
                         f"golden model; first at lane {m['lane']}, frame {m['frame']}, "
                         f"element {m['element']}: RTL {m['rtl']}, golden {m['golden']}")


def _check_expected(y, expected, sim):
    """The testbench's outputs against ``expected`` (the golden model's)."""
    expected = np.asarray(expected)
    if expected.shape != y.shape:
        raise EseError(f"expected outputs: shape {expected.shape}, the run gives {y.shape}")
    mismatch = first_mismatch(y, expected)
    if mismatch is not None:
        raise mismatch_error(f"RTL simulation on {sim}", mismatch)


# ---------------------------------------------------------------------------- run

def run_rtl(model, x_q, *, sim="verilator", queue_depth=DEFAULTS["queue_depth"],
            broadcast=DEFAULTS["broadcast"], ew_share=DEFAULTS["ew_share"],
            resets=None, expected=None, x_idle=0.0, y_stall=0.0, preload=True, load_idle=0.0,
            entry_depth=None, build_root="build/rtl", images=None, progress=None, seed=0,
            keep_run=False, build_args=()):
    """Run ``x_q`` through the channel's RTL for ``model``.

    Parameters
    ----------
    model : CompressedModel or CompressedStack
        One layer runs on a :class:`~ese_hw.gateware.channel.Channel`; a stack of
        several on a :class:`~ese_hw.gateware.stack.ChannelStack` (every layer on chip,
        one load stream for all; ``frame_done`` is the last layer's).
    x_q : (C, T, I) integers
        Quantized inputs (``GoldenModel.quantize_inputs``), one sequence per lock-step
        channel; the channel is built with ``n_channels = C``.
    sim : {"verilator", "icarus"}
    queue_depth : int
        Activation queue depth of every PE.
    broadcast : int
        Activations handed to every PE per transfer (K; must divide the PE count).
    ew_share : int
        PEs per cell unit (G, dividing the model's PE count).
    resets : (T, C) booleans, optional
        Restart a channel from zero state at that frame.
    expected : (C, T, P) integers, optional
        If given, the outputs must equal it (else :class:`MismatchError` names the first
        difference).
    x_idle, y_stall : float
        Seeded random stalls on ``x`` / ``y`` (the cycle figures then include them).
    preload : bool
        Bake the memory images into the Verilog (default). ``False`` builds a channel
        without them (see :func:`channel_key`) and writes the model through the
        ``load`` stream before the first frame, as the checked load stream of
        ``load.bin`` (header, words, CRC-32; the channel must report it loaded), with
        ``load_idle`` seeded idle cycles (one word per cycle: 423,000 words at the
        paper's shape), in memories of
        :func:`entry_capacity`, so one build serves every model of the configuration.
    entry_depth : int (a sequence, one per layer, for a stack), optional
        Entry words per PE of the channel built (at least the model's need); default
        above.
    build_root : path-like
        Root of the build cache.
    images : ChannelImages, optional
        ``channel_images(model, broadcast)`` if the caller already has it.
    progress : bool or None
        Progress lines on stderr for generation, build and simulation (``None``: when
        stderr is a terminal).
    seed : int
        Stall seed.
    keep_run : bool
        Keep the run directory (data, outputs, logs) after a successful run.
    build_args : sequence of str
        Extra simulator build arguments (part of the build's cache key), e.g.
        :data:`ese_hw.simulation.runner.VERILATOR_FAST_BUILD_ARGS` for a large channel.

    Returns
    -------
    RtlResult

    Raises
    ------
    EseError
        Bad arguments, a simulator that is not installed, a failed build or a failed
        simulation (the message names the log).
    """
    x_q = _check_inputs(model, x_q)
    c_n, t_n, _ = x_q.shape
    check_rtl_options(sim=sim, n_channels=c_n, queue_depth=queue_depth, broadcast=broadcast,
                      ew_share=ew_share, n_pe=model.config.n_pe)
    params, factory, key, load = _run_target(
        model, n_channels=c_n, queue_depth=queue_depth, broadcast=broadcast,
        ew_share=ew_share, preload=preload, entry_depth=entry_depth, images=images)
    build = build_design(sim, factory, TOPLEVEL, build_root, key=key, progress=progress,
                         build_args=build_args)
    data = channel_tb_data(params, x_q, load=load, resets=resets, x_idle=x_idle,
                           y_stall=y_stall, load_idle=load_idle)
    run = run_test(build, TB_MODULE, data=data, seed=seed, progress=progress,
                   progress_total=t_n, progress_unit="frames")
    out = read_tb_out(run.run_dir)
    y = y_values(params.y_layout, out["y_words"], (c_n, t_n, params.n_proj))
    if expected is not None:
        _check_expected(y, expected, sim)
    if not keep_run:
        shutil.rmtree(run.run_dir, ignore_errors=True)
    return RtlResult(y=y, frame_done=out["frame_done"], sim=sim, n_channels=c_n,
                     queue_depth=queue_depth, build_dir=build.directory, cached=build.cached,
                     build_seconds=build.seconds, sim_seconds=run.test_seconds,
                     sim_cycles=int(out["sim_cycles"]), ew_share=ew_share,
                     extra={"load_cycles": int(out["load_cycles"]),
                            "load_seconds": float(out["load_seconds"]),
                            "entry_depth": getattr(params, "entry_depth", None) or
                            [p.entry_depth for p in params.layers],
                            "tb_wall_seconds": float(out["wall_seconds"]),
                            "run_dir": str(run.run_dir) if keep_run else None},
                     broadcast=broadcast)


def run_model_native(model, x_q, *, sim="verilator", queue_depth=DEFAULTS["queue_depth"],
                     broadcast=DEFAULTS["broadcast"], ew_share=DEFAULTS["ew_share"],
                     resets=None, expected=None, pause=0.0, build_root="build/rtl",
                     progress=None, seed=0, build_args=()):
    """:func:`run_rtl`'s run, on the AXI4-Stream top through the native harness.

    The model goes in as ``load.bin`` on ``s_axis_load`` (a top of :func:`top_params`,
    one build per configuration), then the frames; no Python runs in the cycle loop
    (:mod:`ese_hw.simulation.native`). The result reads like :func:`run_rtl`'s: its
    ``frame_done`` counts from the first x beat taken, the channel's cycle 0, so without
    pauses it equals the cycle model's (:func:`ese_hw.model.cycles.stack_cycles`).
    ``extra`` has ``load_cycles`` (the cycles before the first x beat: reset, the load
    and its check), ``load_seconds`` ``None`` (the harness times the run as a whole),
    ``entry_depth`` and ``harness`` ``"native"``.
    """
    c_n = np.asarray(x_q).shape[0] if np.ndim(x_q) == 3 else 1
    check_rtl_options(sim=sim, n_channels=c_n, queue_depth=queue_depth, broadcast=broadcast,
                      ew_share=ew_share, n_pe=getattr(model, "layers", (model,))[0].config.n_pe)
    params = top_params(model, n_channels=c_n, queue_depth=queue_depth, broadcast=broadcast,
                        ew_share=ew_share)
    top = run_top(model, x_q, params=params, sim=sim, resets=resets, expected=expected,
                  pause=pause, build_root=build_root, progress=progress, seed=seed,
                  harness="native", build_args=build_args)
    depth = getattr(params, "entry_depth", None) or [p.entry_depth for p in params.layers]
    return RtlResult(y=top.y, frame_done=top.channel_frame_done, sim=sim,
                     n_channels=c_n, queue_depth=queue_depth, build_dir=top.build_dir,
                     cached=top.cached, build_seconds=top.build_seconds,
                     sim_seconds=top.sim_seconds, sim_cycles=top.sim_cycles,
                     ew_share=ew_share, broadcast=broadcast,
                     extra={"load_cycles": top.first_x - 1, "load_seconds": None,
                            "entry_depth": depth, "harness": "native"})


# ---------------------------------------------------------------------------- AXI top

TOP_TOPLEVEL = "axis_top"
TOP_TB_MODULE = "ese_hw.simulation.testbenches.tb_top"


@dataclass(frozen=True)
class TopResult:
    """Outcome of :func:`run_top`.

    Members
    -------
    y : (C, T, P) int64, the outputs read from ``m_axis_y`` (Q ``fa``)
    sim : the simulator
    build_dir, cached, build_seconds : the cached build, whether it was reused, and
        its Verilog generation plus simulator build time (0 when cached)
    sim_seconds : wall time of the simulation (load and frames)
    load_beats : ``s_axis_load`` beats sent (the words of ``load.bin``)
    frames_done : ``frame_done`` pulses counted
    harness : ``"cocotb"`` or ``"native"`` (:mod:`ese_hw.simulation.native`)
    sim_cycles, frame_done, first_x : the native harness's cycles run, the cycle of
        every ``frame_done`` pulse and of the first x beat taken (cycle 1: the first
        edge after reset); ``None`` through cocotb
    sim_cpu_seconds : the native simulator's CPU time (``None`` through cocotb)
    """

    y: np.ndarray
    sim: str
    build_dir: Path
    cached: bool
    build_seconds: float
    sim_seconds: float
    load_beats: int
    frames_done: int
    harness: str = "cocotb"
    sim_cycles: int | None = None
    frame_done: np.ndarray | None = None
    first_x: int | None = None
    sim_cpu_seconds: float | None = None

    @property
    def channel_frame_done(self) -> np.ndarray | None:
        """Every ``frame_done`` counted from the first x beat taken: the channel's cycle
        0, as the cycle model (:func:`ese_hw.model.cycles.stack_cycles`) counts them
        (the native harness only)."""
        if self.frame_done is None or self.first_x is None:
            return None
        return self.frame_done - self.first_x

    @property
    def sim_cycles_per_second(self) -> float | None:
        """Cycles simulated a second (the native harness only: it counts them)."""
        if self.sim_cycles is None or self.sim_seconds <= 0:
            return None
        return self.sim_cycles / self.sim_seconds


def top_key(params, *, y_fifo_depth):
    """What selects a build of the AXI4-Stream top without baked images: its channel's
    parameters and its y FIFO (every model of the configuration loads at run time)."""
    return {"params": params.to_dict(), "y_fifo_depth": y_fifo_depth, "baked": False}


def _top_phases(params, model, x_q, resets, load):
    """The one phase of :func:`ese_hw.simulation.testbenches.tb_top.top_tb_data`: the model's load
    bytes, the frames' x bytes and each frame's TUSER lane-reset mask."""
    if load is None:
        try:
            load = model_load_bytes(params, model)
        except ValueError as e:
            raise EseError(f"the model does not fit the top: {e}") from None
    masks = [sum(1 << c for c in np.flatnonzero(row)) for row in resets]
    return [(bytes(load), x_stream_bytes(params, x_q), masks)]


def run_top(model, x_q, *, params=None, load=None, sim="verilator", y_fifo_depth=None,
            resets=None, expected=None, pause=0.0, build_root="build/rtl", progress=None,
            seed=0, keep_run=False, harness="cocotb", build_args=()):
    """Load ``model`` into the AXI4-Stream top's RTL and run ``x_q`` through it.

    The top (:class:`ese_hw.gateware.top.AxisTop`, no baked images) is built once per
    :func:`top_key` with the one runner (cached, locked); the testbench
    :mod:`ese_hw.simulation.testbenches.tb_top` drives it through cocotbext-axi: ``load``
    (``load.bin``) on ``s_axis_load``, then the frames on ``s_axis_x``, the outputs from
    ``m_axis_y``, seeded pauses of probability ``pause`` on all three.

    Parameters
    ----------
    model : CompressedModel or CompressedStack
    x_q : (C, T, I) integers
        Quantized inputs, one sequence per lane (``C == params.n_channels``).
    params : ChannelParams or StackParams, optional
        The top's channel (e.g. a :class:`~ese_hw.flows.design.Design`'s, as ``ese-hw
        generate`` wrote it); default sized for ``model`` with :func:`entry_capacity`
        (:func:`top_params`; a stack of several layers: every layer on chip).
    load : bytes, optional
        The ``s_axis_load`` stream (a ``load.bin``); default ``model``'s.
    sim, build_root, progress, seed, keep_run
        As for :func:`run_rtl`.
    y_fifo_depth : int, optional
        The top's y FIFO (default the top's).
    resets : (T, C) booleans, optional
        Lanes restarted at a frame (TUSER of its first beat).
    expected : (C, T, P) integers, optional
        The outputs must equal it (else :class:`MismatchError` names the first
        difference).
    pause : float in [0, 1)
        Pause probability of every interface.
    harness : {"cocotb", "native"}
        Who drives the streams: the cocotbext-axi testbench, or the native Verilog
        harness (:mod:`ese_hw.simulation.native`: no Python in the cycle loop).
    build_args : sequence of str
        Extra simulator build arguments (part of the build's cache key).

    Returns
    -------
    TopResult
    """
    x_q = _check_inputs(model, x_q)
    c_n, t_n, _ = x_q.shape
    check_simulator(sim)
    if not 0.0 <= pause < 1.0:
        raise EseError(f"pause must be in [0, 1), got {pause}")
    if _stack_layers(model) is None:
        model = getattr(model, "layers", (model,))[0]
    params = top_params(model, n_channels=c_n) if params is None else params
    if params.n_channels != c_n:
        raise EseError(f"inputs for {c_n} lanes, the top has {params.n_channels}")
    y_fifo_depth = DEFAULT_Y_FIFO_DEPTH if y_fifo_depth is None else y_fifo_depth
    resets = np.zeros((t_n, c_n), bool) if resets is None else np.asarray(resets, bool)
    phases = _top_phases(params, model, x_q, resets, load)
    load_beats = len(phases[0][0]) * 8 // axis_tdata_bits(params)["s_axis_load"]
    if harness not in HARNESSES:
        raise EseError(f"harness must be one of {', '.join(HARNESSES)}, got {harness!r}")
    if harness == "native":
        out = _run_top_native(params, y_fifo_depth, phases[0], t_n, sim=sim, pause=pause,
                              seed=seed, build_root=build_root, progress=progress,
                              keep_run=keep_run, build_args=build_args)
        if expected is not None:
            _check_expected(out.y, expected, sim)
        return out
    build = build_design(sim, lambda: AxisTop(params=params, y_fifo_depth=y_fifo_depth),
                         TOP_TOPLEVEL, build_root, key=top_key(params, y_fifo_depth=y_fifo_depth),
                         progress=progress, build_args=build_args)
    data = top_tb_data(params, phases, pause=pause,
                       stall_cycles=_top_stall_cycles(params, load_beats, pause))
    run = run_test(build, TOP_TB_MODULE, data=data, seed=seed, progress=progress)
    out = read_top_out(run.run_dir)
    y = y_from_stream_bytes(params, out["y_bytes"][0], t_n)
    if expected is not None:
        _check_expected(y, expected, sim)
    if not keep_run:
        shutil.rmtree(run.run_dir, ignore_errors=True)
    return TopResult(y=y, sim=sim, build_dir=build.directory, cached=build.cached,
                     build_seconds=build.seconds, sim_seconds=run.test_seconds,
                     load_beats=load_beats, frames_done=out["frame_done"])


#: Who can drive the AXI4-Stream top's streams (:func:`run_top`); the rtl engine's
#: default first (:data:`ese_hw.flows.engines.RTL_HARNESSES`).
HARNESSES = ("native", "cocotb")


def _top_stall_cycles(params, load_beats: int, pause: float) -> int:
    """The top's watchdog, on either harness: the channel's budget without progress
    (:func:`watchdog_cycles`), plus the load's beats stretched by the pauses, since the
    first y frame waits for the whole model."""
    return watchdog_cycles(params, 40, 5000) + int(load_beats / (1 - pause))


def _native_failure(run, load_beats: int, n_x: int, n_y: int) -> str | None:
    """Why a native run of the top did not do its job, in one line (``None``: it did)."""
    moved = (f"after {run.cycles} cycles: load {run.load_taken}/{load_beats}, "
             f"x {run.x_taken}/{n_x}, y {run.y_taken}/{n_y} beats taken")
    if run.load_error or run.outcome == "refused":
        return f"the load stream was refused ({LoadError(run.load_error).name}), {moved}"
    if run.outcome == "stall":
        return f"the top stopped moving {moved}"
    if run.outcome == "protocol":
        return f"m_axis_y changed a beat it offered before it was taken, {moved}"
    if load_beats and not run.loaded:
        return f"the top took the load stream but is not loaded, {moved}"
    if run.x_tlast_error:
        return f"the top flagged an x TLAST error, {moved}"
    return None


def _run_top_native(params, y_fifo_depth, phase, t_n, *, sim, pause, seed, build_root,
                    progress, keep_run, build_args):
    """:func:`run_top` through the native harness: build (cached), write the stimulus,
    run, check how it ended, read y back."""
    load, x, masks = phase
    widths = axis_tdata_bits(params)
    build = build_design(sim, lambda: AxisTop(params=params, y_fifo_depth=y_fifo_depth),
                         TOP_TOPLEVEL, build_root,
                         key={**top_key(params, y_fifo_depth=y_fifo_depth),
                              "harness": harness_digest()},
                         progress=progress, compiler=compile_native, build_args=build_args)
    runs = build.directory / "runs"
    runs.mkdir(exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="native_", dir=runs))
    counts = write_stimulus(run_dir, load=load, load_bytes=widths["s_axis_load"] // 8, x=x,
                            x_bytes=widths["s_axis_x"] // 8, n_in=params.n_in, masks=masks)
    n_y = t_n * params.n_proj
    stall = _top_stall_cycles(params, counts["n_load"], pause)
    with progress_line(f"{TOP_TOPLEVEL}: simulate on {sim} (native)", enabled=progress):
        run = run_native(build.directory, sim, run_dir, counts=counts, n_y=n_y,
                         y_beat_bytes=widths["m_axis_y"] // 8, pause=pause, seed=seed,
                         stall=stall)
    failure = _native_failure(run, counts["n_load"], counts["n_x"], n_y)
    if failure:
        raise SimulationError(f"{sim}, native harness: {failure}; see {run_dir}")
    if not keep_run:
        shutil.rmtree(run_dir, ignore_errors=True)
    return TopResult(y=y_from_stream_bytes(params, run.y_bytes, t_n), sim=sim,
                     build_dir=build.directory, cached=build.cached,
                     build_seconds=build.seconds, sim_seconds=run.seconds,
                     load_beats=counts["n_load"], frames_done=len(run.frame_done),
                     harness="native", sim_cycles=run.cycles, frame_done=run.frame_done,
                     first_x=run.first_x, sim_cpu_seconds=run.cpu_seconds)
