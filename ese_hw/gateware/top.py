"""The AXI4-Stream top: a :class:`~ese_hw.gateware.channel.Channel` with ports Vivado knows.

:class:`AxisTop` wraps one channel (``n_channels`` lock-step lanes) for a block
design, or a :class:`~ese_hw.gateware.stack.ChannelStack` of one channel per layer
(given :class:`~ese_hw.gateware.params.StackParams`; x feeds layer 0, y is the last
layer's, one load stream loads every layer). Its Verilog ports follow the
``<prefix>_t<signal>`` pattern, so Vivado's "Add Module" infers three AXI4-Stream
interfaces and the clock and reset::

    aclk, aresetn                            clock; synchronous reset, active low
    s_axis_x_tdata/tvalid/tready/tlast/tuser input frames, one beat per element
    m_axis_y_tdata/tvalid/tready/tlast       output frames, one beat per element
    s_axis_load_tdata/tvalid/tready/tlast    load streams: the model's memory images (load.bin)
    frame_done, busy, x_tlast_error,         status (plain wires)
    loaded, loading, load_error

Framing, exactly (docs/contract.md section 5):

* ``s_axis_x``: a frame is ``I`` beats; beat ``j`` carries element ``j`` of every
  lane, lane ``c`` in ``tdata[c*act_bits +: act_bits]`` (two's complement, Q ``fa``;
  padding bits above ``C*act_bits`` are ignored). The top counts the beats itself:
  every ``I`` beats are a frame whatever TLAST says. TLAST is checked, not obeyed:
  a beat whose TLAST disagrees with its position (TLAST on a beat that is not a
  frame's last, or missing on one that is) sets ``x_tlast_error``, which stays high
  until ``aresetn``; the data are used as counted. ``tuser`` bit ``c`` on a frame's
  first beat restarts lane ``c`` from zero state (it is ignored on other beats).
* ``m_axis_y``: a frame's ``P`` outputs, one beat each, lanes packed like x (padding
  bits 0), TLAST on the ``P``-th.
* ``s_axis_load``: one load stream per model, one word per beat
  (:func:`~ese_hw.model.loadstream.load_stream_bytes` is the whole stream, byte for byte):
  a header (magic, version, configuration hash, payload length), the payload words,
  the CRC-32 of the beats before it; TLAST on the CRC beat. The channel checks it
  (:class:`~ese_hw.gateware.load.LoadChecker`): ``loaded`` once a stream passed,
  ``load_error`` says why one did not (another configuration, TLAST early or late,
  a bad checksum...). No x beat is taken without a loaded model (before the first
  good stream unless the images are baked in, after a refused stream or one cut by
  ``aresetn``), nor from a stream's first beat to its TLAST, so no frame runs on a
  half-loaded, corrupted or unintended model. A load waits (``tready`` low) while
  frames are in flight; it keeps the lanes' recurrent state, so the first frame on a
  new model sets ``tuser``.

A y FIFO of ``y_fifo_depth`` entries sits between the channel and ``m_axis_y``. The
channel streams a frame's ``P`` outputs back to back, and the next step's read-out
waits until they have all left the channel; with the FIFO a consumer may pause for
``y_fifo_depth`` beats without holding up the datapath, and with
``y_fifo_depth >= k * P`` the channel completes ``k`` more frames while the
consumer is paused.
"""

import numpy as np
from amaranth.hdl import ClockDomain, Module, Mux, Shape, Signal
from amaranth.lib import data
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..model.limits import DEFAULTS
from ..model.loadstream import byte_width
from ..model.timing import DEFAULT_TIMING
from ._checks import CheckedComponent, check_int
from .channel import Channel
from .load import LoadError, pack_fields
from .params import ChannelParams, StackParams
from .stack import ChannelStack

__all__ = ["DEFAULT_Y_FIFO_DEPTH", "AxisTop", "axis_tdata_bits", "x_stream_bytes",
           "y_from_stream_bytes"]

