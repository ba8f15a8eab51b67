"""Compare two runs case by case: compare.csv and compare.html.

Cases are matched on MATCH_KEYS. For a case timed (status ok) in both runs,
with medians a, b and interquartile ranges iqr_a, iqr_b:

    ratio = b / a
    band(x) = [median_x - iqr_x / 2, median_x + iqr_x / 2]
    time change  <=>  |ratio - 1| > 10%  and  b outside band(a)  and  a outside band(b)

(labelled 'slower' when ratio > 1, else 'faster'). Accuracy change: the max
relative error crosses the tolerance (within on one side, over on the other,
using b's tolerance, else a's), or changes by more than 10x either way, errors
below float64 eps counted as eps. Status change: the statuses differ. Cases
present in one run only are listed as such.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from toyad.report import page, plots
from toyad.report.load import Run, load_run
from toyad.report.table import atomic_write_text

MATCH_KEYS = (
    "suite",
    "backend",
    "problem",
    "operation",
    "mode",
    "n",
    "m",
    "step",
    "checkpoint",
    "gc",
)
TIME_THRESHOLD = 0.10
ERROR_FACTOR = 10.0
EPS = float(np.finfo(np.float64).eps)
_CARRIED = ("status", "median_s", "iqr_s", "max_rel_error", "tolerance", "message")


def _keyed(run: Run) -> tuple[pd.DataFrame, int]:
    """Cases indexed by MATCH_KEYS (first of any duplicates) and the duplicate count."""
    frame = run.cases.loc[:, list(MATCH_KEYS) + list(_CARRIED)].copy()
    for key in MATCH_KEYS:
        frame[key] = frame[key].astype(object).where(frame[key].notna(), "")
        frame[key] = frame[key].map(str)
    duplicated = frame.duplicated(list(MATCH_KEYS))
    return frame[~duplicated], int(duplicated.sum())


def time_change(a: Any, iqr_a: Any, b: Any, iqr_b: Any) -> str:
    """'slower' / 'faster' when the medians differ beyond noise (see module doc), else ''."""
    if any(pd.isna(v) for v in (a, b)) or a <= 0 or b <= 0:
        return ""
    iqr_a = 0.0 if pd.isna(iqr_a) else float(iqr_a)
    iqr_b = 0.0 if pd.isna(iqr_b) else float(iqr_b)
    ratio = b / a
    outside_a = abs(b - a) > iqr_a / 2
    outside_b = abs(a - b) > iqr_b / 2
    if abs(ratio - 1) > TIME_THRESHOLD and outside_a and outside_b:
        return "slower" if ratio > 1 else "faster"
    return ""


def accuracy_change(err_a: Any, err_b: Any, tolerance: Any) -> str:
    """A description when the error crosses the tolerance or moves by > 10x, else ''."""
    if pd.isna(err_a) or pd.isna(err_b):
        return ""
    notes = []
    if not pd.isna(tolerance):
        within_a, within_b = err_a <= tolerance, err_b <= tolerance
        if within_a and not within_b:
            notes.append("now over tolerance")
        elif within_b and not within_a:
            notes.append("now within tolerance")
    factor = max(err_b, EPS) / max(err_a, EPS)
    if factor > ERROR_FACTOR or factor < 1 / ERROR_FACTOR:
        notes.append(f"error ×{factor:.3g}")
    return "; ".join(notes)


def compare_frame(run_a: Run, run_b: Run) -> tuple[pd.DataFrame, dict[str, int]]:
    """One row per case in either run: values from a and b, ratio and the flags."""
    a, dup_a = _keyed(run_a)
    b, dup_b = _keyed(run_b)
    merged = a.merge(b, on=list(MATCH_KEYS), how="outer", suffixes=("_a", "_b"), indicator=True)
    merged["presence"] = merged.pop("_merge").map(
        {"both": "both", "left_only": "only a", "right_only": "only b"}
    )
    merged["presence"] = merged["presence"].astype(object)
    for key in ("n", "m", "step"):  # matched as text, shown and sorted as numbers
        merged[key] = pd.to_numeric(merged[key].replace("", np.nan), errors="coerce")
    merged[["n", "m"]] = merged[["n", "m"]].astype("Int64")
    timed = (merged["status_a"] == "ok") & (merged["status_b"] == "ok")
    merged["ratio"] = np.where(timed, merged["median_s_b"] / merged["median_s_a"], np.nan)
    merged["time_change"] = [
        time_change(*values) if ok else ""
        for ok, values in zip(
            timed,
            merged[["median_s_a", "iqr_s_a", "median_s_b", "iqr_s_b"]].itertuples(index=False),
        )
    ]
    tolerance = merged["tolerance_b"].fillna(merged["tolerance_a"])
    merged["accuracy_change"] = [
        accuracy_change(ea, eb, tol)
        for ea, eb, tol in zip(merged["max_rel_error_a"], merged["max_rel_error_b"], tolerance)
    ]
    both = merged["presence"] == "both"
    merged["status_change"] = np.where(
        both & (merged["status_a"] != merged["status_b"]),
        merged["status_a"].astype(str) + " → " + merged["status_b"].astype(str),
        "",
    )
    merged["flags"] = [
        "; ".join(
            part
            for part in (
                f"{time} ×{ratio:.2f}" if time else "",
                status,
                accuracy,
                "" if presence == "both" else f"{presence}",
            )
            if part
        )
        for time, ratio, status, accuracy, presence in zip(
            merged["time_change"],
            merged["ratio"],
            merged["status_change"],
            merged["accuracy_change"],
            merged["presence"],
        )
    ]
    merged["changed"] = merged["flags"] != ""
    merged = merged.sort_values(
        ["changed", *MATCH_KEYS], ascending=[False] + [True] * len(MATCH_KEYS)
    )
    merged = merged.reset_index(drop=True)
    summary = {
        "cases in a": len(a),
        "cases in b": len(b),
        "slower": int((merged["time_change"] == "slower").sum()),
        "faster": int((merged["time_change"] == "faster").sum()),
        "accuracy changes": int((merged["accuracy_change"] != "").sum()),
        "status changes": int((merged["status_change"] != "").sum()),
        "only in a": int((merged["presence"] == "only a").sum()),
        "only in b": int((merged["presence"] == "only b").sum()),
        "duplicate keys ignored": dup_a + dup_b,
    }
    return merged, summary


def compare(run_a: str | Path | Run, run_b: str | Path | Run, out_dir: str | Path) -> Path:
    """Write compare.csv and compare.html for runs a (before) and b (after) into ``out_dir``."""
    a, b = load_run(run_a), load_run(run_b)
    frame, summary = compare_frame(a, b)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "compare.csv", frame.to_csv(index=False))
    atomic_write_text(out / "compare.html", compare_page(a, b, frame, summary))
    return out


def _run_label(run: Run) -> str:
    name = run.source.parent.name if run.source and run.source.name == "benchmark.json" else ""
    name = name or (run.source.name if run.source else "(in memory)")
    return f"{name} · {run.started or '?'} · commit {run.commit[:12] or 'none'}"


RULES_HTML = f"""
<h3>What counts as a change</h3>
<ul>
<li>Cases are matched on {", ".join(MATCH_KEYS)}.</li>
<li><b>Time</b> (both runs status ok): ratio = median_b / median_a; with
band(x) = [median_x − iqr_x/2, median_x + iqr_x/2], a case is flagged <i>slower</i>/<i>faster</i>
when |ratio − 1| &gt; {TIME_THRESHOLD:.0%} <b>and</b> median_b lies outside band(a) <b>and</b>
median_a lies outside band(b).</li>
<li><b>Accuracy</b>: the max relative error crosses the tolerance (b's, else a's), or changes by
more than {ERROR_FACTOR:g}× either way (errors below float64 eps count as eps).</li>
<li><b>Status</b>: the statuses differ. Cases present in one run only are listed as such.</li>
</ul>"""


def compare_page(a: Run, b: Run, frame: pd.DataFrame, summary: dict[str, int]) -> str:
    seconds = {c: page.fmt_seconds for c in ("median_s_a", "median_s_b", "iqr_s_a", "iqr_s_b")}
    errors = {
        c: (lambda v: "" if page.missing(v) else f"{v:.2g}")
        for c in ("max_rel_error_a", "max_rel_error_b")
    }
    formats = {**seconds, **errors, "ratio": lambda v: "" if page.missing(v) else f"{v:.3f}"}
    shown = [k for k in MATCH_KEYS if (frame[k].notna() & (frame[k] != "")).any()]
    columns = [
        *shown,
        "flags",
        "status_a",
        "status_b",
        "median_s_a",
        "median_s_b",
        "ratio",
        "max_rel_error_a",
        "max_rel_error_b",
    ]
    sections = []
    facts = "".join(
        f"<tr><th>{page.esc(k)}</th><td class='num'>{v}</td></tr>" for k, v in summary.items()
    )
    intro = (
        f"<p>a = {page.esc(_run_label(a))}<br>b = {page.esc(_run_label(b))}</p>"
        f"<table><tbody>{facts}</tbody></table>" + RULES_HTML
    )
    sections.append(("summary", "Summary", intro))
    labels = frame["backend"] + " " + frame["problem"] + " " + frame["operation"]
    svg = plots.ratio_scatter(frame["ratio"], labels, frame["time_change"] != "")
    sections.append(
        (
            "ratios",
            "Time ratios",
            page.figure(
                svg,
                "Median b / median a for every case timed in both runs, sorted; red points "
                "are flagged changes, dotted lines mark ±10%.",
            )
            if svg
            else page.note("No case is timed in both runs."),
        )
    )
    changed = frame[frame["changed"]]
    body = (
        page.frame_table(
            changed.loc[:, columns],
            formats,
            table_id="changed",
            status_column="",
            message_column="",
        )
        if not changed.empty
        else page.note("No changes beyond noise.")
    )
    sections.append(("changes", f"Changes ({len(changed)})", f"<div class='scroll'>{body}</div>"))
    full = page.frame_table(
        frame.loc[:, columns],
        formats,
        table_id="all",
        status_column="",
        message_column="",
        classes={"flags": "flags"},
    )
    sections.append(("all", "All matched cases", f"<div class='scroll'>{full}</div>"))
    return page.page_shell("toyad run comparison", sections)
