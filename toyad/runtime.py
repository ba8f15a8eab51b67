"""Process-wide settings that must be fixed before any framework loads.

- threads: the same count for numpy/BLAS, TensorFlow, JAX/XLA and torch,
  set through environment variables (read when each library initialises) and
  ``torch.set_num_threads`` once torch is imported;
- float64: ``JAX_ENABLE_X64=1`` before JAX creates an array, torch's default
  dtype float64; TF takes explicit dtypes in the adapters.

``configure()`` is idempotent; ``settings()`` reports what was applied so a
run can record it.
"""

from __future__ import annotations

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
    os.environ.setdefault(
        "XLA_FLAGS",
        f"--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={threads}",
    )
    os.environ.setdefault("JAX_ENABLE_X64", "1")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _applied.update(
        threads=threads,
        thread_env={v: os.environ[v] for v in _THREAD_VARS},
        loaded_before_configure=late,
    )
    return dict(_applied)


def settings() -> dict[str, object]:
    return dict(_applied)
