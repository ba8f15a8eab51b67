"""PyTorch behind the adapter interface: three backends, three APIs.

torch-autograd (the tape, ``torch.autograd``):
    gradient   autograd.grad (reverse) | functional.jacobian forward-mode (forward)
    jacobian   autograd.grad(..., grad_outputs=I_m, is_grads_batched=True): m VJPs
               in one batched backward (reverse)
               | functional.jacobian(vectorize=True, strategy="forward-mode")
    hessian    functional.hessian(vectorize=True): reverse-over-reverse, or
               outer_jacobian_strategy="forward-mode": forward-over-reverse
    jvp        functional.jvp: the double-backward trick (two reverse sweeps)
    vjp        autograd.grad(f(x), x, grad_outputs=u)
torch-forward-ad (dual tensors, ``torch.autograd.forward_ad``):
    jvp        one pass with make_dual(x, v)
    gradient/jacobian (forward): n passes, tangent e_i in pass i
torch-func (``torch.func`` transforms): grad, jacfwd, jacrev, hessian
    (= jacfwd(jacrev)) or jacrev(jacrev), jvp, vjp.

Inputs are float64 tensors from ``torch.from_numpy`` on a private copy;
constants go through ``xp.asarray``, which makes float64 (torch's own default
is float32). Where torch raises for an output that ignores x
(``autograd.grad``) or gives a None tangent (forward_ad) the adapter returns
zeros and records the native answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from toyad import runtime

runtime.configure()

import array_api_compat  # noqa: E402
import array_api_compat.torch as torch_xp  # noqa: E402
import torch  # noqa: E402
import torch.autograd.forward_ad as fwAD  # noqa: E402
import torch.func  # noqa: E402

torch.set_num_threads(int(runtime.settings().get("threads", 1)))

from toyad.backends.base import Backend, UnknownBackend  # noqa: E402
from toyad.backends.namespaces import (  # noqa: E402
    UNCONNECTED,
    FloatNamespace,
    NativeRecorder,
    bind,
    check_output_shape,
    cotangent_for,
    exception_text,
    require_scalar,
    unit_rows,
)

F64 = torch.float64


def _transpose(a: Any, axes: Any = None) -> Any:
    """numpy's transpose (torch.transpose needs two dims): axes reversed by default."""
    return torch_xp.permute_dims(a, tuple(reversed(range(a.ndim))) if axes is None else axes)


XP = FloatNamespace(torch_xp, F64, "array_api_compat.torch", aliases={"transpose": _transpose})

CAPABILITIES = {
    "torch-autograd": {
        "primal": ("forward",),
        "gradient": ("reverse", "forward"),
        "jacobian": ("reverse", "forward"),
        "hessian": ("reverse-over-reverse", "forward-over-reverse"),
        "jvp": ("double-backward",),
        "vjp": ("reverse",),
    },
    "torch-forward-ad": {
        "primal": ("forward",),
        "gradient": ("forward",),
        "jacobian": ("forward",),
        "jvp": ("forward",),
    },
    "torch-func": {
        "primal": ("forward",),
        "gradient": ("reverse", "forward"),
        "jacobian": ("reverse", "forward"),
        "hessian": ("forward-over-reverse", "reverse-over-reverse"),
        "jvp": ("forward",),
        "vjp": ("reverse",),
    },
}
DESCRIPTIONS = {
    "torch-autograd": "torch.autograd tape: grad, batched VJPs, autograd.functional",
    "torch-forward-ad": "torch.autograd.forward_ad dual tensors, one pass per tangent",
    "torch-func": "torch.func transforms: grad, jacfwd, jacrev, hessian, jvp, vjp",
}


def _tensor(a: np.ndarray) -> torch.Tensor:
    """float64 tensor on a private copy (from_numpy shares memory)."""
    return torch.from_numpy(np.array(a, dtype=np.float64, copy=True))


