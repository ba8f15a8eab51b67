"""The benchmark harness: options, profiles, cases, measuring, statuses, run writing.

Every suite (``benchmarks/bench_*.py``) turns its cases into records with the
columns of :data:`toyad.results.CASE_COLUMNS` through one :class:`Harness`
per pytest session; at session end the records become the ``toyad`` object
of a pytest-benchmark JSON and the report is published. The pytest wiring
(options, hooks, the ``toyad_harness`` fixture) is in the root ``conftest.py``.

API for suites
--------------
``harness_of(config) -> Harness``
    The session's harness (``config.stash``; also the ``toyad_harness`` fixture).
``Harness.profile`` (:class:`Profile`), ``.timing`` (False under
``--benchmark-disable``), ``.backend_names``, ``.problem_names``,
``.entries()`` (selected backends as :class:`BackendEntry`, missing ones
carrying the reason), ``.instance(problem, n, m)`` (seeded, cached).

``Harness.run_case(benchmark, spec: CaseSpec)``
    The whole life of one derivative case: backend lookup (not installed ->
    unsupported; installed but failing to load -> error), ``supports()`` (no
    -> unsupported), the time cap (a smaller size was too slow ->
    skipped-too-slow), untimed ``prepare`` (UnsupportedOperation ->
    unsupported, TooExpensive -> skipped-too-slow), one warm-up call (its
    result is checked: max relative error against the problem's analytic
    answer -> ok or wrong), then timing through ``benchmark.pedantic`` with
    gc off, then the record. First calls carry one-off costs (kernels
    compiled per shape, a pfor function built lazily), so the cap is judged
    on the fastest timed round (load only adds time), or under
    ``--benchmark-disable`` on a second call made when the first was over
    the cap. A first call over
    ``GUARANTEED_TIMEOUT_FACTOR`` x the cap is not repeated: it is the
    case's only sample (the message says so; the benchmark fixture is then
    left unused, its warning filtered in the suites). Any other exception
    -> error; so is a jit/function adapter that runs f in Python during the
    timed rounds (a retrace) or returns an array not yet computed (no sync).
    ok passes, wrong and error fail the test, unsupported and
    skipped-too-slow skip it; the record is kept whatever happens.
    ``CaseSpec(suite, backend, problem, operation, mode="", n=None, m=None,
    with_primal=False, budget_s=None)``: n/m None are the problem's
    defaults, mode "" the backend's default; ``with_primal`` also times the
    primal (``primal_s``, ``ratio_to_primal``).

Lower-level pieces, for suites with their own kind of case (per-op, memory):
``Harness.new_record(spec, benchmark) -> dict``;
``Harness.first_call(benchmark, call) -> (result, seconds)`` (under
``--benchmark-disable`` this is the benchmark's single run);
``Harness.measure(benchmark, call, first_s) -> Timing`` (rounds chosen from
the warm-up time so the case fits the profile's budget, min 3; gc disabled);
``Timing.as_record()``; ``Harness.conclude(record, benchmark, status,
message)`` appends the record and passes/fails/skips the test;
``Harness.add_semantics(row)`` for the native-semantics table.

Accuracy: :func:`max_rel_error` (``||a - b||_inf / max(||b||_inf, tiny)``, b
the analytic truth) against :func:`tolerance_for` (1e-12 for exact methods,
``toyad.numeric.TOLERANCE[method]`` for ``numeric-<method>`` backends,
``HESSIAN_TOLERANCE`` for their Hessians, and for their jvp/vjp times the
cancellation factor of the product, :func:`product_condition`).

Time caps: :class:`SlowRegistry` skips a size when a smaller size (n' <= n
and m' <= m) of the same backend/problem/operation/mode took longer than the
profile's ``time_cap_s`` for one call, or when even the most optimistic
extrapolation from measured smaller sizes (cost growing like n^2 m^2, n^3 for
Hessians: ``GROWTH_EXPONENT``) exceeds ``GUARANTEED_TIMEOUT_FACTOR`` times the cap.

Run: :func:`build_run` (the pytest-benchmark JSON plus ``toyad``: cases,
semantics, environment, profile, started, duration_s, and beyond
toyad.results: ``fits`` from :func:`scaling_fits` (log-log slopes of cost
against n at m = 1 and against m at n = 1), ``tradeoffs`` from
:func:`tradeoffs` (forward/reverse cost ratios on the grid's axes) and
``native_log`` (where adapters normalised a framework's answer));
:func:`write_run` publishes it with ``toyad.report.publish``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import functools
import gc
import importlib
import importlib.metadata
import math
import os
import platform
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from toyad import backends, runtime
from toyad.bench import guard as guards
from toyad.bench.analysis import FIT_MIN_SIZE, loglog_fit, scaling_fits, tradeoffs  # noqa: F401
from toyad.bench.journal import JOURNAL_NAME, Journal, read_journal  # noqa: F401 (conftest)
from toyad.results import CASE_COLUMNS, EXTRA_CASE_FIELDS, SEMANTICS_COLUMNS, STATUSES

try:
    from toyad.backends.base import TooExpensive
except ImportError:  # an older base.py without it

    class TooExpensive(Exception):  # type: ignore[no-redef]
        pass


EXACT_TOLERANCE = 1e-12
TINY = np.finfo(np.float64).tiny
SEED = 0
GUARANTEED_TIMEOUT_FACTOR = 8.0
# A case (prepare, warm-up, timed rounds, primal) is stopped at this many caps.
HARD_LIMIT_FACTOR = 20.0
# The process's resident memory a case may drive it to, by default (TOYAD_MAX_RSS_GIB).
DEFAULT_MAX_RSS_GIB = 3.5
# Warm-up: untimed calls until two successive ones agree within this fraction.
SETTLE_TOLERANCE = 0.25
MAX_WARMUP_CALLS = 10
# Derivative / primal is dispatch, not work, when the primal is within this many empty calls.
OVERHEAD_BOUND_FACTOR = 10.0
# Worst cost growth per size axis, for extrapolating to a size not yet run: a
# dense Jacobian costs ~n passes of an O(nm) primal (n^2 m); a Hessian ~n^2
# column passes of an O(n) primal for nested forward mode (n^3).
GROWTH_EXPONENT = {"hessian": 3.0}

# Per-problem relaxations of EXACT_TOLERANCE: (problem, operation) -> (tolerance, reason).
PROBLEM_TOLERANCE: dict[tuple[str, str], tuple[float, str]] = {}

# Largest n the size sweeps give a problem, with the reason.
SWEEP_MAX_N: dict[str, tuple[int, str]] = {
    "determinant": (
        25,
        "expansion by minors: the graph grows like k·2^k; past k = 5 (n = 25) a jit "
        "compile alone takes minutes (11.6 s at k = 6 for jax-jit's Hessian)",
    ),
}

# Operations a problem must be scalar-valued for.
SCALAR_ONLY = ("gradient", "hessian")


# -- profiles -----------------------------------------------------------------
def _axes_grid(top: int, interior: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Powers of 4 from 1 to ``top`` on both axes (n at m=1, m at n=1) plus n=m interior cells."""
    axis = [4**k for k in range(int(round(math.log(top, 4))) + 1)]
    cells = {(n, 1) for n in axis} | {(1, m) for m in axis} | {(s, s) for s in interior}
    return tuple(sorted(cells))


