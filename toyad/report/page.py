"""index.html: one self-contained page (inline SVG plots, inline CSS and script, no network).

Each section skips itself with a one-line note when the run has no data for
it. Statuses other than ok are always shown.
"""

from __future__ import annotations

import html
import json
import math
import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from toyad.bench.analysis import machine_of
from toyad.report import plots
from toyad.report.findings import crossover_rows, crossover_table, findings, relative_times
from toyad.report.load import Run, is_complete
from toyad.report.machines import base_backend, machines_of, machines_section, per_machine_view
from toyad.report.references import with_references
from toyad.results import STATUSES
from toyad.runtime import usable_cpus

REFERENCE_BACKEND = "analytic"
PREFERRED_TOY_REVERSE = ("reverse", "reverse-recursive")
ENV_FIRST = (
    "python",
    "numpy",
    "tensorflow",
    "jax",
    "torch",
    "threads",
    "cpu",
    "machine",
    "system",
    "commit",
    "gc",
    "profile",
    "duration_s",
)
# status severity for a table cell that gathers several rows (modes, sizes)
CELL_PRIORITY = ("wrong", "error", "ok", "skipped-too-slow", "skipped-too-large", "unsupported")

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 margin:0 auto;max-width:1200px;padding:0 18px 60px;color:#1d1d1f}
h1{font-size:24px;margin:18px 0 4px}
h2{font-size:19px;margin:34px 0 8px;border-bottom:2px solid #ddd}
h3{font-size:15px;margin:18px 0 6px}
p.note{color:#555;font-style:italic}p.caption{margin:4px 0 14px;color:#333}
nav a{margin-right:12px}
figure{margin:8px 0}figure svg{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}
th,td{border:1px solid #d6d6d6;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.scroll{max-height:75vh;overflow:auto;border:1px solid #ccc}
.scroll th{position:sticky;top:0;z-index:1}
table.sortable th{cursor:pointer}table.sortable th:hover{background:#e4e4e4}
td.flags{min-width:22ch;font-weight:600;color:#9b1020}
td.msg{max-width:38ch;overflow-wrap:anywhere;font-size:11.5px}
.st-ok{color:#17692b}.st-wrong{color:#fff;background:#c0162d;font-weight:bold}
.st-error{color:#fff;background:#8a3ab9;font-weight:bold}.st-unsupported{color:#777;background:#f3f3f3}
.st-skipped-too-slow,.st-skipped-too-large{color:#8a5a00;background:#fff3d6}.st-unknown{background:#ffd}
.acc td.cell{text-align:center;white-space:nowrap;font-size:11.5px;padding:2px 3px}
.acc th.b{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;font-size:11px;
 padding:4px 2px;text-align:left}
.sem td{max-width:22ch;overflow-wrap:anywhere;font-size:12px}
.agree{background:#d9f2dd}.disagree{background:#f7c9cf}.na{background:#f4f4f4}
.kind{color:#666;font-size:10.5px;display:block}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 14px}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0}
ul.findings{padding-left:20px;margin:2px 0 8px}ul.findings li{margin:3px 0}
p.lead{font-weight:600;margin:10px 0 2px}
ul.findings a{font-size:12px;white-space:nowrap}
.f-status{color:#7a1020}.f-slope{color:#7a4a00}
.wide{max-width:100%;overflow-x:auto}
table.heat td.cell{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.nowrap{white-space:nowrap}
table.heat th.col{font-weight:600;font-size:11.5px;max-width:11ch;overflow-wrap:anywhere}
"""

SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function(table){
 table.querySelectorAll('th').forEach(function(th){
  th.title='click to sort';
  th.addEventListener('click',function(){
   var body=table.tBodies[0],i=th.cellIndex,asc=th.dataset.dir!=='asc';
   th.dataset.dir=asc?'asc':'desc';
   var key=function(row){var c=row.cells[i],v=c.dataset.v!==undefined?c.dataset.v:c.textContent;
    var x=parseFloat(v);return isNaN(x)?[1,v.toLowerCase()]:[0,x];};
   var rows=Array.prototype.slice.call(body.rows);
   rows.sort(function(a,b){var x=key(a),y=key(b);
    if(x[0]!==y[0])return x[0]-y[0];return (x[1]<y[1]?-1:x[1]>y[1]?1:0)*(asc?1:-1);});
   rows.forEach(function(r){body.appendChild(r);});
  });
 });
});
document.querySelectorAll('input.filter').forEach(function(box){
 box.addEventListener('input',function(){
  var q=box.value.toLowerCase(),rows=document.getElementById(box.dataset.table).tBodies[0].rows;
  for(var k=0;k<rows.length;k++){
   rows[k].style.display=rows[k].textContent.toLowerCase().indexOf(q)<0?'none':'';}
 });
});
"""


# ---------------------------------------------------------------- formatting


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def fmt_seconds(value: Any) -> str:
    """1.2e-5 -> '12.0 µs'."""
    if missing(value):
        return ""
    value = float(value)
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(value) >= scale or unit == "ns":
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} s"


def fmt_number(value: Any) -> str:
    if missing(value):
        return ""
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.3g}"


def fmt_slope(value: Any) -> str:
    return "" if missing(value) else f"{float(value):.2f}"


def fmt_bytes(value: Any) -> str:
    if missing(value):
        return ""
    value = float(value)
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.0f} B"


def status_cell(status: str, title: str = "") -> str:
    cls = f"st-{status}" if status in STATUSES else "st-unknown"
    tip = f' title="{esc(title)}"' if title else ""
    return f'<td class="{cls}"{tip}>{esc(status)}</td>'


def figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}</figure>\n<p class='caption'>{caption}</p>"


def note(text: str) -> str:
    return f"<p class='note'>{text}</p>"


def frame_table(
    frame: pd.DataFrame,
    formats: dict[str, Callable[[Any], str]] | None = None,
    table_id: str = "",
    sortable: bool = True,
    status_column: str = "status",
    message_column: str = "message",
    classes: dict[str, str] | None = None,
) -> str:
    """An HTML table of ``frame``; numeric cells keep their raw value in data-v for sorting."""
    formats = formats or {}
    attrs = f' id="{table_id}"' if table_id else ""
    cls = ' class="sortable"' if sortable else ""
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    out = [f"<table{attrs}{cls}><thead><tr>{head}</tr></thead><tbody>"]
    columns = list(frame.columns)
    for row in frame.itertuples(index=False, name=None):
        cells = []
        for column, value in zip(columns, row):
            if column == status_column:
                cells.append(status_cell(str(value)))
            elif column == message_column:
                cells.append(f'<td class="msg">{esc(value)}</td>')
            elif classes and column in classes:
                cells.append(
                    f'<td class="{classes[column]}">{esc("" if missing(value) else value)}</td>'
                )
            elif column in formats:
                text = formats[column](value)
                raw = "" if missing(value) else f' data-v="{float(value):.6g}"'
                cells.append(f'<td class="num"{raw}>{esc(text)}</td>')
            elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
                value, bool
            ):
                cells.append(f'<td class="num">{esc(fmt_number(value))}</td>')
            else:
                cells.append(f"<td>{esc('' if missing(value) else value)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def page_shell(title: str, sections: list[tuple[str, str, str]], intro: str = "") -> str:
    """The whole page: title, table of contents, sections (anchor, heading, body)."""
    nav = " ".join(f'<a href="#{anchor}">{esc(heading)}</a>' for anchor, heading, _ in sections)
    body = "\n".join(
        f'<section id="{anchor}">\n<h2>{esc(heading)}</h2>\n{content}\n</section>'
        for anchor, heading, content in sections
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\n"
        "<meta name='viewport' "
        f"content='width=device-width,initial-scale=1'>\n<title>{esc(title)}</title>\n"
        f"<style>{CSS}</style></head><body>\n<h1>{esc(title)}</h1>\n{intro}\n<nav>{nav}</nav>\n{body}\n"
        f"<script>{SORT_SCRIPT}</script>\n</body></html>\n"
    )


# ---------------------------------------------------------------- sections


def _peak_rss_text(env: dict[str, Any]) -> str:
    peak = env.get("peak_rss_bytes")
    if missing(peak):
        return "not recorded"
    limit = env.get("max_rss_bytes")
    text = fmt_bytes(peak)
    return f"{text} (case limit {fmt_bytes(limit)})" if not missing(limit) else text


def incomplete_banner(run: Run) -> str:
    """A warning at the top of a report built from an unfinished run's journal ('' if complete)."""
    if is_complete(run):
        return ""
    reason = (run.raw.get("toyad") or {}).get("incomplete_reason") or "the run did not finish"
    folder = run.source.parent if run.source else "RUN"
    hint = f" Continue it with <code>--resume {esc(folder)}</code>."
    if (run.raw.get("toyad") or {}).get("merge"):
        hint = " Rerun the lost shards (<code>--shard K/N</code>) and merge again."
    return f"<p class='note st-error'><b>Incomplete run.</b> {esc(reason)}.{hint}</p>"


TIME_SPENT_COLUMNS = (
    "suite", "items", "cases", "not_run", "wall_s", "prepare_s", "first_call_s", "warmup_s",
    "timed_s", "primal_timing_s", "reference_s", "release_s", "other_s",
)  # fmt: skip


def time_spent_frame(run: Run) -> pd.DataFrame:
    """Per suite: where its items' wall time went (empty if the run did not record it)."""
    rows = ((run.raw.get("toyad") or {}).get("time_spent") or {}).get("suites") or []
    if not rows:
        return pd.DataFrame(columns=list(TIME_SPENT_COLUMNS))
    frame = pd.DataFrame(rows).reindex(columns=list(TIME_SPENT_COLUMNS))
    total = {c: frame[c].sum() for c in TIME_SPENT_COLUMNS if c != "suite"}
    return pd.concat([frame, pd.DataFrame([{"suite": "all suites", **total}])], ignore_index=True)


def summary_section(run: Run) -> str:
    cases = run.cases
    facts = [
        ("profile", run.profile or "?"),
        ("started", run.started or "?"),
        ("duration", fmt_seconds(run.duration_s) if run.duration_s is not None else "?"),
        ("commit", run.commit or "none recorded"),
        (
            "cases",
            f"{len(cases)} ({cases['backend'].nunique()} backends, {cases['suite'].nunique()} "
            "suites)",
        ),
        ("source", run.source.name if run.source else "(in memory)"),
        ("peak memory (RSS)", _peak_rss_text(run.environment)),
    ]
    out = [
        "<dl class='facts'>"
        + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts)
        + "</dl>"
    ]
    statuses = list(STATUSES) + sorted(set(cases["status"]) - set(STATUSES))
    counts = pd.crosstab(cases["suite"], cases["status"]).reindex(columns=statuses, fill_value=0)
    counts.loc["all suites"] = counts.sum()
    head = "<th>suite</th>" + "".join(f"<th>{esc(s)}</th>" for s in statuses)
    rows = []
    for suite, row in counts.iterrows():
        cells = "".join(
            f'<td class="num {"st-" + s if (row[s] and s != "ok") else ""}">{row[s]}</td>'
            for s in statuses
        )
        rows.append(f"<tr><th>{esc(suite)}</th>{cells}</tr>")
    out.append("<h3>Cases per status</h3>")
    out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    spent = time_spent_frame(run)
    out.append("<h3 id='time-spent'>Where the run's time went</h3>")
    if spent.empty:
        out.append(note("Not recorded (a run from an older toyad, or one built from a journal)."))
    else:
        spent_raw = (run.raw.get("toyad") or {}).get("time_spent", {})
        before = spent_raw.get("before_first_item_s")
        lead = (
            f"Before the first item (imports, collection): {fmt_seconds(before)}. "
            if not missing(before)
            else ""
        )
        if (spent_raw.get("jobs") or 1) > 1:
            lead += (
                f"The run ran as {spent_raw['jobs']} jobs, one per CPU, taking turns to time: "
                "each suite's times are summed over the jobs (CPU seconds, not the run's "
                f"duration); the jobs held turns for "
                f"{fmt_seconds(spent_raw.get('held_turns_s'))} and waited "
                f"{fmt_seconds(spent_raw.get('waited_for_turns_s'))} in all for a turn. "
            )
        paused = spent_raw.get("waited_for_usual_speed_s")
        if not missing(paused):
            lead += (
                f"Before timing, the speed probe found the machine slower than usual and "
                f"paused for {fmt_seconds(paused)} in all. "
            )
        ahead = spent_raw.get("worked_ahead_cases")
        if ahead:
            lead += (
                f"While waiting, the jobs prepared {ahead} next cases ahead (their items used "
                f"{spent_raw.get('worked_ahead_used') or 0}; "
                f"{fmt_seconds(spent_raw.get('worked_ahead_s'))} of work). "
            )
        out.append(
            note(
                lead + "Per suite, its test items' wall time split into preparing (tracing, "
                "jit), first calls (checked; one-off costs such as kernels compiled per shape), "
                "warm-up calls, timed rounds, the primal's preparation and timing in the same "
                "backend (for derivative ÷ primal), the analytic references (once per "
                "instance) and the rest (checks, empty-call timings, speed probes, releases, "
                "pytest's own). Also time.csv."
            )
        )
        shown = spent.copy()
        for column in [c for c in shown.columns if c.endswith("_s")]:
            shown[column] = shown[column].map(fmt_seconds)
        out.append(frame_table(shown))
    out.append("<h3>Environment</h3>")
    env = run.environment
    keys = [k for k in ENV_FIRST if k in env] + sorted(k for k in env if k not in ENV_FIRST)
    env_rows = []
    for key in keys:
        value = env[key]
        text = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else str(value)
        env_rows.append(f"<tr><th>{esc(key)}</th><td>{esc(text)}</td></tr>")
    out.append(
        f"<table><tbody>{''.join(env_rows)}</tbody></table>"
        if env_rows
        else note("No environment recorded.")
    )
    return "\n".join(out)


FINDING_LINKS = {
    "scaling": "forward vs reverse",
    "crossovers": "crossover table",
    "accuracy": "accuracy",
    "cost": "cost",
    "hessians": "Hessians",
    "cases": "all cases",
    "overview": "heat map",
    "summary": "run and environment",
}


FINDING_KINDS = {
    "budget": "Not measured",
    "tradeoff": "Forward vs reverse: where the mode expected to lose costs 2× the other",
    "slope": "Against the expected slopes (forward ~n, reverse ~m)",
    "speed": "Fastest backend per operation and size (the analytic reference aside)",
    "status": "Wrong, errored, unsupported, skipped",
    "accuracy": "Accuracy",
    "cost": "Derivative ÷ primal",
}


def _heat_colour(ratio: float) -> str:
    """Green at 1× (the fastest), through yellow, to red at 1000× and beyond (log scale)."""
    position = min(max(math.log10(max(ratio, 1.0)) / 3.0, 0.0), 1.0)
    return f"hsl({120 * (1 - position):.0f},70%,80%)"


def overview_heatmap(run: Run, table: pd.DataFrame | None = None, caption: str = "") -> str:
    """Backend × problem: time relative to the fastest backend on that problem."""
    table = relative_times(run.cases) if table is None else table
    if table.empty:
        return note("No timed derivative rows (accuracy/overhead suites) for the heat map.")
    columns = [c for c in table.columns if c != "geometric mean"]
    head = "<th>backend</th>" + "".join(
        f"<th class='col'>{esc(c)}</th>" for c in columns + ["geometric mean"]
    )
    body = []
    for backend, row in table.iterrows():
        cells = []
        for column in columns + ["geometric mean"]:
            value = row[column]
            if isinstance(value, float) and not math.isnan(value) and not math.isinf(value):
                text = f"{value:.2g}×" if value < 10 else f"{value:.0f}×"
                style = f"background:{_heat_colour(value)}"
                cells.append(f'<td class="cell" style="{style}" data-v="{value:.6g}">{text}</td>')
            elif isinstance(value, str) and value:
                cls = f"st-{value}" if value in STATUSES else "st-unknown"
                label = {"skipped-too-slow": "skipped", "skipped-too-large": "too large"}.get(
                    value, value
                )
                cells.append(f'<td class="cell {cls}">{esc(label)}</td>')
            else:
                cells.append("<td></td>")
        body.append(f"<tr><th>{esc(backend)}</th>{''.join(cells)}</tr>")
    caption = caption or (
        "Time of each problem's main derivative (the gradient of a scalar "
        "problem, else the Jacobian; the overhead suite's size where it ran, else the accuracy "
        "suite's) relative to the fastest backend on that problem, best mode of each backend; "
        "1× is the fastest."
    )
    return (
        f"<p class='caption'>{caption} Rows sorted by the geometric mean of their ratios. "
        "Green 1×, yellow "
        "~30×, red 1000× and beyond (log scale); cells without a timing give the status.</p>"
        f"<div class='wide'><table class='heat sortable'><thead><tr>{head}</tr></thead><tbody>"
        + "\n".join(body)
        + "</tbody></table></div>"
    )


def trace_compile_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per backend × workload: the derivative's prepare (tracing, compiling, binding the
    constants) and its call, at the workload's smallest size the backend prepared."""
    derivative = rows[(rows.operation != "primal") & rows.prepare_s.notna()]
    table: dict[str, dict[str, str]] = {}
    for (backend, problem), cells in derivative.groupby(["backend", "problem"], sort=True):
        first = cells.iloc[0]  # (a workload's sizes run smallest first)
        call = (
            fmt_seconds(first.median_s)
            if first.status == "ok" and not missing(first.median_s)
            else str(first.status)
        )
        table.setdefault(str(backend), {})[str(problem)] = (
            f"{fmt_seconds(first.prepare_s)} · {call}"
        )
    frame = pd.DataFrame.from_dict(table, orient="index").fillna("")
    return frame.rename_axis("backend").reset_index()


def _compile_caches_text(run: Run) -> str:
    caches = run.environment.get("compile_caches") or {}
    if not isinstance(caches, dict) or not caches:
        return ""
    return (
        " Compile caches at the run's start: "
        + "; ".join(f"{name}: {state}" for name, state in caches.items())
        + "."
    )


def workloads_section(run: Run) -> str:
    """GradBench's workloads: per workload, backends × sizes, a summary heat map and what
    each backend spends to trace and compile."""
    cases = run.cases
    rows = cases[cases.suite == "workloads"]
    if rows.empty:
        return note("No standard-workload rows in this run (suite 'workloads').")
    out = [
        overview_heatmap(
            run,
            relative_times(cases, ("workloads",)),
            "GradBench's summary: each workload's derivative at the size most backends ran, "
            "relative to the fastest backend; 1× is the fastest.",
        )
    ]
    compile_table = trace_compile_table(rows)
    if not compile_table.empty:
        out.append("<h3 id='workload-trace-compile'>Trace and compile</h3>")
        out.append(
            note(
                "Each workload's derivative at its smallest size: prepare · call. Prepare is "
                "the untimed step before the calls: tracing and compiling (jit, "
                "tf.function, XLA, torch.compile), binding the constants (every backend); "
                "it is paid once per size and shape, so it is what a one-off call costs "
                "beyond the call." + esc(_compile_caches_text(run))
            )
        )
        out.append("<div class='wide'>" + frame_table(compile_table) + "</div>")
    for problem, group in rows.groupby("problem", sort=True):
        derivative = group[group.operation != "primal"]
        if derivative.empty:
            continue
        op = derivative.operation.iloc[0]
        presets = list(dict.fromkeys(derivative["preset"]))
        table = []
        for backend, cells in derivative.groupby("backend", sort=True):
            row: dict[str, Any] = {"backend": backend}
            for preset in presets:
                cell = cells[cells["preset"] == preset]
                if cell.empty:
                    row[preset] = ""
                    continue
                first = cell.iloc[0]
                if first.status == "ok" and not missing(first.median_s):
                    row[preset] = fmt_seconds(first.median_s)
                else:
                    row[preset] = {"skipped-too-slow": "slow", "skipped-too-large": "large"}.get(
                        first.status, first.status
                    )
            ratios = cells["ratio_to_primal"].dropna()
            row["derivative ÷ objective"] = fmt_number(ratios.median()) if len(ratios) else ""
            table.append(row)
        out.append(f"<h3 id='workload-{esc(problem)}'>{esc(problem)} — {esc(op)}</h3>")
        description = ""
        try:
            from toyad import problems as catalog

            description = catalog.get(problem).description
        except Exception:
            pass
        out.append(
            note(
                f"{esc(description)} Median time per call at GradBench's sizes (its input "
                "descriptions); 'slow'/'large': stopped or predicted over the time or memory "
                "limit; derivative ÷ objective: the median over sizes of the derivative's time "
                "over the objective's in the same backend (ADBench's signature ratio)."
            )
        )
        out.append("<div class='wide'>" + frame_table(pd.DataFrame(table)) + "</div>")
    return "\n".join(out)


def findings_section(run: Run) -> str:
    """The run's findings (sentences from its data, each linking to its plot), then the
    backend × problem heat map."""
    groups: dict[str, list[str]] = {}
    for finding in findings(run):
        link = FINDING_LINKS.get(finding.anchor, finding.anchor)
        groups.setdefault(finding.kind, []).append(
            f"<li class='f-{esc(finding.kind)}'>{esc(finding.text)} "
            f"<a href='#{esc(finding.anchor)}'>→ {esc(link)}</a></li>"
        )
    lists = [
        f"<p class='lead'>{esc(FINDING_KINDS.get(kind, kind))}</p>"
        f"<ul class='findings'>{''.join(items)}</ul>"
        for kind, items in sorted(
            groups.items(),
            key=lambda g: list(FINDING_KINDS).index(g[0]) if g[0] in FINDING_KINDS else 99,
        )
    ]
    out = [
        "<p class='caption'>Computed from this run's cases: a different run says different "
        "things. Timings on a shared machine are noisy; the sections below hold the data.</p>",
        "".join(lists) if lists else note("No findings."),
        "<h3 id='overview'>Time relative to the fastest backend</h3>",
        overview_heatmap(run),
    ]
    return "\n".join(out)


def crossover_section_table(run: Run) -> str:
    """The crossover sizes per pair and edge (also tradeoff.csv)."""
    table = crossover_table(crossover_rows(run))
    if table.empty:
        return ""
    shown = table[
        [
            "backend",
            "reverse_backend",
            "problem",
            "edge",
            "held",
            "expected",
            "crossover",
            "loss_at_largest",
            "strategy_forward",
            "strategy_reverse",
            "stopped_by",
        ]
    ].rename(
        columns={"reverse_backend": "reverse by", "loss_at_largest": "loser ÷ winner at largest"}
    )
    # columns nobody filled (strategies of backends that do not say) take no room
    shown = shown.loc[
        :,
        [
            c
            for c in shown.columns
            if shown[c].astype(str).str.strip().ne("").any() and not shown[c].isna().all()
        ],
    ]
    return (
        "<h3 id='crossovers'>Crossover sizes</h3>"
        "<p class='caption'>Along each edge of the grid (n growing at m = 1, m growing at n = 1): "
        "the size from which the mode expected to lose costs 2× the other, interpolated on the "
        "log-log line between the sizes either side (≤ s: already at the edge's first size), or "
        "how far the edge got and what stopped it. The same rows are in tradeoff.csv.</p>"
        "<div class='wide'>"
        + frame_table(
            shown,
            formats={"loser ÷ winner at largest": lambda v: "" if missing(v) else f"{v:.3g}"},
            message_column="stopped_by",
            classes={"held": "nowrap", "crossover": "nowrap", "expected": "nowrap"},
        )
        + "</div>"
    )


def mode_pairs(scaling: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(label, forward backend, reverse backend): backends with both modes, then toy pairings.

    Scalar toys have one mode each, so a forward-only toy (dual, symbolic) is
    paired with the reverse-mode toy (``reverse`` preferred).
    """
    ok = plots.ok_timed(scaling)
    modes = ok.groupby("backend")["mode"].agg(set)
    pairs = [(b, b, b) for b, m in modes.items() if {"forward", "reverse"} <= m]
    family = ok.groupby("backend")["family"].first()
    fwd_only = [b for b, m in modes.items() if m == {"forward"} and family[b] == "toy"]
    rev_only = [b for b, m in modes.items() if m == {"reverse"} and family[b] == "toy"]
    for f in fwd_only:  # a partner on the same machine (a merged run names them b @ machine)
        here = [r for r in rev_only if machine_of(r) == machine_of(f)]
        if not here:
            continue
        preferred = [r for r in here if base_backend(r) in PREFERRED_TOY_REVERSE]
        rev = min(
            preferred, key=lambda r: PREFERRED_TOY_REVERSE.index(base_backend(r)), default=here[0]
        )
        pairs.append((f"{f} (fwd) vs {rev} (rev)", f, rev))
    return pairs


def strategy_table(scaling: pd.DataFrame, pairs: list[tuple[str, str, str]]) -> str:
    """How each compared pair carries its passes: like is compared with like, or it says so."""
    if "strategy" not in scaling or scaling["strategy"].eq("").all():
        return ""
    first = scaling[scaling.strategy != ""].groupby(["backend", "mode"])["strategy"].first()
    rows = []
    for label, fwd, rev in pairs:
        f = first.get((fwd, "forward"), "")
        r = first.get((rev, "reverse"), "")
        rows.append(
            {
                "pair": label,
                "forward": f,
                "reverse": r,
                "like for like": "yes" if f and f == r else "no: read the ratio with care",
            }
        )
    if not rows:
        return ""
    return (
        "<p class='caption'>How each pair carries its passes: <i>vectorised</i> (one batched "
        "call: vmap, pfor, batched tangents), <i>loop</i> (a Python loop of single passes), "
        "<i>per-op</i> (a scalar engine: one Python object per elementary operation). A "
        "vectorised mode against a looped one measures the batching as much as the mode.</p>"
        + frame_table(pd.DataFrame(rows))
    )


def scaling_section(run: Run) -> str:
    cases = run.cases
    scaling = cases[(cases.suite == "scaling") & (cases.operation == "jacobian")]
    if scaling.empty:
        return note("No scaling rows (suite 'scaling', operation 'jacobian') in this run.")
    out = []
    pairs = mode_pairs(scaling)
    heat = plots.crossover_heatmaps(scaling, pairs)
    if heat:
        out.append(
            figure(
                heat,
                "Each panel is one backend (or a forward toy against the reverse toy) over the "
                "grid of "
                "n inputs × m outputs; a cell shows log2(t_forward / t_reverse) of the full "
                "Jacobian. "
                "Red (&gt; 0): reverse mode is faster; blue (&lt; 0): forward mode is faster; +1 "
                "means "
                "forward takes twice as long. The black line is the crossover where both cost the "
                "same; "
                "grey cells with '–' lack a timing in one of the modes (see their status below).",
            )
        )
    else:
        out.append(note("No backend has both forward and reverse timings for the Jacobian grid."))
    out.append(crossover_section_table(run))
    out.append(strategy_table(scaling, pairs))
    covered = {b for _, f, r in pairs for b in (f, r)}
    groups = [(label, [(f, "forward"), (r, "reverse")]) for label, f, r in pairs]
    for backend, group in plots.ok_timed(scaling).groupby("backend"):
        if backend not in covered:
            groups.append((backend, [(backend, m) for m in sorted(group["mode"].unique())]))
    fits = []
    for axis, words in (("n", "inputs n at m = 1 (a gradient)"), ("m", "outputs m at n = 1")):
        svg, axis_fits = plots.cost_vs_size(scaling, groups, axis)
        fits += axis_fits
        if svg:
            out.append(
                figure(
                    svg,
                    f"Jacobian time as the number of {words} grows, forward and reverse mode, "
                    "log-log. "
                    "The legend gives each line's fitted log-log slope: about 1 means cost grows "
                    "in "
                    "proportion to the size, about 0 means it does not grow.",
                )
            )
        else:
            out.append(note(f"No timings along {axis} with {'m' if axis == 'n' else 'n'} = 1."))
    if fits:
        table = pd.DataFrame(fits)
        table["sizes_used"] = table["sizes_used"].map(lambda s: ", ".join(str(int(v)) for v in s))
        table = table.pivot_table(
            index=["backend", "mode"],
            columns="axis",
            values=["slope", "sizes_used"],
            aggfunc="first",
        )
        table.columns = [f"{value} vs {axis}" for value, axis in table.columns]
        order = [f"{v} vs {a}" for a in ("n", "m") for v in ("slope", "sizes_used")]
        table = table.reindex(columns=[c for c in order if c in table.columns]).reset_index()
        out.append("<h3>Fitted log-log slopes</h3>")
        out.append(
            note(
                "Fit: least squares of log(time) on log(size) over the largest sizes, walking "
                "down from "
                f"the largest while a point costs at least {plots.FLAT_FACTOR:g}× the cheapest "
                "point "
                "(below that the cost is flat fixed overhead); the two largest sizes are always "
                "used."
            )
        )
        out.append(
            frame_table(
                table, formats={c: fmt_slope for c in table.columns if c.startswith("slope")}
            )
        )
    not_ok = scaling[scaling.status != "ok"]
    if not not_ok.empty:
        counts = ", ".join(f"{s}: {c}" for s, c in not_ok["status"].value_counts().items())
        out.append(note(f"Grid cells not timed ({counts}); they are listed under All cases."))
    return "\n".join(out)


def _error_colour(error: float) -> str:
    """Green at 1e-16, through yellow, to red at 1e-4 and above (log10 scale)."""
    position = min(max((math.log10(max(error, 1e-18)) + 16.0) / 12.0, 0.0), 1.0)
    return f"hsl({120 * (1 - position):.0f},70%,82%)"


def accuracy_cell(rows: pd.DataFrame) -> str:
    statuses = set(rows["status"])
    status = next((s for s in CELL_PRIORITY if s in statuses), sorted(statuses)[0])
    details = "; ".join(
        f"{r.mode or '-'} n={fmt_number(r.n)}: {r.status}"
        + (f" err={r.max_rel_error:.2g}" if not missing(r.max_rel_error) else "")
        + (f" tol={r.tolerance:.2g}" if not missing(r.tolerance) else "")
        + (f" ({r.message})" if r.message else "")
        for r in rows.itertuples()
    )
    error = rows["max_rel_error"].max()
    if status in ("ok", "wrong") and not missing(error):
        if status == "wrong":
            return f'<td class="cell st-wrong" title="{esc(details)}">✗ {error:.1e}</td>'
        style = f"background:{_error_colour(error)}"
        text = "0" if error == 0 else f"{error:.0e}"
        return f'<td class="cell" style="{style}" title="{esc(details)}">{text}</td>'
    label = {
        "skipped-too-slow": "slow",
        "skipped-too-large": "large",
        "unsupported": "n/a",
    }.get(status, status)
    return f'<td class="cell st-{esc(status)}" title="{esc(details)}">{esc(label)}</td>'


def accuracy_section(run: Run) -> str:
    cases = run.cases
    acc = cases[cases.suite == "accuracy"]
    out = []
    if acc.empty:
        out.append(note("No accuracy rows in this run."))
    else:
        # problem × operation down, backends across in narrow columns (compact cells,
        # headers wrapping at the hyphen): 20 backends fit 1400 px without scrolling sideways
        backends = sorted(
            acc["backend"].unique(), key=lambda b: (base_backend(b) != REFERENCE_BACKEND, b)
        )
        head = "<th>problem</th><th>operation</th>" + "".join(
            f"<th class='b'>{esc(b)}</th>" for b in backends
        )
        body = []
        for (problem, operation), group in acc.groupby(["problem", "operation"], sort=True):
            cells = []
            for backend in backends:
                rows = group[group.backend == backend]
                cells.append(accuracy_cell(rows) if not rows.empty else "<td></td>")
            body.append(
                f"<tr><th>{esc(problem)}</th><th>{esc(operation)}</th>{''.join(cells)}</tr>"
            )
        out.append(
            "<p class='caption'>Max relative error against the analytic derivative, per backend × "
            "problem × operation (the worst over modes and sizes, one significant digit; hover a "
            "cell for each mode, its error, tolerance and message). Colour runs from green "
            "(1e-16) to red (1e-4, log scale); "
            "<span class='st-wrong'>✗ wrong</span> means over tolerance; "
            "<span class='st-error'>error</span>, <span class='st-unsupported'>n/a</span> "
            "(unsupported) and <span class='st-skipped-too-slow'>slow</span>/large (skipped for "
            "time or memory) cells have no error to show.</p>"
        )
        out.append(f"<div class='scroll'><table class='acc'><thead><tr>{head}</tr></thead><tbody>")
        out.append("\n".join(body) + "</tbody></table></div>")
    out.append("<h3>Numeric step size</h3>")
    sweep = plots.step_sweep(cases[cases.suite == "step-sweep"])
    if sweep:
        out.append(
            figure(
                sweep,
                "Max relative error of the numeric derivatives as the finite-difference step h "
                "shrinks "
                "(log-log). Truncation error falls with h (slope 1 for one-sided, 2 for central "
                "differences) until rounding error, which grows like eps/h, takes over: the V "
                "shape. "
                "The complex step has no subtraction, so it has no rounding arm.",
            )
        )
    else:
        out.append(note("No step-sweep rows in this run."))
    return "\n".join(out)


def cost_section(run: Run) -> str:
    cases = run.cases
    rows = cases[cases.suite.isin(["accuracy", "overhead"]) & cases["median_s"].notna()]
    if rows.empty:
        return note(
            "No timed accuracy/overhead rows in this run (run without --benchmark-disable)."
        )
    # per problem prefer the dedicated overhead suite when it has timings
    with_overhead = set(rows[rows.suite == "overhead"]["problem"])
    rows = rows[(rows.suite == "overhead") | ~rows.problem.isin(with_overhead)]
    rows = rows[rows.operation != "primal"]
    out = []
    svg = plots.cost_by_problem(rows, "median_s", REFERENCE_BACKEND)
    if svg:
        out.append(
            figure(
                svg,
                "Derivative time per problem: one row per backend, one colour per operation, "
                "marker "
                "shape by mode; the dashed lines are the analytic (hand-written) derivative, the "
                "reference. Log scale: one grid step is 10×.",
            )
        )
    svg = plots.cost_by_problem(rows, "ratio_to_primal", REFERENCE_BACKEND)
    if svg:
        out.append(
            figure(
                svg,
                "The same derivatives as a multiple of the primal (function-only) time in the same "
                "backend: the cheap-gradient ratio. Reverse mode should stay a small constant for "
                "a "
                "gradient; forward mode grows with n.",
            )
        )
    else:
        out.append(note("No ratio_to_primal values recorded."))
    out.append(net_ratio_table(rows))
    return "\n".join(out)


def net_ratio_table(rows: pd.DataFrame) -> str:
    """Per backend: its empty call, and derivative ÷ primal raw and net of that call."""
    timed = rows[rows["empty_call_s"].notna()]
    if timed.empty:
        return note("No empty-call costs recorded (backends without prepare_empty).")
    table = (
        timed.groupby("backend")
        .agg(
            empty_call_s=("empty_call_s", "median"),
            primal_s=("primal_s", "median"),
            ratio_to_primal=("ratio_to_primal", "median"),
            ratio_net=("ratio_net", "median"),
            overhead_bound=("overhead_bound", lambda v: int((v.astype(str) == "True").sum())),
            cases=("ratio_to_primal", "size"),
        )
        .reset_index()
    )
    formats = {
        "empty_call_s": fmt_seconds,
        "primal_s": fmt_seconds,
        "ratio_to_primal": fmt_number,
        "ratio_net": fmt_number,
    }
    return (
        "<h3>Net of the per-call overhead</h3>"
        "<p class='caption'>A compiled call costs something even when it does no work (an "
        "empty jitted call, an empty tf.function). <b>ratio_net</b> = (derivative − empty "
        "call) ÷ (primal − empty call): the work, not the dispatch. A case is "
        "<b>overhead-bound</b> when its primal takes less than 10 empty calls: its raw ratio "
        "then measures dispatch. Medians over this section's cases.</p>"
        + frame_table(table, formats)
    )


def hessian_section(run: Run) -> str:
    cases = run.cases
    svg = plots.lines_vs_n(cases[cases.suite == "hessians"], "median Hessian time [s]")
    if not svg:
        return note("No timed hessians rows in this run.")
    return figure(
        svg,
        "Time to compute the full n × n Hessian as n grows, per backend and method "
        "(e.g. forward-over-reverse), log-log, one panel per scalar problem.",
    )


def per_op_table(rows: pd.DataFrame) -> pd.DataFrame:
    """µs per elementary op for value + gradient, each engine, gc off / on, and micrograd ÷ it.

    The ratio compares engines of the same run on the same chain: the
    figure the per-op target of ``toyad.reverse`` is stated in.
    """
    rows = plots.ok_timed(rows)
    rows = rows[(rows["ops"] > 0) & rows["operation"].eq("gradient")].copy()
    if rows.empty:
        return pd.DataFrame()
    rows["gc"] = rows["gc"].fillna("").astype(str)
    rows = rows.sort_values("ops").groupby(["backend", "gc"], as_index=False).last()
    rows["us"] = rows["median_s"] / rows["ops"].astype(float) * 1e6
    out = rows.pivot(index="backend", columns="gc", values="us")
    out.columns = [f"µs/op gc {g}" if g else "µs/op" for g in out.columns]
    reference = out.loc["micrograd"] if "micrograd" in out.index else None
    if reference is not None:
        for column in list(out.columns):
            out[column.replace("µs/op", "micrograd ÷")] = reference[column] / out[column]
    ops = rows.groupby("backend")["ops"].max()
    out.insert(0, "ops", ops.reindex(out.index))
    return out.sort_values(out.columns[1]).reset_index()


def per_op_section(run: Run) -> str:
    cases = run.cases
    rows = cases[cases.suite == "per-op"]
    svg = plots.per_op_cost(rows)
    if not svg:
        return note("No timed per-op rows (with an op count) in this run.")
    table = per_op_table(rows)
    ratio = {c: (lambda v: "" if missing(v) else f"{v:.2f}×") for c in table.columns if "÷" in c}
    per_op = {c: (lambda v: "" if missing(v) else f"{v:.3g}") for c in table.columns if "/op" in c}
    return (
        frame_table(table, formats={**per_op, **ratio}, sortable=False)
        + "\n<p class='caption'>Value and full gradient of the chain, µs per elementary op "
        "(median ÷ ops), with the collector off and on; micrograd ÷ engine is how many times "
        "faster than micrograd the engine is in the same run. micrograd's graph is cyclic "
        "(closures), so with the collector on its cost grows with the chain's length.</p>\n"
        + figure(
            svg,
            "Cost of the scalar engines per elementary operation in the graph (median time / "
            "ops, microseconds, largest graph measured), one bar per backend, operation and "
            "collector state; micrograd, when installed, is the outside reference.",
        )
    )


def convenience_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per backend and n: the prepared call's median, ``b.gradient(f, x)``'s with the
    framework's own array (native) and with numpy, and each ÷ prepared."""
    rows = plots.ok_timed(rows[rows["suite"].eq("convenience")])
    if rows.empty:
        return pd.DataFrame()
    out = rows.pivot_table(index=["backend", "n"], columns="call", values="median_s")
    out = out.reindex(columns=[c for c in CONVENIENCE_CALLS if c in out.columns])
    for call, label in (("native", "native ÷ prepared"), ("convenience", "numpy ÷ prepared")):
        ratio = rows[rows["call"].eq(call)].set_index(["backend", "n"])["ratio"]
        if not ratio.empty:
            out[label] = ratio.reindex(out.index)
    order = [c for c in ("native ÷ prepared", "numpy ÷ prepared") if c in out.columns]
    return out.reset_index().sort_values(["n", *order[:1]])


CONVENIENCE_CALLS = ("prepared", "native", "convenience")


def ratios_section(run: Run) -> str:
    cases = run.cases
    table = convenience_table(cases)
    parts = []
    if table.empty:
        parts.append(note("No timed convenience rows in this run."))
    else:
        seconds = {c: fmt_seconds for c in CONVENIENCE_CALLS if c in table.columns}
        ratios = {c: fmt_ratio for c in ("native ÷ prepared", "numpy ÷ prepared")}
        parts.append(
            frame_table(table, formats={**seconds, **ratios}, sortable=False)
            + "\n<p class='caption'>Gradient of sum(tanh(x)·exp(-x²) + sin(x)²): the "
            "prepared call the other suites time (framework array in and out) beside the call "
            "a user writes, <code>b.gradient(f, x)</code>, repeated with the same f and shape "
            "(its build cached). <b>native</b>: x is the framework's own array "
            "(<code>b.to_native(x)</code>) and so is the result — toyad's own tax, target at "
            "most 1.2×; <b>convenience</b>: numpy in and out, which adds what the framework "
            "takes to accept a numpy array and hand one back.</p>"
        )
    other = plots.ok_timed(cases[cases["suite"].ne("convenience") & cases["ratio"].notna()])
    if not other.empty:
        columns = ["suite", "backend", "problem", "n", "gc", "median_s", "ratio", "ratio_of"]
        parts.append(
            frame_table(
                other[columns].sort_values(["suite", "ratio"]),
                formats={"median_s": fmt_seconds, "ratio": lambda v: fmt_ratio(v)},
                sortable=False,
            )
            + "\n<p class='caption'>The other stated ratios: toyad.tensor (and torch) ÷ the "
            "same gradient written by hand in numpy at n = 10⁶; each scalar engine ÷ micrograd "
            "on the per-op chain (below 1 is faster than micrograd).</p>"
        )
    return "\n".join(parts)


def fmt_ratio(value: Any) -> str:
    return "" if missing(value) else f"{float(value):.2f}×"


def memory_section(run: Run) -> str:
    cases = run.cases
    rows = cases[cases.suite == "memory"]
    if rows.empty:
        return note("No memory rows in this run.")
    methods = ", ".join(sorted(m for m in rows["memory_method"].unique() if m)) or "not recorded"
    out = []
    svg = plots.memory_vs_layers(rows)
    if svg:
        out.append(
            figure(
                svg,
                "Peak memory of one gradient of an L-layer chain as L grows, one line per backend, "
                f"mode and checkpoint strategy, log-log (memory measured by: {esc(methods)}). "
                "Without checkpoints reverse mode stores every layer (slope 1); √L checkpointing "
                "should grow like √L (slope ½).",
            )
        )
    svg = plots.time_vs_memory(rows)
    if svg:
        out.append(
            figure(
                svg,
                "The trade: gradient time against peak memory for each strategy, points labelled "
                "with L. "
                "Checkpointing moves a line left (less memory) and up (recomputation).",
            )
        )
    if not out:
        out.append(note("Memory rows are present but none has status ok with a peak_bytes value."))
    return "\n".join(out)


def semantics_section(run: Run) -> str:
    sem = run.semantics
    if sem.empty:
        return note("No native-semantics rows in this run.")
    backends = sorted(sem["backend"].dropna().unique())
    head = "<th>case</th><th>expected</th>" + "".join(f"<th>{esc(b)}</th>" for b in backends)
    body = []
    for case, group in sem.groupby("case", sort=True):
        description = next((d for d in group["description"] if d), "")
        expected = next((e for e in group["expected"] if e), "")
        cells = []
        for backend in backends:
            rows = group[group.backend == backend]
            if rows.empty:
                cells.append("<td class='na'></td>")
                continue
            r = rows.iloc[0]
            agrees = r["agrees"]
            cls = (
                "na"
                if missing(agrees)
                else ("agree" if str(agrees).lower() == "true" else "disagree")
            )
            answer = "" if missing(r["answer"]) else str(r["answer"])
            short = answer if len(answer) <= 60 else answer[:57] + "…"
            cells.append(
                f"<td class='{cls}' title='{esc(answer)}'>{esc(short)}<span "
                f"class='kind'>{esc(r['kind'])}</span></td>"
            )
        body.append(
            f"<tr><th title='{esc(description)}'>{esc(case)}<span "
            f"class='kind'>{esc(description)}</span></th>"
            f"<td>{esc(expected)}</td>{''.join(cells)}</tr>"
        )
    return (
        "<p class='caption'>Each backend's own answer to the same awkward question (a value, "
        "None, an "
        "exception). <span class='agree'>Green</span>: agrees with the documented/mathematical "
        "truth; "
        "<span class='disagree'>red</span>: differs; <span class='na'>grey</span>: no single "
        "truth. "
        "Hover for the full answer.</p>"
        f"<div class='scroll'><table class='sem'><thead><tr>{head}</tr></thead><tbody>"
        + "\n".join(body)
        + "</tbody></table></div>"
    )


ALL_CASES_COLUMNS = (
    "suite",
    "backend",
    "problem",
    "operation",
    "mode",
    "n",
    "m",
    "status",
    "step",
    "checkpoint",
    "median_s",
    "iqr_s",
    "rounds",
    "ratio_to_primal",
    "ratio_net",
    "overhead_bound",
    "strategy",
    "passes",
    "max_rel_error",
    "tolerance",
    "reference",
    "peak_bytes",
    "prepare_s",
    "wall_s",
    "rss_peak_bytes",
    "message",
)


def all_cases_section(run: Run) -> str:
    frame = run.cases.loc[:, list(ALL_CASES_COLUMNS)]
    frame = frame.loc[
        :, [c for c in frame.columns if c in ("status", "message") or frame[c].notna().any()]
    ]
    frame = frame.loc[
        :, [c for c in frame.columns if c == "message" or (frame[c].astype(str) != "").any()]
    ]
    formats = {
        "median_s": fmt_seconds,
        "iqr_s": fmt_seconds,
        "max_rel_error": lambda v: "" if missing(v) else f"{float(v):.2g}",
        "tolerance": lambda v: "" if missing(v) else f"{float(v):.0e}",
        "step": lambda v: "" if missing(v) else f"{float(v):.0e}",
        "peak_bytes": fmt_bytes,
        "ratio_to_primal": fmt_number,
        "ratio_net": fmt_number,
        "prepare_s": fmt_seconds,
        "wall_s": fmt_seconds,
        "rss_peak_bytes": fmt_bytes,
    }
    formats = {k: v for k, v in formats.items() if k in frame.columns}
    return (
        f"<p class='caption'>Every case of the run ({len(frame)} rows), whatever its status. "
        "Click a "
        "header to sort; type to filter. The same rows are in results.csv.</p>"
        "<p><input class='filter' data-table='all-cases' placeholder='filter rows…' size='40'></p>"
        "<div class='scroll'>" + frame_table(frame, formats, table_id="all-cases") + "</div>"
    )


SECTIONS: tuple[tuple[str, str, Callable[[Run], str]], ...] = (
    ("findings", "Findings", findings_section),
    ("scaling", "Forward vs reverse", scaling_section),
    ("workloads", "Standard workloads", workloads_section),
    ("accuracy", "Accuracy", accuracy_section),
    ("cost", "Cost", cost_section),
    ("hessians", "Hessians", hessian_section),
    ("per-op", "Scalar engines: per-op cost", per_op_section),
    ("ratios", "Convenience calls and stated ratios", ratios_section),
    ("memory", "Memory", memory_section),
    ("semantics", "Native semantics", semantics_section),
    ("cases", "All cases", all_cases_section),
    ("summary", "Run and environment", summary_section),
)


def _render_safely(render: Callable[[Run], str], run: Run) -> str:
    """One section; if its data trips the renderer, say so in the page and keep the rest."""
    try:
        return render(run)
    except Exception as exc:  # a report must not be lost to one odd section
        problem = esc(f"{type(exc).__name__}: {exc}")
        return f"<p class='note st-error'>This section failed to render: {problem}</p>"


# Sections drawn in a second process while this one draws the rest (the scaling section's
# figures are about half of a report's build time; a spawned process starts in ~1 s), for
# a run with at least this many scaling cases (a small run's figures take less than that)
RENDERED_APART = ("scaling",)
APART_MIN_CASES = 200


def _render_sections(
    view: Run, sections: list[tuple[str, str, Callable[[Run], str]]]
) -> list[tuple[str, str, str]]:
    """(anchor, heading, html) of each section, in order: those of RENDERED_APART in a spawned
    process where there is a second CPU, the others here. Anything that goes wrong with the
    second process (it cannot start, or the data cannot be sent to it): drawn here too."""
    worth_it = (view.cases["suite"] == "scaling").sum() >= APART_MIN_CASES
    apart = {
        anchor: render
        for anchor, _, render in sections
        if anchor in RENDERED_APART and worth_it and usable_cpus() > 1
    }
    futures: dict[str, Any] = {}
    pool = None
    if apart:
        try:
            spawn = multiprocessing.get_context("spawn")
            pool = ProcessPoolExecutor(max_workers=1, mp_context=spawn)
            futures = {a: pool.submit(_render_safely, r, view) for a, r in apart.items()}
        except Exception:
            futures = {}
    try:
        html_of = {
            anchor: _render_safely(render, view)
            for anchor, _, render in sections
            if anchor not in futures
        }
        for anchor, future in futures.items():
            try:
                html_of[anchor] = future.result()
            except Exception:  # (the process or the pickling failed: not the section)
                html_of[anchor] = _render_safely(apart[anchor], view)
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
    return [(anchor, heading, html_of[anchor]) for anchor, heading, _ in sections]


def build_page(
    run: Run, sections: Iterable[tuple[str, str, Callable[[Run], str]]] = SECTIONS
) -> str:
    """The complete index.html text for ``run``."""
    sections = with_references(run, sections)  # a user's function: what it was checked against
    if len(machines_of(run)) > 1 or run.environment.get("merged_runs"):
        at = next((i for i, s in enumerate(sections) if s[0] == "summary"), len(sections))
        sections = [*sections[:at], ("machines", "Machines", machines_section), *sections[at:]]
    view = per_machine_view(run)  # several machines: backend @ machine, one line per machine
    rendered = _render_sections(view, list(sections))
    title = f"toyad run {run.started or ''}".strip()
    intro = incomplete_banner(run) + note(
        f"profile {esc(run.profile or '?')} · commit {esc(run.commit[:12] or 'none')} · "
        f"{len(run.cases)} cases · generated by toyad.report"
    )
    return page_shell(title, rendered, intro)
