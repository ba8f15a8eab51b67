"""What each framework backend offers (operation -> modes, the default first), importable
without its framework: the harness lists a run's cases from these before any framework
loads, and each backend module builds its ``capabilities`` from the same table."""

from __future__ import annotations

FOR = "forward-over-reverse"
ROR = "reverse-over-reverse"


def every_mode(hessian: tuple[str, ...], jvp: str = "forward") -> dict[str, tuple[str, ...]]:
    """Primal; gradient and Jacobian in reverse (the default) and forward mode; the Hessian
    in ``hessian``'s modes (the default first); one jvp and one vjp."""
    return {
        "primal": ("forward",),
        "gradient": ("reverse", "forward"),
        "jacobian": ("reverse", "forward"),
        "hessian": hessian,
        "jvp": (jvp,),
        "vjp": ("reverse",),
    }


JAX = every_mode((FOR, ROR))
TENSORFLOW = every_mode((ROR, FOR))
TORCH = {
    "torch-autograd": every_mode((ROR, FOR), jvp="double-backward"),
    "torch-forward-ad": {
        "primal": ("forward",),
        "gradient": ("forward",),
        "jacobian": ("forward",),
        "jvp": ("forward",),
    },
    "torch-func": every_mode((FOR, ROR)),
    "torch-compile": every_mode((FOR, ROR)),
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
