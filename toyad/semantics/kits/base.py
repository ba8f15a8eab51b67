"""The :class:`Kit` interface every semantic backend answers, and helpers the kits share.

A kit is a thin layer over one library's own API (no toyad adapter in
between): its namespace of operations (``ns``), values, partials, gradients,
second derivatives by mode and a gradient taken twice. What a library cannot
express raises :class:`~toyad.semantics.answers.Unsupported` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from toyad import backends
from toyad.semantics.answers import Unsupported

Scalar = Callable[..., Any]  # f(ns, *scalars) -> scalar, ns the kit's namespace


def missing_op(library: str, op: str) -> Callable[..., Any]:
    """An operation the library lacks: calling it raises Unsupported naming it."""

    def missing(*args: Any, **kw: Any) -> Any:
        raise Unsupported(f"{library} has no {op}")

    return missing


def scalar_where(cond: bool, a: Any, b: Any) -> Any:
    """where for scalar engines: Python's a-if-cond-else-b (both branches already built)."""
    return a if cond else b


def object_array(values: Sequence[Any]) -> np.ndarray:
    """Engine scalars (duals, nodes, Values) as a 1-D object array, so numpy ops map over them."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr


def number_array(values: Sequence[Any]) -> np.ndarray:
    """Engine results (numpy scalars, Python numbers) as an array of their own dtype."""
    return np.array(list(values))


@dataclass
class Kit:
    """One semantic backend: its family, the registry names that select it, its API."""

    name: str
    family: str
    registry: tuple[str, ...]  # toyad backend names of this engine/framework
    substitutes: dict[str, str] = field(default_factory=dict)  # op -> how it is expressed

    # what every kit answers (or raises Unsupported for)
    def ns(self) -> Any:
        raise NotImplementedError

    def value(self, f: Scalar, *args: float) -> Any:
        raise NotImplementedError

    def partials(self, f: Scalar, *args: float) -> tuple[Any, ...]:
        """The native partial derivatives of a scalar f of scalars, default API."""
        raise NotImplementedError

    def gradient(self, f: Callable[[Any, Any], Any], x: np.ndarray) -> Any:
        """The native gradient of f(ns, x) for a 1-D x, keeping x's dtype (no cast here)."""
        raise NotImplementedError

    def second(self, f: Scalar, x0: float, combo: str) -> Any:
        raise Unsupported(f"{self.name} has no {combo} second derivative")

    def unused_zeros(self, f: Scalar, *args: float) -> Any:
        raise Unsupported("no option: the default answer is the only one")

    def unused_allow(self, f: Scalar, *args: float) -> Any:
        raise Unsupported("no such option (it is torch.autograd.grad's)")

    def grad_twice(self, f: Scalar, x0: float, retain: bool) -> Any:
        raise NotImplementedError

    def missing_package(self) -> str | None:
        return backends.missing_package(self.registry[0])
