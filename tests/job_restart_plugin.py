"""A pytest plugin for the jobs tests (``-p tests.job_restart_plugin``): in every process
of a job, after ITEMS_PER_PROCESS items the resident set reads as if earlier cases had
left it over the restart line for good, so the next item is left to a fresh process
(toyad.bench.plugin.FreshProcessGate) and the job goes on there."""

from __future__ import annotations

from toyad.bench import guard

ITEMS_PER_PROCESS = 20  # (a job of the test has ~64 items: three restarts)
_seen = []


def pytest_runtest_logfinish(nodeid: str) -> None:
    _seen.append(nodeid)
    if len(_seen) == ITEMS_PER_PROCESS:
        guard.rss_bytes = lambda: 64 << 30  # what no release gives back
