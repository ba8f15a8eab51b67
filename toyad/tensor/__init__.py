"""toyad.tensor: a numpy-backed tensor engine with forward and reverse mode.

    from toyad.tensor import grad, jvp, vjp, jacfwd, jacrev, hvp, hessian, xp
    f = lambda x: xp.sum(xp.tanh(x) * xp.exp(-x * x) + xp.sin(x) ** 2)
    grad(f)(x)              # reverse mode: one recorded pass + one backward
    jvp(f, x, v)            # (f(x), J v): one forward pass with a tangent
    jacfwd(f, x)            # one forward pass carrying n tangents at once
    jacfwd_loop(f, x)       # n forward passes, one tangent each
    jacrev(f, x)            # one recorded pass, m backward passes
    hvp(f, x, v); hessian(f, x)   # forward-over-reverse

Modules: ``tensor`` (Tensor, the tape, ``apply``), ``rules`` (the one table
of primitives: value, JVP, VJP), ``reverse``, ``forward``, ``xp`` (the
namespace problems call as ``xp``).
"""

from toyad.tensor import xp
from toyad.tensor.forward import (
    hessian,
    hessian_loop,
    hvp,
    jacfwd,
    jacfwd_loop,
    jvp,
    jvp_batch,
)
from toyad.tensor.reverse import grad, jacrev, value_and_grad, vjp
from toyad.tensor.rules import RULES, Rule
from toyad.tensor.tensor import Tensor, no_recording

__all__ = [
    "RULES",
    "Rule",
    "Tensor",
    "grad",
    "hessian",
    "hessian_loop",
    "hvp",
    "jacfwd",
    "jacfwd_loop",
    "jacrev",
    "jvp",
    "jvp_batch",
    "no_recording",
    "value_and_grad",
    "vjp",
    "xp",
]
