"""Checkpointing: reverse mode through a chain of L layers, storing only some states.

Reverse mode on ``y = loss(f_L(... f_1(x)))`` keeps every layer's saved
values until the backward pass reaches it: memory ~ L layer-states. Here the
forward pass runs *untaped* and keeps only checkpoint states x_c; the
backward pass takes segments last-to-first, re-runs each from its checkpoint
with the tape on, backpropagates the incoming cotangent through it and drops
it. Strategies:

- ``none``: one taped segment of all L layers (plain reverse mode);
- ``every_k``: checkpoints at 0, k, 2k, ...: L/k states + a k-layer tape;
- ``sqrt``: ``every_k`` with k = ceil(√L): about 2√L states, one extra forward;
- ``revolve``: binomial checkpointing (Griewank's revolve) with ``budget``
  stored states besides the input and one-layer tapes: with s = budget + 1
  checkpoints and r repetitions a chain of β(s, r) = C(s + r, s) layers is
  reversed, each layer recomputed at most r times.

The gradient is bit-identical to the unchecked tape: a re-run layer does the
same numpy operations on the same values, and the cotangent handed from one
segment to the previous is exactly the array the full tape would pass on.

    from toyad.tensor import checkpoint
    g = checkpoint.grad(layers, x, strategy="sqrt")
    result = checkpoint.value_and_grad(layers, x, strategy="revolve", budget=8)
    result.value, result.grad, result.stats.max_stored, result.stats.recomputed
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from toyad.tensor.reverse import _ONE, as_float_array, backward
from toyad.tensor.rules import asarray, reduce_sum
from toyad.tensor.tensor import Node, Tensor, _constant

STRATEGIES = ("none", "every_k", "sqrt", "revolve")

Layer = Callable[[Tensor], Tensor]


@dataclass
class Stats:
    """What a checkpointed gradient did, counted in layer states and layer calls.

    ``stored``/``max_stored``: checkpoint states held (the input x excluded);
    ``taped``/``max_taped``: layers on the live tape; ``forward_calls``:
    untaped layer calls (the first sweep plus recomputations); ``recomputed``:
    forward_calls + taped calls - L (layer evaluations beyond one per layer).
    """

    layers: int = 0
    stored: int = 0
    max_stored: int = 0
    taped: int = 0
    max_taped: int = 0
    forward_calls: int = 0
    taped_calls: int = 0
    segments: int = 0
    max_states: int = 0  # checkpoints + taped layers alive at once, at most

    @property
    def recomputed(self) -> int:
        return self.forward_calls + self.taped_calls - self.layers

    def _store(self, count: int = 1) -> None:
        self.stored += count
        self.max_stored = max(self.max_stored, self.stored)
        self._note_peak()

    def _note_peak(self) -> None:
        self.max_states = max(self.max_states, self.stored + self.taped)


@dataclass
class Result:
    value: float
    grad: np.ndarray
    stats: Stats


# -- the pieces ------------------------------------------------------------------


def _advance(layers: Sequence[Layer], start: int, stop: int, x: np.ndarray, stats: Stats):
    """x_stop from x_start without a tape (constants in, constants out)."""
    t = _constant(x)
    for i in range(start, stop):
        t = layers[i](t)
    stats.forward_calls += stop - start
    return _layer_value(t, stop)


def _layer_value(t: Any, index: int) -> np.ndarray:
    if type(t) is not Tensor:
        raise TypeError(f"layer {index - 1} must return a Tensor; got {type(t).__name__}")
    return t.value


def _taped_backward(
    layers: Sequence[Layer],
    start: int,
    stop: int,
    x: np.ndarray,
    x_bar_out: np.ndarray | None,
    loss: Callable[[Tensor], Any],
    stats: Stats,
) -> tuple[np.ndarray, float | None]:
    """Re-run layers start:stop on the tape from x_start, backpropagate, free the tape.

    ``x_bar_out`` is the cotangent of x_stop; None means this is the last
    segment, which ends in the loss (seeded with 1). Returns (x_bar_start, loss value).
    """
    leaf = _constant(x)
    leaf.node = Node.leaf()
    t = leaf
    for i in range(start, stop):
        t = layers[i](t)
    stats.taped_calls += stop - start
    stats.taped = stop - start
    stats.max_taped = max(stats.max_taped, stats.taped)
    stats._note_peak()
    stats.segments += 1
    value = None
    if x_bar_out is None:
        y = asarray(loss(t))
        if y.shape != ():
            raise ValueError(f"loss must return a scalar; it returned shape {y.shape}")
        value = float(y.value)
        (x_bar,) = backward(y, _ONE, [leaf.node])
    else:
        out = _layer_value(t, stop)
        if out.shape != x_bar_out.shape:
            raise ValueError(f"layer {stop - 1} changed its output shape between runs")
        (x_bar,) = backward(t, x_bar_out, [leaf.node])
    stats.taped = 0
    if x_bar is None:  # the output does not depend on x_start
        x_bar = np.zeros(x.shape)
    return x_bar, value


# -- the strategies ----------------------------------------------------------------


def _segments(layers, x, k, loss, stats) -> tuple[float, np.ndarray]:
    """Checkpoints every k layers; segments backpropagated last to first."""
    L = len(layers)
    starts = range(0, L, k)
    states = {0: x}  # the input is the caller's: not counted as stored
    for a, b in zip(starts, starts[1:]):
        states[b] = _advance(layers, a, b, states[a], stats)
        stats._store()
    x_bar, value = None, None
    for a in reversed(starts):
        b = min(a + k, L)
        x_bar, v = _taped_backward(layers, a, b, states.pop(a), x_bar, loss, stats)
        if a:
            stats.stored -= 1
        value = v if v is not None else value
    return value, x_bar


def beta(s: int, r: int) -> int:
    """β(s, r) = C(s + r, s): the longest chain s checkpoints reverse with r repetitions."""
    return math.comb(s + r, s)


def repetitions(length: int, checkpoints: int) -> int:
    """The least r with β(checkpoints, r) >= length (checkpoints >= 1)."""
    r = 0
    while beta(checkpoints, r) < length:
        r += 1
    return r


def _revolve(layers, start, stop, x, x_bar_out, free, loss, stats):
    """Reverse layers start:stop given x_start (held) and ``free`` more slots.

    With s = free + 1 checkpoints (x_start's included) and r = repetitions:
    advance m = max(1, l - β(s-1, r)) layers, store x_{start+m}, reverse the
    tail (β(s-1, r) layers at most) with one slot fewer, drop that state,
    then the head (at most β(s, r-1) layers) with the slots back.
    """
    length = stop - start
    if length == 1:
        return _taped_backward(layers, start, stop, x, x_bar_out, loss, stats)
    if free == 0:  # no slot: recompute from x_start for every layer, last first
        value = None
        for j in reversed(range(start, stop)):
            x_j = _advance(layers, start, j, x, stats)
            x_bar_out, v = _taped_backward(layers, j, j + 1, x_j, x_bar_out, loss, stats)
            value = v if v is not None else value
        return x_bar_out, value
    s = free + 1
    r = repetitions(length, s)
    m = max(1, length - beta(s - 1, r))
    mid = start + m
    x_mid = _advance(layers, start, mid, x, stats)
    stats._store()
    x_bar_mid, value = _revolve(layers, mid, stop, x_mid, x_bar_out, free - 1, loss, stats)
    del x_mid
    stats.stored -= 1
    x_bar, v = _revolve(layers, start, mid, x, x_bar_mid, free, loss, stats)
    return x_bar, value if value is not None else v


# -- the public functions ------------------------------------------------------------


def _check(strategy: str, k: Any, budget: Any, L: int) -> int | None:
    """The segment length (every_k/sqrt/none) or None (revolve); ValueError on bad input."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown checkpoint strategy {strategy!r}; strategies: {STRATEGIES}")
    if strategy == "every_k":
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"strategy 'every_k' needs an integer k >= 1; got k={k!r}")
    elif k is not None:
        raise ValueError(f"k applies to strategy 'every_k' only; got k={k!r} with {strategy!r}")
    if strategy == "revolve":
        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 0:
            raise ValueError(
                "strategy 'revolve' needs an integer budget >= 0 (layer states stored besides "
                f"the input); got budget={budget!r}"
            )
        return None
    if budget is not None:
        raise ValueError(f"budget applies to strategy 'revolve' only; got {strategy!r}")
    if strategy == "none":
        return L
    if strategy == "sqrt":
        return math.isqrt(L - 1) + 1  # ceil(√L)
    return int(k)


