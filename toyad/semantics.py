"""The semantics conformance table: every backend's *native* answer to awkward questions.

Each :class:`Case` asks one question (the derivative of relu at 0, the gradient
for an input the output ignores, a gradient taken twice from one tape, ...)
of every backend family through a :class:`Kit`, a thin layer over the
family's own API (no toyad adapter in between, except in the
``unused-input-adapter`` case, which is about the adapters). The answer is
recorded as the library gives it: a value, ``None``, or the exception, never
normalised and never asserted. Where a documented or mathematical truth
exists the row carries it in ``expected`` and ``agrees`` says whether the
native answer matches it; where there is no single truth (a kink) both are
left empty (``""``, None).

    from toyad import semantics
    semantics.CASES                     # name -> Case
    semantics.BACKENDS                  # name -> Kit (dual ... micrograd)
    semantics.selected(["tf-eager", "dual"])   # -> ["dual", "tensorflow"]
    semantics.row("log-0-grad", "jax")  # one SEMANTICS_COLUMNS row; never raises

A backend crashing on a case is an answer (kind ``exception``); a case a
backend cannot express is kind ``unsupported`` with the reason; a framework
that is not installed is kind ``unsupported`` naming the package.
Everything runs in float64 except the float32 case.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from toyad import backends, rules, runtime
from toyad.results import SEMANTICS_COLUMNS

X_SECOND = 0.7  # f(x) = sin(x)·x³ is differentiated twice here
COMBOS = ("ff", "fr", "rf", "rr")  # outer mode first: fr = forward over reverse
FLOAT32_X = np.array([-1.75, -0.5, 0.25, 1.0, 2.5])  # exactly representable in float32
FLOAT32_GAP_LIMIT = 1e-5  # a float32 gradient of a well-conditioned f is ~1e-7 off
MESSAGE_CHARS = 200


class Unsupported(Exception):
    """The backend cannot express this case; the message says why."""


# -- what a probe returns ------------------------------------------------------------


@dataclass(frozen=True)
class Reported:
    """A probe's answer already put into words (kind, text) plus the value judged."""

    kind: str
    text: str
    value: Any = None


@dataclass(frozen=True)
class RoundingGap:
    """max |g32 - g64| / max |g64| and the dtype the float32 run returned."""

    gap: float
    dtype: str


def plain(native: Any) -> Any:
    """A framework result as numpy (torch/TF/JAX tensors), Python numbers kept."""
    if native is None or isinstance(native, (bool, int, float, complex, np.generic, np.ndarray)):
        return native
    detach = getattr(native, "detach", None)
    if callable(detach):  # torch
        return detach().cpu().numpy()
    to_numpy = getattr(native, "numpy", None)
    if callable(to_numpy):  # TF eager tensor
        return to_numpy()
    try:
        return np.asarray(native)  # JAX arrays and other array-likes
    except Exception:
        return native


