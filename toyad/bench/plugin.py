"""The toyad pytest plugin: options, the ``toyad_harness`` fixture, run journal and report.

Registered through the ``pytest11`` entry point (as pytest-benchmark is), so
it is active wherever toyad is installed:

    pytest benchmarks --benchmark-only                 # quick profile, report in reports/
    pytest bench_mine.py --benchmark-only --profile full --backends 'jax-*,tensor'
    pytest tests benchmarks --benchmark-disable        # each case once: accuracy as tests

Options: ``--backends`` and ``--problems`` (comma-separated names or fnmatch
globs; a pattern naming nothing is a usage error listing the known names),
``--profile quick|full``, ``--report-dir`` (default ``reports/`` under the
rootdir; under ``--benchmark-disable`` a report is written only if it is
given), ``--resume RUN``, ``--hard-limit-s``, ``--max-rss-gib``.
pytest-benchmark's own options keep working; its JSON (``--benchmark-json``,
``--benchmark-save``) carries the ``toyad`` object too.

In a pytest run that records no toyad case the plugin does nothing: no run
folder, no journal, no report (the folder is made at the first record).
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from toyad import backends, runtime
from toyad.bench.ahead import AHEAD_ITEMS
from toyad.bench.claims import Claims, ClaimsError, claim_order, job_share
from toyad.bench.environment import environment
from toyad.bench.harness import (
    DEFAULT_MAX_RSS_GIB,
    ELASTIC_SUITES,
    HARNESS,
    WORKLOAD_KEY_BACKENDS,
    CaseSpec,
    Harness,
    blank_record,
    harness_of,
)
from toyad.bench.jobs import MAX_AUTO_JOBS, RESTARTABLE_ENV, JobsError, parse_jobs
from toyad.bench.journal import JOURNAL_NAME
from toyad.bench.measure import freeze_heap
from toyad.bench.profiles import DEFAULT_PROFILE, PROFILES
from toyad.bench.publish import (
    budget_cut_line,
    build_run,
    failing_line,
    start_journal,
    summary_line,
    toyad_object,
    write_run,
)
from toyad.bench.selection import SelectionError, select_names, unmatched
from toyad.bench.shard import (
    SHARD_BY,
    ShardError,
    item_costs,
    lineage_of,
    measured_costs,
    parse_shard,
    profile_costs,
    select_shard,
    spec_of,
)
from toyad.bench.turns import turns
from toyad.bench.user import (  # noqa: F401  (hooks: a user's function as suites)
    pytest_generate_tests,
    pytest_pycollect_makeitem,
)

EXPLICIT_REPORT_DIR = pytest.StashKey[bool]()
JOBS = pytest.StashKey[int]()  # --jobs, as parsed (1 where a run is one process anyway)
JOBS_OUTCOME = pytest.StashKey[Any]()  # the controller's JobsOutcome
CLUSTER = pytest.StashKey[Any]()  # --dask: the ClusterOutcome (shards, missing, published)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("toyad", "toyad benchmark harness")
    group.addoption(
        "--backends",
        default=None,
        help="comma-separated backend names or globs (e.g. 'jax-*,tensor'); default: all",
    )
    group.addoption(
        "--problems",
        default=None,
        help="comma-separated problem names or globs; default: all",
    )
    group.addoption(
        "--profile",
        default=DEFAULT_PROFILE,
        choices=sorted(PROFILES),
        help="quick (default: small grid, minutes) or full (the whole grid)",
    )
    group.addoption(
        "--continue-after",
        action="append",
        default=None,
        metavar="RUN",
        help="run what the run journaled in RUN did not finish, as a run of its own "
        "(how a job of --jobs goes on in a fresh process; repeat for several runs)",
    )
    group.addoption(
        "--resume",
        default=None,
        metavar="RUN",
        help="continue the run journaled in the folder RUN (one that was killed or "
        "stopped): items it finished are not run again; the report is completed there",
    )
    group.addoption(
        "--max-rss-gib",
        type=float,
        default=float(os.environ.get("TOYAD_MAX_RSS_GIB", DEFAULT_MAX_RSS_GIB)),
        help="stop a case that drives the process's resident memory past this many GiB "
        "(recorded skipped-too-large); default %(default)s (TOYAD_MAX_RSS_GIB)",
    )
    group.addoption(
        "--hard-limit-s",
        type=float,
        default=None,
        help="stop a case (prepare, warm-up, rounds) after this many seconds, recorded "
        "skipped-too-slow; default: 20 x the profile's time cap",
    )
    group.addoption(
        "--run-budget-s",
        type=float,
        default=None,
        help="the whole run's wall-clock budget in seconds, shared among the suites; past "
        "a suite's share its remaining items are recorded skipped-too-slow unrun "
        "(default: the profile's: "
        + ", ".join(f"{p.name} {p.run_budget_s:g}" for p in PROFILES.values())
        + ")",
    )
    group.addoption(
        "--shard",
        default=None,
        metavar="K/N",
        help="run the K-th of N disjoint parts of the selection (whole cells: every backend "
        "of a problem/operation/size together), balanced by expected cost",
    )
    group.addoption(
        "--shard-costs",
        default=None,
        metavar="RUN",
        help="balance --shard/--dask by the case wall times of this earlier run "
        "(default: an estimate from suite and size)",
    )
    group.addoption(
        "--dask",
        default=None,
        metavar="ADDRESS",
        help="run the selection as shards on a dask.distributed cluster (scheduler ADDRESS, "
        "or local:K for a LocalCluster of K one-shard workers), merged into one run",
    )
    group.addoption(
        "--dask-shards",
        type=int,
        default=None,
        metavar="N",
        help="how many shards --dask splits the selection into (default: one per worker)",
    )
    group.addoption(
        "--jobs",
        default=os.environ.get("TOYAD_JOBS", "auto"),
        metavar="N|auto",
        help="a timed run as N processes on this machine, one per CPU, taking turns to "
        "time (toyad.bench.jobs); auto (default, TOYAD_JOBS): one per "
        f"CPU, at most {MAX_AUTO_JOBS}, for a selection of {AUTO_JOBS_MIN_ITEMS}+ timed items",
    )
    group.addoption(
        "--shard-by",
        default="cell",
        choices=SHARD_BY,
        help="how --shard deals items: cell (every backend of a size in one shard: "
        "machines), lineage (every size of a backend's case in one shard) or claim (a "
        "run's jobs claim lineages as they go: toyad.bench.claims)",
    )
    group.addoption(
        "--no-report-page",
        action="store_true",
        default=False,
        help="write the run's JSON, journal and CSVs but not its HTML page (a run's jobs: "
        "the controller writes the page of their merged run)",
    )
    group.addoption(
        "--report-dir",
        default=None,
        help="where run folders and 'latest' go (default: reports/; under "
        "--benchmark-disable no report is written unless this is given)",
    )


def pytest_configure(config: pytest.Config) -> None:
    from toyad import problems

    try:
        backend_names = select_names(config.getoption("backends"), backends.names(), "backend")
        # not strict: a pattern may name a problem a test module declares (toyad.problem)
        problem_names = select_names(
            config.getoption("problems"), problems.names(), "problem", strict=False
        )
    except SelectionError as exc:
        raise pytest.UsageError(str(exc)) from None
    report_dir = config.getoption("report_dir")
    resume = config.getoption("resume")
    config.stash[EXPLICIT_REPORT_DIR] = report_dir is not None or resume is not None
    max_rss = config.getoption("max_rss_gib")
    h = Harness(
        profile=PROFILES[config.getoption("profile")],
        backend_names=backend_names,
        problem_names=problem_names,
        report_dir=Path(report_dir) if report_dir else Path(config.rootpath) / "reports",
        max_rss_bytes=int(max_rss * 2**30) if max_rss and max_rss > 0 else None,
        hard_limit_s=config.getoption("hard_limit_s"),
        run_budget_override=config.getoption("run_budget_s"),
        problem_patterns=config.getoption("problems"),
    )
    if resume is not None:
        folder = Path(resume)
        if not (folder / JOURNAL_NAME).is_file():
            raise pytest.UsageError(f"--resume {resume}: no run journal (journal.jsonl) there")
        try:
            h.resume(folder)
        except SelectionError as exc:
            raise pytest.UsageError(str(exc)) from None
    after = config.getoption("continue_after") or []
    if after and resume is not None:
        raise pytest.UsageError("--continue-after and --resume: one or the other")
    for done in after:
        if not (Path(done) / JOURNAL_NAME).is_file():
            raise pytest.UsageError(f"--continue-after {done}: no run journal (journal.jsonl)")
        try:
            h.continue_after(Path(done))
        except SelectionError as exc:
            raise pytest.UsageError(str(exc)) from None
    h.restartable = os.environ.get(RESTARTABLE_ENV) == "1"
    if h.restartable:
        config.pluginmanager.register(FreshProcessGate(h), "toyad-fresh-process-gate")
    shard = config.getoption("shard")
    if shard is not None:
        if config.getoption("dask"):
            raise pytest.UsageError("--shard and --dask: --dask makes the shards itself")
        try:
            parse_shard(shard)
        except ShardError as exc:
            raise pytest.UsageError(str(exc)) from None
        h.shard = shard.strip().replace(" ", "")
        h.shard_by = config.getoption("shard_by")
        if h.shard_by == "claim":
            try:
                h.claims = Claims.from_env(owner=str(parse_shard(h.shard)[0]))
            except ClaimsError as exc:
                raise pytest.UsageError(str(exc)) from None
            # (after the fresh-process gate: an item another job runs never restarts this one)
            config.pluginmanager.register(ClaimGate(h), "toyad-claim-gate")
    try:
        jobs = parse_jobs(config.getoption("jobs"))
    except JobsError as exc:
        raise pytest.UsageError(str(exc)) from None
    # jobs are for a whole run started here: a shard, a cluster or a resumed run is one process
    one = shard or config.getoption("dask") or resume or after
    config.stash[JOBS] = 1 if one else jobs
    if config.getoption("dask"):
        if resume is not None:
            raise pytest.UsageError("--resume and --dask: resume a shard's run folder on its own")
        from toyad.bench.cluster import ClusterError, check_dask

        try:
            check_dask(config.getoption("dask"))
        except ClusterError as exc:
            raise pytest.UsageError(str(exc)) from None
    config.stash[HARNESS] = h


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    bench = getattr(config, "_benchmarksession", None)
    h = harness_of(config)
    h.timing = not (bench is None or bench.disabled)
    if h.timing:  # one CPU for every thread: see toyad.runtime (TOYAD_CPU=none: unpinned)
        try:
            runtime.pin_cpu(parse_shard(h.shard)[0] - 1 if h.shard else -1)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
    if h.journal is None and (h.timing or config.stash[EXPLICIT_REPORT_DIR]):
        root = Path(config.rootpath)
        h.journal_opener = lambda: start_journal(h, root)  # at the first record, not before


@pytest.hookimpl(trylast=True)  # after -k/-m: a shard is a part of what is selected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--problems names known problems; --shard keeps its part; a resumed run does not run
    again what it finished."""
    from toyad import problems, userproblems

    h = harness_of(config)
    known = problems.names() + [n for n in userproblems.REGISTRY if n not in problems.PROBLEMS]
    bad = unmatched(h.problem_patterns, known)
    if bad:
        raise pytest.UsageError(f"unknown problem {bad[0]!r}; known problems: {', '.join(known)}")
    measured = None
    if h.shard:
        try:
            costs = config.getoption("shard_costs")
            measured = measured_costs(costs) if costs else profile_costs(h.profile.name)
        except ShardError as exc:
            raise pytest.UsageError(str(exc)) from None
        h.item_cost_s = dict(measured or {})
    if h.shard and h.claims is None:
        kept, dropped = select_shard(
            items, [suite_of(i) for i in items], parse_shard(h.shard), measured, h.shard_by
        )
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept
    if h.timing:
        second = bool(h.shard) and parse_shard(h.shard)[0] % 2 == 0
        ordered = in_run_order(items, fixed_reversed=second)
        if h.claims is not None:
            items[:] = _in_claim_order(h, ordered, measured)
        else:
            items[:] = interleave_backends(ordered)
        _cap_plain_benchmarks(config, h, items)
        specs = (spec_of(item) for item in items)  # (loaded ahead in this order: a wait's work)
        h.ahead.to_load = list(dict.fromkeys(spec.backend for spec in specs if spec is not None))
    if not h.resumed:
        return
    done = [item for item in items if item.nodeid in h.resumed]
    if done:
        config.hook.pytest_deselected(items=done)
        items[:] = [item for item in items if item.nodeid not in h.resumed]


