"""Jobs: a timed run as processes on this machine that take turns to time
(toyad.bench.jobs, toyad.bench.turns, the lineage partition)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from toyad.bench.claims import ENV as CLAIMS_ENV
from toyad.bench.claims import Claims, ClaimsError, claim_order, job_share
from toyad.bench.harness import CaseSpec
from toyad.bench.jobs import JobsError, job_args, merged_time_spent, outcome_counts, parse_jobs
from toyad.bench.shard import framework_units, lineage_of, select_shard
from toyad.bench.turns import Turns
from toyad.report.merge import key_counts
from toyad.results import budget_cut

ROOT = Path(__file__).resolve().parents[1]


# -- turns ---------------------------------------------------------------------------------
TURN_TAKER = textwrap.dedent(
    """
    import sys, time
    from toyad.bench.turns import Turns
    turns, out = Turns(sys.argv[1]), open(sys.argv[2], "a")
    for _ in range(15):
        with turns.exclusive():
            with turns.exclusive():  # re-entrant: the inner one neither waits nor releases
                start = time.monotonic()
                time.sleep(0.01)
                end = time.monotonic()
        out.write(f"{start} {end}\\n")
        out.flush()
        time.sleep(0.002)  # untimed work between turns
    """
)


def test_two_processes_never_hold_a_turn_at_the_same_time(tmp_path):
    lock, spans = tmp_path / "turns.lock", tmp_path / "spans.txt"
    procs = [
        subprocess.Popen([sys.executable, "-c", TURN_TAKER, str(lock), str(spans)], cwd=ROOT)
        for _ in range(2)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    intervals = sorted(
        tuple(map(float, line.split())) for line in spans.read_text().split("\n") if line
    )
    assert len(intervals) == 30
    for (_, end), (start, _) in zip(intervals, intervals[1:]):
        assert start >= end  # each turn starts after the previous one ended


def _holding_turns(script: str, lock: Path, started: Path) -> subprocess.Popen:
    """Another job (``script`` on the lock file), once it has taken its first turn."""
    proc = subprocess.Popen([sys.executable, "-c", script, str(lock), str(started)], cwd=ROOT)
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return proc


HOG = textwrap.dedent(
    """
    import sys, time
    from toyad.bench.turns import Turns
    turns = Turns(sys.argv[1])
    for k in range(40):
        with turns.exclusive():  # back to back: no gap between its turns
            if k == 0:
                open(sys.argv[2], "w").close()
            time.sleep(0.05)
    """
)


def test_a_job_taking_turns_back_to_back_lets_a_waiting_job_in(tmp_path):
    """First come, first served: the waiting job gets the next turn, not the 40th."""
    lock = tmp_path / "turns.lock"
    hog = _holding_turns(HOG, lock, tmp_path / "started")
    try:
        turns = Turns(str(lock))
        with turns.exclusive():
            pass
        assert turns.waited_s < 0.5  # two of its turns at most (the whole loop: 2 s)
        assert hog.poll() is None  # and the other job had not finished its loop
    finally:
        assert hog.wait(timeout=60) == 0


HOLDER = textwrap.dedent(
    """
    import sys, time
    from toyad.bench.turns import Turns
    turns = Turns(sys.argv[1])
    with turns.exclusive():
        open(sys.argv[2], "w").close()
        time.sleep(1.0)
    """
)


def test_a_case_waiting_for_its_turn_is_not_stopped_by_its_time_limit(tmp_path):
    """Another job's timing is not this case's cost: the guard's clock stops meanwhile."""
    from toyad.bench.guard import CaseAborted, Guard

    lock = tmp_path / "turns.lock"
    holder = _holding_turns(HOLDER, lock, tmp_path / "held")
    try:
        turns = Turns(str(lock))
        with Guard(None).limits(0.5, "waits"), turns.exclusive():
            pass  # the turn came after ~1 s, past the 0.5 s limit
        assert turns.waited_s > 0.5
        with pytest.raises(CaseAborted), Guard(None).limits(0.2, "works"), turns.exclusive():
            time.sleep(1.0)  # its own time still counts
    finally:
        assert holder.wait(timeout=30) == 0


def test_without_a_lock_file_a_turn_is_free():
    turns = Turns(None)
    with turns.exclusive():
        pass
    assert not turns.active and turns.waited_s == 0.0


