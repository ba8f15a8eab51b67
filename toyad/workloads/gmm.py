"""GradBench ``gmm``: ``objective`` = the GMM log posterior (Wishart prior), ``jacobian`` = ∇.

x = [alpha (k), mu (k·d), q (k·d), l (k·d(d-1)/2)], each block row by row (the
order of the eval's ``jacobian`` keys); the data X (n × d), m and γ are
constants. With Q_k lower-triangular, diagonal exp(q_k), strict lower part
filled column by column from l_k ((1,0), (2,0), ..., (d-1,0), (2,1), ...):

    objective = -n d/2 log 2π + Σ_i logsumexp_k β_ik - n logsumexp(α) + k C
                - Σ_k [½γ² (‖exp q_k‖² + ‖l_k‖²) - m Σ_j q_kj]
    β_ik = α_k + Σ_j q_kj - ½ ‖Q_k (x_i - μ_k)‖²
    C = n' d (log γ - ½ log 2) - log Γ_d(n'/2),   n' = d + m + 1

(logsumexp with the max subtracted). Input as ``evals/gmm/run.py`` makes it:
``rng = np.random.default_rng(31337)`` per size, then x, alpha ~ N(0,1),
mu ~ U[0,1), q, l ~ N(0,1) in that order.

``f`` is vectorised with 2-D arrays only: Q_k's entries come from constant
0/1 placement matrices (``xp.matmul(exp(q), diag_place) + xp.matmul(l,
lower_place)``, (k, d²)), all k at once as a (k·d, d) stack of rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from toyad.problems import Instance, Problem
from toyad.workloads.base import GRADBENCH_SEED, Workload, floats, log_multigamma, presets, sweep

KEYS = ("alpha", "mu", "q", "l")
SWEEP = sweep({"d": [2, 10, 20, 32, 64], "k": [5, 10, 25, 50, 100]}, lambda d, k: d * k)
SWEEP = [{**c, "n": 1000} for c in SWEEP]
PRESETS = presets(
    "{d}_{k}_{n}", SWEEP, lambda c: {"d": c["d"], "k": c["k"], "points": c["n"]}, quick=3
)


def gradbench_input(
    d: int, k: int, n: int = 1000, m: int = 0, gamma: float = 1.0, seed: int = 0
) -> dict:
    rng = np.random.default_rng(seed=GRADBENCH_SEED + seed)
    return {
        "d": d,
        "k": k,
        "n": n,
        "x": [list(rng.normal(size=d)) for _ in range(n)],
        "m": m,
        "gamma": gamma,
        "alpha": list(rng.normal(size=k)),
        "mu": [list(rng.uniform(size=d)) for _ in range(k)],
        "q": [list(rng.normal(size=d)) for _ in range(k)],
        "l": [list(rng.normal(size=d * (d - 1) // 2)) for _ in range(k)],
    }


def lower_pairs(d: int) -> list[tuple[int, int]]:
    """(row, col) of l's entries: column by column below the diagonal."""
    return [(r, c) for c in range(d) for r in range(c + 1, d)]


def _parts(inp: dict) -> tuple[np.ndarray, dict]:
    d, k, n = int(inp["d"]), int(inp["k"]), int(inp["n"])
    if d < 2:
        raise ValueError(f"gmm: d must be >= 2 (GradBench's golden program needs it), got {d}")
    t = d * (d - 1) // 2
    blocks = [np.asarray(inp[key], dtype=np.float64).reshape(-1) for key in KEYS]
    x = np.concatenate(blocks)
    assert x.shape == (k + 2 * k * d + k * t,), x.shape
    data = np.asarray(inp["x"], dtype=np.float64).reshape(n, d)
    m, gamma = int(inp["m"]), float(inp["gamma"])
    n1 = d + m + 1
    c = n1 * d * (math.log(gamma) - 0.5 * math.log(2.0)) - log_multigamma(n1 / 2, d)
    diag_place = np.zeros((d, d * d))
    diag_place[np.arange(d), np.arange(d) * (d + 1)] = 1.0
    lower_place = np.zeros((t, d * d))
    for i, (r, col) in enumerate(lower_pairs(d)):
        lower_place[i, r * d + col] = 1.0
    blocks01 = np.kron(np.eye(k), np.ones((d, 1)))  # (k·d, k): row (j, r) -> column j
    consts = {
        "data": data,
        "d": d,
        "k": k,
        "m": m,
        "gamma": gamma,
        "constant": -n * d / 2 * math.log(2 * math.pi) + k * c,
        "diag_place": diag_place,
        "lower_place": lower_place,
        "blocks01": blocks01,
    }
    return x, consts


