"""Reverse mode (backpropagation): one forward pass stores values, one backward pass
pushes adjoints (``x_bar = dz/dx``) from the output to the inputs.

The notebook's classes and methods are kept: ``Const``, ``Var`` (with a
``gradient`` attribute), ``Add``, ``Mul`` ..., ``evaluate()`` and the
recursive ``backpropagate(gradient)``. That one is kept *to show its flaw*:
it walks every path from the output, so a shared subexpression is visited
once per path, exponentially many times in ``(z + z) * 0.5`` chains
(``Node.visits`` counts the calls).

``backward()`` is the real pass. Every node is numbered when it is built, and
a node is always built after its operands, so creation order is a
topological order: the order of a Wengert list (a tape). The pass collects
the output's ancestors without recursion, sorts them newest first (in C),
then sweeps once: each node pushes ``x_bar += y_bar * dy/dx`` into its
operands, exactly once, after every consumer has pushed into it, and its
own adjoint is freed right after. Linear in the graph, no recursion limit, a
fixed order.

Nodes compute their value *and local partials* when built (like micrograd,
but the partials are numbers, not closures): the operator methods are
generated from the shared rule table, one specialised function per rule, so
``z * 0.9`` costs one Python call. Constant operands cost nothing (``x**2``
never evaluates log(x)). ``evaluate()`` recomputes every value after a
``Var.value`` changed.

Second order: ``gradients(z, xs, create_graph=True)`` returns adjoints as
graphs (the "symbolic reverse pass"), which differentiate again
(``hessian(..., "reverse-over-reverse")``); or run ``backward()`` with
``DualNumber`` values in the variables (``"forward-over-reverse"``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

import numpy as np

from toyad import graph, rules

_epochs = itertools.count(1)  # one number per backward pass: marks the nodes it reaches
_serials = itertools.count(1)  # creation numbers: operands are always older than users
_newest_first = attrgetter("_serial")
_new = object.__new__


class Node:
    """A value in the graph.

    ``a``/``b`` are the operands (None where absent), ``da``/``db`` the local
    partials ∂y/∂a, ∂y/∂b; ``_adj`` holds the adjoint during ``backward()``.
    """

    __slots__ = ("value", "a", "b", "da", "db", "_adj", "_epoch", "_serial")
    _kids: tuple[Node, ...] = ()
    visits = 0  # calls of the notebook's recursive backpropagate (all nodes)

    def evaluate(self) -> Any:
        """Recompute every value below this node (iteratively, oldest first) and return ours."""
        for node in reversed(_ancestors([self], next(_epochs))):
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
    # a + b, 2 * a, a.sin(), ... are installed below from the rule table

    def __pos__(self) -> Node:
        return self


def _is_number(o: Any) -> bool:
    return type(o) is float or rules.is_real(o) or hasattr(o, "eps")


def _leaf_text(node: Node) -> str:
    return node.name if isinstance(node, Var) else str(node.value)


class Const(Node):
    """A constant: no adjoint is ever pushed into it."""

    __slots__ = ()

    def __init__(self, value: Any):
        self.value = value
        self.a = self.b = None
        self._epoch = 0
        self._serial = next(_serials)

    def backpropagate(self, gradient: Any) -> None:
        Node.visits += 1


class Var(Node):
    """An input; ``gradient`` receives dz/dx."""

    __slots__ = ("name", "gradient")

    def __init__(self, name: str, init_value: Any = 0):
        self.name = name
        self.value = init_value
        self.gradient: Any = 0
        self.a = self.b = None
        self._epoch = 0
        self._serial = next(_serials)

    def backpropagate(self, gradient: Any) -> None:
        Node.visits += 1
        self.gradient += gradient


_CONSTS: dict[float, Const] = {}


def _const(value: Any) -> Const:
    """A Const for a number; nonzero floats share one (literals like 0.9 recur in loops).

    Constants never receive adjoints and are never written by a pass, so sharing
    them between graphs is safe; zeros are not shared (0.0 == -0.0 as dict keys)
    and the cache is bounded.
    """
    if type(value) is not float or not value:
        return Const(value)
    c = _CONSTS.get(value)
    if c is None:
        if len(_CONSTS) >= 10_000:
            _CONSTS.clear()
        c = _CONSTS[value] = Const(value)
    return c


def _node(o: Any) -> Node:
    if isinstance(o, Node):
        return o
    if _is_number(o):
        return _const(o)
    raise TypeError(f"cannot use a {type(o).__name__} in a graph (numbers and nodes only)")


class BinaryOperator(Node):
    """y = f(a, b); stores y and the local partials ``da`` = ∂y/∂a, ``db`` = ∂y/∂b."""

    __slots__ = ()
    rule: rules.Binary
    _template: str
    _fill: Callable[[Node, Node, Node], None]  # value and partials, from the rule

    def __init__(self, a: Any, b: Any) -> None:
        self._serial = next(_serials)
        self._fill(_node(a), _node(b))

    @property
    def _kids(self) -> tuple[Node, Node]:
        return (self.a, self.b)

    def _recompute(self) -> None:
        self._fill(self.a, self.b)

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

    __slots__ = ()
    rule: rules.Unary
    _template: str
    _fill: Callable[[Node, Node], None]

    def __init__(self, a: Any) -> None:
        self._serial = next(_serials)
        self._fill(_node(a))

    @property
    def _kids(self) -> tuple[Node]:
        return (self.a,)

    def _recompute(self) -> None:
        self._fill(self.a)

    def backpropagate(self, gradient: Any) -> None:
        Node.visits += 1
        if type(self.a) is Const:
            self.a.backpropagate(gradient)
        else:
            self.a.backpropagate(gradient * self.da)


# -- code generated from the rule table ---------------------------------------------
#
# Each rule becomes two small functions, compiled once at import from one body:
# ``_fill`` (used by ``Mul(a, b)`` and ``evaluate()``) and the operator method
# (``a * b``), which allocates the node and runs the same body inline, so the
# hot path is one Python call. What the rule declares decides the body: a
# plain-operator kernel is written inline (``av * bv``), a partial that is an
# argument is a plain store (``y.da = bv``), a constant partial lives on the
# class, and any other partial is a call of the rule's function, skipped when
# the operand is a constant. ``Mul._source`` shows the result.

_VALUE_NAMES = {"a": "av", "b": "bv", "x": "av", "y": "yv"}

_BINARY_BODY = """\
    y.a = a; y.b = b; y._epoch = 0
    av = a.value; bv = b.value
    y.value = yv = {value}
{partials}"""

_BINARY_SOURCE = """\
def fill(y, a, b):
{body}

