"""Reverse mode: ``vjp``, ``grad``, ``value_and_grad``, ``jacrev``.

The forward pass records a graph of :class:`~toyad.tensor.tensor.Node`
entries (only where an input is on the tape). :func:`backward` then

1. walks the nodes reachable from the output in reverse topological order
   (a heap on creation order: iterative, so a 10⁵-op chain is fine);
2. pops (frees) each node's cotangent when consumed and, unless asked to
   retain the graph, what the node saved from the forward pass;
3. calls the VJP rule of each input that needs one, undoes broadcasting
   (``sum_to_shape``) and accumulates ``x_bar`` into that input's cotangent:
   the first contribution is kept by reference, later ones are added in
   place once the accumulator is an array only this pass can see (a fresh
   VJP result, checked by reference count, or the first sum it allocated).
   Shared arrays (``y_bar`` passed through by ``add``, a saved value handed
   on by reference, broadcast views) are never written to. A VJP that is
   ``-y_bar`` (``Rule.vjp_negates``) into an owned accumulator becomes one
   in-place subtraction.

If the input carries forward tangents the same pass runs on Tensors (the VJP
rules are written with engine operations), so the cotangents come out with
tangents of their own: forward-over-reverse, which is how :func:`hvp` works.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from heapq import heappop, heappush
from sys import getrefcount
from typing import Any

import numpy as np

from toyad.tensor import tensor as _tape
from toyad.tensor.rules import asarray, shape_of, sum_to_shape
from toyad.tensor.tensor import Node, Tensor, _constant


def _exclusive(x_bar: Any) -> bool:
    """True for a fresh array nobody else references (safe to add into in place).

    The references are this function's argument and the caller's local.
    """
    return type(x_bar) is np.ndarray and x_bar.base is None and getrefcount(x_bar) <= 3


def backward(
    y: Tensor,
    y_bar: Any,
    leaves: Sequence[Node],
    *,
    retain_graph: bool = False,
    differentiable: bool = False,
) -> list[Any]:
    """Cotangents of ``leaves`` given the output cotangent ``y_bar`` (None where unreached).

    Nodes are processed latest-created first (a max-heap on ``Node.order``):
    every consumer of a node is created after it, so a node is processed only
    once all contributions to its cotangent are in. ``differentiable``: run on
    Tensors so that forward tangents flow through the pass (the leaves'
    cotangents come back as Tensors).
    """
    root = y.node
    if root is None:
        return [None] * len(leaves)
    cotangents: dict[Node, list] = {root: [y_bar, False]}  # node -> [x_bar, owned]
    heap = [(-root.order, root)] if root.rule is not None else []
    recording, _tape._recording = _tape._recording, False  # the reverse pass is never taped
    try:
        while heap:
            node = heappop(heap)[1]
            node_bar = cotangents.pop(node)[0]
            rule = node.rule
            if node.args is None:
                raise RuntimeError(
                    "this graph was already freed by a backward pass; "
                    "pass retain_graph=True to run several"
                )
            args = node.args
            if differentiable:
                out = _constant(node.out)
                out.dot = node.out_dot
            else:
                out = node.out
            negates = rule.vjp_negates
            for i, parent, shape in node.parents:
                if negates is not None and negates[i] and not differentiable:
                    acc = cotangents.get(parent)
                    if acc is not None and acc[1] and shape_of(node_bar) == shape:
                        np.subtract(acc[0], node_bar, out=acc[0])  # x_bar -= y_bar: one pass
                        continue
                if rule.variadic:
                    x_bar = rule.vjp(i, node_bar, out, *args, **node.params)
                else:
                    x_bar = rule.vjp[i](node_bar, out, *args, **node.params)
                if x_bar.shape != shape:
                    x_bar = sum_to_shape(x_bar, shape)
                acc = cotangents.get(parent)
                if acc is None:  # first contribution: owned only if nothing else can see it
                    cotangents[parent] = [x_bar, not differentiable and _exclusive(x_bar)]
                    if parent.rule is not None:
                        heappush(heap, (-parent.order, parent))
                elif differentiable:
                    acc[0] = acc[0] + x_bar
                elif acc[1]:  # an array this pass allocated: add in place
                    acc[0] += x_bar
                else:
                    acc[0] = acc[0] + x_bar
                    acc[1] = True
            if not retain_graph:
                node.args = node.out = node.out_dot = None
    finally:
        _tape._recording = recording
    results = []
    for leaf in leaves:
        entry = cotangents.get(leaf)
        if entry is None:
            results.append(None)
        elif differentiable or entry[1]:
            results.append(entry[0])
        else:  # held by reference: may alias y_bar or a read-only broadcast view
            results.append(np.array(entry[0], dtype=np.float64))
    return results


# -- the public transformations ------------------------------------------------

_ONE = np.ones(())  # the seed of a scalar output; never written to (only owned arrays are)
_ONE.flags.writeable = False


def as_float_array(x: Any, name: str = "x") -> np.ndarray:
    """``x`` as a float64 numpy array, or a TypeError naming it."""
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers: {exc}") from None


def _leaf(x: Any) -> tuple[Tensor, bool]:
    """A Tensor on the tape for ``x``; True if it carries forward tangents."""
    if type(x) is Tensor:
        if x.node is not None:
            raise NotImplementedError(
                "reverse-over-reverse (grad of a function already under grad/vjp) is not "
                "supported by toyad.tensor; for second derivatives use hvp or hessian "
                "(forward-over-reverse)"
            )
        leaf = _constant(x.value)
        leaf.dot = x.dot
    else:
        leaf = _constant(as_float_array(x))
    leaf.node = Node.leaf()
    return leaf, leaf.dot is not None


def _output(y: Any) -> Tensor:
    """f's result as a Tensor (a constant if f ignored its input)."""
    try:
        return asarray(y)
    except TypeError as exc:
        raise TypeError(f"f must return a Tensor or an array; {exc}") from None


