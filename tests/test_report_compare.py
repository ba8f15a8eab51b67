"""Comparing runs from per-round samples: the rank test, the fallbacks, recorded A/A pairs.

The recorded runs (tests/fixtures/compare_*.json) come from
tests/fixtures/record_compare_runs.py: real toyad timings, each run in its own
process; compare_slow_b.json has a genuine 1.5x slowdown in every third case.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toyad import report
from toyad.report import __main__ as cli
from toyad.report.load import parse_samples

C = importlib.import_module("toyad.report.compare")  # toyad.report.compare is also a function

FIXTURES = Path(__file__).parent / "fixtures"
AA_A = FIXTURES / "compare_aa_a.json"
AA_B = FIXTURES / "compare_aa_b.json"
SLOW_B = FIXTURES / "compare_slow_b.json"
RUN_A = FIXTURES / "run_a.json"
RUN_B = FIXTURES / "run_b.json"
MAX_FALSE_ALARMS = 0.01  # the budget: at most 1 % of cases flagged in an A/A pair


# ------------------------------------------------------------------ the rank test


@pytest.mark.parametrize("seed", range(12))
def test_mann_whitney_matches_scipy(seed):
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(seed)
    n1, n2 = rng.integers(3, 120, size=2)
    x = rng.lognormal(0.0, 0.2, n1)
    y = rng.lognormal(rng.choice([0.0, 0.05, 0.3]), 0.2, n2)
    if seed % 3 == 0:  # coarse timer: many ties
        x, y = np.round(x, 1), np.round(y, 1)
    u, p = C.mann_whitney(x, y)
    want = stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic")
    assert u == pytest.approx(want.statistic)
    assert p == pytest.approx(want.pvalue, rel=1e-9, abs=1e-300)


def test_mann_whitney_edge_cases():
    assert C.mann_whitney([1.0] * 10, [1.0] * 12)[1] == 1.0  # all tied: no evidence
    assert C.mann_whitney([], [1.0, 2.0])[1] == 1.0
    assert C.mann_whitney([1.0], [2.0])[1] == 1.0  # one each: nothing to test
    u, p = C.mann_whitney([1.0, np.nan, 2.0, 3.0], [np.inf, 4.0, 5.0, 6.0])
    assert u == 0.0 and p == pytest.approx(C.mann_whitney([1, 2, 3], [4, 5, 6])[1])
    assert C.mann_whitney(np.arange(30.0), np.arange(30.0) + 100)[1] < 1e-9


def test_smallest_p_is_what_complete_separation_gives():
    for n1, n2 in ((3, 3), (5, 5), (8, 8), (5, 40), (30, 30)):
        assert C.smallest_p(n1, n2) == pytest.approx(
            C.mann_whitney(np.arange(n1), np.arange(n2) + 1000)[1]
        )
    assert C.smallest_p(7, 7) > C.ALPHA > C.smallest_p(8, 8)


# ------------------------------------------------------------------ the decision rule


def _samples(median, n, spread=0.03, seed=0):
    rng = np.random.default_rng(seed)
    return median * np.exp(rng.normal(0.0, spread, n))


def _decide(a, b):
    return C.time_decision(np.median(a), None, np.median(b), None, a, b)


def test_rank_test_flags_a_real_change_not_a_significant_wobble():
    a = _samples(1e-4, 60, seed=1)
    assert _decide(a, _samples(1.5e-4, 60, seed=2))[::2] == ("slower", "rank-test")
    assert _decide(a, _samples(0.6e-4, 60, seed=3))[::2] == ("faster", "rank-test")
    change, p, test = _decide(a, _samples(1.08e-4, 60, seed=4))  # drift: significant, small
    assert test == "rank-test" and p < C.ALPHA and change == ""
    a, b = _samples(1e-4, 20, 0.6, 7), _samples(1.3e-4, 20, 0.6, 8)  # medians 1.5x, very noisy
    change, p, test = _decide(a, b)
    assert np.median(b) / np.median(a) > 1.4
    assert test == "rank-test" and p > C.ALPHA and change == ""


def test_few_rounds_use_the_conservative_range_rule():
    a = np.array([10e-3, 10.2e-3, 10.1e-3])
    assert _decide(a, a * 1.6)[::2] == ("slower", "fallback-range")
    assert _decide(a, a / 1.6)[::2] == ("faster", "fallback-range")
    assert _decide(a, a * 1.4)[0] == ""  # below FALLBACK_EFFECT
    overlapping = np.array([16e-3, 16.2e-3, 9e-3])  # median 1.6x, ranges overlap
    assert _decide(a, overlapping)[::2] == ("", "fallback-range")
    seven = _samples(1e-3, 7)  # 7 a side cannot reach ALPHA: range rule too
    assert _decide(seven, seven * 2)[::2] == ("slower", "fallback-range")
    assert _decide(_samples(1e-3, 8), _samples(2e-3, 8, seed=1))[::2] == ("slower", "rank-test")
    one = np.array([1e-3])
    assert _decide(one, one * 2)[::2] == ("slower", "fallback-range")
    assert np.isnan(_decide(one, one * 2)[1])


def test_edge_cases_all_equal_nan_and_missing():
    same = np.full(50, 2e-5)
    assert _decide(same, same) == ("", 1.0, "rank-test")
    assert _decide(same, same * 2)[::2] == ("slower", "rank-test")  # ties across, not within
    nan_heavy = np.r_[same[:40], np.full(10, np.nan)]
    assert _decide(nan_heavy, same)[0] == ""
    only_nan = np.full(5, np.nan)
    assert C.time_decision(2e-5, 0.0, 4e-5, 0.0, only_nan, same)[::2] == ("", "fallback-range")
    assert C.time_decision(np.nan, 0.0, 4e-5, 0.0, same, same)[::2] == ("", "none")
    assert C.time_decision(2e-5, 0.0, 4e-5, 0.0, None, same)[::2] == ("slower", "fallback-iqr")


def test_parse_samples_accepts_lists_and_json_strings():
    assert parse_samples([1e-3, 2e-3]).tolist() == [1e-3, 2e-3]
    assert parse_samples("[1e-3, 2e-3]").tolist() == [1e-3, 2e-3]
    assert parse_samples(None) is None and parse_samples([]) is None
    assert parse_samples("not json") is None
    assert np.isnan(parse_samples([1e-3, "x", None, True])[1:]).all()


# ------------------------------------------------------------------ synthetic runs


def _run(medians, rounds=40, spread=0.03, seed=0, scale=None):
    """A run of len(medians) cases with seeded lognormal samples (``scale`` multiplies some)."""
    rng = np.random.default_rng(seed)
    records = []
    for i, median in enumerate(medians):
        if scale is not None:
            median = median * scale[i]
        samples = (median * np.exp(rng.normal(0.0, spread, rounds))).tolist()
        records.append(
            {
                "suite": "scaling",
                "backend": "tensor",
                "problem": "dense_tanh",
                "operation": "jacobian",
                "mode": "reverse",
                "n": i,
                "m": 1,
                "median_s": float(np.median(samples)),
                "iqr_s": float(np.subtract(*np.percentile(samples, [75, 25]))),
                "rounds": rounds,
                "status": "ok",
                "nodeid": f"case{i}",
                "samples_s": samples,
            }
        )
    return report.load_run({"benchmarks": [], "toyad": {"cases": records}})


def test_synthetic_aa_with_drift_stays_under_one_percent():
    """2,400 cases; run b drifts every case by a random few percent (as runs an hour apart do)."""
    rng = np.random.default_rng(7)
    medians = 10 ** rng.uniform(-6, -2, 2400)
    drift = np.exp(rng.normal(0.0, 0.04, 2400))
    a = _run(medians, seed=1)
    b = _run(medians, seed=2, scale=drift)
    frame, summary = C.compare_frame(a, b)
    assert summary["judged by rank-test"] == 2400
    assert (frame["p_value"] < C.ALPHA).sum() > 240  # the drift is "significant" ...
    assert summary["time changes flagged"] <= 0.01 * 2400  # ... but not flagged
    old_a, old_b = _run(medians, seed=1), _run(medians, seed=2, scale=drift)
    old_a.samples = old_b.samples = None  # the same runs judged by the old rule
    old_frame, old_summary = C.compare_frame(old_a, old_b)
    assert old_summary["judged by fallback-iqr"] == 2400
    assert old_summary["time changes flagged"] > summary["time changes flagged"]


def test_samples_from_pytest_benchmark_saved_data():
    data = json.loads(RUN_A.read_text())
    case = data["toyad"]["cases"][0]
    data["benchmarks"] = [{"fullname": case["nodeid"], "stats": {"data": [1e-3, 2e-3, 3e-3]}}]
    run = report.load_run(data)
    assert run.case_samples().iloc[0].tolist() == [1e-3, 2e-3, 3e-3]
    assert run.case_samples().iloc[1:].isna().all()


# ------------------------------------------------------------------ recorded runs


def _injected(path: Path) -> set[str]:
    cases = json.loads(path.read_text())["toyad"]["cases"]
    return {c["nodeid"] for c in cases if c.get("injected_slowdown")}


def _nodeids(frame: pd.DataFrame, run: report.Run) -> pd.Series:
    keys = ["backend", "problem", "operation", "mode", "n", "m"]
    ids = run.cases.set_index(keys)["nodeid"]
    return pd.Series([ids.get(tuple(row)) for row in frame[keys].itertuples(index=False)])


def test_recorded_aa_pair_flags_at_most_one_percent():
    a, b = report.load_run(AA_A), report.load_run(AA_B)
    assert a.case_samples().notna().all() and b.case_samples().notna().all()
    frame, summary = C.compare_frame(a, b)
    timed = summary["timed in both"]
    assert timed == len(a.cases) >= 100
    assert summary["judged by rank-test"] > 0.7 * timed
    assert summary["time changes flagged"] <= MAX_FALSE_ALARMS * timed, frame[
        frame.time_change != ""
    ]


def test_recorded_slowdown_is_caught_above_100_us():
    """The recorded 1.5x slowdown: caught where the samples are clean, missed only in the noise.

    The committed runs were recorded on a shared 2-core VM at load average ~6
    (environment.loadavg): multi-millisecond rounds there are preempted at
    random, so some cases' samples spread over 2-5x and no test on 10 rounds
    can see 1.5x in them. The synthetic tests check full detection on clean
    samples; this one pins what the recorded runs give (see fixtures/README.md).
    """
    a, b = report.load_run(AA_A), report.load_run(SLOW_B)
    frame, summary = C.compare_frame(a, b)
    slowed = _nodeids(frame, a).isin(_injected(SLOW_B)).to_numpy()
    assert slowed.sum() == 35
    big = (frame["median_s_a"] > 1e-4).to_numpy()
    flagged = (frame["time_change"] != "").to_numpy()
    slower = (frame["time_change"] == "slower").to_numpy()
    assert (flagged & slowed).sum() == (slower & slowed).sum()  # never called faster
    assert slower[slowed & big].mean() >= 0.5
    assert slower[slowed].mean() >= 0.6
    clean = _spread(a, frame) < 1.25  # run a's q75 / q25: its samples agree within 25 %
    assert (slowed & big & clean).sum() >= 8
    assert slower[slowed & big & clean].all(), frame[slowed & big & clean & ~slower]
    missed = slowed & ~slower
    assert (frame["p_value"][missed] >= C.ALPHA).all()  # missed = inside the noise
    assert flagged[~slowed].mean() <= 0.03


def _spread(run: report.Run, frame: pd.DataFrame) -> np.ndarray:
    """Per compared case: q75 / q25 of the run's samples (how noisy the case was there)."""
    keys = ["backend", "problem", "operation", "mode", "n", "m"]
    samples = run.case_samples()
    spread = {
        tuple(row): float(np.quantile(s, 0.75) / np.quantile(s, 0.25))
        for row, s in zip(run.cases[keys].itertuples(index=False), samples)
    }
    return np.array([spread.get(tuple(row), np.inf) for row in frame[keys].itertuples(index=False)])


