"""What a run's cases say beyond each case: log-log slopes and forward/reverse tradeoffs.

Pure functions of case records (dicts with CASE_COLUMNS), used when a run is
written (``toyad.fits``, ``toyad.tradeoffs``) and by the report.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from toyad import backends

FIT_MIN_SIZE = 16  # slopes are fitted where the cost has left the constant-overhead regime


def loglog_fit(sizes: Sequence[float], seconds: Sequence[float]) -> dict[str, float] | None:
    """Least squares ``log t = a + slope * log size`` (None with fewer than 2 sizes)."""
    if len(set(sizes)) < 2:
        return None
    lx, ly = np.log(np.asarray(sizes, float)), np.log(np.asarray(seconds, float))
    slope, intercept = np.polyfit(lx, ly, 1)
    residual = ly - (intercept + slope * lx)
    spread = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual**2)) / spread if spread > 0 else 1.0
    return {"slope": float(slope), "intercept": float(intercept), "r2": r2}


def _timed(cases: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in cases if c.get("status") == "ok" and c.get("median_s")]


def scaling_fits(cases: Iterable[dict[str, Any]], min_size: int = FIT_MIN_SIZE) -> list[dict]:
    """Slopes of log(cost) against log(n) (m = 1) and log(m) (n = 1), per backend/op/mode.

    Only sizes >= ``min_size`` enter the fit (below that the fixed call
    overhead dominates). Expected for a dense map: forward ~ n (n passes),
    reverse ~ 1 in n; reverse ~ m, forward ~ 1 in m (plus the primal's own
    growth, ~1 in each for large sizes).
    """
    groups: dict[tuple, list[tuple[int, float]]] = defaultdict(list)
    for c in _timed(cases):
        if c["suite"] != "scaling":
            continue
        base = (c["backend"], c["problem"], c["operation"], c["mode"])
        if c["m"] == 1 and c["n"] >= min_size:
            groups[base + ("n",)].append((c["n"], c["median_s"]))
        if c["n"] == 1 and c["m"] >= min_size:
            groups[base + ("m",)].append((c["m"], c["median_s"]))
    fits = []
    for (backend, problem, operation, mode, axis), points in sorted(groups.items()):
        points.sort()
        fit = loglog_fit([p[0] for p in points], [p[1] for p in points])
        if fit is None:
            continue
        fits.append(
            {
                "backend": backend,
                "problem": problem,
                "operation": operation,
                "mode": mode,
                "axis": axis,
                "sizes": [p[0] for p in points],
                "median_s": [p[1] for p in points],
                **fit,
            }
        )
    return fits


def tradeoffs(cases: Iterable[dict[str, Any]], threshold: int = 64) -> list[dict]:
    """Forward/reverse Jacobian cost on the grid's axes where max(n, m) >= threshold.

    Expected: forward slower at n >= threshold, m = 1 (n passes against one),
    faster at n = 1, m >= threshold (one pass against m). Pairs are each
    backend's own two modes, and, within a family, every backend with only
    forward mode against every one with only reverse (the scalar toys: dual
    or symbolic against the reverse engine); ``backend`` is the forward one.
    """
    cells: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for c in _timed(cases):
        if c["suite"] == "scaling" and c["operation"] == "jacobian":
            cells[(c["backend"], c["problem"], c["n"], c["m"])][c["mode"]] = c
    pairs = mode_pairs(c for modes in cells.values() for c in modes.values())
    rows = []
    for forward_backend, reverse_backend in pairs:
        for (backend, problem, n, m), modes in sorted(cells.items()):
            if backend != forward_backend:
                continue
            fwd = modes.get("forward")
            rev = cells.get((reverse_backend, problem, n, m), {}).get("reverse")
            if not fwd or not rev:
                continue
            if m == 1 and n >= threshold:
                expected = "forward slower"
            elif n == 1 and m >= threshold:
                expected = "forward faster"
            else:
                continue
            ratio = fwd["median_s"] / rev["median_s"]
            rows.append(
                {
                    "backend": forward_backend,
                    "reverse_backend": reverse_backend,
                    "problem": problem,
                    "n": n,
                    "m": m,
                    "forward_s": fwd["median_s"],
                    "reverse_s": rev["median_s"],
                    "forward_over_reverse": ratio,
                    "passes_forward": fwd.get("passes"),
                    "passes_reverse": rev.get("passes"),
                    "strategy_forward": fwd.get("strategy"),
                    "strategy_reverse": rev.get("strategy"),
                    # like with like: both modes carried the same way (both vectorised,
                    # both loops of passes, both per-op scalar engines)
                    "like_for_like": bool(fwd.get("strategy"))
                    and fwd.get("strategy") == rev.get("strategy"),
                    "expected": expected,
                    "holds": ratio > 1 if expected == "forward slower" else ratio < 1,
                }
            )
    return rows


CROSSOVER_FACTOR = 2.0  # the losing mode costs this many times the winning one
EDGES = {
    # edge -> (the size that grows, the one held at 1, the mode expected to lose)
    "n": ("n", "m", "forward"),
    "m": ("m", "n", "reverse"),
}


def mode_pairs(cases: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """(forward backend, reverse backend) pairs of the Jacobian scaling cases, as
    :func:`tradeoffs` pairs them: each backend with both modes, and within a family
    every forward-only backend with every reverse-only one (the scalar toys)."""
    modes_of: dict[str, set[str]] = defaultdict(set)
    family_of: dict[str, str] = {}
    for c in cases:
        if c.get("suite") == "scaling" and c.get("operation") == "jacobian":
            family_of.setdefault(c["backend"], c.get("family") or "")
            if c.get("status") == "ok" and c.get("median_s"):
                modes_of[c["backend"]].add(c["mode"])
    both = set(backends.MODES)
    pairs = [(b, b) for b, modes in modes_of.items() if both <= modes]
    forward_only = [b for b, modes in modes_of.items() if modes & both == {"forward"}]
    reverse_only = [b for b, modes in modes_of.items() if modes & both == {"reverse"}]
    pairs += [
        (f, r)
        for f in forward_only
        for r in reverse_only
        if family_of[f] == family_of[r] and machine_of(f) == machine_of(r)
    ]
    return sorted(pairs)


def machine_of(backend: str) -> str:
    """The machine in a merged run's ``backend @ machine`` label ('' for a plain name):
    pairs are made on one machine only."""
    return str(backend).partition(" @ ")[2]


def _log_interpolate(s0: float, l0: float, s1: float, l1: float, level: float) -> float:
    """The size where the log-log line through (s0, l0) and (s1, l1) reaches ``level``."""
    if l1 <= l0 or s1 <= s0:
        return float(s1)
    t = (math.log(level) - math.log(l0)) / (math.log(l1) - math.log(l0))
    return float(math.exp(math.log(s0) + t * (math.log(s1) - math.log(s0))))


def _why_stopped(cells: dict[int, dict[str, dict]], modes: tuple[str, str], largest: int) -> str:
    """Why the edge has no timed pair past ``largest``: the first cell beyond it not timed."""
    for size in sorted(s for s in cells if s > largest):
        for mode in modes:
            case = cells[size].get(mode)
            if case is None:
                return f"{mode} mode was not run at size {size}"
            if case.get("status") != "ok" or not case.get("median_s"):
                message = case.get("message") or ""
                return f"{mode} mode {case.get('status')} at size {size}" + (
                    f": {message}" if message else ""
                )
    return "the largest size this run's grid has on this edge"


def crossovers(
    cases: Iterable[dict[str, Any]], factor: float = CROSSOVER_FACTOR
) -> list[dict[str, Any]]:
    """Per forward/reverse pair, problem and edge of the Jacobian grid: where the mode
    that should lose costs ``factor`` x the one that should win.

    Edges: ``n`` (n inputs growing at m = 1: forward should lose, n passes against
    one) and ``m`` (m outputs growing at n = 1: reverse should lose). ``loss`` is
    losing ÷ winning time at each size both modes timed. The crossover is the
    smallest size from which the loss stays >= ``factor`` up to the largest size
    measured, interpolated on the log-log line through the sizes either side (the
    first size itself when the loss is already there at the edge's start:
    ``at_start``); an edge timed at size 1 only has not grown, so has no crossover.
    Not reached: ``crossover`` None, and ``largest`` (N, "not
    reached up to N") with ``stopped_by``, why the edge ends there.
    ``overhead_bound_sizes``: the sizes where either mode's primal was within a few
    empty calls (its case's ``overhead_bound``), where the ratio is dispatch, not work.
    """
    cases = [c for c in cases if c.get("suite") == "scaling" and c.get("operation") == "jacobian"]
    by_cell: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for c in cases:
        by_cell[(c["backend"], c["problem"], c.get("n"), c.get("m"))][c.get("mode") or ""] = c
    problems = sorted({c["problem"] for c in cases})
    rows = []
    for forward_backend, reverse_backend in mode_pairs(cases):
        for problem in problems:
            for edge, (grows, held, loser) in EDGES.items():
                # size -> {"forward": case, "reverse": case} along this edge
                cells: dict[int, dict[str, dict]] = defaultdict(dict)
                for (backend, prob, n, m), modes in by_cell.items():
                    if prob != problem or n is None or m is None:
                        continue
                    size, other = (n, m) if grows == "n" else (m, n)
                    if other != 1:
                        continue
                    if backend == forward_backend and "forward" in modes:
                        cells[int(size)]["forward"] = modes["forward"]
                    if backend == reverse_backend and "reverse" in modes:
                        cells[int(size)]["reverse"] = modes["reverse"]
                if not cells:
                    continue
                points = []
                for size in sorted(cells):
                    fwd, rev = cells[size].get("forward"), cells[size].get("reverse")
                    if all(c and c.get("status") == "ok" and c.get("median_s") for c in (fwd, rev)):
                        ratio = fwd["median_s"] / rev["median_s"]
                        points.append((size, ratio, ratio if loser == "forward" else 1 / ratio))
                row = _crossover_row(points, factor)
                strategy = {
                    mode: next(
                        (c[mode].get("strategy") for c in cells.values() if c.get(mode)), None
                    )
                    for mode in ("forward", "reverse")
                }
                largest = points[-1][0] if points else 0
                # sizes where a mode's primal is within a few empty calls (overhead_bound):
                # there the per-call overhead, not the work, sets the ratio
                bound = [size for size, _, _ in points if _overhead_bound(cells[size])]
                rows.append(
                    {
                        "backend": forward_backend,
                        "reverse_backend": reverse_backend,
                        "problem": problem,
                        "edge": edge,
                        "held": f"{held} = 1",
                        "expected": f"{loser} slower",
                        "factor": factor,
                        **row,
                        "stopped_by": ""
                        if row["reached"]
                        else _why_stopped(cells, ("forward", "reverse"), largest),
                        "strategy_forward": strategy["forward"],
                        "strategy_reverse": strategy["reverse"],
                        "like_for_like": bool(strategy["forward"])
                        and strategy["forward"] == strategy["reverse"],
                        "overhead_bound_sizes": bound,
                    }
                )
    return rows


def _overhead_bound(modes: dict[str, dict]) -> bool:
    """Whether either mode's case of a cell was overhead bound (its primal within a few
    empty calls; a run read back from its files holds the flag as "True")."""
    return any(str((modes.get(mode) or {}).get("overhead_bound")) == "True" for mode in modes)


def _crossover_row(points: list[tuple[int, float, float]], factor: float) -> dict[str, Any]:
    """Crossover fields from (size, forward/reverse, loss) points sorted by size."""
    row: dict[str, Any] = {
        "crossover": None,
        "reached": False,
        "at_start": False,
        "largest": points[-1][0] if points else None,
        "loss_at_largest": points[-1][2] if points else None,
        "forward_over_reverse_at_largest": points[-1][1] if points else None,
        "sizes": [p[0] for p in points],
        "loss": [p[2] for p in points],
    }
    if not points or points[-1][2] < factor or points[-1][0] <= 1:
        return row  # at size 1 alone both edges are the same one-by-one cell: nothing grew
    k = len(points) - 1
    while k > 0 and points[k - 1][2] >= factor:
        k -= 1
    if k == 0:
        row.update(crossover=float(points[0][0]), reached=True, at_start=True)
        return row
    (s0, _, l0), (s1, _, l1) = points[k - 1], points[k]
    row.update(crossover=_log_interpolate(s0, l0, s1, l1, factor), reached=True)
    return row


def crossover_text(row: dict[str, Any]) -> str:
    """The crossover size ('1.2', '389'; '≤ 4' when already there at the edge's first size),
    or 'not reached up to N' (with N), for tables and sentences."""
    if row.get("reached"):
        size = row["crossover"]
        text = f"{size:.2g}" if size < 10 else f"{size:.0f}"
        return f"≤ {text}" if row.get("at_start") else text
    if row.get("largest") is None:
        return "not measured"
    return f"not reached up to {row['largest']}"
