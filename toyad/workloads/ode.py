"""GradBench ``ode``: ``primal`` = y after s RK4 steps, ``gradient`` = ∇_x y[n-1].

y' = F(y), F(y)_0 = x_0, F(y)_i = x_i y_{i-1}, y(0) = 0, s classic RK4 steps of
h = 2/s. Input ``{"x": [n], "s": s}``, x ~ U[0, 1) from ``np.random.seed(31337)``
once, then ``np.random.rand(n)`` per (n, s) in the sweep (sorted by n·s).

Two problems share the constants: ``ode`` (vector-valued, y ∈ R^n, with its
lower-triangular Jacobian; GradBench's ``primal``) and ``ode_last`` (scalar,
y[n-1]; GradBench's ``gradient``, which equals the last row of ``ode``'s
Jacobian). GradBench's golden gradient is the exact ODE solution's (which
underflows to 0 at its sizes); ours differentiates the RK4 scheme, which
GradBench accepts within its tolerance.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from toyad.problems import Instance, Problem
from toyad.workloads.base import GRADBENCH_SEED, Workload, floats, presets, replay, sweep

SWEEP = sweep({"n": [1000, 10000, 100000], "s": [1, 10, 100]}, lambda n, s: n * s)
PRESETS = presets("n={n},s={s}", SWEEP, lambda c: {"size": c["n"], "steps": c["s"]}, quick=2)


def gradbench_input(n: int, s: int, seed: int = 0) -> dict:
    target = {"n": n, "s": s}
    x = replay(lambda rs, c: rs.rand(c["n"]), target, SWEEP, GRADBENCH_SEED + seed)
    return {"x": x.tolist(), "s": int(s)}


def _parts(inp: dict) -> tuple[np.ndarray, dict]:
    s = int(inp["s"])
    if s < 1:
        raise ValueError(f"ode: s must be >= 1, got {s}")
    x = np.asarray(inp["x"], dtype=np.float64)
    return x, {"steps": s, "size": x.shape[0]}


def from_gradbench(inp: dict, function: str | None = None, seed: int = 0) -> Instance:
    """``function="gradient"`` gives the ``ode_last`` instance, else ``ode``."""
    x, consts = _parts(inp)
    problem = LAST if function == "gradient" else PROBLEM
    return problem.from_parts(x, consts, seed, size=x.shape[0], steps=consts["steps"])


def to_gradbench(function: str, result: Any, inst: Instance | None = None) -> Any:
    if function in ("primal", "gradient"):
        return floats(np.asarray(result).reshape(-1))
    raise ValueError(f"ode has functions primal, gradient; not {function!r}")


# -- f(xp, x) --------------------------------------------------------------------


def _rhs(xp: Any, x: Any, y: Any) -> Any:
    return xp.concatenate([x[0:1], x[1:] * y[:-1]])


def _f(xp: Any, x: Any, steps: int, size: int) -> Any:
    h = 2.0 / steps

    def runge_kutta(y: Any, _: None) -> tuple[Any, None]:
        """One classic fourth-order Runge-Kutta step of y' = F(x, y)."""
        k1 = _rhs(xp, x, y)
        k2 = _rhs(xp, x, y + (h / 2) * k1)
        k3 = _rhs(xp, x, y + (h / 2) * k2)
        k4 = _rhs(xp, x, y + h * k3)
        return y + (h / 6) * (k1 + 2.0 * k2 + 2.0 * k3 + k4), None

    # a loop of `steps` steps (xp.scan): a tracing backend compiles one step
    y, _ = xp.scan(runge_kutta, xp.asarray(np.zeros(size)), length=steps)
    return y


def _f_last(xp: Any, x: Any, steps: int, size: int) -> Any:
    return _f(xp, x, steps, size)[size - 1]


# -- hand-written numpy: primal and reverse pass ------------------------------------


