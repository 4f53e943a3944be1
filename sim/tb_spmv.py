"""cocotb testbench for the ``SpMV`` PE array (``ese_hw.gateware.spmv``), from the golden model.

Everything the testbench needs is prepared in Python on the host by :func:`spmv_tb_data`
and passed through ``run_cocotb(data=...)``: the packed ``load`` payloads, the activation
vectors, the expected results (in ``result`` stream order) and the expected
``start`` -> ``done`` cycles of every run. The testbench only drives and compares.

A *session* is a list of phases, each an optional block of ``load`` writes followed by
SpMV runs. Every run checks:

* the results equal the golden SpMV bit for bit, in stream order (local row 0 of PE 0 ..
  N-1, then row 1, ...), with nothing lost or duplicated (the result sink keeps
  counting after the last run, and the stream rules are checked on ``result``);
* nothing deadlocks: every wait has a cycle budget;
* the cycles from the ``start`` strobe to ``done`` agree with the cycle model
  (``ese_hw.model.cycles.spmv_cycles``) within ``cycle_tol`` (relative) -- only on runs
  whose ``act`` stream never stalls, because the cycle model assumes an always-valid
  activation stream. Runs with ``act`` stalls are checked for correctness only.

Measured cycles go to ``tb_out.json`` next to the data file (the pytest driver and the
benchmark read them back).

Data keys (see :func:`spmv_tb_data`): ``load_words`` (uint64, packed ``load`` payloads),
``load_bounds`` (phase p writes ``load_words[load_bounds[p]:load_bounds[p+1]]``),
``run_phase``, ``run_ncols``, ``run_nrows``, ``acts`` (runs x n_cols_max, int64),
``exp_bounds``, ``expected`` (int64, stream order), ``exp_cycles``, ``check_cycles``,
``act_idle``, ``res_stall`` (per run), ``load_idle``, ``cycle_tol`` (scalars).
"""

import json
import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge, SimTimeoutError, with_timeout

from ese_hw.simtools import DATA_ENV, load_tb_data
from sim.streams import StreamDriver, StreamSink, reset, start_clock

__all__ = ["SpmvTB", "read_tb_out", "spmv_load_payloads", "spmv_tb_data"]

CLOCK_NS = 5.0



# --------------------------------------------------------------------------------------
# Host side (no simulator): pack the data the testbench reads.

def spmv_load_payloads(dut, image):
    """Packed ``load`` payloads (ints) that write ``image``'s entries and pointers.

    Packing goes through the DUT's own ``load`` payload layout, so field order and
    widths can never disagree with the RTL.
    """
    from ese_hw.gateware.spmv import LoadTarget

    layout = dut.load.payload.shape()

    def pack(target, pe, addr, value):
        return layout.const({"target": target, "pe": pe, "addr": addr,
                             "data": int(value)}).as_value().value

    words = []
    for p in range(image.n_pe):
        words += [pack(LoadTarget.ENTRY, p, a, w) for a, w in enumerate(image.words[p])]
        words += [pack(LoadTarget.PTR, p, a, v) for a, v in enumerate(image.ptr[p])]
    return words


