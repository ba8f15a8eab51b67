"""GradBench's nested-AD evals ``particle`` and ``saddle`` (rr, ff, fr, rf).

Both evals minimise, by GradBench's gradient descent (``cpp/gradbench/gd.hpp``),
an objective that itself calls a derivative: the Euler steps of ``particle``
need ∇ₓp of the potential, the ``saddle`` objective max_y f(x, y) runs a
gradient ascent inside. The variant names the AD mode (f = forward, r =
reverse) of the outer derivative (the argmin's ∇) and of the inner one.

The algorithms are written once, here, against an *AD kit*
(``toyad.workloads.nested_kits``); a kit supplies only:

- ``kit.grad(f, mode, traceable=False)`` -> ``g(x, *consts) -> list``: ∇ₓ
  f(x, *consts) for x a list of scalars, by mode ``"f"`` (one forward pass per
  basis direction) or ``"r"`` (one reverse pass). ``consts`` are not
  differentiated here, but may carry an outer derivative (``f`` may itself
  call an inner ``g``: nested differentiation). ``traceable`` says ``f`` has
  no data-dependent control flow (jax-jit compiles only those);
- ``kit.sqrt(v)``; ``kit.primal(v) -> float`` (the value under every
  perturbation, for the solver's comparisons and the Euler loop's test);
- ``kit.supports(eval, variant) -> str | None``.

Control flow looks only at primal values, so every kit takes the same
branches as GradBench's C++ (which compares the same float computations).
The objective is differentiated *through* its loops (the Euler loop; the
inner gradient ascent of ``saddle``), as GradBench's Futhark, Haskell and
Enzyme tools do.

Interface for the GradBench tool and the harness::

    from toyad.workloads import nested
    nested.supports("jax-eager", "particle", "rr")        # None, or the reason
    call = nested.prepare("dual", "particle", "ff", {"w": 0.0})
    call()                                              # 0.20719187464...
    for backend, eval_name, variant, expected in nested.cases(): ...
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from toyad.problems import Preset
from toyad.workloads.base import TOLERANCE, Workload

VARIANTS = ("rr", "ff", "fr", "rf")  # GradBench's order
EVALS = ("particle", "saddle")

# GradBench's expected outputs (evals/<eval>/run.py), valid within 1e-4 absolute
PARTICLE_W = 0.2071918746486116
SADDLE_POINT = [8.246324826140356e-06] * 4
EXPECTED: dict[str, Any] = {"particle": PARTICLE_W, "saddle": SADDLE_POINT}
INPUTS: dict[str, dict] = {"particle": {"w": 0.0}, "saddle": {"start": [1.0, 1.0]}}

MAX_EULER_STEPS = 1_000_000  # the C++ tools' bound


# ---------------------------------------------------------------------------
# gd.hpp: multivariate_argmin / argmax / max, on any kit's numbers


def _magnitude(v: Sequence[Any], primal: Callable[[Any], float]) -> float:
    acc = 0.0
    for x in v:
        p = primal(x)
        acc += p * p
    return math.sqrt(acc)


def _distance(u: Sequence[Any], v: Sequence[Any], primal: Callable[[Any], float]) -> float:
    acc = 0.0
    for a, b in zip(u, v, strict=True):
        d = primal(a) - primal(b)
        acc += d * d
    return math.sqrt(acc)


def argmin(
    f: Callable[[list], Any],
    g: Callable[[list], list],
    start: Sequence[Any],
    primal: Callable[[Any], float] = float,
) -> list:
    """GradBench's ``multivariate_argmin``: η = 1e-5, doubled after 10 accepted
    steps in a row, halved (and the count reset) on a step that does not
    decrease f; stop when ‖∇f‖ ≤ 1e-5 or a step moves x by ≤ 1e-5.
    Decisions use primal values; x, f and ∇f keep the kit's numbers."""
    x = list(start)
    fx = f(x)
    gx = g(x)
    i = 0
    eta = 1e-5
    while True:
        if _magnitude(gx, primal) <= 1e-5:
            return x
        if i == 10:
            eta *= 2
            i = 0
            continue
        x_new = [xj - eta * gj for xj, gj in zip(x, gx, strict=True)]
        if _distance(x, x_new, primal) <= 1e-5:
            return x
        f_new = f(x_new)
        if primal(f_new) < primal(fx):
            x, fx = x_new, f_new
            gx = g(x)
            i += 1
        else:
            eta /= 2
            i = 0


def argmax(
    f: Callable[[list], Any],
    g: Callable[[list], list],
    start: Sequence[Any],
    primal: Callable[[Any], float] = float,
) -> list:
    """``multivariate_argmax``: the argmin of -f (gradient negated)."""
    return argmin(lambda x: -f(x), lambda x: [-v for v in g(x)], start, primal)


def maximum(
    f: Callable[[list], Any],
    g: Callable[[list], list],
    start: Sequence[Any],
    primal: Callable[[Any], float] = float,
) -> Any:
    """``multivariate_max``: f at the argmax."""
    return f(argmax(f, g, start, primal))


