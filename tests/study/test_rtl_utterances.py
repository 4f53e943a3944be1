"""The accuracy study's RTL check (:mod:`ese_hw.study.rtl`): utterances of different
lengths packed into the top's lanes, a lane reset on each one's first frame, one native
run, bit-exact against the golden model; and a wrong reset is caught.

The model is tiny (8 inputs, 16 cells, 8 projections, 2 PEs): an Icarus build takes
seconds, a Verilator one about 40 s; the module's tests share them.
"""

import numpy as np
import pytest

from ese_hw.errors import EseError, MismatchError
from ese_hw.model.compress import Config, compress
from ese_hw.model.golden import GoldenModel
from ese_hw.model.lstmp import random_weights
from ese_hw.simulation.runner import simulator_available
from ese_hw.study.rtl import pack_utterances, run_utterances

LENGTHS = (3, 6, 2, 5, 4)


def _needs(sim):
    return pytest.mark.skipif(not simulator_available(sim), reason=f"{sim} is not installed")


#: Icarus on one and two lanes; Verilator (the study's simulator) on two: the packing
#: with padding.
RUNS = [pytest.param("icarus", 1, marks=_needs("icarus"), id="icarus-1"),
        pytest.param("icarus", 2, marks=_needs("icarus"), id="icarus-2"),
        pytest.param("verilator", 2, marks=_needs("verilator"), id="verilator-2")]


@pytest.fixture(scope="module")
def case():
    """A model and quantized utterances of :data:`LENGTHS` frames."""
    model = compress(random_weights(8, 16, 8, seed=3), Config(n_pe=2, density=0.25))
    golden = GoldenModel(model)
    rng = np.random.default_rng(5)
    xs = [golden.quantize_inputs(rng.standard_normal((n, 8))) for n in LENGTHS]
    # Each utterance alone from zero state: what the concatenated run must reproduce.
    alone = np.array([golden.run_quantized(x)[-1] for x in xs])
    return dict(model=model, xs=xs, alone=alone)


@pytest.fixture(scope="module")
def build_root(tmp_path_factory):
    return tmp_path_factory.mktemp("study_rtl")


def test_packing_places_every_frame_once():
    """Two lanes: every utterance's frames in one lane, none overlapping, a reset on
    each first frame only, and the lanes within one utterance of each other."""
    p = pack_utterances(LENGTHS, 2)
    used = np.zeros((p.n_lanes, p.n_frames), int)
    for k, n in enumerate(LENGTHS):
        used[p.lane[k], p.start[k]:p.start[k] + n] += 1
    assert used.max() == 1 and used.sum() == sum(LENGTHS)
    assert p.resets().sum() == len(LENGTHS) and p.resets()[p.start, p.lane].all()
    assert p.n_frames - used.sum(1).min() <= max(LENGTHS)
    one = pack_utterances(LENGTHS, 1)
    np.testing.assert_array_equal(one.start, np.cumsum((0,) + LENGTHS[:-1]))
    with pytest.raises(EseError, match="at least one frame"):
        pack_utterances((3, 0), 1)


@pytest.mark.sim
@pytest.mark.parametrize(("sim", "lanes"), RUNS)
def test_utterances_are_bit_exact_and_independent(case, sim, lanes, build_root):
    """The run checks every frame against the golden model (it raises otherwise), and
    each utterance's last ``y`` equals the golden model's on that utterance alone: the
    resets really restart the lane."""
    run = run_utterances(case["model"], case["xs"], lanes=lanes, sim=sim,
                         build_root=build_root, progress=False)
    np.testing.assert_array_equal(run.y_last, case["alone"])
    assert run.top.frames_done == run.packing.n_frames and run.top.sim_cycles > 0
    assert run.packing.n_lanes == lanes


@pytest.mark.sim
@pytest.mark.parametrize(("sim", "lanes"), RUNS[1:])
def test_a_missing_reset_is_caught(case, sim, lanes, build_root):
    """Without the reset of an utterance that does not open its lane, the RTL carries
    the state of the one before it over, and the check names that utterance's first
    frame."""
    p = pack_utterances(LENGTHS, lanes)
    k = int(np.flatnonzero(p.start > 0)[0])
    wrong = p.resets()
    wrong[p.start[k], p.lane[k]] = False
    with pytest.raises(MismatchError, match=rf"lane {p.lane[k]}, frame {p.start[k]} "
                       rf"\(utterance {k}, frame 0 of {LENGTHS[k]}\)"):
        run_utterances(case["model"], case["xs"], lanes=lanes, sim=sim,
                       build_root=build_root, progress=False, rtl_resets=wrong)
