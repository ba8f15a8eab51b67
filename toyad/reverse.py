"""Reverse mode (backpropagation): one forward pass stores values, one backward pass
pushes adjoints (``x_bar = dz/dx``) from the output to the inputs.

The notebook's classes and methods are kept: ``Const``, ``Var`` (with a
``gradient`` attribute), ``Add``, ``Mul`` ..., ``evaluate()`` and the
recursive ``backpropagate(gradient)``. That one is kept *to show its flaw*:
it walks every path from the output, so a shared subexpression is visited
once per path, exponentially many times in ``(z + z) * 0.5`` chains
(``Node.visits`` counts the calls).

``backward()`` is the real pass (after HIPS autograd): an iterative,
consumer-counting topological order. A first sweep counts each node's
consumers; the second starts at the output and hands a node on only when its
last consumer has pushed into it, so each adjoint is complete before it is
used, pushed exactly once, and freed right after. Linear in the graph, no
recursion limit, a fixed order.

Nodes compute their value when built (like micrograd); ``evaluate()``
recomputes every value after a ``Var.value`` changed. Local partials come
from the shared rule table, evaluated at backward time, so constant operands
cost nothing (``x**2`` never evaluates log(x)).

Second order: ``gradients(z, xs, create_graph=True)`` returns adjoints as
graphs (the "symbolic reverse pass"), which differentiate again
(``hessian(..., "reverse-over-reverse")``); or run ``backward()`` with
``DualNumber`` values in the variables (``"forward-over-reverse"``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from toyad import graph, rules

_epochs = itertools.count(1)


class Node:
    """A value in the graph; ``_adj`` holds its adjoint during ``backward()``."""

    __slots__ = ("value", "_adj", "_pending", "_epoch")
    _kids: tuple[Node, ...] = ()
    _arity = 0
    visits = 0  # calls of the notebook's recursive backpropagate (all nodes)

    def evaluate(self) -> Any:
        """Recompute every value below this node (iteratively) and return ours."""
        for node in graph.topological_order([self]):
            node._recompute()
        return self.value

    def _recompute(self) -> None:
        pass

    def backward(self, gradient: Any = 1.0) -> None:
        """Adjoints of every node below, by one linear pass; sets ``Var.gradient``.

        Unlike ``backpropagate`` it does not accumulate: each call overwrites the
        gradients of the variables it reaches.
        """
        backward([self], [gradient])

    def backward_visits(self, gradient: Any = 1.0) -> int:
        """``backward()``, returning how many nodes it pushed adjoints from (each once)."""
        return backward([self], [gradient])

    def __str__(self) -> str:
        return graph.render(self, _leaf_text)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} value={self.value!r}>"

    # -- operators ------------------------------------------------------------
    # operators (a + b, 2 * a, ...) are installed below from the rule table

    def __neg__(self) -> Node:
        return Neg(self)

    def __pos__(self) -> Node:
        return self

    def __abs__(self) -> Node:
        return Abs(self)


def _is_number(o: Any) -> bool:
    return type(o) is float or rules.is_real(o) or hasattr(o, "eps")


def _with_const(cls: type, node: Node, o: Any, reflected: bool) -> Any:
    if not _is_number(o):
        return NotImplemented  # numpy arrays broadcast; other types get Python's TypeError
    c = _const(o)
    return cls(c, node) if reflected else cls(node, c)


_CONSTS: dict[float, Const] = {}


def _const(value: Any) -> Const:
    """A Const for a number; nonzero floats share one (literals like 0.9 recur in loops).

    Constants never receive adjoints, so sharing them between graphs is safe;
    zeros are not shared (0.0 == -0.0 as dict keys) and the cache is bounded.
    """
    if type(value) is not float or not value:
        return Const(value)
    c = _CONSTS.get(value)
    if c is None:
        if len(_CONSTS) >= 10_000:
            _CONSTS.clear()
        c = _CONSTS[value] = Const(value)
    return c


def _leaf_text(node: Node) -> str:
    return node.name if isinstance(node, Var) else str(node.value)


class Const(Node):
    """A constant: no adjoint is ever pushed into it."""

    __slots__ = ()

    def __init__(self, value: Any):
        self.value = value
        self._epoch = 0

    def backpropagate(self, gradient: Any) -> None:
        Node.visits += 1


class Var(Node):
    """An input; ``gradient`` receives dz/dx."""

    __slots__ = ("name", "gradient")

    def __init__(self, name: str, init_value: Any = 0):
        self.name = name
        self.value = init_value
        self.gradient: Any = 0
        self._epoch = 0

    def backpropagate(self, gradient: Any) -> None:
        Node.visits += 1
        self.gradient += gradient


def _node(o: Any) -> Node:
    if isinstance(o, Node):
        return o
    if _is_number(o):
        return Const(o)
    raise TypeError(f"cannot use a {type(o).__name__} in a graph (numbers and nodes only)")


class BinaryOperator(Node):
    """y = f(a, b); stores y and the local partials ``da`` = ∂y/∂a, ``db`` = ∂y/∂b."""

    __slots__ = ("a", "b", "da", "db")
    rule: rules.Binary
    _template: str
    _arity = 2

    @property
    def _kids(self) -> tuple[Node, Node]:
        return (self.a, self.b)

    def _recompute(self) -> None:
        type(self).__init__(self, self.a, self.b)

    def backpropagate(self, gradient: Any) -> None:
        """The notebook's recursion: push into both operands, every path anew."""
        Node.visits += 1
        for kid, partial in ((self.a, "da"), (self.b, "db")):
            if type(kid) is Const:  # a no-op call, as in the notebook
                kid.backpropagate(gradient)
            else:
                kid.backpropagate(gradient * getattr(self, partial))


