"""Issue 13 (every number measures what its label says) and issue 18 (O(n)
gradients), on the backends: each test fails on the behaviour it replaced."""

from __future__ import annotations

import os
import subprocess
import sys

from toyad import runtime


def test_xla_flags_are_flags_and_recorded() -> None:
    """XLA parses only --name=value; a bare word (the old intra_op_parallelism_threads=1)
    was ignored silently. The flags are recorded with the thread settings."""
    settings = runtime.configure()
    flags = os.environ["XLA_FLAGS"].split()
    assert flags and all(f.startswith("--") for f in flags), flags
    assert settings["thread_env"]["XLA_FLAGS"] == os.environ["XLA_FLAGS"]


def test_jax_starts_with_the_xla_flags() -> None:
    """An unknown XLA flag aborts the process when XLA starts: check in a child."""
    code = "import toyad.runtime as r; r.configure(); import jax.numpy as j; print(j.ones(2).sum())"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("2.0")
