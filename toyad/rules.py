"""One table of scalar primitive rules, shared by the dual, symbolic and reverse engines.

Each elementary function is written down once: its value on floats (IEEE /
numpy semantics) and its derivative *in terms of the generic operations
below*. A generic operation such as ``cos(x)`` computes on floats, and on an
engine's own number type it calls that type's method of the same name
(``x.cos()``, exactly how numpy's ufuncs treat object arrays). So one
derivative rule, say ``d/dx sin = cos``, yields a float in the reverse
engine, a ``DualNumber`` in the dual engine and a ``Cos`` node in the symbolic
engines; adding a function is one entry in ``UNARY``.

Float semantics follow numpy: ``log(0) = -inf``, ``0/0 = nan``, ``exp(1000)
= inf``, with numpy's RuntimeWarning at most and never a Python exception for a
float input numpy accepts. The fast path is :mod:`math`; the rare domain,
pole or overflow case falls back to numpy's IEEE answer.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

# -- float kernels with numpy's IEEE semantics --------------------------------


def _ieee(fast: Callable[[float], float], ufunc: np.ufunc) -> Callable[[Any], float]:
    """Call ``fast``; where math raises (domain, pole, overflow), return numpy's answer."""

    def kernel(x: Any) -> float:
        try:
            return fast(x)
        except (ValueError, OverflowError, ZeroDivisionError):
            return float(ufunc(np.float64(x)))

    kernel.__name__ = ufunc.__name__
    return kernel


def _sign(x: float) -> float:
    return x if x != x else float((x > 0) - (x < 0))


def _relu(x: float) -> float:
    return x if x > 0 or x != x else 0.0


def _heaviside(x: float) -> float:
    """Step function, 0 at 0: the derivative of relu that JAX and torch use."""
    return x if x != x else float(x > 0)


def div(a: Any, b: Any) -> Any:
    """a / b with numpy semantics for floats (1/0 = inf, 0/0 = nan, with a warning)."""
    try:
        return a / b
    except ZeroDivisionError:
        return float(np.float64(a) / np.float64(b))


def power(a: Any, b: Any) -> Any:
    """a ** b with numpy semantics for floats ((-8) ** (1/3) = nan, 0 ** -1 = inf)."""
    try:
        y = a**b
    except (ZeroDivisionError, OverflowError):
        return float(np.power(np.float64(a), np.float64(b)))
    if type(y) is complex:
        return float(np.power(np.float64(a), np.float64(b)))
    return y


# -- generic operations: floats compute, engine numbers dispatch to methods ----

_FLOATS = (float, int, np.floating, np.integer)


def _generic(name: str, kernel: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def op(x: Any) -> Any:
        if isinstance(x, _FLOATS) and not isinstance(x, bool):
            return kernel(x)
        method = getattr(x, name, None)
        if method is None:
            raise TypeError(f"{name}() is not defined for {type(x).__name__} values")
        return method()

    op.__name__ = name
    op.__doc__ = f"Generic {name}: numpy semantics on floats, ``x.{name}()`` otherwise."
    return op


# -- the table -----------------------------------------------------------------


Partial = Callable[..., Any] | float | str


def _partial_spec(partial: Partial, params: tuple[str, ...]) -> tuple[Callable, Any, Any]:
    """(function, constant or None, argument name or None) of a declared partial.

    A partial is written as a number when it is constant (d(a+b)/da = 1), as the
    name of an argument when it *is* one (d(ab)/da = b, d/dx exp = y), or as a
    function of the arguments. Engines may inline the first two kinds.
    """
    if callable(partial):
        return partial, None, None
    if isinstance(partial, str):
        if partial not in params:
            raise ValueError(f"a partial named {partial!r} must be one of {params}")
        index = params.index(partial)
        return (lambda *args: args[index]), None, partial
    constant = float(partial)
    return (lambda *args: constant), constant, None


@dataclass(frozen=True)
class Unary:
    """y = f(x) with dy/dx = deriv(x, y), written with generic operations.

    ``deriv`` may be declared as a number or as ``"x"``/``"y"`` (see
    :func:`_partial_spec`); it is then a function all the same, and
    ``deriv_const``/``deriv_arg`` say what it was.
    """

    name: str  # numpy ufunc name = method name on engine numbers
    title: str  # class name in the symbolic/reverse engines (Sin, Exp, ...)
    kernel: Callable[[Any], Any]  # the float value
    deriv: Callable[[Any, Any], Any]  # (x, y) -> dy/dx
    math: str  # the rule, for docs and the report
    deriv_const: float | None = None
    deriv_arg: str | None = None

    def __post_init__(self) -> None:
        fn, const, arg = _partial_spec(self.deriv, ("x", "y"))
        for field, value in (("deriv", fn), ("deriv_const", const), ("deriv_arg", arg)):
            object.__setattr__(self, field, value)

    def __call__(self, x: Any) -> Any:
        return OPS[self.name](x)


@dataclass(frozen=True)
class Binary:
    """y = f(a, b) with partials dy/da = da(a, b, y) and dy/db = db(a, b, y).

    A partial may be declared as a number when it is constant (d(a+b)/da = 1)
    or as the name of an argument (d(ab)/da = ``"b"``); ``da``/``db`` are
    functions all the same, and ``da_const``/``da_arg`` (``db_...``) keep what
    was declared so an engine can skip the call.
    """

    name: str
    title: str
    symbol: str  # infix symbol for printing
    kernel: Callable[[Any, Any], Any]
    da: Callable[[Any, Any, Any], Any]
    db: Callable[[Any, Any, Any], Any]
    math: str
    da_const: float | None = None
    db_const: float | None = None
    da_arg: str | None = None
    db_arg: str | None = None

    @property
    def infix(self) -> bool:
        """True when the kernel is Python's own operator for ``symbol``: engines may
        write ``a * b`` inline instead of calling it."""
        return _PYTHON_OPERATORS.get(self.symbol) is self.kernel

    def __post_init__(self) -> None:
        for side in ("da", "db"):
            fn, const, arg = _partial_spec(getattr(self, side), ("a", "b", "y"))
            for field, value in ((side, fn), (side + "_const", const), (side + "_arg", arg)):
                object.__setattr__(self, field, value)


_PYTHON_OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul}