# A timed run's suites, in the order they run: the small fixed suites first, then the
# elastic ones (ELASTIC_SUITES), whose tails a run budget that cuts would cut.
# Suites not named here run between the two groups, in their collected order.
RUN_ORDER_FIRST = (
    "semantics",
    "per-op",
    "scalar-engines",
    "tensor-speed",
    "convenience",
    "nested",
    "memory",
    "hessians",
    "overhead",
    "step-sweep",
)
RUN_ORDER_LAST = ELASTIC_SUITES


def in_run_order(items: list[pytest.Item], fixed_reversed: bool = False) -> list[pytest.Item]:
    """Items grouped by suite in RUN_ORDER_FIRST, others, RUN_ORDER_LAST order (stable).

    ``fixed_reversed``: RUN_ORDER_FIRST backwards, for every second job of a run (see
    toyad.bench.jobs): the plain pytest-benchmark suites time throughout their items, one
    job at a time, so two jobs that started on them together ran one after the other;
    reversed, one job's plain suites meet the other's harness cases, whose untimed work
    runs beside them."""
    first = RUN_ORDER_FIRST[::-1] if fixed_reversed else RUN_ORDER_FIRST

    def rank(item: pytest.Item) -> int:
        suite = suite_of(item)
        if suite in first:
            return first.index(suite)
        if suite in RUN_ORDER_LAST:
            return len(RUN_ORDER_FIRST) + 1 + RUN_ORDER_LAST.index(suite)
        return len(RUN_ORDER_FIRST)

    return sorted(items, key=rank)


