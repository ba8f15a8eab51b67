"""The run journal: nothing measured is lost.

A run folder holds ``journal.jsonl`` from the moment the run starts. Each
line is one JSON object, written and flushed as soon as it is known:

    {"kind": "header", "profile": ..., "started": ..., "environment": {...}, ...}
    {"kind": "case", "nodeid": ..., "record": {<CASE_COLUMNS>}}
    {"kind": "semantics", "nodeid": ..., "row": {<SEMANTICS_COLUMNS>}}
    {"kind": "done", "nodeid": ..., "at_s": ...}  # the item finished (its rows are above),
                                                  # at_s seconds after the run started
    {"kind": "start", "nodeid": ..., "record": {...}}  # a harness case begins (its spec)

A process killed mid-line leaves a torn last line: :func:`read_journal`
ignores it. A run that is killed, crashes or runs out of memory therefore
leaves a folder that ``toyad-report`` builds into a partial report, and
``--resume FOLDER`` continues: items whose ``done`` line is present are not
run again, and rows of an item that never finished are dropped (it runs
again), so no case is measured twice.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

JOURNAL_NAME = "journal.jsonl"


def _default(obj: Any) -> Any:
    """JSON for numpy scalars and other stragglers (numbers stay numbers)."""
    for cast in (float, str):
        try:
            return cast(obj)
        except (TypeError, ValueError):
            continue
    return repr(obj)


class Journal:
    """Append-only JSON lines in ``folder/journal.jsonl``, flushed after every line."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / JOURNAL_NAME
        self._handle: IO[str] | None = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def write(self, kind: str, **fields: Any) -> None:
        if self._handle is None:
            raise ValueError(f"journal {self.path} is closed")
        line = json.dumps({"kind": kind, **fields}, default=_default, allow_nan=True)
        self._handle.write(line + "\n")
        self._handle.flush()  # in the kernel's hands: survives SIGKILL and the OOM killer

    def close(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None


@dataclass
class JournalContents:
    """What a journal holds, with rows of unfinished items already dropped."""

    header: dict[str, Any] = field(default_factory=dict)
    cases: list[dict[str, Any]] = field(default_factory=list)
    semantics: list[dict[str, Any]] = field(default_factory=list)
    done: set[str] = field(default_factory=set)
    dropped: int = 0  # rows of items that never finished (run again on resume)
    torn_lines: int = 0  # unparseable lines (a torn last line after a kill)


def read_journal(folder_or_file: str | Path) -> JournalContents:
    """Parse a journal; tolerates a torn last line (and any unparseable line, counted)."""
    path = Path(folder_or_file)
    if path.is_dir():
        path = path / JOURNAL_NAME
    out = JournalContents()
    pending: list[tuple[str, str, dict[str, Any]]] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                out.torn_lines += 1
                continue
            if not isinstance(entry, dict):
                out.torn_lines += 1
                continue
            kind = entry.get("kind")
            if kind == "header":
                out.header = entry
            elif kind == "case" and isinstance(entry.get("record"), dict):
                pending.append(("case", str(entry.get("nodeid") or ""), entry["record"]))
            elif kind == "semantics" and isinstance(entry.get("row"), dict):
                pending.append(("semantics", str(entry.get("nodeid") or ""), entry["row"]))
            elif kind == "done":
                out.done.add(str(entry.get("nodeid") or ""))
    for kind, nodeid, row in pending:
        if nodeid and nodeid not in out.done:
            out.dropped += 1
            continue
        (out.cases if kind == "case" else out.semantics).append(row)
    return out


def run_from_journal(folder: str | Path) -> dict[str, Any]:
    """A run JSON (pytest-benchmark shape + ``toyad``) from a journal, marked incomplete."""
    contents = read_journal(folder)
    header = contents.header
    toyad = {
        "schema": 1,
        "profile": header.get("profile", ""),
        "started": header.get("started", ""),
        "duration_s": None,
        "environment": header.get("environment", {}),
        "cases": contents.cases,
        "semantics": contents.semantics,
        "complete": False,
        "incomplete_reason": (
            f"built from the journal of a run that did not finish: {len(contents.done)} test "
            f"items finished, {len(contents.cases)} cases recorded"
            + (
                f", {contents.dropped} rows of an unfinished item left out"
                if contents.dropped
                else ""
            )
            + (f", {contents.torn_lines} torn line(s) ignored" if contents.torn_lines else "")
        ),
    }
    return {"benchmarks": [], "machine_info": {}, "commit_info": {}, "toyad": toyad}


def _entries(folder: str | Path) -> tuple[Path, list[dict[str, Any]]]:
    """A journal's path and its whole entries (torn lines left out)."""
    path = Path(folder)
    if path.is_dir():
        path = path / JOURNAL_NAME
    entries = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
    return path, entries


def case_after_items(folder: str | Path) -> bool:
    """Whether the harness case under way when this journal's process was ended came after
    items the process finished (False: it was the process's first)."""
    done = done_before_start = False
    for entry in _entries(folder)[1]:
        if entry.get("kind") == "done":
            done = True
        elif entry.get("kind") == "start":
            done_before_start = done
    return done_before_start


def _started_not_done(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last harness case started and not done, or None."""
    started: dict[str, Any] | None = None
    done: set[str] = set()
    for entry in entries:
        if entry.get("kind") == "start" and isinstance(entry.get("record"), dict):
            started = entry
        elif entry.get("kind") == "done":
            done.add(str(entry.get("nodeid") or ""))
    if started is None or str(started.get("nodeid") or "") in done:
        return None
    return started


def case_under_way(folder: str | Path) -> bool:
    """Whether a harness case was under way when this journal's process was ended."""
    return _started_not_done(_entries(folder)[1]) is not None


def close_ended_case(folder: str | Path, status: str, message: str) -> str | None:
    """The process writing this journal was ended from outside during a harness case:
    record that case (``status``, ``message``) and its item as done, so that a run
    continuing after this one neither runs it again nor loses it. Returns its node id,
    or None when no case was under way."""
    path, entries = _entries(folder)
    started = _started_not_done(entries)
    if started is None:
        return None
    nodeid = str(started.get("nodeid") or "")
    record = {**started["record"], "status": status, "message": message}
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("\n")  # (a line torn by the kill stays a line of its own)
        handle.write(json.dumps({"kind": "case", "nodeid": nodeid, "record": record}) + "\n")
        handle.write(json.dumps({"kind": "done", "nodeid": nodeid, "at_s": None}) + "\n")
    return nodeid
