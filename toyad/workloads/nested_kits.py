"""AD kits for the nested evals (see ``toyad.workloads.nested``): each backend's
derivative operators, nothing else.

    kit.grad(f, mode, traceable=False)(x, *consts) -> [∂f/∂x_i]   mode "f" | "r"
    kit.sqrt(v); kit.primal(v) -> float

and a factory per backend: ``supports(eval, variant) -> reason | None``, ``make(name)``.

Toy engines: ``dual`` (ff: ``toyad.dual``'s tagged perturbations keep the two
levels apart) and ``reverse`` (rr, fr, rf: ``toyad.reverse`` graphs whose
values are the outer level's numbers — outer dual numbers for fr, outer graph
nodes for rr — and for rf dual numbers whose values are outer nodes).
Constants entering an inner reverse pass are lifted to ``Const`` nodes (and
to zero-ε duals of the inner tag for an inner forward pass): a toy engine has
no levels of its own, so an outer node used directly as an operand would be
taken for part of the inner graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toyad import dual, reverse, rules
from toyad.dual import DualNumber

# nested-kit backends, in the order cases() yields them
NAMES = ("dual", "reverse", "jax-eager", "jax-jit", "torch-func", "autograd", "tf-eager")

_BOTH = frozenset({"f", "r"})

# why other backends cannot run the nested evals
_NO_NESTING = {
    "tensor": "toyad.tensor refuses nested forward mode (a Tensor carries one level of "
    "tangents) and reverse-over-reverse; its one composition, forward-over-reverse, cannot "
    "differentiate the data-dependent Euler loop / inner argmax (a Tensor has no per-level "
    "primal for the comparisons)",
    "tensor-unbatched": "same engine as 'tensor': no nested forward, no reverse-over-reverse",
    "analytic": "hand-written derivatives of fixed problems; no derivative operator to nest",
    "symbolic": "symbolic differentiation of expressions; the evals' loops (Euler steps, "
    "gradient descent) are not expressions",
    "numeric-forward": "finite differences: no exact nested derivatives (GradBench's finite tool "
    "is the C++ one)",
    "numeric-central": "finite differences: no exact nested derivatives",
    "numeric-richardson": "finite differences: no exact nested derivatives",
    "numeric-complex": "complex step: nesting it needs multicomplex numbers (not implemented)",
    "reverse-recursive": "the notebook's recursive backpropagate (exponential in shared "
    "subexpressions); use 'reverse'",
    "micrograd": "micrograd's Value has no second-order support (backward() fills floats)",
    "torch-autograd": "nested here via torch.func only: use 'torch-func'",
    "torch-forward-ad": "nested here via torch.func only: use 'torch-func'",
    "tf-function": "tf.function cannot trace the data-dependent Euler loop / gradient descent "
    "with Python control flow; use 'tf-eager'",
}


def reason(backend: str, eval_name: str, variant: str) -> str | None:
    """None when supported (and installed), else why not."""
    if backend in _NO_NESTING:
        return _NO_NESTING[backend]
    if backend not in _FACTORIES:
        return f"unknown backend {backend!r}"
    from toyad import backends

    if backend in backends.names():
        pkg = backends.missing_package(backend)
        if pkg is not None:
            return f"{pkg} is not installed"
    return _FACTORIES[backend].supports(eval_name, variant)


_KITS: dict[str, Any] = {}


def get(backend: str) -> Any:
    if backend not in _KITS:
        _KITS[backend] = _FACTORIES[backend].make(backend)
    return _KITS[backend]


# ---------------------------------------------------------------------------
# the toy engines


def _dual(value: Any, eps: Any, tag: int) -> DualNumber:
    """A dual without DualNumber's check (the value may be an outer graph node)."""
    d = object.__new__(DualNumber)
    d.value, d.eps, d.tag = value, eps, tag
    return d


def _toy_sqrt(v: Any) -> Any:
    """sqrt on any toy number; a dual whose value is a graph node (rf) is built
    here, as DualNumber's generic unary path checks for a number value."""
    inner = v
    while isinstance(inner, DualNumber):
        inner = inner.value
    if not (isinstance(v, DualNumber) and isinstance(inner, reverse.Node)):
        return rules.sqrt(v)
    y = _toy_sqrt(v.value)
    eps = v.eps
    return _dual(y, 0.0 if (type(eps) is float and eps == 0.0) else eps * (0.5 / y), v.tag)


def _toy_primal(v: Any) -> float:
    while isinstance(v, (DualNumber, reverse.Node)):
        v = v.value
    return float(v)


