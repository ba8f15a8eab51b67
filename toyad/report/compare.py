"""Compare two runs case by case: compare.csv and compare.html.

Cases are matched on MATCH_KEYS. A case timed (status ok) in both runs, with
medians a, b (ratio = b / a) and per-round samples (``Run.samples``, the
harness's ``samples_s``), is judged by the first rule that applies:

``rank-test`` (samples on both sides, at least MIN_RANK_SAMPLES each, and
enough of them that the test can reach ALPHA at all):
    two-sided Mann-Whitney U on the samples (normal approximation with tie
    and continuity corrections, as asv and scipy's asymptotic method do);
    time change  <=>  p < ALPHA  and  max(ratio, 1/ratio) >= EFFECT.

``fallback-range`` (samples on both sides, too few for the rank test, e.g.
the 3 rounds slow cases get):
    time change  <=>  max(ratio, 1/ratio) >= FALLBACK_EFFECT  and the two
    sample ranges do not overlap.

``fallback-iqr`` (a run without samples: recorded before they were kept):
    the rule used before samples were kept, with iqr_a, iqr_b the runs' IQRs:
    band(x) = [median_x - iqr_x / 2, median_x + iqr_x / 2]
    time change  <=>  |ratio - 1| > 10%  and  b outside band(a)  and  a outside band(b)

``machine-slow``: the speed probe (toyad.bench.speed) found the machine slower
than SLOW_FACTOR x its usual speed around the case's rounds in either run
(``machine_slowdown``), even after waiting: no time verdict — such a case
would differ from the other run for the machine's sake.

``none``: not timed in both runs (or a median is missing); no time verdict.

A change is labelled 'slower' when ratio > 1, else 'faster'.

Why these numbers. ALPHA = 0.001 per case, fixed, rather than 0.05: with
~2,400 cases a run, 0.05 would flag ~5 % of cases by chance alone; at 0.001
chance accounts for ~0.1 % (2-3 cases), a tenth of the 1 % false-alarm
budget, and a case's verdict does not depend on how many other cases moved
(as it would with Benjamini-Hochberg). asv uses 0.002 the same way. The rank
test only says the two runs' samples differ; between two runs of the same
code whole distributions shift (machine load, frequency, cache and allocator
state), so in an A/A pair many cases are "significant" by a few percent, and
the effect threshold EFFECT is what absorbs that drift. It is chosen from
A/A pairs recorded with tests/fixtures/record_compare_runs.py: between runs
with rounds spread over passes (15 runs, 1,213 rank-tested cases at
p < 0.001), half had moved by less than 1.035x and 85 % by less than 1.15x,
so 1.2 removes the bulk of the drift and stays far enough below 1.5 that a
1.5x slowdown is still caught after it. (What remains is machine load: on a
shared 2-core VM at load 3-7, 6 % of them had moved 1.5x or more, which no
threshold can tell from a change; nor can the rule see a whole case that ran in
one of the VM's slow stretches, whose rounds agree with each other: the harness
prevents those instead — timed runs pin one CPU, JAX runs inline, and a speed
probe waits out slow stretches, see toyad.bench.speed. With them, two
fresh-clone main jobs of one commit: 6 of 579 cases flagged, 1.0 %; without,
4-18 %.) The rank test needs enough rounds to flag
anything at ALPHA (8 a side when both have as many: smallest_p(8, 8) =
0.00094, but smallest_p(7, 7) = 0.0022; 5 against 40 will do); with fewer
rounds (the harness gives slow cases 3) a sample of 3 cannot tell a 1.5x change from the 2x swings a
busy machine produces, so the range rule asks for 1.5x *and* no overlap:
conservative, it misses some real 1.5x changes (more rounds for slow cases
in the harness is the cure, not a looser rule).

Accuracy change: the max relative error crosses the tolerance (within on one
side, over on the other, using b's tolerance, else a's), or changes by more
than 10x either way, errors below float64 eps counted as eps. Status change:
the statuses differ. Cases present in one run only are listed as such.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from toyad.bench.speed import SLOW_FACTOR
from toyad.report import page, plots
from toyad.report.load import Run, load_run
from toyad.report.table import atomic_write_text
from toyad.results import CASE_IDENTITY

MATCH_KEYS = CASE_IDENTITY
TIME_THRESHOLD = 0.10  # fallback-iqr (runs without samples): the rule before samples
ALPHA = 0.001  # rank test: per-case two-sided significance level
EFFECT = 1.20  # rank test: minimum ratio of medians (either way)
MIN_RANK_SAMPLES = 5  # rank test: fewer rounds on a side -> fallback-range
FALLBACK_EFFECT = 1.50  # fallback-range: minimum ratio, and the sample ranges must not overlap
TESTS = ("rank-test", "fallback-range", "fallback-iqr", "machine-slow", "none")
ERROR_FACTOR = 10.0
EPS = float(np.finfo(np.float64).eps)
_CARRIED = (
    "status",
    "median_s",
    "iqr_s",
    "max_rel_error",
    "tolerance",
    "message",
    "machine_slowdown",
)


def _keyed(run: Run) -> tuple[pd.DataFrame, int]:
    """Cases indexed by MATCH_KEYS (first of any duplicates) and the duplicate count."""
    frame = run.cases.loc[:, list(MATCH_KEYS) + list(_CARRIED)].copy()
    frame["samples"] = run.case_samples()
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


def _ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1-based ranks, ties sharing their average rank, and the size of each tie group."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    edges = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1], True])
    counts = np.diff(edges)
    average = (edges[:-1] + edges[1:] + 1) / 2.0
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(average, counts)
    return ranks, counts


def mann_whitney(x: Any, y: Any) -> tuple[float, float]:
    """(U of x, two-sided p) of the Mann-Whitney U test; normal approximation.

    The variance has the tie correction and |U - mean| the 0.5 continuity
    correction (scipy.stats.mannwhitneyu(x, y, method="asymptotic") gives the
    same p). Non-finite values are dropped. With an empty side, or every
    value tied, there is no evidence either way: p = 1.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        return float("nan"), 1.0
    ranks, ties = _ranks(np.concatenate([x, y]))
    u1 = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2)
    n = n1 + n2
    tie_term = float((ties**3 - ties).sum()) / (n * (n - 1)) if n > 1 else 0.0
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if variance <= 0:
        return u1, 1.0
    z = (abs(u1 - n1 * n2 / 2.0) - 0.5) / math.sqrt(variance)
    return u1, min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2.0)))


