"""The reverse engine's flat tape: rows in creation order, one sweep per backward,
graphs spanning several tapes, no node kept alive by a tape, no cycle left for the
garbage collector."""

import gc
import math
import weakref

import numpy as np
import pytest

from toyad import reverse


@pytest.fixture
def tiny_tapes(monkeypatch):
    """Automatic tapes of 3 rows: every graph below spans many tapes."""
    monkeypatch.setattr(reverse, "TAPE_LIMIT", 3)
    reverse._activate(reverse.Tape._automatic())
    yield
    monkeypatch.undo()
    reverse._activate(reverse.Tape._automatic())


def rows(tape):
    e = tape.entries
    return [tuple(e[k : k + 4]) for k in range(0, len(e), 4)]


def test_rows_are_written_in_creation_order_with_operand_indices_and_partials():
    with reverse.Tape() as t:
        x, y = reverse.Var("x", 3.0), reverse.Var("y", 4.0)
        p = x * y
        z = p + 0.5
        s = z.sin()
    assert (x._t, y._t, p._t, z._t, s._t) == (t, t, t, t, t)
    assert [n._i for n in (x, y, p, z, s)] == [1, 2, 3, 4, 5]  # row 0 is the sink
    assert len(t) == 6
    assert rows(t) == [
        (0, 0, 0.0, 0.0),  # sink
        (0, 0, 0.0, 0.0),  # x: a leaf pushes nothing
        (0, 0, 0.0, 0.0),  # y
        (1, 2, 4.0, 3.0),  # x * y: ∂/∂x = y, ∂/∂y = x
        (3, 0, 1.0, 1.0),  # p + 0.5: the constant points at the sink
        (4, 0, math.cos(12.5), 0.0),  # sin
    ]
    assert (p.da, p.db, s.da) == (4.0, 3.0, math.cos(12.5))  # the face reads the tape
    assert s.backward_visits() == 5
    assert x.gradient == pytest.approx(math.cos(12.5) * 4.0, rel=1e-15)
    assert y.gradient == pytest.approx(math.cos(12.5) * 3.0, rel=1e-15)


def test_the_explicit_tape_returns_to_the_tape_before_it():
    before = reverse._active
    with reverse.Tape() as t:
        assert reverse._active is t
        with reverse.Tape() as inner:
            assert reverse._active is inner
        assert reverse._active is t
    assert reverse._active is before


def test_fan_out_accumulates_every_consumer_once():
    with reverse.Tape():
        x = reverse.Var("x", 0.7)
        s = x * x  # used four times below
        z = s + s * s + s.sin() + s.exp() * 2.0
    visited = z.backward_visits()
    sv = 0.49
    ds = 1 + 2 * sv + math.cos(sv) + 2 * math.exp(sv)
    assert x.gradient == pytest.approx(ds * 2 * 0.7, rel=1e-14)
    # x, s, s*s, s + s*s, sin, +, exp, exp*2, +: each once
    assert visited == 9


def test_a_graph_differentiates_again_and_again_and_grows_afterwards():
    x, y = reverse.Var("x", 0.5), reverse.Var("y", -1.5)
    z = (x * y).tanh() + y * y
    want = [(1 - math.tanh(-0.75) ** 2) * -1.5, (1 - math.tanh(-0.75) ** 2) * 0.5 - 3.0]
    for _ in range(3):  # overwrites, does not accumulate
        z.backward()
        assert [x.gradient, y.gradient] == pytest.approx(want, rel=1e-14)
    # backward() started a fresh tape: w lives there, z joins it as a leaf
    w = z * z + x
    assert w._t is not z._t
    w.backward()
    zv = z.value
    assert x.gradient == pytest.approx(2 * zv * want[0] + 1, rel=1e-14)
    assert y.gradient == pytest.approx(2 * zv * want[1], rel=1e-14)
    z.backward(2.0)  # the old graph is untouched by the new one
    assert [x.gradient, y.gradient] == pytest.approx([2 * g for g in want], rel=1e-14)


def test_gradients_of_constants_and_of_unconnected_variables_are_zero():
    x, y = reverse.Var("x", 2.0), reverse.Var("y", 3.0)
    assert reverse.gradients(reverse.Const(5.0), [x, y]) == [0.0, 0.0]
    assert reverse.gradients(7.0, [x]) == [0.0]
    z = x * 0.0 + 4.0  # depends on x with a zero partial
    assert reverse.gradients(z, [x, y]) == [0.0, 0.0]
    c = reverse.Const(2.0) * reverse.Const(3.0)  # no Var below: nothing to reach
    assert reverse.gradients(c, [x]) == [0.0]
    assert c.value == 6.0


def test_a_dead_branch_never_pushes_its_inf_partial():
    x = reverse.Var("x", 0.0)
    with np.errstate(divide="ignore"):
        side = x.log()  # on the same tape, d/dx = inf, nobody's ancestor
    z = x * 2.0
    assert side._t is z._t and side._i < z._i
    z.backward()
    assert x.gradient == 2.0  # not 0 * inf = nan


