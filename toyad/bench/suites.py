"""The suites' case lists: which :class:`CaseSpec` each suite measures.

One builder per suite, shared by the repository's ``benchmarks/bench_*.py``
(over the selected catalog problems and the profile's sizes) and by a user's
own function (``toyad.problem``; the plugin collects it, see
``toyad.bench.user``), which passes its one problem and its declared sizes.

accuracy   every operation a problem admits, every mode (plus the forward/reverse a
           backend lacks, recorded unsupported), at the problem's default sizes
scaling    full Jacobians over an (n, m) grid; gradients of scalar problems as n grows
hessians   every Hessian mode of scalar problems as n grows
overhead   primal, gradient, jvp, vjp at one n: the cheap-gradient ratios
workloads  GradBench's standard workloads at GradBench's sizes (quick: the smallest of
           each; full: all of them), each eval's derivative (and objective in full),
           derivative ÷ objective as ADBench's signature ratio
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toyad.bench.harness import SCALAR_ONLY, CaseSpec, Harness
from toyad.bench.profiles import jacobian_cells

ACCURACY_OPERATIONS = ("primal", "gradient", "jacobian", "hessian", "jvp", "vjp")
OVERHEAD_OPERATIONS = ("primal", "gradient", "jvp", "vjp")
JACOBIAN_PROBLEM = "dense_tanh"
# The quick profile's workloads suite leaves these to the full profile: their smallest
# GradBench size still traces thousands of steps (lstm c = 1024) or builds a dense
# 3p x (2p + 26) Jacobian per call (ht complicated).
QUICK_LEAVES_WORKLOADS = ("lstm", "ht_complicated")
# Backends that compile per case (seconds each): they run the original catalog's
# accuracy and the other suites, not the workloads (GradBench's sizes would compile
# every size of every workload).
COMPILE_PER_CASE = ("torch-compile", "tf-xla")
FRAMEWORK_FAMILIES = ("tensorflow", "jax", "torch", "peer")


def left_for_later(h: Harness, spec: CaseSpec) -> str:
    """Why a timed run of this profile leaves this case to the test command and the
    full profile ("" if it runs it). The case is still recorded (skipped-too-slow).

    - frameworks on the problems whose tracing costs seconds a case
      (``Profile.accuracy_skip_frameworks``; in the quick profile also every
      GradBench workload, whose frameworks the workloads suite times at
      GradBench's own sizes), in the accuracy suite;
    - backends that compile per case (``Profile.compile_heavy``: torch.compile,
      XLA) outside the problems ``Profile.compile_heavy_problems`` of the
      accuracy and overhead suites (a compile costs seconds; quick keeps a
      sample of them).
    """
    if not h.timing:
        return ""
    entry = h.entry(spec.backend)
    if entry.backend is None:
        return ""
    profile = h.profile
    if spec.backend in profile.compile_heavy:
        keep = spec.suite == "overhead" or (
            spec.suite == "accuracy" and spec.problem in profile.compile_heavy_problems
        )
        if not keep:
            return (
                f"the {profile.name} profile leaves {spec.backend} (a compile per case) on "
                f"{spec.suite}/{spec.problem} to the test command and the full profile"
            )
        return ""
    if spec.suite != "accuracy" or entry.backend.family not in FRAMEWORK_FAMILIES:
        return ""
    heavy = spec.problem in profile.accuracy_skip_frameworks
    if profile.name == "quick" and spec.preset == "tiny":
        heavy = True  # a workload: the workloads suite times the frameworks on it
    if not heavy:
        return ""
    return (
        f"the {profile.name} profile leaves {spec.problem} on the frameworks to the test "
        "command and the full profile (tracing it costs seconds a case)"
    )


def scoped_out(h: Harness) -> bool:
    """A timed run of a profile that leaves some cases to the test command (quick):
    its suites do not make those cases at all (the profile's scope, like its grid)."""
    return h.timing and h.profile.name == "quick"


def sweeps_leave_out(h: Harness, backend: str) -> bool:
    """Whether the size sweeps (the Jacobian grid, gradients and Hessians as n grows)
    leave out a backend that compiles per case (``Profile.compile_heavy``): in a
    timed quick run (the overhead suite times it), and wherever nothing is timed (the
    test command: the accuracy suite checks its every problem, operation and mode, and
    a sweep would compile the same function again at each size to check it again)."""
    return backend in h.profile.compile_heavy and (scoped_out(h) or not h.timing)


def accuracy_specs(h: Harness, problems: Sequence[Any] | None = None) -> list[CaseSpec]:
    """Every backend x problem x operation x mode at the problem's default sizes."""
    specs = []
    sizes = dict(h.profile.accuracy_n)
    chosen = h.problems() if problems is None else list(problems)
    scoped = scoped_out(h)
    if scoped and problems is None and h.profile.accuracy_problems and not h.problem_patterns:
        chosen = [p for p in chosen if p.name in h.profile.accuracy_problems]
    for entry in h.entries():
        if entry.name in h.profile.compile_heavy and scoped:
            continue  # this profile times compile-per-case backends in the overhead suite
        for problem in chosen:
            n = sizes.get(problem.name)  # None: the problem's default
            # GradBench's workloads: accuracy at their tiny test sizes (the workloads
            # suite checks every backend at GradBench's own sizes too; a timed quick
            # run leaves the tiny sizes to the test command)
            preset = "tiny" if getattr(problem, "workload", None) else ""
            if preset and (scoped or entry.name in COMPILE_PER_CASE):
                continue  # (compile-per-case backends: the original catalog only)
            for op in ACCURACY_OPERATIONS:  # primal first: later ratios reuse its median
                if op in SCALAR_ONLY and not problem.scalar:
                    continue
                for mode in entry.modes(op, both=op in ("gradient", "jacobian")):
                    specs.append(
                        CaseSpec(
                            "accuracy",
                            entry.name,
                            problem.name,
                            op,
                            mode,
                            n,
                            with_primal=True,
                            budget_s=h.profile.accuracy_budget_s,
                            preset=preset,
                        )
                    )
    return specs


def jacobian_specs(
    h: Harness,
    problem: str | None = JACOBIAN_PROBLEM,
    grid: Sequence[tuple[int | None, int | None]] | None = None,
) -> list[CaseSpec]:
    """Full Jacobians of one problem over an (n, m) grid (the profile's by default), both modes.

    The grid must be sorted so that a size comes after the ones it dominates.
    """
    if problem is None or (grid is None and problem not in h.problem_names):
        return []
    cells = jacobian_cells(h.profile) if grid is None else grid
    specs = []
    for entry in h.entries():
        if sweeps_leave_out(h, entry.name):
            continue
        modes = entry.modes("jacobian", both=True)
        for n, m in cells:
            for mode in modes:
                specs.append(CaseSpec("scaling", entry.name, problem, "jacobian", mode, n, m, True))
    return specs


def gradient_specs(
    h: Harness,
    problems: Sequence[Any] | None = None,
    sizes: Sequence[int | None] | None = None,
) -> list[CaseSpec]:
    """Gradients of scalar problems as n grows (m = 1), forward against reverse."""
    sizes = h.profile.gradient_sizes if sizes is None else sizes
    if problems is None:
        problems = h.scalable_scalar_problems(sizes, h.profile.gradient_problems)
    specs = []
    for problem in problems:
        for entry in h.entries():
            if sweeps_leave_out(h, entry.name):
                continue
            modes = entry.modes("gradient", both=True)
            for n in sizes:
                if n is not None and not h.allows(problem.name, n):
                    continue
                for mode in modes:
                    specs.append(
                        CaseSpec("scaling", entry.name, problem.name, "gradient", mode, n, 1, True)
                    )
    return specs


def hessian_specs(
    h: Harness,
    problems: Sequence[Any] | None = None,
    sizes: Sequence[int | None] | None = None,
) -> list[CaseSpec]:
    """Every Hessian mode of scalar problems as n grows."""
    sizes = h.profile.hessian_sizes if sizes is None else sizes
    if problems is None:
        problems = h.scalable_scalar_problems(sizes, h.profile.hessian_problems)
    specs = []
    for problem in problems:
        for entry in h.entries():
            if sweeps_leave_out(h, entry.name):
                continue
            for n in sizes:
                if n is not None and not h.allows(problem.name, n):
                    continue
                for mode in entry.modes("hessian"):
                    specs.append(
                        CaseSpec("hessians", entry.name, problem.name, "hessian", mode, n, 1, True)
                    )
    return specs


def overhead_specs(
    h: Harness, problems: Sequence[Any] | None = None, n: int | None = None
) -> list[CaseSpec]:
    """Primal, gradient (every mode), jvp and vjp at one n (the profile's ``overhead_n``)."""
    n_wanted = h.profile.overhead_n if n is None else n
    if problems is None:
        problems = h.scalable_scalar_problems([n_wanted], h.profile.overhead_problems)
    specs = []
    for problem in problems:
        size = n_wanted if h.allows(problem.name, n_wanted) else None  # None: its default n
        for entry in h.entries():
            for op in OVERHEAD_OPERATIONS:  # primal first: the ratios reuse its median
                for mode in entry.modes(op, both=op == "gradient"):
                    specs.append(
                        CaseSpec("overhead", entry.name, problem.name, op, mode, size, 1, True)
                    )
    return specs


def workload_specs(h: Harness) -> list[CaseSpec]:
    """GradBench's workloads at GradBench's sizes, every backend.

    Per selected workload problem: its presets (the quick profile: the first,
    GradBench's smallest; full: all, in GradBench's sweep order, so the time
    cap stops a backend at its first size over it), the derivative GradBench
    asks for (kmeans' ``dir`` is timed as its gradient, the bulk of its cost)
    in the backend's default mode (reverse where it has it; the forward/reverse
    tradeoff is the scaling suite's), and in full the objective too;
    derivative ÷ objective is each case's ratio_to_primal.
    """
    from toyad.workloads import WORKLOADS

    quick = h.profile.name == "quick"
    wanted: dict[str, list[str]] = {}
    for w in WORKLOADS.values():
        for problem, op in getattr(w, "functions", {}).values():
            if not isinstance(problem, str) or problem not in h.problem_names:
                continue
            op = "gradient" if op == "dir" else op
            if op == "primal" and quick:
                continue
            ops = wanted.setdefault(problem, [])
            if op in ("primal", "gradient", "jacobian") and op not in ops:
                ops.append(op)
    from toyad import problems as catalog

    specs = []
    for problem, ops in wanted.items():
        if quick and problem in QUICK_LEAVES_WORKLOADS:
            continue
        presets = catalog.get(problem).presets
        if not presets:
            continue
        chosen = presets[:1] if quick else presets
        for entry in h.entries():
            if entry.name in COMPILE_PER_CASE:
                continue  # a compile per case at every size: the catalog covers them
            for preset in chosen:
                for op in sorted(ops, key=lambda o: o != "primal"):  # primal first
                    modes = entry.modes(op)[:1]  # the default mode: GradBench's question
                    for mode in modes:
                        specs.append(
                            CaseSpec(
                                "workloads",
                                entry.name,
                                problem,
                                op,
                                mode,
                                with_primal=True,
                                preset=preset.label,
                            )  # fmt: skip
                        )
    return specs
