"""Profiles: how much a run measures (grids, budgets, caps, limits)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# A case (prepare, warm-up, timed rounds, primal) is stopped at this many caps.
HARD_LIMIT_FACTOR = 20.0


def _axes_grid(top: int, interior: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Powers of 4 from 1 to ``top`` on both axes (n at m=1, m at n=1) plus n=m interior cells."""
    axis = [4**k for k in range(int(round(math.log(top, 4))) + 1)]
    cells = {(n, 1) for n in axis} | {(1, m) for m in axis} | {(s, s) for s in interior}
    return tuple(sorted(cells))


def _full_grid(top: int) -> tuple[tuple[int, int], ...]:
    axis = [4**k for k in range(int(round(math.log(top, 4))) + 1)]
    return tuple((n, m) for n in axis for m in axis)


@dataclass(frozen=True)
class Profile:
    """How much a run measures: grids, per-case time budget and time cap."""

    name: str
    description: str
    budget_s: float  # timed seconds a case aims for (rounds x iterations x call)
    accuracy_budget_s: float  # the same, for the accuracy suite (error is its point)
    min_rounds: int
    max_rounds: int
    min_round_s: float  # calls faster than this are batched (iterations) into one round
    time_cap_s: float  # one call slower than this: larger sizes are skipped-too-slow
    jacobian_grid: tuple[tuple[int, int], ...]  # (n, m) cells of the dense map
    # sizes past the grid on its two edges (n at m = 1, m at n = 1) only, where the
    # forward/reverse tradeoff outgrows the per-call overhead (see jacobian_cells)
    edge_sizes: tuple[int, ...]
    gradient_sizes: tuple[int, ...]  # n for gradient cost as n grows
    gradient_problems: int | None  # how many scalar problems get the gradient sweep
    hessian_sizes: tuple[int, ...]
    hessian_problems: int | None  # how many scalar problems get the Hessian sweep
    overhead_n: int  # n for the cheap-gradient ratios
    overhead_problems: int | None
    steps: tuple[float, ...]  # finite-difference steps of the step sweep
    step_problems: int
    # accuracy-suite n for problems whose default size is slow to trace or run
    # (eager TF's forward mode and Hessians take seconds a call there): problem -> n
    accuracy_n: tuple[tuple[str, int], ...] = ()
    # problems whose framework accuracy cases a *timed* run of this profile skips
    # (tracing them costs seconds a case); the test command and the full profile run them
    accuracy_skip_frameworks: tuple[str, ...] = ()
    # backends that compile per case (torch.compile, XLA): a timed run of this
    # profile runs them only on these problems, in the accuracy and overhead suites
    # a timed run of this profile without --problems: the accuracy suite's catalog
    # problems (empty: all; the test command and the full profile run every one)
    accuracy_problems: tuple[str, ...] = ()
    compile_heavy: tuple[str, ...] = ()
    compile_heavy_problems: tuple[str, ...] = ()
    # pytest-benchmark's calibration time for a plain benchmark item (its --benchmark-max-time)
    plain_max_time_s: float = 0.05
    # the whole run's wall-clock budget: past it, the remaining cases are recorded
    # skipped-too-slow ("run budget spent") so that the run ends, whatever the selection
    run_budget_s: float = 1800.0
    # seconds an item of a suite takes in this profile, where it differs from the quick
    # profile's (harness.SUITE_WEIGHT): what the run budget plans each suite's share by
    item_seconds: tuple[tuple[str, float], ...] = ()

    @property
    def hard_limit_s(self) -> float:
        """No case (prepare, warm-up, rounds, primal) runs longer than this."""
        return HARD_LIMIT_FACTOR * self.time_cap_s


def jacobian_cells(profile: Profile) -> tuple[tuple[int, int], ...]:
    """The (n, m) cells of the Jacobian scaling suite: the grid, and its two edges
    (n growing at m = 1, m growing at n = 1) extended to ``profile.edge_sizes``.

    Ordered by size, so that a cell comes after the smaller ones that predict its cost: a
    backend slow at a size is skipped-too-slow beyond it (the time cap), so the
    edges cost only the backends cheap enough to reach them (the vectorised
    frameworks and the tensor engine; the scalar toys stop within the grid).
    """
    edges = {(s, 1) for s in profile.edge_sizes} | {(1, s) for s in profile.edge_sizes}
    # by size first (both edges grow together: a run cut short by its budget keeps
    # both sides of the tradeoff up to the same size), then n, m
    return tuple(sorted(set(profile.jacobian_grid) | edges, key=lambda c: (max(c), c)))


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        description="every backend and suite on a small grid (axes to 256, edges to 4096); minutes",
        budget_s=0.015,
        accuracy_budget_s=0.002,
        min_rounds=3,
        max_rounds=200,
        min_round_s=2e-4,
        time_cap_s=0.25,
        # n = m = 64 left the grid for the edges' budget: the edges show the tradeoff. One
        # edge size, not 1024 and 4096: at 1024 the scalar toys still ran (seconds each) and
        # tf-function traced again; from 256 to 4096 the cap's extrapolation (x256) skips them
        jacobian_grid=_axes_grid(256, interior=(16,)),
        edge_sizes=(4096,),
        gradient_sizes=(1, 16, 256),  # (the Jacobian's m = 1 edge has every size)
        gradient_problems=1,
        hessian_sizes=(4, 16, 64),
        hessian_problems=1,
        overhead_n=64,
        overhead_problems=1,
        steps=tuple(10.0**-k for k in range(1, 16)),
        step_problems=2,
        accuracy_n=(("elementwise_chain", 4), ("determinant", 9)),
        accuracy_skip_frameworks=("elementwise_chain", "determinant"),
        accuracy_problems=("notebook_f", "rosenbrock", "dense_tanh", "logsumexp_affine"),
        compile_heavy=("torch-compile", "tf-xla"),
        compile_heavy_problems=("rosenbrock",),
        # collection included; the report takes ~15 s more (~40 s on a busy machine): < 3 min
        run_budget_s=150.0,
    ),
    "full": Profile(
        name="full",
        description="the whole grid (n, m up to 4096); under half an hour",
        budget_s=0.05,
        accuracy_budget_s=0.01,
        min_rounds=3,
        max_rounds=500,
        min_round_s=1e-3,
        time_cap_s=1.0,
        jacobian_grid=_full_grid(4096),
        # the grid reaches 4096 on every axis; one size past it on the edges (the forward
        # seeds of a vectorised mode are n x n: 0.5 GiB at 8192, 2 GiB at 16384)
        edge_sizes=(8192,),
        gradient_sizes=(1, 4, 16, 64, 256, 1024, 4096),
        gradient_problems=None,
        hessian_sizes=(4, 16, 64, 256, 1024),
        hessian_problems=None,
        overhead_n=1024,
        overhead_problems=None,
        steps=tuple(10.0 ** (-k / 2) for k in range(2, 33)),
        step_problems=4,
        plain_max_time_s=0.25,
        run_budget_s=27 * 60.0,
        # its items' wall time (fresh clone, this 2-core VM, two jobs; workloads from a
        # run with the budget lifted): five times the quick profile's, unevenly
        item_seconds=(
            ("accuracy", 0.2),
            ("scaling", 0.46),
            ("workloads", 0.56),
            ("hessians", 0.68),
            ("overhead", 0.42),
            ("scalar-engines", 4.7),
        ),
    ),
}
DEFAULT_PROFILE = "quick"
