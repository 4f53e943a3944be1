"""The channel scheduler: the state machine that sequences one LSTMP time step.

One step ``t`` (docs/schedule.md has the timeline)::

    WAIT_X   x_t in the buffer          -> clear gate accumulators (to bias), broadcast X
    X        columns 0 .. I-1  (x_t)    -> release the x slot
    Y_WAIT   y_{t-1} written back       -> broadcast Y (skipped after a state reset)
    Y        columns I .. I+P-1 (y_{t-1})
    G_DRAIN  every PE idle: gate sums done, y_{t-1} read out
                                        -> element-wise pass, clear projection accumulators,
                                           broadcast P (each m_t column as soon as it exists)
    P        columns I+P .. I+P+H-1 (m_t)
    P_DRAIN  every PE idle, y_{t-1} streamed out
                                        -> read y_t out of the projection accumulators

The read-out of ``y_t`` (and its output stream) overlaps the next step's X phase:
only the Y phase waits for it.

A plain LSTM layer (``projection=False``: ``y_t`` is ``m_t`` rescaled) has no P phase::

    G_DRAIN  every PE idle              -> element-wise pass
    EW       every cell's m_t written, y_{t-1} streamed out
                                        -> read y_t out of the m banks
"""

from amaranth.hdl import Module
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Phase", "Step", "Scheduler"]


class Phase(enum.Enum, shape=2):
    """What the broadcaster walks."""
    X = 0   #: ``x_t``, columns ``0 .. I-1``
    Y = 1   #: ``y_{t-1}``, columns ``I .. I+P-1``
    P = 2   #: ``m_t``, columns ``I+P .. I+P+H-1`` (the projection)


class Step(enum.Enum, shape=3):
    WAIT_X = 0
    X = 1
    Y_WAIT = 2
    Y = 3
    G_DRAIN = 4
    P = 5
    P_DRAIN = 6
    EW = 7      #: plain layers only: the element-wise pass, no projection phase


class Scheduler(wiring.Component):
    """Sequences the phases of a step from the channel's status signals.

    Members
    -------
    x_full : In(1)
        A whole ``x_t`` frame is in the front slot of the x buffer.
    all_idle : In(1)
        Every PE's queue is empty and nothing is in flight.
    bc_idle : In(1)
        The broadcaster has pushed (or skipped) every column of its phase.
    ro_busy, out_busy : In(1)
        ``y_{t-1}`` is being read out of the accumulators / streamed out.
    m_done : In(1)
        Every local cell's ``m_t`` is written (read only without a projection).
    reset_all : In(1)
        Every lock-step channel starts this step from zero state (no Y phase).
    bc_start : Out(1), bc_phase : Out(Phase)
        Start the broadcaster on a phase.
    gate_clear, proj_clear, ew_start, ro_start, x_release, step_begin : Out(1)
        One-cycle strobes (``step_begin`` latches the step's reset mask).
    state : Out(Step)
    """

    x_full: In(1)
    all_idle: In(1)
    bc_idle: In(1)
    ro_busy: In(1)
    out_busy: In(1)
    reset_all: In(1)
    bc_start: Out(1)
    bc_phase: Out(Phase)
    gate_clear: Out(1)
    proj_clear: Out(1)
    ew_start: Out(1)
    ro_start: Out(1)
    x_release: Out(1)
    step_begin: Out(1)
    state: Out(Step)
    m_done: In(1)

    def __init__(self, *, projection=True):
        if not isinstance(projection, bool):
            raise TypeError(f"projection must be a bool, not {projection!r}")
        self._projection = projection
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        with m.FSM(name="step"):
            with m.State("WAIT_X"):
                m.d.comb += self.state.eq(Step.WAIT_X)
                with m.If(self.x_full):
                    m.d.comb += [self.gate_clear.eq(1), self.step_begin.eq(1),
                                 self.bc_start.eq(1), self.bc_phase.eq(Phase.X)]
                    m.next = "X"
            with m.State("X"):
                m.d.comb += self.state.eq(Step.X)
                with m.If(self.bc_idle):
                    m.d.comb += self.x_release.eq(1)
                    m.next = "Y_WAIT"
            with m.State("Y_WAIT"):
                m.d.comb += self.state.eq(Step.Y_WAIT)
                with m.If(self.reset_all):
                    m.next = "G_DRAIN"
                with m.Elif(~self.ro_busy):
                    m.d.comb += [self.bc_start.eq(1), self.bc_phase.eq(Phase.Y)]
                    m.next = "Y"
            with m.State("Y"):
                m.d.comb += self.state.eq(Step.Y)
                with m.If(self.bc_idle):
                    m.next = "G_DRAIN"
            with m.State("G_DRAIN"):
                m.d.comb += self.state.eq(Step.G_DRAIN)
                with m.If(self.all_idle & ~self.ro_busy):
                    m.d.comb += self.ew_start.eq(1)
                    if self._projection:
                        m.d.comb += [self.proj_clear.eq(1), self.bc_start.eq(1),
                                     self.bc_phase.eq(Phase.P)]
                    m.next = "P" if self._projection else "EW"
            if self._projection:
                self._projection_phase(m)
            else:
                self._plain_step_end(m)
        return m

    def _projection_phase(self, m):
        """The P phase and its drain (inside the FSM), then the read-out of ``y_t`` from
        the projection accumulators."""
        with m.State("P"):
            m.d.comb += self.state.eq(Step.P)
            with m.If(self.bc_idle):
                m.next = "P_DRAIN"
        with m.State("P_DRAIN"):
            m.d.comb += self.state.eq(Step.P_DRAIN)
            with m.If(self.all_idle & ~self.out_busy):
                m.d.comb += self.ro_start.eq(1)
                m.next = "WAIT_X"

    def _plain_step_end(self, m):
        """A plain layer's end of step (inside the FSM): once the element-wise pass has
        written every cell's ``m_t`` and ``y_{t-1}`` has left the y banks, the read-out
        copies ``m_t`` into them as ``y_t``."""
        with m.State("EW"):
            m.d.comb += self.state.eq(Step.EW)
            with m.If(self.m_done & ~self.out_busy):
                m.d.comb += self.ro_start.eq(1)
                m.next = "WAIT_X"
