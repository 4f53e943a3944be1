"""Stream helpers for Amaranth-simulator testbenches: put/get with seeded random stalls."""

__all__ = ["stream_put", "stream_get", "stream_rules", "put_frames", "get_frames"]


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


async def put_frames(ctx, port, x_q, resets, *, rng=None, idle_prob=0.0):
    """Send every frame of ``x_q`` (C, T, I) on a channel's ``x`` port, all lanes side by
    side, with ``resets`` (T, C) as the ``reset`` bits of each frame's first element."""
    c_n, t_n, n_in = x_q.shape
    for t in range(t_n):
        for j in range(n_in):
            rst = int(sum(1 << ch for ch in range(c_n) if resets[t, ch])) if j == 0 else 0
            await stream_put(ctx, port, {"x": [int(v) for v in x_q[:, t, j]], "reset": rst},
                             rng=rng, idle_prob=idle_prob)


async def get_frames(ctx, port, ys, *, rng=None, stall_prob=0.0, quiet_cycles=50):
    """Fill ``ys`` (C, T, P) from a channel's ``y`` port, then hold ready for
    ``quiet_cycles`` and fail on any further element (nothing may be duplicated)."""
    _, t_n, n_out = ys.shape
    for t in range(t_n):
        for q in range(n_out):
            v = await stream_get(ctx, port, rng=rng, stall_prob=stall_prob)
            ys[:, t, q] = [int(e) for e in v]
    ctx.set(port.ready, 1)
    for _ in range(quiet_cycles):
        _, _, valid = await ctx.tick().sample(port.valid)
        assert not valid, "an extra y element"


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