#: Default depth of the y FIFO: the deepest that costs no more than a 16-deep one.
#: UltraScale LUT RAM is 32 words deep, so Yosys ``synth_xilinx`` maps a 16- and a
#: 32-deep SyncFIFOBuffered alike (17 bits wide: 2 LUTRAM cells, 16 LUTs as memory; 513
#: bits, 32 lanes: 37 and 296) and 64 deep doubles it, all without block RAM. So a
#: consumer gets 32 beats of pause for free; one that pauses for a whole frame needs
#: ``y_fifo_depth >= P`` (block RAM at the paper's P = 512).
DEFAULT_Y_FIFO_DEPTH = 32

#: What each port is for (:meth:`AxisTop.port_table`).
_ROLES = {
    "aclk": "clock of every stream and of the whole design",
    "aresetn": "synchronous reset, active low: clears the lanes' state, the y FIFO, "
               "x_tlast_error, load_error and a load stream under way; memories keep "
               "their contents and loaded its value (low after a stream cut by the reset)",
    "s_axis_x_tdata": "element j of a frame for every lane: lane c in bits "
                      "[c*act_bits, (c+1)*act_bits), two's complement; padding ignored",
    "s_axis_x_tvalid": "handshake",
    "s_axis_x_tready": "handshake (low while the input buffer is full, no model is loaded "
                       "or a load stream is under way)",
    "s_axis_x_tlast": "on a frame's I-th beat; checked against the top's own count, "
                      "not obeyed (x_tlast_error)",
    "s_axis_x_tuser": "bit c on a frame's first beat restarts lane c from zero state; "
                      "ignored on other beats",
    "m_axis_y_tdata": "element q of y_t for every lane, packed like s_axis_x_tdata; "
                      "padding bits 0",
    "m_axis_y_tvalid": "handshake",
    "m_axis_y_tready": "handshake (the y FIFO absorbs pauses up to its depth)",
    "m_axis_y_tlast": "on a frame's P-th beat",
    "s_axis_load_tdata": "one word of a load stream (a beat of load.bin: header, payload "
                         "or CRC-32), little-endian",
    "s_axis_load_tvalid": "handshake",
    "s_axis_load_tready": "handshake (low while frames are in flight)",
    "s_axis_load_tlast": "on a load stream's CRC beat, the only place it may be; x beats are "
                         "held off from the stream's first beat to this one",
    "frame_done": "pulses when a step's y_t is computed (before it is streamed out)",
    "busy": "a frame is in flight (s_axis_load is held off)",
    "x_tlast_error": "sticky until aresetn: an x beat's tlast disagreed with the counted "
                     "frame position",
    "loaded": "the last load stream begun passed every check (or, with baked images, "
              "none has begun); x beats are taken only while it is high",
    "loading": "a load stream's first beat has been taken and its TLAST beat has not",
    "load_error": "why the last load stream was refused (LoadError, docs/contract.md "
                  "section 5): " + ", ".join(f"{e.value} {e.name.lower()}" for e in LoadError)
                  + "; length is TLAST early or late, or more words than the memories hold; "
                  "none again from the next stream's first beat",
}


def axis_tdata_bits(params):
    """``tdata`` widths of the three streams for a channel of ``params`` (no hardware
    made): ``{"s_axis_x": .., "m_axis_y": .., "s_axis_load": ..}``, each whole bytes."""
    lanes = 8 * byte_width(params.n_channels * params.act_bits)
    return {"s_axis_x": lanes, "m_axis_y": lanes,
            "s_axis_load": 8 * byte_width(params.load_layout.size)}


