"""What a run found, in sentences computed from its cases: the report's first section.

:func:`findings` reads only the run's data (cases, and the crossovers it
computes from them), so a different run says different things; each
:class:`Finding` names the page anchor of the section or plot that shows it.
:func:`relative_times` is the backend x problem summary (time relative to the
fastest backend per problem) drawn as the heat map under the sentences.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from toyad.bench.analysis import crossover_text, crossovers, loglog_fit
from toyad.report.load import Run
from toyad.report.machines import base_backend
from toyad.results import BUDGET_CUT_PREFIX

REFERENCE_BACKEND = "analytic"  # the hand-written derivative: the reference, not a contestant
PREFERRED_REVERSE = ("reverse", "reverse-recursive")  # a forward-only toy's partner in sentences
DERIVATIVES = ("gradient", "jacobian", "hessian", "jvp", "vjp")
SIZE_CLASSES = ((16, "small (n, m ≤ 16)"), (256, "medium (≤ 256)"), (math.inf, "large (> 256)"))
COVERAGE = 0.5  # a backend contends for "fastest" on at least this share of a group's cells
SLOPE_MIN_SIZE = 16  # the loss ratio's slope is fitted from this size up (past the overhead)
SURPRISING_SLOPE = 0.5  # the losing mode's extra growth expected ~size^1; below this: surprising
WORK_SHOWS = 2.0  # a slope is judged on sizes where the loser costs this x the winner (crossover)
ANCHORS = {
    "jacobian": "scaling",
    "gradient": "cost",
    "hessian": "hessians",
    "jvp": "cost",
    "vjp": "cost",
}


@dataclass(frozen=True)
class Finding:
    """One sentence of the findings: plain text, the page anchor showing it, its kind."""

    text: str
    anchor: str
    kind: str  # speed | tradeoff | status | accuracy | cost | slope | note


def fmt_ratio(value: float) -> str:
    """1.04 -> '1.0×', 56.7 -> '57×', 0.0071 -> '0.0071×'."""
    if value < 1:
        return f"{value:.2g}×"
    return f"{value:.1f}×" if value < 10 else f"{value:.0f}×"


def fmt_size(value: float) -> str:
    """An interpolated size to two significant digits: 1.23 -> '1.2', 1401 -> '1400'."""
    return f"{value:.2g}" if value < 10 else f"{float(f'{value:.2g}'):.0f}"


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _join(parts: list[str], limit: int = 8) -> str:
    shown = parts[:limit]
    more = f" and {len(parts) - limit} more" if len(parts) > limit else ""
    if len(shown) <= 1:
        return "".join(shown) + more
    return ", ".join(shown[:-1]) + (", " if more else " and ") + shown[-1] + more


def _timed(cases: pd.DataFrame) -> pd.DataFrame:
    return cases[(cases["status"] == "ok") & (cases["median_s"] > 0)]


def family_label(backend: str, family: str) -> str:
    """The family for accuracy: numeric differences apart from the exact toy engines."""
    return "numeric" if backend.startswith("numeric-") else (family or "?")


# ---------------------------------------------------------------- fastest backends


def size_class(n: Any, m: Any) -> str:
    size = max(int(n) if not pd.isna(n) else 1, int(m) if not pd.isna(m) else 1)
    return next(label for top, label in SIZE_CLASSES if size <= top)


def fastest(cases: pd.DataFrame) -> list[Finding]:
    """Per derivative operation and size class: the backend fastest relative to each cell's
    best (geometric mean of time ÷ the cell's fastest), and its margin over the next."""
    rows = _timed(cases)
    rows = rows[
        rows.operation.isin(DERIVATIVES)
        & (rows.backend.map(base_backend) != REFERENCE_BACKEND)
        & ~rows.suite.isin(["memory", "per-op", "step-sweep"])
    ]
    if rows.empty:
        return []
    rows = rows.assign(size_class=[size_class(n, m) for n, m in zip(rows.n, rows.m)])
    cell = ["suite", "problem", "operation", "n", "m"]
    best = rows.groupby(cell + ["backend", "size_class"], dropna=False)["median_s"].min()
    best = best.reset_index()
    best["relative"] = best["median_s"] / best.groupby(cell, dropna=False)["median_s"].transform(
        "min"
    )
    out = []
    order = {label: k for k, (_, label) in enumerate(SIZE_CLASSES)}
    for operation, by_op in best.groupby("operation", sort=True):
        parts = []
        for klass, group in sorted(by_op.groupby("size_class"), key=lambda g: order[g[0]]):
            cells = group.groupby(cell, dropna=False).ngroups
            score = group.groupby("backend").agg(
                geo=("relative", lambda r: float(np.exp(np.log(r).mean()))),
                cells=("relative", "size"),
            )
            score = score[score.cells >= COVERAGE * cells].sort_values(["geo", "cells"])
            if len(score) < 2:
                continue
            winner, runner = score.index[0], score.index[1]
            margin = score.geo.iloc[1] / score.geo.iloc[0]
            wins = int((group[group.backend == winner].relative <= 1.0).sum())
            parts.append(
                f"{klass} {winner} ({fmt_ratio(margin)} ahead of {runner}; fastest on "
                f"{wins} of {cells} cells, {score.index.size} backends)"
            )
        if parts:
            out.append(
                Finding(
                    f"Fastest {operation}: " + "; ".join(parts) + ".",
                    ANCHORS.get(operation, "cost"),
                    "speed",
                )
            )
    return out


# ---------------------------------------------------------------- forward vs reverse


def _pair_name(row: dict[str, Any]) -> str:
    if row["backend"] == row["reverse_backend"]:
        return row["backend"]
    return f"{row['backend']} (forward only) against {row['reverse_backend']}"


def _edge_phrase(row: dict[str, Any]) -> str:
    grows = row["edge"]
    loser, winner = ("forward", "reverse") if grows == "n" else ("reverse", "forward")
    factor = f"{row['factor']:g}×"
    if row["reached"]:
        where = (
            f"already at {grows} = {fmt_size(row['crossover'])}"
            if row["at_start"]
            else f"from {grows} ≈ {fmt_size(row['crossover'])}"
        )
        return f"{loser} costs {factor} {winner} {where} ({row['held']})"
    if row["largest"] is None:
        return f"no {grows} edge timed in both modes ({row['held']}): {row['stopped_by']}"
    return (
        f"{loser} does not reach {factor} {winner} up to {grows} = {row['largest']} "
        f"({row['held']}; {fmt_ratio(row['loss_at_largest'])} there; stopped: "
        f"{_short_reason(row['stopped_by'])})"
    )


def _short_reason(reason: str, limit: int = 150) -> str:
    """'reverse mode skipped-too-slow at size 4: skipped: the smaller ...' -> without the
    repeated 'skipped:', cut at ``limit`` characters."""
    text = reason.replace(": skipped: ", ": ")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def sentence_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The crossover rows the findings speak of: every backend with both modes, and each
    forward-only toy against one reverse toy (``reverse`` first); the table has them all."""
    partners: dict[str, list[str]] = {}
    for row in rows:
        if row["backend"] != row["reverse_backend"]:
            partners.setdefault(row["backend"], []).append(row["reverse_backend"])
    chosen = {
        forward: min(
            reverse,
            key=lambda b: (
                PREFERRED_REVERSE.index(base_backend(b))
                if base_backend(b) in PREFERRED_REVERSE
                else len(PREFERRED_REVERSE),
                b,
            ),
        )
        for forward, reverse in partners.items()
    }
    return [
        r
        for r in rows
        if r["backend"] == r["reverse_backend"] or chosen.get(r["backend"]) == r["reverse_backend"]
    ]


def tradeoff_findings(rows: list[dict[str, Any]]) -> list[Finding]:
    out = []
    pairs: dict[tuple, list[dict]] = {}
    for row in sentence_rows(rows):
        pairs.setdefault((row["backend"], row["reverse_backend"], row["problem"]), []).append(row)
    several_problems = len({r["problem"] for r in rows}) > 1
    for (_, _, problem), edges in pairs.items():
        edges.sort(key=lambda r: r["edge"] != "n")
        first = edges[0]
        how = ""
        if first["strategy_forward"] or first["strategy_reverse"]:
            unlike = "" if first["like_for_like"] else ": not like for like"
            how = (
                f" [{first['strategy_forward'] or '?'} forward, "
                f"{first['strategy_reverse'] or '?'} reverse{unlike}]"
            )
        text = (
            f"{_pair_name(first)}{f' on {problem}' if several_problems else ''}: "
            + "; ".join(_edge_phrase(r) for r in edges)
            + f"{how}."
        )
        out.append(Finding(text, "crossovers", "tradeoff"))
    return out


def slope_findings(rows: list[dict[str, Any]]) -> list[Finding]:
    """Edges where the losing mode's cost grows much less than ~size times the winner's.

    Only where a slope of ~1 is expected: both modes carried the same way (like for like;
    a loop of numpy passes against a per-op Python engine scale differently per pass,
    whatever the number of passes), and judged where the work shows: past the crossover
    (the loser already costs WORK_SHOWS x the winner) and at sizes where neither mode's
    primal is within a few empty calls (``overhead_bound_sizes``), so a fixed per-call
    cost does not set the ratio."""
    out = []
    for row in sentence_rows(rows):
        if not row.get("like_for_like"):
            continue
        bound = set(row.get("overhead_bound_sizes") or ())
        points = [
            (s, l)
            for s, l in zip(row["sizes"], row["loss"])
            if s >= SLOPE_MIN_SIZE and l >= WORK_SHOWS and s not in bound
        ]
        fit = loglog_fit(*zip(*points)) if len(points) > 1 else None
        if fit is None or fit["slope"] >= SURPRISING_SLOPE:
            continue
        loser, winner = ("forward", "reverse") if row["edge"] == "n" else ("reverse", "forward")
        edge = row["edge"]
        out.append(
            Finding(
                f"Surprising: {_pair_name(row)}'s {loser}/{winner} "
                f"ratio grows like {edge}^{fit['slope']:.2f} along {edge} ({row['held']}, sizes "
                f"{points[0][0]}–{points[-1][0]}, past the crossover), where one extra factor "
                f"of {edge} (slope ~1) is expected.",
                "scaling",
                "slope",
            )
        )
    return out


# ---------------------------------------------------------------- statuses


def _what(row: Any) -> str:
    mode = f" ({row.mode})" if row.mode else ""
    return f"{row.problem} {row.operation}{mode}"


def budget_findings(cases: pd.DataFrame) -> list[Finding]:
    """How many listed cases the run budget left unrun, per suite (none: no sentence)."""
    if cases.empty or "message" not in cases:
        return []
    cut = cases[cases["message"].fillna("").astype(str).str.startswith(BUDGET_CUT_PREFIX)]
    if cut.empty:
        return []
    counts = cut.groupby("suite").size()
    parts = ", ".join(f"{suite} {count}" for suite, count in counts.items())
    return [
        Finding(
            f"NOT MEASURED: the run budget ran out and left {len(cut)} of the {len(cases)} "
            f"listed cases unrun ({parts}); what follows is a partial run.",
            "summary",
            "budget",
        )
    ]


def status_findings(cases: pd.DataFrame) -> list[Finding]:
    out = []
    for status, verb in (("wrong", "was wrong"), ("error", "errored")):
        bad = cases[cases.status == status]
        for backend, group in bad.groupby("backend", sort=True):
            what = sorted({_what(r) for r in group.itertuples()})
            out.append(
                Finding(
                    f"{backend} {verb} on {len(group)} case{'s' * (len(group) != 1)}: "
                    f"{_join(what, 5)}.",
                    "cases",
                    "status",
                )
            )
    if not any(f.kind == "status" for f in out):
        timed = len(cases[cases.status.isin(["ok", "wrong", "error"])])
        out.append(Finding(f"No case was wrong or errored ({timed} checked).", "cases", "status"))
    unsupported = cases[cases.status == "unsupported"]
    if not unsupported.empty:
        parts = []
        for backend, group in unsupported.groupby("backend", sort=True):
            by_op = group.groupby("operation")["mode"].agg(lambda m: sorted(set(m) - {""}))
            ops = [f"{op}{' ' + '/'.join(modes) if modes else ''}" for op, modes in by_op.items()]
            parts.append(f"{backend} ({', '.join(ops)})")
        out.append(Finding(f"Unsupported: {_join(parts, 12)}.", "cases", "status"))
    skipped = cases[cases.status.isin(["skipped-too-slow", "skipped-too-large"])]
    if not skipped.empty:
        counts = skipped.groupby("backend").size().sort_values(ascending=False)
        parts = [f"{b} {c}" for b, c in counts.items()]
        out.append(
            Finding(
                f"Skipped for time or memory ({len(skipped)} cases, per backend): "
                f"{_join(parts, 10)}.",
                "cases",
                "status",
            )
        )
    return out


# ---------------------------------------------------------------- accuracy, cost


def accuracy_findings(cases: pd.DataFrame) -> list[Finding]:
    acc = cases[
        (cases.suite == "accuracy")
        & cases.status.isin(["ok", "wrong"])
        & cases.max_rel_error.notna()
        & (cases.backend.map(base_backend) != REFERENCE_BACKEND)
    ]
    if acc.empty:
        return []
    acc = acc.assign(group=[family_label(b, f) for b, f in zip(acc.backend, acc.family)])
    parts = []
    for family, group in acc.groupby("group", sort=True):
        worst = group.loc[group.max_rel_error.idxmax()]
        parts.append(
            f"{family} {worst.max_rel_error:.1e} ({worst.backend}, {worst.problem} "
            f"{worst.operation})"
        )
    return [
        Finding(
            "Worst relative error against the analytic derivative, per family: "
            + _join(parts, 12)
            + ".",
            "accuracy",
            "accuracy",
        )
    ]


def cost_findings(cases: pd.DataFrame) -> list[Finding]:
    rows = _timed(cases)
    rows = rows[
        rows.suite.isin(["accuracy", "overhead"])
        & rows.operation.isin(["gradient"])
        & rows.ratio_to_primal.notna()
    ]
    if rows.empty:
        return []
    with_overhead = set(rows[rows.suite == "overhead"]["problem"])
    rows = rows[(rows.suite == "overhead") | ~rows.problem.isin(with_overhead)]
    best = rows.groupby(["backend", "problem"]).agg(
        ratio=("ratio_to_primal", "min"), net=("ratio_net", "min")
    )
    per_backend = best.groupby("backend").median().sort_values("ratio")
    parts = []
    for backend, r in per_backend.iterrows():
        differs = not pd.isna(r.net) and abs(r.net - r.ratio) > 0.25 * r.ratio
        net = f" (net {r.net:.2g})" if differs else ""
        parts.append(f"{backend} {r.ratio:.2g}{net}")
    return [
        Finding(
            "Gradient ÷ primal in the same backend (median over problems, best mode; net of "
            "the empty call in brackets where it differs): " + _join(parts, 25) + ".",
            "cost",
            "cost",
        )
    ]


# ---------------------------------------------------------------- summary heat map


def relative_times(
    cases: pd.DataFrame, suites: tuple[str, ...] = ("accuracy", "overhead")
) -> pd.DataFrame:
    """Backend x problem: each problem's derivative time ÷ the fastest backend's.

    Per problem its main derivative (gradient for a scalar problem, else the
    Jacobian) from the overhead suite where it has one, else the accuracy suite,
    at the size most backends ran; each backend's best mode. Cells without a
    timing hold the backend's status there (text). Rows sorted by the geometric
    mean of the ratios they have.
    """
    rows = cases[cases.suite.isin(list(suites)) & cases.operation.isin(DERIVATIVES)]
    if rows.empty:
        return pd.DataFrame()
    with_overhead = set(rows[(rows.suite == "overhead") & (rows.status == "ok")]["problem"])
    rows = rows[(rows.suite == "overhead") | ~rows.problem.isin(with_overhead)]
    table: dict[str, dict[str, Any]] = {}
    for problem, group in rows.groupby("problem", sort=True):
        ops = [op for op in ("gradient", "jacobian", "hessian") if op in set(group.operation)]
        op = ops[0] if ops else group.operation.iloc[0]
        group = group[group.operation == op]
        timed = _timed(group)
        if not timed.empty:
            size = timed.groupby(["n", "m"]).backend.nunique().idxmax()
            group = group[(group.n == size[0]) & (group.m == size[1])]
            timed = _timed(group)
        column = f"{problem} {op}"
        fastest_s = timed.median_s.min() if not timed.empty else math.nan
        for backend, cells in group.groupby("backend"):
            ok = _timed(cells)
            if not ok.empty:
                value: Any = float(ok.median_s.min() / fastest_s)
            else:
                order = ("wrong", "error", "skipped-too-slow", "skipped-too-large", "unsupported")
                value = next((s for s in order if s in set(cells.status)), cells.status.iloc[0])
            table.setdefault(backend, {})[column] = value
    frame = pd.DataFrame.from_dict(table, orient="index")
    if frame.empty:
        return frame
    frame = frame.reindex(columns=sorted(frame.columns))

    def geo(row: pd.Series) -> float:
        values = [v for v in row if isinstance(v, float) and not math.isnan(v)]
        return float(np.exp(np.mean(np.log(values)))) if values else math.inf

    frame["geometric mean"] = frame.apply(geo, axis=1)
    return frame.sort_values("geometric mean")


# ---------------------------------------------------------------- all


CROSSOVER_KEYS = (
    "backend",
    "reverse_backend",
    "problem",
    "edge",
    "held",
    "factor",
    "crossover",
    "reached",
    "at_start",
    "largest",
    "loss_at_largest",
    "sizes",
    "loss",
    "stopped_by",
    "strategy_forward",
    "strategy_reverse",
    "like_for_like",
    "expected",
    "forward_over_reverse_at_largest",
)


def crossover_rows(run: Run) -> list[dict[str, Any]]:
    """The run's crossovers (``toyad.crossovers``), or computed from its cases when the run
    lacks them (runs written before they were recorded)."""
    stored = (run.raw.get("toyad") or {}).get("crossovers")
    if isinstance(stored, list) and all(
        isinstance(r, dict) and all(k in r for k in CROSSOVER_KEYS) for r in stored
    ):
        return stored
    records = [
        {
            k: (None if v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v)
            for k, v in r.items()
        }
        for r in run.cases.to_dict("records")
    ]
    return crossovers(records)


def findings(run: Run) -> list[Finding]:
    """Sentences about this run, each from its data, most telling first."""
    cases = run.cases
    rows = crossover_rows(run)
    out: list[Finding] = budget_findings(cases)
    out += tradeoff_findings(rows)
    out += fastest(cases)
    out += status_findings(cases)
    out += accuracy_findings(cases)
    out += cost_findings(cases)
    out += slope_findings(rows)
    return out


def crossover_table(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The crossovers as a flat table (tradeoff.csv and the page)."""
    records = []
    for r in rows:
        records.append(
            {
                "backend": r["backend"],
                "reverse_backend": r["reverse_backend"],
                "problem": r["problem"],
                "edge": r["edge"],
                "held": r["held"],
                "expected": r["expected"],
                "crossover": crossover_text(r),
                "crossover_size": r["crossover"],
                "largest": r["largest"],
                "loss_at_largest": r["loss_at_largest"],
                "forward_over_reverse_at_largest": r["forward_over_reverse_at_largest"],
                "stopped_by": r["stopped_by"],
                "strategy_forward": r["strategy_forward"],
                "strategy_reverse": r["strategy_reverse"],
                "like_for_like": r["like_for_like"],
                "sizes": " ".join(str(s) for s in r["sizes"]),
                "loss": " ".join(f"{v:.3g}" for v in r["loss"]),
            }
        )
    return pd.DataFrame(records)
