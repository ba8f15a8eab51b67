"""What the symbolic and reverse engines share about graphs: order and printing.

A graph node exposes ``_kids`` (its operand nodes, a tuple). Both functions
here are iterative, so a 100,000-step chain never meets Python's recursion
limit, and visit each shared subexpression once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


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