def toy_forward(f: Callable[..., Any]) -> Callable[..., list]:
    """∇ by one toyad.dual pass per direction, each under a fresh tag."""

    def g(x: list, *consts: Any) -> list:
        out = []
        for j in range(len(x)):
            tag = next(dual._tags)
            xs = [_dual(xi, 1.0 if i == j else 0.0, tag) for i, xi in enumerate(x)]
            cs = [_dual(c, 0.0, tag) if isinstance(c, reverse.Node) else c for c in consts]
            out.append(dual._tangent(f(xs, *cs), tag))
        return out

    return g


def toy_reverse(f: Callable[..., Any]) -> Callable[..., list]:
    """∇ by one toyad.reverse backward pass; the variables' values (and the
    lifted constants') may be outer duals or outer nodes."""

    def g(x: list, *consts: Any) -> list:
        xs = [reverse.Var(f"x{i}", xi) for i, xi in enumerate(x)]
        cs = [reverse.Const(c) for c in consts]
        return reverse.gradients(f(xs, *cs), xs)

    return g


class ToyKit:
    """``dual``: ff. ``reverse``: all four (its forward level is toyad.dual), so that
    one toy backend answers every variant GradBench's evals send."""

    def __init__(self, name: str):
        self.name = name

    def grad(self, f: Callable[..., Any], mode: str, traceable: bool = False) -> Callable:
        return toy_forward(f) if mode == "f" else toy_reverse(f)

    sqrt = staticmethod(_toy_sqrt)
    primal = staticmethod(_toy_primal)


class _DualFactory:
    @staticmethod
    def supports(eval_name: str, variant: str) -> str | None:
        if variant == "ff":
            return None
        return "toyad.dual is forward mode only; the r variants run on backend 'reverse'"

    @staticmethod
    def make(name: str) -> ToyKit:
        return ToyKit(name)


class _ReverseFactory:
    @staticmethod
    def supports(eval_name: str, variant: str) -> str | None:
        return None  # ff too: the toy pair's forward level is toyad.dual (as in fr, rf)

    @staticmethod
    def make(name: str) -> ToyKit:
        return ToyKit(name)


# ---------------------------------------------------------------------------
# JAX


class JaxKit:
    """jax.grad (r) and one jax.jvp per direction (f); nest freely (JAX's trace
    levels separate them). ``jax-jit`` compiles the derivative of each loop-free
    (``traceable``) function once: ∇ₓp and ∇ of the saddle cost; the objectives
    keep Python control flow on values (the Euler loop, the inner gradient
    ascent), which jax.jit cannot trace and jax.grad of lax.while_loop refuses.
    A whole jax-jit eval (``nested.prepare``) runs :mod:`toyad.workloads.nested_jax`
    instead, its loops compiled; this kit checks single points against the toys."""

    def __init__(self, name: str):
        from toyad import runtime

        runtime.configure()
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        self.name = name
        self.jax, self.jnp = jax, jnp
        self.jit = name == "jax-jit"
        self.sqrt = jnp.sqrt

    def _arg(self, v: Any) -> Any:
        return self.jnp.asarray(v, dtype=self.jnp.float64) if isinstance(v, float) else v

    def grad(self, f: Callable[..., Any], mode: str, traceable: bool = False) -> Callable:
        jax = self.jax
        if mode == "r":
            op = jax.grad(f)
        else:

            def op(x: list, *consts: Any) -> list:
                zero = [self.jnp.zeros_like(xi) for xi in x]
                out = []
                for j in range(len(x)):
                    e = list(zero)
                    e[j] = self.jnp.ones_like(x[j])
                    out.append(jax.jvp(lambda xs: f(xs, *consts), (x,), (e,))[1])
                return out

        if self.jit and traceable:
            op = jax.jit(op)

        def g(x: list, *consts: Any) -> list:
            return list(op([self._arg(v) for v in x], *[self._arg(c) for c in consts]))

        return g

    def primal(self, v: Any) -> float:
        """The concrete value under every level (JVPTracer / LinearizeTracer ``.primal``)."""
        tracer = self.jax.core.Tracer
        while isinstance(v, tracer):
            v = v.primal
        return float(v)


class _JaxFactory:
    @staticmethod
    def supports(eval_name: str, variant: str) -> str | None:
        return None

    make = JaxKit


# ---------------------------------------------------------------------------
# PyTorch (torch.func)


