"""Hard limits per case: wall-clock time and resident memory.

A case that runs past its time limit, or drives the process's resident set
past the memory limit, is stopped where it stands and recorded
(``skipped-too-slow`` / ``skipped-too-large``) with the reason; the run
goes on. Two mechanisms, both raising :class:`CaseAborted` in the main
thread (Python runs signal handlers there, between bytecodes):

- time: ``signal.setitimer(ITIMER_REAL)`` delivers SIGALRM at the limit (a
  kernel timer: nothing polls while a case is timed);
- memory: a daemon thread reads ``/proc/self/statm`` every ``poll_s`` and,
  over the limit, sends SIGUSR1 to the main thread.

A long call inside C (an XLA compile, one huge BLAS call) is interrupted only
when it returns to Python: the limit then holds at the next bytecode. Pure
Python engines (the scalar toys, micrograd), where runaway graphs happen,
stop at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import os
import resource
import signal
import threading
import time
from typing import Any

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
GIB = 1 << 30


# how the reason of every stop at a hard limit (time or memory) begins
STOPPED_PREFIX = "stopped "


class CaseAborted(BaseException):
    """Raised in the main thread when a case passes a hard limit.

    A BaseException, so that a backend's ``except Exception`` cannot swallow it.
    ``kind`` is "time" or "memory".
    """

    def __init__(self, kind: str, reason: str):
        self.kind, self.reason = kind, reason
        super().__init__(reason)


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of this process (or of process ``pid``) now (0 where /proc is
    missing or the process is gone)."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def peak_rss_bytes() -> int:
    """Peak resident set size (VmHWM; since the last :func:`reset_peak`, where supported)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_peak_rss_bytes() -> int:
    """The process's peak resident set over its whole life (never reset)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def children_peak_rss_bytes() -> int:
    """The largest peak resident set of any finished child process (worker subprocesses)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5); False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


_libc = None


def trim_heap() -> None:
    """Hand free heap pages back to the OS (glibc ``malloc_trim``; ~0.1 ms when there is
    little to give back), so that the resident set counts what is in use: memory a
    library freed stays resident otherwise, and the next case reuses it unseen."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def release_memory() -> None:
    """Collect garbage and hand free heap pages back to the OS."""
    gc.collect()
    trim_heap()


REPEAT_S = 0.5  # a time stop is raised again this often until the case has stopped


class Guard:
    """Arms the two limits around a case: ``with guard.limits(seconds, label): ...``."""

    def __init__(self, max_rss_bytes: int | None, poll_s: float = 0.05):
        self.max_rss_bytes = max_rss_bytes
        self.poll_s = poll_s
        self._armed = False
        self._deadline = 0.0
        self._label = ""
        self._reason = ""
        self._limit_s = 0.0
        self._main = threading.main_thread().ident
        self._usable = threading.current_thread() is threading.main_thread()
        self._watcher: threading.Thread | None = None
        self._inside = False  # within limits(): the alarm may stop the case
        self.aborted = 0
        self.fired: CaseAborted | None = None  # the last stop, even if a library re-wrapped it

    # -- signal handlers (main thread) ---------------------------------------
    def _on_alarm(self, signum: int, frame: Any) -> None:
        if not self._inside or getattr(frame, "f_code", None) in _LEAVING:
            return  # the case has left its block, or is leaving it: nothing to stop
        if self._armed:
            self._armed = False
            self.fired = CaseAborted("time", self._reason_time())
        if self.fired is not None and self.fired.kind == "time":
            # again every REPEAT_S until the case has left the block: a library that
            # catches what it calls raise (JAX's tracing) must not swallow the stop
            signal.setitimer(signal.ITIMER_REAL, REPEAT_S)
            raise self.fired

    def _on_memory(self, signum: int, frame: object) -> None:
        if getattr(frame, "f_code", None) in _LEAVING:
            return  # (the block is being left: its stop no longer applies)
        if self._armed and self._reason:
            self._armed = False
            self.fired = CaseAborted("memory", self._reason)
            raise self.fired

    def _reason_time(self) -> str:
        limit = f"{self._limit_s:.3g} s hard limit per case"
        return f"{STOPPED_PREFIX}after the {limit} ({self._label})"

    # -- the memory watcher (daemon thread) ------------------------------------
    def _watch(self) -> None:
        while True:
            time.sleep(self.poll_s)
            if not self._armed or self.max_rss_bytes is None:
                continue
            rss = rss_bytes()
            if rss > self.max_rss_bytes and not self._reason:
                self._reason = (
                    f"{STOPPED_PREFIX}at {rss / GIB:.2f} GiB resident, over the "
                    f"{self.max_rss_bytes / GIB:.2f} GiB limit ({self._label})"
                )
                with contextlib.suppress(OSError, ValueError):
                    signal.pthread_kill(self._main, signal.SIGUSR1)

    def _start_watcher(self) -> None:
        if self._watcher is None and self.max_rss_bytes is not None:
            self._watcher = threading.Thread(target=self._watch, name="toyad-guard", daemon=True)
            self._watcher.start()

    def _check_memory_now(self, label: str) -> None:
        """Over the memory limit before the case starts: stop it at once.

        The watcher polls every ``poll_s``; a short case would otherwise slip
        between two polls, so whether it is stopped would depend on timing.
        """
        if self.max_rss_bytes is None or rss_bytes() <= self.max_rss_bytes:
            return
        release_memory()  # garbage the last case left may be all that is over
        rss = rss_bytes()
        if rss > self.max_rss_bytes:
            self.aborted += 1
            raise CaseAborted(
                "memory",
                f"not started at {rss / GIB:.2f} GiB resident, over the "
                f"{self.max_rss_bytes / GIB:.2f} GiB limit ({label})",
            )

    def limits(self, seconds: float | None, label: str = "") -> _Limits:
        """Raise CaseAborted inside the block past ``seconds`` or the memory limit."""
        return _Limits(self, seconds, label)

    def ahead(self, label: str, seconds: float) -> _Ahead:
        """Limits for work done ahead while a case (or none) waits: CaseAborted inside the
        block past the memory limit, or past ``seconds`` once the caller arms the timer;
        on leaving, the waiting case's limits (or none) are as they were."""
        return _Ahead(self, label, seconds)