def interleave_backends(items: list[pytest.Item]) -> list[pytest.Item]:
    """Within each suite, the backends take turns: the k-th case of every backend
    runs before the (k+1)-th of any (each backend keeps its own order: smaller
    sizes first, both modes of a cell together). A timed run that reaches its
    budget mid-suite then loses the tail of every backend alike, never the
    backends that happen to come last (which were jax and torch). In the
    workloads suite the key backends (WORKLOAD_KEY_BACKENDS) take every workload
    before the others start."""
    out: list[pytest.Item] = []
    block: list[pytest.Item] = []

    def flush() -> None:
        turn: dict[str, int] = {}
        keyed = []
        for index, item in enumerate(block):
            spec = spec_of(item)
            backend = spec.backend if spec is not None else ""
            later = suite_of(item) == "workloads" and not key_workload(item)
            keyed.append(((later, turn.get(backend, 0), index), item))
            turn[backend] = turn.get(backend, 0) + 1
        out.extend(item for _, item in sorted(keyed, key=lambda pair: pair[0]))
        block.clear()

    for item in items:
        if block and suite_of(item) != suite_of(block[-1]):
            flush()
        block.append(item)
    flush()
    return out


def key_workload(item: pytest.Item) -> bool:
    """A workloads case of a key backend (WORKLOAD_KEY_BACKENDS): run before the others."""
    spec = spec_of(item)
    return spec is not None and spec.suite == "workloads" and spec.backend in WORKLOAD_KEY_BACKENDS


