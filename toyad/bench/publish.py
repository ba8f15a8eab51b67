"""The run: the toyad object of the JSON, the run folder, summaries."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from toyad.bench.analysis import crossovers, scaling_fits, tradeoffs
from toyad.bench.environment import environment, git_commit, native_log
from toyad.bench.harness import Harness
from toyad.results import STATUSES, budget_cut


def reference_findings() -> list[dict[str, Any]]:
    """Disagreements between exact backends met while establishing references (user problems)."""
    import sys

    module = sys.modules.get("toyad.userproblems")
    return list(module.FINDINGS) if module is not None else []


def toyad_object(harness: Harness, root: Path) -> dict[str, Any]:
    """The ``toyad`` object of the run JSON (see toyad.results)."""
    cases = [dict(r) for r in harness.records]
    return {
        "schema": 1,
        "profile": harness.profile.name,
        "started": harness.started.isoformat(),
        "duration_s": time.perf_counter() - harness.start_clock,
        "environment": environment(harness, root),
        "cases": cases,
        "semantics": list(harness.semantics),
        "native_log": native_log(harness),
        "fits": scaling_fits(cases),
        "tradeoffs": tradeoffs(cases),
        "crossovers": crossovers(cases),
        "complete": True,
        "resumed_from": harness.resumed_from,
        "restart": harness.restart_wanted,  # a job that asks to go on in a fresh process
        "reference_findings": reference_findings(),
        "time_spent": harness.time_spent(),
    }


def build_run(config: Any, harness: Harness) -> dict[str, Any]:
    """A pytest-benchmark-format JSON of this session, with the ``toyad`` object."""
    session = getattr(config, "_benchmarksession", None)
    root = Path(config.rootpath)
    benchmarks_done = [b for b in (session.benchmarks if session else []) if b]
    machine_info = session.get_machine_info() if session else {}
    commit_info = config.hook.pytest_benchmark_generate_commit_info(config=config)
    run = config.hook.pytest_benchmark_generate_json(
        config=config,
        benchmarks=benchmarks_done,
        include_data=False,
        machine_info=machine_info,
        commit_info=commit_info,
    )
    run["toyad"] = toyad_object(harness, root)
    return run


def start_journal(harness: Harness, root: Path) -> Path:
    """Create the run's folder under ``harness.report_dir`` and journal into it from now on."""
    from toyad import report

    commit, _ = git_commit(root)
    folder = report.new_run_folder(harness.report_dir, harness.started, commit)
    header = {
        "profile": harness.profile.name,
        "started": harness.started.isoformat(),
        "environment": environment(harness, root),
        "argv": sys.argv[1:],
    }
    harness.open_journal(folder, header)
    return folder


def write_run(
    run: dict[str, Any], reports_root: Path, folder: Path | None = None, page: bool = True
) -> Path:
    """Complete the journaled run ``folder`` (or publish a new folder): JSON, CSV, HTML
    (unless ``page`` is False), latest."""
    from toyad import report

    if folder is not None:
        return Path(report.complete_run(run, folder, page=page))
    return Path(report.publish(run, reports_root, page=page))


def failing_line(harness: Harness) -> str:
    """A plain line naming what was wrong or errored ('' when nothing was)."""
    bad = [r for r in harness.records if r["status"] in ("wrong", "error")]
    if not bad:
        return ""
    wrong = sum(r["status"] == "wrong" for r in bad)
    names = sorted({f"{r['backend']}/{r['problem']}/{r['operation']}" for r in bad})
    shown = ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")
    return (
        f"toyad: {wrong} wrong and {len(bad) - wrong} errored cases (the exit status is "
        f"non-zero; the report is written all the same): {shown}"
    )


def summary_line(harness: Harness) -> str:
    counts = {s: 0 for s in STATUSES}
    for r in harness.records:
        counts[r["status"]] += 1
    parts = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    return f"toyad: {len(harness.records)} cases ({parts}); profile {harness.profile.name}"


def budget_cut_line(harness: Harness) -> str:
    """A plain line saying how many cases of which suites the run budget left unrun
    ('' when it cut nothing)."""
    return budget_cut_text(harness.records, harness.run_budget_s)


def budget_cut_text(records: Any, budget_s: float | None = None) -> str:
    """'toyad: the run budget ... left N cases unrun: suite k, ...' ('' when none were)."""
    by_suite = Counter(record.get("suite") or "?" for record in records if budget_cut(record))
    if not by_suite:
        return ""
    total = sum(by_suite.values())
    suites = ", ".join(f"{suite} {count}" for suite, count in sorted(by_suite.items()))
    budget = f" ({budget_s:g} s)" if budget_s else ""
    return (
        f"toyad: NOT MEASURED: the run budget{budget} ran out and left {total} listed cases "
        f"unrun ({suites}); the report shows them as skipped-too-slow"
    )


# the dataclass module is re-exported for suites that build specs with replace()
replace = dataclasses.replace
