"""Process-wide settings that must be fixed before any framework loads.

- threads: the same count for numpy/BLAS, TensorFlow and torch, set through
  environment variables (read when each library initialises) and
  ``torch.set_num_threads`` once torch is imported; XLA (JAX) has no flag for
  its intra-op pool, so ``XLA_FLAGS`` only turns Eigen's threading off
  (``--xla_cpu_multi_thread_eigen=false``) and is recorded with the thread
  variables in ``settings()["thread_env"]``;
- float64: ``JAX_ENABLE_X64=1`` before JAX creates an array; the torch and
  TF adapters create every tensor and constant as float64 explicitly;
- the allocator: glibc returns large freed blocks to the OS at once, and on
  this kind of VM every fresh page of a new 8 MB array then costs a page
  fault (about 2 ms per array measured here), which swamps what reverse mode
  computes. ``mallopt`` raises the mmap and trim thresholds to 1 GiB so freed
  arrays are reused, for every library alike. ``TOYAD_MALLOC_TUNE=0`` turns it
  off; ``settings()["malloc"]`` records what was done.

- the CPU: ``pin_cpu()`` (timed runs) keeps every thread of the process on one
  CPU. Unpinned on this 2-vCPU VM, one prepared call timed in 50 ms blocks on an
  idle machine ran at 22 µs in some stretches and 32-51 µs in others, each lasting
  seconds (tensor, dense_tanh 16x16 forward Jacobian; 160 blocks: p50 21.9,
  p90 46.9 µs); pinned to either CPU, p90 21.6 µs. A case is timed within one such
  stretch, so unpinned two runs of one commit disagreed by 2x on whole cases.

``configure()`` is idempotent; ``settings()`` reports what was applied so a
run can record it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys

_DEFAULT_THREADS = 1
_applied: dict[str, object] = {}

_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)


def configure(threads: int | None = None) -> dict[str, object]:
    """Pin thread counts and enable float64; call before importing frameworks."""
    if _applied:
        return dict(_applied)
    if threads is None:
        threads = int(os.environ.get("TOYAD_THREADS", _DEFAULT_THREADS))
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    late = [m for m in ("tensorflow", "jax", "torch") if m in sys.modules]
    for var in _THREAD_VARS:
        os.environ.setdefault(var, str(threads))
    # XLA (jaxlib 0.10) has no flag for its intra-op pool size: it parses only
    # ``--name=value`` flags, and a bare ``intra_op_parallelism_threads=N`` (as was
    # here) was ignored without a word; ``--intra_op_parallelism_threads`` aborts at
    # start ("Unknown flag in XLA_FLAGS"). Eigen's own threading is switched off;
    # the rest is left to CPU affinity.
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
    os.environ.setdefault("JAX_ENABLE_X64", "1")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _applied.update(
        malloc=_tune_malloc(),
        threads=threads,
        thread_env={v: os.environ[v] for v in (*_THREAD_VARS, "XLA_FLAGS")},
        loaded_before_configure=late,
    )
    return dict(_applied)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_ONE_GIB = 1 << 30


def _tune_malloc() -> str:
    """Keep freed arrays in the heap (glibc only); returns what was done."""
    if os.environ.get("TOYAD_MALLOC_TUNE", "1") == "0":
        return "default (TOYAD_MALLOC_TUNE=0)"
    if not sys.platform.startswith("linux"):
        return "default (not glibc)"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, _ONE_GIB) and libc.mallopt(_M_TRIM_THRESHOLD, _ONE_GIB)
    except (OSError, AttributeError):
        return "default (no mallopt)"
    return "mmap/trim thresholds 1 GiB" if ok else "default (mallopt refused)"


def set_affinity(cpus: set[int]) -> None:
    """Move every thread of this process to ``cpus`` (where the platform allows).
    sched_setaffinity(0) moves the calling thread only; threads started later inherit
    their creator's mask."""
    if not hasattr(os, "sched_setaffinity"):
        return
    tids = (
        [int(t) for t in os.listdir("/proc/self/task")] if os.path.isdir("/proc/self/task") else [0]
    )
    for tid in tids:
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            os.sched_setaffinity(tid, cpus)


def usable_cpus() -> int:
    """How many CPUs this process may run on (its affinity; the machine's where unknown)."""
    if not hasattr(os, "sched_getaffinity"):
        return os.cpu_count() or 1
    return len(os.sched_getaffinity(0))


def idle_cpus() -> set[int]:
    """The machine's CPUs this process is not pinned to (empty when it is not pinned)."""
    if not hasattr(os, "sched_getaffinity"):
        return set()
    return set(range(os.cpu_count() or 1)) - os.sched_getaffinity(0)


def pin_cpu(index: int = -1) -> str:
    """Keep this process's threads, present and future, on one CPU; returns what was done.

    The CPU is ``TOYAD_CPU`` if set (a CPU number; ``none`` leaves affinity alone),
    else the ``index``-th of the CPUs the process may use (wrapping; the last by
    default; shards of one machine pass their shard number so they spread out).
    """
    choice = os.environ.get("TOYAD_CPU", "").strip().lower()
    if choice == "none":
        done = "not pinned (TOYAD_CPU=none)"
    elif not hasattr(os, "sched_setaffinity"):
        done = "not pinned (no sched_setaffinity on this platform)"
    else:
        allowed = sorted(os.sched_getaffinity(0))
        _applied.setdefault("allowed_cpus", allowed)
        if choice:
            if not choice.isdigit() or int(choice) not in allowed:
                raise ValueError(
                    f"TOYAD_CPU={choice!r} is not one of this process's CPUs {allowed} (or 'none')"
                )
            cpu = int(choice)
        else:
            cpu = allowed[index % len(allowed)]
        set_affinity({cpu})
        done = f"pinned to CPU {cpu} of {allowed}"
    _applied["pinned"] = done
    return done


def unpin() -> None:
    """Undo :func:`pin_cpu`: every CPU the process could use before (its children
    inherit the mask: jobs pin themselves each to their own)."""
    allowed = _applied.get("allowed_cpus")
    if allowed:
        set_affinity(set(allowed))
        _applied["pinned"] = "not pinned (runs jobs)"


def settings() -> dict[str, object]:
    return dict(_applied)
