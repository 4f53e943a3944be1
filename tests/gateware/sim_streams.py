"""Stream helpers for Amaranth-simulator testbenches: put/get with seeded random stalls."""

__all__ = ["stream_put", "stream_get", "stream_rules"]


async def stream_put(ctx, port, payload, *, rng=None, idle_prob=0.0):
    """Offer ``payload`` on ``port`` (valid never waits on ready) after random idle cycles."""
    while rng is not None and rng.random() < idle_prob:
        await ctx.tick()
    ctx.set(port.valid, 1)
    ctx.set(port.payload, payload)
    await ctx.tick().until(port.ready)
    ctx.set(port.valid, 0)


async def stream_get(ctx, port, *, rng=None, stall_prob=0.0):
    """Take one payload from ``port``, dropping ready at random."""
    while True:
        ready = not (rng is not None and rng.random() < stall_prob)
        ctx.set(port.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(port.valid, port.payload)
        if ready and valid:
            ctx.set(port.ready, 0)
            return payload


def stream_rules(port):
    """A background testbench for ``sim.add_testbench(..., background=True)``: once
    ``port`` is valid, valid and payload hold until the transfer (the stream rules every
    producer here must keep)."""
    async def check(ctx):
        held = None
        async for _, _, valid, ready, payload in ctx.tick().sample(port.valid, port.ready,
                                                                    port.payload):
            value = payload.as_value().value if hasattr(payload, "as_value") else payload
            if held is not None:
                assert valid and value == held, \
                    "valid fell or the payload changed before the transfer"
            held = value if valid and not ready else None
    return check