def _in_claim_order(
    h: Harness, items: list[pytest.Item], measured: dict[str, float] | None
) -> list[pytest.Item]:
    """A claiming job's order (toyad.bench.claims.claim_order): each suite's lineages
    whole, the workloads' key backends (WORKLOAD_KEY_BACKENDS) first, then the dearest;
    notes each item's lineage for the claim gate."""
    suites = [suite_of(item) for item in items]
    costs = item_costs(items, suites, measured)
    h.lineages = {item.nodeid: lineage_of(item, s) for item, s in zip(items, suites)}
    return claim_order(items, suites, costs, lineage_of, first=key_workload)


def uses_harness(item: pytest.Item) -> bool:
    """An item that runs harness cases (it asks for the ``toyad_harness`` fixture)."""
    return "toyad_harness" in getattr(item, "fixturenames", ())


def declared_suite(item: pytest.Item) -> str:
    """The suite its module declares (``TOYAD_SUITE = "..."``), else ''."""
    return str(getattr(getattr(item, "module", None), "TOYAD_SUITE", "") or "")


def plain_benchmark_suite(item: pytest.Item) -> str:
    """The suite of a toyad benchmark that uses pytest-benchmark's own fixture
    (its module declares one), else ''."""
    if "benchmark" not in getattr(item, "fixturenames", ()):
        return ""
    return declared_suite(item)


