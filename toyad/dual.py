"""Forward mode with dual numbers: f(a + bε) = f(a) + f'(a) b ε, since ε² = 0.

``DualNumber(value, eps)`` is the notebook's class, grown up: every operator
(reflected ones too), and an elementwise method for each rule of
:mod:`toyad.rules` named like numpy's ufuncs (``sin``, ``exp``, ``tanh``,
``arctan``, ...), so ``np.sin`` on an object array of duals works.

Nesting: a perturbation carries a *tag*. ``derivative(f, x)`` opens a fresh
tag, so in d/dx[x · (d/dy (x + y))(1)] the inner derivative cannot pick up
the outer ε: the answer is 1, not 2 (Siskind & Pearlmutter's perturbation
confusion). Tags order the nesting: the newest tag is always outermost, and
its value and ε may themselves be duals of older tags.

Speed: the operator methods are compiled from the rule table (see
``_BINARY_SOURCE``), so ``z * 0.9`` on float duals is one Python call with
the rule's trivial partials inlined; other cases take the generic ``_binary``
with identical results.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from toyad import graph, rules

_tags = itertools.count(1)


class DualNumber:
    """value + eps·ε under perturbation ``tag`` (0: the untagged, notebook level)."""

    __slots__ = ("value", "eps", "tag")
    _source: ClassVar[dict[str, str]] = {}  # rule name -> code of its compiled methods

    def __init__(self, value: Any = 0.0, eps: Any = 0.0, tag: int = 0):
        if not (rules.is_real(value) or isinstance(value, DualNumber)):
            raise TypeError(f"DualNumber value must be a real number, got {type(value).__name__}")
        if not (rules.is_real(eps) or isinstance(eps, DualNumber)):
            raise TypeError(f"DualNumber eps must be a real number, got {type(eps).__name__}")
        self.value = value
        self.eps = eps
        self.tag = tag

    @classmethod
    def to_dual(cls, n: Any) -> DualNumber:
        """The notebook's helper: a number as a dual with zero ε."""
        return n if isinstance(n, DualNumber) else cls(n)

    # -- printing, as in the notebook: "15.0 + 41.0ε" -------------------------
    def __str__(self) -> str:
        if rules.is_real(self.value) and rules.is_real(self.eps):
            if self.eps:
                return f"{self.value:.1f} + {self.eps:.1f}ε"
            return f"{self.value:.1f}"
        return f"({self.value}) + ({self.eps})ε{self.tag}"

    def __repr__(self) -> str:
        return str(self)

    # -- the generic step: every case the compiled fast paths do not take ------
    def _split(self, other: Any) -> tuple[int, Any, Any, Any, Any] | None:
        """Align two operands on the outermost tag: (tag, a, a_eps, b, b_eps)."""
        if isinstance(other, DualNumber):
            if other.tag == self.tag:
                return self.tag, self.value, self.eps, other.value, other.eps
            if other.tag > self.tag:  # other is the outer perturbation; self a constant in it
                return other.tag, self, 0.0, other.value, other.eps
            return self.tag, self.value, self.eps, other, 0.0
        if rules.is_real(other):
            return self.tag, self.value, self.eps, other, 0.0
        return None  # numpy arrays and unknown types: let Python/numpy try the reflection

    def _binary(self, rule: rules.Binary, other: Any, reflected: bool) -> Any:
        parts = self._split(other)
        if parts is None:
            return NotImplemented
        tag, a, a_eps, b, b_eps = parts
        if reflected:
            a, a_eps, b, b_eps = b, b_eps, a, a_eps
        y = rule.kernel(a, b)
        y_eps = 0.0
        if _nonzero(a_eps):
            y_eps = rule.da(a, b, y) * a_eps
        if _nonzero(b_eps):  # skipped when b is a constant: x**2 never needs log(x)
            y_eps = y_eps + rule.db(a, b, y) * b_eps
        return DualNumber(y, y_eps, tag)

    # a + b, 2.0 * a, a ** b, a.sin(), ... are compiled from the rule table below

    def __pos__(self) -> DualNumber:
        return self

    # comparisons look at the value (so max, relu-by-comparison, sorting work)
    def _real(self) -> Any:
        v = self.value
        while isinstance(v, DualNumber):
            v = v.value
        return v

    def __lt__(self, o: Any) -> bool:
        return self._real() < _real(o)

    def __le__(self, o: Any) -> bool:
        return self._real() <= _real(o)

    def __gt__(self, o: Any) -> bool:
        return self._real() > _real(o)

    def __ge__(self, o: Any) -> bool:
        return self._real() >= _real(o)

    def __eq__(self, o: object) -> bool:
        if isinstance(o, DualNumber):
            return self.tag == o.tag and self.value == o.value and self.eps == o.eps
        return rules.is_real(o) and self.value == o and not _nonzero(self.eps)

    __hash__ = None  # type: ignore[assignment]

    def __float__(self) -> float:
        raise TypeError(
            "float() of a DualNumber would drop its ε part; use .value (and .eps) explicitly"
        )


