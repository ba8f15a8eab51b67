"""Reports from a run's pytest-benchmark JSON: tidy CSV, one offline HTML page, comparisons.

    from toyad import report
    run = report.load_run("reports/latest")        # Run; ReportError on bad input
    report.write_report(run_json, out_dir)         # results.csv, semantics.csv, index.html
    report.publish(run_json, "reports")            # reports/<UTC stamp>-<commit>/ + reports/latest
    report.compare(run_a, run_b, out_dir)          # compare.csv, compare.html
    report.write(toyad.compare(f, x), "out/")      # the same page for a toyad.compare frame

Nothing is overwritten in place: files are written to temporary names and
renamed; a published run folder is built as ``.tmp-*`` and renamed whole.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from toyad.report.compare import compare
from toyad.report.findings import crossover_rows, crossover_table
from toyad.report.load import (
    RUN_JSON_NAME,
    ReportError,
    Run,
    load_run,
    read_json,
    resolve_json_path,
)
from toyad.report.page import build_page, time_spent_frame
from toyad.report.table import atomic_write_text, results_frame, write_csv

__all__ = [
    "ReportError",
    "Run",
    "compare",
    "complete_run",
    "load_run",
    "new_run_folder",
    "publish",
    "run_from_frame",
    "write",
    "write_report",
]

LATEST = "latest"
SHORT_COMMIT = 8

RunInput = str | Path | dict[str, Any] | Run


def write_report(run_json: RunInput, out_dir: str | Path, page: bool = True) -> Path:
    """Write results.csv, tradeoff.csv (forward/reverse crossovers, if the run has a Jacobian
    grid), semantics.csv (if any semantics rows) and index.html (unless ``page`` is False)
    into ``out_dir``."""
    run = load_run(run_json)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(results_frame(run), out / "results.csv")
    tradeoff = crossover_table(crossover_rows(run))
    if not tradeoff.empty:
        write_csv(tradeoff, out / "tradeoff.csv")
    if not run.semantics.empty:
        write_csv(run.semantics, out / "semantics.csv")
    spent = time_spent_frame(run)
    if not spent.empty:
        write_csv(spent, out / "time.csv")
    if page:
        atomic_write_text(out / "index.html", build_page(run))
    return out


def run_from_frame(frame: Any) -> dict[str, Any]:
    """A run JSON (pytest-benchmark shape, ``toyad`` object) around a frame of case rows.

    The frame is what ``toyad.compare`` returns (or any frame with case columns);
    its ``attrs["toyad"]`` (environment, findings, profile, started) is kept.
    """
    import math

    from toyad.results import CASE_COLUMNS, EXTRA_CASE_FIELDS

    info = dict(getattr(frame, "attrs", {}).get("toyad") or {})
    cases = []
    for row in frame.to_dict(orient="records"):
        case = {}
        for key in (*CASE_COLUMNS, *EXTRA_CASE_FIELDS):
            value = row.get(key)
            if value is not None and not isinstance(value, (list, str)):
                try:
                    if value != value or (isinstance(value, float) and math.isnan(value)):
                        value = None  # NaN / pd.NA
                except (TypeError, ValueError):
                    value = None
            if hasattr(value, "item"):
                value = value.item()
            case[key] = value
        cases.append(case)
    environment = dict(info.get("environment") or {})
    if not environment:
        import platform

        import numpy

        environment = {"python": platform.python_version(), "numpy": numpy.__version__}
    return {
        "benchmarks": [],
        "datetime": info.get("started") or datetime.now(timezone.utc).isoformat(),
        "toyad": {
            "schema": 1,
            "profile": info.get("profile", ""),
            "started": info.get("started") or datetime.now(timezone.utc).isoformat(),
            "duration_s": info.get("duration_s"),
            "environment": environment,
            "cases": cases,
            "semantics": [],
            "reference_findings": list(info.get("findings") or []),
            "complete": True,
        },
    }


def write(frame: Any, out_dir: str | Path) -> Path:
    """Write results.csv and index.html for a frame of case rows (``toyad.compare``'s)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = run_from_frame(frame)
    atomic_write_text(out / RUN_JSON_NAME, json.dumps(run, indent=1, default=str) + "\n")
    return write_report(run, out)


def _stamp(run: Run) -> str:
    """UTC ``YYYYmmdd-HHMMSS`` of the run's start (now, if the start is not recorded)."""
    try:
        when = datetime.fromisoformat(run.started)
        when = when.replace(tzinfo=when.tzinfo or timezone.utc)
    except (TypeError, ValueError):
        when = datetime.now(timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y%m%d-%H%M%S")


def run_folder_name(run: Run) -> str:
    return f"{_stamp(run)}-{run.commit[:SHORT_COMMIT] or 'nocommit'}"


def publish(run_json: RunInput, reports_root: str | Path, page: bool = True) -> Path:
    """Build a new run folder under ``reports_root`` and point ``reports_root/latest`` at it.

    The folder (raw JSON as benchmark.json, CSVs, index.html) is written as
    ``.tmp-*`` and renamed when complete; an existing folder is never reused
    (a ``-2``, ``-3`` ... suffix is added). On failure the temp folder is
    removed and earlier reports are left as they were. Returns the run folder.
    """
    json_path = resolve_json_path(run_json) if isinstance(run_json, (str, Path)) else None
    if json_path is not None:
        raw = read_json(json_path)
    elif isinstance(run_json, Run):
        raw = run_json.raw
    else:
        raw = run_json
    run = load_run(raw)  # validate before touching the disk
    root = Path(reports_root)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    try:
        if json_path is not None:
            shutil.copyfile(json_path, tmp / RUN_JSON_NAME)
        else:
            atomic_write_text(tmp / RUN_JSON_NAME, json.dumps(raw, indent=1, default=str) + "\n")
        run.source = tmp / RUN_JSON_NAME
        write_report(run, tmp, page=page)
        tmp.chmod(0o755)
        final = _free_name(root, run_folder_name(run))
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    point_latest(root, final)
    return final


def new_run_folder(reports_root: str | Path, started: datetime, commit: str) -> Path:
    """Create the folder a run journals into from its start: ``<UTC stamp>-<short commit>``."""
    root = Path(reports_root)
    root.mkdir(parents=True, exist_ok=True)
    stamp = started.astimezone(timezone.utc).strftime("%Y%m%d-%H%M%S")
    while True:
        folder = _free_name(root, f"{stamp}-{commit[:SHORT_COMMIT] or 'nocommit'}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:  # another run took the name meanwhile
            continue


def complete_run(run_json: dict[str, Any], folder: str | Path, page: bool = True) -> Path:
    """Finish a journaled run folder: benchmark.json, CSVs and index.html, then ``latest``.

    Each file is written under a temporary name and renamed; ``latest`` moves
    only once the folder holds the complete run.
    """
    folder = Path(folder)
    run = load_run(run_json)  # validate before touching the disk
    atomic_write_text(folder / RUN_JSON_NAME, json.dumps(run_json, indent=1, default=str) + "\n")
    run.source = folder / RUN_JSON_NAME
    write_report(run, folder, page=page)
    point_latest(folder.parent, folder)
    return folder


def _free_name(root: Path, name: str) -> Path:
    candidate, k = root / name, 1
    while candidate.exists() or candidate.is_symlink():
        k += 1
        candidate = root / f"{name}-{k}"
    return candidate


def point_latest(root: Path, target: Path) -> None:
    """Atomically point ``root/latest`` at ``target``: a relative temp symlink, then os.replace."""
    latest = root / LATEST
    if latest.exists() and not latest.is_symlink():
        raise ReportError(f"{latest} exists and is not a symlink; not replacing it")
    tmp_link = root / f".{LATEST}-{os.getpid()}.tmp"
    tmp_link.unlink(missing_ok=True)
    os.symlink(target.name, tmp_link)
    try:
        os.replace(tmp_link, latest)
    except BaseException:
        tmp_link.unlink(missing_ok=True)
        raise
