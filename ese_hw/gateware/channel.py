"""The LSTMP channel: PEs, input buffer, broadcaster, element-wise sequencer, read-out, scheduler.

A :class:`Channel` runs one LSTMP time step after another with the recurrent
state (``y_{t-1}``, ``c_{t-1}``) kept on chip, for ``n_channels`` lock-step
channels ("lanes") that share every weight read while each keeps its own
activations, accumulators and state. Everything it computes is bit-exact with
:class:`ese_hw.model.golden.GoldenModel` (docs/contract.md); the schedule is in
:mod:`ese_hw.gateware.scheduler` and docs/schedule.md, and
:func:`ese_hw.model.cycles.frame_cycles` counts its cycles from the same
:class:`~ese_hw.model.timing.Timing` the channel is built with.

Parts (each a component, wired with ``wiring.connect``)::

    x --> InputBuffer --x_rd--> Broadcaster --column--> LockstepFanout --> ChannelPE x N
                                   ^  ^ y_rd, m_rd (every PE's banks)         |  ^ ew
                                   |  +---------------------------------------+  |
               Scheduler (phases)  +-- m_ready            ElementwiseSequencer --+
                                        YReadout --readout--> every PE's YBank
    y <-- YOutput <--out_rd-- every PE's YBank
"""

from amaranth.hdl import Cat, Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from ..model.images import channel_images
from ..model.limits import check_int
from ..model.timing import DEFAULT_TIMING, check_timing
from ._params import CheckedComponent
from .broadcaster import Broadcaster, LockstepFanout
from .lanes import lanes_layout, tag_layout, x_layout
from .load import LoadTarget, load_layout, route_load
from .pe import ChannelPE
from .readout import YOutput, YReadout
from .scheduler import Scheduler, Step
from .sequencer import ElementwiseSequencer
from .xbuffer import InputBuffer

__all__ = ["Channel", "x_layout", "lanes_layout", "tag_layout"]


