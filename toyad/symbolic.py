"""Symbolic forward mode: derivatives are expression graphs, so they differentiate again.

The notebook's classes (``Const``, ``Var``, ``Add``, ``Mul``, ``evaluate``,
``gradient``) and one class per rule of :mod:`toyad.rules` (``Sub``, ``Div``,
``Pow``, ``Neg``, ``Sin``, ``Cos``, ``Exp``, ``Log``, ``Tanh``, ``Sqrt``, ...).
Python operators build the same nodes: ``x*x*y + y + 2``.

Higher orders stay tractable because

- constructors fold constants and drop 0 and 1 (``0*u -> 0``, ``1*u -> u``,
  ``u + 0 -> u``);
- equal subexpressions are *one* node (hash-consing): building ``Cos(x)``
  twice gives the same object, so derivative graphs stay shared DAGs;
- ``gradient`` and ``evaluate`` visit each shared node once (memoised,
  iterative), so cost is linear in the DAG, not in the printed tree.

Values may be any number type: ``Var.value`` may hold a ``DualNumber`` and
``evaluate()`` runs the duals through the graph, as the notebook does.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from toyad import graph, rules

_INTERNED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


class Expr:
    """A node of the expression graph."""

    __slots__ = ("__weakref__",)
    _kids: tuple[Expr, ...] = ()

    # -- the notebook's API ---------------------------------------------------
    def evaluate(self) -> Any:
        """The value at the variables' current values."""
        return evaluate_all([self])[0]

    def gradient(self, var: Var) -> Expr:
        """d self / d var as a new expression (forward-mode symbolic differentiation)."""
        return derivatives([self], var)[0]

    def __str__(self) -> str:
        return graph.render(self, _leaf_text)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>" if len(self._kids) < 3 else object.__repr__(self)

    # operators (a + b, 2 * a, ...) build simplified, shared nodes: installed below
    # from the rule table (graph.install_operators)

    def __neg__(self) -> Expr:
        return self.negative()  # type: ignore[attr-defined]

    def __pos__(self) -> Expr:
        return self

    def __abs__(self) -> Expr:
        return self.absolute()  # type: ignore[attr-defined]


class Const(Expr):
    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


class Var(Expr):
    __slots__ = ("name", "value")

    def __init__(self, name: str, init_value: Any = 0):
        self.name = name
        self.value = init_value


class BinaryOperator(Expr):
    __slots__ = ("a", "b", "_kids")
    rule: rules.Binary
    _template: str

    def __init__(self, a: Any, b: Any):
        self.a, self.b = _as_expr(a), _as_expr(b)
        self._kids = (self.a, self.b)


class UnaryOperator(Expr):
    __slots__ = ("a", "_kids")
    rule: rules.Unary
    _template: str

    def __init__(self, a: Any):
        self.a = _as_expr(a)
        self._kids = (self.a,)


def _leaf_text(node: Expr) -> str:
    return node.name if isinstance(node, Var) else str(node.value)


BINARY_CLASSES, UNARY_CLASSES = graph.rule_classes(BinaryOperator, UnaryOperator, __name__)


def _operators(cls: type) -> tuple[Callable, Callable]:
    """``self <op> o`` and ``o <op> self``: simplified, shared nodes of ``cls``."""
    return (lambda self, o: _binary(cls, self, o), lambda self, o: _binary(cls, o, self))


graph.install_operators(Expr, {name: _operators(cls) for name, cls in BINARY_CLASSES.items()})


def _real(o: Any) -> Any:
    """An expression's value at the variables' current values (numbers pass)."""
    return o.evaluate() if isinstance(o, Expr) else o


graph.install_comparisons(Expr, _real)  # np.max / np.min on object arrays
Add, Sub, Mul, Div, Pow = (BINARY_CLASSES[k] for k in ("add", "sub", "mul", "div", "pow"))
Neg, Sin, Cos, Tan = (UNARY_CLASSES[k] for k in ("negative", "sin", "cos", "tan"))
Exp, Log, Sqrt, Tanh = (UNARY_CLASSES[k] for k in ("exp", "log", "sqrt", "tanh"))
Arctan, Abs, Sign, Relu, Step = (
    UNARY_CLASSES[k] for k in ("arctan", "absolute", "sign", "relu", "heaviside")
)


def _unary_method(cls: type[UnaryOperator]):
    def method(self: Expr) -> Expr:
        return _unary(cls, self)

    method.__name__ = cls.rule.name
    method.__doc__ = cls.rule.math
    return method


for _cls in UNARY_CLASSES.values():
    setattr(Expr, _cls.rule.name, _unary_method(_cls))
Expr.abs = Expr.absolute  # type: ignore[attr-defined]


# -- constructors that simplify and share ------------------------------------------


def _as_expr(v: Any) -> Expr:
    if isinstance(v, Expr):
        return v
    if rules.is_real(v) or hasattr(v, "eps"):  # numbers, DualNumbers
        return const(v)
    raise TypeError(f"cannot use a {type(v).__name__} in an expression (numbers and Expr only)")


