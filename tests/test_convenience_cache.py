"""The conveniences' cache of builds (Backend.run): reused when it may be, never stale.

Counts builds (``Backend.builds``) and traces (calls of f), never times.
"""

from __future__ import annotations

import gc
import importlib
import weakref

import numpy as np
import pytest

from toyad import backends
from toyad.backends.base import InputError, as_input


def f_mix(xp, x):
    """sum(tanh(x) exp(-x²) + sin(x)²)."""
    return xp.sum(xp.tanh(x) * xp.exp(-(x**2)) + xp.sin(x) ** 2)


def grad_mix(x: np.ndarray) -> np.ndarray:
    """d/dx = (1 - t²) e - 2x t e + 2 sin x cos x, t = tanh x, e = exp(-x²)."""
    t, e = np.tanh(x), np.exp(-x * x)
    return (1 - t * t) * e - 2 * x * t * e + 2 * np.sin(x) * np.cos(x)


def scaled(a: float):
    """f(x) = a · sum(x²) (same code for every a; ∇f = 2 a x)."""
    return lambda xp, x: a * xp.sum(x * x)


def fresh(name: str) -> backends.Backend:
    """A new backend object (the registry's are shared by every test)."""
    if backends.missing_package(name):
        pytest.skip(f"{name} is not installed")
    module = importlib.import_module(f"toyad.backends.{backends.spec(name).module}")
    return getattr(module, backends.spec(name).factory)(name)


EAGER = ["tensor", "reverse", "autograd"]
COMPILED = ["jax-jit", "tf-function"]
SOME = ["tensor", "reverse", "torch-autograd", "jax-jit", "tf-function"]


@pytest.mark.parametrize("name", SOME)
def test_repeated_calls_build_once_and_use_each_new_x(name: str) -> None:
    b = fresh(name)
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = rng.normal(size=6)
        np.testing.assert_allclose(b.gradient(f_mix, x), grad_mix(x), rtol=1e-12, atol=1e-14)
    assert b.cache_info() == {"entries": 1, "builds": 1, "size": 32}


@pytest.mark.parametrize("name", SOME)
def test_a_different_function_shape_mode_or_operation_builds_afresh(name: str) -> None:
    b = fresh(name)
    x = np.linspace(-1.0, 2.0, 5)
    f2, f3 = scaled(2.0), scaled(3.0)  # same code object, different closures
    np.testing.assert_allclose(b.gradient(f2, x), 4.0 * x, rtol=1e-13)
    np.testing.assert_allclose(b.gradient(f3, x), 6.0 * x, rtol=1e-13)
    assert b.builds == 2
    y = np.linspace(0.5, 1.0, 7)  # another shape
    np.testing.assert_allclose(b.gradient(f2, y), 4.0 * y, rtol=1e-13)
    assert b.builds == 3
    np.testing.assert_allclose(b.jacobian(f2, x), (4.0 * x)[None, :], rtol=1e-13)
    assert b.builds == 4
    modes = b.capabilities["gradient"]
    if len(modes) > 1:  # the other mode is its own build
        np.testing.assert_allclose(b.gradient(f2, x, mode=modes[1]), 4.0 * x, rtol=1e-12)
        assert b.builds == 5
    before = b.builds
    np.testing.assert_allclose(b.gradient(f2, x), 4.0 * x, rtol=1e-13)  # all still cached
    np.testing.assert_allclose(b.gradient(f3, x), 6.0 * x, rtol=1e-13)
    assert b.builds == before


@pytest.mark.parametrize("name", ["tensor", "jax-jit"])
def test_other_dtypes_and_lists_run_the_float64_build_on_converted_values(name: str) -> None:
    b = fresh(name)
    x = np.array([0.25, -1.5, 2.0])
    b.gradient(f_mix, x)
    for other in (x.astype(np.float32), [1, 2, 3], np.array([1, -2, 3], dtype=np.int64)):
        want = grad_mix(np.asarray(other, dtype=np.float64))
        np.testing.assert_allclose(b.gradient(f_mix, other), want, rtol=1e-12, atol=1e-14)
    assert b.builds == 1  # converted to float64 first: one trace serves them all


@pytest.mark.parametrize("name", COMPILED)
def test_a_compiled_build_does_not_retrace_on_a_new_x(name: str) -> None:
    b = fresh(name)
    traced = []

    def f(xp, x):
        traced.append(1)  # runs in Python only while tracing
        return f_mix(xp, x)

    b.gradient(f, np.ones(4))
    after_build = len(traced)
    assert after_build >= 1
    for k in range(3):
        x = np.full(4, 0.1 * k)
        np.testing.assert_allclose(b.gradient(f, x), grad_mix(x), rtol=1e-12, atol=1e-14)
    assert len(traced) == after_build


