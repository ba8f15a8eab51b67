"""toyad.tensor.checkpoint: every strategy gives the unchecked tape's gradient bit for
bit, stores the layer states it is designed to, and revolve keeps to its budget."""

from __future__ import annotations

import math

import numpy as np
import pytest

from toyad import memory
from toyad.tensor import checkpoint, grad, xp

SHAPES = [(1, 3), (2, 4), (7, 5), (16, 8), (50, 6)]


def tanh_layers(weights):
    return [lambda t, w_i=w_i: xp.tanh(w_i @ t) for w_i in weights]


def unchecked(layers, x, loss=xp.sum):
    def f(t):
        for layer in layers:
            t = layer(t)
        return loss(t)

    return grad(f)(x)


class Counting:
    """Wraps layers to count calls per layer (untaped or taped alike)."""

    def __init__(self, layers):
        self.calls = [0] * len(layers)
        self.layers = [self._wrap(i, f) for i, f in enumerate(layers)]

    def _wrap(self, i, f):
        def layer(t):
            self.calls[i] += 1
            return f(t)

        return layer


def strategies(L):
    yield "none", {}
    yield "sqrt", {}
    for k in (1, 2, 3, L):
        yield "every_k", {"k": k}
    for budget in (0, 1, 2, 5, L):
        yield "revolve", {"budget": budget}


@pytest.mark.parametrize("L, w", SHAPES)
def test_every_strategy_is_bit_identical_to_the_unchecked_tape(L, w):
    weights = memory.chain_weights(L, w)
    x = memory.chain_input(w)
    layers = tanh_layers(weights)
    reference = unchecked(layers, x)
    value, analytic = memory.chain_value_and_gradient(weights, x)
    np.testing.assert_allclose(reference, analytic, rtol=1e-12, atol=1e-14)
    for strategy, kwargs in strategies(L):
        result = checkpoint.value_and_grad(layers, x, strategy=strategy, **kwargs)
        assert np.array_equal(result.grad, reference), (strategy, kwargs)
        assert result.value == pytest.approx(value, rel=1e-13)


def test_a_residual_layer_and_another_loss_stay_bit_identical():
    """A layer that uses its input twice (cotangents accumulate) and a nonlinear loss."""
    L, w = 12, 5
    weights = memory.chain_weights(L, w)
    x = memory.chain_input(w)
    layers = [lambda t, w_i=w_i: t + 0.5 * xp.sin(w_i @ t) * t for w_i in weights]

    def loss(t):
        return xp.sum(t * t)

    reference = unchecked(layers, x, loss)
    for strategy, kwargs in strategies(L):
        got = checkpoint.grad(layers, x, strategy=strategy, loss=loss, **kwargs)
        assert np.array_equal(got, reference), (strategy, kwargs)


@pytest.mark.parametrize("L", [1, 9, 10, 64, 100])
def test_sqrt_stores_about_two_sqrt_L_states_and_recomputes_one_forward(L):
    w = 3
    counted = Counting(tanh_layers(memory.chain_weights(L, w)))
    result = checkpoint.value_and_grad(counted.layers, memory.chain_input(w), strategy="sqrt")
    k = math.isqrt(L - 1) + 1  # ceil(√L)
    stats = result.stats
    assert stats.max_stored == math.ceil(L / k) - 1  # checkpoints, the input excluded
    assert stats.max_taped == min(k, L)
    assert stats.max_states <= 2 * math.ceil(math.sqrt(L))
    # every layer runs twice (untaped, then taped) except the last segment's
    last = L - k * (math.ceil(L / k) - 1)
    assert stats.recomputed == L - last
    assert counted.calls == [2] * (L - last) + [1] * last
    assert stats.segments == math.ceil(L / k)


def test_every_k_and_none_store_what_they_should():
    L, w = 20, 3
    layers = tanh_layers(memory.chain_weights(L, w))
    x = memory.chain_input(w)
    stats = checkpoint.value_and_grad(layers, x, strategy="every_k", k=6).stats
    assert (stats.max_stored, stats.max_taped, stats.segments) == (3, 6, 4)
    stats = checkpoint.value_and_grad(layers, x, strategy="none").stats
    assert (stats.max_stored, stats.max_taped, stats.recomputed) == (0, L, 0)


