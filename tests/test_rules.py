"""Each primitive of the rule table, in each engine, against a numeric oracle.

The oracle is Richardson-extrapolated central differences on plain floats;
first and second derivatives, at seeded random points inside each domain.
"""

import math
import warnings

import numpy as np
import pytest

from toyad import dual, reverse, rules, symbolic

# (rule name, a point sampler inside its smooth domain)
SMOOTH_UNARY = {
    "negative": (-2.0, 2.0),
    "sin": (-3.0, 3.0),
    "cos": (-3.0, 3.0),
    "tan": (-1.2, 1.2),
    "exp": (-2.0, 2.0),
    "log": (0.2, 3.0),
    "sqrt": (0.2, 3.0),
    "tanh": (-2.0, 2.0),
    "arctan": (-2.0, 2.0),
    "absolute": (0.2, 2.0),
    "relu": (0.2, 2.0),
}
BINARY = {
    "add": ((-2, 2), (-2, 2)),
    "sub": ((-2, 2), (-2, 2)),
    "mul": ((-2, 2), (-2, 2)),
    "div": ((-2, 2), (0.5, 2)),
    "pow": ((0.3, 2), (-1.5, 2.5)),
}


def points(lo, hi, k=4, seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, size=k).tolist()


def oracle(g, x, order=1):
    """d^order g / dx^order by Richardson extrapolation of central differences."""
    if order == 2:
        return oracle(lambda t: oracle(g, t), x)
    h, table = 1e-2, []
    for _ in range(5):
        table.append((g(x + h) - g(x - h)) / (2 * h))
        h /= 2
    for level in range(1, len(table)):
        factor = 4.0**level
        table = [(factor * table[i + 1] - table[i]) / (factor - 1) for i in range(len(table) - 1)]
    return table[0]


def unary_fn(name):
    return lambda x: rules.UNARY[name].kernel(x)


def test_every_rule_has_its_engines_methods():
    for name in rules.UNARY:
        for cls in (dual.DualNumber, symbolic.Expr, reverse.Node):
            assert callable(getattr(cls, name)), (cls, name)
    assert symbolic.UNARY_CLASSES.keys() == reverse.UNARY_CLASSES.keys() == rules.UNARY.keys()


@pytest.mark.parametrize("name", sorted(SMOOTH_UNARY))
def test_unary_first_and_second_derivatives(name):
    lo, hi = SMOOTH_UNARY[name]
    g = unary_fn(name)
    for x0 in points(lo, hi):
        d1, d2 = oracle(g, x0), oracle(g, x0, order=2)
        tol1, tol2 = 1e-7 * max(1, abs(d1)), 1e-4 * max(1, abs(d2))

        def method(obj, attr=name):
            return getattr(obj, attr)()

        # dual numbers: first order, then nested (second order)
        assert dual.derivative(lambda t: method(t), x0) == pytest.approx(d1, abs=tol1)
        second = dual.derivative(lambda s: dual.derivative(lambda t: method(t), s), x0)
        assert second == pytest.approx(d2, abs=tol2)

        # symbolic forward mode
        x = symbolic.Var("x", x0)
        e = method(x)
        assert e.gradient(x).evaluate() == pytest.approx(d1, abs=tol1)
        assert e.gradient(x).gradient(x).evaluate() == pytest.approx(d2, abs=tol2)

        # reverse mode, and its symbolic reverse pass differentiated again
        xr = reverse.Var("x", x0)
        y = method(xr)
        y.backward()
        assert xr.gradient == pytest.approx(d1, abs=tol1)
        assert reverse.hessian(y, [xr])[0, 0] == pytest.approx(d2, abs=tol2)
        rebuild = lambda xr=xr: method(xr)  # noqa: E731
        h = reverse.hessian(rebuild, [xr], "forward-over-reverse")
        assert h[0, 0] == pytest.approx(d2, abs=tol2)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_partials_first_and_second_order(name):
    (alo, ahi), (blo, bhi) = BINARY[name]
    kernel = rules.BINARY[name].kernel
    ops = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b,
        "pow": lambda a, b: a**b,
    }
    op = ops[name]
    rng = np.random.default_rng(1)
    for a0, b0 in zip(rng.uniform(alo, ahi, 4), rng.uniform(blo, bhi, 4), strict=True):
        # random direction (da, db): d/dt f(a + t da, b + t db)
        da, db = rng.normal(size=2)

        def line(t, a0=a0, b0=b0, da=da, db=db):
            return kernel(a0 + t * da, b0 + t * db)

        d1, d2 = oracle(line, 0.0), oracle(line, 0.0, order=2)
        tol1, tol2 = 1e-7 * max(1, abs(d1)), 1e-4 * max(1, abs(d2))

        # dual: jvp along (da, db); nested for the second derivative
        def along(t, a0=a0, b0=b0, da=da, db=db):
            return op(a0 + t * da, b0 + t * db)

        assert dual.derivative(along, 0.0) == pytest.approx(d1, abs=tol1)
        assert dual.derivative(lambda s: dual.derivative(along, s), 0.0) == pytest.approx(
            d2, abs=tol2
        )

        # symbolic: t as a variable
        t = symbolic.Var("t", 0.0)
        e = op(a0 + t * da, b0 + t * db)
        assert e.gradient(t).evaluate() == pytest.approx(d1, abs=tol1)
        assert e.gradient(t).gradient(t).evaluate() == pytest.approx(d2, abs=tol2)

        # reverse: the two partials, combined along the direction
        a, b = reverse.Var("a", a0), reverse.Var("b", b0)
        y = op(a, b)
        y.backward()
        assert a.gradient * da + b.gradient * db == pytest.approx(d1, abs=tol1)
        h = reverse.hessian(y, [a, b])
        direction = np.array([da, db])
        assert direction @ h @ direction == pytest.approx(d2, abs=tol2)


