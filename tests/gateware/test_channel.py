# amaranth: UnusedElaboratable=no
"""The channel in Amaranth's simulator: bit-exact frame after frame, cycle-exact with the model."""

import copy
import gc
import json
import pickle
import re
import warnings

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Fragment, UnusedElaboratable

from ese_hw.gateware.channel import Channel
from ese_hw.gateware.params import ChannelParams
from ese_hw.model.compress import Config, compress
from ese_hw.model.cycles import channel_cycles, frame_cycles
from ese_hw.model.golden import GoldenModel
from ese_hw.model.loadstream import load_config
from ese_hw.model.lstmp import random_weights
from ese_hw.model.timing import Timing
from tests.gateware.channel_bench import channel_load_payloads, run_channel


def _model(n_in, cells, proj, cfg, seed=0):
    return compress(random_weights(n_in, cells, proj, seed=seed), cfg)


def _elaborated(dut):
    """``dut`` after elaboration (a channel only inspected must still be used, or
    Amaranth warns when it is collected)."""
    Fragment.get(dut, None)
    return dut


@pytest.mark.parametrize("shape, cfg, c_n, depth", [
    ((12, 24, 8), Config(n_pe=4, density=0.3), 1, 8),
    ((16, 26, 10), Config(n_pe=4, density=0.25, index_bits=2), 2, 8),     # 26 cells / 4 PEs
    ((9, 20, 7), Config(n_pe=3, density=0.4, index_bits=3, balance="column"), 1, 2),
    ((8, 12, 6), Config(n_pe=1, density=1.0, weight_bits=8, act_bits=12, accum_bits=32,
                        index_bits=6, lut_bits=8), 3, 1),
    # Fewer projection rows than PEs (PEs 1-3 own none). More PEs than cells is refused
    # by pruning, since a PE owns whole cells (limits.check_pe_count).
    ((3, 4, 1), Config(n_pe=4, density=0.6), 1, 8),
])
def test_channel_equals_golden_and_cycle_model(shape, cfg, c_n, depth):
    model = _model(*shape, cfg)
    g = GoldenModel(model)
    rng = np.random.default_rng(sum(shape))
    x_q = np.stack([g.quantize_inputs(rng.standard_normal((8, shape[0]))) for _ in range(c_n)])
    dut = Channel.for_model(model, n_channels=c_n, queue_depth=depth, preload=True)
    y, done = run_channel(dut, x_q)
    np.testing.assert_array_equal(y, g.run_channels(x_q))
    model_done = channel_cycles(model, x_q, queue_depth=depth)["frame_done"]
    # Same cycle numbering (the producer starts at cycle 0): equal, not just close.
    np.testing.assert_array_equal(np.diff(done), np.diff(model_done))


def test_stalls_loads_and_reset_mid_sequence():
    model = _model(16, 64, 32, Config(n_pe=4, density=0.25))
    g = GoldenModel(model)
    rng = np.random.default_rng(7)
    x_q = np.stack([g.quantize_inputs(rng.standard_normal((10, 16)) * s) for s in (1.0, 2.0)])
    x_q[0, 3, :5] = 0                                   # some zero inputs
    resets = np.zeros((10, 2), bool)
    resets[6, 1] = True                                 # channel 1 restarts at frame 6
    resets[8, :] = True                                 # both restart at frame 8
    dut = Channel.for_model(model, n_channels=2, queue_depth=4)
    y, done = run_channel(dut, x_q, loads=channel_load_payloads(dut.params, model),
                          resets=resets, seed=11, x_idle=0.3, y_stall=0.4, load_idle=0.3)
    np.testing.assert_array_equal(y, g.run_channels(x_q, resets))
    # A restart equals a fresh start of the same frames.
    np.testing.assert_array_equal(y[1, 6:8], g.run_quantized(x_q[1, 6:8]))
    assert len(done) == 10


