"""Work ahead: a job that waits does the next case's untimed work meanwhile.

A job of a timed run waits in two places: for its turn to time while another job times
(:mod:`toyad.bench.turns`), and while the speed probe finds the machine slow
(:mod:`toyad.bench.speed`). In a quick main job on 2 CPUs those waits were ~25 s and ~15 s
a run, with each job's CPU idle, while the next cases' prepares, compiles and first calls
(~120 s a run) queued behind them. So a waiting job prepares the case of its next test item
and makes that case's first call; when the item runs, the case starts from there.

With no case to prepare, a waiting job loads (imports and warms up) the next backend its
items will use that is not loaded yet: TensorFlow's import, torch.compile's dynamo and
first compile take seconds, paid by the job either way.

Only untimed work moves, and it is measured as it would have been: ``prepare_s`` and
``first_call_s`` are the same clocks around the same calls, on the job's own CPU (the other
job times meanwhile on its own, as it does beside any untimed step). The case's warm-up,
rounds and primal timing run when its item runs, in its own turn.

Not worked ahead (the item then does everything itself, as before):

- a case of the backend running now (its release after the case may drop what was built:
  torch.compile resets dynamo there) or of a backend not yet loaded (loading is not a
  case's work);
- a case any of the item's own checks would not start (unsupported, refused or too slow or
  too large at a smaller size, its primal too slow), an item expected to take over
  ``AHEAD_MAX_ITEM_S`` (the run's measured item costs), a process over half its memory limit;
- after a deep release (the frameworks' caches went, and with them what a kept build relied
  on), or when the next item run is not the one worked ahead for.

Work ahead is stopped after ``AHEAD_LIMIT_S`` (the case then starts afresh in its item) and
never stops the running case: a stop raised in it is caught there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toyad.bench import guard as guards
from toyad.bench.measure import CallCounter, gc_paused

AHEAD_LIMIT_S = 2.0  # work ahead longer than this is stopped (the item starts afresh)
AHEAD_MAX_ITEM_S = 1.0  # items measured to take longer are not worked ahead
AHEAD_ITEMS = 3  # how many items ahead a waiting job may prepare
# time_spent: cases prepared ahead, of which their items used, work stopped, its seconds
WORK_AHEAD_KEYS = (
    "worked_ahead_cases",
    "worked_ahead_used",
    "worked_ahead_stopped",
    "worked_ahead_s",
    "backends_loaded_ahead",
)


@dataclass
class Prepared:
    """A case prepared ahead of its item: its call, and its first call's result."""

    nodeid: str
    spec: Any  # the item's CaseSpec
    inst: Any  # the instance its call was prepared on
    counter: CallCounter
    x_given: np.ndarray  # x before the call (a backend must not write into its input)
    call: Callable[[], Any]
    prepare_s: float
    native: Any  # the first call's result, as the backend returned it
    first_s: float
    calls_before_first: int  # f's calls while preparing (the first call's are after)
    deep_releases: int  # the harness's count when it was made
    rss_grown: int = 0  # resident bytes its build kept (set after it was made)
    peak_grown: int = 0  # its build's peak over the resident set before it


@dataclass
class WorkAhead:
    """The items to come (set by the plugin), the cases prepared for them, what was done."""

    upcoming: list[tuple[str, Any]] = field(default_factory=list)  # (node id, CaseSpec)
    running_backend: str = ""  # the backend of the case running now
    ready: dict[str, Prepared] = field(default_factory=dict)  # node id -> its case
    tried: set[str] = field(default_factory=set)  # node ids worked ahead (once each)
    to_load: list[str] = field(default_factory=list)  # this job's backends, first used first
    loaded: list[str] = field(default_factory=list)  # of which loaded ahead, while waiting
    busy: bool = False
    made: int = 0  # cases prepared ahead
    used: int = 0  # of which their items started from
    stopped: int = 0  # work ahead stopped (time, memory) or failed: the item did it all
    seconds: float = 0.0  # spent working ahead
    # memory: what work ahead grew during the running case (not that case's), the case's
    # peak before that work (its high-water mark is reset after it), the case taken
    grown_in_case: int = 0
    peak_floor: int = 0
    taken: Prepared | None = None

    def case_started(self) -> None:
        self.grown_in_case, self.peak_floor, self.taken = 0, 0, None

    def memory_before(self) -> tuple[int, int]:
        """(resident set, high-water mark) before some work ahead."""
        return guards.rss_bytes(), guards.peak_rss_bytes()

    def memory_after(self, before: tuple[int, int], prepared: Prepared | None) -> None:
        """After work ahead: what it grew is set aside from the running case's memory (its
        high-water mark reset, the mark before kept as a floor) and, for a case prepared,
        kept as that case's own."""
        rss0, peak0 = before
        rss1, peak1 = guards.rss_bytes(), guards.peak_rss_bytes()
        guards.reset_peak()
        self.peak_floor = max(self.peak_floor, peak0)
        grown = max(0, rss1 - rss0)
        self.grown_in_case += grown
        if prepared is not None:
            prepared.rss_grown, prepared.peak_grown = grown, max(0, peak1 - rss0)

    def case_peak(self, peak: int) -> int:
        """The running case's peak resident set, without what work ahead grew in it."""
        if not self.grown_in_case and not self.peak_floor:
            return peak
        return max(self.peak_floor, peak - self.grown_in_case)

    def case_growth(self, grown: int) -> int:
        """The running case's growth of the resident set, with its own build's where that
        was prepared ahead (before the case started)."""
        if self.taken is None:
            return grown
        return max(grown + self.taken.rss_grown, self.taken.peak_grown)

    def expect(self, current: str, upcoming: list[tuple[str, Any]]) -> None:
        """The plugin, as an item starts: its node id, and the next AHEAD_ITEMS items'
        (node id, CaseSpec or None). A case prepared for an item not among them goes
        (that item was passed over, or left to the budget)."""
        keep = {current, *(nodeid for nodeid, _ in upcoming)}
        self.ready = {k: v for k, v in self.ready.items() if k in keep}
        self.upcoming = list(upcoming)

    def candidate(self) -> tuple[str, Any] | None:
        """The first upcoming item not yet worked ahead whose backend no case runs before
        it (its release after that case may drop the build), or None."""
        before = {self.running_backend}
        for nodeid, spec in self.upcoming:
            if spec is None:
                return None  # (a plain item: what runs after it may find another state)
            if nodeid not in self.tried and spec.backend not in before:
                return nodeid, spec
            before.add(spec.backend)
        return None

    def take(self, nodeid: str, spec: Any, inst: Any, deep_releases: int) -> Prepared | None:
        """The case prepared ahead for this item, if it still holds (else None: start afresh)."""
        ready = self.ready.pop(nodeid, None)
        if (
            ready is None
            or ready.spec != spec
            or ready.inst is not inst
            or ready.deep_releases != deep_releases
        ):
            return None
        self.used += 1
        return ready

    def counts(self) -> dict[str, float]:
        """For the run's ``time_spent`` (keys: WORK_AHEAD_KEYS)."""
        values = (self.made, self.used, self.stopped, self.seconds, len(self.loaded))
        return dict(zip(WORK_AHEAD_KEYS, values))


def timed_first_call(call: Callable[[], Any]) -> tuple[Any, float]:
    """One call and its seconds (gc paused, as around the timed rounds)."""
    with gc_paused():
        start = time.perf_counter()
        result = call()
        return result, time.perf_counter() - start
