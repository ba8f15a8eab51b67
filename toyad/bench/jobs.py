"""Jobs: one timed run as N processes on this machine, one per CPU (``--jobs N``).

Most of a run is not its timed rounds but what surrounds them: tracing and
compiling, first calls (kernels compiled per shape), checks against the
analytic derivative, imports. With ``--jobs N`` the pytest the user started
runs no test itself: it starts N jobs, ``python -m pytest`` with the same
arguments plus ``--shard K/N --shard-by lineage`` (every job collects the same
items and keeps its part: whole lineages, each backend's sizes of one problem,
operation and mode in one job, dealt by expected cost; with ``--shard-by claim``
the jobs claim lineages as they go instead, :mod:`toyad.bench.claims`), each pinned to its own
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

from toyad.bench.ahead import WORK_AHEAD_KEYS
from toyad.bench.claims import ENV as CLAIMS_ENV
from toyad.bench.turns import ENV as TURNS_ENV
from toyad.bench.turns import gate_path

MAX_AUTO_JOBS = 2  # (one job a CPU; more than two was never measured here)
# set for the jobs: a job whose memory drifted past what releasing every cache gives back
# stops after its item and asks to go on in a fresh process (toyad.bench.harness)
RESTARTABLE_ENV = "TOYAD_JOB_RESTARTABLE"
# per job: a bound, not a budget (every part finishes an item, so the parts end anyway;
# each costs a start-up, ~10-20 s). A full run restarted a job 8 times, for TensorFlow's
# 4096 x 4096 Jacobians (its allocator keeps what it freed); the part that could not
# restart stayed at 9.5 GiB after a case TensorFlow ran past the limit in C, and every
# later case was "not started" for memory.
MAX_RESTARTS = 64
# a job whose resident memory passes its case limit (--max-rss-gib) by this much is ended
# at once by its controller and goes on in a fresh process: a library allocating in C
# (TensorFlow's allocator) can run past the limit before the case's guard gets to stop it
MEMORY_LINE_MARGIN_GIB = 0.25
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
        return bool(self.error or self.missing) or any(map(part_failed, self.results))


def job_args(args: Sequence[str], shard_by: str = "lineage") -> list[str]:
    """The user's arguments for a job (the controller's options dropped; a job writes its
    run's data, the controller the page); ``shard_by``: lineage or claim."""
    from toyad.bench.cluster import shard_args

    return [*shard_args(args), "--jobs", "1", "--shard-by", shard_by, "--no-report-page"]


def run_jobs(
    args: Sequence[str],
    cwd: str,
    jobs: int,
    say: Callable[[str], None],
    folder: Path,
    budget_s: float,
    memory_limit: int | None = None,
    shard_by: str = "lineage",
) -> JobsOutcome:
    """Run the selection as ``jobs`` processes here, sharing one turns lock; their runs.
    Each job's run folder (its journal as it goes) is ``folder/K-of-N``; ``memory_limit``:
    the run's case limit in bytes (a job's memory line is MEMORY_LINE_MARGIN_GIB above)."""
    from toyad.bench.cluster import ShardFailed

    outcome = JobsOutcome(jobs=jobs)
    handle, lock = tempfile.mkstemp(prefix="toyad-turns-")
    os.close(handle)
    handle, claims = tempfile.mkstemp(prefix="toyad-claims-")
    os.close(handle)
    env = dict(os.environ)
    env[TURNS_ENV] = lock
    env[CLAIMS_ENV] = claims
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
                    run_job,
                    args,
                    cwd,
                    f"{k}/{jobs}",
                    env,
                    folder,
                    say,
                    budget_s,
                    memory_limit,
                    shard_by,
                )
                for k in range(1, jobs + 1)
            }
            for k, future in futures.items():
                try:
                    parts = future.result()
                except ShardFailed as exc:
                    outcome.missing.append({"shard": f"{k}/{jobs}", "reason": str(exc)})
                    outcome.results.extend(getattr(exc, "parts", []))  # what it did is kept
                    continue
                outcome.results.extend(parts)
                seconds = sum(p["seconds"] for p in parts)
                restarts = f", {len(parts) - 1} restarts" if len(parts) > 1 else ""
                say(
                    f"toyad: job {k}/{jobs} done in {seconds:.0f} s "
                    f"(exit {parts[-1]['returncode']}{restarts})"
                )
    finally:
        for path in (lock, gate_path(lock), claims):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    outcome.seconds = time.perf_counter() - start
    return outcome