def test_zero_columns_are_skipped_only_when_zero_in_every_channel():
    model = _model(8, 16, 8, Config(n_pe=2, density=0.5))
    g = GoldenModel(model)
    x_q = np.zeros((2, 4, 8), np.int64)
    x_q[0, :, ::2] = 1000                               # channel 0: even columns
    x_q[1, :, 1::2] = -1000                             # channel 1: odd columns
    dut = Channel.for_model(model, n_channels=2, preload=True)
    y, done = run_channel(dut, x_q)
    np.testing.assert_array_equal(y, g.run_channels(x_q))
    np.testing.assert_array_equal(np.diff(done),
                                  np.diff(channel_cycles(model, x_q, queue_depth=8)["frame_done"]))


@pytest.mark.parametrize("ew_share, c_n, preload", [(1, 1, True), (2, 1, True), (4, 1, True),
                                                     (2, 2, False)])
def test_shared_cell_units(ew_share, c_n, preload):
    """G PEs per cell unit: bit-exact and frame_done equal to the cycle model (which
    counts G * C lanes per element-wise slot) on every frame, with stalls on x and y;
    the run-time load (no preload) routes each PE's peepholes to its unit."""
    model = _model(12, 24, 8, Config(n_pe=4, density=0.3))
    g = GoldenModel(model)
    rng = np.random.default_rng(ew_share + c_n)
    x_q = np.stack([g.quantize_inputs(rng.standard_normal((6, 12))) for _ in range(c_n)])
    dut = Channel.for_model(model, n_channels=c_n, ew_share=ew_share, queue_depth=4,
                            preload=preload)
    loads = () if preload else channel_load_payloads(dut.params, model)
    y, done = run_channel(dut, x_q, loads=loads, seed=ew_share, x_idle=0.3, y_stall=0.3,
                          load_idle=0.2)
    np.testing.assert_array_equal(y, g.run_channels(x_q))
    model_done = channel_cycles(model, x_q, queue_depth=4, ew_share=ew_share)["frame_done"]
    np.testing.assert_array_equal(np.diff(done), np.diff(model_done))
    if ew_share > 1:
        # Sharing costs cycles the model counts, so the comparison above could fail.
        alone = channel_cycles(model, x_q, queue_depth=4)["frame_done"]
        assert np.all(np.diff(model_done) > np.diff(alone))


@pytest.mark.parametrize("timing", [Timing(y_write_stages=2), Timing(y_write_stages=4),
                                    Timing(y_write_stages=1),
                                    Timing(ew_output_stages=2)])
def test_timing_has_one_source(timing):
    """Change a latency in Timing: the channel builds those registers, the cycle model
    counts them, and the two still agree cycle for cycle (and with golden, bit for bit)."""
    model = _model(2, 4, 16, Config(n_pe=2, density=0.2))   # y_t's read-out paces a step
    g = GoldenModel(model)
    rng = np.random.default_rng(3)
    x_q = np.stack([g.quantize_inputs(rng.standard_normal((6, 2))) for _ in range(2)])
    dut = Channel.for_model(model, n_channels=2, preload=True, timing=timing)
    y, done = run_channel(dut, x_q)
    np.testing.assert_array_equal(y, g.run_channels(x_q))
    model_done = channel_cycles(model, x_q, queue_depth=8, timing=timing)["frame_done"]
    # The bench counts the first clock edge as cycle 1; the model counts from 0.
    np.testing.assert_array_equal(np.asarray(done) - 1, model_done)
    # The change is visible in every frame's cycles, so the comparison could fail.
    default = channel_cycles(model, x_q, queue_depth=8)["frame_done"]
    assert np.all(np.diff(model_done) != np.diff(default))


def test_frame_cycles_counts_skipped_columns():
    model = _model(8, 16, 8, Config(n_pe=2, density=0.5))
    x = np.ones((1, 3, 8), np.int64)
    y = np.ones((1, 3, 8), np.int64)
    m = np.ones((1, 3, 16), np.int64)
    full = np.diff(frame_cycles(model, x, y, m, queue_depth=8))
    x[:, :, :] = 0
    none = np.diff(frame_cycles(model, x, y, m, queue_depth=8))
    assert np.all(none < full)                           # skipped x columns save cycles


