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

The producers and the consumer are cocotbext-axi's generic stream classes
(:mod:`ese_hw.simulation.testbenches.streams`), and
:class:`~ese_hw.simulation.testbenches.streams.StreamRuleChecker` checks ``y`` when it
stalls. Each source is given its words one edge before the cycle in which the hand-written
drivers used to offer the first one, so every cycle counted here is unchanged.
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
from ese_hw.simulation.testbenches.streams import (
    StreamRuleChecker,
    reset,
    seeded_pauses,
    start_clock,
    stream_sink,
    stream_source,
)

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
    moves the FSM. Writing the trigger registers runs the blocks, as intended. Kick
    before the first clock edge as well as after reset: a reset-less register that holds
    its value (the load checker's ``loaded``, whose only other inputs are registers) would
    otherwise latch X at the first edge and hold it.
    """
    if "icarus" not in cocotb.SIM_NAME.lower():
        return 0
    regs = _time0_triggers(dut, [])
    for r in regs:
        r.value = 1
    return len(regs)


class ChannelTB:
    """Drives one ``Channel``: ``load`` and ``x`` sources, a ``y`` sink (cocotbext-axi),
    a ``frame_done`` recorder and a deadlock watchdog; pauses seeded from
    ``cocotb.RANDOM_SEED``.

    The sources and the sink are made in :meth:`run`, after reset and
    :func:`kick_comb_blocks`: from then on they sample ``ready`` and ``valid`` at every
    edge, and on Icarus ``ready`` reads X until the kick."""

    def __init__(self, dut, data):
        self.dut = dut
        self.d = data
        start_clock(dut, CLOCK_NS)
        self.c_n, self.t_n, self.n_in = (int(v) for v in data["shape"])
        self.n_proj = int(data["n_proj"])
        self.loader = self.xdrv = self.sink = self.checker = None
        self.done_cycles = []
        self.t0 = None
        self.all_out = Event()
        self.items = _Items(self.t_n * self.n_proj, self.all_out)
        self.report_progress = ProgressReporter()

    def _make_streams(self):
        """``load`` and ``x`` sources, the ``y`` sink, and a stream-rule checker on ``y``
        when it stalls (only a stalling consumer can see the rules broken)."""
        dut, d, seed = self.dut, self.d, cocotb.RANDOM_SEED

        def pauses(k, prob):
            return seeded_pauses(np.random.default_rng([seed, k]), float(prob))

        self.loader = stream_source(dut, "load", pauses=pauses(1, d["load_idle"]))
        self.xdrv = stream_source(dut, "x", pauses=pauses(2, d["x_idle"]))
        self.sink = stream_sink(dut, "y", pauses=pauses(3, d["y_stall"]))
        if float(d["y_stall"]) > 0:
            self.checker = StreamRuleChecker(dut, "y")

    @staticmethod
    def _queue(source, words):
        """Queue ``words``: offered from the cycle after the next edge on."""
        for w in words:
            source.send_nowait(source._transaction_obj(payload=w))

    def _taken(self, source, total):
        """How many of the ``total`` words queued on ``source`` it has transferred."""
        return total - source.count() - int(source.active and bool(source.valid.value))

    async def _collect(self):
        while True:
            self.items.append((await self.sink.recv()).payload.to_unsigned())

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
        y_words = _payload_bytes(self.items, len(self.dut.y__payload))
        np.savez(path, y_words=y_words, frame_done=np.array(self.done_cycles, np.int64),
                 sim_cycles=np.int64(self.cycle_now() if self.t0 is not None else 0),
                 load_cycles=np.int64(load_cycles), load_seconds=np.float64(load_wall),
                 wall_seconds=np.float64(wall))

    async def _load(self, n_words):
        """Wait until the ``n_words`` queued load words are all taken (watchdog)."""
        budget = int(self.d["stall_cycles"]) + 50 * n_words
        task = cocotb.start_soon(self.loader.wait())
        await First(task, Timer(budget * CLOCK_NS, "ns"))
        if not task.done():
            task.cancel()
            raise AssertionError(f"load deadlocked: {self._taken(self.loader, n_words)} of "
                                 f"{n_words} words taken in {budget} cycles")

    async def run(self):
        dut, d = self.dut, self.d
        total = self.t_n * self.n_proj
        x_words = _payload_ints(d["x_words"])
        # Before the first edge too: a reset-less register (the load checker's ``loaded``)
        # whose next-state block never ran would latch X at that edge and keep it.
        kick_comb_blocks(dut)
        await reset(dut)
        kick_comb_blocks(dut)
        self._make_streams()
        t_wall = time.perf_counter()
        load_cycles = 0
        beats = _payload_ints(d["load_beats"])
        # Each stream's first word is offered in the cycle after the next edge.
        self._queue(self.loader if beats else self.xdrv, beats or x_words)
        await RisingEdge(dut.clk)
        if beats:
            t_load = get_sim_time("ns")
            await self._load(len(beats))
            await RisingEdge(dut.clk)           # the last beat is checked a cycle later
            load_cycles = round((get_sim_time("ns") - t_load) / CLOCK_NS)
            await ReadOnly()
            if not dut.loaded.value:
                error = LoadError(int(dut.load_error.value)).name
                raise AssertionError(f"the channel refused the load stream: load_error "
                                     f"{error}")
            self._queue(self.xdrv, x_words)
            await RisingEdge(dut.clk)
        load_wall = time.perf_counter() - t_wall
        self.t0 = get_sim_time("ns")            # cycle 0: the first x element is offered
        cocotb.start_soon(self._watch_frame_done())
        cocotb.start_soon(self._collect())
        if self.checker is not None:
            self.checker.start()
        try:
            await self._until_all_out(total, len(x_words))
            # Linger: a spurious extra y element or frame_done must show up. The sink
            # hands over the last element at its transfer edge, one cycle after it was
            # offered; the linger counts from the offer.
            await Timer((max(200, 4 * self.n_proj) - 1) * CLOCK_NS, "ns")
        finally:
            self._progress(final=True)
            self.write_out(time.perf_counter() - t_wall, load_cycles, load_wall)
        assert self.xdrv.idle(), "outputs complete before every x element was taken"
        assert len(self.items) == total, (
            f"{len(self.items)} y elements came out, {total} expected")
        assert len(self.done_cycles) == self.t_n, (
            f"{len(self.done_cycles)} frame_done pulses for {self.t_n} frames")
        if self.checker is not None:
            self.checker.check_ok()

    async def _until_all_out(self, total, n_x):
        """Wait for ``total`` y elements; fail on ``stall_cycles`` cycles without any
        progress (no y element, no frame_done, no x transfer)."""
        budget = int(self.d["stall_cycles"])
        last = None
        while len(self.items) < total:
            await First(self.all_out.wait(), Timer(budget * CLOCK_NS, "ns"))
            state = (len(self.items), len(self.done_cycles), self._taken(self.xdrv, n_x))
            if state == last and len(self.items) < total:
                raise AssertionError(
                    f"deadlock: no progress for {budget} cycles at cycle "
                    f"{self.cycle_now()}: {state[0]} of {total} y elements, "
                    f"{state[1]} of {self.t_n} frame_done, {state[2]} of "
                    f"{n_x} x elements taken")
            last = state


@cocotb.test()
async def test_channel(dut):
    """Frames of the data file through the channel (after an optional load)."""
    await ChannelTB(dut, load_tb_data()).run()