@pytest.mark.parametrize("name", ["tensor", "jax-jit"])
def test_jvp_and_vjp_key_on_their_direction_and_check_its_shape(name: str) -> None:
    b = fresh(name)

    def g(xp, x):  # (2,) output: [sum x², x0 x1]
        return xp.stack([xp.sum(x * x), x[0] * x[1]])

    x = np.array([1.0, 2.0, 3.0])
    J = np.array([2 * x, [x[1], x[0], 0.0]])
    for v in (np.array([1.0, 0.0, 0.0]), np.array([0.5, -1.0, 2.0])):
        np.testing.assert_allclose(b.jvp(g, x, v), J @ v, rtol=1e-13)
    for u in (np.array([1.0, 0.0]), np.array([-2.0, 3.0])):
        np.testing.assert_allclose(b.vjp(g, x, u), u @ J, rtol=1e-13)
    assert b.builds == 2
    with pytest.raises(InputError, match="cotangent u has shape"):
        b.vjp(g, x, np.ones(3))
    with pytest.raises(InputError, match="tangent v has shape"):
        b.jvp(g, x, np.ones(2))


def test_release_and_clear_cache_empty_it_and_the_lru_holds_its_bound() -> None:
    b = fresh("tensor")
    b.cache_size = 3
    x = np.arange(4.0)
    fs = [scaled(float(a)) for a in range(5)]
    for a, f in enumerate(fs):
        np.testing.assert_allclose(b.gradient(f, x), 2.0 * a * x)
    assert b.cache_info()["entries"] == 3 and b.builds == 5
    b.gradient(fs[4], x)  # the newest: still cached
    assert b.builds == 5
    b.gradient(fs[0], x)  # the oldest was evicted: built again
    assert b.builds == 6 and b.cache_info()["entries"] == 3
    b.clear_cache()
    assert b.cache_info()["entries"] == 0
    b.gradient(fs[0], x)
    b.release()
    assert b.cache_info()["entries"] == 0
    b.gradient(fs[0], x)
    assert b.builds == 8


def test_the_cache_keeps_f_alive_so_its_id_is_never_reused_while_cached() -> None:
    b = fresh("tensor")
    f = scaled(5.0)
    alive = weakref.ref(f)
    b.gradient(f, np.ones(3))
    del f
    gc.collect()
    assert alive() is not None  # the entry holds it: no new function can take its id
    b.clear_cache()
    gc.collect()
    assert alive() is None
    # functions made and dropped one after another never see each other's build
    for a in range(6):
        np.testing.assert_allclose(b.gradient(scaled(float(a)), np.ones(3)), 2.0 * a)


def test_a_traced_build_keeps_what_f_closed_over_until_the_cache_is_cleared() -> None:
    """The documented contract: f must be pure; after changing its data, clear."""
    b = fresh("jax-jit")
    a = np.array([1.0, 2.0, 3.0])

    def f(xp, x):
        return xp.sum(a * x * x)  # a is baked into the jitted trace

    x = np.ones(3)
    np.testing.assert_allclose(b.gradient(f, x), 2 * a * x)
    a[:] = [10.0, 20.0, 30.0]
    np.testing.assert_allclose(b.gradient(f, x, cache=False), 2 * a * x)  # built afresh
    np.testing.assert_allclose(b.gradient(f, x), [2.0, 4.0, 6.0])  # the stale trace
    b.clear_cache()
    np.testing.assert_allclose(b.gradient(f, x), 2 * a * x)


@pytest.mark.parametrize("name", EAGER + COMPILED)
def test_bad_input_keeps_its_clear_errors(name: str) -> None:
    b = fresh(name)
    b.gradient(f_mix, np.ones(3))
    with pytest.raises(InputError, match=r"x must be 1-D \(shape \(n,\)\); got shape \(2, 3\)"):
        b.gradient(f_mix, np.ones((2, 3)))
    with pytest.raises(InputError, match="x must be a 1-D array of real numbers"):
        b.gradient(f_mix, ["a", "b", "c"])
    with pytest.raises(InputError, match="scalar-valued f"):
        b.gradient(lambda xp, x: x * x, np.ones(3))
    assert b.cache_info()["entries"] == 1  # a failed build caches nothing


def test_input_conversion_is_o1_for_float64_and_results_never_alias_x() -> None:
    x = np.linspace(0.0, 1.0, 8)
    assert as_input(x, copy=False) is x
    assert as_input(x, copy=True) is not x
    strided = np.linspace(0.0, 1.0, 16)[::2]
    assert as_input(strided, copy=False) is not strided  # converted: not contiguous
    frozen = x.copy()
    frozen.flags.writeable = False
    assert as_input(frozen, copy=False) is not frozen
    b = fresh("tensor")
    out = b.primal(lambda xp, z: z, x)  # f(x) = x: the result is still a new array
    np.testing.assert_array_equal(out, x)
    assert not np.may_share_memory(out, x)


