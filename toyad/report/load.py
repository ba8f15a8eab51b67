"""Read a run (a pytest-benchmark JSON with a ``toyad`` object) into tidy frames.

A run folder holds its raw JSON as ``benchmark.json``. Cases come from
``toyad.cases``; pytest-benchmark entries whose test id is not among them (a
JSON saved by plain pytest-benchmark, say) become case rows built from their
``extra_info`` and ``stats``. Bad input raises :class:`ReportError` with a
one-line message.

Per-round timings (what ``compare`` tests) are kept apart from the case
columns, in :attr:`Run.samples`, aligned with ``Run.cases``: a case record's
``samples_s`` (a list of seconds per call, one per timed round, or that list
as a JSON string), else the ``stats.data`` pytest-benchmark saves with
``--benchmark-save-data`` for the same test id; ``None`` where neither exists
(runs recorded before samples were kept).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from toyad.bench.journal import JOURNAL_NAME, run_from_journal
from toyad.results import CASE_COLUMNS, SEMANTICS_COLUMNS

RUN_JSON_NAME = "benchmark.json"

INT_COLUMNS = ("n", "m", "rounds", "ops", "peak_bytes", "warmup_calls", "rss_peak_bytes")
FLOAT_COLUMNS = (
    "median_s",
    "min_s",
    "mean_s",
    "iqr_s",
    "stddev_s",
    "max_rel_error",
    "tolerance",
    "primal_s",
    "ratio_to_primal",
    "passes",
    "step",
    "prepare_s",
    "empty_call_s",
    "ratio_net",
    "wall_s",
    "ratio",
)
TEXT_COLUMNS = tuple(c for c in CASE_COLUMNS if c not in INT_COLUMNS + FLOAT_COLUMNS)

# pytest-benchmark stats key -> case column (stats["ops"] is calls per second, not ours)
_STATS_TO_COLUMN = {
    "median": "median_s",
    "min": "min_s",
    "mean": "mean_s",
    "iqr": "iqr_s",
    "stddev": "stddev_s",
    "rounds": "rounds",
}


class ReportError(Exception):
    """Bad input for a report: the message is one line, fit for a CLI."""


@dataclass
class Run:
    """One run: its cases (exactly CASE_COLUMNS), semantics rows and context."""

    cases: pd.DataFrame
    semantics: pd.DataFrame
    environment: dict[str, Any]
    profile: str = ""
    started: str = ""
    duration_s: float | None = None
    source: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    samples: pd.Series | None = field(default=None, repr=False)  # per case: array or None

    def case_samples(self) -> pd.Series:
        """Per-round seconds per call for each case (float arrays, None if unrecorded)."""
        if self.samples is None:
            return pd.Series([None] * len(self.cases), index=self.cases.index, dtype=object)
        if self.samples.index.equals(self.cases.index):
            return self.samples.astype(object)
        if self.samples.index.has_duplicates:  # cannot align: treat as unrecorded
            return pd.Series([None] * len(self.cases), index=self.cases.index, dtype=object)
        return self.samples.reindex(self.cases.index).astype(object)

    @property
    def commit(self) -> str:
        """Full commit id from the environment or pytest-benchmark's commit_info ('' if none)."""
        commit = self.environment.get("commit") or self.raw.get("commit_info", {}).get("id")
        commit = str(commit or "")
        return "" if commit in ("unversioned", "None", "unknown") else commit


def resolve_json_path(path: str | Path) -> Path:
    """The JSON for ``path``: the file itself, or a folder's ``benchmark.json`` (or only JSON)."""
    path = Path(path)
    if path.is_dir():
        candidate = path / RUN_JSON_NAME
        if candidate.is_file():
            return candidate
        if (path / JOURNAL_NAME).is_file():  # a run that did not finish: its journal
            return path / JOURNAL_NAME
        others = sorted(p for p in path.glob("*.json") if p.is_file())
        if len(others) == 1:
            return others[0]
        raise ReportError(f"{path}: run folder has no {RUN_JSON_NAME}")
    if not path.exists():
        raise ReportError(f"{path}: no such file or folder")
    return path


