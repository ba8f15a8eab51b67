"""JAX behind the adapter interface: ``jax-eager`` and ``jax-jit``.

    gradient   jax.grad (reverse) | jax.jacfwd (forward, n JVPs vmapped)
    jacobian   jax.jacrev (m VJPs vmapped) | jax.jacfwd (n JVPs vmapped)
    hessian    jax.hessian = jacfwd(jacrev) | jacrev(jacrev)
    jvp, vjp   jax.jvp, jax.vjp

``jax-jit`` wraps each of these in ``jax.jit`` and calls it once in prepare
(the compile); problem constants are arguments of the jitted function (not
closed over: that would bake them into the executable as literals); every
timed call ends with ``block_until_ready`` (JAX dispatches asynchronously:
without it only the dispatch is timed). ``release()`` clears JAX's caches:
its global caches keep every compiled executable alive after the prepared
call is gone (measured: 12 prepared jacobians left 39 executables).
JAX's native answer for an output that ignores x is zeros, so nothing needs
recording.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from toyad import runtime
from toyad.backends import capabilities as declared_capabilities

runtime.configure()  # threads and JAX_ENABLE_X64 before jax loads

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # float64 even if jax was imported earlier
# Run CPU computations inline on the calling thread. With async dispatch (JAX's default)
# a call hands its work to a runtime thread and block_until_ready waits for it: for a
# small computation the hand-off, not the derivative, set the time, and it changed from
# build to build (dense_tanh 16x16 reverse Jacobian, 10 builds: medians 7.4-43.8 us
# with async dispatch, 8.2-8.5 us without). Every timed call blocks anyway.
jax.config.update("jax_cpu_enable_async_dispatch", False)

import jax.numpy as jnp  # noqa: E402

from toyad.backends.base import (  # noqa: E402
    Backend,
    Bind,
    UnknownBackend,
    UnsupportedOperation,
    require_1d,
)
from toyad.backends.namespaces import (  # noqa: E402
    FloatNamespace,
    bind_args,
    check_output_shape,
    cotangent_for,
    require_scalar,
)


def _strong(tree: Any) -> Any:
    """Python and numpy floats in a loop's carry as float64 arrays that are not weakly
    typed (lax.scan refuses a carry whose dtype a step changes, weak to strong)."""

    def strong(a: Any) -> Any:
        if isinstance(a, (float, np.floating)) or (
            isinstance(a, np.ndarray) and a.dtype.kind == "f"
        ):
            return jnp.asarray(np.asarray(a, dtype=np.float64))
        return a

    return jax.tree_util.tree_map(strong, tree)


def _scan(step: Callable, carry: Any, xs: Any = None, length: int | None = None) -> Any:
    return jax.lax.scan(step, _strong(carry), xs, length)


def _fori_loop(lower: int, upper: int, body: Callable, carry: Any) -> Any:
    return jax.lax.fori_loop(lower, upper, body, _strong(carry))


WHILE_LOOPS = [0]  # lax.while_loops traced so far (a reverse pass cannot go through one)


def _while_loop(cond: Callable, body: Callable, carry: Any) -> Any:
    WHILE_LOOPS[0] += 1
    return jax.lax.while_loop(cond, body, _strong(carry))


def _reverse_pass(operation: str, mode: str) -> bool:
    """Whether (operation, mode) runs a reverse sweep."""
    return operation in ("hessian", "vjp") or mode == "reverse"


XP = FloatNamespace(
    jnp,
    jnp.float64,
    "jax.numpy",
    aliases={"scan": _scan, "fori_loop": _fori_loop, "while_loop": _while_loop},
)
F64 = np.dtype(np.float64)  # comparing dtype to dtype: ~10x faster than to jnp.float64
ARRAY_IMPL = type(jnp.zeros(0))  # a type test before isinstance's ABC check (hot path)

CAPABILITIES = declared_capabilities.JAX


@dataclass
class JaxBackend(Backend):
    """jax transforms, run op by op (eager) or compiled once (jit)."""

    jit: bool = False

    def _strategy(self, operation: str, mode: str) -> str:
        if operation in ("jacobian", "hessian") or (operation, mode) == ("gradient", "forward"):
            return "vectorised"  # jacfwd / jacrev: vmap over the basis
        return super()._strategy(operation, mode)

    def release(self, framework_caches: bool = True) -> None:
        super().release()  # the conveniences' cache holds jitted functions too
        if framework_caches:  # executables outlive their jitted functions otherwise
            jax.clear_caches()

    def _prepare_empty(self, x: np.ndarray) -> Callable[[], Any]:
        xj = jnp.asarray(x)
        if not self.jit:
            return lambda: jnp.negative(xj).block_until_ready()  # one eager op
        identity = jax.jit(lambda z: z)
        identity(xj).block_until_ready()
        return lambda: identity(xj).block_until_ready()

    def _build(self, operation: str, mode: str, f: Callable, x: np.ndarray, v: Any, u: Any) -> Bind:
        xj = jnp.asarray(x)
        fx, consts = bind_args(f, XP)  # constants -> jax arrays once, here: arguments
        while_loops = WHILE_LOOPS[0]
        out_shape = check_output_shape(_output_shape(fx, xj, consts))
        if WHILE_LOOPS[0] > while_loops and _reverse_pass(operation, mode):
            raise UnsupportedOperation(
                self.name,
                operation,
                mode,
                "JAX cannot run a reverse pass through lax.while_loop (f's xp.while_loop: "
                "its step count is known only at run time); xp.scan or xp.fori_loop with "
                "Python int bounds can be reversed",
            )

        def primal(z, c):
            return fx(z, c)

        def scalar(z, c):  # f as a 0-d output (accepts shape (1,) too)
            return jnp.reshape(fx(z, c), ())

        def vector(z, c):  # f as a 1-D output: jacobian is then (m, n)
            return jnp.reshape(fx(z, c), (-1,))

        # every transform differentiates argument 0 (x); c, the constants, ride along;
        # the direction (v or u, reshaped to f's output) is the middle argument
        def direction(v: Any, u: Any) -> Any:
            return None

        if operation == "primal":
            work = primal
        elif operation == "gradient":
            require_scalar(operation, out_shape)
            work = jax.grad(scalar) if mode == "reverse" else jax.jacfwd(scalar)
        elif operation == "jacobian":
            work = jax.jacrev(vector) if mode == "reverse" else jax.jacfwd(vector)
        elif operation == "hessian":
            require_scalar(operation, out_shape)
            if mode == "forward-over-reverse":
                work = jax.hessian(scalar)
            else:
                work = jax.jacrev(jax.jacrev(scalar))
        elif operation == "jvp":

            def work(z, t, c):  # J t, one forward pass
                return jax.jvp(lambda w: primal(w, c), (z,), (t,))[1]

            def direction(v: Any, u: Any) -> Any:
                return v

        else:  # vjp
            cotangent_for(u, out_shape)  # the shape check, once per build

            def work(z, w, c):  # w^T J, one forward + one reverse pass
                return jax.vjp(lambda y: primal(y, c), z)[1](w)[0]

            def direction(v: Any, u: Any) -> Any:
                return u.reshape(out_shape)

        two = operation in ("jvp", "vjp")
        if self.jit:
            work = jax.jit(work)
            sample = (xj, jnp.asarray(direction(v, u)), consts) if two else (xj, consts)
            work(*sample).block_until_ready()  # trace + compile here, not in a timed call

        def bind(x: np.ndarray, v: Any, u: Any, keep: bool = True) -> Callable[[], Any]:
            """The call on new inputs: device arrays for a kept (timed) call; for one
            call numpy goes straight in, as jit's C++ dispatch moves it to the device
            faster than jnp.asarray does (measured ~6 vs ~30 µs at n = 10)."""
            to_device = keep or not self.jit
            a = jnp.asarray(x) if to_device else x  # a jax array passes as it is
            if two:
                b = jnp.asarray(direction(v, u)) if to_device else direction(v, u)
                args = (a, b, consts)
            else:
                args = (a, consts)
            if not keep:  # one call whose result the caller takes: CPU work runs inline
                return lambda: work(*args)  # (no async dispatch), so it is done on return
            call = lambda: work(*args).block_until_ready()  # noqa: E731
            call.function, call.args = work, args  # tests lower the jitted function
            return call

        return bind

    def _to_numpy(self, result: Any) -> np.ndarray:
        return np.array(result, dtype=np.float64, copy=True)  # not a view of a jax buffer

    def _to_native(self, x: np.ndarray) -> Any:
        return jnp.asarray(x)

    def native(self, x: Any) -> Any:
        """A jax array as a float64 jax array (results of the conveniences stay jax)."""
        if type(x) is not ARRAY_IMPL and not isinstance(x, jax.Array):
            return None
        if x.dtype == F64 and x.ndim == 1:  # the common case first: no cast, no copy
            return x
        require_1d(x.shape, "x (a jax array)")
        return x.astype(jnp.float64)

    def versions(self) -> dict[str, str]:
        import jaxlib

        return {
            "jax": jax.__version__,
            "jaxlib": jaxlib.__version__,
            "threads": str(runtime.settings().get("threads", "")),
            "x64": str(jax.config.jax_enable_x64),
            "cpu_async_dispatch": str(jax.config.read("jax_cpu_enable_async_dispatch")),
        }


def _output_shape(fx: Callable, xj: Any, consts: Any) -> tuple[int, ...]:
    """f's output shape from an abstract trace (no kernel compiled, nothing run); an f
    that only runs eagerly (Python control flow on values) is called once instead."""
    try:
        out = jax.eval_shape(fx, xj, consts)
    except Exception:
        out = None
    if isinstance(out, jax.ShapeDtypeStruct):
        return tuple(out.shape)
    return tuple(jnp.shape(fx(xj, consts)))  # (its errors are the ones a user would meet)


def make(name: str) -> JaxBackend:
    if name not in ("jax-eager", "jax-jit"):
        raise UnknownBackend(name, ["jax-eager", "jax-jit"])
    jit = name == "jax-jit"
    return JaxBackend(
        name=name,
        family="jax",
        variant="jit" if jit else "eager",
        description="jax.grad/jacfwd/jacrev/hessian/jvp/vjp"
        + (", compiled once with jax.jit" if jit else ", op by op"),
        capabilities=dict(CAPABILITIES),
        jit=jit,
    )
