"""toyad.report.findings and analysis.crossovers: the sentences come from the run's data."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from toyad import report
from toyad.bench.analysis import crossover_text, crossovers
from toyad.report.findings import crossover_table, findings, relative_times
from toyad.report.page import build_page


def _case(backend, mode, n, m, seconds, *, suite="scaling", operation="jacobian", **extra):
    case = {
        "suite": suite,
        "backend": backend,
        "family": extra.pop("family", "jax"),
        "problem": extra.pop("problem", "dense_tanh"),
        "operation": operation,
        "mode": mode,
        "n": n,
        "m": m,
        "median_s": seconds,
        "status": "ok",
        "message": "",
        "strategy": "vectorised",
        "nodeid": f"{suite}-{backend}-{operation}-{mode}-{n}-{m}",
    }
    case.update(extra)
    return case


SIZES = (1, 16, 256, 4096)


def _edges(backend, forward_cost, reverse_cost, **extra):
    """Both edges: n at m = 1 and m at n = 1, forward and reverse, from cost functions."""
    cases = []
    for s in SIZES:
        cases.append(_case(backend, "forward", s, 1, forward_cost(s, 1), **extra))
        cases.append(_case(backend, "reverse", s, 1, reverse_cost(s, 1), **extra))
        if s > 1:
            cases.append(_case(backend, "forward", 1, s, forward_cost(1, s), **extra))
            cases.append(_case(backend, "reverse", 1, s, reverse_cost(1, s), **extra))
    return cases


def synthetic_cases() -> list[dict]:
    # "fast": forward ~ n passes, reverse ~ m passes, over a fixed overhead of 100 µs
    fast = _edges("fast", lambda n, m: 1e-4 + 1e-6 * n, lambda n, m: 1e-4 + 1e-6 * m)
    # "flat": overhead only: the tradeoff never shows
    flat = _edges("flat", lambda n, m: 1e-3, lambda n, m: 1e-3, family="torch")
    accuracy = [
        _case(
            "fast",
            "reverse",
            8,
            1,
            2e-5,
            suite="accuracy",
            operation="gradient",
            problem="rosenbrock",
            max_rel_error=1e-15,
            tolerance=1e-12,
            ratio_to_primal=3.0,
        ),
        _case(
            "flat",
            "reverse",
            8,
            1,
            9e-5,
            suite="accuracy",
            operation="gradient",
            problem="rosenbrock",
            family="torch",
            max_rel_error=2e-16,
            tolerance=1e-12,
            ratio_to_primal=4.5,
        ),
    ]
    return fast + flat + accuracy


def synthetic_run(cases: list[dict]) -> report.Run:
    return report.load_run({"benchmarks": [], "toyad": {"profile": "quick", "cases": cases}})


def texts(cases: list[dict]) -> list[str]:
    return [f.text for f in findings(synthetic_run(cases))]


def test_crossover_is_interpolated_on_the_log_log_line():
    rows = {(r["backend"], r["edge"]): r for r in crossovers(synthetic_cases())}
    fast_n = rows[("fast", "n")]
    # loss = (1e-4 + 1e-6 n) / 1.01e-4 reaches 2 between n = 16 (1.15) and n = 256 (3.5)
    assert fast_n["reached"] and 16 < fast_n["crossover"] < 256
    assert fast_n["expected"] == "forward slower" and fast_n["held"] == "m = 1"
    assert rows[("fast", "m")]["reached"] and rows[("fast", "m")]["expected"] == "reverse slower"
    flat_m = rows[("flat", "m")]
    assert not flat_m["reached"] and flat_m["largest"] == 4096
    assert crossover_text(flat_m) == "not reached up to 4096"
    assert "largest size" in flat_m["stopped_by"]
    assert fast_n["like_for_like"] and fast_n["strategy_forward"] == "vectorised"


def test_crossover_names_what_stopped_an_edge():
    cases = synthetic_cases()
    for c in cases:
        if c["backend"] == "flat" and c["n"] == 4096 and c["mode"] == "forward":
            c.update(status="skipped-too-slow", median_s=None, message="skipped: over the cap")
    rows = {(r["backend"], r["edge"]): r for r in crossovers(cases)}
    assert rows[("flat", "n")]["largest"] == 256
    assert rows[("flat", "n")]["stopped_by"].startswith(
        "forward mode skipped-too-slow at size 4096"
    )


def test_a_crossover_already_at_the_first_size_is_marked():
    cases = [_case("toy", "forward", s, 1, 1e-6 * s * s * 3, family="toy") for s in SIZES] + [
        _case("toy", "reverse", s, 1, 1e-6 * s, family="toy") for s in SIZES
    ]
    (row,) = [r for r in crossovers(cases) if r["edge"] == "n"]
    assert row["at_start"] and crossover_text(row) == "≤ 1"


def test_findings_come_from_the_data():
    cases = synthetic_cases()
    before = texts(cases)
    joined = " ".join(before)
    assert any(t.startswith("fast: forward costs 2× reverse from n ≈") for t in before)
    assert "flat: forward does not reach 2× reverse up to n = 4096" in joined
    assert "No case was wrong or errored" in joined
    assert "Fastest gradient: small (n, m ≤ 16) fast (4.5× ahead of flat" in joined
    # flat never reaches 2x: a fixed per-call cost, not a surprising slope
    assert not any(t.startswith("Surprising: flat") for t in before)
    assert "jax 1.0e-15 (fast, rosenbrock gradient)" in joined

    # change the data: the sentences change with it
    changed = copy.deepcopy(cases)
    for c in changed:
        if c["suite"] == "accuracy" and c["backend"] == "fast":
            c.update(median_s=9e-4, max_rel_error=3e-6)
        if c["backend"] == "fast" and c["mode"] == "reverse" and (c["n"], c["m"]) == (1, 16):
            c.update(status="wrong", max_rel_error=0.5)
        if c["backend"] == "flat" and c["mode"] == "forward" and c["m"] == 1:
            c["median_s"] = 1e-3 * c["n"] ** 0.5  # now forward grows with n
    after = texts(changed)
    joined = " ".join(after)
    assert after != before
    assert "fast was wrong on 1 case: dense_tanh jacobian (reverse)." in joined
    assert "No case was wrong or errored" not in joined
    assert "Fastest gradient: small (n, m ≤ 16) flat (10" in joined and "ahead of fast" in joined
    assert any(t.startswith("flat: forward costs 2× reverse from n ≈") for t in after)
    assert "jax 3.0e-06 (fast, rosenbrock gradient)" in joined


def test_every_finding_links_to_a_section_of_the_page():
    run = synthetic_run(synthetic_cases())
    page = build_page(run)
    assert page.index("<h2>Findings</h2>") < page.index("<h2>Forward vs reverse</h2>")
    assert page.index("<h2>All cases</h2>") < page.index("<h2>Run and environment</h2>")
    for finding in findings(run):
        assert f"href='#{finding.anchor}'" in page
        assert f'id="{finding.anchor}"' in page or f"id='{finding.anchor}'" in page


def test_relative_times_are_relative_to_the_fastest_per_problem():
    table = relative_times(synthetic_run(synthetic_cases()).cases)
    assert list(table.index) == ["fast", "flat"]
    assert table.loc["fast", "rosenbrock gradient"] == pytest.approx(1.0)
    assert table.loc["flat", "rosenbrock gradient"] == pytest.approx(4.5)


def test_tradeoff_csv_is_written_beside_results_csv(tmp_path):
    run = synthetic_run(synthetic_cases())
    report.write_report(run, tmp_path)
    table = pd.read_csv(tmp_path / "tradeoff.csv")
    assert set(table.backend) == {"fast", "flat"} and set(table.edge) == {"n", "m"}
    expected = crossover_table(crossovers(synthetic_cases()))
    assert list(table.crossover) == list(expected.crossover)


def test_an_edge_timed_at_size_one_only_has_no_crossover():
    cases = [
        _case("eager", "forward", 1, 1, 1e-2),
        _case("eager", "reverse", 1, 1, 1e-4),
        _case("eager", "forward", 4, 1, None, status="skipped-too-slow", message="over the cap"),
    ]
    (row,) = [r for r in crossovers(cases) if r["edge"] == "n"]
    assert not row["reached"] and row["largest"] == 1
    assert row["stopped_by"] == "forward mode skipped-too-slow at size 4: over the cap"


def test_a_slope_is_judged_only_where_the_work_shows():
    """Past the crossover (the loser at 2x or more) a ratio that stops growing is
    surprising; below it, a flat ratio is the per-call overhead and says nothing."""
    stall = [
        _case("stall", "forward", s, 1, 1e-4 * {1: 1, 16: 1.1, 256: 3.0, 4096: 3.3}[s])
        for s in SIZES
    ] + [_case("stall", "reverse", s, 1, 1e-4) for s in SIZES]
    grows = [_case("grows", "forward", s, 1, 1e-4 * max(1.0, s / 64)) for s in SIZES] + [
        _case("grows", "reverse", s, 1, 1e-4) for s in SIZES
    ]
    said = texts(stall + grows)
    (surprise,) = [t for t in said if t.startswith("Surprising")]
    assert surprise.startswith("Surprising: stall's forward/reverse ratio grows like n^0.03")
    assert "sizes 256–4096, past the crossover" in surprise


def test_no_slope_is_judged_on_overhead_bound_sizes_or_between_unlike_engines():
    """A ratio that stops growing where each call is mostly dispatch (the primal within a
    few empty calls: overhead_bound) or between two engines that carry their passes
    differently (a loop of numpy passes against a per-op engine) is not surprising."""
    ratio = {1: 1, 16: 1.1, 256: 3.0, 4096: 3.3}

    def stalled(backend, **extra):
        return [_case(backend, "forward", s, 1, 1e-4 * ratio[s], **extra) for s in SIZES] + [
            _case(backend, "reverse", s, 1, 1e-4, **extra) for s in SIZES
        ]

    assert any(t.startswith("Surprising: stall") for t in texts(stalled("stall")))
    assert not any(t.startswith("Surprising") for t in texts(stalled("stall", overhead_bound=True)))
    unlike = stalled("stall")
    for c in unlike:
        c["strategy"] = "loop" if c["mode"] == "forward" else "per-op"
    assert not any(t.startswith("Surprising") for t in texts(unlike))
    (row,) = [r for r in crossovers(stalled("stall", overhead_bound=True)) if r["edge"] == "n"]
    assert row["overhead_bound_sizes"] == list(SIZES)
