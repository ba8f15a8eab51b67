"""Unit tests of the benchmark harness (benchmarks/harness.py and the root conftest).

The machinery is driven with a fake backend and a fake benchmark fixture, so
every status is reached on purpose; whole pytest sessions run in a
subprocess (pytester) on a small backend and problem set.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks import harness
from toyad import backends, numeric
from toyad.backends.base import Backend, UnsupportedOperation
from toyad.results import BUDGET_CUT_PREFIX, CASE_COLUMNS, EXTRA_CASE_FIELDS, STATUSES

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]


# -- selection ------------------------------------------------------------------
KNOWN = ["analytic", "numeric-forward", "numeric-central", "jax-eager", "jax-jit", "tensor"]


def test_select_names_exact_glob_and_order():
    assert harness.select_names("jax-jit,analytic", KNOWN, "backend") == ["analytic", "jax-jit"]
    assert harness.select_names("numeric-*", KNOWN, "backend") == [
        "numeric-forward",
        "numeric-central",
    ]
    assert harness.select_names("jax-*, tensor", KNOWN, "backend") == [
        "jax-eager",
        "jax-jit",
        "tensor",
    ]
    assert harness.select_names(None, KNOWN, "backend") == KNOWN
    assert harness.select_names("", KNOWN, "backend") == KNOWN


def test_select_names_unknown_lists_the_known():
    with pytest.raises(harness.SelectionError, match="unknown backend 'torch-\\*'") as info:
        harness.select_names("analytic,torch-*", KNOWN, "backend")
    assert "known backends: analytic, numeric-forward" in str(info.value)


# -- error metric and statuses -------------------------------------------------------
def test_max_rel_error_is_relative_to_the_largest_true_entry():
    truth = np.array([100.0, 1e-9, -3.0])
    approx = truth + np.array([0.0, 1e-6, 0.5])
    assert harness.max_rel_error(approx, truth) == pytest.approx(0.5 / 100.0)
    assert harness.max_rel_error(truth, truth) == 0.0


def test_max_rel_error_zero_truth_and_shapes():
    assert harness.max_rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert harness.max_rel_error(np.full(3, 1e-3), np.zeros(3)) > 1e300
    # same entries, other layout: the documented shape is enforced (issue 13, item 8)
    with pytest.raises(harness.ShapeMismatch, match=r"shape \(1, 4\).*\(4,\)"):
        harness.max_rel_error(np.ones((1, 4)), np.ones(4))
    with pytest.raises(harness.ShapeMismatch, match="transposed|shape"):  # (n, m) for (m, n)
        harness.max_rel_error(np.ones((4, 1)), np.ones((1, 4)))
    with pytest.raises(harness.ShapeMismatch, match=r"shape \(3,\).*\(4,\)"):
        harness.max_rel_error(np.ones(3), np.ones(4))


def test_status_for_nan_is_wrong():
    assert harness.status_for(1e-13, 1e-12) == "ok"
    assert harness.status_for(2e-12, 1e-12) == "wrong"
    assert harness.status_for(harness.max_rel_error([np.nan], [1.0]), 1.0) == "wrong"


def test_tolerances():
    assert harness.tolerance_for("jax-jit", "rosenbrock", "gradient") == harness.EXACT_TOLERANCE
    for method in numeric.METHODS:
        name = f"numeric-{method}"
        assert harness.tolerance_for(name, "rosenbrock", "gradient") == numeric.TOLERANCE[method]
        hess = harness.tolerance_for(name, "rosenbrock", "hessian")
        assert hess == numeric.HESSIAN_TOLERANCE[method]
    assert harness.tolerance_for("numeric-central", "rosenbrock", "primal") == 1e-12


# -- time caps and rounds ----------------------------------------------------------
def test_slow_registry_skips_sizes_dominating_a_slow_one():
    reg = harness.SlowRegistry(cap_s=1.0)
    key = ("b", "p", "jacobian", "forward")
    reg.note(key, 4, 1, 0.01)
    assert reg.verdict(key, 16, 1) is None
    reg.note(key, 16, 1, 2.0)  # over the cap
    assert "n=16, m=1 already took 2 s" in reg.verdict(key, 64, 1)
    assert "n=16" in reg.verdict(key, 64, 4)
    assert reg.verdict(key, 1, 64) is None  # not larger in every dimension
    assert reg.verdict(key, 16, 1) is None  # the same size is not "smaller"
    assert reg.verdict(("b", "p", "jacobian", "reverse"), 64, 1) is None  # other mode


def test_slow_registry_a_preset_with_more_data_at_the_same_n_is_larger():
    # GradBench's llsq keeps n = 128 while its points grow from 16 to 16,392; lstm keeps
    # n while its text grows: more data at the same (n, m) is a larger size for the cap
    reg = harness.SlowRegistry(cap_s=1.0, factor=8.0)
    key = ("b", "llsq", "gradient", "reverse")
    reg.note(key, 128, 1, 1.5, data=1_000)  # over the cap
    assert "with less data" in reg.verdict(key, 128, 1, data=2_000)
    assert reg.verdict(key, 128, 1, data=1_000) is None  # the same size
    assert reg.verdict(key, 128, 1, data=500) is None  # smaller
    assert reg.verdict(key, 128, 1) is None  # data unknown: only n and m decide
    reg2 = harness.SlowRegistry(cap_s=1.0, factor=8.0)
    reg2.note(key, 128, 1, 0.5, data=1_000)  # under the cap; at least linear in data
    assert reg2.verdict(key, 128, 1, data=10_000) is None  # 5 s: within 8 x the cap
    assert "extrapolated" in reg2.verdict(key, 128, 1, data=20_000)  # 10 s


def test_slow_registry_guaranteed_timeout_extrapolation():
    reg = harness.SlowRegistry(cap_s=1.0, factor=8.0)
    key = ("b", "p", "hessian", "forward-over-reverse")
    reg.note(key, 16, 1, 0.6)  # under the cap; 4x larger n -> at least 0.6 * 16 = 9.6 s
    assert "extrapolated" in reg.verdict(key, 64, 1)
    reg2 = harness.SlowRegistry(cap_s=1.0, factor=8.0)
    reg2.note(key, 16, 1, 0.01)
    assert reg2.verdict(key, 64, 1) is None


def test_slow_registry_predicts_memory_only_from_a_nearby_size():
    reg = harness.SlowRegistry(cap_s=1.0)
    key = ("b", "p", "jacobian", "reverse")
    gib = 1 << 30
    # A first, tiny case grew the process by 70 MiB (a library's one-time allocations):
    # scaling that by n·m to n = 64 (x64) would claim 4.4 GiB; no prediction that far.
    reg.note_memory(key, 1, 1, 70 << 20)
    assert reg.memory_verdict(key, 64, 1, available=2 * gib) is None
    # A size 4x smaller that grew 1 GiB predicts 4 GiB: over 2 GiB available.
    reg.note_memory(key, 256, 1, gib)
    verdict = reg.memory_verdict(key, 1024, 1, available=2 * gib)
    assert verdict and "n=256, m=1" in verdict and "4.00 GiB" in verdict
    assert reg.memory_verdict(key, 1024, 1, available=8 * gib) is None
    # growth under the notice threshold predicts nothing
    reg.note_memory(key, 4, 4, 1 << 20)
    assert reg.memory_verdict(key, 16, 16, available=1) is None


def test_a_size_past_one_too_large_for_memory_is_not_started():
    """A prediction reaches only MEMORY_SCALE_REACH past a measured size: torch-autograd's
    reverse Jacobian of GradBench's ht grew 0.75 GiB at m = 1,200, was predicted too large
    at m = 2,400 and 4,800, and ran at m = 9,600 (out of reach, so unpredicted) to 23 GiB
    inside one call, until the kernel killed the job. A size past one judged too large
    is not started."""
    h = make_harness()
    fake_entry(h)
    h.max_rss_bytes = 4 << 30
    key = ("fake", "dense_tanh", "jacobian", "forward")
    h.slow.note_memory(key, 16, 16, 3 << 30)  # x4 at 32 x 32: over the limit
    assert h.run_case(FakeBenchmark(), spec(n=32, m=32))["status"] == "skipped-too-large"
    last = h.run_case(FakeBenchmark(), spec(n=1024, m=32))  # 256x: past any prediction
    assert last["status"] == "skipped-too-large"
    assert "n=32, m=32 was too large" in last["message"]
    assert h.run_case(FakeBenchmark(), spec(n=16, m=8))["status"] == "ok"  # smaller: runs


def test_memory_of_a_batched_forward_gradient_grows_as_n_squared():
    # n tangents ride on every intermediate of an O(n) primal: 4x n is 16x memory, where
    # the n·m rule said 4x (a TensorFlow forward gradient grew 0.6 GiB at n = 1024 and
    # reached 9.5 GiB at n = 4096, inside one call)
    from functools import partial

    from toyad.bench.limits import memory_weight

    reg = harness.SlowRegistry(cap_s=1.0)
    key = ("b", "p", "gradient", "forward")
    gib = 1 << 30
    reg.note_memory(key, 1024, 1, int(0.6 * gib))
    assert reg.memory_verdict(key, 4096, 1, available=3 * gib) is None  # the n·m rule: 2.4

    def batched(n, m):
        return memory_weight("gradient", n, m, batch=n)

    verdict = reg.memory_verdict(key, 4096, 1, available=3 * gib, weight=batched)
    assert verdict and "9.59 GiB" in verdict
    # one pass at a time (a loop over the seeds): memory of one pass, ~n
    assert memory_weight("gradient", 4096, 1) / memory_weight("gradient", 1024, 1) == 4
    # a batched reverse Jacobian: m cotangent rows of n + m
    rows = partial(memory_weight, "jacobian", batch=64)
    assert rows(256, 64) == 64 * (256 + 64) + 256 * 64


def test_choose_rounds_fits_the_budget():
    prof = harness.PROFILES["quick"]
    rounds, iterations = harness.choose_rounds(1e-3, 0.1, prof)
    assert (rounds, iterations) == (100, 1)
    rounds, iterations = harness.choose_rounds(1e-6, 0.02, prof)
    assert iterations * 1e-6 >= prof.min_round_s
    assert rounds * iterations * 1e-6 <= 0.02 * 1.01
    assert harness.choose_rounds(0.5, 0.02, prof)[0] == prof.min_rounds
    assert harness.choose_rounds(5.0, 0.02, prof, cap_s=1.0) == (1, 1)


def test_profiles_grids_are_ordered_and_reach_256():
    for prof in harness.PROFILES.values():
        assert list(prof.jacobian_grid) == sorted(prof.jacobian_grid)
    quick = harness.PROFILES["quick"].jacobian_grid
    assert (256, 1) in quick and (1, 256) in quick
    assert (4096, 4096) in harness.PROFILES["full"].jacobian_grid


def test_jacobian_cells_extend_only_the_two_edges():
    from toyad.bench.profiles import jacobian_cells

    for prof in harness.PROFILES.values():
        cells = jacobian_cells(prof)
        assert set(prof.jacobian_grid) <= set(cells)
        # every cell after the cells smaller in both dimensions (they predict its cost),
        # and the two edges grow together (a budget cut keeps both sides to one size)
        for i, (n, m) in enumerate(cells):
            assert not any(n0 <= n and m0 <= m for n0, m0 in cells[i + 1 :])
            assert all(max(c) <= max(n, m) for c in cells[:i])
        extra = set(cells) - set(prof.jacobian_grid)
        top = max(prof.edge_sizes)
        assert (top, 1) in extra and (1, top) in extra
        assert all(n == 1 or m == 1 for n, m in extra)  # no interior cell past the grid
    quick = jacobian_cells(harness.PROFILES["quick"])
    assert (4096, 1) in quick and (1, 4096) in quick and (64, 64) not in quick


# -- fits ---------------------------------------------------------------------------
def _scaling_record(backend, mode, n, m, seconds, passes):
    return harness.blank_record(
        suite="scaling", backend=backend, problem="dense_tanh", operation="jacobian",
        mode=mode, n=n, m=m, median_s=seconds, status="ok", passes=passes,
    )  # fmt: skip


def test_scaling_fits_and_tradeoffs_on_synthetic_costs():
    records = []
    for size in (1, 4, 16, 64, 256):
        # forward: n passes (slope 1 in n, 0 in m); reverse: m passes
        records.append(_scaling_record("toy", "forward", size, 1, 1e-5 * size, size))
        records.append(_scaling_record("toy", "reverse", size, 1, 1e-5, 1))
        records.append(_scaling_record("toy", "forward", 1, size, 1e-5, 1))
        records.append(_scaling_record("toy", "reverse", 1, size, 1e-5 * size, size))
    fits = {(f["mode"], f["axis"]): f for f in harness.scaling_fits(records)}
    assert fits[("forward", "n")]["slope"] == pytest.approx(1.0)
    assert fits[("reverse", "n")]["slope"] == pytest.approx(0.0, abs=1e-12)
    assert fits[("reverse", "m")]["slope"] == pytest.approx(1.0)
    assert fits[("forward", "n")]["sizes"] == [16, 64, 256]  # overhead regime left out
    rows = harness.tradeoffs(records)
    assert {(r["n"], r["m"]) for r in rows} == {(64, 1), (256, 1), (1, 64), (1, 256)}
    assert all(r["holds"] for r in rows)
    by_cell = {(r["n"], r["m"]): r for r in rows if r["backend"] == "toy"}
    assert by_cell[(256, 1)]["forward_over_reverse"] == pytest.approx(256)
    assert by_cell[(1, 256)]["expected"] == "forward faster"


def test_tradeoffs_pair_forward_only_with_reverse_only_toys():
    records = [
        _scaling_record("dualish", "forward", 64, 1, 64e-5, 64),
        _scaling_record("tapeish", "reverse", 64, 1, 1e-5, 1),
    ]
    for r in records:
        r["family"] = "toy"
    (row,) = harness.tradeoffs(records)
    assert (row["backend"], row["reverse_backend"]) == ("dualish", "tapeish")
    assert row["forward_over_reverse"] == pytest.approx(64) and row["holds"]


# -- run_case with a fake backend and a fake benchmark fixture ------------------------
@dataclass
class FakeStats:
    median: float
    min: float
    mean: float
    iqr: float
    stddev: float
    rounds: int
    data: list = field(default_factory=list)


@dataclass
class FakeBenchmark:
    """Just what the harness uses of pytest-benchmark's fixture."""

    fullname: str = "tests/fake::case"
    group: str | None = None
    extra_info: dict = field(default_factory=dict)
    stats: Any = None
    pedantic_calls: list = field(default_factory=list)

    def pedantic(self, target, rounds=1, iterations=1, warmup_rounds=0):
        self.pedantic_calls.append((rounds, iterations))
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(iterations):
                result = target()
            samples.append((time.perf_counter() - start) / iterations)
        q = statistics.quantiles(samples, n=4) if len(samples) > 1 else [0, 0, 0]
        self.stats = type("Meta", (), {})()
        self.stats.stats = FakeStats(
            statistics.median(samples), min(samples), statistics.mean(samples), q[2] - q[0],
            statistics.stdev(samples) if len(samples) > 1 else 0.0, len(samples), samples,
        )  # fmt: skip
        return result


