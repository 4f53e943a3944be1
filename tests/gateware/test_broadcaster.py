"""Broadcaster and LockstepFanout: the column groups of each phase, in order, under stalls."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from ese_hw.gateware.broadcaster import Broadcaster, LockstepFanout
from ese_hw.gateware.scheduler import Phase
from tests.gateware.sim_streams import stream_get, stream_put, stream_rules


class Bench(wiring.Component):
    """A Broadcaster reading real banks: the x slot and every PE's y and m banks."""

    def __init__(self, bc, x, y_banks, m_banks):
        self.bc, self._images = bc, (x, y_banks, m_banks)
        super().__init__({})
        self.m_ready = Signal(range(bc.cells_per_pe + 1))

    def elaborate(self, platform):
        m = Module()
        m.submodules.bc = bc = self.bc
        x, y_banks, m_banks = self._images

        def bank(name, rows, port):
            shape = port.data.shape()
            mem = Memory(shape=shape, depth=max(1, len(rows)),
                         init=[shape.const(r.tolist()) for r in rows])
            m.submodules[name] = mem
            wiring.connect(m, port, mem.read_port(transparent_for=()))

        bank("x", x, bc.x_rd)
        for p in range(len(y_banks)):
            bank(f"y{p}", y_banks[p], bc.y_rd[p])
            bank(f"m{p}", m_banks[p], bc.m_rd[p])
        m.d.comb += bc.m_ready.eq(self.m_ready)
        return m


