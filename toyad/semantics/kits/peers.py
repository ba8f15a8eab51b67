"""Kits for the peer libraries: HIPS autograd and Karpathy's micrograd.

Both are imported on first use. micrograd's ``Value`` knows only ``+``, ``*``,
``** number`` and ``relu``: every other operation is reported unsupported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from toyad.semantics.answers import Unsupported
from toyad.semantics.kits.base import (
    Kit,
    Scalar,
    missing_op,
    number_array,
    object_array,
    scalar_where,
)


class AutogradKit(Kit):
    """HIPS autograd: grad (reverse), make_jvp (forward), make_vjp."""

    def ns(self) -> Any:
        import autograd.numpy as anp

        return SimpleNamespace(
            sin=anp.sin,
            cos=anp.cos,
            exp=anp.exp,
            log=anp.log,
            sqrt=anp.sqrt,
            abs=anp.abs,
            relu=lambda x: anp.maximum(x, 0.0),
            maximum=anp.maximum,
            where=anp.where,
            sum=anp.sum,
        )

    def value(self, f: Scalar, *args: float) -> Any:
        return f(self.ns(), *[np.float64(a) for a in args])

    def partials(self, f: Scalar, *args: float) -> tuple[Any, ...]:
        import autograd

        ns = self.ns()
        xs = [np.float64(a) for a in args]
        return tuple(autograd.grad(lambda *z: f(ns, *z), argnum=i)(*xs) for i in range(len(args)))

    def gradient(self, f: Callable[[Any, Any], Any], x: np.ndarray) -> Any:
        import autograd

        ns = self.ns()
        return autograd.grad(lambda z: f(ns, z))(x)

    def second(self, f: Scalar, x0: float, combo: str) -> Any:
        import autograd

        ns = self.ns()

        def g(z: Any) -> Any:
            return f(ns, z)

        def forward(fun: Callable[[Any], Any]) -> Callable[[Any], Any]:
            return lambda z: autograd.make_jvp(fun)(z)(1.0)[1]

        transforms = {"f": forward, "r": autograd.grad}
        return transforms[combo[0]](transforms[combo[1]](g))(np.float64(x0))

    def grad_twice(self, f: Scalar, x0: float, retain: bool) -> Any:
        import autograd

        if retain:
            raise Unsupported("no retain option: a make_vjp function is reusable")
        ns = self.ns()
        pullback, _ = autograd.make_vjp(lambda z: f(ns, z))(np.float64(x0))
        pullback(1.0)
        return pullback(1.0)


class MicrogradKit(Kit):
    """micrograd's Value: +, *, ** number, relu, backward(); nothing else."""

    def ns(self) -> Any:
        missing = {
            op: missing_op("micrograd", op) for op in ("sin", "cos", "exp", "log", "abs", "maximum")
        }
        return SimpleNamespace(
            **missing,
            sqrt=lambda x: x**0.5,
            relu=lambda x: x.relu(),
            where=scalar_where,
            sum=np.sum,
        )

    def _values(self, args: Sequence[Any]) -> list[Any]:
        from micrograd.engine import Value

        return [Value(a) for a in args]

    def value(self, f: Scalar, *args: float) -> Any:
        from micrograd.engine import Value

        y = f(self.ns(), *self._values(args))
        return y.data if isinstance(y, Value) else y

    def _backward(self, y: Any) -> None:
        from micrograd.engine import Value

        if isinstance(y, Value):  # a plain number has no graph: grads stay 0
            y.backward()

    def partials(self, f: Scalar, *args: float) -> tuple[Any, ...]:
        xs = self._values(args)
        self._backward(f(self.ns(), *xs))
        return tuple(v.grad for v in xs)

    def gradient(self, f: Callable[[Any, Any], Any], x: np.ndarray) -> Any:
        xs = self._values(list(x))
        self._backward(f(self.ns(), object_array(xs)))
        return number_array([v.grad for v in xs])

    def second(self, f: Scalar, x0: float, combo: str) -> Any:
        raise Unsupported("micrograd has first-order reverse mode only (and no sin)")

    def grad_twice(self, f: Scalar, x0: float, retain: bool) -> Any:
        if retain:
            raise Unsupported("no retain option: backward() can always run again")
        (x,) = self._values([x0])
        y = f(self.ns(), x)
        y.backward()
        y.backward()
        return x.grad
