"""Numeric differentiation: the notebook's ``gradients`` and better methods.

``gradients(func, vars_list, eps)`` is the reference notebook's forward
difference over a list of scalar arguments, kept as it is.

The array family -- ``derivative`` (R -> R or R^m), ``gradient`` (R^n -> R),
``jacobian`` (R^n -> R^m, shape (m, n)) and ``hessian`` (R^n -> R, (n, n)) --
takes ``method=``:

- ``"forward"``   (f(x + h) - f(x)) / h: truncation h f''/2, rounding eps |f| / h;
  balanced at h = sqrt(eps) * max(1, |x|) ~ 1.5e-8 (error ~ sqrt(eps) ~ 1e-8).
- ``"central"``   (f(x + h) - f(x - h)) / 2h: truncation h² f'''/6, rounding
  eps |f| / h; balanced at h = cbrt(eps) * max(1, |x|) ~ 6e-6 (error ~ eps^(2/3)).
- ``"richardson"`` central differences at h = h0 / 2^l, l = 0..11, with
  h0 = max(1, |x|) / 2, combined by Richardson extrapolation: the central
  error is a series in h², so each column of the table cancels the next power
  (weights 4^k, up to h^8). Each entry's error is estimated from its
  neighbours and the best one is kept per output: large steps lose to
  truncation, small ones to rounding, so the choice adapts to the scale on
  which f varies (sin(x²) at 3 needs h ~ 0.01, a cubic any h). 24 evaluations
  per input; error ~ 1e-13 on smooth functions.
- ``"complex"``   Im f(x + ih) / h (complex step): no subtraction, so no
  cancellation; the truncation error h² f'''/6 vanishes for h = 1e-200 and the
  result is as accurate as evaluating f itself. f must accept complex input
  and carry the imaginary part through (no abs, no casts to float).

``step=`` overrides the default with an absolute step (a scalar, or one per
coordinate): for sweeping the V-shaped error-vs-step curve. For
``"richardson"`` it is the largest step h0; for ``"complex"`` the imaginary step
(in ``hessian``: the real finite-difference step, the imaginary one staying 1e-200).

``f`` is a plain callable on numpy arrays (e.g. ``lambda x: inst.f(numpy, x)``).
Arrays passed in are never modified.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "HESSIAN_TOLERANCE",
    "METHODS",
    "TOLERANCE",
    "default_step",
    "derivative",
    "gradient",
    "gradients",
    "hessian",
    "jacobian",
]

METHODS = ("forward", "central", "richardson", "complex")

EPS = float(np.finfo(np.float64).eps)

# Norm-wise relative error max|J - J_true| / max|J_true| each method meets with its
# default steps on smooth float64 functions. Measured worst cases over the
# toyad.problems catalog (seeds 0-5, n up to 36; rosenbrock/fan_in/dense_tanh/
# logsumexp_affine/elementwise_chain/fan_out also at n = 1024): forward 6e-7,
# central 1.8e-9, richardson 2e-12, complex 1.5e-15. Finite differences lose
# eps |f| / h to rounding, so a function whose value dwarfs its derivatives
# (|f| / |f'| >> 1) does worse; the complex step does not.
TOLERANCE = {"forward": 1e-6, "central": 1e-8, "richardson": 1e-11, "complex": 1e-14}
# The same for ``hessian`` (catalog, n <= 16: forward 7e-4, central 2.6e-6,
# richardson 2.3e-11, complex 3.2e-9; second differences divide rounding by h²).
HESSIAN_TOLERANCE = {"forward": 5e-3, "central": 1e-5, "richardson": 1e-9, "complex": 2e-8}

COMPLEX_STEP = 1e-200
RICHARDSON_H0 = 0.5  # largest step, times max(1, |x|)
RICHARDSON_LEVELS = 12  # central differences at h0 / 2^l, l = 0..11 (down to ~2.4e-4)
RICHARDSON_HESSIAN_LEVELS = 9  # second differences at h0 / 2^l, l = 0..8 (down to ~2e-3)
RICHARDSON_COLUMNS = 4  # extrapolate away h², h⁴, h⁶, h⁸
# Hessian steps: the second difference divides by h², rounding grows as eps / h².
_HESSIAN_STEP = {
    "forward": EPS ** (1 / 3),  # error h f''' + eps/h²      -> h ~ eps^(1/3) ~ 6e-6
    "central": EPS ** (1 / 4),  # error h² f'''' + eps/h²    -> h ~ eps^(1/4) ~ 1.2e-4
    "richardson": RICHARDSON_H0,  # h0 for the extrapolated central second difference
    "complex": EPS ** (1 / 3),  # error d² + eps/d on an exact first derivative -> d ~ eps^(1/3)
}


def gradients(func: Callable[..., Any], vars_list: list, eps: float = 0.0001) -> list:
    """The notebook's forward difference: [(f(.., v_i + eps, ..) - f(vars)) / eps for each i]."""
    partial_derivatives = []
    base_func_eval = func(*vars_list)
    for idx in range(len(vars_list)):
        tweaked_vars = vars_list[:]
        tweaked_vars[idx] += eps
        tweaked_func_eval = func(*tweaked_vars)
        partial_derivatives.append((tweaked_func_eval - base_func_eval) / eps)
    return partial_derivatives