def from_gradbench(inp: dict, function: str | None = None, seed: int = 0) -> Instance:
    x, consts = _parts(inp)
    opts = {"d": consts["d"], "k": consts["k"], "points": consts["data"].shape[0]}
    return PROBLEM.from_parts(x, consts, seed, **opts)


def split(x: np.ndarray, d: int, k: int) -> dict[str, np.ndarray]:
    """x as GradBench's four arrays: alpha (k,), mu (k, d), q (k, d), l (k, t)."""
    t = d * (d - 1) // 2
    sizes = [k, k * d, k * d, k * t]
    shapes = [(k,), (k, d), (k, d), (k, t)]
    out, start = {}, 0
    for key, size, shape in zip(KEYS, sizes, shapes, strict=True):
        out[key] = np.asarray(x[start : start + size]).reshape(shape)
        start += size
    return out


def to_gradbench(function: str, result: Any, inst: Instance | None = None) -> Any:
    if function == "objective":
        return float(np.asarray(result).reshape(()))
    if function == "jacobian":
        if inst is None:
            raise ValueError("gmm jacobian: pass inst (d and k split the gradient)")
        parts = split(
            np.asarray(result, dtype=np.float64).reshape(-1), inst.consts["d"], inst.consts["k"]
        )
        return {key: floats(parts[key]) for key in KEYS}
    raise ValueError(f"gmm has functions objective, jacobian; not {function!r}")


# -- f(xp, x) ----------------------------------------------------------------------


def _f(
    xp: Any,
    x: Any,
    data: np.ndarray,
    d: int,
    k: int,
    m: int,
    gamma: float,
    constant: float,
    diag_place: np.ndarray,
    lower_place: np.ndarray,
    blocks01: np.ndarray,
) -> Any:
    t = d * (d - 1) // 2
    kd = k * d
    alpha = x[0:k]
    mu = xp.reshape(x[k : k + kd], (k, d))
    q = xp.reshape(x[k + kd : k + 2 * kd], (k, d))
    lower = xp.reshape(x[k + 2 * kd : k + 2 * kd + k * t], (k, t))
    eq = xp.exp(q)
    qflat = xp.matmul(eq, xp.asarray(diag_place)) + xp.matmul(lower, xp.asarray(lower_place))
    rows = xp.reshape(qflat, (kd, d))  # row (j, r) = row r of Q_j
    blocks = xp.asarray(blocks01)
    q_mu = xp.sum(rows * xp.matmul(blocks, mu), axis=1)  # (Q_j μ_j)_r, (k·d,)
    z = xp.matmul(xp.asarray(data), xp.transpose(rows)) - q_mu  # (n, k·d)
    beta = alpha + xp.sum(q, axis=1) - 0.5 * xp.matmul(z * z, blocks)  # (n, k)
    top = xp.max(beta, axis=1)
    lse = top + xp.log(xp.sum(xp.exp(beta - xp.reshape(top, (-1, 1))), axis=1))
    a_top = xp.max(alpha)
    lse_alpha = a_top + xp.log(xp.sum(xp.exp(alpha - a_top)))
    n = data.shape[0]
    prior = 0.5 * gamma * gamma * (xp.sum(eq * eq) + xp.sum(lower * lower)) - m * xp.sum(q)
    return constant + xp.sum(lse) - n * lse_alpha - prior


# -- hand-written numpy ------------------------------------------------------------


def _forward(x: np.ndarray, c: dict) -> dict[str, np.ndarray]:
    d, k = c["d"], c["k"]
    p = split(x, d, k)
    qmat = np.zeros((k, d, d))
    qmat[:, np.arange(d), np.arange(d)] = np.exp(p["q"])
    for i, (r, col) in enumerate(lower_pairs(d)):
        qmat[:, r, col] = p["l"][:, i]
    v = c["data"][:, None, :] - p["mu"][None, :, :]  # (n, k, d): x_i - μ_k
    z = np.einsum("krc,nkc->nkr", qmat, v)  # Q_k (x_i - μ_k)
    beta = p["alpha"] + p["q"].sum(axis=1) - 0.5 * (z * z).sum(axis=2)  # (n, k)
    return {**p, "qmat": qmat, "v": v, "z": z, "beta": beta}


