"""Running a selection on a dask.distributed cluster: shards as tasks, one run as the result.

``pytest benchmarks --dask ADDRESS`` (or ``--dask local:K``): the controller
collects the selection, splits it into N shards (``--shard k/N``, whole
cells), and submits each shard as one task that runs ``python -m pytest``
with the controller's arguments in a subprocess on a worker. Each task needs
one unit of the ``toyad-shard`` resource (or a one-thread worker), so a worker
times one shard at a time and nothing else shares its cores. A task returns
its run (benchmark.json's content), so workers need no shared filesystem,
only the same checkout at the same path with toyad installed.

A worker that dies takes its shard with it: the scheduler runs it again on
another worker (``distributed.scheduler.allowed-failures``: LocalCluster is
started with 1, i.e. one retry); a shard whose pytest ends without a run is
retried once (``retries=1``). After that it is reported missing; the other
shards' runs are merged (:func:`toyad.report.merge.merge_runs`) and
published as one run, which names the missing shards.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESOURCE = "toyad-shard"
INSTALL_HINT = "--dask needs dask.distributed: pip install 'toyad[cluster]'"
# options of the controller that a shard's command line must not repeat (option -> takes a value)
CONTROLLER_OPTIONS = {
    "--dask": True,
    "--dask-shards": True,
    "--report-dir": True,
    "--shard": True,
    "--shard-by": True,
    "--jobs": True,
}
OUTPUT_TAIL = 3000  # characters of a shard's pytest output kept for the report


class ClusterError(RuntimeError):
    """The cluster cannot run the selection (no dask, no workers, a bad address)."""


MEMORY_POLL_S = 0.05  # how often run_shard reads its subprocess's resident memory


class ShardFailed(RuntimeError):
    """A shard's pytest ended without writing a run (it is retried once).

    ``over_memory``: the resident bytes at which :func:`run_shard` ended it for passing
    its memory line (0: it ended by itself)."""

    over_memory: int = 0


@dataclass
class ClusterOutcome:
    """What the controller did: shards, their results, what is missing, the merged run."""

    shards: int = 0
    workers: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    published: Path | None = None
    lines: list[str] = field(default_factory=list)
    error: str = ""  # why nothing was published

    @property
    def failed(self) -> bool:
        """Missing shards, a shard whose tests failed (wrong, errored cases), or an error."""
        return bool(self.error or self.missing) or any(
            r["returncode"] not in (0, 5) for r in self.results
        )


def parse_address(text: str) -> tuple[str, int | str]:
    """``local:K`` -> ("local", K); anything else is a scheduler address."""
    text = (text or "").strip()
    if not text:
        raise ClusterError("--dask: give a scheduler address (tcp://host:8786) or local:K")
    if text.startswith("local"):
        _, _, count = text.partition(":")
        try:
            workers = int(count or "1")
        except ValueError:
            workers = 0
        if workers < 1:
            raise ClusterError(f"--dask {text!r}: local:K needs K >= 1 workers, e.g. local:2")
        return "local", workers
    return "address", text


def shard_args(args: Sequence[str]) -> list[str]:
    """The controller's pytest arguments without the options the controller itself handles."""
    out: list[str] = []
    skip_value = False
    for arg in args:
        if skip_value:
            skip_value = False
            continue
        name = arg.split("=", 1)[0]
        if name in CONTROLLER_OPTIONS:
            skip_value = "=" not in arg and CONTROLLER_OPTIONS[name]
            continue
        out.append(arg)
    return out


