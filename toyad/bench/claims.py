"""Claims: the jobs of one run deal out its lineages as they go, not in advance.

Lineages dealt in advance by estimated cost (``--shard-by lineage``) leave the
jobs' ends apart by however wrong the estimates are: a full run's first job
idled for minutes while the second still had lineages to start. With claims
(``--shard-by claim``, what ``--jobs`` uses) every job collects the whole
selection, in one order: each suite's lineages whole, the dearest first
(:func:`claim_order`). Before a lineage's first item runs here, the job claims
it in the run's claims file (``TOYAD_CLAIMS``: one ``lineage<TAB>job`` line a
claim, appended under ``flock``); a lineage another job claimed first is passed
over, unrecorded here (its claimant records it). So a job takes the next
unclaimed lineage whenever it is free (list scheduling): the jobs end within
about one lineage of each other, and the cheapest lineages come last.

A job that goes on in a fresh process keeps its number and so its claims.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

ENV = "TOYAD_CLAIMS"

try:
    import fcntl
except ImportError:  # (not on Windows: jobs are not offered there)
    fcntl = None  # type: ignore[assignment]


class ClaimsError(RuntimeError):
    """No claims file where claims are asked for."""


class Claims:
    """This job's view of the run's claims file."""

    def __init__(self, path: str, owner: str):
        if fcntl is None:
            raise ClaimsError("claims need fcntl.flock (POSIX)")
        self.path = path
        self.owner = owner
        self._known: dict[str, str] = {}  # lineage -> the job that claimed it
        self._offset = 0  # bytes of the file read so far

    @classmethod
    def from_env(cls, owner: str) -> Claims:
        path = os.environ.get(ENV)
        if not path:
            raise ClaimsError(
                f"--shard-by claim needs the claims file its jobs share ({ENV}): "
                "run the selection with --jobs N, or shard it with --shard-by lineage"
            )
        return cls(path, owner)

    def owner_of(self, lineage: str) -> str:
        """Who holds ``lineage``: this job once it claimed it (or claims it now, when
        no job has), else the job that claimed it first."""
        if lineage not in self._known:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._read_new(fd)
                if lineage not in self._known:
                    os.write(fd, f"{lineage}\t{self.owner}\n".encode())
                    self._known[lineage] = self.owner
                    self._offset = os.fstat(fd).st_size
            finally:
                os.close(fd)  # (closing releases the lock)
        return self._known[lineage]

    def mine(self, lineage: str) -> bool:
        """Whether this job runs ``lineage`` (claiming it if no job has)."""
        return self.owner_of(lineage) == self.owner

    def _read_new(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        if size <= self._offset:
            return
        os.lseek(fd, self._offset, os.SEEK_SET)
        data = b""
        while len(data) < size - self._offset:
            chunk = os.read(fd, size - self._offset - len(data))
            if not chunk:
                break
            data += chunk
        complete = data[: data.rfind(b"\n") + 1]  # (a line is written in one append)
        self._offset += len(complete)
        for line in complete.decode().splitlines():
            lineage, _, owner = line.rpartition("\t")
            self._known.setdefault(lineage, owner)


def claim_order(
    items: Sequence[Any],
    suites: Sequence[str],
    costs: Sequence[float],
    lineage_of: Callable[[Any, str], str],
    first: Callable[[Any], bool] = lambda item: False,
) -> list[Any]:
    """``items`` (already in their suites' run order) with each suite's lineages whole,
    those ``first`` says of (its first item) before the rest, then the dearest first by
    ``costs`` summed; a lineage's items keep their order (smaller sizes first)."""
    out: list[Any] = []
    start = 0
    while start < len(items):
        end = start
        while end < len(items) and suites[end] == suites[start]:
            end += 1
        groups: dict[str, list[int]] = {}
        for index in range(start, end):
            groups.setdefault(lineage_of(items[index], suites[index]), []).append(index)
        ranked = sorted(
            groups.values(),
            key=lambda members: (
                not first(items[members[0]]),
                -sum(costs[i] for i in members),
                members[0],
            ),
        )
        out.extend(items[i] for members in ranked for i in members)
        start = end
    return out


def job_share(suites: Sequence[str], lineages: Sequence[str], jobs: int) -> dict[str, float]:
    """Items a claiming job expects to run per suite (for its run budget's plan): a suite
    of one lineage whole (one job runs it all), a suite of many its 1/jobs part."""
    counts: dict[str, int] = {}
    members: dict[str, set[str]] = {}
    for suite, lineage in zip(suites, lineages):
        counts[suite] = counts.get(suite, 0) + 1
        members.setdefault(suite, set()).add(lineage)
    return {s: n / (1 if len(members[s]) == 1 else jobs) for s, n in counts.items()}
