"""The LSTMP channel: PEs, input buffer, broadcaster, element-wise sequencer, read-out, scheduler.

A :class:`Channel` runs one LSTMP time step after another with the recurrent
state (``y_{t-1}``, ``c_{t-1}``) kept on chip, for ``n_channels`` lock-step
channels ("lanes") that share every weight read while each keeps its own
activations, accumulators and state. Everything it computes is bit-exact with
:class:`ese_hw.model.golden.GoldenModel` (docs/contract.md); the schedule is in
:mod:`ese_hw.gateware.scheduler` and docs/schedule.md, and
:func:`ese_hw.model.cycles.frame_cycles` counts its cycles from the same
:class:`~ese_hw.model.timing.Timing` the channel is built with. Its parameters, sizes
and payload layouts are a plain value, :class:`ChannelParams`, which the host side
(testbench data, configuration files) uses without making hardware.

Parts (each a component, wired with ``wiring.connect``)::

    x --> InputBuffer --x_rd--> Broadcaster --column--> LockstepFanout --> ChannelPE x N
                                   ^  ^ y_rd, m_rd (every PE's banks)         |  ^ ew
                                   |  +---------------------------------------+  |
               Scheduler (phases)  +-- m_ready            ElementwiseSequencer --+
                                        YReadout --readout--> every PE's YBank
    y <-- YOutput <--out_rd-- every PE's YBank

With ``ew_share`` = G > 1 the PEs have no cells of their own: N / G
:class:`~ese_hw.gateware.cell.CellUnit` s each serve G PEs (unit ``u`` PEs
``u G .. u G + G - 1``), reading their gate accumulators (``gate_rd``) and holding
their m banks (``m_rd``, one per PE, read by the broadcaster as before); the
sequencer drives the units.

A plain LSTM layer (``ChannelParams.projection`` False) has no projection phase: the
broadcaster walks x and y only, the PEs hold no projection accumulators or entries,
and the m banks feed each PE's y bank (``m_copy_rd``) instead of the broadcaster; the
read-out converts ``m_t`` into ``y_t`` there once the scheduler sees every cell written
(``m_done``).
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.utils import ceil_log2

from ..model.images import channel_images, check_model_fits
from ..model.limits import DEFAULTS
from ..model.timing import DEFAULT_TIMING
from ._checks import CheckedComponent
from .broadcaster import Broadcaster, LockstepFanout
from .cell import CellUnit, pack_peepholes
from .lanes import row_bits
from .load import LoadChecker, LoadTarget, route_load
from .params import ChannelParams
from .pe import ChannelPE
from .readout import YOutput, YReadout
from .scheduler import Scheduler, Step
from .sequencer import ElementwiseSequencer
from .xbuffer import InputBuffer

__all__ = ["Channel"]

class _SharedCells:
    """A shared :class:`CellUnit` seen as a PE is by the channel: its sequencer port is
    ``ew`` and it counts ``cells_done``."""

    def __init__(self, unit):
        self.ew, self.cells_done, self.peep_load = unit.control, unit.cells_done, unit.peep_load


def _from_params(name):
    """A read-only :class:`Channel` property that is its ``params``' ``name``."""
    return property(lambda self: getattr(self._params, name),
                    doc=f"``params.{name}`` (:class:`ChannelParams`).")


