"""The cases: every awkward question the table asks, with its truth where one exists.

:data:`CASES` maps a case name to a :class:`Case`: a description, how it is
asked of a kit, the expected answer in words (``""`` where there is no single
truth, e.g. at a kink) and the judge of a native answer against it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from toyad.semantics.answers import equals
from toyad.semantics.kits import Kit
from toyad.semantics.probes import (
    FLOAT32_GAP_LIMIT,
    adapter_unused,
    any_second,
    gap_agrees,
    integer_agrees,
    rounding_gap,
    second_truth,
    sin_x3,
    square_a,
)

X_SECOND = 0.7  # f(x) = sin(x)·x³ is differentiated twice here
COMBOS = ("ff", "fr", "rf", "rr")  # outer mode first: fr = forward over reverse


@dataclass(frozen=True)
class Case:
    """One awkward question; ``run(kit, registry_names)`` returns the native answer."""

    name: str
    description: str
    run: Callable[[Kit, Sequence[str] | None], Any]
    expected: str = ""  # "" where there is no single truth
    judge: Callable[[Any], bool] | None = None
    uses: tuple[str, ...] = ()  # ops a kit may express by substitution (noted in the answer)


def _case(
    name: str,
    description: str,
    run: Callable[[Kit], Any],
    expected: str = "",
    judge: Callable[[Any], bool] | None = None,
    uses: tuple[str, ...] = (),
) -> Case:
    return Case(name, description, lambda kit, _names: run(kit), expected, judge, uses)


def _second_case(combo: str) -> Case:
    truth = second_truth(X_SECOND)
    words = {"f": "forward", "r": "reverse"}
    return _case(
        f"second-derivative-{combo}",
        f"d²/dx² sin(x)·x³ at x = {X_SECOND}, {words[combo[0]]} over {words[combo[1]]} "
        "(JAX/torch.func: jacfwd/jacrev nested; TF: ForwardAccumulator/GradientTape nested; "
        "autograd: make_jvp/grad; toys: dual in dual (ff), backward() with dual values (fr), "
        "symbolic adjoints (rr)); truth: -x³ sin x + 6x² cos x + 6x sin x",
        lambda k: k.second(sin_x3, X_SECOND, combo),
        repr(truth),
        equals(truth),
    )


_UNUSED = "f(a, b) = a², ∂f/∂b at a = 1.5, b = -0.5"
_UNUSED_TRUTH = (
    "mathematically 0: None and an exception are documented behaviour but disagree (a caller "
    "adding them to other gradients gets a TypeError, not 0)"
)

CASES: dict[str, Case] = {
    c.name: c
    for c in [
        _case(
            "unused-input",
            f"{_UNUSED}, the default API (TF tape.gradient, torch.autograd.grad, jax.grad "
            f"argnums, autograd.grad argnum, micrograd .grad, toy engines); {_UNUSED_TRUTH}",
            lambda k: k.partials(square_a, 1.5, -0.5)[1],
            "0.0",
            equals(0.0),
        ),
        _case(
            "unused-input-zeros-option",
            f"{_UNUSED}, with the documented switch to zeros (TF unconnected_gradients=ZERO, "
            "torch materialize_grads=True); the others have no switch",
            lambda k: k.unused_zeros(square_a, 1.5, -0.5)[1],
            "0.0",
            equals(0.0),
        ),
        _case(
            "unused-input-allow-unused",
            f"{_UNUSED}, torch.autograd.grad(allow_unused=True); {_UNUSED_TRUTH}",
            lambda k: k.unused_allow(square_a, 1.5, -0.5)[1],
            "0.0",
            equals(0.0),
        ),
        Case(
            "unused-input-adapter",
            "toyad's adapter: gradient of a constant f(xp, x) = Σ[1, 2] at x = [1.5, -0.5]; "
            "adapters return zeros and log the framework's native answer (shown)",
            adapter_unused,
            "[0. 0.]",
            equals([0.0, 0.0]),
        ),
        _case(
            "abs-at-0",
            "d/dx |x| at x = 0: any value in [-1, 1] is a subgradient; no single truth",
            lambda k: k.partials(lambda ns, x: ns.abs(x), 0.0)[0],
            uses=("abs",),
        ),
        _case(
            "sqrt-at-0",
            "d/dx sqrt(x) at x = 0: the one-sided derivative 1/(2 sqrt x) -> +inf",
            lambda k: k.partials(lambda ns, x: ns.sqrt(x), 0.0)[0],
            "inf",
            equals(math.inf),
            uses=("sqrt",),
        ),
        _case(
            "relu-at-0",
            "d/dx relu(x) at x = 0 (the library's relu): 0 and 1 are both subgradients; "
            "no single truth",
            lambda k: k.partials(lambda ns, x: ns.relu(x), 0.0)[0],
            uses=("relu",),
        ),
        _case(
            "maximum-x-0-at-0",
            "d/dx max(x, 0) at x = 0 written with maximum (not relu): a tie; no single truth",
            lambda k: k.partials(lambda ns, x: ns.maximum(x, 0.0), 0.0)[0],
            uses=("maximum",),
        ),
        _case(
            "max-tie",
            "(∂/∂a, ∂/∂b) max(a, b) at a = b = 1: to a, to b, or split; no single truth",
            lambda k: k.partials(lambda ns, a, b: ns.maximum(a, b), 1.0, 1.0),
            uses=("maximum",),
        ),
        _case(
            "log-0-value",
            "log(x) at x = 0: IEEE 754 gives -inf",
            lambda k: k.value(lambda ns, x: ns.log(x), 0.0),
            "-inf",
            equals(-math.inf),
            uses=("log",),
        ),
        _case(
            "log-0-grad",
            "d/dx log(x) at x = 0: 1/x -> +inf (IEEE 1/0)",
            lambda k: k.partials(lambda ns, x: ns.log(x), 0.0)[0],
            "inf",
            equals(math.inf),
            uses=("log",),
        ),
        _case(
            "zero-over-zero-value",
            "x / x at x = 0: IEEE 754 gives nan",
            lambda k: k.value(lambda ns, x: x / x, 0.0),
            "nan",
            equals(math.nan),
        ),
        _case(
            "zero-over-zero-grad",
            "d/dx (x / x) at x = 0: undefined (0 by continuous extension, nan by IEEE "
            "propagation); no single truth",
            lambda k: k.partials(lambda ns, x: x / x, 0.0)[0],
        ),
        _case(
            "exp-overflow-value",
            "exp(1000): overflows float64; IEEE 754 gives inf",
            lambda k: k.value(lambda ns, x: ns.exp(x), 1000.0),
            "inf",
            equals(math.inf),
            uses=("exp",),
        ),
        _case(
            "exp-overflow-grad",
            "d/dx exp(x) at x = 1000: exp(1000) -> inf",
            lambda k: k.partials(lambda ns, x: ns.exp(x), 1000.0)[0],
            "inf",
            equals(math.inf),
            uses=("exp",),
        ),
        _case(
            "nan-input",
            "d/dx x² at x = nan: nan propagates",
            lambda k: k.partials(lambda ns, x: x * x, math.nan)[0],
            "nan",
            equals(math.nan),
        ),
        _case(
            "where-nan-trap",
            "d/dx where(x > 0, sqrt(x), 0) at x = -1: f is 0 near -1, so 0; a where that "
            "computes both branches multiplies sqrt'(-1) = nan by 0 and gives nan (TF's sqrt "
            "gradient is 0 wherever the incoming gradient is 0)",
            lambda k: k.partials(lambda ns, x: ns.where(False, ns.sqrt(x), 0.0), -1.0)[0],
            "0.0",
            equals(0.0),
            uses=("sqrt", "where"),
        ),
        _case(
            "integer-input",
            "∇ Σx² at the int64 array x = [3, -2]: the real-number gradient [6, -4] or an "
            "explicit error agree; None or zeros (a silent wrong answer) disagree",
            lambda k: k.gradient(lambda ns, x: ns.sum(x * x), np.array([3, -2], dtype=np.int64)),
            "[ 6. -4.] or an error",
            integer_agrees,
        ),
        _case(
            "relu-second-derivative",
            "d²/dx² relu(x) at x = 0.5: 0 (relu is linear there); reverse over reverse "
            "where the backend has it, else its only second-order mode",
            lambda k: any_second(k, lambda ns, x: ns.relu(x), 0.5),
            "0.0",
            equals(0.0),
            uses=("relu",),
        ),
        _case(
            "float32-rounding-gap",
            "∇ Σ(x³ + 2x)/(1 + x²) at x = [-1.75, -0.5, 0.25, 1, 2.5] (exact in float32), "
            "float32 input against float64: max |g32 - g64| / max |g64|; truth: a float32 "
            f"gradient within {FLOAT32_GAP_LIMIT:g} (float32 arithmetic ~6e-8 per operation); "
            "a float64 result means the float32 input was promoted",
            rounding_gap,
            f"float32 gradient, gap <= {FLOAT32_GAP_LIMIT:g}",
            gap_agrees,
        ),
        _case(
            "grad-twice",
            "f = x³ at x = 1.5: the gradient taken a second time from one tape/graph/vjp "
            "(TF non-persistent tape, torch backward() without retain_graph, jax.vjp and "
            "autograd make_vjp pullbacks, micrograd/toy backward()); truth: f' = 6.75 again "
            "(micrograd's backward() adds into every node's grad, intermediate ones too)",
            lambda k: k.grad_twice(lambda ns, x: x * x * x, 1.5, False),
            "6.75",
            equals(6.75),
        ),
        _case(
            "grad-twice-retained",
            "as grad-twice, keeping the graph (TF persistent=True, torch retain_graph=True "
            "then .grad after the second backward(), toyad.tensor retain_graph=True); "
            "truth 6.75: torch's accumulation into .grad is documented but disagrees",
            lambda k: k.grad_twice(lambda ns, x: x * x * x, 1.5, True),
            "6.75",
            equals(6.75),
        ),
        *[_second_case(combo) for combo in COMBOS],
    ]
}
