# amaranth: UnusedElaboratable=no
"""A plain LSTM layer (no projection) on the channel, in Amaranth's simulator: bit-exact
with the golden model and cycle-exact with the cycle model; its images, parameters and
load-stream hash."""

import hashlib
import json

import numpy as np
import pytest
from amaranth.hdl import Fragment

from ese_hw.gateware.channel import Channel
from ese_hw.gateware.params import ChannelParams
from ese_hw.model.compress import Config, compress
from ese_hw.model.cycles import channel_cycles, frame_cycles, useful_macs
from ese_hw.model.encode import entry_table
from ese_hw.model.golden import GoldenModel
from ese_hw.model.images import channel_images, load_words, walk_groups
from ese_hw.model.lstmp import PLAIN_WEIGHT_KEYS, LSTMPWeights, random_weights
from tests.gateware.channel_bench import channel_load_payloads, run_channel

# I = 10, H = 12 on 4 PEs (3 cells each); K = 2 and G = 2 divide 4.
N_IN, CELLS = 10, 12
CFG = Config(n_pe=4, density=0.4)


def plain_weights(n_in, n_cells, seed):
    """A plain layer: random weights without W_ym, square recurrent matrices."""
    w = random_weights(n_in, n_cells, n_cells, seed=seed)
    return LSTMPWeights.from_arrays({k: w[k] for k in PLAIN_WEIGHT_KEYS}, projection=False)


@pytest.fixture(scope="module")
def model():
    return compress(plain_weights(N_IN, CELLS, 1), CFG)


@pytest.fixture(scope="module")
def lstmp():
    """An LSTMP layer of the same shape (P = H): what the plain channel must not be."""
    return compress(random_weights(N_IN, CELLS, CELLS, seed=1), CFG)


def _inputs(g, c_n, t_n, seed):
    rng = np.random.default_rng(seed)
    x_q = np.stack([g.quantize_inputs(rng.standard_normal((t_n, N_IN))) for _ in range(c_n)])
    x_q[:, 2, :] = 0                                   # a silent frame
    x_q[0, 3, :4] = 0                                  # zero in lane 0 only (two lanes)
    return x_q


@pytest.mark.parametrize("cells, ew_share", [(CELLS, 1), (10, 2)])
def test_plain_channel_equals_golden_and_cycle_model(model, cells, ew_share):
    """K 1, one lane, images baked in: every y bit-exact and every frame_done on the
    cycle model's cycle (absolute, not only its differences). 10 cells on 4 PEs leave
    two PEs a row short: the copy and the output stream must skip the missing rows."""
    if cells != CELLS:
        model = compress(plain_weights(N_IN, cells, 4), CFG)
    g = GoldenModel(model)
    x_q = _inputs(g, 1, 5, seed=2)
    y, done = run_channel(Channel.for_model(model, queue_depth=4, ew_share=ew_share,
                                            preload=True), x_q)
    np.testing.assert_array_equal(y, g.run_channels(x_q))
    model_done = channel_cycles(model, x_q, queue_depth=4, ew_share=ew_share)["frame_done"]
    # The bench counts the first clock edge as cycle 1; the model counts from 0.
    np.testing.assert_array_equal(np.asarray(done) - 1, model_done)


def test_plain_channel_loaded_with_lanes_resets_and_groups(model):
    """K = 2, G = 2 PEs per cell unit, two lanes (lane 1 restarted mid-sequence, both
    at the last frame), the plain images written through ``load`` with idle cycles on
    it: bit-exact, and every frame's cycles equal the cycle model's. (Random stalls on x
    and y: the cocotb test of the same configuration.)"""
    g = GoldenModel(model)
    x_q = _inputs(g, 2, 6, seed=22)
    resets = np.zeros((6, 2), bool)
    resets[4, 1] = True
    resets[5, :] = True
    kw = dict(queue_depth=3, broadcast=2, ew_share=2)
    dut = Channel.for_model(model, n_channels=2, **kw)
    y, done = run_channel(dut, x_q, loads=channel_load_payloads(dut.params, model),
                          resets=resets, seed=4, load_idle=0.3)
    np.testing.assert_array_equal(y, g.run_channels(x_q, resets))
    np.testing.assert_array_equal(y[1, 4], g.run_quantized(x_q[1, 4:5])[0])
    model_done = channel_cycles(model, x_q, resets=resets, **kw)["frame_done"]
    np.testing.assert_array_equal(np.diff(done), np.diff(model_done))


