"""A run whose cases come from several machines (a merged run): how the page shows it.

With more than one machine label among the cases, the page is drawn from a
view in which every backend is named ``backend @ machine``: each plot line,
table column and finding is then one backend on one machine, so no line joins
points measured on different machines. The Machines section lists the
machines and puts side by side the cells (same case) that ran on more than one.
"""

from __future__ import annotations

import dataclasses
import json

import pandas as pd

from toyad.report.load import Run
from toyad.report.merge import SEPARATOR

SIDE_BY_SIDE_ROWS = 400  # at most this many cells in the side-by-side table
CELL = ["suite", "problem", "operation", "n", "m", "preset", "backend", "mode"]


def machines_of(run: Run) -> list[str]:
    """The distinct machine labels of the run's cases (sorted; '' left out)."""
    if "machine" not in run.cases.columns:
        return []
    return sorted({m for m in run.cases["machine"].astype(str) if m})


def base_backend(name: str) -> str:
    """``"reverse @ host-a"`` -> ``"reverse"`` (a plain name is returned as is)."""
    return str(name).split(SEPARATOR, 1)[0]


def per_machine_view(run: Run) -> Run:
    """The run with backends named ``backend @ machine`` when it has several machines."""
    if len(machines_of(run)) < 2:
        return run
    cases = run.cases.copy()
    labelled = cases["machine"].astype(str) != ""
    cases.loc[labelled, "backend"] = (
        cases.loc[labelled, "backend"].astype(str) + SEPARATOR + cases.loc[labelled, "machine"]
    )
    return dataclasses.replace(run, cases=cases)


def machines_section(run: Run) -> str:
    """The machines of a merged run, and cells measured on more than one side by side."""
    from toyad.report.page import esc, fmt_seconds, frame_table, note

    labels = machines_of(run)
    described = run.environment.get("machines") or {}
    merged = run.environment.get("merged_runs") or []
    if len(labels) < 2 and not merged:
        return note("One machine: see Run and environment.")
    out = []
    rows = []
    for label in labels or sorted(described):
        env = described.get(label) or {}
        shards = [str(r.get("shard") or r.get("run")) for r in merged if r.get("machine") == label]
        versions = env.get("versions") or {}
        rows.append(
            {
                "machine": label,
                "cases": int((run.cases["machine"] == label).sum()),
                "cpu": env.get("cpu", ""),
                "cores": env.get("cpu_affinity") or env.get("cpu_count") or "",
                "python": env.get("python", ""),
                "commit": str(env.get("commit") or "")[:12],
                "versions": json.dumps(versions, sort_keys=True) if versions else "",
                "runs / shards": ", ".join(shards),
            }
        )
    out.append(
        "<p class='caption'>The machines this run's cases were measured on (each row of "
        "results.csv carries its machine's environment). With several machines, every plot "
        "and table names a backend as <code>backend @ machine</code>: no line joins points "
        "from different machines.</p>"
    )
    out.append(frame_table(pd.DataFrame(rows), sortable=False))
    missing = ((run.raw.get("toyad") or {}).get("merge") or {}).get("missing_shards") or []
    if missing:
        lost = "; ".join(f"{m.get('shard')}: {m.get('reason')}" for m in missing)
        out.append(f"<p class='note st-error'><b>Shards lost:</b> {esc(lost)}</p>")
    if len(labels) < 2:
        return "\n".join(out)
    ok = run.cases[(run.cases["status"] == "ok") & (run.cases["median_s"] > 0)]
    ok = ok.assign(backend=ok["backend"].map(base_backend))  # the page's view: b @ machine
    if ok.empty:
        out.append(note("No timed cases to put side by side."))
        return "\n".join(out)
    keys = ok[CELL].astype(str)
    spread = ok.assign(_cell=keys.agg("|".join, axis=1))
    several = spread.groupby("_cell")["machine"].transform("nunique") > 1
    shared = spread[several]
    if shared.empty:
        out.append(
            note(
                "No cell ran on more than one machine (the shards split the cells), so nothing "
                "is side by side: each plot line is still one machine's."
            )
        )
        return "\n".join(out)
    table = shared.pivot_table(
        index=CELL, columns="machine", values="median_s", aggfunc="min", dropna=False
    ).reset_index()
    table = table.dropna(subset=[m for m in labels if m in table.columns], how="all")
    count = len(table)
    table = table.head(SIDE_BY_SIDE_ROWS)
    table.columns = [str(c) for c in table.columns]
    formats = {m: fmt_seconds for m in labels if m in table.columns}
    out.append(
        f"<h3>Cells measured on more than one machine ({count})</h3>"
        "<p class='caption'>Median time per call of the same case on each machine.</p>"
    )
    out.append(f"<div class='scroll'>{frame_table(table, formats=formats)}</div>")
    return "\n".join(out)
