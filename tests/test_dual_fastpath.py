"""The dual engine's compiled fast paths give exactly the generic engine's results.

The reference is the generic engine itself: every operator and unary method
replaced by the generic ``_binary`` / ``_general_unary`` (the engine as it was
before compilation). Results are compared exactly: same types, same tags,
floats equal bit for bit (the sign of zero and nan included), recursively
through nested duals.
"""

from __future__ import annotations

import itertools
import math
import operator
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toyad import dual, graph, rules
from toyad.dual import DualNumber as D

OPERATORS = {name: getattr(operator, dunder) for name, dunder in graph.OPERATOR_NAMES.items()}
VALUES = (-2.0, -0.0, 0.0, 0.5, 3.0, math.inf, -math.inf, math.nan)
EPSILONS = (0.0, -0.0, 1.0, -2.5, math.inf, math.nan)


@contextmanager
def generic_engine() -> Iterator[None]:
    """Every DualNumber operation through the generic ``_binary`` / unary method."""
    with pytest.MonkeyPatch.context() as mp:
        for name, rule in rules.BINARY.items():
            dunder = graph.OPERATOR_NAMES[name]
            mp.setattr(D, f"__{dunder}__", lambda s, o, r=rule: s._binary(r, o, False))
            mp.setattr(D, f"__r{dunder}__", lambda s, o, r=rule: s._binary(r, o, True))
        for name, rule in rules.UNARY.items():
            mp.setattr(D, name, dual._general_unary(rule))
        mp.setattr(D, "__neg__", dual._general_unary(rules.UNARY["negative"]))
        mp.setattr(D, "__abs__", dual._general_unary(rules.UNARY["absolute"]))
        yield


