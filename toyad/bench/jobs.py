"""Jobs: one timed run as N processes on this machine, one per CPU (``--jobs N``).

Most of a run is not its timed rounds but what surrounds them: tracing and
compiling, first calls (kernels compiled per shape), checks against the
analytic derivative, imports. With ``--jobs N`` the pytest the user started
runs no test itself: it starts N jobs, ``python -m pytest`` with the same
arguments plus ``--shard K/N --shard-by lineage`` (every job collects the same
items and keeps its part: whole lineages, each backend's sizes of one problem,
operation and mode in one job, dealt by expected cost), each pinned to its own
CPU, each journaling into ``<report dir>/jobs-<time>/K-of-N`` (removed once the
merged run is published; a killed run's journals stay there). The jobs share
one lock file (``TOYAD_TURNS``, see :mod:`toyad.bench.turns`): they never time
at the same moment, and the rest of their work runs side by side. The
controller then merges the jobs' runs into one
(:func:`toyad.report.merge.merge_runs`) and publishes it; a job that fails to
write its run is named in the report, the other jobs' cases are kept.

``--jobs auto`` (the default of a timed run) takes one job per CPU this
process may use, at most MAX_AUTO_JOBS; ``--jobs 1`` runs in this process.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toyad.bench.turns import ENV as TURNS_ENV
from toyad.bench.turns import gate_path

MAX_AUTO_JOBS = 2  # (one job a CPU; more than two was never measured here)
# the jobs must collect the same parametrisations in the same order (see scripts/test.sh)
HASH_SEED = "0"


class JobsError(ValueError):
    """A bad ``--jobs`` value."""


def parse_jobs(text: str | None) -> int:
    """``auto`` -> one per usable CPU (at most MAX_AUTO_JOBS); ``N`` -> N >= 1."""
    from toyad.bench.turns import fcntl

    value = (text or "auto").strip().lower()
    if fcntl is None:  # no flock: jobs could not take turns to time
        if value in ("auto", "1"):
            return 1
        raise JobsError(f"--jobs {text!r}: jobs need fcntl.flock (POSIX); use --jobs 1")
    if value == "auto":
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        return max(1, min(cpus, MAX_AUTO_JOBS))
    if not value.isdigit() or int(value) < 1:
        raise JobsError(f"--jobs {text!r}: expected a number of jobs >= 1, or auto")
    return int(value)


@dataclass
class JobsOutcome:
    """What the jobs returned, and what the controller says about them."""

    jobs: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    published: Any = None
    lines: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error or self.missing) or any(
            r["returncode"] not in (0, 5) for r in self.results
        )


def job_args(args: Sequence[str]) -> list[str]:
    """The user's arguments for a job (the controller's options dropped; a job writes its
    run's data, the controller the page)."""
    from toyad.bench.cluster import shard_args

    return [*shard_args(args), "--jobs", "1", "--shard-by", "lineage", "--no-report-page"]


def run_jobs(
    args: Sequence[str],
    cwd: str,
    jobs: int,
    say: Callable[[str], None],
    folder: Path,
) -> JobsOutcome:
    """Run the selection as ``jobs`` processes here, sharing one turns lock; their runs.
    Each job's run folder (its journal as it goes) is ``folder/K-of-N``."""
    from toyad.bench.cluster import ShardFailed, run_shard

    outcome = JobsOutcome(jobs=jobs)
    handle, lock = tempfile.mkstemp(prefix="toyad-turns-")
    os.close(handle)
    env = dict(os.environ)
    env[TURNS_ENV] = lock
    env.setdefault("PYTHONHASHSEED", HASH_SEED)
    say(
        f"toyad: running as {jobs} jobs, one per CPU (they take turns to time; "
        "--jobs 1 for one process)"
    )
    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {
                k: pool.submit(
                    run_shard,
                    job_args(args),
                    cwd,
                    f"{k}/{jobs}",
                    env=env,
                    folder=str(folder / f"{k}-of-{jobs}"),
                )
                for k in range(1, jobs + 1)
            }
            for k, future in futures.items():
                try:
                    result = future.result()
                except ShardFailed as exc:
                    outcome.missing.append({"shard": f"{k}/{jobs}", "reason": str(exc)})
                    continue
                outcome.results.append(result)
                say(
                    f"toyad: job {k}/{jobs} done in {result['seconds']:.0f} s "
                    f"(exit {result['returncode']})"
                )
    finally:
        for path in (lock, gate_path(lock)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    outcome.seconds = time.perf_counter() - start
    return outcome


_COUNTS = re.compile(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?)\b")
_SUMMARY = re.compile(r"^[= ]*\d+ \w+.* in [\d.]+s")


def outcome_counts(outputs: Sequence[str]) -> str:
    """The jobs' pytest outcomes added up ("1366 passed, 368 skipped"): the controller
    runs no test, so pytest's own last line there reads "no tests ran"."""
    totals: dict[str, int] = {}
    for output in outputs:
        lines = [ln for ln in output.splitlines() if _SUMMARY.match(ln)]
        for count, kind in _COUNTS.findall(lines[-1] if lines else ""):
            kind = "error" if kind.startswith("error") else kind
            totals[kind] = totals.get(kind, 0) + int(count)
    return ", ".join(f"{n} {kind}" for kind, n in totals.items())


def merged_run(outcome: JobsOutcome) -> dict[str, Any]:
    """One run from the jobs' runs: cases united, the time each suite took summed."""
    from toyad.report.merge import merge_runs

    runs = [
        (f"job-{r['shard'].replace('/', '-of-')}", r["run"]) for r in outcome.results if r["run"]
    ]
    if not runs:
        lost = "; ".join(f"{m['shard']}: {m['reason']}" for m in outcome.missing)
        raise JobsError(f"no job returned a run ({lost or 'every job selected nothing'})")
    merged = merge_runs(
        runs,
        extra={
            "missing_shards": outcome.missing,
            "duration_s": outcome.seconds,
            "jobs": {
                "jobs": outcome.jobs,
                "exit_codes": {r["shard"]: r["returncode"] for r in outcome.results},
                "seconds": {r["shard"]: r["seconds"] for r in outcome.results},
                "controller_pid": os.getpid(),
            },
        },
    )
    merged["toyad"]["time_spent"] = merged_time_spent(
        [((run.get("toyad") or {}).get("time_spent") or {}) for _, run in runs]
    )
    return merged


def merged_time_spent(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The jobs' time accounts as one: each suite's seconds summed over the jobs (CPU
    time of the run, not its duration), the longest start-up, the waits for a turn."""
    suites: dict[str, dict[str, Any]] = {}
    for part in parts:
        for row in part.get("suites") or []:
            into = suites.setdefault(row["suite"], {"suite": row["suite"]})
            for key, value in row.items():
                if key != "suite" and isinstance(value, (int, float)):
                    into[key] = into.get(key, 0) + value
    befores = [p["before_first_item_s"] for p in parts if p.get("before_first_item_s") is not None]
    return {
        "before_first_item_s": max(befores) if befores else None,
        "waited_for_turns_s": sum(p.get("waited_for_turns_s") or 0.0 for p in parts),
        "jobs": len(parts),
        "suites": sorted(suites.values(), key=lambda r: -r.get("wall_s", 0.0)),
    }