def _full_grid(top: int) -> tuple[tuple[int, int], ...]:
    axis = [4**k for k in range(int(round(math.log(top, 4))) + 1)]
    return tuple((n, m) for n in axis for m in axis)


@dataclass(frozen=True)
class Profile:
    """How much a run measures: grids, per-case time budget and time cap."""

    name: str
    description: str
    budget_s: float  # timed seconds a case aims for (rounds x iterations x call)
    accuracy_budget_s: float  # the same, for the accuracy suite (error is its point)
    min_rounds: int
    max_rounds: int
    min_round_s: float  # calls faster than this are batched (iterations) into one round
    time_cap_s: float  # one call slower than this: larger sizes are skipped-too-slow
    jacobian_grid: tuple[tuple[int, int], ...]  # (n, m) cells of the dense map
    gradient_sizes: tuple[int, ...]  # n for gradient cost as n grows
    gradient_problems: int | None  # how many scalar problems get the gradient sweep
    hessian_sizes: tuple[int, ...]
    hessian_problems: int | None  # how many scalar problems get the Hessian sweep
    overhead_n: int  # n for the cheap-gradient ratios
    overhead_problems: int | None
    steps: tuple[float, ...]  # finite-difference steps of the step sweep
    step_problems: int
    # accuracy-suite n for problems whose default size is slow to trace or run
    # (eager TF's forward mode and Hessians take seconds a call there): problem -> n
    accuracy_n: tuple[tuple[str, int], ...] = ()
    # problems whose framework accuracy cases a *timed* run of this profile skips
    # (tracing them costs seconds a case); the test command and the full profile run them
    accuracy_skip_frameworks: tuple[str, ...] = ()
    # the whole run's wall-clock budget: past it, the remaining cases are recorded
    # skipped-too-slow ("run budget spent") so that the run ends, whatever the selection
    run_budget_s: float = 1800.0

    @property
    def hard_limit_s(self) -> float:
        """No case (prepare, warm-up, rounds, primal) runs longer than this."""
        return HARD_LIMIT_FACTOR * self.time_cap_s


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        description="every backend and suite on a small grid (axes to 256); minutes",
        budget_s=0.02,
        accuracy_budget_s=0.004,
        min_rounds=3,
        max_rounds=200,
        min_round_s=2e-4,
        time_cap_s=0.25,
        jacobian_grid=_axes_grid(256, interior=(16, 64)),
        gradient_sizes=(1, 4, 16, 64, 256),
        gradient_problems=1,
        hessian_sizes=(4, 16, 64),
        hessian_problems=1,
        overhead_n=64,
        overhead_problems=1,
        steps=tuple(10.0**-k for k in range(1, 16)),
        step_problems=2,
        accuracy_n=(("elementwise_chain", 4), ("determinant", 9)),
        accuracy_skip_frameworks=("elementwise_chain", "determinant"),
        run_budget_s=600.0,  # a safety net: the quick profile takes about 3 minutes
    ),
    "full": Profile(
        name="full",
        description="the whole grid (n, m up to 4096); under half an hour",
        budget_s=0.1,
        accuracy_budget_s=0.02,
        min_rounds=3,
        max_rounds=1000,
        min_round_s=1e-3,
        time_cap_s=2.0,
        jacobian_grid=_full_grid(4096),
        gradient_sizes=(1, 4, 16, 64, 256, 1024, 4096),
        gradient_problems=None,
        hessian_sizes=(4, 16, 64, 256, 1024),
        hessian_problems=None,
        overhead_n=1024,
        overhead_problems=None,
        steps=tuple(10.0 ** (-k / 2) for k in range(2, 33)),
        step_problems=4,
        run_budget_s=28 * 60.0,
    ),
}
DEFAULT_PROFILE = "quick"


# -- selecting backends and problems --------------------------------------------
class SelectionError(ValueError):
    """A --backends/--problems pattern that names nothing known."""


def select_names(patterns: str | None, known: Sequence[str], what: str) -> list[str]:
    """Names matching comma-separated names or fnmatch globs, in ``known``'s order.

    ``None`` or an empty string selects everything. A pattern that matches
    nothing raises SelectionError listing the known names.
    """
    if patterns is None or not patterns.strip():
        return list(known)
    chosen: set[str] = set()
    for pattern in (p.strip() for p in patterns.split(",")):
        if not pattern:
            continue
        hits = [name for name in known if fnmatch.fnmatchcase(name, pattern)]
        if not hits:
            raise SelectionError(f"unknown {what} {pattern!r}; known {what}s: {', '.join(known)}")
        chosen.update(hits)
    return [name for name in known if name in chosen]


# -- accuracy -------------------------------------------------------------------
class ShapeMismatch(ValueError):
    pass


def max_rel_error(actual: Any, expected: Any) -> float:
    """Max relative error ``||a - b||_inf / max(||b||_inf, tiny)``; b is the truth.

    The worst entry's error, relative to the largest entry of the truth (so
    entries near zero do not blow it up). The result must have the truth's
    documented shape exactly (gradient (n,), Jacobian (m, n), Hessian (n, n),
    jvp (m,) or 0-d, vjp (n,)): any other shape raises ShapeMismatch, so a
    transposed (n, m) Jacobian is wrong even where it has the same entries
    count. NaN in the result gives NaN (which fails every tolerance).
    """
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.shape != b.shape:
        raise ShapeMismatch(f"result has shape {a.shape}; the analytic answer has {b.shape}")
    a, b = a.reshape(-1), b.reshape(-1)
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(b))), TINY)
    return float(np.max(np.abs(a - b))) / scale


