"""The native harness (:mod:`ese_hw.simulation.native`): the AXI4-Stream top run with no
Python in the cycle loop, on both simulators.

The model is tiny (8 inputs, 16 cells, 8 projections, 2 PEs, 2 lanes): a build takes
seconds on Icarus and about 40 s on Verilator, shared by the module's tests.
"""

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ese_hw.gateware.load import LoadError
from ese_hw.model.compress import Config, compress
from ese_hw.model.cycles import stack_cycles
from ese_hw.model.golden import GoldenModel
from ese_hw.model.lstmp import random_weights
from ese_hw.simulation.native import compile_native, run_native, write_stimulus
from ese_hw.simulation.rtl import TOP_TOPLEVEL, run_top
from ese_hw.simulation.runner import SimulationError, build_design, simulator_available

T = 6
SIMS = [pytest.param(s, marks=pytest.mark.skipif(not simulator_available(s),
                                                 reason=f"{s} is not installed"))
        for s in ("icarus", "verilator")]

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def case():
    """A model, two lanes of inputs with lane 1 restarted at frame 2, and what the
    golden model and the cycle model say they give."""
    model = compress(random_weights(8, 16, 8, seed=1), Config(n_pe=2, density=0.2))
    golden = GoldenModel(model)
    rng = np.random.default_rng(12)
    resets = np.zeros((T, 2), bool)
    resets[2, 1] = True
    x_q = np.stack([golden.quantize_inputs(rng.standard_normal((T, 8))) for _ in range(2)])
    cycles = stack_cycles(model, x_q, queue_depth=8, resets=resets)
    return dict(model=model, x_q=x_q, resets=resets, want=golden.run_channels(x_q, resets),
                frame_done=cycles["frame_done"])


@pytest.fixture(scope="module")
def build_root(tmp_path_factory):
    return tmp_path_factory.mktemp("native")


def _run(case, sim, build_root, **kw):
    return run_top(case["model"], case["x_q"], sim=sim, resets=case["resets"],
                   expected=case["want"], build_root=build_root, progress=False,
                   harness="native", **kw)


@pytest.mark.parametrize("sim", SIMS)
def test_native_top_is_bit_exact_and_cycle_exact(case, sim, build_root):
    """Without pauses every y bit equals the golden model's and every ``frame_done`` is
    on the cycle model's cycle, counted from the first x beat taken (its cycle 0)."""
    res = _run(case, sim, build_root)
    np.testing.assert_array_equal(res.y, case["want"])
    assert res.harness == "native" and res.frames_done == T and res.load_beats > 0
    np.testing.assert_array_equal(res.channel_frame_done, case["frame_done"])
    assert res.sim_cycles > res.frame_done[-1] and res.sim_cycles_per_second > 0


@pytest.mark.parametrize("sim", SIMS)
def test_native_top_under_pauses(case, sim, build_root):
    """Seeded pauses on all three interfaces: still bit-exact, later than without, and
    the same seed gives the same cycles (the pauses come from the harness, not the
    simulator); another seed gives others."""
    still = _run(case, sim, build_root)
    paused = [_run(case, sim, build_root, pause=0.3, seed=s) for s in (1, 1, 2)]
    for res in paused:
        np.testing.assert_array_equal(res.y, case["want"])
        assert res.frame_done[-1] > still.frame_done[-1]
    np.testing.assert_array_equal(paused[0].frame_done, paused[1].frame_done)
    assert not np.array_equal(paused[0].frame_done, paused[2].frame_done)


@pytest.mark.skipif(not all(simulator_available(s) for s in ("icarus", "verilator")),
                    reason="needs both simulators")
def test_simulators_agree_cycle_for_cycle(case, build_root):
    """Icarus and Verilator run the same harness to the same cycles, pauses included."""
    icarus, verilator = (_run(case, s, build_root, pause=0.2, seed=7)
                         for s in ("icarus", "verilator"))
    np.testing.assert_array_equal(icarus.frame_done, verilator.frame_done)
    assert icarus.sim_cycles == verilator.sim_cycles and icarus.first_x == verilator.first_x


@pytest.mark.parametrize("sim", SIMS)
def test_a_refused_load_is_an_error(case, sim, build_root):
    """A load stream with one payload bit flipped is refused by the top's checksum; the
    run stops with an error naming the refusal, not with y."""
    from ese_hw.model.loadstream import model_load_bytes
    from ese_hw.simulation.rtl import top_params

    model = case["model"]
    params = top_params(model, n_channels=2)
    load = bytearray(model_load_bytes(params, model))
    load[len(load) // 2] ^= 1
    with pytest.raises(SimulationError, match=r"the load stream was refused \(CHECKSUM\), "
                       r"after \d+ cycles: load (\d+)/\1, x 0/48, y 0/48"):
        run_top(model, case["x_q"], sim=sim, resets=case["resets"], load=bytes(load),
                build_root=build_root, progress=False, harness="native")


class BadTop(wiring.Component):
    """The top's ports, with a y stream that breaks the rules: it offers a counter that
    changes every cycle whether or not the beat was taken. It takes every load and x
    beat and says it is loaded."""

    def __init__(self, *, x_bits=32, load_bits=72, lanes=2):
        super().__init__({
            "aclk": In(1), "aresetn": In(1),
            "s_axis_x_tdata": In(x_bits), "s_axis_x_tvalid": In(1), "s_axis_x_tready": Out(1),
            "s_axis_x_tlast": In(1), "s_axis_x_tuser": In(lanes),
            "m_axis_y_tdata": Out(x_bits), "m_axis_y_tvalid": Out(1),
            "m_axis_y_tready": In(1), "m_axis_y_tlast": Out(1),
            "s_axis_load_tdata": In(load_bits), "s_axis_load_tvalid": In(1),
            "s_axis_load_tready": Out(1), "s_axis_load_tlast": In(1),
            "frame_done": Out(1), "busy": Out(1), "x_tlast_error": Out(1),
            "loaded": Out(1), "loading": Out(1), "load_error": Out(LoadError),
        })

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = sync = ClockDomain("sync")
        m.d.comb += [sync.clk.eq(self.aclk), sync.rst.eq(~self.aresetn)]
        count = Signal(32)
        m.d.sync += count.eq(count + 1)
        m.d.comb += [self.s_axis_x_tready.eq(1), self.s_axis_load_tready.eq(1),
                     self.loaded.eq(1), self.m_axis_y_tvalid.eq(1),
                     self.m_axis_y_tdata.eq(count)]
        return m


@pytest.mark.parametrize("sim", SIMS)
def test_harness_catches_a_y_beat_changed_while_held(sim, tmp_path):
    """The harness's stream check: :class:`BadTop` changes its y beat before it is taken,
    and the run ends ``protocol`` (with pauses on y, so a beat is held; the real top
    passes the same check under pauses in the tests above)."""
    build = build_design(sim, BadTop, TOP_TOPLEVEL, tmp_path, key={"bad": 1},
                         progress=False, compiler=compile_native)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    counts = write_stimulus(run_dir, load=bytes(9 * 4), load_bytes=9, x=bytes(4 * 8),
                            x_bytes=4, n_in=8, masks=[0])
    run = run_native(build.directory, sim, run_dir, counts=counts, n_y=100, y_beat_bytes=4,
                     pause=0.5, seed=3, stall=1000)
    assert run.outcome == "protocol"
    assert 0 < run.cycles < 100 and run.y_taken < 100