class UnaryOperator(Node):
    """y = f(a); stores y and ``da`` = dy/da."""

    __slots__ = ("a", "da")
    rule: rules.Unary
    _template: str
    _arity = 1

    @property
    def _kids(self) -> tuple[Node]:
        return (self.a,)

    def _recompute(self) -> None:
        type(self).__init__(self, self.a)

    def backpropagate(self, gradient: Any) -> None:
        Node.visits += 1
        if type(self.a) is Const:
            self.a.backpropagate(gradient)
        else:
            self.a.backpropagate(gradient * self.da)


def _binary_init(rule: rules.Binary):
    kernel, da, db = rule.kernel, rule.da, rule.db
    da_varies, db_varies = rule.da_const is None, rule.db_const is None

    def __init__(self: BinaryOperator, a: Any, b: Any) -> None:
        if not isinstance(a, Node):
            a = _node(a)
        if not isinstance(b, Node):
            b = _const(b) if type(b) is float else _node(b)
        self.a, self.b, self._epoch = a, b, 0
        av, bv = a.value, b.value
        y = self.value = kernel(av, bv)
        if da_varies and a.__class__ is not Const:  # x**2 never evaluates log(x)
            self.da = da(av, bv, y)
        if db_varies and b.__class__ is not Const:
            self.db = db(av, bv, y)

    return __init__


def _unary_init(rule: rules.Unary):
    kernel, deriv = rule.kernel, rule.deriv

    def __init__(self: UnaryOperator, a: Any) -> None:
        if not isinstance(a, Node):
            a = _node(a)
        self.a, self._epoch = a, 0
        av = a.value
        y = self.value = kernel(av) if type(av) is float else rule(av)
        if a.__class__ is not Const:
            self.da = deriv(av, y)

    return __init__


def _binary_attrs(rule: rules.Binary) -> dict:
    # a constant partial (d(a+b)/da = 1) lives on the class, not in each node
    consts = {k: v for k, v in (("da", rule.da_const), ("db", rule.db_const)) if v is not None}
    return {**consts, "__init__": _binary_init(rule)}


