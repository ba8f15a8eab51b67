"""TensorFlow behind the adapter interface: ``tf-eager`` and ``tf-function``.

    gradient   GradientTape.gradient (reverse) | forward Jacobian of scalar f
    jacobian   GradientTape.jacobian, pfor (reverse)
               | ForwardAccumulator JVPs over e_1..e_n (forward)
    hessian    nested tapes: outer.jacobian(inner.gradient)   (reverse-over-reverse)
               | ForwardAccumulator over a tape gradient, per e_i
                 (forward-over-reverse: H e_i = d/dε ∇f(x + ε e_i))
    jvp        ForwardAccumulator(x, v).jvp(f(x))
    vjp        GradientTape.gradient(f(x), x, output_gradients=u)

``tf-eager`` runs this eagerly each call: the n forward passes over e_i are
a Python loop, and ``tape.jacobian`` keeps its default pfor, whose function
it rebuilds every call (the honest eager cost). ``tf-function`` wraps the
same code in ``tf.function`` (fixed float64 ``input_signature``, no
autograph) with the n passes as one ``tf.vectorized_map``, and calls it once
in prepare, so the timed call never retraces. Where TF answers ``None``
(output or gradient not connected to x) the adapter returns zeros and
records a NativeAnswer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from toyad import runtime

runtime.configure()  # thread counts are read when TF initialises

import tensorflow as tf  # noqa: E402
import tensorflow.experimental.numpy as tnp  # noqa: E402

# Global switch (once, here): rank-1 `@`, numpy promotion, float64 default for
# Python floats in tnp.asarray.
tnp.experimental_enable_numpy_behavior()

from toyad.backends.base import Backend, UnknownBackend  # noqa: E402
from toyad.backends.namespaces import (  # noqa: E402
    GRADIENT_CONSTANT,
    UNCONNECTED,
    FloatNamespace,
    NativeRecorder,
    bind,
    check_output_shape,
    cotangent_for,
    require_scalar,
    unit_rows,
)

F64 = tf.float64
XP = FloatNamespace(tnp, F64, "tensorflow.experimental.numpy")

CAPABILITIES = {
    "primal": ("forward",),
    "gradient": ("reverse", "forward"),
    "jacobian": ("reverse", "forward"),
    "hessian": ("reverse-over-reverse", "forward-over-reverse"),
    "jvp": ("forward",),
    "vjp": ("reverse",),
}
VARIANTS = {"tf-eager": "eager", "tf-function": "function"}


def _or_zeros(value: Any, shape: tuple[int, ...], on_none: NativeRecorder) -> Any:
    """TF's None (not connected) -> zeros of ``shape``, recorded once."""
    if value is None:
        on_none()
        return tf.zeros(shape, dtype=F64)
    return value


