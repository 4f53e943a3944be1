"""A PE array as the channel builds it, minus the LSTMP, and a bench that runs SpMVs on it.

:class:`PEArray` wires ``n_pe`` :class:`~ese_hw.gateware.pe.ColumnWalker` s, each
into its :class:`~ese_hw.gateware.accumulator.Accumulator` (initial values from a
loadable bias memory), fed in lock step: a column enters every PE's queue, or
none (through the channel's own :class:`~ese_hw.gateware.broadcaster.LockstepFanout`).
Every memory loads through one :func:`~ese_hw.gateware.load.load_layout` stream.
:func:`run_array` simulates loads and SpMVs and records the cycle of every column
transfer and the cycle the array goes idle, for :class:`ese_hw.model.cycles.ArrayTimer`.
"""

import numpy as np
from amaranth.hdl import Cat, Module, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator
from amaranth.utils import bits_for, ceil_log2

from ese_hw.gateware.accumulator import Accumulator
from ese_hw.gateware.broadcaster import LockstepFanout
from ese_hw.gateware.load import LoadTarget, load_layout, loadable_memory, route_load, write_layout
from ese_hw.gateware.pe import ColumnWalker
from ese_hw.gateware.pointer import column_request_layout
from ese_hw.model.cycles import ArrayTimer
from tests.gateware.sim_streams import stream_put

__all__ = ["PEArray", "array_cycles", "random_image_mats", "read_rows", "run_array"]


