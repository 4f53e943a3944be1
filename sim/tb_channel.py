"""cocotb testbench for the LSTMP ``Channel`` (``ese_hw.gateware.channel``).

The host prepares everything with :func:`channel_tb_data`, including every ``load``
and ``x`` payload integer packed from the channel's own layouts, and passes it through
:func:`ese_hw.simulation.runner.run_test` (:func:`ese_hw.simulation.rtl.run_rtl` does); the
testbench
only streams those integers, and records:

* optional run-time loading of the model through ``load``: one checked load stream
  (the bytes of a ``load.bin``, :func:`ese_hw.gateware.load.load_stream_bytes`), one
  beat per word with ``last`` on the final one, seeded idle cycles; the channel must
  report it ``loaded`` (else the run fails naming its ``load_error``);
* ``T`` frames of ``x`` (all channels side by side, ``reset`` bits on a frame's first
  element), seeded idle cycles when ``x_idle > 0``;
* ``y`` collected with seeded ready stalls when ``y_stall > 0``; exactly ``T * P``
  elements must come out and nothing after them (the sink keeps listening for a while
  after the last one), and the stream rules are checked on ``y`` when it stalls;
* the cycle of every ``frame_done`` pulse (cycle 0 = the cycle the first ``x`` element
  is offered; :func:`ese_hw.model.cycles.frame_cycles` counts from the same point);
* a deadlock watchdog: no ``y`` element, no ``frame_done`` and no ``x`` transfer for
  ``stall_cycles`` cycles fails the test.

Whatever happens, the ``y`` payloads and cycles measured so far are written to
``tb_out.npz`` beside the data file (read back with :func:`read_tb_out`; the host
decodes the lanes with :func:`y_values` and compares them with the golden model). The
frames done go to the runner's progress line through
:class:`ese_hw.simulation.runner.ProgressReporter`.

Without stalls the x driver and y collector wait on ``ready``/``valid`` edges instead of
polling every clock, so a long run costs Python time only per transfer.
"""

import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.simtime import get_sim_time
from cocotb.triggers import Event, First, ReadOnly, RisingEdge, Timer

from ese_hw.gateware.load import LoadError, pack_fields
from ese_hw.model.loadstream import split_beats
from ese_hw.simulation.runner import DATA_ENV, ProgressReporter, load_tb_data
from ese_hw.simulation.testbenches.streams import StreamDriver, StreamSink, reset, start_clock

__all__ = ["CLOCK_NS", "ChannelTB", "channel_tb_data", "read_tb_out", "watchdog_cycles",
           "x_payloads", "y_values"]

CLOCK_NS = 5.0


# --------------------------------------------------------------------------------------
# Host side (no simulator).

