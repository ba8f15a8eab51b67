"""GradBench ``ba``: bundle-adjustment residuals (``objective``) and their Jacobian.

x = [cams (11n), points X (3m), weights w (p)]; observation i sees camera
i mod n and point i mod m (GradBench's replication pattern: one cam, point,
weight and feature repeated), feature ``feat`` is a constant. Outputs
(3p): the 2p reprojection errors (x then y per observation), then the p
weight errors 1 - w_i². Camera = [r (angle-axis, 3), C (centre, 3), f, u0, v0,
k1, k2]: Xo = X - C; Xc = Xo cos θ + (ω × Xo) sin θ + ω (ω·Xo)(1 - cos θ)
(θ = ‖r‖, ω = r/θ; GradBench's first-order branch for r = 0 is not
implemented: such inputs are rejected); p = Xc[0:2]/Xc[2],
p *= 1 + k1 s + k2 s² (s = ‖p‖²); reproj = w (f p + (u0, v0) - feat).

The Jacobian is (3p) × (11n + 3m + p), dense here; GradBench's is sparse:
15 nonzeros in each reprojection row (11 camera, 3 point, 1 weight column)
and 1 in each weight row (-2 w_i). ``to_gradbench("jacobian", ...)`` gives
GradBench's truncated CSR (``csr_from_dense``, or ``reference_csr`` without
any dense matrix).

GradBench reads its inputs from ``evals/ba/data/ba*.txt`` (ADBench's, not
shipped here): ``read_gradbench_file(path)`` reads one of those (line 1:
``n m p``; then the camera's 11 numbers, the point's 3, w, the feature's 2).
``gradbench_input`` instead makes a seeded synthetic cam/x/w/feat in the
ranges of ADBench's files, for the small ``PRESETS``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from toyad.problems import Instance, Preset, Problem
from toyad.workloads.base import GRADBENCH_SEED, Workload, floats

NCAM = 11
NONZEROS_PER_REPROJ_ROW = 15
NONZEROS_PER_WEIGHT_ROW = 1

# Small synthetic sizes (GradBench's files start at ba1: n=49, m=7776, p=31843,
# far beyond a dense Jacobian); labels in GradBench's file-stem style.
_SIZES = [(1, 1, 2, 10), (2, 2, 3, 12), (3, 8, 40, 120), (4, 16, 100, 400)]
PRESETS = tuple(
    Preset(
        f"ba-synth{i}_n{n}_m{m}_p{p}",
        {"n": n, "m": m, "p": p},
        {"cameras": n, "points": m, "observations": p},
        quick=i <= 2,
    )
    for i, n, m, p in _SIZES
)


def gradbench_input(n: int, m: int, p: int, seed: int = 0) -> dict:
    """A synthetic GradBench ba input: one camera, point, weight and feature.

    Ranges follow ADBench's files (e.g. ba1's camera: r ~ ±1, centre ~ ±50,
    f ~ 400, small distortion): r ~ U(-1, 1), C ~ U(-50, 50) with the point in
    front of the camera, f ~ U(300, 600), (u0, v0) ~ U(-10, 10),
    k1 ~ U(-0.1, 0.1), k2 ~ U(-0.01, 0.01), w ~ U(0.2, 1.2), feat ~ U(-500, 500).
    """
    if not (n >= 1 and m >= 1 and p >= max(n, m)):
        raise ValueError(f"ba: need n, m >= 1 and p >= max(n, m); got n={n}, m={m}, p={p}")
    rs = np.random.RandomState(GRADBENCH_SEED + seed)
    r = rs.uniform(-1.0, 1.0, 3)
    centre = rs.uniform(-50.0, 50.0, 3)
    cam = np.concatenate(
        [
            r,
            centre,
            [rs.uniform(300.0, 600.0)],
            rs.uniform(-10.0, 10.0, 2),
            [rs.uniform(-0.1, 0.1), rs.uniform(-0.01, 0.01)],
        ]
    )
    # a point in front of the camera: Xc = R (X - C) with Xc[2] in [5, 15]
    xc = np.array([rs.uniform(-1.0, 1.0), rs.uniform(-1.0, 1.0), rs.uniform(5.0, 15.0)])
    point = centre + _rotation(r).T @ xc
    return {
        "n": int(n),
        "m": int(m),
        "p": int(p),
        "cam": cam.tolist(),
        "x": point.tolist(),
        "w": float(rs.uniform(0.2, 1.2)),
        "feat": rs.uniform(-500.0, 500.0, 2).tolist(),
    }


def read_gradbench_file(path: str | Path) -> dict:
    """A GradBench ``ba*.txt`` data file as the eval's input dict (its ``parse``)."""
    lines = iter(Path(path).read_text().splitlines())
    n, m, p = (int(v) for v in next(lines).split())
    cam = [float(v) for v in next(lines).split()]
    point = [float(v) for v in next(lines).split()]
    w = float(next(lines))
    feat = [float(v) for v in next(lines).split()]
    return {"n": n, "m": m, "p": p, "cam": cam, "x": point, "w": w, "feat": feat}


