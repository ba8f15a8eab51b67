"""The ``tensor`` and ``tensor-unbatched`` backends against the analytic
derivatives of every benchmark problem, every supported operation and mode
(≤ 1e-12 relative), plus the adapter's contract (shapes, errors, passes)."""

from __future__ import annotations

import numpy as np
import pytest

from toyad import backends, problems
from toyad.backends.base import InputError, UnknownBackend, UnsupportedOperation
from toyad.backends.tensor import make
from toyad.workloads import TINY_OPTIONS

RTOL = 1e-12
BACKENDS = ("tensor", "tensor-unbatched")


def sizes(problem: problems.Problem) -> list[dict]:
    if problem.name == "determinant":
        return [{"n": 9}, {"n": 16}]
    if problem.workload is not None:  # GradBench workloads: tiny option sizes
        return [dict(TINY_OPTIONS[problem.name])]
    if problem.scales == ():
        return [{}]
    if problem.scales == ("m",):
        return [{"m": 1}, {"m": 7}]
    if problem.scales == ("n", "m"):
        return [{"n": 1, "m": 1}, {"n": 6, "m": 4}, {"n": 3, "m": 9}]
    return [{"n": 2}, {"n": 11}]


INSTANCES = [
    pytest.param(name, kw, id=f"{name}-{'-'.join(f'{k}{v}' for k, v in kw.items()) or 'fixed'}")
    for name in problems.names()
    for kw in sizes(problems.get(name))
]


def assert_relative(actual: np.ndarray, expected: np.ndarray) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == np.float64
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    error = float(np.max(np.abs(actual - expected), initial=0.0))
    assert error <= RTOL * scale, f"max error {error:.3e} > {RTOL:g} x {scale:.3g}"


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize(("problem_name", "size"), INSTANCES)
def test_every_operation_matches_the_analytic_derivatives(backend_name, problem_name, size):
    backend = backends.get(backend_name)
    problem = problems.get(problem_name)
    inst = problem.instance(seed=0, **size)
    x = inst.x.copy()
    jac = inst.jacobian()
    rng = np.random.default_rng(7)
    v = rng.standard_normal(inst.n)
    u = rng.standard_normal(()) if problem.scalar else rng.standard_normal(inst.m)

    assert_relative(backend.primal(inst.f, x), inst.value())
    for mode in backend.capabilities["jacobian"]:
        assert_relative(backend.jacobian(inst.f, x, mode=mode), jac)
    if problem.scalar:
        for mode in backend.capabilities["gradient"]:
            assert_relative(backend.gradient(inst.f, x, mode=mode), inst.gradient())
        expected_hessian = inst.hessian()
        if expected_hessian is not None:
            assert_relative(backend.hessian(inst.f, x), expected_hessian)
        assert_relative(backend.jvp(inst.f, x, v), (jac @ v).reshape(()))
    else:
        assert_relative(backend.jvp(inst.f, x, v), jac @ v)
    assert_relative(backend.vjp(inst.f, x, u), np.reshape(u, -1) @ jac)
    assert np.array_equal(x, inst.x)  # inputs are never mutated


def test_prepared_calls_repeat_and_return_float64() -> None:
    backend = backends.get("tensor")
    inst = problems.get("rosenbrock").instance(n=5, seed=0)
    call = backend.prepare("gradient", inst.f, inst.x, mode="reverse")
    first, second = call(), call()
    assert isinstance(first, np.ndarray) and first.dtype == np.float64
    assert np.array_equal(first, second)
    assert_relative(backend.to_numpy(first), inst.gradient())


def test_capabilities_and_passes() -> None:
    batched, looped = backends.get("tensor"), backends.get("tensor-unbatched")
    for b in (batched, looped):
        assert b.capabilities["hessian"] == ("forward-over-reverse",)
        assert b.default_mode("gradient") == "reverse"
        assert b.passes("jacobian", "forward", 10, 3) == 10
        assert b.passes("jacobian", "reverse", 10, 3) == 3
    assert "ONE pass" in batched.description and "loop" in looped.description
    assert batched.variant == "batched" and looped.variant == "unbatched"


def test_errors() -> None:
    backend = backends.get("tensor")
    dense = problems.get("dense_tanh").instance(n=3, m=2, seed=0)
    with pytest.raises(InputError, match="scalar-valued"):
        backend.gradient(dense.f, dense.x)
    with pytest.raises(UnsupportedOperation, match="reverse-over-reverse"):
        backend.hessian(
            problems.get("rosenbrock").instance(n=3).f, np.ones(3), mode="reverse-over-reverse"
        )
    with pytest.raises(InputError, match=r"cotangent u has shape \(3,\)"):
        backend.vjp(dense.f, dense.x, np.ones(3))
    with pytest.raises(UnknownBackend, match="tensor-unbatched"):
        make("tensor-sideways")
