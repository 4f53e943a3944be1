"""cocotb testbench for the AXI4-Stream top (:class:`ese_hw.gateware.top.AxisTop`).

Drives the generated Verilog through cocotbext-axi: an ``AxiStreamSource`` on
``s_axis_load`` and on ``s_axis_x``, an ``AxiStreamSink`` on ``m_axis_y``, each with a
seeded random pause generator, ``aclk`` and the active-low ``aresetn`` of the top.

The host prepares everything with :func:`top_tb_data`: a run is a list of *phases*,
each an optional load stream (the bytes of a ``load.bin``, :func:`ese_hw.gateware.load.
load_stream_bytes`, or a damaged one) followed by frames (the bytes of ``s_axis_x``,
:func:`ese_hw.gateware.top.x_stream_bytes`, and each frame's ``tuser`` lane resets), and
the ``load_error`` code the stream must end with (0: it must load). For every phase the
testbench

* sends the stream as one AXI4-Stream frame (TLAST on its last beat) and, once its
  first beat has been taken, queues the phase's x frames at once (the top must hold
  them off until a good stream's TLAST);
* sends the x frames, one AXI4-Stream frame each (TLAST on the ``I``-th beat, the lane
  resets in ``tuser`` of its first beat);
* once all the stream's beats are taken, records ``loaded``, ``loading`` and
  ``load_error``;
* for a stream that must load: fails at once, naming ``load_error``, if it was
  refused; else receives one y frame of ``P`` beats for every x frame queued so far and
  not yet answered (the sink splits on TLAST, so a frame of another length fails the
  run);
* for a stream that must be refused: counts the x beats taken in ``hold_cycles``
  cycles (none may be: the phase's frames wait in the source for a later good stream,
  whose phase answers them).

It records the y bytes per phase, the statuses, the number of ``frame_done`` pulses and
the final ``x_tlast_error`` in ``tb_out.npz`` beside the data file
(:func:`read_top_out`); the host compares the outputs with the golden model. A phase
that makes no progress for ``stall_cycles`` cycles fails the test.
"""

import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, with_timeout
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from ese_hw.gateware.load import LoadError
from ese_hw.model.loadstream import LOAD_VERSION, byte_width, split_beats
from ese_hw.simulation.runner import DATA_ENV, load_tb_data
from ese_hw.simulation.testbenches.streams import seeded_pauses
from ese_hw.simulation.testbenches.tb_channel import kick_comb_blocks, watchdog_cycles

__all__ = ["CLOCK_NS", "TopTB", "read_top_out", "refused_load_streams", "top_tb_data"]

CLOCK_NS = 5.0


# --------------------------------------------------------------------------------------
# Host side (no simulator).

def top_tb_data(params, phases, *, pause=0.0, stall_cycles=None, hold_cycles=100):
    """Data for :class:`TopTB`.

    Parameters
    ----------
    params : ChannelParams
        The top's channel (its sizes).
    phases : list of (bytes or None, bytes, sequence of int[, int])
        ``(load, x, resets[, error])``: the load stream to send first (a ``load.bin``, or
        ``None``), the ``s_axis_x`` bytes of the phase's frames, each frame's ``tuser``
        lane-reset mask, and the ``LoadError`` (or its value) the stream must leave
        (default ``NONE``: it loads).
    pause : float
        Probability that an interface pauses in a cycle (all three, seeded).
    stall_cycles : int, optional
        Watchdog budget per phase (cycles); default from the model size.
    hold_cycles : int
        Cycles after a refused stream in which no x beat may be taken.
    """
    x_bytes = byte_width(params.n_channels * params.act_bits)
    data = {"n_phases": np.int64(len(phases)), "pause": np.float64(pause),
            "sizes": np.array([params.n_in, params.n_proj, x_bytes], np.int64),
            "hold_cycles": np.int64(hold_cycles)}
    for k, (load, x, resets, *error) in enumerate(phases):
        if len(x) != len(resets) * params.n_in * x_bytes:
            raise ValueError(f"phase {k}: {len(x)} x bytes for {len(resets)} frames")
        error = LoadError(error[0]).value if error else 0
        if error and not load:
            raise ValueError(f"phase {k}: a refusal ({error}) needs a load stream")
        data[f"load_{k}"] = np.frombuffer(load or b"", np.uint8)
        data[f"x_{k}"] = np.frombuffer(x, np.uint8)
        data[f"resets_{k}"] = np.asarray(resets, np.int64).reshape(-1)
        data[f"error_{k}"] = np.int64(error)
    if stall_cycles is None:
        stall_cycles = watchdog_cycles(params, 40, 5000)
    data["stall_cycles"] = np.int64(stall_cycles)
    return data


