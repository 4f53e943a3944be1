"""The element-wise pass sequencer: every PE's cells through its element-wise unit, in lock-step."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib.wiring import In, Out

from ..model.limits import DEFAULTS
from ..model.lstmp import N_GATES
from ..model.timing import DEFAULT_TIMING, check_timing
from ._checks import CheckedComponent, check_int
from .lanes import elementwise_control_signature

__all__ = ["ElementwiseSequencer"]


class ElementwiseSequencer(CheckedComponent):
    """Steps every cell unit through its local cells, one slot of ``timing.ew_slot(G * C)``
    cycles each.

    Slot of local cell ``k`` (cycle ``s`` from 0; ``R = timing.gate_reads`` = 4,
    ``F = timing.ew_feed_offset`` = 5)::

        s = 0 .. R-1      read gate row 4k + s (every lane); at s = 0 also c_{t-1}, peepholes
        s = R             the last gate read's data is latched (accumulator read latency)
        s = F .. F+GC-1   feed lane s - F to the element-wise unit

    A cell unit serves ``G`` PEs (``ew_share``) of ``C`` lock-step channels each, so it
    feeds ``G * C`` lanes per cell (PE-major). All units and PEs get the same control
    (their cells are local, so they work in lock-step); a cell's results come out
    ``timing.ew_latency`` after its feed.

    Parameters
    ----------
    cells : int
        Local cells per PE.
    n_channels : int
    timing : Timing
    ew_share : int
        PEs per cell unit (G, default 1).

    Members
    -------
    start : In(1)
        Begin a pass (cell 0 from the next cycle).
    zero : In(n_channels)
        The step's zero-state lanes (passed to the PEs).
    busy : Out(1)
    control : Out(elementwise_control_signature(cells, n_channels, ew_share))
    """

    @classmethod
    def check_parameters(cls, *, cells, n_channels, timing, ew_share):
        check_int("cells", cells, 1)
        check_int("n_channels", n_channels)
        check_int("ew_share", ew_share)
        check_timing(timing)

    def __init__(self, *, cells, n_channels, timing=DEFAULT_TIMING, ew_share=DEFAULTS["ew_share"]):
        self._cells, self._c, self._timing = cells, n_channels, timing
        self._lanes = ew_share * n_channels
        super().__init__({
            "start": In(1),
            "zero": In(n_channels),
            "busy": Out(1),
            "control": Out(elementwise_control_signature(cells, n_channels, ew_share)),
        })

    @property
    def slot(self):
        """Cycles per local cell."""
        return self._timing.ew_slot(self._lanes)

    def elaborate(self, platform):
        m = Module()
        tm = self._timing
        ctl = self.control
        cell = Signal(range(max(2, self._cells + 1)))
        cyc = Signal(range(self.slot))
        # gate_row = N_GATES * cell + gate: with four gates, the gate is the low two bits.
        gate_bits = (N_GATES - 1).bit_length()
        m.d.comb += [
            ctl.gate_read.eq(self.busy & (cyc < tm.gate_reads)),
            ctl.gate_row.eq(Cat(cyc[:gate_bits], cell)),
            ctl.cell_read.eq(self.busy & (cyc == 0)),
            ctl.cell.eq(cell),
            ctl.feed.eq(self.busy & (cyc >= tm.ew_feed_offset)),
            ctl.lane.eq(cyc - tm.ew_feed_offset),
            ctl.zero.eq(self.zero),
            ctl.restart.eq(self.start),
        ]
        with m.If(self.start):
            m.d.sync += [self.busy.eq(1), cell.eq(0), cyc.eq(0)]
        with m.Elif(self.busy):
            with m.If(cyc == self.slot - 1):
                m.d.sync += [cyc.eq(0), cell.eq(cell + 1)]
                with m.If(cell == self._cells - 1):
                    m.d.sync += self.busy.eq(0)
            with m.Else():
                m.d.sync += cyc.eq(cyc + 1)
        return m
