"""Forward mode: ``jvp``, batched tangents (``jacfwd``), and Hessians by
forward-over-reverse (``hvp``, ``hessian``).

A Tensor's ``dot`` is a batch of k tangents, shape ``(k, *shape)``: every JVP
rule pushes all k at once, so the full Jacobian is one pass with the identity
as tangent batch (k = n) -- how ``jax.jacfwd`` works (by vmap). Past n ≈ 4000
the identity would outgrow memory, so it goes through in 128 MiB batches. ``jacfwd_loop``
keeps the textbook one-tangent-per-pass loop (n passes) for comparison.

For ``hvp`` the input carries the tangent v into :func:`~toyad.tensor.reverse.grad`;
the reverse pass then runs on Tensors and its result's tangent is H v.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from toyad.tensor.reverse import _output, as_float_array, grad
from toyad.tensor.tensor import Tensor, _constant


def _input(x: Any, name: str = "x") -> np.ndarray:
    """``x`` as float64 numpy; a Tensor here means nested differentiation."""
    if type(x) is Tensor:
        if x.dot is not None:
            raise NotImplementedError(
                "nested forward mode (jvp of a function already under jvp) is not supported "
                "by toyad.tensor: a Tensor carries one level of tangents"
            )
        raise NotImplementedError(
            "reverse-over-forward (grad of a jvp) is not supported by toyad.tensor; "
            "use hvp or hessian (forward-over-reverse)"
        )
    return as_float_array(x, name)


def _tangent_input(x: np.ndarray, x_dot: np.ndarray) -> Tensor:
    """A Tensor for ``x`` carrying the tangent batch ``x_dot`` (k, *x.shape)."""
    t = _constant(x)
    t.dot = x_dot
    return t


def _unwrap(y: Any) -> tuple[np.ndarray, np.ndarray | None]:
    y = _output(y)
    return y.value, y.dot


def jvp_batch(f: Callable[[Tensor], Any], x: Any, x_dots: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(f(x), [J v_1, ..., J v_k])`` in one pass; ``x_dots`` has shape (k, *x.shape)."""
    x = _input(x)
    x_dots = _input(x_dots, "tangents")
    if x_dots.shape[1:] != x.shape:
        raise ValueError(f"tangent batch must have shape (k, *{x.shape}); got {x_dots.shape}")
    y, y_dots = _unwrap(f(_tangent_input(x, x_dots)))
    if y_dots is None:  # f does not depend on x
        y_dots = np.zeros(x_dots.shape[:1] + np.shape(y))
    return y, y_dots


def jvp(f: Callable[[Tensor], Any], x: Any, v: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(f(x), J v)``: one forward pass carrying the tangent ``v``."""
    x = _input(x)
    v = _input(v, "v")
    if v.shape != x.shape:
        raise ValueError(f"tangent v has shape {v.shape}; x has shape {x.shape}")
    y, y_dots = jvp_batch(f, x, v[np.newaxis])
    return y, y_dots[0]


BATCH_BYTES = 1 << 27  # 128 MiB: the largest tangent batch of x pushed in one pass


def _unit(x: np.ndarray, i: int) -> np.ndarray:
    e = np.zeros(x.shape)
    e.flat[i] = 1.0
    return e


def _basis_batches(x: np.ndarray, chunk: int | None):
    """Rows start:stop of the identity, as tangent batches (k, *x.shape).

    All n at once when they fit BATCH_BYTES (every benchmark size up to
    n ≈ 4000), else chunks, so a large n costs n/chunk passes, not n² memory.
    """
    n = x.size
    chunk = chunk or max(1, BATCH_BYTES // (8 * max(n, 1)))
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        basis = np.zeros((k, n))
        basis[np.arange(k), start + np.arange(k)] = 1.0
        yield basis.reshape((k, *x.shape))


def _pushed_basis(g: Callable[[Tensor], Any], x: np.ndarray, chunk: int | None):
    """``(g(x), [J e_1, ..., J e_n])`` with the basis pushed in batches."""
    pieces, y = [], None
    for basis in _basis_batches(x, chunk):
        y, y_dots = jvp_batch(g, x, basis)
        pieces.append(y_dots)
    if y is None:  # x has no entries
        y = _output(g(_constant(x))).value
        return y, np.zeros((0, *np.shape(y)))
    return y, pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def _batch_last(y_dots: np.ndarray, y_shape: tuple, x_shape: tuple) -> np.ndarray:
    """(n, *y_shape) tangents -> the Jacobian (*y_shape, *x_shape)."""
    return np.moveaxis(y_dots, 0, -1).reshape(y_shape + x_shape)


def jacfwd(f: Callable[[Tensor], Any], x: Any, chunk: int | None = None) -> np.ndarray:
    """The Jacobian ``(*y.shape, *x.shape)`` in ONE forward pass carrying all n
    basis tangents (in batches of ``chunk``, by default as many as fit 128 MiB)."""
    x = _input(x)
    y, y_dots = _pushed_basis(f, x, chunk)
    return _batch_last(y_dots, np.shape(y), x.shape)


def jacfwd_loop(f: Callable[[Tensor], Any], x: Any) -> np.ndarray:
    """The Jacobian by n forward passes, one basis tangent each."""
    x = _input(x)
    columns = [jvp(f, x, _unit(x, i))[1] for i in range(x.size)]
    if not columns:
        return np.zeros(np.shape(_output(f(_constant(x))).value) + x.shape)
    return np.stack(columns, axis=-1).reshape(np.shape(columns[0]) + x.shape)


def hvp(f: Callable[[Tensor], Any], x: Any, v: Any) -> np.ndarray:
    """``H v`` for scalar ``f``: the jvp of grad f (forward-over-reverse)."""
    return jvp(grad(f), x, v)[1]


def hessian(f: Callable[[Tensor], Any], x: Any, chunk: int | None = None) -> np.ndarray:
    """The Hessian ``(*x.shape, *x.shape)``: grad f pushed forward with all n basis
    tangents at once (batches of ``chunk``, by default as many as fit 128 MiB)."""
    x = _input(x)
    _, h_columns = _pushed_basis(grad(f), x, chunk)  # h_columns[i] = H e_i
    return _batch_last(h_columns, x.shape, x.shape)


def hessian_loop(f: Callable[[Tensor], Any], x: Any) -> np.ndarray:
    """The Hessian by n separate hvp passes."""
    x = _input(x)
    columns = [hvp(f, x, _unit(x, i)) for i in range(x.size)]
    if not columns:
        return np.zeros(x.shape + x.shape)
    return np.stack(columns, axis=-1).reshape(x.shape + x.shape)
