"""Shared pieces of the framework backends: the ``xp`` namespaces and checks.

Every framework gets the same contract (docs/architecture.md section 1). The
one thing the native namespaces disagree on is the dtype of a constant:
``torch.asarray(3.0)`` is float32, TF/JAX depend on global switches. So each
backend passes a :class:`FloatNamespace`, which forwards everything to the
native module except ``asarray``: plain numbers (Python or numpy, possibly in
nested lists) become float64 constants; framework objects pass through.
``aliases`` supply contract functions the module names or shapes differently
(torch: ``transpose`` of a 2-D array; JAX: the loops as ``jax.lax``'s); the
contract's loops (``toyad.loops``) are otherwise Python loops.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from toyad.backends.base import InputError, NativeAnswer
from toyad.loops import python_loops

_PLAIN_SCALARS = (bool, int, float, np.number, np.bool_)


def is_plain_numbers(obj: Any) -> bool:
    """True for Python/numpy numbers, real numpy arrays, and nested lists of them."""
    if isinstance(obj, _PLAIN_SCALARS):
        return True
    if isinstance(obj, np.ndarray):
        return obj.dtype.kind in "biuf"
    if isinstance(obj, (list, tuple)):
        return all(is_plain_numbers(item) for item in obj)
    return False


class FloatNamespace:
    """A module-like view of ``module`` whose ``asarray`` makes float64 constants."""

    def __init__(
        self,
        module: ModuleType | Any,
        float64: Any,
        label: str,
        aliases: dict[str, Callable[..., Any]] | None = None,
    ):
        self._module = module
        self._float64 = float64
        self._native_asarray = module.asarray
        self.__name__ = label
        # the contract's loops as Python loops (a backend with its own passes them in aliases)
        for name, fn in python_loops(lambda arrays: self.stack(arrays)).items():
            setattr(self, name, fn)
        for name, fn in (aliases or {}).items():  # contract names the module spells otherwise
            setattr(self, name, fn)

    def asarray(self, obj: Any, dtype: Any = None, **kw: Any) -> Any:
        if dtype is None and is_plain_numbers(obj):
            # a private copy: torch.asarray shares a numpy array's memory, and a
            # framework tensor must never alias the problem's own constants
            return self._native_asarray(np.array(obj, dtype=np.float64, copy=True), **kw)
        if dtype is None:
            return self._native_asarray(obj, **kw)
        return self._native_asarray(obj, dtype=dtype, **kw)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._module, name)
        setattr(self, name, value)  # cache: later look-ups skip __getattr__
        return value

    def __repr__(self) -> str:
        return f"<toyad namespace {self.__name__}>"


# -- checks shared by the framework adapters ---------------------------------


def check_output_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """f must return a 0-d (scalar) or 1-D array."""
    shape = tuple(int(d) for d in shape)
    if len(shape) > 1:
        raise InputError(f"f must return a 0-d or 1-D array; it returned shape {shape}")
    return shape


def require_scalar(operation: str, shape: tuple[int, ...]) -> None:
    """gradient and hessian are defined for scalar f only (0-d or shape (1,))."""
    if shape not in ((), (1,)):
        raise InputError(
            f"{operation} needs a scalar-valued f (0-d output); f returned shape {shape}; "
            "use jacobian for vector-valued f"
        )


def cotangent_for(u: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    """The cotangent u reshaped to f's output shape, or InputError naming both shapes."""
    if u.size != int(np.prod(out_shape, dtype=int)):
        raise InputError(f"cotangent u has shape {u.shape}; f's output has shape {out_shape}")
    return u.reshape(out_shape)


def unit_rows(k: int) -> np.ndarray:
    """The k×k identity: row i is the basis (co)tangent e_i.

    Only for a basis that is itself the size of the result (torch's batched
    backward over m outputs); forward passes over n inputs use
    :func:`unit_vectors`, which never holds k×k at large k.
    """
    return np.eye(k, dtype=np.float64)


BASIS_BYTES = 64 << 20  # the largest basis (or basis batch) an adapter keeps at once


def basis_fits(k: int) -> bool:
    """True when the k×k float64 basis fits in ``BASIS_BYTES`` (k <= 2896)."""
    return 8 * k * k <= BASIS_BYTES


def basis_batch(k: int) -> int:
    """Rows of a k-wide float64 basis batch that fit in ``BASIS_BYTES`` (at least 1)."""
    return max(1, BASIS_BYTES // (8 * k))


def unit_vectors(k: int, convert: Callable[[np.ndarray], Any]) -> Callable[[int], Any]:
    """``e(i)`` -> the basis vector e_i of length k, converted by ``convert``.

    When the k×k basis fits in ``BASIS_BYTES`` the k rows are converted once,
    here (prepare, untimed); past that each pass builds its own e_i (O(k) time
    and memory per pass, like the pass itself), so a forward gradient at large
    n streams instead of allocating n×n.
    """
    if basis_fits(k):
        rows = [convert(row) for row in np.eye(k, dtype=np.float64)]
        return rows.__getitem__

    def e(i: int) -> Any:
        row = np.zeros(k, dtype=np.float64)
        row[i] = 1.0
        return convert(row)

    return e


class NativeRecorder:
    """Appends one NativeAnswer to ``log`` the first time it is called (per prepare)."""

    def __init__(self, log: list[NativeAnswer], operation: str, situation: str, native: str):
        self._log = log
        self.operation, self.situation, self.native = operation, situation, native
        self.fired = False

    def __call__(self, native: str | None = None) -> None:
        if self.fired:
            return
        self.fired = True
        self._log.append(
            NativeAnswer(
                operation=self.operation,
                situation=self.situation,
                native=self.native if native is None else native,
                normalised="zeros",
            )
        )


UNCONNECTED = "output does not depend on x"
GRADIENT_CONSTANT = "gradient does not depend on x (f at most linear)"


def exception_text(exc: BaseException) -> str:
    """'ExcType: first line of the message', as the semantics table prints it."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"


def bind_args(f: Callable, xp: Any) -> tuple[Callable[[Any, dict[str, Any]], Any], dict[str, Any]]:
    """``(g, args)``: ``g(x, args) = f(xp, x)`` with f's constants as ``args``.

    A compiled adapter passes ``args`` (converted with ``xp.asarray`` here, once)
    as arguments of the compiled function, so constants are inputs in every
    framework rather than baked into one framework's executable. A problem
    function offers ``f.bind_args(xp)``; a plain ``f(xp, x)`` has no constants
    (``args`` is ``{}``), and one offering only ``f.bind(xp)`` keeps its
    constants bound.
    """
    binder = getattr(f, "bind_args", None)
    if callable(binder):
        return binder(xp)
    bound = bind(f, xp)

    def g(x: Any, args: dict[str, Any]) -> Any:
        return bound(x)

    return g, {}


def bind(f: Callable, xp: Any) -> Callable[[Any], Any]:
    """``x -> f(xp, x)``; a problem function's constants converted to ``xp`` once.

    ``toyad.problems`` functions offer ``f.bind(xp)``, which does the
    ``xp.asarray`` of their constants here, outside the timed call.
    """
    binder = getattr(f, "bind", None)
    if callable(binder):
        return binder(xp)

    def bound(x: Any) -> Any:
        return f(xp, x)

    return bound