BINARY_CLASSES, UNARY_CLASSES = graph.rule_classes(
    BinaryOperator,
    UnaryOperator,
    __name__,
    binary_attrs=_binary_attrs,
    unary_attrs=lambda rule: {"__init__": _unary_init(rule)},
)
Add, Sub, Mul, Div, Pow = (BINARY_CLASSES[k] for k in ("add", "sub", "mul", "div", "pow"))
Neg, Sin, Cos, Tan = (UNARY_CLASSES[k] for k in ("negative", "sin", "cos", "tan"))
Exp, Log, Sqrt, Tanh = (UNARY_CLASSES[k] for k in ("exp", "log", "sqrt", "tanh"))
Arctan, Abs, Sign, Relu, Step = (
    UNARY_CLASSES[k] for k in ("arctan", "absolute", "sign", "relu", "heaviside")
)


def _forward_operator(cls: type) -> Callable[[Node, Any], Any]:
    def op(self: Node, o: Any) -> Any:
        if type(o) is float or isinstance(o, Node):  # the hot path: no conversion
            return cls(self, o)
        return _with_const(cls, self, o, False)

    return op


graph.install_operators(
    Node,
    BINARY_CLASSES,
    forward=_forward_operator,
    reflected=lambda cls: lambda self, o: _with_const(cls, self, o, True),
)
for _cls in UNARY_CLASSES.values():
    setattr(Node, _cls.rule.name, lambda self, _c=_cls: _c(self))
Node.abs = Node.absolute  # type: ignore[attr-defined]


# -- the backward pass -------------------------------------------------------------


def backward(outputs: Sequence[Node], seeds: Sequence[Any]) -> int:
    """Push ``seeds`` (output adjoints) back to every Var below ``outputs``.

    Pass 1 counts, for each node, the edges from its consumers (``_pending``)
    and zeroes its adjoint. Pass 2 pops a node once all its consumers have
    pushed into it, pushes ``x_bar += y_bar · ∂y/∂x`` into its operands,
    and frees its own adjoint. Constants are never visited: only nodes that
    pass 1 stamped with this pass's epoch receive adjoints.
    """
    epoch = next(_epochs)
    stack: list[Node] = []
    push, pop = stack.append, stack.pop
    for out in outputs:
        if type(out) is not Const and out._epoch != epoch:
            out._epoch, out._pending, out._adj = epoch, 0, 0.0
            push(out)
    roots = list(stack)
    while stack:  # pass 1: count consumers (operand a, then b for binary nodes)
        node = pop()
        arity = node._arity
        if arity:
            kid = node.a
            if kid._epoch == epoch:
                kid._pending += 1
            elif kid.__class__ is not Const:
                kid._epoch, kid._pending, kid._adj = epoch, 1, 0.0
                push(kid)
            if arity == 2:
                kid = node.b
                if kid._epoch == epoch:
                    kid._pending += 1
                elif kid.__class__ is not Const:
                    kid._epoch, kid._pending, kid._adj = epoch, 1, 0.0
                    push(kid)
    for out, seed in zip(outputs, seeds, strict=True):
        if type(out) is not Const:
            out._adj = out._adj + seed
    stack = [r for r in roots if r._pending == 0]
    push, pop = stack.append, stack.pop
    visited = len(stack)
    while stack:  # pass 2: push each adjoint once, in topological order
        node = pop()
        y_bar = node._adj
        arity = node._arity
        if arity == 2:
            a = node.a
            if a._epoch == epoch:
                a._adj += y_bar * node.da
                a._pending -= 1
                if not a._pending:
                    push(a)
                    visited += 1
            b = node.b
            if b._epoch == epoch:
                b._adj += y_bar * node.db
                b._pending -= 1
                if not b._pending:
                    push(b)
                    visited += 1
            node._adj = None  # freed early
        elif arity == 1:
            a = node.a
            if a._epoch == epoch:
                a._adj += y_bar * node.da
                a._pending -= 1
                if not a._pending:
                    push(a)
                    visited += 1
            node._adj = None
        else:  # a Var
            node.gradient = y_bar
    return visited


