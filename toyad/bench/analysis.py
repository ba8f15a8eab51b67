"""What a run's cases say beyond each case: log-log slopes and forward/reverse tradeoffs.

Pure functions of case records (dicts with CASE_COLUMNS), used when a run is
written (``toyad.fits``, ``toyad.tradeoffs``) and by the report.
"""

from __future__ import annotations

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
    modes_of: dict[str, set[str]] = defaultdict(set)
    family_of: dict[str, str] = {}
    for c in _timed(cases):
        if c["suite"] == "scaling" and c["operation"] == "jacobian":
            cells[(c["backend"], c["problem"], c["n"], c["m"])][c["mode"]] = c
            modes_of[c["backend"]].add(c["mode"])
            family_of[c["backend"]] = c.get("family") or ""
    pairs = [(b, b) for b, modes in modes_of.items() if set(backends.MODES) <= modes]
    both = set(backends.MODES)
    forward_only = [b for b, modes in modes_of.items() if modes & both == {"forward"}]
    reverse_only = [b for b, modes in modes_of.items() if modes & both == {"reverse"}]
    pairs += [(f, r) for f in forward_only for r in reverse_only if family_of[f] == family_of[r]]
    rows = []
    for forward_backend, reverse_backend in sorted(pairs):
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
