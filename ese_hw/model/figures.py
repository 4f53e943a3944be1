"""Performance figures of a run, computed once: :func:`frame_figures`.

Pure numpy; never imports Amaranth. ``ese-hw run`` (the RTL's ``frame_done`` cycles),
``ese-hw generate`` and ``ese-hw sweep`` (the cycle model's), the demo and the
benchmarks all turn cycles into figures here, under one vocabulary of keys at any
clock (the clock is a field of the result, never part of a key).

How the figures are counted (docs/schedule.md; ESE, Han et al., FPGA'17):

* cycles per frame: the steady-state frame interval, the mean distance of
  ``frame_done`` over frames 1 .. T-1 (frame 0 starts from an idle channel);
* latency: a frame's step. The scheduler runs one step at a time, so at batch 1 a
  frame takes one interval, the figure ESE's 82.7 us counts (``latency_us``: always
  ``cycles_per_frame`` at the clock, whoever calls);
* pipeline latency: a frame's last x element in to its last y element out, which the
  cycle model measures (a stack's layers pipeline frames, so it exceeds the
  interval); a different quantity under its own keys (``pipeline_latency_cycles``,
  ``pipeline_latency_us``), present only when the caller measured it;
* utilization U = useful MACs / (PEs x cycles per frame), PEs of every layer;
* GOPS (sparse) = 2 x useful MACs x lanes / frame interval, a throughput (at batch 1
  the interval is the latency ESE divides by); dense-equivalent GOPS counts every
  weight of the dense matrices.
"""

import numpy as np

from .limits import DEFAULTS
from .lstmp import N_GATES

__all__ = ["dense_macs", "frame_figures", "frame_interval", "useful_macs"]


def useful_macs(model):
    """Useful MACs per frame: non-zero weights of the nine matrices (padding excluded;
    a plain layer has eight, no ``W_ym``)."""
    weights = model.gate.weights() + (model.ym.weights() if model.has_projection else [])
    return sum(int(np.count_nonzero(w)) for w in weights)


def dense_macs(model):
    """All weights of the nine dense matrices: ``4H(I + P) + PH`` (a plain layer: the
    eight gate matrices, ``4H(I + H)``)."""
    i, h, p = model.n_in, model.n_cells, model.n_proj
    return N_GATES * h * (i + p) + (p * h if model.has_projection else 0)


def frame_interval(frame_done):
    """Steady-state cycles per frame of ``frame_done`` cycles: the mean of their
    differences over frames 1 .. T-1 (one frame: its ``frame_done``)."""
    done = np.asarray(frame_done, dtype=np.int64)
    return float(np.diff(done).mean()) if len(done) > 1 else float(done[0])


def frame_figures(layers, *, n_channels, clock_mhz=DEFAULTS["clock_mhz"], frame_done=None,
                  cycles_per_frame=None, pipeline_latency_cycles=None):
    """Every performance figure of a run of ``layers`` on ``n_channels`` lanes.

    Parameters
    ----------
    layers : CompressedModel, CompressedStack or sequence of CompressedModel
        What ran (a stack: every layer's MACs and PEs count).
    n_channels : int
        Lock-step lanes (channels): each frame is one step of every lane.
    clock_mhz : float
        The clock the times and GOPS are stated at (default ``DEFAULTS["clock_mhz"]``).
    frame_done : (T,) integers, optional
        The cycle of every ``frame_done`` (of a stack: its last layer's), from an RTL run
        or the cycle model; gives the cycles per frame (:func:`frame_interval`).
    cycles_per_frame : float, optional
        The frame interval itself, when the caller counts it otherwise (e.g. over the
        second half of the frames); exactly one of this and ``frame_done``.
    pipeline_latency_cycles : float, optional
        A frame's last x element in to its last y element out, measured by the caller
        (the cycle model): adds ``pipeline_latency_cycles`` and ``pipeline_latency_us``.

    Returns
    -------
    dict
        ``clock_mhz``, ``n_channels``, ``total_pes`` (all layers'), ``cycles_per_frame``,
        ````latency_us``, ``utilization``,
        ``useful_macs_per_frame`` and ``dense_macs_per_frame`` (one lane, all layers),
        ``gops`` and ``dense_equiv_gops`` (all lanes); ``latency_us`` is one interval
        at the clock (module docstring); ``pipeline_latency_cycles`` and
        ``pipeline_latency_us`` only when the caller gives the first.
    """
    if (frame_done is None) == (cycles_per_frame is None):
        raise ValueError("give exactly one of frame_done and cycles_per_frame")
    if clock_mhz <= 0 or n_channels < 1:
        raise ValueError(f"clock_mhz must be > 0 and n_channels >= 1, got {clock_mhz} and "
                         f"{n_channels}")
    layers = tuple(getattr(layers, "layers", None) or
                   (layers if isinstance(layers, (list, tuple)) else (layers,)))
    cpf = frame_interval(frame_done) if cycles_per_frame is None else float(cycles_per_frame)
    useful = sum(useful_macs(m) for m in layers)
    dense = sum(dense_macs(m) for m in layers)
    n_pe = sum(m.config.n_pe for m in layers)
    interval_us = cpf / clock_mhz
    figures = {
        "clock_mhz": float(clock_mhz),
        "n_channels": int(n_channels),
        "total_pes": n_pe,
        "cycles_per_frame": cpf,
        "latency_us": interval_us,
        "utilization": useful / (n_pe * cpf),
        "useful_macs_per_frame": useful,
        "dense_macs_per_frame": dense,
        "gops": 2 * useful * n_channels / interval_us / 1e3,
        "dense_equiv_gops": 2 * dense * n_channels / interval_us / 1e3,
    }
    if pipeline_latency_cycles is not None:
        figures["pipeline_latency_cycles"] = float(pipeline_latency_cycles)
        figures["pipeline_latency_us"] = float(pipeline_latency_cycles) / clock_mhz
    return figures