# ---------------------------------------------------------------------------
# steps


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; methods are: {', '.join(METHODS)}")
    return method


def default_step(method: str, x: Any) -> np.ndarray:
    """The default first-derivative step per coordinate of ``x`` (see the module doc)."""
    _check_method(method)
    scale = np.maximum(1.0, np.abs(np.asarray(x, dtype=np.float64)))
    if method == "forward":
        return np.sqrt(EPS) * scale
    if method == "central":
        return np.cbrt(EPS) * scale
    if method == "richardson":
        return RICHARDSON_H0 * scale
    return np.full_like(scale, COMPLEX_STEP)


def _steps(method: str, x: np.ndarray, step: Any, default: np.ndarray) -> np.ndarray:
    if step is None:
        return default
    try:
        h = np.broadcast_to(np.asarray(step, dtype=np.float64), x.shape).copy()
    except (TypeError, ValueError):
        raise ValueError(
            f"step must be a positive scalar or one per coordinate (shape {x.shape}); got {step!r}"
        ) from None
    if not np.all(np.isfinite(h) & (h > 0)):
        raise ValueError(f"step must be positive and finite; got {step!r}")
    return h


def _as_point(x: Any) -> np.ndarray:
    try:
        arr = np.array(x, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"x must be a 1-D array of real numbers: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"x must be 1-D (shape (n,)); got shape {arr.shape}")
    return arr


def _evaluate(f: Callable, x: np.ndarray, complex_step: bool = False) -> np.ndarray:
    out = np.asarray(f(x))
    if complex_step:
        if not np.iscomplexobj(out):
            raise TypeError(
                "method 'complex' needs f to accept complex input and return it complex "
                f"(no abs, no float casts); f returned dtype {out.dtype}"
            )
        return out
    return np.asarray(out, dtype=np.float64)


def _shifted(x: np.ndarray, j: int, h: float) -> np.ndarray:
    y = x.copy()
    y[j] += h
    return y


# ---------------------------------------------------------------------------
# first derivatives


def _richardson(estimates: np.ndarray) -> np.ndarray:
    """Best Richardson extrapolant from estimates at h0 / 2^l (axis 0), error a series in h².

    Column k of the table, T_k(l) = T_{k-1}(l) + (T_{k-1}(l) - T_{k-1}(l-1)) / (4^k - 1),
    cancels the h^(2k) term. Each entry's error is estimated as the larger of its
    change from column k-1 and from its neighbour l-1 in column k; per output
    element, the entry with the smallest estimate wins. Steps too large (truncation)
    and too small (rounding) both show up as large estimates, so the choice adapts
    to f's scale; a NaN (a step leaving f's domain) never wins.
    """
    candidates, errors = [], []
    prev = estimates
    for k in range(1, min(RICHARDSON_COLUMNS, estimates.shape[0] - 1) + 1):
        cur = prev[1:] + (prev[1:] - prev[:-1]) / (4.0**k - 1.0)
        change = np.abs(cur - prev[1:])
        spread = np.abs(np.diff(cur, axis=0))
        err = np.maximum(change, np.concatenate([np.full_like(change[:1], np.inf), spread]))
        candidates.append(cur)
        errors.append(np.where(np.isnan(err), np.inf, err))
        prev = cur
    values, errs = np.concatenate(candidates), np.concatenate(errors)
    pick = np.argmin(errs, axis=0)
    return np.take_along_axis(values, pick[None, ...], axis=0)[0]


def _central(f: Callable, x: np.ndarray, j: int, h: float) -> np.ndarray:
    up, down = _shifted(x, j, h), _shifted(x, j, -h)
    span = up[j] - down[j]  # the step actually taken, after rounding x ± h
    return (_evaluate(f, up) - _evaluate(f, down)) / span


def _partials(f: Callable, x: np.ndarray, method: str, step: Any) -> np.ndarray:
    """Partial derivatives along each coordinate: shape (n, *output shape)."""
    _check_method(method)
    h = _steps(method, x, step, default_step(method, x))
    rows = []
    if method == "forward":
        base = _evaluate(f, x)
        for j in range(x.shape[0]):
            up = _shifted(x, j, h[j])
            rows.append((_evaluate(f, up) - base) / (up[j] - x[j]))
    elif method == "central":
        rows = [_central(f, x, j, h[j]) for j in range(x.shape[0])]
    elif method == "richardson":
        for j in range(x.shape[0]):
            with np.errstate(all="ignore"):  # the largest steps may leave f's domain
                table = [_central(f, x, j, h[j] / 2.0**lv) for lv in range(RICHARDSON_LEVELS)]
            rows.append(_richardson(np.stack(table)))
    else:  # complex step
        z = x.astype(np.complex128)
        for j in range(x.shape[0]):
            zj = z.copy()
            zj[j] += 1j * h[j]
            rows.append(_evaluate(f, zj, complex_step=True).imag / h[j])
    if not rows:
        raise ValueError("x is empty: nothing to differentiate")
    return np.stack([np.asarray(r, dtype=np.float64) for r in rows])


def jacobian(f: Callable, x: Any, method: str = "central", step: Any = None) -> np.ndarray:
    """Jacobian (m, n) of f: R^n -> R^m ((1, n) for a scalar f), one column per input."""
    point = _as_point(x)
    parts = _partials(f, point, method, step)
    return parts.reshape(point.shape[0], -1).T.copy()


def gradient(f: Callable, x: Any, method: str = "central", step: Any = None) -> np.ndarray:
    """Gradient (n,) of a scalar f: R^n -> R."""
    point = _as_point(x)
    parts = _partials(f, point, method, step)
    if parts[0].size != 1:
        raise ValueError(f"gradient needs a scalar f; f returned shape {parts.shape[1:]}")
    return parts.reshape(point.shape[0])


def derivative(f: Callable, x: float, method: str = "central", step: Any = None) -> Any:
    """df/dx of f: R -> R (a float) or R -> R^m (shape of f's output)."""
    x0 = float(x)
    parts = _partials(lambda v: f(v[0]), np.array([x0]), method, step)
    out = parts[0]
    return float(out) if out.ndim == 0 else out


# ---------------------------------------------------------------------------
# second derivatives


def _second_central(f: Callable, x: np.ndarray, j: int, k: int, hj: float, hk: float) -> float:
    """[f(+,+) - f(+,-) - f(-,+) + f(-,-)] / (4 hj hk); error a series in h²."""
    total = 0.0
    for sj, sk, sign in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)):
        y = x.copy()
        y[j] += sj * hj
        y[k] += sk * hk
        total += sign * float(_evaluate(f, y).reshape(()))
    return total / (4.0 * hj * hk)


