"""The backend registry and its errors: unknown names, missing frameworks,
unsupported operations."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from toyad import backends
from toyad.backends import (
    BackendError,
    InputError,
    MissingFramework,
    UnknownBackend,
    UnsupportedOperation,
)

FRAMEWORK_MODULES = {
    "tf-eager": "tensorflow",
    "tf-function": "tensorflow",
    "tf-xla": "tensorflow",
    "jax-eager": "jax",
    "jax-jit": "jax",
    "torch-autograd": "torch",
    "torch-forward-ad": "torch",
    "torch-func": "torch",
    "torch-compile": "torch",
    "autograd": "peers",
    "micrograd": "peers",
}


def square_sum(xp, x):
    return xp.sum(x * x)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownBackend) as info:
        backends.get("tensorflow-xla-turbo")
    msg = str(info.value)
    assert "'tensorflow-xla-turbo'" in msg
    for name in ("jax-jit", "tf-function", "torch-func", "micrograd", "analytic"):
        assert name in msg
    assert isinstance(info.value, KeyError) and isinstance(info.value, BackendError)
    assert info.value.known == backends.names()


def test_available_is_the_installed_subset() -> None:
    avail = backends.available()
    assert set(avail) <= set(backends.names())
    for name, module in FRAMEWORK_MODULES.items():
        assert backends.spec(name).module == module
        for pkg in backends.spec(name).requires:
            installed = importlib.util.find_spec(pkg) is not None
            assert (name in avail) == installed, (name, pkg)


def test_missing_framework_simulated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "_HIDDEN_PACKAGES", {"jax", "micrograd"})
    avail = backends.available()
    assert "jax-eager" not in avail and "jax-jit" not in avail and "micrograd" not in avail
    with pytest.raises(MissingFramework) as info:
        backends.get("jax-jit")
    msg = str(info.value)
    assert "jax-jit" in msg and "'jax'" in msg and "pip install" in msg
    assert isinstance(info.value, ImportError)
    with pytest.raises(MissingFramework, match="pip install micrograd"):
        backends.get("micrograd")


def test_missing_framework_leaves_the_others_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "_HIDDEN_PACKAGES", {"tensorflow"})
    avail = backends.available()
    assert "tf-eager" not in avail and "tf-function" not in avail
    if importlib.util.find_spec("torch") is not None:
        assert "torch-func" in avail
        assert backends.get("torch-func").gradient(square_sum, [1.0, 2.0]).tolist() == [2.0, 4.0]


@pytest.mark.parametrize(("name", "module"), sorted(FRAMEWORK_MODULES.items()))
def test_factories_reject_names_they_do_not_make(name: str, module: str) -> None:
    if name not in backends.available():
        pytest.skip(f"{name}: framework not installed")
    mod = importlib.import_module(f"toyad.backends.{module}")
    made = mod.make(name)
    assert made.name == name and made.capabilities
    with pytest.raises(UnknownBackend):
        mod.make(name + "-nope")


def micrograd_or_skip():
    if "micrograd" not in backends.available():
        pytest.skip("micrograd not installed")
    return backends.get("micrograd")


def test_unsupported_operation_names_backend_and_operation() -> None:
    b = micrograd_or_skip()
    with pytest.raises(UnsupportedOperation) as info:
        b.hessian(square_sum, [1.0, 2.0])
    err = info.value
    assert isinstance(err, NotImplementedError)
    assert err.backend == "micrograd" and err.operation == "hessian"
    assert "'micrograd'" in str(err) and "hessian" in str(err)


def test_unsupported_mode_lists_supported_modes() -> None:
    b = micrograd_or_skip()
    with pytest.raises(UnsupportedOperation, match="supported modes: reverse"):
        b.jacobian(square_sum, [1.0, 2.0], mode="forward")
    with pytest.raises(UnsupportedOperation, match="unknown operation"):
        b.prepare("laplacian", square_sum, [1.0, 2.0])


def test_forward_only_backend_refuses_vjp() -> None:
    if "torch-forward-ad" not in backends.available():
        pytest.skip("torch not installed")
    b = backends.get("torch-forward-ad")
    assert b.supports("jvp", "forward") and not b.supports("vjp")
    with pytest.raises(UnsupportedOperation, match="torch-forward-ad.*vjp"):
        b.vjp(square_sum, [1.0, 2.0], 1.0)


@pytest.mark.parametrize("name", [n for n in FRAMEWORK_MODULES if n in backends.available()])
def test_capabilities_are_declared_honestly(name: str) -> None:
    b = backends.get(name)
    for op, modes in b.capabilities.items():
        assert op in backends.OPERATIONS and modes, (op, modes)
        assert b.default_mode(op) == modes[0]
    x = np.array([1.0, -2.0])
    for op, modes in b.capabilities.items():  # every declared mode really runs
        for mode in modes:
            kw = {"v": np.ones(2)} if op == "jvp" else {"u": 1.0} if op == "vjp" else {}
            b.run(op, square_sum, x, mode=mode, **kw)


def test_bad_x_is_an_input_error() -> None:
    b = micrograd_or_skip()
    with pytest.raises(InputError, match="1-D"):
        b.gradient(square_sum, [[1.0, 2.0]])
    with pytest.raises(InputError, match="real numbers"):
        b.gradient(square_sum, ["a", "b"])


def test_declared_capabilities_are_the_loaded_backends_own() -> None:
    """The harness lists a run's cases from declared capabilities, before any framework
    loads: they must be what each loaded backend says it supports, in its order."""
    declared_any = False
    for name in backends.available():
        declared = backends.declared_capabilities(name)
        if declared is None:
            continue
        declared_any = True
        assert declared == backends.get(name).capabilities, name
    if not declared_any:
        pytest.skip("no framework installed")


def test_listing_a_run_imports_no_framework() -> None:
    """Collection (the controller of a run's jobs, each job, each fresh process of one)
    imports no framework: the cases need only the backends' declared modes."""
    import subprocess
    import sys

    code = (
        "import sys, pytest\n"
        "pytest.main(['benchmarks', '--benchmark-only', '--collect-only', '-q', '--jobs', '1',"
        " '-p', 'no:cacheprovider', '--backends', 'tf-eager,jax-jit,torch-func,tensor'])\n"
        "print('LOADED', sorted(m for m in ('tensorflow', 'jax', 'torch') if m in sys.modules))\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300
    ).stdout
    assert "tests collected" in out
    assert "LOADED []" in out, out[-2000:]
