"""FPGA resources of one 32-PE channel at the paper shape, from ``ese_hw.flows.estimate``.

The design is what ``ese-hw generate`` ships for the default paper-shape model
(``ese-hw estimate --pes 32 --channels 1 --index-bits 6 --queue-depth 8``): seeded
random LSTMP weights 153/1024/512 compressed at the default density, 12-bit weights,
16-bit activations, 48-bit accumulators, 4096-entry lookup tables, and the AXI4-Stream
top around the channel. :func:`ese_hw.flows.estimate.estimate` synthesizes one PE and the
shell around the PEs with Yosys ``synth_xilinx -family xcu`` and composes
``shell + 32 x PE`` (its docstring says how, and how close that is to a flat run).
Writes ``build/bench/resources.json``. Yosys mappings for UltraScale, not Vivado results.
"""

import json
import sys
import time
from pathlib import Path

from ese_hw.flows.design import make_design
from ese_hw.flows.engines import ESE_FIGURES
from ese_hw.flows.estimate import RESOURCES, estimate, format_estimate

#: ESE's own utilisation of the XCKU060 (docs/design.md section 4, [recalled]).
ESE = {k: ESE_FIGURES[k] for k in RESOURCES}
CONFIG = dict(n_pe=32, n_channels=1, index_bits=6, queue_depth=8)


def main(out="build/bench/resources.json"):
    t0 = time.perf_counter()
    design = make_design(**CONFIG)
    result = estimate(design.params, progress=True)
    print(format_estimate(result))
    pe, shell = result["components"]["pe"], result["components"]["shell"]
    print("per PE: " + ", ".join(f"{k} {pe[k]:,}" for k in RESOURCES)
          + "; shell: " + ", ".join(f"{k} {shell[k]:,}" for k in RESOURCES))
    report = {"note": __doc__.strip().splitlines()[0], "config": CONFIG,
              "model": design.source, "estimate": result, "ese_reported": ESE,
              "ese_share": {k: ESE[k] / result["capacity"][k] for k in RESOURCES},
              "seconds": time.perf_counter() - t0}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