class TorchFuncKit:
    """torch.func.grad (r) and one torch.func.jvp per direction (f); functorch's
    levels keep nested transforms apart."""

    def __init__(self, name: str):
        from toyad import runtime

        runtime.configure()
        import torch
        import torch.func

        self.name = name
        self.torch = torch
        self.sqrt = torch.sqrt

    def _arg(self, v: Any) -> Any:
        t = self.torch
        return v if isinstance(v, t.Tensor) else t.tensor(float(v), dtype=t.float64)

    def grad(self, f: Callable[..., Any], mode: str, traceable: bool = False) -> Callable:
        func = self.torch.func

        def g(x: list, *consts: Any) -> list:
            xs = tuple(self._arg(v) for v in x)
            cs = [self._arg(c) for c in consts]
            if mode == "r":
                return list(func.grad(lambda xt: f(list(xt), *cs))(xs))
            out = []
            for j in range(len(xs)):
                e = tuple(
                    self.torch.ones_like(xi) if i == j else self.torch.zeros_like(xi)
                    for i, xi in enumerate(xs)
                )
                out.append(func.jvp(lambda xt: f(list(xt), *cs), (xs,), (e,))[1])
            return out

        return g

    def primal(self, v: Any) -> float:
        return float(v.detach()) if isinstance(v, self.torch.Tensor) else float(v)


class _TorchFactory:
    @staticmethod
    def supports(eval_name: str, variant: str) -> str | None:
        return None

    make = TorchFuncKit


# ---------------------------------------------------------------------------
# HIPS autograd


class AutogradKit:
    """autograd.grad (r) and autograd.make_jvp per direction (f); its boxes
    carry a trace id per level."""

    def __init__(self, name: str):
        import autograd
        import autograd.numpy as anp
        from autograd.tracer import getval

        self.name = name
        self.autograd, self.anp, self.getval = autograd, anp, getval
        self.sqrt = anp.sqrt

    def grad(self, f: Callable[..., Any], mode: str, traceable: bool = False) -> Callable:
        ag = self.autograd

        def g(x: list, *consts: Any) -> list:
            n = len(x)

            def h(*xs: Any) -> Any:
                return f(list(xs), *consts)

            if mode == "r":
                return (
                    [ag.grad(h, i)(*x) for i in range(n)]
                    if n == 1
                    else list(ag.grad(lambda xt: h(*xt))(tuple(x)))
                )
            out = []
            for j in range(n):
                v = tuple(1.0 if i == j else 0.0 for i in range(n))
                out.append(ag.make_jvp(lambda xt: h(*xt))(tuple(x))(v)[1])
            return out

        return g

    def primal(self, v: Any) -> float:
        return float(self.getval(v))


class _AutogradFactory:
    @staticmethod
    def supports(eval_name: str, variant: str) -> str | None:
        return None

    make = AutogradKit


# ---------------------------------------------------------------------------
# TensorFlow (eager)


class TfEagerKit:
    """Nested tf.GradientTape (r) and tf.autodiff.ForwardAccumulator per
    direction (f), eagerly (Python control flow on values)."""

    def __init__(self, name: str):
        from toyad import runtime

        runtime.configure()
        import tensorflow as tf

        self.name = name
        self.tf = tf
        self.sqrt = tf.sqrt

    def _arg(self, v: Any) -> Any:
        tf = self.tf
        return v if isinstance(v, (tf.Tensor, tf.Variable)) else tf.constant(float(v), tf.float64)

    def grad(self, f: Callable[..., Any], mode: str, traceable: bool = False) -> Callable:
        tf = self.tf

        def g(x: list, *consts: Any) -> list:
            xs = [self._arg(v) for v in x]
            cs = [self._arg(c) for c in consts]
            if mode == "r":
                with tf.GradientTape() as tape:
                    for xi in xs:
                        tape.watch(xi)
                    y = f(xs, *cs)
                return [
                    tf.zeros_like(xi) if gi is None else gi
                    for xi, gi in zip(xs, tape.gradient(y, xs), strict=True)
                ]
            out = []
            for j in range(len(xs)):
                e = [tf.ones_like(xi) if i == j else tf.zeros_like(xi) for i, xi in enumerate(xs)]
                with tf.autodiff.ForwardAccumulator(xs, e) as acc:
                    y = f(xs, *cs)
                t = acc.jvp(y)
                out.append(tf.zeros_like(y) if t is None else t)
            return out

        return g

    def primal(self, v: Any) -> float:
        return float(v)


class _TfFactory:
    @staticmethod
    def supports(eval_name: str, variant: str) -> str | None:
        return None

    make = TfEagerKit


_FACTORIES: dict[str, Any] = {
    "dual": _DualFactory,
    "reverse": _ReverseFactory,
    "jax-eager": _JaxFactory,
    "jax-jit": _JaxFactory,
    "torch-func": _TorchFactory,
    "autograd": _AutogradFactory,
    "tf-eager": _TfFactory,
}