def _payload_bytes(words, width):
    """Payload integers (any width) as a ``(k, bytes)`` little-endian uint8 array: an
    ``.npz`` holds no Python ints wider than 64 bits without pickling."""
    n_bytes = max(1, -(-width // 8))
    blob = b"".join(int(w).to_bytes(n_bytes, "little") for w in words)
    return np.frombuffer(blob, dtype=np.uint8).reshape(len(words), n_bytes)


def _payload_ints(rows):
    """Inverse of :func:`_payload_bytes`, inside the simulator."""
    return [int.from_bytes(row.tobytes(), "little") for row in rows]


def x_payloads(x_layout, x_q, reset_mask):
    """Payload integers of the ``x`` stream: element ``j`` of frame ``t`` of every
    channel side by side, the frame's ``reset`` bits on its first element."""
    c_n, t_n, n_in = x_q.shape
    lanes = x_q.transpose(1, 2, 0).reshape(t_n * n_in, c_n)
    reset = np.zeros((t_n, n_in), dtype=np.int64)
    reset[:, 0] = reset_mask
    return pack_fields(x_layout, x=lanes, reset=reset.reshape(-1))


def watchdog_cycles(params, factor, base):
    """A watchdog budget of cycles without progress for a channel or a stack of them
    (``params``: ``ChannelParams`` or ``StackParams``): ``factor`` times what a step of
    every layer touches (its PE's entries, columns, element-wise slots, inputs and
    outputs), plus ``base``."""
    per_step = sum(p.entry_depth + p.n_cols + p.ew_slot * p.cells_per_pe + p.n_in + p.n_proj
                   for p in getattr(params, "layers", (params,)))
    return factor * per_step + base


def channel_tb_data(params, x_q, *, resets=None, load=None, x_idle=0.0, y_stall=0.0,
                    load_idle=0.0, stall_cycles=None):
    """Data for :class:`ChannelTB`: the ``load`` and ``x`` payloads, packed here from the
    channel's own layouts (the load stream's beats split by
    :func:`ese_hw.gateware.load.split_beats`, ``last`` on the final one; x by
    :func:`~ese_hw.gateware.load.pack_fields`), so the testbench only streams integers.

    Parameters
    ----------
    params : ChannelParams or StackParams
        The channel's parameters (:class:`ese_hw.gateware.channel.ChannelParams`), or a
        :class:`~ese_hw.gateware.stack.ChannelStack`'s, for its payload layouts and sizes.
    x_q : (C, T, I) integers
        Every channel's quantized inputs (``C == params.n_channels``).
    resets : (T, C) booleans, optional
        Channels that restart from zero state at that frame.
    load : bytes, optional
        A load stream (``load.bin``: :func:`ese_hw.gateware.load.load_stream_bytes` for
        ``params``) sent through ``load`` before the first frame.
    x_idle, y_stall, load_idle : float
        Seeded stall probabilities (0: always valid / always ready).
    stall_cycles : int, optional
        Watchdog budget (cycles without any progress); default from the model size.
    """
    x_q = np.asarray(x_q, dtype=np.int64)
    c_n, t_n, n_in = x_q.shape
    if c_n != params.n_channels or n_in != params.n_in:
        raise ValueError(f"x_q has shape {x_q.shape}; the channel takes "
                         f"({params.n_channels}, T, {params.n_in})")
    resets = np.zeros((t_n, c_n), bool) if resets is None else np.asarray(resets, bool)
    if resets.shape != (t_n, c_n):
        raise ValueError(f"resets has shape {resets.shape}, expected {(t_n, c_n)}")
    # Bit c of a frame's mask restarts channel c (a Python int: 64 channels fill int64).
    reset_mask = [sum(1 << c for c in np.flatnonzero(row)) for row in resets]
    x_layout, word_bits = params.x_layout, params.load_layout.size
    beats = [] if load is None else split_beats(load, word_bits)
    # A load beat's payload: the word, and last (bit word_bits) on the stream's final beat.
    load_beats = [w | int(k == len(beats) - 1) << word_bits for k, w in enumerate(beats)]
    if stall_cycles is None:
        # Far more than any phase of a step can take without a transfer or a frame_done.
        stall_cycles = watchdog_cycles(params, 20, 2000)
    return {
        "x_words": _payload_bytes(x_payloads(x_layout, x_q, reset_mask), x_layout.size),
        "load_beats": _payload_bytes(load_beats, params.load_beat_layout.size),
        "shape": np.array([c_n, t_n, n_in], dtype=np.int64),
        "n_proj": np.int64(params.n_proj),
        "x_idle": np.float64(x_idle),
        "y_stall": np.float64(y_stall),
        "load_idle": np.float64(load_idle),
        "stall_cycles": np.int64(stall_cycles),
    }


def read_tb_out(run_dir):
    """``tb_out.npz`` of a :class:`ChannelTB` run in ``run_dir``: ``y_words`` (the ``y``
    payload integers, in order), ``frame_done`` (cycles), ``sim_cycles``,
    ``load_cycles``, ``load_seconds`` (wall time of the load), ``wall_seconds``."""
    with np.load(Path(run_dir) / "tb_out.npz") as npz:
        out = {k: npz[k] for k in npz.files}
    out["y_words"] = _payload_ints(out["y_words"])
    return out


def y_values(y_layout, words, shape):
    """``(C, T, P)`` outputs from ``y`` payload integers, each lane decoded by the
    payload layout (elements that never came out are 0)."""
    c_n, t_n, n_proj = shape
    y = np.zeros(shape, dtype=np.int64)
    for k, word in enumerate(words[:t_n * n_proj]):
        lanes = y_layout.from_bits(word)
        t, q = divmod(k, n_proj)
        y[:, t, q] = [lanes[c] for c in range(c_n)]
    return y


# --------------------------------------------------------------------------------------
# Simulator side.

class EdgeDriver(StreamDriver):
    """A :class:`StreamDriver` that, while ``ready`` is low, sleeps until it rises
    instead of polling each clock (``ready`` of the channel only changes after an edge)."""

    async def _until_taken(self):
        while True:
            await ReadOnly()
            if self.ready.value:
                break
            await RisingEdge(self.ready)
        await RisingEdge(self.clk)


class EdgeCollector:
    """Always-ready consumer of stream ``prefix`` that sleeps while ``valid`` is low
    (``valid`` of ``y`` is a register). Collects unsigned payloads in ``items``.

    It has no stream-rule check: with ``ready`` always high every valid cycle is a
    transfer, so no rule can be broken. Runs with ``y`` stalls use the checking
    :class:`~ese_hw.simulation.testbenches.streams.StreamSink` instead."""

    def __init__(self, dut, prefix):
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.clk = dut.clk
        self.items = []
        self.ready.value = 0
        self._task = None

    def start(self):
        self.ready.value = 1
        self._task = cocotb.start_soon(self._run())
        return self

    async def _run(self):
        while True:
            await ReadOnly()
            if self.valid.value:
                self.items.append(self.payload.value.to_unsigned())
                await RisingEdge(self.clk)
            else:
                await RisingEdge(self.valid)


class _Items(list):
    """The sink's item list; sets ``event`` once it holds ``total`` items."""

    def __init__(self, total, event):
        super().__init__()
        self.total, self.event = total, event

    def append(self, item):
        super().append(item)
        if len(self) >= self.total:
            self.event.set()


def _time0_triggers(handle, found):
    """Yosys's per-module ``dump_module`` registers (see :func:`kick_comb_blocks`)."""
    for child in handle:
        name = child._name
        if "dump_module" in name:
            found.append(child)
        elif type(child).__name__ == "HierarchyObject":
            _time0_triggers(child, found)
    return found


def kick_comb_blocks(dut):
    """Icarus only: evaluate every ``always @*`` block once.

    Yosys's Verilog gives each module a register ``$auto$...dump_module$N = 0`` that
    every ``always @*`` block reads, meant to run those blocks at time 0. Icarus 11 does
    not see that initializer as an event, so a combinational block whose inputs never
    change stays X: the scheduler's ``state`` output (an FSM decode) -- and with it the
    channel's ``load.ready`` and ``busy`` -- read X after reset until the first frame
    moves the FSM. Writing the trigger registers runs the blocks, as intended.
    """
    if "icarus" not in cocotb.SIM_NAME.lower():
        return 0
    regs = _time0_triggers(dut, [])
    for r in regs:
        r.value = 1
    return len(regs)


class ChannelTB:
    """Drives one ``Channel``: ``load`` and ``x`` producers, a ``y`` consumer, a
    ``frame_done`` recorder and a deadlock watchdog; stalls seeded from
    ``cocotb.RANDOM_SEED``."""

    def __init__(self, dut, data):
        self.dut = dut
        self.d = data
        seed = cocotb.RANDOM_SEED
        start_clock(dut, CLOCK_NS)
        self.c_n, self.t_n, self.n_in = (int(v) for v in data["shape"])
        self.n_proj = int(data["n_proj"])
        self.loader = StreamDriver(dut, "load", rng=np.random.default_rng([seed, 1]),
                                   idle_prob=float(data["load_idle"]))
        self.xdrv = EdgeDriver(dut, "x", rng=np.random.default_rng([seed, 2]),
                               idle_prob=float(data["x_idle"]))
        y_stall = float(data["y_stall"])
        if y_stall > 0:
            self.sink = StreamSink(dut, "y", rng=np.random.default_rng([seed, 3]),
                                   stall_prob=y_stall)
        else:
            self.sink = EdgeCollector(dut, "y")
        self.done_cycles = []
        self.t0 = None
        self.all_out = Event()
        self.sink.items = _Items(self.t_n * self.n_proj, self.all_out)
        self.report_progress = ProgressReporter()

    # ---- helpers
    def cycle_now(self):
        return round((get_sim_time("ns") - self.t0) / CLOCK_NS)

    def _progress(self, final=False):
        k = len(self.done_cycles)
        if k and (k % max(1, self.t_n // 10) == 0 or final):
            self.dut._log.info("frames done %d/%d", k, self.t_n)
        self.report_progress(k)

    async def _watch_frame_done(self):
        while True:
            await RisingEdge(self.dut.frame_done)
            self.done_cycles.append(self.cycle_now())
            self._progress()

    def write_out(self, wall, load_cycles, load_wall):
        path = Path(os.environ[DATA_ENV]).with_name("tb_out.npz")
        y_words = _payload_bytes(self.sink.items, len(self.dut.y__payload))
        np.savez(path, y_words=y_words, frame_done=np.array(self.done_cycles, np.int64),
                 sim_cycles=np.int64(self.cycle_now() if self.t0 is not None else 0),
                 load_cycles=np.int64(load_cycles), load_seconds=np.float64(load_wall),
                 wall_seconds=np.float64(wall))

    async def _load(self, words):
        budget = int(self.d["stall_cycles"]) + 50 * len(words)
        task = cocotb.start_soon(self.loader.send(words))
        await First(task, Timer(budget * CLOCK_NS, "ns"))
        if not task.done():
            task.cancel()
            raise AssertionError(f"load deadlocked: {self.loader.sent} of {len(words)} "
                                 f"words taken in {budget} cycles")

    async def run(self):
        dut, d = self.dut, self.d
        total = self.t_n * self.n_proj
        await reset(dut)
        kick_comb_blocks(dut)
        await RisingEdge(dut.clk)
        t_wall = time.perf_counter()
        load_cycles = 0
        beats = _payload_ints(d["load_beats"])
        if beats:
            t_load = get_sim_time("ns")
            await self._load(beats)
            load_cycles = round((get_sim_time("ns") - t_load) / CLOCK_NS)
            await ReadOnly()
            if not dut.loaded.value:
                error = LoadError(int(dut.load_error.value)).name
                raise AssertionError(f"the channel refused the load stream: load_error "
                                     f"{error}")
            await RisingEdge(dut.clk)
        load_wall = time.perf_counter() - t_wall
        self.t0 = get_sim_time("ns")            # cycle 0: the first x element is offered
        cocotb.start_soon(self._watch_frame_done())
        self.sink.start()
        feeder = cocotb.start_soon(self.xdrv.send(_payload_ints(d["x_words"])))
        budget = int(d["stall_cycles"])
        last = None
        try:
            while len(self.sink.items) < total:
                await First(self.all_out.wait(), Timer(budget * CLOCK_NS, "ns"))
                state = (len(self.sink.items), len(self.done_cycles), self.xdrv.sent)
                if state == last and len(self.sink.items) < total:
                    raise AssertionError(
                        f"deadlock: no progress for {budget} cycles at cycle "
                        f"{self.cycle_now()}: {state[0]} of {total} y elements, "
                        f"{state[1]} of {self.t_n} frame_done, {state[2]} of "
                        f"{self.t_n * self.n_in} x elements taken")
                last = state
            # Linger: a spurious extra y element or frame_done must show up.
            await Timer(max(200, 4 * self.n_proj) * CLOCK_NS, "ns")
        finally:
            self._progress(final=True)
            self.write_out(time.perf_counter() - t_wall, load_cycles, load_wall)
        assert feeder.done(), "outputs complete before every x element was taken"
        assert len(self.sink.items) == total, (
            f"{len(self.sink.items)} y elements came out, {total} expected")
        assert len(self.done_cycles) == self.t_n, (
            f"{len(self.done_cycles)} frame_done pulses for {self.t_n} frames")
        if isinstance(self.sink, StreamSink):
            # Only a stalling consumer can see the stream rules broken (valid or the
            # payload changing while ready is low); EdgeCollector never stalls.
            self.sink.check_ok()


@cocotb.test()
async def test_channel(dut):
    """Frames of the data file through the channel (after an optional load)."""
    await ChannelTB(dut, load_tb_data()).run()
