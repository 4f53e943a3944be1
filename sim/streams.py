"""cocotb 2.x helpers for ``amaranth.lib.stream`` ports of generated Verilog.

Amaranth names a stream member ``<path>`` at the top level as ``<path>__valid``,
``<path>__ready`` and ``<path>__payload`` (member paths joined by ``__``; a
``data.Layout`` payload is one flat vector), plus ``clk`` and a synchronous,
active-high ``rst``.

Sampling discipline (the same in every helper, so no transfer is lost or counted
twice): inputs are written right after a rising edge; the helper then waits for
``ReadOnly`` of that same time step, where all combinational logic has settled, and
reads ``valid``/``ready``/``payload``. Those are the values the DUT sees at the next
rising edge, so "valid and ready at ReadOnly" is exactly "a transfer at the next edge".

Stalls are seeded: ``StreamDriver`` inserts random idle cycles before a payload (valid
low, never withdrawn once raised: the stream rules forbid valid waiting for ready or
dropping before the transfer); ``StreamSink`` drops ready at random. Both take a
``numpy.random.Generator`` or an int seed.
"""

from __future__ import annotations

from collections.abc import Iterable

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

__all__ = [
    "StreamDriver",
    "StreamMonitor",
    "StreamProtocolError",
    "StreamSink",
    "reset",
    "start_clock",
    "stream_signals",
]


class StreamProtocolError(AssertionError):
    """The DUT broke the stream rules (valid dropped, or payload changed, before a transfer)."""


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def stream_signals(dut, prefix: str):
    """``(valid, ready, payload)`` handles of stream port ``prefix`` (e.g. ``"i"`` or ``"o"``)."""
    return (
        getattr(dut, f"{prefix}__valid"),
        getattr(dut, f"{prefix}__ready"),
        getattr(dut, f"{prefix}__payload"),
    )


def start_clock(dut, period_ns: float = 5.0, *, signal: str = "clk") -> Clock:
    """Start a clock on ``dut.<signal>`` (5 ns = the 200 MHz target) and return it."""
    clock = Clock(getattr(dut, signal), period_ns, unit="ns")
    clock.start()
    return clock


async def reset(dut, cycles: int = 3, *, clk: str = "clk", rst: str = "rst") -> None:
    """Hold Amaranth's synchronous reset for ``cycles`` edges; returns just after an edge."""
    clock = getattr(dut, clk)
    getattr(dut, rst).value = 1
    for _ in range(cycles):
        await RisingEdge(clock)
    getattr(dut, rst).value = 0
    await RisingEdge(clock)


def _to_int(handle, signed: bool) -> int:
    value = handle.value
    return value.to_signed() if signed else value.to_unsigned()


class StreamDriver:
    """Drives stream port ``prefix`` of ``dut`` as the producer (the DUT is the sink).

    Parameters
    ----------
    dut : cocotb handle
    prefix : str
        Port path, e.g. ``"i"`` for ``i__valid``/``i__ready``/``i__payload``.
    clk : cocotb handle, optional
        Defaults to ``dut.clk``.
    rng : numpy Generator or int, optional
        Seeds the idle-cycle pattern.
    idle_prob : float
        Probability of an idle cycle before each payload (repeats geometrically).
    """

    def __init__(self, dut, prefix: str, *, clk=None, rng=None, idle_prob: float = 0.0):
        if not 0.0 <= idle_prob < 1.0:
            raise ValueError(f"idle_prob must be in [0, 1), not {idle_prob!r}")
        self.valid, self.ready, self.payload = stream_signals(dut, prefix)
        self.clk = dut.clk if clk is None else clk
        self.rng = _rng(rng)
        self.idle_prob = idle_prob
        self._mask = (1 << len(self.payload)) - 1
        self.valid.value = 0
        self.sent = 0

    async def send(self, payloads: Iterable[int]) -> None:
        """Send every payload in order; returns right after the last transfer's edge.

        Call it right after a rising edge (e.g. after :func:`reset`), not in ``ReadOnly``.
        Negative ints are sent as two's complement of the payload width.
        """
        for word in payloads:
            while self.rng.random() < self.idle_prob:
                self.valid.value = 0
                await RisingEdge(self.clk)
            self.valid.value = 1
            self.payload.value = int(word) & self._mask
            await self._until_taken()
            self.sent += 1
        self.valid.value = 0

    async def _until_taken(self) -> None:
        """Hold the offered payload until the edge that transfers it (checks ``ready``
        every clock)."""
        while True:
            await ReadOnly()
            taken = bool(self.ready.value)
            await RisingEdge(self.clk)
            if taken:
                return

    async def put(self, word: int) -> None:
        """Send one payload."""
        await self.send([word])


