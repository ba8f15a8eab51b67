"""Matplotlib figures rendered to inline SVG strings (Agg-free, no pyplot state).

Every function takes the rows of one suite and returns an SVG string (or
None when there is nothing to draw). Text stays text (``svg.fonttype =
'none'``), which keeps the files small and the labels selectable.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections.abc import Iterable

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

MODE_MARKERS = {"forward": "o", "reverse": "s"}
MODE_STYLES = {"forward": "-", "reverse": "--"}
FLAT_FACTOR = 2.0  # a point is "above the flat part" if its cost is >= 2x the smallest cost
ERROR_FLOOR = 1e-17  # zero errors drawn here on log axes

_SVG_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)
_SVG_METADATA = re.compile(r"<metadata>.*?</metadata>", re.S)


def to_svg(fig: Figure) -> str:
    """The figure as an inline ``<svg>`` element (no XML prologue, no date)."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = _SVG_PROLOGUE.sub("", buffer.getvalue(), count=1)
    return _SVG_METADATA.sub("", text, count=1).strip()


def _grid(
    count: int, ncols: int = 3, size: tuple[float, float] = (3.6, 2.9)
) -> tuple[Figure, list]:
    """Panels of ``size`` inches each; matplotlib's constrained layout fits their labels."""
    ncols, nrows, figsize = _grid_shape(count, ncols, size)
    return _panels(Figure(figsize=figsize, layout="constrained"), count, ncols, nrows)


def _grid_shape(
    count: int, ncols: int, size: tuple[float, float]
) -> tuple[int, int, tuple[float, float]]:
    """(columns, rows, figure size in inches) of ``count`` panels of ``size`` each."""
    ncols = max(1, min(ncols, count))
    nrows = math.ceil(count / ncols)
    return ncols, nrows, (size[0] * ncols + 0.6, size[1] * nrows + 0.4)


def _panels(fig: Figure, count: int, ncols: int, nrows: int) -> tuple[Figure, list]:
    """The figure and its first ``count`` axes of an nrows x ncols grid (the rest hidden)."""
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes[:count]


# Margins of a uniform grid, in inches: tick labels and axis label on the left, axis label
# below, title above; a colour bar's ticks and label on the right.
_LEFT_IN, _BOTTOM_IN, _TOP_IN, _RIGHT_IN, _COLORBAR_IN = 0.75, 0.55, 0.35, 0.15, 0.55


def _uniform_grid(
    count: int, ncols: int, size: tuple[float, float], colorbar: bool = False
) -> tuple[Figure, list]:
    """Panels that all carry the same decorations, laid out with fixed margins: a third of
    the time of constrained layout, which measures every tick label of every panel (the
    scaling section's three figures took most of a report's build time)."""
    ncols, nrows, (width, height) = _grid_shape(count, ncols, size)
    right = _RIGHT_IN + (_COLORBAR_IN if colorbar else 0.0)
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(
        left=_LEFT_IN / width,
        right=1 - right / width,
        bottom=_BOTTOM_IN / height,
        top=1 - _TOP_IN / height,
        wspace=(_LEFT_IN + right) / (size[0] - _LEFT_IN - right),
        hspace=(_BOTTOM_IN + _TOP_IN) / (size[1] - _BOTTOM_IN - _TOP_IN),
    )
    return _panels(fig, count, ncols, nrows)


