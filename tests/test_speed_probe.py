"""The speed probe before a case's rounds (toyad.bench.speed): waits while slow, bounded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from toyad.bench import speed
from toyad.report.compare import compare_frame
from toyad.report.load import Run, cases_frame


def scripted(monkeypatch, times: list[float]) -> list[float]:
    """probe_s returns these times in turn (then the last); sleeping is instant."""
    left = list(times)
    monkeypatch.setattr(speed, "probe_s", lambda: left.pop(0) if len(left) > 1 else left[0])
    monkeypatch.setattr(speed.time, "sleep", lambda s: None)
    return left


def usual(monkeypatch, probe: speed.SpeedProbe, t: float = 1.0) -> None:
    """Fill the probe's history with the usual time t."""
    scripted(monkeypatch, [t])
    for _ in range(speed.MIN_HISTORY):
        probe.slowdown()


def test_no_verdict_until_there_is_a_history(monkeypatch) -> None:
    probe = speed.SpeedProbe()
    scripted(monkeypatch, [1.0, 5.0])
    assert probe.wait_until_usual() == 1.0 and probe.wait_until_usual() == 1.0


def test_waits_while_the_probe_is_slow_then_reports_the_usual_speed(monkeypatch) -> None:
    probe = speed.SpeedProbe()
    usual(monkeypatch, probe)
    scripted(monkeypatch, [2.0, 1.9, 1.05])
    assert probe.wait_until_usual() == 1.05  # 2.0, 1.9 slow: probed again until usual


def test_usual_follows_a_drift(monkeypatch) -> None:
    """A run's probes settle slower as it goes: the usual moves with them."""
    probe = speed.SpeedProbe()
    usual(monkeypatch, probe, 1.0)
    scripted(monkeypatch, [1.2])
    for _ in range(speed.WINDOW):
        probe.slowdown()
    assert probe.wait_until_usual() == 1.0


def test_waiting_stops_at_the_run_budget_and_says_slow(monkeypatch) -> None:
    probe = speed.SpeedProbe()
    usual(monkeypatch, probe)
    scripted(monkeypatch, [3.0])
    assert probe.wait_until_usual(total_budget_s=0.0) > speed.SLOW_FACTOR  # reported slow


def test_waiting_stops_at_the_case_limit(monkeypatch) -> None:
    probe = speed.SpeedProbe()
    usual(monkeypatch, probe)
    scripted(monkeypatch, [3.0])
    assert probe.wait_until_usual(max_wait_s=0.0) > speed.SLOW_FACTOR


def test_the_probe_times_real_work() -> None:
    t = speed.probe_s()
    assert 0 < t < 0.1


def run_of(median: float, slowdown: float | None) -> Run:
    rng = np.random.default_rng(0)
    samples = list(median * (1 + 0.01 * rng.standard_normal(30)))
    row = dict(
        suite="scaling", backend="tensor", problem="p", operation="gradient", mode="reverse",
        n=16, m=1, status="ok", median_s=median, iqr_s=0.01 * median, rounds=30,
        machine_slowdown=slowdown, samples_s=samples,
    )  # fmt: skip
    frame = cases_frame([row])
    return Run(
        cases=frame,
        semantics=pd.DataFrame(),
        environment={},
        samples=pd.Series([samples], index=frame.index, dtype=object),
    )


def test_compare_gives_no_verdict_for_a_case_timed_on_a_slow_machine() -> None:
    frame, summary = compare_frame(run_of(1e-4, 1.0), run_of(2e-4, 1.6))
    assert frame.loc[0, "test"] == "machine-slow" and frame.loc[0, "time_change"] == ""
    assert summary["judged by machine-slow"] == 1
    frame, _ = compare_frame(run_of(1e-4, 1.0), run_of(2e-4, 1.02))
    assert frame.loc[0, "test"] == "rank-test" and frame.loc[0, "time_change"] == "slower"


def test_a_pause_for_the_usual_speed_holds_no_turn(tmp_path, monkeypatch) -> None:
    """While one job pauses for the machine to be at its usual speed, another may time."""
    from benchmarks import harness
    from toyad.bench import turns

    own = turns.Turns(str(tmp_path / "turns"))
    monkeypatch.setattr(turns, "_TURNS", own)
    h = harness.Harness(harness.PROFILES["quick"], ["reverse"], ["dense_tanh"], timing=True)
    depth_when_paused = []

    def pause(**_: float) -> float:
        depth_when_paused.append(own._depth)
        return 1.0

    monkeypatch.setattr(h.speed, "wait_until_usual", pause)
    timing = h.own_timing(lambda: sum(range(100)), 1e-5)
    assert depth_when_paused == [0]  # paused before the turn was taken
    assert own.held_s > 0 and timing.rounds >= harness.PROFILES["quick"].min_rounds


def test_a_job_going_on_in_a_fresh_process_keeps_its_pause_share(tmp_path, monkeypatch) -> None:
    """The pause share is the job's: a part that continues after earlier parts has what
    they paused taken off it."""
    import json

    from benchmarks import harness

    earlier = tmp_path / "part-1"
    earlier.mkdir()
    (earlier / "journal.jsonl").write_text(json.dumps({"kind": "header", "profile": "quick"}))
    spent = {"waited_for_usual_speed_s": 5.0}
    (earlier / "benchmark.json").write_text(
        json.dumps({"benchmarks": [], "toyad": {"time_spent": spent}})
    )
    h = harness.Harness(harness.PROFILES["quick"], ["reverse"], ["dense_tanh"], timing=True)
    shares = []

    def pause(total_budget_s: float = 0.0, **_: float) -> float:
        shares.append(total_budget_s)
        return 1.0

    monkeypatch.setattr(h.speed, "wait_until_usual", pause)
    full = speed.WAIT_SHARE * h.run_budget_s
    h._wait_for_usual_speed()
    h.continue_after(earlier)
    h._wait_for_usual_speed()
    assert shares == [pytest.approx(full), pytest.approx(full - 5.0)]
