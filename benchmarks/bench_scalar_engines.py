"""Per-operation cost of the scalar engines on a long chain (suite "per-op").

The chain is ``z <- z*0.9 + x*y*0.01`` repeated K times from z = x: four
elementary operations a step, so ``ops = 4K``. Each engine is timed on

- ``primal``: build the graph / run the numbers (the engine's own primal),
- ``evaluate``: re-evaluate an existing graph (reverse and symbolic graphs),
- ``gradient``: value and full gradient (dz/dx, dz/dy) from scratch,

with the garbage collector off and on (``gc`` column): the toys and
micrograd allocate an object per operation, so the collector's share is part
of the honest cost, and reported separately. Before a gc-on case the heap
alive so far is frozen (``gc.freeze``), so the collector chases the engine's
own objects only, not what earlier suites left behind (which made micrograd
8x slower in a full run than alone). The report divides median_s by
ops to give µs per elementary operation. micrograd runs beside them when it
is installed. Every gradient is checked against the chain's closed form:

    z_K = 0.9^K x + 0.1 x y (1 - 0.9^K)
    dz/dx = 0.9^K + 0.1 y (1 - 0.9^K),  dz/dy = 0.1 x (1 - 0.9^K)
"""

from __future__ import annotations

import gc
import importlib.util
import math
import sys
from collections.abc import Callable

import numpy as np
import pytest

from benchmarks import harness
from toyad import dual, reverse, symbolic
from toyad.bench.turns import turns

X0, Y0 = 0.5, 0.3
STEPS = {"quick": 2000, "full": 10_000}  # "thousands of steps"
ENGINES = ("reverse", "reverse-recursive", "dual", "symbolic", "micrograd")
OPERATIONS = ("primal", "evaluate", "gradient")
BUDGET_S = {"quick": 0.3, "full": 1.5}  # timed seconds per case: dozens of rounds, not 3


def expected(k: int) -> tuple[float, np.ndarray]:
    decay = 0.9**k
    value = decay * X0 + 0.1 * X0 * Y0 * (1 - decay)
    return value, np.array([decay + 0.1 * Y0 * (1 - decay), 0.1 * X0 * (1 - decay)])


def chain(x, y, k):
    z = x
    for _ in range(k):
        z = z * 0.9 + x * y * 0.01
    return z


# -- each engine: operation -> (prepared callable returning (value, gradient|None)) ----


def reverse_calls(k: int, recursive: bool) -> dict[str, Callable]:
    def build():
        x, y = reverse.Var("x", X0), reverse.Var("y", Y0)
        return x, y, chain(x, y, k)

    def gradient():
        x, y, z = build()
        if recursive:
            x.gradient = y.gradient = 0.0
            z.backpropagate(1.0)
        else:
            z.backward()
        return z.value, np.array([x.gradient, y.gradient])

    _, _, graph = build()
    return {
        "primal": lambda: (build()[2].value, None),
        "evaluate": lambda: (graph.evaluate(), None),
        "gradient": gradient,
    }


def dual_calls(k: int) -> dict[str, Callable]:
    def run(dx: float, dy: float):
        return chain(dual.DualNumber(X0, dx), dual.DualNumber(Y0, dy), k)

    def gradient():  # forward mode: one pass per input
        zx, zy = run(1.0, 0.0), run(0.0, 1.0)
        return zx.value, np.array([zx.eps, zy.eps])

    return {"primal": lambda: (run(0.0, 0.0).value, None), "gradient": gradient}


def symbolic_calls(k: int) -> dict[str, Callable]:
    def build():
        x, y = symbolic.Var("x", X0), symbolic.Var("y", Y0)
        return x, y, chain(x, y, k)

    def gradient():  # forward mode: one sweep per input, then one evaluation
        x, y, z = build()
        value, dx, dy = symbolic.evaluate_all([z, *symbolic.derivatives([z], x), z.gradient(y)])
        return value, np.array([dx, dy])

    _, _, graph = build()
    return {
        "primal": lambda: (build()[2].evaluate(), None),
        "evaluate": lambda: (graph.evaluate(), None),
        "gradient": gradient,
    }


def micrograd_calls(k: int) -> dict[str, Callable]:
    from micrograd.engine import Value

    def gradient():
        x, y = Value(X0), Value(Y0)
        z = chain(x, y, k)
        z.backward()  # recursive topological sort: needs a raised recursion limit
        return z.data, np.array([x.grad, y.grad])

    return {"primal": lambda: (chain(Value(X0), Value(Y0), k).data, None), "gradient": gradient}


