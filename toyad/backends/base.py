"""The adapter interface every engine and framework sits behind.

A backend turns a problem ``f(xp, x)`` into derivatives, returned as numpy
float64 arrays whatever the framework computes internally:

    gradient(f, x)          -> (n,)        f scalar-valued
    jacobian(f, x, mode)    -> (m, n)      m = 1 for a scalar f
    hessian(f, x)           -> (n, n)      f scalar-valued
    jvp(f, x, v)            -> (m,)        J v      (0-d for a scalar f)
    vjp(f, x, u)            -> (n,)        u^T J    (u 0-d or (1,) for scalar f)
    primal(f, x)            -> f(x)

``prepare(operation, f, x, ...)`` does the untimed set-up (tracing, jit,
conversions) and returns a zero-argument callable doing the timed work; that
callable returns the framework's native result, already synchronised (JAX
``block_until_ready``). ``to_numpy`` converts it outside the timed region.

The conveniences (``gradient``, ``jacobian``, ... and ``run``) cache what
preparation builds: a bounded LRU (``cache_size`` entries per backend) keyed
on the function's identity, the operation, the mode, x's shape and the
shapes of v and u. A repeated call with the same key only converts the new
x (O(1) for a 1-D float64 C-contiguous numpy array) and runs the built
work. Like ``jax.jit``, a cached build may have baked in what ``f`` closes
over: ``f`` must be pure; if data it closes over changes, call
``clear_cache()`` or pass ``cache=False``. ``release()`` clears it too.

``strategy(operation, mode)`` says how the passes are organised (single,
vectorised, loop, per-op, closed-form: see ``STRATEGIES``);
``prepare_empty(x)`` returns a call doing the backend's per-call overhead and
no work; ``release()`` drops caches when a case ends.

Subclasses implement ``_build`` (returning ``bind(x, v, u, keep)`` -> the
zero-argument call, so one build serves many inputs of its shapes) or the
older ``_prepare`` (rebuilt for every input), ``_strategy`` (for every operation and
mode beyond the single passes) and, if their results are not numpy,
``_to_numpy``. They declare ``capabilities``: operation -> modes, the first
mode being the default. A backend may keep ``native_log`` entries describing
where the framework's own answer differed from the normalised one (``None``
gradient turned into zeros, an exception for an unused input, ...).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

OPERATIONS = ("primal", "gradient", "jacobian", "hessian", "jvp", "vjp")
MODES = ("forward", "reverse")

# How a backend organises the passes of an operation (``Backend.strategy``):
STRATEGIES = {
    "single": "a fixed number of passes whatever n and m: the primal, one reverse sweep "
    "(gradient, vjp), one forward pass (jvp), two sweeps (torch-autograd's "
    "double-backward jvp)",
    "vectorised": "the n (or m) passes batched into one vectorised computation: vmap "
    "(jacfwd, jacrev, torch.func), torch's batched backward (is_grads_batched), "
    "tf.vectorized_map / pfor inside a traced function, toyad.tensor's "
    "n-tangent forward pass",
    "loop": "a Python loop of n (or m) framework passes, one tangent or cotangent each "
    "(also finite differences: a loop of primal evaluations)",
    "per-op": "scalar engines: one Python object per scalar operation, whatever the "
    "operation (dual, symbolic, reverse, micrograd)",
    "closed-form": "the hand-written derivative (the analytic baseline)",
}


class BackendError(Exception):
    """Base class of every error a backend raises on purpose."""


class UnsupportedOperation(BackendError, NotImplementedError):
    """The backend cannot do this operation (or this mode of it)."""

    def __init__(self, backend: str, operation: str, mode: str | None = None, reason: str = ""):
        self.backend, self.operation, self.mode, self.reason = backend, operation, mode, reason
        what = operation if mode is None else f"{operation} (mode={mode!r})"
        msg = f"backend {backend!r} does not support {what}"
        super().__init__(msg + (f": {reason}" if reason else ""))


class TooExpensive(BackendError):
    """The backend declines this size: it would exceed the backend's own cap
    (the notebook's recursive backpropagate on a graph with millions of paths).
    Harnesses report it as skipped-too-slow."""

    def __init__(self, backend: str, operation: str, reason: str):
        self.backend, self.operation, self.reason = backend, operation, reason
        super().__init__(f"backend {backend!r} declines {operation}: {reason}")


class MissingFramework(BackendError, ImportError):
    """The library behind a backend is not installed here."""

    def __init__(self, backend: str, package: str, install: str):
        self.backend, self.package, self.install = backend, package, install
        super().__init__(
            f"backend {backend!r} needs the Python package {package!r}, which is not "
            f"installed; install it with: {install}"
        )


class UnknownBackend(BackendError, KeyError):
    def __init__(self, name: str, known: list[str]):
        self.name, self.known = name, known
        super().__init__(f"unknown backend {name!r}; known backends: {', '.join(known)}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class InputError(BackendError, ValueError):
    """A problem input (x, v, u) of the wrong shape or type."""


@dataclass
class NativeAnswer:
    """What the framework itself answered where the adapter normalised it."""

    operation: str
    situation: str  # e.g. "unused input", "non-differentiable point"
    native: str  # e.g. "None", "RuntimeError: One of the differentiated ..."
    normalised: str  # e.g. "zeros"


def require_1d(shape: Any, what: str = "x") -> None:
    """InputError naming the shape unless ``shape`` is (n,)."""
    if len(shape) != 1:
        raise InputError(f"{what} must be 1-D (shape (n,)); got shape {tuple(shape)}")


def as_input(x: Any, name: str = "x", *, copy: bool = True) -> np.ndarray:
    """``x`` as a 1-D float64 array, or raise InputError naming the shape.

    ``copy=True`` always makes a fresh array (a prepared call keeps its input);
    ``copy=False`` returns a writeable 1-D float64 C-contiguous numpy array as is (O(1):
    the conveniences run on it at once and keep nothing) and converts anything else.
    """
    if (
        not copy
        and type(x) is np.ndarray
        and x.dtype == np.float64
        and x.ndim == 1
        and x.flags.c_contiguous
        and x.flags.writeable  # torch.from_numpy warns on a read-only array
    ):
        return x
    try:
        arr = np.array(x, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a 1-D array of real numbers: {exc}") from None
    require_1d(arr.shape, name)
    return arr


def as_cotangent(u: Any, *, copy: bool = True) -> np.ndarray:
    """The cotangent ``u`` as a 0-d or 1-D float64 array, or InputError."""
    try:
        arr = np.array(u, dtype=np.float64, copy=True) if copy else np.asarray(u, np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"cotangent u must be a 0-d or 1-D array of real numbers: {exc}") from None
    if arr.ndim > 1:
        raise InputError(f"cotangent u must be 0-d or 1-D; got shape {arr.shape}")
    return arr


Bind = Callable[..., Callable[[], Any]]
"""What ``Backend._build`` returns: ``bind(x, v, u, keep)`` -> the zero-argument call.

``keep=True`` (prepare): the call is kept and timed many times, so inputs are
moved into the framework's own arrays now, untimed. ``keep=False`` (the
conveniences): one call at once, so bind does whatever is cheapest overall."""

CACHE_SIZE = 32  # cached builds per backend (the conveniences' LRU)


@dataclass
class Backend:
    """Base class: declares what it supports, validates, and dispatches."""

    name: str
    family: str
    variant: str = ""
    description: str = ""
    capabilities: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    native_log: list[NativeAnswer] = field(default_factory=list, repr=False)
    cache_size: int = field(default=CACHE_SIZE, repr=False, kw_only=True)
    builds: int = field(default=0, repr=False, compare=False, kw_only=True)
    _built: OrderedDict = field(default_factory=OrderedDict, init=False, repr=False, compare=False)

    # -- what it supports -------------------------------------------------
    def supports(self, operation: str, mode: str | None = None) -> bool:
        modes = self.capabilities.get(operation)
        if modes is None:
            return False
        return mode is None or mode in modes

    def default_mode(self, operation: str) -> str:
        self._check(operation, None)
        return self.capabilities[operation][0]

    def _check(self, operation: str, mode: str | None) -> str:
        if operation not in OPERATIONS:
            raise UnsupportedOperation(
                self.name,
                operation,
                mode,
                f"unknown operation; operations are {', '.join(OPERATIONS)}",
            )
        modes = self.capabilities.get(operation)
        if modes is None:
            raise UnsupportedOperation(self.name, operation, mode)
        if mode is None:
            return modes[0]
        if mode not in modes:
            raise UnsupportedOperation(
                self.name, operation, mode, f"supported modes: {', '.join(modes)}"
            )
        return mode

    # -- the two-step protocol --------------------------------------------
    def _inputs(
        self, operation: str, x: Any, v: Any, u: Any, *, copy: bool
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """x, v, u checked and converted to float64 (v only for jvp, u only for vjp)."""
        x = as_input(x, copy=copy)
        return (x, *self._directions(operation, x.shape, v, u, copy=copy))

    def _directions(
        self, operation: str, x_shape: tuple[int, ...], v: Any, u: Any, *, copy: bool
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The tangent v (jvp only) and cotangent u (vjp only), checked, float64."""
        if operation == "jvp":
            if v is None:
                raise InputError("jvp needs a tangent v of shape (n,)")
            v = as_input(v, "v", copy=copy)
            if v.shape != x_shape:
                raise InputError(f"tangent v has shape {v.shape}; x has shape {x_shape}")
        else:
            v = None
        if operation == "vjp":
            if u is None:
                raise InputError("vjp needs a cotangent u of the output's shape")
            u = as_cotangent(u, copy=copy)
        else:
            u = None
        return v, u

    def prepare(
        self,
        operation: str,
        f: Callable,
        x: Any,
        *,
        mode: str | None = None,
        v: Any = None,
        u: Any = None,
    ) -> Callable[[], Any]:
        """Untimed set-up; returns a zero-argument callable doing the timed work.

        Never cached: every prepare builds afresh (what the harness times is the
        call, the build is the set-up it excludes).
        """
        mode = self._check(operation, mode)
        x, v, u = self._inputs(operation, x, v, u, copy=True)
        return self._build(operation, mode, f, x, v, u)(x, v, u, True)

    def _build(self, operation: str, mode: str, f: Callable, x: np.ndarray, v: Any, u: Any) -> Bind:
        """The set-up for f, operation, mode at these shapes -> ``bind(x, v, u)``.

        x, v, u here are a sample (for tracing and shape checks); ``bind`` takes
        new inputs of the same shapes and returns the zero-argument timed call.
        The default rebuilds with ``_prepare`` on every bind (no reuse).
        """

        def bind(x: np.ndarray, v: Any, u: Any, keep: bool = True) -> Callable[[], Any]:
            return self._prepare(operation, mode, f, x, v=v, u=u)

        return bind

    def _prepare(
        self, operation: str, mode: str, f: Callable, x: np.ndarray, *, v: Any, u: Any
    ) -> Callable[[], Any]:
        raise UnsupportedOperation(self.name, operation, mode)

    def to_numpy(self, result: Any) -> np.ndarray:
        """Convert a prepared call's native result to a float64 numpy array."""
        return np.asarray(self._to_numpy(result), dtype=np.float64)

    def _to_numpy(self, result: Any) -> Any:
        return result

    # -- one-shot conveniences ---------------------------------------------
    def run(
        self,
        operation: str,
        f: Callable,
        x: Any,
        *,
        mode: str | None = None,
        v: Any = None,
        u: Any = None,
        cache: bool = True,
    ) -> Any:
        """``operation`` of f at x, reusing a cached build.

        numpy (or any array-like) in -> a float64 numpy array out. This backend's
        own array type in (a jax array for jax-*, a tf.Tensor for tf-*, a
        torch.Tensor for torch-*: see ``native``) -> that type out, float64, as
        the framework's own transforms return it; no conversion either way.
        The cache key is (f by identity, operation, mode, x.shape, v.shape,
        u.shape); inputs are float64 by then, so a float32 or integer x runs
        the float64 build on its converted values. The LRU keeps ``f`` alive, so
        its id cannot be reused by another function while the entry exists.
        ``f`` must be pure: a build may have traced what f closes over (jit,
        tf.function, torch.compile), so after changing such data call
        ``clear_cache()`` or pass ``cache=False`` (build afresh, cache nothing).
        """
        mode = self._check(operation, mode)
        native = self.native(x)
        x = as_input(x, copy=False) if native is None else native
        shape = x.shape
        if type(shape) is not tuple:  # tf.TensorShape, torch.Size
            shape = tuple(shape)
        if operation in ("jvp", "vjp"):
            v, u = self._directions(operation, shape, v, u, copy=False)
            key: tuple = (
                id(f),
                operation,
                mode,
                shape,
                getattr(v, "shape", None),
                getattr(u, "shape", None),
            )
        else:  # the hot path: a few hundred nanoseconds from here to the call
            v = u = None
            key = (id(f), operation, mode, shape)
        entry = self._built.get(key) if cache else None
        if entry is not None and entry[0] is f:
            self._built.move_to_end(key)
            out = entry[1](x, v, u, False)()
            return out if native is not None else self._result(out, x)
        sample = x if native is None else self.to_numpy(x)  # builds trace a numpy sample
        bind = self._build(operation, mode, f, sample, v, u)
        out = bind(x, v, u, False)()
        out = out if native is not None else self._result(out, x)
        if cache:  # kept only after its first call worked
            self.builds += 1
            self._built[key] = (f, bind)  # holding f keeps id(f) from being reused
            while len(self._built) > self.cache_size:
                self._built.popitem(last=False)
        return out

    def native(self, x: Any) -> Any:
        """x as this backend's float64 1-D array if it is one of its arrays, else None.

        Frameworks override this (their array types, cast to float64); the toy
        engines have no array type of their own: numpy in, numpy out.
        """
        return None

    def to_native(self, x: Any) -> Any:
        """x (1-D, real) as this backend's own float64 array: a jax array, tf.Tensor or
        torch.Tensor for the frameworks (the conveniences then return that type too),
        a numpy array for the toy engines."""
        return self._to_native(as_input(x))

    def _to_native(self, x: np.ndarray) -> Any:
        return x

    def _reshape(self, out: Any, shape: tuple[int, ...]) -> Any:
        """A result (numpy or native) reshaped; tf overrides (tensors have no .reshape)."""
        return out.reshape(shape)

    def _result(self, native: Any, x: np.ndarray) -> np.ndarray:
        """The call's result as numpy, never a view of the caller's x (f(x) = x)."""
        out = self.to_numpy(native)
        return out.copy() if np.may_share_memory(out, x) else out

    def clear_cache(self) -> None:
        """Forget every cached build (after data f closes over has changed)."""
        self._built.clear()

    def cache_info(self) -> dict[str, int]:
        """``{"entries": cached builds, "builds": made by the conveniences, "size": the cap}``."""
        return {"entries": len(self._built), "builds": self.builds, "size": self.cache_size}

    def primal(self, f: Callable, x: Any, *, cache: bool = True) -> np.ndarray:
        """f(x)."""
        return self.run("primal", f, x, cache=cache)

    def gradient(
        self, f: Callable, x: Any, mode: str | None = None, *, cache: bool = True
    ) -> np.ndarray:
        """∇f(x), shape (n,), for scalar f."""
        return self.run("gradient", f, x, mode=mode, cache=cache)

    def jacobian(
        self, f: Callable, x: Any, mode: str | None = None, *, cache: bool = True
    ) -> np.ndarray:
        """J = ∂f/∂x, shape (m, n) (m = 1 for a scalar f)."""
        out = self.run("jacobian", f, x, mode=mode, cache=cache)
        return self._reshape(out, (-1, int(x.shape[0] if hasattr(x, "shape") else len(x))))

    def hessian(
        self, f: Callable, x: Any, mode: str | None = None, *, cache: bool = True
    ) -> np.ndarray:
        """H = ∂²f/∂x², shape (n, n), for scalar f."""
        return self.run("hessian", f, x, mode=mode, cache=cache)

    def jvp(self, f: Callable, x: Any, v: Any, *, cache: bool = True) -> np.ndarray:
        """J v, shape (m,) (0-d for a scalar f)."""
        return self.run("jvp", f, x, v=v, cache=cache)

    def vjp(self, f: Callable, x: Any, u: Any, *, cache: bool = True) -> np.ndarray:
        """uᵀ J, shape (n,)."""
        return self.run("vjp", f, x, u=u, cache=cache)

    def passes(self, operation: str, mode: str, n: int, m: int) -> int | None:
        """Primal-equivalent passes the method makes (forward: n, reverse: m), if known."""
        if operation in ("jvp", "vjp", "primal"):
            return 1
        if operation == "gradient":
            return n if mode == "forward" else 1
        if operation == "jacobian":
            return n if mode == "forward" else m
        if operation == "hessian":
            return n
        return None

    def versions(self) -> dict[str, str]:
        """Library versions behind this backend (for the report's environment)."""
        return {}

    # -- what a number means ------------------------------------------------
    def strategy(self, operation: str, mode: str | None = None) -> str:
        """How the passes of ``operation`` in ``mode`` are organised: a key of
        ``STRATEGIES`` (single, vectorised, loop, per-op, closed-form)."""
        mode = self._check(operation, mode)
        return self._strategy(operation, mode)

    def _strategy(self, operation: str, mode: str) -> str:
        if operation in ("primal", "jvp", "vjp") or (operation, mode) == ("gradient", "reverse"):
            return "single"
        raise NotImplementedError(f"backend {self.name!r} declares no strategy for {operation}")

    def prepare_empty(self, x: Any) -> Callable[[], Any]:
        """The backend's per-call overhead with no work, to time beside a case.

        Untimed set-up like ``prepare``; the returned zero-argument callable
        does what every prepared call of this backend does around its work and
        nothing else: a jitted / ``tf.function`` / ``torch.compile`` identity
        on x (dispatch, argument handling, synchronisation), the cheapest
        native op on x for eager frameworks, nothing for the toy engines. A
        harness subtracts its time to report derivative ÷ primal net of it.
        """
        return self._prepare_empty(as_input(x))

    def _prepare_empty(self, x: np.ndarray) -> Callable[[], Any]:
        return lambda: None

    def release(self, framework_caches: bool = True) -> None:
        """Drop what the backend holds for cases that have ended (compile caches).

        A harness calls it when a case ends; prepared calls hold their own
        inputs and compiled functions, which go when the call object goes.
        Clears the conveniences' cache; with ``framework_caches`` frameworks
        also drop their process-wide caches (JAX's compiled executables, which
        later cases of the same shapes would reuse: a harness keeps them until
        memory grows, see ``toyad.bench.harness.Harness.release_after``).
        """
        self.clear_cache()