def tolerance_for(backend: str, problem: str, operation: str, inst: Any = None) -> float:
    """The error a case may have: 1e-12 for exact methods; numeric methods' own tolerance.

    ``numeric-<method>`` backends get ``toyad.numeric.TOLERANCE[method]``
    (``HESSIAN_TOLERANCE`` for Hessians: second differences lose about half
    the digits again), times :func:`numeric_scale` of the instance for first
    derivatives; the primal is held to the exact tolerance everywhere.
    """
    if backend.startswith("numeric-") and operation != "primal":
        from toyad import numeric

        method = backend.removeprefix("numeric-")
        table = numeric.HESSIAN_TOLERANCE if operation == "hessian" else numeric.TOLERANCE
        if method not in table:
            raise KeyError(f"toyad.numeric has no tolerance for method {method!r}")
        scale = numeric_scale(inst) if inst is not None and operation != "hessian" else 1.0
        return float(table[method]) * scale
    relaxed = PROBLEM_TOLERANCE.get((problem, operation))
    return relaxed[0] if relaxed else EXACT_TOLERANCE


def numeric_scale(inst: Any) -> float:
    """How much larger than the method's nominal error a difference quotient's error is
    here, relative to the largest derivative: >= 1.

    The rounding error of a difference quotient is ~ eps·|f| / h with the step
    h ~ max(1, |x|) (toyad.numeric), so its natural unit is |f| / max(1, |x|),
    not the derivative: where f is large and its derivatives small (tanh
    saturating: dense_tanh at n = 1024 has max|f| 0.99 but max|J| 0.0025), the
    same method loses ``max|f| / (max|J| max(1, max|x|))`` more digits relative
    to the largest derivative, by construction.
    """
    jac = np.abs(np.asarray(inst.jacobian(), dtype=np.float64))
    value = np.abs(np.asarray(inst.value(), dtype=np.float64))
    top_j = float(np.max(jac)) if jac.size else 0.0
    top_f = float(np.max(value)) if value.size else 0.0
    top_x = max(1.0, float(np.max(np.abs(inst.x))) if inst.x.size else 1.0)
    if top_j <= 0.0:
        return 1.0
    return max(1.0, top_f / (top_j * top_x))


def product_condition(inst: Any, operation: str, v: np.ndarray, u: np.ndarray) -> float:
    """How much J v (or u J) amplifies a relative error of J's entries: >= 1.

    A Jacobian known to ``tol * max|J|`` per entry gives J v to within
    ``tol * max|J| * ||v||_1`` absolutely, i.e. ``tol * kappa`` relative to
    ``max|J v|`` with kappa = max|J| ||v||_1 / max|J v| (cancellation in the sum).
    Numeric methods' tolerances are for Jacobians, so their jvp/vjp get kappa.
    """
    jac = np.asarray(inst.jacobian(), dtype=np.float64).reshape(inst.m, inst.n)
    if operation == "jvp":
        product, weight = jac @ v, float(np.sum(np.abs(v)))
    else:
        product, weight = np.reshape(u, -1) @ jac, float(np.sum(np.abs(u)))
    top = float(np.max(np.abs(product)))
    return max(1.0, float(np.max(np.abs(jac))) * weight / max(top, TINY))


def status_for(error: float, tolerance: float) -> str:
    """ok when the error is within tolerance, else wrong (NaN is wrong)."""
    return "ok" if error <= tolerance else "wrong"


def reference(inst: Any, operation: str, v: np.ndarray, u: np.ndarray) -> np.ndarray | None:
    """The analytic answer for ``operation`` on a problem instance (None if it has none)."""
    if operation == "primal":
        return np.asarray(inst.value(), dtype=np.float64)
    if operation == "gradient":
        return inst.gradient()
    if operation == "hessian":
        h = inst.hessian()
        return None if h is None else np.asarray(h, dtype=np.float64)
    jac = np.asarray(inst.jacobian(), dtype=np.float64).reshape(inst.m, inst.n)
    if operation == "jacobian":
        return jac
    if operation == "jvp":  # J v
        out = jac @ v
        return out.reshape(()) if inst.scalar else out
    if operation == "vjp":  # u^T J
        return np.reshape(u, -1) @ jac
    raise ValueError(f"unknown operation {operation!r}")


def directions(n: int, m: int, scalar: bool) -> tuple[np.ndarray, np.ndarray]:
    """Seeded tangent v (n,) and cotangent u ((m,), or 0-d for a scalar f)."""
    rng = np.random.default_rng([SEED, n, m, 1])
    v = rng.standard_normal(n)
    u = np.asarray(rng.standard_normal()) if scalar else rng.standard_normal(m)
    return v, u


# -- time caps ------------------------------------------------------------------
class SlowRegistry:
    """Per key (backend, problem, operation, mode): one-call times by size, and the cap."""

    def __init__(self, cap_s: float, factor: float = GUARANTEED_TIMEOUT_FACTOR):
        self.cap_s, self.factor = cap_s, factor
        self._times: dict[tuple, list[tuple[int, int, float]]] = defaultdict(list)
        self._bytes: dict[tuple, list[tuple[int, int, int]]] = defaultdict(list)

    def note(self, key: tuple, n: int, m: int, seconds: float) -> None:
        self._times[key].append((n, m, seconds))

    def note_memory(self, key: tuple, n: int, m: int, grown_bytes: int) -> None:
        """How far the case drove the resident set above where it started."""
        self._bytes[key].append((n, m, int(grown_bytes)))

    def memory_verdict(self, key: tuple, n: int, m: int, available: int) -> str | None:
        """Why (n, m) should be skipped-too-large, or None: the nearest smaller size that
        grew memory measurably (>= MEMORY_NOTICE_BYTES), scaled linearly in n·m (n² for
        Hessians), would need more than ``available``."""
        grown = [
            (n0, m0, b)
            for n0, m0, b in self._bytes.get(key, ())
            if n0 <= n and m0 <= m and (n0, m0) != (n, m) and b >= MEMORY_NOTICE_BYTES
        ]
        if not grown:
            return None
        n0, m0, b = max(grown, key=lambda p: (p[0] * p[1], p[2]))
        scale = (n / n0) ** 2 if key[2:3] == ("hessian",) else (n * m) / (n0 * m0)
        predicted = b * scale
        if predicted > available:
            return (
                f"skipped: n={n0}, m={m0} grew the resident set by {b / 2**30:.2f} GiB; "
                f"scaled to this size {predicted / 2**30:.2f} GiB, over the "
                f"{max(available, 0) / 2**30:.2f} GiB left under the memory limit"
            )
        return None

    def verdict(self, key: tuple, n: int, m: int) -> str | None:
        """Why (n, m) should be skipped-too-slow, or None to run it."""
        smaller = [
            (n0, m0, t)
            for n0, m0, t in self._times.get(key, ())
            if n0 <= n and m0 <= m and (n0, m0) != (n, m)
        ]
        for n0, m0, t in smaller:
            if t > self.cap_s:
                return (
                    f"skipped: the smaller size n={n0}, m={m0} already took {t:.3g} s "
                    f"per call, over the {self.cap_s:g} s cap"
                )
        if smaller:
            k = GROWTH_EXPONENT.get(key[2] if len(key) > 2 else "", 2.0)
            predicted = min(t * (n / n0) ** k * (m / m0) ** k for n0, m0, t in smaller)
            if predicted > self.factor * self.cap_s:
                return (
                    f"skipped: extrapolated from smaller sizes to at least {predicted:.3g} s "
                    f"per call, over {self.factor:g} x the {self.cap_s:g} s cap"
                )
        return None


