"""The problem catalog: each problem written once as ``f(xp, x)``, with its
derivatives written by hand in numpy (the ground truth every engine is
compared against, and the "analytic" baseline backend).

    from toyad import problems
    p = problems.get("dense_tanh")        # unknown -> ValueError listing the names
    inst = p.instance(n=64, m=16, seed=0) # sizes not in p.scales are fixed/ignored
    inst.f(numpy, inst.x)                 # the primal through a namespace
    inst.value(), inst.gradient(), inst.jacobian(), inst.hessian()

``f`` uses only the namespace contract (docs/architecture.md, section 1):
operators and ``**``, indexing and slicing, ``xp.asarray`` for every
constant array, ``xp.matmul`` (not ``@`` on a 1-D operand: TensorFlow's ``@``
is rank >= 2 only), ``xp.sum``, ``xp.stack``, ``xp.sin``, ``xp.cos``,
``xp.exp``, ``xp.log``, ``xp.tanh``, ``xp.sqrt``, and the additions listed in
docs/architecture.md section 1. Sizes and constants are bound when the
instance is built, so ``f`` never asks ``x`` for its shape.

Problems taking options beyond n and m (``elementwise_chain``: ``steps``;
``logsumexp_affine``: ``k``) accept them as keywords of ``instance``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toyad.loops import contract_namespace

__all__ = [
    "PROBLEMS",
    "Instance",
    "Preset",
    "Problem",
    "ProblemFunction",
    "UnknownProblem",
    "get",
    "names",
]

Consts = dict[str, Any]


class UnknownProblem(ValueError):
    """``get`` on a name that is not in the catalog."""


class ProblemFunction:
    """``f(xp, x)`` with the instance's constants bound.

    ``f.instance`` points back to the :class:`Instance` (the analytic backend
    reads the derivatives from it). ``f.bind(xp)`` converts the constants with
    ``xp.asarray`` once and returns ``g(x)``, so an eager adapter can keep that
    conversion out of its timed region (``xp.asarray`` of an array already in
    ``xp`` is then a no-op inside ``f``).

    Compiled adapters pass the constants as *arguments* of the compiled
    function (as GradBench passes every input), never baked into it:

    ``f.parts() -> (body, consts)``
        ``body(xp, x, **consts)`` is ``f``; ``consts`` the instance's constants
        as built (numpy arrays, floats, ints).
    ``f.bind_args(xp) -> (g, args)``
        ``args``: the array and float constants converted with ``xp.asarray``
        once (a dict, name -> array); ``g(x, args)`` runs ``f`` with them.
        Ints, bools and integer arrays (sizes, step counts, indices: they
        shape the computation) stay bound inside ``g``. A plain ``f(xp, x)``
        without these methods has no constants
        (``toyad.backends.namespaces.bind_args``).
    """

    def __init__(self, instance: Instance):
        self.instance = instance
        self.__name__ = self.__qualname__ = instance.problem.name
        self.__doc__ = instance.problem.description

    def __call__(self, xp: Any, x: Any) -> Any:
        return self.instance.problem.body(contract_namespace(xp), x, **self.instance.consts)

    def parts(self) -> tuple[Callable[..., Any], Consts]:
        return self.instance.problem.body, dict(self.instance.consts)

    def bind(self, xp: Any) -> Callable[[Any], Any]:
        body = self.instance.problem.body
        xp = contract_namespace(xp)
        consts = {
            k: xp.asarray(v) if isinstance(v, np.ndarray) else v
            for k, v in self.instance.consts.items()
        }

        def bound(x: Any) -> Any:
            return body(xp, x, **consts)

        bound.__name__ = bound.__qualname__ = self.__name__
        return bound

    def bind_args(self, xp: Any) -> tuple[Callable[[Any, Consts], Any], Consts]:
        body, consts = self.parts()
        xp = contract_namespace(xp)
        static = {
            k: xp.asarray(v) if isinstance(v, np.ndarray) else v
            for k, v in consts.items()
            if not _is_argument(v)
        }
        args = {k: xp.asarray(v) for k, v in consts.items() if _is_argument(v)}

        def bound(x: Any, args: Consts) -> Any:
            return body(xp, x, **static, **args)

        bound.__name__ = bound.__qualname__ = self.__name__
        return bound, args

    def __repr__(self) -> str:
        i = self.instance
        out = "R" if i.problem.scalar else f"R^{i.m}"
        return f"<problem function {self.__name__}(xp, x): R^{i.n} -> {out}, seed={i.seed}>"


@dataclass(frozen=True)
class Preset:
    """A named size of a problem whose sizes come from options (GradBench workloads).

    ``label`` is GradBench's ``description`` for that input (e.g. ``"2_5_1000"``),
    ``params`` the eval's own parameter names and values (``{"d": 2, "k": 5, "n": 1000}``),
    ``options`` the keywords ``Problem.instance`` takes for it, ``quick`` whether the
    quick profile runs it.
    """

    label: str
    params: Mapping[str, Any]
    options: Mapping[str, Any]
    quick: bool = False


def _is_argument(value: Any) -> bool:
    """Float arrays and floats are arguments of a compiled f; ints, bools and
    integer arrays are structure (sizes, step counts, indices) and stay bound."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "f"
    return isinstance(value, (float, np.floating))