def render(native: Any) -> tuple[str, str]:
    """(kind, compact text) of a native answer: ``None``, ``nan``, ``[0. 0.]``, ..."""
    if isinstance(native, Reported):
        return native.kind, native.text
    if isinstance(native, RoundingGap):
        return "value", f"gap {native.gap:.2g} ({native.dtype} gradient)"
    if native is None:
        return "none", "None"
    if isinstance(native, (tuple, list)):
        parts = [render(item) for item in native]
        kind = "none" if all(k == "none" for k, _ in parts) else "value"
        return kind, "(" + ", ".join(text for _, text in parts) + ")"
    value = plain(native)
    if type(value) is float:
        return "value", repr(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return "value", f"{value} (int)"
    try:
        arr = np.asarray(value)
    except Exception:
        return "value", repr(value)
    if arr.dtype == object:
        return "value", repr(value)
    text = str(arr[()]) if arr.ndim == 0 else np.array2string(arr)
    if arr.dtype != np.float64:
        text += f" ({arr.dtype})"
    return "value", text


def exception_text(exc: BaseException) -> str:
    """'ExcType: first line of the message' (capped), as the table prints it."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if len(first) > MESSAGE_CHARS:
        first = first[: MESSAGE_CHARS - 1] + "…"
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


# -- judging against a truth ------------------------------------------------------------


def _numbers(native: Any) -> np.ndarray | None:
    """The answer as a float64 array, or None if it is not numeric (None, text...)."""
    if isinstance(native, Reported):
        native = native.value
    if native is None or isinstance(native, RoundingGap):
        return None
    if isinstance(native, (tuple, list)):
        if any(item is None for item in native):
            return None
        parts = [_numbers(item) for item in native]
        if any(p is None for p in parts):
            return None
        return np.concatenate([p.reshape(-1) for p in parts])
    try:
        return np.asarray(plain(native), dtype=np.float64)
    except (TypeError, ValueError):
        return None


def equals(truth: float | Sequence[float], rtol: float = 1e-12) -> Callable[[Any], bool]:
    """Judge: the answer is numerically ``truth`` (nan matches nan, inf matches inf)."""
    want = np.asarray(truth, dtype=np.float64).reshape(-1)

    def judge(native: Any) -> bool:
        got = _numbers(native)
        if got is None or got.size != want.size:
            return False
        got = got.reshape(-1)
        same_special = (np.isnan(got) & np.isnan(want)) | (
            np.isinf(got) & np.isinf(want) & (np.sign(got) == np.sign(want))
        )
        finite = np.isfinite(got) & np.isfinite(want)
        close = np.zeros_like(finite)
        close[finite] = np.abs(got[finite] - want[finite]) <= rtol * np.maximum(
            1.0, np.abs(want[finite])
        )
        return bool(np.all(same_special | close))

    return judge


# -- the kits: one thin layer per backend over its own API -------------------------------

Scalar = Callable[..., Any]  # f(ns, *scalars) -> scalar, ns the kit's namespace


def _missing_op(library: str, op: str) -> Callable[..., Any]:
    def missing(*args: Any, **kw: Any) -> Any:
        raise Unsupported(f"{library} has no {op}")

    return missing


@dataclass
class Kit:
    """One semantic backend: its family, the registry names that select it, its API."""

    name: str
    family: str
    registry: tuple[str, ...]  # toyad backend names of this engine/framework
    substitutes: dict[str, str] = field(default_factory=dict)  # op -> how it is expressed

    # what every kit answers (or raises Unsupported for)
    def ns(self) -> Any:
        raise NotImplementedError

    def value(self, f: Scalar, *args: float) -> Any:
        raise NotImplementedError

    def partials(self, f: Scalar, *args: float) -> tuple[Any, ...]:
        """The native partial derivatives of a scalar f of scalars, default API."""
        raise NotImplementedError

    def gradient(self, f: Callable[[Any, Any], Any], x: np.ndarray) -> Any:
        """The native gradient of f(ns, x) for a 1-D x, keeping x's dtype (no cast here)."""
        raise NotImplementedError

    def second(self, f: Scalar, x0: float, combo: str) -> Any:
        raise Unsupported(f"{self.name} has no {combo} second derivative")

    def unused_zeros(self, f: Scalar, *args: float) -> Any:
        raise Unsupported("no option: the default answer is the only one")

    def unused_allow(self, f: Scalar, *args: float) -> Any:
        raise Unsupported("no such option (it is torch.autograd.grad's)")

    def grad_twice(self, f: Scalar, x0: float, retain: bool) -> Any:
        raise NotImplementedError

    def missing_package(self) -> str | None:
        return backends.missing_package(self.registry[0])


# ---- toy engines --------------------------------------------------------------------------


def _scalar_where(cond: bool, a: Any, b: Any) -> Any:
    """where for scalar engines: Python's a-if-cond-else-b (both branches already built)."""
    return a if cond else b


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
        "where": _scalar_where,
        "sum": np.sum,
    }
    ops.update(overrides)
    return SimpleNamespace(**ops)


