"""The load path: the host's payload packer (model.loadstream, pure numpy) == Amaranth's
own constants of the checker's layout, both made from one field list; loadable memories;
the checked load stream (header, length, CRC-32) on the host and in the LoadChecker."""

import binascii
import zlib

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Elaboratable, Module, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from ese_hw.gateware.load import (
    LOAD_CRC,
    LoadChecker,
    LoadError,
    LoadTarget,
    load_layout,
    loadable_memory,
    pack_fields,
    route_load,
    stack_load_layout,
    write_layout,
)
from ese_hw.model import images
from ese_hw.model.loadstream import (
    LOAD_MAGIC,
    LOAD_VERSION,
    frame_load_stream,
    load_word_fields,
    pack_load_words,
    split_beats,
    stream_crc,
)


def _const(layout, row):
    return layout.const(row).as_value().value


def test_targets_are_the_model_codes():
    assert [t.value for t in LoadTarget] == [images.LOAD_ENTRY, images.LOAD_PTR,
                                             images.LOAD_BIAS, images.LOAD_PEEP]


@pytest.mark.parametrize("pe_bits, addr_bits, data_bits", [(1, 1, 1), (5, 12, 48), (6, 13, 62)])
def test_load_words_match_layout_constants(pe_bits, addr_bits, data_bits):
    rng = np.random.default_rng(pe_bits * 100 + data_bits)
    fields = load_word_fields(pe_bits, addr_bits, data_bits)
    layout = load_layout(pe_bits, addr_bits, data_bits)
    assert [(name, f.width) for name, f in layout] == list(fields)
    k = 300
    rows = np.stack([
        np.arange(k) % len(LoadTarget),                       # every target
        rng.integers(0, 1 << pe_bits, k),
        rng.integers(0, 1 << addr_bits, k),
        rng.integers(-(1 << 62), 1 << 62, k),                 # negative biases too
    ], axis=1)
    rows[:4, 3] = [-1, 0, (1 << data_bits) - 1, -(1 << (data_bits - 1))]
    mask = (1 << data_bits) - 1
    want = [_const(layout, {"target": LoadTarget(int(t)), "pe": int(p), "addr": int(a),
                            "data": int(d) & mask}) for t, p, a, d in rows]
    assert pack_load_words(fields, rows) == want


@pytest.mark.parametrize("layer_bits", [0, 1, 3])
def test_stack_word_layout_is_the_packers_fields(layer_bits):
    """The checker's layout of a stack's word and the packer's fields are one list: a
    ``layer`` field after ``target`` (none for one layer), offsets in order."""
    fields = load_word_fields(2, 5, 40, layer_bits)
    layout = stack_load_layout(layer_bits, 2, 5, 40)
    assert [(name, f.width) for name, f in layout] == list(fields)
    assert [name for name, _ in fields] == (["target", "layer"] if layer_bits else
                                            ["target"]) + ["pe", "addr", "data"]
    assert layout.size == sum(width for _, width in fields)


def test_load_words_refuse_fields_that_do_not_fit():
    fields = load_word_fields(2, 3, 8)
    pack_load_words(fields, [[3, 3, 7, -5]])
    for bad in ([0, 4, 0, 0], [0, 0, 8, 0], [0, -1, 0, 0]):
        with pytest.raises(ValueError, match="pe|addr"):
            pack_load_words(fields, [bad])
    assert pack_load_words(fields, np.zeros((0, 4), np.int64)) == []


def test_pack_fields_arrays_and_nested_structs():
    # The shape of a channel's x word: one signed value per lane and a reset mask.
    rng = np.random.default_rng(7)
    lanes, act_bits, k = 5, 13, 50
    layout = data.StructLayout({
        "x": data.ArrayLayout(signed(act_bits), lanes),
        "reset": unsigned(lanes),
        "tag": data.StructLayout({"proj": 1, "n": signed(3)}),
    })
    x = rng.integers(-(1 << (act_bits - 1)), 1 << (act_bits - 1), (k, lanes))
    reset = rng.integers(0, 1 << lanes, k)
    n = rng.integers(-4, 4, k)
    got = pack_fields(layout, x=x, reset=reset, tag={"proj": np.ones(k, int), "n": n})
    want = [_const(layout, {"x": [int(v) for v in x[i]], "reset": int(reset[i]),
                            "tag": {"proj": 1, "n": int(n[i])}}) for i in range(k)]
    assert got == want
    # Fields left out are zero.
    assert pack_fields(layout, reset=reset) == [int(r) << layout["reset"].offset
                                                for r in reset]


