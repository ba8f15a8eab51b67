"""A pytest plugin for the jobs tests (``-p tests.job_restart_plugin``): every process of
a job asks to go on in a fresh one after ITEMS_PER_PROCESS items, as a process whose
memory drifted past what releasing every cache gives back does (toyad.bench.harness)."""

from __future__ import annotations

import pytest

from toyad.bench.harness import harness_of

ITEMS_PER_PROCESS = 12
_seen = []


def pytest_runtest_teardown(item: pytest.Item) -> None:
    h = harness_of(item.config)
    if not h.restartable:
        return
    _seen.append(item.nodeid)
    if len(_seen) == ITEMS_PER_PROCESS:
        h.restart_wanted = "asked by tests.job_restart_plugin"