def _objects(values: Sequence[Any]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr


def _number_array(values: Sequence[Any]) -> np.ndarray:
    """Engine results (numpy scalars, Python numbers) as an array of their own dtype."""
    return np.array(list(values))


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

        g = dual.gradient(lambda z: f(self.ns(), z), _objects(list(x)))
        return _number_array(g)

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
        return _toy_ns(maximum=_missing_op("toyad.symbolic", "max (expressions do not compare)"))

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
        y = symbolic._as_expr(f(self.ns(), _objects(variables)))
        derivs = [symbolic.derivatives([y], v)[0] for v in variables]
        return _number_array(symbolic.evaluate_all(derivs))

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
        return _toy_ns(maximum=_missing_op("toyad.reverse", "max (nodes do not compare)"))

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
        return _number_array(reverse.gradients(f(self.ns(), _objects(variables)), variables))

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


# ---- frameworks -------------------------------------------------------------------------


class TensorFlowKit(Kit):
    """GradientTape / ForwardAccumulator, eager, with numpy behaviour on (as toyad sets it)."""

    def _tf(self) -> Any:
        runtime.configure()  # thread counts are read when TF initialises
        import tensorflow as tf

        import toyad.backends.tensorflow  # noqa: F401  (numpy behaviour on, as the adapters)

        return tf

    def ns(self) -> Any:
        tf = self._tf()

        def like(a: Any, b: Any) -> Any:
            return b if tf.is_tensor(b) else tf.constant(b, dtype=a.dtype)

        return SimpleNamespace(
            sin=tf.sin,
            cos=tf.cos,
            exp=tf.exp,
            log=tf.math.log,
            sqrt=tf.sqrt,
            abs=tf.abs,
            relu=tf.nn.relu,
            maximum=lambda a, b: tf.maximum(a, like(a, b)),
            where=lambda c, a, b: tf.where(tf.constant(c), a, like(a, b)),
            sum=tf.reduce_sum,
        )

    def _inputs(self, args: Sequence[float]) -> list[Any]:
        tf = self._tf()
        return [tf.constant(a, dtype=tf.float64) for a in args]

    def value(self, f: Scalar, *args: float) -> Any:
        return f(self.ns(), *self._inputs(args))

    def _partials(self, f: Scalar, args: Sequence[float], **kw: Any) -> tuple[Any, ...]:
        tf = self._tf()
        xs = self._inputs(args)
        with tf.GradientTape() as tape:
            for x in xs:
                tape.watch(x)
            y = f(self.ns(), *xs)
        return tuple(tape.gradient(y, xs, **kw))

    def partials(self, f: Scalar, *args: float) -> tuple[Any, ...]:
        return self._partials(f, args)

    def unused_zeros(self, f: Scalar, *args: float) -> Any:
        tf = self._tf()
        return self._partials(f, args, unconnected_gradients=tf.UnconnectedGradients.ZERO)

    def gradient(self, f: Callable[[Any, Any], Any], x: np.ndarray) -> Any:
        tf = self._tf()
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = f(self.ns(), xt)
        return tape.gradient(y, xt)

    def second(self, f: Scalar, x0: float, combo: str) -> Any:
        tf = self._tf()
        ns = self.ns()
        x = tf.constant(x0, dtype=tf.float64)
        one = tf.constant(1.0, dtype=tf.float64)
        if combo == "rr":  # nested tapes
            with tf.GradientTape() as outer:
                outer.watch(x)
                with tf.GradientTape() as inner:
                    inner.watch(x)
                    y = f(ns, x)
                d1 = inner.gradient(y, x)
            return outer.gradient(d1, x)
        if combo == "fr":  # ForwardAccumulator around a tape
            with tf.autodiff.ForwardAccumulator(x, one) as acc:
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = f(ns, x)
                d1 = tape.gradient(y, x)
            return acc.jvp(d1)
        if combo == "rf":  # a tape around a ForwardAccumulator
            with tf.GradientTape() as tape:
                tape.watch(x)
                with tf.autodiff.ForwardAccumulator(x, one) as acc:
                    y = f(ns, x)
                d1 = acc.jvp(y)
            return tape.gradient(d1, x)
        with tf.autodiff.ForwardAccumulator(x, one) as outer:  # ff: nested accumulators
            with tf.autodiff.ForwardAccumulator(x, one) as inner:
                y = f(ns, x)
            d1 = inner.jvp(y)
        return outer.jvp(d1)

    def grad_twice(self, f: Scalar, x0: float, retain: bool) -> Any:
        tf = self._tf()
        x = tf.constant(x0, dtype=tf.float64)
        with tf.GradientTape(persistent=retain) as tape:
            tape.watch(x)
            y = f(self.ns(), x)
        tape.gradient(y, x)
        return tape.gradient(y, x)


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


class AutogradKit(Kit):
    """HIPS autograd: grad (reverse), make_jvp (forward), make_vjp."""

    def ns(self) -> Any:
        import autograd.numpy as anp

        return SimpleNamespace(
            sin=anp.sin,
            cos=anp.cos,
            exp=anp.exp,
            log=anp.log,
            sqrt=anp.sqrt,
            abs=anp.abs,
            relu=lambda x: anp.maximum(x, 0.0),
            maximum=anp.maximum,
            where=anp.where,
            sum=anp.sum,
        )

    def value(self, f: Scalar, *args: float) -> Any:
        return f(self.ns(), *[np.float64(a) for a in args])

    def partials(self, f: Scalar, *args: float) -> tuple[Any, ...]:
        import autograd

        ns = self.ns()
        xs = [np.float64(a) for a in args]
        return tuple(autograd.grad(lambda *z: f(ns, *z), argnum=i)(*xs) for i in range(len(args)))

    def gradient(self, f: Callable[[Any, Any], Any], x: np.ndarray) -> Any:
        import autograd

        ns = self.ns()
        return autograd.grad(lambda z: f(ns, z))(x)

    def second(self, f: Scalar, x0: float, combo: str) -> Any:
        import autograd

        ns = self.ns()

        def g(z: Any) -> Any:
            return f(ns, z)

        def forward(fun: Callable[[Any], Any]) -> Callable[[Any], Any]:
            return lambda z: autograd.make_jvp(fun)(z)(1.0)[1]

        transforms = {"f": forward, "r": autograd.grad}
        return transforms[combo[0]](transforms[combo[1]](g))(np.float64(x0))

    def grad_twice(self, f: Scalar, x0: float, retain: bool) -> Any:
        import autograd

        if retain:
            raise Unsupported("no retain option: a make_vjp function is reusable")
        ns = self.ns()
        pullback, _ = autograd.make_vjp(lambda z: f(ns, z))(np.float64(x0))
        pullback(1.0)
        return pullback(1.0)


class MicrogradKit(Kit):
    """micrograd's Value: +, *, ** number, relu, backward(); nothing else."""

    def ns(self) -> Any:
        missing = {
            op: _missing_op("micrograd", op)
            for op in ("sin", "cos", "exp", "log", "abs", "maximum")
        }
        return SimpleNamespace(
            **missing,
            sqrt=lambda x: x**0.5,
            relu=lambda x: x.relu(),
            where=_scalar_where,
            sum=np.sum,
        )

    def _values(self, args: Sequence[Any]) -> list[Any]:
        from micrograd.engine import Value

        return [Value(a) for a in args]

    def value(self, f: Scalar, *args: float) -> Any:
        from micrograd.engine import Value

        y = f(self.ns(), *self._values(args))
        return y.data if isinstance(y, Value) else y

    def _backward(self, y: Any) -> None:
        from micrograd.engine import Value

        if isinstance(y, Value):  # a plain number has no graph: grads stay 0
            y.backward()

    def partials(self, f: Scalar, *args: float) -> tuple[Any, ...]:
        xs = self._values(args)
        self._backward(f(self.ns(), *xs))
        return tuple(v.grad for v in xs)

    def gradient(self, f: Callable[[Any, Any], Any], x: np.ndarray) -> Any:
        xs = self._values(list(x))
        self._backward(f(self.ns(), _objects(xs)))
        return _number_array([v.grad for v in xs])

    def second(self, f: Scalar, x0: float, combo: str) -> Any:
        raise Unsupported("micrograd has first-order reverse mode only (and no sin)")

    def grad_twice(self, f: Scalar, x0: float, retain: bool) -> Any:
        if retain:
            raise Unsupported("no retain option: backward() can always run again")
        (x,) = self._values([x0])
        y = f(self.ns(), x)
        y.backward()
        y.backward()
        return x.grad


_RELU_AS_MAX = {"relu": "relu as maximum(x, 0)"}
_SCALAR_WHERE = {"where": "where as Python a-if-cond-else-b"}

BACKENDS: dict[str, Kit] = {
    k.name: k
    for k in [
        DualKit("dual", "toy", ("dual",), dict(_SCALAR_WHERE, maximum="max as Python max()")),
        SymbolicKit("symbolic", "toy", ("symbolic",), dict(_SCALAR_WHERE)),
        ReverseKit("reverse", "toy", ("reverse", "reverse-recursive"), dict(_SCALAR_WHERE)),
        TensorKit("tensor", "toy", ("tensor", "tensor-unbatched"), dict(_RELU_AS_MAX)),
        TensorFlowKit("tensorflow", "tensorflow", ("tf-eager", "tf-function")),
        JaxKit("jax", "jax", ("jax-eager", "jax-jit")),
        TorchKit("torch", "torch", ("torch-autograd", "torch-forward-ad", "torch-func")),
        AutogradKit("autograd", "peer", ("autograd",), dict(_RELU_AS_MAX)),
        MicrogradKit(
            "micrograd", "peer", ("micrograd",), dict(_SCALAR_WHERE, sqrt="sqrt as x ** 0.5")
        ),
    ]
}


def selected(backend_names: Sequence[str]) -> list[str]:
    """Semantic backends any of whose registry names is selected (e.g. tf-eager -> tensorflow)."""
    chosen = set(backend_names)
    return [name for name, kit in BACKENDS.items() if chosen & set(kit.registry)]


# -- the cases ------------------------------------------------------------------------------


def _second_truth(x: float) -> float:
    """d²/dx² sin(x)·x³ = -x³ sin x + 6x² cos x + 6x sin x."""
    return -(x**3) * math.sin(x) + 6 * x**2 * math.cos(x) + 6 * x * math.sin(x)


def _rounding_gap(kit: Kit) -> RoundingGap:
    """The same gradient in float32 and float64: max |g32 - g64| / max |g64|."""

    def f(ns: Any, x: Any) -> Any:  # Σ (x³ + 2x) / (1 + x²): micrograd can express it
        return ns.sum((x * x * x + 2.0 * x) / (1.0 + x * x))

    g64 = kit.gradient(f, FLOAT32_X.astype(np.float64))
    g32 = kit.gradient(f, FLOAT32_X.astype(np.float32))
    a64 = np.asarray(plain(g64), dtype=np.float64)
    a32 = plain(g32)
    dtype = str(np.asarray(a32).dtype)
    gap = float(np.max(np.abs(np.asarray(a32, dtype=np.float64) - a64)) / np.max(np.abs(a64)))
    return RoundingGap(gap, dtype)


def _gap_agrees(native: Any) -> bool:
    return (
        isinstance(native, RoundingGap)
        and native.dtype == "float32"
        and native.gap <= FLOAT32_GAP_LIMIT
    )


def _integer_agrees(native: Any) -> bool:
    """An explicit error, or the real-number gradient [6, -4] (any dtype)."""
    return isinstance(native, Exception) or equals([6.0, -4.0])(native)


def _adapter_unused(kit: Kit, registry_names: Sequence[str] | None) -> Reported:
    """toyad's adapter for the gradient of a constant f: zeros, plus the native answer it logged."""
    names = [n for n in kit.registry if registry_names is None or n in registry_names]
    name = (names or list(kit.registry))[0]
    backend = backends.get(name)
    before = len(backend.native_log)
    g = backend.gradient(lambda xp, x: xp.sum(xp.asarray([1.0, 2.0])), np.array([1.5, -0.5]))
    logged = [a.native for a in backend.native_log[before:]]
    _, text = render(g)
    native = f"native: {logged[0]}" if logged else "native answer already zeros"
    return Reported("value", f"{text} via {name}; {native}", g)


def _sin_x3(ns: Any, x: Any) -> Any:
    return ns.sin(x) * x**3


@dataclass(frozen=True)
class Case:
    """One awkward question; ``run(kit, registry_names)`` returns the native answer."""

    name: str
    description: str
    run: Callable[[Kit, Sequence[str] | None], Any]
    expected: str = ""  # "" where there is no single truth
    judge: Callable[[Any], bool] | None = None
    uses: tuple[str, ...] = ()  # ops a kit may express by substitution (noted in the answer)


def _case(
    name: str,
    description: str,
    run: Callable[[Kit], Any],
    expected: str = "",
    judge: Callable[[Any], bool] | None = None,
    uses: tuple[str, ...] = (),
) -> Case:
    return Case(name, description, lambda kit, _names: run(kit), expected, judge, uses)


def _second_case(combo: str) -> Case:
    truth = _second_truth(X_SECOND)
    words = {"f": "forward", "r": "reverse"}
    return _case(
        f"second-derivative-{combo}",
        f"d²/dx² sin(x)·x³ at x = {X_SECOND}, {words[combo[0]]} over {words[combo[1]]} "
        "(JAX/torch.func: jacfwd/jacrev nested; TF: ForwardAccumulator/GradientTape nested; "
        "autograd: make_jvp/grad; toys: dual in dual (ff), backward() with dual values (fr), "
        "symbolic adjoints (rr)); truth: -x³ sin x + 6x² cos x + 6x sin x",
        lambda k: k.second(_sin_x3, X_SECOND, combo),
        repr(truth),
        equals(truth),
    )


def _square_a(ns: Any, a: Any, b: Any) -> Any:  # ignores b
    return a * a


_UNUSED = "f(a, b) = a², ∂f/∂b at a = 1.5, b = -0.5"
_UNUSED_TRUTH = (
    "mathematically 0: None and an exception are documented behaviour but disagree (a caller "
    "adding them to other gradients gets a TypeError, not 0)"
)

CASES: dict[str, Case] = {
    c.name: c
    for c in [
        _case(
            "unused-input",
            f"{_UNUSED}, the default API (TF tape.gradient, torch.autograd.grad, jax.grad "
            f"argnums, autograd.grad argnum, micrograd .grad, toy engines); {_UNUSED_TRUTH}",
            lambda k: k.partials(_square_a, 1.5, -0.5)[1],
            "0.0",
            equals(0.0),
        ),
        _case(
            "unused-input-zeros-option",
            f"{_UNUSED}, with the documented switch to zeros (TF unconnected_gradients=ZERO, "
            "torch materialize_grads=True); the others have no switch",
            lambda k: k.unused_zeros(_square_a, 1.5, -0.5)[1],
            "0.0",
            equals(0.0),
        ),
        _case(
            "unused-input-allow-unused",
            f"{_UNUSED}, torch.autograd.grad(allow_unused=True); {_UNUSED_TRUTH}",
            lambda k: k.unused_allow(_square_a, 1.5, -0.5)[1],
            "0.0",
            equals(0.0),
        ),
        Case(
            "unused-input-adapter",
            "toyad's adapter: gradient of a constant f(xp, x) = Σ[1, 2] at x = [1.5, -0.5]; "
            "adapters return zeros and log the framework's native answer (shown)",
            _adapter_unused,
            "[0. 0.]",
            equals([0.0, 0.0]),
        ),
        _case(
            "abs-at-0",
            "d/dx |x| at x = 0: any value in [-1, 1] is a subgradient; no single truth",
            lambda k: k.partials(lambda ns, x: ns.abs(x), 0.0)[0],
            uses=("abs",),
        ),
        _case(
            "sqrt-at-0",
            "d/dx sqrt(x) at x = 0: the one-sided derivative 1/(2 sqrt x) -> +inf",
            lambda k: k.partials(lambda ns, x: ns.sqrt(x), 0.0)[0],
            "inf",
            equals(math.inf),
            uses=("sqrt",),
        ),
        _case(
            "relu-at-0",
            "d/dx relu(x) at x = 0 (the library's relu): 0 and 1 are both subgradients; "
            "no single truth",
            lambda k: k.partials(lambda ns, x: ns.relu(x), 0.0)[0],
            uses=("relu",),
        ),
        _case(
            "maximum-x-0-at-0",
            "d/dx max(x, 0) at x = 0 written with maximum (not relu): a tie; no single truth",
            lambda k: k.partials(lambda ns, x: ns.maximum(x, 0.0), 0.0)[0],
            uses=("maximum",),
        ),
        _case(
            "max-tie",
            "(∂/∂a, ∂/∂b) max(a, b) at a = b = 1: to a, to b, or split; no single truth",
            lambda k: k.partials(lambda ns, a, b: ns.maximum(a, b), 1.0, 1.0),
            uses=("maximum",),
        ),
        _case(
            "log-0-value",
            "log(x) at x = 0: IEEE 754 gives -inf",
            lambda k: k.value(lambda ns, x: ns.log(x), 0.0),
            "-inf",
            equals(-math.inf),
            uses=("log",),
        ),
        _case(
            "log-0-grad",
            "d/dx log(x) at x = 0: 1/x -> +inf (IEEE 1/0)",
            lambda k: k.partials(lambda ns, x: ns.log(x), 0.0)[0],
            "inf",
            equals(math.inf),
            uses=("log",),
        ),
        _case(
            "zero-over-zero-value",
            "x / x at x = 0: IEEE 754 gives nan",
            lambda k: k.value(lambda ns, x: x / x, 0.0),
            "nan",
            equals(math.nan),
        ),
        _case(
            "zero-over-zero-grad",
            "d/dx (x / x) at x = 0: undefined (0 by continuous extension, nan by IEEE "
            "propagation); no single truth",
            lambda k: k.partials(lambda ns, x: x / x, 0.0)[0],
        ),
        _case(
            "exp-overflow-value",
            "exp(1000): overflows float64; IEEE 754 gives inf",
            lambda k: k.value(lambda ns, x: ns.exp(x), 1000.0),
            "inf",
            equals(math.inf),
            uses=("exp",),
        ),
        _case(
            "exp-overflow-grad",
            "d/dx exp(x) at x = 1000: exp(1000) -> inf",
            lambda k: k.partials(lambda ns, x: ns.exp(x), 1000.0)[0],
            "inf",
            equals(math.inf),
            uses=("exp",),
        ),
        _case(
            "nan-input",
            "d/dx x² at x = nan: nan propagates",
            lambda k: k.partials(lambda ns, x: x * x, math.nan)[0],
            "nan",
            equals(math.nan),
        ),
        _case(
            "where-nan-trap",
            "d/dx where(x > 0, sqrt(x), 0) at x = -1: f is 0 near -1, so 0; a where that "
            "computes both branches multiplies sqrt'(-1) = nan by 0 and gives nan (TF's sqrt "
            "gradient is 0 wherever the incoming gradient is 0)",
            lambda k: k.partials(lambda ns, x: ns.where(False, ns.sqrt(x), 0.0), -1.0)[0],
            "0.0",
            equals(0.0),
            uses=("sqrt", "where"),
        ),
        _case(
            "integer-input",
            "∇ Σx² at the int64 array x = [3, -2]: the real-number gradient [6, -4] or an "
            "explicit error agree; None or zeros (a silent wrong answer) disagree",
            lambda k: k.gradient(lambda ns, x: ns.sum(x * x), np.array([3, -2], dtype=np.int64)),
            "[ 6. -4.] or an error",
            _integer_agrees,
        ),
        _case(
            "relu-second-derivative",
            "d²/dx² relu(x) at x = 0.5: 0 (relu is linear there); reverse over reverse "
            "where the backend has it, else its only second-order mode",
            lambda k: _any_second(k, lambda ns, x: ns.relu(x), 0.5),
            "0.0",
            equals(0.0),
            uses=("relu",),
        ),
        _case(
            "float32-rounding-gap",
            "∇ Σ(x³ + 2x)/(1 + x²) at x = [-1.75, -0.5, 0.25, 1, 2.5] (exact in float32), "
            "float32 input against float64: max |g32 - g64| / max |g64|; truth: a float32 "
            f"gradient within {FLOAT32_GAP_LIMIT:g} (float32 arithmetic ~6e-8 per operation); "
            "a float64 result means the float32 input was promoted",
            _rounding_gap,
            f"float32 gradient, gap <= {FLOAT32_GAP_LIMIT:g}",
            _gap_agrees,
        ),
        _case(
            "grad-twice",
            "f = x³ at x = 1.5: the gradient taken a second time from one tape/graph/vjp "
            "(TF non-persistent tape, torch backward() without retain_graph, jax.vjp and "
            "autograd make_vjp pullbacks, micrograd/toy backward()); truth: f' = 6.75 again "
            "(micrograd's backward() adds into every node's grad, intermediate ones too)",
            lambda k: k.grad_twice(lambda ns, x: x * x * x, 1.5, False),
            "6.75",
            equals(6.75),
        ),
        _case(
            "grad-twice-retained",
            "as grad-twice, keeping the graph (TF persistent=True, torch retain_graph=True "
            "then .grad after the second backward(), toyad.tensor retain_graph=True); "
            "truth 6.75: torch's accumulation into .grad is documented but disagrees",
            lambda k: k.grad_twice(lambda ns, x: x * x * x, 1.5, True),
            "6.75",
            equals(6.75),
        ),
        *[_second_case(combo) for combo in COMBOS],
    ]
}


def _any_second(kit: Kit, f: Scalar, x0: float) -> Any:
    """The second derivative by rr if the backend has it, else fr, ff, rf."""
    reasons = []
    for combo in ("rr", "fr", "ff", "rf"):
        try:
            value = kit.second(f, x0, combo)
        except (Unsupported, NotImplementedError) as exc:
            reasons.append(str(exc))
            continue
        kind, text = render(value)
        return Reported(kind, f"{text} ({combo})", value)
    raise Unsupported("; ".join(dict.fromkeys(reasons)))


# -- rows -------------------------------------------------------------------------------------


def _first_warning(caught: list[warnings.WarningMessage]) -> tuple[str, str] | None:
    """(type, first line) of the first UserWarning/RuntimeWarning a probe raised."""
    for w in caught:
        category = w.category
        if issubclass(category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
            continue
        if issubclass(category, (UserWarning, RuntimeWarning)):
            return category.__name__, str(w.message).strip().splitlines()[0][:80]
    return None


def row(
    case: str | Case,
    backend: str,
    registry_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One SEMANTICS_COLUMNS row: ``backend``'s native answer to ``case``. Never raises
    for what the backend does (its exceptions are the answer); unknown names raise KeyError."""
    if not isinstance(case, Case) and case not in CASES:
        raise KeyError(f"unknown semantics case {case!r}; cases: {', '.join(CASES)}")
    c = case if isinstance(case, Case) else CASES[case]
    if backend not in BACKENDS:
        raise KeyError(f"unknown semantics backend {backend!r}; backends: {', '.join(BACKENDS)}")
    kit = BACKENDS[backend]
    out = {
        "case": c.name,
        "description": c.description,
        "backend": kit.name,
        "family": kit.family,
        "expected": c.expected,
    }
    missing = kit.missing_package()
    if missing is not None:
        spec = backends.spec(kit.registry[0])
        out.update(kind="unsupported", answer=f"not installed: {missing} ({spec.install})")
        out["agrees"] = None
        return {col: out.get(col) for col in SEMANTICS_COLUMNS}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            native = c.run(kit, registry_names)
        except (Unsupported, NotImplementedError) as exc:
            kind, answer, native = "unsupported", _unsupported_text(exc), None
        except Exception as exc:  # the crash is the answer
            kind, answer, native = "exception", exception_text(exc), exc
        else:
            kind, answer = render(native)
    if kind != "unsupported":
        warned = _first_warning(caught)
        if warned and warned[1] not in answer:  # the adapter case may quote it already
            answer += f" (+{warned[0]}: {warned[1]})"
        notes = [kit.substitutes[op] for op in c.uses if op in kit.substitutes]
        if notes:
            answer += f" [{'; '.join(notes)}]"
    if kind == "unsupported" or c.judge is None or not c.expected:
        agrees = None
    else:  # a value, None or an exception, judged against the truth
        agrees = bool(c.judge(native))
    out.update(kind=kind, answer=answer, agrees=agrees)
    return {col: out.get(col) for col in SEMANTICS_COLUMNS}


def _unsupported_text(exc: BaseException) -> str:
    if isinstance(exc, Unsupported):
        return str(exc)
    return exception_text(exc)


def rows(case: str | Case, backend_names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Rows for every semantic backend selected by ``backend_names`` (all if None)."""
    chosen = list(BACKENDS) if backend_names is None else selected(backend_names)
    return [row(case, name, backend_names) for name in chosen]


__all__ = [
    "BACKENDS",
    "CASES",
    "COMBOS",
    "Case",
    "Kit",
    "Reported",
    "RoundingGap",
    "Unsupported",
    "equals",
    "exception_text",
    "render",
    "row",
    "rows",
    "selected",
]
