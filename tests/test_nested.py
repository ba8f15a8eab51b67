"""GradBench's nested-AD evals particle and saddle (toyad/workloads/nested.py):
the published answers (1e-4, GradBench's rule) for every supported backend ×
variant, agreement between engines to 1e-10, perturbation confusion shown
by an untagged dual kit, and reasons for what is not supported.

Runtime (2 shared cores): a whole particle run is ~80 gradient-descent steps
of ~355 Euler steps, each Euler step an inner gradient: 11-13 s on dual ff and
reverse fr, 31-37 s on reverse rr / rf, minutes on the frameworks (eager
dispatch per scalar operation: ~5 s per objective+gradient on torch-func, ~70 s
on jax-eager). The default suite runs whole: saddle and particle on the toy
engines under ~15 s; particle on reverse rr / rf is checked on the argmin's
objective and gradient at two points against toyad.dual to 1e-10 (the
numbers that decide every branch of the descent); the frameworks on a
truncated trajectory (``STEPS`` Euler steps), all variants, to 1e-10.
``TOYAD_NESTED_FULL=1`` runs every supported combination whole.
"""

from __future__ import annotations

import json
import os

import pytest

from toyad import backends
from toyad.dual import DualNumber
from toyad.workloads import WORKLOADS, nested, nested_kits

FULL = os.environ.get("TOYAD_NESTED_FULL") == "1"
AGREE = 1e-10

STEPS = 4  # Euler steps of the truncated trajectory the frameworks are checked on

# particle combinations whose whole run is too slow for the default suite (> ~15 s)
SLOW_PARTICLE = {("reverse", "rr"), ("reverse", "rf")}
TOYS = {"dual", "reverse"}
COMPILED_LOOPS = {"jax-jit"}  # (toyad.workloads.nested_jax: seconds a whole run, compile included)


def _installed(backend: str) -> bool:
    return backend not in backends.names() or backends.missing_package(backend) is None


def _cases(eval_name: str) -> list:
    return [c[:3] for c in nested.cases() if c[1] == eval_name]


def _slow(backend: str, variant: str) -> bool:
    return (backend, variant) in SLOW_PARTICLE or backend not in TOYS | COMPILED_LOOPS


# ---------------------------------------------------------------------------
# the published answers


@pytest.mark.parametrize("backend,eval_name,variant", _cases("saddle"))
def test_saddle_published_answer(backend: str, eval_name: str, variant: str) -> None:
    if backend not in TOYS | COMPILED_LOOPS and not FULL:
        pytest.skip("whole saddle run takes minutes on an eager framework (TOYAD_NESTED_FULL=1)")
    out = nested.prepare(backend, eval_name, variant, {"start": [1.0, 1.0], "min_runs": 1})()
    json.dumps(out, allow_nan=False)
    assert nested.mismatch("saddle", out) == []
    # every engine takes GradBench's branches: the very same point
    assert out == pytest.approx(nested.SADDLE_POINT, abs=1e-15)


@pytest.mark.parametrize("backend,eval_name,variant", _cases("particle"))
def test_particle_published_answer(backend: str, eval_name: str, variant: str) -> None:
    if _slow(backend, variant) and not FULL:
        pytest.skip("whole particle run > ~15 s here; objective and gradient checked below")
    out = nested.prepare(backend, eval_name, variant, {"w": 0.0, "min_seconds": 0})()
    assert isinstance(out, float)
    assert nested.mismatch("particle", out) == []
    assert abs(out - nested.PARTICLE_W) < 1e-10  # GradBench's own number, not just 1e-4


# ---------------------------------------------------------------------------
# agreement with toyad.dual to 1e-10 on the argmin's objective and gradient

_REFERENCE: dict[tuple, tuple[float, float]] = {}


def _dual_reference(w: float, steps: int | None = None) -> tuple[float, float]:
    if (w, steps) not in _REFERENCE:
        kit = nested_kits.get("dual")
        f, g = nested.particle_functions(kit, "ff", steps)
        _REFERENCE[w, steps] = (kit.primal(f([w])), kit.primal(g([w])[0]))
    return _REFERENCE[w, steps]


