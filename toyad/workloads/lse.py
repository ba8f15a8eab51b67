"""GradBench ``lse``: ``primal`` = max x + log Σ exp(x - max x), ``gradient`` = softmax(x).

Input ``{"x": [n]}``, x ~ U[0, 1) from ``np.random.seed(31337)`` once, then
``np.random.rand(n)`` per size in the sweep order (n = 2500 ... 1280000).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from toyad.problems import Instance, Problem
from toyad.workloads.base import GRADBENCH_SEED, Workload, floats, presets, replay, sweep

SIZES = [2500 * 2**i for i in range(10)]  # 2500 ... 1280000
SWEEP = sweep({"n": SIZES}, None)
PRESETS = presets("n={n}", SWEEP, lambda c: {"size": c["n"]}, quick=2)


def gradbench_input(n: int, seed: int = 0) -> dict:
    x = replay(lambda rs, c: rs.rand(c["n"]), {"n": n}, SWEEP, GRADBENCH_SEED + seed)
    return {"x": x.tolist()}


def _parts(inp: dict) -> tuple[np.ndarray, dict]:
    return np.asarray(inp["x"], dtype=np.float64), {}


def from_gradbench(inp: dict, function: str | None = None, seed: int = 0) -> Instance:
    x, consts = _parts(inp)
    return PROBLEM.from_parts(x, consts, seed, size=x.shape[0])


def to_gradbench(function: str, result: Any, inst: Instance | None = None) -> Any:
    if function == "primal":
        return float(np.asarray(result).reshape(()))
    if function == "gradient":
        return floats(np.asarray(result).reshape(-1))
    raise ValueError(f"lse has functions primal, gradient; not {function!r}")


def _f(xp: Any, x: Any) -> Any:
    top = xp.max(x)
    return top + xp.log(xp.sum(xp.exp(x - top)))


def _value(x: np.ndarray) -> float:
    top = np.max(x)
    return top + np.log(np.sum(np.exp(x - top)))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x))
    return e / e.sum()


def _hessian(x: np.ndarray) -> np.ndarray:
    p = _softmax(x)
    return np.diag(p) - np.outer(p, p)


PROBLEM = Problem(
    "lse",
    "GradBench lse: max x + log sum exp(x - max x) (gradient softmax), x ~ U[0,1)^n",
    scalar=True,
    scales=(),
    default_n=2500,
    default_m=1,
    setup=lambda n, m, seed, size: _parts(gradbench_input(size, seed)),
    body=_f,
    primal=_value,
    derivative=_softmax,
    hessian=_hessian,
    options={"size": 2500},
    sizes_from=lambda x, consts: (x.shape[0], 1),
    presets=PRESETS,
    workload="lse",
)

WORKLOAD = Workload(
    "lse",
    {"primal": ("lse", "primal"), "gradient": ("lse", "gradient")},
    PRESETS,
    "n={n}",
    gradbench_input,
    from_gradbench,
    to_gradbench,
)