def test_a_turn_counts_the_time_it_was_held_once_however_deeply_nested(tmp_path):
    turns = Turns(str(tmp_path / "turns.lock"))
    with turns.exclusive(), turns.exclusive():  # (re-entrant: the outer turn is held)
        time.sleep(0.05)
    assert 0.05 <= turns.held_s < 0.05 + 5.0
    held = turns.held_s
    with turns.exclusive():
        pass
    assert held <= turns.held_s < held + 5.0


# -- options and accounts --------------------------------------------------------------------
@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5"])
def test_a_bad_jobs_value_is_refused_by_name(text):
    with pytest.raises(JobsError, match="--jobs"):
        parse_jobs(text)


def test_auto_takes_one_job_per_usable_cpu_at_most_two():
    assert 1 <= parse_jobs("auto") <= 2 and parse_jobs("3") == 3


def test_a_jobs_command_line_drops_the_controllers_own_options():
    args = ["benchmarks", "--jobs", "2", "--report-dir", "r", "-q", "--shard=1/2", "--jobs=3"]
    assert job_args(args) == [
        *["benchmarks", "-q", "--jobs", "1", "--shard-by", "lineage", "--no-report-page"]
    ]


def test_the_jobs_time_accounts_add_up_per_suite():
    one = {
        "before_first_item_s": 4.0,
        "waited_for_turns_s": 1.5,
        "waited_for_usual_speed_s": 0.25,
        "suites": [{"suite": "scaling", "items": 3, "wall_s": 2.0, "timed_s": 0.5}],
    }
    two = {
        "before_first_item_s": 5.0,
        "waited_for_turns_s": 0.5,
        "suites": [
            {"suite": "scaling", "items": 2, "wall_s": 1.0, "timed_s": 0.25},
            {"suite": "memory", "items": 1, "wall_s": 9.0, "timed_s": 0.0},
        ],
    }
    spent = merged_time_spent([one, two])
    assert spent["before_first_item_s"] == 5.0 and spent["waited_for_turns_s"] == 2.0
    assert spent["waited_for_usual_speed_s"] == 0.25
    assert spent["suites"] == [
        {"suite": "memory", "items": 1, "wall_s": 9.0, "timed_s": 0.0},
        {"suite": "scaling", "items": 5, "wall_s": 3.0, "timed_s": 0.75},
    ]


def test_the_jobs_test_outcomes_are_added_up_from_their_last_summary_line():
    one = "....\n1366 passed, 368 skipped, 1734 deselected in 212.23s (0:03:32)\ntoyad: rep"
    two = "== 3 failed, 10 passed, 2 errors in 5.00s ==\n"
    assert outcome_counts([one, two]) == "1376 passed, 368 skipped, 3 failed, 2 error"
    assert outcome_counts(["no summary here"]) == ""


# -- the lineage partition -------------------------------------------------------------------
def _item(spec: CaseSpec | None, nodeid: str) -> SimpleNamespace:
    name = nodeid.split("::")[-1]
    params = {"spec": spec} if spec else {}
    return SimpleNamespace(
        nodeid=nodeid,
        name=name,
        originalname=name.split("[")[0],
        callspec=SimpleNamespace(params=params),
    )


def test_jobs_keep_every_size_of_a_lineage_and_a_plain_suite_together():
    items, suites = [], []
    for backend in ("jax-eager", "reverse", "dual", "tensor"):
        for mode in ("forward", "reverse"):
            for n in (1, 16, 256, 4096):
                spec = CaseSpec("scaling", backend, "dense_tanh", "jacobian", mode, n, 1)
                items.append(_item(spec, f"b.py::test_grid[{spec.id}]"))
                suites.append("scaling")
    for k in range(4):
        items.append(_item(None, f"m.py::test_memory[case{k}]"))
        suites.append("memory")
    parts = [select_shard(items, suites, (k, 2), by="lineage")[0] for k in (1, 2)]
    assert sorted(i.nodeid for p in parts for i in p) == sorted(i.nodeid for i in items)
    lineages = [{lineage_of(i, s) for i, s in zip(items, suites) if i in p} for p in parts]
    assert all(lineages) and not lineages[0] & lineages[1]  # no lineage split
    assert len({lineage_of(i, "memory") for i in items[-4:]}) == 1
    jax = [i for p in parts for i in p if "jax-eager" in i.nodeid]  # the dearest backend:
    assert len({id(p) for p in parts for i in p if i in jax}) == 2  # its two modes split up


