"""The table itself: which semantic backends a selection names, and their rows.

:func:`selected` maps toyad backend names to kits; :func:`row` asks one kit one
case and words the answer as a SEMANTICS_COLUMNS row (the backend's crash is
its answer, warnings and substitutions are appended); :func:`rows` does so for
every selected kit.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from toyad import backends
from toyad.results import SEMANTICS_COLUMNS
from toyad.semantics.answers import Unsupported, exception_text, render
from toyad.semantics.cases import CASES, Case
from toyad.semantics.kits import BACKENDS


def selected(backend_names: Sequence[str]) -> list[str]:
    """Semantic backends any of whose registry names is selected (e.g. tf-eager -> tensorflow)."""
    chosen = set(backend_names)
    return [name for name, kit in BACKENDS.items() if chosen & set(kit.registry)]


def _first_warning(caught: list[warnings.WarningMessage]) -> tuple[str, str] | None:
    """(type, first line) of the first UserWarning/RuntimeWarning a probe raised."""
    for w in caught:
        category = w.category
        if issubclass(category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
            continue
        if issubclass(category, (UserWarning, RuntimeWarning)):
            first_line = (str(w.message).strip().splitlines() or [""])[0]
            return category.__name__, first_line[:80]
    return None


def row(
    case: str | Case,
    backend: str,
    registry_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One SEMANTICS_COLUMNS row: ``backend``'s native answer to ``case``. Never raises
    for what the backend does (its exceptions are the answer); unknown names raise KeyError."""
    if not isinstance(case, Case) and case not in CASES:
        raise KeyError(f"unknown semantics case {case!r}; cases: {', '.join(CASES)}")
    c = case if isinstance(case, Case) else CASES[case]
    if backend not in BACKENDS:
        raise KeyError(f"unknown semantics backend {backend!r}; backends: {', '.join(BACKENDS)}")
    kit = BACKENDS[backend]
    out = {
        "case": c.name,
        "description": c.description,
        "backend": kit.name,
        "family": kit.family,
        "expected": c.expected,
    }
    missing = kit.missing_package()
    if missing is not None:
        spec = backends.spec(kit.registry[0])
        out.update(kind="unsupported", answer=f"not installed: {missing} ({spec.install})")
        out["agrees"] = None
        return {col: out.get(col) for col in SEMANTICS_COLUMNS}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            native = c.run(kit, registry_names)
        except (Unsupported, NotImplementedError) as exc:
            kind, answer, native = "unsupported", _unsupported_text(exc), None
        except Exception as exc:  # the crash is the answer
            kind, answer, native = "exception", exception_text(exc), exc
        else:
            kind, answer = render(native)
    if kind != "unsupported":
        warned = _first_warning(caught)
        if warned and warned[1] not in answer:  # the adapter case may quote it already
            answer += f" (+{warned[0]}: {warned[1]})"
        notes = [kit.substitutes[op] for op in c.uses if op in kit.substitutes]
        if notes:
            answer += f" [{'; '.join(notes)}]"
    if kind == "unsupported" or c.judge is None or not c.expected:
        agrees = None
    else:  # a value, None or an exception, judged against the truth
        agrees = bool(c.judge(native))
    out.update(kind=kind, answer=answer, agrees=agrees)
    return {col: out.get(col) for col in SEMANTICS_COLUMNS}


def _unsupported_text(exc: BaseException) -> str:
    if isinstance(exc, Unsupported):
        return str(exc)
    return exception_text(exc)


def rows(case: str | Case, backend_names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Rows for every semantic backend selected by ``backend_names`` (all if None)."""
    chosen = list(BACKENDS) if backend_names is None else selected(backend_names)
    return [row(case, name, backend_names) for name in chosen]