def outcome(compute: Callable[[], Any]) -> Any:
    """The result, or the exception type (both engines must raise alike)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return compute()
        except (TypeError, ValueError, OverflowError, ZeroDivisionError) as error:
            return type(error)


def assert_identical(got: Any, want: Any, where: str = "") -> None:
    assert type(got) is type(want), (where, got, want)
    if isinstance(want, D):
        assert got.tag == want.tag, (where, got, want)
        assert_identical(got.value, want.value, where + ".value")
        assert_identical(got.eps, want.eps, where + ".eps")
    elif isinstance(want, np.ndarray):
        assert got.shape == want.shape, where
        for i, (g, w) in enumerate(zip(got.ravel(), want.ravel(), strict=True)):
            assert_identical(g, w, f"{where}[{i}]")
    elif isinstance(want, float):
        same = (math.isnan(got) and math.isnan(want)) or (
            got == want and math.copysign(1.0, got) == math.copysign(1.0, want)
        )
        assert same, (where, got, want)
    else:
        assert got == want, (where, got, want)


def assert_fast_equals_generic(compute: Callable[[], Any]) -> None:
    got = outcome(compute)
    with generic_engine():
        want = outcome(compute)
    assert_identical(got, want)


@contextmanager
def generic_calls_counted() -> Iterator[list[str]]:
    """Record each call of the generic ``_binary`` (the fallback)."""
    calls: list[str] = []
    generic = D._binary

    def spy(self: D, rule: rules.Binary, other: Any, reflected: bool) -> Any:
        calls.append(rule.name)
        return generic(self, rule, other, reflected)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(D, "_binary", spy)
        yield calls


# -- binary rules: every entry path --------------------------------------------------

ENTRY_PATHS: dict[str, Callable[[float, float, float, float], tuple[Any, Any]]] = {
    "dual-dual same tag": lambda a, ea, b, eb: (D(a, ea, 5), D(b, eb, 5)),
    "dual-float": lambda a, ea, b, eb: (D(a, ea, 5), b),
    "float-dual (reflected)": lambda a, ea, b, eb: (a, D(b, eb, 5)),
    "dual-int": lambda a, ea, b, eb: (D(a, ea, 5), int(b) if math.isfinite(b) else 7),
    "int-dual (reflected)": lambda a, ea, b, eb: (int(a) if math.isfinite(a) else -3, D(b, eb)),
    "dual-np.float64": lambda a, ea, b, eb: (D(a, ea, 5), np.float64(b)),
    "np.float64-dual": lambda a, ea, b, eb: (np.float64(a), D(b, eb, 5)),
    "outer tag first": lambda a, ea, b, eb: (D(a, ea, 6), D(b, eb, 5)),
    "inner tag first": lambda a, ea, b, eb: (D(a, ea, 5), D(b, eb, 6)),
}
FAST_PATHS = {"dual-dual same tag", "dual-float", "float-dual (reflected)"}


@pytest.mark.parametrize("path", sorted(ENTRY_PATHS))
@pytest.mark.parametrize("name", sorted(rules.BINARY))
def test_binary_fast_path_equals_generic_on_special_values(name, path):
    op, make = OPERATORS[name], ENTRY_PATHS[path]
    for a, b in itertools.product(VALUES, repeat=2):
        for ea, eb in itertools.product(EPSILONS, repeat=2):
            left, right = make(a, ea, b, eb)
            assert_fast_equals_generic(lambda left=left, right=right: op(left, right))


@pytest.mark.parametrize("name", sorted(rules.BINARY))
def test_the_common_cases_never_call_the_generic_step(name):
    op = OPERATORS[name]
    with generic_calls_counted() as calls:
        op(D(1.5, 1.0, 3), D(0.5, -1.0, 3))
        op(D(1.5, 1.0, 3), 0.5)
        op(0.5, D(1.5, 1.0, 3))
    assert calls == []
    with generic_calls_counted() as calls:
        op(D(1.5, 1.0, 3), 2)
        op(D(1.5, 1.0, 3), np.float64(0.5))
        op(D(1.5, 1.0, 3), D(0.5, -1.0, 4))
        op(2, D(1.5, 1.0, 3))
    assert calls == [name] * 4


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
any_float = st.floats(allow_nan=True, allow_infinity=True)


@pytest.mark.parametrize("name", sorted(rules.BINARY))
@settings(max_examples=150, deadline=None)
@given(a=finite, ea=any_float, b=finite, eb=any_float, path=st.sampled_from(sorted(ENTRY_PATHS)))
def test_binary_fast_path_equals_generic_on_random_values(name, a, ea, b, eb, path):
    left, right = ENTRY_PATHS[path](a, ea, b, eb)
    assert_fast_equals_generic(lambda: OPERATORS[name](left, right))


def nested(x: float, tag_inner: int = 1, tag_outer: int = 2) -> D:
    """x + ε1 + ε2 with ε1 (older) nested inside ε2: its ε of ε is the second derivative."""
    return D(D(x, 1.0, tag_inner), D(1.0, 0.0, tag_inner), tag_outer)


@pytest.mark.parametrize("name", sorted(rules.BINARY))
def test_binary_on_nested_duals_and_other_numbers_equals_generic(name):
    op = OPERATORS[name]
    for a, b in [(1.5, 0.5), (-2.0, 3.0), (0.0, 2.0), (2.0, -1.0)]:
        cases = [
            (nested(a), nested(b)),  # same tags all the way down
            (nested(a), b),
            (a, nested(b)),
            (nested(a), D(b, 1.0, 2)),  # inner value a dual, other's not
            (nested(a, 1, 3), nested(b, 2, 3)),  # inner tags differ
            (nested(a), D(b, 1.0, 1)),  # an older tag on the right
            (D(b, 1.0, 1), nested(a)),
            (D(a, D(1.0, 1.0, 1), 2), D(b, 0.0, 2)),  # ε a dual, value a float
            (D(a, np.float64(0.0), 2), D(b, 0, 2)),  # zero ε of other types
            (D(a, np.float64(0.0), 2), b),
            (b, D(a, 0, 2)),
            (D(np.float64(a), 1.0, 2), b),  # a numpy value
        ]
        for left, right in cases:
            assert_fast_equals_generic(lambda left=left, right=right: op(left, right))


def test_zero_eps_times_infinite_partial_is_zero_not_nan():
    # d/da a^0.5, d/db a/b, d/dx sqrt, d/dx log are infinite at 0: times a zero ε, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cases = [
            D(0.0, 0.0) ** 0.5,
            D(0.0, 0.0) ** D(0.5, 1.0),  # b moves: its partial y log(a) = 0·(-inf) counts
            1.0 / D(0.0, 0.0),
            D(1.0, 1.0) / D(0.0, 0.0),
            D(0.0, 0.0, 4).sqrt(),
            D(0.0, 0.0, 4).log(),
        ]
    eps = [c.eps for c in cases]
    assert eps[0] == 0.0 and math.isnan(eps[1])
    assert eps[2] == 0.0 and eps[3] == math.inf and eps[4] == 0.0 and eps[5] == 0.0
    assert cases[0].value == 0.0 and cases[2].value == math.inf


def test_constant_exponent_of_a_negative_base_never_takes_its_log():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # log(-2) would warn (numpy's nan)
        for base in (D(-2.0, 1.0), D(-2.0, 1.0, 7)):
            for exponent in (3.0, D(3.0, 0.0, base.tag)):
                y = base**exponent
                assert (y.value, y.eps) == (-8.0, 12.0)  # d/dx x³ = 3x²
        assert dual.derivative(lambda t: t**3.0, -2.0) == 12.0
        assert dual.derivative(lambda t: dual.derivative(lambda s: s**3.0, t), -2.0) == -12.0
        y = 2.0 ** D(3.0, 1.0)  # reflected: d/dx 2^x = 2^x log 2, no log of the base's ε
        assert (y.value, y.eps) == (8.0, 8.0 * math.log(2.0))


def test_binary_partials_match_analytic_derivatives():
    a, b = 1.5, 0.75
    for da, db in [(1.0, 0.0), (0.0, 1.0), (0.5, -2.0)]:
        u, v = D(a, da), D(b, db)
        d_pow = b * a ** (b - 1) * da + a**b * math.log(a) * db  # d(a^b)
        assert (u * v).eps == pytest.approx(b * da + a * db, rel=1e-15)
        assert (u / v).eps == pytest.approx(da / b - a / b**2 * db, rel=1e-15)
        assert (u**v).eps == pytest.approx(d_pow, rel=1e-15)
        assert (u - 2.0 * v).eps == pytest.approx(da - 2.0 * db, rel=1e-15)
        assert (0.5 - u).eps == -da
        assert (3.0 / u).eps == pytest.approx(-3.0 / a**2 * da, rel=1e-15)
        assert (2.0**u).eps == pytest.approx(2.0**a * math.log(2.0) * da, rel=1e-15)


def test_perturbation_confusion_is_avoided():
    # d/dx [x · d/dy (x + y)] = 1, not 2;  d/dx [x · d/dy (x y)] = d/dx x² = 2x = 2
    assert dual.derivative(lambda x: x * dual.derivative(lambda y: x + y, 1.0), 1.0) == 1.0
    assert dual.derivative(lambda x: x * dual.derivative(lambda y: x * y, 2.0), 1.0) == 2.0


def test_gradient_of_the_benchmark_chain_matches_its_closed_form():
    k, x0, y0 = 50, 0.5, 0.3

    def chain(v):
        z = v[0]
        for _ in range(k):
            z = z * 0.9 + v[0] * v[1] * 0.01
        return z

    decay = 0.9**k
    want = [decay + 0.1 * y0 * (1 - decay), 0.1 * x0 * (1 - decay)]
    np.testing.assert_allclose(dual.gradient(chain, np.array([x0, y0])).astype(float), want)


def test_other_operand_types_keep_their_behaviour():
    x = D(2.0, 1.0)
    assert_fast_equals_generic(lambda: x * np.array([1.0, -2.0]))
    assert_fast_equals_generic(lambda: np.array([1.0, -2.0]) ** x)
    assert_fast_equals_generic(lambda: x + True)
    with pytest.raises(TypeError):
        x * "a"
    with pytest.raises(TypeError):
        1j + x


# -- unary rules ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(rules.UNARY))
def test_unary_fast_path_equals_generic_on_floats(name):
    for x, eps in itertools.product(VALUES + (1e300, -0.3, 1.2), EPSILONS):
        for tag in (0, 3):
            assert_fast_equals_generic(
                lambda x=x, eps=eps, tag=tag: getattr(D(x, eps, tag), name)()
            )


@pytest.mark.parametrize("name", sorted(rules.UNARY))
def test_unary_on_nested_duals_and_other_values_equals_generic(name):
    for x in (-1.5, -0.0, 0.0, 0.4, 2.0):
        for arg in (
            nested(x),
            D(x, D(1.0, 1.0, 1), 2),  # float value, dual ε
            D(np.float64(x), 1.0),
            D(int(x), 1.0),
        ):
            assert_fast_equals_generic(lambda arg=arg: getattr(arg, name)())
    ufunc = getattr(np, name, None)
    if isinstance(ufunc, np.ufunc) and ufunc.nin == 1:  # numpy's object loop calls x.name()
        assert_fast_equals_generic(lambda: ufunc(np.array([nested(0.5), D(-1.0, 2.0)])))


def test_unary_second_derivatives_match_analytic():
    x = 0.4
    for name, second in [
        ("sin", -math.sin(x)),
        ("exp", math.exp(x)),
        ("tanh", -2 * math.tanh(x) * (1 - math.tanh(x) ** 2)),
        ("log", -1 / x**2),
    ]:
        y = getattr(nested(x), name)()
        assert y.eps.eps == pytest.approx(second, rel=1e-14), name
    assert (-nested(x)).eps.value == -1.0
    assert abs(D(-3.0, 2.0)).eps == -2.0


def test_operators_are_compiled_with_inlined_partials():
    source = D._source
    assert set(source) == set(rules.BINARY) | set(rules.UNARY)
    assert "y = a * b" in source["mul"] and "b * a_eps" in source["mul"]
    assert "da(" not in source["mul"] and "-1.0 * b_eps" in source["sub"]
    assert "y * eps" in source["exp"] and "deriv(" in source["sin"]
    assert D.__mul__.__doc__ == rules.BINARY["mul"].math


def test_a_new_rule_gets_its_dual_method_from_the_table(monkeypatch):
    monkeypatch.setattr(D, "_source", dict(D._source))
    hypot = rules.Binary(
        "hypot",
        "Hypot",
        "hypot",
        math.hypot,
        lambda a, b, y: a / y,
        lambda a, b, y: b / y,
        "d hypot(a, b) = (a da + b db) / hypot",
    )
    forward, reflected = dual._generate_binary(hypot)
    y = forward(D(3.0, 1.0), D(4.0, 1.0))
    assert (y.value, y.eps) == (5.0, 7.0 / 5.0)
    assert reflected(D(4.0, 1.0), 3.0).eps == 4.0 / 5.0
    z = forward(D(3.0, 1.0), 4)  # an int: the generic step
    assert (z.value, z.eps) == (5.0, 3.0 / 5.0)
