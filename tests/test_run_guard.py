"""Issue 12: a run ends, bounded, and never loses what it measured.

- the guard stops a case past its time or memory limit (unit and through the harness);
- a run killed with SIGKILL leaves a journal that builds into a partial report, and
  ``--resume`` completes it without measuring any finished case twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

from toyad.bench import guard as guards
from toyad.bench.journal import Journal, read_journal, run_from_journal

ROOT = Path(__file__).resolve().parents[1]


# -- the guard itself -------------------------------------------------------------
def test_guard_stops_a_python_loop_at_the_time_limit():
    g = guards.Guard(max_rss_bytes=None)
    start = time.perf_counter()
    with pytest.raises(guards.CaseAborted) as caught, g.limits(0.2, "spin"):
        while True:
            sum(range(1000))
    elapsed = time.perf_counter() - start
    assert caught.value.kind == "time"
    assert "0.2 s hard limit" in caught.value.reason and "spin" in caught.value.reason
    assert 0.15 < elapsed < 2.0
    assert g.aborted == 1


def test_a_time_stop_a_library_swallows_is_raised_again():
    """JAX's tracing catches what its callbacks raise: the stop comes back until the case
    has left the guarded block."""
    guard, swallowed = guards.Guard(None), 0
    start = time.monotonic()
    with pytest.raises(guards.CaseAborted), guard.limits(0.2, "swallowed"):
        try:
            time.sleep(5)  # stopped here...
        except guards.CaseAborted:
            swallowed += 1  # ...by a stop a library swallows
        time.sleep(5)  # and the case goes on
    assert swallowed == 1 and time.monotonic() - start < 2
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # nothing left armed


def test_an_alarm_handled_after_the_case_left_its_block_is_inert():
    """The time stop repeats every REPEAT_S while the case is inside its block; an alarm
    whose handler runs once the case has left (it fired as the block ended) must neither
    stop what runs next nor arm the timer again (a job ended by SIGALRM once: the
    repeating alarm outlived its block and met the default handler)."""
    guard = guards.Guard(None)
    with pytest.raises(guards.CaseAborted), guard.limits(0.1, "late"):
        time.sleep(5)
    assert guard.fired is not None and guard.fired.kind == "time"
    guard._on_alarm(signal.SIGALRM, None)  # the late handler: nothing happens
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)

    # an alarm handled as the block's __exit__ begins (before its clean-up) does nothing
    # either: raised there, it would skip the clean-up and outlive the block
    block = guard.limits(5.0, "leaving")
    block.__enter__()
    guard.fired = guards.CaseAborted("time", "stopped")
    leaving = types.SimpleNamespace(f_code=guards._LEAVING[0])  # (_Limits.__exit__)
    guard._on_alarm(signal.SIGALRM, leaving)
    block.__exit__(None, None, None)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is not guard._on_alarm


def test_guard_stops_growing_memory_at_the_memory_limit():
    limit = guards.rss_bytes() + (150 << 20)
    g = guards.Guard(max_rss_bytes=limit, poll_s=0.01)
    hoard = []
    with pytest.raises(guards.CaseAborted) as caught, g.limits(30.0, "hoard"):
        for _ in range(10_000):  # 8 MiB a step, up to 80 GiB if nothing stopped it
            hoard.append(bytearray(8 << 20))
            time.sleep(0.001)
    assert caught.value.kind == "memory"
    assert "GiB limit" in caught.value.reason
    assert len(hoard) * (8 << 20) < (1 << 30)  # stopped within a few polls of the limit
    del hoard
    guards.release_memory()


def test_guard_does_not_start_a_case_already_over_the_memory_limit():
    # Deterministic, however short the case: no race with the watcher's poll.
    g = guards.Guard(max_rss_bytes=1 << 20, poll_s=10.0)
    ran = []
    with pytest.raises(guards.CaseAborted) as caught, g.limits(5.0, "short"):
        ran.append(True)
    assert caught.value.kind == "memory" and not ran
    assert "not started" in caught.value.reason and "short" in caught.value.reason


def test_guard_leaves_a_case_within_limits_alone():
    g = guards.Guard(max_rss_bytes=guards.rss_bytes() + (1 << 30))
    with g.limits(5.0, "quick"):
        total = sum(range(10_000))
    assert total == 49_995_000 and g.aborted == 0
    time.sleep(0.05)  # no stray alarm after the block


# -- the journal ---------------------------------------------------------------------
def test_journal_tolerates_a_torn_last_line_and_drops_unfinished_items(tmp_path):
    j = Journal(tmp_path)
    j.write("header", profile="quick", started="2026-11-30T00:00:00+00:00", environment={})
    j.write("case", nodeid="a", record={"suite": "s", "backend": "b", "status": "ok"})
    j.write("done", nodeid="a")
    j.write("case", nodeid="b", record={"suite": "s", "backend": "b", "status": "ok"})
    j.close()
    with open(tmp_path / "journal.jsonl", "a") as handle:
        handle.write('{"kind": "case", "nodeid": "c", "rec')  # killed mid-line
    contents = read_journal(tmp_path)
    assert contents.done == {"a"}
    assert len(contents.cases) == 1 and contents.dropped == 1 and contents.torn_lines == 1
    run = run_from_journal(tmp_path)
    assert run["toyad"]["complete"] is False
    assert "did not finish" in run["toyad"]["incomplete_reason"]


# -- through the harness, in subprocesses ------------------------------------------------
def _pytest(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _cases(folder: Path) -> list[dict]:
    return json.loads((folder / "benchmark.json").read_text())["toyad"]["cases"]


def test_harness_records_cases_stopped_by_the_time_and_memory_limits(tmp_path):
    # The reverse toy's 64 x 64 Jacobian takes ~0.2 s a call: a 0.02 s hard limit
    # stops it (and the larger sizes after it); a memory limit below the process's
    # own size stops every case that lasts past the watcher's first poll.
    common = [
        "benchmarks/bench_scaling.py::test_jacobian_grid",
        "--benchmark-disable",
        "--backends",
        "reverse",
        "--problems",
        "dense_tanh",
    ]
    slow = _pytest(*common, "--hard-limit-s", "0.02", "--report-dir", str(tmp_path / "t"))
    assert slow.returncode == 0, slow.stdout[-2000:]
    cases = _cases(tmp_path / "t" / "latest")
    stopped = [c for c in cases if "hard limit per case" in (c["message"] or "")]
    assert stopped and all(c["status"] == "skipped-too-slow" for c in stopped)
    assert any(c["status"] == "ok" for c in cases)  # the run went on
    big = [c for c in cases if c["mode"] == "reverse" and c["n"] * c["m"] > 64 * 64]
    assert all(c["status"] == "skipped-too-slow" for c in big)

    # A limit below the process's own size: no case can start within it, so every
    # case is recorded skipped-too-large (none lost), and the run still ends cleanly.
    tiny = _pytest(*common, "--max-rss-gib", "0.01", "--report-dir", str(tmp_path / "m"))
    assert tiny.returncode == 0, tiny.stdout[-2000:]
    cases = _cases(tmp_path / "m" / "latest")
    assert cases and len(cases) == len(_cases(tmp_path / "t" / "latest"))
    assert all(c["status"] == "skipped-too-large" for c in cases)
    assert all("GiB limit" in c["message"] for c in cases)
    env = json.loads((tmp_path / "m" / "latest" / "benchmark.json").read_text())["toyad"][
        "environment"
    ]
    assert env["peak_rss_bytes"] > 0 and env["max_rss_bytes"] == int(0.01 * 2**30)


def test_a_killed_run_reports_partially_and_resumes_without_measuring_twice(tmp_path):
    args = [
        "benchmarks/bench_scaling.py",
        "benchmarks/bench_accuracy.py::test_accuracy",
        "--benchmark-disable",
        "--backends",
        "reverse,dual,tensor",
        "--problems",
        "dense_tanh,rosenbrock",
        "--report-dir",
        str(tmp_path),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    journal = None
    while time.monotonic() < deadline:
        found = [p for p in tmp_path.glob("*/journal.jsonl")]
        if found and found[0].read_text().count('"kind": "done"') >= 25:
            journal = found[0]
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    assert journal is not None, "the run finished or stalled before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    folder = journal.parent
    assert not (folder / "benchmark.json").exists()
    done_before = read_journal(folder).done

    report = subprocess.run(
        [sys.executable, "-m", "toyad.report", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0, report.stderr
    page = (folder / "index.html").read_text()
    assert "Incomplete run" in page and "--resume" in page
    partial = (folder / "results.csv").read_text().splitlines()
    assert len(partial) - 1 == len(read_journal(folder).cases) > 0

    resumed = _pytest(*args[:-2], "--resume", str(folder))
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert "deselected" in resumed.stdout
    cases = _cases(folder)
    ids = [c["nodeid"] for c in cases]
    assert len(ids) == len(set(ids)), "a case was recorded twice"

    # every case of an uninterrupted run is there, once
    collected = _pytest(*args[:-2], "--collect-only", "--report-dir", str(tmp_path / "x"))
    expected = {line for line in collected.stdout.splitlines() if "::" in line}
    assert set(ids) == expected

    # nothing finished before the kill was measured again after it
    lines = [json.loads(x) for x in (folder / "journal.jsonl").read_text().splitlines() if x]
    after_resume = [e["nodeid"] for e in lines if e.get("kind") == "case"]
    counts = {}
    for nodeid in after_resume:
        counts[nodeid] = counts.get(nodeid, 0) + 1
    twice = [n for n, k in counts.items() if k > 1 and n in done_before]
    assert not twice, f"measured twice: {twice[:5]}"
    assert json.loads((folder / "benchmark.json").read_text())["toyad"]["resumed_from"]
    assert (tmp_path / "latest").resolve() == folder.resolve()


def test_a_spent_run_budget_records_the_remaining_items_unrun(tmp_path):
    start = time.perf_counter()
    result = _pytest(
        "benchmarks/bench_scaling.py::test_jacobian_grid",
        "--benchmark-only",
        "--backends",
        "reverse,dual,symbolic,reverse-recursive,numeric-central",
        "--problems",
        "dense_tanh",
        "--run-budget-s",
        "3",
        "--report-dir",
        str(tmp_path),
    )
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stdout[-2000:]
    run = json.loads((tmp_path / "latest" / "benchmark.json").read_text())["toyad"]
    cases = run["cases"]
    unrun = [c for c in cases if "run budget" in (c["message"] or "")]
    assert unrun and all(c["status"] == "skipped-too-slow" for c in unrun)
    assert any(c["status"] == "ok" for c in cases)
    assert {c["suite"] for c in unrun} >= {"scaling"}
    assert run["environment"]["run_budget_s"] == 3.0
    assert elapsed < 120
    # a cut is said: the command's last line, and the first finding of the page
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("toyad: NOT MEASURED") and f"scaling {len(unrun)})" in last, last
    page = (tmp_path / "latest" / "index.html").read_text()
    findings = page[page.index('id="findings"') :]
    first = findings[findings.index("<li") : findings.index("</li>")]
    assert "NOT MEASURED" in first and f"left {len(unrun)} of the" in first, first
    spent = {row["suite"]: row for row in run["time_spent"]["suites"]}
    assert spent["scaling"]["not_run"] == len(unrun)
    assert (tmp_path / "latest" / "time.csv").is_file()


def test_a_forward_ad_level_left_open_by_a_stopped_case_is_closed_on_release():
    # A case stopped by the hard limit inside torch's dual level (or inside a
    # compile tracing one) left it open, and every later forward-mode call failed
    # with "Nested forward mode AD is not supported". release() closes it.
    torch = pytest.importorskip("torch")
    from toyad import backends

    b = backends.get("torch-forward-ad")
    torch._C._enter_dual_level()  # what an interrupted `with fwAD.dual_level()` leaves
    b.release()
    x = np.array([0.3, -1.2, 2.0])
    g = b.gradient(lambda xp, z: xp.sum(z * z), x)
    np.testing.assert_allclose(g, 2 * x)
    b.release()  # and closing when nothing is open is harmless


def test_a_timed_run_lets_the_backends_take_turns_within_a_suite():
    # A budget cut mid-suite must lose every backend's largest sizes alike, not the
    # backends that come last: collected for a timed run, the k-th case of each
    # backend comes before the (k+1)-th of any, each backend keeping its own order.
    out = _pytest(
        "benchmarks/bench_scaling.py::test_jacobian_grid",
        "--collect-only",
        "--benchmark-only",
        "--backends",
        "reverse,tensor",
        "--problems",
        "dense_tanh",
    )
    ids = [line for line in out.stdout.splitlines() if "::test_jacobian_grid[" in line]
    backends_in_order = ["tensor" if "[tensor-" in i else "reverse" for i in ids]
    assert len(ids) > 8
    assert backends_in_order[:4] == ["reverse", "tensor", "reverse", "tensor"]
    plain = _pytest(
        "benchmarks/bench_scaling.py::test_jacobian_grid",
        "--collect-only",
        "--benchmark-disable",
        "--backends",
        "reverse,tensor",
        "--problems",
        "dense_tanh",
    )
    plain_ids = [line for line in plain.stdout.splitlines() if "::test_jacobian_grid[" in line]
    assert sorted(plain_ids) == sorted(ids)  # the same items, only their order differs
    for backend in ("reverse", "tensor"):  # each backend's own order is kept
        mine = [i for i in ids if f"[{backend}-" in i]
        assert mine == [i for i in plain_ids if f"[{backend}-" in i]


def test_a_timed_run_runs_the_small_suites_first_and_accuracy_last():
    # A run budget that cuts, cuts the tails of the last suites: the elastic ones
    # (scaling, accuracy, workloads), never the small fixed suites.
    args = [
        "benchmarks/bench_accuracy.py",
        "benchmarks/bench_scaling.py",
        "benchmarks/bench_semantics.py",
        "--collect-only",
        "--backends",
        "reverse",
        "--problems",
        "rosenbrock,dense_tanh",
    ]
    timed = _pytest(*args, "--benchmark-only")
    files = [line.split("::")[0] for line in timed.stdout.splitlines() if "::" in line]
    order = list(dict.fromkeys(files))
    assert order == [
        "benchmarks/bench_semantics.py",
        "benchmarks/bench_scaling.py",
        "benchmarks/bench_accuracy.py",
    ], order
    plain = _pytest(*args, "--benchmark-disable")  # the test command: collected order
    plain_files = [line.split("::")[0] for line in plain.stdout.splitlines() if "::" in line]
    assert list(dict.fromkeys(plain_files))[0] == "benchmarks/bench_accuracy.py"