def _real(o: Any) -> Any:
    return o._real() if isinstance(o, DualNumber) else o


def _nonzero(e: Any) -> bool:
    return isinstance(e, DualNumber) or e != 0.0


def _general_unary(rule: rules.Unary) -> Callable[[DualNumber], DualNumber]:
    """f(a + bε) = f(a) + f'(a) b ε for any value: floats, numpy scalars, nested duals."""

    def method(self: DualNumber) -> DualNumber:
        y = rule(self.value)  # generic: recurses into nested duals
        if not _nonzero(self.eps):
            return DualNumber(y, 0.0, self.tag)
        return DualNumber(y, rule.deriv(self.value, y) * self.eps, self.tag)

    method.__name__ = rule.name
    method.__doc__ = rule.math
    return method


# -- operator methods compiled from the rule table ---------------------------------
#
# Each rule becomes a small function, compiled once at import (like the reverse
# engine's): ``__mul__``/``__rmul__`` for ``mul``, ``sin`` for ``sin``. The
# common cases run inline: two duals of the same tag, a float constant, a float
# value for a unary rule; everything else (another tag, ints, numpy scalars,
# arrays) takes the generic ``_binary`` / unary method. The rule decides the
# code: a plain-operator kernel is written inline (``a * b``), a partial that is
# an argument is its name (``b * a_eps``), a constant is a literal (``1.0 *
# a_eps``), any other partial a call of the rule's function. The ε steps are
# ``_binary``'s, guard included: a partial is evaluated only for a nonzero ε, so
# ``x ** 2.0`` never takes log(x) and a zero ε stays 0 beside an infinite
# partial. Results skip ``__init__``'s check: they are made of checked numbers.
# ``DualNumber._source["mul"]`` shows the code.

_BINARY_BODY = """\
    y = {value}
    y_eps = 0.0
    if {a_eps_nonzero}:
        y_eps = {da} * a_eps
    if {b_eps_nonzero}:
        y_eps = y_eps + {db} * b_eps
    d = new(DualNumber); d.value = y; d.eps = y_eps; d.tag = self.tag
    return d"""

_BINARY_SOURCE = """\
def forward(self, b):
    a = self.value; a_eps = self.eps
    if b.__class__ is float:
        b_eps = 0.0
    elif b.__class__ is DualNumber and b.tag == self.tag:
        b_eps = b.eps; b = b.value
    else:
        return self._binary(rule, b, False)
{body}

def reflected(self, a):
    if a.__class__ is not float:
        return self._binary(rule, a, True)
    a_eps = 0.0; b = self.value; b_eps = self.eps
{body}
"""

_UNARY_SOURCE = """\
def method(self):
    x = self.value
    if x.__class__ is not float:
        return generic(self)
    y = kernel(x); eps = self.eps
    d = new(DualNumber); d.value = y; d.tag = self.tag
    d.eps = {deriv} * eps if {eps_nonzero} else 0.0
    return d
"""


def _nonzero_test(eps: str) -> str:
    """``_nonzero(eps)``, with the float case inline."""
    return f"{eps} != 0.0 if {eps}.__class__ is float else nonzero({eps})"


def _partial(const: float | None, arg: str | None, call: str) -> str:
    """A declared partial as code: the argument's name, a literal, or the rule's call."""
    if arg is not None:
        return arg
    if const is not None:
        return repr(const) if math.isfinite(const) else f"float({str(const)!r})"
    return call


def _compile(name: str, source: str, namespace: dict[str, Any]) -> dict[str, Any]:
    namespace.update(DualNumber=DualNumber, new=object.__new__, nonzero=_nonzero)
    exec(compile(source, f"<toyad.dual {name}>", "exec"), namespace)
    DualNumber._source[name] = source
    return namespace


