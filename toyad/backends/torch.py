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
torch-compile: the torch-func transforms under ``torch.compile`` (inductor,
    ``fullgraph=True``), the compile outside the transform as the PyTorch docs
    advise; prepare compiles and calls twice, constants are graph inputs, each
    prepared call gets its own dynamo cache (see ``_compiled``) and
    ``release()`` resets dynamo/inductor when a case ends. Where compiling
    fails but torch.func runs f (torch 2.13's dynamo asserts "Guard failed on
    the same frame it was created" for a numpy constant made inside f under a
    transform) the operation is UnsupportedOperation naming the failure.

Inputs are float64 tensors from ``torch.from_numpy`` on a private copy;
constants go through ``xp.asarray``, which makes float64 (torch's own default
is float32). Where torch raises for an output that ignores x
(``autograd.grad``) or gives a None tangent (forward_ad) the adapter returns
zeros and records the native answer.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toyad import runtime
from toyad.backends import capabilities as declared_capabilities

runtime.configure()

import array_api_compat  # noqa: E402
import array_api_compat.torch as torch_xp  # noqa: E402
import torch  # noqa: E402
import torch.autograd.forward_ad as fwAD  # noqa: E402
import torch.func  # noqa: E402

torch.set_num_threads(int(runtime.settings().get("threads", 1)))

from toyad.backends.base import (  # noqa: E402
    Backend,
    Bind,
    UnknownBackend,
    UnsupportedOperation,
    require_1d,
)
from toyad.backends.namespaces import (  # noqa: E402
    UNCONNECTED,
    FloatNamespace,
    NativeRecorder,
    bind_args,
    check_output_shape,
    cotangent_for,
    exception_text,
    require_scalar,
    unit_rows,
    unit_vectors,
)

F64 = torch.float64


def _transpose(a: Any, axes: Any = None) -> Any:
    """numpy's transpose (torch.transpose needs two dims): axes reversed by default."""
    return torch_xp.permute_dims(a, tuple(reversed(range(a.ndim))) if axes is None else axes)


class TorchNamespace(FloatNamespace):
    """``FloatNamespace`` that dynamo can trace: a numpy constant made inside f
    (a plain f(xp, x) has no other way) becomes a float64 tensor without reading
    ``ndarray.dtype.kind``, which torch.compile(fullgraph=True) rejects."""

    def asarray(self, obj: Any, dtype: Any = None, **kw: Any) -> Any:
        if dtype is None and isinstance(obj, np.ndarray) and torch.compiler.is_compiling():
            return torch.as_tensor(obj, dtype=F64)
        return super().asarray(obj, dtype, **kw)


XP = TorchNamespace(torch_xp, F64, "array_api_compat.torch", aliases={"transpose": _transpose})

CAPABILITIES = declared_capabilities.TORCH
DESCRIPTIONS = {
    "torch-autograd": "torch.autograd tape: grad, batched VJPs, autograd.functional",
    "torch-forward-ad": "torch.autograd.forward_ad dual tensors, one pass per tangent",
    "torch-func": "torch.func transforms: grad, jacfwd, jacrev, hessian, jvp, vjp",
    "torch-compile": "torch.compile (inductor, fullgraph) around the torch.func transforms, "
    "compiled and called once in prepare",
}
STRATEGIES = {  # beyond the single passes (base class)
    "torch-autograd": "vectorised",  # is_grads_batched / functional(vectorize=True)
    "torch-forward-ad": "loop",  # n passes, one dual tangent each
    "torch-func": "vectorised",  # vmap
    "torch-compile": "vectorised",
}
_FRESH = itertools.count()


def _compiled(fn: Callable) -> Callable:
    """``torch.compile`` of fn behind a wrapper with its own code object.

    Dynamo keeps its compiled entries on the code object of the frame it
    intercepts; the torch.func transforms share theirs across every
    ``grad(...)``, so cases would pile entries onto one code object (each call
    then walks stale guards, and past the recompile limit dynamo silently runs
    eager). A fresh code object per prepared call keeps its cache to itself.
    """

    def run(*args: Any) -> Any:
        return fn(*args)

    run.__code__ = run.__code__.replace(co_name=f"toyad_compiled_{next(_FRESH)}")
    return torch.compile(run, backend="inductor", fullgraph=True)


def _exit_leaked_dual_level() -> None:
    """Close a forward-AD level left open by a case stopped mid-pass.

    Torch allows one dual level at a time; a case stopped by the guard's hard
    limit inside ``fwAD.dual_level()`` (or inside a compile tracing one) can
    leave it open, and every later forward-mode call would then fail with
    "Nested forward mode AD is not supported".
    """
    with contextlib.suppress(RuntimeError):  # no level open: nothing to do
        torch._C._exit_dual_level(level=0)
    fwAD._current_level = -1


def _tensor(a: np.ndarray) -> torch.Tensor:
    """float64 tensor on a private copy (from_numpy shares memory)."""
    return torch.from_numpy(np.array(a, dtype=np.float64, copy=True))