def spmv_tb_data(dut, phases, *, accum_bits, queue_depth, load_idle=0.0, cycle_tol=0.02):
    """Data for :class:`SpmvTB` from a list of phases.

    Parameters
    ----------
    dut : SpMV
        The design (for the load layout and ``n_cols_max``); not elaborated here.
    phases : list of dict
        ``{"image": SpmvImage, "load": bool, "runs": [{"act": ..., "act_idle": float,
        "res_stall": float}, ...]}``. ``load=True`` writes the image through ``load``
        first (else it must already be in the memories, e.g. the elaboration-time image).
    accum_bits, queue_depth : int
        Passed to the golden SpMV and the cycle model.

    Returns
    -------
    data : dict of arrays for ``run_cocotb(data=...)``
    expected : list of dict per run: ``result`` ((n_pe, n_rows) golden), ``cycles``
        (the cycle model's dict), ``check_cycles`` (bool)
    """
    from ese_hw.model.cycles import spmv_cycles
    from ese_hw.model.golden import spmv

    width = dut.load.payload.shape().size
    if width > 64:
        raise ValueError(f"load payload is {width} bits; the .npz carries at most 64")
    load_words, load_bounds = [], [0]
    run_phase, run_ncols, run_nrows, acts = [], [], [], []
    exp_bounds, expected, exp_cycles, check, act_idle, res_stall = [0], [], [], [], [], []
    info = []
    for k, ph in enumerate(phases):
        image = ph["image"]
        if ph.get("load", False):
            load_words += spmv_load_payloads(dut, image)
        load_bounds.append(len(load_words))
        for run in ph["runs"]:
            act = np.asarray(run["act"], dtype=np.int64)
            want = spmv(image, act, accum_bits=accum_bits)
            cyc = spmv_cycles(image, act, queue_depth=queue_depth)
            stream = want.T.reshape(-1)            # row 0 of PE 0..N-1, then row 1, ...
            run_phase.append(k)
            run_ncols.append(image.n_cols)
            run_nrows.append(image.local_rows)
            padded = np.zeros(dut.n_cols_max, dtype=np.int64)
            padded[:image.n_cols] = act
            acts.append(padded)
            expected.append(stream)
            exp_bounds.append(exp_bounds[-1] + len(stream))
            exp_cycles.append(cyc["cycles"])
            idle = float(run.get("act_idle", 0.0))
            check.append(idle == 0.0)
            act_idle.append(idle)
            res_stall.append(float(run.get("res_stall", 0.0)))
            info.append({"result": want, "cycles": cyc, "check_cycles": idle == 0.0})
    data = {
        "load_words": np.array(load_words, dtype=np.uint64),
        "load_bounds": np.array(load_bounds, dtype=np.int64),
        "run_phase": np.array(run_phase, dtype=np.int64),
        "run_ncols": np.array(run_ncols, dtype=np.int64),
        "run_nrows": np.array(run_nrows, dtype=np.int64),
        "acts": np.array(acts, dtype=np.int64),
        "exp_bounds": np.array(exp_bounds, dtype=np.int64),
        "expected": np.concatenate(expected).astype(np.int64),
        "exp_cycles": np.array(exp_cycles, dtype=np.int64),
        "check_cycles": np.array(check, dtype=bool),
        "act_idle": np.array(act_idle),
        "res_stall": np.array(res_stall),
        "load_idle": np.float64(load_idle),
        "cycle_tol": np.float64(cycle_tol),
    }
    return data, info


def read_tb_out(run_dir):
    """The ``tb_out.json`` a run of :class:`SpmvTB` wrote in ``run_dir``."""
    return json.loads((Path(run_dir) / "tb_out.json").read_text())


# --------------------------------------------------------------------------------------
# Simulator side.

