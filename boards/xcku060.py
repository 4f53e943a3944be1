"""Amaranth platform for the Kintex UltraScale XCKU060 (xcku060-ffva1156-2-e), ESE's part.

The pins are placeholders. ESE's board (Alpha Data ADM-PCIE-KU3) is not described
here; the only resource is a 200 MHz differential clock on a plausible HP-bank pin
pair so that a design that requests nothing else can be elaborated. The accelerator
core is meant for *out-of-context* synthesis (``synth_design -mode out_of_context``):
its hundreds of stream/port bits are not tied to package pins, and the only timing
constraint is the 5 ns clock on its ``clk`` port. :func:`extract_vivado_project`
writes such a project for a ``wiring.Component`` by default.

Vivado is not needed to write the project; it is needed to run it
(``sh build_top.sh`` in the extracted directory).
"""

from __future__ import annotations

from pathlib import Path

from amaranth.back import verilog
from amaranth.build import Attrs, Clock, DiffPairs, Resource
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.vendor import XilinxPlatform

__all__ = ["CLOCK_PERIOD_NS", "PART", "XCKU060Platform", "extract_vivado_project"]

#: ESE's clock: 200 MHz.
CLOCK_PERIOD_NS = 5.0


class XCKU060Platform(XilinxPlatform):
    """xcku060-ffva1156-2-e with one placeholder 200 MHz LVDS clock input (``clk200``)."""

    device = "xcku060"
    package = "ffva1156"
    speed = "2-e"
    default_clk = "clk200"
    resources = [
        # Placeholder: an HP-bank global-clock-capable pair; replace with the board's.
        Resource(
            "clk200",
            0,
            DiffPairs("AK17", "AK16", dir="i"),
            Clock(200e6),
            Attrs(IOSTANDARD="LVDS"),
        ),
    ]
    connectors = []


#: The full part name Vivado takes (``-part``).
PART = f"{XCKU060Platform.device}-{XCKU060Platform.package}-{XCKU060Platform.speed}"


def _has_ports(top) -> bool:

    return isinstance(top, wiring.Component) and len(list(top.signature.members)) > 0


def extract_vivado_project(
    top,
    out_dir,
    *,
    name: str = "top",
    out_of_context: bool | None = None,
    clock_period_ns: float = CLOCK_PERIOD_NS,
    clock_port: str = "clk",
    verilog_text: str | None = None,
) -> Path:
    """Write a Vivado project tree (``.v``, ``.xdc``, ``.tcl``, ``build_<name>.sh``) for ``top``.

    Parameters
    ----------
    top : Elaboratable
        The design. A ``wiring.Component`` keeps its ports as the top-level ports.
    out_dir : path-like
        Created if missing; returned.
    out_of_context : bool, optional
        Default: ``True`` for a ``Component`` with ports. Then the Verilog is the
        component itself (ports ``clk``, ``rst``, ``<member>__<field>``), the XDC only
        constrains ``clock_port`` to ``clock_period_ns``, synthesis runs with
        ``-mode out_of_context -part`` :data:`PART` and the script stops after the
        post-route reports (an OOC design has no bitstream): utilization after
        synthesis, placement and routing, and the timing summary (``<name>_timing.rpt``).
        ``False``: an ordinary platform build where ``top`` requests pins itself and the
        ``sync`` domain comes from ``clk200``.
    clock_port : str
        Out of context: the Verilog port the clock arrives on (``clk`` for a component
        in Amaranth's ``sync`` domain; ``aclk`` for a top that drives its own domain).
    verilog_text : str, optional
        Out of context: the Verilog already generated for ``top`` (a large design
        converts once, not once per caller).
    """
    out_dir = Path(out_dir)
    if out_of_context is None:
        out_of_context = _has_ports(top)
    platform = XCKU060Platform()
    if not out_of_context:
        plan = platform.build(top, name=name, do_build=False)
        plan.extract(str(out_dir))
        return out_dir


    # The platform only supplies the Tcl/shell templates here; elaborate an empty
    # module so it does not try to wire the core's ports to package pins.
    stub = Module()
    plan = platform.build(
        stub,
        name=name,
        do_build=False,
        synth_design_opts=f"-mode out_of_context -part {PART}",
        # Placement's report is Amaranth's; the routed design's utilization is the one
        # to quote.
        script_after_route=f"report_utilization -file {name}_utilization_route.rpt",
        script_before_bitstream="quit",
    )
    if verilog_text is None:
        verilog_text = verilog.convert(top, name=name)
    plan.files[f"{name}.v"] = f"/* ese_hw out-of-context core */\n{verilog_text}"
    plan.files[f"{name}.xdc"] = (
        f"# ese_hw out-of-context: only the core clock is constrained\n"
        f"create_clock -name {clock_port} -period {clock_period_ns:.3f} "
        f"[get_ports {clock_port}]\n"
    )
    plan.files.pop(f"{name}.debug.v", None)
    plan.extract(str(out_dir))
    return out_dir
