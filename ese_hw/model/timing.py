"""Every latency of the channel, in one place, for the gateware and the cycle model alike.

No Amaranth (the gate count is the model's). :class:`Timing` is the one source: the
gateware (:mod:`ese_hw.gateware.channel` and its parts) builds its pipelines and
sequencer offsets from a ``Timing`` object, and :mod:`ese_hw.model.cycles`
counts cycles from the same object, so changing a latency here changes both.

Two kinds of latency live here:

* parameters (dataclass fields): the gateware really builds that many register
  stages, e.g. ``ChannelParams(..., timing=Timing(y_write_stages=3))``, and
  ``frame_cycles(..., timing=...)`` follows;
* structural latencies (class constants): fixed by how a unit is built (a
  synchronous memory read is one cycle); they are named here so that no cycle
  offset is a bare number on either side, but changing one means changing the unit.

All counts are in clock cycles.
"""

from dataclasses import dataclass
from typing import ClassVar

from .lstmp import N_GATES

__all__ = ["Timing", "DEFAULT_TIMING", "check_timing"]


@dataclass(frozen=True)
class Timing:
    """The channel's latencies (cycles).

    Parameters
    ----------
    y_write_stages : int >= 1
        A projection row's read-out command -> its ``y_t`` written into the y bank:
        the accumulator read (1) and ``y_write_stages - 1`` registers of the
        conversion to Q ``fa`` (shift, round, saturate); from two registers on, the
        first holds the sums before the rounding. Default 3: the accumulator's adder
        and the rounding's are then in separate cycles (for timing), at one cycle per
        frame.
    ew_output_stages : int >= 0
        Extra output registers after the element-wise unit's 15-stage pipeline
        (e.g. for routing to the c memory and m bank). Default 0.
    """

    y_write_stages: int = 3
    ew_output_stages: int = 0

    # ---- Structural latencies (class constants; the units are built this way). ----
    #: Any unit acts on a one-cycle strobe (or a scheduler state change) in the next
    #: cycle: its control state is registered.
    strobe_latency: ClassVar[int] = 1
    #: PE: push into a queue -> earliest pop (the ``SyncFIFO`` level is registered).
    queue_latency: ClassVar[int] = 1
    #: PE: pop -> both pointers of the column (synchronous even/odd bank read).
    pointer_latency: ClassVar[int] = 1
    #: PE: pointers read -> the column in the span register the matrix reader takes
    #: from (registered for timing; an empty column is dropped on its way in).
    span_latency: ClassVar[int] = 1
    #: PE: column taken by the matrix reader -> its first entry address issued.
    issue_latency: ClassVar[int] = 1
    #: PE: last entry issued -> PE idle: entry read (1), decode (1), multiply (1),
    #: accumulate (1).
    accum_latency: ClassVar[int] = 4
    #: Every PE idle -> the scheduler (and the load path) sees it: the AND over every
    #: PE's ``idle`` is registered, for timing.
    idle_latency: ClassVar[int] = 1
    #: Accumulator read-out (``ro_en``) -> its data (synchronous buffer read).
    accum_read_latency: ClassVar[int] = 1
    #: Broadcaster: the read stage reads a group's activations, the data stage has them
    #: this many cycles later (synchronous read of the x, y and m banks).
    activation_read_latency: ClassVar[int] = 1
    #: Broadcaster: a group's activations read -> the group in the offer stage (gathered,
    #: masked and checked for zero on the way in: registered for timing).
    offer_latency: ClassVar[int] = 1
    #: Broadcaster: last column handed on (or dropped) -> ``idle`` seen by the scheduler
    #: (stage B's valid is a register).
    bc_idle_latency: ClassVar[int] = 1
    #: Element-wise pass: the gate rows of a cell (:data:`~ese_hw.model.lstmp.N_GATES`)
    #: are read one per cycle.
    gate_reads: ClassVar[int] = N_GATES
    #: :class:`~ese_hw.gateware.elementwise.ElementwiseUnit` register stages
    #: (its docstring lists them).
    ew_core_latency: ClassVar[int] = 15
    #: y output stream: the y bank read in front of the output register.
    y_bank_read_latency: ClassVar[int] = 1

    def __post_init__(self):
        for name, lo in (("y_write_stages", 1), ("ew_output_stages", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an integer, not {value!r}")
            if not lo <= value <= 64:
                raise ValueError(f"{name} must be in {lo}..64, not {value!r}")

    # ---- Derived latencies. ----
    @property
    def y_convert_stages(self):
        """Registers between the projection accumulator's read data and the y-bank write."""
        return self.y_write_stages - self.accum_read_latency

    @property
    def ew_latency(self):
        """Element-wise unit: input transfer -> output valid (without stalls)."""
        return self.ew_core_latency + self.ew_output_stages

    @property
    def ew_feed_offset(self):
        """Cycle of a cell's slot in which its first lane is fed to the element-wise unit:
        after the four gate reads, the last read's data is latched
        (``gate_reads + accum_read_latency`` = 5)."""
        return self.gate_reads + self.accum_read_latency

    def ew_slot(self, n_channels):
        """Cycles per local cell of the element-wise pass: the gate reads and latch, then
        one feed per lock-step channel (``5 + C``)."""
        return self.ew_feed_offset + n_channels

    def m_round_ready(self, n_channels):
        """``ew_start`` -> the first cell's ``m_t`` counted as written (every channel).

        The sequencer starts a strobe later; the last lane is fed at slot cycle
        ``ew_feed_offset + C - 1``, comes out ``ew_latency`` later, and the
        written-cell count is a register (one more cycle).
        """
        last_feed = self.strobe_latency + self.ew_feed_offset + n_channels - 1
        return last_feed + self.ew_latency + 1

    @property
    def readout_extra(self):
        """``ro_start`` -> ``frame_done`` is ``proj_rows + readout_extra`` cycles: the
        read-out starts a strobe later, the last row is written ``y_write_stages`` after
        its command, and ``frame_done`` is registered (1)."""
        return self.strobe_latency + self.y_write_stages + 1

    @property
    def output_extra(self):
        """The y output stream is busy ``n_proj + output_extra`` cycles (consumer always
        ready): the y bank read in front of the output register, and the registered
        return to idle (1)."""
        return self.y_bank_read_latency + 1


#: Today's channel (the values every test and figure were measured with).
DEFAULT_TIMING = Timing()


def check_timing(timing):
    """Refuse anything but a :class:`Timing` (``TypeError``); returns it."""
    if not isinstance(timing, Timing):
        raise TypeError(f"timing must be a Timing, not {timing!r}")
    return timing
