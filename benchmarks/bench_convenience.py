"""The call a user writes first, ``backends.get(name).gradient(f, x)``, beside the
prepared call the other suites time (suite "convenience").

For each backend and n in (10, 10⁵), the gradient of
``sum(tanh(x) exp(-x²) + sin(x)²)`` in the backend's default mode two ways:

- ``call = "prepared"``: ``b.prepare("gradient", f, x)()``, the harness's timed call
  (the framework's native result; no conversion to numpy);
- ``call = "convenience"``: ``b.gradient(f, x)``, repeated on the same float64
  numpy x, the first call (the build: trace, jit, compile) made untimed
  beforehand; it returns numpy, so it includes the framework's own cost of taking
  a numpy array in and handing one back;
- ``call = "native"`` (jax, TensorFlow, torch): ``b.gradient(f, xb)`` with
  ``xb = b.to_native(x)``, the framework's own array, as a user of that framework
  holds it; the result stays a framework array (as ``jax.grad`` returns one), so
  the ratio is toyad's own tax: the cache lookup and checks.

Each convenience row carries ``ratio`` = its median ÷ the prepared median
(measured just before in the same process) and ``ratio_of`` naming that. The
target is ≤ 1.2; the numpy row's excess over the native row is the framework's
conversion (jax-jit at n = 10: ~2 µs to take numpy in, ~2 µs to hand it back, on
a ~6 µs call). Every result is checked against the closed-form gradient
(finite differences to 1e-5).
At n = 10⁵ only backends whose gradient is one vectorised reverse pass run
(a per-op toy or a forward loop would take seconds per call).
"""

from __future__ import annotations

import numpy as np
import pytest

from toyad import backends, runtime
from toyad.bench.measure import keep_samples, ratio_to_baseline

runtime.configure()

TOYAD_SUITE = "convenience"  # the run budget and the quick calibration cover it
SIZES = (10, 100_000)
# backends whose default gradient is not one reverse pass (or not in numpy's
# vocabulary): n = 10 only
SMALL_ONLY = {
    "numeric-forward",
    "numeric-central",
    "numeric-richardson",
    "numeric-complex",
    "symbolic",
    "dual",
    "reverse",
    "reverse-recursive",
    "torch-forward-ad",
    "micrograd",
}
FRAMEWORK_MODULES = ("jax", "tensorflow", "torch")  # backends with an array type of their own
SKIP = {"analytic": "differentiates nothing: needs a toyad.problems function"}
_prepared_medians: dict[tuple[str, int], float] = {}


def f_mix(xp, x):
    return xp.sum(xp.tanh(x) * xp.exp(-(x**2)) + xp.sin(x) ** 2)


def grad_mix(x: np.ndarray) -> np.ndarray:
    """(1 - t²) e - 2x t e + 2 sin x cos x, t = tanh x, e = exp(-x²)."""
    t, e = np.tanh(x), np.exp(-x * x)
    return (1 - t * t) * e - 2 * x * t * e + 2 * np.sin(x) * np.cos(x)


def _cases(config: pytest.Config) -> list[tuple[str, int, str]]:
    """(backend, n, call) for the backends --backends selects; a timed quick run leaves
    the compile-per-case backends to the test command and the full profile (a compile
    costs seconds, four per backend here), as it does in the other suites."""
    from toyad.bench.harness import harness_of
    from toyad.bench.suites import scoped_out

    h = harness_of(config)
    available = set(backends.available())
    names = [b for b in h.backend_names if b in available and b not in SKIP]
    if scoped_out(h):
        names = [b for b in names if b not in h.profile.compile_heavy]
    # the frameworks first (where preparing is costly: the point of the cache), the
    # compiled ones before the eager ones (an eager item takes ~1.6 s: jax-eager compiles
    # each primitive again after release()), then the tensor engine and the toys; a run
    # budget that cuts the suite cuts from the end
    names.sort(key=_order)
    return [
        (name, n, call)
        for name in names
        for n in SIZES
        if n <= 10 or name not in SMALL_ONLY
        # prepared first: the ratios need it
        for call in ("prepared", "native", "convenience")
        if call != "native" or backends.spec(name).module in FRAMEWORK_MODULES
    ]


FIRST = (
    "jax-jit",
    "torch-autograd",
    "tf-function",
    "torch-func",
    "torch-compile",
    "tf-xla",
    "torch-forward-ad",
    "jax-eager",
    "tf-eager",
    "tensor",
)


def _order(name: str) -> tuple[int, str]:
    return (FIRST.index(name) if name in FIRST else len(FIRST), name)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.name == "test_convenience_over_prepared":
        cases = _cases(metafunc.config)
        ids = [f"{b}-n{n}-{c}" for b, n, c in cases]
        metafunc.parametrize(("name", "n", "call"), cases, ids=ids)


def test_convenience_over_prepared(benchmark, name: str, n: int, call: str) -> None:
    b = backends.get(name)
    b.release(framework_caches=False)  # neither kind of call finds the other's build
    x = np.random.default_rng(n).uniform(-2.0, 2.0, n)
    want = grad_mix(x)
    tol = {"rtol": 1e-5, "atol": 1e-6} if name.startswith("numeric-") else {"rtol": 1e-10}
    try:
        b.gradient(f_mix, x)  # the build (untimed), and whether the backend can
    except backends.UnsupportedOperation as exc:
        pytest.skip(str(exc))
    mode = b.default_mode("gradient")
    benchmark.group = f"convenience: gradient of sum(tanh(x)exp(-x^2) + sin(x)^2) n={n}"
    benchmark.extra_info.update(
        suite="convenience",
        backend=name,
        family=b.family,
        variant=b.variant,
        problem="elementwise",
        operation="gradient",
        mode=mode,
        n=n,
        m=1,
        call=call,
        strategy=b.strategy("gradient", mode),
    )
    if call == "prepared":
        prepared = b.prepare("gradient", f_mix, x)
        np.testing.assert_allclose(b.to_numpy(prepared()), want, **tol)
        benchmark(prepared)
    else:
        xin = b.to_native(x) if call == "native" else x
        got = b.gradient(f_mix, xin)
        assert (type(got) is np.ndarray) == (call == "convenience"), type(got)
        np.testing.assert_allclose(b.to_numpy(got), want, **tol)
        builds = b.builds
        benchmark(b.gradient, f_mix, xin)
        assert b.builds == builds, "a repeated convenience call built again"
    keep_samples(benchmark)
    b.release(framework_caches=False)
    ratio = ratio_to_baseline(benchmark, _prepared_medians, (name, n), baseline=call == "prepared")
    if ratio is not None:
        benchmark.extra_info["ratio"] = ratio
        benchmark.extra_info["ratio_of"] = f"{call} ÷ prepared"
