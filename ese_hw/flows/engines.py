"""Run a model on one engine and report: the layer between the library and ``ese-hw``.

Three engines turn float inputs into float outputs:

``float``
    The (pruned) float LSTMP, :func:`ese_hw.model.lstmp.lstmp_float`.
``golden``
    The bit-exact integer model, :class:`ese_hw.model.golden.GoldenModel`; its report
    adds the error against float.
``rtl``
    The generated Verilog (a stack's: every layer's) in a simulator: by default the
    AXI4-Stream top in the native harness, the model sent as ``load.bin``
    (:func:`ese_hw.simulation.rtl.run_model_native`); with the ``cocotb`` harness the
    channel alone, its streams driven from Python (:func:`ese_hw.simulation.rtl.run_rtl`).
    One flow: quantize the inputs, run the golden model once (its outputs for the
    bit-exact check, its trace for the cycle model:
    :func:`ese_hw.model.cycles.stack_cycles`), simulate, and put the RTL's figures
    (:func:`ese_hw.model.figures.frame_figures`) next to the cycle model's.

Each returns an :class:`EngineRun`: the float outputs and a JSON-ready report. The
command line only reads files, calls these, and writes and prints what they return.
:data:`ESE_FIGURES` holds ESE's own figures for every comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ..errors import EseError
from ..model.compress import CompressedModel, CompressedStack
from ..model.cycles import stack_cycles
from ..model.figures import frame_figures, frame_interval
from ..model.golden import GoldenStack
from ..model.images import channel_images
from ..model.limits import DEFAULTS
from ..model.lstmp import LSTMPWeights
from ..model.stack import stack_float
from ..simulation.rtl import (
    HARNESSES,
    check_rtl_options,
    first_mismatch,
    mismatch_error,
    run_model_native,
    run_rtl,
)

__all__ = ["ENGINES", "ESE_FIGURES", "ESE_LATENCY_US", "RTL_HARNESSES", "EngineRun",
           "check_harness", "output_errors", "run_float", "run_golden", "run_rtl_engine"]

#: The engines, in the order the command line lists them.
ENGINES = ("float", "golden", "rtl")

#: Who drives the rtl engine's streams, the default first (:func:`run_rtl_engine`).
RTL_HARNESSES = HARNESSES

#: ESE's own figures (Han et al., FPGA'17; docs/design.md section 4), the one place they
#: are stated: latency per frame and GOPS (sparse, all its channels together) at
#: 200 MHz, and the XCKU060 resources it used.
ESE_FIGURES = MappingProxyType({"latency_us": 82.7, "gops": 282.0, "LUT": 293_920,
                                "FF": 453_068, "DSP48E2": 1_504, "BRAM36": 947})
#: ESE's per-frame latency at 200 MHz, for comparisons.
ESE_LATENCY_US = ESE_FIGURES["latency_us"]


@dataclass(frozen=True)
class EngineRun:
    """Outcome of one engine run.

    Members
    -------
    y : float outputs, (T, P); (C, T, P) for the rtl engine
    report : dict of JSON-ready figures (``frames``, ``engine``, ``max_abs_output``,
        errors against float, and for rtl the performance figures)
    rtl : the :class:`~ese_hw.simulation.rtl.RtlResult` of an rtl run, else None
    model_frame_done : the cycle model's ``frame_done`` cycles of an rtl run, else None
    mismatch : the :class:`~ese_hw.errors.MismatchError` of an rtl run whose outputs
        differ from the golden model's (one line naming the first difference), else None:
        the caller decides whether to raise it, after writing what the user needs to look
    """

    y: np.ndarray
    report: dict
    rtl: object = None
    model_frame_done: np.ndarray | None = None
    mismatch: Exception | None = None


def output_errors(y, ref):
    """Max and mean absolute difference of two output arrays."""
    d = np.abs(np.asarray(y) - np.asarray(ref))
    return {"max_abs_error": float(d.max()), "mean_abs_error": float(d.mean())}


def _report(engine, y, **figures):
    return {"frames": int(y.shape[-2]), "engine": engine, **figures,
            "max_abs_output": float(np.abs(y).max())}


def _float_layers(weights):
    """The float layers of weights (one layer or a list) or of a compressed model or
    stack (its pruned float weights)."""
    if isinstance(weights, CompressedModel):
        return [weights.float_weights]
    if isinstance(weights, CompressedStack):
        return weights.float_layers
    if isinstance(weights, LSTMPWeights):
        return [weights]
    return list(weights)


def run_float(weights, x):
    """The float LSTMP (or stack) over ``x`` (T, I); ``weights`` are float weights (one
    layer or a list of layers) or a compressed model or stack (its pruned float weights)."""
    y = stack_float(_float_layers(weights), x)
    return EngineRun(y, _report("float", y, layers=len(_float_layers(weights))))


def run_golden(model, x, *, ref=None):
    """The golden (bit-exact integer) model of a compressed model or stack over ``x``
    (T, I), with its error against the pruned float model (``ref``, its outputs, if the
    caller has them)."""
    y = GoldenStack(model).run(x)
    ref = stack_float(_float_layers(model), x) if ref is None else ref
    return EngineRun(y, _report("golden", y, layers=len(_float_layers(model)),
                                **output_errors(y, ref)))


def check_harness(harness, *, bake=False):
    """The rtl engine's harness, and that it can run the model as asked."""
    if harness not in RTL_HARNESSES:
        raise EseError(f"harness must be one of {', '.join(RTL_HARNESSES)}, got {harness!r}")
    if bake and harness != "cocotb":
        raise EseError("baking the model into the Verilog runs the channel through cocotb: "
                       "give the cocotb harness with it")


