"""Stream helpers for Amaranth-simulator testbenches: put/get with seeded random stalls."""

__all__ = ["stream_put", "stream_get"]


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
