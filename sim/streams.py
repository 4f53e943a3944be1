"""cocotb 2.x glue for ``amaranth.lib.stream`` ports of generated Verilog.

Amaranth names a stream member ``<path>`` at the top level as ``<path>__valid``,
``<path>__ready`` and ``<path>__payload`` (member paths joined by ``__``; a
``data.Layout`` payload is one flat vector), plus ``clk`` and a synchronous,
active-high ``rst``.

The producers and consumers are cocotbext-axi's generic valid/ready stream classes
(``cocotbext.axi.stream.define_stream``) on those names: :class:`StreamSource` and
:class:`StreamSink`, built with :func:`stream_source` and :func:`stream_sink`. Their
transactions carry one field, ``payload``. Stalls are seeded pause patterns
(:func:`seeded_pauses`, for ``set_pause_generator``): a paused source offers no new
payload in that cycle (it never withdraws one it offered: the stream rules forbid valid
waiting for ready or dropping before the transfer); a paused sink holds ready low.

Timing, for testbenches that count cycles: a source drives ``valid`` and ``payload``
right after a rising edge, from what it had queued before that edge; so words queued
right after edge ``k`` are first offered in the cycle that starts at edge ``k + 1``,
and :meth:`StreamSource.wait` returns right after the edge of the last transfer.

What cocotbext-axi lacks is a check that the DUT, as a producer, obeys the stream
rules; :class:`StreamRuleChecker` is that check. It reads ``valid``, ``ready`` and
``payload`` in ``ReadOnly`` of each cycle, where all combinational logic has settled:
the values the DUT sees at the next rising edge, so "valid and ready at ReadOnly" is
exactly "a transfer at the next edge".
"""

from __future__ import annotations

import itertools

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge
from cocotbext.axi.stream import define_stream

__all__ = [
    "StreamBus",
    "StreamProtocolError",
    "StreamRuleChecker",
    "StreamSink",
    "StreamSource",
    "StreamTransaction",
    "reset",
    "seeded_pauses",
    "start_clock",
    "stream_sink",
    "stream_source",
]

StreamBus, StreamTransaction, StreamSource, StreamSink, _StreamMonitor = define_stream(
    "AmaranthStream", signals=["valid", "ready", "payload"])

#: What Amaranth puts between a stream port's path and its member names.
SEPARATOR = "__"


class StreamProtocolError(AssertionError):
    """The DUT broke the stream rules (valid dropped, or payload changed, before a transfer)."""


def _bus(dut, prefix):
    return StreamBus.from_prefix(dut, prefix, bus_separator=SEPARATOR)


def stream_source(dut, prefix: str, *, pauses=None, clk=None) -> StreamSource:
    """A cocotbext-axi source on stream port ``prefix`` of ``dut`` (the DUT is the sink).

    Parameters
    ----------
    dut : cocotb handle
    prefix : str
        Port path, e.g. ``"i"`` for ``i__valid``/``i__ready``/``i__payload``.
    pauses : iterable of bool, optional
        The pause pattern, one value per cycle (:func:`seeded_pauses`); none: never paused.
    clk : cocotb handle, optional
        Defaults to ``dut.clk``.
    """
    source = StreamSource(_bus(dut, prefix), dut.clk if clk is None else clk)
    if pauses is not None:
        source.set_pause_generator(pauses)
    return source


def stream_sink(dut, prefix: str, *, pauses=None, clk=None) -> StreamSink:
    """A cocotbext-axi sink on stream port ``prefix`` of ``dut`` (the DUT is the source);
    ``pauses`` as for :func:`stream_source` (a paused cycle holds ready low)."""
    sink = StreamSink(_bus(dut, prefix), dut.clk if clk is None else clk)
    if pauses is not None:
        sink.set_pause_generator(pauses)
    return sink


def seeded_pauses(rng, prob: float):
    """An endless pause pattern for ``set_pause_generator``: each cycle paused with
    probability ``prob``, drawn from the ``numpy.random.Generator`` ``rng``; ``None``
    when ``prob`` is 0 (never paused, and no pause coroutine running)."""
    if not 0.0 <= prob < 1.0:
        raise ValueError(f"a pause probability must be in [0, 1), not {prob!r}")
    if prob == 0:
        return None
    return (bool(rng.random() < prob) for _ in itertools.count())


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


class StreamRuleChecker:
    """Watches stream port ``prefix`` of ``dut`` (a DUT output) for broken stream rules:
    a valid that drops, or a payload that changes, before its transfer.

    Each violation is logged and kept in ``errors``; :meth:`check_ok` raises
    :class:`StreamProtocolError` if there is any. A violation needs a cycle with valid
    high and ready low, so the check matters only when the consumer stalls.
    """

    def __init__(self, dut, prefix: str, *, clk=None):
        self.valid, self.ready, self.payload = (
            getattr(dut, f"{prefix}{SEPARATOR}{name}") for name in ("valid", "ready", "payload"))
        self.prefix = prefix
        self.clk = dut.clk if clk is None else clk
        self.errors: list[str] = []
        self._task = None
        self._log = dut._log

    def start(self) -> StreamRuleChecker:
        """Start watching (call right after a rising edge); returns ``self``."""
        if self._task is None:
            self._task = cocotb.start_soon(self._run())
        return self

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        pending = None  # payload offered last cycle but not taken
        for cycle in itertools.count():
            await ReadOnly()
            valid = bool(self.valid.value)
            if pending is not None:
                if not valid:
                    self._error(f"cycle {cycle}: valid dropped before the transfer")
                elif self.payload.value != pending:
                    self._error(f"cycle {cycle}: payload changed before the transfer")
            pending = self.payload.value if valid and not self.ready.value else None
            await RisingEdge(self.clk)

    def _error(self, msg: str) -> None:
        self.errors.append(msg)
        self._log.error("stream %s: %s", self.prefix, msg)

    def check_ok(self) -> None:
        """Raise :class:`StreamProtocolError` if any rule was broken."""
        if self.errors:
            raise StreamProtocolError("; ".join(self.errors[:5]))
