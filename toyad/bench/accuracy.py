"""Accuracy: the analytic reference, the error measure, tolerances, statuses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

EXACT_TOLERANCE = 1e-12
TINY = np.finfo(np.float64).tiny
SEED = 0

EPS = float(np.finfo(np.float64).eps)

# Per-problem relaxations of EXACT_TOLERANCE: (problem, operation) -> (tolerance of n and
# of whether the engine works one scalar operation at a time, reason).
PROBLEM_TOLERANCE: dict[tuple[str, str], tuple[Callable[[int, bool], float], str]] = {
    ("lse", "gradient"): (
        lambda n, per_op: max(1e-11, 2.0 * n * EPS, n**1.5 * EPS if per_op else 0.0),
        "GradBench's lse: the derivative of max x (one-hot at the argmax) adds "
        "1 - Σ softmax to the argmax entry, and the error is relative to the largest "
        "entry, max softmax ~ e/n. A vectorised engine's Σ softmax is off by ~eps: "
        "~n·eps (1.1e-11 measured at n = 80,000). A scalar engine adds the n terms one by "
        "one, a random walk of ~sqrt(n) roundings: ~n^1.5·eps (the reverse toy: 1.2e-11 "
        "at n = 5,000, 2.3e-11 at n = 10,000); at small n the sum in a different order "
        "per engine: 2.2e-12 measured at n = 2,500",
    ),
}


class ShapeMismatch(ValueError):
    pass


class NoReference(ValueError):
    """No reference could be established for a user problem (the message says why)."""


@dataclass(frozen=True)
class Reference:
    """A reference answer and where it came from (the case's ``reference`` column)."""

    value: np.ndarray | None
    kind: str  # analytic | agreement(A,B) | numeric | numpy | none
    problem: str = ""  # why there is none, when that is a finding ("" otherwise)
    tolerance: float | None = None  # a floor on the cases' tolerance (numeric references)


def max_rel_error(actual: Any, expected: Any, scale: float = 0.0) -> float:
    """Max relative error ``||a - b||_inf / max(||b||_inf, scale, tiny)``; b is the truth.

    The worst entry's error, relative to the largest entry of the truth (so
    entries near zero do not blow it up). The result must have the truth's
    documented shape exactly (gradient (n,), Jacobian (m, n), Hessian (n, n),
    jvp (m,) or 0-d, vjp (n,)): any other shape raises ShapeMismatch, so a
    transposed (n, m) Jacobian is wrong even where it has the same entries
    count. NaN in the result gives NaN (which fails every tolerance).
    """
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.shape != b.shape:
        raise ShapeMismatch(f"result has shape {a.shape}; the analytic answer has {b.shape}")
    a, b = a.reshape(-1), b.reshape(-1)
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(b))), scale, TINY)
    return float(np.max(np.abs(a - b))) / scale


def tolerance_for(
    backend: str, problem: str, operation: str, inst: Any = None, per_op: bool = False
) -> float:
    """The error a case may have: 1e-12 for exact methods; numeric methods' own tolerance;
    a problem's own relaxation (``PROBLEM_TOLERANCE``; ``per_op``: an engine that works
    one scalar operation at a time).

    ``numeric-<method>`` backends get ``toyad.numeric.TOLERANCE[method]``
    (``HESSIAN_TOLERANCE`` for Hessians: second differences lose about half
    the digits again), times :func:`numeric_scale` of the instance for first
    derivatives; the primal is held to the exact tolerance everywhere.
    """
    if backend.startswith("numeric-") and operation != "primal":
        from toyad import numeric

        method = backend.removeprefix("numeric-")
        table = numeric.HESSIAN_TOLERANCE if operation == "hessian" else numeric.TOLERANCE
        if method not in table:
            raise KeyError(f"toyad.numeric has no tolerance for method {method!r}")
        scale = numeric_scale(inst) if inst is not None and operation != "hessian" else 1.0
        return float(table[method]) * scale
    relaxed = PROBLEM_TOLERANCE.get((problem, operation))
    if relaxed is None:
        return EXACT_TOLERANCE
    return relaxed[0](inst.n if inst is not None else 1, per_op)


def numeric_scale(inst: Any) -> float:
    """How much larger than the method's nominal error a difference quotient's error is
    here, relative to the largest derivative: >= 1.

    The rounding error of a difference quotient is ~ eps·|f| / h with the step
    h ~ max(1, |x|) (toyad.numeric), so its natural unit is |f| / max(1, |x|),
    not the derivative: where f is large and its derivatives small (tanh
    saturating: dense_tanh at n = 1024 has max|f| 0.99 but max|J| 0.0025), the
    same method loses ``max|f| / (max|J| max(1, max|x|))`` more digits relative
    to the largest derivative, by construction.
    """
    jac = np.abs(np.asarray(inst.jacobian(), dtype=np.float64))
    value = np.abs(np.asarray(inst.value(), dtype=np.float64))
    top_j = float(np.max(jac)) if jac.size else 0.0
    top_f = float(np.max(value)) if value.size else 0.0
    top_x = max(1.0, float(np.max(np.abs(inst.x))) if inst.x.size else 1.0)
    if top_j <= 0.0:
        return 1.0
    return max(1.0, top_f / (top_j * top_x))