MEMORY_NOTICE_BYTES = 32 << 20


# -- measuring ------------------------------------------------------------------
def compact_samples(samples: Iterable[float]) -> list[float]:
    """Per-round seconds rounded to 5 significant digits (the journal stays small)."""
    return [float(f"{float(t):.5g}") for t in samples]


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

    def as_record(self) -> dict[str, Any]:
        return {
            "samples_s": compact_samples(self.samples),
            "median_s": self.median_s,
            "min_s": self.min_s,
            "mean_s": self.mean_s,
            "iqr_s": self.iqr_s,
            "stddev_s": self.stddev_s,
            "rounds": self.rounds,
            "gc": "off",
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


# -- cases ----------------------------------------------------------------------
@dataclass(frozen=True)
class CaseSpec:
    """What one test measures. n/m None: the problem's default sizes. mode "": the default."""

    suite: str
    backend: str
    problem: str
    operation: str
    mode: str = ""
    n: int | None = None
    m: int | None = None
    with_primal: bool = False  # also time the primal (ratio_to_primal)
    budget_s: float | None = None  # None: the profile's budget

    @property
    def id(self) -> str:
        parts = [self.backend, self.problem, self.operation]
        if self.mode:
            parts.append(self.mode)
        if self.n is not None:
            parts.append(f"n{self.n}")
        if self.m is not None:
            parts.append(f"m{self.m}")
        return "-".join(parts)

    @property
    def group(self) -> str:
        size = "" if self.n is None and self.m is None else f" n={self.n} m={self.m}"
        return f"{self.suite}: {self.problem} {self.operation}{size}"


@dataclass
class BackendEntry:
    """A selected backend: the instance, or why there is none."""

    name: str
    backend: backends.Backend | None
    reason: str = ""
    broken: bool = False  # registered and installed, but failed to load (an error, not a skip)

    def modes(self, operation: str, both: bool = False) -> tuple[str, ...]:
        """Modes to make cases for: the backend's own.

        With ``both``, forward and reverse are added (as unsupported cases)
        when the backend has only one of them, or none: not for a backend
        whose modes are neither (the analytic baseline's "analytic").
        """
        own = list(self.backend.capabilities.get(operation, ())) if self.backend else []
        if both and (not own or set(own) & set(backends.MODES)):
            own += [mode for mode in backends.MODES if mode not in own]
        return tuple(own) or ("",)


def _family_of_missing(name: str) -> str:
    try:
        module = backends.spec(name).module
    except backends.UnknownBackend:
        return ""
    return {"toys": "toy", "tensor": "toy", "peers": "peer"}.get(module, module)


INSTANCE_CACHE_BYTES = 64 << 20


def _instance_bytes(inst: Any) -> int:
    arrays = [inst.x, *(v for v in inst.consts.values() if isinstance(v, np.ndarray))]
    return sum(int(a.nbytes) for a in arrays)


def blank_record(**fields: Any) -> dict[str, Any]:
    unknown = set(fields) - set(CASE_COLUMNS) - set(EXTRA_CASE_FIELDS)
    if unknown:
        raise KeyError(f"not case columns: {sorted(unknown)}")
    record = dict.fromkeys(CASE_COLUMNS)
    record.update(fields)
    return record


@dataclass
class Harness:
    """Per-session state: options, profile, records, caches."""

    profile: Profile
    backend_names: list[str]
    problem_names: list[str]
    timing: bool = True
    report_dir: Path | None = None
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    start_clock: float = field(default_factory=time.perf_counter)
    records: list[dict[str, Any]] = field(default_factory=list)
    semantics: list[dict[str, Any]] = field(default_factory=list)
    published: Path | None = None
    publish_error: str | None = None
    max_rss_bytes: int | None = None  # the memory limit per case (None: none)
    hard_limit_s: float | None = None  # None: the profile's (HARD_LIMIT_FACTOR x its cap)
    run_folder: Path | None = None  # where the journal goes (None: no journal)
    resumed: set[str] = field(default_factory=set)  # node ids recorded by the resumed run

    def __post_init__(self) -> None:
        self.slow = SlowRegistry(self.profile.time_cap_s)
        self._entries: dict[str, BackendEntry] = {}
        self._instances: dict[tuple, Any] = {}
        self._primal: dict[tuple, float] = {}
        self._empty: dict[str, float | None] = {}
        self.guard = guards.Guard(self.max_rss_bytes)
        self.journal: Journal | None = None
        self.current_nodeid = ""
        self.resumed_from: str | None = None

    # -- the journal ------------------------------------------------------------
    def open_journal(self, folder: Path, header: dict[str, Any]) -> None:
        """Start journaling into ``folder`` (a new run: write the header first)."""
        self.run_folder = Path(folder)
        self.journal = Journal(self.run_folder)
        if header:
            self.journal.write("header", **header)

    def resume(self, folder: Path) -> int:
        """Continue the run journaled in ``folder``: its finished items count as done.

        Rows of items that never finished are dropped (they run again); the
        time-cap registry is refilled from the kept records. Returns the number
        of cases carried over.
        """
        contents = read_journal(folder)
        profile = contents.header.get("profile")
        if profile and profile != self.profile.name:
            raise SelectionError(
                f"cannot resume {folder}: it ran the {profile!r} profile, this run asks for "
                f"{self.profile.name!r}"
            )
        self.records.extend(contents.cases)
        self.semantics.extend(contents.semantics)
        self.resumed = set(contents.done)
        self.resumed_from = str(folder)
        for record in contents.cases:
            self._renote(record)
        self.open_journal(folder, {})
        if contents.dropped:  # say in the journal what the resumed run left out
            self.journal.write("resume", dropped=contents.dropped, torn=contents.torn_lines)
        return len(contents.cases)

    def _renote(self, record: dict[str, Any]) -> None:
        """Feed a carried-over record to the time-cap registry as if just measured."""
        if record.get("suite") in ("per-op", "memory", "step-sweep"):
            return
        key = (
            record.get("backend"),
            record.get("problem"),
            record.get("operation"),
            record.get("mode"),
        )
        n, m = record.get("n"), record.get("m")
        if n is None or m is None:
            return
        if record.get("status") in ("skipped-too-slow", "skipped-too-large") and not str(
            record.get("message", "")
        ).startswith("skipped:"):
            self.slow.note(key, n, m, math.inf)
        elif record.get("min_s") is not None:
            self.slow.note(key, n, m, float(record["min_s"]))

    def item_done(self, nodeid: str) -> None:
        if self.journal is not None:
            self.journal.write("done", nodeid=nodeid)

    def close_journal(self) -> None:
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    def add_record(self, record: dict[str, Any]) -> None:
        """Keep a case record (and journal it at once)."""
        self.records.append(record)
        if self.journal is not None:
            self.journal.write("case", nodeid=self.current_nodeid, record=record)

    @property
    def case_limit_s(self) -> float:
        return self.hard_limit_s or self.profile.hard_limit_s

    def run_budget_left(self) -> float:
        return self.profile.run_budget_s - (time.perf_counter() - self.start_clock)

    # -- what is selected ---------------------------------------------------
    @property
    def has_results(self) -> bool:
        """Anything to write: case records or semantics rows."""
        return bool(self.records or self.semantics)

    def entry(self, name: str) -> BackendEntry:
        if name not in self._entries:
            try:
                self._entries[name] = BackendEntry(name, backends.get(name))
            except backends.MissingFramework as exc:
                self._entries[name] = BackendEntry(name, None, f"not installed: {exc}")
            except Exception as exc:  # a backend that fails to load must not stop the rest
                self._entries[name] = BackendEntry(
                    name, None, f"failed to load: {type(exc).__name__}: {exc}", broken=True
                )
        return self._entries[name]

    def entries(self) -> list[BackendEntry]:
        return [self.entry(name) for name in self.backend_names]

    def problems(self) -> list[Any]:
        from toyad import problems

        return [problems.get(name) for name in self.problem_names]

    def scalable_scalar_problems(self, sizes: Sequence[int], limit: int | None) -> list[Any]:
        """Selected scalar problems whose n is free; those accepting every size first."""
        pool = [p for p in self.problems() if p.scalar and "n" in p.scales]
        pool.sort(key=lambda p: not all(self.allows(p.name, n) for n in sizes))
        return pool if limit is None else pool[:limit]

    def allows(self, problem: str, n: int | None = None, m: int | None = None) -> bool:
        """Whether the problem accepts these sizes (e.g. determinant needs n = k²)
        and the sweeps take them (``SWEEP_MAX_N``)."""
        from toyad import problems

        if n is not None and n > SWEEP_MAX_N.get(problem, (n, ""))[0]:
            return False
        try:
            problems.get(problem).sizes(n, m)
        except ValueError:
            return False
        return True

    def instance(self, problem: str, n: int | None, m: int | None) -> Any:
        """The seeded instance (cached; the cache holds at most INSTANCE_CACHE_BYTES of
        arrays, least recently used first out: instances are cheap to rebuild, equal)."""
        key = (problem, n, m)
        if key in self._instances:
            self._instances[key] = self._instances.pop(key)  # most recently used last
            return self._instances[key]
        from toyad import problems

        sizes = {k: v for k, v in (("n", n), ("m", m)) if v is not None}
        inst = problems.get(problem).instance(**sizes, seed=SEED)
        self._instances[key] = inst
        while len(self._instances) > 1 and (
            sum(_instance_bytes(i) for i in self._instances.values()) > INSTANCE_CACHE_BYTES
        ):
            self._instances.pop(next(iter(self._instances)))
        return inst

    # -- records --------------------------------------------------------------
    def new_record(self, spec: CaseSpec, benchmark: Any = None) -> dict[str, Any]:
        return blank_record(
            suite=spec.suite,
            backend=spec.backend,
            problem=spec.problem,
            operation=spec.operation,
            mode=spec.mode,
            n=spec.n,
            m=spec.m,
            nodeid=getattr(benchmark, "fullname", None),
        )

    def conclude(
        self, record: dict[str, Any], benchmark: Any, status: str, message: str = ""
    ) -> None:
        """Keep the record; then pass (ok), fail (wrong, error) or skip the test."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; statuses are {STATUSES}")
        record["status"], record["message"] = status, message
        self.add_record(record)
        if benchmark is not None:
            benchmark.extra_info.update({k: v for k, v in record.items() if v is not None})
        if status in ("unsupported", "skipped-too-slow"):
            pytest.skip(f"{status}: {message}")
        if status in ("wrong", "error"):
            pytest.fail(
                f"{status}: {record['backend']} {record['problem']} "
                f"{record['operation']} {record['mode']}: {message}",
                pytrace=False,
            )

    def add_semantics(self, row: dict[str, Any]) -> None:
        kept = {c: row.get(c) for c in SEMANTICS_COLUMNS}
        self.semantics.append(kept)
        if self.journal is not None:
            self.journal.write("semantics", nodeid=self.current_nodeid, row=kept)

    # -- measuring ------------------------------------------------------------
    def first_call(self, benchmark: Any, call: Callable[[], Any]) -> tuple[Any, float]:
        """The warm-up call: untimed by pytest-benchmark when timing, its only run when not."""
        start = time.perf_counter()
        result = call() if self.timing else benchmark.pedantic(call, rounds=1, iterations=1)
        return result, time.perf_counter() - start

    def measure(
        self, benchmark: Any, call: Callable[[], Any], first_s: float, budget_s: float | None = None
    ) -> Timing:
        """Time ``call`` with benchmark.pedantic, gc off, rounds from the warm-up time.

        A warm-up over the cap gets one pedantic round; if that round shows the
        warm-up was a one-off (the round itself within the cap), the remaining
        rounds are timed here the same way (gc off), and the statistics come
        from those rounds.
        """
        budget = self.profile.budget_s if budget_s is None else budget_s
        cap = self.profile.time_cap_s
        rounds, iterations = choose_rounds(first_s, budget, self.profile, cap)
        with gc_paused():
            benchmark.pedantic(call, rounds=rounds, iterations=iterations, warmup_rounds=0)
        st = benchmark.stats.stats
        timing = Timing(
            st.median, st.min, st.mean, st.iqr, st.stddev, st.rounds, iterations, list(st.data)
        )
        if first_s > cap and timing.median_s <= cap:
            timing = self.own_timing(call, timing.median_s, budget)
            benchmark.extra_info["rounds_timed_by"] = "toyad (pytest-benchmark holds one round)"
        return timing

    def own_timing(
        self, call: Callable[[], Any], first_s: float, budget_s: float | None = None
    ) -> Timing:
        """Time ``call`` here, with the same round policy and gc off as :meth:`measure`."""
        budget = self.profile.budget_s if budget_s is None else budget_s
        rounds, iterations = choose_rounds(first_s, budget, self.profile)
        samples = []
        with gc_paused():
            for _ in range(rounds):
                start = time.perf_counter()
                for _ in range(iterations):
                    call()
                samples.append((time.perf_counter() - start) / iterations)
        q1, q3 = np.percentile(samples, [25, 75])
        return Timing(
            median_s=float(np.median(samples)),
            min_s=float(np.min(samples)),
            mean_s=float(np.mean(samples)),
            iqr_s=float(q3 - q1),
            stddev_s=float(np.std(samples, ddof=1)) if len(samples) > 1 else 0.0,
            rounds=len(samples),
            iterations=iterations,
            samples=samples,
        )

    def primal_seconds(self, backend: backends.Backend, inst: Any, problem: str) -> float | None:
        """The primal's median in ``backend`` at this size (measured once per run)."""
        key = (backend.name, problem, inst.n, inst.m)
        if key not in self._primal and self.timing:
            try:
                call = backend.prepare("primal", inst.f, inst.x)
                start = time.perf_counter()
                call()
                first = time.perf_counter() - start
                self._primal[key] = self.own_timing(call, first).median_s
            except Exception:
                return None
        return self._primal.get(key)

    def empty_call_seconds(self, backend: backends.Backend, x: np.ndarray) -> float | None:
        """Median time of the backend's empty prepared call (its per-call overhead), once a run."""
        if backend.name not in self._empty and self.timing:
            prepare_empty = getattr(backend, "prepare_empty", None)
            self._empty[backend.name] = None
            if prepare_empty is not None:
                try:
                    call = prepare_empty(x)
                    start = time.perf_counter()
                    call()
                    first = time.perf_counter() - start
                    settled, _ = self.settle(call, first, self.profile.budget_s)
                    self._empty[backend.name] = self.own_timing(call, settled).median_s
                except Exception:
                    self._empty[backend.name] = None
        return self._empty.get(backend.name)

    def settle(self, call: Callable[[], Any], first_s: float, budget_s: float) -> tuple[float, int]:
        """Untimed calls after the first until two successive ones agree (within
        SETTLE_TOLERANCE), at most MAX_WARMUP_CALLS calls or ``budget_s`` seconds
        after the first. Returns (the settled call time, calls made in all)."""
        times = [first_s]
        spent = 0.0
        with gc_paused():
            while len(times) < MAX_WARMUP_CALLS:
                start = time.perf_counter()
                call()
                times.append(time.perf_counter() - start)
                spent += times[-1]
                a, b = times[-2], times[-1]
                if abs(a - b) <= SETTLE_TOLERANCE * min(a, b) or spent >= budget_s:
                    break
        return min(times[-2:]), len(times)

    # -- one derivative case -------------------------------------------------
    def run_case(self, benchmark: Any, spec: CaseSpec) -> dict[str, Any]:
        """Run one case to its status (see the module docstring); returns its record.

        The case runs under the guard's hard limits (HARD_LIMIT_FACTOR x the time
        cap, the memory limit): past either it is stopped and recorded
        skipped-too-slow / skipped-too-large, and larger sizes of the same
        case are skipped. Past the profile's run budget, cases are recorded
        skipped-too-slow without running.
        """
        benchmark.group = spec.group
        record = self.new_record(spec, benchmark)
        if self.run_budget_left() <= 0:
            message = (
                f"not run: the {self.profile.name} profile's run budget of "
                f"{self.profile.run_budget_s:g} s is spent"
            )
            self.conclude(record, benchmark, "skipped-too-slow", message)
            return record
        guards.reset_peak()
        rss_before = guards.rss_bytes()
        case_start = time.perf_counter()
        try:
            with self.guard.limits(self.case_limit_s, spec.id):
                status, message = self._run(benchmark, spec, record)
        except guards.CaseAborted as exc:
            status = "skipped-too-slow" if exc.kind == "time" else "skipped-too-large"
            message = exc.reason
            key = (spec.backend, spec.problem, spec.operation, record.get("mode") or spec.mode)
            if record.get("n") is not None and record.get("m") is not None:
                self.slow.note(key, record["n"], record["m"], math.inf)
            del exc
            guards.release_memory()
        except Exception as exc:  # a failure outside the backend still leaves a record
            status, message = "error", f"harness: {type(exc).__name__}: {exc}"
        record["wall_s"] = time.perf_counter() - case_start
        peak = guards.peak_rss_bytes()
        record["rss_peak_bytes"] = peak
        if record.get("n") is not None and record.get("m") is not None:
            key = (spec.backend, spec.problem, spec.operation, record.get("mode") or spec.mode)
            self.slow.note_memory(key, record["n"], record["m"], max(0, peak - rss_before))
        entry = self._entries.get(spec.backend)
        release = getattr(entry.backend, "release", None) if entry and entry.backend else None
        if release is not None:
            with contextlib.suppress(Exception):
                release()
        if self.max_rss_bytes and guards.rss_bytes() > self.max_rss_bytes // 2:
            guards.release_memory()
        self.conclude(record, benchmark, status, message)
        return record

    def _run(self, benchmark: Any, spec: CaseSpec, record: dict[str, Any]) -> tuple[str, str]:
        entry = self.entry(spec.backend)
        if entry.backend is None:
            record["family"] = _family_of_missing(spec.backend)
            return ("error" if entry.broken else "unsupported"), entry.reason
        b = entry.backend
        record.update(family=b.family, variant=b.variant)
        op = spec.operation
        if not b.supports(op, spec.mode or None):
            modes = b.capabilities.get(op)
            why = f"modes: {', '.join(modes)}" if modes else "operation not offered"
            what = f"{op} ({spec.mode})" if spec.mode else op
            return "unsupported", f"{b.name} does not support {what}; {why}"
        mode = spec.mode or b.default_mode(op)
        record["mode"] = mode
        strategy = getattr(b, "strategy", None)
        if strategy is not None:
            with contextlib.suppress(Exception):
                record["strategy"] = strategy(op, mode)

        inst = self.instance(spec.problem, spec.n, spec.m)
        n, m = inst.n, inst.m
        record.update(n=n, m=m, passes=b.passes(op, mode, n, m))
        if op in SCALAR_ONLY and not inst.scalar:
            return "unsupported", f"{op} needs a scalar-valued problem; {spec.problem} has m={m}"
        key = (b.name, spec.problem, op, mode)
        too_slow = self.slow.verdict(key, n, m)
        if too_slow:
            return "skipped-too-slow", too_slow
        if self.max_rss_bytes:
            too_large = self.slow.memory_verdict(key, n, m, self.max_rss_bytes - guards.rss_bytes())
            if too_large:
                return "skipped-too-large", too_large

        v, u = directions(n, m, inst.scalar)
        expected = reference(inst, op, v, u)
        if expected is None:
            return "unsupported", f"problem {spec.problem} has no analytic {op} to check against"
        tolerance = tolerance_for(b.name, spec.problem, op, inst)
        if b.name.startswith("numeric-") and op in ("jvp", "vjp"):
            tolerance *= product_condition(inst, op, v, u)
        record["tolerance"] = tolerance

        counter = CallCounter(inst.f)
        start = time.perf_counter()
        try:
            call = b.prepare(op, counter.f, inst.x, mode=mode, v=v, u=u)
        except backends.UnsupportedOperation as exc:
            return "unsupported", str(exc)
        except TooExpensive as exc:  # the backend's own cap: like a smaller size over ours
            self.slow.note(key, n, m, math.inf)
            return "skipped-too-slow", str(exc)
        except Exception as exc:
            return "error", f"prepare raised {type(exc).__name__}: {exc}"
        record["prepare_s"] = time.perf_counter() - start
        calls_before_warmup = counter.calls
        try:
            native, first_s = self.first_call(benchmark, call)
            if _is_sync_pending(native):
                return "error", "the prepared call returned before its result was computed"
            result = b.to_numpy(native)
        except TooExpensive as exc:
            self.slow.note(key, n, m, math.inf)
            return "skipped-too-slow", str(exc)
        except Exception as exc:
            return "error", f"{type(exc).__name__}: {exc}"
        benchmark.extra_info["first_call_s"] = first_s
        benchmark.extra_info["f_calls_first_call"] = counter.calls - calls_before_warmup

        try:
            error = max_rel_error(result, expected)
        except ShapeMismatch as exc:
            return "wrong", str(exc)
        record["max_rel_error"] = error
        status = status_for(error, tolerance)
        message = (
            "" if status == "ok" else f"max relative error {error:.3g} over tolerance {tolerance:g}"
        )

        # A first call may carry one-off costs (eager kernels compiled per shape, a
        # lazily built pfor function): over the cap, a second call says what a call costs.
        cap = self.profile.time_cap_s
        steady_s = first_s
        hard_limit = GUARANTEED_TIMEOUT_FACTOR * cap
        budget = spec.budget_s if spec.budget_s is not None else self.profile.budget_s
        record["warmup_calls"] = 1
        if first_s > hard_limit:  # ADBench's hard timeout: no second call
            if self.timing:
                record.update(
                    median_s=first_s, min_s=first_s, mean_s=first_s, iqr_s=0.0,
                    stddev_s=0.0, rounds=1, gc="on" if gc.isenabled() else "off",
                    samples_s=[first_s],
                )  # fmt: skip
            note = (
                f"timed once: the first call took {first_s:.3g} s, over the {hard_limit:g} s "
                "hard limit (one-off first-call costs included)"
            )
            message = f"{message}; {note}" if message else note
        elif first_s > cap and not self.timing:  # (when timing, measure() confirms it)
            try:
                start = time.perf_counter()
                call()
                steady_s = time.perf_counter() - start
            except Exception as exc:
                return "error", f"second call: {type(exc).__name__}: {exc}"
            benchmark.extra_info["second_call_s"] = steady_s
        elif self.timing:  # warm up until successive calls agree; rounds from the settled time
            try:
                steady_s, record["warmup_calls"] = self.settle(call, first_s, budget)
            except Exception as exc:
                return "error", f"warm-up call: {type(exc).__name__}: {exc}"

        if self.timing and first_s <= hard_limit:
            calls_before_timing = counter.calls
            try:
                timing = self.measure(benchmark, call, steady_s, budget)
            except Exception as exc:
                return "error", f"while timing: {type(exc).__name__}: {exc}"
            record.update(timing.as_record())
            steady_s = timing.min_s  # the cap is judged on the fastest round: noise only adds
            traced = counter.calls - calls_before_timing
            benchmark.extra_info["f_calls_timed"] = traced
            if b.variant in ("jit", "function", "xla", "compile") and traced:
                return "error", (
                    f"f ran {traced} times in Python during {timing.rounds} timed rounds: "
                    f"the {b.variant} adapter retraces, so timings include tracing"
                )
            if spec.with_primal:
                primal = self.primal_seconds(b, inst, spec.problem)
                record["primal_s"] = primal
                if primal:
                    record["ratio_to_primal"] = timing.median_s / primal
                    self._net_ratio(record, b, inst.x, timing.median_s, primal)
            if op == "primal":
                self._primal[(b.name, spec.problem, n, m)] = timing.median_s
                record.update(primal_s=timing.median_s, ratio_to_primal=1.0)
        del call
        self.slow.note(key, n, m, steady_s)
        if steady_s > cap:
            note = f"one call took {steady_s:.3g} s, over the {cap:g} s cap: larger sizes skipped"
            message = f"{message}; {note}" if message else note
        return status, message

    def _net_ratio(
        self,
        record: dict[str, Any],
        b: backends.Backend,
        x: np.ndarray,
        median: float,
        primal: float,
    ) -> None:
        """ratio_net = (derivative - empty call) / (primal - empty call); overhead_bound when
        the primal is within OVERHEAD_BOUND_FACTOR empty calls (the ratio is then dispatch)."""
        empty = self.empty_call_seconds(b, x)
        if empty is None:
            return
        record["empty_call_s"] = empty
        record["overhead_bound"] = bool(primal < OVERHEAD_BOUND_FACTOR * empty)
        if primal > empty and median > empty:
            record["ratio_net"] = (median - empty) / (primal - empty)


HARNESS = pytest.StashKey[Harness]()


def harness_of(config: Any) -> Harness:
    """The session's harness (set up by the root conftest's pytest_configure)."""
    try:
        return config.stash[HARNESS]
    except KeyError:
        raise RuntimeError(
            "the toyad harness is not configured: run the suites through the root conftest.py"
        ) from None


# -- the run --------------------------------------------------------------------
_LIBRARIES = (
    "numpy",
    "scipy",
    "pandas",
    "pytest",
    "pytest-benchmark",
    "tensorflow",
    "keras",
    "jax",
    "jaxlib",
    "torch",
    "array-api-compat",
    "autograd",
    "micrograd",
    "sympy",
)
_MODULE_OF = {"pytest-benchmark": "pytest_benchmark", "array-api-compat": "array_api_compat"}


def library_versions(loaded_only: bool = True) -> dict[str, str]:
    """Versions of the libraries in play (imported in this process, if ``loaded_only``)."""
    out = {}
    for dist in _LIBRARIES:
        module = _MODULE_OF.get(dist, dist)
        if loaded_only and module not in sys.modules:
            continue
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit(root: Path) -> tuple[str, bool | None]:
    """(HEAD commit, dirty?) of the repository at ``root``; ("", None) outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return "", None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return head.stdout.strip(), bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return "", None


def environment(harness: Harness, root: Path) -> dict[str, Any]:
    """What the numbers depend on: versions, threads, CPU, commit, gc, profile."""
    settings = runtime.settings()
    commit, dirty = git_commit(root)
    versions = library_versions()
    for entry in harness._entries.values():
        if entry.backend is not None:
            try:
                versions.update(entry.backend.versions())
            except Exception as exc:  # recorded, not fatal: the run is still worth writing
                versions[f"{entry.name}.versions()"] = f"failed: {type(exc).__name__}: {exc}"
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "threads": settings.get("threads"),
        "thread_env": settings.get("thread_env"),
        "frameworks_loaded_before_configure": settings.get("loaded_before_configure"),
        "versions": versions,
        "commit": commit,
        "dirty": dirty,
        "gc": "disabled during timing; young generations collected before each case; "
        "objects alive after collection frozen (gc.freeze)",
        "timer": "time.perf_counter",
        "profile": harness.profile.name,
        "time_cap_s": harness.profile.time_cap_s,
        "budget_s": harness.profile.budget_s,
        "timing": "timed" if harness.timing else "run once (--benchmark-disable)",
        "backends_selected": harness.backend_names,
        "backends_missing": {
            e.name: e.reason for e in harness._entries.values() if e.backend is None
        },
        "problems_selected": harness.problem_names,
        "seed": SEED,
        "peak_rss_bytes": guards.run_peak_rss_bytes(),
        "peak_rss_children_bytes": guards.children_peak_rss_bytes(),
        "max_rss_bytes": harness.max_rss_bytes,
        "hard_limit_s": harness.case_limit_s,
        "run_budget_s": harness.profile.run_budget_s,
        "cases_stopped_by_guard": harness.guard.aborted,
    }


def native_log(harness: Harness) -> list[dict[str, Any]]:
    """Where backends normalised a framework's own answer during the run (deduplicated)."""
    rows, seen = [], set()
    for entry in harness._entries.values():
        if entry.backend is None:
            continue
        for answer in entry.backend.native_log:
            row = {"backend": entry.name, **dataclasses.asdict(answer)}
            key = tuple(str(v) for v in row.values())
            if key not in seen:
                seen.add(key)
                rows.append(row)
    return rows


def toyad_object(harness: Harness, root: Path) -> dict[str, Any]:
    """The ``toyad`` object of the run JSON (see toyad.results)."""
    cases = [dict(r) for r in harness.records]
    return {
        "schema": 1,
        "profile": harness.profile.name,
        "started": harness.started.isoformat(),
        "duration_s": time.perf_counter() - harness.start_clock,
        "environment": environment(harness, root),
        "cases": cases,
        "semantics": list(harness.semantics),
        "native_log": native_log(harness),
        "fits": scaling_fits(cases),
        "tradeoffs": tradeoffs(cases),
        "complete": True,
        "resumed_from": harness.resumed_from,
    }


def build_run(config: Any, harness: Harness) -> dict[str, Any]:
    """A pytest-benchmark-format JSON of this session, with the ``toyad`` object."""
    session = getattr(config, "_benchmarksession", None)
    root = Path(config.rootpath)
    benchmarks_done = [b for b in (session.benchmarks if session else []) if b]
    machine_info = session.get_machine_info() if session else {}
    commit_info = config.hook.pytest_benchmark_generate_commit_info(config=config)
    run = config.hook.pytest_benchmark_generate_json(
        config=config,
        benchmarks=benchmarks_done,
        include_data=False,
        machine_info=machine_info,
        commit_info=commit_info,
    )
    run["toyad"] = toyad_object(harness, root)
    return run


def start_journal(harness: Harness, root: Path) -> Path:
    """Create the run's folder under ``harness.report_dir`` and journal into it from now on."""
    from toyad import report

    commit, _ = git_commit(root)
    folder = report.new_run_folder(harness.report_dir, harness.started, commit)
    header = {
        "profile": harness.profile.name,
        "started": harness.started.isoformat(),
        "environment": environment(harness, root),
        "argv": sys.argv[1:],
    }
    harness.open_journal(folder, header)
    return folder


def write_run(run: dict[str, Any], reports_root: Path, folder: Path | None = None) -> Path:
    """Complete the journaled run ``folder`` (or publish a new folder): JSON, CSV, HTML, latest."""
    from toyad import report

    if folder is not None:
        return Path(report.complete_run(run, folder))
    return Path(report.publish(run, reports_root))


def failing_line(harness: Harness) -> str:
    """A plain line naming what was wrong or errored ('' when nothing was)."""
    bad = [r for r in harness.records if r["status"] in ("wrong", "error")]
    if not bad:
        return ""
    wrong = sum(r["status"] == "wrong" for r in bad)
    names = sorted({f"{r['backend']}/{r['problem']}/{r['operation']}" for r in bad})
    shown = ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")
    return (
        f"toyad: {wrong} wrong and {len(bad) - wrong} errored cases (the exit status is "
        f"non-zero; the report is written all the same): {shown}"
    )


def summary_line(harness: Harness) -> str:
    counts = {s: 0 for s in STATUSES}
    for r in harness.records:
        counts[r["status"]] += 1
    parts = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    return f"toyad: {len(harness.records)} cases ({parts}); profile {harness.profile.name}"


# the dataclass module is re-exported for suites that build specs with replace()
replace = dataclasses.replace
