"""toyad.report on recorded-shape fixtures (tests/fixtures/make_fixtures.py builds them)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from toyad import report
from toyad.report import __main__ as cli
from toyad.report import plots
from toyad.report.compare import compare_frame, time_change
from toyad.results import CASE_COLUMNS, SEMANTICS_COLUMNS, STATUSES

FIXTURES = Path(__file__).parent / "fixtures"
RUN_A = FIXTURES / "run_a.json"
RUN_B = FIXTURES / "run_b.json"
# plots in run_a: heat maps, cost vs n, cost vs m, step sweep, cost time, cost ratio,
# hessians, per-op, memory vs L, time vs memory
EXPECTED_SVGS = 10
SECTION_HEADINGS = (
    "Findings",
    "Forward vs reverse",
    "Standard workloads",
    "Accuracy",
    "Cost",
    "Hessians",
    "Scalar engines: per-op cost",
    "Convenience calls and stated ratios",
    "Memory",
    "Native semantics",
    "All cases",
    "Run and environment",
)


class PageParser(HTMLParser):
    """Collects what the tests inspect: tags, headings, src/href attributes, scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.headings: list[str] = []
        self.links: list[str] = []
        self.script_srcs: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        self._in_h2 = tag == "h2"
        for name in ("src", "href", "xlink:href"):
            if attrs.get(name):
                self.links.append(attrs[name])
        if tag == "script" and "src" in attrs:
            self.script_srcs.append(attrs["src"])
        if tag == "link":
            self.links.append(attrs.get("href") or "")

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data.strip())


@pytest.fixture(scope="module")
def run_a_json() -> dict:
    return json.loads(RUN_A.read_text())


