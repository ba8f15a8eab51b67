"""Reverse mode (backpropagation): one forward pass stores values, one backward pass
pushes adjoints (``x_bar = dz/dx``) from the output to the inputs.

The notebook's classes and methods are kept: ``Const``, ``Var`` (with a
``gradient`` attribute), ``Add``, ``Mul`` ..., ``evaluate()`` and the
recursive ``backpropagate(gradient)``. That one is kept *to show its flaw*:
it walks every path from the output, so a shared subexpression is visited
once per path, exponentially many times in ``(z + z) * 0.5`` chains
(``Node.visits`` counts the calls).

``backward()`` is the real pass, over a flat tape. A node is always built
after its operands, so creation order is a topological order: the order of
a Wengert list. Every node, as it is built, appends one entry to the
current :class:`Tape`: ``(operand index, operand index, ∂y/∂a, ∂y/∂b)``,
numbers only (constants share index 0, a sink nobody reads). ``backward()``
sweeps that list once, newest first, with the adjoints in a plain list:
each reached entry pushes ``x_bar += y_bar * dy/dx`` into its operands after
every consumer has pushed into it. No graph walk, no sort, no recursion, no
attribute lookups on the hot path; linear in the tape.

The nodes stay the readable face: a node holds its value, its operands
(printing, ``evaluate()``, the notebook's recursion, the symbolic pass), its
tape and its index there; ``y.da``/``y.db`` read the partials from the
tape. The tape holds numbers and weak references to the variables, no
nodes, so it lives exactly as long as a node recorded on it, and no
reference cycle keeps anything for the garbage collector.

Tapes come and go by themselves: a fresh one starts when a new ``Var`` is
made after operations were recorded, after a ``backward()``, and every
``TAPE_LIMIT`` entries; ``with Tape() as t:`` records a block on ``t``. A
graph may span tapes: a node used on a tape not its own joins that tape as a
leaf (a variable simply moves over, as it has no past), and ``backward()``
hands a leaf's adjoint on to its home tape. Backpropagation is linear in its
seeds, so sweeping tape after tape (newest first) gives the same gradient.
One tape is current per process: build graphs from one thread at a time.

Nodes compute their value *and local partials* when built (like micrograd,
but the partials are numbers, not closures): the operator methods are
generated from the shared rule table, one specialised function per rule, so
``z * 0.9`` costs one Python call. Constant operands cost nothing (``x**2``
never evaluates log(x)). ``evaluate()`` recomputes every value (and the
partials on the tapes) after a ``Var.value`` changed.

Second order: ``gradients(z, xs, create_graph=True)`` returns adjoints as
graphs (the "symbolic reverse pass"), which differentiate again
(``hessian(..., "reverse-over-reverse")``); or run ``backward()`` with
``DualNumber`` values in the variables (``"forward-over-reverse"``).
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

import numpy as np

from toyad import graph, rules

_epochs = itertools.count(1)  # kept for callers of _ancestors
_tape_serials = itertools.count(1)  # activation order: newer tapes are swept first
_new = object.__new__
TAPE_LIMIT = 1 << 16  # rows of an automatic tape before a fresh one starts


class Node:
    """A value in the graph.

    ``a``/``b`` are the operands (None where absent); ``_t`` is the
    :class:`Tape` the node is recorded on and ``_i`` its entry there.
    """

    __slots__ = ("value", "a", "b", "_t", "_i")
    _kids: tuple[Node, ...] = ()
    visits = 0  # calls of the notebook's recursive backpropagate (all nodes)

    def evaluate(self) -> Any:
        """Recompute every value below this node (iteratively, oldest first) and return ours."""
        for node in _evaluation_order(self):
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
    """A constant: no adjoint is ever pushed into it (its index on every tape is the sink)."""

    __slots__ = ()

    def __init__(self, value: Any):
        self.value = value
        self.a = self.b = None
        self._t, self._i = None, 0

    def backpropagate(self, gradient: Any) -> None:
        Node.visits += 1


class Var(Node):
    """An input; ``gradient`` receives dz/dx."""

    __slots__ = ("name", "gradient", "__weakref__")

    def __init__(self, name: str, init_value: Any = 0):
        self.name = name
        self.value = init_value
        self.gradient: Any = 0
        self.a = self.b = None
        self._t, self._i = None, 0
        tape = _active
        if tape._auto and tape._has_operations():  # a new input: most likely a new graph
            tape = _activate(Tape._automatic())
        tape.index(self)

    def backpropagate(self, gradient: Any) -> None:
        Node.visits += 1
        self.gradient += gradient


class _ConstCache(dict):
    """float -> its shared Const; ``cache[0.9]`` is one C-level lookup on the hot path."""

    def __missing__(self, value: float) -> Const:
        if not value:  # zeros are not shared (0.0 == -0.0 as dict keys)
            return Const(value)
        if len(self) >= 10_000:  # bounded
            self.clear()
        c = self[value] = Const(value)
        return c


_CONSTS: dict[float, Const] = _ConstCache()


def _const(value: Any) -> Const:
    """A Const for a number; nonzero floats share one (literals like 0.9 recur in loops).

    Constants never receive adjoints and are never written by a pass, so sharing
    them between graphs is safe; zeros are not shared (0.0 == -0.0 as dict keys)
    and the cache is bounded.
    """
    return _CONSTS[value] if type(value) is float else Const(value)


def _node(o: Any) -> Node:
    if isinstance(o, Node):
        return o
    if _is_number(o):
        return _const(o)
    raise TypeError(f"cannot use a {type(o).__name__} in a graph (numbers and nodes only)")


class BinaryOperator(Node):
    """y = f(a, b); ``da`` = ∂y/∂a and ``db`` = ∂y/∂b are read from the tape entry."""

    __slots__ = ()
    rule: rules.Binary
    _template: str
    _fill: Callable[[Node, Node, Node], tuple[Any, Any]]  # value; returns the partials

    def __init__(self, a: Any, b: Any) -> None:
        a, b = _node(a), _node(b)
        _record(self, a, b, *self._fill(a, b))

    @property
    def _kids(self) -> tuple[Node, Node]:
        return (self.a, self.b)

    @property
    def da(self) -> Any:
        return self._t.entries[4 * self._i + 2]

    @property
    def db(self) -> Any:
        return self._t.entries[4 * self._i + 3]

    def _recompute(self) -> None:  # replaced per rule by generated code
        _rerecord(self, *self._fill(self.a, self.b))

    def backpropagate(self, gradient: Any) -> None:
        """The notebook's recursion: push into both operands, every path anew."""
        Node.visits += 1
        for kid, partial in ((self.a, self.da), (self.b, self.db)):
            if type(kid) is Const:  # a no-op call, as in the notebook
                kid.backpropagate(gradient)
            else:
                kid.backpropagate(gradient * partial)