def _rotation(r: np.ndarray) -> np.ndarray:
    theta = np.sqrt(r @ r)
    w = r / theta
    k = np.array([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]])
    return np.cos(theta) * np.eye(3) + np.sin(theta) * k + (1 - np.cos(theta)) * np.outer(w, w)


def _parts(inp: dict) -> tuple[np.ndarray, dict]:
    n, m, p = int(inp["n"]), int(inp["m"]), int(inp["p"])
    cam = np.asarray(inp["cam"], dtype=np.float64)
    point = np.asarray(inp["x"], dtype=np.float64)
    if cam.shape != (NCAM,) or point.shape != (3,):
        raise ValueError("ba: cam needs 11 numbers and x 3")
    if float(cam[:3] @ cam[:3]) == 0.0:
        raise ValueError(
            "ba: a zero rotation (r = 0) takes GradBench's other branch; not supported"
        )
    if p < max(n, m):
        raise ValueError(f"ba: p must be >= max(n, m); got n={n}, m={m}, p={p}")
    x = np.concatenate([np.tile(cam, n), np.tile(point, m), np.full(p, float(inp["w"]))])
    feats = np.tile(np.asarray(inp["feat"], dtype=np.float64), (p, 1))
    return x, {"feats": feats, "n": n, "m": m, "p": p}


def from_gradbench(inp: dict, function: str | None = None, seed: int = 0) -> Instance:
    x, c = _parts(inp)
    return PROBLEM.from_parts(x, c, seed, cameras=c["n"], points=c["m"], observations=c["p"])