def _second(f: Callable, x: np.ndarray, j: int, k: int, method: str, hj: float, hk: float) -> float:
    if method == "forward":
        # [f(x + hj + hk) - f(x + hj) - f(x + hk) + f(x)] / (hj hk)
        def at(dj: float, dk: float) -> float:
            y = x.copy()
            y[j] += dj
            y[k] += dk
            return float(_evaluate(f, y).reshape(()))

        return (at(hj, hk) - at(hj, 0.0) - at(0.0, hk) + at(0.0, 0.0)) / (hj * hk)
    if method == "central":
        return _second_central(f, x, j, k, hj, hk)
    if method == "richardson":
        with np.errstate(all="ignore"):  # the largest steps may leave f's domain
            table = [
                _second_central(f, x, j, k, hj / 2.0**level, hk / 2.0**level)
                for level in range(RICHARDSON_HESSIAN_LEVELS)
            ]
        return float(_richardson(np.array(table)))
    # complex: Im[f(x + i c e_j + d e_k) - f(x + i c e_j - d e_k)] / (2 c d)
    z = x.astype(np.complex128)
    z[j] += 1j * COMPLEX_STEP
    up, down = z.copy(), z.copy()
    up[k] += hk
    down[k] -= hk
    diff = _evaluate(f, up, complex_step=True) - _evaluate(f, down, complex_step=True)
    return float(diff.imag.reshape(())) / (COMPLEX_STEP * (up[k].real - down[k].real))


def hessian(f: Callable, x: Any, method: str = "central", step: Any = None) -> np.ndarray:
    """Hessian (n, n) of a scalar f by second differences (symmetric by construction).

    Default steps: forward eps^(1/3), central eps^(1/4), Richardson h0 = 1/2, and
    for complex a real step eps^(1/3) beside the 1e-200 imaginary one (each times
    max(1, |x_j|)).
    """
    _check_method(method)
    point = _as_point(x)
    n = point.shape[0]
    if n == 0:
        raise ValueError("x is empty: nothing to differentiate")
    if np.asarray(f(point.copy())).size != 1:
        raise ValueError("hessian needs a scalar f")
    default = _HESSIAN_STEP[method] * np.maximum(1.0, np.abs(point))
    h = _steps(method, point, step, default)
    # exactly representable steps: x ± h lands on a float, so the divisor is the true step
    h = (point + h) - point
    out = np.empty((n, n))
    for j in range(n):
        for k in range(j, n):
            out[j, k] = out[k, j] = _second(f, point, j, k, method, h[j], h[k])
    if method == "complex":  # the formula is not symmetric in (j, k): average both
        for j in range(n):
            for k in range(j + 1, n):
                other = _second(f, point, k, j, method, h[k], h[j])
                out[j, k] = out[k, j] = 0.5 * (out[j, k] + other)
    return out
