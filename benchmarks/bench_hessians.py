"""Hessians: each backend's Hessian methods on the scalar problems as n grows.

Every Hessian mode a backend offers (forward-over-reverse, reverse-over-
reverse, ... as its ``capabilities`` label them) is checked against the
analytic Hessian and timed; ``passes`` is what the backend reports (n for a
column-by-column Hessian). Sizes a problem does not accept (the determinant
takes n = k² only) are left out; sizes past the time cap are skipped-too-slow.
"""

from __future__ import annotations

import pytest

from benchmarks import harness
from toyad.bench import suites

# A first call over the hard limit is a case's only sample (see harness.run_case).
pytestmark = pytest.mark.filterwarnings("ignore:Benchmark fixture was not used")


hessian_specs = suites.hessian_specs


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "hessian_spec" in metafunc.fixturenames:
        specs = hessian_specs(harness.harness_of(metafunc.config))
        metafunc.parametrize("hessian_spec", specs, ids=[s.id for s in specs])


def test_hessian_vs_n(benchmark, toyad_harness, hessian_spec):
    toyad_harness.run_case(benchmark, hessian_spec)
