"""GradBench ``ht``: hand-tracking residuals (``objective``) and their Jacobian.

Two problems, one per GradBench variant (``--variant simple|complicated``):

- ``ht`` (simple): x = theta (26); residual err[3i+j] = points[i][j] -
  pos_{corr[i]}[j] (3·npts);
- ``ht_complicated``: x = [us flattened (2·npts, pairs in order), theta (26)];
  corr[i] is a triangle (t0, t1, t2) and err[3i+j] = points[i][j] -
  (u0 pos_t0 + u1 pos_t1 + (1 - u0 - u1) pos_t2)[j].

``from_gradbench`` picks the variant the way GradBench's tools do: ``us``
non-empty -> ``ht_complicated``, empty -> ``ht`` (the eval's ``--variant``
only chooses the data folder). Both GradBench functions (``objective``,
``jacobian``) name ``ht`` in ``WORKLOAD.functions``; read ``inst.name`` for
the variant actually built.

The model (``cpp/gradbench/evals/ht.hpp``): theta -> a 3×(22+3) pose matrix
(column 0 the global angle-axis theta[0:3], column 2 the translation
theta[3:6], column 3+b bone b's Euler angles (a0, a1, a2); the fingers'
2nd..4th bones get theta[6:26] as GradBench's ``to_pose_params`` places
them). Bone b: R_b = Rz(a1)·Ry(a2)·Rx(a0), rel_b = base_relatives[b]·[[R_b,
0], [0, 1]], abs_b = abs_parent·rel_b (rel_b at the root), T_b =
abs_b·inverse_base_absolutes[b]. Vertex v: pos_v = Σ_b weights[v][b]
(T_b·base_positions[v])[0:3], x negated if ``is_mirrored``, then G·pos_v +
theta[3:6] with G the Rodrigues matrix of theta[0:3].

``f`` skins only the vertices the residual reads (the corresponding vertex,
or the three corners of each corresponding triangle, as constant
(4, Q) base positions and (22, 3Q) weights). Skinning is per vertex, so the
numbers are GradBench's; GradBench skins all V vertices and then reads
npts (or 3·npts) of them, so the work differs (per point here, per vertex
there). Everything is 2-D: the chain of 22 bones is a Python loop of 4×4
``xp.matmul``; the per-bone angles are ``xp.matmul(pose, theta)`` with a
constant 0/1 placement matrix.

GradBench's Rodrigues rotation is the identity when ‖theta[0:3]‖ < 1e-4 (a
branch on the input). Here the branch is decided once, from the instance's
theta, when the instance is built (constant ``rotate``): ``f`` has no
``xp.where`` (so no NaN gradient of where + sqrt at 0) and stays analytic
(complex step works). Evaluating such an instance at another theta keeps
the branch of the instance's own point.

The Jacobian is hand-written in numpy (GradBench's "manual" tool is the
reference it validates against): per-bone derivatives of the Euler
rotations pushed forward through the kinematic chain (26 directions at
once), the skinning, and the Rodrigues matrix's derivative. The dense
complicated Jacobian is (3·npts) × (2·npts + 26) (the ∂/∂us part is block
diagonal); ``to_gradbench("jacobian", ...)`` compresses it to GradBench's
28 columns (∂/∂us[i][0], ∂/∂us[i][1], then the 26 theta columns).

GradBench reads its inputs from ``evals/ht/data/<variant>_<model>/``
(ADBench's model + hand files, not shipped here):
``read_gradbench_files(model_dir, hand_file, complicated)`` reads that
layout. ``gradbench_input`` instead builds a seeded synthetic hand (22
bones named and parented as GradBench's model, V vertices near their bones
with 2-3 skinning weights summing to 1, 2V triangles) and data (points =
the model posed at the input's random theta, plus noise bounded away from
0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from toyad.problems import Instance, Preset, Problem
from toyad.workloads.base import GRADBENCH_SEED, Workload, floats

NTHETA = 26
NBONES = 22
FINGERS = ("thumb", "index", "middle", "ring", "pinky")
BONE_NAMES = ("wrist",) + tuple(f"{f}{k}" for f in FINGERS for k in range(1, 5)) + ("forearm",)
PARENTS = (-1,) + tuple(0 if k == 0 else 1 + 4 * f + k - 1 for f in range(5) for k in range(4))
PARENTS = PARENTS + (0,)
ROTATION_EPS = 1e-4  # GradBench: identity global rotation below this norm

# GradBench's sweep: hand i = 1..12 with these point counts (file stems hand{i}_t26_c{npts}).
NPTS = (100, 192, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 100000)
SMALL_VERTICES = 544  # GradBench's small model; its big one has 10000


def _presets(variant: str, count: int, quick: int) -> tuple[Preset, ...]:
    return tuple(
        Preset(
            f"hand{i}_t26_c{npts}",
            {"i": i, "npts": npts, "variant": variant, "verts": SMALL_VERTICES},
            {"points": npts, "vertices": SMALL_VERTICES},
            quick=i <= quick,
        )
        for i, npts in enumerate(NPTS[:count], start=1)
    )


# simple: hands 1..8 (dense Jacobian 3·npts × 26); complicated: 1..4 (the dense
# Jacobian has 2·npts + 26 columns).
SIMPLE_PRESETS = _presets("simple", 8, quick=2)
COMPLICATED_PRESETS = _presets("complicated", 4, quick=2)


# -- rotations -------------------------------------------------------------------------


def euler_rotation(a: np.ndarray) -> np.ndarray:
    """R = Rz(a1)·Ry(a2)·Rx(a0) for angles a (..., 3): (..., 3, 3)."""
    a = np.asarray(a)
    cx, sx = np.cos(a[..., 0]), np.sin(a[..., 0])
    cz, sz = np.cos(a[..., 1]), np.sin(a[..., 1])
    cy, sy = np.cos(a[..., 2]), np.sin(a[..., 2])
    return np.stack(
        [
            np.stack([cz * cy, -sz * cx + cz * sy * sx, sz * sx + cz * sy * cx], axis=-1),
            np.stack([sz * cy, cz * cx + sz * sy * sx, -cz * sx + sz * sy * cx], axis=-1),
            np.stack([-sy, cy * sx, cy * cx], axis=-1),
        ],
        axis=-2,
    )


def _axis_rotations(a: np.ndarray):
    """Rx(a0), Rz(a1), Ry(a2) and their derivatives, each (..., 3, 3)."""
    out = []
    for angle, (i, j) in ((a[..., 0], (1, 2)), (a[..., 1], (0, 1)), (a[..., 2], (2, 0))):
        c, s = np.cos(angle), np.sin(angle)
        r = np.zeros(angle.shape + (3, 3), dtype=a.dtype)
        d = np.zeros_like(r)
        k = 3 - i - j
        r[..., k, k] = 1
        r[..., i, i] = r[..., j, j] = c
        r[..., i, j], r[..., j, i] = -s, s
        d[..., i, i] = d[..., j, j] = -s
        d[..., i, j], d[..., j, i] = -c, c
        out.append((r, d))
    return out  # (Rx, dRx), (Rz, dRz), (Ry, dRy)


def rodrigues(r: np.ndarray) -> np.ndarray:
    """GradBench's angle-axis rotation matrix (identity below norm 1e-4)."""
    r = np.asarray(r)
    if abs(np.sqrt(r @ r)) < ROTATION_EPS:
        return np.eye(3, dtype=r.dtype)
    return _rotation(r)


