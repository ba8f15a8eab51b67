"""Standard workloads: GradBench's evals (github.com/gradbench/gradbench) at its sizes.

gmm, lstm, ba, det, kmeans, llsq, lse, ode and hello from ``toyad.workloads``,
on GradBench's own inputs (same generators, same seed; see README for the
workloads whose data cannot be shipped), every backend: the derivative
GradBench asks for, checked against the hand-written one, timed, and divided
by the objective's time in the same backend (ADBench's signature ratio).
The quick profile runs each workload's smallest size in each backend's
default mode; the full profile every size the time cap allows, both modes,
and the objective. Scalar toys stop at the time cap (predicted from their
primal before they start).
"""

from __future__ import annotations

import pytest

from benchmarks import harness
from toyad.bench import suites

# A first call over the hard limit is a case's only sample (see harness.run_case).
pytestmark = pytest.mark.filterwarnings("ignore:Benchmark fixture was not used")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "workload_spec" in metafunc.fixturenames:
        specs = suites.workload_specs(harness.harness_of(metafunc.config))
        metafunc.parametrize("workload_spec", specs, ids=[s.id for s in specs])


def test_workload(benchmark, toyad_harness, workload_spec):
    toyad_harness.run_case(benchmark, workload_spec)