def _rounded(seconds):
    return None if seconds is None else round(seconds, 2)


def _sim_rates(res, cycles_per_frame):
    """Simulation speed of an rtl run: cycles simulated, their rate, and the frames a
    second that rate gives at the RTL's cycles per frame (the steady state, load aside)."""
    rate = res.sim_cycles / res.sim_seconds if res.sim_seconds > 0 else None
    return {"sim_cycles": int(res.sim_cycles),
            "sim_cycles_per_second": None if rate is None else round(rate),
            "frames_per_second": None if rate is None else round(rate / cycles_per_frame, 2)}


def run_rtl_engine(model, x, *, sim="verilator", queue_depth=DEFAULTS["queue_depth"],
                   broadcast=DEFAULTS["broadcast"], ew_share=DEFAULTS["ew_share"],
                   clock_mhz=DEFAULTS["clock_mhz"], build_root="build/rtl", bake=False,
                   progress=None, build_args=(), harness="native"):
    """The generated Verilog over ``x`` (C, T, I) floats, C lock-step channels.

    Parameters
    ----------
    model : CompressedModel or CompressedStack
        One layer or a stack, LSTMP or plain layers in any mix; a stack of several
        runs on a :class:`~ese_hw.gateware.stack.ChannelStack`, every layer on
        chip, loaded through its one load stream.
    x : (C, T, I) finite floats
    sim, queue_depth, broadcast, ew_share, build_root, progress, build_args
        As for :func:`ese_hw.simulation.rtl.run_rtl`.
    clock_mhz : float
        The clock the report's times and GOPS are stated at.
    bake : bool
        Bake the memory images into the Verilog (a build per model; the channel through
        cocotb only). By default the model goes in through the ``load`` stream before
        the first frame, and the build serves every model of the configuration
        (:func:`ese_hw.simulation.rtl.entry_capacity`).
    harness : {"native", "cocotb"}
        ``native`` (default): the AXI4-Stream top in the native harness
        (:func:`ese_hw.simulation.rtl.run_model_native`, the model sent as ``load.bin``;
        no Python in the cycle loop). ``cocotb``: the channel alone, its streams driven
        from Python (:func:`ese_hw.simulation.rtl.run_rtl`), which ``bake`` needs.

    Returns
    -------
    EngineRun
        ``y`` is (C, T, P). The report has the figures of
        :func:`ese_hw.model.figures.frame_figures` from the RTL's ``frame_done`` cycles,
        the cycle model's ``model_cycles_per_frame`` and ``model_rel_diff`` ((RTL -
        model) / model), the error against float, ``bit_exact_vs_golden`` and
        ``first_mismatch`` (:func:`ese_hw.simulation.rtl.first_mismatch`, None when
        bit-exact),
        ``baked``, ``harness``, the build and simulation times, the load's cycles and
        time (``None`` natively: the harness times the run as a whole), the cycles
        simulated, ``sim_cycles_per_second`` and ``frames_per_second`` (simulated frames a
        second at that rate and the RTL's cycles per frame).

    Raises
    ------
    EseError
        Bad options (checked before anything runs), or a failed build or simulation.
    """
    stack = model if isinstance(model, CompressedStack) else CompressedStack((model,))
    first = stack.layers[0]
    x = np.asarray(x)
    if x.ndim != 3:
        raise EseError(f"rtl inputs: shape {x.shape}, expected (C, T, {first.n_in})")
    check_rtl_options(sim=sim, n_channels=x.shape[0], queue_depth=queue_depth,
                      broadcast=broadcast, ew_share=ew_share, n_pe=first.config.n_pe)
    check_harness(harness, bake=bake)
    golden = GoldenStack(stack)
    x_q = np.stack([golden.quantize_inputs(s) for s in x])
    cyc = stack_cycles(stack, x_q, queue_depth=queue_depth, broadcast=broadcast,
                       ew_share=ew_share, clock_mhz=clock_mhz)
    y_golden, model_done = cyc["y"], cyc["frame_done"]
    one = len(stack.layers) == 1
    options = dict(sim=sim, queue_depth=queue_depth, broadcast=broadcast, ew_share=ew_share,
                   build_root=build_root, progress=progress, build_args=build_args)
    if harness == "native":
        res = run_model_native(first if one else stack, x_q, **options)
    else:
        res = run_rtl(first if one else stack, x_q, preload=bake, **options,
                      images=channel_images(first, broadcast) if one else None)
    y = res.y / 2.0 ** golden.fa
    mismatch = first_mismatch(res.y, y_golden)
    ref = np.stack([stack_float(stack.float_layers, s) for s in x])
    figures = frame_figures(stack, n_channels=x.shape[0], clock_mhz=clock_mhz,
                            frame_done=res.frame_done)
    model_cpf = frame_interval(model_done)
    figures.update(model_cycles_per_frame=model_cpf,
                   model_rel_diff=(figures["cycles_per_frame"] - model_cpf) / model_cpf)
    report = _report("rtl", y, sim=sim, layers=len(stack.layers), channels=int(x.shape[0]),
                     queue_depth=queue_depth,
                     broadcast=broadcast, ew_share=ew_share,
                     **figures, **output_errors(y, ref),
                     bit_exact_vs_golden=mismatch is None, first_mismatch=mismatch,
                     baked=bool(bake), harness=harness, entry_depth=res.extra["entry_depth"],
                     build_cached=res.cached, build_seconds=round(res.build_seconds, 2),
                     sim_seconds=round(res.sim_seconds, 2),
                     **_sim_rates(res, figures["cycles_per_frame"]),
                     load_cycles=res.extra["load_cycles"],
                     load_seconds=_rounded(res.extra["load_seconds"]),
                     build_dir=str(Path(res.build_dir)))
    error = None if mismatch is None else mismatch_error(f"RTL simulation on {sim}", mismatch)
    return EngineRun(y, report, res, np.asarray(model_done), error)