def ok_timed(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with status ok and a positive median time."""
    return rows[(rows["status"] == "ok") & (rows["median_s"] > 0)]


def fit_loglog_slope(sizes: Iterable[float], times: Iterable[float]) -> tuple[float, list[float]]:
    """Slope of log(time) against log(size), fitted on the largest sizes above the flat part.

    The flat part is fixed overhead: points costing less than FLAT_FACTOR x the
    cheapest point. Walking down from the largest size, points are kept while
    they stay above that floor; at least the two largest sizes are always used
    (a flat curve then fits a slope near 0). Returns (slope, sizes used);
    NaN with fewer than two distinct sizes.
    """
    pairs = sorted((float(s), float(t)) for s, t in zip(sizes, times) if s > 0 and t > 0)
    if len({s for s, _ in pairs}) < 2:
        return math.nan, []
    floor = min(t for _, t in pairs) * FLAT_FACTOR
    used: list[tuple[float, float]] = []
    for s, t in reversed(pairs):
        if len(used) >= 2 and t < floor:
            break
        used.append((s, t))
    log_s = np.log([s for s, _ in used])
    log_t = np.log([t for _, t in used])
    if np.ptp(log_s) == 0:
        return math.nan, []
    slope = float(np.polyfit(log_s, log_t, 1)[0])
    return slope, sorted(s for s, _ in used)


def size_axis(ax, values: Iterable[float], axis: str = "x") -> None:
    """Log2 axis with ticks at the measured sizes, labelled as plain numbers (1, 4, 16, ...)."""
    ticks = sorted({int(v) for v in values if v > 0})
    if len(ticks) > 8:  # keep every k-th so labels do not collide
        ticks = ticks[:: math.ceil(len(ticks) / 8)]
    if axis == "x":
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    else:
        ax.set_yscale("log", base=2)
        ax.set_yticks(ticks, [str(t) for t in ticks])


def _medians(rows: pd.DataFrame, keys: list[str]) -> pd.Series:
    return ok_timed(rows).groupby(keys)["median_s"].min()


def crossover_heatmaps(scaling: pd.DataFrame, pairs: list[tuple[str, str, str]]) -> str | None:
    """log2(t_forward / t_reverse) over the n x m grid, one panel per (label, fwd, rev) pair."""
    panels = []
    for label, fwd_backend, rev_backend in pairs:
        fwd = _medians(
            scaling[(scaling.backend == fwd_backend) & (scaling["mode"] == "forward")], ["n", "m"]
        )
        rev = _medians(
            scaling[(scaling.backend == rev_backend) & (scaling["mode"] == "reverse")], ["n", "m"]
        )
        ratio = np.log2(fwd / rev).dropna()
        if not ratio.empty:
            panels.append((label, ratio))
    if not panels:
        return None
    fig, axes = _uniform_grid(len(panels), ncols=3, size=(4.2, 3.3), colorbar=True)
    for ax, (label, ratio) in zip(axes, panels):
        ns = sorted(ratio.index.get_level_values("n").unique())
        ms = sorted(ratio.index.get_level_values("m").unique())
        grid = np.full((len(ms), len(ns)), np.nan)
        for (n, m), value in ratio.items():
            grid[ms.index(m), ns.index(n)] = value
        limit = max(1.0, float(np.nanmax(np.abs(grid))))
        cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="#dddddd")
        masked = np.ma.masked_invalid(grid)
        image = ax.imshow(
            masked,
            origin="lower",
            cmap=cmap,
            norm=TwoSlopeNorm(0.0, -limit, limit),
            aspect="auto",
        )
        for (i, j), value in np.ndenumerate(grid):
            text = "–" if np.isnan(value) else ("0.0" if abs(value) < 0.05 else f"{value:+.1f}")
            dark = not np.isnan(value) and abs(value) > 0.6 * limit
            ax.text(
                j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black"
            )
        if grid.shape[0] >= 2 and grid.shape[1] >= 2 and np.nanmin(grid) < 0 < np.nanmax(grid):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax.contour(
                    np.arange(len(ns)),
                    np.arange(len(ms)),
                    masked,
                    levels=[0.0],
                    colors="black",
                    linewidths=2,
                )
        ax.set_xticks(range(len(ns)), [str(v) for v in ns])
        ax.set_yticks(range(len(ms)), [str(v) for v in ms])
        ax.set_xlabel("n (inputs)")
        ax.set_ylabel("m (outputs)")
        ax.set_title(label, fontsize=10)
        fig.colorbar(image, ax=ax, shrink=0.85, label="log2(t_fwd / t_rev)")
    return to_svg(fig)


def cost_vs_size(
    scaling: pd.DataFrame, groups: list[tuple[str, list[tuple[str, str]]]], axis: str
) -> tuple[str | None, list[dict]]:
    """Jacobian cost against n (at m = 1) or m (at n = 1), log-log, with fitted slopes.

    ``groups`` is a list of (panel title, [(backend, mode), ...]). Returns the SVG
    and one dict per fitted line (backend, mode, axis, slope, sizes used).
    """
    other = "m" if axis == "n" else "n"
    rows = ok_timed(scaling[scaling[other] == 1])
    panels = []
    for title, members in groups:
        lines = []
        for backend, mode in members:
            line = (
                rows[(rows.backend == backend) & (rows["mode"] == mode)]
                .groupby(axis)["median_s"]
                .min()
            )
            if len(line) >= 2:
                lines.append((backend, mode, line))
        if lines:
            panels.append((title, lines))
    fits: list[dict] = []
    if not panels:
        return None, fits
    fig, axes = _uniform_grid(len(panels), ncols=3, size=(3.6, 2.8))
    for ax, (title, lines) in zip(axes, panels):
        for backend, mode, line in lines:
            slope, used = fit_loglog_slope(line.index, line.values)
            fits.append(dict(backend=backend, mode=mode, axis=axis, slope=slope, sizes_used=used))
            name = mode if title == backend else f"{backend} ({mode})"
            ax.plot(
                line.index,
                line.values,
                MODE_STYLES.get(mode, ":"),
                marker=MODE_MARKERS.get(mode, "^"),
                label=f"{name} (slope {slope:.2f})",
            )
        size_axis(ax, [v for _, _, line in lines for v in line.index])
        ax.set_yscale("log")
        ax.set_xlabel(f"{axis} ({'inputs' if axis == 'n' else 'outputs'}), {other} = 1")
        ax.set_ylabel("median time [s]")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7)
    return to_svg(fig), fits


def step_sweep(rows: pd.DataFrame) -> str | None:
    """Max relative error against finite-difference step, one line per method/problem."""
    rows = rows[(rows["step"] > 0) & rows["max_rel_error"].notna()]
    if rows.empty:
        return None
    fig = Figure(figsize=(9.5, 4.2), layout="constrained")
    ax = fig.subplots()
    several_ops = rows["operation"].nunique() > 1
    for key, line in rows.groupby(["backend", "mode", "problem", "operation"], sort=True):
        backend, mode, problem, operation = key
        line = line.groupby("step")["max_rel_error"].max()
        label = " · ".join(
            x for x in (backend, mode, problem, operation if several_ops else "") if x
        )
        ax.plot(line.index, np.maximum(line.values, ERROR_FLOOR), marker=".", label=label)
    ax.axhline(np.finfo(float).eps, color="grey", lw=0.8, ls=":")
    eps_label = dict(va="bottom", fontsize=7, color="grey", transform=ax.get_yaxis_transform())
    ax.text(0.01, np.finfo(float).eps, "float64 eps", **eps_label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step h")
    ax.set_ylabel("max relative error")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return to_svg(fig)


def cost_by_problem(rows: pd.DataFrame, metric: str, reference: str = "analytic") -> str | None:
    """Dot plot per problem: backends down, ``metric`` across (log), one colour per operation.

    The reference backend is drawn as a vertical dashed line in its operation's colour.
    """
    rows = rows[(rows["status"] == "ok") & (rows[metric] > 0)]
    if rows.empty:
        return None
    operations = sorted(rows["operation"].unique())
    colours = {op: f"C{i}" for i, op in enumerate(operations)}
    problems = sorted(rows["problem"].unique())
    backends_per_problem = [rows[rows.problem == p]["backend"].nunique() for p in problems]
    height = max(2.4, 0.24 * max(backends_per_problem) + 1.2)
    fig, axes = _grid(len(problems), ncols=2, size=(5.4, height))
    for ax, problem in zip(axes, problems):
        sub = rows[rows.problem == problem]
        backends = sorted(b for b in sub["backend"].unique() if _base(b) != reference)
        position = {b: i for i, b in enumerate(backends)}
        offset = {op: 0.5 * (k + 0.5) / len(operations) - 0.25 for k, op in enumerate(operations)}
        best = sub.groupby(["backend", "operation", "mode"], as_index=False)[metric].min()
        for (operation, mode), group in best.groupby(["operation", "mode"]):
            is_reference = group["backend"].map(_base) == reference
            for value in group.loc[is_reference, metric]:
                ax.axvline(value, color=colours[operation], ls="--", lw=1.2)
            others = group[~is_reference]
            ax.plot(  # one call per marker style keeps the SVG small
                others[metric],
                [position[b] + offset[operation] for b in others["backend"]],
                MODE_MARKERS.get(mode, "^"),
                color=colours[operation],
                ms=6,
                alpha=0.85,
            )
        ax.set_yticks(range(len(backends)), backends, fontsize=8)
        ax.set_ylim(-0.7, len(backends) - 0.3)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())  # decades only: smaller SVG
        ax.grid(True, axis="x", alpha=0.3)
        sizes = sub[["n", "m"]].drop_duplicates()
        size_note = f"n={_span(sizes['n'])}, m={_span(sizes['m'])}"
        ax.set_title(f"{problem} ({size_note})", fontsize=10)
        ax.set_xlabel(
            "median time [s]" if metric == "median_s" else "derivative time / primal time"
        )
    handles = [Line2D([], [], color=colours[op], marker="o", ls="", label=op) for op in operations]
    handles += [
        Line2D([], [], color="grey", marker=mk, ls="", label=mode)
        for mode, mk in MODE_MARKERS.items()
    ]
    others = sorted(set(rows["mode"]) - set(MODE_MARKERS))
    if others:
        handles.append(Line2D([], [], color="grey", marker="^", ls="", label=" / ".join(others)))
    handles.append(Line2D([], [], color="grey", ls="--", label=f"{reference} (reference)"))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5), fontsize=8)
    return to_svg(fig)


def _base(backend: str) -> str:
    """A backend's own name (``"analytic @ host"`` -> ``"analytic"``, for merged runs)."""
    return str(backend).split(" @ ", 1)[0]


def _span(values: pd.Series) -> str:
    values = sorted(v for v in values.dropna().unique())
    if not values:
        return "?"
    return str(values[0]) if len(values) == 1 else f"{values[0]}–{values[-1]}"


def lines_vs_n(
    rows: pd.DataFrame, ylabel: str, by: tuple[str, ...] = ("backend", "mode")
) -> str | None:
    """Median time against n, log-log, one panel per problem, one line per ``by`` group."""
    rows = ok_timed(rows)
    if rows.empty:
        return None
    problems = sorted(rows["problem"].unique())
    fig, axes = _grid(len(problems), ncols=2, size=(5.2, 3.2))
    for ax, problem in zip(axes, problems):
        for key, group in rows[rows.problem == problem].groupby(list(by)):
            line = group.groupby("n")["median_s"].min()
            ax.plot(line.index, line.values, marker="o", label=" · ".join(str(k) for k in key if k))
        size_axis(ax, rows[rows.problem == problem]["n"])
        ax.set_yscale("log")
        ax.set_xlabel("n (inputs)")
        ax.set_ylabel(ylabel)
        ax.set_title(problem, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    return to_svg(fig)


def per_op_cost(rows: pd.DataFrame) -> str | None:
    """Horizontal bars: median time / elementary ops, in microseconds per op."""
    rows = ok_timed(rows)
    rows = rows[rows["ops"] > 0].copy()
    if rows.empty:
        return None
    # the largest graph per (problem, backend, operation, mode, gc): steady-state per-op cost
    rows["gc"] = rows["gc"].fillna("").astype(str) if "gc" in rows else ""
    rows = (
        rows.sort_values("ops")
        .groupby(["problem", "backend", "operation", "mode", "gc"], as_index=False)
        .last()
    )
    rows["us_per_op"] = rows["median_s"] / rows["ops"].astype(float) * 1e6
    problems = sorted(rows["problem"].unique())
    height = max(2.2, 0.3 * rows.groupby("problem").size().max() + 1.0)
    fig, axes = _grid(len(problems), ncols=2, size=(5.4, height))
    families = sorted(rows["family"].unique())
    colours = {fam: f"C{i}" for i, fam in enumerate(families)}
    for ax, problem in zip(axes, problems):
        sub = rows[rows.problem == problem].sort_values("us_per_op")
        labels = [
            " ".join(filter(None, [b, o, f"({md})" if md else "", f"gc {g}" if g else ""]))
            for b, o, md, g in zip(sub.backend, sub.operation, sub["mode"], sub["gc"])
        ]
        bars = ax.barh(range(len(sub)), sub["us_per_op"], color=[colours[f] for f in sub["family"]])
        ax.bar_label(bars, fmt="%.2g", fontsize=7, padding=2)
        ax.set_yticks(range(len(sub)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("µs per elementary op")
        ops = _span(sub["ops"])
        ax.set_title(f"{problem} ({ops} ops)", fontsize=10)
        ax.margins(x=0.2)
    handles = [Patch(color=colours[f], label=f or "?") for f in families]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    return to_svg(fig)


def _memory_label(key: tuple) -> str:
    backend, mode, checkpoint, method = key
    return f"{backend} {mode} · ckpt={checkpoint or 'none'} [{method or '?'}]"


def memory_vs_layers(rows: pd.DataFrame) -> str | None:
    """Peak memory against L (stored in n), log-log, one line per backend/mode/checkpoint."""
    rows = rows[(rows["peak_bytes"] > 0) & rows["status"].eq("ok")]
    if rows.empty:
        return None
    fig = Figure(figsize=(9.5, 4.0), layout="constrained")
    ax = fig.subplots()
    for key, group in rows.groupby(["backend", "mode", "checkpoint", "memory_method"]):
        line = group.groupby("n")["peak_bytes"].max().astype(float)
        ax.plot(line.index, line.values / 2**20, marker="o", label=_memory_label(key))
    size_axis(ax, rows["n"])
    ax.set_yscale("log")
    ax.set_xlabel("L (layers)")
    ax.set_ylabel("peak memory [MiB]")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return to_svg(fig)


def time_vs_memory(rows: pd.DataFrame) -> str | None:
    """Gradient time against peak memory, one line per strategy, points labelled with L."""
    rows = ok_timed(rows[rows["peak_bytes"] > 0])
    if rows.empty:
        return None
    fig = Figure(figsize=(9.5, 4.0), layout="constrained")
    ax = fig.subplots()
    for key, group in rows.groupby(["backend", "mode", "checkpoint", "memory_method"]):
        group = group.sort_values("n")
        mib = group["peak_bytes"].astype(float) / 2**20
        ax.plot(mib, group["median_s"], marker="o", label=_memory_label(key))
        for x, y, layers in zip(mib, group["median_s"], group["n"]):
            ax.annotate(
                f"L={layers}", (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("peak memory [MiB]")
    ax.set_ylabel("median gradient time [s]")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return to_svg(fig)


def ratio_scatter(
    ratios: pd.Series,
    labels: pd.Series,
    flagged: pd.Series,
    bounds: tuple[float, float] = (0.9, 1.1),
) -> str | None:
    """Compare page: ratio of medians b/a per case, sorted, flagged ones in red, dotted bounds."""
    data = pd.DataFrame({"ratio": ratios, "label": labels, "flagged": flagged}).dropna(
        subset=["ratio"]
    )
    data = data[data["ratio"] > 0].sort_values("ratio").reset_index(drop=True)
    if data.empty:
        return None
    fig = Figure(figsize=(9.5, 3.4), layout="constrained")
    ax = fig.subplots()
    colours = np.where(data["flagged"], "tab:red", "tab:grey")
    ax.scatter(data.index, data["ratio"], c=colours, s=10)
    ax.axhline(1.0, color="black", lw=0.8)
    for bound in bounds:
        ax.axhline(bound, color="grey", lw=0.6, ls=":")
    ax.set_yscale("log", base=2)
    low, high = ax.get_ylim()
    ticks = sorted({0.25, 0.5, 1.0, 2.0, 4.0, 8.0, *(round(b, 2) for b in bounds)})
    ticks = [t for t in ticks if low <= t <= high]
    ax.set_yticks(ticks, [f"{t:g}×" for t in ticks])
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("cases, sorted by ratio")
    ax.set_ylabel("median b / median a")
    ax.grid(True, axis="y", alpha=0.3)
    return to_svg(fig)
