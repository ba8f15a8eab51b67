"""The scalar toy engines behind the backend interface.

Each runs a problem ``f(xp, x)`` with ``xp = numpy`` on an object array of
its own numbers:

- ``numeric-<method>``: finite differences / complex step (toyad.numeric);
- ``dual``: forward mode, one pass per input direction (x + e_j ε);
- ``symbolic``: forward mode on expression graphs, one sweep per input,
  derivatives built then evaluated (and differentiated again for Hessians);
- ``reverse``: build the graph; a Jacobian is m vector-Jacobian products with
  one-hot cotangents, each a ``backward()`` over the whole graph (what jacrev
  does; seeding one output alone would walk only its ancestors);
- ``reverse-recursive``: the notebook's recursive ``backpropagate``, capped,
  since its cost is the number of *paths* in the graph.

The timed call includes building the graph (operator overloading is how these
engines trace); ``prepare`` only converts inputs (and ``reverse-recursive``
checks its cost once per build), so the conveniences rebuild each call at no
extra cost beyond that conversion.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toyad import dual, graph, numeric, reverse, symbolic
from toyad.backends.base import Backend, Bind, TooExpensive, UnsupportedOperation
from toyad.backends.namespaces import require_scalar
from toyad.loops import NUMPY

Prepared = Callable[[], np.ndarray]


def _elements(y: Any) -> tuple[list[Any], bool]:
    """f's result as a flat list of scalars, and whether it was a scalar."""
    if isinstance(y, np.ndarray):
        if y.ndim > 1:
            raise ValueError(f"f must return a scalar or a 1-D array; got shape {y.shape}")
        return list(y.ravel()), y.ndim == 0
    return [y], True


def _objects(values: Any) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr


def _shape_output(values: list[Any], scalar: bool) -> np.ndarray:
    out = np.array([float(v) for v in values], dtype=np.float64)
    return out.reshape(()) if scalar else out


# -- numeric --------------------------------------------------------------------


@dataclass
class NumericBackend(Backend):
    method: str = "central"

    def _prepare(self, operation, mode, f, x, *, v, u) -> Prepared:
        def g(z: np.ndarray) -> np.ndarray:
            return np.asarray(f(NUMPY, z))

        method = self.method
        if operation == "primal":
            return lambda: g(x).astype(np.float64)
        if operation == "gradient":
            require_scalar(operation, g(x).shape)  # else numeric.gradient mixes the outputs
            return lambda: numeric.gradient(g, x, method=method)
        if operation == "jacobian":
            return lambda: numeric.jacobian(g, x, method=method)
        if operation == "hessian":
            return lambda: numeric.hessian(g, x, method=method)
        if operation == "jvp":  # d/dt f(x + t v) at t = 0, the step scaled to x and v
            size = float(np.max(np.abs(v))) or 1.0
            h = float(numeric.default_step(method, [np.max(np.abs(x), initial=0.0)])[0]) / size
            return lambda: numeric.derivative(lambda t: g(x + t * v), 0.0, method=method, step=h)
        raise UnsupportedOperation(self.name, operation, mode)

    def _strategy(self, operation: str, mode: str) -> str:
        return "single" if operation == "primal" else "loop"  # of primal evaluations

    def passes(self, operation: str, mode: str, n: int, m: int) -> int | None:
        per_direction = {"forward": 1, "central": 2, "complex": 1}.get(
            self.method, 2 * numeric.RICHARDSON_LEVELS
        )
        if operation in ("gradient", "jacobian"):
            return per_direction * n + (1 if self.method == "forward" else 0)
        if operation == "jvp":
            return per_direction + (1 if self.method == "forward" else 0)
        if operation == "hessian":  # second differences over the n² pairs (approximate)
            per_pair = {"forward": 1, "central": 2, "complex": 2}.get(
                self.method, 2 * numeric.RICHARDSON_HESSIAN_LEVELS
            )
            return per_pair * n * n
        return 1


# -- dual numbers ------------------------------------------------------------------