@pytest.fixture(scope="module")
def report_a(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report_a")
    report.write_report(RUN_A, out)
    return out


@pytest.fixture(scope="module")
def page_a(report_a) -> tuple[str, PageParser]:
    text = (report_a / "index.html").read_text(encoding="utf-8")
    parser = PageParser()
    parser.feed(text)
    parser.close()
    return text, parser


# ------------------------------------------------------------------ loading


def test_load_run_frames_follow_the_schema(run_a_json):
    run = report.load_run(RUN_A)
    assert tuple(run.cases.columns) == CASE_COLUMNS
    assert len(run.cases) == len(run_a_json["toyad"]["cases"])
    assert tuple(run.semantics.columns) == SEMANTICS_COLUMNS
    assert len(run.semantics) == len(run_a_json["toyad"]["semantics"])
    assert run.profile == "quick"
    assert run.duration_s == pytest.approx(142.7)
    assert run.environment["numpy"] == "2.4.0"
    assert run.commit.startswith("3f9c2a7d")
    assert set(run.cases["status"]) == set(STATUSES) - {"skipped-too-large"}  # fixture predates it


def test_load_run_accepts_a_run_folder(tmp_path):
    shutil.copy(RUN_A, tmp_path / "benchmark.json")
    run = report.load_run(tmp_path)
    assert len(run.cases) > 0 and run.source == tmp_path / "benchmark.json"


def test_plain_pytest_benchmark_json_falls_back_to_extra_info_and_stats():
    plain = json.loads((FIXTURES / "plain_pytest_benchmark.json").read_text())
    run = report.load_run(FIXTURES / "plain_pytest_benchmark.json")
    assert len(run.cases) == len(plain["benchmarks"])
    first = plain["benchmarks"][0]
    row = run.cases[run.cases.nodeid == first["fullname"]].iloc[0]
    assert row["backend"] == first["extra_info"]["backend"]
    assert row["n"] == first["extra_info"]["n"]
    assert row["median_s"] == first["stats"]["median"]
    assert row["iqr_s"] == first["stats"]["iqr"]
    assert row["rounds"] == first["stats"]["rounds"]
    assert row["status"] == "ok"
    assert run.environment["cpu"] == "Fixture CPU @ 2.00GHz"  # from machine_info


def test_benchmarks_missing_from_toyad_cases_are_added(run_a_json):
    data = json.loads(json.dumps(run_a_json))
    extra = dict(
        data["benchmarks"][0], fullname="benchmarks/bench_x.py::test_only_in_pytest_benchmark"
    )
    extra["extra_info"] = {
        "suite": "overhead",
        "backend": "dual",
        "problem": "p",
        "operation": "gradient",
    }
    data["benchmarks"].append(extra)
    run = report.load_run(data)
    assert len(run.cases) == len(data["toyad"]["cases"]) + 1
    added = run.cases[run.cases.nodeid == extra["fullname"]].iloc[0]
    assert added["suite"] == "overhead" and added["median_s"] == extra["stats"]["median"]


@pytest.mark.parametrize(
    "name, words",
    [
        ("does_not_exist.json", "no such file"),
        ("not_pytest_benchmark.json", "not a pytest-benchmark JSON"),
        ("empty_run.json", "no cases"),
    ],
)
def test_bad_input_raises_one_line_report_error(name, words):
    with pytest.raises(report.ReportError) as info:
        report.load_run(FIXTURES / name)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_not_json_is_a_report_error(tmp_path):
    bad = tmp_path / "run.json"
    bad.write_text("{ this is not json")
    with pytest.raises(report.ReportError, match="not JSON"):
        report.load_run(bad)


# ------------------------------------------------------------------ CSV


def test_results_csv_round_trips_one_row_per_case(report_a, run_a_json):
    frame = pd.read_csv(report_a / "results.csv")
    records = run_a_json["toyad"]["cases"]
    assert tuple(frame.columns[: len(CASE_COLUMNS)]) == CASE_COLUMNS
    assert len(frame) == len(records)
    env_columns = [c for c in frame.columns[len(CASE_COLUMNS) :]]
    assert {
        "env_numpy",
        "env_threads",
        "env_cpu",
        "env_commit",
        "env_thread_env_OMP_NUM_THREADS",
    } <= set(env_columns)
    assert (frame["env_threads"] == 1).all()
    assert (
        frame["status"].value_counts().to_dict()
        == pd.Series([r["status"] for r in records]).value_counts().to_dict()
    )
    by_id = frame.set_index("nodeid")
    for record in records[:: max(1, len(records) // 25)]:
        row = by_id.loc[record["nodeid"]]
        for column in ("backend", "problem", "operation", "mode", "status"):
            assert row[column] == record[column]
        for column in ("n", "m", "median_s", "iqr_s", "max_rel_error", "peak_bytes", "step"):
            if record[column] is None:
                assert pd.isna(row[column])
            else:
                assert row[column] == pytest.approx(record[column], rel=1e-12)


def test_results_csv_pivots(report_a):
    frame = pd.read_csv(report_a / "results.csv")
    grid = frame[(frame.suite == "scaling") & (frame.backend == "tensor")].pivot_table(
        index="n", columns=["mode", "m"], values="median_s"
    )
    assert grid.shape == (4, 8)
    # forward Jacobian of a dense map costs ~n passes: at m = 1 fwd/rev grows with n
    ratio = grid[("forward", 1)] / grid[("reverse", 1)]
    assert ratio.loc[64] > 4 * ratio.loc[1]


def test_semantics_csv_is_written(report_a):
    frame = pd.read_csv(report_a / "semantics.csv")
    assert tuple(frame.columns) == SEMANTICS_COLUMNS and len(frame) == 9


def test_written_files_are_world_readable(report_a):
    assert os.stat(report_a / "index.html").st_mode & 0o044 == 0o044


# ------------------------------------------------------------------ HTML


def test_html_has_sections_and_plots(page_a):
    text, parser = page_a
    assert parser.headings == list(SECTION_HEADINGS)
    assert parser.tags.count("svg") == EXPECTED_SVGS
    assert text.count("<p class='caption'>") >= EXPECTED_SVGS  # each plot says what it shows
    assert "log2(t_fwd / t_rev)" in text and "slope" in text
    assert len(text) < 2_000_000


def test_html_loads_nothing_from_the_network(page_a):
    text, parser = page_a
    assert parser.script_srcs == []
    assert not any(link.startswith(("http:", "https:", "//")) for link in parser.links)
    assert "@import" not in text and "@font-face" not in text
    assert re.findall(r"url\((?!#)", text) == []  # only in-page references (SVG clip paths)
    assert all(
        link.startswith(("#", "data:")) for link in parser.links
    )  # anchors and inline images


def test_html_shows_every_status_and_marks_wrong_cells(page_a):
    text, _ = page_a
    for status in STATUSES:
        assert f"st-{status}" in text
    assert "✗ 4.2e-03" in text  # numeric-forward Hessian over tolerance
    assert "RuntimeError: vmap" in text  # error messages reach the page
    assert "tracemalloc" in text and "rss-subprocess" in text  # memory methods are named


def test_sections_without_data_are_skipped_with_a_note(tmp_path):
    run = report.load_run(FIXTURES / "plain_pytest_benchmark.json")  # hessians only, no semantics
    report.write_report(run, tmp_path)
    text = (tmp_path / "index.html").read_text()
    parser = PageParser()
    parser.feed(text)
    assert parser.headings == list(SECTION_HEADINGS)
    assert parser.tags.count("svg") == 1
    assert "No scaling rows" in text and "No native-semantics rows" in text
    assert not (tmp_path / "semantics.csv").exists()


def test_a_failing_section_is_reported_in_the_page_not_fatal(monkeypatch):
    from toyad.report import page

    def broken(run):
        raise ValueError("odd data")

    sections = tuple((a, h, broken if a == "hessians" else f) for a, h, f in page.SECTIONS)
    run = report.load_run(FIXTURES / "plain_pytest_benchmark.json")
    text = page.build_page(run, sections)
    assert "This section failed to render: ValueError: odd data" in text
    assert "<h2>All cases</h2>" in text


def test_slope_fit_uses_the_sizes_above_the_flat_part():
    sizes = [1, 4, 16, 64, 256]
    times = [1e-5, 1e-5, 1.1e-5, 4e-5, 1.6e-4]  # flat overhead, then linear
    slope, used = plots.fit_loglog_slope(sizes, times)
    assert used == [64, 256] and slope == pytest.approx(1.0)
    slope, used = plots.fit_loglog_slope(sizes, [2 * s * s for s in sizes])
    assert slope == pytest.approx(2.0) and used == [4, 16, 64, 256]
    slope, used = plots.fit_loglog_slope([1, 2, 4], [1.0, 1.01, 0.99])  # flat: the two largest
    assert used == [2, 4] and abs(slope) < 0.05


# ------------------------------------------------------------------ compare


@pytest.fixture(scope="module")
def comparison(tmp_path_factory) -> tuple[pd.DataFrame, Path]:
    out = tmp_path_factory.mktemp("compare")
    report.compare(RUN_A, RUN_B, out)
    return pd.read_csv(out / "compare.csv", keep_default_na=False, na_values=[""]), out


def _row(frame: pd.DataFrame, **match) -> pd.Series:
    hits = frame
    for key, value in match.items():
        hits = hits[hits[key] == value]
    assert len(hits) == 1, match
    return hits.iloc[0]


def test_compare_flags_a_2x_slowdown_not_a_3pct_wobble(comparison):
    frame, _ = comparison
    slow = _row(frame, suite="scaling", backend="tensor", mode="reverse", n=16, m=16)
    assert slow["ratio"] == pytest.approx(2.0, rel=1e-3) and slow["time_change"] == "slower"
    wobble = _row(frame, suite="scaling", backend="jax-jit", mode="forward", n=4, m=4)
    assert wobble["ratio"] == pytest.approx(1.03, rel=1e-3) and pd.isna(wobble["time_change"])
    assert (frame["time_change"] == "slower").sum() == 1 and (
        frame["time_change"] == "faster"
    ).sum() == 0


def test_compare_flags_status_accuracy_and_presence(comparison):
    frame, _ = comparison
    broken = _row(frame, suite="accuracy", backend="tensor", problem="rosenbrock", operation="jvp")
    assert broken["status_change"] == "ok → wrong"
    assert "now over tolerance" in broken["accuracy_change"]
    drift = _row(frame, suite="accuracy", backend="jax-jit", problem="dense_tanh", operation="vjp")
    assert "error ×1e+03" in drift["accuracy_change"] and pd.isna(drift["status_change"])
    assert _row(frame, suite="hessians", backend="dual", n=64)["presence"] == "only a"
    assert _row(frame, suite="hessians", backend="jax-jit", n=256)["presence"] == "only b"
    assert frame["changed"].sum() == 5


def test_time_change_rule_needs_both_iqr_bands():
    assert time_change(1.0, 0.01, 2.0, 0.02) == "slower"
    assert time_change(1.0, 0.01, 0.5, 0.01) == "faster"
    assert time_change(1.0, 0.01, 1.05, 0.01) == ""  # within 10%
    assert time_change(1.0, 0.5, 1.2, 0.01) == ""  # b inside a's noisy band
    assert time_change(1.0, 0.01, 1.2, 0.5) == ""  # a inside b's noisy band


def test_compare_html_parses_offline(comparison):
    _, out = comparison
    parser = PageParser()
    parser.feed((out / "compare.html").read_text())
    assert parser.tags.count("svg") == 1 and parser.script_srcs == []
    assert all(link.startswith(("#", "data:")) for link in parser.links)


# ------------------------------------------------------------------ publish


def test_publish_creates_stamped_folder_and_latest(tmp_path):
    root = tmp_path / "reports"
    first = report.publish(RUN_A, root)
    assert first.name == "20261126-135000-3f9c2a7d"
    assert {p.name for p in first.iterdir()} == {
        "benchmark.json",
        "results.csv",
        "tradeoff.csv",
        "semantics.csv",
        "index.html",
    }
    assert (first / "benchmark.json").read_bytes() == RUN_A.read_bytes()
    latest = root / "latest"
    assert latest.is_symlink() and os.readlink(latest) == first.name
    later = json.loads((FIXTURES / "plain_pytest_benchmark.json").read_text())
    later["datetime"] = "2026-11-27T09:15:30.5+01:00"
    later["commit_info"]["id"] = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
    second = report.publish(later, root)
    assert second.name == "20261127-081530-a1b2c3d4" and os.readlink(latest) == second.name
    assert json.loads((second / "benchmark.json").read_text()) == later
    # same stamp and commit as run a (plain pytest-benchmark JSON of that run): a new folder
    third = report.publish(FIXTURES / "plain_pytest_benchmark.json", root)
    assert third.name == "20261126-135000-3f9c2a7d-2"
    assert not [p for p in root.iterdir() if p.name.startswith(".")]
    assert report.load_run(latest).commit.startswith("3f9c2a7d")


def test_publish_failure_keeps_earlier_runs_and_cleans_up(tmp_path, monkeypatch):
    root = tmp_path / "reports"
    first = report.publish(FIXTURES / "plain_pytest_benchmark.json", root)
    before = {p: p.read_bytes() for p in first.iterdir()}

    def broken_page(run):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(report, "build_page", broken_page)
    with pytest.raises(OSError, match="simulated"):
        report.publish(RUN_B, root)
    assert sorted(p.name for p in root.iterdir()) == [first.name, "latest"]
    assert os.readlink(root / "latest") == first.name
    assert {p: p.read_bytes() for p in first.iterdir()} == before


def test_publish_rejects_bad_input_before_touching_disk(tmp_path):
    root = tmp_path / "reports"
    with pytest.raises(report.ReportError):
        report.publish(FIXTURES / "empty_run.json", root)
    assert not root.exists() or not any(root.iterdir())


# ------------------------------------------------------------------ CLI


@pytest.mark.parametrize(
    "argv",
    [
        ["does/not/exist.json"],
        [str(FIXTURES / "not_pytest_benchmark.json")],
        [str(FIXTURES / "empty_run.json")],
        ["compare", str(RUN_A), str(FIXTURES / "empty_run.json")],
    ],
)
def test_cli_errors_exit_2_with_one_line(argv, capsys, tmp_path):
    assert cli.main([*argv, "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("toyad-report: error: ")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_cli_rebuilds_and_compares(tmp_path, capsys):
    shutil.copy(FIXTURES / "plain_pytest_benchmark.json", tmp_path / "benchmark.json")
    assert cli.main([str(tmp_path)]) == 0
    assert (tmp_path / "index.html").exists() and (tmp_path / "results.csv").exists()
    out = tmp_path / "cmp"
    assert cli.main(["compare", str(RUN_A), str(RUN_B), "--out", str(out)]) == 0
    assert (out / "compare.html").exists() and (out / "compare.csv").exists()


def test_cli_as_a_module_prints_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "toyad.report", str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip().startswith("toyad-report: error:")
        and "Traceback" not in result.stderr
    )
    assert len(result.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------ per-op, gc on / off


def _with_gc_on_rows(run, factor):
    """run_a's per-op rows again with the collector on, ``factor`` times slower."""
    per_op = run.cases[run.cases.suite == "per-op"].copy()
    per_op["gc"], per_op["median_s"] = "on", per_op["median_s"] * factor
    micrograd = per_op.backend == "micrograd"
    per_op.loc[micrograd, "median_s"] *= 2  # micrograd's cyclic graph: gc costs it more
    cases = pd.concat([run.cases, per_op], ignore_index=True)
    return report.Run(cases, run.semantics, run.environment, run.profile, run.started)


def test_per_op_table_keeps_gc_states_apart_and_divides_micrograd_by_each_engine():
    from toyad.report import page

    run = _with_gc_on_rows(report.load_run(RUN_A), 1.5)
    table = page.per_op_table(run.cases[run.cases.suite == "per-op"]).set_index("backend")
    assert set(table.index) == {"reverse", "micrograd"}  # value + gradient rows only
    reverse, micrograd = table.loc["reverse"], table.loc["micrograd"]
    assert reverse["ops"] == 10000  # the largest graph
    assert reverse["µs/op gc on"] == pytest.approx(1.5 * reverse["µs/op gc off"])
    for gc_state in ("off", "on"):
        want = micrograd[f"µs/op gc {gc_state}"] / reverse[f"µs/op gc {gc_state}"]
        assert reverse[f"micrograd ÷ gc {gc_state}"] == pytest.approx(want)
    assert micrograd["micrograd ÷ gc on"] == 1.0
    html = page.per_op_section(run)
    assert "micrograd ÷ gc on" in html and "gc on" in html


def test_compare_matches_gc_on_with_gc_on(tmp_path):
    run = report.load_run(RUN_A)
    frame, summary = compare_frame(_with_gc_on_rows(run, 1.0), _with_gc_on_rows(run, 3.0))
    assert summary["duplicate keys ignored"] == 0
    per_op = frame[frame.suite == "per-op"]
    assert set(per_op["gc"]) == {"on", "off"}
    assert set(per_op[per_op.gc == "on"]["time_change"]) == {"slower"}
    assert not per_op[per_op.gc == "off"]["time_change"].fillna("").any()


def test_trace_and_compile_table_shows_each_backends_prepare_at_the_smallest_size():
    """Per backend × workload: the derivative's prepare and call at the first (smallest)
    size, a stopped call by its status; the caption says how warm the compile caches were."""
    from toyad.report import page

    rows = pd.DataFrame(
        [
            {"backend": "jax-jit", "problem": "gmm", "operation": "gradient", "preset": "a",
             "status": "ok", "prepare_s": 0.5, "median_s": 2e-3},
            {"backend": "jax-jit", "problem": "gmm", "operation": "gradient", "preset": "b",
             "status": "ok", "prepare_s": 9.0, "median_s": 1.0},
            {"backend": "jax-jit", "problem": "gmm", "operation": "primal", "preset": "a",
             "status": "ok", "prepare_s": 0.1, "median_s": 1e-3},
            {"backend": "tf-xla", "problem": "lstm", "operation": "jacobian", "preset": "a",
             "status": "skipped-too-slow", "prepare_s": 30.0, "median_s": None},
        ]
    )  # fmt: skip
    table = page.trace_compile_table(rows).set_index("backend")
    assert table.loc["jax-jit", "gmm"] == f"{page.fmt_seconds(0.5)} · {page.fmt_seconds(2e-3)}"
    assert table.loc["tf-xla", "lstm"] == f"{page.fmt_seconds(30.0)} · skipped-too-slow"
    assert table.loc["tf-xla", "gmm"] == "" and table.loc["jax-jit", "lstm"] == ""

    from toyad.report.load import Run

    cases = rows.assign(suite="workloads", mode="reverse", n=10, m=1)
    run = Run(
        cases=cases.reindex(columns=list(CASE_COLUMNS)),
        semantics=pd.DataFrame(columns=list(SEMANTICS_COLUMNS)),
        environment={"compile_caches": {"torch.compile": "cold: no graph in /tmp/x yet"}},
    )
    text = page.workloads_section(run)
    assert "Trace and compile" in text and "torch.compile: cold: no graph in /tmp/x yet" in text


def test_compile_caches_say_whether_inductor_had_graphs(tmp_path, monkeypatch):
    from toyad.bench import environment

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    environment.compile_caches.cache_clear()
    assert environment.compile_caches()["torch.compile"].startswith("cold")
    (tmp_path / "fxgraph" / "ab" / "key1").mkdir(parents=True)
    environment.compile_caches.cache_clear()
    caches = environment.compile_caches()
    assert caches["torch.compile"].startswith("warm: 1 graphs")
    assert caches["jax"] == "in memory, per process"
    environment.compile_caches.cache_clear()
