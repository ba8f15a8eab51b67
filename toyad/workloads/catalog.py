"""The workload modules and their problems (imported by ``toyad.problems``)."""

from __future__ import annotations

from toyad.problems import Problem
from toyad.workloads import ba, det, gmm, hello, ht, kmeans, llsq, lse, lstm, nested, ode
from toyad.workloads.base import Workload

MODULES = (hello, gmm, lstm, ba, ht, det, kmeans, llsq, lse, ode)

WORKLOADS: dict[str, Workload] = {mod.WORKLOAD.name: mod.WORKLOAD for mod in MODULES}
# the nested-AD evals (Workload.nested: no toyad problem; run with nested.prepare)
WORKLOADS.update({w.name: w for w in nested.WORKLOADS})


# Tiny instances (options outside GradBench's sweeps) for tests and the scalar
# engines: every problem's default instance is GradBench's smallest size, which
# is too big for a scalar engine's Jacobian (gmm: 1000 points, lstm: 1024 chars).
TINY_OPTIONS: dict[str, dict] = {
    "hello": {},
    "gmm": {"d": 2, "k": 2, "points": 3},
    "lstm": {"l": 1, "c": 3},
    "ba": {"cameras": 2, "points": 3, "observations": 12},
    "det": {"ell": 3},
    "kmeans": {"k": 3, "points": 8, "d": 2},
    "llsq": {"points": 9, "terms": 4},
    "lse": {"size": 6},
    "ode": {"size": 5, "steps": 3},
    "ode_last": {"size": 5, "steps": 3},
    "ht": {"points": 4, "vertices": 24},
    "ht_complicated": {"points": 3, "vertices": 24},
}


def problems() -> list[Problem]:
    out: list[Problem] = []
    for mod in MODULES:
        for name in ("PROBLEM", "LAST", "SIMPLE", "COMPLICATED"):
            p = getattr(mod, name, None)
            if p is not None:
                out.append(p)
    return out