@dataclass(frozen=True, eq=False)
class Problem:
    """One entry of the catalog: ``f(xp, x, **consts)`` plus analytic derivatives.

    ``derivative`` is the gradient (n,) for scalar problems and the Jacobian
    (m, n) otherwise; ``hessian`` is None where not given.
    """

    name: str
    description: str
    scalar: bool
    scales: tuple[str, ...]
    default_n: int
    default_m: int
    setup: Callable[..., tuple[np.ndarray, Consts]]  # (n, m, seed, **options)
    body: Callable[..., Any]  # f(xp, x, **consts)
    primal: Callable[..., Any]  # numpy value(x, **consts)
    derivative: Callable[..., np.ndarray]
    hessian: Callable[..., np.ndarray] | None = None
    min_n: int = 1
    min_m: int = 1
    check_n: Callable[[int], str | None] | None = None  # message if n is not allowed
    options: Mapping[str, Any] = field(default_factory=dict)
    # Problems sized by options rather than n/m (scales == ()): the instance's
    # (n, m) from its x and constants; ``presets`` lists the named sizes in
    # GradBench's sweep order; ``workload`` names the GradBench eval.
    sizes_from: Callable[[np.ndarray, Consts], tuple[int, int]] | None = None
    presets: tuple[Preset, ...] = ()
    workload: str | None = None
    # value_scale(x, **consts): the size of the terms the primal's formula adds up before
    # they cancel; a primal's error is relative to it where the value itself is smaller
    value_scale: Callable[..., float] | None = None

    def preset(self, label: str) -> Preset:
        """The preset called ``label``; unknown -> ValueError listing the labels."""
        for p in self.presets:
            if p.label == label:
                return p
        known = ", ".join(p.label for p in self.presets) or "none"
        raise ValueError(f"problem {self.name!r}: unknown preset {label!r}; presets: {known}")

    def sizes(self, n: int | None = None, m: int | None = None) -> tuple[int, int]:
        """The (n, m) an instance would get: free sizes validated, fixed ones kept."""
        n = self._size("n", n, self.default_n, self.min_n)
        m = 1 if self.scalar else self._size("m", m, self.default_m, self.min_m)
        if self.check_n is not None and "n" in self.scales:
            msg = self.check_n(n)
            if msg:
                raise ValueError(f"problem {self.name!r}: {msg}")
        return n, m

    def _size(self, which: str, value: int | None, default: int, minimum: int) -> int:
        if value is None or which not in self.scales:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"problem {self.name!r}: {which} must be an int, got {value!r}")
        if value < minimum:
            raise ValueError(f"problem {self.name!r}: {which} must be >= {minimum}, got {value}")
        return int(value)

    def instance(
        self, n: int | None = None, m: int | None = None, seed: int = 0, **options: Any
    ) -> Instance:
        """A seeded instance; ``n``/``m`` not in ``scales`` are ignored."""
        unknown = set(options) - set(self.options)
        if unknown:
            allowed = ", ".join(sorted(self.options)) or "none"
            raise ValueError(
                f"problem {self.name!r}: unknown option(s) {', '.join(sorted(unknown))}; "
                f"options: {allowed}"
            )
        n, m = self.sizes(n, m)
        opts = {**self.options, **options}
        x, consts = self.setup(n, m, seed, **opts)
        if self.sizes_from is not None:
            return self.from_parts(x, consts, seed, **opts)
        x = np.asarray(x, dtype=np.float64)
        assert x.shape == (n,), (self.name, x.shape, n)
        return Instance(self, n, m, seed, x, consts, opts)

    def from_parts(self, x: Any, consts: Consts, seed: int = 0, **options: Any) -> Instance:
        """An instance from a given point and constants (sizes from ``sizes_from``).

        For problems sized by options: how ``toyad.workloads`` turns a GradBench
        input into an instance.
        """
        if self.sizes_from is None:
            raise ValueError(f"problem {self.name!r} is sized by n/m, not by its inputs")
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        n, m = self.sizes_from(x, consts)
        if self.scalar and m != 1:
            raise ValueError(f"problem {self.name!r} is scalar; sizes_from gave m={m}")
        return Instance(self, n, m, seed, x, consts, {**self.options, **options})

    def __repr__(self) -> str:
        return f"Problem({self.name!r}, scales={self.scales})"


