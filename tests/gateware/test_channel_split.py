# amaranth: UnusedElaboratable=no
"""The split projection on the channel (more PEs than ``W_ym`` rows: each row's columns
spread over S PEs, whose sums the row's owner adds at read-out), in Amaranth's simulator:
bit-exact with the golden model and cycle-exact with the cycle model."""

import numpy as np
import pytest

from ese_hw.gateware.channel import Channel
from ese_hw.gateware.params import ChannelParams
from ese_hw.model.compress import Config, compress
from ese_hw.model.cycles import channel_cycles
from ese_hw.model.golden import GoldenModel
from ese_hw.model.lstmp import random_weights
from tests.gateware.channel_bench import channel_load_payloads, run_channel

# I 3, H 8, P 2: 4 PEs split each W_ym row in 2 parts, 8 PEs in 4.
N_IN, CELLS, PROJ = 3, 8, 2


def split_model(n_pe, balance="pe", seed=1):
    return compress(random_weights(N_IN, CELLS, PROJ, seed=seed),
                    Config(n_pe=n_pe, density=0.5, balance=balance))


def _inputs(g, c_n, t_n, seed):
    rng = np.random.default_rng(seed)
    x_q = np.stack([g.quantize_inputs(rng.standard_normal((t_n, N_IN))) for _ in range(c_n)])
    x_q[:, 2, :] = 0                                   # a silent frame
    return x_q


@pytest.mark.parametrize("n_pe, broadcast, ew_share, lanes, balance", [
    (4, 1, 1, 1, "pe"),
    (8, 2, 2, 2, "column"),
    (4, 2, 1, 2, "column"),
])
def test_split_channel_equals_golden_and_cycle_model(n_pe, broadcast, ew_share, lanes,
                                                     balance):
    """S 2 (4 PEs) and 4 (8 PEs), K 1 and 2, G 1 and 2, 1 and 2 lanes, both balances:
    every y bit-exact and every frame_done on the cycle model's cycle (absolute). Every
    part holds entries, so a missing partner sum would show in y."""
    model = split_model(n_pe, balance)
    assert ChannelParams.for_model(model).proj_split == n_pe // PROJ
    assert (model.ym.entries_per_pe > 0).all()
    g = GoldenModel(model)
    x_q = _inputs(g, lanes, 5, seed=n_pe + lanes)
    kw = dict(queue_depth=4, broadcast=broadcast, ew_share=ew_share)
    dut = Channel.for_model(model, n_channels=lanes, preload=True, **kw)
    y, done = run_channel(dut, x_q)
    np.testing.assert_array_equal(y, g.run_channels(x_q))
    model_done = channel_cycles(model, x_q, **kw)["frame_done"]
    # The bench counts the first clock edge as cycle 1; the model counts from 0.
    np.testing.assert_array_equal(np.asarray(done) - 1, model_done)


def test_split_channel_loaded_with_resets():
    """The split images written through ``load`` at run time (8 PEs, S 4, K 2, two lanes,
    lane 1 restarted mid-sequence): bit-exact and cycle-exact frame to frame."""
    model = split_model(8, seed=3)
    g = GoldenModel(model)
    x_q = _inputs(g, 2, 5, seed=9)
    resets = np.zeros((5, 2), bool)
    resets[3, 1] = True
    kw = dict(queue_depth=3, broadcast=2)
    dut = Channel.for_model(model, n_channels=2, **kw)
    y, done = run_channel(dut, x_q, loads=channel_load_payloads(dut.params, model),
                          resets=resets, seed=5, load_idle=0.3)
    np.testing.assert_array_equal(y, g.run_channels(x_q, resets))
    model_done = channel_cycles(model, x_q, resets=resets, **kw)["frame_done"]
    np.testing.assert_array_equal(np.diff(done), np.diff(model_done))


def test_unsplit_model_runs_on_a_split_channel():
    """A model whose W_ym rows sit one per PE (files written before the split) on the
    same 4-PE channel: the partners hold no projection entries and add 0, so y is still
    bit-exact and every frame_done on the cycle model's cycle."""
    model = compress(random_weights(N_IN, CELLS, PROJ, seed=1), Config(n_pe=4, density=0.5),
                     split_projection=False)
    assert model.ym.entries_per_pe.tolist()[PROJ:] == [0, 0]
    g = GoldenModel(model)
    x_q = _inputs(g, 1, 4, seed=6)
    y, done = run_channel(Channel.for_model(model, queue_depth=4, preload=True), x_q)
    np.testing.assert_array_equal(y, g.run_channels(x_q))
    model_done = channel_cycles(model, x_q, queue_depth=4)["frame_done"]
    np.testing.assert_array_equal(np.asarray(done) - 1, model_done)
