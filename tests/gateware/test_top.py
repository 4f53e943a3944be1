"""The AXI4-Stream top in Amaranth's simulator: ports, load.bin, frames bit-exact under
stalls, the y FIFO absorbing a paused consumer, TLAST handling, a second model at run time."""

import json
import re
import zlib

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Module, ResetSignal
from amaranth.sim import Simulator

from ese_hw.gateware.load import LoadError
from ese_hw.gateware.params import ChannelParams
from ese_hw.gateware.top import AxisTop, axis_tdata_bits, x_stream_bytes, y_from_stream_bytes
from ese_hw.model.compress import Config, compress
from ese_hw.model.cycles import channel_cycles
from ese_hw.model.golden import GoldenModel
from ese_hw.model.images import channel_images, load_words, model_entry_depth
from ese_hw.model.loadstream import (
    HEADER_FIELDS,
    LOAD_MAGIC,
    LOAD_VERSION,
    byte_width,
    load_config,
    load_stream_bytes,
    model_load_bytes,
    pack_load_words,
)
from ese_hw.model.lstmp import random_weights
from ese_hw.model.timing import Timing
from ese_hw.simulation.runner import generate_verilog
from ese_hw.simulation.testbenches.tb_top import refused_load_streams

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
        self.x_taken = []                 # cycles of x transfers

    async def recorder(self, ctx):
        t = self.top
        async for _, _, done, err, xv, xr in ctx.tick("axi").sample(
                t.frame_done, t.x_tlast_error, t.s_axis_x_tvalid, t.s_axis_x_tready):
            self.cycle += 1
            if done:
                self.done.append(self.cycle)
            if err and self.tlast_error_at is None:
                self.tlast_error_at = self.cycle
            if xv and xr:
                self.x_taken.append(self.cycle)

    def status(self, ctx):
        t = self.top
        return ctx.get(t.loaded), ctx.get(t.loading), ctx.get(t.load_error)

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
    status = {"frame_done", "busy", "x_tlast_error", "loaded", "loading", "load_error"}
    want = {"aclk", "aresetn"} | status
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
    assert widths["load_error"] == 3 and widths["loaded"] == widths["loading"] == 1
    assert widths["s_axis_load_tdata"] == 8 * byte_width(top.params.load_layout.size)
    assert 0 <= widths["s_axis_load_tdata"] - top.params.load_layout.size < 8
    described = json.loads(json.dumps(top.to_dict()))
    assert described["ports"] == table and described["baked"] is False
    assert described["tdata_bits"] == axis_tdata_bits(top.params) == {
        "s_axis_x": 32, "m_axis_y": 32, "s_axis_load": widths["s_axis_load_tdata"]}
    for row in table:
        assert row["direction"] in ("in", "out") and row["role"]
        assert (row["interface"] is None) == (row["name"] in {"aclk", "aresetn"} | status)


def test_load_stream_bytes_is_header_padded_words_and_crc(model):
    """load.bin: 4 header beats (magic, version, configuration, length), one padded word
    per beat, and zlib's CRC-32 of everything before it: 5 beats more than the words."""
    params = ChannelParams.for_model(model)
    blob = model_load_bytes(params, model)
    n_bytes = byte_width(params.load_layout.size)
    rows = load_words(channel_images(model))
    assert len(blob) == (len(HEADER_FIELDS) + len(rows) + 1) * n_bytes
    beats = _beats(blob, n_bytes)
    assert blob[:4] == b"ESEL" and not any(blob[4:n_bytes])
    assert beats[:4] == [LOAD_MAGIC, LOAD_VERSION, params.load_config, len(rows)]
    assert beats[4:-1] == pack_load_words(params.load_fields, rows)
    assert beats[-1] == zlib.crc32(blob[:-n_bytes])
    # Little-endian: the first payload beat's first byte holds its low bits (the target).
    first = params.load_layout.from_bits(beats[4])
    assert (first.target.value, first.pe, first.addr) == tuple(rows[0][:3])
    assert blob[4 * n_bytes] & 0b11 == rows[0][0]


def test_load_config_names_the_layout_not_the_lanes(model):
    """The configuration hash changes with what the words mean (PE count, entry depth,
    broadcast grouping, Q formats) and not with what they do not (lanes, queue depth,
    cell sharing, timing): one load.bin serves those channels alike."""
    params = ChannelParams.for_model(model)
    same = [ChannelParams.for_model(model, n_channels=3, queue_depth=2, ew_share=2,
                                    timing=Timing(y_write_stages=2))]
    other = [ChannelParams.for_model(model, entry_depth=params.entry_depth + 1),
             ChannelParams.for_model(model, broadcast=2),
             ChannelParams.for_model(_model(n_pe=3)),
             ChannelParams.for_model(_model(seed=2))]       # other Q formats
    assert all(p.load_config == params.load_config for p in same)
    assert len({p.load_config for p in [params, *other]}) == 1 + len(other)
    assert params.load_config == load_config(params) < 1 << 32


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


# --------------------------------------------------------------------------------------
# The checked load path: refused streams, resets in a load and in a frame.

def _bad_loads(params, model):
    """The refused streams of :func:`ese_hw.simulation.testbenches.tb_top.refused_load_streams` for
    ``model``,
    the configuration case a real load.bin for another PE count."""
    other = _model(n_pe=3)
    other_bytes = model_load_bytes(ChannelParams.for_model(other, n_channels=2), other)
    bad = refused_load_streams(params, model_load_bytes(params, model), other=other_bytes)
    assert len(other_bytes) % byte_width(params.load_layout.size) == 0
    return bad