def test_pack_fields_checks_its_columns():
    layout = write_layout(4, 8)
    with pytest.raises(ValueError, match="no field"):
        pack_fields(layout, addr=[1], value=[2])
    with pytest.raises(ValueError, match="same number of rows"):
        pack_fields(layout, addr=[1, 2], data=[3])
    with pytest.raises(ValueError, match="64"):
        pack_fields(data.StructLayout({"wide": unsigned(65)}), wide=[1])


class _TwoMemories(wiring.Component):
    """Two loadable memories behind one load stream (what a PE does), one read port each."""

    def __init__(self, depth, init):
        self._depth, self._init = depth, init
        super().__init__({
            "load": In(stream.Signature(load_layout(1, 3, 16))),
            "rd_addr": In(range(depth)),
            "rd_entry": Out(unsigned(10)),
            "rd_bias": Out(signed(16)),
        })

    def elaborate(self, platform):
        m = Module()
        ports = {}
        for target, shape in ((LoadTarget.ENTRY, unsigned(10)), (LoadTarget.BIAS, signed(16))):
            port = stream.Signature(write_layout(3, 16), always_ready=True).create()
            mem = loadable_memory(m, target.name.lower(), shape=shape, depth=self._depth,
                                  init=self._init.get(target), load=port)
            rd = mem.read_port(domain="comb")
            m.d.comb += [rd.addr.eq(self.rd_addr),
                         (self.rd_entry if target == LoadTarget.ENTRY else self.rd_bias)
                         .eq(rd.data)]
            ports[target] = port
        m.d.comb += self.load.ready.eq(1)
        route_load(m, self.load.payload, self.load.valid & (self.load.payload.pe == 1), ports)
        return m


