"""Work ahead: a waiting job prepares its next case, and the case starts from there."""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time

import pytest

from tests.test_harness import FakeBackend, FakeBenchmark, make_harness
from toyad.bench import guard, harness, speed, turns


def two_backends(h: harness.Harness, **kw) -> tuple[FakeBackend, FakeBackend]:
    """'fake' (running now) and 'next' (the next item's), both loaded."""
    caps = {"jacobian": ("forward",), "primal": ("forward",)}
    running = FakeBackend(name="fake", family="toy", capabilities=caps)
    following = FakeBackend(name="next", family="toy", capabilities=caps, **kw)
    h._entries["fake"] = harness.BackendEntry("fake", running)
    h._entries["next"] = harness.BackendEntry("next", following)
    return running, following


def next_spec(backend: str = "next") -> harness.CaseSpec:
    return harness.CaseSpec("scaling", backend, "dense_tanh", "jacobian", "forward", 4, 3)


def test_the_next_case_is_prepared_while_waiting_and_its_item_starts_from_there():
    h = make_harness()
    _, following = two_backends(h, behaviour="slow-first", delay_s=0.05)
    h.ahead.running_backend = "fake"
    h.ahead.expect("current", [("item-2", next_spec())])
    assert h.work_ahead()
    ready = h.ahead.ready["item-2"]
    assert ready.nodeid == "item-2" and h.ahead.made == 1
    assert following.calls["calls"] == 1 and ready.first_s >= 0.05  # its first call, made
    assert not h.work_ahead()  # once per item: nothing left to do
    assert h.ahead.made == 1

    h.ahead.expect("item-2", [])  # the item starts: its case is kept for it
    h.current_nodeid = "item-2"
    bench = FakeBenchmark()
    record = h.run_case(bench, next_spec())
    assert record["status"] == "ok" and bench.extra_info.get("worked_ahead") is True
    assert record["first_call_s"] == ready.first_s and record["prepare_s"] == ready.prepare_s
    assert record["median_s"] < 0.05  # the timed rounds after the one-off first call
    assert h.ahead.used == 1 and h.ahead.ready == {}


@pytest.mark.parametrize(
    "why",
    ["same backend as the running case", "another item runs next", "a deep release between"],
)
def test_a_case_prepared_ahead_is_not_used_where_it_may_not_hold(why):
    h = make_harness()
    two_backends(h)
    h.ahead.running_backend = "fake"
    spec = next_spec("fake" if why.startswith("same") else "next")
    h.ahead.expect("current", [("item-2", spec)])
    h.work_ahead()
    if why.startswith("same"):
        assert h.ahead.ready == {}  # its release after the case may drop the build
        return
    assert "item-2" in h.ahead.ready
    if why.startswith("another"):
        h.ahead.expect("item-3", [])  # item-2 was passed over
        assert h.ahead.ready == {}
        return
    h.deep_release()
    h.ahead.expect("item-2", [])
    h.current_nodeid = "item-2"
    bench = FakeBenchmark()
    assert h.run_case(bench, spec)["status"] == "ok"
    assert "worked_ahead" not in bench.extra_info and h.ahead.used == 0


def test_work_ahead_past_its_limit_is_stopped_and_the_waiting_case_goes_on(monkeypatch):
    """The work ahead has a time limit of its own; its stop is caught there, and the case
    that was waiting keeps its own limits (its block still stops it)."""
    from toyad.bench import ahead

    monkeypatch.setattr(ahead, "AHEAD_LIMIT_S", 0.05)
    monkeypatch.setattr(harness, "AHEAD_LIMIT_S", 0.05)
    h = make_harness()
    two_backends(h, behaviour="slow-first", delay_s=0.6)
    h.ahead.running_backend = "fake"
    h.ahead.expect("current", [("item-2", next_spec())])
    with h.guard.limits(2.0, "the waiting case"):
        h.work_ahead()
        assert h.ahead.ready == {} and h.ahead.stopped == 1
        assert h.guard._armed and h.guard.fired is None and h.guard._label == "the waiting case"
        with pytest.raises(guard.CaseAborted, match="the waiting case"):
            signal.setitimer(signal.ITIMER_REAL, 0.05)  # the waiting case's own stop
            time.sleep(1.0)


