"""A pytest plugin for the jobs tests (``-p tests.job_restart_plugin``): a job's first
process asks to go on in a fresh one after its third item, as a process whose memory
drifted past what releasing every cache gives back does (toyad.bench.harness)."""

from __future__ import annotations

import pytest

from toyad.bench.harness import harness_of

ITEMS_BEFORE_RESTART = 3
_seen = []


def pytest_runtest_teardown(item: pytest.Item) -> None:
    h = harness_of(item.config)
    if not h.restartable or item.config.getoption("continue_after"):
        return
    _seen.append(item.nodeid)
    if len(_seen) == ITEMS_BEFORE_RESTART:
        h.restart_wanted = "asked by tests.job_restart_plugin"