def value_and_grad(
    layers: Sequence[Layer],
    x: Any,
    *,
    strategy: str = "sqrt",
    k: int | None = None,
    budget: int | None = None,
    loss: Callable[[Tensor], Any] = reduce_sum,
) -> Result:
    """loss(f_L(... f_1(x))) and its gradient w.r.t. x, checkpointed by ``strategy``.

    ``layers``: callables Tensor -> Tensor (each maps a layer state to the
    next, same engine ops every call); ``loss``: Tensor -> scalar Tensor
    (default: sum). Returns value, gradient (float64, x's shape) and Stats.
    """
    if not isinstance(layers, (list, tuple)):
        layers = list(layers)  # a list/tuple is used as is: a copy would count as memory
    if not layers:
        raise ValueError("layers is empty: a chain needs at least one layer")
    bad = next((i for i, f in enumerate(layers) if not callable(f)), None)
    if bad is not None:
        raise TypeError(f"layers must be callables Tensor -> Tensor; entry {bad} is not")
    if type(x) is Tensor:
        raise TypeError("x must be a numpy array (checkpointed grad does not nest)")
    x = as_float_array(x)
    L = len(layers)
    segment = _check(strategy, k, budget, L)
    stats = Stats(layers=L)
    if segment is None:
        x_bar, value = _revolve(layers, 0, L, x, None, int(budget), loss, stats)
    else:
        value, x_bar = _segments(layers, x, segment, loss, stats)
    return Result(value, x_bar, stats)


def grad(
    layers: Sequence[Layer],
    x: Any,
    *,
    strategy: str = "sqrt",
    k: int | None = None,
    budget: int | None = None,
    loss: Callable[[Tensor], Any] = reduce_sum,
) -> np.ndarray:
    """∇_x loss(f_L(... f_1(x))), checkpointed by ``strategy`` (see the module docstring)."""
    return value_and_grad(layers, x, strategy=strategy, k=k, budget=budget, loss=loss).grad
