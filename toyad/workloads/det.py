"""GradBench ``det``: ``primal`` = det A by expansion by minors, ``gradient`` = cofactors.

A is ℓ × ℓ, x = A row-major (ℓ²). Input ``{"A": [ℓ²], "ell": ℓ}``, A ~ U[0, 1)
from ``np.random.seed(31337)`` once, then ``np.random.rand(ℓ²)`` per ℓ in
the order 5, 6, ..., 11. The body is the catalog's ``determinant`` expansion
(minors memoised by their columns: O(ℓ 2^ℓ) products); the separate
``determinant`` problem keeps its own sizes and well-conditioned inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from toyad import problems as _problems
from toyad.problems import Instance, Problem
from toyad.workloads.base import GRADBENCH_SEED, Workload, floats, presets, replay, sweep

SWEEP = sweep({"ell": [5, 6, 7, 8, 9, 10, 11]}, None)
PRESETS = presets("{ell}", SWEEP, lambda c: {"ell": c["ell"]}, quick=3)


def gradbench_input(ell: int, seed: int = 0) -> dict:
    a = replay(lambda rs, c: rs.rand(c["ell"] ** 2), {"ell": ell}, SWEEP, GRADBENCH_SEED + seed)
    return {"A": a.tolist(), "ell": int(ell)}


def _parts(inp: dict) -> tuple[np.ndarray, dict]:
    ell = int(inp["ell"])
    x = np.asarray(inp["A"], dtype=np.float64)
    if x.shape != (ell * ell,):
        raise ValueError(f"det: A must have ell² = {ell * ell} entries; got {x.shape}")
    return x, {"k": ell}


def from_gradbench(inp: dict, function: str | None = None, seed: int = 0) -> Instance:
    x, consts = _parts(inp)
    return PROBLEM.from_parts(x, consts, seed, ell=consts["k"])


def to_gradbench(function: str, result: Any, inst: Instance | None = None) -> Any:
    if function == "primal":
        return float(np.asarray(result).reshape(()))
    if function == "gradient":
        return floats(np.asarray(result).reshape(-1))
    raise ValueError(f"det has functions primal, gradient; not {function!r}")


def _setup(n: int, m: int, seed: int, ell: int) -> tuple[np.ndarray, dict]:
    if ell < 1:
        raise ValueError(f"problem 'det': ell must be >= 1, got {ell}")
    return _parts(gradbench_input(ell, seed))


PROBLEM = Problem(
    "det",
    "GradBench det: det of an ℓ×ℓ matrix A ~ U[0,1) (x = A row-major) by expansion by minors",
    scalar=True,
    scales=(),
    default_n=25,
    default_m=1,
    setup=_setup,
    body=_problems._det_f,
    primal=_problems._det_value,
    derivative=_problems._det_gradient,
    hessian=_problems._det_hessian,
    options={"ell": 5},
    sizes_from=lambda x, consts: (x.shape[0], 1),
    presets=PRESETS,
    workload="det",
)

WORKLOAD = Workload(
    "det",
    {"primal": ("det", "primal"), "gradient": ("det", "gradient")},
    PRESETS,
    "{ell}",
    gradbench_input,
    from_gradbench,
    to_gradbench,
)
