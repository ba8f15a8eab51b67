"""Native semantics: each selected backend's own answer to one awkward question.

One test per case of :data:`toyad.semantics.CASES`. For every semantic backend
selected by ``--backends`` (any of a family's registry names selects it:
``tf-eager`` or ``tf-function`` -> tensorflow; ``reverse-recursive`` -> the
reverse engine) it records a row of the native answer (value, None, exception,
or unsupported with the reason) through ``toyad_harness.add_semantics``; the
rows become the run's ``toyad.semantics`` (the report's table and
semantics.csv). Nothing is timed and nothing is asserted about the answers:
a backend that crashes has answered. The ``benchmark`` fixture is requested
only so ``--benchmark-only`` keeps these tests; it is deliberately left
unused (a timing here would enter the report as a fake case), so its
"fixture was not used" warning is silenced.
"""

from __future__ import annotations

import pytest

from toyad import semantics

pytestmark = pytest.mark.filterwarnings("ignore:Benchmark fixture was not used")


@pytest.mark.parametrize("case", list(semantics.CASES))
def test_semantics(benchmark, toyad_harness, case):
    chosen = semantics.selected(toyad_harness.backend_names)
    if not chosen:
        pytest.skip("no semantic backend among the selected backends")
    for name in chosen:
        toyad_harness.add_semantics(semantics.row(case, name, toyad_harness.backend_names))
