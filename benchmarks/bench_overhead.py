"""Overhead: derivative time over primal time in the same backend.

The cheap-gradient principle says a reverse-mode gradient costs a small
constant number of primal evaluations whatever n is, while forward mode (and
finite differences) costs ~n. At the profile's ``overhead_n`` each backend
times its primal, then its gradient (every mode), jvp and vjp on the same
input; ``ratio_to_primal`` = median derivative time / median primal time
(the primal measured earlier in the same run, in the same backend).
"""

from __future__ import annotations

import pytest

from benchmarks import harness
from toyad.bench import suites

# A first call over the hard limit is a case's only sample (see harness.run_case).
pytestmark = pytest.mark.filterwarnings("ignore:Benchmark fixture was not used")

OPERATIONS = suites.OVERHEAD_OPERATIONS
overhead_specs = suites.overhead_specs


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "overhead_spec" in metafunc.fixturenames:
        specs = overhead_specs(harness.harness_of(metafunc.config))
        metafunc.parametrize("overhead_spec", specs, ids=[s.id for s in specs])


def test_overhead(benchmark, toyad_harness, overhead_spec):
    toyad_harness.run_case(benchmark, overhead_spec)