class Channel(CheckedComponent):
    """A whole LSTMP channel (``n_channels`` lock-step channels) from x_t to y_t.

    Parameters (keyword-only)
    ----------
    n_in, n_cells, n_proj : int
        The model's shape (I, H, P); fixed at elaboration.
    n_pe, n_channels : int
    weight_bits, index_bits, act_bits, accum_bits : int
    qformats : dict
        ``fw_g fw_y fp fa fc fg`` of the compressed model (the shifts are constants).
    lut_bits, lut_range_log2 : int
    queue_depth : int
        Activation queue depth of every PE.
    entry_depth : int
        Entry words per PE (gate and projection entries together).
    model : CompressedModel, optional
        Elaboration-time memory images (else load them through ``load``).
    timing : Timing
        The latencies to build (:mod:`ese_hw.model.timing`); give the same object to
        :func:`ese_hw.model.cycles.frame_cycles`.

    Members
    -------
    x : In(stream.Signature(x_layout))
        ``x_t``, I elements per frame, all channels side by side. ``reset`` bits on a
        frame's first element start those channels from zero state.
    y : Out(stream.Signature(lanes_layout))
        ``y_t``, P elements per frame (Q ``fa``).
    load : In(stream.Signature(load_layout))
        Memory writes; accepted only while no frame is in flight.
    frame_done : Out(1)
        Pulses when a step's ``y_t`` has been written back (before it is streamed out).
    busy : Out(1)
    """

    @classmethod
    def check_parameters(cls, *, n_in, n_cells, n_proj, n_pe, n_channels, weight_bits,
                         index_bits, act_bits, accum_bits, qformats, lut_bits, lut_range_log2,
                         queue_depth, entry_depth, model, timing):
        for name, value in (("n_in", n_in), ("n_cells", n_cells), ("n_proj", n_proj),
                            ("n_pe", n_pe), ("n_channels", n_channels),
                            ("weight_bits", weight_bits), ("index_bits", index_bits),
                            ("act_bits", act_bits), ("lut_bits", lut_bits),
                            ("lut_range_log2", lut_range_log2), ("queue_depth", queue_depth),
                            ("entry_depth", entry_depth)):
            check_int(name, value)
        check_int("accum_bits", accum_bits, weight_bits + act_bits)
        check_timing(timing)
        missing = [k for k in ("fw_g", "fw_y", "fp", "fa", "fc", "fg") if k not in qformats]
        if missing:
            raise ValueError(f"qformats lacks {missing[0]!r}")
        if qformats["fg"] != act_bits - 1:
            raise ValueError(f"qformats fg = {qformats['fg']}, must be act_bits - 1")
        if model is None:
            return
        mine = dict(n_pe=n_pe, weight_bits=weight_bits, index_bits=index_bits,
                    act_bits=act_bits, accum_bits=accum_bits, lut_bits=lut_bits,
                    lut_range_log2=lut_range_log2)
        for k, v in mine.items():
            got = getattr(model.config, k)
            if got != v:
                raise ValueError(f"model has {k} = {got}, the channel has {v}")
        shape = (model.n_in, model.n_cells, model.n_proj)
        if shape != (n_in, n_cells, n_proj):
            raise ValueError(f"model shape {shape} != channel shape {(n_in, n_cells, n_proj)}")
        if {k: int(v) for k, v in model.qformats.items()} != {k: int(v) for k, v in
                                                                qformats.items()}:
            raise ValueError("model Q formats differ from the channel's")
        longest = int((model.gate.entries_per_pe + model.ym.entries_per_pe).max())
        if longest > entry_depth:
            raise ValueError(f"model needs {longest} entry words in a PE, more than "
                             f"entry_depth = {entry_depth}")

    def __init__(self, *, n_in, n_cells, n_proj, n_pe, n_channels=1, weight_bits=12,
                 index_bits=4, act_bits=16, accum_bits=48, qformats, lut_bits=12,
                 lut_range_log2=3, queue_depth=8, entry_depth, model=None,
                 timing=DEFAULT_TIMING):
        self._dims = (n_in, n_cells, n_proj)
        self._n_pe, self._c = n_pe, n_channels
        self._wb, self._ib, self._ab, self._accb = weight_bits, index_bits, act_bits, accum_bits
        self._q = {k: int(v) for k, v in qformats.items()}
        self._lut = dict(lut_bits=lut_bits, lut_range_log2=lut_range_log2)
        self._queue_depth, self._entry_depth = queue_depth, entry_depth
        self._timing = timing
        self._images = None if model is None else channel_images(model)
        super().__init__({
            "x": In(stream.Signature(x_layout(act_bits, n_channels))),
            "y": Out(stream.Signature(lanes_layout(act_bits, n_channels))),
            "load": In(stream.Signature(load_layout(
                self.pe_bits, self.load_addr_bits, self.load_data_bits))),
            "frame_done": Out(1),
            "busy": Out(1),
        })

    @classmethod
    def for_model(cls, model, *, n_channels=1, queue_depth=8, entry_depth=None,
                  preload=False, timing=DEFAULT_TIMING):
        """A channel sized for ``model`` (memory depths to fit, its Q formats)."""
        cfg = model.config
        need = int((model.gate.entries_per_pe + model.ym.entries_per_pe).max())
        return cls(n_in=model.n_in, n_cells=model.n_cells, n_proj=model.n_proj,
                   n_pe=cfg.n_pe, n_channels=n_channels, weight_bits=cfg.weight_bits,
                   index_bits=cfg.index_bits, act_bits=cfg.act_bits,
                   accum_bits=cfg.accum_bits, qformats=model.qformats,
                   lut_bits=cfg.lut_bits, lut_range_log2=cfg.lut_range_log2,
                   queue_depth=queue_depth, entry_depth=entry_depth or max(1, need),
                   model=model if preload else None, timing=timing)

    # Read-only parameters and derived sizes.
    n_in = property(lambda self: self._dims[0])
    n_cells = property(lambda self: self._dims[1])
    n_proj = property(lambda self: self._dims[2])
    n_pe = property(lambda self: self._n_pe)
    n_channels = property(lambda self: self._c)
    weight_bits = property(lambda self: self._wb)
    index_bits = property(lambda self: self._ib)
    act_bits = property(lambda self: self._ab)
    accum_bits = property(lambda self: self._accb)
    queue_depth = property(lambda self: self._queue_depth)
    entry_depth = property(lambda self: self._entry_depth)
    qformats = property(lambda self: dict(self._q))
    timing = property(lambda self: self._timing)

    @property
    def cells_per_pe(self):
        return -(-self._dims[1] // self._n_pe)

    @property
    def proj_rows(self):
        return -(-self._dims[2] // self._n_pe)

    @property
    def n_cols(self):
        """Pointer-memory columns: x, y and m."""
        return sum(self._dims)

    @property
    def pe_bits(self):
        return max(1, ceil_log2(self._n_pe))

    @property
    def ptr_bits(self):
        return bits_for(self._entry_depth)

    @property
    def load_addr_bits(self):
        return max(1, ceil_log2(self._entry_depth), bits_for(self.n_cols),
                   ceil_log2(4 * self.cells_per_pe))

    @property
    def load_data_bits(self):
        return max(self._wb + self._ib, self.ptr_bits, self._accb, 3 * self._wb)

    @property
    def ew_slot(self):
        """Cycles per local cell of the element-wise pass (4 reads, 1 latch, one per channel)."""
        return self._timing.ew_slot(self._c)

    @property
    def load_layout(self):
        """Payload layout of the ``load`` stream (:func:`ese_hw.gateware.load.load_layout`)."""
        return self.load.payload.shape()

    @property
    def x_layout(self):
        """Payload layout of the ``x`` stream (:func:`ese_hw.gateware.lanes.x_layout`)."""
        return self.x.payload.shape()

    def _pe(self, p):
        """PE ``p``, with its memory images when the channel was given a model."""
        init = None
        if self._images is not None:
            im = self._images
            init = dict(words=im.words[p], ptr=im.ptr[p], bias=[int(v) for v in im.bias[p]],
                        peep=[int(v) for v in im.peep[p]])
        return ChannelPE(n_channels=self._c, weight_bits=self._wb, index_bits=self._ib,
                         act_bits=self._ab, accum_bits=self._accb, queue_depth=self._queue_depth,
                         entry_depth=self._entry_depth, n_cols=self.n_cols,
                         cells=self.cells_per_pe, proj_rows=self.proj_rows, qformats=self._q,
                         timing=self._timing, init=init, **self._lut)

    def elaborate(self, platform):
        m = Module()
        n_in, n_cells, n_proj = self._dims
        n_pe, n_lanes, ab = self._n_pe, self._c, self._ab
        pes = [self._pe(p) for p in range(n_pe)]
        for p, pe in enumerate(pes):
            m.submodules[f"pe{p}"] = pe
        m.submodules.sched = sched = Scheduler()
        m.submodules.xbuf = xbuf = InputBuffer(n_in=n_in, n_channels=n_lanes, act_bits=ab)
        m.submodules.bc = bc = Broadcaster(n_in=n_in, n_cells=n_cells, n_proj=n_proj, n_pe=n_pe,
                                           n_channels=n_lanes, act_bits=ab)
        m.submodules.fanout = fanout = LockstepFanout(shape=bc.column.payload.shape(), n=n_pe)
        m.submodules.ew_seq = ew_seq = ElementwiseSequencer(cells=self.cells_per_pe,
                                                            n_channels=n_lanes, timing=self._timing)
        m.submodules.readout = readout = YReadout(proj_rows=self.proj_rows, timing=self._timing)
        m.submodules.output = output = YOutput(n_proj=n_proj, n_pe=n_pe, n_channels=n_lanes,
                                               act_bits=ab)
        all_idle = Cat(pe.idle for pe in pes).all()

        # Step sequencing: the scheduler's strobes start the parts; their status returns.
        m.d.comb += [
            sched.x_full.eq(xbuf.full), xbuf.release.eq(sched.x_release),
            xbuf.step_begin.eq(sched.step_begin), sched.reset_all.eq(xbuf.reset_all),
            bc.start.eq(sched.bc_start), bc.phase.eq(sched.bc_phase), sched.bc_idle.eq(bc.idle),
            ew_seq.start.eq(sched.ew_start), readout.start.eq(sched.ro_start),
            sched.ro_busy.eq(readout.busy), sched.out_busy.eq(output.busy),
            sched.all_idle.eq(all_idle),
        ]
        m.d.comb += [[pe.gate_clear.eq(sched.gate_clear), pe.proj_clear.eq(sched.proj_clear)]
                     for pe in pes]

        # Data paths: x into the buffer, columns to the PEs, y out.
        wiring.connect(m, wiring.flipped(self.x), xbuf.x)
        wiring.connect(m, bc.x_rd, xbuf.rd)
        wiring.connect(m, bc.column, fanout.i)
        for p, pe in enumerate(pes):
            wiring.connect(m, fanout.o[p], pe.column)
            wiring.connect(m, bc.y_rd[p], pe.y_rd)
            wiring.connect(m, bc.m_rd[p], pe.m_rd)
            wiring.connect(m, output.bank_rd[p], pe.out_rd)
        # The PEs run the element-wise pass in lock-step, so PE 0's count of written
        # cells stands for all of them.
        m.d.comb += [bc.zero.eq(xbuf.zero), bc.m_ready.eq(pes[0].cells_done),
                     ew_seq.zero.eq(xbuf.zero), output.start.eq(readout.finish),
                     self.frame_done.eq(readout.frame_done)]
        wiring.connect(m, ew_seq.control, *(pe.ew for pe in pes))
        wiring.connect(m, readout.command, *(pe.readout for pe in pes))
        wiring.connect(m, output.y, wiring.flipped(self.y))

        # Loads only while nothing is in flight: between steps, every part idle.
        loads_allowed = ((sched.state == Step.WAIT_X) & all_idle & xbuf.empty & ~ew_seq.busy
                         & ~readout.busy & ~output.busy)
        load = self.load.payload
        m.d.comb += [self.load.ready.eq(loads_allowed), self.busy.eq(~loads_allowed)]
        for p, pe in enumerate(pes):
            route_load(m, load, self.load.valid & loads_allowed & (load.pe == p),
                       {LoadTarget.ENTRY: pe.entry_load, LoadTarget.PTR: pe.ptr_load,
                        LoadTarget.BIAS: pe.bias_load, LoadTarget.PEEP: pe.peep_load})
        return m
