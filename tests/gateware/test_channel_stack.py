"""ChannelStack: L channels in a pipeline, bit-exact with GoldenStack, every layer's
frame_done on stack_frame_cycles' cycle, the whole stack loaded through one stream."""

import json

import numpy as np
import pytest
from amaranth.sim import Simulator

from ese_hw.gateware.load import LoadError
from ese_hw.gateware.params import ChannelParams, StackParams
from ese_hw.gateware.stack import ChannelStack
from ese_hw.model.compress import Config, compress_stack
from ese_hw.model.cycles import stack_cycles, stack_frame_cycles
from ese_hw.model.golden import GoldenStack
from ese_hw.model.images import channel_images
from ese_hw.model.loadstream import load_stream_words, stack_load_words
from ese_hw.model.lstmp import PLAIN_WEIGHT_KEYS, LSTMPWeights, random_weights
from tests.gateware.sim_streams import get_frames, put_frames, stream_put


def _layer(n_in, n_cells, n_proj, seed):
    """Random weights of an LSTMP layer, or of a plain one (no W_ym) when ``n_proj`` is
    None."""
    if n_proj is not None:
        return random_weights(n_in, n_cells, n_proj, seed=seed)
    w = random_weights(n_in, n_cells, n_cells, seed=seed)
    return LSTMPWeights.from_arrays({k: w[k] for k in PLAIN_WEIGHT_KEYS}, projection=False)


def _stack(shapes, cfg, seed=0):
    """A compressed stack of layers ``(I, H, P)`` (P None: a plain layer, y = m), each
    one's I the previous one's output size."""
    return compress_stack([_layer(*s, seed=seed + k) for k, s in enumerate(shapes)], cfg)


SHAPES = ((3, 8, 4), (4, 8, 4))
CFG = Config(n_pe=2, density=0.5)


def _beats(layout, words):
    """A load stream's words (integers, cut to ``layout``) as ``load`` beat payloads."""
    mask = (1 << layout.size) - 1
    return [{"word": layout.from_bits(w & mask), "last": int(k == len(words) - 1)}
            for k, w in enumerate(words)]


def run_stack(dut, x_q, *, loads=(), resets=None, seed=0, x_idle=0.0, y_stall=0.0,
              load_idle=0.0, max_cycles=200_000):
    """Send the load streams ``loads`` (lists of words), then stream ``x_q`` (C, T, I)
    through ``dut``; return (y (C, T, P), the cycles of each layer's frame_done pulses
    (L lists) and then of each frame's first y transfer, the (loaded, load_error,
    x ready) status after each load stream)."""
    c_n, t_n, n_in = x_q.shape
    n_layers = dut.params.n_layers
    resets = np.zeros((t_n, c_n), bool) if resets is None else np.asarray(resets, bool)
    ys = np.zeros((c_n, t_n, dut.n_proj), dtype=np.int64)
    done = [[] for _ in range(n_layers)]
    y_first = []                           # the cycle each frame's first y element left
    rng_x, rng_y, rng_l = (np.random.default_rng(seed + k) for k in range(3))
    status = []

    async def counter(ctx):
        cycle = taken = 0
        async for _, _, pulses, valid, ready in ctx.tick().sample(dut.layer_done, dut.y.valid,
                                                                   dut.y.ready):
            cycle += 1
            for k in range(n_layers):
                if pulses >> k & 1:
                    done[k].append(cycle)
            if valid and ready:
                if taken % dut.n_proj == 0:
                    y_first.append(cycle)
                taken += 1
            assert cycle < max_cycles, "stack deadlocked (no progress)"

    async def producer(ctx):
        for words in loads:
            for payload in _beats(dut.params.load_layout, words):
                await stream_put(ctx, dut.load, payload, rng=rng_l, idle_prob=load_idle)
            await ctx.tick()
            status.append((ctx.get(dut.loaded), ctx.get(dut.load_error),
                           ctx.get(dut.x.ready)))
        await put_frames(ctx, dut.x, x_q, resets, rng=rng_x, idle_prob=x_idle)

    async def consumer(ctx):
        await get_frames(ctx, dut.y, ys, rng=rng_y, stall_prob=y_stall)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(counter)
    sim.add_testbench(producer, background=True)
    sim.add_testbench(consumer)
    sim.run()
    return ys, done + [y_first], status