def _top(kit: Any, f: Callable[[list], Any], g: Callable[[list], list]) -> tuple:
    """The outermost objective and gradient on plain floats."""
    return (lambda x: kit.primal(f(x))), (lambda x: [kit.primal(v) for v in g(x)])


# ---------------------------------------------------------------------------
# particle


def potential(kit: Any) -> Callable[..., Any]:
    """p(x; charges) = Σ 1/‖x − charge‖, charges given as flat coordinates."""

    def p(x: list, c0x: Any, c0y: Any, c1x: Any, c1y: Any) -> Any:
        total = 0.0
        for cx, cy in ((c0x, c0y), (c1x, c1y)):
            dx = x[0] - cx
            dy = x[1] - cy
            total = total + 1.0 / kit.sqrt(dx * dx + dy * dy)
        return total

    return p


def naive_euler(kit: Any, grad_p: Callable[..., list], w: Any, steps: int | None = None) -> Any:
    """x_f.x² where the particle crosses y = 0 (charges at (10, 10 − w), (10, 0);
    x = (0, 8), ẋ = (0.75, 0), Δt = 0.1; linear interpolation of the last step).

    ``steps`` (not GradBench's: for cheap cross-engine checks) stops the Euler
    loop after that many steps and extrapolates from there the same way."""
    charges = (10.0, 10.0 - w, 10.0, 0.0)
    dt = 0.1
    x: list = [0.0, 8.0]
    v: list = [0.75, 0.0]
    for k in range(MAX_EULER_STEPS):
        if steps is not None and k == steps:
            break
        x_new = [x[0] + dt * v[0], x[1] + dt * v[1]]
        if kit.primal(x_new[1]) <= 0.0:
            break
        gp = grad_p(x, *charges)  # ẍ = −∇ₓp(x), at the current x
        v = [v[0] + dt * -gp[0], v[1] + dt * -gp[1]]
        x = x_new
    else:  # pragma: no cover
        raise RuntimeError(f"the particle did not reach y = 0 in {MAX_EULER_STEPS} steps")
    dt_f = -x[1] / v[1]
    x_f = x[0] + dt_f * v[0]
    return x_f * x_f


def particle_functions(
    kit: Any, variant: str, steps: int | None = None
) -> tuple[Callable, Callable]:
    """The argmin's objective and gradient (kit numbers in, kit numbers out);
    ``steps``: a truncated trajectory (see :func:`naive_euler`)."""
    outer, inner = variant
    grad_p = kit.grad(potential(kit), inner, traceable=True)

    def objective(w: list) -> Any:
        return naive_euler(kit, grad_p, w[0], steps)

    return objective, kit.grad(objective, outer)


def particle(kit: Any, variant: str, w0: float) -> float:
    f, g = _top(kit, *particle_functions(kit, variant))
    return float(argmin(f, g, [float(w0)])[0])


# ---------------------------------------------------------------------------
# saddle


def saddle_cost(p2: list, p1x: Any, p1y: Any) -> Any:
    """f(p1, p2) = ‖p1‖² − ‖p2‖², as a function of p2 (p1 constant)."""
    return (p1x * p1x + p1y * p1y) - (p2[0] * p2[0] + p2[1] * p2[1])


def saddle_functions(kit: Any, variant: str, start: Sequence[float]) -> tuple[Callable, Callable]:
    """The outer objective p1 ↦ max_p2 f(p1, p2) (an inner gradient ascent from
    ``start`` with the inner mode) and its gradient by the outer mode."""
    outer, inner = variant
    grad_cost = kit.grad(saddle_cost, inner, traceable=True)
    start = [float(s) for s in start]

    def objective(p1: list) -> Any:
        return maximum(
            lambda p2: saddle_cost(p2, *p1),
            lambda p2: grad_cost(p2, *p1),
            start,
            kit.primal,
        )

    return objective, kit.grad(objective, outer)


def saddle(kit: Any, variant: str, start: Sequence[float]) -> list[float]:
    """[p1, p2]: p1 = argmin of max f(p1, ·); then p2 = argmax f(p1, ·), its
    gradient by the outer mode (GradBench: step 2 uses step 1's mode)."""
    start = [float(s) for s in start]
    f, g = _top(kit, *saddle_functions(kit, variant, start))
    p1 = argmin(f, g, start)
    grad2 = kit.grad(saddle_cost, variant[0], traceable=True)
    f2, g2 = _top(kit, lambda p2: saddle_cost(p2, *p1), lambda p2: grad2(p2, *p1))
    p2 = argmax(f2, g2, start)
    return [float(v) for v in p1] + [float(v) for v in p2]


# ---------------------------------------------------------------------------
# the interface for the GradBench tool and the harness


