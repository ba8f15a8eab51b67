"""The contract's loops (xp.scan, xp.fori_loop, xp.while_loop) in every backend,
against analytic derivatives; where a framework cannot differentiate a loop in a
mode, a clear UnsupportedOperation naming the loop."""

from __future__ import annotations

import numpy as np
import pytest

from toyad import backends
from toyad.backends.base import UnsupportedOperation
from toyad.loops import NUMPY, contract_namespace, python_loops


def running_products(xp, x):
    """carry_k = x_0 ... x_k (scanned over x), ys = every carry: f = carry_{n-1} + Σ_k ys_k."""

    def step(carry, x_k):
        carry = carry * x_k
        return carry, carry

    last, ys = xp.scan(step, 1.0, x)
    return last + xp.sum(ys)


def running_products_gradient(x):
    # d/dx_i (P_{n-1} + Σ_k P_k) = (P_{n-1} + Σ_{k>=i} P_k) / x_i, with P_k = x_0 ... x_k
    p = np.cumprod(x)
    tail = np.cumsum(p[::-1])[::-1]
    return (p[-1] + tail) / x


def damped_sines(xp, x):
    """c_{t+1} = c_t / 2 + sin(a), T = 5 steps from c_0 = b (a = x[0:3], b = x[3:6])."""

    def body(i, c):
        return c * 0.5 + xp.sin(x[0:3])

    return xp.sum(xp.fori_loop(0, 5, body, x[3:6]))


def damped_sines_gradient(x):
    # c_5 = b / 2^5 + sin(a) (1 + 1/2 + ... + 1/2^4)
    return np.concatenate([np.cos(x[0:3]) * (1 - 0.5**5) / 0.5, np.full(3, 0.5**5)])


def cubed_scale(xp, x):
    """v <- v * s three times, counted by the carry: f = Σ v s³ (v = x[0:2], s = x[2:4])."""

    def cond(carry):
        return carry[0] < 3

    def body(carry):
        k, v = carry
        return k + 1, v * x[2:4]

    _, v = xp.while_loop(cond, body, (0, x[0:2]))
    return xp.sum(v)


def cubed_scale_gradient(x):
    v, s = x[0:2], x[2:4]
    return np.concatenate([s**3, 3 * v * s**2])


CASES = {
    "scan": (running_products, running_products_gradient, np.linspace(0.6, 1.3, 7)),
    "fori_loop": (damped_sines, damped_sines_gradient, np.linspace(0.1, 0.9, 6)),
    "while_loop": (cubed_scale, cubed_scale_gradient, np.array([0.3, -0.7, 1.1, 0.9])),
}

# what a framework cannot do, by design: (backend, loop, mode) -> words in the error
UNSUPPORTED = {
    **{(b, "while_loop", "reverse"): "reverse pass through lax.while_loop"
       for b in ("jax-eager", "jax-jit")},
    **{(b, "scan", "forward"): "tf.while_loop" for b in ("tf-function", "tf-xla")},
    **{("tf-xla", loop, "forward"): "tf.while_loop" for loop in ("fori_loop", "while_loop")},
    ("tf-xla", "while_loop", "reverse"): "fixed tensor list size",  # XLA: bounded loops only
}  # fmt: skip


def _gradient_cases():
    for name in backends.names():
        for loop in CASES:
            yield pytest.param(name, loop, id=f"{name}-{loop}")


@pytest.mark.parametrize("name, loop", list(_gradient_cases()))
def test_gradients_through_each_loop_match_the_analytic_ones(name, loop):
    missing = backends.missing_package(name)
    if missing:
        pytest.skip(f"{name} needs {missing}, which is not installed")
    b = backends.get(name)
    f, gradient, x = CASES[loop]
    modes = b.capabilities.get("gradient", ())
    if name == "micrograd" and loop != "scan":
        modes = ()  # micrograd's Value has no sin; the while loop's carry has an int
    if name == "analytic":
        modes = ()  # needs a catalog problem (its derivatives are written out)
    for mode in modes:
        expected_error = UNSUPPORTED.get((name, loop, mode))
        if expected_error:
            with pytest.raises(UnsupportedOperation, match=expected_error):
                b.gradient(f, x, mode=mode)
            continue
        got = np.asarray(b.gradient(f, x, mode=mode), dtype=np.float64)
        tol = 1e-5 if name.startswith("numeric-") else 1e-12
        np.testing.assert_allclose(got, gradient(x), rtol=tol, atol=tol, err_msg=f"{mode}")


def test_python_loops_follow_lax_semantics():
    loops = python_loops(np.stack)
    carry, ys = loops["scan"](lambda c, r: (c + r[0], r[1] * c), 0.0, (np.arange(3.0), np.ones(3)))
    assert carry == 3.0 and ys.tolist() == [0.0, 0.0, 1.0]  # y from the carry it was given
    carry, ys = loops["scan"](lambda c, _: (c * 2, None), 1.0, length=4)
    assert carry == 16.0 and ys is None
    assert loops["fori_loop"](2, 5, lambda i, c: c + i, 0) == 9
    assert loops["while_loop"](lambda c: c < 10, lambda c: c * 3, 1) == 27
    with pytest.raises(ValueError, match="length=2 but xs has 3 rows"):
        loops["scan"](lambda c, r: (c, None), 0.0, np.zeros(3), length=2)


def test_numpy_as_xp_has_the_loops():
    assert contract_namespace(np) is NUMPY and contract_namespace(NUMPY) is NUMPY
    assert float(running_products(NUMPY, np.array([2.0, 3.0]))) == 6.0 + 2.0 + 6.0
    assert NUMPY.sin is np.sin  # everything else is numpy's own