@dataclass
class TensorFlowBackend(Backend):
    """GradientTape / ForwardAccumulator, eager or inside one traced tf.function."""

    compiled: bool = False

    def _recorders(self, operation: str) -> Callable[..., NativeRecorder]:
        """none_from(api, situation) -> the (one) recorder of that None answer."""
        made: dict[tuple[str, str], NativeRecorder] = {}

        def none_from(api: str, situation: str = UNCONNECTED) -> NativeRecorder:
            key = (api, situation)
            if key not in made:
                made[key] = NativeRecorder(self.native_log, operation, situation, f"None ({api})")
            return made[key]

        return none_from

    def _prepare(
        self, operation: str, mode: str, f: Callable, x: np.ndarray, *, v: Any, u: Any
    ) -> Callable[[], Any]:
        n = x.shape[0]
        xt = tf.constant(x, dtype=F64)
        fx = bind(f, XP)  # constants -> tensors once, here
        out_shape = check_output_shape(tuple(fx(xt).shape))
        m = int(np.prod(out_shape, dtype=int))
        none_from = self._recorders(operation)

        def primal(z):
            return fx(z)

        def scalar(z):
            return tf.reshape(fx(z), [])

        def vector(z):
            return tf.reshape(fx(z), [-1])

        def gradient_reverse(z):  # ∇f, one reverse sweep
            with tf.GradientTape() as tape:
                tape.watch(z)
                y = scalar(z)
            return _or_zeros(tape.gradient(y, z), (n,), none_from("GradientTape.gradient"))

        def jacobian_reverse(z):  # (m, n), m reverse sweeps vectorised by pfor
            with tf.GradientTape() as tape:
                tape.watch(z)
                y = vector(z)
            return _or_zeros(tape.jacobian(y, z), (m, n), none_from("GradientTape.jacobian"))

        basis = tf.constant(unit_rows(n))
        basis_rows = [basis[i] for i in range(n)]

        def over_basis(fn, z):
            """Stack fn(z, e_i) for i = 1..n: one tf.vectorized_map (pfor) inside
            tf.function; n plain eager passes in tf-eager (rebuilding a pfor
            function per call would time graph construction, not forward mode)."""
            if self.compiled:
                return tf.vectorized_map(lambda tangent: fn(z, tangent), basis)
            return tf.stack([fn(z, e) for e in basis_rows])

        def jvp_column(z, tangent):  # J e_i, one forward pass
            with tf.autodiff.ForwardAccumulator(z, tangent) as acc:
                y = vector(z)
            return _or_zeros(acc.jvp(y), (m,), none_from("ForwardAccumulator.jvp"))

        def jacobian_forward(z):  # (m, n): column i = J e_i
            return tf.transpose(over_basis(jvp_column, z))

        def hessian_reverse_over_reverse(z):
            with tf.GradientTape() as outer:
                outer.watch(z)
                with tf.GradientTape() as inner:
                    inner.watch(z)
                    y = scalar(z)
                g = inner.gradient(y, z)
            if g is None:
                none_from("GradientTape.gradient")()
                return tf.zeros((n, n), dtype=F64)
            H = outer.jacobian(g, z)
            return _or_zeros(H, (n, n), none_from("GradientTape.jacobian", GRADIENT_CONSTANT))

        def hvp_row(z, tangent):  # H e_i = directional derivative of ∇f along e_i
            with tf.autodiff.ForwardAccumulator(z, tangent) as acc:
                with tf.GradientTape() as tape:
                    tape.watch(z)
                    y = scalar(z)
                g = tape.gradient(y, z)
            if g is None:
                none_from("GradientTape.gradient")()
                return tf.zeros((n,), dtype=F64)
            Hv = acc.jvp(g)
            return _or_zeros(Hv, (n,), none_from("ForwardAccumulator.jvp", GRADIENT_CONSTANT))

        def hessian_forward_over_reverse(z):
            return over_basis(hvp_row, z)  # H symmetric: rows = columns

        def jvp(z, tangent):  # J v, one forward pass
            with tf.autodiff.ForwardAccumulator(z, tangent) as acc:
                y = primal(z)
            return _or_zeros(acc.jvp(y), out_shape, none_from("ForwardAccumulator.jvp"))

        def vjp(z, cotangent):  # u^T J, one reverse sweep seeded with u
            with tf.GradientTape() as tape:
                tape.watch(z)
                y = primal(z)
            g = tape.gradient(y, z, output_gradients=cotangent)
            return _or_zeros(g, (n,), none_from("GradientTape.gradient"))

        args: tuple = (xt,)
        if operation == "primal":
            work = primal
        elif operation == "gradient":
            require_scalar(operation, out_shape)
            if mode == "reverse":
                work = gradient_reverse
            else:

                def work(z):
                    return tf.reshape(jacobian_forward(z), [n])

        elif operation == "jacobian":
            work = jacobian_reverse if mode == "reverse" else jacobian_forward
        elif operation == "hessian":
            require_scalar(operation, out_shape)
            if mode == "reverse-over-reverse":
                work = hessian_reverse_over_reverse
            else:
                work = hessian_forward_over_reverse
        elif operation == "jvp":
            work, args = jvp, (xt, tf.constant(v, dtype=F64))
        else:
            work = vjp
            args = (xt, tf.constant(cotangent_for(u, out_shape), dtype=F64))

        if self.compiled:
            signature = [tf.TensorSpec(shape=tuple(a.shape), dtype=F64) for a in args]
            work = tf.function(work, input_signature=signature, autograph=False)
            work(*args)  # the one trace, here and not in the timed call
        if len(args) == 1:
            (a,) = args
            call = lambda: work(a)  # noqa: E731
        else:
            a, b = args
            call = lambda: work(a, b)  # noqa: E731
        call.function = work  # tests read tf.function's tracing count from it
        return call

    def _to_numpy(self, result: Any) -> np.ndarray:
        return np.asarray(result.numpy() if hasattr(result, "numpy") else result, np.float64)

    def versions(self) -> dict[str, str]:
        return {
            "tensorflow": tf.__version__,
            "threads": os.environ.get("TF_NUM_INTRAOP_THREADS", ""),
            "inter_op_threads": os.environ.get("TF_NUM_INTEROP_THREADS", ""),
        }


def make(name: str) -> TensorFlowBackend:
    if name not in VARIANTS:
        raise UnknownBackend(name, list(VARIANTS))
    compiled = name == "tf-function"
    return TensorFlowBackend(
        name=name,
        family="tensorflow",
        variant=VARIANTS[name],
        description="GradientTape and ForwardAccumulator"
        + (", traced once in tf.function (fixed input_signature)" if compiled else ", eager"),
        capabilities=dict(CAPABILITIES),
        compiled=compiled,
    )