def _check(eval_name: str, function: str) -> None:
    if eval_name not in EVALS:
        raise ValueError(f"nested evals are {', '.join(EVALS)}; not {eval_name!r}")
    if function not in VARIANTS:
        raise ValueError(f"{eval_name} functions are {', '.join(VARIANTS)}; not {function!r}")


def supports(backend_name: str, eval_name: str, function: str) -> str | None:
    """None when ``backend_name`` runs ``eval_name``'s ``function``, else why not."""
    from toyad.workloads import nested_kits

    _check(eval_name, function)
    return nested_kits.reason(backend_name, eval_name, function)


def prepare(backend_name: str, eval_name: str, function: str, input: dict) -> Callable[[], Any]:
    """A zero-argument callable running the whole computation, returning the
    output JSON value (float w for particle, 4 floats for saddle). Extra input
    keys (``min_runs``, ``min_seconds``) are ignored. Raises
    ``NotImplementedError`` with the reason for an unsupported combination."""
    from toyad.workloads import nested_kits

    _check(eval_name, function)
    why = nested_kits.reason(backend_name, eval_name, function)
    if why is not None:
        raise NotImplementedError(f"{backend_name} {eval_name} {function}: {why}")
    if backend_name == "jax-jit":  # (its loops compiled: toyad.workloads.nested_jax)
        from toyad.workloads import nested_jax

        if eval_name == "particle":
            return nested_jax.prepare_particle(function, float(input["w"]))
        return nested_jax.prepare_saddle(function, _saddle_start(input))
    kit = nested_kits.get(backend_name)
    if eval_name == "particle":
        w0 = float(input["w"])
        return lambda: particle(kit, function, w0)
    start = _saddle_start(input)
    return lambda: saddle(kit, function, start)


def _saddle_start(input: dict) -> list[float]:
    start = [float(s) for s in input["start"]]
    if len(start) != 2:
        raise ValueError(f"saddle start must have 2 numbers, got {len(start)}")
    return start


def cases(backends: Sequence[str] | None = None) -> Iterator[tuple[str, str, str, dict, Any]]:
    """(backend, eval, variant, input, expected) for every supported combination
    of the given (default: every nested kit's) backends whose libraries are
    installed. Check an output with :func:`mismatch` (GradBench: 1e-4 absolute)."""
    from toyad.workloads import nested_kits

    for backend in nested_kits.NAMES if backends is None else backends:
        for eval_name in EVALS:
            for variant in VARIANTS:
                if supports(backend, eval_name, variant) is None:
                    yield backend, eval_name, variant, dict(INPUTS[eval_name]), EXPECTED[eval_name]


def mismatch(eval_name: str, output: Any, tolerance: float = TOLERANCE) -> list[str]:
    """How ``output`` fails GradBench's check (absolute ``tolerance`` per number;
    for these magnitudes the same as its relative-to-max(…, 1) rule)."""
    expected = EXPECTED[eval_name]
    if eval_name == "particle":
        if not isinstance(output, float) or not abs(output - expected) <= tolerance:
            return [f"w: {expected!r} != {output!r}"]
        return []
    if not isinstance(output, list) or len(output) != 4:
        return [f"expected 4 numbers, got {output!r}"]
    return [
        f"[{i}]: {e!r} != {a!r}"
        for i, (e, a) in enumerate(zip(expected, output, strict=True))
        if not (isinstance(a, float) and abs(a - e) <= tolerance)
    ]


# ---------------------------------------------------------------------------
# the Workload records (WORKLOADS["particle"], WORKLOADS["saddle"])


def _input(name: str) -> Callable[..., dict]:
    return lambda **params: dict(INPUTS[name])


def _no_instance(name: str) -> Callable[..., Any]:
    def from_gradbench(inp: dict, function: str | None = None, seed: int = 0) -> Any:
        raise TypeError(
            f"{name} is a nested-AD eval, not an f(xp, x) problem: "
            "run it with toyad.workloads.nested.prepare"
        )

    return from_gradbench


def _to_gradbench(name: str) -> Callable[..., Any]:
    def to_gradbench(function: str, result: Any, inst: Any = None) -> Any:
        _check(name, function)
        if name == "particle":
            return float(result)
        return [float(v) for v in result]

    return to_gradbench


def _workload(name: str, notes: str) -> Workload:
    return Workload(
        name=name,
        functions={v: (name, v) for v in VARIANTS},  # (eval, variant): run with nested.prepare
        presets=(Preset("w=0", {}, {}, quick=True),),
        label="w=0",
        gradbench_input=_input(name),
        from_gradbench=_no_instance(name),
        to_gradbench=_to_gradbench(name),
        notes=notes,
        nested=True,
    )


PARTICLE = _workload(
    "particle",
    "nested AD: argmin over w (outer mode) of an Euler trajectory using ∇ₓp (inner mode)",
)
SADDLE = _workload(
    "saddle",
    "nested AD: argmin over p1 (outer mode) of an inner gradient ascent over p2 (inner mode)",
)
WORKLOADS = (PARTICLE, SADDLE)