def _rotation(r: np.ndarray) -> np.ndarray:
    """The angle-axis rotation c I + s [ω]_× + (1 - c) ωωᵀ (no branch)."""
    theta = np.sqrt(r @ r)
    k = _skew(r / theta)
    return np.eye(3) + np.sin(theta) * k + (1 - np.cos(theta)) * (k @ k)


def _skew(a: np.ndarray) -> np.ndarray:
    return np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]], dtype=a.dtype)


def _rodrigues_derivative(r: np.ndarray) -> np.ndarray:
    """∂G/∂r_k (3, 3, 3) for G = I + a(θ) K + b(θ) K², K = [r]_×, θ = ‖r‖,
    a = sin θ / θ, b = (1 - cos θ) / θ²."""
    theta = np.sqrt(r @ r)
    s, c = np.sin(theta), np.cos(theta)
    a, b = s / theta, (1 - c) / theta**2
    da = (theta * c - s) / theta**2
    db = (theta * s - 2 * (1 - c)) / theta**3
    k = _skew(r)
    k2 = k @ k
    out = np.empty((3, 3, 3))
    for i in range(3):
        e = np.zeros(3)
        e[i] = 1.0
        ki = _skew(e)
        out[i] = da * r[i] / theta * k + a * ki + db * r[i] / theta * k2 + b * (ki @ k + k @ ki)
    return out


# -- the pose placement ---------------------------------------------------------------------


def pose_placement(nbones: int) -> np.ndarray:
    """(3, nbones, 26) 0/1: angle (axis, bone) = Σ_k P[axis, bone, k] theta[k]
    (GradBench's ``to_pose_params``: per finger, 3 bones from pose column 5,
    the first with two angles; a column skipped after each finger)."""
    if nbones + 3 < 24:
        raise ValueError(f"ht: GradBench's pose needs at least 21 bones (got {nbones})")
    place = np.zeros((3, nbones, NTHETA))
    t, col = 6, 5
    for _finger in range(5):
        for k in range(3):
            place[0, col - 3, t] = 1.0
            t += 1
            if k == 0:
                place[1, col - 3, t] = 1.0
                t += 1
            col += 1
        col += 1
    return place


