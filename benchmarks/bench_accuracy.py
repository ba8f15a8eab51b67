"""Accuracy: every backend x problem x operation (x mode), against the analytic answer.

At each problem's default sizes (the quick profile shrinks the slowest two,
``Profile.accuracy_n``), each operation a problem admits (gradient
and Hessian need a scalar f) in every mode the backend offers (plus the
forward/reverse it lacks, recorded unsupported) is checked with the max
relative error ``||a - b||_inf / max(||b||_inf, tiny)`` against the problem's
hand-written derivative, and timed briefly (``ratio_to_primal`` against the
primal timed first).

The step sweep (suite ``step-sweep``) calls ``toyad.numeric`` directly with
``step=`` over the profile's steps: the error of a difference quotient falls
with the step (truncation, ~h or ~h²) until rounding (~eps/h) takes over,
the classic V; the complex step has no subtraction and stays flat.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import harness
from toyad.bench import suites

# A first call over the hard limit is a case's only sample (see harness.run_case).
pytestmark = pytest.mark.filterwarnings("ignore:Benchmark fixture was not used")

OPERATIONS = suites.ACCURACY_OPERATIONS
# Step-sweep problems, best first: transcendental or quartic, so every
# difference method has a truncation error to show (x²y has no third derivative).
STEP_SWEEP_PREFERRED = ("sin_square", "rosenbrock", "elementwise_chain", "fan_in")

FRAMEWORK_FAMILIES = suites.FRAMEWORK_FAMILIES
accuracy_specs = suites.accuracy_specs


def step_sweep_params(h: harness.Harness) -> list[tuple[str, str]]:
    from toyad import numeric

    methods = [m for m in numeric.METHODS if f"numeric-{m}" in h.backend_names]
    scalar = [p.name for p in h.problems() if p.scalar]
    ranked = sorted(
        scalar,
        key=lambda name: (
            STEP_SWEEP_PREFERRED.index(name) if name in STEP_SWEEP_PREFERRED else len(scalar)
        ),
    )
    chosen = ranked[: h.profile.step_problems]
    return [(method, problem) for method in methods for problem in chosen]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    h = harness.harness_of(metafunc.config)
    if "accuracy_spec" in metafunc.fixturenames:
        specs = accuracy_specs(h)
        metafunc.parametrize("accuracy_spec", specs, ids=[s.id for s in specs])
    if "sweep" in metafunc.fixturenames:
        params = step_sweep_params(h)
        metafunc.parametrize("sweep", params, ids=[f"{m}-{p}" for m, p in params])


def test_accuracy(benchmark, toyad_harness, accuracy_spec):
    toyad_harness.run_case(benchmark, accuracy_spec)  # (left_for_later is checked there)


def curve_problem(
    method: str, steps: list[float], errors: list[float], truncation_arm: bool = True
) -> str:
    """Why an error-vs-step curve does not have the expected shape ("" if it does).

    Real differences: the best step meets the method's tolerance and the
    smallest step is far worse (rounding ~eps/h: the right arm of the V);
    forward and central also lose at the largest step (truncation: the left
    arm; checked where ``truncation_arm``: a polynomial such as x²y has no
    third derivative, so central differences are exact up to rounding there).
    The complex step: no rounding arm, its smallest step as good as
    its best.
    """
    from toyad import numeric

    err = np.asarray(errors, dtype=np.float64)
    finite = np.where(np.isfinite(err), err, np.inf)
    best = float(np.min(finite))
    tol = numeric.TOLERANCE[method]
    smallest, largest = finite[int(np.argmin(steps))], finite[int(np.argmax(steps))]
    if best > tol:
        return f"best error {best:.3g} over the {method} tolerance {tol:g}"
    if method == "complex":
        if smallest > 10 * best + 1e-15:
            return f"complex step lost accuracy at tiny steps ({smallest:.3g} vs best {best:.3g})"
        return ""
    if smallest < 100 * best:
        return f"no rounding arm: error at the smallest step {smallest:.3g}, best {best:.3g}"
    if truncation_arm and method in ("forward", "central") and largest < 100 * best:
        return f"no truncation arm: error at the largest step {largest:.3g}, best {best:.3g}"
    return ""


def test_step_sweep(benchmark, toyad_harness, sweep):
    from toyad import numeric

    method, problem = sweep
    h = toyad_harness
    inst = h.instance(problem, None, None)
    steps = list(h.profile.steps)
    truth = inst.gradient()

    def f(x):  # the problem through numpy (complex input for the complex step)
        return inst.f(np, x)

    def error_curve() -> list[float]:
        with np.errstate(all="ignore"):
            return [
                harness.max_rel_error(numeric.gradient(f, inst.x, method=method, step=s), truth)
                for s in steps
            ]

    benchmark.group = f"step-sweep: {problem} gradient"
    errors = benchmark.pedantic(error_curve, rounds=1, iterations=1)
    entry = h.entry(f"numeric-{method}")
    b = entry.backend
    mode = b.default_mode("gradient") if b and b.supports("gradient") else "forward"
    shape = curve_problem(method, steps, errors, problem in STEP_SWEEP_PREFERRED)
    for step, error in zip(steps, errors, strict=True):
        record = harness.blank_record(
            suite="step-sweep",
            backend=f"numeric-{method}",
            family=b.family if b else "toy",
            variant=b.variant if b else "",
            problem=problem,
            operation="gradient",
            mode=mode,
            n=inst.n,
            m=inst.m,
            max_rel_error=error,
            step=step,
            passes=b.passes("gradient", mode, inst.n, inst.m) if b else None,
            status="wrong" if shape else "ok",
            message=shape,
            nodeid=benchmark.fullname,
        )
        h.add_record(record)
    benchmark.extra_info.update(steps=steps, errors=errors)
    assert not shape, f"numeric-{method} on {problem}: {shape}"
