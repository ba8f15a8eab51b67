"""What the symbolic and reverse engines share about graphs: order and printing.

A graph node exposes ``_kids`` (its operand nodes, a tuple). Both functions
here are iterative, so a 100,000-step chain never meets Python's recursion
limit, and visit each shared subexpression once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from toyad import rules


def topological_order(roots: Iterable[Any]) -> list[Any]:
    """Every node reachable from ``roots``, each once, operands before their users."""
    order: list[Any] = []
    seen: set[int] = set()
    stack: list[tuple[Any, bool]] = [(r, False) for r in reversed(list(roots))]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for kid in reversed(node._kids):
            if id(kid) not in seen:
                stack.append((kid, False))
    return order


def render(root: Any, leaf: Callable[[Any], str]) -> str:
    """The notebook's printing ("((x) * (x)) * (y) + y + 2"), without recursion.

    Each operation node supplies ``_template``, a format string over its
    operands' strings; ``leaf(node)`` prints nodes without operands.
    """
    text: dict[int, str] = {}
    for node in topological_order([root]):
        if node._kids:
            text[id(node)] = node._template.format(*(text[id(k)] for k in node._kids))
        else:
            text[id(node)] = leaf(node)
    return text[id(root)]


def template(symbol: str | None, name: str) -> str:
    """Print template of an operation: infix for arithmetic, call syntax otherwise."""
    if symbol == "+":
        return "{} + {}"
    if symbol == "-":
        return "{} - ({})"
    if symbol is not None:
        return "({}) " + symbol + " ({})"
    if name == "negative":
        return "-({})"
    return name + "({})"


def rule_classes(
    binary_base: type, unary_base: type, module: str
) -> tuple[dict[str, type], dict[str, type]]:
    """One node class per rule of :mod:`toyad.rules` (Add, Mul, ..., Sin, Exp, ...).

    Each class carries its ``rule`` and print ``_template``.
    """

    def make(rule: Any, base: type, symbol: str | None) -> type:
        members = {
            "__slots__": (),
            "rule": rule,
            "_template": template(symbol, rule.name),
            "__doc__": rule.math,
            "__module__": module,
        }
        return type(rule.title, (base,), members)

    binary = {n: make(r, binary_base, r.symbol) for n, r in rules.BINARY.items()}
    unary = {n: make(r, unary_base, None) for n, r in rules.UNARY.items()}
    return binary, unary


# Python's operator method for each binary rule: a + b -> __add__ / __radd__
OPERATOR_NAMES = {"add": "add", "sub": "sub", "mul": "mul", "div": "truediv", "pow": "pow"}


def install_operators(base: type, methods: dict[str, tuple[Callable, Callable]]) -> None:
    """Give ``base`` each binary rule's (forward, reflected) pair, keyed by rule name.

    ``mul`` becomes ``__mul__``/``__rmul__``; a rule without a Python operator
    becomes a method of its own name (numpy's object loops call it so).
    """
    for name, (forward, reflected) in methods.items():
        dunder = OPERATOR_NAMES.get(name)
        if dunder is None:
            setattr(base, name, forward)
        else:
            setattr(base, f"__{dunder}__", forward)
            setattr(base, f"__r{dunder}__", reflected)


def install_comparisons(base: type, real: Callable[[Any], Any]) -> None:
    """``<``, ``<=``, ``>``, ``>=`` on ``base`` comparing ``real(node)`` values.

    What ``np.max``/``np.min``/``np.where(x > 0, ...)`` on object arrays need:
    the branch is chosen at the current values (as dual numbers do), so a
    graph built through a comparison holds only near that point. ``==`` is
    left as identity (nodes are hashed and shared by identity).
    """

    def compare(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
        def method(self: Any, other: Any) -> bool:
            return op(real(self), real(other))

        return method

    base.__lt__ = compare(lambda a, b: a < b)
    base.__le__ = compare(lambda a, b: a <= b)
    base.__gt__ = compare(lambda a, b: a > b)
    base.__ge__ = compare(lambda a, b: a >= b)
