"""toyad.compare in a notebook or a script: one call, a DataFrame, the same HTML page.

python examples/compare_notebook.py
"""

import numpy as np

import toyad


def my_loss(xp, x):  # the namespace contract: xp is numpy, jax.numpy, torch, toyad.tensor ...
    return xp.sum(xp.tanh(x) ** 2)


if __name__ == "__main__":
    x = np.random.default_rng(0).standard_normal(64)
    df = toyad.compare(
        my_loss,
        x,
        operations=["gradient", "hessian"],
        backends=["tensor", "reverse", "jax-jit", "torch-func"],  # None: every installed one
    )
    columns = ["backend", "operation", "mode", "status", "reference", "median_s", "max_rel_error"]
    print(df[columns].to_string(index=False))
    print("report:", toyad.report.write(df, "out") / "index.html")