class Channel(CheckedComponent):
    """A whole LSTMP channel (``n_channels`` lock-step channels) from x_t to y_t.

    Parameters (keyword-only)
    ----------
    params : ChannelParams
        Every size, width, layout and the timing (:mod:`ese_hw.gateware.params`); the
        channel keeps it (:attr:`params`). Give the same ``timing`` to
        :func:`ese_hw.model.cycles.frame_cycles`.
    model : CompressedModel, optional
        Elaboration-time memory images (else load them through ``load``); it must fit
        the parameters (its shape, configuration, Q formats, entries within
        ``entry_depth``).
    checked_words : bool
        Take load words already checked outside (a layer of a
        :class:`~ese_hw.gateware.stack.ChannelStack`, whose one checker serves every
        layer): the ports of :attr:`ChannelParams.checked_words_signature`
        (``load_words`` and ``frames_allowed``) replace ``load`` and its status.

    Members
    -------
    x : In(stream.Signature(x_layout))
        ``x_t``, I elements per frame, all channels side by side. ``reset`` bits on a
        frame's first element start those channels from zero state.
    y : Out(stream.Signature(lanes_layout))
        ``y_t``, P elements per frame (Q ``fa``).
    load : In(stream.Signature(load_beat_layout))
        Load streams (header, payload words, CRC-32; ``last`` on the final beat;
        docs/contract.md section 5), checked by a :class:`~ese_hw.gateware.load.LoadChecker`.
        Accepted only while no frame is in flight.
    frame_done : Out(1)
        Pulses when a step's ``y_t`` has been written back (before it is streamed out).
    busy : Out(1)
        A frame is in flight (``load`` is held off).
    loaded : Out(1)
        The last load stream begun passed every check (or none has begun and the images
        are baked in). Kept through a reset, like the memories; a stream cut by a reset
        leaves it low. Without it ``x`` is held off (not ready).
    loading : Out(1)
        A load stream's first beat has been taken and its last has not; ``x`` is held off.
    load_error : Out(LoadError)
        Why the last load stream was refused (``NONE``: it was not, or one is under way).
    """

    @classmethod
    def check_parameters(cls, *, params, model, checked_words):
        if not isinstance(params, ChannelParams):
            raise TypeError(f"params must be a ChannelParams, not {params!r}")
        check_model_fits(params, model)

    def __init__(self, *, params, model=None, checked_words=False):
        self._params = params
        self._images = None if model is None else channel_images(model, params.broadcast)
        self._checked_words = bool(checked_words)
        super().__init__(params.checked_words_signature if checked_words else params.signature)

    @classmethod
    def for_model(cls, model, *, n_channels=DEFAULTS["n_channels"],
                  queue_depth=DEFAULTS["queue_depth"], broadcast=DEFAULTS["broadcast"],
                  ew_share=DEFAULTS["ew_share"], entry_depth=None, preload=False,
                  timing=DEFAULT_TIMING):
        """A channel sized for ``model`` (:meth:`ChannelParams.for_model`), its images
        baked in if ``preload``."""
        params = ChannelParams.for_model(model, n_channels=n_channels, queue_depth=queue_depth,
                                         broadcast=broadcast, ew_share=ew_share,
                                         entry_depth=entry_depth, timing=timing)
        return cls(params=params, model=model if preload else None)

    @property
    def params(self):
        """The channel's :class:`ChannelParams`."""
        return self._params

    # Read-only parameters, derived sizes and layouts: the params'.
    n_in = _from_params("n_in")
    n_cells = _from_params("n_cells")
    n_proj = _from_params("n_proj")
    projection = _from_params("projection")
    n_pe = _from_params("n_pe")
    n_channels = _from_params("n_channels")
    weight_bits = _from_params("weight_bits")
    index_bits = _from_params("index_bits")
    act_bits = _from_params("act_bits")
    accum_bits = _from_params("accum_bits")
    lut_bits = _from_params("lut_bits")
    lut_range_log2 = _from_params("lut_range_log2")
    queue_depth = _from_params("queue_depth")
    broadcast = _from_params("broadcast")
    ew_share = _from_params("ew_share")
    entry_depth = _from_params("entry_depth")
    timing = _from_params("timing")
    cells_per_pe = _from_params("cells_per_pe")
    proj_rows = _from_params("proj_rows")
    n_cols = _from_params("n_cols")
    n_groups = _from_params("n_groups")
    sub_bits = _from_params("sub_bits")
    pe_bits = _from_params("pe_bits")
    ptr_bits = _from_params("ptr_bits")
    load_addr_bits = _from_params("load_addr_bits")
    load_data_bits = _from_params("load_data_bits")
    ew_slot = _from_params("ew_slot")
    x_layout = _from_params("x_layout")
    y_layout = _from_params("y_layout")
    load_layout = _from_params("load_layout")
    load_beat_layout = _from_params("load_beat_layout")

    @property
    def qformats(self):
        return dict(self._params.qformats)

    def _pe(self, p):
        """PE ``p``, with its memory images when the channel was given a model (its own
        cells only when it shares them with no other PE)."""
        init = None
        if self._images is not None:
            im = self._images
            init = dict(words=im.words[p], ptr=im.ptr[p], bias=[int(v) for v in im.bias[p]],
                        peep=[int(v) for v in im.peep[p]])
        c = self._params
        return ChannelPE(n_channels=c.n_channels, weight_bits=c.weight_bits,
                         index_bits=c.index_bits, act_bits=c.act_bits, accum_bits=c.accum_bits,
                         queue_depth=c.queue_depth, entry_depth=c.entry_depth,
                         n_cols=c.n_groups, broadcast=c.broadcast, cells=c.cells_per_pe,
                         proj_rows=c.proj_rows, qformats=dict(c.qformats),
                         timing=c.timing, init=init, lut_bits=c.lut_bits,
                         lut_range_log2=c.lut_range_log2, own_cells=c.ew_share == 1,
                         projection=c.projection,
                         proj_partners=c.proj_split - 1 if p < c.n_proj else 0)

    def _cell_unit(self, u):
        """Cell unit ``u`` (of PEs ``u G .. u G + G - 1``), with their peephole images when
        the channel was given a model."""
        c = self._params
        g = c.ew_share
        init = None
        if self._images is not None:
            init = pack_peepholes(self._images.peep[u * g:(u + 1) * g], c.weight_bits)
        return CellUnit(n_channels=c.n_channels, weight_bits=c.weight_bits,
                        act_bits=c.act_bits, accum_bits=c.accum_bits, cells=c.cells_per_pe,
                        qformats=dict(c.qformats), lut_bits=c.lut_bits,
                        lut_range_log2=c.lut_range_log2, timing=c.timing, ew_share=g,
                        init_peep=init)

    def elaborate(self, platform):
        m = Module()
        c = self._params
        n_in, n_cells, n_proj, n_pe = c.n_in, c.n_cells, c.n_proj, c.n_pe
        n_lanes, ab, timing = c.n_channels, c.act_bits, c.timing
        pes = [self._pe(p) for p in range(n_pe)]
        for p, pe in enumerate(pes):
            m.submodules[f"pe{p}"] = pe
        m.submodules.sched = sched = Scheduler(projection=c.projection)
        m.submodules.xbuf = xbuf = InputBuffer(n_in=n_in, n_channels=n_lanes, act_bits=ab,
                                               broadcast=c.broadcast)
        m.submodules.bc = bc = Broadcaster(n_in=n_in, n_cells=n_cells, n_proj=n_proj, n_pe=n_pe,
                                           n_channels=n_lanes, act_bits=ab,
                                           broadcast=c.broadcast, projection=c.projection)
        m.submodules.fanout = fanout = LockstepFanout(shape=bc.column.payload.shape(), n=n_pe)
        m.submodules.ew_seq = ew_seq = ElementwiseSequencer(cells=c.cells_per_pe,
                                                            n_channels=n_lanes, timing=timing,
                                                            ew_share=c.ew_share)
        m.submodules.readout = readout = YReadout(proj_rows=c.proj_rows, timing=timing)
        m.submodules.output = output = YOutput(n_proj=n_proj, n_pe=n_pe, n_channels=n_lanes,
                                               act_bits=ab)
        # Every PE idle, from a register, for timing: the AND over every PE and what the
        # scheduler and the load path do with it were one path (10 LUT levels at 384
        # PEs). A PE idle last cycle, when no column was pushed, is idle now; so ``quiet``
        # never claims a busy PE idle, and is late by a cycle (Timing.idle_latency) only
        # once, when the PEs fall idle.
        quiet = Signal()
        m.d.sync += quiet.eq(Cat(pe.idle for pe in pes).all()
                             & ~(fanout.i.valid & fanout.i.ready))

        # Step sequencing: the scheduler's strobes start the parts; their status returns.
        m.d.comb += [
            sched.x_full.eq(xbuf.full), xbuf.release.eq(sched.x_release),
            xbuf.step_begin.eq(sched.step_begin), sched.reset_all.eq(xbuf.reset_all),
            bc.start.eq(sched.bc_start), bc.phase.eq(sched.bc_phase), sched.bc_idle.eq(bc.idle),
            ew_seq.start.eq(sched.ew_start), readout.start.eq(sched.ro_start),
            sched.ro_busy.eq(readout.busy), sched.out_busy.eq(output.busy),
            sched.all_idle.eq(quiet),
        ]
        m.d.comb += [[pe.gate_clear.eq(sched.gate_clear), pe.proj_clear.eq(sched.proj_clear)]
                     for pe in pes]

        # Data paths: x into the buffer, columns to the PEs, y out.
        if self._checked_words:
            words, frames_allowed = self.load_words, self.frames_allowed
        else:
            checker, frames_allowed = self._check_loads(m)
            words = checker.words
        m.d.comb += [xbuf.x.payload.eq(self.x.payload),
                     xbuf.x.valid.eq(self.x.valid & frames_allowed),
                     self.x.ready.eq(xbuf.x.ready & frames_allowed)]
        wiring.connect(m, bc.x_rd, xbuf.rd)
        wiring.connect(m, bc.column, fanout.i)
        for p, pe in enumerate(pes):
            wiring.connect(m, fanout.o[p], pe.column)
            m.d.comb += fanout.room[p].eq(pe.room)
            wiring.connect(m, bc.y_rd[p], pe.y_rd)
            wiring.connect(m, output.bank_rd[p], pe.out_rd)
        # A split projection: each row's owner adds its partners' parts at read-out.
        for r in range(n_proj if c.proj_split > 1 else 0):
            m.d.comb += [pes[r].proj_partner[j - 1].eq(pes[r + j * n_proj].proj_sum)
                         for j in range(1, c.proj_split)]
        # The cell units (each PE's own, or the shared ones) run the element-wise pass
        # in lock-step, so the first's count of written cells stands for all of them.
        units, m_rd = self._cell_units(m, pes)
        for p in range(n_pe):
            # The m banks feed the projection phase, or (a plain layer) the y banks.
            wiring.connect(m, bc.m_rd[p] if c.projection else pes[p].m_copy_rd, m_rd[p])
        if c.projection:
            m.d.comb += bc.m_ready.eq(units[0].cells_done)
        m.d.comb += [bc.zero.eq(xbuf.zero), ew_seq.zero.eq(xbuf.zero),
                     sched.m_done.eq(units[0].cells_done == c.cells_per_pe),
                     output.start.eq(readout.finish), self.frame_done.eq(readout.frame_done)]
        wiring.connect(m, ew_seq.control, *(unit.ew for unit in units))
        wiring.connect(m, readout.command, *(pe.readout for pe in pes))
        wiring.connect(m, output.y, wiring.flipped(self.y))

        # Loads only while nothing is in flight: between steps, every part idle.
        loads_allowed = ((sched.state == Step.WAIT_X) & quiet & xbuf.empty & ~ew_seq.busy
                         & ~readout.busy & ~output.busy)
        m.d.comb += self.busy.eq(~loads_allowed)
        if not self._checked_words:
            m.d.comb += [self.load.ready.eq(loads_allowed),
                         checker.beats.valid.eq(self.load.valid & loads_allowed)]
        self._route_loads(m, pes, units, words)
        return m

    def _check_loads(self, m):
        """The :class:`LoadChecker` of the ``load`` stream (the caller drives its ``valid``)
        and the status ports; returns it and ``frames_allowed``: a good model is loaded and
        no load stream is under way."""
        c = self._params
        m.submodules.load_check = checker = LoadChecker(
            word_layout=c.load_layout, config=c.load_config, max_words=c.load_max_words,
            preloaded=self._images is not None)
        m.d.comb += [checker.beats.payload.eq(self.load.payload),
                     self.loaded.eq(checker.loaded), self.loading.eq(checker.loading),
                     self.load_error.eq(checker.error)]
        return checker, checker.loaded & ~checker.loading

    def _route_loads(self, m, pes, units, words):
        """Each payload word of ``words`` (the checker's: only those of a stream whose
        header matched) to its PE's memory; with shared cell units a PE's peepholes go to
        its unit, the PE's index within the unit on top of the cell address
        (:attr:`CellUnit.peep_load`)."""
        load, strobe, g = words.payload, words.valid, self._params.ew_share
        for p, pe in enumerate(pes):
            ports = {LoadTarget.ENTRY: pe.entry_load, LoadTarget.PTR: pe.ptr_load,
                     LoadTarget.BIAS: pe.bias_load}
            if g == 1:
                ports[LoadTarget.PEEP] = pe.peep_load
            route_load(m, load, strobe & (load.pe == p), ports)
        if g == 1:
            return
        rb = row_bits(self._params.cells_per_pe)
        for u, unit in enumerate(units):
            mine = (load.pe >= u * g) & (load.pe < (u + 1) * g)
            port = unit.peep_load
            m.d.comb += [
                port.valid.eq(strobe & mine & (load.target == LoadTarget.PEEP)),
                port.payload.addr.eq(Cat(load.addr[:rb], (load.pe - u * g)[:ceil_log2(g)])),
                port.payload.data.eq(load.data),
            ]

    def _cell_units(self, m, pes):
        """The cell units and every PE's m-bank read port: the PEs themselves (G = 1), or
        N / G shared :class:`CellUnit` s wired to their PEs' gate accumulators (returned
        as objects with ``ew`` for the sequencer and ``cells_done``)."""
        g = self._params.ew_share
        if g == 1:
            return pes, [pe.m_rd for pe in pes]
        units, m_rd = [], []
        for u in range(len(pes) // g):
            unit = self._cell_unit(u)
            m.submodules[f"cells{u}"] = unit
            group = pes[u * g:(u + 1) * g]
            n_ch = self._params.n_channels
            for k, pe in enumerate(group):
                # One gate address for the group; the G PEs' lanes side by side, PE-major.
                m.d.comb += [pe.gate_rd.addr.eq(unit.gate_rd.addr),
                             pe.gate_rd.en.eq(unit.gate_rd.en)]
                m.d.comb += [unit.gate_rd.data[k * n_ch + ch].eq(pe.gate_rd.data[ch])
                             for ch in range(n_ch)]
                m_rd.append(unit.m_rd[k])
            units.append(_SharedCells(unit))
        return units, m_rd