def run_shard(
    args: list[str],
    cwd: str,
    shard: str,
    env: dict[str, str] | None = None,
    folder: str | None = None,
    memory_line: int | None = None,
) -> dict[str, Any]:
    """Run one shard's pytest in a subprocess (on a worker); its run JSON and outcome
    (``env``: the subprocess's environment, default this one's; ``folder``: its report
    folder, new and kept, default a temporary one removed after; ``memory_line``: bytes
    of resident memory past which the subprocess is ended at once, what a library
    allocating in C does before the case's own guard can stop it).

    Raises ShardFailed when pytest ends without a run and without "no tests ran"
    (killed, crashed, ended at its memory line, a usage error), so that dask retries
    the shard once.
    """
    from toyad.bench.environment import machine_label
    from toyad.bench.guard import rss_bytes

    keep = folder is not None
    folder = folder or tempfile.mkdtemp(prefix="toyad-shard-")
    command = [sys.executable, "-m", "pytest", *args, "--shard", shard, "--report-dir", folder]
    start = time.perf_counter()
    over_memory = 0
    try:
        proc = subprocess.Popen(
            command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        while True:
            try:  # (a retried communicate loses no output)
                stdout, stderr = proc.communicate(timeout=MEMORY_POLL_S if memory_line else None)
                break
            except subprocess.TimeoutExpired:
                rss = rss_bytes(proc.pid)
                if memory_line and rss > memory_line and not over_memory:
                    over_memory = rss
                    proc.kill()
        path = Path(folder) / "latest" / "benchmark.json"
        run = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    tail = (stdout + stderr)[-OUTPUT_TAIL:]
    if over_memory or (run is None and proc.returncode != 5):  # 5: it selected no test
        failed = ShardFailed(
            f"shard {shard}: pytest exited with {proc.returncode} without writing a run "
            f"on {platform.node()}: ...{tail[-600:]}"
            if not over_memory
            else f"shard {shard}: ended at {over_memory / 2**30:.2f} GiB resident, past "
            f"its {memory_line / 2**30:.2f} GiB memory line"  # type: ignore[operator]
        )
        failed.over_memory = over_memory
        raise failed
    return {
        "shard": shard,
        "returncode": proc.returncode,
        "run": run,
        "host": platform.node(),
        "machine": machine_label(),
        "seconds": time.perf_counter() - start,
        "output_tail": tail,
        "folder": folder if keep else None,
    }


def check_dask(address: str) -> None:
    """ClusterError unless ``address`` is well formed and dask.distributed is installed."""
    parse_address(address)
    _distributed()


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ClusterError(INSTALL_HINT) from None
    return distributed


def _connect(address: str) -> tuple[Any, Any]:
    """(client, cluster or None) for ``local:K`` or a scheduler address."""
    import dask

    distributed = _distributed()
    kind, value = parse_address(address)
    if kind == "local":
        # one retry for a task whose worker died (the scheduler is in this process)
        with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
            cluster = distributed.LocalCluster(
                n_workers=int(value),
                threads_per_worker=1,
                processes=True,
                resources={RESOURCE: 1},
                dashboard_address=None,
            )
        return distributed.Client(cluster), cluster
    try:
        return distributed.Client(str(value), timeout="30s"), None
    except OSError as exc:
        raise ClusterError(f"--dask {value}: cannot reach the scheduler: {exc}") from None


def _slots(workers: dict[str, Any]) -> tuple[int, dict[str, int] | None]:
    """(shards that can run at once, the resources a shard task asks for).

    Workers declaring the ``toyad-shard`` resource run that many shards each;
    otherwise every worker must have one thread (one task at a time).
    """
    declared = {a: (w.get("resources") or {}).get(RESOURCE, 0) for a, w in workers.items()}
    if any(declared.values()):
        return int(sum(declared.values())), {RESOURCE: 1}
    threads = {a: w.get("nthreads", 1) for a, w in workers.items()}
    busy = sorted(a for a, n in threads.items() if n > 1)
    if busy:
        raise ClusterError(
            f"workers {', '.join(busy)} run several tasks at once, so shards would share their "
            f"cores while timed: start workers with --nthreads 1 or --resources {RESOURCE}=1"
        )
    return len(workers), None


def run_on_cluster(
    address: str,
    args: Sequence[str],
    cwd: str | Path,
    cells: int,
    shards: int | None = None,
    say: Callable[[str], None] = print,
) -> ClusterOutcome:
    """Run the selection as shards on the cluster; the shards' results (not yet merged)."""
    distributed = _distributed()
    start = time.perf_counter()
    client, cluster = _connect(address)
    outcome = ClusterOutcome()
    try:
        workers = client.scheduler_info()["workers"]
        if not workers:
            client.wait_for_workers(1, timeout=60)
            workers = client.scheduler_info()["workers"]
        slots, resources = _slots(workers)
        outcome.workers = len(workers)
        count = max(1, min(shards or slots, cells))
        outcome.shards = count
        say(
            f"toyad: {cells} cells in {count} shards on {len(workers)} worker(s) "
            f"({slots} shard(s) at a time) at {client.scheduler.address}"
        )
        argv, token = shard_args(args), uuid.uuid4().hex[:8]
        futures = {
            client.submit(
                run_shard,
                argv,
                str(cwd),
                f"{k}/{count}",
                key=f"toyad-shard-{k}-of-{count}-{token}",
                retries=1,
                resources=resources,
                pure=False,
            ): f"{k}/{count}"
            for k in range(1, count + 1)
        }
        for done, future in enumerate(distributed.as_completed(futures), start=1):
            shard = futures[future]
            elapsed = time.perf_counter() - start
            try:
                result = future.result()
            except Exception as exc:  # KilledWorker, ShardFailed: the shard is lost
                reason = f"{type(exc).__name__}: {str(exc)[:400]}"
                outcome.missing.append({"shard": shard, "reason": reason})
                say(f"toyad: shard {shard} LOST after its retry ({reason}) [{done}/{count}]")
                continue
            outcome.results.append(result)
            cases = len(((result.get("run") or {}).get("toyad") or {}).get("cases") or [])
            say(
                f"toyad: shard {shard} done on {result['host']} ({result['machine']}): {cases} "
                f"cases, exit {result['returncode']}, {result['seconds']:.0f} s "
                f"[{done}/{count} shards, {elapsed:.0f} s]"
            )
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    outcome.results.sort(key=lambda r: int(r["shard"].split("/")[0]))
    outcome.missing.sort(key=lambda m: int(m["shard"].split("/")[0]))
    outcome.seconds = time.perf_counter() - start
    return outcome


def merged_run(outcome: ClusterOutcome, address: str) -> dict[str, Any]:
    """One run from the shards that came back; the missing ones named in ``toyad.merge``."""
    from toyad.report.merge import merge_runs

    runs = [
        (f"shard-{r['shard'].replace('/', '-of-')}", r["run"]) for r in outcome.results if r["run"]
    ]
    if not runs:
        lost = "; ".join(f"{m['shard']}: {m['reason']}" for m in outcome.missing)
        raise ClusterError(f"no shard returned a run ({lost or 'every shard selected nothing'})")
    extra = {
        "missing_shards": outcome.missing,
        "duration_s": outcome.seconds,
        "cluster": {
            "address": address,
            "shards": outcome.shards,
            "workers": outcome.workers,
            "shard_exit_codes": {r["shard"]: r["returncode"] for r in outcome.results},
            "controller": platform.node(),
            "controller_pid": os.getpid(),
        },
    }
    return merge_runs(runs, extra=extra)
