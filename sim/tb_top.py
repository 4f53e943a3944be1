"""cocotb testbench for the AXI4-Stream top (:class:`ese_hw.gateware.top.AxisTop`).

Drives the generated Verilog through cocotbext-axi: an ``AxiStreamSource`` on
``s_axis_load`` and on ``s_axis_x``, an ``AxiStreamSink`` on ``m_axis_y``, each with a
seeded random pause generator, ``aclk`` and the active-low ``aresetn`` of the top.

The host prepares everything with :func:`top_tb_data`: a run is a list of *phases*,
each an optional model (the bytes of ``load.bin``, :func:`ese_hw.gateware.load.
load_stream_bytes`) followed by frames (the bytes of ``s_axis_x``,
:func:`ese_hw.gateware.top.x_stream_bytes`, and each frame's ``tuser`` lane resets).
For every phase the testbench

* sends the model as one AXI4-Stream frame (TLAST on its last word) and, once the
  model's first word has been taken, queues the phase's x frames at once (the top must
  hold them off until the model's TLAST);
* sends the x frames, one AXI4-Stream frame each (TLAST on the ``I``-th beat, the lane
  resets in ``tuser`` of its first beat);
* receives one y frame of ``P`` beats per x frame (the sink splits on TLAST, so a
  frame of another length fails the run).

It records the y bytes, the number of ``frame_done`` pulses and the final
``x_tlast_error`` in ``tb_out.npz`` beside the data file (:func:`read_top_out`); the
host compares the outputs with the golden model. A phase that makes no progress for
``stall_cycles`` cycles fails the test.
"""

import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, with_timeout
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from ese_hw.gateware.load import byte_width
from ese_hw.sim.tb_channel import kick_comb_blocks
from ese_hw.simtools import DATA_ENV, load_tb_data

__all__ = ["CLOCK_NS", "TopTB", "read_top_out", "top_tb_data"]

CLOCK_NS = 5.0


# --------------------------------------------------------------------------------------
# Host side (no simulator).

def top_tb_data(params, phases, *, pause=0.0, stall_cycles=None):
    """Data for :class:`TopTB`.

    Parameters
    ----------
    params : ChannelParams
        The top's channel (its sizes).
    phases : list of (bytes or None, bytes, sequence of int)
        ``(load, x, resets)``: the ``load.bin`` bytes of a model to send first (or
        ``None``), the ``s_axis_x`` bytes of the phase's frames, and each frame's
        ``tuser`` lane-reset mask.
    pause : float
        Probability that an interface pauses in a cycle (all three, seeded).
    stall_cycles : int, optional
        Watchdog budget per phase (cycles); default from the model size.
    """
    x_bytes = byte_width(params.n_channels * params.act_bits)
    data = {"n_phases": np.int64(len(phases)), "pause": np.float64(pause),
            "sizes": np.array([params.n_in, params.n_proj, x_bytes], np.int64)}
    for k, (load, x, resets) in enumerate(phases):
        if len(x) != len(resets) * params.n_in * x_bytes:
            raise ValueError(f"phase {k}: {len(x)} x bytes for {len(resets)} frames")
        data[f"load_{k}"] = np.frombuffer(load or b"", np.uint8)
        data[f"x_{k}"] = np.frombuffer(x, np.uint8)
        data[f"resets_{k}"] = np.asarray(resets, np.int64).reshape(-1)
    if stall_cycles is None:
        per_pe = params.entry_depth + params.n_cols + params.ew_slot * params.cells_per_pe
        stall_cycles = 40 * (per_pe + params.n_in + params.n_proj) + 5000
    data["stall_cycles"] = np.int64(stall_cycles)
    return data


def read_top_out(run_dir):
    """``tb_out.npz`` of a :class:`TopTB` run: ``y_bytes`` (per phase, as ``bytes``),
    ``frame_done`` (pulses counted) and ``x_tlast_error`` (its final value)."""
    with np.load(Path(run_dir) / "tb_out.npz") as npz:
        n = int(npz["n_phases"])
        return {"y_bytes": [npz[f"y_{k}"].tobytes() for k in range(n)],
                "frame_done": int(npz["frame_done"]),
                "x_tlast_error": int(npz["x_tlast_error"])}


# --------------------------------------------------------------------------------------
# Simulator side.

def _pauses(rng, prob):
    """An endless, seeded pause pattern for ``set_pause_generator``."""
    while True:
        yield bool(rng.random() < prob)


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
                port.set_pause_generator(_pauses(np.random.default_rng([seed, k]), pause))
        self.frames_done = 0
        self.budget_ns = int(data["stall_cycles"]) * CLOCK_NS

    async def reset(self):
        self.dut.aresetn.value = 0
        await RisingEdge(self.dut.aclk)
        # Icarus: settle the always @* blocks once, before the sources sample tready.
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

    async def phase(self, k):
        load = self.d[f"load_{k}"].tobytes()
        if load:
            await self.load.send(AxiStreamFrame(load))
            await with_timeout(self._first_load_beat(), self.budget_ns, "ns")
        n_frames = len(self.d[f"resets_{k}"])
        for frame in self._x_frames(k):
            await self.x.send(frame)
        out = []
        for _ in range(n_frames):
            frame = await with_timeout(self.y.recv(), self.budget_ns, "ns")
            assert len(frame.tdata) == self.n_proj * self.x_bytes, (
                f"phase {k}: a y frame of {len(frame.tdata)} bytes, expected "
                f"{self.n_proj} beats of {self.x_bytes}")
            out.append(bytes(frame.tdata))
        if load:
            assert self.load.empty() and self.load.idle(), "the model was not all taken"
        return b"".join(out)

    async def run(self):
        await self.reset()
        cocotb.start_soon(self._count_frame_done())
        n = int(self.d["n_phases"])
        ys = {}
        try:
            for k in range(n):
                ys[f"y_{k}"] = np.frombuffer(await self.phase(k), np.uint8)
            # Linger: an extra y beat must show up.
            for _ in range(4 * self.n_proj + 100):
                await RisingEdge(self.dut.aclk)
            assert self.y.empty(), "y beats after the last expected frame"
        finally:
            path = Path(os.environ[DATA_ENV]).with_name("tb_out.npz")
            ys.update({f"y_{k}": np.zeros(0, np.uint8) for k in range(n) if f"y_{k}" not in ys})
            np.savez(path, n_phases=np.int64(n), frame_done=np.int64(self.frames_done),
                     x_tlast_error=np.int64(int(self.dut.x_tlast_error.value)), **ys)


@cocotb.test()
async def test_top(dut):
    """The phases of the data file through the AXI4-Stream top."""
    await TopTB(dut, load_tb_data()).run()
