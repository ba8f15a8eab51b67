"""toyad.memory: the measurers see known allocations, the worker reports crashes as
errors, and the chain's hand-written gradient is right (numpy only, no frameworks)."""

from __future__ import annotations

import numpy as np
import pytest

from toyad import memory

MB8 = 10**6  # floats: 8 MB


def test_tracemalloc_sees_a_known_allocation():
    result, peak = memory.tracemalloc_peak(lambda: float(np.ones(MB8).sum()))
    assert result == MB8
    assert 8e6 <= peak <= 8e6 + 64_000  # the buffer plus a little bookkeeping


def test_tracemalloc_counts_only_what_the_call_adds():
    held = np.ones(MB8)  # allocated before: not part of the peak
    _, peak = memory.tracemalloc_peak(lambda: held.sum())
    assert peak < 100_000
    _, peak = memory.tracemalloc_peak(lambda: [np.ones(MB8) for _ in range(3)])
    assert 24e6 <= peak <= 24e6 + 64_000


def test_rss_peak_in_process_sees_a_touched_allocation():
    if not memory.reset_hwm():
        pytest.skip("/proc/self/clear_refs is not writable here")
    _, peak, baseline = memory.rss_peak(lambda: float(np.ones(4 * MB8).sum()))
    assert baseline > 0
    assert 32e6 * 0.95 <= peak <= 32e6 * 1.25


def test_subprocess_measures_known_allocations_in_one_worker():
    cases = [("toyad.memory:allocation_probe", {"floats": n}) for n in (4 * MB8, MB8)]
    small, large = cases[1], cases[0]
    outcomes = memory.subprocess_peak([small, large], rounds=2, budget_s=0.1)
    assert [o.ok for o in outcomes] == [True, True], [o.error for o in outcomes]
    assert 8e6 * 0.9 <= outcomes[0].peak_bytes <= 8e6 * 1.5
    assert 32e6 * 0.9 <= outcomes[1].peak_bytes <= 32e6 * 1.25
    assert outcomes[1].result.tolist() == [4.0 * MB8]
    assert len(outcomes[0].times_s) == 2 and all(t > 0 for t in outcomes[0].times_s)
    assert outcomes[0].baseline_bytes > 0


def test_subprocess_reports_a_failing_case_as_an_error_and_goes_on():
    cases = [
        ("toyad.memory:allocation_probe", {"crash": "no such layer"}),
        ("toyad.memory:no_such_target", {}),
        ("toyad.memory:allocation_probe", {"floats": 10}),
    ]
    outcomes = memory.subprocess_peak(cases, rounds=0)
    assert not outcomes[0].ok and outcomes[0].error == "RuntimeError: no such layer"
    assert not outcomes[1].ok and "no_such_target" in outcomes[1].error
    assert outcomes[2].ok and outcomes[2].times_s == []


def test_a_dying_worker_leaves_errors_with_its_last_words():
    cases = [
        ("toyad.memory:allocation_probe", {"floats": 10}),
        ("toyad.memory:allocation_probe", {"floats": 10, "exit": 3}),
        ("toyad.memory:allocation_probe", {"floats": 10}),
    ]
    outcomes = memory.subprocess_peak(cases, rounds=0)
    assert outcomes[0].ok
    assert [o.ok for o in outcomes[1:]] == [False, False]
    assert "exited with code 3" in outcomes[1].error


def test_a_worker_started_early_imports_first_and_measures_when_asked():
    worker = memory.start_worker(preload=("json", "no_such_module_here"))
    assert worker.poll() is None  # waiting for its request (a bad preload is not fatal)
    (outcome,) = memory.subprocess_peak(
        [("toyad.memory:allocation_probe", {"floats": MB8})], rounds=1, worker=worker
    )
    assert outcome.ok, outcome.error
    assert 8e6 * 0.9 <= outcome.peak_bytes <= 8e6 * 1.5
    assert worker.returncode == 0


def test_a_worker_never_asked_exits_quietly_when_its_input_closes():
    worker = memory.start_worker(preload=("json",))
    out, err = worker.communicate("", timeout=60)
    assert worker.returncode == 0 and out == "" and "Traceback" not in err


def test_a_worker_imports_on_the_cpus_it_is_given_and_measures_on_its_own(monkeypatch):
    import os

    from toyad import runtime

    moves = []
    monkeypatch.setattr(runtime, "set_affinity", lambda cpus: moves.append(set(cpus)))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {1}, raising=False)
    measure_on = memory._preload(["--threads", "1", "--import-cpus", "0", "json"])
    assert moves == [{0}] and measure_on == {1}
    assert memory._preload(["json"]) is None and moves == [{0}]  # none given: not moved


def test_bad_target_spec():
    (outcome,) = memory.subprocess_peak([("toyad.memory", {})], rounds=0)
    assert not outcome.ok and "module:function" in outcome.error


def test_chain_gradient_by_hand_matches_central_differences():
    weights = memory.chain_weights(5, 4)
    x = memory.chain_input(4)
    value, g = memory.chain_value_and_gradient(weights, x)

    def f(x):
        for w_i in weights:
            x = np.tanh(w_i @ x)
        return x.sum()

    assert value == pytest.approx(f(x), rel=1e-15)
    h = 1e-6
    numeric = [(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(4)]
    np.testing.assert_allclose(g, numeric, rtol=1e-8, atol=1e-10)


def test_chain_weights_are_seeded_and_scaled():
    a = memory.chain_weights(3, 200)
    assert np.array_equal(a, memory.chain_weights(3, 200))
    assert a.shape == (3, 200, 200)
    assert a.std() == pytest.approx(1 / np.sqrt(200), rel=0.02)
    with pytest.raises(ValueError, match="layers >= 1"):
        memory.chain_weights(0, 4)
    assert memory.layer_state_bytes(256) == 2048