def const(value: Any) -> Const:
    """The shared Const for a real number (a new one for other number types)."""
    if not rules.is_real(value):
        return Const(value)
    key = (Const, type(value), value)
    node = _INTERNED.get(key)
    if node is None:
        node = Const(value)
        _INTERNED[key] = node
    return node


def _real_const(e: Expr) -> Any:
    """The number held by a Const of a real value, else None."""
    return e.value if type(e) is Const and rules.is_real(e.value) else None


def _intern(cls: type, *kids: Expr) -> Expr:
    key = (cls, *map(id, kids))  # kids outlive the node, so their ids stay unique
    node = _INTERNED.get(key)
    if node is None:
        node = cls(*kids)
        _INTERNED[key] = node
    return node


def _binary(cls: type[BinaryOperator], a: Any, b: Any) -> Any:
    if not isinstance(a, Expr) and not (rules.is_real(a) or hasattr(a, "eps")):
        return NotImplemented  # numpy arrays broadcast; other types get Python's TypeError
    if not isinstance(b, Expr) and not (rules.is_real(b) or hasattr(b, "eps")):
        return NotImplemented
    a, b = _as_expr(a), _as_expr(b)
    ca, cb = _real_const(a), _real_const(b)
    if ca is not None and cb is not None:
        return const(cls.rule.kernel(ca, cb))
    if cls is Add:
        if ca == 0:
            return b
        if cb == 0:
            return a
    elif cls is Sub:
        if cb == 0:
            return a
        if ca == 0:
            return _unary(Neg, b)
    elif cls is Mul:
        if ca == 0 or cb == 0:
            return const(0.0)
        if ca == 1:
            return b
        if cb == 1:
            return a
        if ca == -1:
            return _unary(Neg, b)
        if cb == -1:
            return _unary(Neg, a)
    elif cls is Div:
        if ca == 0:
            return const(0.0)
        if cb == 1:
            return a
    elif cls is Pow:
        if cb == 0:
            return const(1.0)
        if cb == 1:
            return a
    return _intern(cls, a, b)


def _unary(cls: type[UnaryOperator], a: Expr) -> Expr:
    ca = _real_const(a)
    if ca is not None:
        return const(cls.rule.kernel(ca))
    if cls is Neg and type(a) is Neg:
        return a.a
    return _intern(cls, a)


# -- evaluation and differentiation ------------------------------------------------


def evaluate_all(roots: Iterable[Expr]) -> list[Any]:
    """Values of several expressions, each shared node computed once."""
    roots = list(roots)
    value: dict[int, Any] = {}
    for node in graph.topological_order(roots):
        if isinstance(node, BinaryOperator):
            value[id(node)] = node.rule.kernel(value[id(node.a)], value[id(node.b)])
        elif isinstance(node, UnaryOperator):
            value[id(node)] = node.rule(value[id(node.a)])
        else:
            value[id(node)] = node.value
    return [value[id(r)] for r in roots]


def derivatives(roots: Iterable[Expr], var: Var | Mapping[Var, Any]) -> list[Expr]:
    """d root / d var for each root: one forward sweep, tangents as expressions.

    Each node's tangent (``x_dot``) is built once from its operands' tangents
    and its rule: d f(a, b) = f_a(a, b)·a_dot + f_b(a, b)·b_dot. ``var`` may
    instead map variables to tangent seeds (numbers or expressions): the
    directional derivative Σ ∂root/∂v · seed[v], still one sweep.
    """
    roots = list(roots)
    zero, one = const(0.0), const(1.0)
    seeds = {id(v): _as_expr(t) for v, t in var.items()} if isinstance(var, Mapping) else None
    dot: dict[int, Expr] = {}
    for node in graph.topological_order(roots):
        if isinstance(node, BinaryOperator):
            a_dot, b_dot = dot[id(node.a)], dot[id(node.b)]
            rule, d = node.rule, zero
            if a_dot is not zero:
                d = rule.da(node.a, node.b, node) * a_dot
            if b_dot is not zero:  # a constant exponent never builds log(base)
                d = d + rule.db(node.a, node.b, node) * b_dot
            dot[id(node)] = _as_expr(d)
        elif isinstance(node, UnaryOperator):
            a_dot = dot[id(node.a)]
            dot[id(node)] = (
                zero if a_dot is zero else _as_expr(node.rule.deriv(node.a, node) * a_dot)
            )
        elif seeds is not None:
            dot[id(node)] = seeds.get(id(node), zero)
        else:
            dot[id(node)] = one if node is var else zero
    return [dot[id(r)] for r in roots]


def size(roots: Iterable[Expr]) -> int:
    """Number of distinct nodes reachable from ``roots`` (the DAG's size)."""
    return len(graph.topological_order(roots))


__all__ = [
    "Abs",
    "Add",
    "Arctan",
    "BinaryOperator",
    "Const",
    "Cos",
    "Div",
    "Exp",
    "Expr",
    "Log",
    "Mul",
    "Neg",
    "Pow",
    "Relu",
    "Sign",
    "Sin",
    "Sqrt",
    "Step",
    "Sub",
    "Tan",
    "Tanh",
    "UnaryOperator",
    "Var",
    "const",
    "derivatives",
    "evaluate_all",
    "size",
]