@dataclass
class TorchBackend(Backend):
    """One of torch's three AD APIs (``api``: autograd | forward-ad | func)."""

    api: str = "autograd"

    def _prepare(
        self, operation: str, mode: str, f: Callable, x: np.ndarray, *, v: Any, u: Any
    ) -> Callable[[], Any]:
        xt = _tensor(x)
        fx = bind(f, XP)  # constants -> float64 tensors once, here
        with torch.no_grad():
            out_shape = check_output_shape(tuple(fx(xt).shape))
        if operation in ("gradient", "hessian"):
            require_scalar(operation, out_shape)
        if operation == "primal":

            def primal():
                with torch.no_grad():
                    return fx(xt)

            return primal
        vt = _tensor(v) if operation == "jvp" else None
        ut = _tensor(cotangent_for(u, out_shape)) if operation == "vjp" else None
        build = {"autograd": self._autograd, "forward-ad": self._forward_ad, "func": self._func}
        return build[self.api](operation, mode, fx, xt, out_shape, vt, ut)

    # -- torch.autograd ----------------------------------------------------
    def _autograd(self, operation, mode, fx, xt, out_shape, vt, ut) -> Callable[[], Any]:
        n = xt.shape[0]
        m = int(np.prod(out_shape, dtype=int))
        xr = xt.detach().clone().requires_grad_(True)
        record = NativeRecorder(self.native_log, operation, UNCONNECTED, "")

        def scalar(z):
            return fx(z).reshape(())

        def vector(z):
            return fx(z).reshape(-1)

        def backward(y, seed, batched, zeros_shape):
            """torch.autograd.grad; its RuntimeError for an unconnected y -> zeros."""
            try:
                return torch.autograd.grad(y, xr, grad_outputs=seed, is_grads_batched=batched)[0]
            except RuntimeError as exc:
                if y.requires_grad:
                    raise
                record(exception_text(exc))
                return torch.zeros(zeros_shape, dtype=F64)

        if operation == "gradient" and mode == "reverse":
            return lambda: backward(scalar(xr), None, False, (n,))
        if operation == "gradient":
            jac = torch.autograd.functional.jacobian
            return lambda: jac(scalar, xt, vectorize=True, strategy="forward-mode")
        if operation == "jacobian" and mode == "reverse":
            seeds = _tensor(unit_rows(m))
            return lambda: backward(vector(xr), seeds, True, (m, n))
        if operation == "jacobian":
            jac = torch.autograd.functional.jacobian
            return lambda: jac(vector, xt, vectorize=True, strategy="forward-mode")
        if operation == "hessian":
            outer = "reverse-mode" if mode == "reverse-over-reverse" else "forward-mode"
            hess = torch.autograd.functional.hessian
            return lambda: hess(scalar, xt, vectorize=True, outer_jacobian_strategy=outer)
        if operation == "jvp":
            jvp = torch.autograd.functional.jvp

            def primal(z):
                return fx(z)

            return lambda: jvp(primal, xt, vt)[1]
        # vjp
        return lambda: backward(fx(xr), ut, False, (n,))

    # -- torch.autograd.forward_ad -------------------------------------------
    def _forward_ad(self, operation, mode, fx, xt, out_shape, vt, ut) -> Callable[[], Any]:
        n = xt.shape[0]
        m = int(np.prod(out_shape, dtype=int))
        record = NativeRecorder(
            self.native_log, operation, UNCONNECTED, "None (forward_ad.unpack_dual(y).tangent)"
        )

        def tangent_of(z, tangent, shape):  # one forward pass with dual inputs
            y = fx(fwAD.make_dual(z, tangent))
            t = fwAD.unpack_dual(y).tangent
            if t is None:
                record()
                return torch.zeros(shape, dtype=F64)
            return t

        if operation == "jvp":

            def jvp():
                with fwAD.dual_level():
                    return tangent_of(xt, vt, out_shape)

            return jvp

        basis = _tensor(unit_rows(n))

        def columns():  # J e_i for i = 1..n: n forward passes
            with fwAD.dual_level():
                cols = [tangent_of(xt, basis[i], out_shape).reshape(m) for i in range(n)]
            return torch.stack(cols, dim=1)

        if operation == "gradient":
            return lambda: columns().reshape(n)
        return columns  # jacobian (m, n)

    # -- torch.func -------------------------------------------------------------
    def _func(self, operation, mode, fx, xt, out_shape, vt, ut) -> Callable[[], Any]:
        def primal(z):
            return fx(z)

        def scalar(z):
            return fx(z).reshape(())

        def vector(z):
            return fx(z).reshape(-1)

        tf_ = torch.func
        if operation == "gradient":
            work = tf_.grad(scalar) if mode == "reverse" else tf_.jacfwd(scalar)
        elif operation == "jacobian":
            work = tf_.jacrev(vector) if mode == "reverse" else tf_.jacfwd(vector)
        elif operation == "hessian":
            if mode == "forward-over-reverse":
                work = tf_.hessian(scalar)
            else:
                work = tf_.jacrev(tf_.jacrev(scalar))
        elif operation == "jvp":
            return lambda: tf_.jvp(primal, (xt,), (vt,))[1]
        else:  # vjp
            return lambda: tf_.vjp(primal, xt)[1](ut)[0]
        return lambda: work(xt)

    def _to_numpy(self, result: Any) -> np.ndarray:
        if isinstance(result, torch.Tensor):
            return result.detach().numpy().astype(np.float64, copy=True)
        return np.asarray(result, dtype=np.float64)

    def versions(self) -> dict[str, str]:
        return {
            "torch": torch.__version__,
            "array_api_compat": array_api_compat.__version__,
            "threads": str(torch.get_num_threads()),
        }


def make(name: str) -> TorchBackend:
    if name not in CAPABILITIES:
        raise UnknownBackend(name, list(CAPABILITIES))
    api = name.removeprefix("torch-")
    return TorchBackend(
        name=name,
        family="torch",
        variant=api,
        description=DESCRIPTIONS[name],
        capabilities=dict(CAPABILITIES[name]),
        api=api,
    )