# -- the synthetic model and data ----------------------------------------------------------


def _rigid(rot: np.ndarray, trans: np.ndarray) -> np.ndarray:
    m = np.eye(4)
    m[0:3, 0:3] = rot
    m[0:3, 3] = trans
    return m


def _rigid_inverse(m: np.ndarray) -> np.ndarray:
    return _rigid(m[0:3, 0:3].T, -m[0:3, 0:3].T @ m[0:3, 3])


def synthetic_model(verts: int, rs: np.random.RandomState) -> dict:
    """A hand-like model in GradBench's input layout (see the module docstring)."""
    if verts < 4:
        raise ValueError(f"ht: need at least 4 vertices (got {verts})")
    rel = np.empty((NBONES, 4, 4))
    lengths = np.empty(NBONES)
    rel[0] = _rigid(euler_rotation(rs.uniform(-np.pi, np.pi, 3)), rs.uniform(-0.01, 0.01, 3))
    lengths[0] = 0.08
    for f in range(5):
        spread = (f - 2) * 0.022
        for k in range(4):
            b = 1 + 4 * f + k
            angles = rs.uniform(-0.25, 0.25, 3)
            if k == 0:
                trans = np.array([spread, 0.08 if f else 0.03, rs.uniform(-0.005, 0.005)])
                if f == 0:
                    angles[1] += 0.8  # the thumb leaves the palm at an angle
            else:
                trans = np.array([0.0, lengths[b - 1], 0.0])
            rel[b] = _rigid(euler_rotation(angles), trans)
            lengths[b] = rs.uniform(0.02, 0.045)
    rel[21] = _rigid(euler_rotation(rs.uniform(-0.2, 0.2, 3)), np.array([0.0, -0.02, 0.0]))
    lengths[21] = 0.1
    absolute = np.empty_like(rel)
    for b, p in enumerate(PARENTS):
        absolute[b] = rel[b] if p < 0 else absolute[p] @ rel[b]
    inverse = np.stack([_rigid_inverse(m) for m in absolute])

    bone = np.arange(verts) % NBONES
    local = np.stack(
        [
            rs.uniform(-0.008, 0.008, verts),
            rs.uniform(0.0, 1.0, verts) * lengths[bone],
            rs.uniform(-0.008, 0.008, verts),
            np.ones(verts),
        ],
        axis=1,
    )
    positions = np.einsum("vij,vj->vi", absolute[bone], local)
    positions[:, 3] = 1.0
    weights = np.zeros((verts, NBONES))
    for v in range(verts):
        b = bone[v]
        other = PARENTS[b] if PARENTS[b] >= 0 else 1 + 4 * rs.randint(5)
        w = rs.uniform(0.5, 0.9)
        weights[v, b] = w
        if rs.uniform() < 0.5:  # a third bone
            third = rs.choice([c for c in range(NBONES) if c not in (b, other)])
            share = rs.uniform(0.2, 0.8)
            weights[v, other] += (1 - w) * share
            weights[v, third] += (1 - w) * (1 - share)
        else:
            weights[v, other] += 1 - w
    i = np.arange(verts)
    triangles = np.concatenate(
        [np.stack([i, (i + 1) % verts, (i + 2) % verts], axis=1)]
        + [np.stack([i, (i + 2) % verts, (i + 3) % verts], axis=1)]
    )
    return {
        "bone_count": NBONES,
        "bone_names": list(BONE_NAMES),
        "parents": list(PARENTS),
        "base_relatives": rel.tolist(),
        "inverse_base_absolutes": inverse.tolist(),
        "base_positions": positions.tolist(),
        "weights": weights.tolist(),
        "triangles": triangles.tolist(),
        "is_mirrored": False,
    }


def _random_theta(rs: np.random.RandomState) -> np.ndarray:
    axis = rs.normal(size=3)
    rot = axis / np.linalg.norm(axis) * rs.uniform(0.5, 2.5)
    trans = rs.uniform(-0.05, 0.05, 3)  # near the origin: coordinates ~0.1, small roundings
    return np.concatenate([rot, trans, rs.uniform(-0.6, 0.6, NTHETA - 6)])