def _cap_plain_benchmarks(config: pytest.Config, h: Harness, items: list[pytest.Item]) -> None:
    """Plain pytest-benchmark items calibrate for the profile's ``plain_max_time_s``, not
    pytest-benchmark's default second an item (min_rounds, 5, still holds): they time
    throughout, one job at a time, and at a second an item the few plain suites took
    40 s of a quick run and ~300 s of a full one."""
    # pytest keeps an option's default as written (pytest-benchmark's: the string "1.0")
    # and parses what a user gives (a float): a float here is the user's choice
    chosen = not isinstance(config.getoption("benchmark_max_time", None), str)
    if chosen:
        return
    for item in items:
        if plain_benchmark_suite(item):
            item.add_marker(pytest.mark.benchmark(max_time=h.profile.plain_max_time_s))


def suite_of(item: pytest.Item) -> str:
    """The suite an item belongs to: its CaseSpec's, its module's TOYAD_SUITE, else its
    file's (bench_per_op -> per-op)."""
    spec = spec_of(item)
    if spec is not None:
        return spec.suite
    declared = declared_suite(item)
    if declared:
        return declared
    stem = Path(str(getattr(item, "path", "") or "")).stem
    return stem.removeprefix("bench_").replace("_", "-") or "other"


def budgeted(item: pytest.Item) -> bool:
    """Items the run budget covers: harness cases and toyad's plain-benchmark suites."""
    return uses_harness(item) or bool(plain_benchmark_suite(item))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Past the run budget an item is recorded skipped-too-slow and not started."""
    if not budgeted(item):
        return
    h = harness_of(item.config)
    suite = suite_of(item)
    reason = h.budget_spent(suite)
    if not reason:
        return
    spec = spec_of(item)
    if spec is not None:
        record = h.new_record(spec)
    else:
        record = blank_record(suite=suite, backend="", problem="", operation="")
    record.update(nodeid=item.nodeid, status="skipped-too-slow", message=reason)
    h.current_nodeid = item.nodeid
    h.add_record(record)
    pytest.skip(f"skipped-too-slow: {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    h = harness_of(item.config)
    h.current_nodeid = item.nodeid
    if h.timing:  # (what the item may prepare while it waits: toyad.bench.ahead)
        h.ahead.expect(item.nodeid, _upcoming(item))
    start = time.perf_counter()
    if h.first_item_at is None:
        h.first_item_at = start - h.start_clock
    # a job's turn (toyad.bench.turns): a plain pytest-benchmark item times throughout;
    # a harness case takes its turn for its timings only
    timed_throughout = bool(plain_benchmark_suite(item)) and not uses_harness(item)
    with turns().exclusive() if timed_throughout else contextlib.nullcontext():
        yield
    if h.deferred == item.nodeid:  # left to the job's fresh process (FreshProcessGate)
        return
    if h.passed_over == item.nodeid:  # another job's lineage (ClaimGate)
        return
    h.note_item(suite_of(item), time.perf_counter() - start, item.nodeid)
    h.item_done(item.nodeid)
    h.current_nodeid = ""
    if not h.timing:
        h.release_between_tests()
    if h.restart_wanted and not item.session.shouldstop:
        _stop_for_a_fresh_process(item, h)


def _upcoming(item: pytest.Item) -> list[tuple[str, CaseSpec | None]]:
    """The AHEAD_ITEMS items after this one in the session, with their cases."""
    session = item.session
    index = getattr(session, "_toyad_item_index", None)
    if index is None or len(index) != len(session.items):
        index = {i.nodeid: k for k, i in enumerate(session.items)}
        session._toyad_item_index = index  # type: ignore[attr-defined]
    at = index.get(item.nodeid)
    if at is None:
        return []
    after = session.items[at + 1 : at + 1 + AHEAD_ITEMS]
    return [(i.nodeid, spec_of(i)) for i in after]


def _stop_for_a_fresh_process(item: pytest.Item, h: Harness) -> None:
    """The job ends after this item; its controller goes on in a fresh process."""
    item.session.shouldstop = f"toyad: going on in a fresh process: {h.restart_wanted}"


class FreshProcessGate:
    """In a job its controller restarts (toyad.bench.jobs): an item that would start in
    a process over the restart line, even after releasing every cache, is not run here
    (nor journaled done); the job stops and its fresh process runs it."""

    def __init__(self, harness: Harness):
        self.harness = harness

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None):
        h = self.harness
        if not budgeted(item) or not h.needs_fresh_process(spec_of(item)):
            return None
        h.deferred = item.nodeid
        _stop_for_a_fresh_process(item, h)
        return True


class ClaimGate:
    """In a job that claims lineages as it goes (toyad.bench.claims): an item of a lineage
    another job claimed first is passed over here, unrecorded (that job records it)."""

    def __init__(self, harness: Harness):
        self.harness = harness

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None):
        h = self.harness
        lineage = h.lineages.get(item.nodeid)
        if lineage is None or h.claims is None:
            return None
        if h.claims.mine(lineage):
            h.selected({suite_of(item): 1}, whole=False)  # (a suite's early work: once mine)
            return None
        h.passed_over = item.nodeid
        if budgeted(item):  # (a suite met here has started: its estimate is no longer to come)
            h.budget_spent(suite_of(item))
        # what the last item run here kept set up for this one goes, as after a run item
        # (the next item run here must find only its own collectors set up)
        setup_state = getattr(item.session, "_setupstate", None)
        if setup_state is not None:
            setup_state.teardown_exact(nextitem)
        return True


def pytest_collection_finish(session: pytest.Session) -> None:
    # only when harness cases will run here (not in jobs): the unit tests keep the
    # ordinary collector
    if _wants_jobs(session) > 1:
        return
    items = [i for i in session.items if budgeted(i)]
    if any(uses_harness(i) for i in items):
        suites: dict[str, int] = {}
        for item in items:
            suite = suite_of(item)
            suites[suite] = suites.get(suite, 0) + 1
        h = harness_of(session.config)
        if h.claims is not None:  # this job's share, and its suites' early work once claimed
            jobs = parse_shard(h.shard)[1]
            lineages = [h.lineages.get(item.nodeid, "") for item in items]
            h.plan_budget(job_share([suite_of(i) for i in items], lineages, jobs))
        else:
            h.plan_budget(suites)
            h.selected(suites)
        freeze_heap()


# --jobs auto: a selection with fewer timed items runs in one process (each job's
# start-up, imports and collection cost ~10 s)
AUTO_JOBS_MIN_ITEMS = 200


def _wants_jobs(session: pytest.Session) -> int:
    """How many jobs this session runs as (1: in this process)."""
    config = session.config
    jobs = config.stash.get(JOBS, 1)
    if jobs <= 1 or config.option.collectonly or not harness_of(config).timing:
        return 1
    timed = sum(1 for item in session.items if budgeted(item))
    if timed == 0:
        return 1
    if config.getoption("jobs").strip().lower() == "auto" and timed < AUTO_JOBS_MIN_ITEMS:
        return 1
    return jobs


def _controller_start(session: pytest.Session) -> Callable[[str], None]:
    """A controller (jobs, a cluster) starts only from a clean collection; its way to
    say a line on the terminal."""
    config = session.config
    if session.testsfailed and not config.option.continue_on_collection_errors:
        raise session.Interrupted(f"{session.testsfailed} error(s) during collection")
    reporter = config.pluginmanager.get_plugin("terminalreporter")

    def say(line: str) -> None:
        if reporter is not None:
            reporter.write_line(line)
        else:
            print(line, flush=True)

    return say


def _part_lines(noun: str, missing: list, results: list, tail: int = 0) -> list[str]:
    """The controller's lines on its parts (jobs, shards): those lost, and those that
    exited non-zero (with the end of their output when ``tail``)."""
    from toyad.bench.jobs import part_failed

    lines = [f"toyad: MISSING {noun} {lost['shard']}: {lost['reason']}" for lost in missing]
    for result in results:
        if part_failed(result):  # (a job's part that stopped to restart exits 2: fine)
            end = f": ...{result['output_tail'][-tail:]}" if tail else ""
            lines.append(
                f"toyad: {noun} {result['shard']} exited {result['returncode']} (failed or "
                f"wrong cases; its results are in the run){end}"
            )
    return lines


def _run_as_jobs(session: pytest.Session, jobs: int) -> bool:
    """--jobs: the controller runs no test itself; its jobs do, and it publishes their run."""
    from toyad import report
    from toyad.bench.jobs import merged_run, outcome_counts, run_jobs

    config = session.config
    say = _controller_start(session)
    h = harness_of(config)
    runtime.unpin()  # each job pins itself to its own CPU
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = h.report_dir / f"jobs-{stamp}"
    args, cwd = config.invocation_params.args, str(config.invocation_params.dir)
    # (--shard-by claim: the jobs claim lineages as they go; else dealt in advance)
    by = "claim" if config.getoption("shard_by") == "claim" else "lineage"
    outcome = run_jobs(args, cwd, jobs, say, folder, h.run_budget_s, h.max_rss_bytes, by)
    config.stash[JOBS_OUTCOME] = outcome
    try:
        merged = merged_run(outcome)
        outcome.published = report.publish(merged, h.report_dir)
    except (JobsError, report.ReportError) as exc:
        outcome.error = f"{exc} (the jobs' own run folders are kept in {folder})"
        return True
    if outcome.missing:
        outcome.lines.append(f"toyad: the jobs' own run folders are kept in {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)  # (their cases are in the published run)
    h.records = list(merged["toyad"]["cases"])  # (the summary lines count them)
    h.published = outcome.published
    outcome.lines += _part_lines("job", outcome.missing, outcome.results, tail=400)
    counts = outcome_counts([r["output_tail"] for r in outcome.results])
    outcome.lines.append(
        f"toyad: {len(h.records)} cases from {len(outcome.results)} of {jobs} jobs in "
        f"{outcome.seconds:.0f} s" + (f" (their tests: {counts})" if counts else "")
    )
    return True


def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """--jobs: the controller runs its jobs; --dask: it runs the shards on the cluster.
    Neither runs a test itself."""
    config = session.config
    jobs = _wants_jobs(session)
    if jobs > 1:
        return _run_as_jobs(session, jobs)
    address = config.getoption("dask", None)
    if not address or config.option.collectonly:
        return None
    say = _controller_start(session)
    from toyad import report
    from toyad.bench.cluster import ClusterError, ClusterOutcome, merged_run, run_on_cluster
    from toyad.bench.shard import cell_count

    h = harness_of(config)
    try:
        outcome = run_on_cluster(
            address,
            config.invocation_params.args,
            config.invocation_params.dir,
            cells=cell_count(session.items),
            shards=config.getoption("dask_shards"),
            say=say,
        )
        merged = merged_run(outcome, address)
        outcome.published = report.publish(merged, h.report_dir)
    except ClusterError as exc:  # nothing to publish: say why, fail the session
        config.stash[CLUSTER] = ClusterOutcome(error=str(exc))
        return True
    cases = merged["toyad"]["cases"]
    outcome.lines.append(
        f"toyad: {len(cases)} cases from {len(outcome.results)} of {outcome.shards} shards on "
        f"{outcome.workers} worker(s) in {outcome.seconds:.0f} s"
    )
    outcome.lines += _part_lines("shard", outcome.missing, outcome.results)
    config.stash[CLUSTER] = outcome
    return True


@pytest.fixture
def toyad_harness(request: pytest.FixtureRequest) -> Harness:
    """The session's harness (options, profile, records)."""
    return harness_of(request.config)


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    if HARNESS in config.stash:
        machine_info["toyad"] = environment(harness_of(config), Path(config.rootpath))


