"""GradBench workloads (toyad/workloads): inputs as GradBench makes them, the
hand-written derivatives against independent oracles, the backends against
them, and the output JSON shapes GradBench's evals expect."""

from __future__ import annotations

import json

import numpy as np
import pytest

from toyad import backends, numeric, problems
from toyad.workloads import WORKLOADS, ba, gmm, gradbench_mismatch, kmeans, lstm, ode

ORACLE_TOL = 1e-12
BACKEND_TOL = 1e-10


def rel_err(actual, expected) -> float:
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    return float(np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-300))


# Tiny instances (options outside GradBench's sweeps draw straight after seeding).
TINY = {
    "hello": {},
    "gmm": {"d": 3, "k": 2, "points": 7},
    "lstm": {"l": 2, "c": 5},
    "ba": {"cameras": 2, "points": 3, "observations": 12},
    "det": {"ell": 3},
    "kmeans": {"k": 3, "points": 12, "d": 2},
    "llsq": {"points": 9, "terms": 4},
    "lse": {"size": 6},
    "ode": {"size": 5, "steps": 3},
    "ode_last": {"size": 5, "steps": 3},
    "ht": {"points": 4, "vertices": 24},
    "ht_complicated": {"points": 3, "vertices": 24},
}
WORKLOAD_PROBLEMS = [p.name for p in problems.PROBLEMS.values() if p.workload]
PROBLEM_WORKLOADS = {k: w for k, w in WORKLOADS.items() if not w.nested}  # f(xp, x) problems


def test_catalog_lists_every_workload_problem() -> None:
    assert set(WORKLOAD_PROBLEMS) == set(TINY)
    assert set(WORKLOADS) == {
        *("hello", "gmm", "lstm", "ba", "ht", "det", "kmeans", "llsq", "lse", "ode"),
        *("particle", "saddle"),  # nested: tests/test_nested.py
    }
    for w in PROBLEM_WORKLOADS.values():
        for problem, op in w.functions.values():
            assert problems.get(problem).workload == w.name
            assert op in ("primal", "gradient", "jacobian", "dir")
        assert w.presets and w.quick
    original = ["notebook_f", "sin_square", "rosenbrock", "fan_in", "fan_out", "dense_tanh"]
    assert problems.names()[: len(original)] == original


@pytest.mark.parametrize("name", WORKLOAD_PROBLEMS)
def test_default_instance_is_the_smallest_preset_and_sized_by_options(name: str) -> None:
    p = problems.get(name)
    assert p.scales == ()
    inst = p.instance()
    assert inst.x.shape == (inst.n,)
    assert inst.n == p.default_n and inst.m == p.default_m
    assert dict(p.presets[0].options) == {k: inst.options[k] for k in p.presets[0].options}
    out = inst.value()
    assert out.shape == (() if p.scalar else (inst.m,))


@pytest.mark.parametrize("name", WORKLOAD_PROBLEMS)
def test_f_through_numpy_matches_the_primal(name: str) -> None:
    inst = problems.get(name).instance(**TINY[name])
    np.testing.assert_allclose(np.asarray(inst.f(np, inst.x)), inst.value(), rtol=1e-13)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", WORKLOAD_PROBLEMS)
def test_hand_derivatives_match_complex_step(name: str, seed: int) -> None:
    """Complex step on f(numpy, ·) is exact to rounding (no subtraction); kmeans
    (a min over distances, fine for complex-step too) included."""
    inst = problems.get(name).instance(seed=seed, **TINY[name])

    def f(z):
        return np.asarray(inst.f(np, z))

    jac = numeric.jacobian(f, inst.x, method="complex").reshape(inst.m, inst.n)
    assert rel_err(inst.jacobian(), jac) <= ORACLE_TOL
    if inst.has_hessian:
        h = numeric.hessian(f, inst.x, method="richardson")
        assert rel_err(inst.hessian(), h) <= 1e-7


def test_ode_last_is_the_last_row_of_ode() -> None:
    a = problems.get("ode").instance(size=7, steps=4)
    b = problems.get("ode_last").instance(size=7, steps=4)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_allclose(a.jacobian()[-1], b.gradient(), rtol=1e-14)


