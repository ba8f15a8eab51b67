"""The questions and truths behind the cases that are more than one kit call.

The functions differentiated (sin(x)·x³, a² ignoring b) and the second-derivative
truth; the second derivative by whatever mode a kit has; the float32 rounding
gap; the probe of toyad's own adapter for an unused input; and the judges that
are not a plain :func:`~toyad.semantics.answers.equals`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from toyad import backends
from toyad.semantics.answers import Reported, RoundingGap, Unsupported, equals, plain, render
from toyad.semantics.kits import Kit, Scalar

FLOAT32_X = np.array([-1.75, -0.5, 0.25, 1.0, 2.5])  # exactly representable in float32
FLOAT32_GAP_LIMIT = 1e-5  # a float32 gradient of a well-conditioned f is ~1e-7 off


def sin_x3(ns: Any, x: Any) -> Any:
    """f(x) = sin(x)·x³, the function differentiated twice."""
    return ns.sin(x) * x**3


def second_truth(x: float) -> float:
    """d²/dx² sin(x)·x³ = -x³ sin x + 6x² cos x + 6x sin x."""
    return -(x**3) * math.sin(x) + 6 * x**2 * math.cos(x) + 6 * x * math.sin(x)


def square_a(ns: Any, a: Any, b: Any) -> Any:  # ignores b
    """f(a, b) = a², so ∂f/∂b = 0 for an input the output ignores."""
    return a * a


def any_second(kit: Kit, f: Scalar, x0: float) -> Any:
    """The second derivative by rr if the backend has it, else fr, ff, rf."""
    reasons = []
    for combo in ("rr", "fr", "ff", "rf"):
        try:
            value = kit.second(f, x0, combo)
        except (Unsupported, NotImplementedError) as exc:
            reasons.append(str(exc))
            continue
        kind, text = render(value)
        return Reported(kind, f"{text} ({combo})", value)
    raise Unsupported("; ".join(dict.fromkeys(reasons)))


def rounding_gap(kit: Kit) -> RoundingGap:
    """The same gradient in float32 and float64: max |g32 - g64| / max |g64|."""

    def f(ns: Any, x: Any) -> Any:  # Σ (x³ + 2x) / (1 + x²): micrograd can express it
        return ns.sum((x * x * x + 2.0 * x) / (1.0 + x * x))

    g64 = kit.gradient(f, FLOAT32_X.astype(np.float64))
    g32 = kit.gradient(f, FLOAT32_X.astype(np.float32))
    a64 = np.asarray(plain(g64), dtype=np.float64)
    a32 = plain(g32)
    dtype = str(np.asarray(a32).dtype)
    gap = float(np.max(np.abs(np.asarray(a32, dtype=np.float64) - a64)) / np.max(np.abs(a64)))
    return RoundingGap(gap, dtype)


def gap_agrees(native: Any) -> bool:
    """A float32 gradient within FLOAT32_GAP_LIMIT of the float64 one."""
    return (
        isinstance(native, RoundingGap)
        and native.dtype == "float32"
        and native.gap <= FLOAT32_GAP_LIMIT
    )


def integer_agrees(native: Any) -> bool:
    """An explicit error, or the real-number gradient [6, -4] (any dtype)."""
    return isinstance(native, Exception) or equals([6.0, -4.0])(native)


def adapter_unused(kit: Kit, registry_names: Sequence[str] | None) -> Reported:
    """toyad's adapter for the gradient of a constant f: zeros, plus the native answer it logged."""
    names = [n for n in kit.registry if registry_names is None or n in registry_names]
    name = (names or list(kit.registry))[0]
    backend = backends.get(name)
    before = len(backend.native_log)
    g = backend.gradient(lambda xp, x: xp.sum(xp.asarray([1.0, 2.0])), np.array([1.5, -0.5]))
    logged = [a.native for a in backend.native_log[before:]]
    _, text = render(g)
    native = f"native: {logged[0]}" if logged else "native answer already zeros"
    return Reported("value", f"{text} via {name}; {native}", g)
