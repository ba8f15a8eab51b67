"""What every GradBench workload module provides, and GradBench's comparison.

A workload module (``toyad/workloads/<eval>.py``) defines, in one place:

- ``gradbench_input(**params) -> dict``: the eval's input JSON as GradBench's
  ``run.py`` builds it for one size (same generator calls, seed and sweep
  order), without ``min_runs``/``min_seconds``;
- ``from_gradbench(input, function=None) -> Instance``: a GradBench input as a
  toyad instance (``function`` picks the problem where an eval's functions
  map to different problems, e.g. ode's ``gradient``);
- ``to_gradbench(function, result, inst=None)``: a toyad result (numpy, as the
  operation in ``Workload.functions`` returns it) as the output JSON the eval
  expects;
- ``WORKLOAD``: the :class:`Workload` record, collected in
  ``toyad.workloads.WORKLOADS``.

``problem.instance(**options)`` goes through ``gradbench_input`` and
``from_gradbench``, so a toyad instance and a GradBench input are the same
numbers. Seed 0 is GradBench's input; another seed s draws with the eval's
seed + s (toyad's own convention, not GradBench's).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from toyad.problems import Preset

GRADBENCH_SEED = 31337  # every seeded GradBench eval uses it
TOLERANCE = 1e-4  # gradbench/comparison.py


@dataclass(frozen=True)
class Workload:
    """One GradBench eval as toyad problems.

    ``functions``: GradBench function name -> (toyad problem name, toyad
    operation). Operations are the backend operations ``primal``,
    ``gradient``, ``jacobian``, plus ``dir`` (kmeans: see
    ``toyad.workloads.kmeans.dir_from``). ``presets``: GradBench's default
    sizes in its sweep order (``Preset.label`` is the ``description``,
    ``Preset.quick`` marks the quick profile). ``label``: the description
    format, filled from ``Preset.params``. ``nested``: a nested-AD eval
    (particle, saddle), not an f(xp, x) problem: ``functions`` maps each
    variant to (eval, variant), run by ``toyad.workloads.nested.prepare``.
    """

    name: str
    functions: Mapping[str, tuple[str, str]]
    presets: tuple[Preset, ...]
    label: str
    gradbench_input: Callable[..., dict]
    from_gradbench: Callable[..., Any]
    to_gradbench: Callable[..., Any]
    notes: str = ""
    nested: bool = False

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for p, _ in self.functions.values()))

    @property
    def quick(self) -> tuple[Preset, ...]:
        return tuple(p for p in self.presets if p.quick)


def presets(
    label: str,
    combos: list[dict[str, Any]],
    options: Callable[[dict[str, Any]], dict[str, Any]],
    quick: int,
) -> tuple[Preset, ...]:
    """Presets from GradBench parameter dicts (already in sweep order); the first
    ``quick`` are in the quick profile."""
    return tuple(
        Preset(label.format(**c), dict(c), options(c), quick=i < quick)
        for i, c in enumerate(combos)
    )


def sweep(params: dict[str, list[int]], key: Callable[..., int] | None) -> list[dict[str, int]]:
    """All combinations in GradBench's order: nested loops in ``params`` order,
    then a stable sort by ``key`` (e.g. the product of the sizes)."""
    combos: list[dict[str, int]] = [{}]
    for name, values in params.items():
        combos = [{**c, name: v} for c in combos for v in values]
    if key is not None:
        combos = sorted(combos, key=lambda c: key(**c))
    return combos


def replay(
    draw: Callable[[np.random.RandomState, dict[str, int]], Any],
    target: dict[str, int],
    default_sweep: list[dict[str, int]],
    seed: int,
) -> Any:
    """The draw GradBench makes for ``target`` when it seeds numpy once and then
    walks its sweep (kmeans, ode, llsq, det, lse): every earlier size's draw
    is made (and dropped) first. ``target`` in GradBench's default sweep ->
    the default run's numbers; otherwise the run with only that size given
    on the command line (the draw straight after seeding).
    """
    rs = np.random.RandomState(seed)  # the stream np.random.seed(seed) starts
    combos = default_sweep if target in default_sweep else [target]
    for combo in combos:
        value = draw(rs, combo)
        if combo == target:
            return value
    raise AssertionError("unreachable")


def gradbench_seed(seed: int, base: int = GRADBENCH_SEED) -> int:
    """toyad seed 0 -> GradBench's seed; seed s -> GradBench's seed + s."""
    return base + int(seed)


# ---------------------------------------------------------------------------
# GradBench's comparison (gradbench/comparison.py: compare_json_objects)


def gradbench_mismatch(
    expected: Any, actual: Any, tolerance: float = TOLERANCE, limit: int | None = None
) -> list[str]:
    """The mismatches GradBench's analysis reports, as ``"path: expected != actual"``.

    Walks both JSON values: int vs float compare as floats; any other type
    difference, different dict key sets or list lengths are mismatches;
    floats mismatch iff ``|a - e| / max(|a| + |e|, 1) > tolerance``; ints
    and strings compare exactly. Empty list = valid. numpy arrays and
    scalars are accepted (converted with ``tolist``).
    """
    out: list[str] = []
    _walk(_plain(expected), _plain(actual), "", tolerance, out)
    return out if limit is None else out[:limit]


def _plain(v: Any) -> Any:
    if isinstance(v, (np.ndarray, np.generic)):
        return v.tolist()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        return "dict"
    return type(v).__name__


def _walk(e: Any, a: Any, path: str, tol: float, out: list[str]) -> None:
    ke, ka = _kind(e), _kind(a)
    if ke != ka:
        out.append(f"{path or '.'}: {e!r} != {a!r} (type {ke} vs {ka})")
        return
    if ke == "dict":
        if set(e) != set(a):
            out.append(f"{path or '.'}: keys {sorted(e)} != {sorted(a)}")
            return
        for k in e:
            _walk(e[k], a[k], f"{path}.{k}", tol, out)
    elif ke == "list":
        if len(e) != len(a):
            out.append(f"{path or '.'}: length {len(e)} != {len(a)}")
            return
        for i, (x, y) in enumerate(zip(e, a, strict=True)):
            _walk(x, y, f"{path}[{i}]", tol, out)
    elif ke == "number":
        if isinstance(e, int) and isinstance(a, int):
            if e != a:
                out.append(f"{path or '.'}: {e} != {a}")
            return
        e, a = float(e), float(a)
        if abs(a - e) / max(abs(a) + abs(e), 1.0) > tol:  # NaN compares as equal, as upstream
            out.append(f"{path or '.'}: {e!r} != {a!r}")
    elif e != a:
        out.append(f"{path or '.'}: {e!r} != {a!r}")


def floats(a: Any) -> Any:
    """numpy -> JSON-ready Python floats (nested lists), rejecting NaN/inf."""
    arr = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("GradBench output must be finite (JSON has no NaN/Infinity)")
    return arr.tolist()


def log_multigamma(a: float, d: int) -> float:
    """log Γ_d(a) = d(d-1)/4 log π + Σ_{j=1..d} lgamma(a + (1 - j)/2)."""
    return d * (d - 1) / 4 * math.log(math.pi) + sum(
        math.lgamma(a + (1 - j) / 2) for j in range(1, d + 1)
    )