BASE = dict(n_in=4, n_cells=8, n_proj=4, n_pe=2,
            qformats=dict(fw_g=1, fw_y=1, fp=1, fa=1, fc=1, fg=15), entry_depth=64)


@pytest.mark.parametrize("kw, message", [
    (dict(n_channels=0), "n_channels"),
    (dict(qformats={"fw_g": 1}), "qformats"),
    (dict(act_bits=16, qformats=dict(fw_g=1, fw_y=1, fp=1, fa=1, fc=1, fg=14)), "fg"),
    (dict(accum_bits=20), "accum_bits"),
    (dict(entry_depth=0), "entry_depth"),
    (dict(n_pe=2.0), "n_pe"),
    (dict(timing=(2, 0)), "timing"),
    (dict(qformats={**BASE["qformats"], "fx": 3}), "unknown format 'fx'"),
    (dict(qformats={**BASE["qformats"], "fa": 1.5}), r"qformats\['fa'\]"),
    (dict(ew_share=0), "ew_share"),
    (dict(ew_share=3), "ew_share = 3 must divide n_pe = 2"),
    (dict(ew_share="2"), "ew_share"),
])
def test_bad_parameters(kw, message):
    """ChannelParams refuses bad parameters, naming them; a Channel takes its parameters
    only as a ChannelParams, so it cannot be given them loose."""
    with pytest.raises((ValueError, TypeError), match=message):
        ChannelParams(**{**BASE, **kw})
    with pytest.raises(TypeError, match="missing a required argument: .params."):
        Channel(**{**BASE, **kw})


def test_channel_takes_a_channel_params():
    with pytest.raises(TypeError, match="^params must be a ChannelParams, not {'n_in'"):
        Channel(params=dict(BASE))
    with pytest.raises(TypeError, match="keyword arguments only"):
        Channel(ChannelParams(**BASE))
    assert Channel(params=ChannelParams(**BASE)).params == ChannelParams(**BASE)


@pytest.mark.parametrize("shape, cfg, c_n, depth, timing, sizes", [
    # sizes: cells_per_pe, proj_rows, n_cols, pe_bits, ptr_bits, load_addr_bits,
    # load_data_bits, ew_slot; stated here, not computed by the code under test.
    ((8, 16, 8), Config(n_pe=2, density=0.5), 2, 300, Timing(), (8, 4, 32, 1, 9, 9, 48, 7)),
    ((16, 26, 10), Config(n_pe=4, density=0.25, index_bits=2, weight_bits=8, act_bits=12,
                          accum_bits=32), 3, 100, Timing(y_write_stages=2),
     (7, 3, 52, 2, 7, 7, 32, 8)),
])
def test_params_sizes_are_the_channels(shape, cfg, c_n, depth, timing, sizes):
    model = _model(*shape, cfg)
    params = ChannelParams.for_model(model, n_channels=c_n, queue_depth=4, entry_depth=depth,
                                     timing=timing)
    dut = _elaborated(Channel.for_model(model, n_channels=c_n, queue_depth=4,
                                        entry_depth=depth, timing=timing))
    assert dut.params == params
    names = ("cells_per_pe", "proj_rows", "n_cols", "pe_bits", "ptr_bits", "load_addr_bits",
             "load_data_bits", "ew_slot")
    assert {k: getattr(params, k) for k in names} == dict(zip(names, sizes, strict=True))
    assert {k: getattr(dut, k) for k in names} == dict(zip(names, sizes, strict=True))
    # Without an entry depth, the memories fit the model's longest PE exactly.
    fitted = ChannelParams.for_model(model, n_channels=c_n)
    assert fitted.entry_depth == int((model.gate.entries_per_pe
                                      + model.ym.entries_per_pe).max())
    assert _elaborated(Channel.for_model(model, n_channels=c_n, preload=True)).params == fitted
    # The ports the channel really has are the params' layouts.
    assert dut.x.payload.shape() == params.x_layout
    assert dut.y.payload.shape() == params.y_layout
    assert dut.load.payload.shape() == params.load_beat_layout
    assert dut.load.payload.word.shape() == params.load_layout
    assert dut.signature == params.signature
    assert params.y_layout.size == c_n * cfg.act_bits


