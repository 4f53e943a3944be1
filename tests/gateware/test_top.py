"""The AXI4-Stream top in Amaranth's simulator: ports, load.bin, frames bit-exact under
stalls, the y FIFO absorbing a paused consumer, TLAST handling, a second model at run time."""

import json
import re

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Module, ResetSignal
from amaranth.sim import Simulator

from ese_hw.gateware.channel import ChannelParams, model_entry_depth
from ese_hw.gateware.load import byte_width, load_stream_bytes, pack_load_words
from ese_hw.gateware.top import (
    AxisTop,
    axis_tdata_bits,
    model_load_bytes,
    x_stream_bytes,
    y_from_stream_bytes,
)
from ese_hw.model.compress import Config, compress
from ese_hw.model.cycles import channel_cycles
from ese_hw.model.golden import GoldenModel
from ese_hw.model.images import channel_images, load_words
from ese_hw.model.lstmp import random_weights
from ese_hw.simtools import generate_verilog

SHAPE = (8, 12, 6)          # I, H, P: small enough for many frames in the simulator


def _model(seed=1, n_pe=2):
    return compress(random_weights(*SHAPE, seed=seed), Config(n_pe=n_pe, density=0.4))


@pytest.fixture(scope="module")
def model():
    return _model()


def _frames(g, n_lanes, n_frames, seed):
    rng = np.random.default_rng(seed)
    return np.stack([g.quantize_inputs(rng.standard_normal((n_frames, SHAPE[0])) * (1 + c))
                     for c in range(n_lanes)])


# --------------------------------------------------------------------------------------
# Bench: the top clocked from a testbench domain, AXI beats as integers.

class _Clocked(Elaboratable):
    """The top with ``aclk``/``aresetn`` driven from the simulator's ``axi`` domain."""

    def __init__(self, top):
        self.top = top
        self.axi = ClockDomain("axi")

    def elaborate(self, platform):
        m = Module()
        m.domains.axi = self.axi
        m.submodules.top = self.top
        m.d.comb += [self.top.aclk.eq(ClockSignal("axi")),
                     self.top.aresetn.eq(~ResetSignal("axi"))]
        return m


def _beats(blob, n_bytes):
    return [int.from_bytes(blob[k:k + n_bytes], "little") for k in range(0, len(blob), n_bytes)]


async def _put(ctx, top, prefix, tdata, *, last=0, user=None, rng=None, idle=0.0):
    """One beat on ``s_axis_<prefix>`` after seeded idle cycles (valid never waits)."""
    while rng is not None and rng.random() < idle:
        await ctx.tick("axi")
    port = lambda s: getattr(top, f"s_axis_{prefix}_t{s}")      # noqa: E731
    ctx.set(port("valid"), 1)
    ctx.set(port("data"), tdata)
    ctx.set(port("last"), last)
    if user is not None:
        ctx.set(port("user"), user)
    await ctx.tick("axi").until(port("ready"))
    ctx.set(port("valid"), 0)