@dataclass
class DualBackend(Backend):
    def _prepare(self, operation, mode, f, x, *, v, u) -> Prepared:
        xs = _objects(x.tolist())

        def g(z: np.ndarray) -> Any:
            return f(NUMPY, z)

        if operation == "primal":

            def primal() -> np.ndarray:
                values, scalar = _elements(g(_objects([dual.DualNumber(xi) for xi in xs])))
                return _shape_output([_value(y) for y in values], scalar)

            return primal
        if operation == "gradient":

            def gradient() -> np.ndarray:
                jac = _as_float(dual.jacobian(g, xs))
                require_scalar(operation, jac.shape[:-1] if jac.ndim > 1 else ())
                return jac.reshape(-1)

            return gradient
        if operation == "jacobian":
            return lambda: _as_float(dual.jacobian(g, xs)).reshape(-1, len(x))
        if operation == "jvp":
            vs = _objects(v.tolist())

            def jvp() -> np.ndarray:
                _, tangent = dual.jvp(g, xs, vs)
                values, scalar = _elements(np.asarray(tangent, dtype=object))
                return _shape_output(values, scalar)

            return jvp
        if operation == "hessian":
            return lambda: _dual_hessian(g, xs)
        raise UnsupportedOperation(self.name, operation, mode)

    def _strategy(self, operation: str, mode: str) -> str:
        return "per-op"  # one Python object per scalar operation

    def passes(self, operation: str, mode: str, n: int, m: int) -> int | None:
        return n * n if operation == "hessian" else super().passes(operation, mode, n, m)


def _require_scalar_outputs(operation: str, outs: list[Any], scalar: bool) -> None:
    """A gradient needs f's recorded outputs to be one scalar (InputError otherwise)."""
    require_scalar(operation, () if scalar else (len(outs),))


def _value(y: Any) -> Any:
    return y.value if isinstance(y, dual.DualNumber) else y


def _as_float(a: np.ndarray) -> np.ndarray:
    return np.array([float(e) for e in np.ravel(a)], dtype=np.float64).reshape(np.shape(a))


def _dual_hessian(g: Callable[[np.ndarray], Any], xs: np.ndarray) -> np.ndarray:
    """H[j, i] = ∂/∂x_j (∂f/∂x_i): a tagged pass inside a tagged pass (n² passes)."""
    n = len(xs)
    basis = np.eye(n).astype(object)

    def partial(i: int) -> Callable[[np.ndarray], Any]:
        return lambda z: _scalar(dual.jvp(g, z, basis[i])[1])

    h = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            h[j, i] = float(_scalar(dual.jvp(partial(i), xs, basis[j])[1]))
    return h


def _scalar(y: Any) -> Any:
    values, scalar = _elements(np.asarray(y, dtype=object) if isinstance(y, np.ndarray) else y)
    if not scalar and len(values) != 1:
        raise ValueError("a Hessian needs a scalar-valued f")
    return values[0]


# -- symbolic forward mode --------------------------------------------------------


@dataclass
class SymbolicBackend(Backend):
    def _prepare(self, operation, mode, f, x, *, v, u) -> Prepared:
        n = len(x)

        def build() -> tuple[list[symbolic.Var], list[symbolic.Expr], bool]:
            variables = [symbolic.Var(f"x{i}", xi) for i, xi in enumerate(x.tolist())]
            values, scalar = _elements(f(NUMPY, _objects(variables)))
            return variables, [symbolic._as_expr(y) for y in values], scalar

        if operation == "primal":

            def primal() -> np.ndarray:
                _, outs, scalar = build()
                return _shape_output(symbolic.evaluate_all(outs), scalar)

            return primal
        if operation in ("gradient", "jacobian"):

            def jacobian() -> np.ndarray:
                variables, outs, scalar = build()
                if operation == "gradient":
                    _require_scalar_outputs(operation, outs, scalar)
                columns = [symbolic.derivatives(outs, var) for var in variables]  # n sweeps
                flat = symbolic.evaluate_all(e for col in columns for e in col)
                jac = np.array(flat, dtype=np.float64).reshape(n, len(outs)).T
                return jac[0] if operation == "gradient" else jac

            return jacobian
        if operation == "jvp":
            seeds = v.tolist()

            def jvp() -> np.ndarray:
                variables, outs, scalar = build()
                tangents = symbolic.derivatives(outs, dict(zip(variables, seeds, strict=True)))
                return _shape_output(symbolic.evaluate_all(tangents), scalar)

            return jvp
        if operation == "hessian":

            def hessian() -> np.ndarray:
                variables, outs, _ = build()
                if len(outs) != 1:
                    raise ValueError("a Hessian needs a scalar-valued f")
                grad = [symbolic.derivatives(outs, var)[0] for var in variables]
                rows = [symbolic.derivatives(grad, var) for var in variables]
                flat = symbolic.evaluate_all(e for row in rows for e in row)
                return np.array(flat, dtype=np.float64).reshape(n, n)

            return hessian
        raise UnsupportedOperation(self.name, operation, mode)

    def _strategy(self, operation: str, mode: str) -> str:
        return "per-op"  # one Python object per scalar operation

    def passes(self, operation: str, mode: str, n: int, m: int) -> int | None:
        return n + n * n if operation == "hessian" else super().passes(operation, mode, n, m)


