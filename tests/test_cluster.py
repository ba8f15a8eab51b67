"""Issue 19: a selection run as shards on a dask.distributed cluster (``--dask``).

- ``--dask local:1`` runs a small selection end to end: the published run holds exactly
  the cases of the same selection run in one process;
- a worker killed mid-run loses only its shard: it is retried once, then named missing,
  and every other shard's results are published;
- without dask, or with a bad address, the message says what to do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from toyad.bench import cluster
from toyad.report.merge import key_counts

ROOT = Path(__file__).resolve().parents[1]
SELECTION = [
    "benchmarks/bench_scaling.py::test_jacobian_grid",
    "--benchmark-disable",
    "--backends",
    "reverse,dual",
    "--problems",
    "dense_tanh",
    "-p",
    "no:cacheprovider",
]
KILLER = "tests/cluster_kill_worker.py::test_kill_my_worker"


def _pytest(*args: str, env: dict | None = None, timeout: float = 300):
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def _published(report_dir: Path) -> dict:
    latest = report_dir / "latest"
    assert latest.is_symlink(), f"nothing published in {report_dir}"
    return json.loads((latest / "benchmark.json").read_text())


def _collected(*args: str) -> set[str]:
    out = _pytest(*args, "--collect-only", "-q").stdout
    return {line.strip() for line in out.splitlines() if "::" in line}


def test_dask_local_1_runs_a_selection_end_to_end(tmp_path):
    pytest.importorskip("distributed")
    one = _pytest(*SELECTION, "--report-dir", str(tmp_path / "one"))
    assert one.returncode == 0, one.stdout[-2000:]
    proc = _pytest(*SELECTION, "--dask", "local:1", "--report-dir", str(tmp_path / "dask"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "toyad: shard 1/1 done on" in proc.stdout  # the progress line
    run = _published(tmp_path / "dask")
    expected = _published(tmp_path / "one")["toyad"]["cases"]
    assert key_counts(run["toyad"]["cases"]) == key_counts(expected) and len(expected) == 48
    merge = run["toyad"]["merge"]
    assert merge["missing_shards"] == [] and merge["cluster"]["shards"] == 1
    assert [r["shard"] for r in run["toyad"]["environment"]["merged_runs"]] == ["1/1"]
    assert run["toyad"]["complete"] is True
    assert (tmp_path / "dask" / "latest" / "index.html").is_file()


def test_a_killed_worker_loses_only_its_shard(tmp_path):
    pytest.importorskip("distributed")
    args = [*SELECTION[:1], KILLER, *SELECTION[1:]]
    shards = {k: _collected(*args, "--shard", f"{k}/2") for k in (1, 2)}
    lost = next(k for k, ids in shards.items() if KILLER in ids)
    kept = 3 - lost
    assert shards[kept] and not shards[1] & shards[2]
    proc = _pytest(
        *args,
        "--dask",
        "local:2",
        "--dask-shards",
        "2",
        "--report-dir",
        str(tmp_path),
        env={"TOYAD_TEST_KILL_WORKER": "1"},
    )
    out = proc.stdout
    assert proc.returncode == 1, out[-3000:] + proc.stderr[-3000:]
    assert f"toyad: MISSING shard {lost}/2: KilledWorker" in out, out[-3000:]
    assert f"toyad: shard {kept}/2 done on" in out
    run = _published(tmp_path)
    merge = run["toyad"]["merge"]
    assert [m["shard"] for m in merge["missing_shards"]] == [f"{lost}/2"]
    assert "KilledWorker" in merge["missing_shards"][0]["reason"]
    # the surviving shard's results, all of them, and nothing of the lost one
    nodeids = {c["nodeid"] for c in run["toyad"]["cases"]}
    assert nodeids == shards[kept]
    assert run["toyad"]["complete"] is False
    assert f"shards lost: {lost}/2" in run["toyad"]["incomplete_reason"]
    html = (tmp_path / "latest" / "index.html").read_text()
    assert "Shards lost:" in html and f"{lost}/2" in html


def test_without_dask_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    with pytest.raises(cluster.ClusterError, match=r"pip install 'toyad\[cluster\]'"):
        cluster.check_dask("local:2")


@pytest.mark.parametrize("address", ["", "local:0", "local:x"])
def test_a_bad_dask_address_is_named(address):
    with pytest.raises(cluster.ClusterError, match="--dask"):
        cluster.parse_address(address)


def test_shard_command_lines_drop_the_controllers_options():
    args = ["benchmarks", "--dask", "local:2", "--report-dir=out", "--dask-shards", "3", "-q"]
    assert cluster.shard_args(args) == ["benchmarks", "-q"]
    assert cluster.parse_address("tcp://10.0.0.5:8786") == ("address", "tcp://10.0.0.5:8786")


def test_workers_running_several_tasks_at_once_are_refused():
    with pytest.raises(cluster.ClusterError, match="--nthreads 1"):
        cluster._slots({"tcp://a:1": {"nthreads": 4, "resources": {}}})
    assert cluster._slots({"tcp://a:1": {"nthreads": 4, "resources": {cluster.RESOURCE: 1}}}) == (
        1,
        {cluster.RESOURCE: 1},
    )
    assert cluster._slots({"tcp://a:1": {"nthreads": 1}, "tcp://b:1": {"nthreads": 1}}) == (2, None)