def run_job(
    args: Sequence[str],
    cwd: str,
    shard: str,
    env: dict[str, str],
    folder: Path,
    say: Callable[[str], None],
    budget_s: float,
    memory_limit: int | None = None,
    shard_by: str = "lineage",
) -> list[dict[str, Any]]:
    """One job's runs: its shard, and, each time it stopped to go on in a fresh process
    (its run says ``restart``, or it was ended during a case: past its memory line, the
    case limit ``memory_limit`` + MEMORY_LINE_MARGIN_GIB, or by a crash), what no part had
    finished yet (``--continue-after`` each earlier part's folder), in a folder of its
    own; the MAX_RESTARTS-th part may not stop. Each part's run holds the cases its own
    process measured."""
    from toyad.bench.cluster import ShardFailed, run_shard

    base = folder / shard.replace("/", "-of-")
    start = time.perf_counter()
    parts: list[dict[str, Any]] = []
    finished: list[str] = []  # every earlier part's run folder: their items are done
    while True:
        extra = [arg for done in finished for arg in ("--continue-after", done)]
        if finished:  # the job's budget, not a new one
            left = max(1.0, budget_s - (time.perf_counter() - start))
            extra += ["--run-budget-s", f"{left:.0f}"]
        last = len(parts) == MAX_RESTARTS  # (the last part runs to the end of the shard)
        part_env = {**env, RESTARTABLE_ENV: "0" if last else "1"}
        where = str(base) if not parts else f"{base}-{len(parts)}"
        line = None
        if memory_limit and not last:
            line = memory_limit + int(MEMORY_LINE_MARGIN_GIB * 2**30)
        part_start = time.perf_counter()
        try:
            parts.append(
                run_shard(
                    [*job_args(args, shard_by), *extra],
                    cwd,
                    shard,
                    env=part_env,
                    folder=where,
                    memory_line=line,
                )
            )
        except ShardFailed as exc:  # killed (out of memory) or crashed: keep what it did
            ended = None if last else _ended_during_a_case(shard, where, exc)
            if ended is None:
                journaled = _journaled_part(shard, where, str(exc))
                if journaled:
                    journaled["seconds"] = time.perf_counter() - part_start
                exc.parts = parts + ([journaled] if journaled else [])  # type: ignore[attr-defined]
                raise
            ended["seconds"] = time.perf_counter() - part_start  # (its process wrote no run)
            parts.append(ended)
        why = _restart_of(parts[-1])
        if not why:
            return parts
        say(f"toyad: job {shard} goes on in a fresh process: {why}")
        latest = parts[-1].get("latest") or (Path(parts[-1]["folder"]) / "latest").resolve()
        finished.append(str(latest))