class SpmvTB:
    """Drives one ``SpMV``: ``load`` and ``act`` producers, a ``result`` consumer, all
    with seeded random stalls (seed ``cocotb.RANDOM_SEED``), and the ``start`` strobe."""

    def __init__(self, dut, data):
        self.dut = dut
        self.data = data
        seed = cocotb.RANDOM_SEED
        start_clock(dut, CLOCK_NS)
        dut.start.value = 0
        dut.n_cols.value = 0
        dut.n_rows.value = 0
        self.loader = StreamDriver(dut, "load", rng=np.random.default_rng([seed, 1]),
                                   idle_prob=float(data["load_idle"]))
        self.act = StreamDriver(dut, "act", rng=np.random.default_rng([seed, 2]))
        self.sink = StreamSink(dut, "result", rng=np.random.default_rng([seed, 3]),
                               signed=True)
        self.cycle = 0

    async def _count_cycles(self):
        while True:
            await RisingEdge(self.dut.clk)
            self.cycle += 1

    async def _wait(self, what, cond, budget):
        """Wait (sampling at ReadOnly after each edge) until ``cond()``; fail after ``budget``."""
        for _ in range(budget):
            await ReadOnly()
            if cond():
                return
            await RisingEdge(self.dut.clk)
        raise AssertionError(f"timeout after {budget} cycles waiting for {what} "
                             f"(cycle {self.cycle})")

    async def load(self, words):
        """Write ``words`` through ``load`` (with its seeded idle cycles)."""
        budget = 50 * len(words) + 1000
        sent0 = self.loader.sent
        try:
            await with_timeout(self.loader.send(words), budget * CLOCK_NS, "ns")
        except SimTimeoutError:
            raise AssertionError(f"load deadlocked: {self.loader.sent - sent0} of "
                                 f"{len(words)} words taken in {budget} cycles") from None
        assert self.loader.sent - sent0 == len(words)

    async def spmv(self, act, n_cols, n_rows, *, act_idle, res_stall, budget):
        """One SpMV: strobe ``start``, feed ``act``, wait for ``done``; returns the
        ``start`` -> ``done`` cycles (cycle 0 = the cycle ``start`` is high)."""
        dut = self.dut
        self.act.idle_prob = act_idle
        self.sink.stall_prob = res_stall
        dut.n_cols.value = n_cols
        dut.n_rows.value = n_rows
        dut.start.value = 1
        # Valid from the start strobe on: with act_idle == 0 the stream is always valid,
        # which is what the cycle model assumes.
        feeder = cocotb.start_soon(self.act.send([int(a) for a in act[:n_cols]]))
        await RisingEdge(dut.clk)          # start is sampled at this edge
        dut.start.value = 0
        count = 1
        while True:
            await ReadOnly()
            if dut.done.value:
                break
            if count >= budget:
                raise AssertionError(f"no done after {budget} cycles "
                                     f"({self.act.sent} activations taken)")
            await RisingEdge(dut.clk)
            count += 1
        await RisingEdge(dut.clk)
        assert feeder.done(), "done before every activation was taken"
        return count

    async def run(self):
        d = self.data
        dut = self.dut
        await reset(dut)
        cocotb.start_soon(self._count_cycles())
        self.sink.start()
        bounds, words = d["load_bounds"], d["load_words"]
        exp, eb = d["expected"], d["exp_bounds"]
        measured, t0 = [], time.perf_counter()
        phase = -1
        for r in range(len(d["run_phase"])):
            if d["run_phase"][r] != phase:
                phase = int(d["run_phase"][r])
                chunk = [int(w) for w in words[bounds[phase]:bounds[phase + 1]]]
                if chunk:
                    await self.load(chunk)
            n_out = int(eb[r + 1] - eb[r])
            want_cycles = int(d["exp_cycles"][r])
            cycles = await self.spmv(d["acts"][r], int(d["run_ncols"][r]),
                                     int(d["run_nrows"][r]), act_idle=float(d["act_idle"][r]),
                                     res_stall=float(d["res_stall"][r]),
                                     budget=20 * want_cycles + 20 * len(d["acts"][r]) + 2000)
            measured.append(cycles)
            await self.sink.wait_for(int(eb[r + 1]), timeout_cycles=20 * n_out + 2000)
            await self._wait("busy to drop", lambda: not dut.busy.value, 1000)
            await RisingEdge(dut.clk)
            got = np.array(self.sink.items[int(eb[r]):int(eb[r + 1])], dtype=np.int64)
            want = exp[eb[r]:eb[r + 1]]
            bad = np.flatnonzero(got != want)
            assert not len(bad), (
                f"run {r}: {len(bad)} of {n_out} results differ; first at stream index "
                f"{bad[0]}: got {got[bad[0]]}, golden {want[bad[0]]}")
            if d["check_cycles"][r]:
                tol = float(d["cycle_tol"]) * want_cycles
                assert abs(cycles - want_cycles) <= tol, (
                    f"run {r}: {cycles} cycles start -> done, cycle model {want_cycles}")
            dut._log.info("run %d: %d results ok, %d cycles (model %d%s)", r, n_out, cycles,
                          want_cycles, "" if d["check_cycles"][r] else ", act stalls")
        wall = time.perf_counter() - t0
        # Linger: a duplicated or spurious result after the last run must show up.
        for _ in range(50):
            await RisingEdge(dut.clk)
        assert len(self.sink.items) == int(eb[-1]), (
            f"{len(self.sink.items)} results seen, {int(eb[-1])} expected")
        self.sink.check_ok()
        out = {"cycles": measured, "model_cycles": [int(c) for c in d["exp_cycles"]],
               "sim_cycles": self.cycle, "wall_seconds": wall}
        Path(os.environ[DATA_ENV]).with_name("tb_out.json").write_text(json.dumps(out))
        return out


@cocotb.test()
async def test_spmv_golden(dut):
    """Loads and SpMV runs of the session in the data file; bit-exact, cycle-checked."""
    await SpmvTB(dut, load_tb_data()).run()