class Bench:
    """Producers for ``s_axis_load`` and ``s_axis_x``, a consumer of ``m_axis_y`` and a
    recorder of ``frame_done`` (cycles) and of ``x_tlast_error``."""

    def __init__(self, top, *, seed=0, x_idle=0.0, y_stall=0.0, load_idle=0.0):
        self.top, self.p = top, top.params
        self.rng = {k: np.random.default_rng([seed, i]) for i, k in enumerate("xyl")}
        self.x_idle, self.y_stall, self.load_idle = x_idle, y_stall, load_idle
        self.cycle = 0
        self.done = []                    # frame_done cycles
        self.y = []                       # (tdata, tlast) of every y beat
        self.tlast_error_at = None        # first cycle x_tlast_error was high
        self.load_started = False         # the current load's first beat has been taken

    async def recorder(self, ctx):
        t = self.top
        async for _, _, done, err in ctx.tick("axi").sample(t.frame_done, t.x_tlast_error):
            self.cycle += 1
            if done:
                self.done.append(self.cycle)
            if err and self.tlast_error_at is None:
                self.tlast_error_at = self.cycle

    async def load(self, ctx, blob):
        beats = _beats(blob, self.top.load_tdata_bits // 8)
        for k, word in enumerate(beats):
            await _put(ctx, self.top, "load", word, last=int(k == len(beats) - 1),
                       rng=self.rng["l"], idle=self.load_idle)
            self.load_started = True

    async def send_x(self, ctx, x_q, *, resets=None, tlast=None):
        """Frames of ``x_q`` (C, T, I); ``tlast`` (T, I) overrides the TLAST bits."""
        c_n, t_n, n_in = x_q.shape
        beats = _beats(x_stream_bytes(self.p, x_q), self.top.x_tdata_bits // 8)
        resets = np.zeros((t_n, c_n), bool) if resets is None else resets
        for k, word in enumerate(beats):
            t, j = divmod(k, n_in)
            last = int(j == n_in - 1) if tlast is None else int(tlast[t, j])
            # Reset bits on every beat of a reset frame: the top reads only the first.
            user = int(sum(1 << c for c in range(c_n) if resets[t, c]))
            await _put(ctx, self.top, "x", word, last=last, user=user, rng=self.rng["x"],
                       idle=self.x_idle)

    async def take_y(self, ctx, n_beats):
        t = self.top
        while len(self.y) < n_beats:
            ready = not self.rng["y"].random() < self.y_stall
            ctx.set(t.m_axis_y_tready, ready)
            _, _, valid, tdata, tlast = await ctx.tick("axi").sample(
                t.m_axis_y_tvalid, t.m_axis_y_tdata, t.m_axis_y_tlast)
            if ready and valid:
                self.y.append((tdata, tlast))
        ctx.set(t.m_axis_y_tready, 0)

    def y_values(self, n_frames):
        blob = b"".join(d.to_bytes(self.top.y_tdata_bits // 8, "little") for d, _ in self.y)
        return y_from_stream_bytes(self.p, blob, n_frames)

    def check_tlast(self):
        """TLAST on every P-th y beat and nowhere else."""
        n_proj = self.p.n_proj
        got = [bool(last) for _, last in self.y]
        want = [(k + 1) % n_proj == 0 for k in range(len(self.y))]
        assert got == want


def _simulate(top, *testbenches, bench, clocked=None):
    sim = Simulator(_Clocked(top) if clocked is None else clocked)
    sim.add_clock(1e-8, domain="axi")
    sim.add_process(bench.recorder)
    *background, main = testbenches
    for tb in background:
        sim.add_testbench(tb, background=True)
    sim.add_testbench(main)
    sim.run()


# --------------------------------------------------------------------------------------
# Ports and the load byte stream.

def test_verilog_ports_are_axi_names(model, tmp_path):
    top = AxisTop.for_model(model, n_channels=2)
    text = generate_verilog(top, "axis_top", tmp_path).read_text()
    header = re.search(r"module axis_top\((.*?)\);", text, re.S).group(1)
    ports = {name.strip() for name in header.split(",")}
    want = {"aclk", "aresetn", "frame_done", "busy", "x_tlast_error"}
    want |= {f"s_axis_x_t{s}" for s in ("data", "valid", "ready", "last", "user")}
    want |= {f"m_axis_y_t{s}" for s in ("data", "valid", "ready", "last")}
    want |= {f"s_axis_load_t{s}" for s in ("data", "valid", "ready", "last")}
    assert ports == want                                  # no clk / rst of Amaranth's own
    table = top.port_table()
    assert {row["name"] for row in table} == want
    widths = {row["name"]: row["width"] for row in table}
    # Two lanes of 16 bits; the load word padded to whole bytes.
    assert widths["s_axis_x_tdata"] == widths["m_axis_y_tdata"] == 32
    assert widths["s_axis_x_tuser"] == 2
    assert widths["s_axis_load_tdata"] == 8 * byte_width(top.params.load_layout.size)
    assert 0 <= widths["s_axis_load_tdata"] - top.params.load_layout.size < 8
    described = json.loads(json.dumps(top.to_dict()))
    assert described["ports"] == table and described["baked"] is False
    assert described["tdata_bits"] == axis_tdata_bits(top.params) == {
        "s_axis_x": 32, "m_axis_y": 32, "s_axis_load": widths["s_axis_load_tdata"]}
    for row in table:
        assert row["direction"] in ("in", "out") and row["role"]
        assert (row["interface"] is None) == (row["name"] in
                                             {"aclk", "aresetn", "frame_done", "busy",
                                              "x_tlast_error"})


def test_load_stream_bytes_is_one_padded_word_per_beat(model):
    params = ChannelParams.for_model(model)
    blob = model_load_bytes(params, model)
    n_bytes = byte_width(params.load_layout.size)
    rows = load_words(channel_images(model))
    assert len(blob) == len(rows) * n_bytes
    assert _beats(blob, n_bytes) == pack_load_words(params.load_layout, rows)
    # Little-endian: the first byte holds the first word's low bits (its target field).
    first = params.load_layout.from_bits(_beats(blob, n_bytes)[0])
    assert (first.target.value, first.pe, first.addr) == tuple(rows[0][:3])
    assert blob[0] & 0b11 == rows[0][0]                     # target: the low bits


def test_load_stream_bytes_refuses_images_that_do_not_fit(model):
    images = channel_images(model)
    small = ChannelParams.for_model(model, entry_depth=1)
    with pytest.raises(ValueError, match="entry_depth = 1"):
        load_stream_bytes(small, images)
    other = ChannelParams.for_model(_model(n_pe=3))
    with pytest.raises(ValueError, match="images are for 2 PEs"):
        load_stream_bytes(other, images)
    # Q formats are not in the images: a model with other formats would load and run
    # wrong, so the model-level helper refuses it.
    params = ChannelParams.for_model(model)
    other_formats = _model(seed=2)
    assert dict(other_formats.qformats) != dict(model.qformats)
    with pytest.raises(ValueError, match="Q formats"):
        model_load_bytes(params, other_formats)


def test_bad_fifo_depth(model):
    params = ChannelParams.for_model(model)
    with pytest.raises(ValueError, match="y_fifo_depth"):
        AxisTop(params=params, y_fifo_depth=0)
    with pytest.raises(TypeError, match="ChannelParams"):
        AxisTop(params={"n_pe": 2})


# --------------------------------------------------------------------------------------
# Frames.

def test_loaded_frames_bit_exact_under_stalls_on_every_stream(model):
    g = GoldenModel(model)
    x_q = _frames(g, 2, 8, seed=3)
    resets = np.zeros((8, 2), bool)
    resets[5, 1] = True                                   # lane 1 restarts at frame 5
    top = AxisTop.for_model(model, n_channels=2)
    bench = Bench(top, seed=4, x_idle=0.3, y_stall=0.5, load_idle=0.3)
    n_out = 8 * SHAPE[2]

    async def host(ctx):
        await bench.load(ctx, model_load_bytes(top.params, model))
        await bench.send_x(ctx, x_q, resets=resets)

    async def consumer(ctx):
        await bench.take_y(ctx, n_out)
        for _ in range(40):                               # nothing more may come out
            _, _, valid = await ctx.tick("axi").sample(top.m_axis_y_tvalid)
            assert not valid

    _simulate(top, host, consumer, bench=bench)
    np.testing.assert_array_equal(bench.y_values(8), g.run_channels(x_q, resets))
    bench.check_tlast()
    assert len(bench.done) == 8
    assert bench.tlast_error_at is None


def test_the_top_adds_no_cycles_to_the_channel(model):
    """Without stalls every frame completes on the cycle model's cycle: the AXI ports
    and the y FIFO add no latency to a step (``frame_cycles`` holds for the top)."""
    g = GoldenModel(model)
    x_q = _frames(g, 2, 6, seed=5)
    top = AxisTop.for_model(model, n_channels=2, bake=True)
    bench = Bench(top, seed=5)

    async def host(ctx):
        await bench.send_x(ctx, x_q)

    async def consumer(ctx):
        await bench.take_y(ctx, 6 * SHAPE[2])

    _simulate(top, host, consumer, bench=bench)
    np.testing.assert_array_equal(bench.y_values(6), g.run_channels(x_q))
    want = channel_cycles(model, x_q, queue_depth=top.params.queue_depth)["frame_done"]
    np.testing.assert_array_equal(np.diff(bench.done), np.diff(want))


@pytest.mark.parametrize("depth", [4, 6, 12, 13])
def test_y_fifo_lets_the_datapath_run_while_the_consumer_pauses(model, depth):
    """With the consumer paused, frame ``k`` completes only once the outputs of frames
    ``0 .. k-1`` all fit the FIFO: ``1 + depth // P`` frames complete, no more."""
    g = GoldenModel(model)
    n_frames, n_proj = 5, SHAPE[2]
    x_q = _frames(g, 1, n_frames, seed=6)
    top = AxisTop.for_model(model, y_fifo_depth=depth, bake=True)
    bench = Bench(top, seed=7)
    paused = {}

    async def host(ctx):
        await bench.send_x(ctx, x_q)

    async def consumer(ctx):
        ctx.set(top.m_axis_y_tready, 0)
        await ctx.tick("axi").repeat(3000)                # far longer than 5 frames take
        paused["done"] = len(bench.done)
        await bench.take_y(ctx, n_frames * n_proj)

    _simulate(top, host, consumer, bench=bench)
    assert paused["done"] == min(n_frames, 1 + depth // n_proj)
    np.testing.assert_array_equal(bench.y_values(n_frames), g.run_channels(x_q))
    bench.check_tlast()
    assert len(bench.done) == n_frames


def test_x_tlast_is_checked_not_obeyed(model):
    """Frames are counted: a missing and an early TLAST change nothing in y, but raise
    ``x_tlast_error`` on the first bad beat, and it stays high."""
    g = GoldenModel(model)
    n_in = SHAPE[0]
    x_q = _frames(g, 1, 4, seed=8)
    tlast = np.zeros((4, n_in), int)
    tlast[:, -1] = 1
    tlast[2, -1] = 0                                      # frame 2: TLAST missing
    tlast[3, 3] = 1                                       # frame 3: an early TLAST as well
    top = AxisTop.for_model(model, bake=True)
    clocked = _Clocked(top)
    bench = Bench(top, seed=9)
    taken = {}

    async def host(ctx):
        await bench.send_x(ctx, x_q[:, :2])
        taken["good"] = (bench.cycle, bench.tlast_error_at)
        await bench.send_x(ctx, x_q[:, 2:], tlast=tlast[2:])

    async def consumer(ctx):
        await bench.take_y(ctx, 4 * SHAPE[2])
        await ctx.tick("axi").repeat(20)
        taken["held"] = ctx.get(top.x_tlast_error)
        ctx.set(clocked.axi.rst, 1)                       # aresetn low for two edges
        await ctx.delay(2e-8)
        ctx.set(clocked.axi.rst, 0)
        await ctx.tick("axi")
        taken["after_reset"] = ctx.get(top.x_tlast_error)

    _simulate(top, host, consumer, bench=bench, clocked=clocked)
    np.testing.assert_array_equal(bench.y_values(4), g.run_channels(x_q))
    assert taken["good"][1] is None                       # correct frames: no error
    assert bench.tlast_error_at is not None and bench.tlast_error_at > taken["good"][0]
    assert taken["held"] == 1 and taken["after_reset"] == 0


def test_second_model_loaded_at_run_time(model):
    """Model A, its frames; then model B through s_axis_load while x is already
    offered: no frame runs until B's TLAST, and B's frames (TUSER resets the lanes on
    the first) equal B's golden outputs."""
    model_b = _model(seed=3)                              # same Q formats as seed 1
    depth = max(model_entry_depth(model), model_entry_depth(model_b))
    params = ChannelParams.for_model(model, n_channels=2, entry_depth=depth)
    top = AxisTop(params=params)
    ga, gb = GoldenModel(model), GoldenModel(model_b)
    xa, xb = _frames(ga, 2, 3, seed=10), _frames(gb, 2, 3, seed=11)
    resets_b = np.zeros((3, 2), bool)
    resets_b[0] = True
    bench = Bench(top, seed=12, x_idle=0.2, y_stall=0.3, load_idle=0.5)
    n_out = 3 * SHAPE[2]
    marks = {}

    async def loader(ctx):
        await bench.load(ctx, model_load_bytes(params, model))
        await ctx.tick("axi").until(top.s_axis_x_tready)   # frames of A may start
        marks["a_loaded"] = True
        while len(bench.y) < n_out:
            await ctx.tick("axi")
        bench.load_started = False
        await bench.load(ctx, model_load_bytes(params, model_b))
        marks["b_loaded"] = bench.cycle
        marks["done_before_b"] = len(bench.done)

    async def host(ctx):
        while "a_loaded" not in marks:
            await ctx.tick("axi")
        await bench.send_x(ctx, xa)
        while not bench.load_started or len(bench.y) < n_out:
            await ctx.tick("axi")
        await bench.send_x(ctx, xb, resets=resets_b)      # offered while B loads

    async def consumer(ctx):
        await bench.take_y(ctx, 2 * n_out)

    _simulate(top, loader, host, consumer, bench=bench)
    y = bench.y_values(6)
    np.testing.assert_array_equal(y[:, :3], ga.run_channels(xa))
    np.testing.assert_array_equal(y[:, 3:], gb.run_channels(xb))
    assert marks["done_before_b"] == 3                    # no frame of B ran during its load
    assert all(c > marks["b_loaded"] for c in bench.done[3:])
    bench.check_tlast()