@dataclass
class FakeBackend(Backend):
    """Answers from the problem's analytic Jacobian; ``behaviour`` breaks it on purpose."""

    behaviour: str = "right"
    delay_s: float = 0.0

    def _prepare(self, operation, mode, f, x, *, v, u):
        inst = f.instance
        if self.behaviour == "refuse":
            raise UnsupportedOperation(self.name, operation, mode, "refused in prepare")
        if self.behaviour == "crash":
            raise RuntimeError("the framework fell over")

        if self.behaviour == "slow-prepare":
            time.sleep(self.delay_s)  # tracing, compiling
        state = self.calls = {"calls": 0}

        def call():
            state["calls"] += 1
            if self.behaviour == "slow-first" and state["calls"] == 1:
                time.sleep(self.delay_s)  # a one-off first-call cost (kernels, lazy set-up)
            if self.behaviour == "retrace":
                f(np, x)  # runs f in Python on every call, like a retracing jit
            if self.delay_s and self.behaviour not in ("slow-first", "slow-prepare"):
                time.sleep(self.delay_s)
            jac = inst.jacobian(x)
            return jac * (1 + 1e-6) if self.behaviour == "wrong" else jac

        return call


def make_harness(timing=True, **profile_changes) -> harness.Harness:
    profile = harness.replace(
        harness.PROFILES["quick"], budget_s=0.002, min_round_s=1e-5, **profile_changes
    )
    return harness.Harness(profile, ["fake"], ["dense_tanh"], timing=timing)