class UnaryOperator(Node):
    """y = f(a); ``da`` = dy/da is read from the tape entry."""

    __slots__ = ()
    rule: rules.Unary
    _template: str
    _fill: Callable[[Node, Node], Any]

    def __init__(self, a: Any) -> None:
        a = _node(a)
        _record(self, a, None, self._fill(a), 0.0)

    @property
    def _kids(self) -> tuple[Node]:
        return (self.a,)

    @property
    def da(self) -> Any:
        return self._t.entries[4 * self._i + 2]

    def _recompute(self) -> None:  # replaced per rule by generated code
        _rerecord(self, self._fill(self.a), 0.0)

    def backpropagate(self, gradient: Any) -> None:
        Node.visits += 1
        if type(self.a) is Const:
            self.a.backpropagate(gradient)
        else:
            self.a.backpropagate(gradient * self.da)


# -- the tape -----------------------------------------------------------------------


class Tape:
    """A Wengert list: node ``y`` built while the tape is active appends its row
    ``i_a, i_b, ∂y/∂a, ∂y/∂b`` to ``entries``, a flat list of four items per
    row (no object per row for the garbage collector), at row ``y._i``.

    Row 0 is the sink: constants, and the missing operand of a unary node,
    point there, so the sweep pushes without asking what an operand is. A
    variable's row, when it joins, pushes nothing (zero partials into the
    sink); a node of another tape joins as such a leaf too, remembered in
    ``_foreign``, and ``backward`` carries its adjoint on to its own tape.

    ``with Tape() as t:`` records a block on ``t`` (and returns to the tape
    before); outside such blocks the engine keeps automatic tapes.
    """

    __slots__ = ("entries", "serial", "_vars", "_foreign", "_outer", "_auto", "__weakref__")

    def __init__(self) -> None:
        self.entries: list[Any] = [0, 0, 0.0, 0.0]  # row 0: the sink
        self.serial = 0  # set when activated
        self._vars: list[tuple[int, weakref.ref]] = []  # (entry, variable)
        self._foreign: dict[tuple[Tape, int], int] = {}  # (home tape, index there) -> entry
        self._outer: list[Tape] = []
        self._auto = False

    @classmethod
    def _automatic(cls) -> Tape:
        tape = cls()
        tape._auto = True
        return tape

    def __enter__(self) -> Tape:
        self._outer.append(_active)
        _activate(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _activate(self._outer.pop())

    def __len__(self) -> int:
        """Rows, the sink's included."""
        return len(self.entries) >> 2

    def _has_operations(self) -> bool:
        return len(self) > 1 + len(self._vars) + len(self._foreign)

    def index(self, node: Node) -> int:
        """The entry of ``node`` on this tape, making a leaf for one it has not seen."""
        if node._t is self:
            return node._i
        if node.__class__ is Const:
            return 0
        entries = self.entries
        i = len(entries) >> 2
        if isinstance(node, Var):  # a variable has no past: it simply moves to this tape
            entries += _LEAF
            self._vars.append((i, weakref.ref(node)))
            node._t, node._i = self, i
            return i
        key = (node._t, node._i)
        j = self._foreign.get(key)
        if j is not None:
            return j
        entries += _LEAF
        self._foreign[key] = i
        return i

    def _sweep(self, seeds: list[tuple[int, Any]], work: dict, grads: dict) -> int:
        """Push ``seeds`` ((entry, adjoint) pairs) down this tape; returns nodes reached.

        Adjoints start as None, "not reached": a node no seed depends on never
        pushes (0 * inf would be nan), so exactly the seeds' ancestors are
        visited. Variables' adjoints go to ``grads``, foreign leaves' to
        ``work`` under their home tape.
        """
        entries = self.entries
        top = max(i for i, _ in seeds)
        adj: list[Any] = [None] * (top + 1)
        for i, s in seeds:
            v = adj[i]
            adj[i] = s if v is None else v + s
        end = 4 * (top + 1)
        it = reversed(entries) if end == len(entries) else reversed(entries[:end])
        # one row (backwards: db, da, ib, ia) and its adjoint per step; adj changes
        # only below the cursor
        reached = 0
        for db, da, ib, ia, g in zip(it, it, it, it, reversed(adj)):
            if g is None:
                continue
            reached += 1
            p = g * da
            v = adj[ia]
            adj[ia] = p if v is None else v + p
            p = g * db
            v = adj[ib]
            adj[ib] = p if v is None else v + p
        if adj[0] is not None:  # the sink's sum is nobody's adjoint
            reached -= 1
        for i, ref in self._vars:
            if i <= top and adj[i] is not None:
                var = ref()
                if var is not None:
                    old = grads.get(id(var))
                    if old is None:
                        grads[id(var)] = [var, adj[i]]
                    else:  # reached on another tape too, or joined this one twice
                        old[1] = old[1] + adj[i]
                        reached -= 1
        for (home, k), i in self._foreign.items():
            if i <= top and adj[i] is not None:
                work.setdefault(home, []).append((k, adj[i]))
                reached -= 1  # counted on its home tape
        return reached


_LEAF = (0, 0, 0.0, 0.0)  # a row that pushes nothing anywhere but the sink
_active: Tape = Tape._automatic()  # the tape nodes are recorded on
_NAMESPACES: list[dict] = []  # of the generated functions: they read ``tape`` and ``entries``


def _activate(tape: Tape) -> Tape:
    global _active
    _active = tape
    tape.serial = next(_tape_serials)
    limit = TAPE_LIMIT if tape._auto else float("inf")
    for ns in _NAMESPACES:
        ns["tape"], ns["entries"], ns["limit"] = tape, tape.entries, limit
    return tape


def _rotate() -> None:
    """A fresh automatic tape, if the current one is automatic and has operations."""
    if _active._auto and _active._has_operations():
        _activate(Tape._automatic())


def _record(y: Node, a: Node, b: Node | None, pa: Any, pb: Any) -> None:
    """Put a node built by its constructor on the active tape (the operators inline this)."""
    tape = _active
    ia = tape.index(a)
    ib = 0 if b is None else tape.index(b)
    y._t, y._i = tape, len(tape.entries) >> 2
    tape.entries += (ia, ib, pa, pb)
    if y._i >= TAPE_LIMIT:
        _rotate()


def _evaluation_order(root: Node) -> list[Node]:
    """The operation nodes below ``root``, operands first.

    Collected without recursion, each once (marked by its row); on one tape,
    row order is creation order, a topological order (a sort in C). A graph
    spanning tapes takes the depth-first order of :func:`graph.topological_order`.
    """
    if root.a is None:
        return []
    tape = root._t
    marks = bytearray(root._i + 1)
    found = [root]
    keep = found.append
    for node in found:  # grows while we walk it
        for kid in (node.a, node.b):
            if kid is None or kid.a is None:  # a leaf
                continue
            if kid._t is not tape:
                return [n for n in graph.topological_order([root]) if n.a is not None]
            i = kid._i
            if not marks[i]:
                marks[i] = 1
                keep(kid)
    found.sort(key=_row)
    return found


_row = attrgetter("_i")


def _rerecord(y: Node, pa: Any, pb: Any) -> None:
    """After ``evaluate()`` changed the partials, change them on the node's tape too."""
    entries = y._t.entries
    entries[4 * y._i + 2] = pa
    entries[4 * y._i + 3] = pb


# -- code generated from the rule table ---------------------------------------------
#
# Each rule becomes small functions, compiled once at import from one body:
# ``_fill`` (used by ``Mul(a, b)`` and ``evaluate()``; it returns the partials
# for the tape) and the operator method (``a * b``), which allocates the node,
# runs the same body inline and appends the tape entry, so the hot path is
# one Python call. What the rule declares decides the body: a plain-operator
# kernel is written inline (``av * bv``), a partial that is an argument goes
# to the tape as it is (``bv``), a constant partial is a literal (and lives
# on the class), and any other partial is a call of the rule's function,
# skipped when the operand is a constant. An operand known to be a constant
# (``z * 0.9``, ``2 - z``) gets a body of its own, with the sink as its
# entry. ``Mul._source`` shows the result.

_VALUE_NAMES = {"a": "av", "b": "bv", "x": "av", "y": "yv"}


def _partial(operand: str, const: Any, arg: str | None, call: str, kind: str):
    """(lines, expression for the tape) of one partial.

    ``kind`` of the operand: "any", "indexed" (any, its row already in
    ``ib``), "const" (a Const) or "float" (a Const whose value is already in
    ``bv``).
    """
    local = "p" + operand
    if const is not None:
        return [], repr(float(const))
    if arg is not None:
        return [], _VALUE_NAMES[arg]
    if kind == "indexed":  # any operand, its index already known
        kind = "any"
    if kind != "any":  # x**2 never evaluates log(x): no partial for a constant operand
        return [], "0.0"
    return [f"{local} = 0.0 if {operand}.__class__ is Const else {call}"], local


def _index(operand: str, kind: str) -> str:
    if kind == "indexed":  # computed before the body
        return "i" + operand
    if kind != "any":
        return "0"
    return f"{operand}._i if {operand}._t is tape else tape.index({operand})"


def _binary_body(rule: rules.Binary, a_kind: str, b_kind: str) -> tuple[list[str], str, str]:
    value = f"av {rule.symbol} bv" if rule.infix else "kernel(av, bv)"
    values = "av = a.value" if b_kind == "float" else "av = a.value; bv = b.value"
    la, pa = _partial("a", rule.da_const, rule.da_arg, "da(av, bv, yv)", a_kind)
    lb, pb = _partial("b", rule.db_const, rule.db_arg, "db(av, bv, yv)", b_kind)
    uses_y = "yv" in " ".join([*la, *lb, pa, pb])
    lines = ["y.a = a; y.b = b", values, f"y.value = {'yv = ' if uses_y else ''}{value}"]
    return lines + la + lb, pa, pb


def _unary_body(rule: rules.Unary) -> tuple[list[str], str]:
    lines = [
        "y.a = a; y.b = None",
        "av = a.value",
        "y.value = yv = kernel(av) if type(av) is float else generic(av)",
    ]
    la, pa = _partial("a", rule.deriv_const, rule.deriv_arg, "deriv(av, yv)", "any")
    return lines + la, pa


def _record_lines(ia: str, ib: str, pa: str, pb: str) -> list[str]:
    lines = []
    for name, expr in (("ia", ia), ("ib", ib)):
        if expr not in ("0", name):  # the sink's index is a literal in the row
            lines.append(f"{name} = {expr}")
    ia, ib = ("ia" if ia != "0" else "0"), ("ib" if ib != "0" else "0")
    return [
        *lines,
        "y._t = tape; y._i = n = len(entries) >> 2",
        f"entries.extend(({ia}, {ib}, {pa}, {pb}))",
        "if n >= limit:",
        "    rotate()",
        "return y",
    ]


def _rewrite_lines(pa: str, pb: str) -> list[str]:
    """``evaluate()``: new partials into the node's row (literal ones never change)."""
    lines = []
    for offset, p in ((2, pa), (3, pb)):
        if not p[0].isdigit():
            lines.append(f"rows[k + {offset}] = {p}")
    if not lines:
        return ["pass"]
    return ["rows = y._t.entries; k = 4 * y._i", *lines]


def _block(lines: list[str], depth: int) -> str:
    return "\n".join("    " * depth + line for line in lines)


def _binary_source(rule: rules.Binary) -> str:
    def creating(a_kind: str, b_kind: str, depth: int) -> str:
        body, pa, pb = _binary_body(rule, a_kind, b_kind)
        record = _record_lines(_index("a", a_kind), _index("b", b_kind), pa, pb)
        return _block(["y = new(cls)", *body, *record], depth)

    fill_body, pa, pb = _binary_body(rule, "any", "any")
    return f"""\
def fill(y, a, b):
{_block(fill_body, 1)}
    return {pa}, {pb}

def recompute(y):
    a = y.a; b = y.b
{_block(fill_body[1:], 1)}
{_block(_rewrite_lines(pa, pb), 1)}

def operator(a, b):
    if type(b) is float:
        bv = b
        b = consts[b]
{creating("any", "float", 2)}
    try:
        ib = b._i if b._t is tape else tape.index(b)
    except AttributeError:  # not a node
        if not is_number(b):
            return NotImplemented  # numpy arrays broadcast; others get Python's TypeError
        b = make_const(b)
        ib = 0
{creating("any", "indexed", 1)}

def reflected(b, a):
    if not is_number(a):
        return NotImplemented
    a = make_const(a)
{creating("const", "any", 1)}
"""


def _unary_source(rule: rules.Unary) -> str:
    body, pa = _unary_body(rule)
    record = _record_lines(_index("a", "any"), "0", pa, "0.0")
    return f"""\
def fill(y, a):
{_block(body, 1)}
    return {pa}

def recompute(y):
    a = y.a
{_block(body[1:], 1)}
{_block(_rewrite_lines(pa, "0.0"), 1)}

def method(a):
{_block(["y = new(cls)", *body, *record], 1)}
"""


def _compile(cls: type, source: str, namespace: dict) -> dict:
    namespace.update(
        cls=cls,
        Node=Node,
        Const=Const,
        new=_new,
        consts=_CONSTS,
        make_const=_const,
        is_number=_is_number,
        rotate=_rotate,
    )
    exec(compile(source, f"<toyad.reverse {cls.__name__}>", "exec"), namespace)
    _NAMESPACES.append(namespace)
    cls._source = source
    cls._fill = namespace["fill"]
    cls._recompute = namespace["recompute"]
    return namespace


def _generate_binary(cls: type) -> tuple[Callable, Callable]:
    rule: rules.Binary = cls.rule
    for slot in ("da", "db"):  # d(a+b)/da = 1: one number on the class
        if getattr(rule, slot + "_const") is not None:
            setattr(cls, slot, getattr(rule, slot + "_const"))
    ns = _compile(cls, _binary_source(rule), {"kernel": rule.kernel, "da": rule.da, "db": rule.db})
    return ns["operator"], ns["reflected"]


def _generate_unary(cls: type) -> Callable:
    rule: rules.Unary = cls.rule
    if rule.deriv_const is not None:
        cls.da = rule.deriv_const
    ns = _compile(
        cls,
        _unary_source(rule),
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
_activate(_active)


# -- the backward pass -------------------------------------------------------------


def _ancestors(outputs: Sequence[Node], epoch: int | None = None) -> list[Node]:
    """The non-constant nodes below ``outputs``, each once, newest first (users before
    their operands). ``epoch`` is accepted for old callers and unused."""
    order = graph.topological_order(outputs)
    return [n for n in reversed(order) if n.__class__ is not Const]


def _by_serial(tape: Tape) -> int:
    return tape.serial


def backward(outputs: Sequence[Node], seeds: Sequence[Any]) -> int:
    """Push ``seeds`` (output adjoints) back to every Var below ``outputs``.

    Returns how many nodes were visited (each exactly once). One sweep of the
    outputs' tape; a graph spanning several tapes is swept tape by tape,
    newest first, each leaf's adjoint handed on to the tape it came from (a
    tape seeded again later is swept again for the new seeds: the pass is
    linear). Constants are never visited.
    """
    work: dict[Tape, list[tuple[int, Any]]] = {}
    for out, seed in zip(outputs, seeds, strict=True):
        if out.__class__ is not Const:
            work.setdefault(out._t, []).append((out._i, 0.0 + seed))
    grads: dict[int, list] = {}
    visited = 0
    while work:
        tape = max(work, key=_by_serial)
        visited += tape._sweep(work.pop(tape), work, grads)
    for var, g in grads.values():
        var.gradient = g
    _rotate()  # what is built next is most likely a new graph
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


def count_paths(*outputs: Node) -> int:
    """Calls the recursive ``backpropagate`` would make, started once from each output:
    one per path from an output to a node (one sweep over the graph, whatever the
    number of outputs)."""
    paths: dict[int, int] = {}
    for y in outputs:
        paths[id(y)] = paths.get(id(y), 0) + 1
    total = 0
    for node in reversed(graph.topological_order(outputs)):
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
