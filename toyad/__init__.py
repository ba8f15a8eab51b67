"""toyad: toy automatic-differentiation engines beside the real frameworks.

Modules (the file names show the architecture):

- ``toyad.rules``     one table of scalar primitive rules (value + derivative)
- ``toyad.numeric``   numeric differentiation (the notebook's ``gradients``)
- ``toyad.symbolic``  symbolic forward mode: derivatives as expression graphs
- ``toyad.dual``      forward mode with (tagged, nestable) dual numbers
- ``toyad.reverse``   reverse mode: the notebook's ``backpropagate`` and ``backward``
- ``toyad.tensor``    a numpy-backed tensor engine (forward and reverse)
- ``toyad.problems``  benchmark problems ``f(xp, x)`` with analytic derivatives
- ``toyad.backends``  one adapter interface for every engine and framework
- ``toyad.report``    CSV + self-contained HTML from a benchmark run
- ``toyad.userproblems``  your own function: ``toyad.problem``; ``toyad.compare``

Benchmark your own function::

    import toyad

    @toyad.problem(n=[4, 64, 1024])
    def my_loss(xp, x):
        return xp.sum(xp.tanh(x) ** 2)

    # pytest bench_mine.py --benchmark-only     (the suites that fit, a report)
    df = toyad.compare(my_loss, x, operations=["gradient", "hessian"])
    toyad.report.write(df, "out/")
"""

from typing import Any

from toyad.userproblems import UserProblem, problem

__version__ = "0.1.0"
__all__ = ["UserProblem", "compare", "problem"]


def __getattr__(name: str) -> Any:
    if name == "compare":
        from toyad.bench.compare import compare

        return compare
    if name == "report":
        import importlib

        return importlib.import_module("toyad.report")
    raise AttributeError(f"module 'toyad' has no attribute {name!r}")
