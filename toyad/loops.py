"""Loops in the ``f(xp, x)`` contract: ``xp.scan``, ``xp.fori_loop``, ``xp.while_loop``.

A loop written as a Python ``for`` is unrolled by every tracing backend (jax.jit,
tf.function, XLA): a 1,024-step recurrence becomes a 1,024-step program that
takes minutes to compile. These constructs say "loop" to the backend instead,
with ``jax.lax``'s semantics:

- ``scan(step, carry, xs=None, length=None) -> (carry, ys)``:
  for i in range(len): ``carry, y_i = step(carry, xs[i])``; ``ys`` stacks the
  ``y_i`` along a new leading axis (None when ``step`` returns None as y).
  ``xs`` is an array scanned along its leading axis, a tuple of such arrays
  (``step`` then gets a tuple of rows), or None with ``length`` steps.
- ``fori_loop(lower, upper, body, carry) -> carry``: ``carry = body(i, carry)``
  for i in range(lower, upper) (Python int bounds).
- ``while_loop(cond, body, carry) -> carry``: ``carry = body(carry)`` while
  ``cond(carry)``.

``carry`` is an array or a (nested) tuple or list of arrays whose structure,
shapes and dtypes stay the same from step to step.

Each backend maps them to its own construct (JAX ``lax.scan`` /
``lax.while_loop``, TensorFlow ``tf.while_loop``); everywhere else they are the
Python loops below, so eager engines (the scalar toys, ``toyad.tensor``, torch,
HIPS autograd) record every step on their tape as before. Reverse mode through
a ``while_loop`` needs the steps' count at trace time: JAX refuses it, and toyad's
JAX backends say so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

LOOP_NAMES = ("scan", "fori_loop", "while_loop")


def steps_of(xs: Any, length: int | None) -> int:
    """The number of steps a scan over ``xs`` (or of ``length`` steps) runs."""
    if xs is None:
        if length is None:
            raise ValueError("scan needs xs or length")
        return int(length)
    first = xs[0] if isinstance(xs, (tuple, list)) else xs
    count = int(first.shape[0])
    if length is not None and int(length) != count:
        raise ValueError(f"scan: length={length} but xs has {count} rows")
    return count


def row(xs: Any, i: int) -> Any:
    """Step i's slice of ``xs`` (an array or a tuple of arrays; None stays None)."""
    if xs is None:
        return None
    if isinstance(xs, (tuple, list)):
        return type(xs)(a[i] for a in xs)
    return xs[i]


def python_loops(stack: Callable[[Sequence[Any]], Any]) -> dict[str, Callable[..., Any]]:
    """The three loops as Python loops; ``stack`` stacks a scan's per-step outputs."""

    def scan(
        step: Callable[[Any, Any], tuple[Any, Any]],
        carry: Any,
        xs: Any = None,
        length: int | None = None,
    ) -> tuple[Any, Any]:
        outputs = []
        for i in range(steps_of(xs, length)):
            carry, y = step(carry, row(xs, i))
            outputs.append(y)
        if not outputs or outputs[0] is None:
            return carry, None
        return carry, stack(outputs)

    def fori_loop(lower: int, upper: int, body: Callable[[int, Any], Any], carry: Any) -> Any:
        for i in range(int(lower), int(upper)):
            carry = body(i, carry)
        return carry

    def while_loop(cond: Callable[[Any], Any], body: Callable[[Any], Any], carry: Any) -> Any:
        while bool(cond(carry)):
            carry = body(carry)
        return carry

    return {"scan": scan, "fori_loop": fori_loop, "while_loop": while_loop}


class NumpyNamespace:
    """numpy as the contract's ``xp`` (the primal, the numeric and scalar engines):
    numpy itself plus the loops, as Python loops."""

    __name__ = "numpy"

    def __init__(self, module: ModuleType = np):
        self._module = module
        for name, fn in python_loops(module.stack).items():
            setattr(self, name, fn)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._module, name)
        setattr(self, name, value)  # cache: later look-ups skip __getattr__
        return value

    def __repr__(self) -> str:
        return "<toyad namespace numpy>"


NUMPY = NumpyNamespace()


def contract_namespace(xp: Any) -> Any:
    """``xp`` as a problem may use it: the numpy module becomes :data:`NUMPY` (numpy
    has no loops of its own), any other namespace is returned as it is."""
    return NUMPY if xp is np else xp
