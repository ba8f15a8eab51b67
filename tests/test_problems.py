"""The problem catalog: analytic derivatives against a sympy oracle, the
namespace contract, seeds, shapes and errors."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp

from toyad import problems
from toyad.loops import python_loops
from toyad.problems import PROBLEMS

ORACLE_TOL = 1e-12


def rel_err(actual: np.ndarray, expected: np.ndarray) -> float:
    """max |a - e| / max |e| (norm-wise, so entries near zero do not blow it up)."""
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(np.abs(expected).max(), 1e-300)
    return float(np.abs(actual - expected).max() / scale)


# ---------------------------------------------------------------------------
# sympy oracle: each problem's math written again, independently of problems.py


def exact(value: float) -> sp.Rational:
    return sp.Rational(float(value))  # the float64's exact binary value


def exact_matrix(a: np.ndarray) -> sp.Matrix:
    a = np.atleast_2d(a)
    return sp.Matrix(a.shape[0], a.shape[1], [exact(v) for v in a.ravel()])


def sympy_outputs(inst: problems.Instance, xs: list[sp.Symbol]) -> list[sp.Expr]:
    """The problem's outputs as sympy expressions of the symbols xs."""
    c = inst.consts
    name = inst.name
    if name == "notebook_f":
        x, y = xs
        return [x**2 * y + y + 2]
    if name == "sin_square":
        return [sp.sin(xs[0] ** 2)]
    if name == "rosenbrock":
        return [
            sum(100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 for i in range(len(xs) - 1))
        ]
    if name == "fan_in":
        n = len(xs)
        return [sum(x * sp.cos(x) for x in xs) + sum(xs) ** 2 / (2 * n)]
    if name == "fan_out":
        (x,) = xs
        m = len(c["c"])
        return [sp.sin(exact(cj) * x) * sp.exp(-exact(cj) * x / m) for cj in c["c"]]
    if name == "dense_tanh":
        z = exact_matrix(c["w"]) * sp.Matrix(xs) + exact_matrix(c["b"]).T
        return [sp.tanh(zi) for zi in z]
    if name == "logsumexp_affine":
        z = exact_matrix(c["a"]) * sp.Matrix(xs) + exact_matrix(c["b"]).T
        return [sp.log(sum(sp.exp(zi) for zi in z))]
    if name == "elementwise_chain":
        total = 0
        for x in xs:
            z = x
            for _ in range(c["steps"]):
                z = sp.Rational(9, 10) * sp.tanh(z) + sp.Rational(1, 10) * sp.sin(z)
            total += z
        return [total]
    if name == "determinant":
        k = c["k"]
        return [sp.Matrix(k, k, xs).det(method="berkowitz")]
    raise AssertionError(f"no sympy oracle for {name}")


# small sizes the symbolic oracle handles quickly, per problem
ORACLE_CASES = [
    ("notebook_f", {}),
    ("sin_square", {}),
    ("rosenbrock", {"n": 2}),
    ("rosenbrock", {"n": 5}),
    ("fan_in", {"n": 4}),
    ("fan_out", {"m": 3}),
    ("dense_tanh", {"n": 3, "m": 2}),
    ("dense_tanh", {"n": 2, "m": 4}),
    ("logsumexp_affine", {"n": 3}),
    ("logsumexp_affine", {"n": 5, "k": 2}),
    ("elementwise_chain", {"n": 2, "steps": 3}),
    ("determinant", {"n": 4}),
    ("determinant", {"n": 9}),
    ("determinant", {"n": 16}),
]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("name", "sizes"), ORACLE_CASES, ids=lambda v: str(v))
def test_analytic_matches_sympy(name: str, sizes: dict, seed: int) -> None:
    inst = problems.get(name).instance(seed=seed, **sizes)
    xs = list(sp.symbols(f"x0:{inst.n}"))
    outs = sympy_outputs(inst, xs)
    assert len(outs) == inst.m
    jac = [[sp.diff(o, v) for v in xs] for o in outs]
    with mpmath.workdps(40):
        point = [mpmath.mpf(float(v)) for v in inst.x]

        def evaluate(exprs):
            fn = sp.lambdify(xs, exprs, modules="mpmath")
            return np.array(fn(*point), dtype=float)

        value = evaluate(outs)
        jacobian = evaluate(jac)
        hessian = evaluate([[sp.diff(jac[0][i], v) for v in xs] for i in range(inst.n)])

    assert rel_err(inst.value().reshape(-1), value) <= ORACLE_TOL
    assert rel_err(inst.jacobian(), jacobian) <= ORACLE_TOL
    if inst.scalar:
        assert rel_err(inst.gradient(), jacobian[0]) <= ORACLE_TOL
        assert inst.has_hessian
        assert rel_err(inst.hessian(), hessian) <= ORACLE_TOL