def operator(a, b):
    if type(b) is float:
        b = consts.get(b) or make_const(b)
    elif not isinstance(b, Node):
        if not is_number(b):
            return NotImplemented  # numpy arrays broadcast; others get Python's TypeError
        b = make_const(b)
    y = new(cls)
    y._serial = next(serials)
{body}
    return y

def reflected(b, a):
    if not is_number(a):
        return NotImplemented
    a = make_const(a)
    y = new(cls)
    y._serial = next(serials)
{body}
    return y
"""

_UNARY_BODY = """\
    y.a = a; y.b = None; y._epoch = 0
    av = a.value
    y.value = yv = kernel(av) if type(av) is float else generic(av)
{partials}"""

_UNARY_SOURCE = """\
def fill(y, a):
{body}

def method(a):
    y = new(cls)
    y._serial = next(serials)
{body}
    return y
"""


def _partial_line(slot: str, operand: str, const: Any, arg: str | None, call: str) -> str:
    if const is not None:
        return ""  # on the class
    if arg is not None:
        return f"    y.{slot} = {_VALUE_NAMES[arg]}\n"
    # x**2 never evaluates log(x): no partial for a constant operand
    return f"    if {operand}.__class__ is not Const:\n        y.{slot} = {call}\n"


def _compile(cls: type, source: str, namespace: dict) -> dict:
    namespace.update(
        cls=cls,
        Node=Node,
        Const=Const,
        new=_new,
        serials=_serials,
        consts=_CONSTS,
        make_const=_const,
        is_number=_is_number,
    )
    exec(compile(source, f"<toyad.reverse {cls.__name__}>", "exec"), namespace)
    cls._source = source
    cls._fill = namespace["fill"]
    return namespace


def _generate_binary(cls: type) -> tuple[Callable, Callable]:
    rule: rules.Binary = cls.rule
    for slot in ("da", "db"):  # d(a+b)/da = 1: one number on the class, none per node
        if getattr(rule, slot + "_const") is not None:
            setattr(cls, slot, getattr(rule, slot + "_const"))
    body = _BINARY_BODY.format(
        value=f"av {rule.symbol} bv" if rule.infix else "kernel(av, bv)",
        partials=_partial_line("da", "a", rule.da_const, rule.da_arg, "da(av, bv, yv)")
        + _partial_line("db", "b", rule.db_const, rule.db_arg, "db(av, bv, yv)"),
    ).rstrip()
    ns = _compile(
        cls,
        _BINARY_SOURCE.format(body=body),
        {"kernel": rule.kernel, "da": rule.da, "db": rule.db},
    )
    return ns["operator"], ns["reflected"]


def _generate_unary(cls: type) -> Callable:
    rule: rules.Unary = cls.rule
    if rule.deriv_const is not None:
        cls.da = rule.deriv_const
    body = _UNARY_BODY.format(
        partials=_partial_line("da", "a", rule.deriv_const, rule.deriv_arg, "deriv(av, yv)")
    ).rstrip()
    ns = _compile(
        cls,
        _UNARY_SOURCE.format(body=body),
        {"kernel": rule.kernel, "generic": rule, "deriv": rule.deriv},
    )
    method = ns["method"]
    method.__name__, method.__doc__ = rule.name, f"{cls.__name__} node: {rule.math}"
    return method


BINARY_CLASSES, UNARY_CLASSES = graph.rule_classes(BinaryOperator, UnaryOperator, __name__)
Add, Sub, Mul, Div, Pow = (BINARY_CLASSES[k] for k in ("add", "sub", "mul", "div", "pow"))
Neg, Sin, Cos, Tan = (UNARY_CLASSES[k] for k in ("negative", "sin", "cos", "tan"))
Exp, Log, Sqrt, Tanh = (UNARY_CLASSES[k] for k in ("exp", "log", "sqrt", "tanh"))
Arctan, Abs, Sign, Relu, Step = (
    UNARY_CLASSES[k] for k in ("arctan", "absolute", "sign", "relu", "heaviside")
)

graph.install_operators(Node, {name: _generate_binary(cls) for name, cls in BINARY_CLASSES.items()})


def _real(o: Any) -> Any:
    """A node's (or number's) plain value: nested dual numbers unwrapped."""
    while isinstance(o, Node) or hasattr(o, "eps"):
        o = o.value
    return o


graph.install_comparisons(Node, _real)  # np.max / np.min on object arrays
for _cls in UNARY_CLASSES.values():
    setattr(Node, _cls.rule.name, _generate_unary(_cls))
Node.__neg__ = Node.negative  # type: ignore[attr-defined]
Node.__abs__ = Node.abs = Node.absolute  # type: ignore[attr-defined]


# -- the backward pass -------------------------------------------------------------


def _ancestors(outputs: Sequence[Node], epoch: int) -> list[Node]:
    """The non-constant nodes below ``outputs``, each once, newest first.

    Marks each with ``epoch`` and a zero adjoint. Newest first is a reverse
    topological order, because every node is younger than its operands.
    """
    found: list[Node] = []
    for out in outputs:
        if out.__class__ is not Const and out._epoch != epoch:
            out._epoch, out._adj = epoch, 0.0
            found.append(out)
    keep = found.append
    for node in found:  # grows while we walk it: a breadth-first sweep, no stack
        kid = node.a
        if kid is not None:
            if kid._epoch != epoch and kid.__class__ is not Const:
                kid._epoch, kid._adj = epoch, 0.0
                keep(kid)
            kid = node.b
            if kid is not None and kid._epoch != epoch and kid.__class__ is not Const:
                kid._epoch, kid._adj = epoch, 0.0
                keep(kid)
    found.sort(key=_newest_first, reverse=True)
    return found


def backward(outputs: Sequence[Node], seeds: Sequence[Any]) -> int:
    """Push ``seeds`` (output adjoints) back to every Var below ``outputs``.

    Returns how many nodes were visited (each exactly once). Newest first, a
    node's adjoint is complete when its turn comes: all its consumers are
    younger. Constants are never visited: only nodes marked with this pass's
    epoch receive adjoints.
    """
    epoch = next(_epochs)
    order = _ancestors(outputs, epoch)
    for out, seed in zip(outputs, seeds, strict=True):
        if out.__class__ is not Const:
            out._adj = out._adj + seed
    for node in order:
        y_bar = node._adj
        a = node.a
        if a is None:  # a Var
            node.gradient = y_bar
            continue
        if a._epoch == epoch:
            a._adj += y_bar * node.da
        b = node.b
        if b is not None and b._epoch == epoch:
            b._adj += y_bar * node.db
        node._adj = None  # freed early
    return len(order)


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