def _zeros_like_input(leaf: Tensor, differentiable: bool) -> Any:
    zeros = np.zeros(leaf.shape)
    return _constant(zeros) if differentiable else zeros


def _plain_or_tensor(t: Tensor, differentiable: bool) -> Any:
    """The value returned to the caller: numpy, or a Tensor keeping its tangents."""
    if not differentiable:
        return t.value
    out = _constant(t.value)
    out.dot = t.dot
    return out


def value_and_grad(f: Callable[[Tensor], Any]) -> Callable[[Any], tuple[Any, Any]]:
    """``x -> (f(x), ∇f(x))`` for scalar-valued ``f``, by one reverse pass."""

    def value_and_grad_f(x: Any) -> tuple[Any, Any]:
        leaf, differentiable = _leaf(x)
        y = _output(f(leaf))
        if y.size != 1:
            raise ValueError(
                f"grad needs a scalar-valued f; f returned shape {y.shape} "
                "(use jacrev, jacfwd or vjp for vector outputs)"
            )
        seed = _ONE if y.shape == () else np.ones(y.shape)
        if differentiable:
            seed = _constant(seed)
        (x_bar,) = backward(y, seed, [leaf.node], differentiable=differentiable)
        if x_bar is None:
            x_bar = _zeros_like_input(leaf, differentiable)
        elif differentiable and type(x_bar) is not Tensor:
            x_bar = _constant(np.asarray(x_bar, dtype=np.float64))
        return _plain_or_tensor(y, differentiable), x_bar

    value_and_grad_f.__name__ = f"value_and_grad_{getattr(f, '__name__', 'f')}"
    return value_and_grad_f


def grad(f: Callable[[Tensor], Any]) -> Callable[[Any], Any]:
    """``x -> ∇f(x)`` for scalar-valued ``f`` (numpy in, numpy out)."""
    value_and_grad_f = value_and_grad(f)

    def grad_f(x: Any) -> Any:
        return value_and_grad_f(x)[1]

    grad_f.__name__ = f"grad_{getattr(f, '__name__', 'f')}"
    return grad_f


def vjp(f: Callable[[Tensor], Any], x: Any, u: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(f(x), uᵀ J)``: one reverse pass seeded with the output cotangent ``u``."""
    if type(x) is Tensor:
        raise NotImplementedError("vjp takes a numpy input; use grad for forward-over-reverse")
    leaf, _ = _leaf(x)
    y = _output(f(leaf))
    u = as_float_array(u, "u")
    if u.shape != y.shape:
        raise ValueError(f"cotangent u has shape {u.shape}; f's output has shape {y.shape}")
    (x_bar,) = backward(y, u, [leaf.node])
    return y.value, np.zeros(leaf.shape) if x_bar is None else x_bar


def jacrev(f: Callable[[Tensor], Any], x: Any) -> np.ndarray:
    """The Jacobian ``(*y.shape, *x.shape)``: one recorded forward pass, m reverse passes."""
    if type(x) is Tensor:
        raise NotImplementedError("jacrev takes a numpy input")
    leaf, _ = _leaf(x)
    y = _output(f(leaf))
    m = y.size
    rows = np.zeros((m, *leaf.shape))
    for j in range(m):
        seed = np.zeros(m)
        seed[j] = 1.0
        (x_bar,) = backward(y, seed.reshape(y.shape), [leaf.node], retain_graph=j < m - 1)
        if x_bar is not None:
            rows[j] = x_bar
    return rows.reshape(y.shape + leaf.shape)