def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: list, output_json: dict
) -> None:
    if HARNESS in config.stash and harness_of(config).has_results:
        output_json["toyad"] = toyad_object(harness_of(config), Path(config.rootpath))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if HARNESS not in config.stash:
        return
    outcome = config.stash.get(CLUSTER, None) or config.stash.get(JOBS_OUTCOME, None)
    if outcome is not None and outcome.failed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    gc.unfreeze()
    if config.stash.get(JOBS_OUTCOME, None) is not None:
        return  # (the controller published the jobs' merged run)
    h = harness_of(config)
    if not h.has_results or not (h.timing or config.stash[EXPLICIT_REPORT_DIR]):
        h.close_journal()
        return
    try:
        run = build_run(config, h)
        page = not config.getoption("no_report_page")
        h.published = write_run(run, h.report_dir, h.run_folder, page=page)
        h.close_journal()
    except Exception as exc:  # the tests' outcome stays visible; the failure is reported
        h.publish_error = f"{type(exc).__name__}: {exc}"
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    config = terminalreporter.config
    if HARNESS not in config.stash:
        return
    outcome = config.stash.get(CLUSTER, None)
    if outcome is not None:
        for line in outcome.lines:
            terminalreporter.write_line(line, red=line.startswith("toyad: MISSING"))
        if outcome.error:
            terminalreporter.write_line(f"toyad: --dask failed: {outcome.error}", red=True)
        else:
            terminalreporter.write_line(f"toyad: report written to {outcome.published}")
    jobs = config.stash.get(JOBS_OUTCOME, None)
    if jobs is not None:
        for line in jobs.lines:
            bad = line.startswith(("toyad: MISSING", "toyad: job"))
            terminalreporter.write_line(line, red=bad)
        if jobs.error:
            terminalreporter.write_line(f"toyad: --jobs failed: {jobs.error}", red=True)
    h = harness_of(config)
    if not h.has_results:
        return
    terminalreporter.write_line(summary_line(h))
    cut = budget_cut_line(h)
    if cut:
        terminalreporter.write_line(cut, red=True)
    failing = failing_line(h)
    if failing:
        terminalreporter.write_line(failing, red=True)
    if h.published:
        terminalreporter.write_line(f"toyad: report written to {h.published}")
    if h.publish_error:
        terminalreporter.write_line(
            f"toyad: writing the report failed: {h.publish_error}", red=True
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    """A run budget that cut cases says so again as the command's very last line."""
    if HARNESS not in config.stash:
        return
    cut = budget_cut_line(harness_of(config))
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if cut and reporter is not None:
        reporter.write_line(cut, red=True)
