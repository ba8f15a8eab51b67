"""What each framework backend offers (operation -> modes, the default first), importable
without its framework: the harness lists a run's cases from these before any framework
loads, and each backend module builds its ``capabilities`` from the same table."""

from __future__ import annotations

JAX = {
    "primal": ("forward",),
    "gradient": ("reverse", "forward"),
    "jacobian": ("reverse", "forward"),
    "hessian": ("forward-over-reverse", "reverse-over-reverse"),
    "jvp": ("forward",),
    "vjp": ("reverse",),
}

TENSORFLOW = {
    "primal": ("forward",),
    "gradient": ("reverse", "forward"),
    "jacobian": ("reverse", "forward"),
    "hessian": ("reverse-over-reverse", "forward-over-reverse"),
    "jvp": ("forward",),
    "vjp": ("reverse",),
}

_TORCH_FUNC = {
    "primal": ("forward",),
    "gradient": ("reverse", "forward"),
    "jacobian": ("reverse", "forward"),
    "hessian": ("forward-over-reverse", "reverse-over-reverse"),
    "jvp": ("forward",),
    "vjp": ("reverse",),
}
TORCH = {
    "torch-autograd": {
        "primal": ("forward",),
        "gradient": ("reverse", "forward"),
        "jacobian": ("reverse", "forward"),
        "hessian": ("reverse-over-reverse", "forward-over-reverse"),
        "jvp": ("double-backward",),
        "vjp": ("reverse",),
    },
    "torch-forward-ad": {
        "primal": ("forward",),
        "gradient": ("forward",),
        "jacobian": ("forward",),
        "jvp": ("forward",),
    },
    "torch-func": dict(_TORCH_FUNC),
    "torch-compile": dict(_TORCH_FUNC),
}

DECLARED = {
    **{name: JAX for name in ("jax-eager", "jax-jit")},
    **{name: TENSORFLOW for name in ("tf-eager", "tf-function", "tf-xla")},
    **TORCH,
}


def declared(name: str) -> dict[str, tuple[str, ...]] | None:
    """The capabilities of framework backend ``name`` (None: ask the loaded backend)."""
    table = DECLARED.get(name)
    return None if table is None else dict(table)