def test_old_runs_without_samples_still_compare_with_the_old_rule():
    frame, summary = C.compare_frame(report.load_run(RUN_A), report.load_run(RUN_B))
    assert set(frame["test"]) == {"fallback-iqr", "none"}
    assert frame["p_value"].isna().all()
    assert summary["judged by fallback-iqr"] == summary["timed in both"] > 0
    line = C.summary_line(summary)
    assert "old 10%/IQR rule" in line and "recorded before samples_s" in line


def test_mixed_runs_fall_back_per_case():
    data = json.loads(AA_B.read_text())
    for case in data["toyad"]["cases"][::2]:
        del case["samples_s"]
    frame, summary = C.compare_frame(report.load_run(AA_A), report.load_run(data))
    assert summary["judged by fallback-iqr"] == (len(data["toyad"]["cases"]) + 1) // 2
    assert (
        summary["judged by rank-test"] + summary["judged by fallback-range"]
        == len(data["toyad"]["cases"]) // 2
    )


def test_compare_csv_html_and_cli_show_the_rule(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert cli.main(["compare", str(AA_A), str(SLOW_B), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("time: ") and "cases timed in both runs flagged (" in printed[0]
    assert "%" in printed[0] and "rank test" in printed[0]
    csv = pd.read_csv(out / "compare.csv", keep_default_na=False, na_values=[""])
    assert list(csv.columns[-2:]) == ["p_value", "test"]
    assert set(csv["test"]) <= set(C.TESTS)
    assert csv.loc[csv["test"] == "rank-test", "p_value"].between(0, 1).all()
    assert csv.loc[csv["test"] != "rank-test", "p_value"].isna().all()
    html = (out / "compare.html").read_text()
    assert "Mann-Whitney" in html and "share of timed cases flagged" in html
    assert f"{C.ALPHA:g}" in html and "fallback-range" in html