# Filled below; the lambdas look names up here at call time, so a derivative
# may use any entry (tanh' uses nothing, tan' uses cos, ...).
OPS: dict[str, Callable[[Any], Any]] = {}


def _op(name: str) -> Callable[[Any], Any]:
    return lambda x: OPS[name](x)


sin, cos, tan = _op("sin"), _op("cos"), _op("tan")
exp, log, sqrt = _op("exp"), _op("log"), _op("sqrt")
tanh, arctan, sign = _op("tanh"), _op("arctan"), _op("sign")
heaviside = _op("heaviside")

UNARY: dict[str, Unary] = {
    r.name: r
    for r in [
        Unary("negative", "Neg", operator.neg, -1.0, "d/dx (-x) = -1"),
        Unary("sin", "Sin", _ieee(math.sin, np.sin), lambda x, y: cos(x), "d/dx sin = cos"),
        Unary("cos", "Cos", _ieee(math.cos, np.cos), lambda x, y: -sin(x), "d/dx cos = -sin"),
        Unary(
            "tan", "Tan", _ieee(math.tan, np.tan), lambda x, y: 1.0 + y * y, "d/dx tan = 1 + tan²"
        ),
        Unary("exp", "Exp", _ieee(math.exp, np.exp), "y", "d/dx exp = exp"),
        Unary("log", "Log", _ieee(math.log, np.log), lambda x, y: div(1.0, x), "d/dx log = 1/x"),
        Unary(
            "sqrt",
            "Sqrt",
            _ieee(math.sqrt, np.sqrt),
            lambda x, y: div(0.5, y),
            "d/dx sqrt = 1 / (2 sqrt)",
        ),
        Unary(
            "tanh",
            "Tanh",
            _ieee(math.tanh, np.tanh),
            lambda x, y: 1.0 - y * y,
            "d/dx tanh = 1 - tanh²",
        ),
        Unary(
            "arctan",
            "Arctan",
            _ieee(math.atan, np.arctan),
            lambda x, y: div(1.0, 1.0 + x * x),
            "d/dx arctan = 1 / (1 + x²)",
        ),
        Unary(
            "absolute",
            "Abs",
            _ieee(abs, np.absolute),
            lambda x, y: sign(x),
            "d/dx |x| = sign(x)  (0 at 0)",
        ),
        Unary("sign", "Sign", _sign, 0.0, "d/dx sign = 0  (almost everywhere)"),
        Unary("relu", "Relu", _relu, lambda x, y: heaviside(x), "d/dx relu = step(x)  (0 at 0)"),
        Unary("heaviside", "Step", _heaviside, 0.0, "d/dx step = 0  (a.e.)"),
    ]
}

OPS.update({name: _generic(name, rule.kernel) for name, rule in UNARY.items()})
OPS["abs"] = OPS["absolute"]
absolute = OPS["absolute"]
relu = OPS["relu"]
negative = OPS["negative"]


BINARY: dict[str, Binary] = {
    r.name: r
    for r in [
        Binary(
            "add",
            "Add",
            "+",
            operator.add,
            1.0,
            1.0,
            "d(a+b) = da + db",
        ),
        Binary(
            "sub",
            "Sub",
            "-",
            operator.sub,
            1.0,
            -1.0,
            "d(a-b) = da - db",
        ),
        Binary(
            "mul",
            "Mul",
            "*",
            operator.mul,
            "b",
            "a",
            "d(ab) = b da + a db",
        ),
        Binary(
            "div",
            "Div",
            "/",
            div,
            lambda a, b, y: div(1.0, b),
            lambda a, b, y: div(-y, b),
            "d(a/b) = da/b - (a/b²) db",
        ),
        Binary(
            "pow",
            "Pow",
            "**",
            power,
            lambda a, b, y: b * power(a, b - 1.0),
            lambda a, b, y: y * log(a),
            "d(a^b) = b a^(b-1) da + a^b log(a) db",
        ),
    ]
}


def is_real(x: Any) -> bool:
    """True for a plain real number (float, int, numpy scalar; not bool)."""
    return isinstance(x, Real) and not isinstance(x, bool)


__all__ = [
    "BINARY",
    "OPS",
    "UNARY",
    "Binary",
    "Unary",
    "absolute",
    "arctan",
    "cos",
    "div",
    "exp",
    "heaviside",
    "is_real",
    "log",
    "negative",
    "power",
    "relu",
    "sign",
    "sin",
    "sqrt",
    "tan",
    "tanh",
]
