"""The semantics conformance table (toyad.semantics): rows, crash capture, truths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from toyad import backends, semantics
from toyad.results import SEMANTICS_COLUMNS

TOYS = ("dual", "symbolic", "reverse", "tensor")
KINDS = {"value", "none", "exception", "unsupported"}
SECOND_TRUTH = (
    -(0.7**3) * math.sin(0.7) + 6 * 0.7**2 * math.cos(0.7) + 6 * 0.7 * math.sin(0.7)
)  # d²/dx² sin(x)·x³ at 0.7


def _needs(package: str, backend: str) -> None:
    if backends.missing_package(backend) is not None:
        pytest.skip(f"{package} is not installed here")


# -- well-formed rows ---------------------------------------------------------------


@pytest.mark.parametrize("backend", TOYS)
def test_every_case_gives_a_well_formed_row(backend):
    for case in semantics.CASES:
        r = semantics.row(case, backend)
        assert tuple(r) == SEMANTICS_COLUMNS
        assert r["case"] == case and r["backend"] == backend and r["family"] == "toy"
        assert r["kind"] in KINDS
        assert isinstance(r["answer"], str) and r["answer"]
        assert r["agrees"] in (True, False, None)
        if not r["expected"] or r["kind"] == "unsupported":
            assert r["agrees"] is None, (case, r)


def test_rows_follow_the_backend_selection():
    got = semantics.rows("log-0-grad", ["tf-function", "reverse-recursive", "dual"])
    assert [r["backend"] for r in got] == ["dual", "reverse", "tensorflow"]
    assert semantics.selected(["numeric-central", "analytic"]) == []
    assert semantics.selected(backends.names()) == list(semantics.BACKENDS)


def test_unknown_names_are_named_in_the_error():
    with pytest.raises(KeyError, match="unknown semantics case 'no-such'.*log-0-grad"):
        semantics.row("no-such", "dual")
    with pytest.raises(KeyError, match="unknown semantics backend 'numeric'.*reverse"):
        semantics.row("log-0-grad", "numeric")


# -- crashes are answers ---------------------------------------------------------------


def _case_running(run):
    """A case whose truth is 0.0, answered by ``run(kit)``."""
    judge = semantics.equals(0.0)
    return semantics.Case("probe", "a test probe", lambda kit, names: run(kit), "0.0", judge)


def test_a_crashing_probe_becomes_an_exception_row():
    def crash(kit):
        raise RuntimeError("boom\nsecond line is dropped")

    r = semantics.row(_case_running(crash), "reverse")
    assert r["kind"] == "exception"
    assert r["answer"] == "RuntimeError: boom"
    assert r["agrees"] is False  # a truth exists and an exception is not it


def test_unsupported_and_not_implemented_are_unsupported_rows():
    def refuse(kit):
        raise semantics.Unsupported("cannot say")

    def not_implemented(kit):
        raise NotImplementedError("nested mode")

    r = semantics.row(_case_running(refuse), "dual")
    assert (r["kind"], r["answer"], r["agrees"]) == ("unsupported", "cannot say", None)
    r = semantics.row(_case_running(not_implemented), "dual")
    assert (r["kind"], r["answer"]) == ("unsupported", "NotImplementedError: nested mode")


def test_a_missing_framework_is_an_unsupported_row(monkeypatch):
    monkeypatch.setattr(backends, "_HIDDEN_PACKAGES", {"jax"})
    r = semantics.row("unused-input", "jax")
    assert r["kind"] == "unsupported" and r["agrees"] is None
    assert r["answer"].startswith("not installed: jax (pip install")


def test_long_messages_are_cut_to_one_capped_line():
    text = semantics.exception_text(ValueError("x" * 500 + "\nmore"))
    assert text.startswith("ValueError: xxx") and len(text) <= len("ValueError: ") + 200


# -- printing and judging ------------------------------------------------------------------


def test_render_is_compact():
    assert semantics.render(None) == ("none", "None")
    assert semantics.render(np.zeros(2)) == ("value", "[0. 0.]")
    assert semantics.render(float("nan")) == ("value", "nan")
    assert semantics.render(np.float64(-np.inf)) == ("value", "-inf")
    assert semantics.render(np.float32(1.5)) == ("value", "1.5 (float32)")
    assert semantics.render(0) == ("value", "0 (int)")
    assert semantics.render((None, None)) == ("none", "(None, None)")
    assert semantics.render((0.5, np.float64(0.5))) == ("value", "(0.5, 0.5)")


def test_equals_treats_nan_and_signed_inf_exactly():
    assert semantics.equals(math.nan)(float("nan"))
    assert semantics.equals(math.inf)(np.float64(np.inf))
    assert not semantics.equals(math.inf)(-math.inf)
    assert not semantics.equals(0.0)(None)
    assert not semantics.equals(0.0)(1e-9)
    assert semantics.equals([6.0, -4.0])(np.array([6, -4]))


# -- float64 truths of the toy engines --------------------------------------------------------


def test_toy_reverse_truths():
    r = semantics.row("unused-input", "reverse")
    assert (r["kind"], r["answer"], r["agrees"]) == ("value", "0.0", True)
    assert semantics.row("log-0-value", "reverse")["answer"].startswith("-inf")
    r = semantics.row("log-0-grad", "reverse")
    assert r["answer"].startswith("inf") and r["agrees"] is True
    r = semantics.row("grad-twice", "reverse")  # backward() overwrites, never accumulates
    assert r["answer"] == "6.75" and r["agrees"] is True
    r = semantics.row("unused-input-adapter", "reverse")
    assert r["answer"].startswith("[0. 0.] via reverse") and r["agrees"] is True


@pytest.mark.parametrize(
    ("backend", "combo"),
    [("dual", "ff"), ("symbolic", "ff"), ("reverse", "fr"), ("reverse", "rr"), ("tensor", "fr")],
)
def test_toy_second_derivatives_match_the_analytic_value(backend, combo):
    r = semantics.row(f"second-derivative-{combo}", backend)
    assert r["agrees"] is True, r
    assert float(r["answer"]) == pytest.approx(SECOND_TRUTH, rel=1e-12)


def test_kinks_have_no_single_truth():
    for case in ("abs-at-0", "relu-at-0", "max-tie", "zero-over-zero-grad"):
        r = semantics.row(case, "dual")
        assert r["expected"] == "" and r["agrees"] is None


def test_toy_answers_at_the_kinks():
    assert semantics.row("relu-at-0", "reverse")["answer"] == "0.0"  # step(0) = 0
    assert semantics.row("abs-at-0", "reverse")["answer"] == "0.0"  # sign(0) = 0
    assert semantics.row("max-tie", "dual")["answer"].startswith("(1.0, 0.0)")  # max keeps a
    r = semantics.row("where-nan-trap", "reverse")  # the untaken branch is not connected
    assert r["answer"].startswith("0.0") and r["agrees"] is True


def test_the_rounding_gap_is_a_float32_gap_for_the_reverse_engine():
    r = semantics.row("float32-rounding-gap", "reverse")
    gap = float(r["answer"].split()[1])
    assert 0 < gap <= semantics.FLOAT32_GAP_LIMIT
    assert "(float32 gradient)" in r["answer"] and r["agrees"] is True


def test_micrograd_answers_where_it_can_and_says_why_not_elsewhere():
    _needs("micrograd", "micrograd")
    assert semantics.row("relu-at-0", "micrograd")["answer"] == "0 (int)"
    r = semantics.row("sqrt-at-0", "micrograd")  # 0.0 ** -0.5 in Python
    assert r["kind"] == "exception" and r["answer"].startswith("ZeroDivisionError")
    r = semantics.row("log-0-grad", "micrograd")
    assert (r["kind"], r["answer"]) == ("unsupported", "micrograd has no log")


# -- documented framework behaviour -------------------------------------------------------------


def test_tensorflow_documented_answers():
    _needs("tensorflow", "tf-eager")
    r = semantics.row("unused-input", "tensorflow")  # unconnected_gradients=NONE by default
    assert (r["kind"], r["answer"], r["agrees"]) == ("none", "None", False)
    assert semantics.row("unused-input-zeros-option", "tensorflow")["answer"] == "0.0"
    r = semantics.row("grad-twice", "tensorflow")
    assert r["kind"] == "exception"
    assert r["answer"].startswith("RuntimeError: A non-persistent GradientTape")
    assert semantics.row("grad-twice-retained", "tensorflow")["answer"] == "6.75"


def test_torch_documented_answers():
    _needs("torch", "torch-autograd")
    r = semantics.row("unused-input", "torch")
    assert r["kind"] == "exception" and "allow_unused=True" in r["answer"]
    assert semantics.row("unused-input-allow-unused", "torch")["answer"] == "None"
    assert semantics.row("unused-input-zeros-option", "torch")["answer"] == "0.0"
    r = semantics.row("grad-twice", "torch")
    assert r["answer"].startswith("RuntimeError: Trying to backward through the graph")
    r = semantics.row("grad-twice-retained", "torch")  # .grad accumulates: 2 × 6.75
    assert (r["answer"], r["agrees"]) == ("13.5", False)


def test_jax_documented_answers():
    _needs("jax", "jax-eager")
    r = semantics.row("unused-input", "jax")
    assert (r["answer"], r["agrees"]) == ("0.0", True)
    r = semantics.row("integer-input", "jax")
    assert r["kind"] == "exception" and r["answer"].startswith("TypeError: grad requires real")
    assert semantics.row("max-tie", "jax")["answer"] == "(0.5, 0.5)"  # ties split
    r = semantics.row("second-derivative-rf", "jax")
    assert r["agrees"] is True and float(r["answer"]) == pytest.approx(SECOND_TRUTH, rel=1e-12)


def test_a_probe_warning_with_an_empty_message_is_still_an_answer():
    import warnings

    def warns_empty(kit, _names):
        warnings.warn("", UserWarning, stacklevel=1)
        return 1.0

    case = semantics.Case("empty-warning", "a probe warns with no text", warns_empty, "1")
    r = semantics.row(case, "dual")
    assert r["kind"] == "value" and r["answer"] == "1.0"  # returned, did not raise
