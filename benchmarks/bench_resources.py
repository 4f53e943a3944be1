"""Yosys resource estimates of the channel at the paper's per-PE sizes, extrapolated to 32 PEs.

Synthesizing a 32-PE channel with Yosys (WebAssembly) takes too long, and every PE
is the same: so the channel is synthesized with 1 and 2 PEs at the paper shape's
per-PE sizes (32 cells and 16 projection rows per PE, 153 inputs, 12,288 entry words,
6-bit indices, 12/16/48-bit weights/activations/accumulators, one lock-step channel),
and the difference gives the cost of one PE; ``N=32`` is the 1-PE figure plus 31 PEs.
Writes ``build/bench/resources.json``. These are Yosys ``synth_xilinx`` mappings for
UltraScale, not Vivado results (see ``ese_hw.synth``).
"""

import json
import sys
import time
from pathlib import Path

from ese_hw.gateware.channel import Channel
from ese_hw.simtools import generate_verilog
from ese_hw.synth import RESOURCE_KEYS, XCKU060_CAPACITY, yosys_resource_estimate

QFORMATS = dict(fw_g=12, fw_y=12, fp=12, fa=12, fc=12, fg=15)
ESE = {"LUT": 293_920, "FF": 453_068, "RAMB36E2": 947, "DSP48E2": 1_504}


def channel(n_pe, n_channels=1):
    return Channel(n_in=153, n_cells=32 * n_pe, n_proj=16 * n_pe, n_pe=n_pe,
                   n_channels=n_channels, qformats=QFORMATS, index_bits=6, entry_depth=12288)


def main(out="build/bench/resources.json"):
    build = Path("build/bench/resources")
    result = {"note": __doc__.strip().splitlines()[0], "runs": {}}
    for n in (1, 2):
        t = time.perf_counter()
        v = generate_verilog(channel(n), "channel", build / f"n{n}")
        r = yosys_resource_estimate(v, "channel")
        r.pop("by_type")
        r["seconds"] = time.perf_counter() - t
        result["runs"][n] = r
        print(f"{n} PE(s): {r}")
    one, two = result["runs"][1], result["runs"][2]
    per_pe = {k: two[k] - one[k] for k in RESOURCE_KEYS}
    n32 = {k: one[k] + 31 * per_pe[k] for k in RESOURCE_KEYS}
    n32["BRAM36_equiv"] = n32["RAMB36E2"] + n32["RAMB18E2"] / 2
    result["per_pe"] = per_pe
    result["n_pe_32"] = n32
    result["xcku060_fraction_32"] = {
        "LUT": n32["LUT"] / XCKU060_CAPACITY["LUT"], "FF": n32["FF"] / XCKU060_CAPACITY["FF"],
        "BRAM36": n32["BRAM36_equiv"] / XCKU060_CAPACITY["RAMB36E2"],
        "DSP48E2": n32["DSP48E2"] / XCKU060_CAPACITY["DSP48E2"]}
    result["ese_reported"] = ESE
    print(f"per PE: {per_pe}")
    print(f"32 PEs: {n32}")
    print("fraction of the XCKU060: " + ", ".join(
        f"{k} {v:.1%}" for k, v in result["xcku060_fraction_32"].items()))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