def gradients(output: Node, variables: Sequence[Var], create_graph: bool = False) -> list[Any]:
    """dz/dx for each x in ``variables`` (0 where z does not depend on x).

    With ``create_graph=True`` the adjoints are themselves graphs (the symbolic
    reverse pass: ``x_bar += y_bar * rule(x, y)`` built from nodes), so they
    can be differentiated again.
    """
    if not create_graph:
        for v in variables:
            v.gradient = 0.0
        if isinstance(output, Node):
            backward([output], [1.0])
        return [v.gradient for v in variables]
    adj = _symbolic_adjoints(output)
    return [adj.get(id(v), 0.0) for v in variables]


def _symbolic_adjoints(output: Node) -> dict[int, Any]:
    """Adjoints as nodes, by the same order as ``backward`` (here via a topological list)."""
    if not isinstance(output, Node) or type(output) is Const:
        return {}
    adj: dict[int, Any] = {id(output): 1.0}
    for node in reversed(graph.topological_order([output])):
        y_bar = adj.pop(id(node), None) if not isinstance(node, Var) else adj.get(id(node))
        if y_bar is None:
            continue
        if isinstance(node, BinaryOperator):
            a, b, rule = node.a, node.b, node.rule
            # constants enter the rule as numbers: d(x**2)/dx builds x**1.0, not x**(2-1)
            av = a.value if type(a) is Const else a
            bv = b.value if type(b) is Const else b
            if type(a) is not Const:
                _accumulate(adj, a, y_bar, rule.da(av, bv, node))
            if type(b) is not Const:
                _accumulate(adj, b, y_bar, rule.db(av, bv, node))
        elif isinstance(node, UnaryOperator) and type(node.a) is not Const:
            _accumulate(adj, node.a, y_bar, node.rule.deriv(node.a, node))
    return adj


def _accumulate(adj: dict[int, Any], kid: Node, y_bar: Any, partial: Any) -> None:
    if rules.is_real(partial):
        if partial == 0:
            return
        term = y_bar if partial == 1 else -y_bar if partial == -1 else y_bar * partial
    else:
        term = partial if (rules.is_real(y_bar) and y_bar == 1) else y_bar * partial
    old = adj.get(id(kid))
    adj[id(kid)] = term if old is None else old + term


def hessian(
    output_fn: Any, variables: Sequence[Var], mode: str = "reverse-over-reverse"
) -> np.ndarray:
    """Hessian of a scalar graph.

    ``output_fn``: the output node (reverse-over-reverse) or, for
    forward-over-reverse, a zero-argument callable rebuilding the graph from
    the variables' current values (so DualNumber values flow through it).
    """
    n = len(variables)
    h = np.zeros((n, n))
    if mode == "reverse-over-reverse":
        for i, g in enumerate(gradients(output_fn, variables, create_graph=True)):
            if isinstance(g, Node):
                h[i] = [float(r) for r in gradients(g, variables)]
        return h
    if mode == "forward-over-reverse":
        from toyad import dual

        x0 = [v.value for v in variables]
        try:
            for j in range(n):
                tag = next(dual._tags)  # a fresh perturbation level per column
                for i, v in enumerate(variables):
                    v.value = dual.DualNumber(x0[i], 1.0 if i == j else 0.0, tag)
                grads = gradients(output_fn(), variables)
                h[:, j] = [float(dual._tangent(g, tag)) for g in grads]
        finally:
            for v, x in zip(variables, x0, strict=True):
                v.value = x
        return h
    raise ValueError(
        f"unknown Hessian mode {mode!r}; use reverse-over-reverse or forward-over-reverse"
    )


def count_paths(output: Node) -> int:
    """Calls the recursive ``backpropagate`` would make: one per path from the output."""
    paths: dict[int, int] = {id(output): 1}
    total = 0
    for node in reversed(graph.topological_order([output])):
        p = paths.get(id(node), 0)
        total += p
        for kid in node._kids:
            paths[id(kid)] = paths.get(id(kid), 0) + p
    return total


__all__ = [
    "Abs",
    "Add",
    "Arctan",
    "BinaryOperator",
    "Const",
    "Cos",
    "Div",
    "Exp",
    "Log",
    "Mul",
    "Neg",
    "Node",
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
    "backward",
    "count_paths",
    "gradients",
    "hessian",
]
