"""The namespace module problems call as ``xp``: ``f(toyad.tensor.xp, x)``.

It covers the shared contract (docs/architecture.md, section 1): ``asarray``,
``sum``, ``stack``, ``sin``, ``cos``, ``exp``, ``log``, ``tanh``, ``sqrt``,
plus ``mean``, ``tan``, ``abs``, ``square``, ``maximum``, ``minimum``,
``where``, ``matmul``, ``dot``, ``outer``, ``transpose``, ``reshape``,
``broadcast_to``, ``concatenate``, ``max``, ``min``, and the loops ``scan``,
``fori_loop``, ``while_loop`` (Python loops on the tape). Every function accepts Tensors, numpy
arrays and numbers and returns a Tensor. Asking for anything else raises an
AttributeError naming it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from toyad.loops import python_loops
from toyad.tensor import rules
from toyad.tensor.tensor import Tensor

float64 = np.float64
pi = np.pi
e = np.e
newaxis = None

asarray = rules.asarray


def _unary(generic: Any, name: str) -> Any:
    def fn(x: Any) -> Tensor:
        return generic(asarray(x))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {name} (a Tensor)."
    return fn


sin = _unary(rules.sin, "sin")
cos = _unary(rules.cos, "cos")
tan = _unary(rules.tan, "tan")
exp = _unary(rules.exp, "exp")
log = _unary(rules.log, "log")
tanh = _unary(rules.tanh, "tanh")
sqrt = _unary(rules.sqrt, "sqrt")
abs = _unary(rules.absolute, "abs")  # noqa: A001 (numpy's name)
absolute = abs
square = _unary(rules.square, "square")
negative = _unary(rules.negative, "negative")


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Σ over ``axis`` (all axes if None)."""
    return rules.reduce_sum(asarray(x), axis=axis, keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return rules.mean(asarray(x), axis=axis, keepdims=keepdims)


def stack(arrays: Any, axis: int = 0) -> Tensor:
    return rules.stack([asarray(a) for a in arrays], axis=axis)


def concatenate(arrays: Any, axis: int = 0) -> Tensor:
    return rules.concatenate([asarray(a) for a in arrays], axis=axis)


def matmul(a: Any, b: Any) -> Tensor:
    return rules.matmul(asarray(a), asarray(b))


dot = matmul


def outer(a: Any, b: Any) -> Tensor:
    return rules.outer(asarray(a), asarray(b))


def transpose(x: Any, axes: Any = None) -> Tensor:
    return rules.transpose(asarray(x), axes)


def reshape(x: Any, shape: Any) -> Tensor:
    return rules.reshape(asarray(x), shape)


def broadcast_to(x: Any, shape: Any) -> Tensor:
    return rules.broadcast_to(asarray(x), shape)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``cond`` else ``b``; ``cond`` is a constant (e.g. ``x > 0``)."""
    return rules.where(cond, asarray(a), asarray(b))


def maximum(a: Any, b: Any) -> Tensor:
    return rules.maximum(asarray(a), asarray(b))


def minimum(a: Any, b: Any) -> Tensor:
    return rules.minimum(asarray(a), asarray(b))


def _extreme(x: Any, axis: Any, arg: Any) -> Tensor:
    """The max/min over ``axis`` as Σ where(one-hot of the first arg-extreme, x, 0):
    the derivative goes to that one entry (ties: the first, as numpy's argmax)."""
    t = asarray(x)
    v = np.asarray(rules.value_of(t))
    if axis is None:
        mask = np.zeros(v.size, dtype=bool)
        mask[arg(v.reshape(-1))] = True
        mask = mask.reshape(v.shape)
    else:
        mask = np.zeros(v.shape, dtype=bool)
        np.put_along_axis(mask, np.expand_dims(arg(v, axis=axis), axis), True, axis=axis)
    return rules.reduce_sum(rules.where(mask, t, asarray(0.0)), axis=axis)


def max(x: Any, axis: Any = None) -> Tensor:  # noqa: A001 (numpy's name)
    """max over ``axis`` (all if None); the derivative goes to the first maximum."""
    return _extreme(x, axis, np.argmax)


def min(x: Any, axis: Any = None) -> Tensor:  # noqa: A001 (numpy's name)
    """min over ``axis`` (all if None); the derivative goes to the first minimum."""
    return _extreme(x, axis, np.argmin)


def add(a: Any, b: Any) -> Tensor:
    return asarray(a) + b


def subtract(a: Any, b: Any) -> Tensor:
    return asarray(a) - b


def multiply(a: Any, b: Any) -> Tensor:
    return asarray(a) * b


def divide(a: Any, b: Any) -> Tensor:
    return asarray(a) / b


def power(a: Any, b: Any) -> Tensor:
    return rules.power(asarray(a), b)


def zeros(shape: Any) -> Tensor:
    return asarray(np.zeros(shape))


def ones(shape: Any) -> Tensor:
    return asarray(np.ones(shape))


def zeros_like(x: Any) -> Tensor:
    return zeros(rules.shape_of(x))


def ones_like(x: Any) -> Tensor:
    return ones(rules.shape_of(x))


def shape(x: Any) -> tuple[int, ...]:
    return rules.shape_of(x)


# the contract's loops (toyad.loops): Python loops, every step recorded on the tape
_LOOPS = python_loops(stack)
scan = _LOOPS["scan"]
fori_loop = _LOOPS["fori_loop"]
while_loop = _LOOPS["while_loop"]


def __getattr__(name: str) -> Any:
    public = sorted(k for k in globals() if not k.startswith("_") and k not in ("annotations",))
    raise AttributeError(
        f"toyad.tensor.xp has no {name!r}: that numpy function is not supported by the "
        f"tensor engine; available: {', '.join(public)}"
    )