def test_kmeans_dir_is_centroid_minus_cluster_mean() -> None:
    inst = problems.get("kmeans").instance(k=3, points=30, d=2)
    c = inst.consts
    pts, cen = c["points"], inst.x.reshape(3, 2)
    near = np.argmin(((pts[:, None] - cen[None]) ** 2).sum(-1), axis=1)
    expected = np.stack([cen[j] - pts[near == j].mean(axis=0) for j in range(3)])
    np.testing.assert_allclose(kmeans.reference_dir(inst), expected, rtol=1e-13)
    hdiag = np.diag(inst.hessian())
    np.testing.assert_allclose(kmeans.dir_from(inst.gradient(), hdiag, 3, 2), expected)


def test_kmeans_cost_of_zero_is_judged_against_its_terms() -> None:
    """k = n: every point is a centroid, the cost is exactly 0, and the body's expanded
    ‖p‖² - 2 p·c + ‖c‖² leaves rounding of its terms' size; a real error still shows."""
    from toyad.bench.accuracy import EXACT_TOLERANCE, max_rel_error

    inst = problems.get("kmeans").instance(k=40, points=40, d=8)
    assert inst.value() == 0.0
    computed = np.asarray(inst.f(np, inst.x))
    scale = inst.value_scale()
    assert scale > 1.0 and computed != 0.0  # the cancellation really leaves rounding
    assert max_rel_error(computed, inst.value()) > 1e200  # relative to 0: meaningless
    assert max_rel_error(computed, inst.value(), scale) <= EXACT_TOLERANCE
    assert max_rel_error(computed + 1e-9 * scale, inst.value(), scale) > EXACT_TOLERANCE
    assert problems.get("rosenbrock").instance(n=4).value_scale() == 0.0


def test_lse_gradient_tolerance_grows_with_n_as_its_argmax_rounding() -> None:
    """The one-hot derivative of max x adds 1 - Σ softmax (one rounding) at the argmax,
    relative to max softmax ~ e/n: the measured error at n = 80,000 is within it."""
    from toyad.bench.accuracy import EPS, max_rel_error, tolerance_for

    small = problems.get("lse").instance(size=2500)
    assert tolerance_for("tensor", "lse", "gradient", small) == 1e-11
    inst = problems.get("lse").instance(size=80000)
    tol = tolerance_for("tensor", "lse", "gradient", inst)
    assert tol == 2.0 * 80000 * EPS
    g = inst.gradient()
    one_rounding = g.copy()
    one_rounding[np.argmax(inst.x)] += EPS
    assert max_rel_error(one_rounding, g) <= tol
    assert max_rel_error(g * (1 + 1e-9), g) > tol  # a real error is still wrong


# ---------------------------------------------------------------------------
# GradBench's inputs: numbers read off GradBench's own generator code
# (evals/<eval>/run.py at f26651a7, run in a scratch script)


def test_gmm_input_matches_gradbench_generator() -> None:
    inp = gmm.gradbench_input(d=2, k=5)  # evals/gmm/run.py generate(seed=31337, d=2, k=5, ...)
    assert inp["x"][0] == [1.215408162057621, -1.2955735712157117]
    assert inp["alpha"][0] == -0.6545977165956969
    assert inp["l"][4] == [-1.5264035786476504]
    assert set(inp) == {"d", "k", "n", "x", "m", "gamma", "alpha", "mu", "q", "l"}
    inst = problems.get("gmm").instance()
    assert inst.x[0] == inp["alpha"][0] and inst.consts["data"][0, 0] == inp["x"][0][0]


def test_seeded_sweep_inputs_match_gradbench() -> None:
    # np.random.seed(31337) then np.random.rand(...) per size in the sweep order
    first = [0.7218521074240813, 0.9664407992811007]
    assert problems.get("lse").instance().x[:2].tolist() == first
    assert problems.get("llsq").instance().x[:2].tolist() == first
    assert problems.get("ode").instance().x[:2].tolist() == first
    assert problems.get("det").instance().x[:2].tolist() == first
    assert problems.get("det").instance(ell=6).x[0] == 0.9265852879359989  # after ell=5's draw
    assert problems.get("kmeans").instance().x[:2].tolist() == [
        0.14040654751086667,
        0.747046981118097,
    ]


