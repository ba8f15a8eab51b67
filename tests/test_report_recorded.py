"""The report on a JSON recorded from a real run (tests/fixtures/recorded_run.json).

The fixture is a genuine ``pytest benchmarks --benchmark-only`` run, cut down
(see tests/fixtures/README.md for the command), so these tests see exactly
what the harness writes: if the harness and the report drift apart, this
fails where the hand-made fixtures of test_report.py would not.
"""

import json
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from toyad import report
from toyad.results import CASE_COLUMNS, STATUSES

FIXTURE = Path(__file__).parent / "fixtures" / "recorded_run.json"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("recorded")
    report.write_report(FIXTURE, out)
    return out


def test_recorded_run_loads_with_every_case():
    raw = json.loads(FIXTURE.read_text())
    run = report.load_run(FIXTURE)
    assert len(run.cases) >= len(raw["toyad"]["cases"])
    assert set(run.cases["status"]) <= set(STATUSES)
    assert run.environment.get("threads") == 1
    assert len(run.semantics) == len(raw["toyad"]["semantics"]) > 0


def test_recorded_csv_is_tidy(written):
    df = pd.read_csv(written / "results.csv")
    assert list(df.columns[: len(CASE_COLUMNS)]) == list(CASE_COLUMNS)
    scaling = df[(df.suite == "scaling") & (df.status == "ok") & (df.operation == "jacobian")]
    assert not scaling.empty
    grid = scaling.pivot_table(
        index=["backend", "mode"], columns="n", values="median_s", aggfunc="min"
    )
    assert grid.notna().to_numpy().any()
    accuracy = df[(df.suite == "accuracy") & (df.status == "ok")]
    assert (accuracy["max_rel_error"] <= accuracy["tolerance"]).all()


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.links = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [v for k, v in attrs if k in ("src", "href") and v]


def test_recorded_html_is_self_contained(written):
    page = (written / "index.html").read_text()
    parser = _Collect()
    parser.feed(page)
    assert parser.tags.count("svg") >= 3
    assert not [link for link in parser.links if not link.startswith(("#", "data:"))]
    for heading in ("Forward vs reverse", "Accuracy", "Native semantics", "Environment"):
        assert heading in page


def test_a_semantics_only_run_is_still_a_run(tmp_path):
    raw = json.loads(FIXTURE.read_text())
    raw["toyad"]["cases"], raw["benchmarks"] = [], []
    path = tmp_path / "semantics_only.json"
    path.write_text(json.dumps(raw))
    run = report.load_run(path)
    assert run.cases.empty and len(run.semantics) > 0
    report.write_report(path, tmp_path / "out")
    assert (tmp_path / "out" / "semantics.csv").exists()
    assert "Native semantics" in (tmp_path / "out" / "index.html").read_text()