def gradbench_input(
    npts: int,
    variant: str = "simple",
    verts: int = SMALL_VERTICES,
    i: int | None = None,
    seed: int = 0,
) -> dict:
    """A synthetic GradBench ht input (``i``, the hand file's number, only names
    the preset). The model depends on ``verts`` and ``seed`` only; the data
    draws continue the same stream: theta (global rotation of norm 0.5..2.5,
    translation ±0.05, finger angles ±0.6), the correspondences (vertices, or
    triangles for ``complicated``), us in the unit triangle, points = the
    model posed at theta there + noise of magnitude 0.003..0.03 (random
    sign) in every coordinate: no residual is near 0, so relative
    comparisons of the objective stay meaningful (the Jacobian does not
    depend on the points)."""
    if variant not in ("simple", "complicated"):
        raise ValueError(f"ht: variant is simple or complicated, not {variant!r}")
    if npts < 1:
        raise ValueError(f"ht: need npts >= 1 (got {npts})")
    rs = np.random.RandomState(GRADBENCH_SEED + seed)
    model = synthetic_model(verts, rs)
    theta = _random_theta(rs)
    complicated = variant == "complicated"
    ntri = len(model["triangles"])
    corr = rs.randint(ntri if complicated else verts, size=npts)
    us = rs.uniform(0.0, 1.0, (npts, 2))
    flip = us.sum(axis=1) > 1
    us[flip] = 1 - us[flip]
    consts = _constants(model, corr, np.zeros((npts, 3)), complicated, theta)
    x = np.concatenate([us.reshape(-1), theta]) if complicated else theta
    hand = -_value(x, **consts)
    noise = rs.uniform(0.003, 0.03, (npts, 3)) * rs.choice([-1.0, 1.0], (npts, 3))
    points = hand.reshape(npts, 3) + noise
    return {
        "theta": theta.tolist(),
        "us": us.tolist() if complicated else [],
        "data": {"correspondences": corr.tolist(), "points": points.tolist(), "model": model},
    }


def read_gradbench_files(
    model_dir: str | Path, hand_file: str | Path, complicated: bool | None = None
) -> dict:
    """GradBench's data layout as the eval's input dict (``evals/ht/io.py``):
    ``model_dir`` with bones.txt (name:parent:16 base relative:16 inverse
    base absolute, row-major), vertices.txt (x:y:z:3 normal:2 uv:count:(bone:
    weight)*), triangles.txt (a:b:c); ``hand_file`` = "npts ntheta", npts
    lines "corr x y z", npts lines "u0 u1" (complicated), ntheta lines of
    theta. ``complicated=None``: from the folder name (``complicated_*``)."""
    model_dir, hand_file = Path(model_dir), Path(hand_file)
    if complicated is None:
        complicated = hand_file.parent.name.startswith("complicated")
    bones = [line.split(":") for line in model_dir.joinpath("bones.txt").read_text().splitlines()]
    bones = [b for b in bones if len(b) > 1]
    names = [b[0] for b in bones]
    parents = [int(b[1]) for b in bones]
    rel = [np.array(b[2:18], dtype=float).reshape(4, 4).tolist() for b in bones]
    inv = [np.array(b[18:34], dtype=float).reshape(4, 4).tolist() for b in bones]
    positions, weights = [], []
    for line in model_dir.joinpath("vertices.txt").read_text().splitlines():
        atoms = line.split(":")
        if len(atoms) < 9:
            continue
        positions.append([float(a) for a in atoms[0:3]] + [1.0])
        w = [0.0] * len(bones)
        for k in range(int(atoms[8])):
            w[int(atoms[9 + 2 * k])] = float(atoms[10 + 2 * k])
        weights.append(w)
    triangles = [
        [int(a) for a in line.split(":")]
        for line in model_dir.joinpath("triangles.txt").read_text().splitlines()
        if line.strip()
    ]
    lines = iter(hand_file.read_text().splitlines())
    npts, ntheta = (int(v) for v in next(lines).split())
    rows = [next(lines).split() for _ in range(npts)]
    us = [[float(v) for v in next(lines).split()] for _ in range(npts)] if complicated else []
    theta = [float(next(lines)) for _ in range(ntheta)]
    return {
        "theta": theta,
        "us": us,
        "data": {
            "correspondences": [int(r[0]) for r in rows],
            "points": [[float(v) for v in r[1:4]] for r in rows],
            "model": {
                "bone_count": len(bones),
                "bone_names": names,
                "parents": parents,
                "base_relatives": rel,
                "inverse_base_absolutes": inv,
                "base_positions": positions,
                "weights": weights,
                "triangles": triangles,
                "is_mirrored": False,
            },
        },
    }


# -- input -> constants ----------------------------------------------------------------------