def test_a_primal_and_its_derivatives_share_a_job_where_the_suite_times_the_primal():
    """A derivative is not started at a size whose primal was stopped: that needs the
    primal's case in the same process."""
    items, suites = [], []
    for backend in ("jax-jit", "tf-function", "tensor", "dual"):
        for preset in ("l=2,c=1024", "l=2,c=4096"):
            for op, mode in (("primal", "forward"), ("gradient", "reverse")):
                spec = CaseSpec("workloads", backend, "lstm", op, mode, with_primal=True)
                spec = replace(spec, preset=preset)
                items.append(_item(spec, f"w.py::test_workload[{spec.id}]"))
                suites.append("workloads")
    parts = [select_shard(items, suites, (k, 2), by="lineage")[0] for k in (1, 2)]
    for backend in ("jax-jit", "tf-function", "tensor", "dual"):
        holding = [k for k, p in enumerate(parts) if any(backend in i.nodeid for i in p)]
        assert len(holding) == 1, backend


def test_a_framework_that_fits_one_job_is_dealt_to_one_job_whole():
    """Each job pays for the frameworks it runs (import, first trace, the caches its
    backends share): a framework whose cases fit one job's share goes to one job."""
    items, suites = [], []
    for backend in ("tf-eager", "tf-function", "jax-jit", "torch-autograd", "reverse", "dual"):
        for problem in ("dense_tanh", "fan_in"):
            for mode in ("forward", "reverse"):
                spec = CaseSpec("scaling", backend, problem, "jacobian", mode, 16, 1)
                items.append(_item(spec, f"b.py::test_grid[{spec.id}]"))
                suites.append("scaling")
    parts = [select_shard(items, suites, (k, 2), by="lineage")[0] for k in (1, 2)]
    assert sorted(i.nodeid for p in parts for i in p) == sorted(i.nodeid for i in items)
    for prefix in ("tf-", "jax-", "torch-"):
        holding = [k for k, p in enumerate(parts) if any(f"[{prefix}" in i.nodeid for i in p)]
        assert len(holding) == 1, prefix
    assert all(parts)  # the toys' lineages balance the jobs around them
    # one job's share or more: dealt by lineage as before
    lineages = ["lineage:scaling:tf-eager:p", "lineage:scaling:dual:p"]
    assert framework_units(lineages, ["tensorflow", None], [3, 1], 2) == [
        "lineage:scaling:tf-eager:p",
        "lineage:scaling:dual:p",
    ]
    assert framework_units(lineages, ["tensorflow", None], [1, 3], 2) == [
        "framework:tensorflow",
        "lineage:scaling:dual:p",
    ]


def test_the_overhead_suite_shares_the_scaling_suites_lineage():
    """Its gradients at a scaling size are the scaling suite's cases, measured once in the
    process that runs both."""
    scaling = CaseSpec("scaling", "tensor", "rosenbrock", "gradient", "reverse", 1024, 1, True)
    overhead = replace(scaling, suite="overhead", operation="jvp")
    other = replace(scaling, backend="dual")
    items = [_item(s, f"b.py::t[{k}]") for k, s in enumerate((scaling, overhead, other))]
    lineages = [lineage_of(i, s.suite) for i, s in zip(items, (scaling, overhead, other))]
    assert lineages[0] == lineages[1] != lineages[2]


# -- claims: lineages dealt as the jobs go ------------------------------------------------------
CLAIMER = textwrap.dedent(
    """
    import sys
    from toyad.bench.claims import Claims
    claims = Claims(sys.argv[1], sys.argv[2])
    print(" ".join(f"L{k}" for k in range(200) if claims.mine(f"L{k}")))
    """
)


def test_each_lineage_is_claimed_by_one_job_and_stays_its_own(tmp_path):
    path = str(tmp_path / "claims")
    first, second = Claims(path, "1"), Claims(path, "2")
    assert first.mine("scaling:jax-jit") and not second.mine("scaling:jax-jit")
    assert second.mine("scaling:tensor") and not first.mine("scaling:tensor")
    assert second.owner_of("scaling:jax-jit") == "1"
    again = Claims(path, "1")  # the same job in a fresh process keeps its claims
    assert again.mine("scaling:jax-jit") and not again.mine("scaling:tensor")


