"""The report's References section: what each case was checked against, and the findings.

A case's ``reference`` column says where its expected answer came from:
``analytic`` (hand-written), ``agreement(A,B)`` (two exact backends of
different libraries agreeing, confirmed by a numeric check), ``numeric``,
``numpy`` (the primal) or ``none``. A disagreement between exact backends
(``toyad.findings`` entries of kind ``reference``, see ``toyad.userproblems``)
is listed here, not hidden.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from toyad.report.load import Run

FINDINGS_KEY = "reference_findings"


def reference_findings(run: Run) -> list[dict[str, Any]]:
    found = (run.raw.get("toyad") or {}).get(FINDINGS_KEY) or []
    return [f for f in found if isinstance(f, dict)]


def relevant(run: Run) -> bool:
    """Whether a run checked anything against more than the catalog's hand-written answers."""
    if reference_findings(run):
        return True
    if "reference" not in run.cases.columns:
        return False
    kinds = set(run.cases["reference"].dropna()) - {"", "analytic", "numpy"}
    return bool(kinds)


def with_references(run: Run, sections: Any) -> list:
    """``sections`` with the References section after Accuracy, where the run needs it."""
    sections = list(sections)
    if not relevant(run) or any(anchor == "references" for anchor, _, _ in sections):
        return sections
    at = next((i + 1 for i, s in enumerate(sections) if s[0] == "accuracy"), len(sections))
    return [*sections[:at], ("references", "References", references_section), *sections[at:]]


def references_section(run: Run) -> str:
    from toyad.report.page import frame_table, note

    cases = run.cases
    if "reference" not in cases.columns:
        return note("This run does not record references (an older run).")
    kinds = cases.loc[cases["reference"] != "", ["problem", "operation", "reference", "status"]]
    findings = reference_findings(run)
    parts = []
    unusual = kinds[~kinds["reference"].isin(["analytic", "numpy"])]
    if unusual.empty and not findings:
        return note(
            "Every checked result was compared with hand-written derivatives (the primal with "
            "numpy)."
        )
    table = (
        kinds.groupby(["problem", "operation", "reference"], sort=True)
        .agg(cases=("status", "size"), ok=("status", lambda s: int((s == "ok").sum())))
        .reset_index()
    )
    parts.append(
        "<p class='caption'>What each result was checked against: <b>analytic</b> "
        "(hand-written), <b>agreement(A,B)</b> (two exact backends of different libraries "
        "agreeing within 1e-10, confirmed by directional finite differences), "
        "<b>numeric</b> (Richardson differences: fewer than two exact libraries ran the "
        "function), <b>none</b> (no reference: the cases are errors).</p>"
    )
    parts.append(frame_table(table, table_id="references"))
    if findings:
        rows = pd.DataFrame(
            [
                {
                    "problem": f.get("problem", ""),
                    "operation": f.get("operation", ""),
                    "n": f.get("n", ""),
                    "finding": f.get("finding", ""),
                }
                for f in findings
            ]
        )
        parts.append(
            "<p class='caption st-error'>Findings: exact backends that disagree "
            f"({len(findings)}).</p>" + frame_table(rows, table_id="reference-findings")
        )
    else:
        parts.append(note("No disagreement between exact backends."))
    return "".join(parts)
