"""Sparse matrix read unit: one entry per cycle, row positions, no bubble between columns."""

import numpy as np
import pytest
from amaranth.hdl import signed
from amaranth.lib import data
from amaranth.sim import Simulator

from ese_hw.gateware.matrix_reader import MatrixReader
from ese_hw.model.encode import encode_spmv, entry_table
from ese_hw.model.images import group_starts, sub_bits
from tests.gateware.pe_bench import random_image_mats
from tests.gateware.sim_streams import stream_put


@pytest.mark.parametrize("index_bits", [2, 5])
def test_entries_back_to_back(index_bits):
    rng = np.random.default_rng(index_bits)
    mats = random_image_mats(rng, n_pe=1, rows=24, cols=12, density=0.2, weight_bits=8)
    mats[0][:, 4] = 0                                     # an empty column
    image = encode_spmv(mats, index_bits=index_bits, weight_bits=8)
    ptr = image.ptr[0]
    rows, cols, weights = entry_table(image, 0)
    acts = rng.integers(-512, 512, image.n_cols)
    dut = MatrixReader(weight_bits=8, index_bits=index_bits, act_bits=10, entry_depth=128,
                       local_rows=24, ptr_bits=8, init=image.words[0])
    got = []

    async def producer(ctx):
        for j in range(image.n_cols):
            await stream_put(ctx, dut.span, {"lo": int(ptr[j]), "hi": int(ptr[j + 1]),
                                             "act": int(acts[j])})

    async def monitor(ctx):
        cycle = 0
        async for _, _, valid, row, w, a in ctx.tick().sample(
                dut.entry.valid, dut.entry.payload.row, dut.entry.payload.weight,
                dut.entry.payload.act):
            cycle += 1
            if valid:
                got.append((cycle, row, w, a))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(monitor, background=True)
    sim.run_until(1e-8 * (len(rows) + image.n_cols + 20))
    assert [g[1:] for g in got] == list(zip(rows, weights, acts[cols], strict=True))
    # Spans always offered: entries issue every cycle except one per empty column.
    n_empty = int(np.count_nonzero(np.diff(ptr) == 0))
    assert got[-1][0] - got[0][0] + 1 == len(rows) + n_empty


@pytest.mark.parametrize("k", [2, 3, 4])
def test_groups_restart_the_walk_where_sub_changes(k):
    """Columns in groups of ``k`` (grouped images as a channel's, one phase): each entry
    comes out with its own row, its group's activations and its column's ``sub``, and a
    group runs without a bubble between its columns."""
    rng = np.random.default_rng(k)
    mats = random_image_mats(rng, n_pe=1, rows=24, cols=11, density=0.25, weight_bits=8)
    mats[0][:, 4] = 0                                     # an empty column inside a group
    mats[0][:, 8:10] = 0
    image = encode_spmv(mats, index_bits=2, weight_bits=8)
    rows, cols, weights = entry_table(image, 0)
    starts = group_starts((image.n_cols,), k)
    sub = cols - starts[cols // k]
    words = image.words[0].astype(np.int64) | sub << 10
    ptr = image.ptr[0][starts]
    acts = rng.integers(-512, 512, (len(starts) - 1, k))
    dut = MatrixReader(weight_bits=8, index_bits=2, act_bits=data.ArrayLayout(signed(10), k),
                       entry_depth=128, local_rows=24, ptr_bits=8, sub_bits=sub_bits(k),
                       init=words)
    got = []

    async def producer(ctx):
        for g in range(len(starts) - 1):
            await stream_put(ctx, dut.span, {"lo": int(ptr[g]), "hi": int(ptr[g + 1]),
                                             "act": [int(a) for a in acts[g]]})

    async def monitor(ctx):
        cycle = 0
        async for _, _, valid, e in ctx.tick().sample(dut.entry.valid, dut.entry.payload):
            cycle += 1
            if valid:
                got.append((cycle, e.row, e.weight, [int(a) for a in e.act], e.sub))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(monitor, background=True)
    sim.run_until(1e-8 * (len(rows) + len(starts) + 20))
    assert [g[1:] for g in got] == [(r, w, list(acts[c // k]), c % k)
                                    for r, c, w in zip(rows, cols, weights, strict=True)]
    n_empty = int(np.count_nonzero(np.diff(ptr) == 0))
    assert got[-1][0] - got[0][0] + 1 == len(rows) + n_empty


def test_bad_parameters():
    kw = dict(weight_bits=8, index_bits=4, act_bits=8, entry_depth=16, local_rows=8,
              ptr_bits=5)
    for key, value in [("weight_bits", 19), ("index_bits", 1), ("entry_depth", 0)]:
        with pytest.raises(ValueError, match=key):
            MatrixReader(**{**kw, key: value})
    with pytest.raises(ValueError, match="ptr_bits"):
        MatrixReader(**{**kw, "ptr_bits": 4})
    with pytest.raises(ValueError, match="entry image"):
        MatrixReader(**kw, init=[0] * 17)
    with pytest.raises(ValueError, match="entry image"):            # a sub bit too many
        MatrixReader(**kw, sub_bits=1, init=[1 << 13])
    with pytest.raises(ValueError, match="sub_bits"):
        MatrixReader(**kw, sub_bits=5)