@pytest.mark.parametrize("backend,eval_name,variant", _cases("particle"))
@pytest.mark.parametrize("w", [0.0, 0.2])
def test_particle_objective_and_gradient_agree_with_dual(
    backend: str, eval_name: str, variant: str, w: float
) -> None:
    steps = None if backend in TOYS or FULL else STEPS
    if steps is not None and w == 0.0:
        pytest.skip("frameworks: one point of the truncated trajectory")
    kit = nested_kits.get(backend)
    f, g = nested.particle_functions(kit, variant, steps)
    f_ref, g_ref = _dual_reference(w, steps)
    assert kit.primal(f([w])) == pytest.approx(f_ref, rel=AGREE, abs=1e-300)
    grad = g([w])
    assert len(grad) == 1
    assert kit.primal(grad[0]) == pytest.approx(g_ref, rel=AGREE)


def test_particle_gradient_matches_finite_differences() -> None:
    """The nested derivative is the derivative (same trajectory length near w)."""
    kit = nested_kits.get("dual")
    f, _ = nested.particle_functions(kit, "ff")
    w, h = 0.1, 1e-6
    fd = (kit.primal(f([w + h])) - kit.primal(f([w - h]))) / (2 * h)
    assert _dual_reference(0.0)[1] < 0  # w moves up from 0
    g = kit.primal(nested.particle_functions(kit, "ff")[1]([w])[0])
    assert g == pytest.approx(fd, rel=1e-6)


@pytest.mark.skipif(not _installed("jax-eager"), reason="jax not installed")
def test_dual_ff_agrees_with_jax_ff() -> None:
    """Toy tagged duals and JAX's jvp-of-jvp: the same objective and gradient to
    1e-10 (a truncated trajectory; the whole argmin: TOYAD_NESTED_FULL=1)."""
    dual, jax = nested_kits.get("dual"), nested_kits.get("jax-eager")
    for w in (0.0, 0.2071918746486116):
        fd, gd = nested.particle_functions(dual, "ff", STEPS)
        fj, gj = nested.particle_functions(jax, "ff", STEPS)
        assert jax.primal(fj([w])) == pytest.approx(dual.primal(fd([w])), rel=AGREE)
        assert jax.primal(gj([w])[0]) == pytest.approx(dual.primal(gd([w])[0]), rel=AGREE)


# ---------------------------------------------------------------------------
# perturbation confusion: one untagged ε for both levels gives a wrong answer

_EPS = DualNumber(0.0, 1.0)  # tag 0: the notebook's single ε


class ConfusedKit:
    """Forward mode as a naive dual-number library does it: ∂f/∂x_j = ε part of
    f(x + e_j ε) with the one ε, whatever ε x already carries (the outer one)."""

    sqrt = staticmethod(nested_kits._toy_sqrt)
    primal = staticmethod(nested_kits._toy_primal)

    def grad(self, f, mode, traceable=False):
        def g(x, *consts):
            out = []
            for j in range(len(x)):
                xs = [xi + (_EPS if i == j else 0.0 * _EPS) for i, xi in enumerate(x)]
                y = f(xs, *consts)
                out.append(y.eps if isinstance(y, DualNumber) else 0.0)
            return out

        return g


def test_untagged_duals_confuse_the_perturbations() -> None:
    f_ok, g_ok = _dual_reference(0.0)
    f, g = nested.particle_functions(ConfusedKit(), "ff")
    assert ConfusedKit.primal(f([0.0])) == pytest.approx(f_ok, rel=1e-12)  # the primal is fine
    wrong = ConfusedKit.primal(g([0.0])[0])
    assert abs(wrong - g_ok) > 1e-3 * abs(g_ok), (wrong, g_ok)  # the derivative is not


