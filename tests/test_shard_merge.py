"""Issue 19: shards of a selection, and merging runs (shards, or other machines) into one.

- ``--shard K/N`` parts are disjoint, cover the selection, keep a cell together, and are
  the same in every process; shards 1/3..3/3 of the quick profile, merged, hold exactly
  the cases of one unsharded run;
- ``toyad-report merge`` refuses mixed commits/profiles, reports duplicates, labels
  each row's machine; the page of a run from several machines never joins machines.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from toyad import report
from toyad.bench.harness import SUITE_WEIGHT, CaseSpec
from toyad.bench.shard import (
    ShardError,
    cell_of,
    item_costs,
    parse_shard,
    partition,
    profile_costs,
    select_shard,
)
from toyad.report import __main__ as cli
from toyad.report.load import ReportError, load_run
from toyad.report.merge import key_counts, merge_runs
from toyad.report.page import build_page
from toyad.report.table import results_frame

ROOT = Path(__file__).resolve().parents[1]


# -- partitioning ------------------------------------------------------------------------
def _item(nodeid: str, spec: CaseSpec | None = None) -> SimpleNamespace:
    params = {"spec": spec} if spec else {}
    name = nodeid.split("::")[-1]
    return SimpleNamespace(
        nodeid=nodeid,
        name=name,
        originalname=name.split("[")[0],
        callspec=SimpleNamespace(params=params),
    )


def _grid_items() -> list[SimpleNamespace]:
    items = []
    for backend in ("reverse", "dual", "tensor"):
        for n in (1, 4, 16, 64, 256):
            for mode in ("forward", "reverse"):
                spec = CaseSpec("scaling", backend, "dense_tanh", "jacobian", mode, n, 1)
                items.append(_item(f"b.py::test_grid[{spec.id}]", spec))
    items += [_item(f"s.py::test_semantics[{c}]") for c in ("a", "b", "c")]
    items += [_item("u.py::test_plain")]
    return items


@pytest.mark.parametrize("text", ["", "3", "0/3", "4/3", "a/b", "1/0", "-1/2"])
def test_a_bad_shard_is_refused_by_name(text):
    with pytest.raises(ShardError, match="--shard"):
        parse_shard(text)


def test_shards_are_disjoint_cover_everything_and_keep_cells_whole():
    items = _grid_items()
    suites = ["scaling" if i.callspec.params else "semantics" for i in items]
    parts = [select_shard(items, suites, (k, 3))[0] for k in (1, 2, 3)]
    ids = [i.nodeid for part in parts for i in part]
    assert sorted(ids) == sorted(i.nodeid for i in items)  # each item in exactly one shard
    assert all(parts)  # every shard has work
    for part in parts:  # a cell (every backend and mode of one size) is never split
        others = [i for p in parts if p is not part for i in p]
        assert not {cell_of(i) for i in part} & {cell_of(i) for i in others}
    sem = [i for i in items if "semantics" in i.nodeid]
    assert len({cell_of(i) for i in sem}) == 1  # a non-case test function stays together
    # the same partition whatever the order the items come in
    shuffled = list(reversed(items))
    again = [select_shard(shuffled, list(reversed(suites)), (k, 3))[0] for k in (1, 2, 3)]
    assert [sorted(i.nodeid for i in p) for p in again] == [
        sorted(i.nodeid for i in p) for p in parts
    ]


def test_partition_balances_by_cost_and_measured_costs_win():
    assignment = partition([("big", 10.0), ("a", 4.0), ("b", 3.0), ("c", 3.0)], 2)
    loads = {1: 0.0, 2: 0.0}
    for key, cost in (("big", 10.0), ("a", 4.0), ("b", 3.0), ("c", 3.0)):
        loads[assignment[key]] += cost
    assert sorted(loads.values()) == [10.0, 10.0]
    items = _grid_items()[:4]  # two cells: n=1 and n=4 of reverse (forward, reverse)
    suites = ["scaling"] * 4
    kept, _ = select_shard(items, suites, (1, 2))  # estimate: the larger size is dearer
    assert {i.nodeid for i in kept} == {items[2].nodeid, items[3].nodeid}
    measured = {i.nodeid: (50.0 if "-n1-" in i.nodeid else 1.0) for i in items}
    kept, _ = select_shard(items, suites, (1, 2), measured)  # measured: n=1 was the slow one
    assert {i.nodeid for i in kept} == {items[0].nodeid, items[1].nodeid}


def test_with_measured_costs_a_plain_item_costs_its_suites_seconds_an_item():
    items = _grid_items()
    suites = ["scaling" if i.callspec.params else "semantics" for i in items]
    measured = {i.nodeid: 0.5 for i in items if i.callspec.params}
    costs = dict(zip((i.nodeid for i in items), item_costs(items, suites, measured)))
    assert costs["s.py::test_semantics[a]"] == pytest.approx(SUITE_WEIGHT["semantics"])
    assert costs[items[0].nodeid] == 0.5
    # an unmeasured case of a measured suite: its estimate at the suite's measured scale
    del measured[items[0].nodeid]
    costs = item_costs(items, suites, measured)
    assert 0 < costs[0] < 0.5  # (the smallest size of the grid)


def test_the_quick_profile_ships_the_measured_cost_of_its_cases():
    costs = profile_costs("quick")
    assert costs and all(v >= 0 for v in costs.values())
    suites = {nodeid.split("::")[0] for nodeid in costs}
    assert {"benchmarks/bench_scaling.py", "benchmarks/bench_gradbench.py"} <= suites
    assert profile_costs("no-such-profile") is None


# -- through pytest: the quick profile, sharded and merged -----------------------------------
QUICK = [
    "benchmarks",
    "--benchmark-disable",
    "--profile",
    "quick",
    "--backends",
    "reverse,dual",
    "-q",
    "-p",
    "no:cacheprovider",
]


def _run_folder(report_dir: Path) -> Path:
    latest = report_dir / "latest"
    assert latest.is_symlink(), f"no run published in {report_dir}"
    return latest.resolve()


def test_quick_profile_shards_merged_hold_exactly_the_unsharded_cases(tmp_path):
    procs = {}
    for name, extra in [("all", [])] + [(f"s{k}", ["--shard", f"{k}/3"]) for k in (1, 2, 3)]:
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "pytest", *QUICK, *extra, "--report-dir", str(tmp_path / name)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    outputs = {name: proc.communicate(timeout=600)[0] for name, proc in procs.items()}
    for name in ("s1", "s2", "s3"):
        assert "deselected" in outputs[name], outputs[name][-2000:]
    folders = {name: _run_folder(tmp_path / name) for name in procs}
    whole = json.loads((folders["all"] / "benchmark.json").read_text())
    shard_envs = [
        json.loads((folders[f"s{k}"] / "benchmark.json").read_text())["toyad"]["environment"]
        for k in (1, 2, 3)
    ]
    assert [e["shard"] for e in shard_envs] == ["1/3", "2/3", "3/3"]

    out = tmp_path / "merged"
    assert cli.main(["merge", *(str(folders[f"s{k}"]) for k in (1, 2, 3)), "--out", str(out)]) == 0
    merged = json.loads((out / "benchmark.json").read_text())
    cases = merged["toyad"]["cases"]
    assert key_counts(cases) == key_counts(whole["toyad"]["cases"])
    assert len(cases) == len(whole["toyad"]["cases"]) > 100
    assert merged["toyad"]["merge"]["duplicates"] == []
    assert {c["machine"] for c in cases} == {whole["toyad"]["environment"]["machine_label"]}
    assert [r["shard"] for r in merged["toyad"]["environment"]["merged_runs"]] == [
        "1/3",
        "2/3",
        "3/3",
    ]
    html = (out / "index.html").read_text()
    assert "<h2>Machines</h2>" in html and "This section failed" not in html
    frame = results_frame(load_run(out))
    assert frame["env_cpu"].notna().all() and (frame["machine"] != "").all()


# -- merge: refusals, duplicates, machines ---------------------------------------------------
def _case(backend, mode, n, m, median, machine="", **extra):
    return {
        "suite": "scaling",
        "backend": backend,
        "family": "toy",
        "problem": "dense_tanh",
        "operation": "jacobian",
        "mode": mode,
        "n": n,
        "m": m,
        "preset": "",
        "status": "ok",
        "median_s": median,
        "min_s": median,
        "nodeid": f"bench_scaling.py::test_jacobian_grid[{backend}-{mode}-n{n}-m{m}]",
        "machine": machine,
        **extra,
    }


def _run(cases, machine="host-a", commit="c" * 40, profile="quick", cpu="CPU A"):
    env = {"machine_label": machine, "cpu": cpu, "commit": commit, "python": "3.11.9"}
    return {
        "benchmarks": [],
        "toyad": {
            "schema": 1,
            "profile": profile,
            "started": "2026-12-01T10:00:00+00:00",
            "environment": env,
            "cases": cases,
        },
    }


def _two_machine_runs():
    a = [c for n in (1, 4, 16) for c in _two_sizes(n, "host-a")]
    b = [c for n in (16, 64, 256) for c in _two_sizes(n, "host-b")]
    return _run(a, "host-a"), _run(b, "host-b", cpu="CPU B")


def _two_sizes(n, machine):
    slow = 3.0 if machine == "host-b" else 1.0
    return [
        _case("dual", "forward", n, 1, slow * 1e-6 * n),
        _case("reverse", "reverse", n, 1, slow * 2e-6),
        _case("reverse", "forward", n, 1, None, status="unsupported"),
    ]


def test_merge_refuses_mixed_commits_and_profiles_unless_allowed(tmp_path):
    a = _run([_case("reverse", "reverse", 1, 1, 1e-6)], commit="a" * 40)
    b = _run([_case("reverse", "reverse", 4, 1, 1e-6)], commit="b" * 40)
    with pytest.raises(ReportError, match="different commits.*aaaa.*bbbb.*--allow-mixed"):
        merge_runs([("r1", a), ("r2", b)])
    merged = merge_runs([("r1", a), ("r2", b)], allow_mixed=True)
    assert len(merged["toyad"]["cases"]) == 2
    c = _run([_case("reverse", "reverse", 4, 1, 1e-6)], commit="a" * 40, profile="full")
    with pytest.raises(ReportError, match="different profiles.*full.*quick"):
        merge_runs([("r1", a), ("r3", c)])
    # and through the command line: a clear message, exit status 2
    for name, run in (("r1", a), ("r2", b)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "benchmark.json").write_text(json.dumps(run))
    code = cli.main(["merge", str(tmp_path / "r1"), str(tmp_path / "r2"), "--out", str(tmp_path)])
    assert code == 2


def test_merge_reports_duplicates_and_keeps_both(capsys, tmp_path):
    a = _run([_case("reverse", "reverse", 1, 1, 1e-6), _case("dual", "forward", 1, 1, 2e-6)])
    b = _run([_case("reverse", "reverse", 1, 1, 3e-6)], machine="host-b")
    for name, run in (("a", a), ("b", b)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "benchmark.json").write_text(json.dumps(run))
    out = tmp_path / "m"
    assert cli.main(["merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 duplicate case(s) kept" in printed
    assert "duplicate: scaling reverse dense_tanh jacobian reverse n=1 m=1 on host-a, host-b" in (
        printed
    )
    merged = json.loads((out / "benchmark.json").read_text())
    assert len(merged["toyad"]["cases"]) == 3
    assert merged["toyad"]["merge"]["duplicates"][0]["machines"] == ["host-a", "host-b"]


def test_a_page_of_several_machines_never_joins_them(tmp_path):
    a, b = _two_machine_runs()
    # host-a also measured n=16: that cell is on both machines, side by side
    merged = merge_runs([("a", a), ("b", b)])
    assert {c["machine"] for c in merged["toyad"]["cases"]} == {"host-a", "host-b"}
    env = merged["toyad"]["environment"]
    assert (
        env["machines"]["host-a"]["cpu"] == "CPU A" and env["machines"]["host-b"]["cpu"] == "CPU B"
    )
    assert "cpu" not in env  # differs per machine: kept per machine, not claimed for all
    # the crossovers pair modes on one machine only
    pairs = {(r["backend"], r["reverse_backend"]) for r in merged["toyad"]["crossovers"]}
    assert pairs == {("dual @ host-a", "reverse @ host-a"), ("dual @ host-b", "reverse @ host-b")}
    folder = report.publish(merged, tmp_path / "reports")
    html = (folder / "index.html").read_text()
    assert "This section failed" not in html
    assert "<h2>Machines</h2>" in html and "Cells measured on more than one machine (2)" in html
    # each line of the scaling plot is one backend on one machine
    assert "dual @ host-a (forward) (slope" in html and "dual @ host-b (forward) (slope" in html
    assert "dual (forward) (slope" not in html and ">dual (fwd) vs" not in html
    frame = results_frame(load_run(folder))
    assert set(zip(frame["machine"], frame["env_cpu"])) == {
        ("host-a", "CPU A"),
        ("host-b", "CPU B"),
    }
    build_page(load_run(folder))  # rebuilds from the folder too
