"""GradBench ``llsq``: ``primal`` = ½ Σ_{i<n} (s_i - Σ_{j<m} x_j t_i^j)², ``gradient`` (m,).

t_i = -1 + 2i/(n - 1), s_i = sign(t_i) (0 at 0). Input ``{"x": [m], "n": n}``,
x ~ U[0, 1) from ``np.random.seed(31337)`` once, then ``np.random.rand(m)``
per (n, m) in the sweep (sorted by n·m). As a toyad problem: x = GradBench's
x, constants T[i, j] = t_i^j (n × m) and s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from toyad.problems import Instance, Problem
from toyad.workloads.base import GRADBENCH_SEED, Workload, floats, presets, replay, sweep

SIZES_N = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8196, 16392]  # sic: 8196, 16392
SWEEP = sweep({"n": SIZES_N, "m": [128]}, lambda n, m: n * m)
PRESETS = presets("n={n},m={m}", SWEEP, lambda c: {"points": c["n"], "terms": c["m"]}, quick=3)


def gradbench_input(n: int, m: int = 128, seed: int = 0) -> dict:
    target = {"n": n, "m": m}
    x = replay(lambda rs, c: rs.rand(c["m"]), target, SWEEP, GRADBENCH_SEED + seed)
    return {"x": x.tolist(), "n": int(n)}


def _parts(inp: dict) -> tuple[np.ndarray, dict]:
    x = np.asarray(inp["x"], dtype=np.float64)
    n, m = int(inp["n"]), x.shape[0]
    t = -1.0 + np.arange(n) * 2.0 / (n - 1)
    powers = t[:, None] ** np.arange(m)[None, :]  # t_i^j, with 0^0 = 1
    return x, {"powers": powers, "signs": np.sign(t)}


def from_gradbench(inp: dict, function: str | None = None, seed: int = 0) -> Instance:
    x, consts = _parts(inp)
    return PROBLEM.from_parts(x, consts, seed, points=int(inp["n"]), terms=x.shape[0])


def to_gradbench(function: str, result: Any, inst: Instance | None = None) -> Any:
    if function == "primal":
        return float(np.asarray(result).reshape(()))
    if function == "gradient":
        return floats(np.asarray(result).reshape(-1))
    raise ValueError(f"llsq has functions primal, gradient; not {function!r}")


def _f(xp: Any, x: Any, powers: np.ndarray, signs: np.ndarray) -> Any:
    r = xp.asarray(signs) - xp.matmul(xp.asarray(powers), x)
    return 0.5 * xp.sum(r * r)


def _value(x: np.ndarray, powers: np.ndarray, signs: np.ndarray) -> float:
    r = signs - powers @ x
    return 0.5 * np.sum(r * r)


def _gradient(x: np.ndarray, powers: np.ndarray, signs: np.ndarray) -> np.ndarray:
    return -(powers.T @ (signs - powers @ x))  # g_j = -Σ_i r_i t_i^j


def _hessian(x: np.ndarray, powers: np.ndarray, signs: np.ndarray) -> np.ndarray:
    return powers.T @ powers


PROBLEM = Problem(
    "llsq",
    "GradBench llsq: ½ Σ_i (sign t_i - Σ_j x_j t_i^j)², t_i on [-1, 1] (n points, m terms)",
    scalar=True,
    scales=(),
    default_n=128,
    default_m=1,
    setup=lambda n, m, seed, points, terms: _parts(gradbench_input(points, terms, seed)),
    body=_f,
    primal=_value,
    derivative=_gradient,
    hessian=_hessian,
    options={"points": 16, "terms": 128},
    sizes_from=lambda x, consts: (x.shape[0], 1),
    presets=PRESETS,
    workload="llsq",
)

WORKLOAD = Workload(
    "llsq",
    {"primal": ("llsq", "primal"), "gradient": ("llsq", "gradient")},
    PRESETS,
    "n={n},m={m}",
    gradbench_input,
    from_gradbench,
    to_gradbench,
)
