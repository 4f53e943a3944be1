"""SpmvUnit (the SpMV half of the channel PE): both SpMVs of a step through one column
stream, every lane's gate and projection accumulators bit-exact with the golden SpMV."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from ese_hw.gateware.pe import SpmvUnit
from ese_hw.model.compress import Config, compress
from ese_hw.model.golden import GoldenModel, spmv
from ese_hw.model.images import channel_images
from ese_hw.model.lstmp import random_weights
from tests.gateware.sim_streams import stream_put


def run_unit(model, p, columns, *, c_n, queue_depth, seed, idle, k=1):
    """Push ``columns`` ((col, acts (C,), proj) of PE ``p``; with ``k`` > 1 column groups
    (group, acts (k, C), proj)) through a SpmvUnit, then read every gate and projection
    row; returns ((C, 4 * cells), (C, proj_rows))."""
    cfg = model.config
    n = cfg.n_pe
    cells, rows = -(-model.n_cells // n), -(-model.n_proj // n)
    im = channel_images(model, k)
    dut = SpmvUnit(n_channels=c_n, weight_bits=cfg.weight_bits, index_bits=cfg.index_bits,
                   act_bits=cfg.act_bits, accum_bits=cfg.accum_bits, queue_depth=queue_depth,
                   entry_depth=max(1, len(im.words[p])), n_cols=len(im.ptr[p]) - 1,
                   cells=cells, proj_rows=rows, broadcast=k, init_words=im.words[p],
                   init_ptr=im.ptr[p], init_bias=[int(v) for v in im.bias[p]])
    rng = np.random.default_rng(seed)
    gate = np.zeros((c_n, 4 * cells), np.int64)
    proj = np.zeros((c_n, rows), np.int64)

    async def read(ctx, port, n_rows, out):
        for r in range(n_rows):
            ctx.set(port.en, 1)
            ctx.set(port.addr, r)
            await ctx.tick()
            ctx.set(port.en, 0)
            out[:, r] = [int(v) for v in ctx.get(port.data)]   # valid the cycle after en

    async def tb(ctx):
        # A read port's en starts high; a read here takes the accumulator's port from
        # the entries, so it must be low while they flow.
        ctx.set(dut.gate_rd.en, 0)
        ctx.set(dut.proj_rd.en, 0)
        ctx.set(dut.gate_clear, 1)
        ctx.set(dut.proj_clear, 1)
        await ctx.tick()
        ctx.set(dut.gate_clear, 0)
        ctx.set(dut.proj_clear, 0)
        for col, acts, is_proj in columns:
            await stream_put(ctx, dut.column, {"col": col, "act": {
                "acts": np.asarray(acts).tolist(), "proj": is_proj}}, rng=rng, idle_prob=idle)
        await ctx.tick().until(dut.idle)
        await read(ctx, dut.gate_rd, 4 * cells, gate)
        await read(ctx, dut.proj_rd, rows, proj)

    async def queue(ctx):
        """column.ready never depends on column.valid; count the columns refused."""
        async for _, _, valid, ready in ctx.tick().sample(dut.column.valid, dut.column.ready):
            state["refused"] += bool(valid and not ready)

    state = {"refused": 0}
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(queue, background=True)
    sim.add_testbench(tb)
    sim.run()
    return gate, proj, state["refused"]


@pytest.mark.parametrize("n_pe, p, c_n, depth, idle", [
    (1, 0, 1, 8, 0.0),
    (2, 1, 2, 1, 0.0),          # queue depth 1: the stream's ready stalls the pushes
    (3, 2, 3, 2, 0.4),
])
def test_gate_and_projection_accumulators(n_pe, p, c_n, depth, idle):
    n_in, n_cells, n_proj = 6, 3 * n_pe + 1, 2 * n_pe + 1
    model = compress(random_weights(n_in, n_cells, n_proj, seed=n_pe),
                     Config(n_pe=n_pe, density=0.5, index_bits=3))
    g = GoldenModel(model)
    rng = np.random.default_rng(c_n)
    x = g.quantize_inputs(rng.standard_normal((c_n, n_in)))
    y = rng.integers(-3000, 3000, size=(c_n, n_proj)) * (rng.random((c_n, n_proj)) < 0.7)
    mm = rng.integers(-3000, 3000, size=(c_n, n_cells))
    gate_act = np.concatenate([x, y], axis=1)             # (C, I + P)
    columns = [(j, gate_act[:, j], 0) for j in range(n_in + n_proj) if gate_act[:, j].any()]
    columns += [(n_in + n_proj + j, mm[:, j], 1) for j in range(n_cells)]
    gate, proj, refused = run_unit(model, p, columns, c_n=c_n, queue_depth=depth, seed=p,
                                   idle=idle)

    cells = -(-n_cells // n_pe)
    for ch in range(c_n):
        full = g.gate_accumulators(x[ch], y[ch])          # (4, H), biases included
        for k in range(cells):
            if k * n_pe + p < n_cells:                    # local cell k is cell k*N + p
                np.testing.assert_array_equal(gate[ch, 4 * k:4 * k + 4], full[:, k * n_pe + p])
        want = spmv(model.ym, mm[ch], accum_bits=model.config.accum_bits)[p]
        np.testing.assert_array_equal(proj[ch], want[:proj.shape[1]])
    if depth == 1:
        assert refused > 0


def _groups(acts, k):
    """(C, n) activations as (ceil(n / k), k, C) groups, the last padded with 0."""
    c_n, n = acts.shape
    padded = np.zeros((c_n, -(-n // k) * k), np.int64)
    padded[:, :n] = acts
    return padded.T.reshape(-1, k, c_n)


@pytest.mark.parametrize("n_pe, p, c_n, k, idle", [
    (2, 1, 2, 2, 0.3),
    (4, 3, 1, 4, 0.0),          # every phase's last group short
])
def test_column_groups(n_pe, p, c_n, k, idle):
    """Groups of ``k`` columns per transfer: each entry takes its own column's activation
    (sub), so the accumulators equal the golden SpMVs; an all-zero group is not sent."""
    n_in, n_cells, n_proj = 7, 3 * n_pe + 1, 2 * n_pe + 1
    model = compress(random_weights(n_in, n_cells, n_proj, seed=n_pe + 10),
                     Config(n_pe=n_pe, density=0.5, index_bits=3))
    g = GoldenModel(model)
    rng = np.random.default_rng(k)
    x = g.quantize_inputs(rng.standard_normal((c_n, n_in)))
    x[:, :k] = 0                                          # x's first group: skipped
    y = rng.integers(-3000, 3000, size=(c_n, n_proj)) * (rng.random((c_n, n_proj)) < 0.7)
    mm = rng.integers(-3000, 3000, size=(c_n, n_cells))
    columns, first = [], 0
    for acts, proj in ((x, 0), (y, 0), (mm, 1)):
        groups = _groups(acts, k)
        columns += [(first + j, grp, proj) for j, grp in enumerate(groups) if grp.any()]
        first += len(groups)
    gate, proj, _ = run_unit(model, p, columns, c_n=c_n, queue_depth=2, seed=p, idle=idle,
                             k=k)
    cells = -(-n_cells // n_pe)
    for ch in range(c_n):
        full = g.gate_accumulators(x[ch], y[ch])
        for c in range(cells):
            if c * n_pe + p < n_cells:
                np.testing.assert_array_equal(gate[ch, 4 * c:4 * c + 4], full[:, c * n_pe + p])
        want = spmv(model.ym, mm[ch], accum_bits=model.config.accum_bits)[p]
        np.testing.assert_array_equal(proj[ch], want[:proj.shape[1]])
