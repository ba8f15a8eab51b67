"""toyad.tensor behind the adapter interface: ``tensor`` and ``tensor-unbatched``.

    gradient   reverse: grad (one taped pass + one backward)
               forward: jacfwd of the scalar f
    jacobian   reverse: jacrev (one taped pass, m backward passes)
               forward: tensor           -> jacfwd: ONE pass carrying n tangents
                                                    (128 MiB batches past n ≈ 4000)
                        tensor-unbatched -> jacfwd_loop: n passes, one tangent each
    hessian    forward-over-reverse: grad pushed forward with n tangents at once
               (tensor) or n separate hvp passes (tensor-unbatched)
    jvp, vjp   jvp (one pass with one tangent), vjp (taped pass + backward)

``passes()`` reports the work in primal-equivalent passes (n for forward
Jacobians and Hessians, m for reverse Jacobians) for both variants: batching
changes how many Python passes carry that work, not how much arithmetic it is.
Everything is numpy float64 already, so a build only binds the problem's
constants and checks shapes (one primal); binding a new x converts nothing;
the timed callable runs the derivative.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from toyad import tensor as engine
from toyad.backends.base import Backend, Bind, UnknownBackend
from toyad.backends.namespaces import bind, check_output_shape, cotangent_for, require_scalar
from toyad.tensor.tensor import Tensor

NAMES = ("tensor", "tensor-unbatched")

CAPABILITIES = {
    "primal": ("forward",),
    "gradient": ("reverse", "forward"),
    "jacobian": ("reverse", "forward"),
    "hessian": ("forward-over-reverse",),
    "jvp": ("forward",),
    "vjp": ("reverse",),
}


@dataclass
class TensorBackend(Backend):
    """The numpy tensor engine; ``batched`` picks one n-tangent pass over n passes."""

    batched: bool = True

    def _build(self, operation: str, mode: str, f: Callable, x: np.ndarray, v: Any, u: Any) -> Bind:
        fx = bind(f, engine.xp)  # constants -> Tensors once, here
        out_shape = check_output_shape(np.shape(engine.xp.asarray(fx(Tensor(x))).value))
        n = x.shape[0]
        m = int(np.prod(out_shape, dtype=np.int64))
        if operation in ("gradient", "hessian"):
            require_scalar(operation, out_shape)
        if operation == "vjp":
            cotangent_for(u, out_shape)  # the shape check, once per build

        def scalar(z: Tensor) -> Tensor:  # f as a 0-d output (accepts shape (1,) too)
            y = fx(z)
            return y if out_shape == () else engine.xp.reshape(y, ())

        forward = engine.jacfwd if self.batched else engine.jacfwd_loop
        hessian = engine.hessian if self.batched else engine.hessian_loop
        gradient = engine.grad(scalar)

        # every input is numpy float64 already: binding converts nothing
        def bind_to(x: np.ndarray, v: Any, u: Any, keep: bool = True) -> Callable[[], Any]:
            if operation == "primal":
                return lambda: fx(Tensor(x)).value
            if operation == "gradient" and mode == "reverse":
                return lambda: gradient(x)
            if operation == "gradient":
                return lambda: forward(scalar, x)
            if operation == "jacobian":
                if mode == "reverse":
                    return lambda: engine.jacrev(fx, x).reshape(m, n)
                return lambda: forward(fx, x).reshape(m, n)
            if operation == "hessian":
                return lambda: hessian(scalar, x)
            if operation == "jvp":
                return lambda: engine.jvp(fx, x, v)[1]
            u_shaped = u.reshape(out_shape)  # vjp
            return lambda: engine.vjp(fx, x, u_shaped)[1]

        return bind_to

    def _strategy(self, operation: str, mode: str) -> str:
        if (operation, mode) == ("jacobian", "reverse"):
            return "loop"  # jacrev: m backward passes over one tape
        if operation in ("jacobian", "hessian") or (operation, mode) == ("gradient", "forward"):
            return "vectorised" if self.batched else "loop"
        return super()._strategy(operation, mode)

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}


def make(name: str) -> TensorBackend:
    if name not in NAMES:
        raise UnknownBackend(name, list(NAMES))
    batched = name == "tensor"
    return TensorBackend(
        name=name,
        family="toy",
        variant="batched" if batched else "unbatched",
        description=(
            "toyad.tensor, a numpy tensor engine: reverse mode on a recorded tape, forward "
            "mode with tangent batches; Hessians forward-over-reverse. "
            + (
                "Forward Jacobians and Hessians push all n basis tangents through ONE pass "
                "(work n primal-equivalents, one Python pass; 128 MiB tangent batches "
                "past n ~ 4000)."
                if batched
                else "Forward Jacobians and Hessians loop over n single-tangent passes."
            )
        ),
        capabilities=dict(CAPABILITIES),
        batched=batched,
    )