def smallest_p(n1: int, n2: int) -> float:
    """The smallest two-sided p :func:`mann_whitney` can give for n1 vs n2 samples
    (complete separation, no ties): below ALPHA or the rank test cannot flag anything."""
    if n1 < 1 or n2 < 1:
        return 1.0
    z = (n1 * n2 / 2.0 - 0.5) / math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12.0)
    return min(1.0, math.erfc(z / math.sqrt(2.0)))


def _finite(samples: Any) -> np.ndarray | None:
    if samples is None or (isinstance(samples, float) and math.isnan(samples)):
        return None
    values = np.asarray(samples, dtype=np.float64).ravel()
    return values[np.isfinite(values)]


def time_decision(
    a: Any, iqr_a: Any, b: Any, iqr_b: Any, samples_a: Any = None, samples_b: Any = None
) -> tuple[str, float, str]:
    """(change, p_value, test) for one case timed in both runs: see the module doc.

    ``a``, ``b`` are the medians, ``samples_*`` the per-round seconds (None when
    the run did not keep them). change is 'slower', 'faster' or ''; p_value is
    NaN unless the rank test ran; test is one of TESTS.
    """
    if any(pd.isna(v) for v in (a, b)) or a <= 0 or b <= 0:
        return "", float("nan"), "none"
    values_a, values_b = _finite(samples_a), _finite(samples_b)
    if values_a is None or values_b is None:
        return time_change(a, iqr_a, b, iqr_b), float("nan"), "fallback-iqr"
    ratio = b / a
    label = "slower" if ratio > 1 else "faster"
    effect = max(ratio, 1 / ratio)
    n1, n2 = len(values_a), len(values_b)
    if min(n1, n2) >= MIN_RANK_SAMPLES and smallest_p(n1, n2) < ALPHA:
        _, p = mann_whitney(values_a, values_b)
        return (label if p < ALPHA and effect >= EFFECT else ""), p, "rank-test"
    if n1 == 0 or n2 == 0:
        return "", float("nan"), "fallback-range"
    apart = values_b.min() > values_a.max() if ratio > 1 else values_b.max() < values_a.min()
    return (label if apart and effect >= FALLBACK_EFFECT else ""), float("nan"), "fallback-range"


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