def fake_entry(h: harness.Harness, **kw) -> FakeBackend:
    b = FakeBackend(name="fake", family="toy", capabilities={"jacobian": ("forward",)}, **kw)
    h._entries["fake"] = harness.BackendEntry("fake", b)
    return b


def spec(mode="forward", n=4, m=3, op="jacobian"):
    return harness.CaseSpec("scaling", "fake", "dense_tanh", op, mode, n, m, with_primal=False)


def test_run_case_ok_records_timing_error_and_passes():
    h = make_harness()
    fake_entry(h)
    bench = FakeBenchmark()
    record = h.run_case(bench, spec())
    assert record["status"] == "ok" and record["message"] == ""
    assert record["max_rel_error"] < 1e-15 and record["tolerance"] == 1e-12
    assert record["rounds"] >= 3 and record["median_s"] > 0 and record["gc"] == "off"
    assert record["passes"] == 4  # forward Jacobian: n passes
    assert (record["n"], record["m"], record["family"]) == (4, 3, "toy")
    assert bench.group == "scaling: dense_tanh jacobian n=4 m=3"
    assert bench.extra_info["status"] == "ok"
    assert set(record) - set(EXTRA_CASE_FIELDS) == set(CASE_COLUMNS)
    assert len(record["samples_s"]) == record["rounds"]  # every timed round kept
    assert h.records == [record]


@pytest.mark.parametrize(
    ("behaviour", "status", "outcome", "words"),
    [
        ("wrong", "wrong", pytest.fail.Exception, "over tolerance"),
        ("crash", "error", pytest.fail.Exception, "RuntimeError: the framework fell over"),
        ("refuse", "unsupported", pytest.skip.Exception, "refused in prepare"),
    ],
)
def test_run_case_statuses(behaviour, status, outcome, words):
    h = make_harness()
    fake_entry(h, behaviour=behaviour)
    with pytest.raises(outcome, match=words):
        h.run_case(FakeBenchmark(), spec())
    (record,) = h.records
    assert record["status"] == status and words in record["message"]


def test_an_operation_a_backend_refused_is_not_prepared_again_at_a_larger_size():
    """What a backend cannot express does not depend on the size: micrograd built a
    1024 x 1024 graph for 40 s to refuse it again."""
    h = make_harness()
    b = fake_entry(h, behaviour="refuse")
    prepared = []
    refuse = b._prepare
    b._prepare = lambda *a, **k: prepared.append(1) or refuse(*a, **k)
    for n in (4, 16):
        with pytest.raises(pytest.skip.Exception, match="refused in prepare"):
            h.run_case(FakeBenchmark(), spec(n=n))
    assert len(prepared) == 1
    first, second = h.records
    assert first["status"] == second["status"] == "unsupported"
    assert "as at n=4, m=3" in second["message"] and "as at" not in first["message"]


def test_unsupported_mode_and_missing_backend_keep_their_records():
    h = make_harness()
    fake_entry(h)
    with pytest.raises(pytest.skip.Exception, match="does not support jacobian \\(reverse\\)"):
        h.run_case(FakeBenchmark(), spec(mode="reverse"))
    h._entries["fake"] = harness.BackendEntry("fake", None, "not installed: pip install fake")
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        h.run_case(FakeBenchmark(), spec())
    assert [r["status"] for r in h.records] == ["unsupported", "unsupported"]


def test_a_broken_backend_is_an_error_not_a_skip():
    h = make_harness()
    h._entries["fake"] = harness.BackendEntry("fake", None, "failed to load: boom", broken=True)
    with pytest.raises(pytest.fail.Exception, match="failed to load"):
        h.run_case(FakeBenchmark(), spec())
    assert h.records[0]["status"] == "error"


def test_too_slow_skips_larger_sizes_only():
    h = make_harness(time_cap_s=0.01)
    fake_entry(h, delay_s=0.02)
    bench = FakeBenchmark()
    first = h.run_case(bench, spec(n=4, m=1))
    assert first["status"] == "ok" and "over the 0.01 s cap" in first["message"]
    assert bench.pedantic_calls == [(1, 1)]  # one timed round for a call over the cap
    with pytest.raises(pytest.skip.Exception, match="skipped-too-slow"):
        h.run_case(FakeBenchmark(), spec(n=16, m=1))
    h.run_case(FakeBenchmark(), spec(n=1, m=1))  # smaller: still runs
    assert [r["status"] for r in h.records] == ["ok", "skipped-too-slow", "ok"]


def test_a_first_call_over_the_hard_limit_is_the_only_sample():
    h = make_harness(time_cap_s=0.005)  # hard limit 8 x 0.005 = 0.04 s
    fake_entry(h, delay_s=0.05)
    bench = FakeBenchmark()
    record = h.run_case(bench, spec(n=4, m=1))
    assert bench.pedantic_calls == []  # not called again
    assert record["status"] == "ok" and "timed once" in record["message"]
    assert record["rounds"] == 1 and record["median_s"] >= 0.05


def test_a_call_over_the_cap_is_made_twice_in_all():
    # first call, then one timed round: no warm-up calls between them (seconds each)
    h = make_harness(time_cap_s=0.01)  # hard limit 0.08 s
    b = fake_entry(h, delay_s=0.02)
    record = h.run_case(FakeBenchmark(), spec(n=4, m=1))
    assert b.calls["calls"] == 2 and record["rounds"] == 1
    assert record["status"] == "ok" and "over the 0.01 s cap" in record["message"]


def test_a_slow_first_call_alone_does_not_trip_the_cap():
    h = make_harness(time_cap_s=0.01)
    fake_entry(h, behaviour="slow-first", delay_s=0.03)
    bench = FakeBenchmark()
    record = h.run_case(bench, spec(n=4, m=1))
    # a first call over the cap is not warmed up again: the one timed round is the second
    # call, and when it shows the first was a one-off the rounds are timed again, sized
    # from it, not from the cold first call
    assert record["warmup_calls"] == 1
    assert len(bench.pedantic_calls) == 1 and bench.pedantic_calls[0][0] == 1
    assert bench.extra_info["rounds_timed_by"].startswith("toyad")
    assert record["status"] == "ok" and record["message"] == ""
    assert record["rounds"] >= 3 and record["median_s"] < 0.01
    h.run_case(FakeBenchmark(), spec(n=16, m=1))  # larger sizes still run
    assert [r["status"] for r in h.records] == ["ok", "ok"]


def test_a_first_call_that_took_the_budget_is_not_warmed_up_again():
    # a first call over the case's budget (here a one-off: later calls are fast) leaves
    # the fewest rounds; their median shows the call is fast, and the rounds are timed
    # again, sized from it
    h = make_harness(time_cap_s=0.1)
    b = fake_entry(h, behaviour="slow-first", delay_s=2 * h.profile.budget_s)
    bench = FakeBenchmark()
    record = h.run_case(bench, spec(n=4, m=1))
    assert record["warmup_calls"] == 1
    assert bench.pedantic_calls[0][0] == h.profile.min_rounds
    assert "one-off warm-up" in bench.extra_info["rounds_timed_by"]
    assert record["rounds"] > h.profile.min_rounds and record["median_s"] < h.profile.budget_s
    assert b.calls["calls"] >= 1 + h.profile.min_rounds + record["rounds"]  # no settling call