class _Limits:
    """The block :meth:`Guard.limits` guards. A class, not a generator: a stop raised in a
    generator-based ``__exit__`` before it resumes the generator skips the generator's
    clean-up, and the repeating alarm then outlives the block (it stopped a later
    item's bookkeeping, and with the default handler back it would end the process)."""

    def __init__(self, guard: Guard, seconds: float | None, label: str):
        self.guard, self.seconds, self.label = guard, seconds, label
        self._old: tuple[Any, Any] | None = None

    def __enter__(self) -> None:
        g = self.guard
        if not g._usable:  # signals need the main thread: run unguarded
            return
        g._check_memory_now(self.label)
        g._start_watcher()
        self._old = (
            signal.signal(signal.SIGALRM, g._on_alarm),
            signal.signal(signal.SIGUSR1, g._on_memory),
        )
        g._label, g._reason, g._limit_s = self.label, "", self.seconds or 0.0
        g.fired = None
        g._armed = True
        g._inside = True
        if self.seconds:
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        # (an alarm handled in this frame does nothing: _on_alarm knows its code)
        g = self.guard
        try:
            g._inside = False
        finally:
            g._inside = False
            g._armed = False
            if self._old is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, self._old[0])
                signal.signal(signal.SIGUSR1, self._old[1])
                self._old = None
        if kind is not None and issubclass(kind, CaseAborted):
            g.aborted += 1


class _Ahead:
    """The block :meth:`Guard.ahead` guards: the guard's state and handlers saved on entry,
    set for the work ahead, and put back on leaving (whatever was raised inside)."""

    def __init__(self, guard: Guard, label: str, seconds: float):
        self.guard, self.label, self.seconds = guard, label, seconds
        self._saved: tuple[Any, ...] | None = None
        self.stopped = False  # a limit stopped the work inside

    def __enter__(self) -> _Ahead:
        g = self.guard
        if not g._usable:
            return self
        g._start_watcher()
        handlers = (
            signal.signal(signal.SIGALRM, g._on_alarm),
            signal.signal(signal.SIGUSR1, g._on_memory),
        )
        self._saved = (handlers, g._label, g._reason, g._limit_s, g.fired, g._armed, g._inside)
        g._label, g._reason, g._limit_s = self.label, "", self.seconds
        g.fired, g._armed, g._inside = None, True, True
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        g = self.guard
        if self._saved is None:
            return
        handlers, label, reason, limit_s, fired, armed, inside = self._saved
        g._inside = False  # (a late alarm here does nothing)
        signal.setitimer(signal.ITIMER_REAL, 0)
        self.stopped = g.fired is not None or bool(g._reason)
        g._label, g._reason, g._limit_s, g.fired, g._armed = label, reason, limit_s, fired, armed
        signal.signal(signal.SIGALRM, handlers[0])
        signal.signal(signal.SIGUSR1, handlers[1])
        g._inside = inside
        self._saved = None


_LEAVING = (_Limits.__exit__.__code__, _Ahead.__exit__.__code__)