def test_two_processes_claiming_at_once_split_the_lineages_without_overlap(tmp_path):
    path = str(tmp_path / "claims")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, path, owner],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for owner in ("1", "2")
    ]
    won = [set(p.communicate(timeout=120)[0].split()) for p in procs]
    assert not won[0] & won[1] and won[0] | won[1] == {f"L{k}" for k in range(200)}
    lines = Path(path).read_text().splitlines()
    assert len(lines) == 200 and all(line.count("\t") == 1 for line in lines)


def test_without_the_claims_file_claiming_is_refused_by_name(monkeypatch):
    monkeypatch.delenv(CLAIMS_ENV, raising=False)
    with pytest.raises(ClaimsError, match="--shard-by claim needs the claims file"):
        Claims.from_env("1")


def test_a_claiming_job_plans_its_budget_for_whole_single_lineage_suites():
    suites = ["convenience"] * 4 + ["scaling"] * 4
    lineages = ["suite:convenience"] * 4 + ["a", "a", "b", "c"]
    assert job_share(suites, lineages, 2) == {"convenience": 4.0, "scaling": 2.0}


def test_a_claiming_job_runs_each_lineage_whole_the_dearest_first():
    items, suites, costs = [], [], []
    for suite, backend, cost in (
        ("hessians", "dual", 1.0),
        ("scaling", "reverse", 1.0),
        ("scaling", "jax-jit", 3.0),
        ("scaling", "reverse", 1.0),  # (a second item of the reverse lineage)
        ("scaling", "tensor", 2.0),
        ("workloads", "dual", 5.0),
        ("workloads", "tensor", 1.0),
    ):
        items.append(f"{suite}:{backend}:{len(items)}")
        suites.append(suite)
        costs.append(cost)
    ordered = claim_order(
        items,
        suites,
        costs,
        lambda item, suite: ":".join(item.split(":")[:2]),
        first=lambda item: item.startswith("workloads:tensor"),
    )
    assert ordered == [
        "hessians:dual:0",
        "scaling:jax-jit:2",
        "scaling:reverse:1",  # 1 + 1 = 2, tied with tensor: the earlier-listed first
        "scaling:reverse:3",
        "scaling:tensor:4",
        "workloads:tensor:6",  # a key backend before any other
        "workloads:dual:5",
    ]


# -- through pytest ----------------------------------------------------------------------------
SMALL = [
    "benchmarks/bench_scaling.py",
    "benchmarks/bench_hessians.py",
    "--benchmark-only",
    "--benchmark-quiet",
    "--backends",
    "analytic,numeric-forward,reverse,tensor",
    "-q",
    "-p",
    "no:cacheprovider",
]


def _published(report_dir: Path) -> dict:
    return json.loads((report_dir / "latest" / "benchmark.json").read_text())