def test_constant_exponent_never_takes_log_of_negative_base():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = reverse.Var("x", -2.0)
        y = x**2
        y.backward()
        assert x.gradient == -4.0
        assert reverse.hessian(y, [x])[0, 0] == 2.0
        assert dual.derivative(lambda t: t**3, -2.0) == 12.0
        s = symbolic.Var("s", -2.0)
        assert (s**3).gradient(s).gradient(s).evaluate() == -12.0


@pytest.mark.parametrize(
    "name, x, expected",
    [
        ("log", 0.0, -math.inf),
        ("sqrt", -1.0, math.nan),
        ("exp", 1000.0, math.inf),
        ("log", -1.0, math.nan),
        ("tan", math.inf, math.nan),
    ],
)
def test_float_semantics_follow_numpy(name, x, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = rules.OPS[name](x)
        assert type(got) is float
        np.testing.assert_equal(got, getattr(np, name)(x))
        np.testing.assert_equal(got, expected)
        # and through each engine, no Python exception
        np.testing.assert_equal(getattr(dual.DualNumber(x, 1.0), name)().value, expected)
        np.testing.assert_equal(getattr(reverse.Var("x", x), name)().value, expected)
        np.testing.assert_equal(getattr(symbolic.Var("x", x), name)().evaluate(), expected)


def test_division_by_zero_is_ieee_in_every_engine():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert rules.div(1.0, 0.0) == math.inf
        assert math.isnan(rules.div(0.0, 0.0))
        assert (reverse.Var("x", 1.0) / 0.0).value == math.inf
        assert math.isnan((dual.DualNumber(0.0, 1.0) / 0.0).value)
        assert (symbolic.Var("x", -1.0) / 0.0).evaluate() == -math.inf
        assert math.isnan(rules.power(-8.0, 1 / 3))


def test_wrong_argument_types_raise_clear_type_errors():
    with pytest.raises(TypeError, match="real number"):
        dual.DualNumber("3")
    with pytest.raises(TypeError):
        dual.DualNumber(1.0) + "a"
    with pytest.raises(TypeError):
        reverse.Var("x", 1.0) * "a"
    with pytest.raises(TypeError):
        symbolic.Var("x") + [1]
    with pytest.raises(TypeError, match="sin"):
        rules.OPS["sin"]("a string")
    with pytest.raises(TypeError, match="drop its ε"):
        float(dual.DualNumber(1.0, 2.0))
