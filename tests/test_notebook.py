"""Every number the reference notebook (appendix D) shows, through toyad's APIs."""

import math

import numpy as np
import pytest

from toyad import dual, numeric, reverse, symbolic
from toyad.dual import DualNumber


def f(x, y):
    return x * x * y + y + 2


def test_numeric_gradients_close_but_not_equal():
    df = numeric.gradients(f, [3, 4])
    assert isinstance(df, list) and len(df) == 2
    assert df == pytest.approx([24, 10], abs=1e-3)
    assert df != [24, 10]  # forward differences are approximate


def test_numeric_hessian_by_nested_gradients():
    def dfdx(x, y):
        return numeric.gradients(f, [x, y])[0]

    def dfdy(x, y):
        return numeric.gradients(f, [x, y])[1]

    d2f = [numeric.gradients(dfdx, [3.0, 4.0]), numeric.gradients(dfdy, [3.0, 4.0])]
    assert np.allclose(d2f, [[8, 6], [6, 0]], atol=1e-2)


def test_numeric_sin_square():
    (dz,) = numeric.gradients(lambda x: math.sin(x**2), [3])
    assert dz == pytest.approx(6 * math.cos(9), abs=1e-3)
    assert dz == pytest.approx(-5.46, abs=1e-2)
    assert math.cos(3**2) == pytest.approx(-0.91, abs=5e-3)  # dz/ds1, the reverse-mode first step


def notebook_graph(module):
    x, y = module.Var("x"), module.Var("y")
    graph = module.Add(module.Mul(module.Mul(x, x), y), module.Add(y, module.Const(2)))
    return x, y, graph


def test_computation_graph_evaluates_to_42():
    x, y, graph = notebook_graph(symbolic)
    x.value, y.value = 3, 4
    assert graph.evaluate() == 42
    assert str(graph) == "((x) * (x)) * (y) + y + 2"


def test_symbolic_forward_mode_first_and_second_order():
    x, y, graph = notebook_graph(symbolic)
    x.value, y.value = 3.0, 4.0
    dfdx, dfdy = graph.gradient(x), graph.gradient(y)
    assert (dfdx.evaluate(), dfdy.evaluate()) == (24.0, 10.0)
    hessian = [
        [dfdx.gradient(x).evaluate(), dfdx.gradient(y).evaluate()],
        [dfdy.gradient(x).evaluate(), dfdy.gradient(y).evaluate()],
    ]
    assert hessian == [[8, 6], [6, 0]]


def test_dual_number_arithmetic_and_printing():
    assert str(3 + DualNumber(3, 4)) == "6.0 + 4.0ε"
    product = DualNumber(3, 4) * DualNumber(5, 7)
    assert (product.value, product.eps) == (15, 41)
    assert repr(product) == "15.0 + 41.0ε"
    assert str(DualNumber(2.0)) == "2.0"


def test_dual_numbers_through_the_symbolic_graph():
    x, y, graph = notebook_graph(symbolic)
    x.value, y.value = DualNumber(3.0), DualNumber(4.0)
    assert str(graph.evaluate()) == "42.0"
    x.value, y.value = DualNumber(3.0, 1.0), DualNumber(4.0)
    assert graph.evaluate().eps == 24.0
    x.value, y.value = DualNumber(3.0), DualNumber(4.0, 1.0)
    assert graph.evaluate().eps == 10.0


def test_reverse_mode_backpropagate():
    x, y, graph = notebook_graph(reverse)
    x.value, y.value = 3, 4
    result = graph.evaluate()
    graph.backpropagate(1.0)
    assert result == 42
    assert (x.gradient, y.gradient) == (24.0, 10.0)
    assert str(graph) == "((x) * (x)) * (y) + y + 2"


def test_reverse_mode_backward_and_second_order():
    x, y = reverse.Var("x", 3.0), reverse.Var("y", 4.0)
    graph = x * x * y + y + 2
    graph.backward()
    assert (x.gradient, y.gradient) == (24.0, 10.0)
    h = reverse.hessian(graph, [x, y], "reverse-over-reverse")
    assert h.tolist() == [[8, 6], [6, 0]]
    h = reverse.hessian(lambda: x * x * y + y + 2, [x, y], "forward-over-reverse")
    assert h.tolist() == [[8, 6], [6, 0]]


def test_unconnected_variable_gets_zero_not_none():
    # TF's tape answers None for a target that does not depend on a source;
    # toyad's engines answer 0 (the report records the frameworks' native answers).
    x, z = reverse.Var("x", 3.0), reverse.Var("z", 1.0)
    assert reverse.gradients(x * x, [x, z]) == [6.0, 0.0]
    assert dual.derivative(lambda t: 5.0 + 0 * t, 1.0) == 0.0
