"""Tidy CSV output: one row per case, CASE_COLUMNS first, then the environment.

The environment is flattened into ``env_<key>`` columns (nested objects as
``env_<key>_<sub>``), the same value on every row, so ``pd.read_csv`` gives
a frame ready to pivot or to concatenate across runs.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from toyad.report.load import Run


def flatten_environment(env: dict[str, Any], prefix: str = "env") -> dict[str, Any]:
    """``{"numpy": "2.4", "thread_env": {"OMP": "1"}}`` -> ``env_numpy``, ``env_thread_env_OMP``."""
    flat: dict[str, Any] = {}
    for key, value in env.items():
        name = f"{prefix}_{key}"
        if isinstance(value, dict):
            flat.update(flatten_environment(value, name))
        elif isinstance(value, (list, tuple)):
            flat[name] = json.dumps(list(value))
        else:
            flat[name] = value
    return flat


def results_frame(run: Run) -> pd.DataFrame:
    """CASE_COLUMNS then ``env_*`` columns, one row per case.

    A merged run's rows take their machine's environment (CPU, versions,
    commit: ``environment["machines"][row.machine]``), the rest is shared.
    """
    frame = run.cases.copy()
    env = dict(run.environment)
    machines = env.pop("machines", None)
    env.pop("merged_runs", None)
    shared = flatten_environment(env)
    if isinstance(machines, dict) and machines:
        per_machine = {
            label: flatten_environment(described)
            for label, described in machines.items()
            if isinstance(described, dict)
        }
        names = sorted({n for flat in per_machine.values() for n in flat} - set(frame.columns))
        for name in names:
            frame[name] = [per_machine.get(m, {}).get(name) for m in frame["machine"]]
    for name, value in shared.items():
        if name not in frame.columns:
            frame[name] = value
    return frame


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary name beside ``path``, then rename over it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, frame.to_csv(index=False))
