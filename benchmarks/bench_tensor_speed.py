"""Speed of toyad.tensor: is the AD machinery nearly free?

(a) At n = 10⁶, the gradient of ``sum(tanh(x) exp(-x²) + sin(x)²)`` three ways:
    toyad.tensor reverse mode, the same gradient written by hand in numpy,
    and torch autograd (float64, one thread) for context. The engine should
    cost at most 1.3x the hand-written numpy (numpy is the floor of a
    numpy-backed engine).
(b) The cheap-gradient bound: the reverse gradient through the engine over
    the primal through the engine, for a few problems at several n (at most
    4x). Each pair shares a ``benchmark.group``; the gradient's ``extra_info``
    carries ``ratio_to_primal`` once the primal has been measured.

Every benchmark also checks its answer, so ``--benchmark-disable`` runs them
as tests. Plain ``benchmark`` fixture: the report builds their rows (suite
"tensor-speed") from ``extra_info`` and pytest-benchmark's stats.
"""

from __future__ import annotations

import numpy as np
import pytest

from toyad import problems, runtime
from toyad.bench.measure import keep_samples, ratio_to_baseline
from toyad.tensor import Tensor, grad, xp

runtime.configure()  # one thread for numpy/BLAS and torch, before torch loads

TOYAD_SUITE = "tensor-speed"  # the run budget and the quick calibration cover it
N_BIG = 1_000_000
ELEMENTWISE_GROUP = "tensor-speed: grad of sum(tanh(x)exp(-x^2) + sin(x)^2), n=1e6"


def elementwise_f(x):
    return xp.sum(xp.tanh(x) * xp.exp(-x * x) + xp.sin(x) ** 2)


def elementwise_by_hand(x: np.ndarray) -> tuple[float, np.ndarray]:
    """Value and gradient in plain numpy: d/dx = (1 - t²) e - 2x t e + 2 sin x cos x."""
    t = np.tanh(x)
    e = np.exp(-x * x)
    s = np.sin(x)
    value = np.sum(t * e + s * s)
    gradient = (1.0 - t * t) * e - 2.0 * x * t * e + 2.0 * s * np.cos(x)
    return value, gradient


def _torch_gradient():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    torch.set_num_threads(1)

    def gradient(x_np: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(x_np).requires_grad_(True)
        y = torch.sum(torch.tanh(x) * torch.exp(-x * x) + torch.sin(x) ** 2)
        (g,) = torch.autograd.grad(y, x)
        return g.numpy()

    return gradient


def _engine_gradient():
    return grad(elementwise_f)


def _numpy_gradient():
    return lambda x: elementwise_by_hand(x)[1]


IMPLEMENTATIONS = {
    "toyad.tensor reverse": _engine_gradient,
    "numpy by hand": _numpy_gradient,
    "torch autograd": _torch_gradient,
}
# how each implementation appears in the report's rows (backend, family)
AS_BACKEND = {
    "toyad.tensor reverse": ("tensor", "toy"),
    "numpy by hand": ("analytic", "analytic"),
    "torch autograd": ("torch-autograd", "torch"),
}


@pytest.fixture(scope="module")
def big_x() -> np.ndarray:
    return np.random.default_rng(0).standard_normal(N_BIG)


@pytest.fixture(scope="module")
def big_expected(big_x: np.ndarray) -> np.ndarray:
    return elementwise_by_hand(big_x)[1]


@pytest.mark.parametrize("implementation", list(IMPLEMENTATIONS))
def test_elementwise_gradient_1e6(benchmark, implementation, big_x, big_expected) -> None:
    gradient = IMPLEMENTATIONS[implementation]()
    np.testing.assert_allclose(gradient(big_x), big_expected, rtol=1e-12, atol=1e-14)  # warm-up
    benchmark.group = ELEMENTWISE_GROUP
    backend, family = AS_BACKEND[implementation]
    benchmark.extra_info.update(
        suite="tensor-speed",
        backend=backend,
        family=family,
        problem="elementwise_1e6",
        operation="gradient",
        mode="reverse",
        n=N_BIG,
        m=1,
        implementation=implementation,
        threads=1,
    )
    benchmark(gradient, big_x)
    keep_samples(benchmark)


# -- (b) reverse gradient / primal, both through the engine ----------------------

RATIO_CASES = [
    ("rosenbrock", (10, 1_000, 100_000)),
    ("fan_in", (10, 1_000, 100_000)),
    ("logsumexp_affine", (10, 1_000, 100_000)),
    ("elementwise_chain", (10, 1_000, 100_000)),
    ("determinant", (16, 36)),
]
QUICK_MAX_N = 1_000  # the quick profile (the default) stops the ratio cases here
_primal_medians: dict[tuple[str, int], float] = {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "problem_name" in metafunc.fixturenames:
        quick = metafunc.config.getoption("profile", "quick") == "quick"
        cases = [(p, n) for p, ns in RATIO_CASES for n in ns if not quick or n <= QUICK_MAX_N]
        metafunc.parametrize(
            ("problem_name", "n"), cases, ids=[f"{name}-n{n}" for name, n in cases]
        )


@pytest.mark.parametrize("operation", ["primal", "gradient"])  # primal first
def test_gradient_over_primal(benchmark, problem_name, n, operation) -> None:
    inst = problems.get(problem_name).instance(n=n, seed=0)
    f = inst.f.bind(xp)  # constants -> Tensors once, outside the timed call
    x = inst.x.copy()
    if operation == "primal":
        work = lambda: f(Tensor(x)).value  # noqa: E731
        expected = inst.value()
    else:
        gradient = grad(f)
        work = lambda: gradient(x)  # noqa: E731
        expected = inst.gradient()
    scale = max(1.0, float(np.max(np.abs(expected))))
    assert np.max(np.abs(work() - expected)) <= 1e-12 * scale  # warm-up and check
    benchmark.group = f"tensor-speed: gradient/primal {problem_name} n={n}"
    benchmark.extra_info.update(
        suite="tensor-speed",
        backend="tensor",
        family="toy",
        problem=problem_name,
        operation=operation,
        mode="reverse" if operation == "gradient" else "",
        n=n,
        m=1,
    )
    benchmark(work)
    keep_samples(benchmark)
    key = (problem_name, n)
    ratio = ratio_to_baseline(benchmark, _primal_medians, key, baseline=operation == "primal")
    if ratio is not None:
        benchmark.extra_info["ratio_to_primal"] = ratio
