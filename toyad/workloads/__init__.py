"""GradBench's standard workloads as toyad problems.

One module per GradBench eval (``hello``, ``gmm``, ``lstm``, ``ba``, ``ht``,
``kmeans``, ``ode``, ``llsq``, ``det``, ``lse``); each defines
``gradbench_input``, ``from_gradbench``, ``to_gradbench`` and ``WORKLOAD``
(see ``toyad/workloads/base.py``). Their problems are in
``toyad.problems.PROBLEMS``.

    from toyad.workloads import WORKLOADS, gradbench_mismatch
    w = WORKLOADS["gmm"]
    problem, operation = w.functions["jacobian"]          # ("gmm", "gradient")
    inst = w.from_gradbench(w.gradbench_input(**w.presets[0].params))
    out = w.to_gradbench("jacobian", inst.gradient(), inst)
    assert gradbench_mismatch(out, out) == []
"""

from __future__ import annotations

from toyad import problems as _problems  # noqa: F401  (the catalog imports the modules)
from toyad.workloads.base import Workload, gradbench_mismatch
from toyad.workloads.catalog import MODULES, TINY_OPTIONS, WORKLOADS

__all__ = ["MODULES", "TINY_OPTIONS", "WORKLOADS", "Workload", "gradbench_mismatch"]