def product_condition(inst: Any, operation: str, v: np.ndarray, u: np.ndarray) -> float:
    """How much J v (or u J) amplifies a relative error of J's entries: >= 1.

    A Jacobian known to ``tol * max|J|`` per entry gives J v to within
    ``tol * max|J| * ||v||_1`` absolutely, i.e. ``tol * kappa`` relative to
    ``max|J v|`` with kappa = max|J| ||v||_1 / max|J v| (cancellation in the sum).
    Numeric methods' tolerances are for Jacobians, so their jvp/vjp get kappa.
    """
    jac = np.asarray(inst.jacobian(), dtype=np.float64).reshape(inst.m, inst.n)
    if operation == "jvp":
        product, weight = jac @ v, float(np.sum(np.abs(v)))
    else:
        product, weight = np.reshape(u, -1) @ jac, float(np.sum(np.abs(u)))
    top = float(np.max(np.abs(product)))
    return max(1.0, float(np.max(np.abs(jac))) * weight / max(top, TINY))


def status_for(error: float, tolerance: float) -> str:
    """ok when the error is within tolerance, else wrong (NaN is wrong)."""
    return "ok" if error <= tolerance else "wrong"


def reference(inst: Any, operation: str, v: np.ndarray, u: np.ndarray) -> np.ndarray | None:
    """The analytic answer for ``operation`` on a problem instance (None if it has none)."""
    if operation == "primal":
        return np.asarray(inst.value(), dtype=np.float64)
    if operation == "gradient":
        return inst.gradient()
    if operation == "hessian":
        h = inst.hessian()
        return None if h is None else np.asarray(h, dtype=np.float64)
    jac = np.asarray(inst.jacobian(), dtype=np.float64).reshape(inst.m, inst.n)
    if operation == "jacobian":
        return jac
    if operation == "jvp":  # J v
        out = jac @ v
        return out.reshape(()) if inst.scalar else out
    if operation == "vjp":  # u^T J
        return np.reshape(u, -1) @ jac
    raise ValueError(f"unknown operation {operation!r}")


def directions(n: int, m: int, scalar: bool) -> tuple[np.ndarray, np.ndarray]:
    """Seeded tangent v (n,) and cotangent u ((m,), or 0-d for a scalar f)."""
    rng = np.random.default_rng([SEED, n, m, 1])
    v = rng.standard_normal(n)
    u = np.asarray(rng.standard_normal()) if scalar else rng.standard_normal(m)
    return v, u


def reference_of(inst: Any, operation: str, v: np.ndarray, u: np.ndarray) -> Reference:
    """The reference for ``operation`` and its kind.

    Catalog problems: the hand-written answer ("analytic"; "numpy" for the
    primal; "none" where the catalog has no such derivative). A user's problem
    (``toyad.problem``) says itself: hand-written, by agreement, numeric or
    none (see ``toyad.userproblems``).
    """
    user = getattr(inst.problem, "user", None)
    if user is not None:
        return user.reference(inst, operation, v, u)
    value = reference(inst, operation, v, u)
    if value is None:
        return Reference(None, "none")
    return Reference(value, "numpy" if operation == "primal" else "analytic")


# Where a finite-difference method is wrong by construction (not a bug of toyad's
# engines): (method, problem, operation or "*") -> why. Such cases are recorded
# unsupported with the reason, so the run says so instead of failing on them.
NUMERIC_UNRELIABLE: dict[tuple[str, str, str], str] = {
    ("richardson", "kmeans", "*"): (
        "kmeans' cost has kinks (a min over centroids): Richardson's large first steps "
        "(0.5 max(1, |x|)) cross cluster reassignments, so its extrapolation is wrong by "
        "construction"
    ),
    ("central", "kmeans", "*"): (
        "kmeans' cost has kinks (a min over centroids): at GradBench's larger sizes a "
        "central step (~6e-6 max(1, |x|)) crosses a cluster reassignment, and the quotient "
        "is wrong by construction (k = 10, n = 10,000, d = 8: 3.9e-4 off)"
    ),
    ("central", "ba", "jvp"): (
        "one step along v, scaled to max|x| (ba's x mixes camera parameters of ~1e2 with "
        "coordinates of ~1), is too coarse for the small coordinates: the directional "
        "quotient is off by construction (the per-coordinate Jacobian passes)"
    ),
    ("richardson", "ba", "jvp"): (
        "one step along v, scaled to max|x|, crosses the projection's pole (division by the "
        "camera-frame depth): the directional quotient is wrong by construction (the "
        "per-coordinate Jacobian passes)"
    ),
}


def numeric_unreliable(backend: str, problem: str, operation: str) -> str:
    """Why a ``numeric-<method>`` backend cannot be right here by construction, or ''."""
    if not backend.startswith("numeric-") or operation == "primal":
        return ""
    method = backend.removeprefix("numeric-")
    return NUMERIC_UNRELIABLE.get(
        (method, problem, operation), NUMERIC_UNRELIABLE.get((method, problem, "*"), "")
    )