def test_chain_at_default_steps_matches_high_precision_oracle() -> None:
    # sympy cannot differentiate 20 nested steps (the tree doubles each step), so the
    # default-length chain is checked elementwise by mpmath at 40 digits instead.
    inst = problems.get("elementwise_chain").instance(n=3, seed=2)
    assert inst.consts["steps"] == 20

    def chain(t):
        for _ in range(20):
            t = mpmath.mpf(9) / 10 * mpmath.tanh(t) + mpmath.mpf(1) / 10 * mpmath.sin(t)
        return t

    with mpmath.workdps(40):
        d1 = [float(mpmath.diff(chain, mpmath.mpf(float(v)), 1)) for v in inst.x]
        d2 = [float(mpmath.diff(chain, mpmath.mpf(float(v)), 2)) for v in inst.x]
        total = float(sum(chain(mpmath.mpf(float(v))) for v in inst.x))
    assert rel_err(inst.value(), np.array(total)) <= ORACLE_TOL
    assert rel_err(inst.gradient(), np.array(d1)) <= ORACLE_TOL
    assert rel_err(inst.hessian(), np.diag(d2)) <= ORACLE_TOL


def test_notebook_numbers() -> None:
    inst = problems.get("notebook_f").instance()
    np.testing.assert_array_equal(inst.x, [3.0, 4.0])
    assert inst.value() == 42.0
    np.testing.assert_array_equal(inst.gradient(), [24.0, 10.0])
    np.testing.assert_array_equal(inst.hessian(), [[8.0, 6.0], [6.0, 0.0]])
    z = problems.get("sin_square").instance()
    np.testing.assert_array_equal(z.x, [3.0])
    assert z.gradient()[0] == pytest.approx(6 * math.cos(9), rel=1e-15)
    assert z.gradient()[0] == pytest.approx(-5.4668, abs=1e-4)


# ---------------------------------------------------------------------------
# f(xp, x) agrees with the numpy value, and keeps to the namespace contract


def all_instances():
    for name, p in PROBLEMS.items():
        for seed in (0, 3):
            yield pytest.param(p.instance(seed=seed), id=f"{name}-seed{seed}")


@pytest.mark.parametrize("inst", list(all_instances()))
def test_f_on_numpy_equals_value(inst: problems.Instance) -> None:
    out = np.asarray(inst.f(np, inst.x))
    assert out.dtype == np.float64
    assert out.shape == (() if inst.scalar else (inst.m,))
    np.testing.assert_allclose(out, inst.value(), rtol=1e-13, atol=0)
    other = inst.x + 0.25
    np.testing.assert_allclose(inst.f(np, other), inst.value(other), rtol=1e-13, atol=0)


ALLOWED = ("asarray", "sum", "stack", "sin", "cos", "exp", "log", "tanh", "sqrt")
# the additions the GradBench workloads use (docs/architecture.md section 1)
ALLOWED += ("reshape", "concatenate", "max", "min", "where", "matmul", "transpose")
ALLOWED_KEYWORDS = {"axis"}


class StrictArray:
    """An array allowing only what the contract allows: operators, ``**``, ``@``,
    integer/slice indexing and ``.shape``. No methods, no item assignment."""

    __slots__ = ("a",)
    __array_ufunc__ = None  # numpy defers to our reflected operators

    def __init__(self, a):
        self.a = np.asarray(a)

    @property
    def shape(self):
        return tuple(int(s) for s in self.a.shape)

    def __getitem__(self, key):
        keys = key if isinstance(key, tuple) else (key,)
        for k in keys:
            if not isinstance(k, (int, slice)):
                raise TypeError(f"index {k!r} is not an int or a slice")
        return StrictArray(self.a[key])

    def __getattr__(self, name):
        raise AttributeError(f"array method/attribute {name!r} is outside the namespace contract")


