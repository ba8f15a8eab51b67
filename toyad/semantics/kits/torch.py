"""The PyTorch kit: torch.autograd (grad, backward) and torch.func (second derivatives).

torch is imported on first use, after :func:`toyad.runtime.configure`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from toyad import runtime
from toyad.semantics.kits.base import Kit, Scalar


class TorchKit(Kit):
    """torch.autograd (tape: grad, backward) and torch.func (second derivatives)."""

    def _torch(self) -> Any:
        runtime.configure()
        import torch

        return torch

    def ns(self) -> Any:
        torch = self._torch()

        def like(a: Any, b: Any) -> Any:
            return b if isinstance(b, torch.Tensor) else torch.tensor(b, dtype=a.dtype)

        return SimpleNamespace(
            sin=torch.sin,
            cos=torch.cos,
            exp=torch.exp,
            log=torch.log,
            sqrt=torch.sqrt,
            abs=torch.abs,
            relu=torch.relu,
            maximum=lambda a, b: torch.maximum(a, like(a, b)),
            where=lambda c, a, b: torch.where(torch.tensor(c), a, like(a, b)),
            sum=torch.sum,
        )

    def _inputs(self, args: Sequence[float], grad: bool = True) -> list[Any]:
        torch = self._torch()
        return [torch.tensor(a, dtype=torch.float64, requires_grad=grad) for a in args]

    def value(self, f: Scalar, *args: float) -> Any:
        torch = self._torch()
        with torch.no_grad():
            return f(self.ns(), *self._inputs(args, grad=False))

    def _partials(self, f: Scalar, args: Sequence[float], **kw: Any) -> tuple[Any, ...]:
        torch = self._torch()
        xs = self._inputs(args)
        return torch.autograd.grad(f(self.ns(), *xs), xs, **kw)

    def partials(self, f: Scalar, *args: float) -> tuple[Any, ...]:
        return self._partials(f, args)

    def unused_zeros(self, f: Scalar, *args: float) -> Any:
        return self._partials(f, args, materialize_grads=True)

    def unused_allow(self, f: Scalar, *args: float) -> Any:
        return self._partials(f, args, allow_unused=True)

    def gradient(self, f: Callable[[Any, Any], Any], x: np.ndarray) -> Any:
        torch = self._torch()
        xt = torch.from_numpy(np.array(x, copy=True)).requires_grad_(True)
        return torch.autograd.grad(f(self.ns(), xt), xt)[0]

    def second(self, f: Scalar, x0: float, combo: str) -> Any:
        torch = self._torch()
        ns = self.ns()
        transforms = {"f": torch.func.jacfwd, "r": torch.func.jacrev}
        (x,) = self._inputs([x0], grad=False)
        return transforms[combo[0]](transforms[combo[1]](lambda z: f(ns, z)))(x)

    def grad_twice(self, f: Scalar, x0: float, retain: bool) -> Any:
        (x,) = self._inputs([x0])
        y = f(self.ns(), x)
        y.backward(retain_graph=retain)
        y.backward()
        return x.grad