@dataclass(eq=False)
class Instance:
    """A problem with its sizes, seeded input ``x`` and constants fixed."""

    problem: Problem
    n: int
    m: int
    seed: int
    x: np.ndarray
    consts: Consts
    options: dict[str, Any]
    f: ProblemFunction = field(init=False)

    def __post_init__(self) -> None:
        self.f = ProblemFunction(self)

    @property
    def name(self) -> str:
        return self.problem.name

    @property
    def scalar(self) -> bool:
        return self.problem.scalar

    @property
    def has_hessian(self) -> bool:
        return self.problem.scalar and self.problem.hessian is not None

    def _point(self, x: Any) -> np.ndarray:
        if x is None:
            return self.x.copy()
        arr = np.array(x, dtype=np.float64, copy=True)
        if arr.shape != (self.n,):
            raise ValueError(
                f"problem {self.name!r} (n={self.n}) needs x of shape ({self.n},); "
                f"got shape {arr.shape}"
            )
        return arr

    def value(self, x: Any = None) -> np.ndarray:
        """Numpy primal: 0-d for scalar problems, (m,) otherwise."""
        out = np.asarray(self.problem.primal(self._point(x), **self.consts), dtype=np.float64)
        return out.reshape(() if self.scalar else (self.m,))

    def value_scale(self) -> float:
        """What the primal's error is relative to, at least (0: the value itself)."""
        scale = self.problem.value_scale
        return 0.0 if scale is None else float(scale(self.x, **self.consts))

    def gradient(self, x: Any = None) -> np.ndarray:
        """Analytic gradient (n,); scalar problems only."""
        if not self.scalar:
            raise ValueError(
                f"problem {self.name!r} is vector-valued (m={self.m}); use jacobian(), "
                "not gradient()"
            )
        return self._derivative(x).reshape(self.n)

    def jacobian(self, x: Any = None) -> np.ndarray:
        """Analytic Jacobian (m, n); (1, n) for scalar problems."""
        return self._derivative(x).reshape(self.m, self.n)

    def hessian(self, x: Any = None) -> np.ndarray | None:
        """Analytic Hessian (n, n) of a scalar problem; None where not given."""
        if not self.has_hessian:
            return None
        h = np.asarray(self.problem.hessian(self._point(x), **self.consts), dtype=np.float64)
        return h.reshape(self.n, self.n)

    def _derivative(self, x: Any) -> np.ndarray:
        return np.asarray(self.problem.derivative(self._point(x), **self.consts), dtype=np.float64)

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v}" for k, v in self.options.items())
        return f"Instance({self.name}, n={self.n}, m={self.m}, seed={self.seed}{opts})"


# ---------------------------------------------------------------------------
# notebook_f: f(x, y) = x²y + y + 2 (the reference notebook's function)


def _notebook_setup(n: int, m: int, seed: int) -> tuple[np.ndarray, Consts]:
    # seed 0 is the notebook's point (3, 4); other seeds draw a point.
    if seed == 0:
        return np.array([3.0, 4.0]), {}
    return np.random.default_rng(seed).uniform(-3.0, 3.0, size=2), {}


def _notebook_f(xp: Any, x: Any) -> Any:
    return x[0] * x[0] * x[1] + x[1] + 2.0


def _notebook_gradient(x: np.ndarray) -> np.ndarray:
    a, b = x
    return np.array([2 * a * b, a * a + 1])  # (2xy, x² + 1)