# -- reverse mode -------------------------------------------------------------------


@dataclass
class ReverseBackend(Backend):
    recursive: bool = False
    max_calls: int = 2_000_000  # the recursive pass's cap: one call per graph path
    max_depth: int = 20_000
    _limits: dict = field(default_factory=dict, repr=False)

    def _build(self, operation, mode, f, x, v, u) -> Bind:
        """The recursive pass's cost check runs once per build (on the sample x);
        each bind then records a fresh graph in its timed call, as ``_prepare`` does."""
        if self.recursive and operation != "primal":  # (the primal does not backpropagate)
            self._check_recursion_cost(operation, lambda: _record(f, x))

        def bind(x: np.ndarray, v: Any, u: Any, keep: bool = True) -> Prepared:
            return self._calls(operation, mode, f, x, v=v, u=u)

        return bind

    def _calls(self, operation, mode, f, x, *, v, u) -> Prepared:
        def build() -> tuple[list[reverse.Var], list[Any], bool]:
            return _record(f, x)

        if operation == "primal":

            def primal() -> np.ndarray:
                _, outs, scalar = build()
                return _shape_output([_node_value(y) for y in outs], scalar)

            return primal
        if operation in ("gradient", "jacobian"):

            def jacobian() -> np.ndarray:
                variables, outs, scalar = build()
                if operation == "gradient":
                    _require_scalar_outputs(operation, outs, scalar)
                if self.recursive:  # the notebook's pass starts from one output at a time
                    rows = [self._gradients(y, variables) for y in outs]
                else:  # row i = e_iᵀ J: a backward pass over the whole graph per output
                    m = len(outs)
                    rows = [_vjp(variables, outs, _one_hot(i, m)) for i in range(m)]
                jac = np.array(rows, dtype=np.float64).reshape(len(outs), len(variables))
                return jac[0] if operation == "gradient" else jac

            return jacobian
        if operation == "vjp":
            seeds = np.atleast_1d(u).tolist()

            def vjp() -> np.ndarray:
                variables, outs, _ = build()
                if len(seeds) != len(outs):
                    raise ValueError(
                        f"cotangent u has {len(seeds)} entries; f has {len(outs)} outputs"
                    )
                return np.array(_vjp(variables, outs, seeds))

            return vjp
        if operation == "hessian":
            if mode == "forward-over-reverse":

                def hessian_for() -> np.ndarray:
                    variables = [reverse.Var(f"x{i}", xi) for i, xi in enumerate(x.tolist())]
                    xs = _objects(variables)
                    return reverse.hessian(lambda: _scalar(f(NUMPY, xs)), variables, mode)

                return hessian_for

            def hessian_rr() -> np.ndarray:
                variables, outs, _ = build()
                if len(outs) != 1:
                    raise ValueError("a Hessian needs a scalar-valued f")
                return reverse.hessian(outs[0], variables, mode)

            return hessian_rr
        raise UnsupportedOperation(self.name, operation, mode)

    def _gradients(self, y: Any, variables: list[reverse.Var]) -> list[float]:
        if not self.recursive:
            return [float(g) for g in reverse.gradients(y, variables)]
        for var in variables:
            var.gradient = 0.0
        if isinstance(y, reverse.Node):
            old = sys.getrecursionlimit()
            sys.setrecursionlimit(max(old, 3 * self.max_depth + 1000))
            try:
                y.backpropagate(1.0)
            finally:
                sys.setrecursionlimit(old)
        return [float(var.gradient) for var in variables]

    def _check_recursion_cost(self, operation: str, build: Callable) -> None:
        """Refuse, before timing, a graph whose paths or depth exceed the caps."""
        _, outs, _ = build()
        nodes = [y for y in outs if isinstance(y, reverse.Node)]
        if not nodes:
            return
        calls = reverse.count_paths(*nodes)
        depth = _depth(nodes)
        if calls > self.max_calls:
            raise TooExpensive(
                self.name,
                operation,
                f"recursive backpropagate would make {calls:,} calls (cap {self.max_calls:,})",
            )
        if depth > self.max_depth:
            raise TooExpensive(
                self.name,
                operation,
                f"graph depth {depth:,} exceeds the recursion cap {self.max_depth:,}",
            )

    def _strategy(self, operation: str, mode: str) -> str:
        return "per-op"  # one Python object per scalar operation

    def passes(self, operation: str, mode: str, n: int, m: int) -> int | None:
        if operation == "hessian":
            return n
        return super().passes(operation, mode, n, m)


