"""What the numbers depend on: versions, threads, CPU, commit, limits."""

from __future__ import annotations

import dataclasses
import functools
import getpass
import importlib
import importlib.metadata
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toyad import backends, runtime
from toyad.bench import guard as guards
from toyad.bench.accuracy import SEED

if TYPE_CHECKING:
    from toyad.bench.harness import Harness


_LIBRARIES = (
    "numpy",
    "scipy",
    "pandas",
    "pytest",
    "pytest-benchmark",
    "tensorflow",
    "keras",
    "jax",
    "jaxlib",
    "torch",
    "array-api-compat",
    "autograd",
    "micrograd",
    "sympy",
)
_MODULE_OF = {"pytest-benchmark": "pytest_benchmark", "array-api-compat": "array_api_compat"}


def library_versions(loaded_only: bool = True) -> dict[str, str]:
    """Versions of the libraries in play (imported in this process, if ``loaded_only``)."""
    out = {}
    for dist in _LIBRARIES:
        module = _MODULE_OF.get(dist, dist)
        if loaded_only and module not in sys.modules:
            continue
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


MACHINE_ENV = "TOYAD_MACHINE"


def machine_label() -> str:
    """This machine's label in merged runs: ``$TOYAD_MACHINE``, else the hostname.

    A worker gives itself a telling label (``TOYAD_MACHINE=gpu-a100-1``); two
    runs with one label are taken to come from one machine.
    """
    label = os.environ.get(MACHINE_ENV, "").strip()
    return label or platform.node() or "unknown-host"


def git_commit(root: Path) -> tuple[str, bool | None]:
    """(HEAD commit, dirty?) of the repository at ``root``; ("", None) outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return "", None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return head.stdout.strip(), bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return "", None


@functools.cache
def compile_caches() -> dict[str, str]:
    """The frameworks' compile caches as this process first found them (asked at a run's
    start): a compile served from a warm on-disk cache makes ``prepare_s`` a warm time.
    torch.compile's inductor keeps compiled graphs on disk by default (its FX graph
    cache, ``$TORCHINDUCTOR_CACHE_DIR`` or the temp dir's ``torchinductor_<user>``);
    JAX's persistent cache is off unless ``$JAX_COMPILATION_CACHE_DIR`` is set;
    TensorFlow's traces live in the process."""
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    inductor = Path(
        os.environ.get("TORCHINDUCTOR_CACHE_DIR")
        or Path(tempfile.gettempdir()) / f"torchinductor_{user}"
    )
    graphs = inductor / "fxgraph"
    entries = sum(1 for _ in graphs.glob("*/*")) if graphs.is_dir() else 0
    jax_dir = os.environ.get("JAX_COMPILATION_CACHE_DIR", "")
    return {
        "torch.compile": (
            f"warm: {entries} graphs from earlier runs in {graphs}"
            if entries
            else f"cold: no graph in {graphs} yet"
        ),
        "jax": f"persistent cache in {jax_dir}" if jax_dir else "in memory, per process",
        "tensorflow": "in memory, per process",
    }


def environment(harness: Harness, root: Path) -> dict[str, Any]:
    """What the numbers depend on: versions, threads, CPU, commit, gc, profile.

    Versions are those of the libraries and backends this process has loaded: a job of a
    run loads only the backends of its own cases (loading every selected one, torch.compile
    and XLA warming up included, cost each job ~14 s of a quick run)."""
    settings = runtime.settings()
    commit, dirty = git_commit(root)
    versions = library_versions()
    for entry in harness._entries.values():  # (the loaded ones: asking loads a backend)
        if entry.loaded and entry.backend is not None:
            try:
                versions.update(entry.backend.versions())
            except Exception as exc:  # recorded, not fatal: the run is still worth writing
                versions[f"{entry.name}.versions()"] = f"failed: {type(exc).__name__}: {exc}"
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "machine_label": machine_label(),
        "hostname": platform.node(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "cpu_pinned": settings.get("pinned", "not pinned"),
        "threads": settings.get("threads"),
        "thread_env": settings.get("thread_env"),
        "frameworks_loaded_before_configure": settings.get("loaded_before_configure"),
        "versions": versions,
        "commit": commit,
        "dirty": dirty,
        "gc": "disabled during timing; young generations collected before each case; "
        "objects alive after collection frozen (gc.freeze)",
        "timer": "time.perf_counter",
        "profile": harness.profile.name,
        "time_cap_s": harness.profile.time_cap_s,
        "budget_s": harness.profile.budget_s,
        "timing": "timed" if harness.timing else "run once (--benchmark-disable)",
        "compile_caches": compile_caches(),
        "backends_selected": harness.backend_names,
        "backends_missing": {
            e.name: e.reason
            for e in harness._entries.values()
            if (e.loaded or backends.missing_package(e.name)) and e.backend is None
        },
        "problems_selected": harness.problem_names,
        "seed": SEED,
        "peak_rss_bytes": guards.run_peak_rss_bytes(),
        "peak_rss_children_bytes": guards.children_peak_rss_bytes(),
        "max_rss_bytes": harness.max_rss_bytes,
        "hard_limit_s": harness.case_limit_s,
        "run_budget_s": harness.run_budget_s,
        "cases_stopped_by_guard": harness.guard.aborted,
        "shard": harness.shard or None,
    }


def native_log(harness: Harness) -> list[dict[str, Any]]:
    """Where backends normalised a framework's own answer during the run (deduplicated)."""
    rows, seen = [], set()
    for entry in harness._entries.values():
        if not entry.loaded or entry.backend is None:  # (one never loaded answered nothing)
            continue
        for answer in entry.backend.native_log:
            row = {"backend": entry.name, **dataclasses.asdict(answer)}
            key = tuple(str(v) for v in row.values())
            if key not in seen:
                seen.add(key)
                rows.append(row)
    return rows