def test_lstm_input_shapes_and_bits() -> None:
    inp = lstm.gradbench_input(2, 1024)
    assert np.shape(inp["main_params"]) == (4, 56)
    assert np.shape(inp["extra_params"]) == (3, 14)
    assert np.shape(inp["state"]) == (4, 14)
    assert np.shape(inp["sequence"]) == (1024, 14)
    assert "\u2019" in lstm.text(3) and lstm.char_bits(lstm.text(2)) == 14
    assert lstm.gradbench_input(2, 4) == lstm.gradbench_input(2, 4)  # seeded


def test_ba_reader_reads_the_gradbench_file_format(tmp_path) -> None:
    inp = ba.gradbench_input(2, 3, 12)
    path = tmp_path / "ba0_n2_m3_p12.txt"
    path.write_text(
        "2 3 12\n"
        + " ".join(f"{v:.6f}" for v in inp["cam"])
        + " \n"
        + " ".join(f"{v:.6f}" for v in inp["x"])
        + " \n"
        + f"{inp['w']:.6f} \n"
        + " ".join(f"{v:.6f}" for v in inp["feat"])
        + "\n"
    )
    got = ba.read_gradbench_file(path)
    assert (got["n"], got["m"], got["p"]) == (2, 3, 12)
    np.testing.assert_allclose(got["cam"], inp["cam"], atol=1e-6)
    assert len(got["x"]) == 3 and len(got["feat"]) == 2
    inst = ba.from_gradbench(got)
    assert (inst.n, inst.m) == (11 * 2 + 3 * 3 + 12, 36)


@pytest.mark.parametrize("name", sorted(PROBLEM_WORKLOADS))
def test_from_gradbench_round_trip(name: str) -> None:
    w = WORKLOADS[name]
    problem = problems.get(w.functions[next(iter(w.functions))][0])
    preset = problem.presets[0]
    inst = w.from_gradbench(w.gradbench_input(**preset.params))
    ref = problem.instance(**preset.options)
    np.testing.assert_array_equal(inst.x, ref.x)
    assert (inst.n, inst.m) == (ref.n, ref.m)


# ---------------------------------------------------------------------------
# output JSON


def _outputs(name: str) -> dict:
    w = WORKLOADS[name]
    out = {}
    for function, (problem, op) in w.functions.items():
        p = problems.get(problem)
        inst = p.instance(**TINY[problem])
        if op == "primal":
            result = inst.value()
        elif op == "gradient":
            result = inst.gradient()
        elif op == "jacobian":
            result = inst.jacobian()
        else:
            result = kmeans.reference_dir(inst)
        out[function] = (w.to_gradbench(function, result, inst), inst)
    return out


