"""Nested AD: GradBench's particle and saddle evals (rr, ff, fr, rf), the classic
perturbation-confusion traps, against their published answers.

Each supported backend × eval × variant (``toyad.workloads.nested``) runs the
whole computation (gradient descent whose objective differentiates inside
itself) once: the answer is checked with GradBench's rule (1e-4 absolute
against the published constant) and the call is timed. A whole run takes
seconds on the scalar toys and minutes on the frameworks (their Python loops
of small tensor ops), so the full profile runs them under its hard limit per
case, each backend's cheapest first (COST_ORDER), and one stopped there stops
the costlier ones; the quick profile runs saddle on the toys only (dual ff, reverse rr), the
cheapest.
"""

from __future__ import annotations

import time

import pytest

from benchmarks import harness
from toyad.bench import guard as guards
from toyad.workloads import nested, nested_kits

pytestmark = pytest.mark.filterwarnings("ignore:Benchmark fixture was not used")
QUICK = (("dual", "ff"), ("reverse", "rr"))  # the quick profile's two: one per mode


# The eight computations in the order they cost the reverse toy (whole run, seconds, full
# profile on this 2-core VM): saddle rf 0.48, ff 0.72, rr 0.92, fr 1.14; particle ff 1.39,
# fr 1.41, rf 7.9, rr 9.4. Each backend runs them in this order, so that one stopped at the
# hard limit stops the ones after it, as a size stops the larger sizes.
COST_ORDER = (
    ("saddle", "rf"),
    ("saddle", "ff"),
    ("saddle", "rr"),
    ("saddle", "fr"),
    ("particle", "ff"),
    ("particle", "fr"),
    ("particle", "rf"),
    ("particle", "rr"),
)


def nested_params(h: harness.Harness) -> list[tuple[str, str, str]]:
    chosen = [b for b in h.backend_names if b in nested_kits.NAMES]
    out = []
    for backend, eval_name, variant, _, _ in nested.cases(chosen):
        quick_pick = eval_name == "saddle" and (backend, variant) in QUICK
        if h.profile.name == "quick" and not quick_pick:
            continue
        out.append((backend, eval_name, variant))
    rank = {backend: k for k, backend in enumerate(dict.fromkeys(b for b, _, _ in out))}
    return sorted(out, key=lambda c: (rank[c[0]], COST_ORDER.index((c[1], c[2]))))


def stopped_before(h: harness.Harness, backend: str, eval_name: str, variant: str) -> str:
    """Why this computation is not started: one that costs the reverse toy less
    (COST_ORDER) ran past the hard limit on this backend; '' if none did."""
    mine = COST_ORDER.index((eval_name, variant))
    for r in h.records:
        if r.get("suite") != "nested" or r.get("backend") != backend:
            continue
        if r.get("status") != "skipped-too-slow" or "hard limit" not in str(r.get("message")):
            continue
        cheaper = (r.get("problem"), r.get("operation"))
        if cheaper in COST_ORDER and COST_ORDER.index(cheaper) < mine:
            return (
                f"skipped: {' '.join(cheaper)}, which costs the reverse toy less than "
                f"{eval_name} {variant}, ran past the {h.case_limit_s:g} s hard limit on "
                f"{backend}: the costlier ones are not started"
            )
    return ""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "nested_case" in metafunc.fixturenames:
        params = nested_params(harness.harness_of(metafunc.config))
        metafunc.parametrize("nested_case", params, ids=["-".join(p) for p in params])


def test_nested(benchmark, toyad_harness, nested_case):
    h = toyad_harness
    backend, eval_name, variant = nested_case
    spec = harness.CaseSpec("nested", backend, eval_name, variant, variant)
    record = h.new_record(spec, benchmark)
    record.update(family=h.entry(backend).backend.family if h.entry(backend).backend else "")
    status, message = "ok", ""
    stopped = stopped_before(h, backend, eval_name, variant)
    if stopped:
        h.conclude(record, benchmark, "skipped-too-slow", stopped)
        return
    try:
        with h.guard.limits(h.case_limit_s, spec.id):
            start = time.perf_counter()
            call = nested.prepare(backend, eval_name, variant, dict(nested.INPUTS[eval_name]))
            record["prepare_s"] = time.perf_counter() - start
            output, seconds = h.first_call(benchmark, call)
        bad = nested.mismatch(eval_name, output)
        if bad:
            status, message = "wrong", "; ".join(bad[:3])
        expected = nested.EXPECTED[eval_name]
        got = output if isinstance(output, list) else [output]
        want = expected if isinstance(expected, list) else [expected]
        if len(got) == len(want):
            record["max_rel_error"] = max(abs(a - e) for a, e in zip(got, want, strict=True))
        record["tolerance"] = 1e-4  # GradBench's rule: absolute, for these magnitudes
        if h.timing:
            record.update(median_s=seconds, min_s=seconds, mean_s=seconds, rounds=1)
            record["samples_s"] = [seconds]
    except guards.CaseAborted as exc:
        status, message = "skipped-too-slow", exc.reason
    except NotImplementedError as exc:
        status, message = "unsupported", str(exc)
    except Exception as exc:
        stop = h.guard.fired  # a stop that a library re-wrapped is still a stop
        if stop is not None:
            status = "skipped-too-slow" if stop.kind == "time" else "skipped-too-large"
            message = stop.reason
        else:
            status, message = "error", f"{type(exc).__name__}: {exc}"
    h.conclude(record, benchmark, status, message)
