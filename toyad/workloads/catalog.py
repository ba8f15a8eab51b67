"""The workload modules and their problems (imported by ``toyad.problems``)."""

from __future__ import annotations

from toyad.problems import Problem
from toyad.workloads import ba, det, gmm, hello, kmeans, llsq, lse, lstm, ode
from toyad.workloads.base import Workload

MODULES = (hello, gmm, lstm, ba, det, kmeans, llsq, lse, ode)

WORKLOADS: dict[str, Workload] = {mod.WORKLOAD.name: mod.WORKLOAD for mod in MODULES}


def problems() -> list[Problem]:
    out: list[Problem] = []
    for mod in MODULES:
        for name in ("PROBLEM", "LAST", "SIMPLE"):
            p = getattr(mod, name, None)
            if p is not None:
                out.append(p)
    return out
