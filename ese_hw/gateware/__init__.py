"""The hardware half of ESE: Amaranth 0.5 components.

:class:`Channel` (:mod:`.channel`) runs LSTMP steps for one or more lock-step
channels; :mod:`ese_hw.model.cycles` counts its cycles. Its PE datapath is built
from :mod:`.pointer` (even/odd pointer banks), :mod:`.matrix_reader` (entry walk
and decode), :mod:`.pe` (activation queue + the two, as :class:`ColumnWalker`) and
:mod:`.accumulator` (multiply, wrap-around accumulate; forwarding only in a block-RAM
buffer); every memory loads at run time through :mod:`.load` (a checked stream: header,
CRC-32, :class:`LoadChecker`). :class:`ChannelStack` (:mod:`.stack`) holds one
channel per layer of a stack, each layer's y into the next one's x on chip.
:class:`AxisTop` (:mod:`.top`) puts a channel or a stack behind AXI4-Stream ports for a
Vivado block design.
"""

from .accumulator import Accumulator
from .channel import Channel
from .load import LoadChecker, LoadError, LoadTarget
from .matrix_reader import MatrixReader
from .params import ChannelParams, StackParams
from .pe import ColumnWalker
from .pointer import PointerReader
from .stack import ChannelStack
from .top import AxisTop

__all__ = ["Accumulator", "AxisTop", "Channel", "ChannelParams", "ChannelStack",
           "ColumnWalker", "LoadChecker", "LoadError", "LoadTarget", "MatrixReader",
           "PointerReader", "StackParams"]