def compare_frame(run_a: Run, run_b: Run) -> tuple[pd.DataFrame, dict[str, Any]]:
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
    decisions = [
        time_decision(*values) if ok else ("", float("nan"), "none")
        for ok, values in zip(
            timed,
            merged[
                ["median_s_a", "iqr_s_a", "median_s_b", "iqr_s_b", "samples_a", "samples_b"]
            ].itertuples(index=False),
        )
    ]
    merged["time_change"] = [d[0] for d in decisions]
    merged["p_value"] = np.array([d[1] for d in decisions], dtype=np.float64)
    merged["test"] = [d[2] for d in decisions]
    # timed while the speed probe said the machine was slow (in either run): no verdict
    slowdown = merged[["machine_slowdown_a", "machine_slowdown_b"]].apply(
        pd.to_numeric, errors="coerce"
    )
    slow = timed & slowdown.max(axis=1).gt(SLOW_FACTOR)
    merged.loc[slow, "time_change"] = ""
    merged.loc[slow, "test"] = "machine-slow"
    merged = merged.drop(columns=["samples_a", "samples_b"])
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
    # the columns compare.csv had before samples were kept, then the new ones
    merged = merged[
        [c for c in merged.columns if c not in ("p_value", "test")] + ["p_value", "test"]
    ]
    judged = merged["test"] != "none"
    flagged = int((merged["time_change"] != "").sum())
    summary = {
        "cases in a": len(a),
        "cases in b": len(b),
        "timed in both": int(judged.sum()),
        "time changes flagged": flagged,
        "share of timed cases flagged": f"{flagged / max(1, int(judged.sum())):.1%}",
        "slower": int((merged["time_change"] == "slower").sum()),
        "faster": int((merged["time_change"] == "faster").sum()),
        **{f"judged by {test}": int((merged["test"] == test).sum()) for test in TESTS[:-1]},
        f"moved ≥{EFFECT:g}× but within noise (not flagged)": int(
            (
                judged
                & (merged["time_change"] == "")
                & (np.maximum(merged["ratio"], 1 / merged["ratio"]) >= EFFECT)
            ).sum()
        ),
        "accuracy changes": int((merged["accuracy_change"] != "").sum()),
        "status changes": int((merged["status_change"] != "").sum()),
        "only in a": int((merged["presence"] == "only a").sum()),
        "only in b": int((merged["presence"] == "only b").sum()),
        "duplicate keys ignored": dup_a + dup_b,
    }
    return merged, summary


def compare(run_a: str | Path | Run, run_b: str | Path | Run, out_dir: str | Path) -> Path:
    """Write compare.csv and compare.html for runs a (before) and b (after) into ``out_dir``."""
    return write_comparison(run_a, run_b, out_dir)[0]


def write_comparison(
    run_a: str | Path | Run, run_b: str | Path | Run, out_dir: str | Path
) -> tuple[Path, dict[str, Any]]:
    """:func:`compare`, also returning the summary (for :func:`summary_line`)."""
    a, b = load_run(run_a), load_run(run_b)
    frame, summary = compare_frame(a, b)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "compare.csv", frame.to_csv(index=False))
    atomic_write_text(out / "compare.html", compare_page(a, b, frame, summary))
    return out, summary


def _run_label(run: Run) -> str:
    name = run.source.parent.name if run.source and run.source.name == "benchmark.json" else ""
    name = name or (run.source.name if run.source else "(in memory)")
    return f"{name} · {run.started or '?'} · commit {run.commit[:12] or 'none'}"


