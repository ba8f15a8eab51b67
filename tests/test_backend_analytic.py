"""The "analytic" baseline backend: hand-written derivatives behind the Backend API."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from toyad import backends, numeric, problems
from toyad.backends import InputError, UnsupportedOperation
from toyad.backends.analytic import AnalyticBackend
from toyad.workloads import TINY_OPTIONS

NUMERIC_TOL = 1e-6
NONSMOOTH = {"kmeans"}


@pytest.fixture(scope="module")
def backend() -> AnalyticBackend:
    b = backends.get("analytic")
    assert isinstance(b, AnalyticBackend)
    return b


def instances():
    for name, p in problems.PROBLEMS.items():
        # GradBench workloads at tiny option sizes (their defaults are GradBench's smallest)
        yield pytest.param(p.instance(seed=1, **TINY_OPTIONS.get(name, {})), id=name)


def rel_err(actual, expected) -> float:
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    return float(np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-300))


def test_registry_and_capabilities(backend: AnalyticBackend) -> None:
    assert "analytic" in backends.available()
    assert backends.get("analytic") is backend
    for op in backends.OPERATIONS:
        assert backend.supports(op) and backend.default_mode(op) == "analytic"
    assert not backend.supports("jacobian", "forward")
    assert backend.passes("jacobian", "analytic", 10, 3) is None
    assert "numpy" in backend.versions()


@pytest.mark.parametrize("inst", list(instances()))
def test_matches_instance_and_central_differences(
    backend: AnalyticBackend, inst: problems.Instance
) -> None:
    f, x = inst.f, inst.x
    rng = np.random.default_rng(7)
    v = rng.normal(size=inst.n)
    u = rng.normal(size=inst.m) if not inst.scalar else np.array(rng.normal())
    primal = backend.primal(f, x)
    jac = backend.jacobian(f, x)
    assert primal.shape == (() if inst.scalar else (inst.m,))
    np.testing.assert_array_equal(primal, inst.value())
    np.testing.assert_array_equal(jac, inst.jacobian())
    # the prepare/to_numpy path normalises the Jacobian to (m, n) on its own
    assert backend.to_numpy(backend.prepare("jacobian", f, x)()).shape == (inst.m, inst.n)

    jvp = backend.jvp(f, x, v)
    vjp = backend.vjp(f, x, u)
    assert jvp.shape == (() if inst.scalar else (inst.m,))
    assert vjp.shape == (inst.n,)
    np.testing.assert_allclose(jvp, (inst.jacobian() @ v).reshape(jvp.shape), rtol=1e-14)
    np.testing.assert_allclose(vjp, u.reshape(inst.m) @ inst.jacobian(), rtol=1e-14)

    # against an independent estimate: central differences through f(numpy, x)
    # (kmeans' min has kinks: a point 2.5e-6 from a tie at seed 1, inside a central
    # step; complex step never leaves x's real part)
    method = "complex" if inst.name in NONSMOOTH else "central"
    numeric_jac = numeric.jacobian(lambda z: inst.f(np, z), x, method=method)
    assert rel_err(jac, numeric_jac.reshape(jac.shape)) <= NUMERIC_TOL
    if inst.scalar:
        grad = backend.gradient(f, x)
        np.testing.assert_array_equal(grad, inst.gradient())
        if not inst.has_hessian:  # some GradBench workloads have no hand-written Hessian
            with pytest.raises(UnsupportedOperation):
                backend.hessian(f, x)
            return
        hess = backend.hessian(f, x)
        np.testing.assert_array_equal(hess, inst.hessian())
        grad_fn = (  # complex step needs the raw derivative (inst.gradient casts to float)
            (lambda z: inst.problem.derivative(z, **inst.consts))
            if method == "complex"
            else inst.gradient
        )
        numeric_hess = numeric.jacobian(grad_fn, x, method=method)
        assert rel_err(hess, numeric_hess) <= NUMERIC_TOL


def test_other_points_than_the_seeded_one(backend: AnalyticBackend) -> None:
    inst = problems.get("rosenbrock").instance(n=4)
    y = np.array([1.0, 1.0, 1.0, 1.0])  # the minimum: gradient zero
    np.testing.assert_array_equal(backend.gradient(inst.f, y), np.zeros(4))
    assert backend.primal(inst.f, y) == 0.0


def test_inputs_not_mutated(backend: AnalyticBackend) -> None:
    for p in problems.PROBLEMS.values():
        inst = p.instance()
        x, v, u = inst.x + 0.0, np.ones(inst.n), np.ones(inst.m)
        keep = (x.copy(), v.copy(), u.copy())
        for op in ("primal", "jacobian", "jvp", "vjp") + (
            ("gradient",) + (("hessian",) if inst.has_hessian else ()) if p.scalar else ()
        ):
            backend.run(op, inst.f, x, v=v, u=u)
        for a, b in zip((x, v, u), keep, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(inst.x, p.instance().x)


def test_errors(backend: AnalyticBackend) -> None:
    def plain(xp, x):
        return xp.sum(x)

    with pytest.raises(UnsupportedOperation, match="analytic needs a toyad.problems function"):
        backend.gradient(plain, np.ones(3))
    with pytest.raises(NotImplementedError):  # UnsupportedOperation is one
        backend.primal(lambda x: x, np.ones(3))

    dense = problems.get("dense_tanh").instance(n=4, m=3)
    with pytest.raises(InputError, match=r"gradient needs a scalar-valued f.*dense_tanh"):
        backend.gradient(dense.f, dense.x)
    with pytest.raises(InputError, match="hessian needs a scalar-valued f"):
        backend.hessian(dense.f, dense.x)
    with pytest.raises(InputError, match=r"x must have shape \(4,\)"):
        backend.jacobian(dense.f, np.ones(5))
    with pytest.raises(InputError, match=r"must have shape \(3,\)"):
        backend.vjp(dense.f, dense.x, np.ones(2))
    with pytest.raises(InputError, match="tangent v"):
        backend.jvp(dense.f, dense.x, np.ones(3))
    with pytest.raises(UnsupportedOperation, match="supported modes: analytic"):
        backend.jacobian(dense.f, dense.x, mode="forward")

    scalar = problems.get("fan_in").instance(n=3)
    with pytest.raises(InputError, match="0-d or"):
        backend.vjp(scalar.f, scalar.x, np.ones(2))
    np.testing.assert_allclose(backend.vjp(scalar.f, scalar.x, [2.0]), 2 * scalar.gradient())

    # a scalar problem without a hand-written Hessian
    no_hess = dataclasses.replace(problems.get("fan_in"), hessian=None).instance(n=3)
    with pytest.raises(UnsupportedOperation, match="no analytic Hessian") as info:
        backend.hessian(no_hess.f, no_hess.x)
    assert info.value.backend == "analytic" and info.value.operation == "hessian"
