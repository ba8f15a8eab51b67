"""One interface in front of every engine and framework.

    from toyad import backends
    backends.available()              # names whose libraries import here
    b = backends.get("jax-jit")       # unknown -> UnknownBackend listing the known
    b.supports("jacobian", "forward")
    b.gradient(f, x); b.jacobian(f, x, mode="reverse"); b.hessian(f, x)
    b.jvp(f, x, v); b.vjp(f, x, u)
    call = b.prepare("jacobian", f, x, mode="forward")  # untimed set-up
    call()                                              # the timed work
    b.strategy("jacobian", "forward")  # "vectorised" | "loop" | "single" | "per-op" | ...
    b.prepare_empty(x)()               # the per-call overhead alone
    b.release()                        # when a case ends: drop compile caches
    backends.release_all()             # every backend made so far drops its caches

The registry below names every backend without importing its framework, so
``available()`` is cheap and a missing framework never breaks the rest.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass

from toyad.backends.base import (
    MODES,
    OPERATIONS,
    STRATEGIES,
    Backend,
    BackendError,
    InputError,
    MissingFramework,
    NativeAnswer,
    TooExpensive,
    UnknownBackend,
    UnsupportedOperation,
)

__all__ = [
    "MODES",
    "OPERATIONS",
    "STRATEGIES",
    "Backend",
    "BackendError",
    "InputError",
    "MissingFramework",
    "NativeAnswer",
    "TooExpensive",
    "UnknownBackend",
    "UnsupportedOperation",
    "available",
    "declared_capabilities",
    "get",
    "names",
    "spec",
]


@dataclass(frozen=True)
class BackendSpec:
    name: str
    module: str  # toyad.backends.<module>
    factory: str  # a callable there taking the backend name, returning a Backend
    requires: tuple[str, ...] = ()  # importable top-level packages
    install: str = ""  # what to tell a user who lacks them


_FRAMEWORK_INSTALL = "pip install -e '.[frameworks]' -c constraints.txt"

_SPECS = [
    # the toy engines (numpy only)
    BackendSpec("analytic", "analytic", "make"),
    BackendSpec("numeric-forward", "toys", "make"),
    BackendSpec("numeric-central", "toys", "make"),
    BackendSpec("numeric-richardson", "toys", "make"),
    BackendSpec("numeric-complex", "toys", "make"),
    BackendSpec("symbolic", "toys", "make"),
    BackendSpec("dual", "toys", "make"),
    BackendSpec("reverse", "toys", "make"),
    BackendSpec("reverse-recursive", "toys", "make"),
    BackendSpec("tensor", "tensor", "make"),
    BackendSpec("tensor-unbatched", "tensor", "make"),
    # the frameworks
    BackendSpec("tf-eager", "tensorflow", "make", ("tensorflow",), _FRAMEWORK_INSTALL),
    BackendSpec("tf-function", "tensorflow", "make", ("tensorflow",), _FRAMEWORK_INSTALL),
    BackendSpec("tf-xla", "tensorflow", "make", ("tensorflow",), _FRAMEWORK_INSTALL),
    BackendSpec("jax-eager", "jax", "make", ("jax",), _FRAMEWORK_INSTALL),
    BackendSpec("jax-jit", "jax", "make", ("jax",), _FRAMEWORK_INSTALL),
    BackendSpec("torch-autograd", "torch", "make", ("torch",), _FRAMEWORK_INSTALL),
    BackendSpec("torch-forward-ad", "torch", "make", ("torch",), _FRAMEWORK_INSTALL),
    BackendSpec("torch-func", "torch", "make", ("torch",), _FRAMEWORK_INSTALL),
    BackendSpec("torch-compile", "torch", "make", ("torch",), _FRAMEWORK_INSTALL),
    # peers beyond the card
    BackendSpec("autograd", "peers", "make", ("autograd",), "pip install autograd"),
    BackendSpec("micrograd", "peers", "make", ("micrograd",), "pip install micrograd"),
]
_BY_NAME = {s.name: s for s in _SPECS}
_CACHE: dict[str, Backend] = {}
# Tests set this to simulate a framework that is not installed.
_HIDDEN_PACKAGES: set[str] = set()


def declared_capabilities(name: str) -> dict[str, tuple[str, ...]] | None:
    """What a framework backend offers, without importing its framework (None: only the
    loaded backend says)."""
    from toyad.backends.capabilities import declared

    spec(name)  # (an unknown name: UnknownBackend)
    return declared(name)


def names() -> list[str]:
    """Every known backend name, installed or not."""
    return [s.name for s in _SPECS]


def spec(name: str) -> BackendSpec:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownBackend(name, names()) from None


def _importable(package: str) -> bool:
    if package in _HIDDEN_PACKAGES:
        return False
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def missing_package(name: str) -> str | None:
    """The first package ``name`` needs that is not installed, else None."""
    for pkg in spec(name).requires:
        if not _importable(pkg):
            return pkg
    return None


def available() -> list[str]:
    """Names of the backends whose libraries are installed here."""
    return [s.name for s in _SPECS if missing_package(s.name) is None]


def get(name: str) -> Backend:
    """The backend called ``name`` (created once, then cached)."""
    s = spec(name)
    pkg = missing_package(name)
    if pkg is not None:
        raise MissingFramework(name, pkg, s.install)
    if name not in _CACHE:
        from toyad import runtime

        runtime.configure()  # threads and float64, before any framework loads
        module = importlib.import_module(f"toyad.backends.{s.module}")
        _CACHE[name] = getattr(module, s.factory)(name)
    return _CACHE[name]


def release_all(others: Iterable[Backend] = (), framework_caches: bool = True) -> None:
    """Every backend made in this process by ``get``, and ``others`` (made elsewhere: a
    user's own), drops its caches (see ``Backend.release``), each once; one that fails
    to release does not stop the rest. Backends not made yet are not made: releasing
    must not import a framework."""
    for backend in {id(b): b for b in [*_CACHE.values(), *others]}.values():
        try:
            backend.release(framework_caches=framework_caches)
        except Exception:  # (a framework's own teardown error: nothing to keep anyway)
            continue