def refused_load_streams(params, good, *, other=None):
    """Load streams the top must refuse, made from ``good`` (a ``load.bin`` for
    ``params``): ``(name, bytes, LoadError)`` for a wrong magic, a wrong version, another
    configuration (``other``, a ``load.bin`` for other parameters with beats of the same
    width; default ``good`` with its configuration beat changed), a length more than the
    memories hold, TLAST two beats early, TLAST one beat late, and one payload bit
    flipped (a bad checksum: that word is written before the checksum beat refuses it)."""
    n_bytes = byte_width(params.load_layout.size)
    beats = split_beats(good, params.load_layout.size)

    def blob(words):
        return b"".join(w.to_bytes(n_bytes, "little") for w in words)

    def edited(k, value):
        return blob(beats[:k] + [value] + beats[k + 1:])

    middle = len(beats) // 2
    if other is None:
        other = edited(2, beats[2] ^ 1)
    return [
        ("magic", edited(0, beats[0] ^ 1 << 8), LoadError.MAGIC),
        ("version", edited(1, LOAD_VERSION + 1), LoadError.VERSION),
        ("configuration", other, LoadError.CONFIG),
        ("too long", edited(3, params.load_max_words + 1), LoadError.LENGTH),
        ("TLAST early", blob(beats[:-2]), LoadError.LENGTH),
        ("TLAST late", blob([*beats, 0]), LoadError.LENGTH),
        ("checksum", edited(middle, beats[middle] ^ 1 << 9), LoadError.CHECKSUM),
    ]


def read_top_out(run_dir):
    """``tb_out.npz`` of a :class:`TopTB` run: ``y_bytes`` (per phase, as ``bytes``),
    ``status`` (per phase: ``(loaded, loading, LoadError)`` after its stream, or
    ``None`` without one), ``held_x`` (per phase: x beats taken in the hold after a
    refused stream), ``frame_done`` (pulses counted) and ``x_tlast_error`` (its final
    value)."""
    with np.load(Path(run_dir) / "tb_out.npz") as npz:
        n = int(npz["n_phases"])
        status = [npz[f"status_{k}"].tolist() for k in range(n)]
        status = [(s[0], s[1], LoadError(s[2])) if s else None for s in status]
        return {"y_bytes": [npz[f"y_{k}"].tobytes() for k in range(n)],
                "status": status, "held_x": [int(npz[f"held_{k}"]) for k in range(n)],
                "frame_done": int(npz["frame_done"]),
                "x_tlast_error": int(npz["x_tlast_error"])}


# --------------------------------------------------------------------------------------
# Simulator side.

