"""``toyad.compare``: one call, in a notebook or a script, no pytest run.

    df = toyad.compare(my_loss, x, operations=["gradient", "hessian"], backends=None)
    toyad.report.write(df, "out/")          # results.csv + index.html for it

The same measuring code as the pytest suites (``Harness.run_case``: untimed
prepare, warm-up until calls settle, timed rounds with gc off, the check
against the reference, statuses), outside pytest: nothing is skipped or
failed, every row is kept. A function a backend cannot run gives that row
``unsupported`` or ``error`` with the backend's own message.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from toyad import backends as backend_registry
from toyad.bench.harness import CaseSpec, Harness
from toyad.bench.profiles import DEFAULT_PROFILE, PROFILES
from toyad.bench.selection import select_names
from toyad.userproblems import UserProblem

DEFAULT_OPERATIONS = ("primal", "gradient", "jacobian", "hessian", "jvp", "vjp")


class _Benchmark:
    """What ``Harness.run_case`` asks of pytest-benchmark's fixture, timed here."""

    def __init__(self, fullname: str):
        self.fullname = fullname
        self.group = ""
        self.extra_info: dict[str, Any] = {}
        self.stats = SimpleNamespace(stats=None)

    def pedantic(
        self, call: Callable[[], Any], rounds: int = 1, iterations: int = 1, warmup_rounds: int = 0
    ) -> Any:
        samples, result = [], None
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(iterations):
                result = call()
            samples.append((time.perf_counter() - start) / iterations)
        q1, q3 = np.percentile(samples, [25, 75])
        self.stats.stats = SimpleNamespace(
            median=float(np.median(samples)),
            min=float(np.min(samples)),
            mean=float(np.mean(samples)),
            iqr=float(q3 - q1),
            stddev=float(np.std(samples, ddof=1)) if len(samples) > 1 else 0.0,
            rounds=len(samples),
            data=samples,
        )
        return result


def _as_problem(f: Any, x: Any) -> UserProblem:
    if isinstance(f, UserProblem):
        if x is None:
            return f
        return UserProblem(
            f.fn,
            x=x,
            name=f.name,
            m=None,
            consts=f.consts_fn,
            gradient=f._gradient,
            jacobian=f._jacobian,
            hessian=f._hessian,
            description=f.description,
        )
    if x is None:
        raise ValueError("toyad.compare(f, x): give x, or declare f with toyad.problem(n=...)")
    from toyad.problems import PROBLEMS

    name = getattr(f, "__name__", "") or "user_function"
    return UserProblem(f, x=x, name=f"{name}_user" if name in PROBLEMS else name)


def compare(
    f: Callable[..., Any] | UserProblem,
    x: Any = None,
    operations: Sequence[str] = DEFAULT_OPERATIONS,
    backends: Sequence[str] | str | None = None,
    modes: Sequence[str] | None = None,
    repeat: int | None = None,
    profile: str = DEFAULT_PROFILE,
) -> Any:
    """Measure ``f(xp, x)`` at ``x`` on each backend x operation x mode: a DataFrame.

    ``f``: a function of the namespace contract, or a ``toyad.problem`` (its
    hand-written references are used; ``x=None``: its smallest declared size).
    ``operations``: any of primal, gradient, jacobian, hessian, jvp, vjp
    (gradient and hessian need a scalar f; on a vector-valued one they are
    left out). ``backends``: names or globs (default: every installed one).
    ``modes``: keep only these modes (default: every mode each backend has;
    a backend without the operation gives one ``unsupported`` row).
    ``repeat``: timed rounds per case (default: the profile's policy).

    Returns a pandas DataFrame with the ``results.csv`` columns
    (``toyad.results.CASE_COLUMNS``; ``reference`` says what each row was checked
    against), one row per backend x operation x mode; ``df.attrs["toyad"]``
    holds the run's environment and findings for ``toyad.report.write``.
    """
    from toyad import userproblems
    from toyad.bench.environment import environment
    from toyad.report.load import cases_frame

    problem = _as_problem(f, x)
    cat = problem.catalog_problem()
    unknown = set(operations) - set(DEFAULT_OPERATIONS)
    if unknown:
        raise ValueError(
            f"unknown operation(s) {sorted(unknown)}; operations: {', '.join(DEFAULT_OPERATIONS)}"
        )
    if isinstance(backends, str):
        backends = [backends]
    if backends is None:
        names = backend_registry.available()
    else:
        names = select_names(",".join(backends), backend_registry.names(), "backend")
    chosen = PROFILES[profile]
    if repeat is not None:
        chosen = dataclasses.replace(chosen, min_rounds=int(repeat), max_rounds=int(repeat))
    h = Harness(
        profile=chosen,
        backend_names=names,
        problem_names=[problem.name],
        timing=True,
        outcomes=False,
        problem_patterns=problem.name,
    )
    findings_before = len(userproblems.FINDINGS)
    n = None if "n" not in cat.scales else problem.n_sizes[0]
    m = None if "m" not in cat.scales else problem.m_sizes[0]
    ops = [op for op in operations if cat.scalar or op not in ("gradient", "hessian")]
    before = userproblems.REGISTRY.get(problem.name)
    try:
        userproblems.REGISTRY[problem.name] = cat
        for entry in h.entries():
            for op in ops:
                for mode in entry.modes(op):
                    if modes is not None and mode and mode not in modes:
                        continue
                    spec = CaseSpec("compare", entry.name, problem.name, op, mode, n, m, True)
                    h.run_case(_Benchmark(f"compare::{spec.id}"), spec)
    finally:
        if before is not None:
            userproblems.REGISTRY[problem.name] = before
    frame = cases_frame(h.records)
    frame.attrs["toyad"] = {
        "profile": chosen.name,
        "started": h.started.isoformat(),
        "duration_s": time.perf_counter() - h.start_clock,
        "environment": environment(h, Path.cwd()),
        "findings": list(userproblems.FINDINGS[findings_before:]),
    }
    return frame