def _np_rhs(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.empty(np.broadcast_shapes(x.shape, y.shape), dtype=np.result_type(x, y))
    out[..., 0] = x[0]
    out[..., 1:] = x[1:] * y[..., :-1]
    return out


def _forward(x: np.ndarray, steps: int) -> tuple[np.ndarray, list]:
    """y after the steps, and each step's stage points (y, z2, z3, z4)."""
    h = 2.0 / steps
    y = np.zeros_like(x)
    tape = []
    for _ in range(steps):
        k1 = _np_rhs(x, y)
        z2 = y + h / 2 * k1
        k2 = _np_rhs(x, z2)
        z3 = y + h / 2 * k2
        k3 = _np_rhs(x, z3)
        z4 = y + h * k3
        k4 = _np_rhs(x, z4)
        tape.append((y, z2, z3, z4))
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y, tape


def _vjp_rhs(x: np.ndarray, z: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(aᵀ ∂F/∂z, aᵀ ∂F/∂x) for cotangent rows a (r, n), at point z."""
    gz = np.zeros_like(a)
    gz[:, :-1] = a[:, 1:] * x[1:]  # F_i = x_i z_{i-1}
    gx = np.empty_like(a)
    gx[:, 0] = a[:, 0]
    gx[:, 1:] = a[:, 1:] * z[:-1]
    return gz, gx


def _vjp(x: np.ndarray, steps: int, u: np.ndarray) -> np.ndarray:
    """Rows uᵀ J (r, n) by the reverse pass through the RK4 steps."""
    h = 2.0 / steps
    _, tape = _forward(x, steps)
    ybar = np.array(u, dtype=np.float64)
    xbar = np.zeros_like(ybar)
    for y, z2, z3, z4 in reversed(tape):
        k1b, k2b, k3b, k4b = h / 6 * ybar, h / 3 * ybar, h / 3 * ybar, h / 6 * ybar
        zb, xb = _vjp_rhs(x, z4, k4b)
        xbar += xb
        ybar = ybar + zb
        k3b = k3b + h * zb
        zb, xb = _vjp_rhs(x, z3, k3b)
        xbar += xb
        ybar = ybar + zb
        k2b = k2b + h / 2 * zb
        zb, xb = _vjp_rhs(x, z2, k2b)
        xbar += xb
        ybar = ybar + zb
        k1b = k1b + h / 2 * zb
        zb, xb = _vjp_rhs(x, y, k1b)
        xbar += xb
        ybar = ybar + zb
    return xbar


def _value(x: np.ndarray, steps: int, size: int) -> np.ndarray:
    return _forward(x, steps)[0]


def _jacobian(x: np.ndarray, steps: int, size: int) -> np.ndarray:
    return _vjp(x, steps, np.eye(size))


def _last_gradient(x: np.ndarray, steps: int, size: int) -> np.ndarray:
    u = np.zeros((1, size))
    u[0, -1] = 1.0
    return _vjp(x, steps, u)[0]


def _setup(n: int, m: int, seed: int, size: int, steps: int) -> tuple[np.ndarray, dict]:
    return _parts(gradbench_input(size, steps, seed))


def _sizes(x: np.ndarray, consts: dict) -> tuple[int, int]:
    return x.shape[0], x.shape[0]


PROBLEM = Problem(
    "ode",
    "GradBench ode: y(2) by s RK4 steps of y0' = x0, yi' = xi y(i-1), y(0) = 0 (output y)",
    scalar=False,
    scales=(),
    default_n=1000,
    default_m=1000,
    setup=_setup,
    body=_f,
    primal=_value,
    derivative=_jacobian,
    options={"size": 1000, "steps": 1},
    sizes_from=_sizes,
    presets=PRESETS,
    workload="ode",
)

LAST = Problem(
    "ode_last",
    "GradBench ode's gradient: the last element y[n-1] of the ode problem (scalar)",
    scalar=True,
    scales=(),
    default_n=1000,
    default_m=1,
    setup=_setup,
    body=_f_last,
    primal=lambda x, steps, size: _value(x, steps, size)[-1],
    derivative=_last_gradient,
    options={"size": 1000, "steps": 1},
    sizes_from=lambda x, consts: (x.shape[0], 1),
    presets=PRESETS,
    workload="ode",
)

WORKLOAD = Workload(
    "ode",
    {"primal": ("ode", "primal"), "gradient": ("ode_last", "gradient")},
    PRESETS,
    "n={n},s={s}",
    gradbench_input,
    from_gradbench,
    to_gradbench,
    notes="gradient = the last row of ode's Jacobian, via the scalar problem ode_last",
)
