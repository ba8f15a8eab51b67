"""Scaling: cost as inputs and outputs grow, forward against reverse.

- Full Jacobians of ``dense_tanh`` (tanh(W x + b), R^n -> R^m) over the
  profile's (n, m) grid, in every mode each backend offers: forward mode
  costs ~n primal passes, reverse ~m, so forward should lose at n >> m
  (m = 1: the gradient) and win at m >> n (n = 1).
- Gradients of scalar problems as n grows (m = 1), forward against reverse.

Each record carries ``passes`` (the backend's primal-equivalent passes) and
``ratio_to_primal`` (the measured cost in primal evaluations). Sizes beyond
the profile's time cap are skipped-too-slow (the scalar toys meet it first).
"""

from __future__ import annotations

import pytest

from benchmarks import harness
from toyad.bench.profiles import jacobian_cells

# A first call over the hard limit is a case's only sample (see harness.run_case).
pytestmark = pytest.mark.filterwarnings("ignore:Benchmark fixture was not used")

JACOBIAN_PROBLEM = "dense_tanh"


def jacobian_specs(h: harness.Harness) -> list[harness.CaseSpec]:
    if JACOBIAN_PROBLEM not in h.problem_names:
        return []
    specs = []
    for entry in h.entries():
        modes = entry.modes("jacobian", both=True)
        for n, m in jacobian_cells(h.profile):  # sorted: a size comes after the ones it dominates
            for mode in modes:
                specs.append(
                    harness.CaseSpec(
                        "scaling",
                        entry.name,
                        JACOBIAN_PROBLEM,
                        "jacobian",
                        mode,
                        n,
                        m,
                        with_primal=True,
                    )
                )
    return specs


def gradient_specs(h: harness.Harness) -> list[harness.CaseSpec]:
    sizes = h.profile.gradient_sizes
    specs = []
    for problem in h.scalable_scalar_problems(sizes, h.profile.gradient_problems):
        for entry in h.entries():
            modes = entry.modes("gradient", both=True)
            for n in sizes:
                if not h.allows(problem.name, n):
                    continue
                for mode in modes:
                    specs.append(
                        harness.CaseSpec(
                            "scaling",
                            entry.name,
                            problem.name,
                            "gradient",
                            mode,
                            n,
                            1,
                            with_primal=True,
                        )
                    )
    return specs


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    h = harness.harness_of(metafunc.config)
    for argname, make in (("jacobian_spec", jacobian_specs), ("gradient_spec", gradient_specs)):
        if argname in metafunc.fixturenames:
            specs = make(h)
            metafunc.parametrize(argname, specs, ids=[s.id for s in specs])


def test_jacobian_grid(benchmark, toyad_harness, jacobian_spec):
    toyad_harness.run_case(benchmark, jacobian_spec)


def test_gradient_vs_n(benchmark, toyad_harness, gradient_spec):
    toyad_harness.run_case(benchmark, gradient_spec)
