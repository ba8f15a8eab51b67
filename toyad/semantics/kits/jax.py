"""The JAX kit: jax.grad, jacfwd/jacrev and vjp, with x64 enabled before any array.

JAX is imported on first use, after :func:`toyad.runtime.configure`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from toyad import runtime
from toyad.semantics.answers import Unsupported
from toyad.semantics.kits.base import Kit, Scalar


class JaxKit(Kit):
    """jax.grad / jacfwd / jacrev / vjp, float64 (x64 enabled before any array)."""

    def _jax(self) -> tuple[Any, Any]:
        runtime.configure()
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        return jax, jnp

    def ns(self) -> Any:
        jax, jnp = self._jax()
        return SimpleNamespace(
            sin=jnp.sin,
            cos=jnp.cos,
            exp=jnp.exp,
            log=jnp.log,
            sqrt=jnp.sqrt,
            abs=jnp.abs,
            relu=jax.nn.relu,
            maximum=jnp.maximum,
            where=jnp.where,
            sum=jnp.sum,
        )

    def _inputs(self, args: Sequence[float]) -> list[Any]:
        _, jnp = self._jax()
        return [jnp.asarray(a, dtype=jnp.float64) for a in args]

    def value(self, f: Scalar, *args: float) -> Any:
        return f(self.ns(), *self._inputs(args))

    def partials(self, f: Scalar, *args: float) -> tuple[Any, ...]:
        jax, _ = self._jax()
        ns = self.ns()
        argnums = tuple(range(len(args)))
        return jax.grad(lambda *z: f(ns, *z), argnums=argnums)(*self._inputs(args))

    def gradient(self, f: Callable[[Any, Any], Any], x: np.ndarray) -> Any:
        jax, jnp = self._jax()
        ns = self.ns()
        return jax.grad(lambda z: f(ns, z))(jnp.asarray(x))

    def second(self, f: Scalar, x0: float, combo: str) -> Any:
        jax, _ = self._jax()
        ns = self.ns()
        outer = jax.jacfwd if combo[0] == "f" else jax.jacrev
        inner = jax.jacfwd if combo[1] == "f" else jax.jacrev
        (x,) = self._inputs([x0])
        return outer(inner(lambda z: f(ns, z)))(x)

    def grad_twice(self, f: Scalar, x0: float, retain: bool) -> Any:
        jax, jnp = self._jax()
        if retain:
            raise Unsupported("no retain option: a vjp function is pure and reusable")
        ns = self.ns()
        (x,) = self._inputs([x0])
        _, pullback = jax.vjp(lambda z: f(ns, z), x)
        one = jnp.asarray(1.0, dtype=jnp.float64)
        pullback(one)
        return pullback(one)[0]