def _binary(op):
    def forward(self, other):
        if not isinstance(other, (StrictArray, int, float)):
            return NotImplemented
        return StrictArray(op(self.a, other.a if isinstance(other, StrictArray) else other))

    def reflected(self, other):
        if not isinstance(other, (int, float)):
            return NotImplemented
        return StrictArray(op(other, self.a))

    return forward, reflected


for _name, _op in [
    ("add", np.add),
    ("sub", np.subtract),
    ("mul", np.multiply),
    ("truediv", np.true_divide),
    ("pow", np.power),
    ("matmul", np.matmul),
]:
    _fwd, _rev = _binary(_op)
    setattr(StrictArray, f"__{_name}__", _fwd)
    setattr(StrictArray, f"__r{_name}__", _rev)
StrictArray.__neg__ = lambda self: StrictArray(-self.a)


class RestrictedNamespace:
    """``xp`` exposing only the contract's functions, on StrictArrays (the loops as
    Python loops, whose steps are then held to the contract too)."""

    def __init__(self):
        for name, loop in python_loops(lambda arrays: self.stack(arrays)).items():
            setattr(self, name, loop)

    def __getattr__(self, name):
        if name not in ALLOWED:
            raise AttributeError(f"xp.{name} is outside the namespace contract")
        fn = getattr(np, name)

        def unwrap(v):
            if isinstance(v, StrictArray):
                return v.a
            if isinstance(v, (list, tuple)):
                return [unwrap(e) for e in v]
            return v

        def call(*args, **kw):
            if set(kw) - ALLOWED_KEYWORDS:
                raise TypeError(f"xp.{name}: keywords {sorted(kw)} outside the contract")
            return StrictArray(fn(*[unwrap(a) for a in args], **kw))

        return call


def test_strict_namespace_rejects_outside_names() -> None:
    xp = RestrictedNamespace()
    x = StrictArray(np.arange(3.0))
    with pytest.raises(AttributeError):
        _ = xp.abs
    with pytest.raises(AttributeError):
        _ = x.sum
    with pytest.raises(TypeError):
        x[0] = 1.0
    with pytest.raises(TypeError):
        x[np.array([0, 1])]


@pytest.mark.parametrize("inst", list(all_instances()))
def test_f_keeps_to_namespace_contract(inst: problems.Instance) -> None:
    out = inst.f(RestrictedNamespace(), StrictArray(inst.x))
    assert isinstance(out, StrictArray)
    np.testing.assert_allclose(out.a, inst.value(), rtol=1e-13, atol=0)


class Scalar:
    """A minimal scalar type (as the scalar engines use) in numpy object arrays."""

    def __init__(self, v):
        self.v = float(v)

    def _lift(self, o):
        if isinstance(o, Scalar):
            return o.v
        if isinstance(o, (int, float)):
            return float(o)
        return None

    def _op(fn):  # noqa: N805
        def method(self, o):
            o = self._lift(o)
            return NotImplemented if o is None else Scalar(fn(self.v, o))

        return method

    __add__ = _op(lambda a, b: a + b)
    __radd__ = _op(lambda a, b: b + a)
    __sub__ = _op(lambda a, b: a - b)
    __rsub__ = _op(lambda a, b: b - a)
    __mul__ = _op(lambda a, b: a * b)
    __rmul__ = _op(lambda a, b: b * a)
    __truediv__ = _op(lambda a, b: a / b)
    __rtruediv__ = _op(lambda a, b: b / a)
    __pow__ = _op(lambda a, b: a**b)

    def __neg__(self):
        return Scalar(-self.v)

    # comparisons by value: np.max / np.min on object arrays (xp.max, xp.min)
    def __lt__(self, o):
        return self.v < self._lift(o)

    def __le__(self, o):
        return self.v <= self._lift(o)

    def __gt__(self, o):
        return self.v > self._lift(o)

    def __ge__(self, o):
        return self.v >= self._lift(o)

    def sin(self):
        return Scalar(math.sin(self.v))

    def cos(self):
        return Scalar(math.cos(self.v))

    def exp(self):
        return Scalar(math.exp(self.v))

    def log(self):
        return Scalar(math.log(self.v))

    def tanh(self):
        return Scalar(math.tanh(self.v))

    def sqrt(self):
        return Scalar(math.sqrt(self.v))