def _notebook_hessian(x: np.ndarray) -> np.ndarray:
    a, b = x
    return np.array([[2 * b, 2 * a], [2 * a, 0.0]])


# ---------------------------------------------------------------------------
# sin_square: z(x) = sin(x²)


def _sin_square_setup(n: int, m: int, seed: int) -> tuple[np.ndarray, Consts]:
    if seed == 0:
        return np.array([3.0]), {}
    return np.random.default_rng(seed).uniform(-3.0, 3.0, size=1), {}


def _sin_square_f(xp: Any, x: Any) -> Any:
    return xp.sin(x[0] ** 2)


def _sin_square_gradient(x: np.ndarray) -> np.ndarray:
    return 2 * x * np.cos(x**2)  # d/dx sin(x²) = 2x cos(x²)


def _sin_square_hessian(x: np.ndarray) -> np.ndarray:
    return (2 * np.cos(x**2) - 4 * x**2 * np.sin(x**2)).reshape(1, 1)


# ---------------------------------------------------------------------------
# rosenbrock: extended (chained) Rosenbrock, sum 100 (x_{i+1} - x_i²)² + (1 - x_i)²


def _rosenbrock_setup(n: int, m: int, seed: int) -> tuple[np.ndarray, Consts]:
    return np.random.default_rng(seed).uniform(-1.2, 1.2, size=n), {}


def _rosenbrock_f(xp: Any, x: Any) -> Any:
    a, b = x[:-1], x[1:]
    return xp.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2)


def _rosenbrock_value(x: np.ndarray) -> float:
    a, b = x[:-1], x[1:]
    return np.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2)


def _rosenbrock_gradient(x: np.ndarray) -> np.ndarray:
    a, b = x[:-1], x[1:]
    g = np.zeros_like(x)
    g[:-1] += -400.0 * a * (b - a**2) - 2.0 * (1.0 - a)  # d/dx_i
    g[1:] += 200.0 * (b - a**2)  # d/dx_{i+1}
    return g


def _rosenbrock_hessian(x: np.ndarray) -> np.ndarray:
    a, b = x[:-1], x[1:]
    n = x.shape[0]
    h = np.zeros((n, n))
    i = np.arange(n - 1)
    h[i, i] += 1200.0 * a**2 - 400.0 * b + 2.0
    h[i + 1, i + 1] += 200.0
    h[i, i + 1] = h[i + 1, i] = -400.0 * a
    return h


# ---------------------------------------------------------------------------
# fan_in: sum x_i cos x_i + (sum x_i)² / (2n): every input feeds one output.
# x cos x is odd and x symmetric about 0, so the value stays ~sqrt(n) rather than
# ~n: finite differences (error ~ eps |f| / h) stay accurate as n grows.


def _fan_in_setup(n: int, m: int, seed: int) -> tuple[np.ndarray, Consts]:
    return np.random.default_rng(seed).uniform(-2.0, 2.0, size=n), {"half_over_n": 0.5 / n}


def _fan_in_f(xp: Any, x: Any, half_over_n: float) -> Any:
    s = xp.sum(x)
    return xp.sum(x * xp.cos(x)) + s * s * half_over_n


def _fan_in_value(x: np.ndarray, half_over_n: float) -> float:
    return np.sum(x * np.cos(x)) + np.sum(x) ** 2 * half_over_n


def _fan_in_gradient(x: np.ndarray, half_over_n: float) -> np.ndarray:
    return np.cos(x) - x * np.sin(x) + 2.0 * half_over_n * np.sum(x)


def _fan_in_hessian(x: np.ndarray, half_over_n: float) -> np.ndarray:
    # d²/dx² (x cos x) = -2 sin x - x cos x; the squared sum adds 1/n everywhere
    n = x.shape[0]
    return np.diag(-2.0 * np.sin(x) - x * np.cos(x)) + np.full((n, n), 2.0 * half_over_n)


# ---------------------------------------------------------------------------
# fan_out: y_j = sin(c_j x) exp(-c_j x / m), one input to m outputs


def _fan_out_setup(n: int, m: int, seed: int) -> tuple[np.ndarray, Consts]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 1.5, size=1)
    c = rng.uniform(0.5, 2.0, size=m)
    return x, {"c": c, "decay": -1.0 / m}


def _fan_out_f(xp: Any, x: Any, c: np.ndarray, decay: float) -> Any:
    t = xp.asarray(c) * x[0]
    return xp.sin(t) * xp.exp(t * decay)