def _inputs(golden, c_n, t_n, seed):
    rng = np.random.default_rng(seed)
    x_q = np.stack([golden.quantize_inputs(rng.standard_normal((t_n, golden.stack.n_in)))
                    for _ in range(c_n)])
    x_q[:, 2, :] = 0                                   # a silent frame
    return x_q


@pytest.mark.parametrize("k, c_n, shapes", [
    (1, 1, SHAPES),
    (2, 2, ((3, 8, 4), (4, 16, 4))),       # layer 1 the slower: layer 0's y waits
    (2, 1, ((3, 8, None), (8, 8, 4))),     # a plain layer (y = m) feeding an LSTMP one
])
def test_two_layers_equal_golden_stack_and_cycle_model(k, c_n, shapes):
    """Baked images, a lane reset mid-sequence: the last layer's y bit-exact, every
    layer's frame_done and each frame's first y on stack_frame_cycles' cycle (consumer
    always ready)."""
    stack = _stack(shapes, CFG)
    golden = GoldenStack(stack)
    x_q = _inputs(golden, c_n, 7, seed=k)
    resets = np.zeros((7, c_n), bool)
    resets[4, -1] = True
    want, traces = golden.run_channels(x_q, resets, trace=True)
    params = StackParams.for_stack(stack, n_channels=c_n, queue_depth=4, broadcast=k)
    y, done, _ = run_stack(ChannelStack(params=params, model=stack), x_q, resets=resets)
    np.testing.assert_array_equal(y, want)
    events = [[], []]
    model = stack_frame_cycles(stack.layers, x_q, traces, queue_depth=4, broadcast=k,
                               resets=resets, events=events)
    # The bench counts from 1 at the first tick, the model from 0; the last row is the
    # stack's first y element of each frame.
    y_first = [e["y_last"] - stack.n_out + 1 for e in events[-1]]
    np.testing.assert_array_equal(np.asarray(done) - 1, [*model, y_first])
    # The layers pipeline: layer 1 finishes frame t after layer 0 finished it, and
    # from frame 1 on layer 0 has finished frame t + 1 by then.
    assert (model[1] > model[0]).all() and (model[0][2:] < model[1][1:-1]).all()
    # Layer 0's y was held back by a full layer 1 (the stream outlasts P + 2 cycles).
    held = [e["output_end"] - e["frame_done"] > stack.layers[0].n_proj + 2 for e in events[0]]
    assert any(held) == (shapes[1][1] > shapes[0][1])


def test_stack_loaded_at_run_time_with_stalls():
    """Load streams for other stacks (one layer, three layers, another layer shape)
    carry another configuration hash and are refused with no frame taken; then the
    whole stack through its one load stream (idle cycles), random stalls on x and y,
    two lanes, K = 2, a reset: bit-exact, every layer's frames all done."""
    stack = _stack(SHAPES, CFG, seed=3)
    golden = GoldenStack(stack)
    x_q = _inputs(golden, 2, 8, seed=9)
    resets = np.zeros((8, 2), bool)
    resets[5, 0] = True
    params = StackParams.for_stack(stack, n_channels=2, queue_depth=4, broadcast=2)
    others = [_stack(s, CFG) for s in (SHAPES[:1], SHAPES + ((4, 8, 4),),
                                       ((3, 8, 4), (4, 12, 4)))]
    loads = [stack_load_words(StackParams.for_stack(o, n_channels=2), o) for o in others]
    assert len({params.load_config} | {w[2] for w in loads}) == 4
    loads.append(stack_load_words(params, stack))
    y, done, status = run_stack(ChannelStack(params=params), x_q, loads=loads, resets=resets,
                                seed=4, x_idle=0.3, y_stall=0.5, load_idle=0.3)
    assert status == [(0, LoadError.CONFIG, 0)] * 3 + [(1, LoadError.NONE, 1)]
    np.testing.assert_array_equal(y, golden.run_channels(x_q, resets))
    assert [len(d) for d in done] == [8, 8, 8]


