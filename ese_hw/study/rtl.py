"""The accuracy study's RTL check: many utterances through the top's Verilog in one run.

Each utterance is a sequence the channel must start from zero state. Rather than one
simulation per utterance (a Verilator start, a model load and a few thousand cycles
each), :func:`run_utterances` packs them all into the lanes of one AXI4-Stream top
(:func:`pack_utterances`): each lane runs its utterances back to back, a lane reset
(TUSER) on every utterance's first frame, and lanes shorter than the longest are padded
with zero frames at their end. The model is loaded once and the native harness
(:mod:`ese_hw.simulation.native`, no Python in the cycle loop) runs every frame. The
golden model runs the same inputs with the same resets
(:meth:`~ese_hw.model.golden.GoldenModel.run_channels`), and every output of every
frame, padding included, must equal it; each utterance's class is then read from its
last frame's ``y``.

Lanes run in lock step and share every weight read, so C lanes take about 1/C of the
cycles of one (the cycle model: 553 cycles a frame for one lane of the study's model, 556
for four); each cycle simulates more hardware, though.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import EseError, MismatchError
from ..model.golden import GoldenModel
from ..simulation.rtl import TopResult, first_mismatch, run_top

__all__ = ["UtterancePacking", "UtteranceRun", "pack_utterances", "run_utterances"]


@dataclass(frozen=True)
class UtterancePacking:
    """Where each utterance runs in the top's lanes.

    Members
    -------
    lane, start, length : (N,) int64, utterance ``k`` is frames ``start[k]`` to
        ``start[k] + length[k] - 1`` of lane ``lane[k]``
    n_lanes : lanes of the top (C)
    n_frames : frames every lane runs (T: its longest lane; the others are padded)
    """

    lane: np.ndarray
    start: np.ndarray
    length: np.ndarray
    n_lanes: int
    n_frames: int

    def resets(self):
        """(T, C) booleans: a lane reset on every utterance's first frame."""
        resets = np.zeros((self.n_frames, self.n_lanes), bool)
        resets[self.start, self.lane] = True
        return resets

    def inputs(self, xs):
        """The utterances ``xs`` ((T_k, I) integers each) as the top's (C, T, I) inputs,
        zero frames after each lane's last utterance."""
        n_in = np.asarray(xs[0]).shape[1]
        x = np.zeros((self.n_lanes, self.n_frames, n_in), np.int64)
        for k, xk in enumerate(xs):
            x[self.lane[k], self.start[k]:self.start[k] + self.length[k]] = xk
        return x

    def last(self, y):
        """(N, P): each utterance's last frame of ``y`` (C, T, P)."""
        return np.asarray(y)[self.lane, self.start + self.length - 1]

    def locate(self, lane, frame):
        """The utterance that holds ``frame`` of ``lane`` (``None``: padding)."""
        hit = np.flatnonzero((self.lane == lane) & (self.start <= frame)
                             & (frame < self.start + self.length))
        return int(hit[0]) if len(hit) else None


def pack_utterances(lengths, n_lanes=1):
    """Utterances of ``lengths`` frames into ``n_lanes`` lanes: the longest first, each
    to the lane with the fewest frames so far (so the lanes end close together and the
    padding is short); one lane keeps the given order."""
    lengths = np.asarray(lengths, np.int64)
    if isinstance(n_lanes, bool) or not isinstance(n_lanes, (int, np.integer)) or n_lanes < 1:
        raise EseError(f"lanes must be a positive integer, got {n_lanes!r}")
    if lengths.ndim != 1 or not len(lengths) or lengths.min() < 1:
        raise EseError(f"utterances need at least one frame each, got lengths {lengths}")
    lane = np.zeros(len(lengths), np.int64)
    start = np.zeros(len(lengths), np.int64)
    fill = np.zeros(n_lanes, np.int64)
    order = range(len(lengths)) if n_lanes == 1 else np.argsort(-lengths, kind="stable")
    for k in order:
        c = int(np.argmin(fill))
        lane[k], start[k] = c, fill[c]
        fill[c] += lengths[k]
    return UtterancePacking(lane, start, lengths, n_lanes, int(fill.max()))


@dataclass(frozen=True)
class UtteranceRun:
    """Outcome of :func:`run_utterances` (every output already equal to the golden's).

    Members
    -------
    y_last : (N, P) int64, each utterance's last ``y`` from the RTL (Q ``fa``)
    golden_last : (N, P) int64, the golden model's (equal, or the run had raised)
    frac_bits : ``fa``, the fraction bits of ``y`` (de-quantize: ``y / 2**fa``)
    packing : the :class:`UtterancePacking` run
    top : the :class:`~ese_hw.simulation.rtl.TopResult` (cycles, seconds, build)
    golden_seconds : wall time of the golden model on the same inputs
    """

    y_last: np.ndarray
    golden_last: np.ndarray
    frac_bits: int
    packing: UtterancePacking
    top: TopResult
    golden_seconds: float


def _mismatch_error(sim, packing, mismatch):
    """One line naming the utterance (and its frame) where the RTL first differs."""
    m = mismatch
    k = packing.locate(m["lane"], m["frame"])
    where = ("in the padding" if k is None else
             f"utterance {k}, frame {m['frame'] - packing.start[k]} of {packing.length[k]}")
    return MismatchError(f"RTL on {sim}: {m['count']} of {m['total']} outputs differ from "
                         f"the golden model; first at lane {m['lane']}, frame {m['frame']} "
                         f"({where}), element {m['element']}: RTL {m['rtl']}, golden "
                         f"{m['golden']}")


def run_utterances(model, xs_q, *, lanes=1, sim="verilator", build_root="build/rtl",
                   progress=None, pause=0.0, seed=0, rtl_resets=None):
    """Run the quantized utterances ``xs_q`` ((T_k, I) integers each) on the top's RTL
    in one native simulation, packed into ``lanes`` lanes, and check every output of
    every frame against the golden model run with the same resets.

    ``rtl_resets`` ((T, C) booleans), if given, go to the RTL instead of the packing's
    (the golden model keeps the packing's): how a test shows that a wrong reset fails.

    Raises
    ------
    MismatchError
        One line naming the first differing utterance, frame and element.
    """
    packing = pack_utterances([len(x) for x in xs_q], lanes)
    x = packing.inputs(xs_q)
    resets = packing.resets()
    golden = GoldenModel(model)
    t = time.monotonic()
    want = golden.run_channels(x, resets)
    golden_seconds = time.monotonic() - t
    top = run_top(model, x, sim=sim, harness="native", pause=pause, seed=seed,
                  resets=resets if rtl_resets is None else rtl_resets,
                  build_root=build_root, progress=progress)
    mismatch = first_mismatch(top.y, want)
    if mismatch is not None:
        raise _mismatch_error(sim, packing, mismatch)
    return UtteranceRun(packing.last(top.y), packing.last(want), int(golden.q["fa"]),
                        packing, top, round(golden_seconds, 1))
