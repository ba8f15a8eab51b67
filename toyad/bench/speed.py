"""Is the machine at its usual speed? A fixed probe timed just before a case's rounds.

On a shared VM the same call runs at one speed for a while and up to 2x slower
for the next few seconds (other tenants; measured on this 2-vCPU VM, one CPU
pinned, a prepared call timed in 50 ms blocks: 22 µs, then 35-44 µs for ~2.5 s
in 60 s). A case's rounds last well under a second, so a case timed inside
such a stretch is 2x slower than the same case in the next run, and its own
rounds agree with each other: no test on them can tell. A pure-Python probe
moves with it (90 s of blocks: the probe took 69 µs in usual blocks, p90 73,
and 94-123 µs in the slow ones), so before the rounds the harness probes and,
while the probe is slower than SLOW_FACTOR x the machine's usual, pauses and
probes again (at most MAX_WAIT_S per case and WAIT_SHARE of the run budget in
all). "Usual" is the median of the last WINDOW probes, not the run's fastest:
as a run goes on the same loop settles ~1.2x slower than in its first seconds
(a quick main job: frameworks loaded, a bigger heap), a drift, not a stretch.
What the probe said is recorded per case (``machine_slowdown``: the probe's
time over the usual, before and after the rounds, the larger), so a case timed
on a slow machine says so.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

PROBE_LOOP = 2000  # additions in one probe: ~70 µs of interpreter work here
PROBE_REPEATS = 10  # a probe's time is the fastest of these (~1 ms in all)
SLOW_FACTOR = 1.25  # slower than this x the usual probe: the machine is slow
WINDOW = 31  # probes whose median is "usual" (two a case: the last ~15 cases)
MIN_HISTORY = 5  # probes before any is judged slow
PAUSE_S = 0.2  # between probes while it is
MAX_WAIT_S = 2.0  # per case
WAIT_SHARE = 0.05  # of the run budget, for all cases together


def _probe_work() -> int:
    total = 0
    for i in range(PROBE_LOOP):
        total += i * i
    return total


def probe_s() -> float:
    """Seconds for one probe: the fastest of PROBE_REPEATS runs of a fixed Python loop."""
    best = float("inf")
    for _ in range(PROBE_REPEATS):
        start = time.perf_counter()
        _probe_work()
        best = min(best, time.perf_counter() - start)
    return best


@dataclass
class SpeedProbe:
    """The recent probes (the machine's usual speed), and the waiting done so far."""

    waited_s: float = 0.0
    recent: deque = field(default_factory=lambda: deque(maxlen=WINDOW))

    def slowdown(self) -> float:
        """The probe's time now over the median of the recent ones (1.0 until
        MIN_HISTORY probes have been made)."""
        t = probe_s()
        self.recent.append(t)
        if len(self.recent) < MIN_HISTORY:
            return 1.0
        return t / statistics.median(self.recent)

    def wait_until_usual(
        self,
        max_wait_s: float = MAX_WAIT_S,
        total_budget_s: float = float("inf"),
        while_paused: Callable[[], object] | None = None,
    ) -> float:
        """Probe; while the machine is slow, pause and probe again, at most ``max_wait_s``
        now and ``total_budget_s`` over all calls. ``while_paused``: untimed work to do in
        a pause instead of sleeping (its time counts towards the pause's length, not as
        waiting). Returns the last slowdown measured."""
        slowdown = self.slowdown()
        deadline = time.perf_counter() + max_wait_s
        while slowdown > SLOW_FACTOR and self.waited_s < total_budget_s:
            if time.perf_counter() >= deadline:
                break
            start = time.perf_counter()
            worked = 0.0
            if while_paused is not None:
                while_paused()
                worked = time.perf_counter() - start
            time.sleep(max(0.0, PAUSE_S - worked))
            slowdown = self.slowdown()
            self.waited_s += time.perf_counter() - start - worked
        return slowdown
