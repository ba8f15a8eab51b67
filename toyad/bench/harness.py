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
:func:`tradeoffs` (forward/reverse cost ratios on the grid's axes),
``crossovers`` from :func:`toyad.bench.analysis.crossovers` (per pair and
edge, the size where the losing mode costs 2x, or how far it got and why) and
``native_log`` (where adapters normalised a framework's answer));
:func:`write_run` publishes it with ``toyad.report.publish``."""

from __future__ import annotations

import contextlib
import gc
import json
import math
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from toyad import backends
from toyad.backends.base import TooExpensive
from toyad.bench import guard as guards
from toyad.bench.accuracy import (
    SEED,
    Reference,
    ShapeMismatch,
    directions,
    max_rel_error,
    numeric_unreliable,
    product_condition,
    reference_of,
    status_for,
    tolerance_for,
)
from toyad.bench.ahead import AHEAD_LIMIT_S, AHEAD_MAX_ITEM_S, Prepared, WorkAhead, timed_first_call
from toyad.bench.environment import machine_label
from toyad.bench.journal import Journal, read_journal
from toyad.bench.limits import GUARANTEED_TIMEOUT_FACTOR, SlowRegistry, memory_weight
from toyad.bench.measure import (
    CallCounter,
    Timing,
    _is_sync_pending,
    choose_rounds,
    gc_paused,
)
from toyad.bench.profiles import Profile
from toyad.bench.selection import SelectionError
from toyad.bench.speed import SLOW_FACTOR, WAIT_SHARE, SpeedProbe
from toyad.bench.turns import clock_stopped, turns
from toyad.results import (
    BUDGET_CUT_PREFIX,
    CASE_COLUMNS,
    EXTRA_CASE_FIELDS,
    SEMANTICS_COLUMNS,
    STATUSES,
    budget_cut,
)

# A case (prepare, warm-up, timed rounds, primal) is stopped at this many caps: see profiles.
# The process's resident memory a case may drive it to, by default (TOYAD_MAX_RSS_GIB).
DEFAULT_MAX_RSS_GIB = 3.5
# Process-wide caches and garbage are released after a case that kept this fraction of the
# memory limit resident (its builds released), or while the process is DEEP_RELEASE_DRIFT of
# the limit above where the first case ended or the last release left it (see
# Harness.release_after). Every release drops compiled kernels that later cases would
# reuse, so it is kept for real growth: a process with every framework loaded drifts by
# ~0.2 GiB over a quick run in executables alone, and what a release could not give back
# (the allocators keep freed pages) is no reason for another.
DEEP_RELEASE_KEPT = 0.0625
DEEP_RELEASE_DRIFT = 0.25
# A job (toyad.bench.jobs) goes on in a fresh process when releasing every cache leaves it
# over this fraction of the memory limit: every framework loaded, with its caches, sits at
# 1.3-1.8 GiB here; past 2.1 GiB of a 3.5 GiB limit a job had cases stopped or not started
# for memory that earlier cases left with the allocators.
RESTART_FRACTION = 0.6
# ... but an item over it still runs in this process when its case's predicted growth
# fits under the limit with this much to spare
RESTART_MARGIN_BYTES = 256 << 20
# A case stopped at the memory limit runs once more if releasing every cache brought the
# resident set this far below where the case started.
MEMORY_RETRY_BYTES = 64 << 20
# The hard time limit of an accuracy case where nothing is timed (Harness.limit_for).
UNTIMED_ACCURACY_LIMIT_S = 60.0
# Warm-up: untimed calls until two successive ones agree within this fraction.
SETTLE_TOLERANCE = 0.25
MAX_WARMUP_CALLS = 10
# Derivative / primal is dispatch, not work, when the primal is within this many empty calls.
OVERHEAD_BOUND_FACTOR = 10.0

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
    preset: str = ""  # a named size (GradBench's description), or "tiny" (TINY_OPTIONS)

    @property
    def id(self) -> str:
        parts = [self.backend, self.problem, self.operation]
        if self.mode:
            parts.append(self.mode)
        if self.preset:
            parts.append(self.preset)
        if self.n is not None:
            parts.append(f"n{self.n}")
        if self.m is not None:
            parts.append(f"m{self.m}")
        return "-".join(parts)

    @property
    def group(self) -> str:
        size = "" if self.n is None and self.m is None else f" n={self.n} m={self.m}"
        if self.preset:
            size = f" {self.preset}"
        return f"{self.suite}: {self.problem} {self.operation}{size}"


def warm_up(backend: backends.Backend) -> None:
    """A framework's one-off costs of its first build and call (torch.compile importing
    dynamo and inductor: ~7 s; the first jit or tf.function trace), paid with loading it
    in a timed run, not by the process's first case: its prepare_s would carry them, and
    a prepare over GUARANTEED_TIMEOUT_FACTOR x the cap stops the sizes after it (an
    untimed run, the test command, has no use for it: seconds per process)."""
    with contextlib.suppress(Exception):
        backend.prepare_empty(np.ones(2))()
        backend.release(framework_caches=False)


class BackendEntry:
    """A selected backend: the instance, or why there is none (``broken``: registered and
    installed, but it failed to load: an error, not a skip).

    ``BackendEntry.lazy(name)`` loads the backend when first needed: listing a run's
    cases needs only its modes, which a framework backend declares without loading its
    framework (``toyad.backends.capabilities``), so collection imports no framework.
    """

    def __init__(
        self,
        name: str,
        backend: backends.Backend | None,
        reason: str = "",
        broken: bool = False,
    ):
        self.name = name
        self._backend, self._reason, self._broken = backend, reason, broken
        self._loaded = True
        self._warm = False

    @classmethod
    def lazy(cls, name: str, warm: bool = False) -> BackendEntry:
        """Loaded when first needed; ``warm``: warmed up as it loads (timed runs)."""
        entry = cls(name, None)
        entry._loaded = False
        entry._warm = warm
        return entry

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        """Load the backend (import its framework), once; a failure is kept as the reason."""
        if self._loaded:
            return
        self._loaded = True
        try:
            self._backend = backends.get(self.name)
        except backends.MissingFramework as exc:
            self._reason = f"not installed: {exc}"
        except Exception as exc:  # a backend that fails to load must not stop the rest
            self._reason = f"failed to load: {type(exc).__name__}: {exc}"
            self._broken = True
        else:
            if self._warm:
                warm_up(self._backend)

    @property
    def backend(self) -> backends.Backend | None:
        self.load()
        return self._backend

    @property
    def reason(self) -> str:
        self.load()
        return self._reason

    @property
    def broken(self) -> bool:
        self.load()
        return self._broken

    def capabilities(self) -> dict[str, tuple[str, ...]]:
        """Operation -> modes: declared (no framework loaded) where the backend's packages
        are installed and it declares them, else the loaded backend's ({} if none)."""
        if not self._loaded and backends.missing_package(self.name) is None:
            declared = backends.declared_capabilities(self.name)
            if declared is not None:
                return declared
        return dict(self.backend.capabilities) if self.backend else {}

    def modes(self, operation: str, both: bool = False) -> tuple[str, ...]:
        """Modes to make cases for: the backend's own.

        With ``both``, forward and reverse are added (as unsupported cases)
        when the backend has only one of them, or none: not for a backend
        whose modes are neither (the analytic baseline's "analytic").
        """
        own = list(self.capabilities().get(operation, ()))
        if both and (not own or set(own) & set(backends.MODES)):
            own += [mode for mode in backends.MODES if mode not in own]
        return tuple(own) or ("",)


# where a case's wall time went (the rest of an item's time is "other")
TIME_PARTS = (
    "prepare_s", "first_call_s", "warmup_s", "timed_s", "primal_timing_s", "reference_s",
    "release_s",
)  # fmt: skip


def _memory_weight_of(b: backends.Backend, op: str, mode: str) -> Callable[[int, int], float]:
    """How this backend's case grows in memory with (n, m) (see :func:`memory_weight`)."""
    try:
        batched = b.strategy(op, mode) == "vectorised"
    except Exception:
        batched = False

    def weight(n: int, m: int) -> float:
        batch = (b.passes(op, mode, n, m) or 1) if batched else None
        return memory_weight(op, n, m, batch)

    return weight


def _slow_prepare_reason(prepare_s: float, time_cap_s: float) -> str:
    return (
        f"took {prepare_s:.3g} s to prepare (tracing, compiling), over "
        f"{GUARANTEED_TIMEOUT_FACTOR:g} x the {time_cap_s:g} s cap"
    )


def _no_larger(smaller: tuple[int | None, ...], size: tuple[int | None, ...]) -> bool:
    """Whether ``smaller`` is no larger than ``size`` in any of (n, m, data bytes); an
    unknown (None) component does not tell them apart."""
    return all(a is None or b is None or a <= b for a, b in zip(smaller, size))


def _references_bytes(references: dict[tuple, Reference]) -> int:
    return sum(r.value.nbytes for r in references.values() if r.value is not None)


def _family_of_missing(name: str) -> str:
    try:
        module = backends.spec(name).module
    except backends.UnknownBackend:
        return ""
    return {"toys": "toy", "tensor": "toy", "peers": "peer"}.get(module, module)


# The analytic references every backend's case of one instance checks against (seconds
# each for GradBench's larger kmeans and gmm): computed once, kept while they fit here.
REFERENCE_CACHE_BYTES = 128 << 20
REFERENCE_CACHE_ENTRY_BYTES = 16 << 20  # (a larger one is cheap to compute again: a dense map)
INSTANCE_CACHE_BYTES = 64 << 20
# ... and at most this many instances: a workload's instance holds more than its arrays
# (GradBench's models and data as Python objects), which the byte count does not see.
INSTANCE_CACHE_ITEMS = 8
# The suites a timed run puts last, in this order (a run budget that cuts, cuts their
# tails): the forward/reverse tradeoff first, then accuracy (quick checks), then the
# workloads at GradBench's sizes (their key backends first: WORKLOAD_KEY_BACKENDS).
ELASTIC_SUITES = ("scaling", "accuracy", "workloads")
# Every standard workload is measured on these before any other backend gets a turn.
WORKLOAD_KEY_BACKENDS = ("jax-jit", "torch-autograd", "tensor")

# Suites that list one size of each (backend, problem, operation, mode): where nothing is
# timed, a first call over the cap is not followed by a second to learn what a call costs
# (that decides whether larger sizes run), and no call time is kept for other suites' sizes.
ONE_SIZE_SUITES = ("accuracy",)

# About the seconds one item of a suite takes (a quick run on the 2-core VM, idle, from the
# journal's per-item wall times): how the run budget plans, and how shards balance.
SUITE_WEIGHT = {
    "accuracy": 0.067,
    "scaling": 0.12,
    "memory": 0.51,  # framework cases in worker processes (their start-up included)
    "scalar-engines": 0.49,
    "per-op": 0.2,
    "tensor-speed": 0.13,
    "convenience": 0.12,
    "overhead": 0.5,  # a job's first case of each backend: loading it (imports, warm-up)
    "hessians": 0.3,
    "semantics": 0.18,
    "workloads": 0.58,  # GradBench's sizes: tracing and compiling per case
    "nested": 1.6,  # a whole gradient descent per case
}
# A suite may run until the budget's end less this share of the later suites' estimates:
# with estimates within 1/RESERVE_SHARE of the truth, a run that fits is never cut.
RESERVE_SHARE = 0.25
# A run that does not fit: the small fixed suites share this much of the budget (by their
# estimates), the elastic suites the rest, so neither group starves the other.
FIXED_SUITES_SHARE = 0.45


# A case another suite of this process measured already (the same backend, problem,
# operation, mode, sizes, primal timing and budget: the overhead suite's gradients at the
# scaling suite's sizes) is that measurement, recorded again under its own suite and test
# item, with ``same_as`` naming the item that measured it (its time counted once).
SHARED_STATUSES = ("ok", "wrong")
# Backend families whose first call at a shape may carry one-off costs (kernels compiled,
# graphs traced, allocators grown); the toy, peer and analytic engines call plain Python
# over numpy the same way every time.
ONE_OFF_FIRST_CALLS = ("jax", "tensorflow", "torch")
SHARED_NOT = ("suite", "nodeid", "machine", "same_as")


def _measurement_of(spec: CaseSpec) -> CaseSpec:
    """What a case measures: its spec without the suite that lists it."""
    return replace(spec, suite="")


def _primal_key(backend: str, inst: Any) -> tuple:
    """One instance's primal, per backend (options tell apart presets of equal n, m)."""
    options = tuple(sorted((k, repr(v)) for k, v in inst.options.items()))
    return (backend, inst.name, inst.n, inst.m, options)


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
    run_budget_override: float | None = None  # None: the profile's run_budget_s
    run_folder: Path | None = None  # where the journal goes (None: no journal)
    resumed: set[str] = field(default_factory=set)  # node ids recorded by the resumed run
    problem_patterns: str | None = None  # --problems as given (it selects user problems too)
    outcomes: bool = True  # conclude() passes/fails/skips the test (False: toyad.compare)
    shard: str = ""  # "K/N" when this run is one of N shards of a selection (--shard)
    shard_by: str = "cell"  # how the shards were dealt (cell: machines; lineage; claim: jobs)
    claims: Any = None  # toyad.bench.claims.Claims of a job that claims lineages as it goes
    # a job its controller restarts in a fresh process (toyad.bench.jobs) asks for that
    # when releasing every cache leaves it over RESTART_FRACTION of the limit
    # (restart_wanted: why)
    restartable: bool = False

    def __post_init__(self) -> None:
        self.slow = SlowRegistry(self.profile.time_cap_s)
        self._entries: dict[str, BackendEntry] = {}
        self._instances: dict[tuple, Any] = {}
        self._references: dict[tuple, Reference] = {}
        self._primal: dict[tuple, float] = {}
        self._empty: dict[str, float | None] = {}
        self._first_primal: dict[tuple, float] = {}
        self._primal_calls: dict[tuple, tuple[Callable[[], Any], float]] = {}
        # (backend, problem, op, mode) -> (n, m, data bytes) that stop larger sizes, and why
        self._stopping_sizes: dict[tuple, list[tuple[tuple[int, int, int], str]]] = {}
        self.guard = guards.Guard(self.max_rss_bytes)
        self.journal: Journal | None = None
        self.journal_opener: Callable[[], Any] | None = None  # opens it at the first record
        self.current_nodeid = ""
        self.resumed_from: str | None = None
        self.machine = machine_label()
        self._suite_weight: dict[str, float] = {}  # plan_budget: item count x SUITE_WEIGHT
        self._suite_deadline: dict[str, float] = {}  # budget_spent: set as a suite starts
        self.speed = SpeedProbe()  # the machine's usual speed, and the waiting done
        self.ahead = WorkAhead()  # the next case's untimed work, done while waiting
        self.item_cost_s: dict[str, float] = {}  # test item -> its measured seconds (shards)
        self.pause_carried_s = 0.0  # what earlier parts of this job paused (continue_after)
        self._baseline_rss: int | None = None  # resident bytes when the first case ended
        self._released_rss = 0  # resident bytes the last deep release left
        # (backend, problem, op, mode) -> (n, m, why) where the backend refused it in prepare
        self._refused: dict[tuple, tuple[int, int, str]] = {}
        # sizes (n, m, data bytes) judged too large for memory, per case key: larger ones
        # are not started (a prediction reaches only MEMORY_SCALE_REACH past a measured size)
        self._too_large: dict[tuple, list[tuple[int, int, int | None]]] = {}
        self.restart_wanted = ""  # why this job should go on in a fresh process ('' if not)
        self.deferred = ""  # the item left to that fresh process
        self._measured: dict[CaseSpec, dict[str, Any]] = {}  # measurement -> its record
        self.lineages: dict[str, str] = {}  # claiming jobs: test item -> its lineage
        self.passed_over = ""  # the item of another job's lineage just passed over
        self._on_selected: dict[str, list[Callable[[Harness], None]]] = {}
        self.deep_releases = 0
        self._memory_retried: set[str] = set()  # case ids run again after a deep release
        self.item_seconds: dict[str, float] = {}  # suite -> its test items' wall time
        self.item_counts: dict[str, int] = {}
        self.first_item_at: float | None = None  # seconds from the start to the first item
        self._item_suite: dict[str, str] = {}  # test item -> its suite (note_item)

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
        contents = self._journal_of_same_profile(folder, "resume")
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

    def _journal_of_same_profile(self, folder: Path, verb: str) -> Any:
        """The journal in ``folder``; SelectionError if it ran another profile."""
        contents = read_journal(folder)
        profile = contents.header.get("profile")
        if profile and profile != self.profile.name:
            raise SelectionError(
                f"cannot {verb} {folder}: it ran the {profile!r} profile, this run asks for "
                f"{self.profile.name!r}"
            )
        return contents

    def continue_after(self, folder: Path) -> int:
        """Run what the run journaled in ``folder`` (and any other given so) did not
        finish, as a run of its own: its finished items are not run again and its records
        stay there (they feed the time-cap registry only, so larger sizes of a case it
        found too slow are skipped here too). How a job goes on in a fresh process.
        Returns the items it finished."""
        contents = self._journal_of_same_profile(folder, "continue")
        self.resumed |= contents.done
        for record in contents.cases:
            self._renote(record)
        # plain pytest-benchmark items before the run's first case are not journaled;
        # a run that ended has their rows in its benchmark.json (the merge takes them)
        # (and what it paused for the machine's usual speed: the job's share, not a part's)
        ended = Path(folder) / "benchmark.json"
        if ended.is_file():
            with contextlib.suppress(ValueError, OSError, AttributeError):
                data = json.loads(ended.read_text(encoding="utf-8"))
                rows = data.get("benchmarks") or []
                self.resumed |= {
                    r["fullname"] for r in rows if isinstance(r, dict) and r.get("fullname")
                }
                spent = (data.get("toyad") or {}).get("time_spent") or {}
                paused = spent.get("waited_for_usual_speed_s")
                if isinstance(paused, (int, float)) and math.isfinite(paused):
                    self.pause_carried_s += max(0.0, float(paused))
        return len(contents.done)

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
        message = str(record.get("message") or "")
        status = record.get("status")
        at_hard_limit = message.startswith(guards.STOPPED_PREFIX)
        # judged too slow here or at a smaller size (a primal over the cap, an
        # extrapolation); not a size the run left unrun for other reasons (its budget)
        stopped = at_hard_limit or (status == "skipped-too-slow" and message.startswith("skipped:"))
        prepare_s = record.get("prepare_s") or 0.0
        slow_to_prepare = prepare_s > GUARANTEED_TIMEOUT_FACTOR * self.profile.time_cap_s
        # a preset may differ from another in its data alone (None: n and m say it all;
        # building a large instance only to weigh it would cost seconds a record)
        data = self._data_bytes_of(record) if record.get("preset") else None
        if stopped:
            self.slow.note(key, n, m, math.inf, data)
        elif record.get("min_s") is not None:
            self.slow.note(key, n, m, float(record["min_s"]), data)
        if self.timing and at_hard_limit:
            why = f"was stopped at a hard limit ({status})"
            self._stopping_sizes.setdefault(key, []).append(((n, m, data), why))
        elif self.timing and slow_to_prepare:
            why = _slow_prepare_reason(prepare_s, self.profile.time_cap_s)
            self._stopping_sizes.setdefault(key, []).append(((n, m, data), why))
        if status == "skipped-too-large":
            self._too_large.setdefault(key, []).append((n, m, data))
        if status == "unsupported" and message.startswith("backend '"):
            self._refused.setdefault(key, (n, m, message))  # (refused in prepare)

    def note_item(self, suite: str, seconds: float, nodeid: str = "") -> None:
        """A test item of ``suite`` took ``seconds`` (setup, call, teardown)."""
        self.item_seconds[suite] = self.item_seconds.get(suite, 0.0) + seconds
        self.item_counts[suite] = self.item_counts.get(suite, 0) + 1
        if nodeid:
            self._item_suite[nodeid] = suite

    def time_spent(self) -> dict[str, Any]:
        """Where the run's time went: before the first item (imports, collection), and per
        suite its items' wall time split into prepare, first calls, warm-up, timed rounds,
        the primal's timing, the references, and the rest (checks, empty-call timings,
        probes, releases, pytest's own), with the cases the run budget left unrun."""
        parts = TIME_PARTS
        suites: dict[str, dict[str, Any]] = {}
        for suite, seconds in self.item_seconds.items():
            suites[suite] = {"suite": suite, "items": self.item_counts[suite], "wall_s": seconds}
            suites[suite].update({k: 0.0 for k in parts}, cases=0, not_run=0)
        for record in self.records:  # a case counts in its test item's suite
            row = suites.get(self._item_suite.get(record.get("nodeid") or "", record.get("suite")))
            if row is None:  # a resumed run's case, or a suite recording under another name
                continue
            row["cases"] += 1
            if budget_cut(record):
                row["not_run"] += 1
            if record.get("same_as"):  # (its time is the measuring case's)
                continue
            for key in parts:
                row[key] += record.get(key) or 0.0
        for row in suites.values():
            row["other_s"] = max(0.0, row["wall_s"] - sum(row[k] for k in parts))
        return {
            "before_first_item_s": self.first_item_at,
            "waited_for_turns_s": turns().waited_s,  # jobs: other jobs' steps before a timing
            "held_turns_s": turns().held_s,  # jobs: timing, while the other jobs may not
            "waited_for_usual_speed_s": self.speed.waited_s,  # paused: the machine was slow
            **self.ahead.counts(),  # the next case prepared during those waits
            "suites": sorted(suites.values(), key=lambda r: -r["wall_s"]),
        }

    def item_done(self, nodeid: str) -> None:
        if self.journal is not None:  # at_s: seconds since the run started (where time went)
            at_s = round(time.perf_counter() - self.start_clock, 3)
            self.journal.write("done", nodeid=nodeid, at_s=at_s)

    def close_journal(self) -> None:
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    def _journal_now(self) -> None:
        if self.journal is None and self.journal_opener is not None:
            opener, self.journal_opener = self.journal_opener, None
            opener()

    def add_record(self, record: dict[str, Any]) -> None:
        """Keep a case record (and journal it at once), labelled with this machine."""
        if not record.get("machine"):
            record["machine"] = self.machine
        self.records.append(record)
        self._journal_now()
        if self.journal is not None:
            self.journal.write("case", nodeid=self.current_nodeid, record=record)

    @property
    def case_limit_s(self) -> float:
        return self.hard_limit_s or self.profile.hard_limit_s

    def limit_for(self, spec: CaseSpec) -> float:
        """The hard time limit of ``spec``'s case. Where nothing is timed (the test
        command), an accuracy case may take up to UNTIMED_ACCURACY_LIMIT_S: its check is
        the point, and tracing a workload's unrolled loops takes longer than a timed
        run's limit (which a user's --hard-limit-s still sets)."""
        if not self.timing and spec.suite == "accuracy" and self.hard_limit_s is None:
            return max(self.case_limit_s, UNTIMED_ACCURACY_LIMIT_S)
        return self.case_limit_s

    def run_budget_left(self) -> float:
        return self.run_budget_s - (time.perf_counter() - self.start_clock)

    @property
    def run_budget_s(self) -> float:
        return self.run_budget_override or self.profile.run_budget_s

    def when_selected(self, suite: str, start: Callable[[Harness], None]) -> None:
        """Call ``start(harness)`` once the run's selection is known, if it has items of
        ``suite`` (work a suite can begin in the background: a worker's imports)."""
        self._on_selected.setdefault(suite, []).append(start)

    def selected(self, suite_items: dict[str, int], whole: bool = True) -> None:
        """The run's selection is known (``whole``; else these suites are this job's now):
        begin what its suites asked for (when_selected), once."""
        for suite in [s for s in self._on_selected if suite_items.get(s)]:
            for start in self._on_selected.pop(suite):
                start(self)
        if whole:
            self._on_selected.clear()

    def plan_budget(self, suite_items: dict[str, int]) -> None:
        """Each suite's estimated seconds (item count x the profile's seconds an item, else
        SUITE_WEIGHT's), for :meth:`budget_spent`."""
        per_item = {**SUITE_WEIGHT, **dict(self.profile.item_seconds)}
        self._suite_weight = {s: n * per_item.get(s, 0.1) for s, n in suite_items.items()}
        self._suite_deadline = {}

    def budget_spent(self, suite: str) -> str:
        """Why an item of ``suite`` should not start (timed runs only), or ''.

        A guard rail, not a selector: when a suite starts it may run until the
        budget's end less RESERVE_SHARE of the estimates of the suites not yet
        started (so a run that fits its budget is never cut, even with estimates
        off by up to 4x), and never less than its estimate's proportional share
        of the time left; where the estimates say the run does not fit, an elastic
        suite gets that share and no more (so the run loses a tail of every suite,
        not the last suites whole: the pools of :meth:`_pooled_share`). The
        estimates (the profile's seconds an item) are scaled by the suites run so
        far: their wall time over their estimate.
        """
        if not self.timing:  # the test command runs everything
            return ""
        elapsed = time.perf_counter() - self.start_clock
        weights, deadlines = self._suite_weight, self._suite_deadline
        if suite not in deadlines:
            # the estimates scale by how the suites so far compared with theirs (another
            # profile, a slower machine), never below 1
            done = [s for s in deadlines if s in self.item_seconds]
            estimated = sum(weights.get(s, 0.0) for s in done)
            actual = sum(self.item_seconds[s] for s in done)
            scale = max(1.0, actual / estimated) if estimated > 0 else 1.0
            later = scale * sum(w for s, w in weights.items() if s not in deadlines and s != suite)
            left = max(0.0, self.run_budget_s - elapsed)
            pooled = self._pooled_share(suite, elapsed, scale)
            fits = scale * weights.get(suite, 0.0) + later <= left
            if fits or suite not in ELASTIC_SUITES:
                deadlines[suite] = elapsed + max(left - RESERVE_SHARE * later, pooled)
            else:  # (an elastic suite of a run that does not fit: its share, no more)
                deadlines[suite] = elapsed + pooled
        deadline = deadlines[suite]
        if elapsed < deadline:
            return ""
        return (
            f"{BUDGET_CUT_PREFIX} ({self.run_budget_s:g} s; {deadline:.0f} s by the end of "
            "this suite) is spent"
        )

    def _pooled_share(self, suite: str, elapsed: float, scale: float = 1.0) -> float:
        """A suite's share of the time left when the run does not fit: the small fixed
        suites (run first) share FIXED_SUITES_SHARE of the budget, the elastic suites
        what is left, each pool by the suites' estimates; and a fixed suite at least its own
        estimate (scaled as the suites so far ran: ``scale``) while its pool lasts, so a
        small suite is not cut for the estimates of larger ones still to come (in a job
        that claims lineages, perhaps never to come here)."""
        weights, deadlines = self._suite_weight, self._suite_deadline
        elastic = suite in ELASTIC_SUITES
        pool_end = self.run_budget_s
        if not elastic and any(s in ELASTIC_SUITES for s in weights):
            pool_end *= FIXED_SUITES_SHARE
        waiting = [
            s
            for s in weights
            if s not in deadlines and s != suite and (elastic or s not in ELASTIC_SUITES)
        ]
        mine = weights.get(suite, 0.0)
        total = mine + sum(weights[s] for s in waiting)
        pool_left = max(0.0, pool_end - elapsed)
        share = pool_left * (mine / total if total > 0 else 1.0)
        return min(pool_left, share if elastic else max(share, scale * mine))

    # -- what is selected ---------------------------------------------------
    @property
    def has_results(self) -> bool:
        """Anything to write: case records or semantics rows."""
        return bool(self.records or self.semantics)

    def selects_problem(self, name: str) -> bool:
        """Whether --problems selects ``name`` (a user's problem: not in ``problem_names``)."""
        from toyad.bench.selection import matches

        return matches(self.problem_patterns, name)

    def entry(self, name: str) -> BackendEntry:
        """The selected backend ``name`` (loaded when a case first needs it)."""
        if name not in self._entries:
            self._entries[name] = BackendEntry.lazy(name, warm=self.timing)
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

    def instance(self, problem: str, n: int | None, m: int | None, preset: str = "") -> Any:
        """The seeded instance (cached: at most INSTANCE_CACHE_ITEMS instances and
        INSTANCE_CACHE_BYTES of arrays, least recently used first out; instances are
        cheap to rebuild, equal)

        ``preset`` names a size of a problem sized by options (a GradBench
        workload's description), or "tiny" for its smallest test size."""
        key = (problem, n, m, preset)
        if key in self._instances:
            self._instances[key] = self._instances.pop(key)  # most recently used last
            return self._instances[key]
        from toyad import problems

        sizes = {k: v for k, v in (("n", n), ("m", m)) if v is not None}
        chosen = problems.get(problem)
        if preset == "tiny":
            from toyad.workloads import TINY_OPTIONS

            sizes.update(TINY_OPTIONS[problem])
        elif preset:
            sizes.update(chosen.preset(preset).options)
        inst = chosen.instance(**sizes, seed=SEED)
        self._instances[key] = inst
        while len(self._instances) > 1 and (
            len(self._instances) > INSTANCE_CACHE_ITEMS
            or self._instances_bytes() > INSTANCE_CACHE_BYTES
        ):
            self._instances.pop(next(iter(self._instances)))
        return inst

    def reference(
        self, spec: CaseSpec, inst: Any, op: str, v: np.ndarray, u: np.ndarray
    ) -> Reference:
        """:func:`reference_of` this instance (``spec``'s problem, sizes and preset; v and u
        follow from them), once per run for a catalog problem while it fits the cache."""
        if getattr(inst.problem, "user", None) is not None:
            return reference_of(inst, op, v, u)
        key = (spec.problem, inst.n, inst.m, spec.preset, op)
        if key in self._references:
            self._references[key] = self._references.pop(key)  # most recently used last
            return self._references[key]
        ref = reference_of(inst, op, v, u)
        size = ref.value.nbytes if ref.value is not None else 0
        if size <= REFERENCE_CACHE_ENTRY_BYTES:
            self._references[key] = ref
            while _references_bytes(self._references) > REFERENCE_CACHE_BYTES:
                self._references.pop(next(iter(self._references)))
        return ref

    # -- records --------------------------------------------------------------
    def new_record(self, spec: CaseSpec, benchmark: Any = None) -> dict[str, Any]:
        """A case's record before it runs: its identity, and the condition it is timed
        under (garbage collection off), whether or not it is ever timed."""
        return blank_record(
            gc="off",
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
        if not self.outcomes:
            return
        if status in ("unsupported", "skipped-too-slow", "skipped-too-large"):
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
        self._journal_now()
        if self.journal is not None:
            self.journal.write("semantics", nodeid=self.current_nodeid, row=kept)

    # -- measuring ------------------------------------------------------------
    def first_call(self, benchmark: Any, call: Callable[[], Any]) -> tuple[Any, float]:
        """The warm-up call: untimed by pytest-benchmark when timing, its only run when not.

        gc off, as in the timed rounds: with it on, the collector walks every node an
        object-graph engine builds (the reverse toy on gmm: 2.1 s a call against 0.7 s),
        and this call's time decides the rounds and whether larger sizes run."""
        with gc_paused():
            start = time.perf_counter()
            result = call() if self.timing else benchmark.pedantic(call, rounds=1, iterations=1)
            return result, time.perf_counter() - start

    def measure(
        self, benchmark: Any, call: Callable[[], Any], first_s: float, budget_s: float | None = None
    ) -> Timing:
        """:meth:`_measure` in this job's exclusive turn (see toyad.bench.turns), after
        any pause for the machine's usual speed (outside the turn: the other jobs may time
        meanwhile)."""
        self._wait_for_usual_speed()
        with turns().exclusive():
            return self._measure(benchmark, call, first_s, budget_s)

    def _measure(
        self, benchmark: Any, call: Callable[[], Any], first_s: float, budget_s: float | None = None
    ) -> Timing:
        """Time ``call`` with benchmark.pedantic, gc off, rounds from the warm-up time.

        A warm-up over the cap gets one pedantic round; if that round shows the
        warm-up was a one-off (the round itself within the cap), the rounds are
        timed again here the same way (gc off), and the statistics come from
        those rounds; so too when the rounds' median asks for twice the rounds
        the warm-up chose.
        """
        budget = self.profile.budget_s if budget_s is None else budget_s
        cap = self.profile.time_cap_s
        rounds, iterations = choose_rounds(first_s, budget, self.profile, cap)
        before = self.speed.slowdown()
        start = time.perf_counter()
        with gc_paused():
            benchmark.pedantic(call, rounds=rounds, iterations=iterations, warmup_rounds=0)
        wall = time.perf_counter() - start
        st = benchmark.stats.stats
        timing = Timing(
            st.median, st.min, st.mean, st.iqr, st.stddev, st.rounds, iterations, list(st.data)
        )
        timing.wall_s = wall
        after = self.speed.slowdown()
        again = ""
        wanted, _ = choose_rounds(timing.median_s, budget, self.profile, cap)
        if first_s > cap and timing.median_s <= cap:
            again = "toyad (pytest-benchmark holds one round)"
        elif wanted >= 2 * timing.rounds:  # the warm-up time was a one-off: too few rounds
            again = "toyad (pytest-benchmark holds the rounds a one-off warm-up chose)"
        elif after > SLOW_FACTOR and before <= SLOW_FACTOR:
            # the machine slowed during the rounds: once more, when it is back (or not)
            again = "toyad (again: the machine slowed)"
        if again:  # own_timing probes around its own rounds
            benchmark.extra_info["rounds_timed_by"] = again
            again_timing = self.own_timing(call, timing.median_s, budget)
            again_timing.wall_s = (again_timing.wall_s or 0.0) + wall  # both sets of rounds
            return again_timing
        timing.machine_slowdown = max(before, after)
        return timing

    def _wait_for_usual_speed(self) -> float:
        """The speed probe before timing (see toyad.bench.speed); waits while the machine
        is slow, within WAIT_SHARE of the run budget in all (a job that went on in a fresh
        process: less what its earlier parts paused)."""
        share = max(0.0, WAIT_SHARE * self.run_budget_s - self.pause_carried_s)
        return self.speed.wait_until_usual(total_budget_s=share, while_paused=self.work_ahead)

    # -- work ahead (toyad.bench.ahead) -----------------------------------------
    def work_ahead(self) -> bool:
        """While this job waits (for its turn, or for the machine's usual speed): prepare
        the case of an item to come and make its first call; False when there is nothing
        to do. Never raises, and never stops the running case (its hard limit does not
        run meanwhile; a stop raised here is this work's, caught here)."""
        ahead = self.ahead
        if not self.timing or ahead.busy:
            return False
        chosen = ahead.candidate()
        if chosen is None:
            return self._load_ahead()
        nodeid, spec = chosen
        ahead.busy = True
        ahead.tried.add(nodeid)
        start = time.perf_counter()
        memory = ahead.memory_before()
        try:
            with clock_stopped():
                prepared = self._prepared_ahead(nodeid, spec)
            if prepared is not None:
                ahead.ready[nodeid] = prepared
                ahead.made += 1
        except Exception:  # (a check or an instance failed: the item meets it again)
            prepared = None
            ahead.stopped += 1
        finally:
            ahead.busy = False
            ahead.seconds += time.perf_counter() - start
        ahead.memory_after(memory, prepared)
        return True

    def _room_to_work_ahead(self) -> bool:
        """Work ahead only under half the memory limit (its stop must not meet it)."""
        return not self.max_rss_bytes or guards.rss_bytes() <= self.max_rss_bytes // 2

    def _load_ahead(self) -> bool:
        """Load (import, warm up) the next backend this job's items use that is not loaded
        yet; False if there is none. Not under a time limit: an import is not stopped
        half-way."""
        ahead = self.ahead
        if not self._room_to_work_ahead():
            return False  # (a memory stop must not meet an import half-way)
        for name in ahead.to_load:
            entry = self._entries.get(name)
            if entry is None or entry.loaded:
                continue
            ahead.busy = True
            start = time.perf_counter()
            memory = ahead.memory_before()
            try:
                with clock_stopped():
                    entry.load()  # (keeps its own failure as the backend's reason)
                ahead.loaded.append(name)
            finally:
                ahead.busy = False
                ahead.seconds += time.perf_counter() - start
            ahead.memory_after(memory, None)
            return True
        return False

    def _prepared_ahead(self, nodeid: str, spec: CaseSpec) -> Prepared | None:
        """The item's case prepared and first called now, or None where any check the
        item makes itself would not start it (see toyad.bench.ahead for what is not)."""
        from toyad.bench.suites import left_for_later

        entry = self._entries.get(spec.backend)
        if (
            entry is None
            or not entry.loaded
            or entry.backend is None
            or self.item_cost_s.get(nodeid, 0.0) > AHEAD_MAX_ITEM_S
            or self._measured.get(_measurement_of(spec)) is not None
            or left_for_later(self, spec)
        ):
            return None
        if not self._room_to_work_ahead():
            return None
        b, op = entry.backend, spec.operation
        if not b.supports(op, spec.mode or None) or numeric_unreliable(b.name, spec.problem, op):
            return None
        mode = spec.mode or b.default_mode(op)
        inst = self.instance(spec.problem, spec.n, spec.m, spec.preset)
        n, m = inst.n, inst.m
        key = (b.name, spec.problem, op, mode)
        size = (n, m, _instance_bytes(inst))
        if (op in SCALAR_ONLY and not inst.scalar) or key in self._refused:
            return None
        if self._judged_too_slow(b, spec, inst, key, size) or self._judged_too_large(b, key, size):
            return None
        record = {"passes": b.passes(op, mode, n, m), "strategy": None}
        with contextlib.suppress(Exception):
            record["strategy"] = b.strategy(op, mode)
        seconds = min(AHEAD_LIMIT_S, self.limit_for(spec) or AHEAD_LIMIT_S)
        limits = self.guard.ahead(f"work ahead: {spec.id}", seconds)
        prepared = None
        with limits:
            signal.setitimer(signal.ITIMER_REAL, seconds)  # (the guard's alarm stops it)
            try:
                if not self.predicted_too_slow(b, inst, op, record, spec.with_primal):
                    v, u = directions(n, m, inst.scalar)
                    counter = CallCounter(inst.f)
                    x_given = inst.x.copy()
                    start = time.perf_counter()
                    call = b.prepare(op, counter.f, inst.x, mode=mode, v=v, u=u)
                    prepare_s = time.perf_counter() - start
                    calls_before_first = counter.calls
                    native, first_s = timed_first_call(call)
                    prepared = Prepared(
                        nodeid, spec, inst, counter, x_given, call, prepare_s, native,
                        first_s, calls_before_first, self.deep_releases,
                    )  # fmt: skip
            except (Exception, guards.CaseAborted):  # (stopped here: limits.stopped says so)
                prepared = None  # (the item meets it again, and says what it was)
        if limits.stopped:
            self.ahead.stopped += 1
            return None
        return prepared

    def own_timing(
        self, call: Callable[[], Any], first_s: float, budget_s: float | None = None
    ) -> Timing:
        """Time ``call`` here, with the same round policy and gc off as :meth:`measure`
        (in this job's exclusive turn, after any pause for the machine's usual speed)."""
        self._wait_for_usual_speed()
        with turns().exclusive():
            return self._own_timing(call, first_s, budget_s)

    def _own_timing(
        self, call: Callable[[], Any], first_s: float, budget_s: float | None = None
    ) -> Timing:
        budget = self.profile.budget_s if budget_s is None else budget_s
        rounds, iterations = choose_rounds(first_s, budget, self.profile)
        before = self.speed.slowdown()
        samples = []
        wall_start = time.perf_counter()
        with gc_paused():
            for _ in range(rounds):
                start = time.perf_counter()
                for _ in range(iterations):
                    call()
                samples.append((time.perf_counter() - start) / iterations)
        wall = time.perf_counter() - wall_start
        q1, q3 = np.percentile(samples, [25, 75])
        return Timing(
            wall_s=wall,
            machine_slowdown=max(before, self.speed.slowdown()),
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
        """The primal's median in ``backend`` at this size (measured once per run); a primal
        over the time cap is not given rounds (seconds each): its call's time from
        :meth:`_primal_call`."""
        key = _primal_key(backend.name, inst)
        if key not in self._primal and self.timing:
            try:
                call, first = self._primal_call(backend, inst)
                if first > self.profile.time_cap_s:
                    self._primal[key] = first
                else:
                    self._primal[key] = self.own_timing(call, first).median_s
            except Exception:
                return None
            finally:
                self._primal_calls.pop(key, None)
        return self._primal.get(key)

    def _primal_call(self, b: backends.Backend, inst: Any) -> tuple[Callable[[], Any], float]:
        """The prepared primal of this instance and one call's seconds (for a framework, the
        steadier of two when the first is over the time cap: one-off costs such as eager
        kernels compiled per shape; the toy and peer engines, plain Python over numpy,
        have none); kept until :meth:`primal_seconds` uses it."""
        key = _primal_key(b.name, inst)
        if key not in self._primal_calls:
            call = b.prepare("primal", inst.f, inst.x)
            with gc_paused():  # as in the timed rounds
                start = time.perf_counter()
                call()
                seconds = time.perf_counter() - start
                if seconds > self.profile.time_cap_s and b.family in ONE_OFF_FIRST_CALLS:
                    start = time.perf_counter()
                    call()
                    seconds = min(seconds, time.perf_counter() - start)
            self._primal_calls[key] = (call, seconds)
            self._first_primal[key] = seconds
        return self._primal_calls[key]

    def predicted_too_slow(
        self, b: backends.Backend, inst: Any, op: str, record: dict[str, Any], with_primal: bool
    ) -> str:
        """Why a derivative case cannot fit, predicted from this backend's primal at this
        size before the case starts, or ''.

        - A derivative costs at least one primal: where the case times its primal anyway
          (``with_primal``, timed runs), a primal over the time cap means the case is too.
        - A backend that loops over passes or works per scalar operation (``strategy``
          loop / per-op, or a toy or peer engine) costs about ``passes`` primals a call:
          over GUARANTEED_TIMEOUT_FACTOR x the cap it is not started (the test command
          too: it checks the same backend, problem, operation and mode at a small size).
        """
        if op == "primal" or b.name == "analytic":
            return ""
        passes = record.get("passes") or 1
        loops = record.get("strategy") in ("loop", "per-op") or b.family in ("toy", "peer")
        cap = self.profile.time_cap_s
        check_primal = with_primal and self.timing
        if not check_primal and not (loops and passes > 1):
            return ""
        key = _primal_key(b.name, inst)
        if key not in self._first_primal and key in self._primal:
            self._first_primal[key] = self._primal[key]  # the primal's own case measured it
        if key not in self._first_primal:
            try:
                self._primal_call(b, inst)
            except Exception:
                self._first_primal[key] = 0.0
        primal = self._first_primal[key]
        if check_primal and primal > cap:
            self._primal[key] = primal
            return (
                f"skipped: one primal call takes {primal:.3g} s in this backend, over the "
                f"{cap:g} s cap, and a derivative costs at least one primal"
            )
        predicted = passes * primal
        limit = GUARANTEED_TIMEOUT_FACTOR * cap
        if not loops or predicted <= limit:
            return ""
        return (
            f"skipped: {passes} passes x {primal:.3g} s for one primal call in this backend "
            f"predict {predicted:.3g} s a call, over {GUARANTEED_TIMEOUT_FACTOR:g} x the "
            f"{cap:g} s cap"
        )

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
        after the first. Returns (the settled call time, calls made in all).

        None when the first call took the budget: the rounds are then the fewest
        (``min_rounds``) whatever the warm-up says, and their median sets aside a
        first round that still carried a one-off cost."""
        if first_s >= budget_s:
            return first_s, 1
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
        case are skipped. (Past the run budget, the plugin records items
        skipped-too-slow before they start: ``Harness.budget_spent``.)
        """
        benchmark.group = spec.group
        record = self.new_record(spec, benchmark)
        self._journal_now()
        if self.journal is not None:  # (a job ended over its memory line is told by it)
            self.journal.write("start", nodeid=self.current_nodeid, record=record)
        from toyad.bench.suites import left_for_later

        self.ahead.running_backend = spec.backend
        turns().while_waiting = self.work_ahead if self.timing else None
        same = self._measured.get(_measurement_of(spec)) if self.timing else None
        if same is not None:  # (one measurement, listed by two suites)
            record.update({k: v for k, v in same.items() if k not in SHARED_NOT})
            record["same_as"] = same["nodeid"]
            self.conclude(record, benchmark, same["status"], same["message"])
            return record
        reason = left_for_later(self, spec)
        if reason:  # recorded, never dropped
            entry = self.entry(spec.backend)
            record["family"] = entry.backend.family if entry.backend else ""
            self.conclude(record, benchmark, "skipped-too-slow", reason)
            return record
        self._warm_reference(spec)
        self.entry(spec.backend).load()  # (importing a framework is not the case's time)
        limit = self.max_rss_bytes
        if limit and guards.rss_bytes() > max(
            limit * 0.75, self._released_rss + DEEP_RELEASE_KEPT * limit
        ):  # near the limit, and grown since the last release: room first
            self.deep_release()
        guards.trim_heap()  # (what the case grows is then its own, not reused garbage)
        guards.reset_peak()
        rss_before = guards.rss_bytes()
        self.ahead.case_started()  # (what work ahead grows meanwhile is not this case's)
        cached_before = self._cached_bytes()
        case_start = time.perf_counter()
        try:
            with self.guard.limits(self.limit_for(spec), spec.id):
                status, message = self._run(benchmark, spec, record)
            if self.guard.fired is not None and status == "error":
                # the stop was raised inside a library callback, which re-wrapped it
                raise self.guard.fired
        except guards.CaseAborted as exc:
            status = "skipped-too-slow" if exc.kind == "time" else "skipped-too-large"
            message = exc.reason
            del exc
            if status == "skipped-too-large" and self._room_made_for(spec, benchmark, rss_before):
                return self.run_case(benchmark, spec)  # once: earlier cases' caches held it
            key = (spec.backend, spec.problem, spec.operation, record.get("mode") or spec.mode)
            if record.get("n") is not None and record.get("m") is not None:
                inst = self.instance(spec.problem, spec.n, spec.m, spec.preset)
                size = (record["n"], record["m"], _instance_bytes(inst))
                self.slow.note(key, *size[:2], math.inf, size[2])
                if status == "skipped-too-large":
                    self._too_large.setdefault(key, []).append(size)
                if self.timing:  # a preset of the same n, m but more data: not started
                    why = f"was stopped at a hard limit ({status})"
                    self._stopping_sizes.setdefault(key, []).append((size, why))
            guards.release_memory()
        except Exception as exc:  # a failure outside the backend still leaves a record
            status, message = "error", f"harness: {type(exc).__name__}: {exc}"
        record["wall_s"] = time.perf_counter() - case_start
        self._primal_calls.clear()  # (a case that ended early leaves its prepared primal)
        peak = self.ahead.case_peak(guards.peak_rss_bytes())
        record["rss_peak_bytes"] = peak
        if record.get("n") is not None and record.get("m") is not None:
            key = (spec.backend, spec.problem, spec.operation, record.get("mode") or spec.mode)
            grown = self.ahead.case_growth(max(0, peak - rss_before))
            self.slow.note_memory(key, record["n"], record["m"], grown)
        start = time.perf_counter()
        # (the instances and references this case added to the caches are the harness's,
        # kept for the next cases: not what the case kept)
        self.release_after(
            spec.backend,
            rss_before + self._cached_bytes() - cached_before + self.ahead.grown_in_case,
        )
        record["release_s"] = time.perf_counter() - start
        self.conclude(record, benchmark, status, message)
        if status in SHARED_STATUSES and spec.n is not None and spec.m is not None:
            self._measured[_measurement_of(spec)] = record
        return record

    def _instances_bytes(self) -> int:
        """The arrays of the cached instances."""
        return sum(map(_instance_bytes, self._instances.values()))

    def _cached_bytes(self) -> int:
        """The arrays of the cached instances and references."""
        return self._instances_bytes() + _references_bytes(self._references)

    def _room_made_for(self, spec: CaseSpec, benchmark: Any, rss_before: int) -> bool:
        """After a case stopped at the memory limit: release every cache, and say whether
        the case should run once more (the release freed MEMORY_RETRY_BYTES below where
        the case started, it was not retried already, nothing was timed yet)."""
        if spec.id in self._memory_retried or getattr(benchmark, "_mode", None):
            return False
        self._memory_retried.add(spec.id)
        self.deep_release()
        return guards.rss_bytes() <= rss_before - MEMORY_RETRY_BYTES

    @property
    def _memory_limit(self) -> int:
        """The memory limit the release rules judge by (the default where none is set)."""
        return self.max_rss_bytes or int(DEFAULT_MAX_RSS_GIB * 2**30)

    def needs_fresh_process(self, spec: CaseSpec | None = None) -> bool:
        """Before an item of a job its controller can restart: whether the item should
        run in a fresh process instead, because this one is over RESTART_FRACTION of the
        memory limit even after releasing every cache (never before this process's first
        item: a fresh process always gets one) and the item's case (``spec``) is not
        known to fit here: what smaller sizes of it grew, scaled to its size, plus
        RESTART_MARGIN_BYTES under the limit (a restart costs a start-up and every
        cache; most items after a large one are small)."""
        if not self.restartable or not self.item_counts:
            return False
        over = guards.rss_bytes() > RESTART_FRACTION * self._memory_limit
        if not self.restart_wanted and over:
            self.deep_release()  # (says restart_wanted if that gives too little back)
        if not self.restart_wanted:
            return False
        need = self.memory_need(spec) if spec is not None else None
        return need is None or guards.rss_bytes() + need + RESTART_MARGIN_BYTES > (
            self._memory_limit
        )

    def memory_need(self, spec: CaseSpec) -> float | None:
        """What ``spec``'s case is expected to add to this process's resident set (0: a
        case that runs nothing here), or None when unknown (see SlowRegistry.memory_need)."""
        from toyad.bench.suites import left_for_later

        try:
            b = self.entry(spec.backend).backend
            op = spec.operation
            if b is None or left_for_later(self, spec) or not b.supports(op, spec.mode or None):
                return 0.0
            mode = spec.mode or b.default_mode(op)
            inst = self.instance(spec.problem, spec.n, spec.m, spec.preset)
            key = (b.name, spec.problem, op, mode)
            return self.slow.memory_need(key, inst.n, inst.m, _memory_weight_of(b, op, mode))
        except Exception:
            return None

    def deep_release(self) -> None:
        """Every backend made in this process (the harness's, and any other code's in it,
        such as the unit tests beside the suites in the test command) drops its
        process-wide caches; garbage is collected and free heap pages go back to the OS."""
        # (a harness's entries may hold backends not made by backends.get)
        backends.release_all(e.backend for e in self._entries.values() if e.loaded and e.backend)
        guards.release_memory()
        self.deep_releases += 1
        self._released_rss = guards.rss_bytes()
        if self.restartable and self._released_rss > RESTART_FRACTION * self._memory_limit:
            self.restart_wanted = (
                f"{self._released_rss / 2**30:.2f} GiB resident after releasing every cache "
                f"(the allocators keep what they freed; the first case left "
                f"{(self._baseline_rss or 0) / 2**30:.2f} GiB)"
            )

    def release_between_tests(self) -> None:
        """In a run that times nothing (the test command: long-lived workers that never
        restart), after any test: every backend drops its caches once the process is
        over half the memory limit and DEEP_RELEASE_DRIFT of it above where the last
        release left it. The frameworks cache every function the unit tests build
        (JAX its executables, TensorFlow its graphs): unreleased, a worker grew to
        4.8 GiB, and the suites' cases after it were not started, over the limit."""
        if self._drifted(guards.rss_bytes(), self._released_rss):
            self.deep_release()

    def _drifted(self, rss: int, floor: int) -> bool:
        """Whether a process at ``rss`` is over half the memory limit and
        DEEP_RELEASE_DRIFT of it above ``floor`` (where it last stood released)."""
        limit = self._memory_limit
        return rss > max(limit // 2, floor + DEEP_RELEASE_DRIFT * limit)

    def release_after(self, backend: str, rss_before: int | None = None) -> None:
        """After a case: the backend drops the case's builds; process-wide caches
        (compiled executables that later cases of the same shapes reuse) and garbage
        go too when the case kept DEEP_RELEASE_KEPT of the memory limit resident
        (``rss_before``: where it started), or the process is DEEP_RELEASE_DRIFT of the
        limit above where the first case ended or the last deep release left it (and
        over half the limit). A collection with the frameworks loaded costs ~0.2 s, and
        recompiling what a release dropped more: after every case it was most of a quick
        run's time."""
        entry = self._entries.get(backend)
        if entry is not None and entry.backend is not None:
            with contextlib.suppress(Exception):
                entry.backend.release(framework_caches=False)
        limit = self._memory_limit
        rss = guards.rss_bytes()
        if self._baseline_rss is None:
            self._baseline_rss = rss
        kept = rss - rss_before if rss_before is not None else 0
        drifted = self._drifted(rss, max(self._baseline_rss, self._released_rss))
        if kept > DEEP_RELEASE_KEPT * limit or drifted:
            self.deep_release()

    def _data_bytes_of(self, record: dict[str, Any]) -> int | None:
        """The input and constants' bytes of a record's instance (None if it cannot be made)."""
        preset = record.get("preset") or ""
        try:
            sizes = (None, None) if preset else (record.get("n"), record.get("m"))
            return _instance_bytes(self.instance(record["problem"], *sizes, preset))
        except Exception:
            return None

    def larger_than_too_large(self, key: tuple, size: tuple[int, int, int | None]) -> str:
        """Why a size is not started because a smaller (or equal) one of the same case was
        judged too large for memory; '' if none was."""
        for n0, m0, d0 in self._too_large.get(key, ()):
            if _no_larger((n0, m0, d0), size):
                return (
                    f"skipped: the smaller size n={n0}, m={m0} was too large for the memory "
                    "limit: larger ones are not started"
                )
        return ""

    def _slow_to_prepare(
        self, key: tuple, size: tuple[int, int, int], same_size: bool = False
    ) -> str:
        """Why a size is not started because a smaller one (smaller n, m or data: a
        preset) took over GUARANTEED_TIMEOUT_FACTOR x the cap to prepare, or was stopped
        at a hard limit; '' if none was. A compile runs in C, where the hard limits cannot
        stop it (an unrolled loop compiled by XLA grew past 15 GiB at the next size).
        ``same_size``: the same size counts too (``key`` is the primal a derivative
        compiles inside itself)."""
        for smaller, why in self._stopping_sizes.get(key, ()):
            if (same_size or not _no_larger(size, smaller)) and _no_larger(smaller, size):
                n0, m0, _ = smaller
                return (
                    f"skipped: a smaller case (n={n0}, m={m0}) {why}: larger ones are not started"
                )
        return ""

    def _warm_reference(self, spec: CaseSpec) -> None:
        """A user problem's reference by agreement, computed (once) outside the case's limits."""
        from toyad import problems

        try:
            if getattr(problems.get(spec.problem), "user", None) is None:
                return
            inst = self.instance(spec.problem, spec.n, spec.m, spec.preset)
            v, u = directions(inst.n, inst.m, inst.scalar)
            reference_of(inst, spec.operation, v, u)
        except Exception:  # the case itself meets (and records) whatever went wrong
            return

    def _judged_too_slow(
        self, b: backends.Backend, spec: CaseSpec, inst: Any, key: tuple, size: tuple
    ) -> str:
        """Why a case is not started as too slow from what earlier cases showed (a smaller
        size over the cap or slow to prepare; where it times its primal, the primal's), or
        ''."""
        n, m, data = size
        too_slow = self.slow.verdict(key, n, m, data) or self._slow_to_prepare(key, size)
        if not too_slow and spec.with_primal and self.timing:  # the primal is compiled too
            with contextlib.suppress(Exception):
                primal_key = (b.name, spec.problem, "primal", b.default_mode("primal"))
                too_slow = self._slow_to_prepare(primal_key, size, same_size=True)
                if not too_slow and _primal_key(b.name, inst) not in self._primal:
                    # the primal's own case judged too slow: a derivative costs at least one
                    primal_verdict = self.slow.verdict(primal_key, n, m, data)
                    if primal_verdict:
                        why = primal_verdict.removeprefix("skipped: ")
                        too_slow = f"skipped: its primal is judged too slow at this size ({why})"
        return too_slow

    def _judged_too_large(self, b: backends.Backend, key: tuple, size: tuple) -> str:
        """Why a case is not started as too large for the memory left (a smaller size was,
        or its growth scaled to this size is), or ''."""
        if not self.max_rss_bytes:
            return ""
        room = self.max_rss_bytes - guards.rss_bytes()
        _, _, op, mode = key  # (backend, problem, operation, mode)
        return self.larger_than_too_large(key, size) or self.slow.memory_verdict(
            key, size[0], size[1], room, _memory_weight_of(b, op, mode)
        )

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
        unreliable = numeric_unreliable(b.name, spec.problem, op)
        if unreliable:
            return "unsupported", f"{b.name}: {unreliable}"
        strategy = getattr(b, "strategy", None)
        if strategy is not None:
            with contextlib.suppress(Exception):
                record["strategy"] = strategy(op, mode)

        inst = self.instance(spec.problem, spec.n, spec.m, spec.preset)
        n, m = inst.n, inst.m
        record.update(n=n, m=m, passes=b.passes(op, mode, n, m), preset=spec.preset)
        if self.journal is not None:  # the start again, with the sizes
            self.journal.write("start", nodeid=self.current_nodeid, record=record)
        if op in SCALAR_ONLY and not inst.scalar:
            return "unsupported", f"{op} needs a scalar-valued problem; {spec.problem} has m={m}"
        key = (b.name, spec.problem, op, mode)
        refused = self._refused.get(key)
        if refused is not None:  # (micrograd built a 1024 x 1024 graph to find it out: 40 s)
            n0, m0, why = refused
            return "unsupported", (
                f"{why} (as at n={n0}, m={m0}: what a backend cannot express does not "
                "depend on the size)"
            )
        size = (n, m, _instance_bytes(inst))  # (a preset may differ in its data alone)
        too_slow = self._judged_too_slow(b, spec, inst, key, size)
        if too_slow:
            return "skipped-too-slow", too_slow
        try:
            start = time.perf_counter()
            too_slow = self.predicted_too_slow(b, inst, op, record, spec.with_primal)
            record["primal_timing_s"] = time.perf_counter() - start
        finally:
            if not (spec.with_primal and self.timing):  # (else primal_seconds uses it)
                self._primal_calls.pop(_primal_key(b.name, inst), None)
        if too_slow:
            self.slow.note(key, n, m, math.inf, size[2])
            return "skipped-too-slow", too_slow
        too_large = self._judged_too_large(b, key, size)
        if too_large:
            self._too_large.setdefault(key, []).append(size)
            return "skipped-too-large", too_large

        v, u = directions(n, m, inst.scalar)
        start = time.perf_counter()
        ref = self.reference(spec, inst, op, v, u)
        record["reference_s"] = time.perf_counter() - start
        record["reference"] = ref.kind
        expected = ref.value
        if expected is None and not ref.problem:
            return "unsupported", f"problem {spec.problem} has no analytic {op} to check against"
        if expected is not None:  # (none: a finding; the case is run and timed all the same)
            per_op = record.get("strategy") == "per-op"
            tolerance = tolerance_for(b.name, spec.problem, op, inst, per_op)
            if b.name.startswith("numeric-") and op in ("jvp", "vjp"):
                tolerance *= product_condition(inst, op, v, u)
            if ref.tolerance is not None:
                tolerance = max(tolerance, ref.tolerance)
            record["tolerance"] = tolerance

        ahead = self.ahead.take(self.current_nodeid, spec, inst, self.deep_releases)
        if ahead is not None:  # prepared and first called while an earlier item waited
            benchmark.extra_info["worked_ahead"] = True
            self.ahead.taken = ahead  # (its build's memory is this case's: case_growth)
            counter, x_given, call = ahead.counter, ahead.x_given, ahead.call
            record["prepare_s"] = ahead.prepare_s
        else:
            counter = CallCounter(inst.f)
            x_given = inst.x.copy()  # (a backend must not write into its input)
            start = time.perf_counter()
            try:
                call = b.prepare(op, counter.f, inst.x, mode=mode, v=v, u=u)
            except backends.UnsupportedOperation as exc:
                self._refused[key] = (n, m, str(exc))
                return "unsupported", str(exc)
            except TooExpensive as exc:  # the backend's own cap: like a smaller size over ours
                self.slow.note(key, n, m, math.inf, size[2])
                return "skipped-too-slow", str(exc)
            except Exception as exc:
                return "error", f"prepare raised {type(exc).__name__}: {exc}"
            record["prepare_s"] = time.perf_counter() - start
        if (
            self.timing
            and record["prepare_s"] > GUARANTEED_TIMEOUT_FACTOR * self.profile.time_cap_s
        ):
            why = _slow_prepare_reason(record["prepare_s"], self.profile.time_cap_s)
            self._stopping_sizes.setdefault(key, []).append((size, why))
        calls_before_warmup = ahead.calls_before_first if ahead is not None else counter.calls
        try:
            if ahead is not None:
                native, first_s = ahead.native, ahead.first_s
            else:
                native, first_s = self.first_call(benchmark, call)
            if _is_sync_pending(native):
                return "error", "the prepared call returned before its result was computed"
            result = b.to_numpy(native)
        except TooExpensive as exc:
            self.slow.note(key, n, m, math.inf, size[2])
            return "skipped-too-slow", str(exc)
        except Exception as exc:
            return "error", f"{type(exc).__name__}: {exc}"
        benchmark.extra_info["first_call_s"] = first_s
        record["first_call_s"] = first_s
        benchmark.extra_info["f_calls_first_call"] = counter.calls - calls_before_warmup
        if not np.array_equal(inst.x, x_given, equal_nan=True):
            inst.x[...] = x_given  # (the instance is reused by later cases)
            return "wrong", "the prepared call wrote into its input x"

        if expected is None:
            status, message = "error", f"no reference: {ref.problem}"
        else:
            try:
                scale = inst.value_scale() if op == "primal" else 0.0
                error = max_rel_error(result, expected, scale)
            except ShapeMismatch as exc:
                return "wrong", str(exc)
            record["max_rel_error"] = error
            status = status_for(error, tolerance)
            message = (
                ""
                if status == "ok"
                else f"max relative error {error:.3g} over tolerance {tolerance:g}"
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
                    stddev_s=0.0, rounds=1, samples_s=[first_s],
                )  # fmt: skip
            note = (
                f"timed once: the first call took {first_s:.3g} s, over the {hard_limit:g} s "
                "hard limit (one-off first-call costs included"
                + ("; garbage collection on)" if gc.isenabled() else ")")
            )
            message = f"{message}; {note}" if message else note
        elif first_s > cap and not self.timing and spec.suite in ONE_SIZE_SUITES:
            steady_s = None  # (what a call costs decides larger sizes: this suite has none)
        elif first_s > cap and not self.timing:  # (when timing, measure() confirms it)
            try:
                start = time.perf_counter()
                call()
                steady_s = time.perf_counter() - start
            except Exception as exc:
                return "error", f"second call: {type(exc).__name__}: {exc}"
            benchmark.extra_info["second_call_s"] = steady_s
        elif self.timing and first_s <= cap:  # warm up until successive calls agree
            # (over the cap, the one timed round is the second call: measure() times the
            # rounds again if it shows the first call was a one-off)
            try:
                start = time.perf_counter()
                steady_s, record["warmup_calls"] = self.settle(call, first_s, budget)
                record["warmup_s"] = time.perf_counter() - start
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
            # (torch.compile replays f's Python side effects without running f: its
            # count says nothing, so it is not judged by it)
            if b.variant in ("jit", "function", "xla") and traced:
                return "error", (
                    f"f ran {traced} times in Python during {timing.rounds} timed rounds: "
                    f"the {b.variant} adapter retraces, so timings include tracing"
                )
            if op == "primal":  # (its median is the primal's: not timed again)
                self._primal[_primal_key(b.name, inst)] = timing.median_s
                record.update(primal_s=timing.median_s, ratio_to_primal=1.0)
                if spec.with_primal:
                    self._net_ratio(record, b, inst.x, timing.median_s, timing.median_s)
            elif spec.with_primal:
                start = time.perf_counter()
                primal = self.primal_seconds(b, inst, spec.problem)
                record["primal_timing_s"] += time.perf_counter() - start
                record["primal_s"] = primal
                if primal:
                    record["ratio_to_primal"] = timing.median_s / primal
                    self._net_ratio(record, b, inst.x, timing.median_s, primal)
        del call
        if steady_s is None:
            return status, message
        self.slow.note(key, n, m, steady_s, size[2])
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
