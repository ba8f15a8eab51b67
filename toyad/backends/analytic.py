"""The "analytic" baseline (ADBench's "manual" tool): hand-written derivatives.

It differentiates nothing: ``f`` must be a ``toyad.problems`` function, whose
``f.instance`` carries the numpy formulas for the value, gradient/Jacobian and
Hessian. jvp is ``J v`` and vjp ``u J`` from that Jacobian. The operations have
no forward/reverse distinction, so each has the single mode ``"analytic"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toyad.backends.base import Backend, InputError, UnsupportedOperation
from toyad.problems import Instance

MODE = "analytic"


@dataclass
class AnalyticBackend(Backend):
    capabilities: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {
            op: (MODE,) for op in ("primal", "gradient", "jacobian", "hessian", "jvp", "vjp")
        }
    )

    def _instance(self, operation: str, mode: str, f: Callable) -> Instance:
        inst = getattr(f, "instance", None)
        if not isinstance(inst, Instance):
            raise UnsupportedOperation(
                self.name,
                operation,
                mode,
                f"analytic needs a toyad.problems function (one with f.instance); got {f!r}",
            )
        return inst

    def _prepare(
        self, operation: str, mode: str, f: Callable, x: np.ndarray, *, v: Any, u: Any
    ) -> Callable[[], Any]:
        inst = self._instance(operation, mode, f)
        prob, consts, n, m = inst.problem, inst.consts, inst.n, inst.m
        if x.shape != (n,):
            raise InputError(
                f"problem {inst.name!r} has n={n}: x must have shape ({n},); got {x.shape}"
            )
        if operation in ("gradient", "hessian") and not prob.scalar:
            raise InputError(
                f"{operation} needs a scalar-valued f; problem {inst.name!r} returns shape ({m},)"
            )

        hand = getattr(prob, "hand_written", None)  # a user's problem: only what was given
        if hand is not None and operation != "primal":
            need = "hessian" if operation == "hessian" else "derivative"
            if need not in hand:
                what = "Hessian" if need == "hessian" else "gradient/Jacobian"
                raise UnsupportedOperation(
                    self.name, operation, mode, f"problem {inst.name!r} has no hand-written {what}"
                )
        if operation == "primal":
            return lambda: prob.primal(x, **consts)
        if operation == "gradient":
            return lambda: prob.derivative(x, **consts)
        if operation == "jacobian":
            return lambda: np.reshape(prob.derivative(x, **consts), (m, n))
        if operation == "hessian":
            if prob.hessian is None:
                raise UnsupportedOperation(
                    self.name, operation, mode, f"problem {inst.name!r} has no analytic Hessian"
                )
            hessian = prob.hessian
            return lambda: hessian(x, **consts)
        if operation == "jvp":
            out_shape = () if prob.scalar else (m,)
            return lambda: np.reshape(
                np.reshape(prob.derivative(x, **consts), (m, n)) @ v, out_shape
            )
        if operation == "vjp":
            if u.size != m or (not prob.scalar and u.shape != (m,)):
                want = "0-d or (1,)" if prob.scalar else f"({m},)"
                raise InputError(
                    f"cotangent u for problem {inst.name!r} must have shape {want}; got {u.shape}"
                )
            u_row = u.reshape(m)
            return lambda: u_row @ np.reshape(prob.derivative(x, **consts), (m, n))
        raise UnsupportedOperation(self.name, operation, mode)  # pragma: no cover

    def _strategy(self, operation: str, mode: str) -> str:
        return "closed-form"

    def passes(self, operation: str, mode: str, n: int, m: int) -> int | None:
        return None  # closed-form formulas: no primal-equivalent passes to count

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}


def make(name: str) -> Backend:
    """Factory named in the registry (``BackendSpec("analytic", "analytic", "make")``)."""
    if name != "analytic":
        raise ValueError(f"toyad.backends.analytic makes only 'analytic', not {name!r}")
    return AnalyticBackend(
        name=name,
        family="analytic",
        variant="",
        description="hand-written numpy derivatives from toyad.problems (ADBench's manual tool)",
    )