def _generate_binary(rule: rules.Binary) -> tuple[Callable, Callable]:
    body = _BINARY_BODY.format(
        value=f"a {rule.symbol} b" if rule.infix else "kernel(a, b)",
        da=_partial(rule.da_const, rule.da_arg, "da(a, b, y)"),
        db=_partial(rule.db_const, rule.db_arg, "db(a, b, y)"),
        a_eps_nonzero=_nonzero_test("a_eps"),
        b_eps_nonzero=_nonzero_test("b_eps"),
    )
    source = _BINARY_SOURCE.format(body=body)
    ns = _compile(
        rule.name, source, {"rule": rule, "kernel": rule.kernel, "da": rule.da, "db": rule.db}
    )
    for method in (ns["forward"], ns["reflected"]):
        method.__doc__ = rule.math
        method.__qualname__ = f"DualNumber.{rule.name}.{method.__name__}"
    return ns["forward"], ns["reflected"]


def _generate_unary(rule: rules.Unary) -> Callable[[DualNumber], DualNumber]:
    source = _UNARY_SOURCE.format(
        deriv=_partial(rule.deriv_const, rule.deriv_arg, "deriv(x, y)"),
        eps_nonzero=f"({_nonzero_test('eps')})",
    )
    namespace = {"kernel": rule.kernel, "deriv": rule.deriv, "generic": _general_unary(rule)}
    method = _compile(rule.name, source, namespace)["method"]
    method.__name__, method.__doc__ = rule.name, rule.math
    method.__qualname__ = f"DualNumber.{rule.name}"
    return method


graph.install_operators(
    DualNumber, {name: _generate_binary(rule) for name, rule in rules.BINARY.items()}
)
for _rule in rules.UNARY.values():
    setattr(DualNumber, _rule.name, _generate_unary(_rule))
DualNumber.__neg__ = DualNumber.negative  # type: ignore[attr-defined]
DualNumber.__abs__ = DualNumber.abs = DualNumber.absolute  # type: ignore[attr-defined]


# -- derivatives ---------------------------------------------------------------


def _tangent(y: Any, tag: int) -> Any:
    """The ε part of ``y`` for perturbation ``tag`` (0 where y does not depend on it)."""
    if isinstance(y, np.ndarray):
        return np.array([_tangent(e, tag) for e in y.ravel()], dtype=object).reshape(y.shape)
    if isinstance(y, DualNumber):
        if y.tag == tag:
            return y.eps
        if y.tag > tag:  # a newer perturbation escaped; take ours out of both parts
            return DualNumber(_tangent(y.value, tag), _tangent(y.eps, tag), y.tag)
        return 0.0
    if rules.is_real(y):
        return 0.0
    raise TypeError(f"a differentiated function returned {type(y).__name__}, not a number")


def _primal(y: Any, tag: int) -> Any:
    if isinstance(y, np.ndarray):
        return np.array([_primal(e, tag) for e in y.ravel()], dtype=object).reshape(y.shape)
    if isinstance(y, DualNumber) and y.tag == tag:
        return y.value
    return y


def jvp(f: Callable[..., Any], x: Any, v: Any) -> tuple[Any, Any]:
    """(f(x), J v): one forward pass with x + v ε under a fresh tag.

    ``x`` and ``v`` are numbers, or arrays of them (elementwise pairing).
    """
    tag = next(_tags)
    if isinstance(x, np.ndarray) or isinstance(v, np.ndarray):
        xs, vs = np.broadcast_arrays(np.asarray(x, dtype=object), np.asarray(v, dtype=object))
        seed = np.empty(xs.shape, dtype=object)
        for i in np.ndindex(xs.shape):
            seed[i] = DualNumber(xs[i], vs[i], tag)
    else:
        seed = DualNumber(x, v, tag)
    y = f(seed)
    return _primal(y, tag), _tangent(y, tag)


def derivative(f: Callable[[Any], Any], x: Any) -> Any:
    """df/dx at x for scalar x (f may return an array); nests for higher orders.

    >>> derivative(lambda x: x * derivative(lambda y: x + y, 1.0), 1.0)
    1.0
    """
    return jvp(f, x, 1.0)[1]


def gradient(f: Callable[[np.ndarray], Any], x: np.ndarray) -> np.ndarray:
    """∇f at x (R^n -> R) by n forward passes, one per basis direction."""
    return jacobian(f, x)[0]


def jacobian(f: Callable[[np.ndarray], Any], x: np.ndarray) -> np.ndarray:
    """(m, n) Jacobian by n forward passes (column j = J e_j)."""
    x = np.asarray(x, dtype=object).ravel()
    n = x.shape[0]
    columns = []
    for j in range(n):
        e = np.zeros(n, dtype=object)
        e[j] = 1.0
        columns.append(np.atleast_1d(jvp(f, x, e)[1]).ravel())
    return np.array(columns, dtype=object).T.reshape(-1, n)


__all__ = ["DualNumber", "derivative", "gradient", "jacobian", "jvp"]