def _cyclic(xp: Any, rows: Any, count: int, total: int) -> Any:
    """Rows i mod count for i < total (camera/point of each observation)."""
    reps = -(-total // count)
    tiled = rows if reps == 1 else xp.concatenate([rows] * reps, axis=0)
    return tiled[0:total]


def _f(xp: Any, x: Any, feats: np.ndarray, n: int, m: int, p: int) -> Any:
    cams = _cyclic(xp, xp.reshape(x[0 : NCAM * n], (n, NCAM)), n, p)
    pts = _cyclic(xp, xp.reshape(x[NCAM * n : NCAM * n + 3 * m], (m, 3)), m, p)
    w = x[NCAM * n + 3 * m :]
    r0, r1, r2 = cams[:, 0], cams[:, 1], cams[:, 2]
    o0, o1, o2 = pts[:, 0] - cams[:, 3], pts[:, 1] - cams[:, 4], pts[:, 2] - cams[:, 5]
    theta = xp.sqrt(r0 * r0 + r1 * r1 + r2 * r2)
    w0, w1, w2 = r0 / theta, r1 / theta, r2 / theta
    cos, sin = xp.cos(theta), xp.sin(theta)
    dot = (w0 * o0 + w1 * o1 + w2 * o2) * (1.0 - cos)
    c0 = o0 * cos + (w1 * o2 - w2 * o1) * sin + w0 * dot
    c1 = o1 * cos + (w2 * o0 - w0 * o2) * sin + w1 * dot
    c2 = o2 * cos + (w0 * o1 - w1 * o0) * sin + w2 * dot
    p0, p1 = c0 / c2, c1 / c2
    s = p0 * p0 + p1 * p1
    dist = 1.0 + cams[:, 9] * s + cams[:, 10] * s * s
    fe = xp.asarray(feats)
    ex = w * (p0 * dist * cams[:, 6] + cams[:, 7] - fe[:, 0])
    ey = w * (p1 * dist * cams[:, 6] + cams[:, 8] - fe[:, 1])
    reproj = xp.reshape(xp.transpose(xp.stack([ex, ey])), (2 * p,))  # x, y per observation
    return xp.concatenate([reproj, 1.0 - w * w])


# -- hand-written numpy: per-observation 2×15 blocks ----------------------------------


def _skew(a: np.ndarray) -> np.ndarray:
    """[a]_× for rows a (q, 3): (q, 3, 3) with [a]_× b = a × b."""
    z = np.zeros(a.shape[0])
    return np.stack(
        [
            np.stack([z, -a[:, 2], a[:, 1]], axis=1),
            np.stack([a[:, 2], z, -a[:, 0]], axis=1),
            np.stack([-a[:, 1], a[:, 0], z], axis=1),
        ],
        axis=1,
    )


def _observations(x: np.ndarray, n: int, m: int, p: int):
    obs = np.arange(p)
    cams = x[: NCAM * n].reshape(n, NCAM)[obs % n]
    pts = x[NCAM * n : NCAM * n + 3 * m].reshape(m, 3)[obs % m]
    return cams, pts, x[NCAM * n + 3 * m :]


def _blocks(x: np.ndarray, feats: np.ndarray, n: int, m: int, p: int):
    """Residuals (p, 2) and their derivative blocks (p, 2, 15): 11 camera, 3 point, w."""
    cams, pts, w = _observations(x, n, m, p)
    r, centre = cams[:, 0:3], cams[:, 3:6]
    f, u0v0, k1, k2 = cams[:, 6], cams[:, 7:9], cams[:, 9], cams[:, 10]
    xo = pts - centre
    theta = np.sqrt(np.sum(r * r, axis=1))
    om = r / theta[:, None]
    c, s = np.cos(theta), np.sin(theta)
    d = np.sum(om * xo, axis=1)
    cross = np.cross(om, xo)
    xc = xo * c[:, None] + cross * s[:, None] + om * (d * (1 - c))[:, None]
    eye = np.eye(3)
    # ∂Xc/∂Xo = R;  ∂Xc/∂r via θ (∂θ/∂r = ωᵀ) and ω (∂ω/∂r = (I - ωωᵀ)/θ)
    kmat = _skew(om)
    oo = om[:, :, None] * om[:, None, :]
    rot = c[:, None, None] * eye + s[:, None, None] * kmat + (1 - c)[:, None, None] * oo
    dom = (eye - oo) / theta[:, None, None]
    dtheta = om[:, None, :]  # (p, 1, 3)
    d_dom = np.einsum("qj,qjk->qk", xo, dom)  # ∂(ω·Xo)/∂r
    j_r = (
        -(s[:, None, None] * xo[:, :, None] * dtheta)
        - s[:, None, None] * np.einsum("qij,qjk->qik", _skew(xo), dom)
        + c[:, None, None] * cross[:, :, None] * dtheta
        + ((1 - c) * d)[:, None, None] * dom
        + (1 - c)[:, None, None] * om[:, :, None] * d_dom[:, None, :]
        + (s * d)[:, None, None] * om[:, :, None] * dtheta
    )
    z = xc[:, 2]
    pp = xc[:, 0:2] / z[:, None]
    dp = np.zeros((p, 2, 3))  # ∂p/∂Xc
    dp[:, 0, 0] = dp[:, 1, 1] = 1 / z
    dp[:, :, 2] = -pp / z[:, None]
    sq = np.sum(pp * pp, axis=1)
    dist = 1 + k1 * sq + k2 * sq * sq
    dq = dist[:, None, None] * np.eye(2) + np.einsum(
        "qi,qj->qij", pp, 2 * pp * (k1 + 2 * k2 * sq)[:, None]
    )
    q = pp * dist[:, None]
    proj = q * f[:, None] + u0v0
    res = w[:, None] * (proj - feats)
    chain = w[:, None, None] * f[:, None, None] * np.einsum("qij,qjk->qik", dq, dp)  # ∂res/∂Xc
    blk = np.zeros((p, 2, 15))
    blk[:, :, 0:3] = np.einsum("qij,qjk->qik", chain, j_r)
    d_xo = np.einsum("qij,qjk->qik", chain, rot)
    blk[:, :, 3:6] = -d_xo
    blk[:, :, 6] = w[:, None] * q
    blk[:, 0, 7] = blk[:, 1, 8] = w
    blk[:, :, 9] = (w * f)[:, None] * pp * sq[:, None]
    blk[:, :, 10] = (w * f)[:, None] * pp * (sq * sq)[:, None]
    blk[:, :, 11:14] = d_xo
    blk[:, :, 14] = proj - feats
    return res, blk


def _value(x: np.ndarray, feats: np.ndarray, n: int, m: int, p: int) -> np.ndarray:
    res, _ = _blocks(x, feats, n, m, p)
    return np.concatenate([res.reshape(-1), 1 - x[NCAM * n + 3 * m :] ** 2])


def _columns(n: int, m: int, p: int) -> np.ndarray:
    """(p, 15): the columns of each observation's 15 nonzeros (cam, point, weight)."""
    obs = np.arange(p)
    cam = NCAM * (obs % n)[:, None] + np.arange(NCAM)
    pt = NCAM * n + 3 * (obs % m)[:, None] + np.arange(3)
    wcol = (NCAM * n + 3 * m + obs)[:, None]
    return np.concatenate([cam, pt, wcol], axis=1)


def _jacobian(x: np.ndarray, feats: np.ndarray, n: int, m: int, p: int) -> np.ndarray:
    _, blk = _blocks(x, feats, n, m, p)
    ncols = NCAM * n + 3 * m + p
    jac = np.zeros((3 * p, ncols))
    cols = _columns(n, m, p)
    rows = np.arange(p)
    jac[2 * rows[:, None], cols] = blk[:, 0, :]
    jac[2 * rows[:, None] + 1, cols] = blk[:, 1, :]
    w = x[NCAM * n + 3 * m :]
    jac[2 * p + rows, NCAM * n + 3 * m + rows] = -2 * w
    return jac


# -- GradBench's output formats ---------------------------------------------------------


def _truncated(a: list) -> list:
    return a[0:30] + [a[-1]]


def _check_csr(p: int) -> None:
    if p < 10:  # GradBench's C++ copies rows[0:30], past the end of 3p + 1 < 31 entries
        raise ValueError(f"ba: GradBench's truncated CSR needs p >= 10 (got p={p})")


def reference_csr(inst: Instance) -> dict:
    """GradBench's truncated CSR of the hand-written Jacobian, built sparsely."""
    c = inst.consts
    n, m, p = c["n"], c["m"], c["p"]
    _check_csr(p)
    _, blk = _blocks(inst.x, c["feats"], n, m, p)
    cols = _columns(n, m, p)
    w = inst.x[NCAM * n + 3 * m :]
    return {
        "rows": [15 * i if i <= 2 * p else 30 * p + i - 2 * p for i in range(30)] + [31 * p],
        "cols": cols[0].tolist() * 2 + [NCAM * n + 3 * m + p - 1],
        "vals": floats(np.concatenate([blk[0, 0], blk[0, 1], [-2 * w[-1]]])),
    }


def csr_from_dense(jac: np.ndarray, n: int, m: int, p: int) -> dict:
    """A dense (3p, 11n+3m+p) Jacobian as GradBench's truncated CSR (the known pattern)."""
    _check_csr(p)
    jac = np.asarray(jac, dtype=np.float64)
    cols = _columns(n, m, p)
    rows_ptr = [0]
    all_cols: list[int] = []
    all_vals: list[float] = []
    for i in range(p):
        for row in (2 * i, 2 * i + 1):
            all_cols += cols[i].tolist()
            all_vals += jac[row, cols[i]].tolist()
            rows_ptr.append(rows_ptr[-1] + 15)
    for i in range(p):
        col = NCAM * n + 3 * m + i
        all_cols.append(col)
        all_vals.append(float(jac[2 * p + i, col]))
        rows_ptr.append(rows_ptr[-1] + 1)
    return {
        "rows": _truncated(rows_ptr),
        "cols": _truncated(all_cols),
        "vals": floats(_truncated(all_vals)),
    }


def to_gradbench(function: str, result: Any, inst: Instance | None = None) -> Any:
    """``objective``: result (3p,) -> the repeated-element dict; ``jacobian``:
    dense (3p, ncols) -> truncated CSR (needs ``inst`` for n, m, p)."""
    r = np.asarray(result, dtype=np.float64)
    if function == "objective":
        p = r.shape[0] // 3
        return {
            "reproj_error": {"elements": floats(r[0:2]), "repeated": p},
            "w_err": {"element": float(floats(r[2 * p])), "repeated": p},
        }
    if function == "jacobian":
        if inst is None:
            raise ValueError("ba jacobian: pass inst (n, m, p place the columns)")
        c = inst.consts
        return csr_from_dense(r, c["n"], c["m"], c["p"])
    raise ValueError(f"ba has functions objective, jacobian; not {function!r}")


def _setup(n, m, seed, cameras, points, observations) -> tuple[np.ndarray, dict]:
    return _parts(gradbench_input(cameras, points, observations, seed))


PROBLEM = Problem(
    "ba",
    "GradBench ba: bundle-adjustment residuals (2p reprojection, p weight errors) of n "
    "cameras, m points, p observations; dense Jacobian (GradBench's is sparse: 15 nonzeros "
    "per reprojection row, 1 per weight row)",
    scalar=False,
    scales=(),
    default_n=NCAM * 1 + 3 * 2 + 10,
    default_m=3 * 10,
    setup=_setup,
    body=_f,
    primal=_value,
    derivative=_jacobian,
    options={"cameras": 1, "points": 2, "observations": 10},
    sizes_from=lambda x, consts: (x.shape[0], 3 * consts["p"]),
    presets=PRESETS,
    workload="ba",
)

WORKLOAD = Workload(
    "ba",
    {"objective": ("ba", "primal"), "jacobian": ("ba", "jacobian")},
    PRESETS,
    "{stem}",
    gradbench_input,
    from_gradbench,
    to_gradbench,
    notes="GradBench's sizes are its data files ba1..ba20 (read_gradbench_file); "
    "presets here are small synthetic ones; sparsity: 15 nonzeros per reprojection row, "
    "1 per weight row",
)