def _constants(
    model: dict, corr: np.ndarray, points: np.ndarray, complicated: bool, theta: np.ndarray
) -> dict:
    parents = tuple(int(p) for p in model["parents"])
    nb = len(parents)
    if any(p >= b for b, p in enumerate(parents)):
        raise ValueError("ht: parents must precede their children")
    rel = np.asarray(model["base_relatives"], dtype=np.float64).reshape(nb, 4, 4)
    inv = np.asarray(model["inverse_base_absolutes"], dtype=np.float64).reshape(nb, 4, 4)
    base = np.asarray(model["base_positions"], dtype=np.float64)
    weights = np.asarray(model["weights"], dtype=np.float64)
    if base.shape[1] == 3:
        base = np.concatenate([base, np.ones((base.shape[0], 1))], axis=1)
    corr = np.asarray(corr, dtype=np.int64)
    if complicated:
        tri = np.asarray(model["triangles"], dtype=np.int64).reshape(-1, 3)
        verts = tri[corr].T.reshape(-1)  # t0 of every point, then t1, then t2
    else:
        verts = corr
    sign = np.array([-1.0 if model.get("is_mirrored", False) else 1.0, 1.0, 1.0, 0.0])
    wsel = weights[verts].T  # (nb, Q)
    theta = np.asarray(theta, dtype=np.float64)
    out = {
        "pose": pose_placement(nb).reshape(3 * nb, NTHETA),
        # rel_b[i][j] (j < 3) = Σ_l brel{l}[3i+j, b] R_b[l][j]: brel{l}[3i+j, b] = base_rel_b[i][l]
        **{f"brel{l}": np.repeat(rel[:, :, l].T, 3, axis=0) for l in range(3)},
        "bcol": np.einsum("bi,j->ijb", rel[:, :, 3], np.eye(4)[3]).reshape(16, nb),
        # T = abs · iba per bone, as Σ_l ABS[:, l] * iba{l}: iba{l}[4b+i, j] = iba_b[l][j]
        **{f"iba{l}": np.repeat(inv[:, l, :], 4, axis=0) for l in range(4)},
        "parents": parents,
        "bp": base[verts].T.copy(),  # (4, Q)
        "wts": np.concatenate([s * wsel for s in sign], axis=1),  # (nb, 4Q); row 3 weighs 0
        "points": np.asarray(points, dtype=np.float64).reshape(-1, 3).T.copy(),  # (3, npts)
        "rotate": bool(np.sqrt(theta[0:3] @ theta[0:3]) >= ROTATION_EPS),
        "npts": int(len(corr)),
        "complicated": bool(complicated),
    }
    return out


def _model_arrays(c: dict):
    """base_relatives and inverse_base_absolutes (nb, 4, 4) back from the constants."""
    nb = len(c["parents"])
    rel = np.zeros((nb, 4, 4))
    for l in range(3):
        rel[:, :, l] = c[f"brel{l}"][0::3].T
    rel[:, :, 3] = c["bcol"].reshape(4, 4, nb)[:, 3, :].T
    inv = np.stack([c[f"iba{l}"][0::4] for l in range(4)], axis=1)
    return rel, inv


def _parts(inp: dict) -> tuple[np.ndarray, dict, bool]:
    data = inp["data"]
    theta = np.asarray(inp["theta"], dtype=np.float64)
    if theta.shape != (NTHETA,):
        raise ValueError(f"ht: theta needs {NTHETA} numbers (got {theta.shape})")
    corr = np.asarray(data["correspondences"], dtype=np.int64)
    points = np.asarray(data["points"], dtype=np.float64).reshape(len(corr), 3)
    us = np.asarray(inp.get("us", []), dtype=np.float64).reshape(-1)
    complicated = us.size > 0
    if complicated and us.size != 2 * len(corr):
        raise ValueError(f"ht: us needs 2 numbers per point (got {us.size} for {len(corr)})")
    consts = _constants(data["model"], corr, points, complicated, theta)
    x = np.concatenate([us, theta]) if complicated else theta
    return x, consts, complicated


def from_gradbench(inp: dict, function: str | None = None, seed: int = 0) -> Instance:
    """``us`` non-empty -> an ``ht_complicated`` instance, else ``ht``."""
    x, consts, complicated = _parts(inp)
    problem = COMPLICATED if complicated else PROBLEM
    verts = len(inp["data"]["model"]["base_positions"])
    return problem.from_parts(x, consts, seed, points=consts["npts"], vertices=verts)


