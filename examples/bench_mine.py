"""Benchmark your own function with toyad's suites.

    pip install 'toyad[all]'        # or, in a checkout: pip install -e '.[all]'
    pytest bench_mine.py --benchmark-only                       # every installed backend
    pytest bench_mine.py --benchmark-only --backends 'jax-*,torch-func,tensor' --profile full

Each ``toyad.problem`` below is collected as its own suites (accuracy;
cost as n grows, forward against reverse; Hessians for a scalar f; Jacobians
over n x m for a vector-valued one), and the report lands in
``reports/<run>/`` and ``reports/latest/`` (results.csv + index.html) here.
"""

import numpy as np

import toyad


# Sizes to sweep; x: a seeded input generator (default: a standard normal).
@toyad.problem(n=[4, 64, 1024], x=lambda n, rng: rng.uniform(-2.0, 2.0, n))
def my_loss(xp, x):
    """sum tanh(x)²: a scalar loss."""
    return xp.sum(xp.tanh(x) ** 2)


# No hand-written derivatives: the reference is the agreement of two exact
# backends of different libraries (jax-jit, torch-func, ...), checked numerically.
# With one, that is the reference (and the "analytic" backend times it):
@my_loss.gradient
def my_loss_gradient(x):
    t = np.tanh(x)
    return 2.0 * t * (1.0 - t**2)


# A vector-valued function with declared output sizes: its Jacobian over n x m.
@toyad.problem(
    n=[4, 64],
    m=[4, 64],
    consts=lambda n, m, rng: {"w": rng.standard_normal((m, n)) / np.sqrt(n)},
)
def my_layer(xp, x, w):
    """tanh(W x), W of shape (m, n)."""
    return xp.tanh(xp.asarray(w) @ x)
