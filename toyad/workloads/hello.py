"""GradBench ``hello``: ``square`` (x²) and ``double`` (2x = d/dx x²), the smoke test.

One problem, ``hello``: f(x) = x² on a 1-vector. GradBench's ``square`` is its
primal, ``double`` its gradient (the eval feeds each answer back as the next
input: x = 1, square -> 1, double -> 2, square -> 4, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from toyad.problems import Instance, Preset, Problem
from toyad.workloads.base import GRADBENCH_SEED, Workload

PRESETS = (Preset("x=1", {"x": 1.0}, {"value": 1.0}, quick=True),)


def gradbench_input(x: float = 1.0, seed: int = 0) -> float:
    """hello's input is a bare number (the eval starts from 1.0); seed s != 0
    draws x ~ U(0.5, 2) instead (toyad's convention)."""
    if seed:
        return float(np.random.RandomState(GRADBENCH_SEED + seed).uniform(0.5, 2.0))
    return float(x)


def _parts(value: Any) -> tuple[np.ndarray, dict]:
    return np.array([float(value)]), {}


def from_gradbench(value: Any, function: str | None = None) -> Instance:
    x, consts = _parts(value)
    return PROBLEM.from_parts(x, consts, value=float(value))


def to_gradbench(function: str, result: Any, inst: Instance | None = None) -> float:
    if function not in ("square", "double"):
        raise ValueError(f"hello has functions square, double; not {function!r}")
    return float(np.asarray(result, dtype=np.float64).reshape(-1)[0])


def _f(xp: Any, x: Any) -> Any:
    return x[0] * x[0]


PROBLEM = Problem(
    "hello",
    "GradBench hello: x² (square = primal, double = gradient 2x)",
    scalar=True,
    scales=(),
    default_n=1,
    default_m=1,
    setup=lambda n, m, seed, value: _parts(gradbench_input(value, seed)),
    body=_f,
    primal=lambda x: x[0] * x[0],
    derivative=lambda x: 2.0 * x,
    hessian=lambda x: np.array([[2.0]]),
    options={"value": 1.0},
    sizes_from=lambda x, consts: (1, 1),
    presets=PRESETS,
    workload="hello",
)

WORKLOAD = Workload(
    "hello",
    {"square": ("hello", "primal"), "double": ("hello", "gradient")},
    PRESETS,
    "",
    gradbench_input,
    from_gradbench,
    to_gradbench,
    notes="no description and no min_runs; each input is the tool's previous output",
)