# G's entries (row-major 9-vectors) from ω: ωωᵀ = (A ω) * (B ω), [ω]_× = S ω
_OUTER_A = np.kron(np.eye(3), np.ones((3, 1)))  # row 3i+j picks ω_i
_OUTER_B = np.kron(np.ones((3, 1)), np.eye(3))  # row 3i+j picks ω_j
_SKEW = np.zeros((9, 3))
for _i, _j, _k, _s in ((0, 1, 2, -1), (0, 2, 1, 1), (1, 0, 2, 1), (1, 2, 0, -1), (2, 0, 1, -1)):
    _SKEW[3 * _i + _j, _k] = _s
_SKEW[3 * 2 + 1, 0] = 1.0
_EYE9 = np.eye(3).reshape(9)
# rel's rows 3i+j (i < 4, j < 3) pick R[l][j] (row 3l+j of the (9, nb) rotations)
_ROW_PICK = [np.kron(np.ones((4, 1)), np.kron(np.eye(3)[l], np.eye(3))) for l in range(3)]
# rows 3i+j of a (12, ·) block to rows 4i+j of (16, ·)
_PAD16 = np.zeros((16, 12))
for _i in range(4):
    for _j in range(3):
        _PAD16[4 * _i + _j, 3 * _i + _j] = 1.0

# -- f(xp, x) ------------------------------------------------------------------------------------


def _f(
    xp: Any,
    x: Any,
    pose: Any,
    brel0: Any,
    brel1: Any,
    brel2: Any,
    bcol: Any,
    iba0: Any,
    iba1: Any,
    iba2: Any,
    iba3: Any,
    parents: tuple[int, ...],
    bp: Any,
    wts: Any,
    points: Any,
    rotate: bool,
    npts: int,
    complicated: bool,
) -> Any:
    nb = len(parents)
    theta = x[2 * npts :] if complicated else x
    angles = xp.matmul(xp.asarray(pose), theta)  # (3 nb,): a0 of every bone, then a1, then a2
    cx, sx = xp.cos(angles[0:nb]), xp.sin(angles[0:nb])
    cz, sz = xp.cos(angles[nb : 2 * nb]), xp.sin(angles[nb : 2 * nb])
    cy, sy = xp.cos(angles[2 * nb :]), xp.sin(angles[2 * nb :])
    rot = xp.stack(  # R = Rz(a1) Ry(a2) Rx(a0), row by row: (9, nb)
        [
            cz * cy,
            cz * sy * sx - sz * cx,
            sz * sx + cz * sy * cx,
            sz * cy,
            cz * cx + sz * sy * sx,
            sz * sy * cx - cz * sx,
            -sy,
            cy * sx,
            cy * cx,
        ]
    )
    # every bone's rel = base_relative · [[R, 0], [0, 1]] at once, entries as rows: (16, nb)
    rel = (
        xp.asarray(brel0) * xp.matmul(xp.asarray(_ROW_PICK[0]), rot)
        + xp.asarray(brel1) * xp.matmul(xp.asarray(_ROW_PICK[1]), rot)
        + xp.asarray(brel2) * xp.matmul(xp.asarray(_ROW_PICK[2]), rot)
    )
    rel = xp.matmul(xp.asarray(_PAD16), rel) + xp.asarray(bcol)
    absolutes: list[Any] = []
    for b, parent in enumerate(parents):  # the kinematic chain
        r = xp.reshape(rel[:, b], (4, 4))
        absolutes.append(r if parent < 0 else xp.matmul(absolutes[parent], r))
    a = xp.concatenate(absolutes, axis=0)  # (4 nb, 4)
    transforms = (  # abs_b · inverse_base_absolute_b, stacked (4 nb, 4)
        a[:, 0:1] * xp.asarray(iba0)
        + a[:, 1:2] * xp.asarray(iba1)
        + a[:, 2:3] * xp.asarray(iba2)
        + a[:, 3:4] * xp.asarray(iba3)
    )
    q = bp.shape[1]
    y = xp.matmul(transforms, xp.asarray(bp))  # (4 nb, Q)
    pos = xp.reshape(xp.sum(xp.reshape(y, (nb, 4 * q)) * xp.asarray(wts), axis=0), (4, q))
    pos = pos[0:3]
    if rotate:  # G = ωωᵀ + cos‖r‖ (I - ωωᵀ) + sin‖r‖ [ω]_×, as 9-vectors (no 0-d subtraction)
        r = theta[0:3]
        norm = xp.sqrt(xp.sum(r * r))
        omega = r / norm
        outer = xp.matmul(xp.asarray(_OUTER_A), omega) * xp.matmul(xp.asarray(_OUTER_B), omega)
        cross = xp.matmul(xp.asarray(_SKEW), omega)
        g = outer + xp.cos(norm) * (xp.asarray(_EYE9) - outer) + xp.sin(norm) * cross
        pos = xp.matmul(xp.reshape(g, (3, 3)), pos)
    pos = pos + xp.reshape(theta[3:6], (3, 1))
    if complicated:
        us = xp.reshape(x[0 : 2 * npts], (npts, 2))
        u0, u1 = us[:, 0], us[:, 1]
        n = npts
        hand = pos[:, 0:n] * u0 + pos[:, n : 2 * n] * u1 + pos[:, 2 * n :] * (1.0 - u0 - u1)
    else:
        hand = pos
    err = xp.asarray(points) - hand  # (3, npts)
    return xp.reshape(xp.transpose(err), (3 * npts,))


