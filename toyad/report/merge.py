"""Merge runs: one run from several (shards, or the same profile on other machines).

    toyad-report merge RUN... [--out DIR] [--allow-mixed]

The merged run is an ordinary run (benchmark.json, results.csv, index.html):
the union of the cases, each row labelled with its ``machine`` (the label its
run recorded: ``TOYAD_MACHINE`` or the hostname; a run recorded before labels
existed is labelled by its folder name). ``toyad.environment`` keeps what all
runs share, ``machines`` the environment of each machine (CPU, versions,
commit...), ``merged_runs`` one entry per input run. Runs of different
commits or profiles are refused unless ``allow_mixed``. The same case twice is
kept twice and listed in ``toyad.merge.duplicates``: nothing is dropped.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from toyad.report.load import RUN_JSON_NAME, ReportError, parse_run, read_json, resolve_json_path
from toyad.results import CASE_IDENTITY

# the fields that tell one case from another (a test item may record several rows)
CASE_KEY = (*CASE_IDENTITY, "nodeid")
# environment fields that describe the machine (kept per machine in a merged run)
MACHINE_FIELDS = (
    "machine_label",
    "hostname",
    "cpu",
    "cpu_count",
    "cpu_affinity",
    "machine",
    "platform",
    "python",
    "threads",
    "thread_env",
    "versions",
    "commit",
    "dirty",
)
# per run, not per machine: never lifted to the merged environment
PER_RUN_FIELDS = ("shard", "peak_rss_bytes", "peak_rss_children_bytes", "cases_stopped_by_guard")
SEPARATOR = " @ "  # "backend @ machine": how a page with several machines labels lines


def case_key(case: dict[str, Any]) -> tuple:
    """What makes a case row unique within a run (not its machine, not its timings)."""
    return tuple(None if case.get(k) in ("", None) else str(case.get(k)) for k in CASE_KEY)


def _label_of(env: dict[str, Any], name: str) -> str:
    return str(env.get("machine_label") or f"run:{name}")


def _name_of(source: str | Path) -> str:
    path = resolve_json_path(Path(source).resolve())
    return path.parent.name if path.name in (RUN_JSON_NAME, "journal.jsonl") else path.stem


def _refuse_mixed(runs: list[tuple[str, dict[str, Any]]], field: str, values: list[str]) -> None:
    groups: dict[str, list[str]] = defaultdict(list)
    for (name, _), value in zip(runs, values):
        groups[value or "none"].append(name)
    if len(groups) > 1:
        listed = "; ".join(f"{v[:12]}: {', '.join(names)}" for v, names in sorted(groups.items()))
        raise ReportError(
            f"runs of different {field}s ({listed}); merge runs of one {field}, "
            "or pass --allow-mixed to merge them anyway"
        )


def merge_runs(
    runs: Sequence[str | Path | tuple[str, dict[str, Any]]],
    allow_mixed: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One run JSON from several (paths, or (name, parsed JSON) pairs).

    Raises ReportError for fewer than one run, a run that does not load, or runs
    of different commits or profiles (unless ``allow_mixed``). ``extra`` is
    added to ``toyad.merge`` (the cluster records its missing shards there).
    """
    loaded: list[tuple[str, dict[str, Any]]] = []
    for item in runs:
        if isinstance(item, tuple):
            loaded.append((str(item[0]), item[1]))
        else:
            loaded.append((_name_of(item), read_json(item)))
    if not loaded:
        raise ReportError("nothing to merge: name at least one run")
    parsed = [parse_run(data, source=Path(name)) for name, data in loaded]
    if not allow_mixed:
        _refuse_mixed(loaded, "commit", [r.commit for r in parsed])
        _refuse_mixed(loaded, "profile", [r.profile for r in parsed])

    cases: list[dict[str, Any]] = []
    semantics: list[dict[str, Any]] = []
    benchmarks: list[dict[str, Any]] = []
    machines: dict[str, dict[str, Any]] = {}
    merged_runs: list[dict[str, Any]] = []
    conflicts: list[str] = []
    for (name, data), run in zip(loaded, parsed):
        toyad = data.get("toyad") or {}
        env = run.environment
        label = _label_of(env, name)
        described = {k: env[k] for k in MACHINE_FIELDS if k in env}
        differing = _fold_machine(machines.setdefault(label, {}), described)
        if differing:
            conflicts.append(f"{name} ({label}) differs from an earlier run of it in: {differing}")
        count = 0
        for case in toyad.get("cases") or []:
            row = dict(case)
            row["machine"] = row.get("machine") or label
            cases.append(row)
            count += 1
        semantics.extend(r for r in toyad.get("semantics") or [] if isinstance(r, dict))
        benchmarks.extend(b for b in data.get("benchmarks") or [] if isinstance(b, dict))
        merged_runs.append(
            {
                "run": name,
                "machine": label,
                "shard": env.get("shard"),
                "cases": count,
                "started": run.started,
                "duration_s": run.duration_s,
                "complete": toyad.get("complete", True) is not False,
                "commit": run.commit,
                "profile": run.profile,
            }
        )
    duplicates = _duplicates(cases)
    environment = _common_environment([p.environment for p in parsed])
    environment.update(machines=machines, merged_runs=merged_runs)
    incomplete = [r["run"] for r in merged_runs if not r["complete"]]
    merge_info = {
        "runs": [r["run"] for r in merged_runs],
        "machines": sorted(machines),
        "duplicates": duplicates,
        "conflicts": conflicts,
        **(extra or {}),
    }
    missing = merge_info.get("missing_shards") or []
    reasons = []
    if incomplete:
        reasons.append(f"built from unfinished runs: {', '.join(incomplete)}")
    if missing:
        reasons.append(
            "shards lost: " + "; ".join(f"{m['shard']} ({m['reason']})" for m in missing)
        )
    starts = sorted(r.started for r in parsed if r.started)
    first = loaded[0][1]
    profiles = sorted({r.profile for r in parsed if r.profile})
    return {
        "benchmarks": benchmarks,
        "machine_info": {},
        "commit_info": first.get("commit_info") or {},
        "datetime": starts[0] if starts else datetime.now(timezone.utc).isoformat(),
        "version": first.get("version"),
        "toyad": {
            "schema": 1,
            "profile": profiles[0] if len(profiles) == 1 else ",".join(profiles),
            "started": starts[0] if starts else "",
            "duration_s": (extra or {}).get("duration_s"),
            "environment": environment,
            "cases": cases,
            "semantics": semantics,
            "complete": not reasons,
            **({"incomplete_reason": "; ".join(reasons)} if reasons else {}),
            **_analysis(cases, len(machines) > 1),
            "merge": merge_info,
        },
    }


