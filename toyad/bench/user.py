"""A user's function as suites: what the plugin collects for a ``toyad.problem``.

In a test module (``pytest bench_mine.py --benchmark-only``), each module
attribute that is a :class:`toyad.userproblems.UserProblem` is collected as a
class node named after the problem, whose test methods are the suites that fit
the function, each parametrized (:func:`pytest_generate_tests`) with the same
:class:`CaseSpec` builders the repository's suites use (``toyad.bench.suites``),
over that one problem and its declared sizes:

    bench_mine.py::my_loss::test_accuracy[jax-jit-my_loss-gradient-reverse]
    bench_mine.py::my_loss::test_gradient_vs_n[tensor-my_loss-gradient-forward-n64-m1]
    bench_mine.py::my_loss::test_hessian_vs_n[...]       (scalar f)
    bench_mine.py::my_loss::test_overhead[...]           (scalar f)
    bench_mine.py::layer::test_jacobian_grid[...]        (vector-valued f: n x m sizes)

``--problems`` selects among them too (a problem it does not match is not
collected); ``--backends``, ``--profile``, ``--report-dir`` ... apply as usual.
"""

from __future__ import annotations

from typing import Any

import pytest

from toyad.bench import suites
from toyad.bench.harness import CaseSpec, Harness, harness_of
from toyad.userproblems import UserProblem

SEEN = pytest.StashKey[set]()

_FILTER = pytest.mark.filterwarnings("ignore:Benchmark fixture was not used")


def _method(name: str, doc: str) -> Any:
    def test(self: Any, benchmark: Any, toyad_harness: Harness, toyad_case: CaseSpec) -> None:
        toyad_harness.run_case(benchmark, toyad_case)

    test.__name__ = test.__qualname__ = name
    test.__doc__ = doc
    return test


SCALAR_SUITES = {
    "test_accuracy": "every operation and mode at the smallest size, against the reference",
    "test_gradient_vs_n": "gradient cost as n grows, forward against reverse",
    "test_hessian_vs_n": "every Hessian mode as n grows",
    "test_overhead": "primal, gradient, jvp and vjp at one n: derivative over primal",
}
VECTOR_SUITES = {
    "test_accuracy": SCALAR_SUITES["test_accuracy"],
    "test_jacobian_grid": "full Jacobians over the n x m sizes, forward against reverse",
}


class UserSuite:
    """Base of the class the plugin makes for one user problem (``toyad_problem``)."""

    toyad_problem: UserProblem
    pytestmark = [_FILTER]


class UserSuiteCollector(pytest.Class):
    """The class node of one user problem: its object is the synthetic suite class."""

    toyad_problem: UserProblem

    def _getobj(self) -> type:
        return suite_class(self.toyad_problem)


def suite_class(problem: UserProblem) -> type:
    """A test class over ``problem``: the suites that fit it (scalar or vector-valued)."""
    chosen = SCALAR_SUITES if problem.catalog_problem().scalar else VECTOR_SUITES
    namespace: dict[str, Any] = {name: _method(name, doc) for name, doc in chosen.items()}
    namespace.update(toyad_problem=problem, __doc__=problem.description)
    return type(f"Toyad_{problem.name}", (UserSuite,), namespace)


def _sizes(problem: UserProblem) -> list[int | None]:
    return list(problem.n_sizes) if "n" in problem.scales else [None]


def user_specs(h: Harness, problem: UserProblem, suite: str) -> list[CaseSpec]:
    """The cases of one suite (a test method's name) for a user problem."""
    cat = problem.catalog_problem()
    sizes = _sizes(problem)
    if suite == "test_accuracy":
        return suites.accuracy_specs(h, [cat])
    if suite == "test_gradient_vs_n":
        return suites.gradient_specs(h, [cat], sizes)
    if suite == "test_hessian_vs_n":
        return suites.hessian_specs(h, [cat], sizes)
    if suite == "test_overhead":
        known = [n for n in sizes if n is not None]
        n = min(known, key=lambda s: abs(s - h.profile.overhead_n)) if known else cat.default_n
        return suites.overhead_specs(h, [cat], n)
    if suite == "test_jacobian_grid":
        ms = list(problem.m_sizes) or [None]
        grid = [(n, m) for n in sizes for m in ms]
        return suites.jacobian_specs(h, cat.name, grid)
    raise ValueError(f"unknown suite {suite!r}")


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    """A ``toyad.problem`` in a test module: a class node of the suites that fit it."""
    if not isinstance(obj, UserProblem):
        return None
    if not isinstance(collector, pytest.Module):
        return []
    seen = collector.stash.setdefault(SEEN, set())
    if id(obj) in seen:  # the same problem under two names (e.g. `_` after a decorator)
        return []
    seen.add(id(obj))
    if not harness_of(collector.config).selects_problem(obj.name):
        return []
    node = UserSuiteCollector.from_parent(collector, name=obj.name)
    node.toyad_problem = obj
    return node


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    cls = metafunc.cls
    if cls is None or not issubclass(cls, UserSuite) or "toyad_case" not in metafunc.fixturenames:
        return
    h = harness_of(metafunc.config)
    specs = user_specs(h, cls.toyad_problem, metafunc.function.__name__)
    metafunc.parametrize("toyad_case", specs, ids=[s.id for s in specs])