# -- hand-written numpy ---------------------------------------------------------------------------


def _skinned(theta: np.ndarray, c: dict):
    """Posed positions (3, Q) and ∂/∂theta (26, 3, Q)."""
    parents = c["parents"]
    nb = len(parents)
    place = c["pose"].reshape(3, nb, NTHETA)
    angles = np.einsum("abk,k->ba", place, theta)  # (nb, 3)
    (rx, drx), (rz, drz), (ry, dry) = _axis_rotations(angles)
    rot = rz @ ry @ rx
    base_rel, iba = _model_arrays(c)
    brel = base_rel[:, :, 0:3]
    rel = np.zeros((nb, 4, 4), dtype=theta.dtype)
    rel[:, :, 0:3] = brel @ rot
    rel[:, :, 3] = base_rel[:, :, 3]
    absolute = np.empty_like(rel)
    for b, p in enumerate(parents):
        absolute[b] = rel[b] if p < 0 else absolute[p] @ rel[b]
    transforms = (absolute @ iba)[:, 0:3]  # (nb, 3, 4)
    q = c["bp"].shape[1]
    wts = c["wts"].reshape(nb, 4, q)[:, 0:3]
    pos = np.einsum("bjq,bjq->jq", transforms @ c["bp"], wts)
    # ∂R_b/∂theta_k = Σ_axis place[axis, b, k] ∂R_b/∂a_axis
    d_axis = np.stack([rz @ ry @ drx, drz @ ry @ rx, rz @ dry @ rx], axis=1)  # (nb, 3, 3, 3)
    d_rot = np.einsum("abk,baij->kbij", place, d_axis)  # (26, nb, 3, 3)
    d_rel = np.zeros((NTHETA, nb, 4, 4))
    d_rel[:, :, :, 0:3] = np.einsum("bij,kbjl->kbil", brel, d_rot)
    d_abs = np.empty_like(d_rel)
    for b, p in enumerate(parents):
        if p < 0:
            d_abs[:, b] = d_rel[:, b]
        else:
            d_abs[:, b] = d_abs[:, p] @ rel[b] + absolute[p] @ d_rel[:, b]
    d_transforms = (d_abs @ iba)[:, :, 0:3]  # (26, nb, 3, 4)
    d_pos = np.zeros((NTHETA, 3, q))
    for b in range(nb):
        d_pos += (d_transforms[:, b] @ c["bp"]) * wts[b]
    return pos, d_pos


def _global(theta: np.ndarray, pos: np.ndarray, d_pos: np.ndarray, rotate: bool):
    """G·pos + t and its ∂/∂theta."""
    g = _rotation(theta[0:3]) if rotate else np.eye(3)
    out = g @ pos + theta[3:6, None]
    d_out = np.einsum("ij,kjq->kiq", g, d_pos)
    if rotate:
        d_out[0:3] += np.einsum("kij,jq->kiq", _rodrigues_derivative(theta[0:3]), pos)
    d_out[3:6] += np.eye(3)[:, :, None]
    return out, d_out


def _split(x: np.ndarray, c: dict):
    n = c["npts"]
    if c["complicated"]:
        return x[2 * n :], x[0 : 2 * n].reshape(n, 2)
    return x, None


def _value(x: np.ndarray, **c: Any) -> np.ndarray:
    """The numpy primal is ``f`` on numpy (the same rounding as ``f(np, x)``);
    tests/test_workload_ht.py checks it against a plain transcription of ht.hpp."""
    return np.asarray(_f(np, x, **c))


