"""The reverse engine's generated code and its creation-order backward pass.

Operator methods, explicit constructors and ``evaluate()`` are compiled from
the rule table (see ``Mul._source``); every path into a node must store the
value and the partials the rule's own functions give, for any operand kind.
"""

import math

import numpy as np
import pytest

from toyad import dual, reverse, rules

A0, B0 = 0.7, 1.9  # inside every binary rule's smooth domain


def rule_partials(rule, a, b):
    y = rule.kernel(a, b)
    return y, rule.da(a, b, y), rule.db(a, b, y)


@pytest.mark.parametrize("name", sorted(rules.BINARY))
def test_every_way_to_build_a_binary_node_agrees_with_the_rule(name):
    rule = rules.BINARY[name]
    cls = reverse.BINARY_CLASSES[name]
    y_want, da_want, db_want = rule_partials(rule, A0, B0)
    dunder = "__" + {"div": "truediv"}.get(name, name) + "__"
    rdunder = "__r" + dunder[2:]
    for other in (B0, int(B0) if name != "pow" else B0, np.float64(B0)):
        want = rule_partials(rule, A0, float(other))
        a = reverse.Var("a", A0)
        y = getattr(a, dunder)(other)  # node <op> number
        assert type(y) is cls and type(y.b) is reverse.Const
        assert (y.value, y.da) == pytest.approx(want[:2], rel=1e-15)
        y.backward()
        assert a.gradient == pytest.approx(want[1], rel=1e-15)
        b = reverse.Var("b", float(other))
        y = getattr(b, rdunder)(A0)  # number <op> node
        assert type(y.a) is reverse.Const and y.b is b
        assert (y.value, y.db) == pytest.approx((want[0], want[2]), rel=1e-15)
    a, b = reverse.Var("a", A0), reverse.Var("b", B0)
    for y in (getattr(a, dunder)(b), cls(a, b)):  # operator and notebook constructor
        assert (y.value, y.da, y.db) == pytest.approx((y_want, da_want, db_want), rel=1e-15)
    # evaluate() recomputes value and partials in place after a Var changes
    a.value = 1.3
    assert y.evaluate() == pytest.approx(rule.kernel(1.3, B0), rel=1e-15)
    assert (y.da, y.db) == pytest.approx(rule_partials(rule, 1.3, B0)[1:], rel=1e-15)


@pytest.mark.parametrize("name", sorted(rules.UNARY))
def test_every_way_to_build_a_unary_node_agrees_with_the_rule(name):
    rule = rules.UNARY[name]
    cls = reverse.UNARY_CLASSES[name]
    x0 = 0.6
    y_want = rule.kernel(x0)
    d_want = rule.deriv(x0, y_want)
    # numpy's ufuncs call the method of the same name on object operands (sign and
    # heaviside are the exceptions: numpy compares instead, or wants two arguments)
    ufunc = None if name in ("sign", "heaviside") else getattr(np, name, None)
    for build in (lambda v: getattr(v, name)(), cls, ufunc):
        if build is None:
            continue
        v = reverse.Var("x", x0)
        y = build(v)
        assert type(y) is cls and (y.value, y.da) == pytest.approx((y_want, d_want), rel=1e-15)
        y.backward()
        assert v.gradient == pytest.approx(d_want, rel=1e-15)


def test_declared_partials_are_functions_too_and_names_are_checked():
    mul, exp, add = rules.BINARY["mul"], rules.UNARY["exp"], rules.BINARY["add"]
    assert (mul.da_arg, mul.db_arg, exp.deriv_arg) == ("b", "a", "y")
    assert (mul.da(2.0, 3.0, 6.0), mul.db(2.0, 3.0, 6.0), exp.deriv(0.0, 1.0)) == (3.0, 2.0, 1.0)
    assert add.da_const == 1.0 and add.da(5.0, 6.0, 11.0) == 1.0
    with pytest.raises(ValueError, match="one of"):
        rules.Binary("bad", "Bad", "?", lambda a, b: a, "c", 0.0, "no such argument")


def test_constant_partials_are_stored_once_on_the_class():
    x = reverse.Var("x", 2.0)
    y = x + 3.0
    assert reverse.Add.__dict__["da"] == 1.0 and y.da == 1.0 and y.db == 1.0
    assert reverse.Neg.__dict__["da"] == -1.0 and (-x).da == -1.0


def test_creation_order_is_topological_even_for_notebook_constructors():
    # nodes built bottom-up with the notebook's classes, shared and reused
    x, y = reverse.Var("x", 3.0), reverse.Var("y", 4.0)
    shared = reverse.Mul(x, y)
    f = reverse.Add(reverse.Mul(shared, shared), reverse.Sin(reverse.Add(shared, reverse.Const(2))))
    f.backward()
    s = 12.0
    assert x.gradient == pytest.approx(2 * s * 4.0 + math.cos(s + 2) * 4.0, rel=1e-14)
    assert y.gradient == pytest.approx(2 * s * 3.0 + math.cos(s + 2) * 3.0, rel=1e-14)
    order = reverse._ancestors([f], next(reverse._epochs))
    position = {id(n): i for i, n in enumerate(order)}
    for node in order:  # newest first: every user before each of its operands
        for kid in node._kids:
            if id(kid) in position:
                assert position[id(node)] < position[id(kid)]


def test_backward_of_several_outputs_with_seeds_and_a_shared_subgraph():
    x, y = reverse.Var("x", 0.5), reverse.Var("y", -1.5)
    s = x * y
    outputs = [s.sin(), s * s, y.exp()]
    seeds = [2.0, -1.0, 0.5]
    visited = reverse.backward(outputs, seeds)
    ds = 2.0 * math.cos(-0.75) - 2 * (-0.75)  # d/ds of 2 sin(s) - s²
    assert x.gradient == pytest.approx(ds * -1.5, rel=1e-14)
    assert y.gradient == pytest.approx(ds * 0.5 + 0.5 * math.exp(-1.5), rel=1e-14)
    assert visited == 6  # 3 outputs, s, x, y: each once


def test_generated_code_runs_dual_numbers_for_forward_over_reverse():
    x = reverse.Var("x", dual.DualNumber(0.3, 1.0))
    y = (x * x).tanh() * 2.0
    y.backward()
    # d²/dx² of 2 tanh(x²) at 0.3 is the tangent of the gradient
    t = math.tanh(0.09)
    want = 2 * (2 * (1 - t * t) - 8 * 0.09 * t * (1 - t * t))
    assert x.gradient.eps == pytest.approx(want, rel=1e-13)


def test_operands_that_are_not_numbers_are_refused_clearly():
    x = reverse.Var("x", 1.0)
    with pytest.raises(TypeError):
        x * "2"
    with pytest.raises(TypeError, match="cannot use a str"):
        reverse.Mul(x, "2")
    assert isinstance(x * np.array([1.0, 2.0]), np.ndarray)  # numpy broadcasts over nodes