class AxisTop(CheckedComponent):
    """A :class:`Channel` behind AXI4-Stream ports, with a y FIFO (see the module doc).

    Parameters (keyword-only)
    ----------
    params : ChannelParams or StackParams
        The channel's parameters; a stack's (:class:`~ese_hw.gateware.params.StackParams`)
        puts a :class:`~ese_hw.gateware.stack.ChannelStack` behind the same ports:
        ``s_axis_x`` feeds layer 0, ``m_axis_y`` carries the last layer's outputs,
        ``s_axis_load`` takes the stack's one load stream, ``frame_done`` is the last
        layer's.
    y_fifo_depth : int
        Entries of the FIFO on y (:data:`DEFAULT_Y_FIFO_DEPTH`).
    model : CompressedModel or CompressedStack, optional
        Memory images baked in at elaboration (else load them through ``s_axis_load``).

    Members
    -------
    aclk, aresetn : In(1)
    s_axis_x_tdata : In(x_tdata_bits), s_axis_x_tuser : In(n_channels)
    s_axis_x_tvalid, s_axis_x_tlast : In(1); s_axis_x_tready : Out(1)
    m_axis_y_tdata : Out(y_tdata_bits)
    m_axis_y_tvalid, m_axis_y_tlast : Out(1); m_axis_y_tready : In(1)
    s_axis_load_tdata : In(load_tdata_bits)
    s_axis_load_tvalid, s_axis_load_tlast : In(1); s_axis_load_tready : Out(1)
    frame_done, busy, x_tlast_error, loaded, loading : Out(1)
    load_error : Out(LoadError)
        The channel's load status (:class:`~ese_hw.gateware.channel.Channel`).
    """

    @classmethod
    def check_parameters(cls, *, params, y_fifo_depth, model):
        check_int("y_fifo_depth", y_fifo_depth)
        if isinstance(params, StackParams):
            ChannelStack.check(params=params, model=model)
            return
        if not isinstance(params, ChannelParams):
            raise TypeError(f"params must be a ChannelParams or a StackParams, not {params!r}")
        Channel.check(params=params, model=model)

    def __init__(self, *, params, y_fifo_depth=DEFAULT_Y_FIFO_DEPTH, model=None):
        self._params = params
        self._y_fifo_depth = int(y_fifo_depth)
        self._model = model
        super().__init__({
            "aclk": In(1),
            "aresetn": In(1),
            "s_axis_x_tdata": In(self.x_tdata_bits),
            "s_axis_x_tvalid": In(1),
            "s_axis_x_tready": Out(1),
            "s_axis_x_tlast": In(1),
            "s_axis_x_tuser": In(params.n_channels),
            "m_axis_y_tdata": Out(self.y_tdata_bits),
            "m_axis_y_tvalid": Out(1),
            "m_axis_y_tready": In(1),
            "m_axis_y_tlast": Out(1),
            "s_axis_load_tdata": In(self.load_tdata_bits),
            "s_axis_load_tvalid": In(1),
            "s_axis_load_tready": Out(1),
            "s_axis_load_tlast": In(1),
            "frame_done": Out(1),
            "busy": Out(1),
            "x_tlast_error": Out(1),
            "loaded": Out(1),
            "loading": Out(1),
            "load_error": Out(LoadError),
        })

    @classmethod
    def for_model(cls, model, *, n_channels=DEFAULTS["n_channels"],
                  queue_depth=DEFAULTS["queue_depth"], entry_depth=None,
                  y_fifo_depth=DEFAULT_Y_FIFO_DEPTH, bake=False, timing=DEFAULT_TIMING):
        """A top sized for ``model`` (:meth:`ChannelParams.for_model`), its images baked
        in if ``bake``."""
        params = ChannelParams.for_model(model, n_channels=n_channels, queue_depth=queue_depth,
                                         entry_depth=entry_depth, timing=timing)
        return cls(params=params, y_fifo_depth=y_fifo_depth, model=model if bake else None)

    # ---- Parameters and widths.
    @property
    def params(self):
        """The channel's :class:`ChannelParams` (a stack's :class:`StackParams`)."""
        return self._params

    @property
    def y_fifo_depth(self):
        return self._y_fifo_depth

    @property
    def baked(self):
        """The memory images are in the Verilog (a model was given)."""
        return self._model is not None

    @property
    def lanes_bits(self):
        """Bits of one element of every lane (``n_channels * act_bits``)."""
        return self._params.n_channels * self._params.act_bits

    @property
    def x_tdata_bits(self):
        """Every lane's element (``lanes_bits``) padded to whole bytes."""
        return axis_tdata_bits(self._params)["s_axis_x"]

    @property
    def y_tdata_bits(self):
        return axis_tdata_bits(self._params)["m_axis_y"]

    @property
    def load_tdata_bits(self):
        """One load word (``params.load_layout``) padded to whole bytes."""
        return axis_tdata_bits(self._params)["s_axis_load"]

    def to_dict(self):
        """JSON-ready description for a configuration file: ``channel``
        (``ChannelParams.to_dict()``; for a stack ``stack``, ``StackParams.to_dict()``),
        ``y_fifo_depth``, ``baked``, ``tdata_bits`` (per stream) and ``ports``
        (:meth:`port_table`)."""
        key = "stack" if isinstance(self._params, StackParams) else "channel"
        return {key: self._params.to_dict(), "y_fifo_depth": self._y_fifo_depth,
                "baked": self.baked, "tdata_bits": axis_tdata_bits(self._params),
                "ports": self.port_table()}

    def port_table(self):
        """Every Verilog port as JSON-ready dicts, in port order: ``name``,
        ``direction`` (``"in"``/``"out"``), ``width``, ``interface`` (the AXI4-Stream
        prefix, or ``None``), ``signal`` (``tdata`` ... or the port name) and ``role``."""
        table = []
        for name, member in self.signature.members.items():
            interface = next((p for p in ("s_axis_x", "m_axis_y", "s_axis_load")
                              if name.startswith(p + "_t")), None)
            signal = name[len(interface) + 1:] if interface else name
            table.append({"name": name, "direction": member.flow.value.lower(),
                          "width": Shape.cast(member.shape).width, "interface": interface,
                          "signal": signal, "role": _ROLES[name]})
        return table

    # ---- Hardware.
    def elaborate(self, platform):
        m = Module()
        p = self._params
        # The design's one clock domain is driven from the AXI ports, so the Verilog has
        # no clk/rst ports of its own; AXI's reset is synchronous and active low.
        m.domains.sync = sync = ClockDomain("sync")
        m.d.comb += [sync.clk.eq(self.aclk), sync.rst.eq(~self.aresetn)]
        if isinstance(p, StackParams):
            # Every layer on chip; the stack has the channel's ports (x is layer 0's, y the
            # last layer's, one load stream for all), so the adapters below are the same.
            channel = ChannelStack(params=p, model=self._model)
            m.submodules.stack = channel
        else:
            m.submodules.channel = channel = Channel(params=p, model=self._model)
        m.d.comb += [self.frame_done.eq(channel.frame_done), self.busy.eq(channel.busy),
                     self.loaded.eq(channel.loaded), self.loading.eq(channel.loading),
                     self.load_error.eq(channel.load_error)]
        self._load_port(m, channel)
        self._x_port(m, channel)
        self._y_port(m, channel)
        return m

    def _load_port(self, m, channel):
        """``s_axis_load`` straight into the channel's load stream (TLAST its ``last``);
        the channel checks the streams and holds x off while one is under way."""
        m.d.comb += [
            channel.load.valid.eq(self.s_axis_load_tvalid),
            channel.load.payload.word.eq(self.s_axis_load_tdata[:self._params.load_layout.size]),
            channel.load.payload.last.eq(self.s_axis_load_tlast),
            self.s_axis_load_tready.eq(channel.load.ready),
        ]

    def _x_port(self, m, channel):
        """``s_axis_x`` into the channel's x stream, counting each frame's beats."""
        n_in = self._params.n_in
        position = Signal(range(n_in))          # element index of the next beat
        first, last = position == 0, position == n_in - 1
        take = Signal()
        m.d.comb += [
            channel.x.valid.eq(self.s_axis_x_tvalid),
            self.s_axis_x_tready.eq(channel.x.ready),
            channel.x.payload.x.eq(self.s_axis_x_tdata[:self.lanes_bits]),
            channel.x.payload.reset.eq(Mux(first, self.s_axis_x_tuser, 0)),
            take.eq(self.s_axis_x_tvalid & self.s_axis_x_tready),
        ]
        with m.If(take):
            m.d.sync += position.eq(Mux(last, 0, position + 1))
            with m.If(self.s_axis_x_tlast != last):
                m.d.sync += self.x_tlast_error.eq(1)

    def _y_port(self, m, channel):
        """The channel's y stream into the FIFO, tagged with TLAST; the FIFO out to
        ``m_axis_y``."""
        n_proj = self._params.n_proj
        entry = data.StructLayout({"y": self._params.y_layout, "last": 1})
        m.submodules.y_fifo = fifo = SyncFIFOBuffered(width=entry.size, depth=self._y_fifo_depth)
        position = Signal(range(n_proj))
        last = position == n_proj - 1
        w_entry = data.View(entry, fifo.w_data)
        r_entry = data.View(entry, fifo.r_data)
        m.d.comb += [
            w_entry.y.eq(channel.y.payload),
            w_entry.last.eq(last),
            fifo.w_en.eq(channel.y.valid),
            channel.y.ready.eq(fifo.w_rdy),
            self.m_axis_y_tdata.eq(r_entry.y.as_value()),
            self.m_axis_y_tlast.eq(r_entry.last),
            self.m_axis_y_tvalid.eq(fifo.r_rdy),
            fifo.r_en.eq(self.m_axis_y_tready),
        ]
        with m.If(channel.y.valid & fifo.w_rdy):
            m.d.sync += position.eq(Mux(last, 0, position + 1))


