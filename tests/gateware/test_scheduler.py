"""Scheduler: the phase sequence of a step and its strobes, driven input by input."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from ese_hw.gateware.scheduler import Phase, Scheduler, Step

INPUTS = ("x_full", "all_idle", "bc_idle", "ro_busy", "out_busy", "reset_all", "m_done")
STROBES = ("bc_start", "gate_clear", "proj_clear", "ew_start", "ro_start", "x_release",
           "step_begin")


def outputs(ctx, dut):
    """The scheduler's outputs this cycle: state, strobes that are high, bc_phase."""
    high = {s for s in STROBES if ctx.get(getattr(dut, s))}
    phase = ctx.get(dut.bc_phase) if "bc_start" in high else None
    return ctx.get(dut.state), high, phase


def run(script, *, projection=True):
    """``script(ctx, dut, apply)`` drives the inputs; ``apply(**inputs)`` sets them (others 0),
    returns this cycle's outputs and ticks."""
    dut = Scheduler(projection=projection)

    async def tb(ctx):
        async def apply(**inputs):
            for name in INPUTS:
                ctx.set(getattr(dut, name), inputs.get(name, 0))
            out = outputs(ctx, dut)
            await ctx.tick()
            return out
        await script(ctx, dut, apply)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()


def test_a_step_with_y_phase():
    async def script(ctx, dut, apply):
        assert await apply() == (Step.WAIT_X, set(), None)          # no frame yet
        assert await apply(x_full=1) == (
            Step.WAIT_X, {"gate_clear", "step_begin", "bc_start"}, Phase.X)
        assert await apply() == (Step.X, set(), None)                # broadcasting x_t
        assert await apply(bc_idle=1) == (Step.X, {"x_release"}, None)
        assert await apply(ro_busy=1) == (Step.Y_WAIT, set(), None)  # y_{t-1} not written yet
        assert await apply() == (Step.Y_WAIT, {"bc_start"}, Phase.Y)
        assert await apply(all_idle=1) == (Step.Y, set(), None)      # bc_idle is what counts
        assert await apply(bc_idle=1) == (Step.Y, set(), None)
        assert await apply(all_idle=1, ro_busy=1) == (Step.G_DRAIN, set(), None)
        assert await apply(bc_idle=1) == (Step.G_DRAIN, set(), None)  # PEs still busy
        assert await apply(all_idle=1) == (
            Step.G_DRAIN, {"ew_start", "proj_clear", "bc_start"}, Phase.P)
        assert await apply(all_idle=1) == (Step.P, set(), None)
        assert await apply(bc_idle=1) == (Step.P, set(), None)
        assert await apply(all_idle=1, out_busy=1) == (Step.P_DRAIN, set(), None)
        assert await apply(all_idle=1) == (Step.P_DRAIN, {"ro_start"}, None)
        assert (await apply())[0] == Step.WAIT_X
    run(script)


def test_reset_all_skips_the_y_phase():
    async def script(ctx, dut, apply):
        await apply(x_full=1)
        await apply(bc_idle=1)
        # Every lane starts from zero state: no Y phase, even while y_{t-1} is read out.
        assert await apply(reset_all=1, ro_busy=1) == (Step.Y_WAIT, set(), None)
        assert await apply(all_idle=1, ro_busy=1) == (Step.G_DRAIN, set(), None)
        assert await apply(all_idle=1) == (
            Step.G_DRAIN, {"ew_start", "proj_clear", "bc_start"}, Phase.P)
    run(script)


def test_a_plain_step_has_no_projection_phase():
    """A plain layer: after the gate sums the element-wise pass alone (EW), then the
    read-out once every m_t is written and y_{t-1} has been streamed out."""
    async def script(ctx, dut, apply):
        await apply(x_full=1)
        await apply(bc_idle=1)
        await apply()
        await apply(bc_idle=1)
        assert await apply(all_idle=1, m_done=1) == (Step.G_DRAIN, {"ew_start"}, None)
        assert await apply(all_idle=1, bc_idle=1) == (Step.EW, set(), None)   # m_t not done
        assert await apply(m_done=1, out_busy=1) == (Step.EW, set(), None)    # y_{t-1} leaving
        assert await apply(m_done=1) == (Step.EW, {"ro_start"}, None)
        assert (await apply())[0] == Step.WAIT_X
    run(script, projection=False)


def reference(state, inp, projection=True):
    """The step FSM of docs/schedule.md: (next state, strobes, phase)."""
    if state == Step.WAIT_X and inp["x_full"]:
        return Step.X, {"gate_clear", "step_begin", "bc_start"}, Phase.X
    if state == Step.X and inp["bc_idle"]:
        return Step.Y_WAIT, {"x_release"}, None
    if state == Step.Y_WAIT and inp["reset_all"]:
        return Step.G_DRAIN, set(), None
    if state == Step.Y_WAIT and not inp["ro_busy"]:
        return Step.Y, {"bc_start"}, Phase.Y
    if state == Step.Y and inp["bc_idle"]:
        return Step.G_DRAIN, set(), None
    if state == Step.G_DRAIN and inp["all_idle"] and not inp["ro_busy"]:
        if not projection:
            return Step.EW, {"ew_start"}, None
        return Step.P, {"ew_start", "proj_clear", "bc_start"}, Phase.P
    if state == Step.EW and inp["m_done"] and not inp["out_busy"]:
        return Step.WAIT_X, {"ro_start"}, None
    if state == Step.P and inp["bc_idle"]:
        return Step.P_DRAIN, set(), None
    if state == Step.P_DRAIN and inp["all_idle"] and not inp["out_busy"]:
        return Step.WAIT_X, {"ro_start"}, None
    return state, set(), None


@pytest.mark.parametrize("projection", [True, False])
def test_random_inputs_follow_the_reference(projection):
    rng = np.random.default_rng(5)
    seen = set()

    async def script(ctx, dut, apply):
        state = Step.WAIT_X
        for _ in range(3000):
            inp = {name: int(rng.random() < 0.4) for name in INPUTS}
            nxt, strobes, phase = reference(state, inp, projection)
            assert await apply(**inp) == (state, strobes, phase)
            seen.add((state, nxt))
            state = nxt
    run(script, projection=projection)
    # Every transition, the reset_all shortcut included, was exercised: every state of
    # the layer's kind was left (LSTMP: all but EW; plain: all but P and P_DRAIN).
    assert (Step.Y_WAIT, Step.G_DRAIN) in seen and (Step.Y_WAIT, Step.Y) in seen
    unused = {Step.EW} if projection else {Step.P, Step.P_DRAIN}
    assert {s for s, n in seen if s != n} == set(Step) - unused
