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
"""

__version__ = "0.1.0"
