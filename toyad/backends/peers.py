"""Peer libraries beyond the card: HIPS ``autograd`` and Karpathy's ``micrograd``.

autograd (tracing with boxed numpy arrays; ``xp`` = ``autograd.numpy``):
    gradient   autograd.grad (reverse) | n make_jvp passes (forward)
    jacobian   autograd.jacobian: one forward, m VJPs (reverse) | n make_jvp passes
    hessian    autograd.hessian = jacobian(jacobian) (reverse-over-reverse)
               | n make_jvp passes over autograd.grad (forward-over-reverse)
    jvp, vjp   make_jvp, make_vjp

micrograd 0.1.0 (a scalar engine: ``Value`` with +, *, ** int/float, relu):
``xp`` is numpy on object arrays of ``Value``s. gradient = one ``backward()``
on the scalar output; reverse Jacobian = m backward passes, grads zeroed in
between; vjp = one backward of sum_i u_i y_i. It has no forward mode and no
higher order, no sin/cos/exp/log/tanh (``xp.sqrt`` is expressed as
``** 0.5``, micrograd's own power rule). What it cannot express is found when
f is first traced in prepare and raised as ``UnsupportedOperation`` naming
the missing operation.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from toyad.backends.base import (
    Backend,
    Bind,
    NativeAnswer,
    UnknownBackend,
    UnsupportedOperation,
)
from toyad.backends.capabilities import FOR, ROR, every_mode
from toyad.backends.namespaces import (
    UNCONNECTED,
    FloatNamespace,
    NativeRecorder,
    bind,
    check_output_shape,
    cotangent_for,
    is_plain_numbers,
    require_scalar,
    unit_vectors,
)
from toyad.loops import python_loops

# --------------------------------------------------------------------------
# HIPS autograd
# --------------------------------------------------------------------------

AUTOGRAD_CAPABILITIES = every_mode((ROR, FOR))
_INDEPENDENT_WARNING = "Output seems independent of input."


@dataclass
class AutogradBackend(Backend):
    """HIPS autograd on plain numpy arrays."""

    def _build(self, operation: str, mode: str, f: Callable, x: np.ndarray, v: Any, u: Any) -> Bind:
        import autograd
        import autograd.numpy as anp

        fx = bind(f, FloatNamespace(anp, np.float64, "autograd.numpy"))
        n = x.shape[0]

        def primal(z):
            return fx(z)

        def scalar(z):
            return anp.reshape(fx(z), ())

        def vector(z):
            return anp.reshape(fx(z), (-1,))

        # Trace once (untimed): output shape, and autograd's own answer when the
        # output ignores x (zeros plus a UserWarning, forward or reverse).
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _, y0 = autograd.make_vjp(primal)(x)
        out_shape = check_output_shape(np.shape(y0))
        independent = any(str(w.message) == _INDEPENDENT_WARNING for w in caught)
        if independent and operation != "primal":  # make_vjp and make_jvp both warn
            native = f"zeros, with UserWarning: {_INDEPENDENT_WARNING}"
            self.native_log.append(NativeAnswer(operation, UNCONNECTED, native, "zeros"))
        if operation in ("gradient", "hessian"):
            require_scalar(operation, out_shape)
        unit = unit_vectors(n, np.asarray)  # e_i; never n×n past 64 MiB

        def forward_columns(fun, x):  # column i = d fun(x + ε e_i)/dε, n forward passes
            jvp_at_x = autograd.make_jvp(fun)(x)
            return np.stack([np.reshape(jvp_at_x(unit(i))[1], -1) for i in range(n)], axis=1)

        if operation == "vjp":
            cotangent_for(u, out_shape)  # the shape check, once per build
        grad = autograd.grad(scalar)
        jac = autograd.jacobian(vector)
        hess = autograd.hessian(scalar)

        def bind_to(x: np.ndarray, v: Any, u: Any, keep: bool = True) -> Callable[[], Any]:
            if operation == "primal":
                return lambda: primal(x)
            if operation == "gradient":
                if mode == "reverse":
                    return lambda: grad(x)
                return lambda: forward_columns(scalar, x).reshape(n)
            if operation == "jacobian":
                if mode == "reverse":
                    return lambda: jac(x)
                return lambda: forward_columns(vector, x)
            if operation == "hessian":
                if mode == "reverse-over-reverse":
                    return lambda: hess(x)
                return lambda: forward_columns(grad, x)
            if operation == "jvp":
                return lambda: autograd.make_jvp(primal)(x)(v)[1]
            uc = u.reshape(out_shape)
            return lambda: autograd.make_vjp(primal)(x)[0](uc)

        return bind_to

    def _strategy(self, operation: str, mode: str) -> str:
        if operation in ("jacobian", "hessian") or (operation, mode) == ("gradient", "forward"):
            return "loop"  # autograd.jacobian: m VJPs in a loop; forward: n make_jvp passes
        return super()._strategy(operation, mode)

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"autograd": version("autograd"), "numpy": np.__version__}


# --------------------------------------------------------------------------
# micrograd
# --------------------------------------------------------------------------

MICROGRAD_CAPABILITIES = {
    "primal": ("forward",),
    "gradient": ("reverse",),
    "jacobian": ("reverse",),
    "vjp": ("reverse",),
}
_MISSING_ON_VALUE = ("sin", "cos", "exp", "log", "tanh")


class _Inexpressible(Exception):
    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


def _holds_values(a: Any) -> bool:
    from micrograd.engine import Value

    if isinstance(a, Value):
        return True
    return isinstance(a, np.ndarray) and a.dtype == object


class MicrogradNamespace:
    """numpy for object arrays of micrograd Values (the contract's xp)."""

    __name__ = "numpy (object arrays of micrograd.engine.Value)"

    sum = staticmethod(np.sum)
    stack = staticmethod(np.stack)
    matmul = staticmethod(np.matmul)

    @staticmethod
    def asarray(obj: Any, dtype: Any = None) -> np.ndarray:
        if dtype is None and is_plain_numbers(obj):
            return np.asarray(obj, dtype=np.float64)
        return np.asarray(obj, dtype=object if dtype is None else dtype)

    @staticmethod
    def sqrt(a: Any) -> Any:  # sqrt(a) = a ** 0.5 (micrograd's power rule)
        return np.power(a, 0.5) if _holds_values(a) else np.sqrt(a)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"the micrograd namespace has no {name!r} (not in the f(xp, x) contract)"
        )