# --------------------------------------------------------------------------------------
# Host side: the bytes of the x and y streams.

def x_stream_bytes(params, x_q):
    """``s_axis_x`` data of ``x_q`` (C, T, I): ``T * I`` beats of
    ``byte_width(C * act_bits)`` bytes, little-endian, element ``j`` of frame ``t``
    of every lane (lane ``c`` at bit ``c * act_bits``). ``tuser``/``tlast`` are not
    in the bytes: a frame is the next ``I`` beats."""
    x_q = np.asarray(x_q, dtype=np.int64)
    c_n, t_n, n_in = x_q.shape
    if c_n != params.n_channels or n_in != params.n_in:
        raise ValueError(f"x_q has shape {x_q.shape}; the channel takes "
                         f"({params.n_channels}, T, {params.n_in})")
    lanes = x_q.transpose(1, 2, 0).reshape(t_n * n_in, c_n)
    n_bytes = byte_width(c_n * params.act_bits)
    words = pack_fields(params.x_layout, x=lanes)        # reset bits 0: above the lanes
    return b"".join(w.to_bytes(n_bytes, "little") for w in words)


def y_from_stream_bytes(params, blob, n_frames):
    """``(C, n_frames, P)`` outputs from the ``m_axis_y`` bytes of ``n_frames`` frames."""
    c_n, ab, n_proj = params.n_channels, params.act_bits, params.n_proj
    n_bytes = byte_width(c_n * ab)
    if len(blob) != n_frames * n_proj * n_bytes:
        raise ValueError(f"{len(blob)} bytes of y, expected {n_frames} frames x {n_proj} "
                         f"beats x {n_bytes} bytes")
    y = np.zeros((c_n, n_frames, n_proj), dtype=np.int64)
    mask, sign = (1 << ab) - 1, 1 << (ab - 1)
    for k in range(n_frames * n_proj):
        word = int.from_bytes(blob[k * n_bytes:(k + 1) * n_bytes], "little")
        t, q = divmod(k, n_proj)
        for c in range(c_n):
            lane = (word >> (c * ab)) & mask
            y[c, t, q] = lane - (lane & sign) * 2
    return y
