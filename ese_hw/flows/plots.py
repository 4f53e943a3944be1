"""PNG plots of a sweep's rows (:mod:`ese_hw.flows.sweep`), drawn with matplotlib's Agg canvas.

Every plot shows every point: a design that does not fit the XCKU060 under the
sweep's margin is drawn hollow with a red cross, never left out. Series are one
colour per channel count and one marker per index width. The Pareto frontier (no
other point is both cheaper and better) is a dashed black line through its points.

* ``sweep_latency.png``: latency per frame against PEs, ESE's 82.7 us as a line;
* ``sweep_gops_dsp.png`` / ``sweep_gops_bram.png``: sparse GOPS against DSP48E2 /
  BRAM36, with the XCKU060's capacity and the margin as vertical lines;
* ``sweep_utilization.png``: PE utilization against PEs;
* ``sweep_latency_area.png``: latency against the largest share of any resource
  (the one that decides whether a design fits).
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from ..model.npzio import atomic_write
from ..synthesis.yosys import XCKU060_CAPACITY

__all__ = ["PLOTS", "pareto_front", "plot_all"]

#: File names, in the order :func:`plot_all` returns them.
PLOTS = ("sweep_latency.png", "sweep_gops_dsp.png", "sweep_gops_bram.png",
         "sweep_utilization.png", "sweep_latency_area.png")

_MARKERS = ("o", "s", "^", "D", "v", "P")
_UNFIT_COLOR = "tab:red"


def pareto_front(rows, cost, value, *, maximize=True):
    """Indices of the rows no other row beats: lower or equal ``cost`` and better or
    equal ``value`` (one of them strictly). Sorted by cost."""
    sign = 1 if maximize else -1
    pts = [(float(r[cost]), sign * float(r[value])) for r in rows]
    front = []
    for i, (c, v) in enumerate(pts):
        dominated = any(c2 <= c and v2 >= v and (c2 < c or v2 > v) for c2, v2 in pts)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (pts[i][0], -pts[i][1]))


def _figure():

    fig = Figure(figsize=(10, 5.5), dpi=120, layout="constrained")
    return fig, fig.add_subplot()


def _styles(rows):
    """Colour per channel count, marker per index width (stable across plots)."""
    channels = sorted({r["n_channels"] for r in rows})
    bits = sorted({r["index_bits"] for r in rows})
    cmap = colormaps["viridis"]
    colors = {c: cmap(0.85 * i / max(1, len(channels) - 1)) for i, c in enumerate(channels)}
    markers = {b: _MARKERS[i % len(_MARKERS)] for i, b in enumerate(bits)}
    return colors, markers


def _series(rows):
    """Rows grouped by (channels, index bits), each sorted by PEs."""
    groups = {}
    for r in rows:
        groups.setdefault((r["n_channels"], r["index_bits"]), []).append(r)
    return {k: sorted(v, key=lambda r: r["n_pe"]) for k, v in sorted(groups.items())}


def _scatter(ax, rows, x, y, *, lines):
    """Every point; lines join a series' points when ``lines`` (x is then PEs, and each
    series is nudged sideways by a few percent so series that coincide stay visible).
    The legend gets one entry per series and one for the points that do not fit."""
    colors, markers = _styles(rows)
    series = _series(rows)
    for i, ((c, b), group) in enumerate(series.items()):
        color, marker = colors[c], markers[b]
        nudge = 2 ** (0.05 * (i - (len(series) - 1) / 2)) if lines else 1.0
        xs = [r[x] * nudge for r in group]
        if lines:
            ax.plot(xs, [r[y] for r in group], color=color, lw=1.2, alpha=0.7)
        fit = [(xv, r[y]) for xv, r in zip(xs, group, strict=True) if r["fits"]]
        unfit = [(xv, r[y]) for xv, r in zip(xs, group, strict=True) if not r["fits"]]
        ax.scatter(*_columns(fit), color=color, marker=marker, s=46, zorder=3)
        ax.scatter(*_columns(unfit), facecolors="none", edgecolors=color, marker=marker,
                   s=46, zorder=3)
        ax.scatter(*_columns(unfit), color=_UNFIT_COLOR, marker="x", s=22, lw=1.2, zorder=4)
        ax.add_line(Line2D([], [], color=color, marker=marker, ls="-" if lines else "none",
                           label=f"{c} ch, {b}-bit idx"))
    if any(not r["fits"] for r in rows):
        ax.add_line(Line2D([], [], color=_UNFIT_COLOR, marker="x", ls="none",
                           label="does not fit (hollow, x)"))


def _columns(points):
    return [p[0] for p in points], [p[1] for p in points]


def _front(ax, rows, cost, value, *, maximize):

    idx = pareto_front(rows, cost, value, maximize=maximize)
    ax.plot([rows[i][cost] for i in idx], [rows[i][value] for i in idx], "k--", lw=1,
            zorder=2, label="Pareto frontier")


def _plain(value, _pos=None):
    return f"{value:,.6g}"


def _plain_minor(value, _pos=None):
    """Label the minor ticks at 2 and 5 of each decade, leave the rest bare."""
    mantissa = value / 10 ** math.floor(math.log10(value)) if value > 0 else 0
    return _plain(value) if round(mantissa, 6) in (2.0, 5.0) else ""


def _log(ax, *, x=False, y=False):
    """Log axes labelled with plain numbers (``200``, not ``2 x 10^2``)."""
    if x:
        ax.set_xscale("log")
    if y:
        ax.set_yscale("log")
    for axis in [ax.xaxis] * x + [ax.yaxis] * y:
        axis.set_major_formatter(FuncFormatter(_plain))
        axis.set_minor_formatter(FuncFormatter(_plain_minor))


def _pe_axis(ax, rows):
    pes = sorted({r["n_pe"] for r in rows})
    ax.set_xscale("log", base=2)
    ax.set_xticks(pes, [str(p) for p in pes])
    ax.minorticks_off()
    ax.set_xlabel("PEs per channel")


def _finish(fig, ax, path, title):
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.margins(0.06)
    # Beside the axes, so the legend never hides a point.
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), framealpha=0.9)
    # Through a temporary file: an interrupted run leaves the old plot, not half a PNG.
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
    return path


def _capacity_lines(ax, resource, margin):

    cap = XCKU060_CAPACITY[resource]
    ax.axvline(cap, color="0.25", lw=1.5, label=f"XCKU060: {cap:,} {resource}")
    ax.axvline(margin * cap, color="0.25", lw=1, ls=":",
               label=f"{margin:.0%} margin: {margin * cap:,.0f}")


def _latency(rows, out_dir, ese_latency_us):
    fig, ax = _figure()
    _scatter(ax, rows, "n_pe", "latency_us", lines=True)
    ax.axhline(ese_latency_us, color="tab:orange", lw=1.5, ls="-.",
               label=f"ESE: {ese_latency_us} us")
    _pe_axis(ax, rows)
    _log(ax, y=True)
    ax.set_ylabel("latency per frame (us, log)")
    clock = rows[0]["clock_mhz"]
    return _finish(fig, ax, out_dir / PLOTS[0],
                   f"Latency per LSTMP step at {clock:g} MHz (cycle model)")


def _gops_vs(rows, out_dir, resource, name, margin):
    fig, ax = _figure()
    _scatter(ax, rows, resource, "gops", lines=False)
    _front(ax, rows, resource, "gops", maximize=True)
    _capacity_lines(ax, resource, margin)
    _log(ax, x=True, y=True)
    ax.set_xlabel(f"{resource} (Yosys estimate, log)")
    ax.set_ylabel("sparse GOPS, all channels (log)")
    return _finish(fig, ax, out_dir / name, f"Throughput against {resource}")


def _utilization(rows, out_dir):
    fig, ax = _figure()
    _scatter(ax, rows, "n_pe", "utilization", lines=True)
    _pe_axis(ax, rows)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("PE utilization (useful MACs / PE-cycles)")
    return _finish(fig, ax, out_dir / PLOTS[3], "PE utilization")


def _latency_area(rows, out_dir, margin):
    fig, ax = _figure()
    _scatter(ax, rows, "max_share", "latency_us", lines=False)
    _front(ax, rows, "max_share", "latency_us", maximize=False)
    ax.axvline(1.0, color="0.25", lw=1.5, label="XCKU060 full")
    ax.axvline(margin, color="0.25", lw=1, ls=":", label=f"{margin:.0%} margin")
    _log(ax, x=True, y=True)
    ax.set_xlabel("largest share of any XCKU060 resource (log)")
    ax.set_ylabel("latency per frame (us, log)")
    return _finish(fig, ax, out_dir / PLOTS[4], "Latency against area")


def plot_all(rows, out_dir, *, margin, ese_latency_us):
    """Write the plots of :data:`PLOTS` for ``rows`` into ``out_dir``; returns the paths."""
    out_dir = Path(out_dir)
    return [_latency(rows, out_dir, ese_latency_us),
            _gops_vs(rows, out_dir, "DSP48E2", PLOTS[1], margin),
            _gops_vs(rows, out_dir, "BRAM36", PLOTS[2], margin),
            _utilization(rows, out_dir),
            _latency_area(rows, out_dir, margin)]