def _unused_warnings(make):
    """The "created but never used" warnings raised when ``make()``'s object is collected
    (Amaranth reports them once anything was elaborated, so something is first)."""
    Fragment.get(Channel(params=ChannelParams(**BASE)), None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make()
        gc.collect()
    return [w for w in caught if issubclass(w.category, UnusedElaboratable)]


def test_params_are_not_hardware():
    """Making, using and dropping a ChannelParams warns about nothing: no elaboratable
    is created behind it."""
    def use_params():
        params = ChannelParams(**BASE)
        params.to_dict()
        assert params.signature.members["x"].signature.members["payload"].shape == \
            params.x_layout

    assert _unused_warnings(use_params) == []
    assert not isinstance(ChannelParams(**BASE), Elaboratable)
    # Control: a channel made (in channel.py) and dropped is reported, so the check
    # above can fail.
    model = _model(8, 16, 8, Config(n_pe=2, density=0.5))
    assert len(_unused_warnings(lambda: Channel.for_model(model))) == 1


def test_params_to_dict_round_trips():
    model = _model(8, 16, 8, Config(n_pe=2, density=0.5))
    params = ChannelParams.for_model(model, n_channels=3, queue_depth=5, entry_depth=300,
                                     timing=Timing(y_write_stages=4, ew_output_stages=1))
    d = json.loads(json.dumps(params.to_dict()))
    assert ChannelParams.from_dict(d) == params
    assert pickle.loads(pickle.dumps(params)) == params == copy.deepcopy(params)
    assert (d["n_channels"], d["queue_depth"], d["entry_depth"]) == (3, 5, 300)
    assert d["qformats"] == {k: int(v) for k, v in model.qformats.items()}
    assert d["timing"] == {"y_write_stages": 4, "ew_output_stages": 1}
    assert d["derived"]["ptr_bits"] == params.ptr_bits == 9
    assert d["derived"]["ew_slot"] == 5 + 3
    shared = ChannelParams.from_dict({**d, "ew_share": 2})
    assert shared.ew_share == 2 and shared.ew_slot == 5 + 2 * 3
    assert ChannelParams.from_dict(shared.to_dict()) == shared
    dut = _elaborated(Channel(params=params))
    word_bits = params.load_layout.size
    assert dut.load.payload.shape().size == word_bits + 1
    assert d["ports"]["load"] == {"flow": "in", "stream": {
        "payload_width": word_bits + 1,
        "fields": {
            "word": {"offset": 0, "width": word_bits, "fields": {
                "target": {"offset": 0, "width": 2},
                "pe": {"offset": 2, "width": 1},
                "addr": {"offset": 3, "width": params.load_addr_bits},
                "data": {"offset": 3 + params.load_addr_bits,
                         "width": params.load_data_bits}}},
            "last": {"offset": word_bits, "width": 1}}}}
    assert d["derived"]["load_config"] == load_config(params)
    assert d["ports"]["load_error"] == {"flow": "out", "width": 3}
    assert d["ports"]["y"]["stream"]["payload_width"] == len(dut.y.payload.as_value())
    assert d["ports"]["frame_done"] == {"flow": "out", "width": 1}
    with pytest.raises(ValueError, match="unknown channel parameter 'entry_dept'"):
        ChannelParams.from_dict({**d, "entry_dept": 1})


def test_model_that_does_not_fit_is_refused():
    model = _model(8, 16, 8, Config(n_pe=2, density=0.5))
    with pytest.raises(ValueError, match="entry_depth"):
        Channel.for_model(model, entry_depth=10, preload=True)
    with pytest.raises(ValueError, match="n_pe"):
        Channel(params=ChannelParams(n_in=8, n_cells=16, n_proj=8, n_pe=4,
                                     qformats=model.qformats, entry_depth=4096), model=model)


# ---------------------------------------------------------------------------- K-wide broadcast

def _broadcast_inputs(g, c_n, t_n, n_in, seed):
    """Inputs with whole groups of 4 (and so of 2) zero in every lane, and a group
    zero in one lane only."""
    rng = np.random.default_rng(seed)
    x_q = np.stack([g.quantize_inputs(rng.standard_normal((t_n, n_in))) for _ in range(c_n)])
    x_q[:, 1, :4] = 0                                  # x group 0 (K = 2, 4) skipped
    x_q[:, 2, :] = 0                                   # a silent frame
    x_q[0, 3, 4:8] = 0                                 # zero in lane 0 only (if 2 lanes)
    return x_q


@pytest.mark.parametrize("k, c_n", [(1, 1), (2, 2), (4, 1), (4, 2)])
def test_broadcast_groups_equal_golden_and_cycle_model(k, c_n):
    """K columns per transfer: bit-exact with the golden model (which knows nothing of
    K) and every frame_done on the cycle model's cycle for that K; with stalls on x
    and y, still bit-exact. I = 10 and P = 6 leave a short last group at K = 4."""
    model = _model(10, 12, 6, Config(n_pe=4, density=0.4))
    g = GoldenModel(model)
    x_q = _broadcast_inputs(g, c_n, 6, 10, seed=k)
    dut = Channel.for_model(model, n_channels=c_n, queue_depth=4, broadcast=k, preload=True)
    y, done = run_channel(dut, x_q)
    want = g.run_channels(x_q)
    np.testing.assert_array_equal(y, want)
    model_done = channel_cycles(model, x_q, queue_depth=4, broadcast=k)["frame_done"]
    np.testing.assert_array_equal(np.asarray(done) - 1, model_done)
    if k > 1:                                          # the comparison could fail
        one = channel_cycles(model, x_q, queue_depth=4)["frame_done"]
        assert not np.array_equal(model_done, one)
    dut = Channel.for_model(model, n_channels=c_n, queue_depth=4, broadcast=k, preload=True)
    y, _ = run_channel(dut, x_q, seed=k, x_idle=0.3, y_stall=0.4)
    np.testing.assert_array_equal(y, want)


def test_broadcast_loaded_at_run_time_with_stalls_and_resets():
    """K = 2, two lanes, the grouped images written through ``load`` (with idle
    cycles), random stalls on x and y, a lane restarted mid-sequence; then the same
    frames without stalls on the cycle model's cycles."""
    model = _model(12, 16, 8, Config(n_pe=4, density=0.3, index_bits=3))
    g = GoldenModel(model)
    x_q = _broadcast_inputs(g, 2, 7, 12, seed=21)
    resets = np.zeros((7, 2), bool)
    resets[4, 1] = True
    want = g.run_channels(x_q, resets)
    loads = channel_load_payloads(ChannelParams.for_model(model, n_channels=2, broadcast=2),
                                  model)
    dut = Channel.for_model(model, n_channels=2, queue_depth=3, broadcast=2)
    y, _ = run_channel(dut, x_q, loads=loads, resets=resets, seed=5, x_idle=0.3,
                       y_stall=0.4, load_idle=0.3)
    np.testing.assert_array_equal(y, want)
    dut = Channel.for_model(model, n_channels=2, queue_depth=3, broadcast=2)
    y, done = run_channel(dut, x_q, loads=loads, resets=resets)
    np.testing.assert_array_equal(y, want)
    model_done = channel_cycles(model, x_q, queue_depth=3, broadcast=2,
                                resets=resets)["frame_done"]
    np.testing.assert_array_equal(np.diff(done), np.diff(model_done))


def test_broadcast_with_shared_cell_units():
    """Both levers at once: K = 2 columns per transfer and G = 2 PEs per cell unit, two
    lanes, loaded at run time: bit-exact with stalls, then every frame_done on the cycle
    model's cycle for that K and G."""
    model = _model(12, 16, 8, Config(n_pe=4, density=0.3))
    g = GoldenModel(model)
    x_q = _broadcast_inputs(g, 2, 6, 12, seed=22)
    want = g.run_channels(x_q)
    kw = dict(n_channels=2, queue_depth=4, broadcast=2, ew_share=2)
    loads = channel_load_payloads(ChannelParams.for_model(model, **kw), model)
    y, _ = run_channel(Channel.for_model(model, **kw), x_q, loads=loads, seed=9, x_idle=0.3,
                       y_stall=0.4, load_idle=0.2)
    np.testing.assert_array_equal(y, want)
    y, done = run_channel(Channel.for_model(model, **kw), x_q, loads=loads)
    np.testing.assert_array_equal(y, want)
    model_done = channel_cycles(model, x_q, queue_depth=4, broadcast=2,
                                ew_share=2)["frame_done"]
    np.testing.assert_array_equal(np.diff(done), np.diff(model_done))
    alone = channel_cycles(model, x_q, queue_depth=4, broadcast=2)["frame_done"]
    assert not np.array_equal(np.diff(model_done), np.diff(alone))


@pytest.mark.parametrize("kw, message", [
    (dict(broadcast=0), "broadcast must be an integer in 1..16, got 0"),
    (dict(broadcast=17), "broadcast must be an integer in 1..16, got 17"),
    (dict(broadcast=3), "broadcast 3 must divide the PE count 2"),
    (dict(broadcast=4), "broadcast 4 must divide the PE count 2"),
])
def test_bad_broadcast(kw, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        ChannelParams(**{**BASE, **kw})
    with pytest.raises(TypeError, match="missing a required argument: .params."):
        Channel(**{**BASE, **kw})


def test_broadcast_sizes():
    """The pointer memory holds one pointer per group; entry words gain the sub bits."""
    params = ChannelParams(**{**BASE, "n_in": 5, "n_pe": 4, "broadcast": 4})
    # x: 5 columns -> 2 groups, y: 4 -> 1, m: 8 -> 2
    assert (params.n_cols, params.n_groups, params.sub_bits) == (17, 5, 2)
    d = params.to_dict()
    assert d["broadcast"] == 4 and d["derived"]["n_groups"] == 5
    assert ChannelParams.from_dict(json.loads(json.dumps(d))) == params
    assert params.load_data_bits == max(12 + 4 + 2, params.accum_bits)
    one = ChannelParams(**{**BASE, "n_in": 5, "n_pe": 4})
    assert (one.n_groups, one.sub_bits) == (one.n_cols, 0)


def test_narrow_load_words_are_widened_to_hold_a_header_value():
    """A configuration whose load word would be narrower than 32 bits gets a wider data
    field (the header values and the CRC-32 travel as whole words); a wide one keeps its
    own, and the channel checks streams of that width."""
    narrow = ChannelParams(**{**BASE, "weight_bits": 2, "index_bits": 2, "act_bits": 4,
                              "accum_bits": 8, "entry_depth": 8,
                              "qformats": {**BASE["qformats"], "fg": 3}})
    # target 2 + pe 1 + addr 5 (4 * 4 bias rows) bits: data 24 instead of 8.
    assert (narrow.pe_bits, narrow.load_addr_bits) == (1, 5)
    assert narrow.load_data_bits == 24 and narrow.load_layout.size == 32
    wide = ChannelParams(**BASE)
    assert wide.load_data_bits == wide.accum_bits == 48
    dut = _elaborated(Channel(params=narrow))
    assert dut.load.payload.word.shape().size == 32