def _fan_out_value(x: np.ndarray, c: np.ndarray, decay: float) -> np.ndarray:
    t = c * x[0]
    return np.sin(t) * np.exp(t * decay)


def _fan_out_jacobian(x: np.ndarray, c: np.ndarray, decay: float) -> np.ndarray:
    # d/dx sin(cx) e^{d c x} = c e^{d c x} (cos(cx) + d sin(cx))
    t = c * x[0]
    return (c * np.exp(t * decay) * (np.cos(t) + decay * np.sin(t))).reshape(-1, 1)


# ---------------------------------------------------------------------------
# dense_tanh: tanh(W x + b), W ~ N(0, 1/n)


def _dense_setup(n: int, m: int, seed: int) -> tuple[np.ndarray, Consts]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    w = rng.normal(size=(m, n)) / math.sqrt(n)
    b = 0.1 * rng.normal(size=m)
    return x, {"w": w, "b": b}


def _dense_f(xp: Any, x: Any, w: np.ndarray, b: np.ndarray) -> Any:
    return xp.tanh(xp.matmul(xp.asarray(w), x) + xp.asarray(b))


def _dense_value(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.tanh(w @ x + b)


def _dense_jacobian(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    t = np.tanh(w @ x + b)
    return (1.0 - t**2)[:, None] * w  # d tanh = 1 - tanh²


# ---------------------------------------------------------------------------
# logsumexp_affine: log sum_i exp((A x + b)_i), A of shape (k, n)


def _lse_setup(n: int, m: int, seed: int, k: int) -> tuple[np.ndarray, Consts]:
    if k < 1:
        raise ValueError(f"problem 'logsumexp_affine': k must be >= 1, got {k}")
    rng = np.random.default_rng(seed)
    # x ~ N(0, 1/n) keeps A x of order 1 (no overflow) while A ~ N(0, 1) keeps the
    # gradient A^T p of order 1 at every n (so finite differences stay accurate too).
    x = rng.normal(size=n) / math.sqrt(n)
    a = rng.normal(size=(k, n))
    b = 0.5 * rng.normal(size=k)
    return x, {"a": a, "b": b}


def _lse_f(xp: Any, x: Any, a: np.ndarray, b: np.ndarray) -> Any:
    return xp.log(xp.sum(xp.exp(xp.matmul(xp.asarray(a), x) + xp.asarray(b))))


def _softmax(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    z = a @ x + b
    e = np.exp(z - z.max())
    return e / e.sum()


def _lse_value(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    z = a @ x + b
    return z.max() + np.log(np.sum(np.exp(z - z.max())))


def _lse_gradient(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a.T @ _softmax(x, a, b)  # A^T p, p = softmax(A x + b)


def _lse_hessian(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    p = _softmax(x, a, b)
    return a.T @ (np.diag(p) - np.outer(p, p)) @ a  # A^T (diag p - p p^T) A


# ---------------------------------------------------------------------------
# elementwise_chain: `steps` times z <- 0.9 tanh z + 0.1 sin z from z = x, then sum


def _chain_setup(n: int, m: int, seed: int, steps: int) -> tuple[np.ndarray, Consts]:
    if steps < 1:
        raise ValueError(f"problem 'elementwise_chain': steps must be >= 1, got {steps}")
    return np.random.default_rng(seed).normal(size=n), {"steps": int(steps)}


def _chain_f(xp: Any, x: Any, steps: int) -> Any:
    z = x
    for _ in range(steps):
        z = xp.tanh(z) * 0.9 + xp.sin(z) * 0.1
    return xp.sum(z)


def _chain_derivatives(x: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """z_L, dz_L/dx and d²z_L/dx² elementwise, by the chain rule step by step.

    g(z) = 0.9 tanh z + 0.1 sin z; g' = 0.9 (1 - tanh²) + 0.1 cos;
    g'' = -1.8 tanh (1 - tanh²) - 0.1 sin; (g∘h)'' = g''(h) h'² + g'(h) h''.
    """
    z, d1, d2 = x.copy(), np.ones_like(x), np.zeros_like(x)
    for _ in range(steps):
        t = np.tanh(z)
        g1 = 0.9 * (1.0 - t**2) + 0.1 * np.cos(z)
        g2 = -1.8 * t * (1.0 - t**2) - 0.1 * np.sin(z)
        d2 = g2 * d1**2 + g1 * d2
        d1 = g1 * d1
        z = 0.9 * t + 0.1 * np.sin(z)
    return z, d1, d2


def _chain_value(x: np.ndarray, steps: int) -> float:
    return np.sum(_chain_derivatives(x, steps)[0])


def _chain_gradient(x: np.ndarray, steps: int) -> np.ndarray:
    return _chain_derivatives(x, steps)[1]


def _chain_hessian(x: np.ndarray, steps: int) -> np.ndarray:
    return np.diag(_chain_derivatives(x, steps)[2])


# ---------------------------------------------------------------------------
# determinant: det of a k×k matrix (x = its entries, row-major) by expansion of minors

_DET_K = (2, 8)  # allowed k; n = k² (memoised expansion: O(k 2^k) products)


def _det_check_n(n: int) -> str | None:
    k = math.isqrt(n)
    lo, hi = _DET_K
    if k * k != n or not lo <= k <= hi:
        squares = ", ".join(str(j * j) for j in range(lo, hi + 1))
        return f"n must be k² for a k×k matrix with {lo} <= k <= {hi} ({squares}); got n={n}"
    return None


def _det_setup(n: int, m: int, seed: int) -> tuple[np.ndarray, Consts]:
    k = math.isqrt(n)
    rng = np.random.default_rng(seed)
    a = np.eye(k) + 0.5 * rng.normal(size=(k, k)) / math.sqrt(k)  # well away from singular
    return a.reshape(-1), {"k": k}


def _det_f(xp: Any, x: Any, k: int) -> Any:
    """Laplace expansion along the top row, each minor computed once.

    A minor is named by its columns (its rows are the last len(cols) ones), so
    memoising on the column tuple shares subexpressions: O(k 2^k) products.
    """
    minors: dict[tuple[int, ...], Any] = {}

    def minor(cols: tuple[int, ...]) -> Any:
        row = k - len(cols)
        if len(cols) == 1:
            return x[row * k + cols[0]]
        if cols not in minors:
            terms = []
            for j, col in enumerate(cols):
                term = x[row * k + col] * minor(cols[:j] + cols[j + 1 :])
                terms.append(term if j % 2 == 0 else -term)
            minors[cols] = xp.sum(xp.stack(terms))
        return minors[cols]

    return minor(tuple(range(k)))


def _det_value(x: np.ndarray, k: int) -> float:
    return np.linalg.det(x.reshape(k, k))


def _sub_det(a: np.ndarray, rows: list[int], cols: list[int]) -> float:
    sub = np.delete(np.delete(a, rows, axis=0), cols, axis=1)
    return 1.0 if sub.size == 0 else float(np.linalg.det(sub))


def _det_gradient(x: np.ndarray, k: int) -> np.ndarray:
    """d det / dA_ij = cofactor C_ij = (-1)^(i+j) det(A without row i, column j)."""
    a = x.reshape(k, k)
    cof = np.array([[(-1) ** (i + j) * _sub_det(a, [i], [j]) for j in range(k)] for i in range(k)])
    return cof.reshape(-1)


def _det_hessian(x: np.ndarray, k: int) -> np.ndarray:
    """d² det / dA_ij dA_pq = ±(-1)^(i+j+p+q) det(A without rows i,p and columns j,q).

    Zero when i = p or j = q; the extra sign is - when (p > i) differs from (q > j).
    """
    a = x.reshape(k, k)
    h = np.zeros((k * k, k * k))
    for i in range(k):
        for j in range(k):
            for p in range(k):
                for q in range(k):
                    if i == p or j == q:
                        continue
                    sign = (-1) ** (i + j + p + q) * (1 if (p > i) == (q > j) else -1)
                    h[i * k + j, p * k + q] = sign * _sub_det(a, [i, p], [j, q])
    return h


# ---------------------------------------------------------------------------
# the catalog


def _no_consts(fn: Callable[[np.ndarray], Any]) -> Callable[..., Any]:
    def wrapped(x: np.ndarray) -> Any:
        return fn(x)

    return wrapped


PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in [
        Problem(
            "notebook_f",
            "f(x, y) = x²y + y + 2 (the reference notebook), at (3, 4) for seed 0",
            scalar=True,
            scales=(),
            default_n=2,
            default_m=1,
            setup=_notebook_setup,
            body=_notebook_f,
            primal=_no_consts(lambda x: x[0] * x[0] * x[1] + x[1] + 2.0),
            derivative=_notebook_gradient,
            hessian=_notebook_hessian,
            min_n=2,
        ),
        Problem(
            "sin_square",
            "z(x) = sin(x²) (the reference notebook), at x = 3 for seed 0",
            scalar=True,
            scales=(),
            default_n=1,
            default_m=1,
            setup=_sin_square_setup,
            body=_sin_square_f,
            primal=_no_consts(lambda x: np.sin(x[0] ** 2)),
            derivative=_sin_square_gradient,
            hessian=_sin_square_hessian,
        ),
        Problem(
            "rosenbrock",
            "extended (chained) Rosenbrock: sum 100 (x[i+1] - x[i]²)² + (1 - x[i])²",
            scalar=True,
            scales=("n",),
            default_n=8,
            default_m=1,
            setup=_rosenbrock_setup,
            body=_rosenbrock_f,
            primal=_rosenbrock_value,
            derivative=_rosenbrock_gradient,
            hessian=_rosenbrock_hessian,
            min_n=2,
        ),
        Problem(
            "fan_in",
            "fan-in R^n -> R: sum x cos x + (sum x)² / (2n)",
            scalar=True,
            scales=("n",),
            default_n=16,
            default_m=1,
            setup=_fan_in_setup,
            body=_fan_in_f,
            primal=_fan_in_value,
            derivative=_fan_in_gradient,
            hessian=_fan_in_hessian,
        ),
        Problem(
            "fan_out",
            "fan-out R -> R^m: y_j = sin(c_j x) exp(-c_j x / m)",
            scalar=False,
            scales=("m",),
            default_n=1,
            default_m=16,
            setup=_fan_out_setup,
            body=_fan_out_f,
            primal=_fan_out_value,
            derivative=_fan_out_jacobian,
        ),
        Problem(
            "dense_tanh",
            "dense layer R^n -> R^m: tanh(W x + b), W ~ N(0, 1/n)",
            scalar=False,
            scales=("n", "m"),
            default_n=16,
            default_m=8,
            setup=_dense_setup,
            body=_dense_f,
            primal=_dense_value,
            derivative=_dense_jacobian,
        ),
        Problem(
            "logsumexp_affine",
            "log sum exp(A x + b), A of shape (k, n) (k = 8 unless given)",
            scalar=True,
            scales=("n",),
            default_n=16,
            default_m=1,
            setup=_lse_setup,
            body=_lse_f,
            primal=_lse_value,
            derivative=_lse_gradient,
            hessian=_lse_hessian,
            options={"k": 8},
        ),
        Problem(
            "elementwise_chain",
            "sum of `steps` (20 unless given) times z <- 0.9 tanh z + 0.1 sin z from z = x",
            scalar=True,
            scales=("n",),
            default_n=16,
            default_m=1,
            setup=_chain_setup,
            body=_chain_f,
            primal=_chain_value,
            derivative=_chain_gradient,
            hessian=_chain_hessian,
            options={"steps": 20},
        ),
        Problem(
            "determinant",
            "det of a k×k matrix (x = entries row-major, n = k², 2 <= k <= 8) "
            "by expansion of minors",
            scalar=True,
            scales=("n",),
            default_n=16,
            default_m=1,
            setup=_det_setup,
            body=_det_f,
            primal=_det_value,
            derivative=_det_gradient,
            hessian=_det_hessian,
            min_n=4,
            check_n=_det_check_n,
        ),
    ]
}


# GradBench's standard workloads (toyad/workloads/), merged after the problems above.
from toyad.workloads import catalog as _workload_catalog  # noqa: E402

PROBLEMS.update({p.name: p for p in _workload_catalog.problems()})


def names() -> list[str]:
    return list(PROBLEMS)


def get(name: str) -> Problem:
    """The problem called ``name`` (the catalog's, or one declared with ``toyad.problem``);
    unknown -> UnknownProblem (a ValueError) listing names."""
    try:
        return PROBLEMS[name]
    except (KeyError, TypeError):
        pass
    from toyad.userproblems import REGISTRY  # functions declared with toyad.problem

    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownProblem(
            f"unknown problem {name!r}; known problems: {', '.join(PROBLEMS)}"
        ) from None