@pytest.mark.parametrize("L, budget", [(10, 0), (10, 1), (30, 2), (64, 3), (100, 5), (64, 63)])
def test_revolve_respects_its_budget_and_the_binomial_bound(L, budget):
    w = 3
    counted = Counting(tanh_layers(memory.chain_weights(L, w)))
    result = checkpoint.value_and_grad(
        counted.layers, memory.chain_input(w), strategy="revolve", budget=budget
    )
    stats = result.stats
    assert stats.max_stored <= budget
    assert stats.max_taped == 1
    assert stats.max_states <= budget + 1
    # s = budget + 1 checkpoints reverse β(s, r) layers with each layer run at most r + 1 times
    r = checkpoint.repetitions(L, budget + 1)
    assert checkpoint.beta(budget + 1, r) >= L
    assert max(counted.calls) <= r + 1
    assert sum(counted.calls) == stats.forward_calls + stats.taped_calls
    assert stats.taped_calls == L


def test_revolve_recomputes_less_with_a_bigger_budget():
    L, w = 64, 3
    layers = tanh_layers(memory.chain_weights(L, w))
    x = memory.chain_input(w)
    counts = [
        checkpoint.value_and_grad(layers, x, strategy="revolve", budget=b).stats.recomputed
        for b in (0, 1, 2, 4, 8, 63)
    ]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] == L * (L - 1) // 2  # no slot: layer j re-run j times
    assert counts[-1] == L - 1  # a slot per state: one untaped sweep, then one-layer tapes


def test_beta_and_repetitions():
    assert checkpoint.beta(1, 4) == 5  # one checkpoint: r + 1 layers with r repetitions
    assert checkpoint.beta(3, 2) == 10
    assert checkpoint.repetitions(10, 3) == 2
    assert checkpoint.repetitions(11, 3) == 3
    assert checkpoint.repetitions(1, 1) == 0


def test_bad_arguments_raise_clear_errors():
    layers = tanh_layers(memory.chain_weights(4, 2))
    x = np.ones(2)
    with pytest.raises(ValueError, match="unknown checkpoint strategy 'binomial'"):
        checkpoint.grad(layers, x, strategy="binomial")
    with pytest.raises(ValueError, match="needs an integer k >= 1"):
        checkpoint.grad(layers, x, strategy="every_k")
    with pytest.raises(ValueError, match="needs an integer k >= 1"):
        checkpoint.grad(layers, x, strategy="every_k", k=0)
    with pytest.raises(ValueError, match="needs an integer budget >= 0"):
        checkpoint.grad(layers, x, strategy="revolve")
    with pytest.raises(ValueError, match="needs an integer budget >= 0"):
        checkpoint.grad(layers, x, strategy="revolve", budget=-1)
    with pytest.raises(ValueError, match="needs an integer budget >= 0"):
        checkpoint.grad(layers, x, strategy="revolve", budget=2.5)
    with pytest.raises(ValueError, match="budget applies to strategy 'revolve' only"):
        checkpoint.grad(layers, x, strategy="sqrt", budget=3)
    with pytest.raises(ValueError, match="k applies to strategy 'every_k' only"):
        checkpoint.grad(layers, x, strategy="revolve", budget=3, k=2)
    with pytest.raises(ValueError, match="layers is empty"):
        checkpoint.grad([], x)
    with pytest.raises(TypeError, match="entry 1 is not"):
        checkpoint.grad([layers[0], "tanh"], x)
    with pytest.raises(ValueError, match="loss must return a scalar"):
        checkpoint.grad(layers, x, loss=lambda t: t)
    with pytest.raises(TypeError, match="layer 0 must return a Tensor"):
        checkpoint.grad([lambda t: 1.0, layers[0]], x, strategy="every_k", k=1)