def _fold_machine(known: dict[str, Any], described: dict[str, Any]) -> list[str]:
    """Add a run's machine fields to what is known of its machine; the fields that disagree.

    ``versions`` are united (a run lists only the libraries it imported); a library
    at two versions on one machine label is a disagreement.
    """
    differing = []
    for key, value in described.items():
        if key == "versions" and isinstance(value, dict):
            versions = known.setdefault("versions", {})
            for lib, version in value.items():
                if versions.setdefault(lib, version) != version:
                    differing.append(f"versions.{lib}")
        elif key not in known or known[key] in (None, ""):
            known[key] = value
        elif value not in (None, "") and not _same(known[key], value):
            differing.append(key)
    return differing


def _duplicates(cases: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cases present more than once (every copy is kept): key fields and machines."""
    seen: dict[tuple, list[str]] = defaultdict(list)
    for case in cases:
        seen[case_key(case)].append(str(case.get("machine") or ""))
    return [
        {**dict(zip(CASE_KEY, key)), "machines": machines}
        for key, machines in seen.items()
        if len(machines) > 1
    ]


def _common_environment(envs: list[dict[str, Any]]) -> dict[str, Any]:
    """The environment fields every run agrees on (per-machine and per-run ones aside)."""
    skip = set(MACHINE_FIELDS) | set(PER_RUN_FIELDS)
    common = {}
    for key, value in envs[0].items():
        if key in skip:
            continue
        if all(key in e and _same(e[key], value) for e in envs[1:]):
            common[key] = value
    commits = {str(e.get("commit") or "") for e in envs}
    if len(commits) == 1:
        common["commit"] = commits.pop()
    return common


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def machine_view(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cases with ``backend`` relabelled ``backend @ machine`` (for analyses across machines)."""
    return [{**c, "backend": f"{c.get('backend')}{SEPARATOR}{c.get('machine')}"} for c in cases]


def _analysis(cases: list[dict[str, Any]], several_machines: bool) -> dict[str, Any]:
    """Fits, tradeoffs and crossovers of the merged cases, per machine when there are several."""
    from toyad.bench.analysis import crossovers, scaling_fits, tradeoffs

    view = machine_view(cases) if several_machines else cases
    return {
        "fits": scaling_fits(view),
        "tradeoffs": tradeoffs(view),
        "crossovers": crossovers(view),
    }


def summary_line(run: dict[str, Any]) -> str:
    """One line: what was merged, from how many machines, duplicates."""
    toyad = run["toyad"]
    info = toyad["merge"]
    line = (
        f"merged {len(info['runs'])} runs from {len(info['machines'])} machine(s) "
        f"({', '.join(info['machines'])}): {len(toyad['cases'])} cases"
    )
    if info["duplicates"]:
        line += f"; {len(info['duplicates'])} duplicate case(s) kept (toyad.merge.duplicates)"
    return line


def duplicate_lines(run: dict[str, Any], limit: int = 10) -> list[str]:
    """Readable lines naming the duplicated cases (the first ``limit``)."""
    out = []
    for dup in run["toyad"]["merge"]["duplicates"][:limit]:
        what = " ".join(str(dup[k]) for k in ("suite", "backend", "problem", "operation", "mode"))
        size = f"n={dup['n']} m={dup['m']}" + (f" {dup['preset']}" if dup["preset"] else "")
        out.append(f"duplicate: {what} {size} on {', '.join(dup['machines'])}")
    more = len(run["toyad"]["merge"]["duplicates"]) - limit
    if more > 0:
        out.append(f"... and {more} more")
    return out


def key_counts(cases: Iterable[dict[str, Any]]) -> Counter:
    """How many times each case key occurs (to compare a merged run with another)."""
    return Counter(case_key(c) for c in cases)