def _missing(name: str) -> Callable[[Any], Any]:
    numpy_fn = getattr(np, name)

    def elementwise(a: Any) -> Any:
        if _holds_values(a):
            raise _Inexpressible(f"{name} (micrograd's Value has no {name})")
        return numpy_fn(a)  # constants stay plain numpy

    elementwise.__name__ = name
    return staticmethod(elementwise)


for _name in _MISSING_ON_VALUE:
    setattr(MicrogradNamespace, _name, _missing(_name))

for _name, _loop in python_loops(np.stack).items():
    setattr(MicrogradNamespace, _name, staticmethod(_loop))

MICROGRAD_XP = MicrogradNamespace()


def _graph_nodes(outputs: list[Any]) -> list[Any]:
    """Every Value reachable from ``outputs`` (iterative: no recursion limit)."""
    from micrograd.engine import Value

    seen: set[int] = set()
    nodes: list[Any] = []
    stack = [y for y in outputs if isinstance(y, Value)]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(node)
        stack.extend(node._prev)
    return nodes


@contextmanager
def _recursion_limit(depth: int) -> Iterator[None]:
    """micrograd's backward() sorts the graph recursively: allow ``depth`` frames."""
    old = sys.getrecursionlimit()
    if depth > old:
        sys.setrecursionlimit(depth)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


