"""Every toyad backend as a GradBench tool.

    python -m toyad.gradbench BACKEND [--mode forward|reverse]   # or: toyad-gradbench
    python -m toyad.gradbench --matrix [--backends ...] [--evals ...]

Modules: ``tool`` (the protocol: :class:`~toyad.gradbench.tool.Tool`,
:func:`~toyad.gradbench.tool.serve`), ``functions`` (how a backend computes
each eval function, reference answers), ``matrix`` (replays recorded
conversations against every backend and writes the backend × eval table),
``__main__`` (the CLI).
"""

from __future__ import annotations

from toyad.gradbench.functions import reference_output
from toyad.gradbench.tool import Tool, multiple_runs, serve

__all__ = ["Tool", "multiple_runs", "reference_output", "serve"]