@pytest.mark.parametrize("name", sorted(PROBLEM_WORKLOADS))
def test_to_gradbench_shapes(name: str) -> None:
    outs = _outputs(name)
    for function, (out, inst) in outs.items():
        json.loads(json.dumps(out, allow_nan=False))  # plain JSON
        assert gradbench_mismatch(out, out) == []
        c = inst.consts
        if name == "gmm" and function == "jacobian":
            d, k = c["d"], c["k"]
            assert list(out) == ["alpha", "mu", "q", "l"]
            assert np.shape(out["alpha"]) == (k,) and np.shape(out["mu"]) == (k, d)
            assert np.shape(out["q"]) == (k, d) and np.shape(out["l"]) == (k, d * (d - 1) // 2)
        elif name == "ba" and function == "objective":
            p = c["p"]
            assert (
                out["reproj_error"]["repeated"] == p and len(out["reproj_error"]["elements"]) == 2
            )
            assert out["w_err"]["repeated"] == p and isinstance(out["w_err"]["element"], float)
        elif name == "ba" and function == "jacobian":
            n, m, p = c["n"], c["m"], c["p"]
            assert [len(out[k]) for k in ("rows", "cols", "vals")] == [31, 31, 31]
            assert out["rows"][-1] == 31 * p and out["cols"][-1] == 11 * n + 3 * m + p - 1
            assert out == ba.reference_csr(inst)
        elif name == "kmeans" and function == "dir":
            assert np.shape(out) == (c["k"], c["d"])
        elif name == "ode":
            assert np.shape(out) == (inst.n,)
        elif name == "ht":  # more in tests/test_workload_ht.py
            assert np.shape(out) == ((inst.m,) if function == "objective" else (inst.m, 26))
        elif function in ("objective", "primal", "cost", "square", "double"):
            assert isinstance(out, float)
        else:
            assert np.shape(out) == (inst.n,)


def test_gradbench_mismatch_follows_gradbench_rules() -> None:
    assert gradbench_mismatch(1.0, 1.00005) == []
    assert gradbench_mismatch(1000.0, 1000.1) == []  # relative to |a| + |e|
    assert gradbench_mismatch(0.0, 5e-5) == []  # absolute below 1
    assert len(gradbench_mismatch(1.0, 1.001)) == 1
    assert gradbench_mismatch(1, 1.0) == []  # int vs float fudged
    assert gradbench_mismatch({"a": [1.0]}, {"a": [1.0], "b": 2})  # key sets differ
    assert gradbench_mismatch([1.0, 2.0], [1.0])  # lengths differ
    assert gradbench_mismatch([1.0], 1.0)  # list vs number
    assert gradbench_mismatch(None, 0.0)
    assert gradbench_mismatch(2, 3)  # ints exact
    assert gradbench_mismatch(np.array([1.0, 2.0]), [1.0, 2.0]) == []


# ---------------------------------------------------------------------------
# backends at tiny sizes against the hand-written derivatives

FRAMEWORKS = [
    "analytic",
    "tensor",
    "jax-eager",
    "jax-jit",
    "torch-autograd",
    "torch-func",
    "autograd",
]
TOYS = ["dual", "reverse", "symbolic"]


def _backend(name: str):
    try:
        return backends.get(name)
    except backends.MissingFramework as exc:  # pragma: no cover
        pytest.skip(str(exc))


@pytest.mark.parametrize("problem", WORKLOAD_PROBLEMS)
@pytest.mark.parametrize("backend", FRAMEWORKS + TOYS)
def test_backends_match_hand_derivatives(backend: str, problem: str) -> None:
    if problem.startswith("ht") and backend.startswith("jax"):
        pytest.skip("ht: jax in tests/test_workload_ht.py (first-use compiles take ~10-25 s)")
    b = _backend(backend)
    opts = dict(TINY[problem])
    if backend in TOYS and problem == "lstm":
        opts["c"] = 3
    inst = problems.get(problem).instance(**opts)
    op = "gradient" if inst.scalar else "jacobian"
    got = b.to_numpy(b.prepare(op, inst.f, inst.x)())
    ref = inst.gradient() if inst.scalar else inst.jacobian()
    assert rel_err(got, ref) <= BACKEND_TOL


@pytest.mark.parametrize("backend", ["tensor", "torch-autograd", "autograd"])
def test_forward_mode_jacobians(backend: str) -> None:
    b = _backend(backend)
    modes = b.capabilities.get("jacobian", ())
    if "forward" not in modes:
        pytest.skip(f"{backend} has no forward jacobian")
    for problem in ("gmm", "kmeans", "lse", "ba"):
        inst = problems.get(problem).instance(**TINY[problem])
        got = b.to_numpy(b.prepare("jacobian", inst.f, inst.x, mode="forward")())
        assert rel_err(got.reshape(inst.m, inst.n), inst.jacobian()) <= BACKEND_TOL, problem


def test_micrograd_says_what_it_cannot_express() -> None:
    b = _backend("micrograd")
    inst = problems.get("lse").instance(size=4)
    with pytest.raises(backends.UnsupportedOperation, match="max"):
        b.prepare("gradient", inst.f, inst.x)


def test_gradbench_ode_gradient_path() -> None:
    inp = ode.gradbench_input(5, 3)
    inst = ode.from_gradbench(inp, "gradient")
    assert inst.name == "ode_last"
    out = ode.to_gradbench("gradient", inst.gradient(), inst)
    assert len(out) == 5


def test_a_scalar_engines_lse_gradient_is_held_to_its_one_by_one_sum() -> None:
    """The reverse toy adds n softmax terms one by one (a random walk of roundings): its
    error at n = 10,000 is over the vectorised tolerance and within its own."""
    from toyad import backends
    from toyad.bench.accuracy import EPS, max_rel_error, tolerance_for

    inst = problems.get("lse").instance(size=10000)
    got = backends.get("reverse").gradient(inst.f, inst.x)
    error = max_rel_error(got, inst.gradient())
    assert tolerance_for("tensor", "lse", "gradient", inst) < error
    assert error <= tolerance_for("reverse", "lse", "gradient", inst, per_op=True)
    assert tolerance_for("reverse", "lse", "gradient", inst, per_op=True) == 10000**1.5 * EPS