@dataclass
class MicrogradBackend(Backend):
    """micrograd's scalar Value graph, driven through numpy object arrays."""

    def _build(self, operation: str, mode: str, f: Callable, x: np.ndarray, v: Any, u: Any) -> Bind:
        from micrograd.engine import Value

        n = x.shape[0]
        fx = bind(f, MICROGRAD_XP)

        def leaves(data: list[float]) -> np.ndarray:  # fresh leaves each call: grads at 0
            xs = np.empty(n, dtype=object)
            xs[:] = [Value(d) for d in data]
            return xs

        def outputs(xs: np.ndarray) -> list[Any]:
            return list(np.asarray(fx(xs), dtype=object).reshape(-1))

        # the first trace: what micrograd cannot express surfaces here
        xs0 = leaves(x.tolist())
        try:
            y0 = fx(xs0)
        except _Inexpressible as exc:
            raise UnsupportedOperation(self.name, operation, mode, exc.what) from None
        except (TypeError, AssertionError, AttributeError) as exc:
            raise UnsupportedOperation(
                self.name,
                operation,
                mode,
                f"micrograd cannot express this f: {type(exc).__name__}: {exc}",
            ) from None
        out_shape = check_output_shape(np.shape(np.asarray(y0, dtype=object)))
        ys0 = list(np.asarray(y0, dtype=object).reshape(-1))
        nodes0 = _graph_nodes(ys0)
        for node in nodes0:
            if np.ndim(node.data) != 0:
                raise UnsupportedOperation(
                    self.name,
                    operation,
                    mode,
                    "a micrograd Value was multiplied/added with a numpy array: Value wraps the "
                    "whole array (no broadcasting), so the result would be silently wrong",
                )
        depth = sys.getrecursionlimit() + 2 * len(nodes0) + 100
        m = len(ys0)
        if operation == "gradient":
            require_scalar(operation, out_shape)
        record = NativeRecorder(
            self.native_log,
            operation,
            UNCONNECTED,
            "output is a plain number, not a micrograd Value: no graph for backward()",
        )

        if operation == "vjp":
            cotangent_for(u, out_shape)  # the shape check, once per build

        def backward_from(y: Any, xs: np.ndarray) -> np.ndarray:
            if not isinstance(y, Value):
                record()
                return np.zeros(n)
            with _recursion_limit(depth):
                y.backward()
            return np.array([xi.grad for xi in xs], dtype=np.float64)

        def bind_to(x: np.ndarray, v: Any, u: Any, keep: bool = True) -> Callable[[], Any]:
            data = x.tolist()
            if operation == "vjp":
                weights = u.reshape(-1).tolist()  # shape checked by the build

            def primal() -> np.ndarray:
                ys = outputs(leaves(data))
                values = [y.data if isinstance(y, Value) else y for y in ys]
                return np.array(values).reshape(out_shape)

            def gradient() -> np.ndarray:  # one backward pass
                xs = leaves(data)
                return backward_from(outputs(xs)[0], xs)

            def jacobian() -> np.ndarray:  # m backward passes, grads zeroed before each
                xs = leaves(data)
                ys = outputs(xs)
                nodes = _graph_nodes(ys)
                rows = []
                for y in ys:
                    for node in nodes:
                        node.grad = 0
                    rows.append(backward_from(y, xs))
                return np.stack(rows)

            def vjp() -> np.ndarray:  # u^T J = ∇(Σ u_i y_i), one backward pass
                xs = leaves(data)
                ys = outputs(xs)
                total = sum((w * y for w, y in zip(weights, ys, strict=True)), start=0.0)
                return backward_from(total, xs)

            if operation == "primal":
                return primal
            if operation == "gradient":
                return gradient
            if operation == "jacobian":
                return jacobian
            if m == 0:
                return lambda: np.zeros(n)
            return vjp

        return bind_to

    def _strategy(self, operation: str, mode: str) -> str:
        return "per-op"  # one Value per scalar operation

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"micrograd": version("micrograd"), "numpy": np.__version__}


def make(name: str) -> Backend:
    if name == "autograd":
        return AutogradBackend(
            name=name,
            family="peer",
            variant="autograd",
            description="HIPS autograd: grad, jacobian, hessian, make_jvp, make_vjp",
            capabilities=dict(AUTOGRAD_CAPABILITIES),
        )
    if name == "micrograd":
        return MicrogradBackend(
            name=name,
            family="peer",
            variant="micrograd",
            description="micrograd 0.1.0 scalar Values in numpy object arrays (reverse only)",
            capabilities=dict(MICROGRAD_CAPABILITIES),
        )
    raise UnknownBackend(name, ["autograd", "micrograd"])
