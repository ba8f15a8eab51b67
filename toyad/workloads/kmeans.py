"""GradBench ``kmeans``: ``cost`` = Σ_i min_j ‖p_i - c_j‖², ``dir`` = J·H⁻¹.

x = the centroids C (k × d) flattened row by row; the points P (n × d) are
constants. Input ``{"points": [n×[d]], "centroids": [k×[d]]}``: from
``np.random.seed(31337)`` once, per (k, n, d) in the sweep (sorted by k·n·d)
``points = np.random.rand(n, d)`` and ``centroids = points[-k:]``.

``dir``: J = ∂cost/∂C and H its Hessian, which is diagonal
(2·|cluster j| on every coordinate of c_j), so dir = J / diag(H) =
c_j - mean of the points nearest to c_j (ties to the lowest j). A tool
computes it with :func:`dir_from` from a gradient and a Hessian diagonal;
:func:`reference_dir` is the hand-written answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from toyad.problems import Instance, Problem
from toyad.workloads.base import GRADBENCH_SEED, Workload, floats, presets, replay, sweep

SWEEP = sweep({"k": [10, 100, 1000], "n": [1000, 10000], "d": [8, 16]}, lambda k, n, d: k * n * d)
PRESETS = presets(
    "k={k},n={n},d={d}",
    SWEEP,
    lambda c: {"k": c["k"], "points": c["n"], "d": c["d"]},
    quick=2,
)


def gradbench_input(k: int, n: int, d: int, seed: int = 0) -> dict:
    target = {"k": k, "n": n, "d": d}
    pts = replay(lambda rs, c: rs.rand(c["n"], c["d"]), target, SWEEP, GRADBENCH_SEED + seed)
    if not 1 <= k <= n:
        raise ValueError(f"kmeans: need 1 <= k <= n; got k={k}, n={n}")
    points = pts.tolist()
    return {"points": points, "centroids": points[-k:]}


def _parts(inp: dict) -> tuple[np.ndarray, dict]:
    points = np.asarray(inp["points"], dtype=np.float64)
    centroids = np.asarray(inp["centroids"], dtype=np.float64)
    k, d = centroids.shape
    return centroids.reshape(-1), {"points": points, "k": k, "d": d}


def from_gradbench(inp: dict, function: str | None = None, seed: int = 0) -> Instance:
    x, consts = _parts(inp)
    n_pts = consts["points"].shape[0]
    return PROBLEM.from_parts(x, consts, seed, k=consts["k"], points=n_pts, d=consts["d"])


def to_gradbench(function: str, result: Any, inst: Instance | None = None) -> Any:
    """``cost`` -> float; ``dir`` -> k × d rows (``result`` = dir, flat or (k, d))."""
    if function == "cost":
        return float(np.asarray(result).reshape(()))
    if function == "dir":
        r = np.asarray(result, dtype=np.float64)
        if r.ndim == 1:
            if inst is None:
                raise ValueError("kmeans dir: pass inst (or a (k, d) array) to know d")
            r = r.reshape(inst.consts["k"], inst.consts["d"])
        return floats(r)
    raise ValueError(f"kmeans has functions cost, dir; not {function!r}")


def dir_from(gradient: Any, hessian_diagonal: Any, k: int, d: int) -> np.ndarray:
    """GradBench's dir = J·H⁻¹ for the diagonal H: gradient / Hessian diagonal, (k, d).

    A centroid with no points has a zero gradient and a zero Hessian row; its
    direction is 0 (GradBench's inputs never have one: every centroid is a point).
    """
    g = np.asarray(gradient, dtype=np.float64).reshape(k, d)
    h = np.asarray(hessian_diagonal, dtype=np.float64).reshape(k, d)
    out = np.zeros_like(g)
    np.divide(g, h, out=out, where=h != 0)
    return out


def _f(xp: Any, x: Any, points: np.ndarray, k: int, d: int) -> Any:
    p = xp.asarray(points)
    c = xp.reshape(x, (k, d))
    pp = xp.reshape(xp.sum(p * p, axis=1), (-1, 1))  # (n, 1)
    cc = xp.reshape(xp.sum(c * c, axis=1), (1, k))  # (1, k)
    dist = pp - 2.0 * xp.matmul(p, xp.transpose(c)) + cc  # ‖p_i - c_j‖², (n, k)
    return xp.sum(xp.min(dist, axis=1))


def _nearest(x: np.ndarray, points: np.ndarray, k: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    c = x.reshape(k, d)
    dist = ((points[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
    return dist, np.argmin(dist, axis=1)  # argmin: ties -> lowest j


def _value(x: np.ndarray, points: np.ndarray, k: int, d: int) -> float:
    dist, _ = _nearest(x, points, k, d)
    return float(np.sum(np.min(dist, axis=1)))


def _terms_scale(x: np.ndarray, points: np.ndarray, k: int, d: int) -> float:
    """Σ_i (‖p_i‖² + max_j ‖c_j‖²): the body expands ‖p - c‖² = ‖p‖² - 2 p·c + ‖c‖², so
    a cost near 0 (k = n: every point is a centroid) is a cancellation of terms this big."""
    c = x.reshape(k, d)
    return float(np.sum(points * points) + points.shape[0] * np.max(np.sum(c * c, axis=1)))


def _counts_sums(x, points, k, d) -> tuple[np.ndarray, np.ndarray]:
    _, near = _nearest(x, points, k, d)
    counts = np.bincount(near, minlength=k).astype(np.float64)
    sums = np.zeros((k, d))
    np.add.at(sums, near, points)
    return counts, sums


def _gradient(x: np.ndarray, points: np.ndarray, k: int, d: int) -> np.ndarray:
    counts, sums = _counts_sums(x, points, k, d)  # ∂/∂c_j = Σ_{i∈S_j} 2 (c_j - p_i)
    return (2.0 * (counts[:, None] * x.reshape(k, d) - sums)).reshape(-1)


def hessian_diagonal(x: np.ndarray, points: np.ndarray, k: int, d: int) -> np.ndarray:
    """diag of ∂²cost/∂C²: 2·|S_j| on each coordinate of c_j (the Hessian is diagonal)."""
    counts, _ = _counts_sums(x, points, k, d)
    return np.repeat(2.0 * counts, d)


def _hessian(x: np.ndarray, points: np.ndarray, k: int, d: int) -> np.ndarray:
    return np.diag(hessian_diagonal(x, points, k, d))


def reference_dir(inst: Instance) -> np.ndarray:
    """The hand-written dir (k, d) of an instance: c_j - mean of its points."""
    c = inst.consts
    g = _gradient(inst.x, c["points"], c["k"], c["d"])
    return dir_from(g, hessian_diagonal(inst.x, c["points"], c["k"], c["d"]), c["k"], c["d"])


PROBLEM = Problem(
    "kmeans",
    "GradBench kmeans: Σ_i min_j ‖p_i - c_j‖² over the k×d centroids (x = C row-major)",
    scalar=True,
    scales=(),
    default_n=80,
    default_m=1,
    setup=lambda n, m, seed, k, points, d: _parts(gradbench_input(k, points, d, seed)),
    body=_f,
    primal=_value,
    derivative=_gradient,
    hessian=_hessian,
    options={"k": 10, "points": 1000, "d": 8},
    sizes_from=lambda x, consts: (x.shape[0], 1),
    presets=PRESETS,
    workload="kmeans",
    value_scale=_terms_scale,
)

WORKLOAD = Workload(
    "kmeans",
    {"cost": ("kmeans", "primal"), "dir": ("kmeans", "dir")},
    PRESETS,
    "k={k},n={n},d={d}",
    gradbench_input,
    from_gradbench,
    to_gradbench,
    notes="dir = dir_from(gradient, Hessian diagonal, k, d); reference_dir(inst) by hand",
)
