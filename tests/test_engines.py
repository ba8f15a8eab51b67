"""The scalar engines agree on a zoo of functions, scale to deep graphs, and keep
nested perturbations apart; the recursive backpropagate is exponential where
backward() stays linear."""

import math

import numpy as np
import pytest

from toyad import dual, numeric, reverse, symbolic

# f(xp, x) written once; analytic gradients by hand
ZOO = {
    "poly": (
        lambda xp, x: x[0] * x[0] * x[1] + x[1] + 2.0,
        lambda x: np.array([2 * x[0] * x[1], x[0] ** 2 + 1]),
    ),
    "trig": (
        lambda xp, x: xp.sin(x[0] * x[1]) + xp.cos(x[0]) ** 2,
        lambda x: np.array(
            [
                x[1] * math.cos(x[0] * x[1]) - 2 * math.cos(x[0]) * math.sin(x[0]),
                x[0] * math.cos(x[0] * x[1]),
            ]
        ),
    ),
    "exp_log": (
        lambda xp, x: xp.log(x[0] * x[0] + 1.0) * xp.exp(-x[1]) / xp.sqrt(x[0] + 3.0),
        lambda x: np.array(
            [
                math.exp(-x[1])
                * (
                    2 * x[0] / (x[0] ** 2 + 1) / math.sqrt(x[0] + 3)
                    - 0.5 * math.log(x[0] ** 2 + 1) * (x[0] + 3) ** -1.5
                ),
                -math.log(x[0] ** 2 + 1) * math.exp(-x[1]) / math.sqrt(x[0] + 3),
            ]
        ),
    ),
    "tanh_pow": (
        lambda xp, x: xp.tanh(x[0]) ** 3 - x[1] ** x[0],
        lambda x: np.array(
            [
                3 * math.tanh(x[0]) ** 2 * (1 - math.tanh(x[0]) ** 2)
                - x[1] ** x[0] * math.log(x[1]),
                -x[0] * x[1] ** (x[0] - 1),
            ]
        ),
    ),
}
POINT = np.array([0.7, 1.3])


def objects(values):
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr


def grad_dual(f, x):
    return np.array(dual.gradient(lambda z: f(np, z), objects(x.tolist())), dtype=float)


def grad_symbolic(f, x):
    variables = [symbolic.Var(f"x{i}", v) for i, v in enumerate(x)]
    out = f(np, objects(variables))
    return np.array([out.gradient(v).evaluate() for v in variables])


def grad_reverse(f, x):
    variables = [reverse.Var(f"x{i}", v) for i, v in enumerate(x)]
    out = f(np, objects(variables))
    return np.array(reverse.gradients(out, variables))


