"""Shards: N disjoint, deterministic parts of a selection (``--shard K/N``).

Items are grouped into *cells* so that every backend of a comparison runs on
one machine:

- an item measuring a :class:`CaseSpec` belongs to the cell (problem,
  operation, n, m, preset): all backends and modes of that size together;
- any other item (per-op, memory, semantics, a plain test) belongs to the
  cell of its test function, whose parameters are the backends it compares.

Cells are dealt greedily, most expensive first, each to the shard with the
least expected cost so far (ties: the lower shard, then the cell's key), so
every process that collects the same items computes the same partition.
Expected cost: a previous run's measured wall time per test item when given
(``--shard-costs RUN``), else the profile's own measured costs where the package has
them (``costs/<profile>.json``: seconds per item of a whole run on the project's
2-core VM; ``python -m toyad.bench.shard RUN.json > toyad/bench/costs/quick.json``
writes them from a run), else an estimate from the suite and size.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from toyad import backends
from toyad.bench.harness import SUITE_WEIGHT, CaseSpec

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
# sizes past this many elements (n x m) cost no more in the estimate: the time cap stops them
ESTIMATE_SIZE_CAP = 4096


class ShardError(ValueError):
    """A bad ``--shard`` or ``--shard-costs`` value."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> (K, N) with 1 <= K <= N; ShardError naming the problem otherwise."""
    match = _SHARD.match(text or "")
    if not match:
        raise ShardError(f"--shard {text!r}: expected K/N, e.g. 2/3 (the 2nd of 3 shards)")
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1 or not 1 <= k <= n:
        raise ShardError(f"--shard {text!r}: K must be between 1 and N (N >= 1)")
    return k, n


def spec_of(item: Any) -> CaseSpec | None:
    """The CaseSpec among an item's parameters, if any."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    return next((v for v in params.values() if isinstance(v, CaseSpec)), None)


def cell_of(item: Any) -> str:
    """The item's cell: its case's (problem, operation, n, m, preset), else its test function."""
    spec = spec_of(item)
    if spec is not None:
        return f"case:{spec.problem}:{spec.operation}:n{spec.n}:m{spec.m}:{spec.preset}"
    function = getattr(item, "originalname", None) or item.name.split("[", 1)[0]
    return f"test:{item.nodeid.split('::', 1)[0]}::{function}"


LINEAGE_SUITE = {"overhead": "scaling"}  # a suite whose lineages are another's


def lineage_of(item: Any, suite: str) -> str:
    """The item's lineage: every size of one (suite, backend, problem, operation, mode),
    whose smaller sizes decide whether larger ones run (the time cap, hard limits), so
    they run in one process; a suite of plain items (its own workers, shared set-up)
    is one lineage. Where a suite times each derivative's primal too (``with_primal``),
    every operation of a (backend, problem) is one lineage: a derivative is not started
    at a size whose primal was stopped; the overhead suite's cases join the scaling
    suite's lineage of the same (backend, problem), whose gradients at its size they
    are (measured once: ``Harness.run_case``)."""
    spec = spec_of(item)
    if spec is not None and spec.with_primal:
        return f"lineage:{LINEAGE_SUITE.get(suite, suite)}:{spec.backend}:{spec.problem}"
    if spec is not None:
        return f"lineage:{suite}:{spec.backend}:{spec.problem}:{spec.operation}:{spec.mode}"
    return f"suite:{suite}"


# Seconds per case of a backend relative to the mean case (quick main job, this 2-core VM:
# compiles and first calls make the difference); a backend not listed counts 1.
BACKEND_WEIGHT = {
    "analytic": 0.2,
    "numeric-forward": 0.2,
    "numeric-central": 0.2,
    "torch-func": 0.2,
    "micrograd": 0.3,
    "torch-autograd": 0.3,
    "tensor": 0.4,
    "tensor-unbatched": 0.4,
    "autograd": 0.5,
    "numeric-complex": 0.5,
    "reverse": 0.6,
    "reverse-recursive": 0.7,
    "torch-forward-ad": 0.8,
    "symbolic": 1.2,
    "jax-jit": 1.5,
    "tf-xla": 1.5,
    "dual": 1.6,
    "tf-function": 1.6,
    "tf-eager": 1.7,
    "jax-eager": 5.2,
    "torch-compile": 8.0,
}


def estimate(item: Any, suite: str) -> float:
    """A size-based cost for an item with no measured time (relative units)."""
    weight = SUITE_WEIGHT.get(suite, 1.0)
    spec = spec_of(item)
    if spec is None:
        return weight
    weight *= BACKEND_WEIGHT.get(spec.backend, 1.0)
    if spec.n is None and spec.m is None:
        return weight
    elements = (spec.n or 1) * (spec.m or 1)
    return weight * (1.0 + min(elements, ESTIMATE_SIZE_CAP) / 64.0)


def measured_costs(run: str | Path) -> dict[str, float]:
    """Seconds per test item (its cases' wall time, summed) from a previous run."""
    from toyad.report.load import ReportError, read_json

    try:
        data = read_json(run)
    except ReportError as exc:
        raise ShardError(f"--shard-costs {run}: {exc}") from None
    cases = ((data or {}).get("toyad") or {}).get("cases") or []
    costs: dict[str, float] = {}
    for case in cases:
        nodeid, wall = case.get("nodeid"), case.get("wall_s")
        if nodeid and isinstance(wall, (int, float)) and math.isfinite(wall) and wall >= 0:
            costs[nodeid] = costs.get(nodeid, 0.0) + float(wall)
    if not costs:
        raise ShardError(f"--shard-costs {run}: the run records no case wall times (wall_s)")
    return costs


COSTS_DIR = Path(__file__).with_name("costs")


def profile_costs(profile: str) -> dict[str, float] | None:
    """The measured seconds per item that ship with the package for ``profile`` (None: none)."""
    path = COSTS_DIR / f"{profile}.json"
    if not path.is_file():
        return None
    costs = json.loads(path.read_text())
    return {k: float(v) for k, v in costs.items() if isinstance(v, (int, float))} or None


def item_costs(
    items: Sequence[Any], suites: Sequence[str], measured: Mapping[str, float] | None = None
) -> list[float]:
    """Expected cost per item: measured seconds where known, else the estimate.

    With measured costs, an unmeasured item costs the mean measured cost of its
    suite's items per unit of estimate (the estimate rescaled into seconds).
    """
    guesses = [estimate(item, suite) for item, suite in zip(items, suites)]
    if not measured:
        return guesses
    # a plain item's estimate is its suite's seconds an item (SUITE_WEIGHT) already
    plain = [spec_of(item) is None for item in items]
    scale: dict[str, list[float]] = {}
    for item, suite, guess in zip(items, suites, guesses):
        if item.nodeid in measured:
            scale.setdefault(suite, []).append(measured[item.nodeid] / guess)
    overall = [s for values in scale.values() for s in values]
    default = sum(overall) / len(overall) if overall else 1.0
    out = []
    for item, suite, guess, is_plain in zip(items, suites, guesses, plain):
        if item.nodeid in measured:
            out.append(measured[item.nodeid])
        elif is_plain and suite not in scale:
            out.append(guess)
        else:
            values = scale.get(suite)
            out.append(guess * (sum(values) / len(values) if values else default))
    return out


def partition(cells: Iterable[tuple[str, float]], shards: int) -> dict[str, int]:
    """Deal cells (key, cost) to ``shards`` shards greedily by cost: key -> shard (1-based).

    Deterministic: the same cells give the same assignment in any order.
    """
    totals: dict[str, float] = {}
    for key, cost in cells:
        totals[key] = totals.get(key, 0.0) + cost
    load = [0.0] * shards
    out: dict[str, int] = {}
    for key, cost in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])):
        target = min(range(shards), key=lambda s: (load[s], s))
        load[target] += cost
        out[key] = target + 1
    return out