RULES_HTML = f"""
<h3>What counts as a change</h3>
<ul>
<li>Cases are matched on {", ".join(MATCH_KEYS)}.</li>
<li><b>Time</b> (both runs status ok; ratio = median_b / median_a; the <i>test</i> column says
which rule judged the case):
<ul>
<li><i>rank-test</i> (per-round samples in both runs, at least {MIN_RANK_SAMPLES} a side and
enough that the test can reach α): flagged <i>slower</i>/<i>faster</i> when the two-sided
Mann-Whitney U test on the samples gives p &lt; α = {ALPHA:g} <b>and</b> the medians differ
by at least {EFFECT:g}× either way. α is per case and small so that chance alone flags about
{ALPHA:.1%} of cases; the {EFFECT:g}× floor absorbs the drift between two runs of the same
code, which the samples of one run cannot show.</li>
<li><i>fallback-range</i> (samples in both runs, too few for the rank test): flagged when the
medians differ by at least {FALLBACK_EFFECT:g}× <b>and</b> the two runs' sample ranges do not
overlap.</li>
<li><i>fallback-iqr</i> (a run without samples, recorded before they were kept): the old rule,
|ratio − 1| &gt; {TIME_THRESHOLD:.0%} <b>and</b> each median outside the other run's band
[median − iqr/2, median + iqr/2]. It flags noise far more often.</li>
<li><i>machine-slow</i>: the speed probe found the machine over {SLOW_FACTOR:g}× slower than its
usual around the case's rounds in a run (<code>machine_slowdown</code>), even after waiting:
no verdict.</li>
<li><i>none</i>: not timed in both runs.</li>
</ul></li>
<li><b>Accuracy</b>: the max relative error crosses the tolerance (b's, else a's), or changes by
more than {ERROR_FACTOR:g}× either way (errors below float64 eps count as eps).</li>
<li><b>Status</b>: the statuses differ. Cases present in one run only are listed as such.</li>
</ul>"""


def summary_line(summary: dict[str, Any]) -> str:
    """One line: time changes flagged among the cases timed in both runs, and by which rule."""
    line = (
        f"time: {summary['time changes flagged']} of {summary['timed in both']} cases timed in "
        f"both runs flagged ({summary['share of timed cases flagged']}: "
        f"{summary['slower']} slower, {summary['faster']} faster; "
        f"{summary[f'moved ≥{EFFECT:g}× but within noise (not flagged)']} more moved "
        f"≥{EFFECT:g}× within their noise); rules: "
        f"rank test {summary['judged by rank-test']}, "
        f"few-sample range rule {summary['judged by fallback-range']}, "
        f"old 10%/IQR rule {summary['judged by fallback-iqr']}, "
        f"machine slow (no verdict) {summary['judged by machine-slow']}"
    )
    if summary["judged by fallback-iqr"]:
        line += " (no per-round samples in a run: recorded before samples_s was kept)"
    return line


def compare_page(a: Run, b: Run, frame: pd.DataFrame, summary: dict[str, Any]) -> str:
    seconds = {c: page.fmt_seconds for c in ("median_s_a", "median_s_b", "iqr_s_a", "iqr_s_b")}
    errors = {
        c: (lambda v: "" if page.missing(v) else f"{v:.2g}")
        for c in ("max_rel_error_a", "max_rel_error_b")
    }
    formats = {
        **seconds,
        **errors,
        "ratio": lambda v: "" if page.missing(v) else f"{v:.3f}",
        "p_value": lambda v: "" if page.missing(v) else f"{v:.2g}",
    }
    shown = [k for k in MATCH_KEYS if (frame[k].notna() & (frame[k] != "")).any()]
    columns = [
        *shown,
        "flags",
        "status_a",
        "status_b",
        "median_s_a",
        "median_s_b",
        "ratio",
        "test",
        "p_value",
        "max_rel_error_a",
        "max_rel_error_b",
    ]
    sections = []
    facts = "".join(
        f"<tr><th>{page.esc(k)}</th><td class='num'>{v}</td></tr>" for k, v in summary.items()
    )
    intro = (
        f"<p>a = {page.esc(_run_label(a))}<br>b = {page.esc(_run_label(b))}</p>"
        f"<p><b>{page.esc(summary_line(summary))}</b></p>"
        f"<table><tbody>{facts}</tbody></table>" + RULES_HTML
    )
    sections.append(("summary", "Summary", intro))
    labels = frame["backend"] + " " + frame["problem"] + " " + frame["operation"]
    sampled = frame["test"].isin(("rank-test", "fallback-range")).any()
    bounds = (1 / EFFECT, EFFECT) if sampled else (1 - TIME_THRESHOLD, 1 + TIME_THRESHOLD)
    svg = plots.ratio_scatter(frame["ratio"], labels, frame["time_change"] != "", bounds)
    sections.append(
        (
            "ratios",
            "Time ratios",
            page.figure(
                svg,
                "Median b / median a for every case timed in both runs, sorted; red points "
                f"are flagged changes, dotted lines mark {bounds[0]:.3g}× and {bounds[1]:.3g}× "
                + (
                    "(the rank test's minimum effect)."
                    if sampled
                    else "(the old rule's ±10%: these runs have no per-round samples)."
                ),
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