def test_the_report_carries_the_ratios_into_the_csv_and_page() -> None:
    from toyad.report import load, page
    from toyad.report.load import Run

    def row(**kw):
        base = {"status": "ok", "n": 10, "m": 1, "operation": "gradient"}
        return {**base, **kw}

    records = [
        row(suite="convenience", backend="jax-jit", call="prepared", median_s=2e-6),
        row(
            suite="convenience",
            backend="jax-jit",
            call="convenience",
            median_s=3e-6,
            ratio=1.5,
            ratio_of="convenience ÷ prepared",
        ),
        row(
            suite="convenience",
            backend="jax-jit",
            call="native",
            median_s=2.2e-6,
            ratio=1.1,
            ratio_of="native ÷ prepared",
        ),
        row(suite="tensor-speed", backend="analytic", problem="elementwise_1e6", median_s=0.04),
        row(suite="tensor-speed", backend="tensor", problem="elementwise_1e6", median_s=0.044),
        row(suite="per-op", backend="micrograd", ops=8000, gc="off", median_s=0.010),
        row(suite="per-op", backend="reverse", ops=8000, gc="off", median_s=0.0022),
        row(suite="per-op", backend="reverse", ops=8000, gc="on", median_s=0.0030),  # no ref
    ]
    frame = load.cases_frame(records)
    got = dict(zip(zip(frame["suite"], frame["backend"], frame["gc"]), frame["ratio"]))
    assert got[("tensor-speed", "tensor", "")] == pytest.approx(1.1)
    assert got[("per-op", "reverse", "off")] == pytest.approx(0.22)
    assert np.isnan(got[("per-op", "reverse", "on")])
    kept = frame[frame["suite"].eq("convenience") & frame["call"].eq("convenience")]
    assert kept["ratio"].tolist() == [1.5]  # kept as measured
    run = Run(cases=frame, semantics=load.pd.DataFrame(), environment={})
    html = page.ratios_section(run)
    assert "1.50×" in html and "1.10×" in html and "0.22×" in html
    table = page.convenience_table(frame)
    assert list(table.columns[2:]) == [
        "prepared",
        "native",
        "convenience",
        "native ÷ prepared",
        "numpy ÷ prepared",
    ]
    assert table.iloc[0]["native ÷ prepared"] == 1.1 and table.iloc[0]["numpy ÷ prepared"] == 1.5


FRAMEWORKS = [
    "jax-eager",
    "jax-jit",
    "tf-eager",
    "tf-function",
    "torch-autograd",
    "torch-func",
    "torch-forward-ad",
]


def to_native(name: str, x: np.ndarray, dtype: str = "float64"):
    """x as the framework's own array (jax array, tf.Tensor, torch.Tensor)."""
    if name.startswith("jax"):
        import jax.numpy as jnp

        return jnp.asarray(x, dtype=dtype)
    if name.startswith("tf"):
        import tensorflow as tf

        return tf.constant(x, dtype=dtype)
    import torch

    return torch.tensor(x, dtype=getattr(torch, dtype))


def native_type(name: str) -> type:
    if name.startswith("jax"):
        import jax

        return jax.Array
    if name.startswith("tf"):
        import tensorflow as tf

        return tf.Tensor
    import torch

    return torch.Tensor


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_a_framework_array_in_gives_one_out_with_the_same_values(name: str) -> None:
    """The framework's own array in: no numpy either way, the analytic values, one build
    shared with numpy inputs of the same shape; a float32 array is computed in float64."""
    b = fresh(name)
    x = np.linspace(-1.5, 1.2, 7)
    for dtype in ("float64", "float32"):
        xn = to_native(name, x, dtype)
        got = b.gradient(f_mix, xn)
        assert isinstance(got, native_type(name)), type(got)
        want = grad_mix(x if dtype == "float64" else x.astype(np.float32).astype(np.float64))
        np.testing.assert_allclose(b.to_numpy(got), want, rtol=1e-12, atol=1e-14)
        assert b.to_numpy(got).dtype == np.float64
    assert isinstance(b.to_native(x), native_type(name))  # the public way to make one
    jac = b.jacobian(lambda xp, z: xp.sin(z) * 2.0, b.to_native(x))
    assert isinstance(jac, native_type(name)) and tuple(jac.shape) == (7, 7)
    np.testing.assert_allclose(b.to_numpy(jac), np.diag(2 * np.cos(x)), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(b.gradient(f_mix, x), grad_mix(x), rtol=1e-12, atol=1e-14)
    assert b.builds == 2  # gradient (float64 and float32 and numpy share it), jacobian


@pytest.mark.parametrize("name", ["jax-jit", "tf-function", "torch-autograd"])
def test_a_framework_array_of_the_wrong_rank_is_named(name: str) -> None:
    b = fresh(name)
    with pytest.raises(InputError, match=r"1-D .*shape"):
        b.gradient(f_mix, to_native(name, np.ones((2, 3))))


def test_a_toy_engine_takes_numpy_and_returns_numpy_for_a_framework_array() -> None:
    """Only a backend's own array type stays native: the toys convert, as before."""
    torch = pytest.importorskip("torch")
    x = np.linspace(-1.0, 1.0, 5)
    got = backends.get("reverse").gradient(f_mix, torch.tensor(x))
    assert type(got) is np.ndarray
    np.testing.assert_allclose(got, grad_mix(x), rtol=1e-12)