def _lse(a: np.ndarray, axis: int | None = None) -> np.ndarray:
    top = np.max(a, axis=axis, keepdims=True)
    out = top + np.log(np.sum(np.exp(a - top), axis=axis, keepdims=True))
    return np.squeeze(out, axis=axis) if axis is not None else out.reshape(())


def _value(x: np.ndarray, **c: Any) -> float:
    s = _forward(x, c)
    n = c["data"].shape[0]
    g2 = c["gamma"] ** 2
    prior = 0.5 * g2 * (np.sum(np.exp(s["q"]) ** 2) + np.sum(s["l"] ** 2)) - c["m"] * np.sum(s["q"])
    return c["constant"] + np.sum(_lse(s["beta"], axis=1)) - n * _lse(s["alpha"]) - prior


def _gradient(x: np.ndarray, **c: Any) -> np.ndarray:
    """By hand: r_ik = softmax_k β_ik (responsibilities), z_ik = Q_k (x_i - μ_k).

    ∂/∂α_k = Σ_i r_ik - n softmax(α)_k;  ∂/∂μ_k = Σ_i r_ik Q_kᵀ z_ik;
    ∂/∂q_kj = Σ_i r_ik (1 - z_ikj e^{q_kj} v_ikj) - γ² e^{2 q_kj} + m;
    ∂/∂l_k(r,c) = -Σ_i r_ik z_ikr v_ikc - γ² l_k(r,c).
    """
    d, k = c["d"], c["k"]
    s = _forward(x, c)
    n = c["data"].shape[0]
    g2 = c["gamma"] ** 2
    beta = s["beta"]
    r = np.exp(beta - _lse(beta, axis=1)[:, None])  # (n, k)
    a = np.exp(s["alpha"] - _lse(s["alpha"]))
    g_alpha = r.sum(axis=0) - n * a
    g_mu = np.einsum("nk,krc,nkr->kc", r, s["qmat"], s["z"])
    eq = np.exp(s["q"])
    g_q = (
        r.sum(axis=0)[:, None]
        - np.einsum("nk,nkj,nkj->kj", r, s["z"], s["v"]) * eq
        - g2 * eq * eq
        + c["m"]
    )
    rc = lower_pairs(d)
    rows = np.array([p[0] for p in rc], dtype=int)
    cols = np.array([p[1] for p in rc], dtype=int)
    zv = np.einsum("nk,nkr,nkc->krc", r, s["z"], s["v"])  # Σ_i r z_r v_c
    g_l = -zv[:, rows, cols] - g2 * s["l"]
    return np.concatenate([g_alpha, g_mu.ravel(), g_q.ravel(), g_l.reshape(k, -1).ravel()])


def _setup(n: int, m: int, seed: int, d: int, k: int, points: int) -> tuple[np.ndarray, dict]:
    return _parts(gradbench_input(d, k, points, seed=seed))


PROBLEM = Problem(
    "gmm",
    "GradBench gmm: log posterior of a k-component d-dim Gaussian mixture (Wishart prior) "
    "over n points; x = [alpha, mu, q, l]",
    scalar=True,
    scales=(),
    default_n=5 + 2 * 5 * 2 + 5,
    default_m=1,
    setup=_setup,
    body=_f,
    primal=_value,
    derivative=_gradient,
    options={"d": 2, "k": 5, "points": 1000},
    sizes_from=lambda x, consts: (x.shape[0], 1),
    presets=PRESETS,
    workload="gmm",
)

WORKLOAD = Workload(
    "gmm",
    {"objective": ("gmm", "primal"), "jacobian": ("gmm", "gradient")},
    PRESETS,
    "{d}_{k}_{n}",
    gradbench_input,
    from_gradbench,
    to_gradbench,
    notes="start message carries config; jacobian = dict alpha, mu, q, l",
)