def test_a_turn_taken_by_another_job_is_waited_for_with_work_meanwhile(tmp_path):
    path = str(tmp_path / "turns")
    own = turns.Turns(path)
    other = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(other, fcntl.LOCK_EX)  # another job times
    worked = []

    def meanwhile() -> bool:
        if worked:
            return False  # nothing left to do
        worked.append(time.perf_counter())
        time.sleep(0.1)
        return True

    own.while_waiting = meanwhile
    threading.Timer(0.3, lambda: fcntl.flock(other, fcntl.LOCK_UN)).start()
    start = time.perf_counter()
    with own.exclusive():
        taken = time.perf_counter() - start
    assert len(worked) == 1 and taken >= 0.3  # worked once, then waited for the turn
    assert own.worked_s >= 0.1 and own.waited_s == pytest.approx(taken - own.worked_s, abs=0.01)
    with own.exclusive():  # a free turn: taken at once, nothing done meanwhile
        pass
    assert len(worked) == 1
    os.close(other)


def test_a_pause_for_the_usual_speed_is_spent_working_ahead(monkeypatch):
    probe = speed.SpeedProbe()
    monkeypatch.setattr(speed, "probe_s", lambda: 1.0)
    for _ in range(speed.MIN_HISTORY):
        probe.slowdown()
    times = iter([3.0, 1.0])
    monkeypatch.setattr(speed, "probe_s", lambda: next(times))
    slept, worked = [], []
    monkeypatch.setattr(speed.time, "sleep", slept.append)
    assert probe.wait_until_usual(while_paused=lambda: worked.append(1)) == 1.0
    assert worked == [1] and len(slept) == 1 and slept[0] <= speed.PAUSE_S


def test_items_further_ahead_are_prepared_unless_a_case_before_them_shares_their_backend():
    h = make_harness()
    two_backends(h)
    third = FakeBackend(name="third", family="toy", capabilities={"jacobian": ("forward",)})
    h._entries["third"] = harness.BackendEntry("third", third)
    h.ahead.running_backend = "fake"
    upcoming = [
        ("item-2", next_spec("next")),
        ("item-3", next_spec("next")),  # its backend runs before it (item-2): not ahead
        ("item-4", next_spec("third")),
    ]
    h.ahead.expect("current", upcoming)
    while h.work_ahead():
        pass
    assert set(h.ahead.ready) == {"item-2", "item-4"} and h.ahead.made == 2


def test_with_no_case_to_prepare_a_waiting_job_loads_the_next_backend_its_items_use():
    h = make_harness()
    two_backends(h)
    h._entries["later"] = harness.BackendEntry.lazy("reverse")
    h._entries["unused"] = harness.BackendEntry.lazy("dual")
    h.ahead.to_load = ["fake", "later"]
    assert not h._entries["later"].loaded
    assert h.work_ahead()  # nothing to prepare: the next backend to be used is loaded
    assert h._entries["later"].loaded and h._entries["later"].backend is not None
    assert not h.work_ahead() and not h._entries["unused"].loaded
    assert h.ahead.counts()["backends_loaded_ahead"] == 1


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_what_work_ahead_grows_is_not_the_waiting_cases_memory_but_the_prepared_ones():
    """The waiting case's peak and growth (which predict its larger sizes' memory) leave
    out what work ahead allocated meanwhile; the case prepared ahead counts it as its own."""
    from toyad.bench import ahead as ahead_module

    work = ahead_module.WorkAhead()
    work.case_started()
    before = guard.rss_bytes()
    memory = work.memory_before()
    build = bytearray(64 << 20)  # the next case's build, kept for it
    build[::4096] = b"x" * len(build[::4096])  # (touched: resident)
    prepared = ahead_module.Prepared(
        "item-2", None, None, None, None, lambda: None, 0.0, None, 0.0, 0, 0
    )
    work.memory_after(memory, prepared)
    assert work.grown_in_case >= 60 << 20 and prepared.rss_grown >= 60 << 20
    peak_now = guard.peak_rss_bytes()
    assert work.case_peak(peak_now) <= max(before, peak_now - (60 << 20))  # not the build
    work.case_started()  # the prepared case starts: its build, allocated before, is its own
    work.taken = prepared
    assert work.case_growth(1 << 20) >= 60 << 20
    del build