def _run(tmp_path: Path, jobs: str, extra: list[str]) -> tuple[dict, str]:
    """SMALL with ``extra`` as ``jobs`` jobs: (its published run, its output)."""
    out = subprocess.run(
        [
            *[sys.executable, "-m", "pytest", *SMALL, *extra],
            *["--jobs", jobs, "--report-dir", str(tmp_path / jobs)],
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    return _published(tmp_path / jobs), out.stdout


@pytest.fixture
def one_process_run(tmp_path_factory) -> dict:
    """SMALL in one process, run once for every test (and test worker) that compares with it:
    the first to ask runs it while the others wait on its lock, then they read its run."""
    import fcntl

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # (the session's folder holds the workers')
        shared = shared.parent
    with open(shared / "one-process-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "one-process-run.json"
        if not done.exists():
            run = _run(shared / "one-process-run", "1", ["--no-report-page"])[0]
            done.write_text(json.dumps(run))
        return {"run": json.loads(done.read_text()), "folder": shared / "one-process-run" / "1"}


def test_a_run_as_two_jobs_measures_what_one_process_does(tmp_path, one_process_run):
    runs = {"1": (one_process_run["run"], ""), "2": _run(tmp_path, "2", [])}
    one, two = runs["1"][0]["toyad"], runs["2"][0]["toyad"]
    assert key_counts(two["cases"]) == key_counts(one["cases"]) and len(two["cases"]) > 50
    assert two["merge"]["jobs"]["jobs"] == 2 and two["merge"]["duplicates"] == []
    assert {c["status"] for c in two["cases"]} <= {"ok", "unsupported", "skipped-too-slow"}
    assert not any(budget_cut(c) for c in two["cases"])
    spent = {row["suite"]: row for row in two["time_spent"]["suites"]}
    assert spent["scaling"]["cases"] == sum(c["suite"] == "scaling" for c in two["cases"])
    assert "running as 2 jobs" in runs["2"][1] and "from 2 of 2 jobs" in runs["2"][1]
    assert "(their tests: " in runs["2"][1]
    # the merged run has its page; the jobs' own folders went once it was published
    assert (tmp_path / "2" / "latest" / "index.html").is_file()
    assert not list((tmp_path / "2").glob("jobs-*"))
    # --no-report-page: the data without the page
    one_latest = one_process_run["folder"] / "latest"
    assert (one_latest / "results.csv").is_file()
    assert not (one_latest / "index.html").exists()


def test_jobs_that_claim_lineages_as_they_go_measure_what_one_process_does(
    tmp_path, one_process_run
):
    one = one_process_run["run"]["toyad"]
    (tmp_path / "claim").mkdir()
    claimed, out = _run(tmp_path / "claim", "2", ["--shard-by", "claim"])
    two = claimed["toyad"]
    assert key_counts(two["cases"]) == key_counts(one["cases"]) and len(two["cases"]) > 50
    assert two["merge"]["duplicates"] == [] and "from 2 of 2 jobs" in out
    assert not any(budget_cut(c) for c in two["cases"])


def test_a_job_that_asks_goes_on_in_a_fresh_process_and_loses_nothing(tmp_path):
    """A job that stops to go on in a fresh process (its memory drifted), again and
    again: each part runs what no earlier part finished (--continue-after each), the
    last allowed part runs to the end, and the merged run has every case once."""
    plain = ["benchmarks/bench_convenience.py", "--no-report-page"]  # plain items first
    restarting = [*plain, "-p", "tests.job_restart_plugin"]
    runs = {jobs: _run(tmp_path, jobs, extra) for jobs, extra in (("1", plain), ("2", restarting))}
    one, two = runs["1"][0]["toyad"], runs["2"][0]["toyad"]
    assert key_counts(two["cases"]) == key_counts(one["cases"]) and len(two["cases"]) > 50
    assert two["merge"]["duplicates"] == []
    assert not any("not started" in str(c.get("message")) for c in two["cases"])
    # the plain items, timed by pytest-benchmark throughout, each once (the harness's
    # cases are compared above: which of them a loaded machine got to time may differ)
    names = [
        sorted(b["fullname"] for b in runs[j][0]["benchmarks"] if "convenience" in b["fullname"])
        for j in ("1", "2")
    ]
    assert names[0] == names[1] and names[1]
    restarts = two["merge"]["jobs"]["restarts"]
    assert set(restarts) == {"1/2", "2/2"} and max(restarts.values()) >= 2
    assert runs["2"][1].count("goes on in a fresh process") == sum(restarts.values())
    assert "exited 2" not in runs["2"][1]  # a part that stopped to restart did not fail
    spent = {row["suite"]: row for row in two["time_spent"]["suites"]}
    assert spent["scaling"]["cases"] == sum(c["suite"] == "scaling" for c in two["cases"])


def test_every_second_job_runs_the_fixed_suites_backwards():
    """Two jobs do not start on the plain suites together (each times throughout its
    items, one job at a time); the elastic suites stay last in both."""
    from toyad.bench.plugin import RUN_ORDER_FIRST, RUN_ORDER_LAST, in_run_order

    suites = [*RUN_ORDER_LAST, "unlisted", *RUN_ORDER_FIRST]
    items = [SimpleNamespace(path=Path(f"bench_{s.replace('-', '_')}.py")) for s in suites]
    names = [Path(i.path).stem.removeprefix("bench_").replace("_", "-") for i in items]

    def order(fixed_reversed: bool) -> list[str]:
        ordered = in_run_order(items, fixed_reversed=fixed_reversed)
        return [names[items.index(i)] for i in ordered]

    first, second = order(False), order(True)
    fixed = len(RUN_ORDER_FIRST)
    assert first[:fixed] == list(RUN_ORDER_FIRST)
    assert second[:fixed] == list(RUN_ORDER_FIRST)[::-1]
    assert first[fixed:] == second[fixed:] == ["unlisted", *RUN_ORDER_LAST]


def test_each_part_of_a_job_skips_what_every_earlier_part_finished(tmp_path, monkeypatch):
    """A job's parts: each gets --continue-after for every earlier part, and the
    MAX_RESTARTS-th may not stop again (so the shard always runs to its end)."""
    from toyad.bench import cluster, jobs

    calls = []

    def fake_run_shard(args, cwd, shard, env=None, folder=None, memory_line=None):
        calls.append((list(args), dict(env or {})))
        (Path(folder) / "run").mkdir(parents=True)
        (Path(folder) / "latest").symlink_to(Path(folder) / "run")
        wants = env.get(jobs.RESTARTABLE_ENV) == "1"
        run = {"toyad": {"restart": "drifted" if wants else ""}}
        return {"shard": shard, "returncode": 2 if wants else 0, "run": run, "seconds": 1.0,
                "output_tail": "", "folder": folder}  # fmt: skip

    monkeypatch.setattr(cluster, "run_shard", fake_run_shard)
    said = []
    parts = jobs.run_job(["benchmarks"], ".", "1/2", {}, tmp_path, said.append, 100.0)
    assert len(parts) == len(calls) == jobs.MAX_RESTARTS + 1
    for k, (args, env) in enumerate(calls):
        after = [args[i + 1] for i, a in enumerate(args) if a == "--continue-after"]
        assert after == [
            str(tmp_path / ("1-of-2" + (f"-{j}" if j else "")) / "run") for j in range(k)
        ]
        assert env[jobs.RESTARTABLE_ENV] == ("0" if k == jobs.MAX_RESTARTS else "1")
    assert len(said) == jobs.MAX_RESTARTS


def test_a_part_killed_without_its_run_keeps_what_the_job_did(tmp_path, monkeypatch):
    """A part killed from outside (the kernel's OOM killer) writes no run: the job's earlier
    parts and the cases the killed part journaled are kept, the job is named as failed."""
    from toyad.bench import cluster, jobs
    from toyad.bench.journal import JOURNAL_NAME

    def fake_run_shard(args, cwd, shard, env=None, folder=None, memory_line=None):
        run_dir = Path(folder) / "run"
        run_dir.mkdir(parents=True)
        if "--continue-after" not in args:  # the first part: stops for a fresh process
            (Path(folder) / "latest").symlink_to(run_dir)
            return {"shard": shard, "returncode": 2, "seconds": 1.0, "output_tail": "",
                    "run": {"toyad": {"restart": "drifted", "cases": [{"n": 1}]}},
                    "folder": folder}  # fmt: skip
        lines = [
            {"kind": "header", "profile": "full", "started": "now", "environment": {}},
            {"kind": "case", "nodeid": "t::a", "record": {"backend": "b", "n": 2}},
            {"kind": "done", "nodeid": "t::a", "at_s": 1.0},
            {"kind": "case", "nodeid": "t::b", "record": {"backend": "b", "n": 3}},
        ]  # (t::b was running when the part was killed)
        (run_dir / JOURNAL_NAME).write_text("".join(json.dumps(x) + "\n" for x in lines))
        raise cluster.ShardFailed(f"shard {shard}: pytest exited with -9 without writing a run")

    monkeypatch.setattr(cluster, "run_shard", fake_run_shard)
    with pytest.raises(cluster.ShardFailed) as info:
        jobs.run_job(["benchmarks"], ".", "2/2", {}, tmp_path, lambda _: None, 100.0)
    first, killed = info.value.parts
    assert first["run"]["toyad"]["cases"] == [{"n": 1}]
    assert killed["run"]["toyad"]["cases"] == [{"backend": "b", "n": 2}]  # finished only
    assert killed["run"]["toyad"]["complete"] is False and "-9" in killed["output_tail"]
    assert jobs.part_failed(killed)


@pytest.mark.parametrize(
    "ending", ["memory line", "memory line, first case", "memory line, between cases", "crash"]
)
def test_a_part_ended_during_a_case_goes_on_in_a_fresh_process(tmp_path, monkeypatch, ending):
    """The controller ends a part past its memory line (a library allocating in C ran past
    the case's limit), or the part crashes (a signal), and the job goes on in a fresh
    process; nothing is lost. A crash's case is recorded (an error saying how the process
    ended) and done; a case over the memory line after other items runs again in the
    fresh process (what they left resident was not its own), and as its process's first
    case it is recorded skipped-too-large and done. Ended between cases (in an item that
    is no harness case), the rest of the job goes on in a fresh process too."""
    from toyad.bench import cluster, jobs
    from toyad.bench.journal import JOURNAL_NAME, read_journal

    calls = []

    def fake_run_shard(args, cwd, shard, env=None, folder=None, memory_line=None):
        calls.append((args, memory_line))
        run_dir = Path(folder) / "run"
        run_dir.mkdir(parents=True)
        if "--continue-after" in args:
            (Path(folder) / "latest").symlink_to(run_dir)
            return {"shard": shard, "returncode": 0, "seconds": 1.0, "output_tail": "",
                    "run": {"toyad": {"cases": [{"n": 4}]}}, "folder": folder}  # fmt: skip
        record = {"suite": "scaling", "backend": "tf-function", "operation": "gradient",
                  "mode": "forward", "problem": "p", "n": 4096, "m": 1}  # fmt: skip
        lines = [
            {"kind": "header", "profile": "full", "started": "now", "environment": {}},
            {"kind": "start", "nodeid": "t::a", "record": {**record, "n": 1024}},
            {"kind": "case", "nodeid": "t::a", "record": {**record, "n": 1024}},
            {"kind": "done", "nodeid": "t::a", "at_s": 1.0},
            {"kind": "start", "nodeid": "t::b", "record": record},
        ]  # (t::b was running when the part was ended)
        if ending == "memory line, first case":  # (t::a finished in an earlier part)
            lines = [lines[0], lines[-1]]
        if ending == "memory line, between cases":  # (t::b is an item with no case)
            lines = lines[:-1]
        (run_dir / JOURNAL_NAME).write_text("".join(json.dumps(x) + "\n" for x in lines))
        time.sleep(0.05)  # (the part's time, which its process could not write)
        if ending == "crash":
            raise cluster.ShardFailed(
                f"shard {shard}: pytest exited with -14 without writing a run on vm: ..."
            )
        failed = cluster.ShardFailed("ended")
        failed.over_memory = int(3.9 * 2**30)
        raise failed

    monkeypatch.setattr(cluster, "run_shard", fake_run_shard)
    said = []
    limit = int(3.5 * 2**30)
    parts = jobs.run_job(["benchmarks"], ".", "1/2", {}, tmp_path, said.append, 100.0, limit)
    assert [line for _, line in calls] == [int(3.75 * 2**30)] * 2  # the limit 3.5 + 0.25
    after = [
        a for args, _ in calls[1:] for i, a in enumerate(args) if args[i - 1] == "--continue-after"
    ]
    assert after == [str(tmp_path / "1-of-2" / "run")]
    if ending in ("memory line", "memory line, between cases"):
        ended, rest = parts
        assert [c["n"] for c in ended["run"]["toyad"]["cases"]] == [1024]
        where = "runs again there" if ending == "memory line" else "3.90 GiB resident between"
        assert where in said[0] and not jobs.part_failed(ended)
        assert read_journal(after[0]).done == {"t::a"}  # t::b runs in the fresh process
        return
    ended, rest = parts
    assert ended["seconds"] >= 0.05  # (the job's time counts the ended part's)
    cases = {c["n"]: c for c in ended["run"]["toyad"]["cases"]}
    if ending != "memory line, first case":
        assert cases[1024].get("status") is None
    if ending == "crash":
        assert "crashed (pytest exited with -14)" in said[0]
        assert cases[4096]["status"] == "error"
        assert cases[4096]["message"].endswith("during this case: pytest exited with -14")
    else:
        assert not jobs.part_failed(ended) and "3.90 GiB" in said[0]
        assert cases[4096]["status"] == "skipped-too-large"
        assert cases[4096]["message"].startswith("stopped at 3.90 GiB resident")
    assert read_journal(after[0]).done >= {"t::b"}


def test_run_shard_ends_a_process_past_its_memory_line(tmp_path):
    from toyad.bench import cluster

    hog = tmp_path / "conftest.py"
    hog.write_text(
        "import time\n"
        "def pytest_configure(config):\n"
        "    config._hog = bytearray(400 << 20)\n"  # touched: resident
        "    time.sleep(30)\n"
    )
    start = time.perf_counter()
    with pytest.raises(cluster.ShardFailed) as info:
        cluster.run_shard(["-p", "no:cacheprovider", str(tmp_path)], str(tmp_path), "1/1",
                          folder=str(tmp_path / "out"), memory_line=200 << 20)  # fmt: skip
    assert info.value.over_memory > 200 << 20 and "memory line" in str(info.value)
    assert time.perf_counter() - start < 20
