"""Layouts and signatures shared by the channel's parts.

A *lane* is one lock-step channel: the channel carries one activation per lane
side by side (``lanes_layout``). A vector of the model (``y_t``, ``m_t``) is spread
over the PEs' banks, element ``j`` in PE ``j % n_pe`` at row ``j // n_pe``
(:func:`next_interleaved` walks it).
"""

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import Out
from amaranth.utils import ceil_log2

from ..model.limits import DEFAULTS
from ..model.lstmp import N_GATES
from .pointer import column_request_layout

__all__ = ["lanes_layout", "group_lanes_layout", "tag_layout", "x_layout", "column_layout",
           "accum_lanes_layout", "row_bits", "bank_read_signature", "accum_read_signature",
           "next_interleaved", "elementwise_control_signature", "readout_command_signature"]

# Gate rows per cell (N_GATES: i, f, c, o): a cell's gate ``g`` is local row
# ``N_GATES * cell + g``; the element-wise pass reads one per cycle (Timing.gate_reads).


def lanes_layout(act_bits, n_channels):
    """One activation per lock-step channel."""
    return data.ArrayLayout(signed(act_bits), n_channels)


def group_lanes_layout(act_bits, n_channels, broadcast=DEFAULTS["broadcast"]):
    """The activations of a group of ``broadcast`` (K) columns: K :func:`lanes_layout`
    values (``[sub][lane]``); for K = 1 the lanes themselves, as without groups."""
    lanes = lanes_layout(act_bits, n_channels)
    return lanes if broadcast == 1 else data.ArrayLayout(lanes, broadcast)


def accum_lanes_layout(accum_bits, n_channels):
    """One accumulator value per lock-step channel (a row read from every channel's
    accumulator at once)."""
    return data.ArrayLayout(signed(accum_bits), n_channels)


def tag_layout(act_bits, n_channels, broadcast=DEFAULTS["broadcast"]):
    """What travels with a column group through a PE: its activations
    (:func:`group_lanes_layout`) and which SpMV it belongs to (``proj``: the
    projection, else the gates)."""
    return data.StructLayout({"acts": group_lanes_layout(act_bits, n_channels, broadcast),
                              "proj": 1})


def x_layout(act_bits, n_channels):
    """One input element for every channel; ``reset`` (on a frame's first element)
    starts that channel's sequence from zero state."""
    return data.StructLayout({"x": lanes_layout(act_bits, n_channels),
                              "reset": unsigned(n_channels)})


def column_layout(n_cols, act_bits, n_channels, broadcast=DEFAULTS["broadcast"]):
    """A column group pushed into every PE: its pointer-memory index (``col``, one of
    ``n_cols`` groups) and its tag (``act``)."""
    return column_request_layout(row_bits(n_cols), tag_layout(act_bits, n_channels, broadcast))


def row_bits(rows):
    """Address bits of ``rows`` rows (at least 1, like the accumulators' ``row_bits``)."""
    return max(1, ceil_log2(rows))


def bank_read_signature(depth, shape):
    """Read port of a bank of ``depth`` rows (a ``Memory`` of ``max(1, depth)`` words):
    data is the row addressed one cycle earlier while ``en`` was high, and holds."""
    return ReadPort.Signature(addr_width=ceil_log2(max(1, depth)), shape=shape)


def accum_read_signature(rows, accum_bits, n_channels):
    """Read port of a PE's accumulators (``rows`` rows, every channel at once).

    Like a memory read port, the data is the row addressed in the previous cycle
    while ``en`` was high; unlike one, it does not hold afterwards. A read takes
    the accumulators' buffer port from the entries, so ``en`` (whose initial value
    is 1, as for any read port) must be low whenever entries may flow.
    """
    return ReadPort.Signature(addr_width=row_bits(rows),
                              shape=accum_lanes_layout(accum_bits, n_channels))


def elementwise_control_signature(cells, n_channels, ew_share=DEFAULTS["ew_share"]):
    """What the element-wise sequencer drives into every cell unit (all in lock-step).

    A cell unit serves ``ew_share`` PEs (G) and feeds their ``G * n_channels`` lanes,
    PE-major (lane ``l`` is channel ``l % C`` of the unit's PE ``l // C``).

    Members (from the sequencer's side)
    -------
    gate_read, gate_row : Out
        Read gate accumulator row ``gate_row`` (every channel); the PE latches it
        into gate register ``gate_row % 4`` one cycle later.
    cell_read, cell : Out
        Read ``c_{t-1}`` and the peepholes of local cell ``cell``.
    feed, lane : Out
        Feed lane ``lane``'s cell (of ``G * n_channels``) to the element-wise unit.
    zero : Out(n_channels)
        Lanes whose ``c_{t-1}`` reads as 0 (they start from zero state).
    restart : Out(1)
        A pass starts: the PE's written-cell count returns to 0.
    """
    return wiring.Signature({
        "gate_read": Out(1),
        "gate_row": Out(unsigned(row_bits(N_GATES * cells))),
        "cell_read": Out(1),
        "cell": Out(unsigned(row_bits(cells))),
        "feed": Out(1),
        "lane": Out(unsigned(row_bits(ew_share * n_channels))),
        "zero": Out(n_channels),
        "restart": Out(1),
    })


def readout_command_signature(proj_rows):
    """The y read-out's command into every PE: move projection row ``row`` (``en``)
    from the accumulators into the y bank, converted to Q ``fa``."""
    return wiring.Signature({"en": Out(1), "row": Out(unsigned(row_bits(proj_rows)))})


def next_interleaved(m, bank, addr, n_pe, step=1):
    """Step ``(bank, addr)`` ``step`` elements on in a vector spread over the PEs
    (element ``j`` in PE ``j % n_pe`` at ``j // n_pe``; ``step`` divides ``n_pe``)."""
    with m.If(bank == n_pe - step):
        m.d.sync += [bank.eq(0), addr.eq(addr + 1)]
    with m.Else():
        m.d.sync += bank.eq(bank + step)