def test_plain_images_have_no_projection(model):
    """Gate entries only, and pointers for the x and y groups only (no m groups); the
    grouped walk gives back exactly the gate SpMV's entries."""
    wb, ib = model.config.weight_bits, model.config.index_bits
    for k in (1, 2):
        im = channel_images(model, k)
        for p in range(model.config.n_pe):
            assert len(im.ptr[p]) == -(-N_IN // k) + -(-CELLS // k) + 1
            assert len(im.words[p]) == model.gate.entries_per_pe[p]
            got = walk_groups(im.words[p], im.ptr[p], (N_IN, CELLS), k, weight_bits=wb,
                              index_bits=ib)
            for a, b in zip(got, entry_table(model.gate, p), strict=True):
                np.testing.assert_array_equal(a, b)
    params = ChannelParams.for_model(model, broadcast=2)
    rows = load_words(channel_images(model, 2))
    assert len(rows) <= params.load_max_words
    assert int(rows[:, 2][rows[:, 0] == 1].max()) == params.n_groups


def test_plain_params_and_load_hash(model, lstmp):
    """``for_model`` takes the kind from the model; it survives to_dict/from_dict; the
    load stream of the other kind (same shape and widths) carries another configuration
    hash, so the channel refuses it, while an LSTMP hash is what it was before plain
    layers (``projection`` is hashed only when False)."""
    plain = ChannelParams.for_model(model, entry_depth=64)
    proj = ChannelParams.for_model(lstmp, entry_depth=64)
    assert (plain.projection, proj.projection) == (False, True)
    assert (plain.n_cols, plain.n_groups) == (N_IN + CELLS, N_IN + CELLS)
    assert proj.n_cols == N_IN + 2 * CELLS
    d = json.loads(json.dumps(plain.to_dict()))
    assert d["projection"] is False and ChannelParams.from_dict(d) == plain
    # The same fields but the kind: only the hash tells the streams apart.
    other = ChannelParams.from_dict({**d, "projection": True, "qformats": proj.qformats})
    same_kind = ChannelParams.from_dict({**d, "qformats": proj.qformats})
    assert other.load_config != same_kind.load_config
    old_fields = {n: getattr(other, n) for n in ("n_in", "n_cells", "n_proj", "n_pe",
                  "weight_bits", "index_bits", "act_bits", "accum_bits", "lut_bits",
                  "lut_range_log2", "broadcast", "entry_depth")}
    old = json.dumps({**old_fields, "qformats": dict(other.qformats)}, sort_keys=True,
                     separators=(",", ":"))
    assert other.load_config == int.from_bytes(hashlib.sha256(old.encode()).digest()[:4],
                                               "little")
    with pytest.raises(ValueError, match="plain LSTM layer, the channel is built for an LSTMP"):
        Channel(params=ChannelParams(**{**plain.kwargs(), "projection": True}), model=model)
    with pytest.raises(ValueError, match="n_proj must be 12, not 5"):
        ChannelParams(**{**plain.kwargs(), "n_proj": 5})
    with pytest.raises(TypeError, match="projection must be a bool"):
        ChannelParams(**{**plain.kwargs(), "projection": 0})


def test_plain_channel_has_no_projection_hardware(model, lstmp):
    """No projection accumulators, no m columns in the broadcaster (the plain channel's
    netlist is smaller), and a plain step costs no projection phase in the cycle model."""
    sizes = {}
    for name, m in (("plain", model), ("lstmp", lstmp)):
        frag = Fragment.get(Channel.for_model(m, preload=True), None)
        pe = frag.subfragments[[n for _, n, _ in frag.subfragments].index("pe0")][0]
        spmv = pe.subfragments[[n for _, n, _ in pe.subfragments].index("spmv")][0]
        sizes[name] = sorted(n for _, n, _ in spmv.subfragments)
    assert sizes["plain"] == ["acc_g0", "bias", "walker"]
    assert sizes["lstmp"] == ["acc_g0", "acc_p0", "bias", "walker"]
    assert useful_macs(model) == sum(int(np.count_nonzero(w)) for w in model.gate.weights())
    g = GoldenModel(model)
    x_q = _inputs(g, 1, 4, seed=3)
    y_q, tr = g.run_channels(x_q, trace=True)
    events = []
    frame_cycles(model, x_q, y_q, tr["m"], queue_depth=4, events=events)
    assert all(e["proj_pushed"] is None for e in events)
