"""toyad.tensor's cheap cotangents never write where they must not.

The VJPs hand saved values on by reference when the cotangent is a sum's unit
seed, multiply fresh derivative arrays in place, and the engine adds (or, for
``-y_bar``, subtracts) into accumulators in place once it owns them. The
classic bug of in-place accumulation is writing into an array someone else
holds: a user's constant, the input, a value the forward pass saved for
another VJP. Every test here checks both the gradient and that nothing
shared changed.
"""

from __future__ import annotations

import numpy as np
import pytest

from toyad.tensor import grad, hvp, jacrev, value_and_grad, vjp, xp
from toyad.tensor import rules as tensor_rules

N = 5000  # above 4096: sum's VJP is then a broadcast view, the unit seed


@pytest.fixture
def x() -> np.ndarray:
    return np.random.default_rng(11).standard_normal(N)


@pytest.fixture
def c() -> np.ndarray:
    return np.random.default_rng(12).standard_normal(N)


def frozen(*arrays: np.ndarray) -> list[np.ndarray]:
    """Copies to compare with, and the originals made read-only: a stray write raises."""
    copies = [a.copy() for a in arrays]
    for a in arrays:
        a.flags.writeable = False
    return copies


def test_unit_cotangent_is_recognised_in_constant_time_only():
    assert tensor_rules._is_unit(np.ones(()))
    assert tensor_rules._is_unit(np.broadcast_to(np.ones(()), (5, 3)))
    assert not tensor_rules._is_unit(np.ones(4))  # a full array of ones: multiplied
    assert not tensor_rules._is_unit(np.broadcast_to(np.full((), 2.0), (4,)))
    assert not tensor_rules._is_unit(1.0)
    assert not tensor_rules._is_unit(np.broadcast_to(np.ones(()), (0, 3)))  # empty


def test_empty_arrays_differentiate_to_empty_gradients():
    for shape in [(0,), (0, 3), (5000, 0)]:
        g = grad(lambda t: xp.sum(xp.sin(t) * xp.tanh(t)))(np.zeros(shape))
        assert g.shape == shape


def test_a_users_constant_handed_on_by_reference_is_never_accumulated_into(x, c):
    (c0,) = frozen(c)
    g = grad(lambda t: xp.sum(t * c) + xp.sum(t * c))(x)  # first x_bar is c itself
    np.testing.assert_array_equal(g, 2 * c0)
    np.testing.assert_array_equal(c, c0)
    one = grad(lambda t: xp.sum(t * c))(x)  # the result is a fresh copy, not c
    assert not np.shares_memory(one, c) and one.flags.writeable
    np.testing.assert_array_equal(one, c0)


def test_the_input_handed_on_by_reference_is_never_written(x):
    (x0,) = frozen(x)

    def f(t):  # exp's cotangent is x itself (the unit times x), then x * exp(x)
        return xp.sum(xp.exp(t) * t - t)

    e = np.exp(x0)
    np.testing.assert_allclose(grad(f)(x), e + x0 * e - 1, rtol=1e-14, atol=1e-16)
    np.testing.assert_array_equal(x, x0)


def test_saved_forward_values_shared_by_two_vjps_stay_intact(x):
    assert N > 4096  # else sum's VJP fills a small array: no unit seed to skip

    # a and b are each other's cotangent by reference, twice; exp and sin then read
    # their own saved values: a write into either would change the answer
    def f(t):
        a = xp.exp(t)
        b = xp.sin(t)
        return xp.sum(a * b + a * b + b * b)

    e, s, co = np.exp(x), np.sin(x), np.cos(x)
    want = 2 * s * e + 2 * e * co + 2 * s * co
    value, g = value_and_grad(f)(x)
    np.testing.assert_allclose(g, want, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(value, np.sum(2 * e * s + s * s), rtol=1e-15)


def test_subtracting_in_place_only_into_an_owned_accumulator(x, c):
    (c0,) = frozen(c)
    # neg is built first, so it is processed last: x's accumulator exists by then.
    # Owned (a fresh cos(x)): subtracted into in place.
    g = grad(lambda t: xp.sum(-t + xp.sin(t)))(x)
    np.testing.assert_allclose(g, np.cos(x) - 1, rtol=1e-15, atol=0)
    # Not owned (c by reference): a new array, c untouched.
    g = grad(lambda t: xp.sum(-t + t * c))(x)
    np.testing.assert_array_equal(g, c0 - 1)
    np.testing.assert_array_equal(c, c0)
    # b in a - b, twice, into a shared then owned accumulator
    g = grad(lambda t: xp.sum(t * c - t - t))(x)
    np.testing.assert_array_equal(g, c0 - 2)
    np.testing.assert_array_equal(c, c0)


def test_broadcast_operands_are_summed_not_aliased(c):
    w = np.array([0.5, -2.0])
    (w0, c0) = frozen(w, c)

    def f(t):  # t: (2,) broadcast against (N, 2); the unit seed has the big shape
        return xp.sum(xp.reshape(xp.asarray(c[:6]), (3, 2)) * t + t)

    g = grad(f)(w)
    np.testing.assert_allclose(g, c0[:6].reshape(3, 2).sum(axis=0) + 3, rtol=1e-15)
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(c, c0)


def test_a_unit_vjp_seed_from_the_caller_is_not_aliased(x, c):
    (c0,) = frozen(c)
    u = np.broadcast_to(np.ones(()), (N,))  # a unit cotangent: the product is skipped
    y, x_bar = vjp(lambda t: t * c, x, u)
    np.testing.assert_array_equal(x_bar, c0)
    assert not np.shares_memory(x_bar, c)
    x_bar[0] = 99.0
    np.testing.assert_array_equal(c, c0)


def test_repeated_passes_over_a_retained_graph_see_unchanged_values(x, c):
    (c0,) = frozen(c)

    def f(t):
        s = xp.tanh(t)
        return xp.stack([xp.sum(s * c), xp.sum(s * s), xp.sum(-s + s * t)])

    j = jacrev(f, x)
    t = np.tanh(x)
    d = 1 - t * t
    want = np.stack([c0 * d, 2 * t * d, -d + d * x + t])
    np.testing.assert_allclose(j, want, rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(c, c0)


def test_forward_over_reverse_still_differentiates_the_shortcuts(x):
    # hvp runs the VJPs on tangent-carrying Tensors: no shortcut may drop a tangent
    v = np.random.default_rng(13).standard_normal(N)

    def f(t):
        return xp.sum(xp.tanh(t) * xp.exp(-t * t) + xp.sin(t) ** 2 - xp.cos(t))

    h = 1e-5
    g = grad(f)
    fd = (g(x + h * v) - g(x - h * v)) / (2 * h)
    np.testing.assert_allclose(hvp(f, x, v), fd, rtol=1e-7, atol=1e-8)
