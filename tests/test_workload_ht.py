"""GradBench ht (toyad/workloads/ht.py): the hand-written Jacobians against
complex step, the primal against a plain numpy reading of GradBench's
ht.hpp, GradBench's input/output forms, the data-file reader, and the
backends at tiny sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from toyad import backends, numeric, problems
from toyad.workloads import TINY_OPTIONS, WORKLOADS, gradbench_mismatch, ht

VARIANTS = ["ht", "ht_complicated"]


def rel_err(actual, expected) -> float:
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    return float(np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-300))


def tiny(name: str, seed: int = 0, **extra):
    return problems.get(name).instance(seed=seed, **{**TINY_OPTIONS[name], **extra})


# ---------------------------------------------------------------------------
# an independent evaluation: GradBench's ht.hpp, statement by statement, on the input dict


def _euler(xzy):
    tx, ty, tz = xzy[0], xzy[2], xzy[1]
    rx = np.array([[1, 0, 0], [0, np.cos(tx), -np.sin(tx)], [0, np.sin(tx), np.cos(tx)]])
    ry = np.array([[np.cos(ty), 0, np.sin(ty)], [0, 1, 0], [-np.sin(ty), 0, np.cos(ty)]])
    rz = np.array([[np.cos(tz), -np.sin(tz), 0], [np.sin(tz), np.cos(tz), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _angle_axis(r):
    norm = np.sqrt(np.sum(r * r))
    if norm < 1e-4:
        return np.eye(3)
    x, y, z = r / norm
    s, c = np.sin(norm), np.cos(norm)
    return np.array(
        [
            [x * x + (1 - x * x) * c, x * y * (1 - c) - z * s, x * z * (1 - c) + y * s],
            [x * y * (1 - c) + z * s, y * y + (1 - y * y) * c, y * z * (1 - c) - x * s],
            [x * z * (1 - c) - y * s, z * y * (1 - c) + x * s, z * z + (1 - z * z) * c],
        ]
    )


def reference_objective(inp: dict) -> np.ndarray:
    theta = np.asarray(inp["theta"], float)
    model = inp["data"]["model"]
    nb = len(model["bone_names"])
    pose = np.zeros((3, nb + 3))
    pose[:, 0], pose[:, 1], pose[:, 2] = theta[0:3], 1.0, theta[3:6]
    t, col = 6, 5
    for _finger in range(5):
        for i in range(2, 5):
            pose[0, col] = theta[t]
            t += 1
            if i == 2:
                pose[1, col] = theta[t]
                t += 1
            col += 1
        col += 1
    rel0 = np.asarray(model["base_relatives"], float)
    relatives = []
    for b in range(nb):
        tr = np.eye(4)
        tr[0:3, 0:3] = _euler(pose[:, b + 3])
        relatives.append(rel0[b] @ tr)
    absolutes = []
    for b, p in enumerate(model["parents"]):
        absolutes.append(relatives[b] if p == -1 else absolutes[p] @ relatives[b])
    inv = np.asarray(model["inverse_base_absolutes"], float)
    base = np.asarray(model["base_positions"], float).T  # (4, V)
    weights = np.asarray(model["weights"], float).T  # (nb, V)
    positions = np.zeros((3, base.shape[1]))
    for b in range(nb):
        curr = (absolutes[b] @ inv[b]) @ base
        positions += curr[0:3] * weights[b]
    if model["is_mirrored"]:
        positions[0] *= -1
    g = _angle_axis(pose[:, 0]) * pose[:, 1]  # scale_col by column 1 (ones)
    positions = g @ positions + pose[:, 2:3]
    points = np.asarray(inp["data"]["points"], float)
    corr = inp["data"]["correspondences"]
    err = np.zeros(3 * len(corr))
    for i, c in enumerate(corr):
        if inp["us"]:
            v = model["triangles"][c]
            u = inp["us"][i]
            hand = u[0] * positions[:, v[0]] + u[1] * positions[:, v[1]]
            hand += (1 - u[0] - u[1]) * positions[:, v[2]]
        else:
            hand = positions[:, c]
        err[3 * i : 3 * i + 3] = points[i] - hand
    return err


@pytest.mark.parametrize("mirrored", [False, True])
@pytest.mark.parametrize("variant", ["simple", "complicated"])
def test_primal_matches_gradbench_statement_by_statement(variant: str, mirrored: bool) -> None:
    inp = ht.gradbench_input(7, variant, verts=30, seed=2)
    inp["data"]["model"]["is_mirrored"] = mirrored
    inst = ht.from_gradbench(inp)
    expected = reference_objective(inp)
    np.testing.assert_allclose(inst.value(), expected, rtol=0, atol=1e-14)
    np.testing.assert_allclose(np.asarray(inst.f(np, inst.x)), expected, rtol=0, atol=1e-14)


# ---------------------------------------------------------------------------
# the hand-written Jacobians


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", VARIANTS)
def test_hand_jacobian_matches_complex_step(name: str, seed: int) -> None:
    inst = tiny(name, seed, points=5, vertices=40)

    def f(z):
        return np.asarray(inst.f(np, z))

    jac = numeric.jacobian(f, inst.x, method="complex").reshape(inst.m, inst.n)
    assert rel_err(inst.jacobian(), jac) <= 1e-12
    # and Richardson, an oracle that does not need f to be analytic
    rich = numeric.jacobian(f, inst.x, method="richardson").reshape(inst.m, inst.n)
    assert rel_err(inst.jacobian(), rich) <= 1e-8


def test_mirrored_model_jacobian() -> None:
    inp = ht.gradbench_input(4, "complicated", verts=24, seed=3)
    inp["data"]["model"]["is_mirrored"] = True
    inst = ht.from_gradbench(inp)
    jac = numeric.jacobian(lambda z: np.asarray(inst.f(np, z)), inst.x, method="complex")
    assert rel_err(inst.jacobian(), jac.reshape(inst.m, inst.n)) <= 1e-12


@pytest.mark.parametrize("variant", ["simple", "complicated"])
def test_identity_rotation_branch(variant: str) -> None:
    """‖theta[0:3]‖ < 1e-4: GradBench's G = I, so ∂err/∂theta[0:3] = 0; the
    branch is fixed per instance (no where, no NaN)."""
    inp = ht.gradbench_input(4, variant, verts=24)
    inp["theta"][0:3] = [3e-5, -2e-5, 1e-5]
    inst = ht.from_gradbench(inp)
    assert inst.consts["rotate"] is False
    np.testing.assert_allclose(inst.value(), reference_objective(inp), rtol=0, atol=1e-14)
    jac = inst.jacobian()
    cols = slice(inst.n - 26, inst.n - 23)  # theta[0:3]
    assert np.all(jac[:, cols] == 0.0) and np.all(np.isfinite(jac))
    cs = numeric.jacobian(lambda z: np.asarray(inst.f(np, z)), inst.x, method="complex")
    assert rel_err(jac, cs.reshape(inst.m, inst.n)) <= 1e-12
    b = backends.get("tensor")
    got = b.to_numpy(b.prepare("jacobian", inst.f, inst.x)())
    assert rel_err(got, jac) <= 1e-10
    # just above the threshold the rotation is on
    inp["theta"][0:3] = [1e-4, 1e-5, 0.0]
    assert ht.from_gradbench(inp).consts["rotate"] is True


def test_pose_placement_follows_to_pose_params() -> None:
    place = ht.pose_placement(22)
    assert place.sum() == 20 and place[2].sum() == 0  # a2 is never set
    for f in range(5):
        first = 2 + 4 * f  # bones 2, 3, 4 of finger f (pose columns 5 + 4f ...)
        assert place[0, first, 6 + 4 * f] == 1 and place[1, first, 7 + 4 * f] == 1
        assert place[0, first + 1, 8 + 4 * f] == 1 and place[0, first + 2, 9 + 4 * f] == 1
        assert place[:, first + 3].sum() == 0


# ---------------------------------------------------------------------------
# the synthetic model and GradBench's forms


def test_synthetic_model_is_consistent() -> None:
    inp = ht.gradbench_input(100)
    model = inp["data"]["model"]
    assert model["bone_count"] == 22 and len(model["bone_names"]) == 22
    assert all(p < b for b, p in enumerate(model["parents"]))
    rel = np.asarray(model["base_relatives"])
    inv = np.asarray(model["inverse_base_absolutes"])
    absolute = []
    for b, p in enumerate(model["parents"]):
        absolute.append(rel[b] if p < 0 else absolute[p] @ rel[b])
        np.testing.assert_allclose(absolute[b] @ inv[b], np.eye(4), atol=1e-12)
        r = rel[b][0:3, 0:3]
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    weights = np.asarray(model["weights"])
    assert weights.shape == (544, 22)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    assert set((weights > 0).sum(axis=1)) <= {2, 3}
    base = np.asarray(model["base_positions"])
    assert base.shape == (544, 4) and np.all(base[:, 3] == 1)
    tri = np.asarray(model["triangles"])
    assert tri.min() >= 0 and tri.max() < 544 and model["is_mirrored"] is False
    assert np.shape(inp["data"]["points"]) == (100, 3) and inp["us"] == []
    comp = ht.gradbench_input(100, "complicated")
    us = np.asarray(comp["us"])
    assert us.shape == (100, 2) and np.all(us >= 0) and np.all(us.sum(axis=1) <= 1)
    assert max(comp["data"]["correspondences"]) < len(tri)
    assert ht.gradbench_input(10) == ht.gradbench_input(10)  # seeded
    # points = the posed model + noise in [0.003, 0.03] (no residual near 0)
    err = np.abs(problems.get("ht").instance().value())
    assert err.min() >= 0.003 - 1e-12 and err.max() <= 0.03 + 1e-12


def test_presets_and_workload_record() -> None:
    w = WORKLOADS["ht"]
    assert w.functions == {"objective": ("ht", "primal"), "jacobian": ("ht", "jacobian")}
    assert set(w.problems) == {"ht"}
    labels = [p.label for p in problems.get("ht").presets]
    assert labels[:3] == ["hand1_t26_c100", "hand2_t26_c192", "hand3_t26_c200"]
    assert [p.label for p in w.quick] == labels[:2] * 2
    for p in w.presets:
        assert p.label == w.label.format(**p.params)
    assert problems.get("ht_complicated").workload == "ht"


@pytest.mark.parametrize("variant", ["simple", "complicated"])
def test_from_gradbench_round_trip(variant: str) -> None:
    name = "ht" if variant == "simple" else "ht_complicated"
    preset = problems.get(name).presets[0]
    inp = ht.gradbench_input(**preset.params)
    assert inp["us"] == [] if variant == "simple" else len(inp["us"]) == 100
    inp = json.loads(json.dumps(inp))  # as the eval sends it
    inst = ht.from_gradbench(inp)
    assert inst.name == name
    ref = problems.get(name).instance(**preset.options)
    np.testing.assert_array_equal(inst.x, ref.x)
    assert (inst.n, inst.m) == (ref.n, ref.m) == ((26 if variant == "simple" else 226), 300)
    np.testing.assert_allclose(inst.value(), reference_objective(inp), rtol=0, atol=1e-14)


@pytest.mark.parametrize("name", VARIANTS)
def test_to_gradbench_forms(name: str) -> None:
    inst = tiny(name)
    n = inst.consts["npts"]
    obj = ht.to_gradbench("objective", inst.value(), inst)
    assert isinstance(obj, list) and len(obj) == 3 * n and isinstance(obj[0], float)
    jac = inst.jacobian()
    out = ht.to_gradbench("jacobian", jac, inst)
    json.loads(json.dumps(out, allow_nan=False))
    ncols = 26 if name == "ht" else 28
    assert len(out) == 3 * n and all(len(row) == ncols for row in out)
    assert gradbench_mismatch(out, out) == []
    out = np.asarray(out)
    np.testing.assert_array_equal(out[:, -26:], jac[:, -26:])
    if name == "ht_complicated":
        for i in range(n):
            block = jac[3 * i : 3 * i + 3, 2 * i : 2 * i + 2]
            np.testing.assert_array_equal(out[3 * i : 3 * i + 3, 0:2], block)
            # off the block diagonal the us part is zero
            others = np.delete(jac[3 * i : 3 * i + 3, 0 : 2 * n], [2 * i, 2 * i + 1], axis=1)
            assert np.all(others == 0)
    with pytest.raises(ValueError, match="functions"):
        ht.to_gradbench("gradient", jac, inst)


def test_reader_reads_gradbench_layout(tmp_path) -> None:
    inp = ht.gradbench_input(3, "complicated", verts=24)
    model = inp["data"]["model"]
    mdir = tmp_path / "complicated_small" / "model"
    mdir.mkdir(parents=True)
    rel, inv = np.asarray(model["base_relatives"]), np.asarray(model["inverse_base_absolutes"])
    mdir.joinpath("bones.txt").write_text(
        "".join(
            ":".join(
                [name, str(p)]
                + [repr(v) for v in rel[b].ravel().tolist()]
                + [repr(v) for v in inv[b].ravel().tolist()]
            )
            + "\n"
            for b, (name, p) in enumerate(zip(model["bone_names"], model["parents"], strict=True))
        )
    )
    lines = []
    for pos, w in zip(model["base_positions"], model["weights"], strict=True):
        bones = [(b, v) for b, v in enumerate(w) if v > 0]
        atoms = [repr(v) for v in pos[0:3]] + ["0.0"] * 5 + [str(len(bones))]
        atoms += [f"{b}:{v!r}" for b, v in bones]
        lines.append(":".join(atoms))
    mdir.joinpath("vertices.txt").write_text("\n".join(lines) + "\n")
    mdir.joinpath("triangles.txt").write_text(
        "".join(":".join(str(v) for v in t) + "\n" for t in model["triangles"])
    )
    hand = tmp_path / "complicated_small" / "hand1_t26_c3.txt"
    body = ["3 26"]
    body += [
        f"{c} " + " ".join(repr(v) for v in p)
        for c, p in zip(inp["data"]["correspondences"], inp["data"]["points"], strict=True)
    ]
    body += [" ".join(repr(v) for v in u) for u in inp["us"]]
    body += [f"{v!r} " for v in inp["theta"]]
    hand.write_text("\n".join(body) + "\n")
    got = ht.read_gradbench_files(mdir, hand)
    assert got["us"] == inp["us"] and got["theta"] == inp["theta"]
    assert got["data"]["correspondences"] == inp["data"]["correspondences"]
    for key in ("bone_names", "parents", "base_relatives", "triangles", "is_mirrored"):
        assert got["data"]["model"][key] == model[key], key
    np.testing.assert_array_equal(got["data"]["model"]["weights"], model["weights"])
    a, b = ht.from_gradbench(got), ht.from_gradbench(inp)
    assert a.name == "ht_complicated"
    np.testing.assert_array_equal(a.value(), b.value())


# ---------------------------------------------------------------------------
# backends at tiny sizes against the hand-written Jacobian

BACKENDS = [
    "analytic",
    "tensor",
    "jax-eager",
    "jax-jit",
    "torch-autograd",
    "torch-func",
    "autograd",
    "reverse",
]


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_backends_match_hand_jacobian(backend: str, name: str) -> None:
    if backend == "jax-eager" and name == "ht_complicated":
        pytest.skip("jax-eager compiles every op on first use (~15 s here); simple variant only")
    try:
        b = backends.get(backend)
    except backends.MissingFramework as exc:  # pragma: no cover
        pytest.skip(str(exc))
    inst = tiny(name, seed=1)
    got = b.to_numpy(b.prepare("jacobian", inst.f, inst.x)())
    assert rel_err(got, inst.jacobian()) <= 1e-10