class TopTB:
    """Sources on ``s_axis_load`` and ``s_axis_x``, a sink on ``m_axis_y`` (cocotbext-axi,
    seeded pauses on all three), and a ``frame_done`` counter."""

    def __init__(self, dut, data):
        self.dut, self.d = dut, data
        self.n_in, self.n_proj, self.x_bytes = (int(v) for v in data["sizes"])
        Clock(dut.aclk, CLOCK_NS, unit="ns").start()
        reset = {"reset": dut.aresetn, "reset_active_level": False}
        self.load = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_load"), dut.aclk,
                                    **reset)
        self.x = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_x"), dut.aclk, **reset)
        self.y = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis_y"), dut.aclk, **reset)
        pause = float(data["pause"])
        if pause > 0:
            seed = cocotb.RANDOM_SEED
            for k, port in enumerate((self.load, self.x, self.y)):
                port.set_pause_generator(seeded_pauses(np.random.default_rng([seed, k]), pause))
        self.frames_done = 0
        self.pending = 0                  # x frames queued and not yet answered
        self.budget_ns = int(data["stall_cycles"]) * CLOCK_NS

    async def reset(self):
        self.dut.aresetn.value = 0
        # Icarus: settle the always @* blocks before the first edge (a reset-less
        # register would latch X there: kick_comb_blocks) and again before the sources
        # sample tready.
        kick_comb_blocks(self.dut)
        await RisingEdge(self.dut.aclk)
        kick_comb_blocks(self.dut)
        for _ in range(3):
            await RisingEdge(self.dut.aclk)
        self.dut.aresetn.value = 1
        await RisingEdge(self.dut.aclk)

    async def _count_frame_done(self):
        while True:
            await RisingEdge(self.dut.frame_done)
            self.frames_done += 1

    async def _first_load_beat(self):
        """Returns once ``s_axis_load`` has transferred a beat."""
        dut = self.dut
        while True:
            await ReadOnly()
            if dut.s_axis_load_tvalid.value and dut.s_axis_load_tready.value:
                await RisingEdge(dut.aclk)
                return
            await RisingEdge(dut.aclk)

    def _x_frames(self, k):
        blob, resets = self.d[f"x_{k}"].tobytes(), self.d[f"resets_{k}"]
        size = self.n_in * self.x_bytes
        for t, mask in enumerate(resets):
            # tuser is sampled per byte lane; the first beat's bytes carry the resets.
            user = [int(mask)] * self.x_bytes + [0] * (size - self.x_bytes)
            yield AxiStreamFrame(blob[t * size:(t + 1) * size], tuser=user)

    async def _status(self):
        """``(loaded, loading, load_error)`` now; returns on the next clock edge."""
        dut = self.dut
        await ReadOnly()
        status = (int(dut.loaded.value), int(dut.loading.value), int(dut.load_error.value))
        await RisingEdge(dut.aclk)
        return status

    async def _stream_taken(self):
        """Returns a few cycles after the load source has sent every beat: its last beat
        through the top's adapter and checked (the load checker checks a beat the cycle
        after it arrives)."""
        await self.load.wait()
        for _ in range(3):
            await RisingEdge(self.dut.aclk)

    async def _x_beats_taken(self, cycles):
        """x transfers in the next ``cycles`` cycles."""
        dut, taken = self.dut, 0
        for _ in range(cycles):
            await ReadOnly()
            taken += int(dut.s_axis_x_tvalid.value and dut.s_axis_x_tready.value)
            await RisingEdge(dut.aclk)
        return taken

    async def phase(self, k):
        """Returns the phase's y bytes, the status after its stream and, for a refused
        stream, the x beats taken in the hold after it."""
        load = self.d[f"load_{k}"].tobytes()
        if load:
            await self.load.send(AxiStreamFrame(load))
            await with_timeout(self._first_load_beat(), self.budget_ns, "ns")
        for frame in self._x_frames(k):
            await self.x.send(frame)
            self.pending += 1
        status = ()
        if load:
            await with_timeout(self._stream_taken(), self.budget_ns, "ns")
            status = await self._status()
        if int(self.d[f"error_{k}"]):
            # Refused: its frames wait in the source for a later good stream.
            return b"", status, await self._x_beats_taken(int(self.d["hold_cycles"]))
        if load and not status[0]:
            raise AssertionError(f"phase {k}: the top refused the load stream: load_error "
                                 f"{LoadError(status[2]).name}")
        out = []
        for _ in range(self.pending):
            frame = await with_timeout(self.y.recv(), self.budget_ns, "ns")
            assert len(frame.tdata) == self.n_proj * self.x_bytes, (
                f"phase {k}: a y frame of {len(frame.tdata)} bytes, expected "
                f"{self.n_proj} beats of {self.x_bytes}")
            out.append(bytes(frame.tdata))
        self.pending = 0
        return b"".join(out), status, 0

    async def run(self):
        await self.reset()
        cocotb.start_soon(self._count_frame_done())
        n = int(self.d["n_phases"])
        out = {}
        try:
            for k in range(n):
                y, status, held = await self.phase(k)
                out.update({f"y_{k}": np.frombuffer(y, np.uint8),
                            f"status_{k}": np.asarray(status, np.int64),
                            f"held_{k}": np.int64(held)})
            # Linger: an extra y beat must show up.
            for _ in range(4 * self.n_proj + 100):
                await RisingEdge(self.dut.aclk)
            assert self.y.empty(), "y beats after the last expected frame"
        finally:
            path = Path(os.environ[DATA_ENV]).with_name("tb_out.npz")
            for k in range(n):
                out.setdefault(f"y_{k}", np.zeros(0, np.uint8))
                out.setdefault(f"status_{k}", np.zeros(0, np.int64))
                out.setdefault(f"held_{k}", np.int64(0))
            np.savez(path, n_phases=np.int64(n), frame_done=np.int64(self.frames_done),
                     x_tlast_error=np.int64(int(self.dut.x_tlast_error.value)), **out)


@cocotb.test()
async def test_top(dut):
    """The phases of the data file through the AXI4-Stream top."""
    await TopTB(dut, load_tb_data()).run()