def test_a_reference_is_computed_once_for_every_backend_of_an_instance(monkeypatch):
    from toyad.bench import harness as the_harness

    calls = []
    real = the_harness.reference_of

    def counted(inst, op, v, u):
        calls.append(op)
        return real(inst, op, v, u)

    monkeypatch.setattr(the_harness, "reference_of", counted)
    h = make_harness()
    fake_entry(h)
    h.run_case(FakeBenchmark(), spec())
    h._entries["other"] = harness.BackendEntry("other", h.entry("fake").backend)
    other = harness.CaseSpec("scaling", "other", "dense_tanh", "jacobian", "forward", 4, 3)
    assert h.run_case(FakeBenchmark(), other)["status"] == "ok"
    assert calls == ["jacobian"]
    h.run_case(FakeBenchmark(), spec(n=5))  # another instance: its own reference
    assert calls == ["jacobian", "jacobian"]


def test_retracing_traced_variant_is_an_error():
    h = make_harness()
    b = fake_entry(h, behaviour="retrace")
    b.variant = "jit"
    with pytest.raises(pytest.fail.Exception, match="retraces"):
        h.run_case(FakeBenchmark(), spec())
    b.variant = "eager"  # eager adapters run f on every call: fine
    h.run_case(FakeBenchmark(), spec())


def traced_backends() -> list[str]:
    """Installed backends that trace f once (variant jit or function)."""
    names = []
    for name in backends.available():
        try:
            b = backends.get(name)
        except Exception:
            continue
        if b.variant in ("jit", "function"):
            names.append(name)
    return names


def test_traced_backends_neither_retrace_nor_return_unsynchronised():
    names = traced_backends()
    if not names:
        pytest.skip("no jit/function backend installed")
    h = harness.Harness(harness.PROFILES["quick"], names, ["dense_tanh"], timing=True)
    for name in names:
        b = backends.get(name)
        for mode in b.capabilities.get("jacobian", ()):
            bench = FakeBenchmark()
            case = harness.CaseSpec("scaling", name, "dense_tanh", "jacobian", mode, 8, 4)
            record = h.run_case(bench, case)  # fails the test on a retrace or missing sync
            assert record["status"] == "ok", record["message"]
            assert bench.extra_info["f_calls_timed"] == 0  # f never ran again in Python


def test_benchmark_disabled_runs_the_case_once_through_the_fixture():
    h = make_harness(timing=False)
    fake_entry(h)
    bench = FakeBenchmark()
    record = h.run_case(bench, spec())
    assert bench.pedantic_calls == [(1, 1)]
    assert record["status"] == "ok" and record["median_s"] is None


def test_conclude_rejects_unknown_statuses():
    h = make_harness()
    with pytest.raises(ValueError, match="unknown status"):
        h.conclude(harness.blank_record(), None, "fine")
    assert set(STATUSES) == {
        "ok", "wrong", "unsupported", "error", "skipped-too-slow", "skipped-too-large"
    }  # fmt: skip


# -- whole sessions (subprocess: the real conftest and suites) ------------------------
SUITES = ("bench_accuracy.py", "bench_scaling.py")