class PEArray(wiring.Component):
    """``n_pe`` PEs (column walker + accumulator + bias memory) fed in lock step.

    Members
    -------
    col : In(stream.Signature(column_request_layout))
        A non-zero column; taken (into every queue at once) when every queue has room.
    clear : In(1)
        Every accumulator row returns to its bias.
    load : In(stream.Signature(load_layout)), always taken
    ro_en, ro_addr : In; ro_data : Out(ArrayLayout(signed(accum_bits), n_pe))
        Row ``ro_addr`` of every PE, the cycle after ``ro_en``.
    idle : Out(1)
    """

    def __init__(self, *, n_pe, weight_bits, index_bits, act_bits, accum_bits, queue_depth,
                 entry_depth, n_cols_max, local_rows, image=None, bias=None):
        self._kw = dict(weight_bits=weight_bits, index_bits=index_bits, act_bits=act_bits,
                        queue_depth=queue_depth, entry_depth=entry_depth,
                        n_cols_max=n_cols_max, local_rows=local_rows)
        self._n_pe, self._accb, self._rows = n_pe, accum_bits, local_rows
        self._image, self._bias = image, bias
        self.row_bits = max(1, ceil_log2(local_rows))
        addr_bits = max(ceil_log2(entry_depth), bits_for(n_cols_max), self.row_bits, 1)
        data_bits = max(weight_bits + index_bits, bits_for(entry_depth), accum_bits)
        super().__init__({
            "col": In(stream.Signature(column_request_layout(max(1, ceil_log2(n_cols_max)),
                                                             act_bits))),
            "clear": In(1),
            "load": In(stream.Signature(load_layout(max(1, ceil_log2(n_pe)), addr_bits,
                                                    data_bits))),
            "ro_en": In(1),
            "ro_addr": In(unsigned(self.row_bits)),
            "ro_data": Out(data.ArrayLayout(signed(accum_bits), n_pe)),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        kw = self._kw
        m.submodules.fanout = fanout = LockstepFanout(shape=self.col.payload.shape(),
                                                      n=self._n_pe)
        wiring.connect(m, wiring.flipped(self.col), fanout.i)
        walkers, accs = [], []
        for p in range(self._n_pe):
            m.submodules[f"walker{p}"] = walker = ColumnWalker(
                **kw, init_words=None if self._image is None else self._image.words[p],
                init_ptr=None if self._image is None else self._image.ptr[p])
            m.submodules[f"acc{p}"] = acc = Accumulator(
                weight_bits=kw["weight_bits"], act_bits=kw["act_bits"],
                accum_bits=self._accb, local_rows=self._rows)
            wiring.connect(m, fanout.o[p], walker.column)
            m.d.comb += fanout.room[p].eq(walker.room)
            wiring.connect(m, walker.entry, acc.entry)
            bias_load = stream.Signature(write_layout(self.row_bits, self._accb),
                                         always_ready=True).create()
            bias = loadable_memory(m, f"bias{p}", shape=signed(self._accb), depth=self._rows,
                                   init=None if self._bias is None else self._bias[p],
                                   load=bias_load)
            bias_rd = bias.read_port()      # the accumulator's init hook: one cycle later
            m.d.comb += [
                bias_rd.addr.eq(acc.init_addr),
                acc.init_data.eq(bias_rd.data),
                acc.clear.eq(self.clear),
                acc.ro_en.eq(self.ro_en),
                acc.ro_addr.eq(self.ro_addr),
                self.ro_data[p].eq(acc.ro_data),
            ]
            route_load(m, self.load.payload, self.load.valid & (self.load.payload.pe == p),
                       {LoadTarget.ENTRY: walker.entry_load, LoadTarget.PTR: walker.ptr_load,
                        LoadTarget.BIAS: bias_load})
            walkers.append(walker)
            accs.append(acc)
        m.d.comb += [
            self.load.ready.eq(1),
            self.idle.eq(Cat(u.idle for u in walkers + accs).all()),
        ]
        return m


def random_image_mats(rng, *, n_pe, rows, cols, density, weight_bits, extreme=False):
    """Per-PE integer sub-matrices with random masks (rows per PE may differ by one)."""
    lim = 1 << (weight_bits - 1)
    mats = []
    for p in range(n_pe):
        r = rows - (p % 2 if n_pe > 1 else 0)
        w = rng.integers(-lim, lim, size=(r, cols))
        if extreme:
            w = np.where(rng.random((r, cols)) < 0.5, -lim, w)
        w[rng.random((r, cols)) >= density] = 0
        mats.append(w)
    return mats


async def read_rows(ctx, dut, n_rows):
    """Rows ``0 .. n_rows - 1`` through an accumulator's read-out (``ro_en``/``ro_addr``,
    data a cycle later), as the channel reads its projection rows."""
    rows = []
    for r in range(n_rows):
        ctx.set(dut.ro_en, 1)
        ctx.set(dut.ro_addr, r)
        await ctx.tick()
        ctx.set(dut.ro_en, 0)
        rows.append(ctx.get(dut.ro_data))
    return rows


def run_array(dut, acts, *, n_rows, loads=(), seed=0, col_idle=0.0, load_idle=0.0):
    """Simulate: run-time loads (payload ints), then one SpMV per vector of ``acts``.

    Zero activations are skipped (as the broadcaster skips them); the non-zero
    columns are offered in order, with seeded idle cycles of probability ``col_idle``.

    Returns
    -------
    results : list of (n_pe, n_rows) int arrays
    timing : list of dicts per SpMV, cycles counted from the first cycle a column may
        be offered: ``offered`` and ``pushed`` (per non-zero column), ``idle`` (first
        cycle the whole array is idle after the last push)
    """
    results, timing = [], []
    rng_col, rng_load = np.random.default_rng(seed), np.random.default_rng(seed + 1)

    async def bench(ctx):
        for word in loads:
            await stream_put(ctx, dut.load, dut.load.payload.shape().from_bits(word),
                             rng=rng_load, idle_prob=load_idle)
        for act in acts:
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            t, rec = 0, {"offered": [], "pushed": []}
            for j in np.flatnonzero(act):
                while rng_col.random() < col_idle:
                    await ctx.tick()
                    t += 1
                ctx.set(dut.col.valid, 1)
                ctx.set(dut.col.payload, {"col": int(j), "act": int(act[j])})
                rec["offered"].append(t)
                while True:
                    _, _, ready = await ctx.tick().sample(dut.col.ready)
                    t += 1
                    if ready:
                        rec["pushed"].append(t - 1)
                        break
                ctx.set(dut.col.valid, 0)
            while not ctx.get(dut.idle):
                await ctx.tick()
                t += 1
            rec["idle"] = t
            timing.append(rec)
            rows = await read_rows(ctx, dut, n_rows)
            results.append(np.array(rows, dtype=np.int64).T)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return results, timing


def array_cycles(image, act, offered, *, queue_depth):
    """What :class:`ArrayTimer` predicts for :func:`run_array`'s record of one SpMV:
    the push cycle of every non-zero column (offered at ``offered``) and the idle cycle."""
    ptr = np.asarray(image.ptr, dtype=np.int64)
    counts = np.diff(ptr, axis=1)
    timer = ArrayTimer(image.n_pe, queue_depth)
    pushed = []
    for j, t in zip(np.flatnonzero(act), offered, strict=True):
        pushed.append(timer.earliest(t))
        timer.push(pushed[-1], counts[:, j])
    return pushed, timer.all_idle()