def read_json(path: str | Path) -> dict[str, Any]:
    """Parse the run JSON at ``path`` (file or run folder) into a dict."""
    json_path = resolve_json_path(path)
    if json_path.name == JOURNAL_NAME:
        try:
            return run_from_journal(json_path.parent)
        except OSError as exc:
            raise ReportError(f"{json_path}: cannot read: {exc}") from None
    try:
        text = json_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{json_path}: cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{json_path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    return data


def load_run(path: str | Path | dict[str, Any]) -> Run:
    """Load a run from a JSON file, a run folder, or an already parsed dict."""
    if isinstance(path, Run):
        return path
    if isinstance(path, dict):
        return parse_run(path, source=None)
    json_path = resolve_json_path(path)
    return parse_run(read_json(json_path), source=json_path)


def is_complete(run: Run) -> bool:
    """False for a run rebuilt from the journal of a run that did not finish."""
    return (run.raw.get("toyad") or {}).get("complete", True) is not False


def parse_run(data: Any, source: Path | None = None) -> Run:
    """Validate a parsed pytest-benchmark JSON and build the :class:`Run`."""
    where = f"{source}: " if source else ""
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ReportError(f"{where}not a pytest-benchmark JSON (no 'benchmarks' list at top level)")
    toyad = data.get("toyad") or {}
    if not isinstance(toyad, dict):
        raise ReportError(f"{where}'toyad' must be an object, got {type(toyad).__name__}")
    records = toyad.get("cases") or []
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ReportError(f"{where}'toyad.cases' must be a list of objects")
    known_ids = {r.get("nodeid") for r in records}
    benchmarks = [b for b in data["benchmarks"] if isinstance(b, dict)]
    extra = [_case_from_benchmark(b) for b in benchmarks if b.get("fullname") not in known_ids]
    cases = cases_frame(records + extra)
    saved_data = {b.get("fullname"): (b.get("stats") or {}).get("data") for b in benchmarks}
    samples = pd.Series(
        [
            parse_samples(r.get("samples_s"))
            if r.get("samples_s") is not None
            else parse_samples(saved_data.get(r.get("nodeid")))
            for r in records + extra
        ],
        index=cases.index,
        dtype=object,
    )
    semantics_records = toyad.get("semantics") or []
    if not isinstance(semantics_records, list):
        raise ReportError(f"{where}'toyad.semantics' must be a list of objects")
    if cases.empty and not semantics_records:  # a semantics-only run is still a run
        raise ReportError(
            f"{where}the run has no cases (empty 'toyad.cases', 'toyad.semantics' and 'benchmarks')"
        )
    semantics = pd.DataFrame(
        [
            {c: r.get(c) for c in SEMANTICS_COLUMNS}
            for r in semantics_records
            if isinstance(r, dict)
        ],
        columns=list(SEMANTICS_COLUMNS),
    )
    duration = toyad.get("duration_s")
    return Run(
        cases=cases,
        semantics=semantics,
        environment=_environment(data, toyad),
        profile=str(toyad.get("profile") or ""),
        started=str(toyad.get("started") or data.get("datetime") or ""),
        duration_s=float(duration) if isinstance(duration, (int, float)) else None,
        source=source,
        raw=data,
        samples=samples,
    )


def parse_samples(value: Any) -> np.ndarray | None:
    """A list of seconds (or that list as a JSON string) as a float array; None if unusable.

    Entries that are not numbers become NaN (compare drops non-finite samples).
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if not isinstance(value, (list, tuple)) or not value:
        return None
    return np.array(
        [
            float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan
            for v in value
        ],
        dtype=np.float64,
    )


def cases_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """A frame with exactly CASE_COLUMNS, numbers numeric (ints as nullable Int64)."""
    frame = pd.DataFrame([{c: r.get(c) for c in CASE_COLUMNS} for r in records])
    frame = frame.reindex(columns=list(CASE_COLUMNS))
    for col in FLOAT_COLUMNS:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    for col in INT_COLUMNS:
        values = pd.to_numeric(frame[col], errors="coerce").astype("float64")
        integral = values.dropna().map(float.is_integer).all()
        frame[col] = values.astype("Int64") if integral else values
    for col in TEXT_COLUMNS:
        frame[col] = frame[col].map(_text).astype(object)
    frame["status"] = frame["status"].replace("", "unknown")
    return derive_ratios(frame)


def derive_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill ``ratio`` / ``ratio_of`` where the suites leave them to the report.

    tensor-speed at n = 10⁶: each implementation's median ÷ numpy by hand's
    (the ``analytic`` row); per-op gradients: each engine's median ÷
    micrograd's on the same chain with the collector in the same state.
    Rows that already carry a ratio (the convenience suite's) keep it.
    """
    ok = frame["status"].eq("ok") & frame["median_s"].gt(0)
    speed = ok & frame["suite"].eq("tensor-speed") & frame["problem"].eq("elementwise_1e6")
    numpy_rows = frame[speed & frame["backend"].eq("analytic")]
    if not numpy_rows.empty:
        floor = float(numpy_rows["median_s"].median())
        rows = speed & ~frame["backend"].eq("analytic") & frame["ratio"].isna()
        frame.loc[rows, "ratio"] = frame.loc[rows, "median_s"] / floor
        frame.loc[rows, "ratio_of"] = "÷ numpy by hand"
    per_op = ok & frame["suite"].eq("per-op") & frame["operation"].eq("gradient")
    micro = frame[per_op & frame["backend"].eq("micrograd")]
    for _, ref in micro.iterrows():
        same = per_op & frame["gc"].eq(ref["gc"]) & frame["ops"].eq(ref["ops"])
        rows = same & ~frame["backend"].eq("micrograd") & frame["ratio"].isna()
        frame.loc[rows, "ratio"] = frame.loc[rows, "median_s"] / float(ref["median_s"])
        frame.loc[rows, "ratio_of"] = "÷ micrograd (same chain, same gc)"
    return frame


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _case_from_benchmark(bench: dict[str, Any]) -> dict[str, Any]:
    """Case row from a pytest-benchmark entry: ``extra_info`` fields, timings from ``stats``."""
    info = bench.get("extra_info") or {}
    stats = bench.get("stats") or {}
    row = {c: info.get(c) for c in CASE_COLUMNS if c in info}
    for key, column in _STATS_TO_COLUMN.items():
        if row.get(column) is None and stats.get(key) is not None:
            row[column] = stats[key]
    row.setdefault("suite", info.get("suite") or bench.get("group") or "")
    row.setdefault("problem", bench.get("name", ""))
    row.setdefault("status", "ok")
    row["nodeid"] = bench.get("fullname") or bench.get("name", "")
    if info.get("samples_s") is not None:  # a plain benchmark's rounds (keep_samples)
        row["samples_s"] = info["samples_s"]
    return row


def _environment(data: dict[str, Any], toyad: dict[str, Any]) -> dict[str, Any]:
    """The run's environment, filled from pytest-benchmark's machine/commit info where absent."""
    env = dict(toyad.get("environment") or {})
    machine = data.get("machine_info") or {}
    commit = data.get("commit_info") or {}
    cpu = machine.get("cpu") or {}
    defaults = {
        "python": machine.get("python_version"),
        "machine": machine.get("machine"),
        "system": f"{machine.get('system', '')} {machine.get('release', '')}".strip(),
        "cpu": cpu.get("brand_raw") if isinstance(cpu, dict) else cpu,
        "commit": commit.get("id") if commit.get("id") != "unversioned" else None,
        "commit_dirty": commit.get("dirty"),
        "pytest_benchmark": data.get("version"),
    }
    for key, value in defaults.items():
        if env.get(key) in (None, "") and value not in (None, ""):
            env[key] = value
    if toyad.get("profile") and "profile" not in env:
        env["profile"] = toyad["profile"]
    if toyad.get("duration_s") is not None and "duration_s" not in env:
        env["duration_s"] = toyad["duration_s"]
    return env