@pytest.mark.parametrize("name", sorted(ZOO))
def test_engines_agree_with_analytic_and_each_other(name):
    f, analytic = ZOO[name]
    expected = analytic(POINT)
    results = {
        "dual": grad_dual(f, POINT),
        "symbolic": grad_symbolic(f, POINT),
        "reverse": grad_reverse(f, POINT),
    }
    for engine, got in results.items():
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-14, err_msg=engine)
    central = numeric.gradient(lambda z: f(np, z), POINT, method="central")
    np.testing.assert_allclose(central, expected, rtol=1e-8)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_hessians_agree_across_engines(name):
    f = ZOO[name][0]
    expected = numeric.hessian(lambda z: f(np, z), POINT, method="richardson")
    xs = [reverse.Var(f"x{i}", v) for i, v in enumerate(POINT)]
    arr = objects(xs)
    rr = reverse.hessian(f(np, arr), xs, "reverse-over-reverse")
    fr = reverse.hessian(lambda: f(np, arr), xs, "forward-over-reverse")
    sv = [symbolic.Var(f"x{i}", v) for i, v in enumerate(POINT)]
    out = f(np, objects(sv))
    ff = np.array([[out.gradient(a).gradient(b).evaluate() for b in sv] for a in sv])
    for h in (rr, fr, ff):
        np.testing.assert_allclose(h, expected, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(rr, rr.T, rtol=1e-14)


def test_perturbation_confusion_is_avoided():
    # d/dx [x * (d/dy (x + y))(1)] at x = 1 is 1 (the inner derivative is 1)
    assert dual.derivative(lambda x: x * dual.derivative(lambda y: x + y, 1.0), 1.0) == 1.0
    # d/dx [x * (d/dy (x * y))(2)] = d/dx [x * x] = 2x = 2 at 1
    assert dual.derivative(lambda x: x * dual.derivative(lambda y: x * y, 2.0), 1.0) == 2.0
    # third derivative of sin by nesting three tags: -cos
    d3 = dual.derivative(
        lambda a: dual.derivative(lambda b: dual.derivative(lambda c: c.sin(), b), a), 0.4
    )
    assert d3 == pytest.approx(-math.cos(0.4), rel=1e-14)


def test_higher_order_symbolic_stays_small_and_exact():
    x = symbolic.Var("x", 0.7)
    e = symbolic.Sin(x) * symbolic.Exp(x)
    for _ in range(8):
        e = e.gradient(x)
    # (sin·exp)^(n) = 2^(n/2) e^x sin(x + nπ/4)
    assert e.evaluate() == pytest.approx(16 * math.exp(0.7) * math.sin(0.7 + 2 * math.pi), 1e-13)
    assert symbolic.size([e]) < 100  # shared, simplified DAG, not a 2^8-fold tree


def test_symbolic_simplifies_zero_and_one_and_shares_nodes():
    x, y = symbolic.Var("x"), symbolic.Var("y")
    assert (x * 1) is x and (0 + x) is x and str(x * 0) == "0.0"
    assert symbolic.Cos(x) is symbolic.Cos(x) or (x.cos() is x.cos())
    assert (x * y).gradient(x) is y


CHAIN = 100_000


def test_reverse_evaluate_and_backward_on_a_100k_step_chain():
    x = reverse.Var("x", 0.5)
    z = x
    for _ in range(CHAIN):
        z = z * 0.9999 + 0.0001
    assert z.evaluate() == pytest.approx(1 - 0.5 * 0.9999**CHAIN, rel=1e-9)
    z.backward()
    assert x.gradient == pytest.approx(0.9999**CHAIN, rel=1e-9)


def test_symbolic_evaluate_and_gradient_on_a_deep_chain():
    x = symbolic.Var("x", 0.5)
    z = x
    for _ in range(20_000):
        z = z * 0.9999 + x * 0.0001
    assert z.evaluate() == pytest.approx(0.5, rel=1e-12)
    assert z.gradient(x).evaluate() == pytest.approx(1.0, rel=1e-9)


def test_nested_halving_10k_deep_linear_backward_and_exponential_recursion():
    x = reverse.Var("x", 0.3)
    z = x
    for _ in range(10_000):
        z = (z + z) * 0.5
    assert z.evaluate() == pytest.approx(0.3)
    z.backward()
    assert x.gradient == pytest.approx(1.0)
    # the path count doubles per level: far beyond what recursion could walk
    assert reverse.count_paths(z) > 2**10_000


def test_count_paths_of_several_outputs_sums_each_outputs_recursive_calls():
    x, y = reverse.Var("x", 0.3), reverse.Var("y", 2.0)
    a = x * y + x  # paths from a: a, x*y, x, y, x -> 5
    b = a * a  # paths from b: b, then a twice -> 1 + 2 * 5
    assert reverse.count_paths(a) == 5
    assert reverse.count_paths(b) == 11
    assert reverse.count_paths(a, b) == 16
    assert reverse.count_paths(a, a) == 10  # an output listed twice is started twice


def halving_chain(depth):
    x = reverse.Var("x", 0.3)
    z = x
    for _ in range(depth):
        z = (z + z) * 0.5
    return x, z


def test_recursive_backpropagate_is_exponential_backward_is_linear():
    recursive, iterative = {}, {}
    for depth in (4, 8, 12):
        x, z = halving_chain(depth)
        reverse.Node.visits = 0
        x.gradient = 0
        z.backpropagate(1.0)
        assert x.gradient == pytest.approx(1.0)
        recursive[depth] = reverse.Node.visits
        iterative[depth] = z.backward_visits()
        assert x.gradient == pytest.approx(1.0)
    # 4 more levels: 2^4 = 16 times the calls for the recursion ...
    assert recursive[8] / recursive[4] > 12 and recursive[12] / recursive[8] > 15
    # ... and 4 more levels of 2 nodes each for backward(): each node pushed once
    assert iterative[8] - iterative[4] == iterative[12] - iterative[8] == 8
    assert iterative[12] == 2 * 12 + 1


def test_fan_in_and_fan_out():
    xs = [reverse.Var(f"x{i}", 0.1 * i) for i in range(200)]
    total = sum(x * x for x in xs)  # fan-in: 200 inputs into one output
    total.backward()
    assert [x.gradient for x in xs] == pytest.approx([0.2 * i for i in range(200)])
    s = reverse.Var("s", 0.5)
    outs = [(s * k).sin() for k in range(1, 50)]  # fan-out: one input, 49 outputs
    for k, out in enumerate(outs, start=1):
        assert reverse.gradients(out, [s])[0] == pytest.approx(k * math.cos(0.5 * k))
    reverse.backward(outs, [1.0] * len(outs))  # all at once: the sum of the rows
    assert s.gradient == pytest.approx(sum(k * math.cos(0.5 * k) for k in range(1, 50)))


def test_numpy_ufuncs_on_object_arrays_of_every_engine():
    values = [0.3, 0.6]
    for make in (
        lambda v: objects([dual.DualNumber(a, 1.0) for a in v]),
        lambda v: objects([reverse.Var("x", a) for a in v]),
        lambda v: objects([symbolic.Var("x", a) for a in v]),
    ):
        arr = make(values)
        for ufunc in (np.sin, np.cos, np.tan, np.exp, np.log, np.sqrt, np.tanh, np.arctan):
            out = ufunc(arr)
            assert out.dtype == object and len(out) == 2
        total = np.sum(np.asarray([[1.0, 2.0]]) @ arr)
        assert total is not None