def test_untagged_duals_fail_the_published_answer() -> None:
    """The whole argmin with the confused kit: GradBench's check rejects it."""
    kit = ConfusedKit()
    f, g = nested.particle_functions(kit, "ff")
    top_f = lambda x: kit.primal(f(x))  # noqa: E731
    top_g = lambda x: [kit.primal(v) for v in g(x)]  # noqa: E731
    w = float(nested.argmin(top_f, top_g, [0.0])[0])
    assert nested.mismatch("particle", w) != []


def test_tagged_duals_nest_in_the_small() -> None:
    """d/dx [x · d/dy (x + y)] = 1 with tags (2 when confused): the kit's grads nest."""
    kit = nested_kits.get("dual")
    inner = kit.grad(lambda y, x: x + y[0], "f")
    outer = kit.grad(lambda x: x[0] * inner([1.0], x[0])[0], "f")
    assert kit.primal(outer([1.0])[0]) == 1.0
    confused = ConfusedKit()
    inner_c = confused.grad(lambda y, x: x + y[0], "f")
    outer_c = confused.grad(lambda x: x[0] * inner_c([1.0], x[0])[0], "f")
    assert outer_c([1.0])[0] == 2.0


# ---------------------------------------------------------------------------
# the interface: supports, prepare, cases, WORKLOADS


def test_unsupported_combinations_have_reasons() -> None:
    for backend in ("tensor", "tensor-unbatched", "symbolic", "numeric-central", "micrograd"):
        for variant in nested.VARIANTS:
            why = nested.supports(backend, "particle", variant)
            assert isinstance(why, str) and why
            with pytest.raises(NotImplementedError, match="particle"):
                nested.prepare(backend, "particle", variant, {"w": 0.0})
    assert "forward" in nested.supports("dual", "saddle", "rr")
    assert nested.supports("dual", "saddle", "ff") is None
    assert nested.supports("reverse", "particle", "ff") is None  # its forward level: dual
    assert "unknown backend" in nested.supports("nope", "saddle", "ff")
    with pytest.raises(ValueError):
        nested.supports("dual", "gmm", "ff")
    with pytest.raises(ValueError):
        nested.supports("dual", "particle", "objective")


def test_every_known_backend_is_supported_somewhere_or_explained() -> None:
    for backend in backends.names():
        reasons = [nested.supports(backend, e, v) for e in nested.EVALS for v in nested.VARIANTS]
        assert all(r is None or (isinstance(r, str) and r) for r in reasons)


def test_cases_cover_the_toys_and_carry_the_published_answers() -> None:
    got = {(b, e, v): (inp, exp) for b, e, v, inp, exp in nested.cases()}
    for e in nested.EVALS:
        assert ("dual", e, "ff") in got
        for v in ("rr", "fr", "rf"):
            assert ("reverse", e, v) in got
    assert got[("dual", "particle", "ff")] == ({"w": 0.0}, nested.PARTICLE_W)
    assert got[("dual", "saddle", "ff")] == ({"start": [1.0, 1.0]}, nested.SADDLE_POINT)
    assert not any(b == "tensor" for b, *_ in got)


def test_workload_records() -> None:
    for name in nested.EVALS:
        w = WORKLOADS[name]
        assert w.nested and w.name == name
        assert list(w.functions) == list(nested.VARIANTS)
        assert w.functions["fr"] == (name, "fr")
        assert w.gradbench_input() == nested.INPUTS[name]
        assert w.presets[0].label == "w=0"
        with pytest.raises(TypeError, match="nested"):
            w.from_gradbench(w.gradbench_input())
    assert WORKLOADS["saddle"].to_gradbench("rr", (1, 2, 3, 4)) == [1.0, 2.0, 3.0, 4.0]
    assert not any(w.nested for k, w in WORKLOADS.items() if k not in nested.EVALS)


