"""The semantics conformance table: every backend's *native* answer to awkward questions.

Each :class:`Case` asks one question (the derivative of relu at 0, the gradient
for an input the output ignores, a gradient taken twice from one tape, ...)
of every backend family through a :class:`Kit`, a thin layer over the
family's own API (no toyad adapter in between, except in the
``unused-input-adapter`` case, which is about the adapters). The answer is
recorded as the library gives it: a value, ``None``, or the exception, never
normalised and never asserted. Where a documented or mathematical truth
exists the row carries it in ``expected`` and ``agrees`` says whether the
native answer matches it; where there is no single truth (a kink) both are
left empty (``""``, None).

    from toyad import semantics
    semantics.CASES                     # name -> Case
    semantics.BACKENDS                  # name -> Kit (dual ... micrograd)
    semantics.selected(["tf-eager", "dual"])   # -> ["dual", "tensorflow"]
    semantics.row("log-0-grad", "jax")  # one SEMANTICS_COLUMNS row; never raises

A backend crashing on a case is an answer (kind ``exception``); a case a
backend cannot express is kind ``unsupported`` with the reason; a framework
that is not installed is kind ``unsupported`` naming the package.
Everything runs in float64 except the float32 case.

The package, by file:

    answers.py   Unsupported, Reported, RoundingGap; render/plain/exception_text; equals
    kits/        Kit (base.py) and one module per family: toys, tensorflow, jax, torch,
                 peers (autograd, micrograd); BACKENDS in kits/__init__.py
    probes.py    the questions behind the non-trivial cases and their truths
    cases.py     Case and CASES
    table.py     selected(), row(), rows()
"""

from __future__ import annotations

# The names in __all__ are the table's API; the others stay importable from here as they
# were from the single module (tests read FLOAT32_GAP_LIMIT, kits can be subclassed).
from toyad.semantics.answers import MESSAGE_CHARS as MESSAGE_CHARS
from toyad.semantics.answers import (
    Reported,
    RoundingGap,
    Unsupported,
    equals,
    exception_text,
    render,
)
from toyad.semantics.answers import plain as plain
from toyad.semantics.cases import CASES, COMBOS, Case
from toyad.semantics.cases import X_SECOND as X_SECOND
from toyad.semantics.kits import BACKENDS, Kit
from toyad.semantics.kits import AutogradKit as AutogradKit
from toyad.semantics.kits import DualKit as DualKit
from toyad.semantics.kits import JaxKit as JaxKit
from toyad.semantics.kits import MicrogradKit as MicrogradKit
from toyad.semantics.kits import ReverseKit as ReverseKit
from toyad.semantics.kits import Scalar as Scalar
from toyad.semantics.kits import SymbolicKit as SymbolicKit
from toyad.semantics.kits import TensorFlowKit as TensorFlowKit
from toyad.semantics.kits import TensorKit as TensorKit
from toyad.semantics.kits import TorchKit as TorchKit
from toyad.semantics.probes import FLOAT32_GAP_LIMIT as FLOAT32_GAP_LIMIT
from toyad.semantics.probes import FLOAT32_X as FLOAT32_X
from toyad.semantics.table import row, rows, selected

__all__ = [
    "BACKENDS",
    "CASES",
    "COMBOS",
    "Case",
    "Kit",
    "Reported",
    "RoundingGap",
    "Unsupported",
    "equals",
    "exception_text",
    "render",
    "row",
    "rows",
    "selected",
]
