"""How a toyad backend computes one GradBench function, and the reference answers.

``plan(backend, eval, function, inst, mode)`` turns the workload's
``(problem, operation)`` into a :class:`Plan`: ``prepare()`` does the
untimed set-up (the backend's ``prepare``: tracing, jit, building) and
returns the zero-argument timed call; ``output(raw)`` turns its native
result into the eval's output JSON (``to_numpy`` + the workload's
``to_gradbench``, outside every timed span).

kmeans ``dir`` = J·H⁻¹ with the diagonal Hessian: the timed call runs the
backend's gradient and its Hessian diagonal (H·1 by jvp-of-grad where the
backend family has one, ``HVP``: JAX; else the diagonal of the backend's
Hessian) and divides (``kmeans.dir_from``); the whole of that is the timed
``dir``, including the numpy conversions it needs.

``reference_output(eval, function, input)`` is the hand-written answer
(the workloads' analytic derivatives, ``ba.reference_csr``,
``kmeans.reference_dir``, GradBench's constants for particle/saddle) that
tests and the matrix compare the tool's answers with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from toyad.backends import Backend, UnsupportedOperation
from toyad.problems import Instance
from toyad.workloads import WORKLOADS
from toyad.workloads import ba as _ba
from toyad.workloads import kmeans as _kmeans

NESTED_EVALS = ("particle", "saddle")
NESTED_FUNCTIONS = ("rr", "ff", "fr", "rf")
# GradBench's validation constants (evals/particle/run.py, evals/saddle/run.py)
PARTICLE_W = 0.2071918746486116
SADDLE_POINT = 8.246324826140356e-06

# A dense Jacobian or Hessian bigger than this is refused at once ("too large")
# rather than left to exhaust memory (ba1's dense Jacobian would be 42 GB).
MAX_DENSE_BYTES = 1 << 30
GRADIENT_OPS = ("gradient", "jacobian")


class TooLarge(Exception):
    """The computation would need a dense array beyond MAX_DENSE_BYTES."""


@dataclass
class Plan:
    prepare: Callable[[], Callable[[], Any]]
    output: Callable[[Any], Any]


def op_mode(backend: Backend, operation: str, mode: str | None) -> str:
    """The mode used for a backend operation: ``mode`` for gradient/jacobian if
    given, else the backend's default (reverse first where it has it)."""
    if mode is not None and operation in GRADIENT_OPS:
        return mode
    return backend.default_mode(operation)


def backend_ops(operation: str) -> tuple[str, ...]:
    """The backend operations a workload operation needs."""
    return ("gradient", "hessian") if operation == "dir" else (operation,)


def unsupported_reason(backend: Backend, operation: str, mode: str | None) -> str | None:
    """Why ``backend`` cannot do ``operation`` (workload operation), or None."""
    for op in backend_ops(operation):
        want = mode if op in GRADIENT_OPS else None
        if not backend.supports(op, want):
            return str(UnsupportedOperation(backend.name, op, want))
    return None


def _dense_guard(what: str, rows: int, cols: int, limit: int) -> None:
    need = rows * cols * 8
    if need > limit:
        raise TooLarge(
            f"too large: the dense {what} would be {rows} x {cols} "
            f"({need / 2**30:.1f} GiB > {limit / 2**30:.1f} GiB); toyad backends compute "
            "dense derivatives"
        )


def plan(
    backend: Backend,
    eval_name: str,
    function: str,
    inst: Instance,
    mode: str | None = None,
    max_dense_bytes: int = MAX_DENSE_BYTES,
) -> Plan:
    w = WORKLOADS[eval_name]
    _, operation = w.functions[function]

    def output(result: Any) -> Any:
        return w.to_gradbench(function, result, inst)

    if operation == "dir":
        return _plan_dir(backend, inst, mode, max_dense_bytes, output)

    if operation == "jacobian":
        _dense_guard("Jacobian", inst.m, inst.n, max_dense_bytes)
    opmode = op_mode(backend, operation, mode)

    def prepare() -> Callable[[], Any]:
        return backend.prepare(operation, inst.f, inst.x, mode=opmode)

    def convert(raw: Any) -> Any:
        arr = backend.to_numpy(raw)
        if operation == "jacobian":
            arr = arr.reshape(inst.m, inst.n)
        return output(arr)

    return Plan(prepare, convert)


def _plan_dir(
    backend: Backend, inst: Instance, mode: str | None, max_dense_bytes: int, output
) -> Plan:
    """kmeans dir: gradient and Hessian diagonal from the backend, then J / diag(H).

    The Hessian diagonal is H·1 (H is diagonal) where the backend has a
    jvp-of-gradient (:func:`hvp_prepare`: JAX), else the diagonal of the
    backend's dense Hessian (refused beyond ``max_dense_bytes``).
    """
    k, d = inst.consts["k"], inst.consts["d"]
    gmode = op_mode(backend, "gradient", mode)
    hvp = HVP.get(backend.family)
    if hvp is None:
        _dense_guard("Hessian", inst.n, inst.n, max_dense_bytes)
        hmode = op_mode(backend, "hessian", None)

    def prepare_dir() -> Callable[[], Any]:
        grad = backend.prepare("gradient", inst.f, inst.x, mode=gmode)
        if hvp is not None:
            diag = hvp(backend, inst.f, inst.x, np.ones_like(inst.x))

            def hdiag() -> np.ndarray:
                return backend.to_numpy(diag())
        else:
            hess = backend.prepare("hessian", inst.f, inst.x, mode=hmode)

            def hdiag() -> np.ndarray:
                return np.diagonal(backend.to_numpy(hess()).reshape(inst.n, inst.n))

        def call() -> np.ndarray:  # the whole dir is timed
            g = backend.to_numpy(grad())
            return _kmeans.dir_from(g, hdiag(), k, d)

        return call

    return Plan(prepare_dir, output)


def _jax_hvp(backend: Backend, f: Callable, x: np.ndarray, v: np.ndarray) -> Callable[[], Any]:
    """H v = the jvp of jax.grad along v (forward-over-reverse), jitted for jax-jit."""
    import jax
    import jax.numpy as jnp

    from toyad.backends.jax import XP
    from toyad.backends.namespaces import bind

    fx = bind(f, XP)

    def scalar(z):
        return jnp.reshape(fx(z), ())

    def work(z, t):
        return jax.jvp(jax.grad(scalar), (z,), (t,))[1]

    xj, vj = jnp.asarray(x), jnp.asarray(v)
    if getattr(backend, "jit", False):
        work = jax.jit(work)
        work(xj, vj).block_until_ready()  # compile here, untimed
    return lambda: work(xj, vj).block_until_ready()


# backend family -> H·v with the backend's own transforms (others: the Hessian's diagonal)
HVP: dict[str, Callable[..., Callable[[], Any]]] = {"jax": _jax_hvp}


def reference_output(eval_name: str, function: str, inp: Any) -> Any:
    """The hand-written answer to one evaluate message (no backend involved)."""
    if eval_name == "particle":
        return PARTICLE_W
    if eval_name == "saddle":
        return [SADDLE_POINT] * 4
    w = WORKLOADS[eval_name]
    _, operation = w.functions[function]
    inst = w.from_gradbench(inp, function)
    if operation == "primal":
        result = inst.value()
    elif operation == "gradient":
        result = inst.gradient()
    elif operation == "dir":
        result = _kmeans.reference_dir(inst)
    elif eval_name == "ba":
        return _ba.reference_csr(inst)
    else:
        result = inst.jacobian()
    return w.to_gradbench(function, result, inst)