def run_session(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest on two of the real suites, with the real root conftest, in a subprocess."""
    paths = [str(ROOT / "benchmarks" / name) for name in SUITES]
    return pytester.runpytest_subprocess(
        *paths, "--rootdir", str(ROOT), "-p", "no:cacheprovider", "-q", *args
    )


def test_unknown_backend_is_a_usage_error(pytester: pytest.Pytester):
    result = run_session(pytester, "--benchmark-disable", "--backends", "analytic,nonesuch")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown backend 'nonesuch'; known backends: analytic*"])


def test_session_writes_every_case_and_publishes(pytester: pytest.Pytester, tmp_path: Path):
    reports, raw = tmp_path / "reports", tmp_path / "raw.json"
    result = run_session(
        pytester,
        "--benchmark-only",
        "--backends", "analytic,numeric-central",
        "--problems", "notebook_f,dense_tanh",
        "-k", "accuracy or jacobian_grid",
        "--report-dir", str(reports),
        "--benchmark-json", str(raw),
        "--benchmark-quiet",
    )  # fmt: skip
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) > 0 and "failed" not in outcomes and "errors" not in outcomes
    run = json.loads((reports / "latest" / "benchmark.json").read_text())
    cases = run["toyad"]["cases"]
    extra = set(EXTRA_CASE_FIELDS)
    assert cases and all(set(c) - extra == set(CASE_COLUMNS) for c in cases)
    assert any(c.get("samples_s") for c in cases)  # the timed rounds, for compare
    ids = {c["nodeid"] for c in cases}
    # every test that ran (passed or skipped) left a record
    assert len(ids) == outcomes.get("passed", 0) + outcomes.get("skipped", 0)
    statuses = {c["status"] for c in cases}
    assert "ok" in statuses and statuses <= set(STATUSES)
    assert any(c["status"] == "unsupported" for c in cases)  # analytic has no forward/reverse
    ok = [c for c in cases if c["status"] == "ok" and c["suite"] != "step-sweep"]
    assert all(c["median_s"] > 0 and c["rounds"] >= 3 for c in ok)
    env = run["toyad"]["environment"]
    assert env["threads"] >= 1 and env["profile"] == "quick" and "numpy" in env["versions"]
    assert run["machine_info"]["toyad"]["threads"] == env["threads"]
    assert (reports / "latest" / "index.html").exists()
    # pytest-benchmark's own JSON carries the toyad object too
    own = json.loads(raw.read_text())
    assert len(own["toyad"]["cases"]) == len(cases) and own["benchmarks"]


def test_benchmark_disable_publishes_nothing_by_default(pytester: pytest.Pytester):
    reports = ROOT / "reports"
    before = set(reports.iterdir()) if reports.exists() else set()
    result = run_session(
        pytester, "--benchmark-disable", "--backends", "analytic", "--problems", "sin_square"
    )
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] > 0 and "failed" not in outcomes
    assert "report written" not in result.stdout.str()
    after = set(reports.iterdir()) if reports.exists() else set()
    assert not {p for p in after - before if not p.name.startswith(".")}


# -- issue 13: what each number measures ---------------------------------------------
def test_prepare_time_and_net_ratio_are_recorded():
    h = make_harness()
    b = fake_entry(h, delay_s=0.002)
    b.capabilities = {"jacobian": ("forward",), "primal": ("forward",)}

    def prepare_empty(x):
        return lambda: time.sleep(0.0005)  # the per-call overhead, no work

    b.prepare_empty = prepare_empty
    b.strategy = lambda op, mode: "loop"
    record = h.run_case(FakeBenchmark(), harness.replace(spec(), with_primal=True))
    assert record["prepare_s"] is not None and record["prepare_s"] >= 0
    assert record["strategy"] == "loop"
    empty = record["empty_call_s"]
    assert 0.0004 < empty < 0.01
    primal, median = record["primal_s"], record["median_s"]
    assert record["ratio_net"] == pytest.approx((median - empty) / (primal - empty))
    assert record["overhead_bound"] is (primal < 10 * empty)


def test_a_transposed_jacobian_is_wrong_even_where_sizes_agree():
    h = make_harness()
    b = fake_entry(h)
    inner = b._prepare

    def transposed(operation, mode, f, x, *, v, u):
        call = inner(operation, mode, f, x, v=v, u=u)
        return lambda: call().T  # (n, m) for (m, n)

    b._prepare = transposed
    with pytest.raises(pytest.fail.Exception, match="shape"):
        h.run_case(FakeBenchmark(), spec(n=4, m=1))  # the 1 x 4 cell used to pass
    assert h.records[-1]["status"] == "wrong"


def test_a_backend_that_writes_into_its_input_is_wrong_and_the_input_is_restored():
    h = make_harness()
    b = fake_entry(h)
    inner = b.prepare  # (Backend.prepare works on a copy: a backend of its own may not)

    def scribbling(operation, f, x, **kw):
        call = inner(operation, f, x, **kw)

        def scribble():
            out = call()
            x[0] += 1.0  # (an in-place update of the caller's array)
            return out

        return scribble

    b.prepare = scribbling
    given = h.instance("dense_tanh", 4, 3, "").x.copy()
    with pytest.raises(pytest.fail.Exception, match="wrote into its input"):
        h.run_case(FakeBenchmark(), spec())
    assert h.records[-1]["status"] == "wrong"
    np.testing.assert_array_equal(h.instance("dense_tanh", 4, 3, "").x, given)


def test_an_untimed_accuracy_case_gets_a_minute_where_timed_cases_get_the_hard_limit():
    untimed, timed = make_harness(timing=False), make_harness()
    accuracy = harness.CaseSpec("accuracy", "fake", "dense_tanh", "jacobian", "forward", 4, 3)
    assert untimed.limit_for(accuracy) == harness.UNTIMED_ACCURACY_LIMIT_S
    assert timed.limit_for(accuracy) == timed.profile.hard_limit_s < 60
    assert untimed.limit_for(spec()) == untimed.profile.hard_limit_s  # other suites: as timed
    untimed.hard_limit_s = 2.0  # a limit the user set holds everywhere
    assert untimed.limit_for(accuracy) == 2.0


# seconds an item of each suite, as the budget tests' arithmetic assumes
BUDGET_TEST_WEIGHTS = {
    **{"semantics": 0.32, "nested": 0.7, "scaling": 0.08, "accuracy": 0.03},
    **{"overhead": 0.1, "hessians": 0.16, "tensor-speed": 0.11},
}


def _budgeted(monkeypatch, suites: dict[str, int], budget: float = 100.0):
    from toyad.bench import harness as bench_harness

    weights = {**bench_harness.SUITE_WEIGHT, **BUDGET_TEST_WEIGHTS}
    monkeypatch.setattr(bench_harness, "SUITE_WEIGHT", weights)
    h = harness.Harness(harness.PROFILES["quick"], ["reverse"], ["dense_tanh"], timing=True)
    h.run_budget_override = budget
    h.plan_budget(suites)
    clock = {"now": 0.0}
    monkeypatch.setattr(harness.time, "perf_counter", lambda: h.start_clock + clock["now"])
    return h, clock


def test_a_run_budget_that_fits_cuts_nothing_even_with_estimates_off_twofold(monkeypatch):
    # estimates (items x SUITE_WEIGHT): semantics 10 x 0.32 = 3.2 s, scaling 100 x 0.08 = 8 s,
    # accuracy 100 x 0.03 = 3 s; the suites take twice that, 28.4 s of a 30 s budget
    h, clock = _budgeted(monkeypatch, {"semantics": 10, "scaling": 100, "accuracy": 100}, 30.0)
    for suite, need in (("semantics", 6.4), ("scaling", 16.0), ("accuracy", 6.0)):
        assert h.budget_spent(suite) == ""
        clock["now"] += need - 0.01
        assert h.budget_spent(suite) == "", suite
        clock["now"] += 0.01
    clock["now"] = 30.01
    assert "run budget" in h.budget_spent("accuracy")  # the budget's end holds


def test_the_full_profile_plans_its_budget_by_its_own_seconds_an_item(monkeypatch):
    """The full profile's items cost several times the quick profile's, unevenly: planned
    by quick estimates, the suites run first took the whole budget and the workloads,
    last, ran none. By its own (scaling 0.46 s an item, workloads 0.56 s) the run does not
    fit, so scaling gets its share, 100 x 46 / 102 s, and the workloads what is left."""
    h = harness.Harness(harness.PROFILES["full"], ["reverse"], ["dense_tanh"], timing=True)
    h.run_budget_override = 100.0
    h.plan_budget({"scaling": 100, "workloads": 100})
    assert h._suite_weight == pytest.approx({"scaling": 46.0, "workloads": 56.0})
    clock = {"now": 0.0}
    monkeypatch.setattr(harness.time, "perf_counter", lambda: h.start_clock + clock["now"])
    assert h.budget_spent("scaling") == ""
    clock["now"] = 45.0
    assert h.budget_spent("scaling") == ""
    clock["now"] = 45.2
    assert "run budget" in h.budget_spent("scaling")
    assert h.budget_spent("workloads") == ""
    clock["now"] = 99.9
    assert h.budget_spent("workloads") == ""  # (what is left: its share)


def test_a_run_budget_too_small_cuts_a_tail_of_every_suite(monkeypatch):
    # 16 s of estimates in a 10 s budget: semantics (25 x 0.32 = 8 s) may run until the
    # end less a quarter of scaling's 8 s (8 s; its proportional share would be 5 s)
    h, clock = _budgeted(monkeypatch, {"semantics": 25, "scaling": 100}, 10.0)
    assert h.budget_spent("semantics") == ""
    clock["now"] = 7.99
    assert h.budget_spent("semantics") == ""
    clock["now"] = 8.01
    assert "run budget" in h.budget_spent("semantics")
    assert h.budget_spent("scaling") == ""  # scaling starts with what is left
    clock["now"] = 9.99
    assert h.budget_spent("scaling") == ""
    clock["now"] = 10.01
    message = h.budget_spent("scaling")
    assert message.startswith("not run: the run budget (10 s") and harness.budget_cut(
        {"message": message}
    )


def test_a_small_fixed_suite_gets_its_own_estimate_while_the_fixed_pool_lasts(monkeypatch):
    """A run that does not fit: a small fixed suite is not cut for the estimates of large
    suites still to come; it gets its own estimate, scaled as the suites so far ran
    (overhead: 10 s against its 1 s estimate), within what is left of the fixed pool."""
    h, clock = _budgeted(
        monkeypatch, {"overhead": 10, "hessians": 350, "tensor-speed": 50, "scaling": 1000}
    )
    h.budget_spent("overhead")
    clock["now"] = 10.0
    h.note_item("overhead", 10.0)
    assert h.budget_spent("tensor-speed") == ""  # estimate 50 x 0.11 = 5.5 s; scaled 55 s
    clock["now"] = 44.0
    assert h.budget_spent("tensor-speed") == ""
    clock["now"] = 46.0  # 45 s: the fixed suites' pool (45 % of 100 s) is spent
    assert "run budget" in h.budget_spent("tensor-speed")


@pytest.mark.parametrize("suite, calls", [("accuracy", 1), ("scaling", 2)])
def test_untimed_a_call_over_the_cap_is_called_again_only_where_larger_sizes_follow(suite, calls):
    """Where nothing is timed, a second call (what a call costs, for the larger sizes'
    verdict) follows a first call over the cap, except in a suite of one size per case;
    there no call time is kept for another suite's larger size either."""
    h = make_harness(timing=False, time_cap_s=0.01)  # (hard limit: 20 x the cap)
    b = fake_entry(h, behaviour="delay", delay_s=0.02)  # every call over the cap
    case = harness.replace(spec(), suite=suite)
    record = h.run_case(FakeBenchmark(), case)
    assert record["status"] == "ok" and b.calls["calls"] == calls
    larger = h.slow.verdict(("fake", "dense_tanh", "jacobian", "forward"), 400, 300)
    assert (larger is None) == (suite == "accuracy")


def test_time_spent_splits_each_suites_wall_time():
    h = make_harness()
    fake_entry(h, behaviour="slow-first", delay_s=0.02)
    start = time.perf_counter()
    record = h.run_case(FakeBenchmark(), spec())
    h.note_item("scaling", time.perf_counter() - start)
    assert record["first_call_s"] >= 0.02  # the one-off first call
    assert record["timed_s"] > 0 and record["warmup_s"] >= 0
    assert record["wall_s"] >= record["first_call_s"] + record["timed_s"]
    (row,) = h.time_spent()["suites"]
    assert (row["suite"], row["items"], row["cases"], row["not_run"]) == ("scaling", 1, 1, 0)
    assert record["reference_s"] > 0 and row["reference_s"] == record["reference_s"]
    assert record["primal_timing_s"] >= 0
    parts = harness.TIME_PARTS
    assert "primal_timing_s" in parts and "reference_s" in parts
    assert row["other_s"] == pytest.approx(row["wall_s"] - sum(row[k] for k in parts))
    assert row["other_s"] >= 0


@dataclass
class ReleaseCounter(FakeBackend):
    releases: list = field(default_factory=list)

    def release(self, framework_caches: bool = True) -> None:
        self.releases.append(framework_caches)


def test_framework_caches_outlive_a_case_until_memory_grows(monkeypatch):
    """After a case the backend drops its builds; process-wide caches (JAX's executables)
    and garbage go when the case kept a sixteenth of the limit resident, or the process
    is a quarter of the limit above where the first case ended (or the last release left
    it) and over half the limit. A case whose peak was high but which kept nothing
    releases nothing more; nor does a release that could not give memory back repeat."""
    from toyad.bench import guard

    h = make_harness()
    h.max_rss_bytes = 8 << 30
    b = ReleaseCounter(name="fake", family="toy", capabilities={"jacobian": ("forward",)})
    h._entries["fake"] = harness.BackendEntry("fake", b)
    trims = []
    monkeypatch.setattr(guard, "release_memory", lambda: trims.append(1))
    rss = {"now": 3 << 30}
    monkeypatch.setattr(guard, "rss_bytes", lambda: rss["now"])
    h.release_after("fake")  # the first case sets the baseline
    start = rss["now"]
    rss["now"] += 512 << 20  # a sixteenth of 8 GiB kept (not more)
    h.release_after("fake", rss_before=start)
    assert b.releases == [False, False] and not trims
    start = rss["now"]
    rss["now"] += 600 << 20  # a case that kept more: its caches go at once
    h.release_after("fake", rss_before=start)
    assert b.releases[-2:] == [False, True] and trims == [1]
    released = rss["now"]  # (the fake release gives nothing back)
    rss["now"] = released + (2 << 30) - (1 << 20)  # under a quarter above that release
    h.release_after("fake", rss_before=rss["now"])
    assert b.releases[-1] is False and h.deep_releases == 1
    rss["now"] = released + (2 << 30) + (1 << 20)  # a quarter of the limit above it
    h.release_after("fake", rss_before=rss["now"])
    h.release_after("fake", rss_before=rss["now"])  # still there: not released again
    assert b.releases[-3:] == [False, True, False] and h.deep_releases == 2


def test_what_a_case_adds_to_the_harness_caches_is_not_counted_as_kept(monkeypatch):
    """A new size's instance and reference stay cached for the next cases (other modes,
    backends): the case's builds are released, but no cache-wide release follows for
    them; the release's time is the case's release_s."""
    from toyad.bench import guard

    h = make_harness()
    h.max_rss_bytes = 8 << 30
    b = ReleaseCounter(name="fake", family="toy", capabilities={"jacobian": ("forward",)})
    h._entries["fake"] = harness.BackendEntry("fake", b)
    monkeypatch.setattr(guard, "release_memory", lambda: None)
    monkeypatch.setattr(guard, "trim_heap", lambda: None)
    rss = {"now": 3 << 30}
    monkeypatch.setattr(guard, "rss_bytes", lambda: rss["now"])
    h.release_after("fake")  # the first case sets the baseline
    grown = {"bytes": 0}
    real_instance = h.instance

    def instance_that_grows(*args, **kwargs):
        grown["bytes"] = 600 << 20  # over a sixteenth of 8 GiB, all of it the caches'
        rss["now"] = (3 << 30) + grown["bytes"]
        return real_instance(*args, **kwargs)

    monkeypatch.setattr(h, "instance", instance_that_grows)
    monkeypatch.setattr(h, "_cached_bytes", lambda: grown["bytes"])
    record = h.run_case(FakeBenchmark(), spec())
    assert record["status"] == "ok" and b.releases[-1] is False and h.deep_releases == 0
    assert record["release_s"] >= 0


def test_a_job_asks_for_a_fresh_process_when_releasing_every_cache_leaves_it_drifted(
    monkeypatch,
):
    """Over RESTART_FRACTION of the limit even after a deep release: only a fresh
    process gets the memory back."""
    from toyad.bench import guard

    rss = {"now": 1 << 30}
    monkeypatch.setattr(guard, "rss_bytes", lambda: rss["now"])
    monkeypatch.setattr(guard, "release_memory", lambda: None)
    for restartable in (False, True):
        h = make_harness()
        h.max_rss_bytes, h.restartable = 8 << 30, restartable
        h._entries["fake"] = harness.BackendEntry(
            "fake", ReleaseCounter(name="fake", family="toy", capabilities={})
        )
        rss["now"] = 1 << 30
        h.release_after("fake")  # the first case: 1 GiB
        rss["now"] = (4 << 30) + (1 << 20)  # drifted, under 0.6 of the limit after release
        h.release_after("fake", rss_before=rss["now"])
        assert h.restart_wanted == "" and h.deep_releases == 1
        rss["now"] = (6 << 30) + (2 << 20)  # drifted again: over 0.6 of the limit after release
        h.release_after("fake", rss_before=rss["now"])
        assert h.deep_releases == 2
        assert bool(h.restart_wanted) is restartable
    assert "6.00 GiB resident after releasing every cache" in h.restart_wanted


def test_plain_benchmarks_calibrate_for_the_profile_unless_the_user_chose():
    """pytest keeps an option's default as written (pytest-benchmark's max time: the string
    "1.0"), so the quick cap must not compare it with the float 1.0."""
    from types import SimpleNamespace

    from toyad.bench import plugin

    class Item:
        def __init__(self):
            self.fixturenames = ("benchmark",)
            self.module = SimpleNamespace(TOYAD_SUITE="convenience")
            self.markers = []

        def add_marker(self, marker):
            self.markers.append(marker)

    def capped(max_time, profile="quick"):
        config = SimpleNamespace(getoption=lambda name, default=None: max_time)
        item = Item()
        h = harness.Harness(harness.PROFILES[profile], ["fake"], ["dense_tanh"])
        plugin._cap_plain_benchmarks(config, h, [item])
        return [m.kwargs for m in item.markers]

    assert capped("1.0") == [{"max_time": 0.05}]  # the default
    assert capped(1.0) == []  # --benchmark-max-time 1 given: the user's choice
    assert capped("1.0", profile="full") == [{"max_time": 0.25}]


def test_a_case_stopped_at_the_memory_limit_runs_again_once_caches_are_released(monkeypatch):
    from toyad.bench import guard

    h = make_harness()
    b = fake_entry(h)
    rss = {"now": 3 << 30}
    monkeypatch.setattr(guard, "rss_bytes", lambda: rss["now"])
    monkeypatch.setattr(guard, "release_memory", lambda: rss.update(now=2 << 30))
    real_run, attempts = h._run, []

    def stopped_once(benchmark, spec_, record):
        attempts.append(1)
        if len(attempts) == 1:
            raise guard.CaseAborted("memory", "stopped at 3.6 GiB resident")
        return real_run(benchmark, spec_, record)

    monkeypatch.setattr(h, "_run", stopped_once)
    record = h.run_case(FakeBenchmark(), spec())
    assert len(attempts) == 2 and record["status"] == "ok" and len(h.records) == 1
    assert h.deep_releases >= 1 and b.behaviour == "right"

    # stopped again (nothing left to release): recorded, not retried a second time
    attempts.clear()
    monkeypatch.setattr(
        h,
        "_run",
        lambda *a: (_ for _ in ()).throw(
            guard.CaseAborted("memory", "stopped at 3.6 GiB resident")
        ),
    )
    h.run_case(FakeBenchmark(), spec(n=5))
    assert h.records[-1]["status"] == "skipped-too-large"


def test_a_derivative_whose_primal_is_over_the_cap_is_predicted_not_run():
    """A derivative costs at least one primal: a timed case that times its primal
    (with_primal) and finds it over the cap is skipped-too-slow before the derivative runs."""
    h = make_harness(time_cap_s=0.01)
    b = FakeBackend(
        name="fake",
        family="toy",
        capabilities={"jacobian": ("forward",), "primal": ("forward",)},
        delay_s=0.02,
    )
    h._entries["fake"] = harness.BackendEntry("fake", b)
    slow = harness.replace(spec(), with_primal=True)
    with pytest.raises(pytest.skip.Exception, match="one primal call takes"):
        h.run_case(FakeBenchmark(), slow)
    record = h.records[-1]
    assert record["status"] == "skipped-too-slow" and record["median_s"] is None
    assert "derivative costs at least one primal" in record["message"]
    fast = FakeBackend(
        name="fake", family="toy", capabilities={"jacobian": ("forward",), "primal": ("forward",)}
    )
    h2 = make_harness(time_cap_s=0.01)
    h2._entries["fake"] = harness.BackendEntry("fake", fast)
    assert h2.run_case(FakeBenchmark(), slow)["status"] == "ok"  # under the cap: measured


@pytest.mark.parametrize(("family", "calls"), [("toy", 1), ("peer", 1), ("jax", 2), ("torch", 2)])
def test_a_primal_over_the_cap_is_called_again_only_where_first_calls_carry_one_off_costs(
    family, calls
):
    """A framework's first call at a shape may compile: over the cap, a second call says
    what a call costs. A toy or peer engine's first call is every call: it is not repeated."""
    h = make_harness(time_cap_s=0.01)
    b = FakeBackend(name="fake", family=family, capabilities={"primal": ("forward",)}, delay_s=0.02)
    h._entries["fake"] = harness.BackendEntry("fake", b)
    inst = h.instance("dense_tanh", 16, 1)
    _, seconds = h._primal_call(b, inst)
    assert b.calls["calls"] == calls and seconds >= 0.02


def test_run_budget_estimates_scale_by_the_suites_run_so_far(monkeypatch):
    # the full profile's items take ~10x the quick ones: semantics (est. 3.2 s) took 32 s,
    # so nested (est. 7 s) keeps room for scaling (est. 8 s -> 80 s), not the whole budget
    h, clock = _budgeted(monkeypatch, {"semantics": 10, "nested": 10, "scaling": 100}, 200.0)
    assert h.budget_spent("semantics") == ""
    h.note_item("semantics", 32.0)
    clock["now"] = 32.0
    assert h.budget_spent("nested") == ""
    # 168 s left, scaling's scaled estimate 80 s: nested may run until 200 - 20 = 180 s
    clock["now"] = 179.9
    assert h.budget_spent("nested") == ""
    clock["now"] = 180.1
    assert "run budget" in h.budget_spent("nested")


def test_a_run_far_over_its_budget_keeps_a_pool_for_the_small_fixed_suites(monkeypatch):
    # scaling's estimate (10,000 x 0.08 s) dwarfs the budget: tensor-speed (est. 0.7 s),
    # run first, still has the fixed suites' pool, FIXED_SUITES_SHARE of the budget
    h, clock = _budgeted(monkeypatch, {"tensor-speed": 10, "scaling": 10_000}, 100.0)
    assert h.budget_spent("tensor-speed") == ""
    clock["now"] = 100.0 * harness.FIXED_SUITES_SHARE - 0.01
    assert h.budget_spent("tensor-speed") == ""
    clock["now"] += 0.02
    assert "run budget" in h.budget_spent("tensor-speed")
    assert h.budget_spent("scaling") == ""  # the rest is the elastic suites'


def test_a_size_whose_smaller_size_was_slow_to_prepare_is_not_started():
    """A compile runs in C, out of the hard limits' reach: after a slow prepare at one
    size, larger sizes of the same case are skipped-too-slow before they prepare."""
    h = make_harness(time_cap_s=0.0035)  # over 8 x the cap: 28 ms; hard limit 70 ms
    fake_entry(h, behaviour="slow-prepare", delay_s=0.03)
    first = h.run_case(FakeBenchmark(), spec(n=4, m=3))
    assert first["status"] == "ok" and first["prepare_s"] >= 0.03
    with pytest.raises(
        pytest.skip.Exception, match=r"smaller case \(n=4, m=3\) took .* to prepare"
    ):
        h.run_case(FakeBenchmark(), spec(n=8, m=3))
    assert h.records[-1]["prepare_s"] is None  # not prepared at all


def test_a_derivative_whose_primal_was_stopped_at_the_same_size_is_not_started():
    """A derivative compiles its primal inside itself: a primal stopped at a hard limit
    in prepare (an unrolled loop XLA compiles for minutes) stops the same size's
    derivatives, not only the larger sizes."""
    h = make_harness()
    b = FakeBackend(
        name="fake", family="toy", capabilities={"jacobian": ("forward",), "primal": ("engine",)}
    )
    h._entries["fake"] = harness.BackendEntry("fake", b)
    inst = h.instance("dense_tanh", 4, 3, "")
    from toyad.bench.harness import _instance_bytes

    size = (4, 3, _instance_bytes(inst))
    h._stopping_sizes[("fake", "dense_tanh", "primal", "engine")] = [
        (size, "was stopped at a hard limit (skipped-too-slow)")
    ]
    case = harness.CaseSpec("scaling", "fake", "dense_tanh", "jacobian", "forward", 4, 3, True)
    with pytest.raises(pytest.skip.Exception, match="smaller case \\(n=4, m=3\\) was stopped"):
        h.run_case(FakeBenchmark(), case)
    assert h.records[-1]["prepare_s"] is None


def test_the_first_call_runs_with_the_collector_off_as_the_timed_rounds_do():
    """An object-graph engine's call is ~3x slower with gc on (it walks every node): the
    first call, which sets the rounds and whether larger sizes run, must not pay it."""
    import gc

    for timing in (True, False):
        h = make_harness(timing=timing)
        assert gc.isenabled()
        result, seconds = h.first_call(FakeBenchmark(), gc.isenabled)
        assert result is False and seconds >= 0
        assert gc.isenabled()


def test_a_derivative_uses_the_primal_its_own_case_measured_not_a_new_build():
    """Where a suite lists the primal before its derivatives (workloads, accuracy), the
    derivatives' primal checks use that case's median: no second build (a compile)."""
    prepared: list[str] = []

    @dataclass
    class PrimalToo(FakeBackend):
        def _prepare(self, operation, mode, f, x, *, v, u):
            prepared.append(operation)
            if operation == "primal":
                inst = f.instance
                return lambda: inst.f(np, x)
            return super()._prepare(operation, mode, f, x, v=v, u=u)

    h = make_harness()
    caps = {"jacobian": ("forward",), "primal": ("engine",)}
    backend = PrimalToo(name="fake", family="toy", capabilities=caps)
    h._entries["fake"] = harness.BackendEntry("fake", backend)
    cases = [
        harness.CaseSpec("workloads", "fake", "dense_tanh", op, mode, 4, 3, with_primal=True)
        for op, mode in (("primal", "engine"), ("jacobian", "forward"))
    ]
    primal, jacobian = (h.run_case(FakeBenchmark(), case) for case in cases)
    assert primal["status"] == jacobian["status"] == "ok"
    assert prepared == ["primal", "jacobian"]
    assert jacobian["primal_s"] == primal["median_s"]


def test_a_derivative_is_not_started_where_its_primal_was_judged_too_slow():
    """The primal's own case skipped a size (a smaller size over the cap): the derivative
    at that size would pay at least one such primal, so it is not started either."""
    h = make_harness(time_cap_s=0.01)
    caps = {"jacobian": ("forward",), "primal": ("engine",)}
    h._entries["fake"] = harness.BackendEntry(
        "fake", FakeBackend(name="fake", family="toy", capabilities=caps)
    )
    h.slow.note(("fake", "dense_tanh", "primal", "engine"), 4, 3, 0.5)  # over the cap
    case = harness.CaseSpec("workloads", "fake", "dense_tanh", "jacobian", "forward", 8, 3, True)
    with pytest.raises(pytest.skip.Exception, match="its primal is judged too slow"):
        h.run_case(FakeBenchmark(), case)
    assert h.records[-1]["prepare_s"] is None and not h.records[-1]["primal_timing_s"]


def test_a_fresh_process_keeps_the_sizes_that_stop_larger_ones():
    """A job that goes on in a fresh process refills its stops from the records it
    carries over: a size slow to prepare still stops larger sizes, and a primal stopped
    at a hard limit still stops its derivatives at the same size."""
    h = make_harness(time_cap_s=0.0035)  # over 8 x the cap: 28 ms; hard limit 70 ms
    fake_entry(h, behaviour="slow-prepare", delay_s=0.03)
    slow = h.run_case(FakeBenchmark(), spec(n=4, m=3))
    assert slow["status"] == "ok"
    fresh = make_harness(time_cap_s=0.0035)
    fake_entry(fresh)
    fresh._renote(slow)
    with pytest.raises(pytest.skip.Exception, match=r"smaller case \(n=4, m=3\) took"):
        fresh.run_case(FakeBenchmark(), spec(n=8, m=3))

    fresh = make_harness()
    b = FakeBackend(
        name="fake", family="toy", capabilities={"jacobian": ("forward",), "primal": ("engine",)}
    )
    fresh._entries["fake"] = harness.BackendEntry("fake", b)
    stopped_primal = harness.blank_record(
        suite="workloads", backend="fake", problem="dense_tanh", operation="primal",
        mode="engine", n=4, m=3, status="skipped-too-slow",
        message="stopped after the 5 s hard limit per case (fake-dense_tanh-primal)",
    )  # fmt: skip
    fresh._renote(stopped_primal)
    case = harness.CaseSpec("workloads", "fake", "dense_tanh", "jacobian", "forward", 4, 3, True)
    with pytest.raises(pytest.skip.Exception, match=r"\(n=4, m=3\) was stopped at a hard"):
        fresh.run_case(FakeBenchmark(), case)
    assert fresh.records[-1]["prepare_s"] is None

    # a size judged too slow (its primal over the cap) stops larger ones; one the run's
    # budget left unrun says nothing about its cost
    judged, unrun = (
        harness.blank_record(
            suite="scaling",
            backend="fake",
            problem="dense_tanh",
            operation="jacobian",
            mode="forward",
            n=n,
            m=3,
            status="skipped-too-slow",
            message=message,
        )  # fmt: skip
        for n, message in (
            (4, "skipped: one primal call takes 3 s in this backend, over the 1 s cap"),
            (2, f"{BUDGET_CUT_PREFIX} is spent"),
        )
    )
    for records, expected in (([unrun], "ok"), ([judged], "skipped-too-slow")):
        fresh = make_harness()
        fake_entry(fresh)
        for record in records:
            fresh._renote(record)
        try:
            status = fresh.run_case(FakeBenchmark(), spec(n=8, m=3))["status"]
        except pytest.skip.Exception:
            status = fresh.records[-1]["status"]
        assert status == expected


def test_an_item_that_would_start_over_the_restart_line_waits_for_a_fresh_process(
    monkeypatch,
):
    """Over RESTART_FRACTION of the limit before an item, even after a deep release: the
    item is left to the job's fresh process, never before the process's first item."""
    from toyad.bench import guard

    rss = {"now": 6 << 30}
    monkeypatch.setattr(guard, "rss_bytes", lambda: rss["now"])
    monkeypatch.setattr(guard, "release_memory", lambda: None)
    h = make_harness()
    h.max_rss_bytes = 8 << 30
    assert not h.needs_fresh_process()  # not a restartable job
    h.restartable = True
    assert not h.needs_fresh_process() and h.deep_releases == 0  # its first item runs here
    h.note_item("scaling", 1.0, "a")
    rss["now"] = 4 << 30  # under 0.6 of the limit: runs here
    assert not h.needs_fresh_process() and h.deep_releases == 0
    rss["now"] = 6 << 30  # over it, and a deep release gives nothing back
    assert h.needs_fresh_process() and h.deep_releases == 1
    assert "6.00 GiB resident" in h.restart_wanted


def test_over_the_restart_line_a_case_known_to_fit_still_runs_here(monkeypatch):
    """A restart costs a start-up and every cache; after a large case most items are
    small. Over the line, an item runs here when its case's predicted growth (smaller
    sizes of it, scaled) fits under the limit with RESTART_MARGIN_BYTES to spare; an
    item of unknown size goes to the fresh process."""
    from toyad.bench import guard

    gib = 1 << 30
    rss = {"now": 6 * gib}
    monkeypatch.setattr(guard, "rss_bytes", lambda: rss["now"])
    monkeypatch.setattr(guard, "release_memory", lambda: None)
    h = make_harness()
    fake_entry(h)
    h.max_rss_bytes = 8 * gib
    h.restartable = True
    h.note_item("scaling", 1.0, "a")
    key = ("fake", "dense_tanh", "jacobian", "forward")
    tiny, grown = spec(n=4, m=3), spec(n=1024, m=256)
    assert not h.needs_fresh_process(tiny)  # too small to matter: runs here
    assert h.deep_releases == 1 and h.restart_wanted  # (the release said it is stuck)
    assert h.needs_fresh_process(grown)  # nothing known of its memory: a fresh process
    h.slow.note_memory(key, 256, 256, gib // 4)  # 1/4 GiB at 256 x 256; 4x that here
    assert not h.needs_fresh_process(grown)  # 6 + 1 + 1/4 (margin) GiB: under 8
    h.slow.note_memory(key, 512, 256, gib)  # the nearest smaller size: 1 GiB, x2 here
    assert h.needs_fresh_process(grown)  # 6 + 2 + 1/4: over 8
    assert h.deep_releases == 1  # never released again while it waits for a fresh process


def test_a_case_another_suite_measured_is_that_measurement_listed_again():
    """The overhead suite's gradient at a scaling size is the scaling suite's case: run
    once, recorded under both suites, the second naming the first (same_as), and its
    time counted once in where the run's time went."""
    h = make_harness()
    b = fake_entry(h)
    first = h.run_case(FakeBenchmark(fullname="scaling::case"), spec())
    calls = b.calls["calls"]
    h.note_item("scaling", 1.0, "scaling::case")
    listed = harness.replace(spec(), suite="overhead")
    again = h.run_case(FakeBenchmark(fullname="overhead::case"), listed)
    h.note_item("overhead", 0.1, "overhead::case")
    assert b.calls["calls"] == calls  # nothing prepared or called again
    assert again["suite"] == "overhead" and again["same_as"] == "scaling::case"
    assert again["nodeid"] == "overhead::case" and first.get("same_as") is None
    for key in ("status", "median_s", "samples_s", "max_rel_error", "prepare_s"):
        assert again[key] == first[key]
    spent = {row["suite"]: row for row in h.time_spent()["suites"]}
    assert spent["overhead"]["cases"] == 1 and spent["overhead"]["timed_s"] == 0.0
    assert spent["scaling"]["timed_s"] == first["timed_s"] > 0
    other_size = h.run_case(FakeBenchmark(), harness.replace(listed, n=5))
    assert other_size.get("same_as") is None and other_size["status"] == "ok"


def test_releasing_every_cache_loads_no_backend_this_process_has_not_used(monkeypatch):
    """A deep release reaches the backends this process loaded only: loading another
    would import its framework (and warm it up) just to release it."""
    from toyad.bench import guard

    monkeypatch.setattr(guard, "release_memory", lambda: None)
    h = make_harness()
    h._entries["unused"] = harness.BackendEntry.lazy("jax-jit")
    used = ReleaseCounter(name="fake", family="toy", capabilities={"jacobian": ("forward",)})
    h._entries["fake"] = harness.BackendEntry("fake", used)
    h.deep_release()
    assert used.releases == [True] and not h._entries["unused"].loaded


def test_loading_a_backend_pays_its_first_build_and_call():
    """The first build of a framework (torch.compile importing dynamo, a first trace) is
    paid when the backend loads, not by the process's first case."""
    calls = []

    @dataclass
    class Cold(FakeBackend):
        def _prepare_empty(self, x):
            calls.append("build")
            return lambda: calls.append("call")

    harness.warm_up(Cold(name="cold", family="toy", capabilities={}))
    assert calls == ["build", "call"]
