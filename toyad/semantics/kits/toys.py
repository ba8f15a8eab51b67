"""Kits for toyad's own engines: toyad.dual, toyad.symbolic, toyad.reverse, toyad.tensor.

Each engine is imported inside the methods, so loading the table stays cheap.
The scalar engines share one namespace of :mod:`toyad.rules` operations
(Python ``max`` and a Python conditional stand in for ``maximum`` and
``where``); toyad.tensor brings its own numpy-like ``xp``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from toyad import rules
from toyad.semantics.answers import Unsupported
from toyad.semantics.kits.base import (
    Kit,
    Scalar,
    missing_op,
    number_array,
    object_array,
    scalar_where,
)


def _compare_max(a: Any, b: Any) -> Any:
    """Python's max: the first argument on ties."""
    return max(a, b)


def _toy_ns(**overrides: Any) -> SimpleNamespace:
    ops = {
        "sin": rules.sin,
        "cos": rules.cos,
        "exp": rules.exp,
        "log": rules.log,
        "sqrt": rules.sqrt,
        "abs": rules.absolute,
        "relu": rules.relu,
        "maximum": _compare_max,
        "where": scalar_where,
        "sum": np.sum,
    }
    ops.update(overrides)
    return SimpleNamespace(**ops)


class DualKit(Kit):
    """toyad.dual: forward mode only; numbers compare by value, so max works."""

    def ns(self) -> Any:
        return _toy_ns()

    def _seed(self, args: Sequence[float], i: int | None, tag: int = 0) -> list[Any]:
        from toyad import dual

        return [dual.DualNumber(a, 1.0 if j == i else 0.0, tag) for j, a in enumerate(args)]

    def value(self, f: Scalar, *args: float) -> Any:
        from toyad import dual

        y = f(self.ns(), *self._seed(args, None))
        return y.value if isinstance(y, dual.DualNumber) else y

    def partials(self, f: Scalar, *args: float) -> tuple[Any, ...]:
        from toyad import dual

        out = []
        for i in range(len(args)):

            def along_i(z: Any, i: int = i) -> Any:
                return f(self.ns(), *[z if j == i else a for j, a in enumerate(args)])

            out.append(dual.derivative(along_i, args[i]))
        return tuple(out)

    def gradient(self, f: Callable[[Any, Any], Any], x: np.ndarray) -> Any:
        from toyad import dual

        g = dual.gradient(lambda z: f(self.ns(), z), object_array(list(x)))
        return number_array(g)

    def second(self, f: Scalar, x0: float, combo: str) -> Any:
        from toyad import dual

        if combo != "ff":
            raise Unsupported("toyad.dual is forward mode only")
        ns = self.ns()
        return dual.derivative(lambda z: dual.derivative(lambda w: f(ns, w), z), x0)

    def grad_twice(self, f: Scalar, x0: float, retain: bool) -> Any:
        raise Unsupported("forward mode builds no tape or graph to reuse")


class SymbolicKit(Kit):
    """toyad.symbolic: derivatives are expressions, evaluated at the variables' values."""

    def ns(self) -> Any:
        return _toy_ns(maximum=missing_op("toyad.symbolic", "max (expressions do not compare)"))

    def _vars(self, args: Sequence[Any]) -> list[Any]:
        from toyad import symbolic

        return [symbolic.Var(f"x{i}", a) for i, a in enumerate(args)]

    def value(self, f: Scalar, *args: float) -> Any:
        from toyad import symbolic

        return symbolic.evaluate_all([symbolic._as_expr(f(self.ns(), *self._vars(args)))])[0]

    def partials(self, f: Scalar, *args: float) -> tuple[Any, ...]:
        from toyad import symbolic

        variables = self._vars(args)
        y = symbolic._as_expr(f(self.ns(), *variables))
        derivs = [symbolic.derivatives([y], v)[0] for v in variables]
        return tuple(symbolic.evaluate_all(derivs))

    def gradient(self, f: Callable[[Any, Any], Any], x: np.ndarray) -> Any:
        from toyad import symbolic

        variables = self._vars(list(x))
        y = symbolic._as_expr(f(self.ns(), object_array(variables)))
        derivs = [symbolic.derivatives([y], v)[0] for v in variables]
        return number_array(symbolic.evaluate_all(derivs))

    def second(self, f: Scalar, x0: float, combo: str) -> Any:
        from toyad import symbolic

        if combo != "ff":
            raise Unsupported("toyad.symbolic is (symbolic) forward mode only")
        (v,) = self._vars([x0])
        d1 = symbolic.derivatives([symbolic._as_expr(f(self.ns(), v))], v)[0]
        return symbolic.evaluate_all([symbolic.derivatives([d1], v)[0]])[0]

    def grad_twice(self, f: Scalar, x0: float, retain: bool) -> Any:
        from toyad import symbolic

        if retain:
            raise Unsupported("no retain option: an expression graph is never freed")
        (v,) = self._vars([x0])
        y = symbolic._as_expr(f(self.ns(), v))
        symbolic.derivatives([y], v)
        return symbolic.evaluate_all(symbolic.derivatives([y], v))[0]