def test_refused_loads_hold_frames_off_until_a_good_one(model):
    """Frames offered from reset on; before them every defect of the load stream, each
    refused with its code and ``loaded`` low, with stalls on every stream. No x beat is
    taken until the good load's TLAST; then the frames equal the golden model's (the
    checksum case had written a corrupted word: the good load rewrote it)."""
    params = ChannelParams.for_model(model, n_channels=2)
    top = AxisTop(params=params)
    g = GoldenModel(model)
    x_q = _frames(g, 2, 3, seed=13)
    bench = Bench(top, seed=14, x_idle=0.2, y_stall=0.3, load_idle=0.2)
    bad = _bad_loads(params, model)
    seen = {}

    async def loader(ctx):
        seen["reset"] = bench.status(ctx)
        for name, blob, _ in bad:
            await bench.load(ctx, blob)
            await ctx.tick("axi")
            seen[name] = bench.status(ctx)
        await bench.load(ctx, model_load_bytes(params, model))
        seen["good_at"] = bench.cycle
        await ctx.tick("axi")
        seen["good"] = bench.status(ctx)

    async def host(ctx):
        await bench.send_x(ctx, x_q)

    async def consumer(ctx):
        await bench.take_y(ctx, 3 * SHAPE[2])

    _simulate(top, loader, host, consumer, bench=bench)
    assert seen["reset"] == (0, 0, LoadError.NONE)
    for name, _, code in bad:
        assert seen[name] == (0, 0, code), name
    assert seen["good"] == (1, 0, LoadError.NONE)
    assert min(bench.x_taken) > seen["good_at"]
    np.testing.assert_array_equal(bench.y_values(3), g.run_channels(x_q))
    bench.check_tlast()


@pytest.mark.parametrize("bake", [False, True])
def test_resets_in_a_load_and_in_a_frame(model, bake):
    """``aresetn`` in the middle of a frame's step: the lanes restart from zero state and
    the loaded model stays loaded (the memories keep it), so the next frames run without
    a reload; ``aresetn`` in the middle of a load stream: nothing is loaded, x is held
    off, and after a good load the next frames are bit-exact again."""
    params = ChannelParams.for_model(model, n_channels=2)
    top = AxisTop(params=params, model=model if bake else None)
    clocked = _Clocked(top)
    g = GoldenModel(model)
    x_q = _frames(g, 2, 6, seed=15)
    n_proj = SHAPE[2]
    blob = model_load_bytes(params, model)
    bench = Bench(top, seed=16, x_idle=0.2, load_idle=0.2)
    seen = {}

    async def reset(ctx):
        ctx.set(clocked.axi.rst, 1)
        await ctx.tick("axi")
        ctx.set(clocked.axi.rst, 0)
        return bench.status(ctx)

    async def host(ctx):
        if not bake:
            await bench.load(ctx, blob)
        await bench.send_x(ctx, x_q[:, :2])                # frames 0-1: their y all out
        while len(bench.y) < 2 * n_proj:
            await ctx.tick("axi")
        await bench.send_x(ctx, x_q[:, 2:3])               # frame 2: reset mid-step
        await ctx.tick("axi").repeat(5)
        seen["frame_done_before"] = len(bench.done)
        seen["mid_frame"] = await reset(ctx)
        await bench.send_x(ctx, x_q[:, 3:4])               # frame 3 from zero state
        while len(bench.y) < 3 * n_proj:
            await ctx.tick("axi")
        blob_half = blob[:len(blob) // 2]
        bench.load_started = False
        for word in _beats(blob_half, top.load_tdata_bits // 8):
            await _put(ctx, top, "load", word)
        seen["mid_load"] = await reset(ctx)
        taken = len(bench.x_taken)
        offer = ctx.tick("axi")
        ctx.set(top.s_axis_x_tvalid, 1)                    # an x beat offered: refused
        await offer.repeat(50)
        ctx.set(top.s_axis_x_tvalid, 0)
        seen["refused"] = len(bench.x_taken) == taken
        await bench.load(ctx, blob)
        await ctx.tick("axi")
        seen["reloaded"] = bench.status(ctx)
        await bench.send_x(ctx, x_q[:, 4:])                # zero state: reset, no TUSER

    async def consumer(ctx):
        await bench.take_y(ctx, 5 * n_proj)
        await ctx.tick("axi").repeat(40)
        seen["extra_y"] = ctx.get(top.m_axis_y_tvalid)

    _simulate(top, host, consumer, bench=bench, clocked=clocked)
    assert seen["frame_done_before"] == 2                  # frame 2 was cut in its step
    assert seen["mid_frame"] == (1, 0, LoadError.NONE)
    assert seen["mid_load"] == (0, 0, LoadError.NONE) and seen["refused"]
    assert seen["reloaded"] == (1, 0, LoadError.NONE)
    y = bench.y_values(5)
    want = g.run_channels(x_q)
    np.testing.assert_array_equal(y[:, :2], want[:, :2])
    np.testing.assert_array_equal(y[:, 2], g.run_channels(x_q[:, 3:4])[:, 0])
    np.testing.assert_array_equal(y[:, 3:], g.run_channels(x_q[:, 4:]))
    assert not seen["extra_y"]
    bench.check_tlast()