def _ended_during_a_case(shard: str, folder: str, exc: Exception) -> dict[str, Any] | None:
    """A part that ended during a harness case: ended by its controller at the memory
    line, or crashed (the case recorded an error, with how the process ended). Its run is
    rebuilt from its journal and marked to go on in a fresh process, so the rest of the
    job still runs; None when no case was under way (then the job fails, its work kept).
    A case ended at the memory line after other items of its process (whose caches and
    allocator pools it sat on) runs again first thing in the fresh process; ended there
    too, or as its process's first, it is recorded skipped-too-large and done. A part
    ended at the memory line between cases goes on the same way, if it finished any."""
    from toyad.bench.guard import STOPPED_PREFIX
    from toyad.bench.journal import (
        JOURNAL_NAME,
        case_after_items,
        case_under_way,
        close_ended_case,
    )

    journals = sorted(Path(folder).glob(f"*/{JOURNAL_NAME}"))
    if not journals:
        return None
    over_memory = getattr(exc, "over_memory", 0) / 2**30
    between = over_memory and not case_under_way(journals[-1].parent)
    if over_memory and (between or case_after_items(journals[-1].parent)):
        # ended between harness cases (or in an item that is none), or during a case that
        # sat on what earlier items left resident: what the part finished is kept, and the
        # item under way runs again first thing in the fresh process
        part = _journaled_part(shard, folder, str(exc))
        if part is None:  # (it finished nothing: the job fails, its work kept)
            return None
        where = "between cases" if between else "during a case, which runs again there"
        part["run"]["toyad"]["restart"] = f"ended at {over_memory:.2f} GiB resident {where}"
        part["returncode"] = 0
        part["latest"] = str(journals[-1].parent)
        return part
    if over_memory:
        status, why = "skipped-too-large", f"ended at {over_memory:.2f} GiB resident"
        message = (
            f"{STOPPED_PREFIX}at {over_memory:.2f} GiB resident, past the job's memory line "
            f"(the memory limit + {MEMORY_LINE_MARGIN_GIB:g} GiB): its process was ended "
            "to give it back"
        )
    else:
        ended = str(exc).split(" without writing a run")[0].split(": ", 1)[-1]
        status, why = "error", f"crashed ({ended})"
        message = f"the job's process crashed during this case: {ended}"
    if close_ended_case(journals[-1].parent, status, message) is None:
        return None
    part = _journaled_part(shard, folder, str(exc))
    if part is None:
        return None
    part["run"]["toyad"]["restart"] = f"{why} during a case"
    part["returncode"] = 0  # (its work kept and the job goes on; a crash is the case's error)
    part["latest"] = str(journals[-1].parent)
    return part


def _journaled_part(shard: str, folder: str, why: str) -> dict[str, Any] | None:
    """A part that ended without writing its run (killed, crashed): its run rebuilt from its
    journal (the cases it finished; marked incomplete), or None if it journaled none."""
    from toyad.bench.journal import JOURNAL_NAME, run_from_journal

    journals = sorted(Path(folder).glob(f"*/{JOURNAL_NAME}"))
    if not journals:
        return None
    run = run_from_journal(journals[-1].parent)
    if not run["toyad"]["cases"]:
        return None
    return {"shard": shard, "returncode": -1, "run": run, "seconds": 0.0,
            "output_tail": why[-2000:], "folder": folder}  # fmt: skip


def _restart_of(result: dict[str, Any]) -> str:
    return str(((result.get("run") or {}).get("toyad") or {}).get("restart") or "")


def part_failed(result: dict[str, Any]) -> bool:
    """A part of a job failed: a non-zero exit (5: it selected nothing), or, for a part
    that stopped to go on in a fresh process (pytest says "interrupted"), a failed test."""
    if _restart_of(result):
        counts = outcome_counts([result.get("output_tail") or ""])
        return "failed" in counts or "error" in counts
    return result["returncode"] not in (0, 5)


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
        (f"job-{r['shard'].replace('/', '-of-')}" + (f"-part-{k}" if k else ""), r["run"])
        for k, r in _part_numbers(outcome.results)
        if r["run"]
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
                "seconds": {
                    r["shard"]: sum(
                        p["seconds"] for p in outcome.results if p["shard"] == r["shard"]
                    )
                    for r in outcome.results
                },
                "restarts": {
                    r["shard"]: k for k, r in _part_numbers(outcome.results) if k
                },  # (the jobs that went on in a fresh process, and how often)
                "controller_pid": os.getpid(),
            },
        },
    )
    merged["toyad"]["time_spent"] = merged_time_spent(
        [((run.get("toyad") or {}).get("time_spent") or {}) for _, run in runs]
    )
    return merged


def _part_numbers(results: Sequence[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(k, result): k counts the earlier parts of the same job (0: its first process)."""
    seen: dict[str, int] = {}
    numbered = []
    for result in results:
        k = seen.get(result["shard"], 0)
        seen[result["shard"]] = k + 1
        numbered.append((k, result))
    return numbered


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
        "held_turns_s": sum(p.get("held_turns_s") or 0.0 for p in parts),
        "waited_for_usual_speed_s": sum(p.get("waited_for_usual_speed_s") or 0.0 for p in parts),
        **{key: sum(p.get(key) or 0 for p in parts) for key in WORK_AHEAD_KEYS},
        "jobs": len(parts),
        "suites": sorted(suites.values(), key=lambda r: -r.get("wall_s", 0.0)),
    }
