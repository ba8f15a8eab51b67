"""toyad.tensor: every primitive's JVP and VJP against central differences,
second order (hvp) against differences of the gradient, broadcasting,
indexing, the Jacobian three ways, deep chains, numpy edge semantics and the
errors a user sees."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from toyad.tensor import (
    RULES,
    Tensor,
    grad,
    hessian,
    hessian_loop,
    hvp,
    jacfwd,
    jacfwd_loop,
    jacrev,
    jvp,
    jvp_batch,
    value_and_grad,
    vjp,
    xp,
)
from toyad.tensor.tensor import Node

H = 1e-6  # central-difference step: error ~ h² f''' + eps |f| / h ~ 1e-10


def evaluate(f, x: np.ndarray) -> np.ndarray:
    """f through the engine on a constant input (no tape, no tangents)."""
    return np.asarray(xp.asarray(f(Tensor(x))).value)


def central(f, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (evaluate(f, x + H * v) - evaluate(f, x - H * v)) / (2 * H)


def close(actual, expected, rtol: float, atol: float) -> None:
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)


# Each case: f(x) of a Tensor, and the size of x. Inputs are drawn in [0.5, 2]
# (positive for log/sqrt/pow, away from the kinks of abs/max/where).
M23 = (2, 3)
MASK6 = np.array([True, False, True, True, False, False])
CONST6 = np.array([0.3, -1.2, 2.0, 0.7, -0.4, 1.1])
CASES = {
    # elementwise arithmetic, both operand orders, with floats and numpy arrays
    "add": (lambda x: x + x[::-1] + 1.5, 6),
    "radd_numpy": (lambda x: CONST6 + x, 6),
    "sub": (lambda x: x - 2.0 * x[::-1], 6),
    "rsub": (lambda x: 3.0 - x, 6),
    "rsub_numpy": (lambda x: CONST6 - x, 6),
    "mul": (lambda x: x * x[::-1], 6),
    "rmul_numpy": (lambda x: CONST6 * x, 6),
    "div": (lambda x: x / (x[::-1] + 3.0), 6),
    "rdiv": (lambda x: 2.0 / x, 6),
    "rdiv_numpy": (lambda x: CONST6 / x, 6),
    "neg": (lambda x: -x, 6),
    "pow_square": (lambda x: x**2, 6),
    "pow_cube": (lambda x: x**3, 6),
    "pow_half": (lambda x: x**0.5, 6),
    "pow_negative": (lambda x: x**-1.5, 6),
    "pow_tensor": (lambda x: x ** x[::-1], 6),
    "rpow": (lambda x: 2.0**x, 6),
    # elementwise functions
    "exp": (lambda x: xp.exp(x), 6),
    "log": (lambda x: xp.log(x), 6),
    "sin": (lambda x: xp.sin(x), 6),
    "cos": (lambda x: xp.cos(x), 6),
    "tan": (lambda x: xp.tan(x * 0.5), 6),
    "tanh": (lambda x: xp.tanh(x), 6),
    "sqrt": (lambda x: xp.sqrt(x), 6),
    "abs": (lambda x: xp.abs(x - 1.25), 6),
    "square": (lambda x: xp.square(x), 6),
    "maximum": (lambda x: xp.maximum(x, x[::-1] + 0.01), 6),
    "minimum": (lambda x: xp.minimum(x, 1.2), 6),
    "where": (lambda x: xp.where(MASK6, x * x, -x), 6),
    "numpy_ufuncs": (lambda x: np.sin(x) * np.exp(x) + np.sqrt(x), 6),
    # reductions
    "sum": (lambda x: xp.sum(x * x), 6),
    "sum_axis0": (lambda x: xp.sum(xp.reshape(x, M23) ** 2, axis=0), 6),
    "sum_axis1_keepdims": (lambda x: xp.sum(xp.sin(xp.reshape(x, M23)), axis=1, keepdims=True), 6),
    "sum_negative_axis": (lambda x: xp.sum(xp.reshape(x, M23) ** 2, axis=-1), 6),
    "numpy_sum": (lambda x: np.sum(x**3), 6),
    "mean": (lambda x: xp.mean(xp.exp(x)), 6),
    "method_sum": (lambda x: (x * x).sum(), 6),
    # linear algebra
    "matvec": (lambda x: xp.reshape(x[:6], M23) @ x[6:9], 9),
    "vecmat": (lambda x: x[:2] @ xp.reshape(x[2:8], M23), 8),
    "vecvec": (lambda x: x[:3] @ x[3:6], 6),
    "matmat": (lambda x: xp.reshape(x[:6], M23) @ xp.reshape(x[6:12], (3, 2)), 12),
    "const_matvec": (lambda x: xp.asarray(CONST6.reshape(M23)) @ x, 3),
    "numpy_matvec": (lambda x: CONST6.reshape(M23) @ x, 3),
    "vec_const_mat": (lambda x: x @ CONST6.reshape(M23), 2),
    "transpose": (lambda x: xp.reshape(x, M23).T @ x[:2], 6),
    "outer": (lambda x: xp.outer(x[:2], xp.sin(x[2:5])), 5),
    # broadcasting
    "scalar_times_vector": (lambda x: x[0] * x, 6),
    "column_plus_row": (lambda x: xp.reshape(x[:3], (3, 1)) + x[3:7], 7),
    "column_times_row": (lambda x: xp.reshape(x[:3], (3, 1)) * xp.sin(x[3:7]), 7),
    "matrix_plus_row": (lambda x: xp.reshape(x, M23) * x[3:], 6),
    "broadcast_to": (lambda x: xp.broadcast_to(x[:3], M23) * xp.reshape(x, M23), 6),
    "broadcast_scalar": (lambda x: xp.broadcast_to(x[1], (4,)) * xp.exp(x[2:]), 6),
    # indexing and slicing
    "index_int": (lambda x: x[2] * x, 6),
    "index_negative": (lambda x: x[-1] * x[1:4], 6),
    "slice_step": (lambda x: x[::2] * x[1::2], 6),
    "slice_reverse": (lambda x: x[::-1] * x, 6),
    "fancy_repeated": (lambda x: x[[0, 0, 3]] * x[np.array([1, 2, 2])], 6),
    "bool_mask": (lambda x: x[MASK6] ** 2, 6),
    "index_2d": (lambda x: xp.reshape(x, M23)[1, 0:2] * xp.reshape(x, M23)[:, 2][0], 6),
    "ellipsis": (lambda x: xp.reshape(x, M23)[..., 1] ** 2, 6),
    "newaxis": (lambda x: x[:, None] * x[None, :], 4),
    "iterate": (lambda x: xp.stack([xi * xi for xi in x]), 4),
    # stacking
    "stack_scalars": (lambda x: xp.stack([x[0] * x[1], xp.sin(x[2]), x[3], 2.0]), 4),
    "stack_axis1": (lambda x: xp.stack([x[:3], xp.exp(x[3:6])], axis=1), 6),
    "stack_constant_row": (lambda x: xp.stack([x[:3], CONST6[:3]]) ** 2, 6),
    "concatenate": (lambda x: xp.concatenate([x[:2] ** 2, xp.sin(x[2:5]), CONST6[:1]]), 5),
    "asarray_of_tensors": (lambda x: xp.asarray([x[0], x[1] ** 2, 1.0]), 3),
    "reshape_method": (lambda x: x.reshape(3, 2).T.reshape(-1) * x, 6),
}


def _point(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.5, 2.0, size=n)


@pytest.fixture(params=sorted(CASES), name="case")
def _case(request):
    f, n = CASES[request.param]
    return f, _point(n, seed=len(request.param))


def test_jvp_matches_central_differences(case) -> None:
    f, x = case
    rng = np.random.default_rng(1)
    for _ in range(2):
        v = rng.standard_normal(x.shape)
        y, y_dot = jvp(f, x, v)
        close(y, evaluate(f, x), rtol=0, atol=0)
        close(y_dot, central(f, x, v), rtol=1e-6, atol=1e-7)


def test_vjp_matches_central_differences(case) -> None:
    f, x = case
    rng = np.random.default_rng(2)
    y = evaluate(f, x)
    for _ in range(2):
        u, v = rng.standard_normal(y.shape), rng.standard_normal(x.shape)
        y_vjp, x_bar = vjp(f, x, u)
        close(y_vjp, y, rtol=0, atol=0)
        assert x_bar.shape == x.shape and x_bar.dtype == np.float64
        close(x_bar @ v, np.sum(u * central(f, x, v)), rtol=1e-6, atol=1e-7)
        # the transpose identity <u, J v> = <J^T u, v> holds to rounding
        close(x_bar @ v, np.sum(u * jvp(f, x, v)[1]), rtol=1e-12, atol=1e-12)


def test_second_order_hvp_matches_differences_of_the_gradient(case) -> None:
    f, x = case
    rng = np.random.default_rng(3)
    w = rng.standard_normal(evaluate(f, x).shape)

    def g(t):  # a scalar function exercising f's second derivatives
        return xp.sum(xp.asarray(w) * f(t))

    v = rng.standard_normal(x.shape)
    numeric = (grad(g)(x + H * v) - grad(g)(x - H * v)) / (2 * H)
    close(hvp(g, x, v), numeric, rtol=1e-5, atol=1e-6)


def test_jacobian_three_ways_agree(case) -> None:
    f, x = case
    j_batched = jacfwd(f, x)
    close(jacfwd_loop(f, x), j_batched, rtol=1e-14, atol=1e-14)
    close(jacrev(f, x), j_batched, rtol=1e-13, atol=1e-13)
    assert j_batched.shape == evaluate(f, x).shape + x.shape


def test_every_rule_is_exercised_by_a_case() -> None:
    used = set()
    for f, n in CASES.values():
        x = Tensor(_point(n))
        x.node = Node.leaf()
        y = xp.asarray(f(x))
        stack = [y.node]
        while stack:
            node = stack.pop()
            if node is None or node.rule is None:
                continue
            used.add(node.rule.name)
            stack.extend(p for _, p, _ in node.parents)
    # scatter is the VJP of getitem; it is differentiated by the second-order tests
    assert set(RULES) - used <= {"scatter"}, set(RULES) - used


# -- Hessians -------------------------------------------------------------------


def rosenbrock(x):
    a, b = x[:-1], x[1:]
    return xp.sum(100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2)


def rosenbrock_hessian(x: np.ndarray) -> np.ndarray:
    n = x.shape[0]
    h = np.zeros((n, n))
    i = np.arange(n - 1)
    h[i, i] += 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    h[i + 1, i + 1] += 200.0
    h[i, i + 1] = h[i + 1, i] = -400.0 * x[:-1]
    return h


def test_hessian_batched_and_looped_match_the_analytic_hessian() -> None:
    x = np.random.default_rng(4).uniform(-1.2, 1.2, size=7)
    expected = rosenbrock_hessian(x)
    close(hessian(rosenbrock, x), expected, rtol=1e-13, atol=1e-12)
    close(hessian_loop(rosenbrock, x), expected, rtol=1e-13, atol=1e-12)


def test_hessian_of_a_linear_function_is_zero_and_gradient_of_a_constant_is_zero() -> None:
    x = _point(4)
    assert np.array_equal(hessian(lambda t: xp.sum(3.0 * t), x), np.zeros((4, 4)))
    assert np.array_equal(grad(lambda t: xp.sum(CONST6))(x), np.zeros(4))
    assert np.array_equal(jvp(lambda t: xp.asarray(CONST6), x, x)[1], np.zeros(6))
    assert np.array_equal(jacrev(lambda t: xp.asarray(CONST6[:2]), x), np.zeros((2, 4)))


# -- exact values: the benchmark function, accumulation, aliasing ----------


def bench_f(x):
    return xp.sum(xp.tanh(x) * xp.exp(-x * x) + xp.sin(x) ** 2)


def bench_gradient(x: np.ndarray) -> np.ndarray:
    t, e = np.tanh(x), np.exp(-x * x)
    return (1 - t * t) * e - 2 * x * t * e + 2 * np.sin(x) * np.cos(x)


def test_benchmark_function_gradient_is_exact() -> None:
    x = np.random.default_rng(5).standard_normal(1000)
    value, g = value_and_grad(bench_f)(x)
    close(value, np.sum(np.tanh(x) * np.exp(-x * x) + np.sin(x) ** 2), rtol=1e-14, atol=0)
    close(g, bench_gradient(x), rtol=1e-13, atol=1e-15)


def test_in_place_accumulation_never_corrupts_a_shared_cotangent() -> None:
    # x feeds many nodes; add passes the same y_bar array by reference to both
    # of its inputs; later contributions are summed in place.
    x = _point(5)

    def f(t):
        s = xp.sin(t)
        return xp.sum((t + t) * t + t + s + s + s * t)

    expected = 4 * x + 1 + 2 * np.cos(x) + np.cos(x) * x + np.sin(x)
    close(grad(f)(x), expected, rtol=1e-14, atol=1e-14)


def test_results_are_fresh_writable_arrays_and_inputs_are_untouched() -> None:
    x = _point(4)
    x_copy = x.copy()
    u = np.arange(4.0)
    _, x_bar = vjp(lambda t: t, x, u)
    assert np.array_equal(x_bar, u) and not np.shares_memory(x_bar, u)
    g = grad(lambda t: xp.sum(t))(x)  # the VJP of sum is a broadcast view
    assert g.flags.writeable and np.array_equal(g, np.ones(4))
    g[0] = 5.0
    assert np.array_equal(grad(lambda t: xp.sum(t))(x), np.ones(4))
    assert np.array_equal(x, x_copy)


def test_primal_through_the_engine_records_nothing() -> None:
    y = bench_f(Tensor(_point(10)))
    assert y.node is None and y.dot is None


def test_jacrev_runs_one_backward_per_output_on_one_recorded_pass() -> None:
    x = _point(3)
    j = jacrev(lambda t: xp.stack([t[0] * t[1], xp.sin(t[2]), t[0] ** 2]), x)
    expected = np.array([[x[1], x[0], 0], [0, 0, np.cos(x[2])], [2 * x[0], 0, 0]])
    close(j, expected, rtol=1e-15, atol=0)


def test_jvp_batch_pushes_several_tangents_in_one_pass() -> None:
    x = _point(4)
    tangents = np.random.default_rng(6).standard_normal((3, 4))
    y, y_dots = jvp_batch(lambda t: xp.sin(t) * t[0], x, tangents)
    for v, y_dot in zip(tangents, y_dots):
        close(y_dot, jvp(lambda t: xp.sin(t) * t[0], x, v)[1], rtol=1e-15, atol=0)


# -- deep chains: no recursion anywhere -----------------------------------------


def test_a_chain_of_ten_thousand_operations() -> None:
    steps = 2500  # 4 operations each

    def chain(t):
        for _ in range(steps):
            t = 0.5 * xp.tanh(t) + 0.1 * t
        return xp.sum(t)

    x = np.array([0.3, -0.7])
    z, derivative = x.copy(), np.ones(2)
    for _ in range(steps):  # chain rule by hand
        derivative *= 0.5 * (1 - np.tanh(z) ** 2) + 0.1
        z = 0.5 * np.tanh(z) + 0.1 * z
    limit = sys.getrecursionlimit()
    close(grad(chain)(x), derivative, rtol=1e-12, atol=1e-300)
    close(jvp(chain, x, np.ones(2))[1], derivative.sum(), rtol=1e-12, atol=1e-300)
    assert np.all(np.isfinite(hvp(chain, x, np.ones(2))))
    assert sys.getrecursionlimit() == limit
    leaf = Tensor(x)
    leaf.node = Node.leaf()
    y = chain(leaf)  # a 10,000-node graph, freed without recursing
    del y


# -- numpy semantics at the edges ---------------------------------------------------


def test_numpy_edge_semantics_without_exceptions() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value, g = value_and_grad(lambda t: xp.sum(xp.log(t)))(np.array([0.0, 1.0]))
        assert value == -np.inf and g[0] == np.inf and g[1] == 1.0
        assert np.isnan(evaluate(lambda t: xp.sqrt(t), np.array([-1.0])))[0]
        assert evaluate(lambda t: 1.0 / t, np.array([0.0]))[0] == np.inf
        assert evaluate(lambda t: xp.exp(t), np.array([1000.0]))[0] == np.inf
    # abs at 0: derivative 0 (as JAX and torch)
    assert grad(lambda t: xp.sum(xp.abs(t)))(np.array([0.0, -2.0])).tolist() == [0.0, -1.0]


def test_results_are_float64() -> None:
    x = np.arange(3)  # integers in, float64 out
    assert grad(lambda t: xp.sum(t * t))(x).dtype == np.float64
    assert jacfwd(lambda t: t * 2, x).dtype == np.float64
    assert xp.asarray([1, 2]).value.dtype == np.float64


# -- errors that name the problem -------------------------------------------------


def test_matmul_shape_mismatch_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2,\)"):
        grad(lambda t: xp.sum(xp.reshape(t, M23) @ t[:2]))(_point(6))
    with pytest.raises(ValueError, match=r"1-D and 2-D.*\(\)"):
        evaluate(lambda t: t[0] @ t, _point(3))


def test_unsupported_numpy_function_on_a_tensor_is_named() -> None:
    with pytest.raises(TypeError, match="'arctan'"):
        grad(lambda t: xp.sum(np.arctan(t)))(_point(3))
    with pytest.raises(TypeError, match="'cumsum'"):
        np.cumsum(Tensor(_point(3)))
    with pytest.raises(AttributeError, match="'arctan'"):
        _ = xp.arctan
    with pytest.raises(TypeError, match="drop its derivatives"):
        np.asarray(Tensor(_point(3)))
    with pytest.raises(TypeError, match="'add.reduce'"):
        np.add.reduce(Tensor(_point(3)))


def test_misuse_errors_are_clear() -> None:
    x = _point(3)
    with pytest.raises(ValueError, match=r"scalar-valued f; f returned shape \(3,\)"):
        grad(lambda t: t * 2)(x)
    with pytest.raises(ValueError, match=r"tangent v has shape \(2,\); x has shape \(3,\)"):
        jvp(lambda t: t, x, np.ones(2))
    with pytest.raises(ValueError, match=r"cotangent u has shape \(2,\).*\(3,\)"):
        vjp(lambda t: t, x, np.ones(2))
    with pytest.raises(NotImplementedError, match="nested forward mode"):
        jvp(lambda t: jvp(lambda s: s * s, t, np.ones(3))[1], x, np.ones(3))
    with pytest.raises(NotImplementedError, match="reverse-over-reverse"):
        grad(lambda t: xp.sum(grad(lambda s: xp.sum(s * s))(t)))(x)
    with pytest.raises(TypeError, match="unsupported operand"):
        Tensor(x) + "a"
    with pytest.raises(TypeError, match="float64 only"):
        xp.asarray([1, 2], dtype=np.float32)
    with pytest.raises(ValueError, match="same shape"):
        xp.stack([Tensor(x), Tensor(x[:2])])
    with pytest.raises(TypeError, match="indexing with a Tensor"):
        Tensor(x)[Tensor(np.array(0.0))]
    with pytest.raises(TypeError, match="would drop its derivative"):
        grad(lambda t: float(xp.sum(t)))(x)


def test_batched_forward_in_chunks_matches_one_batch() -> None:
    x = np.random.default_rng(8).uniform(-1.2, 1.2, size=7)
    f = CASES["column_plus_row"][0]
    close(jacfwd(f, x, chunk=3), jacfwd(f, x), rtol=0, atol=0)
    close(hessian(rosenbrock, x, chunk=2), rosenbrock_hessian(x), rtol=1e-13, atol=1e-12)
    assert jacfwd(lambda t: xp.sum(t * t), np.zeros(0)).shape == (0,)
