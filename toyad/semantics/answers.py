"""What a probe answers and how the table words and judges it.

:class:`Unsupported` (the kit cannot express the case), :class:`Reported` and
:class:`RoundingGap` (answers already digested), :func:`plain` (a framework
tensor as numpy), :func:`render` and :func:`exception_text` (the answer as the
table prints it) and :func:`equals` (the judge against a numerical truth).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MESSAGE_CHARS = 200


class Unsupported(Exception):
    """The backend cannot express this case; the message says why."""


# -- what a probe returns ------------------------------------------------------------


@dataclass(frozen=True)
class Reported:
    """A probe's answer already put into words (kind, text) plus the value judged."""

    kind: str
    text: str
    value: Any = None


@dataclass(frozen=True)
class RoundingGap:
    """max |g32 - g64| / max |g64| and the dtype the float32 run returned."""

    gap: float
    dtype: str


def plain(native: Any) -> Any:
    """A framework result as numpy (torch/TF/JAX tensors), Python numbers kept."""
    if native is None or isinstance(native, (bool, int, float, complex, np.generic, np.ndarray)):
        return native
    detach = getattr(native, "detach", None)
    if callable(detach):  # torch
        return detach().cpu().numpy()
    to_numpy = getattr(native, "numpy", None)
    if callable(to_numpy):  # TF eager tensor
        return to_numpy()
    try:
        return np.asarray(native)  # JAX arrays and other array-likes
    except Exception:
        return native


def render(native: Any) -> tuple[str, str]:
    """(kind, compact text) of a native answer: ``None``, ``nan``, ``[0. 0.]``, ..."""
    if isinstance(native, Reported):
        return native.kind, native.text
    if isinstance(native, RoundingGap):
        return "value", f"gap {native.gap:.2g} ({native.dtype} gradient)"
    if native is None:
        return "none", "None"
    if isinstance(native, (tuple, list)):
        parts = [render(item) for item in native]
        kind = "none" if all(k == "none" for k, _ in parts) else "value"
        return kind, "(" + ", ".join(text for _, text in parts) + ")"
    value = plain(native)
    if type(value) is float:
        return "value", repr(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return "value", f"{value} (int)"
    try:
        arr = np.asarray(value)
    except Exception:
        return "value", repr(value)
    if arr.dtype == object:
        return "value", repr(value)
    text = str(arr[()]) if arr.ndim == 0 else np.array2string(arr)
    if arr.dtype != np.float64:
        text += f" ({arr.dtype})"
    return "value", text


def exception_text(exc: BaseException) -> str:
    """'ExcType: first line of the message' (capped), as the table prints it."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if len(first) > MESSAGE_CHARS:
        first = first[: MESSAGE_CHARS - 1] + "…"
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


# -- judging against a truth ------------------------------------------------------------


def _numbers(native: Any) -> np.ndarray | None:
    """The answer as a float64 array, or None if it is not numeric (None, text...)."""
    if isinstance(native, Reported):
        native = native.value
    if native is None or isinstance(native, RoundingGap):
        return None
    if isinstance(native, (tuple, list)):
        if any(item is None for item in native):
            return None
        parts = [_numbers(item) for item in native]
        if any(p is None for p in parts):
            return None
        return np.concatenate([p.reshape(-1) for p in parts])
    try:
        return np.asarray(plain(native), dtype=np.float64)
    except (TypeError, ValueError):
        return None


def equals(truth: float | Sequence[float], rtol: float = 1e-12) -> Callable[[Any], bool]:
    """Judge: the answer is numerically ``truth`` (nan matches nan, inf matches inf)."""
    want = np.asarray(truth, dtype=np.float64).reshape(-1)

    def judge(native: Any) -> bool:
        got = _numbers(native)
        if got is None or got.size != want.size:
            return False
        got = got.reshape(-1)
        same_special = (np.isnan(got) & np.isnan(want)) | (
            np.isinf(got) & np.isinf(want) & (np.sign(got) == np.sign(want))
        )
        finite = np.isfinite(got) & np.isfinite(want)
        close = np.zeros_like(finite)
        close[finite] = np.abs(got[finite] - want[finite]) <= rtol * np.maximum(
            1.0, np.abs(want[finite])
        )
        return bool(np.all(same_special | close))

    return judge