@pytest.mark.parametrize("inst", list(all_instances()))
def test_f_runs_on_object_arrays(inst: problems.Instance) -> None:
    x = np.empty(inst.n, dtype=object)
    x[:] = [Scalar(v) for v in inst.x]
    out = np.asarray(inst.f(np, x), dtype=object).reshape(-1)
    values = np.array([o.v for o in out])
    np.testing.assert_allclose(values, inst.value().reshape(-1), rtol=1e-13, atol=0)


# ---------------------------------------------------------------------------
# sizes, seeds, shapes, errors


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_shapes_and_sizes(name: str) -> None:
    p = problems.get(name)
    inst = p.instance()
    assert inst.x.dtype == np.float64 and inst.x.shape == (inst.n,)
    assert (inst.n, inst.m) == p.sizes()
    assert inst.jacobian().shape == (inst.m, inst.n)
    assert p.scalar == (inst.m == 1) == inst.scalar
    assert set(p.scales) <= {"n", "m"}
    if p.scalar:
        assert "m" not in p.scales
        assert inst.value().shape == ()
        assert inst.gradient().shape == (inst.n,)
        h = inst.hessian()
        if h is None:  # optional for the GradBench workloads only
            assert p.workload is not None and not inst.has_hessian
        else:
            assert h.shape == (inst.n, inst.n)
            np.testing.assert_allclose(h, h.T, rtol=1e-12, atol=1e-12)
    else:
        assert inst.value().shape == (inst.m,)
        assert inst.hessian() is None and not inst.has_hessian
        with pytest.raises(ValueError, match="vector-valued"):
            inst.gradient()
    assert inst.f.instance is inst
    assert inst.f.__name__ == name and name in repr(inst.f)


def test_free_sizes_scale_and_fixed_sizes_are_ignored() -> None:
    assert problems.get("notebook_f").instance(n=50, m=7).n == 2
    assert problems.get("sin_square").instance(n=50).n == 1
    fo = problems.get("fan_out").instance(n=9, m=5)
    assert (fo.n, fo.m) == (1, 5) and fo.jacobian().shape == (5, 1)
    d = problems.get("dense_tanh").instance(n=7, m=3)
    assert d.jacobian().shape == (3, 7) and d.consts["w"].shape == (3, 7)
    r = problems.get("rosenbrock").instance(n=30, m=4)
    assert (r.n, r.m) == (30, 1)
    big = problems.get("determinant").instance(n=64)  # k = 8, the largest allowed
    np.testing.assert_allclose(big.f(np, big.x), np.linalg.det(big.x.reshape(8, 8)), rtol=1e-12)
    det = problems.get("determinant").instance(n=25)
    assert det.consts["k"] == 5
    np.testing.assert_allclose(
        det.gradient(),
        np.linalg.det(det.x.reshape(5, 5)) * np.linalg.inv(det.x.reshape(5, 5)).T.ravel(),
        rtol=1e-10,
    )


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_seeds_reproducible(name: str) -> None:
    p = problems.get(name)
    a, b, c = p.instance(seed=5), p.instance(seed=5), p.instance(seed=6)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.consts.keys() == b.consts.keys()
    for key in a.consts:
        np.testing.assert_array_equal(a.consts[key], b.consts[key])
    assert not np.array_equal(a.x, c.x)


def test_analytic_does_not_mutate_input() -> None:
    for p in PROBLEMS.values():
        inst = p.instance()
        x = inst.x + 0.1
        keep = x.copy()
        inst.value(x), inst.jacobian(x), inst.hessian(x)
        np.testing.assert_array_equal(x, keep)


def test_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="known problems: notebook_f, sin_square, rosenbrock"):
        problems.get("nope")
    with pytest.raises(problems.UnknownProblem):
        problems.get("nope")
    with pytest.raises(ValueError, match=r"'rosenbrock': n must be >= 2"):
        problems.get("rosenbrock").instance(n=1)
    with pytest.raises(ValueError, match=r"'determinant': n must be k²"):
        problems.get("determinant").instance(n=10)
    with pytest.raises(ValueError, match=r"'determinant': n must be k²"):
        problems.get("determinant").instance(n=81)
    with pytest.raises(ValueError, match="must be an int"):
        problems.get("fan_in").instance(n=2.5)
    with pytest.raises(ValueError, match="unknown option"):
        problems.get("fan_in").instance(steps=3)
    inst = problems.get("dense_tanh").instance(n=4, m=2)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        inst.jacobian(np.zeros(5))