def test_mismatch_is_gradbench_rule() -> None:
    assert nested.mismatch("particle", nested.PARTICLE_W + 9e-5) == []
    assert nested.mismatch("particle", nested.PARTICLE_W + 2e-4) != []
    assert nested.mismatch("saddle", [0.0, 1e-5, -9e-5, 5e-5]) == []
    assert nested.mismatch("saddle", [0.0, 0.0, 0.0, 2e-4]) == [
        "[3]: 8.246324826140356e-06 != 0.0002"
    ]
    assert nested.mismatch("saddle", [0.0] * 3) != []


@pytest.mark.parametrize("backend,eval_name,variant", _cases("saddle"))
def test_saddle_objective_and_gradient_nest(backend: str, eval_name: str, variant: str) -> None:
    """max_p2 f(p1, p2) by the inner ascent, and its outer gradient through that
    ascent (2 p1, as p2* does not depend on p1), equal to toyad.dual's to 1e-10
    (frameworks: the mixed variant fr only, as a whole ascent takes seconds)."""
    if backend not in TOYS and variant != "fr" and not FULL:
        pytest.skip("frameworks: fr only")
    p1 = [0.3, -0.2]
    dual = nested_kits.get("dual")
    f_ref, _ = nested.saddle_functions(dual, "ff", [1.0, 1.0])
    kit = nested_kits.get(backend)
    f, g = nested.saddle_functions(kit, variant, [1.0, 1.0])
    assert kit.primal(f(p1)) == pytest.approx(dual.primal(f_ref(p1)), rel=AGREE)
    assert [kit.primal(v) for v in g(p1)] == pytest.approx([0.6, -0.4], rel=AGREE)


def test_a_nested_run_stopped_at_the_hard_limit_stops_the_costlier_ones():
    """Each backend runs the eight computations cheapest first (as the reverse toy pays
    for them); one stopped at the hard limit stops those after it, not those before."""
    from benchmarks import bench_nested
    from toyad.bench.harness import Harness
    from toyad.bench.profiles import PROFILES

    h = Harness(PROFILES["full"], ["tf-eager", "reverse"], [])
    order = [(e, v) for b, e, v in bench_nested.nested_params(h) if b == "tf-eager"]
    assert order == [c for c in bench_nested.COST_ORDER if c in order] and len(order) == 8
    h.records.append(
        {"suite": "nested", "backend": "tf-eager", "problem": "saddle", "operation": "rr",
         "status": "skipped-too-slow", "message": "stopped after the 20 s hard limit per case"}
    )  # fmt: skip
    why = bench_nested.stopped_before(h, "tf-eager", "particle", "ff")
    assert "saddle rr" in why and "hard limit" in why
    assert bench_nested.stopped_before(h, "tf-eager", "saddle", "ff") == ""  # cheaper: runs
    assert bench_nested.stopped_before(h, "reverse", "particle", "rr") == ""  # another backend


def test_scan_length_covers_the_loop_and_its_last_step():
    from toyad.workloads import nested_jax

    assert [nested_jax.scan_length(k) for k in (0, 63, 64, 352)] == [64, 64, 128, 512]


@pytest.mark.parametrize("variant", nested.VARIANTS)
def test_jax_jit_compiled_particle_objective_and_gradient_agree_with_dual(variant: str) -> None:
    """The compiled objective (a while_loop over the Euler steps) and its outer gradient (a
    fixed-length scan, the steps past the crossing leaving the state as it was) equal
    toyad.dual's whole-trajectory objective and derivative, off the optimum."""
    if not _installed("jax-jit"):
        pytest.skip("jax is not installed")
    from toyad.workloads import nested_jax

    dual = nested_kits.get("dual")
    f_ref, g_ref = nested.particle_functions(dual, "ff")
    objective = nested_jax.particle_objective(variant)
    value, steps = objective.value([0.1])
    assert value == pytest.approx(dual.primal(f_ref([0.1])), rel=AGREE)
    assert steps > 300  # (the whole trajectory: ~350 steps of 0.1)
    gradient = objective.gradient([0.1])
    assert gradient == pytest.approx([dual.primal(v) for v in g_ref([0.1])], rel=AGREE)
