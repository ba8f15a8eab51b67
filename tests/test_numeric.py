"""Numeric differentiation: the notebook's numbers, and each method's accuracy
against analytic derivatives."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from toyad import numeric, problems
from toyad.numeric import HESSIAN_TOLERANCE, METHODS, TOLERANCE


def rel_err(actual, expected) -> float:
    """Norm-wise relative error max |a - e| / max |e| (as TOLERANCE is documented)."""
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    return float(np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-300))


def notebook_f(x, y):
    return x * x * y + y + 2


# ---------------------------------------------------------------------------
# the reference notebook


def test_notebook_gradients_close_to_but_not_24_10() -> None:
    vars_list = [3, 4]
    df = numeric.gradients(notebook_f, vars_list)
    assert isinstance(df, list) and len(df) == 2
    assert vars_list == [3, 4]  # the notebook copies the list before tweaking
    # ((3 + eps)² 4 - 36) / eps = 24 + 4 eps; df/dy is exact up to rounding (f is linear in y)
    assert df[0] == pytest.approx(24.0004, rel=1e-8)
    assert df[1] == pytest.approx(10.0, rel=1e-8)
    assert df != [24, 10] and df[0] != 24
    assert numeric.gradients(notebook_f, [3.0, 4.0], eps=1e-6)[0] == pytest.approx(24, abs=1e-5)


def test_notebook_hessian_by_nested_gradients() -> None:
    def dfdx(x, y):
        return numeric.gradients(notebook_f, [x, y])[0]

    def dfdy(x, y):
        return numeric.gradients(notebook_f, [x, y])[1]

    assert (dfdx(3.0, 4.0), dfdy(3.0, 4.0)) == pytest.approx((24, 10), abs=1e-3)
    d2f = [numeric.gradients(dfdx, [3, 4]), numeric.gradients(dfdy, [3, 4])]
    np.testing.assert_allclose(d2f, [[8, 6], [6, 0]], atol=2e-3)
    assert not np.array_equal(d2f, [[8, 6], [6, 0]])


def test_sin_square_at_3() -> None:
    expected = 6 * math.cos(9)  # d/dx sin(x²) = 2x cos(x²)
    (approx,) = numeric.gradients(lambda x: math.sin(x**2), [3.0])
    assert approx == pytest.approx(expected, abs=1e-3) and approx != expected
    assert approx == pytest.approx(-5.4668, abs=1e-3)
    for method in METHODS:
        d = numeric.derivative(lambda x: np.sin(x**2), 3.0, method=method)
        assert isinstance(d, float)
        assert abs(d - expected) / abs(expected) <= TOLERANCE[method]


# ---------------------------------------------------------------------------
# accuracy per method, against analytic derivatives


def test_documented_tolerances_meet_the_targets() -> None:
    assert set(TOLERANCE) == set(METHODS) == set(HESSIAN_TOLERANCE)
    assert TOLERANCE["central"] <= 1e-8
    assert TOLERANCE["richardson"] <= 1e-11
    assert TOLERANCE["complex"] <= 1e-14


# smooth functions with their derivatives written by hand: (f, jacobian, x)
ZOO = {
    "exp_sin": (
        lambda x: np.exp(x[0]) * np.sin(x[0]),
        lambda x: np.array([[np.exp(x[0]) * (np.sin(x[0]) + np.cos(x[0]))]]),
        [0.7],
    ),
    "rational": (
        lambda x: x[0] / (1 + x[1] ** 2),
        lambda x: np.array([[1 / (1 + x[1] ** 2), -2 * x[0] * x[1] / (1 + x[1] ** 2) ** 2]]),
        [1.3, -0.4],
    ),
    "vector": (  # R^3 -> R^2
        lambda x: np.stack([x[0] * x[1] * x[2], np.log(x[0]) + np.sqrt(x[2])]),
        lambda x: np.array(
            [[x[1] * x[2], x[0] * x[2], x[0] * x[1]], [1 / x[0], 0.0, 0.5 / np.sqrt(x[2])]]
        ),
        [2.0, -1.5, 0.3],
    ),
    "large_x": (
        lambda x: np.sum(np.sin(x / 100.0) * x),
        lambda x: (np.sin(x / 100.0) + np.cos(x / 100.0) * x / 100.0)[None, :],
        [250.0, -80.0],
    ),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(ZOO))
def test_zoo_jacobian_meets_tolerance(case: str, method: str) -> None:
    f, jac, x = ZOO[case]
    x = np.array(x)
    assert rel_err(numeric.jacobian(f, x, method=method), jac(x)) <= TOLERANCE[method]


def catalog(max_n: int = 16):
    for name, p in problems.PROBLEMS.items():
        for seed in (0, 1):
            inst = p.instance(seed=seed)
            if inst.n <= max_n:
                yield pytest.param(inst, id=f"{name}-{seed}")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("inst", list(catalog()))
def test_catalog_jacobian_meets_tolerance(inst: problems.Instance, method: str) -> None:
    def f(x):
        return inst.f(np, x)

    assert rel_err(numeric.jacobian(f, inst.x, method=method), inst.jacobian()) <= TOLERANCE[method]
    if inst.scalar:
        assert (
            rel_err(numeric.gradient(f, inst.x, method=method), inst.gradient())
            <= (TOLERANCE[method])
        )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("inst", [p for p in catalog(max_n=9) if p.values[0].has_hessian])
def test_catalog_hessian_meets_tolerance(inst: problems.Instance, method: str) -> None:
    h = numeric.hessian(lambda x: inst.f(np, x), inst.x, method=method)
    np.testing.assert_array_equal(h, h.T)
    assert rel_err(h, inst.hessian()) <= HESSIAN_TOLERANCE[method]


def test_complex_step_and_richardson_targets_on_a_larger_problem() -> None:
    inst = problems.get("dense_tanh").instance(n=40, m=12, seed=4)

    def f(x):
        return inst.f(np, x)

    assert rel_err(numeric.jacobian(f, inst.x, method="complex"), inst.jacobian()) <= 1e-14
    assert rel_err(numeric.jacobian(f, inst.x, method="richardson"), inst.jacobian()) <= 1e-11
    assert rel_err(numeric.jacobian(f, inst.x, method="central"), inst.jacobian()) <= 1e-8


def test_derivative_of_vector_function() -> None:
    c = np.array([0.5, 1.0, 2.0])
    for method in METHODS:
        d = numeric.derivative(lambda t: np.sin(c * t), 0.4, method=method)
        assert d.shape == (3,)
        assert rel_err(d, c * np.cos(c * 0.4)) <= TOLERANCE[method]


def test_richardson_survives_steps_leaving_the_domain() -> None:
    # h0 = 0.5 takes log below 0 at x = 0.3: those estimates are NaN and must not win
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = numeric.derivative(np.log, 0.3, method="richardson")
    assert abs(d - 1 / 0.3) * 0.3 <= TOLERANCE["richardson"]


# ---------------------------------------------------------------------------
# steps


def test_default_steps_are_the_documented_ones() -> None:
    eps = np.finfo(float).eps
    x = np.array([0.0, 0.5, -10.0])
    scale = np.array([1.0, 1.0, 10.0])
    np.testing.assert_allclose(numeric.default_step("forward", x), np.sqrt(eps) * scale)
    np.testing.assert_allclose(numeric.default_step("central", x), np.cbrt(eps) * scale)
    np.testing.assert_array_equal(numeric.default_step("complex", x), 1e-200)
    np.testing.assert_allclose(numeric.default_step("richardson", x), 0.5 * scale)


def test_step_sweep_shows_the_v_curve() -> None:
    def f(x):
        return np.exp(x[0]) * np.sin(x[0])

    x = np.array([0.7])
    exact = np.exp(0.7) * (np.sin(0.7) + np.cos(0.7))
    steps = 10.0 ** np.arange(-13, 0)
    errors = [abs(numeric.gradient(f, x, method="central", step=h)[0] - exact) for h in steps]
    best = int(np.argmin(errors))
    assert 0 < best < len(steps) - 1  # too small: rounding; too large: truncation
    assert errors[0] > 100 * errors[best] and errors[-1] > 100 * errors[best]
    default = abs(numeric.gradient(f, x, method="central")[0] - exact)
    assert default <= 10 * errors[best]
    # the complex step has no rounding arm: tiny steps stay exact
    for h in (1e-8, 1e-100, 1e-300):
        got = numeric.gradient(f, x, method="complex", step=h)[0]
        assert abs(got - exact) <= 2e-16 * abs(exact)


def test_step_per_coordinate_and_bad_steps() -> None:
    def f(x):
        return np.sum(x**3)

    x = np.array([1.0, 2.0])
    g = numeric.gradient(f, x, method="forward", step=[1e-3, 1e-1])
    assert g[0] == pytest.approx(3 + 3e-3, rel=1e-6) and g[1] == pytest.approx(12 + 0.61, rel=1e-6)
    for bad in (0.0, -1e-3, np.inf, [1e-3, 1e-3, 1e-3], "big"):
        with pytest.raises(ValueError, match="step must be"):
            numeric.gradient(f, x, step=bad)


# ---------------------------------------------------------------------------
# errors and hygiene


@pytest.mark.parametrize("fn", [numeric.jacobian, numeric.gradient, numeric.hessian])
def test_unknown_method(fn) -> None:
    with pytest.raises(ValueError, match="forward, central, richardson, complex"):
        fn(lambda x: np.sum(x), np.ones(2), method="backward")
    with pytest.raises(ValueError, match="unknown method 'five-point'"):
        numeric.derivative(np.sin, 1.0, method="five-point")
    with pytest.raises(ValueError, match="unknown method"):
        numeric.default_step("nope", [1.0])


def test_complex_step_needs_complex_arithmetic() -> None:
    with pytest.raises(TypeError, match="complex input"):
        numeric.gradient(lambda x: np.sum(np.abs(x) ** 2), np.ones(2), method="complex")


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="gradient needs a scalar f"):
        numeric.gradient(lambda x: x * 2, np.ones(3))
    with pytest.raises(ValueError, match="hessian needs a scalar f"):
        numeric.hessian(lambda x: x * 2, np.ones(3))
    with pytest.raises(ValueError, match="1-D"):
        numeric.jacobian(lambda x: x, np.ones((2, 2)))
    with pytest.raises(ValueError, match="empty"):
        numeric.jacobian(lambda x: x, np.ones(0))


def test_inputs_not_mutated_and_shapes() -> None:
    x = np.array([0.3, -0.2, 1.1])
    keep = x.copy()

    def f(v):
        return np.stack([np.sum(v**2), v[0] * v[1]])

    for method in METHODS:
        assert numeric.jacobian(f, x, method=method).shape == (2, 3)
        assert numeric.jacobian(lambda v: np.sum(v), x, method=method).shape == (1, 3)
        assert numeric.hessian(lambda v: np.sum(v**3), x, method=method).shape == (3, 3)
        np.testing.assert_array_equal(x, keep)