def interleave(vec, n_pe, rows):
    """Element j of ``vec`` (length, C) in bank j % n_pe at row j // n_pe; the rows past
    the vector hold junk (a short group must read them as 0)."""
    banks = np.full((n_pe, rows, vec.shape[1]), 77, np.int64)
    for j, v in enumerate(vec):
        banks[j % n_pe, j // n_pe] = v
    return banks


def grouped(vec, k):
    """``vec`` (length, C) as groups (ceil(length / k), k, C), the last padded with 0."""
    groups = -(-len(vec) // k)
    out = np.zeros((groups * k, vec.shape[1]), np.int64)
    out[:len(vec)] = vec
    return out.reshape(groups, k, vec.shape[1])


def run_phases(dims, n_pe, c_n, *, seed, stall, zero_lanes, m_step, k=1):
    n_in, n_cells, n_proj = dims
    rng = np.random.default_rng(seed)

    def sparse(k):
        v = rng.integers(-100, 100, size=(k, c_n)) * (rng.random((k, c_n)) < 0.6)
        v[rng.random(k) < 0.3] = 0                       # some columns zero in every lane
        return v

    x, y, mm = sparse(n_in), sparse(n_proj), sparse(n_cells)
    bc = Broadcaster(n_in=n_in, n_cells=n_cells, n_proj=n_proj, n_pe=n_pe, n_channels=c_n,
                     act_bits=12, broadcast=k)
    x_words = grouped(x, k)[:, 0] if k == 1 else grouped(x, k)
    dut = Bench(bc, x_words, interleave(y, n_pe, bc.proj_rows),
                interleave(mm, n_pe, bc.cells_per_pe))
    y_seen = np.where(np.array([(zero_lanes >> ch) & 1 for ch in range(c_n)], bool), 0, y)
    gx, gy = bc.groups(n_in), bc.groups(n_proj)
    expected = {Phase.X: (grouped(x, k), 0), Phase.Y: (grouped(y_seen, k), gx),
                Phase.P: (grouped(mm, k), gx + gy)}
    got = {}
    state = {"phase": None, "late": 0}

    async def tb(ctx):
        ctx.set(bc.zero, zero_lanes)
        for phase in (Phase.X, Phase.Y, Phase.P):
            state["phase"] = phase
            ctx.set(bc.start, 1)
            ctx.set(bc.phase, phase)
            await ctx.tick()
            ctx.set(bc.start, 0)
            vec, first = expected[phase]
            want = [j for j in range(len(vec)) if np.any(vec[j] != 0)]   # non-zero groups
            got[phase] = []
            for _ in want:
                p = await stream_get(ctx, bc.column, rng=rng, stall_prob=stall)
                acts = p.act.acts if k > 1 else [p.act.acts]
                got[phase].append((p.col - first, [[int(a) for a in s] for s in acts],
                                   p.act.proj))
            for _ in range(10 * m_step * bc.cells_per_pe + 10):   # a zero tail is dropped
                if ctx.get(bc.idle):
                    break
                assert not ctx.get(bc.column.valid), "an extra column"
                await ctx.tick()
            assert ctx.get(bc.idle)
            assert [g[0] for g in got[phase]] == want
            np.testing.assert_array_equal(np.reshape([g[1] for g in got[phase]], (-1, k, c_n)),
                                          vec[want])
            assert all(g[2] == (phase == Phase.P) for g in got[phase])

    async def rounds(ctx):
        """m_t appears one local cell every ``m_step`` cycles of the P phase; an m column
        taken while its cell is not yet counted would have been read too early."""
        cycles = 0
        async for _, _, valid, ready, col, m_ready in ctx.tick().sample(
                bc.column.valid, bc.column.ready, bc.column.payload.col, dut.m_ready):
            if state["phase"] != Phase.P:
                continue
            if valid and ready:
                assert (col - gx - gy) * k // n_pe < m_ready, "m group before its cells"
            cycles += 1
            ctx.set(dut.m_ready, min(bc.cells_per_pe, cycles // m_step))
            state["late"] += m_ready < bc.cells_per_pe

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(rounds, background=True)
    sim.add_testbench(stream_rules(bc.column), background=True)
    sim.add_testbench(tb)
    sim.run()
    return got, state["late"]


@pytest.mark.parametrize("dims, n_pe, c_n, stall, zero_lanes, k", [
    ((6, 8, 5), 2, 1, 0.0, 0, 1),
    ((5, 9, 7), 3, 2, 0.4, 0b10, 1),    # lane 1 starts from zero state: its y reads 0
    ((4, 3, 2), 4, 3, 0.6, 0b101, 1),   # fewer cells than PEs
    ((3, 6, 4), 1, 2, 0.3, 0b11, 1),    # every lane reset: no y column survives
    ((6, 8, 5), 2, 1, 0.3, 0, 2),       # groups of 2; y's last group is short
    ((5, 9, 7), 3, 2, 0.4, 0b10, 3),    # groups of 3 over 3 PEs, every phase short
    ((10, 13, 6), 4, 2, 0.5, 0b01, 4),  # groups of 4: short x, y and m groups
    ((7, 12, 9), 8, 1, 0.2, 0, 8),      # one group per phase but the m groups
])
def test_columns_of_every_phase(dims, n_pe, c_n, stall, zero_lanes, k):
    got, waited = run_phases(dims, n_pe, c_n, seed=sum(dims), stall=stall,
                             zero_lanes=zero_lanes, m_step=6, k=k)
    assert waited > 0                          # the P phase did wait for m_t rounds


class FanoutToQueues(wiring.Component):
    """A :class:`LockstepFanout` into ``n`` queues of ``depth + 1`` entries, each with
    ``room`` while it holds fewer than ``depth`` (a PE's queue), drained on ``q``."""

    def __init__(self, n, depth):
        self._depth = depth
        self.fanout = LockstepFanout(shape=16, n=n)
        super().__init__({"i": In(stream.Signature(16)),
                          "q": Out(stream.Signature(16)).array(n)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fanout = fanout = self.fanout
        wiring.connect(m, wiring.flipped(self.i), fanout.i)
        for p, o in enumerate(fanout.o):
            m.submodules[f"queue{p}"] = queue = SyncFIFO(width=16, depth=self._depth + 1)
            m.d.comb += [queue.w_data.eq(o.payload), queue.w_en.eq(o.valid),
                         o.ready.eq(queue.w_rdy), fanout.room[p].eq(queue.level < self._depth),
                         self.q[p].valid.eq(queue.r_rdy), self.q[p].payload.eq(queue.r_data),
                         queue.r_en.eq(self.q[p].ready)]
        return m


def run_fanout(n, payloads, *, seed, idle, stall, depth=2):
    bench = FanoutToQueues(n, depth)
    outs = bench.fanout.o
    rng = np.random.default_rng(seed)
    rngs = [np.random.default_rng(seed + 1 + p) for p in range(n)]
    got = [[] for _ in range(n)]
    together = []

    async def producer(ctx):
        for v in payloads:
            await stream_put(ctx, bench.i, v, rng=rng, idle_prob=idle)

    def consumer(p):
        async def tb(ctx):
            for _ in payloads:
                got[p].append(await stream_get(ctx, bench.q[p], rng=rngs[p], stall_prob=stall))
        return tb

    async def monitor(ctx):
        """Every output transfers in the same cycle, or none does; no output is ever
        valid into a full queue (the room promise)."""
        async for _, _, *vr in ctx.tick().sample(*(o.valid for o in outs),
                                                 *(o.ready for o in outs)):
            valid, ready = vr[:n], vr[n:]
            assert all(r for v, r in zip(valid, ready, strict=True) if v)
            assert all(valid) or not any(valid)
            together.append(all(valid))

    sim = Simulator(bench)
    sim.add_clock(1e-8)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(producer)
    for p in range(n):
        sim.add_testbench(consumer(p))
    sim.run()
    return got, sum(together)


@pytest.mark.parametrize("n", [1, 2, 5])
@pytest.mark.parametrize("depth", [1, 2])
def test_fanout_transfers_in_lockstep(n, depth):
    """Random producer pauses and random drains of every queue: nothing lost or
    duplicated, every transfer in lock-step, never into a full queue."""
    payloads = list(range(100, 140))
    got, transfers = run_fanout(n, payloads, seed=n, idle=0.3, stall=0.4, depth=depth)
    assert transfers == len(payloads)
    for p in range(n):
        assert got[p] == payloads