def _jacobian(x: np.ndarray, **c: Any) -> np.ndarray:
    theta, us = _split(x, c)
    pos, d_pos = _skinned(theta, c)
    pos, d_pos = _global(theta, pos, d_pos, c["rotate"])
    n = c["npts"]
    if us is None:
        return -np.transpose(d_pos, (2, 1, 0)).reshape(3 * n, NTHETA)
    u0, u1 = us[:, 0], us[:, 1]
    p0, p1, p2 = pos[:, 0:n], pos[:, n : 2 * n], pos[:, 2 * n :]
    d_hand = d_pos[:, :, 0:n] * u0 + d_pos[:, :, n : 2 * n] * u1
    d_hand += d_pos[:, :, 2 * n :] * (1 - u0 - u1)
    jac = np.zeros((3 * n, 2 * n + NTHETA))
    jac[:, 2 * n :] = -np.transpose(d_hand, (2, 1, 0)).reshape(3 * n, NTHETA)
    rows = 3 * np.arange(n)
    for j in range(3):
        jac[rows + j, 2 * np.arange(n)] = -(p0[j] - p2[j])
        jac[rows + j, 2 * np.arange(n) + 1] = -(p1[j] - p2[j])
    return jac


# -- GradBench's output -------------------------------------------------------------------------


def compress_jacobian(jac: np.ndarray) -> np.ndarray:
    """A dense Jacobian as GradBench's columns: (3n, 26) unchanged; (3n, 2n + 26)
    -> (3n, 28), columns 0, 1 = ∂err_{3i+j}/∂us[i][0..1] (the block diagonal)."""
    jac = np.asarray(jac, dtype=np.float64)
    rows, cols = jac.shape
    if rows % 3:
        raise ValueError(f"ht: a Jacobian has 3·npts rows (got {rows})")
    n = rows // 3
    if cols == NTHETA:
        return jac
    if cols != 2 * n + NTHETA:
        raise ValueError(f"ht: a Jacobian has 26 or 2·npts + 26 columns (got {cols}, npts={n})")
    point = np.arange(rows) // 3
    us = np.stack([jac[np.arange(rows), 2 * point], jac[np.arange(rows), 2 * point + 1]], axis=1)
    return np.concatenate([us, jac[:, 2 * n :]], axis=1)


def to_gradbench(function: str, result: Any, inst: Instance | None = None) -> Any:
    """``objective``: (3 npts,) -> flat list; ``jacobian``: dense -> list of
    rows with 26 (simple) or 28 (complicated) columns."""
    if function == "objective":
        return floats(np.asarray(result, dtype=np.float64).reshape(-1))
    if function == "jacobian":
        return floats(compress_jacobian(result))
    raise ValueError(f"ht has functions objective, jacobian; not {function!r}")


# -- problems ---------------------------------------------------------------------------------


def _setup_for(variant: str):
    def setup(n, m, seed, points, vertices) -> tuple[np.ndarray, dict]:
        x, consts, _ = _parts(gradbench_input(points, variant, vertices, seed=seed))
        return x, consts

    return setup


def _sizes(x: np.ndarray, consts: dict) -> tuple[int, int]:
    return x.shape[0], 3 * consts["npts"]


_OPTIONS = {"points": 100, "vertices": SMALL_VERTICES}

PROBLEM = Problem(
    "ht",
    "GradBench ht (simple): hand-tracking residuals points - skinned vertex (3 per point) "
    "of a 22-bone hand posed by theta (26); hand-written Jacobian (3·npts × 26); synthetic "
    "seeded model and data",
    scalar=False,
    scales=(),
    default_n=NTHETA,
    default_m=3 * 100,
    setup=_setup_for("simple"),
    body=_f,
    primal=_value,
    derivative=_jacobian,
    options=dict(_OPTIONS),
    sizes_from=_sizes,
    presets=SIMPLE_PRESETS,
    workload="ht",
)

COMPLICATED = Problem(
    "ht_complicated",
    "GradBench ht (complicated): residuals points - barycentric point (us) of a triangle of "
    "the skinned 22-bone hand; x = [us (2·npts), theta (26)]; hand-written dense Jacobian "
    "(3·npts × (2·npts + 26), block-diagonal in us); synthetic seeded model and data",
    scalar=False,
    scales=(),
    default_n=2 * 100 + NTHETA,
    default_m=3 * 100,
    setup=_setup_for("complicated"),
    body=_f,
    primal=_value,
    derivative=_jacobian,
    options=dict(_OPTIONS),
    sizes_from=_sizes,
    presets=COMPLICATED_PRESETS,
    workload="ht",
)

WORKLOAD = Workload(
    "ht",
    {"objective": ("ht", "primal"), "jacobian": ("ht", "jacobian")},
    SIMPLE_PRESETS + COMPLICATED_PRESETS,
    "hand{i}_t26_c{npts}",
    gradbench_input,
    from_gradbench,
    to_gradbench,
    notes="variant from the input: us non-empty -> ht_complicated (x = [us, theta]), else ht; "
    "presets are synthetic (GradBench's are ADBench's data files, read_gradbench_files); the "
    "preset params carry the variant; global rotation branch (|theta[0:3]| < 1e-4 -> "
    "identity) fixed per instance",
)
