"""TensorFlow behind the adapter interface: ``tf-eager``, ``tf-function``, ``tf-xla``.

    gradient   GradientTape.gradient (reverse) | forward Jacobian of scalar f
    jacobian   m tape gradients seeded e_1..e_m (tf-eager) | tape.jacobian, pfor
               (traced variants) (reverse)
               | ForwardAccumulator JVPs over e_1..e_n (forward)
    hessian    nested tapes: the outer Jacobian of the inner gradient, as above
               (reverse-over-reverse)
               | ForwardAccumulator over a tape gradient, per e_i
                 (forward-over-reverse: H e_i = d/dε ∇f(x + ε e_i))
    jvp        ForwardAccumulator(x, v).jvp(f(x))
    vjp        GradientTape.gradient(f(x), x, output_gradients=u)

``tf-eager`` runs this eagerly each call, as an eager TF user would: the n
forward passes over e_i and the m reverse passes over e_i are Python loops.
(Eager ``tape.jacobian`` with its default pfor wraps a new ``tf.function``
every call: ~70 ms of graph building at any m, which is not reverse mode.)
``tf-function`` wraps the same code in ``tf.function`` (fixed float64
``input_signature``, no autograph) with the n passes as one
``tf.vectorized_map`` and ``tape.jacobian``'s pfor (built once, at trace
time), and calls it once in prepare, so the timed call never retraces.
``tf-xla`` is ``tf-function`` with ``jit_compile=True``. Problem constants
are arguments of the traced function. Where TF answers ``None`` (output or
gradient not connected to x) the adapter returns zeros and records a
NativeAnswer.

The ``xp`` is :data:`XP`, a namespace of ``tf.math`` functions with float64
constants; no global switch (``tnp.experimental_enable_numpy_behavior`` makes
every op ~2.5x slower: a scalar multiply 18 -> 48 µs). Without it ``@`` is
``tf.linalg.matmul`` (rank >= 2 only): an f using ``@`` on a 1-D operand is
reported as an InputError naming this; ``xp.matmul`` has numpy semantics.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from toyad import runtime
from toyad.backends import capabilities as declared_capabilities

runtime.configure()  # thread counts are read when TF initialises

import tensorflow as tf  # noqa: E402
import tensorflow.experimental.numpy as tnp  # noqa: E402

from toyad.backends.base import (  # noqa: E402
    Backend,
    Bind,
    InputError,
    UnknownBackend,
    UnsupportedOperation,
    require_1d,
)
from toyad.backends.namespaces import (  # noqa: E402
    GRADIENT_CONSTANT,
    UNCONNECTED,
    NativeRecorder,
    basis_batch,
    basis_fits,
    bind_args,
    check_output_shape,
    cotangent_for,
    exception_text,
    is_plain_numbers,
    require_scalar,
    unit_vectors,
)
from toyad.loops import python_loops, row, steps_of  # noqa: E402

F64 = tf.float64


def _t(a: Any) -> Any:
    """A tensor as is; plain numbers as a float64 constant (never TF's float32)."""
    if tf.is_tensor(a):
        return a
    if is_plain_numbers(a):
        return tf.constant(np.asarray(a, dtype=np.float64))
    return tf.convert_to_tensor(a)


_PYTHON_LOOPS = python_loops(lambda arrays: tf.stack([_t(a) for a in arrays]))


def _same_structure(carry: Any, new: Any) -> Any:
    """A step's new carry as float64 tensors in the structure of the carry it was given
    (a list for a tuple is the same carry to the step's author, not to tf.while_loop)."""
    return tf.nest.pack_sequence_as(carry, [_t(a) for a in tf.nest.flatten(new)])


class TensorFlowNamespace:
    """The ``f(xp, x)`` contract in ``tf.math`` terms, numpy semantics, float64.

    Contract functions map to TF ops directly (no tnp wrappers, no global
    switch); anything else falls back to ``tensorflow.experimental.numpy``.
    """

    __name__ = "toyad TensorFlow namespace (tf.math, float64 constants)"

    @staticmethod
    def asarray(obj: Any, dtype: Any = None) -> Any:
        if tf.is_tensor(obj):
            return obj if dtype is None else tf.cast(obj, dtype)
        if dtype is None and is_plain_numbers(obj):
            return tf.constant(np.asarray(obj, dtype=np.float64))
        return tf.convert_to_tensor(obj, dtype=dtype)

    sin = staticmethod(lambda a: tf.math.sin(_t(a)))
    cos = staticmethod(lambda a: tf.math.cos(_t(a)))
    exp = staticmethod(lambda a: tf.math.exp(_t(a)))
    log = staticmethod(lambda a: tf.math.log(_t(a)))
    tanh = staticmethod(lambda a: tf.math.tanh(_t(a)))
    sqrt = staticmethod(lambda a: tf.math.sqrt(_t(a)))

    @staticmethod
    def sum(a: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A003
        return tf.math.reduce_sum(_t(a), axis=axis, keepdims=keepdims)

    @staticmethod
    def max(a: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A003
        return tf.math.reduce_max(_t(a), axis=axis, keepdims=keepdims)

    @staticmethod
    def min(a: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A003
        return tf.math.reduce_min(_t(a), axis=axis, keepdims=keepdims)

    @staticmethod
    def stack(seq: Sequence[Any], axis: int = 0) -> Any:
        return tf.stack([_t(a) for a in seq], axis=axis)

    @staticmethod
    def concatenate(seq: Sequence[Any], axis: int = 0) -> Any:
        return tf.concat([_t(a) for a in seq], axis=axis)

    @staticmethod
    def reshape(a: Any, shape: Any) -> Any:
        return tf.reshape(_t(a), shape)

    @staticmethod
    def transpose(a: Any, axes: Any = None) -> Any:
        return tf.transpose(_t(a), perm=axes)

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> Any:
        return tf.where(cond, _t(a), _t(b))

    @staticmethod
    def matmul(a: Any, b: Any) -> Any:
        """numpy's matmul: 1-D operands are vectors (tf.linalg.matmul wants rank >= 2)."""
        a, b = _t(a), _t(b)
        ra, rb = a.shape.rank, b.shape.rank
        if ra == 1 and rb == 1:
            return tf.math.reduce_sum(a * b)
        if rb == 1:
            return tf.linalg.matvec(a, b)
        if ra == 1:
            return tf.linalg.matvec(b, a, transpose_a=True)
        return tf.linalg.matmul(a, b)

    # -- the contract's loops (toyad.loops): tf.while_loop in a graph, Python eagerly --
    graph_loops = 0  # tf.while_loops built in graphs (a failed trace names them)

    @staticmethod
    def scan(step: Callable, carry: Any, xs: Any = None, length: int | None = None) -> Any:
        count = steps_of(xs, length)
        if tf.executing_eagerly() or count == 0:
            return _PYTHON_LOOPS["scan"](step, carry, xs, length)
        TensorFlowNamespace.graph_loops += 1
        carry = tf.nest.map_structure(_t, carry)
        xs = None if xs is None else tf.nest.map_structure(_t, xs)
        # the first step outside the loop says whether steps have outputs, and their shape:
        # without outputs no TensorArray (tf.vectorized_map cannot carry one through a loop)
        new_carry, y = step(carry, row(xs, 0))
        carry = _same_structure(carry, new_carry)
        if y is None:

            def body(i: Any, carry: Any) -> tuple[Any, Any]:
                new_carry, _ = step(carry, None if xs is None else row(xs, i))
                return i + 1, _same_structure(carry, new_carry)

            _, carry = tf.while_loop(
                lambda i, c: i < count, body, (tf.constant(1), carry),
                maximum_iterations=count - 1,
            )  # fmt: skip
            return carry, None

        def body_with_output(i: Any, carry: Any, ys: Any) -> tuple[Any, Any, Any]:
            new_carry, y = step(carry, None if xs is None else row(xs, i))
            return i + 1, _same_structure(carry, new_carry), ys.write(i, _t(y))

        ys = tf.TensorArray(F64, size=count, element_shape=_t(y).shape).write(0, _t(y))
        _, carry, ys = tf.while_loop(
            lambda i, c, ys: i < count, body_with_output, (tf.constant(1), carry, ys),
            maximum_iterations=count - 1,
        )  # fmt: skip
        return carry, ys.stack()

    @staticmethod
    def fori_loop(lower: int, upper: int, body: Callable, carry: Any) -> Any:
        if tf.executing_eagerly():
            return _PYTHON_LOOPS["fori_loop"](lower, upper, body, carry)
        TensorFlowNamespace.graph_loops += 1
        carry = tf.nest.map_structure(_t, carry)

        def step(i: Any, carry: Any) -> tuple[Any, Any]:
            return i + 1, _same_structure(carry, body(i, carry))

        _, carry = tf.while_loop(
            lambda i, c: i < upper, step, (tf.constant(int(lower)), carry),
            maximum_iterations=max(0, int(upper) - int(lower)),
        )  # fmt: skip
        return carry

    @staticmethod
    def while_loop(cond: Callable, body: Callable, carry: Any) -> Any:
        if tf.executing_eagerly():
            return _PYTHON_LOOPS["while_loop"](cond, body, carry)
        TensorFlowNamespace.graph_loops += 1
        carry = tf.nest.map_structure(_t, carry)
        (carry,) = tf.while_loop(cond, lambda c: (_same_structure(c, body(c)),), (carry,))
        return carry

    def __getattr__(self, name: str) -> Any:  # outside the contract: tnp's
        value = getattr(tnp, name)
        setattr(self, name, value)
        return value

    def __repr__(self) -> str:
        return f"<{self.__name__}>"


XP = TensorFlowNamespace()

MATMUL_RANK_1 = (
    "f uses `@` on a 1-D operand, which TensorFlow's `@` (tf.linalg.matmul, rank >= 2) "
    "does not accept without tnp.experimental_enable_numpy_behavior(), a global switch "
    "toyad leaves off (it slows every TF op ~2.5x); write xp.matmul(a, b)"
)

CAPABILITIES = declared_capabilities.TENSORFLOW
VARIANTS = {"tf-eager": "eager", "tf-function": "function", "tf-xla": "xla"}
DESCRIPTIONS = {
    "tf-eager": "GradientTape and ForwardAccumulator, eager: n forward / m reverse passes "
    "as Python loops",
    "tf-function": "GradientTape and ForwardAccumulator traced once in tf.function (fixed "
    "input_signature; vectorized_map / pfor for the n or m passes)",
    "tf-xla": "tf-function compiled by XLA (tf.function(jit_compile=True))",
}


def _or_zeros(value: Any, shape: tuple[int, ...], on_none: NativeRecorder) -> Any:
    """TF's None (not connected) -> zeros of ``shape``, recorded once."""
    if value is None:
        on_none()
        return tf.zeros(shape, dtype=F64)
    return value


def _first_call(fx: Callable, xt: Any, consts: dict[str, Any]) -> Any:
    """f(x) once, eagerly; a 1-D `@` (TF's MatMul on rank 1) -> InputError saying so."""
    try:
        return fx(xt, consts)
    except (tf.errors.InvalidArgumentError, ValueError) as exc:
        if "MatMul" in str(exc) or "matmul" in str(exc):
            raise InputError(f"{MATMUL_RANK_1} ({type(exc).__name__}: {exc})") from None
        raise


def _f64(a: np.ndarray) -> Any:
    """A float64 numpy array as a TF tensor (a copy: TF owns its buffers)."""
    return tf.constant(a, dtype=F64)


def _traced(fn: Callable, args: tuple, jit_compile: bool) -> Callable:
    """``tf.function`` of fn with the args' fixed float64 signature, traced here."""
    signature = tf.nest.map_structure(lambda a: tf.TensorSpec(a.shape, F64), list(args))
    traced = tf.function(fn, input_signature=signature, autograph=False, jit_compile=jit_compile)
    # TF warns of "retracing" when the functions traced from one piece of code trace
    # often; every build here is a new function traced once from the same code (its
    # signature fixed), so the warning would count toyad's builds, not its user's calls
    if hasattr(traced, "_omit_frequent_tracing_warning"):
        traced._omit_frequent_tracing_warning = True
    traced(*args)  # the one trace (and XLA compile), here and not in the timed call
    return traced


@dataclass
class TensorFlowBackend(Backend):
    """GradientTape / ForwardAccumulator, eager or inside one traced tf.function."""

    compiled: bool = False
    jit_compile: bool = False

    def _recorders(self, operation: str) -> Callable[..., NativeRecorder]:
        """none_from(api, situation) -> the (one) recorder of that None answer."""
        made: dict[tuple[str, str], NativeRecorder] = {}

        def none_from(api: str, situation: str = UNCONNECTED) -> NativeRecorder:
            key = (api, situation)
            if key not in made:
                made[key] = NativeRecorder(self.native_log, operation, situation, f"None ({api})")
            return made[key]

        return none_from

    def _strategy(self, operation: str, mode: str) -> str:
        if operation in ("jacobian", "hessian") or (operation, mode) == ("gradient", "forward"):
            return "vectorised" if self.compiled else "loop"
        return super()._strategy(operation, mode)

    def _prepare_empty(self, x: np.ndarray) -> Callable[[], Any]:
        xt = tf.constant(x, dtype=F64)
        if not self.compiled:
            return lambda: tf.identity(xt)  # the cheapest eager op
        work = _traced(tf.identity, (xt,), self.jit_compile)
        return lambda: work(xt)

    def _build(self, operation: str, mode: str, f: Callable, x: np.ndarray, v: Any, u: Any) -> Bind:
        n = x.shape[0]
        xt = tf.constant(x, dtype=F64)
        fx, consts = bind_args(f, XP)  # constants -> float64 tensors once, here
        out_shape = check_output_shape(tuple(_first_call(fx, xt, consts).shape))
        m = int(np.prod(out_shape, dtype=int))
        none_from = self._recorders(operation)
        compiled = self.compiled

        def primal(z, c):
            return fx(z, c)

        def scalar(z, c):
            return tf.reshape(fx(z, c), [])

        def vector(z, c):
            return tf.reshape(fx(z, c), [-1])

        def gradient_reverse(z, c):  # ∇f, one reverse sweep
            with tf.GradientTape() as tape:
                tape.watch(z)
                y = scalar(z, c)
            return _or_zeros(tape.gradient(y, z), (n,), none_from("GradientTape.gradient"))

        def rows_of_jacobian(tape, y, z, k, on_none):
            """(k, n) Jacobian of y (k,) on a recorded tape: pfor in a traced function
            (built once, at trace time); k seeded tape gradients in eager mode."""
            if compiled:
                return _or_zeros(tape.jacobian(y, z), (k, n), on_none)
            rows = [tape.gradient(y, z, output_gradients=eager_seed(i)) for i in range(k)]
            return tf.stack([_or_zeros(r, (n,), on_none) for r in rows])

        def jacobian_reverse(z, c):  # (m, n), m reverse sweeps
            with tf.GradientTape(persistent=not compiled) as tape:
                tape.watch(z)
                y = vector(z, c)
            return rows_of_jacobian(tape, y, z, m, none_from("GradientTape.jacobian"))

        # Only what this operation and mode need, and never n×n past 64 MiB.
        def as_tensor(row: np.ndarray) -> Any:
            return tf.constant(row, dtype=F64)

        many = operation in ("gradient", "jacobian", "hessian")
        forward = many and mode in ("forward", "forward-over-reverse")
        forward_basis = eager_unit = eager_seed = None
        if forward and compiled and basis_fits(n):
            forward_basis = tf.eye(n, dtype=F64)  # captured by the trace (<= 64 MiB)
        if forward and not compiled:
            eager_unit = unit_vectors(n, as_tensor)
        if not compiled and (operation, mode) == ("jacobian", "reverse"):
            eager_seed = unit_vectors(m, as_tensor)
        if not compiled and mode == "reverse-over-reverse":
            eager_seed = unit_vectors(n, as_tensor)

        def over_basis(fn, z, c):
            """Stack fn(z, e_i, c) for i = 1..n: tf.vectorized_map inside tf.function
            (over 64 MiB basis batches in a while_loop at large n); n plain eager
            passes in tf-eager."""
            if not compiled:
                return tf.stack([fn(z, eager_unit(i), c) for i in range(n)])
            if forward_basis is not None:
                return tf.vectorized_map(lambda tangent: fn(z, tangent, c), forward_basis)
            rows = basis_batch(n)
            batches = -(-n // rows)

            def body(i, parts):
                idx = i * rows + tf.range(rows)  # a static shape: XLA needs one
                batch = tf.one_hot(idx, n, dtype=F64)  # rows past n are zero
                out = tf.vectorized_map(lambda tangent: fn(z, tangent, c), batch)
                return i + 1, parts.write(i, out)

            parts = tf.TensorArray(F64, size=batches)
            _, parts = tf.while_loop(lambda i, _: i < batches, body, (tf.constant(0), parts))
            return tf.reshape(parts.stack(), [batches * rows, -1])[:n]

        def jvp_column(z, tangent, c):  # J e_i, one forward pass
            with tf.autodiff.ForwardAccumulator(z, tangent) as acc:
                y = vector(z, c)
            return _or_zeros(acc.jvp(y), (m,), none_from("ForwardAccumulator.jvp"))

        def jacobian_forward(z, c):  # (m, n): column i = J e_i
            return tf.transpose(over_basis(jvp_column, z, c))

        def hessian_reverse_over_reverse(z, c):
            with tf.GradientTape(persistent=not compiled) as outer:
                outer.watch(z)
                with tf.GradientTape() as inner:
                    inner.watch(z)
                    y = scalar(z, c)
                g = inner.gradient(y, z)
            if g is None:
                none_from("GradientTape.gradient")()
                return tf.zeros((n, n), dtype=F64)
            on_none = none_from("GradientTape.jacobian", GRADIENT_CONSTANT)
            return rows_of_jacobian(outer, g, z, n, on_none)  # H symmetric: rows = columns

        def hvp_row(z, tangent, c):  # H e_i = directional derivative of ∇f along e_i
            with tf.autodiff.ForwardAccumulator(z, tangent) as acc:
                with tf.GradientTape() as tape:
                    tape.watch(z)
                    y = scalar(z, c)
                g = tape.gradient(y, z)
            if g is None:
                none_from("GradientTape.gradient")()
                return tf.zeros((n,), dtype=F64)
            Hv = acc.jvp(g)
            return _or_zeros(Hv, (n,), none_from("ForwardAccumulator.jvp", GRADIENT_CONSTANT))

        def hessian_forward_over_reverse(z, c):
            return over_basis(hvp_row, z, c)  # H symmetric: rows = columns

        def jvp(z, tangent, c):  # J v, one forward pass
            with tf.autodiff.ForwardAccumulator(z, tangent) as acc:
                y = primal(z, c)
            return _or_zeros(acc.jvp(y), out_shape, none_from("ForwardAccumulator.jvp"))

        def vjp(z, cotangent, c):  # u^T J, one reverse sweep seeded with u
            with tf.GradientTape() as tape:
                tape.watch(z)
                y = primal(z, c)
            g = tape.gradient(y, z, output_gradients=cotangent)
            return _or_zeros(g, (n,), none_from("GradientTape.gradient"))

        direction = None  # jvp: v; vjp: u reshaped to f's output
        if operation == "primal":
            work = primal
        elif operation == "gradient":
            require_scalar(operation, out_shape)
            if mode == "reverse":
                work = gradient_reverse
            else:

                def work(z, c):
                    return tf.reshape(jacobian_forward(z, c), [n])

        elif operation == "jacobian":
            work = jacobian_reverse if mode == "reverse" else jacobian_forward
        elif operation == "hessian":
            require_scalar(operation, out_shape)
            if mode == "reverse-over-reverse":
                work = hessian_reverse_over_reverse
            else:
                work = hessian_forward_over_reverse
        elif operation == "jvp":
            work, direction = jvp, (lambda v, u: v)
        else:
            cotangent_for(u, out_shape)  # the shape check, once per build
            work, direction = vjp, (lambda v, u: u.reshape(out_shape))

        if compiled:
            sample = (xt, consts) if direction is None else (xt, _f64(direction(v, u)), consts)
            loops_before = XP.graph_loops
            try:
                work = _traced(work, sample, self.jit_compile)
            except Exception as exc:
                if XP.graph_loops == loops_before:
                    raise
                raise UnsupportedOperation(
                    self.name,
                    operation,
                    mode,
                    "TensorFlow cannot trace this through the tf.while_loop of f's "
                    f"xp.scan / fori_loop / while_loop: {exception_text(exc)}",
                ) from None

        def bind(x: np.ndarray, v: Any, u: Any, keep: bool = True) -> Callable[[], Any]:
            a = x if tf.is_tensor(x) else _f64(x)  # a float64 tensor (native) as it is
            if direction is None:
                call = lambda: work(a, consts)  # noqa: E731
            else:
                b = _f64(direction(v, u))
                call = lambda: work(a, b, consts)  # noqa: E731
            call.function = work  # tests read tf.function's tracing count from it
            return call

        return bind

    def _to_numpy(self, result: Any) -> np.ndarray:
        return np.asarray(result.numpy() if hasattr(result, "numpy") else result, np.float64)

    def _to_native(self, x: np.ndarray) -> Any:
        return _f64(x)

    def native(self, x: Any) -> Any:
        """A tf.Tensor (or Variable) as a float64 eager tensor (results stay tensors)."""
        if not (tf.is_tensor(x) or isinstance(x, tf.Variable)):
            return None
        require_1d(x.shape, "x (a tf tensor)")
        return tf.convert_to_tensor(x) if x.dtype == F64 else tf.cast(x, F64)

    def _reshape(self, out: Any, shape: tuple[int, ...]) -> Any:
        return tf.reshape(out, shape) if tf.is_tensor(out) else out.reshape(shape)

    def versions(self) -> dict[str, str]:
        return {
            "tensorflow": tf.__version__,
            "threads": os.environ.get("TF_NUM_INTRAOP_THREADS", ""),
            "inter_op_threads": os.environ.get("TF_NUM_INTEROP_THREADS", ""),
        }


def make(name: str) -> TensorFlowBackend:
    if name not in VARIANTS:
        raise UnknownBackend(name, list(VARIANTS))
    return TensorFlowBackend(
        name=name,
        family="tensorflow",
        variant=VARIANTS[name],
        description=DESCRIPTIONS[name],
        capabilities=dict(CAPABILITIES),
        compiled=name != "tf-eager",
        jit_compile=name == "tf-xla",
    )