def test_loadable_memory_in_simulation():
    rng = np.random.default_rng(3)
    depth = 8
    entry_init = [int(v) for v in rng.integers(0, 1024, depth)]
    dut = _TwoMemories(depth, {LoadTarget.ENTRY: entry_init})
    bias = rng.integers(-(1 << 15), 1 << 15, depth)
    rows = [[LoadTarget.BIAS.value, 1, a, int(b)] for a, b in enumerate(bias)]
    rows += [[LoadTarget.ENTRY.value, 0, 2, 5]]            # another PE's word: ignored
    rows += [[LoadTarget.ENTRY.value, 1, 6, 1023 + 1024]]   # truncated to 10 bits
    words = pack_load_words([(n, f.width) for n, f in dut.load.payload.shape()], rows)
    seen = []

    async def bench(ctx):
        for a in range(depth):
            ctx.set(dut.rd_addr, a)
            assert ctx.get(dut.rd_bias) == 0               # no init: zeros
        for w in words:
            ctx.set(dut.load.valid, 1)
            ctx.set(dut.load.payload.as_value(), w)
            await ctx.tick()
        ctx.set(dut.load.valid, 0)
        for a in range(depth):
            ctx.set(dut.rd_addr, a)
            seen.append((ctx.get(dut.rd_entry), ctx.get(dut.rd_bias)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    want_entry = list(entry_init)
    want_entry[6] = 1023
    assert seen == list(zip(want_entry, bias.tolist(), strict=True))


# --------------------------------------------------------------------------------------
# The checked load stream: header, length and CRC-32 (LoadChecker), host framing.

_WORD = load_layout(2, 4, 26)          # 34 bits: 5 bytes per beat, 6 pad bits
_CONFIG = 0x9E3779B9
_MAX = 12


def _good(payload):
    return frame_load_stream(payload, config=_CONFIG, word_bits=_WORD.size)


def _payload(rng, n):
    return [int(v) for v in rng.integers(0, 1 << _WORD.size, n)]


def test_stream_crc_is_zlibs_crc32_of_the_beat_bytes():
    rng = np.random.default_rng(20)
    words = _payload(rng, 9)
    blob = b"".join(w.to_bytes(5, "little") for w in words)
    assert stream_crc(words, _WORD.size) == zlib.crc32(blob) == binascii.crc32(blob)
    # The gateware's processor (Amaranth's CRC-32 catalogue entry, 40-bit words) agrees.
    assert LOAD_CRC(40).compute(words) == zlib.crc32(blob)
    framed = _good(words)
    assert framed[:4] == [LOAD_MAGIC, LOAD_VERSION, _CONFIG, 9] and framed[4:-1] == words
    assert framed[-1] == stream_crc(framed[:-1], _WORD.size)
    assert LOAD_MAGIC.to_bytes(4, "little") == b"ESEL"
    assert split_beats(b"".join(w.to_bytes(5, "little") for w in framed), _WORD.size) == framed
    with pytest.raises(ValueError, match="whole beats of 5"):
        split_beats(b"\0" * 7, _WORD.size)


def _corrupt(kind, rng):
    """A stream with one defect, the error it must give, and the payload words the
    checker may pass on before it sees the defect."""
    payload = _payload(rng, 6)
    s = _good(payload)
    if kind == "magic":
        return [s[0] ^ 1 << 33] + s[1:], LoadError.MAGIC, []     # a bit above the 32
    if kind == "version":
        return [s[0], 2] + s[2:], LoadError.VERSION, []
    if kind == "config":
        return s[:2] + [_CONFIG ^ 0x100] + s[3:], LoadError.CONFIG, []
    if kind == "too_long":                                      # more than the memories hold
        return s[:3] + [_MAX + 1] + s[4:], LoadError.LENGTH, []
    if kind == "header_cut":                                    # last on the version beat
        return s[:2], LoadError.LENGTH, []
    if kind == "early":                                         # last on payload word 4
        return s[:8], LoadError.LENGTH, payload[:3]
    if kind == "late":                                          # a word more than announced
        return s[:3] + [5] + s[4:], LoadError.LENGTH, payload[:5]
    if kind == "checksum":
        s[6] ^= 1 << 20
        return s, LoadError.CHECKSUM, payload[:2] + [payload[2] ^ 1 << 20] + payload[3:]
    raise AssertionError(kind)


KINDS = ("magic", "version", "config", "too_long", "header_cut", "early", "late", "checksum")


def _run_checker(streams, *, preloaded=False, idle=0.3, seed=0):
    """Send ``streams`` (lists of words; last on each one's final beat) through a
    LoadChecker with seeded idle cycles; after each, record (loaded, loading, error)
    and the words passed on. A beat is checked, and its word passed on, the cycle after
    it arrives."""
    dut = LoadChecker(word_layout=_WORD, config=_CONFIG, max_words=_MAX,
                      preloaded=preloaded)
    rng = np.random.default_rng(seed)
    out = {"status": [], "words": [], "first": None}

    async def monitor(ctx):
        async for _, _, valid, word in ctx.tick().sample(dut.words.valid, dut.words.payload):
            if valid:
                out["words"][-1].append(word.as_value().value)

    async def bench(ctx):
        out["first"] = (ctx.get(dut.loaded), ctx.get(dut.loading), ctx.get(dut.error))
        for stream_ in streams:
            out["words"].append([])
            for k, w in enumerate(stream_):
                while rng.random() < idle:
                    await ctx.tick()
                ctx.set(dut.beats.valid, 1)
                ctx.set(dut.beats.payload, {"word": _WORD.from_bits(w),
                                            "last": int(k == len(stream_) - 1)})
                await ctx.tick()
                ctx.set(dut.beats.valid, 0)
                if k == 0:
                    assert ctx.get(dut.loading)             # the beat waits to be checked
                    await ctx.tick()
                    assert ctx.get(dut.loading) == (len(stream_) > 1)
                    assert not ctx.get(dut.loaded)
            await ctx.tick()                                # the last beat is checked
            out["status"].append((ctx.get(dut.loaded), ctx.get(dut.loading),
                                  ctx.get(dut.error)))
            await ctx.tick()                                # its word is seen

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(bench)
    sim.run()
    return out


def test_checker_passes_a_good_stream_and_refuses_each_defect():
    """Every defect, each followed by a good stream: the code names the defect, nothing
    is loaded, no word is passed on after a header that did not match; the next good
    stream loads, its words all passed on, whatever the stream before it left behind."""
    rng = np.random.default_rng(21)
    streams, want = [], []
    for kind in KINDS:
        bad, code, passed = _corrupt(kind, rng)
        good = _payload(rng, int(rng.integers(0, _MAX + 1)))
        streams += [bad, _good(good)]
        want += [((0, 0, code), passed), ((1, 0, LoadError.NONE), good)]
    streams.append(_good([]))                                  # an empty payload loads too
    want.append(((1, 0, LoadError.NONE), []))
    out = _run_checker(streams)
    assert out["first"] == (0, 0, LoadError.NONE)
    for k, (status, words) in enumerate(want):
        assert out["status"][k] == status, (k, streams[k][:4])
        assert out["words"][k] == words, k


def test_checker_preloaded_counts_as_loaded_until_a_stream_starts():
    rng = np.random.default_rng(22)
    bad, code, _ = _corrupt("checksum", rng)
    out = _run_checker([bad, _good(_payload(rng, 3))], preloaded=True, idle=0.0)
    assert out["first"] == (1, 0, LoadError.NONE)
    assert out["status"] == [(0, 0, code), (1, 0, LoadError.NONE)]


def test_checker_refuses_words_too_narrow_for_the_header():
    with pytest.raises(ValueError, match="31 bits"):
        LoadChecker(word_layout=load_layout(1, 1, 27), config=0, max_words=1)
    with pytest.raises(ValueError, match="config"):
        LoadChecker(word_layout=_WORD, config=1 << 32, max_words=1)


class _WithReset(Elaboratable):
    """A LoadChecker in a ``sync`` domain whose reset the testbench drives."""

    def __init__(self, **kw):
        self.dut = LoadChecker(word_layout=_WORD, config=_CONFIG, max_words=_MAX, **kw)
        self.sync = ClockDomain("sync")

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.sync
        m.submodules.dut = self.dut
        return m


@pytest.mark.parametrize("preloaded", [False, True])
def test_checker_reset_cuts_a_stream_but_keeps_a_loaded_model(preloaded):
    """A reset between streams keeps ``loaded`` (like the memories); one in the middle of
    a stream leaves it low (the stream meant to replace the model) and the checker
    expects a new stream; the next good stream loads."""
    rng = np.random.default_rng(23)
    top = _WithReset(preloaded=preloaded)
    dut = top.dut
    good = _good(_payload(rng, 5))
    seen = []

    async def send(ctx, words, last=True):
        for k, w in enumerate(words):
            ctx.set(dut.beats.valid, 1)
            ctx.set(dut.beats.payload, {"word": _WORD.from_bits(w),
                                        "last": int(last and k == len(words) - 1)})
            await ctx.tick()
        ctx.set(dut.beats.valid, 0)
        await ctx.tick()                        # the last beat is checked a cycle later

    async def reset(ctx):
        ctx.set(top.sync.rst, 1)
        await ctx.tick()
        ctx.set(top.sync.rst, 0)
        seen.append((ctx.get(dut.loaded), ctx.get(dut.loading), ctx.get(dut.error)))

    async def bench(ctx):
        await reset(ctx)                                   # before any stream
        await send(ctx, good[:6], last=False)              # cut after 2 payload words
        await reset(ctx)
        await send(ctx, good)
        await reset(ctx)                                   # between streams
        bad, _, _ = _corrupt("config", rng)
        await send(ctx, bad[:3], last=False)
        seen.append((ctx.get(dut.loaded), ctx.get(dut.loading), ctx.get(dut.error)))
        await reset(ctx)                                   # in a refused stream's drain

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    none = LoadError.NONE
    assert seen == [(int(preloaded), 0, none), (0, 0, none), (1, 0, none),
                    (0, 1, LoadError.CONFIG), (0, 0, none)]
