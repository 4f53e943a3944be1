"""One PE: queue, pointer reader, matrix reader and accumulator together."""

import numpy as np
import pytest
from amaranth.sim import Simulator
from spmv_bench import random_image_mats

from ese_hw.gateware.pe import PE
from ese_hw.model import golden
from ese_hw.model.encode import encode_spmv


@pytest.mark.parametrize("queue_depth", [1, 3])
def test_pe_matches_golden(queue_depth):
    rng = np.random.default_rng(queue_depth)
    mats = random_image_mats(rng, n_pe=1, rows=10, cols=14, density=0.3, weight_bits=8)
    image = encode_spmv(mats, index_bits=3, weight_bits=8)
    acts = rng.integers(-100, 100, 14)
    acts[[2, 5]] = 0
    dut = PE(weight_bits=8, index_bits=3, act_bits=8, accum_bits=20, queue_depth=queue_depth,
             entry_depth=64, n_cols_max=16, local_rows=10)
    out = []
    fulls = []

    async def bench(ctx):
        for a, w in enumerate(image.words[0]):            # run-time loads
            ctx.set(dut.entry_load.valid, 1)
            ctx.set(dut.entry_load.payload, {"addr": a, "data": int(w)})
            await ctx.tick()
        ctx.set(dut.entry_load.valid, 0)
        for a, v in enumerate(image.ptr[0]):
            ctx.set(dut.ptr_load.valid, 1)
            ctx.set(dut.ptr_load.payload, {"addr": a, "data": int(v)})
            await ctx.tick()
        ctx.set(dut.ptr_load.valid, 0)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        for j in np.flatnonzero(acts):
            while ctx.get(dut.full):
                fulls.append(j)
                await ctx.tick()
            ctx.set(dut.push, 1)
            ctx.set(dut.push_col, int(j))
            ctx.set(dut.push_act, int(acts[j]))
            await ctx.tick()
            ctx.set(dut.push, 0)
        while not ctx.get(dut.idle):
            await ctx.tick()
        for r in range(10):
            ctx.set(dut.ro_en, 1)
            ctx.set(dut.ro_addr, r)
            await ctx.tick()
            ctx.set(dut.ro_en, 0)
            out.append(ctx.get(dut.ro_data))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    np.testing.assert_array_equal(out, golden.spmv(image, acts, accum_bits=20)[0])
    assert fulls                                 # the queue filled up and pushed back


def test_parameters_are_read_only():
    dut = PE(weight_bits=8, index_bits=3, act_bits=8, accum_bits=20, entry_depth=64,
             n_cols_max=16, local_rows=10)
    assert dut.queue_depth == 8 and dut.ptr_bits == 7 and dut.row_bits == 4
    with pytest.raises(AttributeError):
        dut.queue_depth = 4
    with pytest.raises(ValueError, match="init_bias"):
        PE(weight_bits=8, index_bits=3, act_bits=8, accum_bits=20, entry_depth=64,
           n_cols_max=16, local_rows=10, init_bias=[1])
    with pytest.raises(ValueError, match="bias image"):
        PE(weight_bits=8, index_bits=3, act_bits=8, accum_bits=20, entry_depth=64,
           n_cols_max=16, local_rows=2, bias=True, init_bias=[1, 2, 3])
    from amaranth.hdl import Fragment
    Fragment.get(dut, None)