def framework_of(item: Any) -> str | None:
    """The framework an item's backend imports (None: the toys, a plain item)."""
    spec = spec_of(item)
    if spec is None:
        return None
    try:
        requires = backends.spec(spec.backend).requires
    except backends.UnknownBackend:
        return None
    return requires[0] if requires else None


def framework_units(
    lineages: Sequence[str],
    frameworks: Sequence[str | None],
    costs: Sequence[float],
    shards: int,
) -> list[str]:
    """Each item's unit of dealing among local jobs: its framework's lineages together
    where they fit one job's fair share (total / shards), else its own lineage.

    A job pays once for each framework it runs: the import (TensorFlow ~4 s here), the
    first trace or compile, and the caches its backends' cases share (JAX's eager mode
    compiles each primitive at each shape once a process). Dealt whole, a framework is
    paid for in one job, not in each."""
    share = sum(costs) / max(shards, 1)
    per_framework: dict[str, float] = {}
    for framework, cost in zip(frameworks, costs):
        if framework is not None:
            per_framework[framework] = per_framework.get(framework, 0.0) + cost
    whole = {f for f, cost in per_framework.items() if shards > 1 and cost <= share}
    return [
        f"framework:{framework}" if framework in whole else lineage
        for lineage, framework in zip(lineages, frameworks)
    ]


SHARD_BY = ("cell", "lineage", "claim")


def select_shard(
    items: Sequence[Any],
    suites: Sequence[str],
    shard: tuple[int, int],
    measured: Mapping[str, float] | None = None,
    by: str = "cell",
) -> tuple[list[Any], list[Any]]:
    """(kept, deselected) items for shard ``(K, N)`` of ``items``, dealt by cell (every
    backend of a size on one machine: shards on several machines) or by lineage (each
    backend's sizes in one process, a framework's lineages together where they fit one
    job, :func:`framework_units`: jobs on one machine)."""
    k, n = shard
    costs = item_costs(items, suites, measured)
    if by == "lineage":
        lineages = [lineage_of(item, suite) for item, suite in zip(items, suites)]
        keys = framework_units(lineages, [framework_of(item) for item in items], costs, n)
    else:
        keys = [cell_of(item) for item in items]
    assignment = partition(zip(keys, costs), n)
    kept = [item for item, key in zip(items, keys) if assignment[key] == k]
    dropped = [item for item, key in zip(items, keys) if assignment[key] != k]
    return kept, dropped


def cell_count(items: Sequence[Any]) -> int:
    """How many cells the items fall into (at most this many shards are useful)."""
    return len({cell_of(item) for item in items})


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m toyad.bench.shard RUN.json``: the run's seconds per item, as JSON."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m toyad.bench.shard RUN.json", file=sys.stderr)
        return 2
    try:
        costs = measured_costs(args[0])
    except ShardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: round(v, 4) for k, v in sorted(costs.items())}, indent=0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
