"""Measuring: rounds from the warm-up time, gc paused, call counting, timings."""

from __future__ import annotations

import contextlib
import functools
import gc
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from toyad.bench.profiles import Profile


def compact_samples(samples: Iterable[float]) -> list[float]:
    """Per-round seconds rounded to 5 significant digits (the journal stays small)."""
    return [float(f"{float(t):.5g}") for t in samples]


MAX_KEPT_SAMPLES = 1000  # a fast plain benchmark times ~20,000 rounds of one call


def keep_samples(benchmark: Any) -> None:
    """A plain pytest-benchmark row keeps its per-round seconds (``samples_s``), as harness
    cases do, so ``toyad.report compare`` can rank-test it: at most MAX_KEPT_SAMPLES,
    every k-th round (in time order, so a drift stays visible); nothing when not timed."""
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        data = list(stats.stats.data)
        step = -(-len(data) // MAX_KEPT_SAMPLES)  # ceil
        benchmark.extra_info["samples_s"] = compact_samples(data[::step])


def ratio_to_baseline(
    benchmark: Any, baselines: dict[Any, float], key: Any, *, baseline: bool
) -> float | None:
    """For a plain pytest-benchmark pair timed one after the other: the baseline row
    (``baseline=True``) keeps its median under ``key``; a later row returns its
    median ÷ that one. None when a median is missing (``--benchmark-disable``)."""
    stats = getattr(benchmark, "stats", None)
    if stats is None:
        return None
    median = stats.stats.median
    if baseline:
        baselines[key] = median
        return None
    base = baselines.get(key)
    return None if base is None else median / base


@dataclass
class Timing:
    median_s: float
    min_s: float
    mean_s: float
    iqr_s: float
    stddev_s: float
    rounds: int
    iterations: int
    samples: list[float] = field(default_factory=list)
    machine_slowdown: float | None = None  # the speed probe around the rounds (bench.speed)
    wall_s: float | None = None  # the rounds' wall-clock time (the calls and the timer's own)

    def as_record(self) -> dict[str, Any]:
        return {
            "samples_s": compact_samples(self.samples),
            "machine_slowdown": self.machine_slowdown,
            "median_s": self.median_s,
            "min_s": self.min_s,
            "mean_s": self.mean_s,
            "iqr_s": self.iqr_s,
            "stddev_s": self.stddev_s,
            "rounds": self.rounds,
            "gc": "off",
            "timed_s": self.wall_s,
        }


def choose_rounds(
    first_s: float, budget_s: float, profile: Profile, cap_s: float | None = None
) -> tuple[int, int]:
    """(rounds, iterations) from the warm-up time: rounds x iterations x t ~ budget, rounds >= min.

    Calls shorter than ``min_round_s`` are batched so one round lasts about
    that long (timer noise); a call over the cap gets a single round.
    """
    t = max(first_s, 1e-9)
    if cap_s is not None and t > cap_s:
        return 1, 1
    iterations = max(1, math.ceil(profile.min_round_s / t))
    rounds = int(budget_s / (t * iterations))
    return max(profile.min_rounds, min(profile.max_rounds, rounds)), iterations


def _is_sync_pending(result: Any) -> bool:
    """True if ``result`` is an array that reports itself not yet computed (async dispatch)."""
    is_ready = getattr(result, "is_ready", None)
    if callable(is_ready):
        try:
            return not bool(is_ready())
        except Exception:
            return False
    return False


class CallCounter:
    """Counts Python calls of a problem's f(xp, x), also through ``f.bind(xp)``.

    A traced adapter (jit, tf.function) runs f in Python only while tracing,
    an eager one on every call: counting during the timed rounds shows a
    retrace. The counting function is a ``ProblemFunction`` of the same
    instance, so adapters see the same interface (``f.instance``, ``f.bind``).
    """

    def __init__(self, f: Any):
        from toyad.problems import ProblemFunction

        self.calls = 0
        counter = self

        class Counting(ProblemFunction):
            def __call__(self, xp: Any, x: Any) -> Any:
                counter.calls += 1
                return f(xp, x)

            def bind_args(self, xp: Any) -> tuple[Callable[[Any, Any], Any], Any]:
                g, args = f.bind_args(xp)

                def counted(x: Any, a: Any) -> Any:
                    counter.calls += 1
                    return g(x, a)

                return counted, args

            def bind(self, xp: Any) -> Callable[[Any], Any]:
                bound = f.bind(xp)

                @functools.wraps(bound)
                def counted(x: Any) -> Any:
                    counter.calls += 1
                    return bound(x)

                return counted

        self.f = Counting(f.instance)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """gc off for the timed region (young generations collected first), restored after."""
    was_enabled = gc.isenabled()
    gc.collect(1)  # the young generations: cheap; old ones are frozen (freeze_heap)
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def freeze_heap() -> None:
    """Collect once, then move every live object out of the collector's sight (gc.freeze).

    With the frameworks loaded a full collection takes ~0.5 s here; frozen,
    the collections between cases only scan what the cases create.
    """
    gc.collect()
    gc.freeze()
