"""Turns: the jobs of one run never time at the same moment.

A run split into local jobs (``--jobs N``: one process per CPU, see
:mod:`toyad.bench.jobs`) shares one lock file, named by ``TOYAD_TURNS`` (the
jobs and their memory workers inherit it). What a timing depends on (a case's
rounds and the speed probe's check just before them, a primal's or an empty
call's timing, a plain pytest-benchmark item, a memory worker's peak and
rounds) runs in an exclusive turn: one job at a time. A pause while the probe
finds the machine slow comes before the turn is taken (the other jobs may time
meanwhile). Everything else (collecting, preparing, compiling, first calls,
checks) runs side by side with the other jobs, timings included: each job has
a CPU of its own, and per-case medians of a two-job run differ from a
one-process run's as much as two one-process runs differ from each other
(quick main job, this 2-core VM: median ratio 0.97, 90th percentile of the
ratio's spread 1.11 against 1.08-1.12). Holding every untimed step apart from
the timings as well made the jobs wait on each other for 116 s of a 166 s run.
Turns are first come, first served (a second lock file, the gate, queues the
jobs), and a case's hard time limit stops while it waits for its turn. Without
``TOYAD_TURNS`` a turn is a no-op.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

ENV = "TOYAD_TURNS"

try:
    import fcntl
except ImportError:  # (not on Windows: jobs are not offered there)
    fcntl = None  # type: ignore[assignment]


class Turns:
    """Exclusive turns on the run's lock file (re-entrant within a process)."""

    def __init__(self, path: str | None):
        self.path = path if path and fcntl is not None else None
        self._fd: int | None = None
        self._gate: int | None = None
        self._depth = 0
        self.waited_s = 0.0  # time spent waiting for a turn
        self.held_s = 0.0  # time spent in turns (timing, while the other jobs may not)
        self._held_since = 0.0
        # untimed work to do when the turn is taken (toyad.bench.ahead), instead of idling;
        # its time is not counted as waiting
        self.while_waiting: Callable[[], bool] | None = None  # False: nothing to do
        self.worked_s = 0.0

    @classmethod
    def from_env(cls) -> Turns:
        return cls(os.environ.get(ENV) or None)

    @property
    def active(self) -> bool:
        return self.path is not None

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """A timing: no other job of the run times meanwhile."""
        if not self.active:
            yield
            return
        self._depth += 1
        if self._depth == 1:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                self._gate = os.open(gate_path(self.path), os.O_RDWR | os.O_CREAT, 0o600)
            start = time.perf_counter()
            worked = 0.0
            with clock_stopped():
                while not self._take(blocking=False):  # work while another job times
                    spent = self._work_meanwhile()
                    if spent is None:  # nothing (left) to do: wait for the turn
                        self._take(blocking=True)
                        break
                    worked += spent
            self._held_since = time.perf_counter()
            self.waited_s += self._held_since - start - worked
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                self.held_s += time.perf_counter() - self._held_since

    def _take(self, blocking: bool) -> bool:
        """The turn: in by the gate (a job that just ended its turn queues behind one that
        was already waiting: flock alone promises no order among waiters), then the lock.
        Not ``blocking``: False at once when another job holds either."""
        flags = fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(self._gate, flags)
        except BlockingIOError:
            return False
        try:
            fcntl.flock(self._fd, flags)
            return True
        except BlockingIOError:
            return False
        finally:
            fcntl.flock(self._gate, fcntl.LOCK_UN)

    def _work_meanwhile(self) -> float | None:
        """Run ``while_waiting`` once (it keeps its own errors); its seconds, or None
        when it had nothing to do."""
        if self.while_waiting is None:
            return None
        start = time.perf_counter()
        did = self.while_waiting()
        spent = time.perf_counter() - start
        self.worked_s += spent
        return spent if did else None


def gate_path(path: str) -> str:
    """The second lock file that queues the jobs for the turn (first come, first served)."""
    return f"{path}.gate"


@contextlib.contextmanager
def clock_stopped() -> Iterator[None]:
    """The case's hard time limit (the guard's real-time interval timer) does not run
    while the case waits for its turn: another job's timing is not this case's cost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    remaining, interval = signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield
    finally:
        if remaining:
            signal.setitimer(signal.ITIMER_REAL, remaining, interval)


_TURNS: Turns | None = None


def turns() -> Turns:
    """This process's turns (from ``TOYAD_TURNS``, read once)."""
    global _TURNS
    if _TURNS is None:
        _TURNS = Turns.from_env()
    return _TURNS