def _record(f: Callable, x: np.ndarray) -> tuple[list[reverse.Var], list[Any], bool]:
    """f's graph at x on fresh reverse.Vars: (inputs, outputs, whether f was scalar)."""
    variables = [reverse.Var(f"x{i}", xi) for i, xi in enumerate(x.tolist())]
    values, scalar = _elements(f(NUMPY, _objects(variables)))
    return variables, values, scalar


def _vjp(variables: list[reverse.Var], outs: list[Any], seeds: list[float]) -> list[float]:
    """uᵀJ by one backward pass from every output at once (as a framework's vjp does)."""
    for var in variables:
        var.gradient = 0.0
    pairs = [(y, s) for y, s in zip(outs, seeds, strict=True) if isinstance(y, reverse.Node)]
    reverse.backward([y for y, _ in pairs], [s for _, s in pairs])
    return [float(var.gradient) for var in variables]


def _one_hot(i: int, m: int) -> list[float]:
    seeds = [0.0] * m
    seeds[i] = 1.0
    return seeds


def _node_value(y: Any) -> Any:
    return y.value if isinstance(y, reverse.Node) else y


def _depth(roots: list[reverse.Node]) -> int:
    """The longest chain of operations from any of ``roots`` down to a leaf."""
    depth: dict[int, int] = {}
    for node in graph.topological_order(roots):
        depth[id(node)] = 1 + max((depth[id(k)] for k in node._kids), default=0)
    return max(depth[id(r)] for r in roots)


# -- the registry's factory -----------------------------------------------------------

_COMMON = {"primal": ("engine",)}


def make(name: str) -> Backend:
    if name.startswith("numeric-"):
        method = name.removeprefix("numeric-")
        if method not in numeric.METHODS:
            raise ValueError(f"unknown numeric method {method!r}; methods: {numeric.METHODS}")
        caps = {
            **_COMMON,
            "gradient": ("forward",),
            "jacobian": ("forward",),
            "hessian": ("numeric",),
            "jvp": ("forward",),
        }
        return NumericBackend(
            name, "toy", method, f"numeric differentiation ({method})", caps, method=method
        )
    if name == "dual":
        caps = {
            **_COMMON,
            "gradient": ("forward",),
            "jacobian": ("forward",),
            "hessian": ("forward-over-forward",),
            "jvp": ("forward",),
        }
        return DualBackend(name, "toy", "", "forward mode with tagged dual numbers", caps)
    if name == "symbolic":
        caps = {
            **_COMMON,
            "gradient": ("forward",),
            "jacobian": ("forward",),
            "hessian": ("forward-over-forward",),
            "jvp": ("forward",),
        }
        return SymbolicBackend(name, "toy", "", "symbolic forward mode (expression graphs)", caps)
    if name == "reverse":
        caps = {
            **_COMMON,
            "gradient": ("reverse",),
            "jacobian": ("reverse",),
            "hessian": ("reverse-over-reverse", "forward-over-reverse"),
            "vjp": ("reverse",),
        }
        return ReverseBackend(name, "toy", "", "reverse mode: iterative backward()", caps)
    if name == "reverse-recursive":
        caps = {**_COMMON, "gradient": ("reverse",), "jacobian": ("reverse",)}
        return ReverseBackend(
            name,
            "toy",
            "recursive",
            "the notebook's recursive backpropagate (capped)",
            caps,
            recursive=True,
        )
    raise ValueError(f"toys.make does not know backend {name!r}")
