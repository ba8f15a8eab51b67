"""``particle`` and ``saddle`` for jax-jit, written as a JAX user would: the loop
inside each objective compiled (``lax``), the outer gradient descent in Python.

The objectives of :mod:`toyad.workloads.nested` loop until a condition on
values: the Euler steps until the particle crosses y = 0, the inner gradient
ascent until its step or gradient is small. ``jax.jit`` cannot trace a Python
loop on values, and reverse mode cannot go through ``lax.while_loop``. So each
objective comes twice, from one step function:

- its value: a ``lax.while_loop`` of the step, which also counts the steps;
- its derivative (outer mode ``r``: ``jax.grad``; ``f``: ``jax.jvp``): a
  ``lax.scan`` of the same step over a fixed number of steps (the count rounded
  up to a power of two, a static argument: a few compiles, not one per value),
  each step past the loop's end leaving the carry as it was (``jnp.where``),
  so the derivative is the one through the steps the loop took.

Decisions (the crossing, the descent's tests) compare primal values, so the
steps taken are GradBench's; the inner derivative (∇ₓp, ∇ of the saddle cost)
is ``jax.grad`` (``r``) or one ``jax.jvp`` per direction (``f``) inside the
step. The outer minimisation is :func:`toyad.workloads.nested.argmin` on floats,
calling the compiled objective and gradient.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from toyad.workloads import nested

DT = 0.1  # the Euler step (naive_euler)
DESCENT_TOLERANCE = 1e-5  # multivariate_argmin's tests
FIRST_ETA = 1e-5
DOUBLE_AFTER = 10  # accepted steps in a row before the step size doubles
MIN_STEPS = 64  # the fewest steps a derivative's scan is compiled for


def _jax() -> tuple[Any, Any, Any]:
    from toyad import runtime

    runtime.configure()
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    return jax, jnp, lax


def scan_length(steps: int) -> int:
    """The scan's fixed length for a loop that took ``steps``: a power of two, at least
    one more than ``steps`` (the step that ends the loop runs too), at least MIN_STEPS."""
    length = MIN_STEPS
    while length < steps + 1:
        length *= 2
    return length


def _kit() -> Any:
    """The JAX kit of the nested evals (``jax.grad``, a ``jax.jvp`` per direction; its
    ``grad`` compiles only where asked, ``traceable=True``)."""
    from toyad.workloads import nested_kits

    return nested_kits.get("jax-jit")


class LoopObjective:
    """An objective whose loop runs ``step`` on a carry until its ``done`` flag (the
    carry's last entry) is set: ``value(z)`` (``lax.while_loop``) and ``gradient(z)``
    (the outer mode through a ``lax.scan`` of fixed length), both compiled. ``start(z)``
    makes the carry, ``step(z, carry)`` the next one (its ``done`` set by the step that
    ends the loop, which changes nothing else), ``result(z, carry)`` the objective."""

    def __init__(
        self,
        start: Callable[[Any], tuple],
        step: Callable[[Any, tuple], tuple],
        result: Callable[[Any, tuple], Any],
        outer: str,
    ):
        jax, jnp, lax = _jax()
        self.jnp = jnp

        def until_done(z: Any) -> tuple[Any, Any]:
            def cond(state: tuple) -> Any:
                return jnp.logical_not(state[1][-1])

            def body(state: tuple) -> tuple:
                count, carry = state
                return count + 1, step(z, carry)

            count, carry = lax.while_loop(cond, body, (jnp.int64(0), start(z)))
            return result(z, carry), count

        def through_steps(z: Any, length: int) -> Any:
            def body(carry: tuple, _: Any) -> tuple[tuple, None]:
                done = carry[-1]
                keep = lambda old, new: jnp.where(done, old, new)  # noqa: E731
                return jax.tree_util.tree_map(keep, carry, step(z, carry)), None

            carry, _ = lax.scan(body, start(z), None, length=length)
            return result(z, carry), carry[-1]

        if outer == "r":

            def derivative(z: Any, length: int) -> tuple[Any, Any]:
                (_, done), dz = jax.value_and_grad(through_steps, has_aux=True)(z, length)
                return dz, done

        else:

            def derivative(z: Any, length: int) -> tuple[Any, Any]:
                columns = []
                done = None
                for j in range(z.shape[0]):
                    e = jnp.zeros_like(z).at[j].set(1.0)
                    (_, done), (dy, _) = jax.jvp(lambda w: through_steps(w, length), (z,), (e,))
                    columns.append(dy)
                return jnp.stack(columns), done

        self._value = jax.jit(until_done)
        self._derivative = jax.jit(derivative, static_argnums=1)

    def value(self, z: Sequence[float]) -> tuple[float, int]:
        """The objective at z, and how many steps its loop took."""
        out, count = self._value(self.jnp.asarray(z, dtype=self.jnp.float64))
        return float(out), int(count)

    def gradient(self, z: Sequence[float]) -> list[float]:
        """∇ of the objective at z, by the outer mode, through the steps the loop took."""
        point = self.jnp.asarray(z, dtype=self.jnp.float64)
        length = scan_length(self.value(z)[1])
        dz, done = self._derivative(point, length)
        if not bool(done):  # (the scan is longer than the loop: cannot happen)
            raise RuntimeError(f"the loop did not end within {length} steps")
        return [float(v) for v in dz]


# ---------------------------------------------------------------------------
# particle


def particle_objective(variant: str) -> LoopObjective:
    """w -> x_f² of :func:`nested.naive_euler`, ∇ₓp by the inner mode."""
    _, jnp, _ = _jax()
    kit = _kit()
    grad_p = kit.grad(nested.potential(kit), variant[1])

    def charges(z: Any) -> tuple:
        return (10.0, 10.0 - z[0], 10.0, 0.0)

    def start(z: Any) -> tuple:
        f64 = jnp.float64
        return (f64(0.0), f64(8.0), f64(0.75), f64(0.0), jnp.bool_(False))

    def step(z: Any, carry: tuple) -> tuple:
        x0, x1, v0, v1, _ = carry
        n0, n1 = x0 + DT * v0, x1 + DT * v1
        crossed = n1 <= 0.0
        gp = grad_p([x0, x1], *charges(z))  # ẍ = −∇ₓp(x), at the current x
        u0, u1 = v0 + DT * -gp[0], v1 + DT * -gp[1]
        keep = lambda old, new: jnp.where(crossed, old, new)  # noqa: E731
        return (keep(x0, n0), keep(x1, n1), keep(v0, u0), keep(v1, u1), crossed)

    def result(z: Any, carry: tuple) -> Any:
        x0, x1, v0, v1, _ = carry
        dt_f = -x1 / v1
        x_f = x0 + dt_f * v0
        return x_f * x_f

    return LoopObjective(start, step, result, variant[0])


def prepare_particle(variant: str, w0: float) -> Callable[[], float]:
    """The argmin over w from w0; compiled here (the loop at w0, and its derivative)."""
    objective = particle_objective(variant)
    start = [float(w0)]
    objective.gradient(start)
    f = lambda w: objective.value(w)[0]  # noqa: E731
    return lambda: float(nested.argmin(f, objective.gradient, start)[0])


# ---------------------------------------------------------------------------
# saddle


def _magnitude(jnp: Any, v: Sequence[Any]) -> Any:
    acc = 0.0
    for x in v:
        acc = acc + x * x
    return jnp.sqrt(acc)


def _distance(jnp: Any, u: Sequence[Any], v: Sequence[Any]) -> Any:
    acc = 0.0
    for a, b in zip(u, v, strict=True):
        d = a - b
        acc = acc + d * d
    return jnp.sqrt(acc)


def descent_step(jnp: Any, f: Callable, g: Callable) -> Callable[[tuple], tuple]:
    """One pass of :func:`nested.argmin`'s loop on the carry (x, f(x), ∇f(x), i, η, done):
    done where ‖∇f‖ or the step is small; η doubled after DOUBLE_AFTER accepted steps
    (that pass takes no step); a step that lowers f accepted, else η halved."""

    def step(carry: tuple) -> tuple:
        x, fx, gx, i, eta, _ = carry
        small_gradient = _magnitude(jnp, gx) <= DESCENT_TOLERANCE
        double = i == DOUBLE_AFTER
        x_new = [xj - eta * gj for xj, gj in zip(x, gx, strict=True)]
        small_step = _distance(jnp, x, x_new) <= DESCENT_TOLERANCE
        done = small_gradient | (~double & small_step)
        moving = ~done & ~double
        f_new = f(x_new)
        accept = moving & (f_new < fx)
        g_new = g(x_new)
        x = [jnp.where(accept, n, o) for n, o in zip(x_new, x, strict=True)]
        gx = [jnp.where(accept, n, o) for n, o in zip(g_new, gx, strict=True)]
        fx = jnp.where(accept, f_new, fx)
        i = jnp.where(done, i, jnp.where(accept, i + 1, 0))
        eta = jnp.where(double & ~done, eta * 2, jnp.where(moving & ~accept, eta / 2, eta))
        return (x, fx, gx, i, eta, done)

    return step


def saddle_objective(variant: str, start: Sequence[float]) -> LoopObjective:
    """p1 -> max over p2 of the saddle cost (an inner gradient ascent from ``start``, its
    gradient by the inner mode), as :func:`nested.saddle_functions`."""
    _, jnp, _ = _jax()
    kit = _kit()
    grad_cost = kit.grad(nested.saddle_cost, variant[1])
    first = [float(s) for s in start]

    def ascent(z: Any) -> tuple[Callable, Callable]:
        f = lambda p2: -nested.saddle_cost(p2, z[0], z[1])  # noqa: E731
        g = lambda p2: [-v for v in grad_cost(p2, z[0], z[1])]  # noqa: E731
        return f, g

    def begin(z: Any) -> tuple:
        f, g = ascent(z)
        x = [jnp.float64(s) for s in first]
        return (x, f(x), g(x), jnp.int64(0), jnp.float64(FIRST_ETA), jnp.bool_(False))

    def step(z: Any, carry: tuple) -> tuple:
        return descent_step(jnp, *ascent(z))(carry)

    def result(z: Any, carry: tuple) -> Any:
        return nested.saddle_cost(carry[0], z[0], z[1])

    return LoopObjective(begin, step, result, variant[0])


def prepare_saddle(variant: str, start: Sequence[float]) -> Callable[[], list[float]]:
    """[p1, p2] as :func:`nested.saddle`: p1 the argmin of the compiled objective; p2 the
    argmax of the cost at p1, its gradient by the outer mode (compiled, loop-free).
    Compiled here: the objective's loop at ``start``, its derivative, the cost's gradient."""
    start = [float(s) for s in start]
    objective = saddle_objective(variant, start)
    grad2 = _kit().grad(nested.saddle_cost, variant[0], traceable=True)

    def gradient_at(p1: list) -> Callable[[list], list[float]]:
        return lambda p2: [float(v) for v in grad2(p2, *p1)]

    objective.gradient(start)
    gradient_at(start)(start)

    def run() -> list[float]:
        p1 = nested.argmin(lambda p: objective.value(p)[0], objective.gradient, start)
        cost = lambda p2: float(nested.saddle_cost(p2, *p1))  # noqa: E731
        p2 = nested.argmax(cost, gradient_at(p1), start)
        return [float(v) for v in p1] + [float(v) for v in p2]

    return run