def _inputs(a: Any, keep: bool) -> torch.Tensor:
    """A kept call's private copy; for one call at once, a tensor sharing a's memory
    (O(1): torch.from_numpy; the AD calls here never write to their input). A float64
    tensor (the conveniences' native input) is used as it is, detached."""
    if isinstance(a, torch.Tensor):
        return a.detach()
    return _tensor(a) if keep else torch.from_numpy(a)


def _bound(fx: Callable, consts: dict[str, Any]) -> Callable[[Any], Any]:
    def g(z: Any) -> Any:
        return fx(z, consts)

    return g


@dataclass
class TorchBackend(Backend):
    """One of torch's three AD APIs (``api``: autograd | forward-ad | func)."""

    api: str = "autograd"
    _compiled_since_reset: bool = field(default=False, init=False, repr=False)

    def _strategy(self, operation: str, mode: str) -> str:
        if operation in ("jacobian", "hessian") or (operation, mode) == ("gradient", "forward"):
            return STRATEGIES[self.name]
        return super()._strategy(operation, mode)  # jvp double-backward: two sweeps, single

    def _prepare_empty(self, x: np.ndarray) -> Callable[[], Any]:
        xt = _tensor(x)
        if self.api != "compile":
            return lambda: torch.neg(xt)  # one eager op
        work = _compiled(torch.neg)
        self._compiled_since_reset = True
        work(xt)
        return lambda: work(xt)

    def release(self, framework_caches: bool = True) -> None:
        super().release()  # the conveniences' cache holds compiled functions too
        _exit_leaked_dual_level()
        if self.api == "compile" and self._compiled_since_reset:
            # after every case that compiled: dynamo keys its caches on code objects that
            # every case shares, and past its recompile limit it would fall back to eager
            # without saying so (a backend that compiled nothing has nothing to reset, and
            # the first reset imports all of dynamo: seconds)
            torch.compiler.reset()
            self._compiled_since_reset = False

    def _build(self, operation: str, mode: str, f: Callable, x: np.ndarray, v: Any, u: Any) -> Bind:
        xt = _tensor(x)
        fx, consts = bind_args(f, XP)  # constants -> float64 tensors once, here
        with torch.no_grad():
            out_shape = check_output_shape(tuple(fx(xt, consts).shape))
        if operation in ("gradient", "hessian"):
            require_scalar(operation, out_shape)
        if operation == "vjp":
            cotangent_for(u, out_shape)  # the shape check, once per build
        if self.api == "compile":
            vt = _tensor(v) if operation == "jvp" else None
            ut = _tensor(u.reshape(out_shape)) if operation == "vjp" else None
            return self._compile(operation, mode, fx, consts, xt, vt, ut, out_shape)
        g = _bound(fx, consts)  # eager: the constants ride in the closure
        if operation == "primal":

            def bind_primal(x: np.ndarray, v: Any, u: Any, keep: bool = True) -> Callable:
                xt = _inputs(x, keep)

                def primal():
                    with torch.no_grad():
                        return g(xt)

                return primal

            return bind_primal
        build = {"autograd": self._autograd, "forward-ad": self._forward_ad, "func": self._func}
        make_call = build[self.api](operation, mode, g, x.shape[0], out_shape)

        def bind(x: np.ndarray, v: Any, u: Any, keep: bool = True) -> Callable[[], Any]:
            vt = _inputs(v, keep) if operation == "jvp" else None
            ut = _inputs(u.reshape(out_shape), keep) if operation == "vjp" else None
            return make_call(_inputs(x, keep), vt, ut)

        return bind

    # -- torch.autograd ----------------------------------------------------
    def _autograd(self, operation, mode, fx, n, out_shape) -> Callable[..., Callable[[], Any]]:
        m = int(np.prod(out_shape, dtype=int))
        record = NativeRecorder(self.native_log, operation, UNCONNECTED, "")

        def scalar(z):
            return fx(z).reshape(())

        def vector(z):
            return fx(z).reshape(-1)

        def backward(y, xr, seed, batched, zeros_shape):
            """torch.autograd.grad; its RuntimeError for an unconnected y -> zeros."""
            try:
                return torch.autograd.grad(y, xr, grad_outputs=seed, is_grads_batched=batched)[0]
            except RuntimeError as exc:
                if y.requires_grad:
                    raise
                record(exception_text(exc))
                return torch.zeros(zeros_shape, dtype=F64)

        jac = torch.autograd.functional.jacobian
        if operation == "jacobian" and mode == "reverse":
            seeds = _tensor(unit_rows(m))

        def make_call(xt, vt, ut) -> Callable[[], Any]:
            xr = xt.detach().requires_grad_(True)  # a leaf sharing xt's memory
            if operation == "gradient" and mode == "reverse":
                return lambda: backward(scalar(xr), xr, None, False, (n,))
            if operation == "gradient":
                return lambda: jac(scalar, xt, vectorize=True, strategy="forward-mode")
            if operation == "jacobian" and mode == "reverse":
                return lambda: backward(vector(xr), xr, seeds, True, (m, n))
            if operation == "jacobian":
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
            return lambda: backward(fx(xr), xr, ut, False, (n,))

        return make_call

    # -- torch.autograd.forward_ad -------------------------------------------
    def _forward_ad(self, operation, mode, fx, n, out_shape) -> Callable[..., Callable[[], Any]]:
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

        unit = unit_vectors(n, torch.from_numpy) if operation != "jvp" else None

        def make_call(xt, vt, ut) -> Callable[[], Any]:
            if operation == "jvp":

                def jvp():
                    with fwAD.dual_level():
                        return tangent_of(xt, vt, out_shape)

                return jvp

            def column(i):  # J e_i: one forward pass, in its own dual level (a level
                # keeps every tangent made in it until it exits: n passes in one level
                # held O(n) per pass, n² in all)
                with fwAD.dual_level():
                    return tangent_of(xt, unit(i), out_shape).reshape(m)

            def columns():  # J e_i for i = 1..n: n forward passes
                return torch.stack([column(i) for i in range(n)], dim=1)

            if operation == "gradient":
                return lambda: columns().reshape(n)
            return columns  # jacobian (m, n)

        return make_call

    # -- torch.func -------------------------------------------------------------
    def _func(self, operation, mode, fx, n, out_shape) -> Callable[..., Callable[[], Any]]:
        def primal(z):
            return fx(z)

        def scalar(z):
            return fx(z).reshape(())

        def vector(z):
            return fx(z).reshape(-1)

        tf_ = torch.func
        work = None
        if operation == "gradient":
            work = tf_.grad(scalar) if mode == "reverse" else tf_.jacfwd(scalar)
        elif operation == "jacobian":
            work = tf_.jacrev(vector) if mode == "reverse" else tf_.jacfwd(vector)
        elif operation == "hessian":
            if mode == "forward-over-reverse":
                work = tf_.hessian(scalar)
            else:
                work = tf_.jacrev(tf_.jacrev(scalar))

        def make_call(xt, vt, ut) -> Callable[[], Any]:
            if operation == "jvp":
                return lambda: tf_.jvp(primal, (xt,), (vt,))[1]
            if operation == "vjp":
                return lambda: tf_.vjp(primal, xt)[1](ut)[0]
            return lambda: work(xt)

        return make_call

    # -- torch.compile around torch.func ------------------------------------------
    def _compile(self, operation, mode, fx, consts, xt, vt, ut, out_shape) -> Bind:
        """The torch.func transform of f(z, c), compiled outside the transform (as the
        PyTorch docs advise); constants c are inputs of the compiled graph."""

        def scalar(z, c):
            return fx(z, c).reshape(())

        def vector(z, c):
            return fx(z, c).reshape(-1)

        tf_ = torch.func
        args: tuple = (xt, consts)
        if operation == "primal":

            def work(z, c):
                return fx(z, c)

        elif operation == "gradient":
            work = tf_.grad(scalar) if mode == "reverse" else tf_.jacfwd(scalar)
        elif operation == "jacobian":
            work = tf_.jacrev(vector) if mode == "reverse" else tf_.jacfwd(vector)
        elif operation == "hessian":
            if mode == "forward-over-reverse":
                work = tf_.hessian(scalar)
            else:
                work = tf_.jacrev(tf_.jacrev(scalar))
        elif operation == "jvp":

            def work(z, t, c):
                return tf_.jvp(lambda w: fx(w, c), (z,), (t,))[1]

            args = (xt, vt, consts)
        else:  # vjp

            def work(z, w, c):
                return tf_.vjp(lambda y: fx(y, c), z)[1](w)[0]

            args = (xt, ut, consts)
        compiled = _compiled(work)
        self._compiled_since_reset = True
        try:
            with torch.no_grad() if operation == "primal" else contextlib.nullcontext():
                compiled(*args)  # the compile, here
                compiled(*args)  # a second call: nothing left to compile in the timed one
        except Exception as exc:
            work(*args)  # f itself fails under torch.func too: that error, not compile's
            raise UnsupportedOperation(
                self.name,
                operation,
                mode,
                f"torch.compile fails where torch.func runs: {exception_text(exc)}",
            ) from None

        def bind(x: np.ndarray, v: Any, u: Any, keep: bool = True) -> Callable[[], Any]:
            a = _inputs(x, keep)
            if operation == "primal":

                def call():
                    with torch.no_grad():
                        return compiled(a, consts)

            elif operation in ("jvp", "vjp"):
                b = _inputs(v if operation == "jvp" else u.reshape(out_shape), keep)
                call = lambda: compiled(a, b, consts)  # noqa: E731
            else:
                call = lambda: compiled(a, consts)  # noqa: E731
            call.function = compiled
            return call

        return bind

    def _to_numpy(self, result: Any) -> np.ndarray:
        if isinstance(result, torch.Tensor):
            return result.detach().numpy().astype(np.float64, copy=True)
        return np.asarray(result, dtype=np.float64)

    def _to_native(self, x: np.ndarray) -> Any:
        return _tensor(x)

    def native(self, x: Any) -> Any:
        """A torch.Tensor as a float64 tensor (results of the conveniences stay tensors)."""
        if not isinstance(x, torch.Tensor):
            return None
        require_1d(x.shape, "x (a torch tensor)")
        return x if x.dtype == F64 else x.to(F64)

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