def test_stack_cycles_interval_is_the_slowest_layer_and_latency_the_sum():
    """A slow second layer sets the interval; the latency is at least the layers' own
    latencies added (more when a layer's y waits for the next layer)."""
    stack = _stack(((3, 8, 4), (4, 16, 4)), CFG)
    golden = GoldenStack(stack)
    x_q = _inputs(golden, 1, 10, seed=1)
    both = stack_cycles(stack, x_q, queue_depth=4)
    assert both["cycles_per_frame"] == pytest.approx(max(both["layer_cycles_per_frame"]))
    _, traces = golden.run_channels(x_q, trace=True)
    alone = [stack_cycles(type(stack)((m,)), tr["x"], queue_depth=4)
             for m, tr in zip(stack.layers, traces, strict=True)]
    assert both["cycles_per_frame"] == pytest.approx(alone[1]["cycles_per_frame"])
    assert both["pipeline_latency_cycles"] >= sum(
        a["pipeline_latency_cycles"] for a in alone) - 1


def test_one_layer_stack_takes_a_channels_load_stream():
    """L = 1: no layer field, the channel's hash: the same load stream, word for word."""
    stack = _stack(SHAPES[:1], CFG)
    cp = ChannelParams.for_model(stack.layers[0])
    sp = StackParams((cp,))
    assert sp.load_layout == cp.load_layout and sp.load_config == cp.load_config
    assert stack_load_words(sp, stack) == load_stream_words(
        cp, channel_images(stack.layers[0], 1))
    two = StackParams.for_stack(_stack(SHAPES, CFG))
    assert two.layer_bits == 1 and "layer" in dict(two.load_layout.members)


def _load_stream_status(dut, words):
    """Send one load stream (integers) into ``dut``; return (loaded, load_error)."""
    status = []

    async def bench(ctx):
        for payload in _beats(dut.params.load_layout, words):
            await stream_put(ctx, dut.load, payload)
        await ctx.tick()
        status.append((ctx.get(dut.loaded), ctx.get(dut.load_error)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return status[0]


def test_generate_writes_a_stack_the_top_accepts(tmp_path):
    """``ese-hw generate`` on a 2-layer model: the top's Verilog holds both layers,
    config.json every layer's parameters and the stack's cycle figures, and its
    load.bin is the stack's one load stream, which the stack of config.json's
    parameters accepts."""
    from ese_hw.cli import main
    from ese_hw.flows.estimate import _part_counts, _part_instances
    from ese_hw.flows.generate import TOP_NAME
    from ese_hw.gateware.verilog import split_verilog_modules, verilog_instances
    from ese_hw.model.loadstream import split_beats

    stack = _stack(SHAPES, CFG, seed=5)
    stack.save(tmp_path / "m.npz")
    out = tmp_path / "gen"
    assert main(["generate", str(tmp_path / "m.npz"), "-o", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    params = StackParams.from_dict(config["stack"])
    assert params == StackParams.for_stack(stack)
    assert "channel" not in config and len(config["memory_depths"]["layers"]) == 2
    verilog = (out / f"{TOP_NAME}.v").read_text()
    assert f"module {TOP_NAME}" in verilog
    # The estimate's composition finds each layer's PEs apart (shell + N_k x PE_k).
    children = {name: verilog_instances(text)
                for name, text in split_verilog_modules(verilog).items()}
    counts = _part_counts(params)
    assert counts == {"layer0/pe": 2, "layer1/pe": 2}
    for part in counts:
        found = _part_instances(children, TOP_NAME, part, 2)
        assert all(f".{part.split('/')[0]}.pe" in path for path, _ in found), found
    load = (out / "load.bin").read_bytes()
    words = split_beats(load, params.load_layout.size)
    assert words == stack_load_words(params, stack) and words[2] == params.load_config
    assert _load_stream_status(ChannelStack(params=params), words) == (1, LoadError.NONE)
    golden = GoldenStack(stack)
    x_q = np.stack([golden.quantize_inputs(np.random.default_rng(0).standard_normal(
        (config["performance"]["frames"], 3)))])
    want = stack_cycles(stack, x_q, queue_depth=params.queue_depth)
    assert config["performance"]["cycles_per_frame"] == want["cycles_per_frame"]
    assert "2 stacked layers" in (out / "README.md").read_text()