class StreamMonitor:
    """Passively records every transfer on stream port ``prefix`` and checks the stream rules.

    Collected payloads are in ``items`` (ints; two's complement decoded if ``signed``).
    With ``check=True`` a valid that drops, or a payload that changes, before its
    transfer raises :class:`StreamProtocolError` from :meth:`check_ok` (and is logged).
    """

    def __init__(self, dut, prefix: str, *, clk=None, signed: bool = False, check: bool = True):
        self.valid, self.ready, self.payload = stream_signals(dut, prefix)
        self.prefix = prefix
        self.clk = dut.clk if clk is None else clk
        self.signed = signed
        self.check = check
        self.items: list[int] = []
        self.errors: list[str] = []
        self._task = None
        self._log = dut._log

    def start(self) -> StreamMonitor:
        """Start observing (call right after a rising edge); returns ``self``."""
        if self._task is None:
            self._task = cocotb.start_soon(self._run())
        return self

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _drive(self) -> None:
        """Hook for :class:`StreamSink`: set inputs for this cycle (after the edge)."""

    async def _run(self) -> None:
        pending = None  # payload offered last cycle but not taken
        cycle = 0
        while True:
            self._drive()
            await ReadOnly()
            valid = bool(self.valid.value)
            ready = bool(self.ready.value)
            if self.check and pending is not None:
                if not valid:
                    self._error(f"cycle {cycle}: valid dropped before the transfer")
                elif self.payload.value != pending:
                    self._error(f"cycle {cycle}: payload changed before the transfer")
            pending = None
            if valid:
                if ready:
                    self.items.append(_to_int(self.payload, self.signed))
                else:
                    pending = self.payload.value
            await RisingEdge(self.clk)
            cycle += 1

    def _error(self, msg: str) -> None:
        self.errors.append(msg)
        self._log.error("stream %s: %s", self.prefix, msg)

    def check_ok(self) -> None:
        """Raise :class:`StreamProtocolError` if any rule was broken."""
        if self.errors:
            raise StreamProtocolError("; ".join(self.errors[:5]))

    async def wait_for(self, count: int, *, timeout_cycles: int = 100_000) -> list[int]:
        """Wait until ``count`` payloads were collected; returns them (all, in order)."""
        for _ in range(timeout_cycles):
            if len(self.items) >= count:
                return self.items
            await RisingEdge(self.clk)
        raise AssertionError(
            f"timeout: {len(self.items)} of {count} payloads after {timeout_cycles} cycles"
        )


class StreamSink(StreamMonitor):
    """Consumer of stream port ``prefix``: drives ready (with seeded random stalls) and
    collects payloads like :class:`StreamMonitor`.

    Parameters
    ----------
    stall_prob : float
        Probability that ready is low in a given cycle.
    rng : numpy Generator or int, optional
        Seeds the stall pattern.
    """

    def __init__(
        self,
        dut,
        prefix: str,
        *,
        clk=None,
        rng=None,
        stall_prob: float = 0.0,
        signed: bool = False,
        check: bool = True,
    ):
        if not 0.0 <= stall_prob < 1.0:
            raise ValueError(f"stall_prob must be in [0, 1), not {stall_prob!r}")
        super().__init__(dut, prefix, clk=clk, signed=signed, check=check)
        self.rng = _rng(rng)
        self.stall_prob = stall_prob
        self.ready.value = 0

    def _drive(self) -> None:
        self.ready.value = 0 if self.rng.random() < self.stall_prob else 1

    def stop(self) -> None:
        super().stop()
        self.ready.value = 0