def test_evaluate_updates_the_partials_on_the_tape():
    x = reverse.Var("x", 2.0)
    y = (x * x).sin()
    x.value = 3.0
    assert y.evaluate() == pytest.approx(math.sin(9.0), rel=1e-15)
    y.backward()
    assert x.gradient == pytest.approx(math.cos(9.0) * 6.0, rel=1e-14)


def test_tapes_that_feed_each_other_both_ways_are_swept_until_done():
    x = reverse.Var("x", 1.5)
    t = reverse.Tape()
    with t:
        a = x * 2.0
    b = a * 3.0  # another tape
    with t:  # back on t: t's new rows use b, b uses t's older rows
        c = b * 4.0 + a
    assert b._t is not t and c._t is t
    c.backward()
    assert x.gradient == pytest.approx(26.0, rel=1e-15)


def test_a_variable_used_on_two_tapes_sums_its_adjoints():
    x = reverse.Var("x", 0.3)
    with reverse.Tape():
        a = x.sin()
    with reverse.Tape():
        z = a * x  # x moves to this tape; a joins it as a leaf
    z.backward()
    assert x.gradient == pytest.approx(math.cos(0.3) * 0.3 + math.sin(0.3), rel=1e-14)


def test_a_long_chain_across_many_tiny_tapes(tiny_tapes):
    x, y = reverse.Var("x", 0.5), reverse.Var("y", 0.3)
    z = x
    k = 300
    for _ in range(k):
        z = z * 0.9 + x * y * 0.01
    assert len({id(n._t) for n in (x, y, z)}) > 1
    visited = z.backward_visits()
    decay = 0.9**k
    assert x.gradient == pytest.approx(decay + 0.1 * 0.3 * (1 - decay), rel=1e-12)
    assert y.gradient == pytest.approx(0.1 * 0.5 * (1 - decay), rel=1e-12)
    assert visited == 2 + 4 * k  # each node once, however many tapes
    x.value = 0.7  # evaluate() across tapes: depth-first order, rows rewritten
    assert z.evaluate() == pytest.approx(decay * 0.7 + 0.1 * 0.7 * 0.3 * (1 - decay), rel=1e-12)
    z.backward()
    assert y.gradient == pytest.approx(0.1 * 0.7 * (1 - decay), rel=1e-12)


def test_evaluate_on_one_tape_visits_shared_nodes_once_in_row_order():
    with reverse.Tape():
        x = reverse.Var("x", 0.5)
        s = x * x
        z = (s + s.sin()) * s
    order = reverse._evaluation_order(z)
    assert [n._i for n in order] == sorted(n._i for n in order)
    assert len(order) == 4 and order[-1] is z
    x.value = 2.0
    assert z.evaluate() == pytest.approx((4 + math.sin(4.0)) * 4, rel=1e-15)


@pytest.mark.parametrize("limit", [None, 3])
def test_hessians_and_fan_in_agree_on_one_tape_and_on_many(monkeypatch, limit):
    if limit:
        monkeypatch.setattr(reverse, "TAPE_LIMIT", limit)
    reverse._activate(reverse.Tape._automatic())
    try:
        xs = [reverse.Var(f"x{i}", 0.1 * (i + 1)) for i in range(4)]

        def f():
            s = sum(x * x for x in xs)
            return (s * xs[0]).sin() + xs[1] * xs[2] / (xs[3] + 1.0)

        rr = reverse.hessian(f(), xs, "reverse-over-reverse")
        fr = reverse.hessian(f, xs, "forward-over-reverse")
        np.testing.assert_allclose(rr, fr, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(rr, rr.T, rtol=1e-13)
        g = reverse.gradients(f(), xs)
        h = 1e-6
        for i, x in enumerate(xs):
            x0 = x.value
            x.value = x0 + h
            up = f().value
            x.value = x0 - h
            down = f().value
            x.value = x0
            assert g[i] == pytest.approx((up - down) / (2 * h), rel=1e-7)
    finally:
        monkeypatch.undo()
        reverse._activate(reverse.Tape._automatic())


def test_no_cycles_a_dropped_graph_frees_its_tape_without_the_collector():
    gc.disable()
    try:
        with reverse.Tape() as t:
            x = reverse.Var("x", 0.5)
            z = x
            for _ in range(100):
                z = (z * 0.5).sin() + x
        z.backward()
        tape = weakref.ref(t)
        del t
        assert tape() is not None  # the nodes hold it
        var = weakref.ref(x)
        del z
        assert tape() is not None  # x still does
        del x
        assert var() is None and tape() is None  # refcounts alone freed both
    finally:
        gc.enable()


def test_a_tape_does_not_keep_variables_alive():
    with reverse.Tape() as t:
        x = reverse.Var("x", 1.0)
        y = reverse.Var("y", 2.0)
        z = y * 3.0
    r = weakref.ref(x)
    del x
    assert r() is None
    z.backward()  # the dead variable's row is skipped
    assert y.gradient == 3.0 and len(t) == 4


def test_automatic_tapes_start_afresh_for_a_new_graph():
    x = reverse.Var("x", 1.0)
    a = x * 2.0
    first = a._t
    y = reverse.Var("y", 1.0)  # a new input after operations: a fresh tape
    b = y * 3.0
    assert b._t is not first
    c = b * 1.0
    c.backward()
    d = c + 1.0
    assert d._t is not c._t  # and after a backward pass