class ReverseKit(Kit):
    """toyad.reverse: iterative backward(); second order by symbolic adjoints or duals."""

    def ns(self) -> Any:
        return _toy_ns(maximum=missing_op("toyad.reverse", "max (nodes do not compare)"))

    def _vars(self, args: Sequence[Any]) -> list[Any]:
        from toyad import reverse

        return [reverse.Var(f"x{i}", a) for i, a in enumerate(args)]

    def value(self, f: Scalar, *args: float) -> Any:
        from toyad import reverse

        y = f(self.ns(), *self._vars(args))
        return y.value if isinstance(y, reverse.Node) else y

    def partials(self, f: Scalar, *args: float) -> tuple[Any, ...]:
        from toyad import reverse

        variables = self._vars(args)
        return tuple(reverse.gradients(f(self.ns(), *variables), variables))

    def gradient(self, f: Callable[[Any, Any], Any], x: np.ndarray) -> Any:
        from toyad import reverse

        variables = self._vars(list(x))
        return number_array(reverse.gradients(f(self.ns(), object_array(variables)), variables))

    def second(self, f: Scalar, x0: float, combo: str) -> Any:
        from toyad import reverse

        (v,) = self._vars([x0])
        ns = self.ns()
        if combo == "rr":  # adjoints built as graphs, then differentiated again
            (g,) = reverse.gradients(f(ns, v), [v], create_graph=True)
            return reverse.gradients(g, [v])[0] if isinstance(g, reverse.Node) else 0.0
        if combo == "fr":  # backward() with DualNumber values in the graph
            return reverse.hessian(lambda: f(ns, v), [v], "forward-over-reverse")[0, 0]
        if combo == "ff":
            raise Unsupported("toyad.reverse is reverse mode (dual in dual is the dual engine)")
        raise Unsupported(
            "rf needs dual numbers carrying reverse nodes; toyad.dual takes numbers or duals"
        )

    def grad_twice(self, f: Scalar, x0: float, retain: bool) -> Any:
        if retain:
            raise Unsupported("no retain option: the graph is kept; backward() overwrites")
        (v,) = self._vars([x0])
        y = f(self.ns(), v)
        y.backward()
        y.backward()
        return v.gradient


class TensorKit(Kit):
    """toyad.tensor: grad/jvp/hvp on a numpy tape; relu is maximum(x, 0) there."""

    def ns(self) -> Any:
        from toyad.tensor import xp

        def relu(x: Any) -> Any:
            return xp.maximum(x, 0.0)

        return SimpleNamespace(
            sin=xp.sin,
            cos=xp.cos,
            exp=xp.exp,
            log=xp.log,
            sqrt=xp.sqrt,
            abs=xp.abs,
            relu=relu,
            maximum=xp.maximum,
            where=xp.where,
            sum=xp.sum,
        )

    def value(self, f: Scalar, *args: float) -> Any:
        from toyad.tensor import xp

        return f(self.ns(), *[xp.asarray(np.float64(a)) for a in args]).value

    def partials(self, f: Scalar, *args: float) -> tuple[Any, ...]:
        from toyad import tensor as engine
        from toyad.tensor import xp

        out = []
        for i in range(len(args)):

            def along_i(t: Any, i: int = i) -> Any:
                rest = [t if j == i else xp.asarray(np.float64(a)) for j, a in enumerate(args)]
                return f(self.ns(), *rest)

            out.append(engine.grad(along_i)(np.float64(args[i])))
        return tuple(out)

    def gradient(self, f: Callable[[Any, Any], Any], x: np.ndarray) -> Any:
        from toyad import tensor as engine

        return engine.grad(lambda t: f(self.ns(), t))(x)

    def second(self, f: Scalar, x0: float, combo: str) -> Any:
        from toyad import tensor as engine

        ns = self.ns()

        def g(t: Any) -> Any:
            return f(ns, t)

        x = np.float64(x0)
        if combo == "fr":
            return engine.hvp(g, x, 1.0)
        if combo == "ff":
            return engine.jvp(lambda t: engine.jvp(g, t, 1.0)[1], x, 1.0)[1]
        if combo == "rf":
            return engine.grad(lambda t: engine.jvp(g, t, 1.0)[1])(x)
        return engine.grad(engine.grad(g))(x)

    def grad_twice(self, f: Scalar, x0: float, retain: bool) -> Any:
        from toyad.tensor import Tensor
        from toyad.tensor.reverse import backward
        from toyad.tensor.tensor import Node

        leaf = Tensor(np.float64(x0))
        leaf.node = Node.leaf()
        y = f(self.ns(), leaf)
        backward(y, np.ones(()), [leaf.node], retain_graph=retain)
        return backward(y, np.ones(()), [leaf.node])[0]
