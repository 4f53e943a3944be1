"""The channel's input buffer: two ``x_t`` frame slots and the step's reset mask."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..model.limits import DEFAULTS
from ._checks import CheckedComponent, check_int
from .lanes import bank_read_signature, group_lanes_layout, lanes_layout, x_layout

__all__ = ["InputBuffer"]


class InputBuffer(CheckedComponent):
    """Double-buffered ``x_t``: one frame is written from ``x`` while the step reads the other.

    The *write slot* takes the ``x`` stream element by element; when it holds a
    whole frame it becomes full and writing moves to the other slot (``x.ready``
    is low while that one is still full). The *front slot* is the one the step
    broadcasts; ``release`` frees it and makes the other slot the front.

    A slot holds a frame as ``ceil(n_in / broadcast)`` words of ``broadcast`` (K)
    elements each, so that one read hands the broadcaster a whole column group; the
    elements of a short last group that are never written read as 0 (the memory
    starts at 0 and nothing else writes them).

    The ``reset`` bits of a frame's first element are kept with its slot. At
    ``step_begin`` they become the step's ``zero`` mask: the lanes that start this
    step from zero state (every lane for the first step after power-on).

    Parameters
    ----------
    n_in : int
        Elements per frame (``I``).
    n_channels, act_bits : int
    broadcast : int
        Elements per read (K).

    Members
    -------
    x : In(stream.Signature(x_layout))
    rd : Out(bank_read_signature(ceil(n_in / K), group_lanes_layout))
        Elements ``K * addr .. K * addr + K - 1`` of the front slot.
    full : Out(1)
        The front slot holds a whole frame.
    release : In(1)
        Free the front slot (its frame has been broadcast).
    empty : Out(1)
        Neither slot holds a whole frame (a frame still being written may be in one;
        the formal proof in tests/formal showed the earlier "any element" reading was
        wrong). The channel gates loads with it, which is safe: a load never touches
        this buffer.
    step_begin : In(1)
        Latch the front slot's reset bits as ``zero``.
    zero : Out(n_channels)
    reset_all : Out(1)
        Every lane starts this step from zero state.
    """

    @classmethod
    def check_parameters(cls, *, n_in, n_channels, act_bits, broadcast):
        check_int("n_in", n_in)
        check_int("n_channels", n_channels)
        check_int("act_bits", act_bits)
        check_int("broadcast", broadcast)

    def __init__(self, *, n_in, n_channels, act_bits, broadcast=DEFAULTS["broadcast"]):
        self._n_in, self._c, self._k = n_in, n_channels, broadcast
        self._lane_bits = lanes_layout(act_bits, n_channels).size
        super().__init__({
            "x": In(stream.Signature(x_layout(act_bits, n_channels))),
            "rd": Out(bank_read_signature(self.groups, group_lanes_layout(
                act_bits, n_channels, broadcast))),
            "full": Out(1),
            "release": In(1),
            "empty": Out(1),
            "step_begin": In(1),
            "zero": Out(n_channels),
            "reset_all": Out(1),
        })

    @property
    def groups(self):
        """Words per slot: ``ceil(n_in / K)``."""
        return -(-self._n_in // self._k)

    def elaborate(self, platform):
        m = Module()
        n_in, n_lanes, k, groups = self._n_in, self._c, self._k, self.groups
        all_lanes = (1 << n_lanes) - 1
        m.submodules.mem = mem = Memory(shape=unsigned(k * self._lane_bits), depth=2 * groups,
                                        init=[])
        # One write enable per element of a word (K = 1: the one element).
        wr = mem.write_port(granularity=self._lane_bits)
        rd = mem.read_port(transparent_for=())

        slot_full = Signal(2)
        slot_reset = [Signal(n_lanes, name=f"slot{s}_reset") for s in range(2)]
        write_slot = Signal()
        write_index = Signal(range(n_in + 1))
        write_word = Signal(range(groups + 1))      # write_index // K, counted, not divided
        write_sub = Signal(range(max(2, k)))        # write_index % K
        front_slot = Signal()
        take = self.x.valid & self.x.ready
        m.d.comb += [
            self.x.ready.eq(~slot_full.bit_select(write_slot, 1)),
            wr.addr.eq(Mux(write_slot, groups, 0) + write_word),
            wr.data.eq(Cat([self.x.payload.x] * k)),
            wr.en.eq(Mux(take, Const(1, k) << write_sub, 0)),
            rd.addr.eq(Mux(front_slot, groups, 0) + self.rd.addr),
            rd.en.eq(self.rd.en),
            self.rd.data.eq(rd.data),
            self.full.eq(slot_full.bit_select(front_slot, 1)),
            self.empty.eq(slot_full == 0),
        ]
        with m.If(take):
            with m.If(write_index == 0):
                for s in range(2):
                    with m.If(write_slot == s):
                        m.d.sync += slot_reset[s].eq(self.x.payload.reset)
            with m.If(write_index == n_in - 1):
                m.d.sync += [write_index.eq(0), write_word.eq(0), write_sub.eq(0),
                             write_slot.eq(~write_slot),
                             slot_full.bit_select(write_slot, 1).eq(1)]
            with m.Else():
                m.d.sync += write_index.eq(write_index + 1)
                with m.If(write_sub == k - 1):
                    m.d.sync += [write_sub.eq(0), write_word.eq(write_word + 1)]
                with m.Else():
                    m.d.sync += write_sub.eq(write_sub + 1)
        with m.If(self.release):
            m.d.sync += [slot_full.bit_select(front_slot, 1).eq(0), front_slot.eq(~front_slot)]

        # After power-on there is no state to continue from: every lane starts at zero.
        power_on = Signal(init=1)
        with m.If(self.step_begin):
            m.d.sync += [self.zero.eq(Mux(power_on, all_lanes,
                                          Mux(front_slot, slot_reset[1], slot_reset[0]))),
                         power_on.eq(0)]
        m.d.comb += self.reset_all.eq(self.zero == all_lanes)
        return m