def calls_for(engine: str, k: int) -> dict[str, Callable]:
    if engine in ("reverse", "reverse-recursive"):
        return reverse_calls(k, recursive=engine == "reverse-recursive")
    if engine == "dual":
        return dual_calls(k)
    if engine == "symbolic":
        return symbolic_calls(k)
    return micrograd_calls(k)


# -- the cases ------------------------------------------------------------------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "per_op_case" in metafunc.fixturenames:
        h = harness.harness_of(metafunc.config)
        cases = [
            (engine, op, gc_state)
            for engine in ENGINES
            if engine in h.backend_names
            for op in OPERATIONS
            for gc_state in ("off", "on")
        ]
        metafunc.parametrize("per_op_case", cases, ids=["-".join(c) for c in cases])


def test_per_op(benchmark, toyad_harness, per_op_case):
    engine, operation, gc_state = per_op_case
    h = toyad_harness
    k = STEPS[h.profile.name]
    spec = harness.CaseSpec("per-op", engine, "scalar_chain", operation, "", 2, 1)
    benchmark.group = f"per-op scalar_chain {operation} gc-{gc_state}"
    record = h.new_record(spec, benchmark)
    record.update(family="peer" if engine == "micrograd" else "toy", ops=4 * k, gc=gc_state)
    if engine == "micrograd" and importlib.util.find_spec("micrograd") is None:
        h.conclude(
            record, benchmark, "unsupported", "micrograd is not installed (pip install micrograd)"
        )
        return
    calls = calls_for(engine, k)
    if operation not in calls:
        h.conclude(record, benchmark, "unsupported", f"{engine} has no separate {operation} step")
        return
    call = calls[operation]
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, 10 * k + 1000))  # the recursive passes
    try:
        (value, grad), first_s = h.first_call(benchmark, call)
        want_value, want_grad = expected(k)
        error = abs(value - want_value) / abs(want_value)
        if grad is not None:
            error = max(error, harness.max_rel_error(grad, want_grad))
        record.update(max_rel_error=error, tolerance=harness.EXACT_TOLERANCE)
        record["passes"] = 2 if (operation == "gradient" and engine in ("dual", "symbolic")) else 1
        if error > harness.EXACT_TOLERANCE:
            h.conclude(record, benchmark, "wrong", f"max relative error {error:.3g}")
            return
        if h.timing:
            record.update(_timed(h, benchmark, call, first_s, gc_state))
    finally:
        sys.setrecursionlimit(old_limit)
    h.conclude(record, benchmark, "ok")


def _timed(h: harness.Harness, benchmark, call: Callable, first_s: float, gc_state: str) -> dict:
    """Time with the collector as asked (the harness's measure() always turns it off)."""
    budget = BUDGET_S[h.profile.name]
    if gc_state == "off":
        return h.measure(benchmark, call, first_s, budget).as_record()
    rounds, iterations = harness.choose_rounds(first_s, budget, h.profile)
    # the warm-up ran before the collector had garbage to chase: with gc on a call can
    # cost many times the warm-up (micrograd's cyclic graphs), so bound the rounds
    rounds = min(rounds, 15)
    # what is alive now (earlier suites' caches, frameworks) leaves the collector's
    # sight: the collector then chases the engine's own objects, as in a fresh process
    harness.freeze_heap()
    was_enabled = gc.isenabled()
    gc.enable()
    try:
        with turns().exclusive():  # (a run's jobs take turns to time)
            benchmark.pedantic(call, rounds=rounds, iterations=iterations, warmup_rounds=0)
    finally:
        if not was_enabled:
            gc.disable()
    st = benchmark.stats.stats
    timing = harness.Timing(
        st.median, st.min, st.mean, st.iqr, st.stddev, st.rounds, iterations, list(st.data)
    )
    return {**timing.as_record(), "gc": "on"}


def test_chain_closed_form_is_right():
    value, grad = expected(3)
    x, y = X0, Y0
    z = x
    for _ in range(3):
        z = z * 0.9 + x * y * 0.01
    assert value == pytest.approx(z, rel=1e-15)
    h = 1e-6
    dzdx = (chain(X0 + h, Y0, 3) - chain(X0 - h, Y0, 3)) / (2 * h)
    assert grad[0] == pytest.approx(dzdx, rel=1e-8)
    assert math.isclose(grad[1], 0.1 * X0 * (1 - 0.9**3))
