"""Issue 16: benchmark your own function (toyad.problem, the plugin, toyad.compare).

- ``toyad.problem``: sizes, inputs, scalar or not, hand-written references;
- references by agreement: two exact libraries, a numeric check, findings;
- ``toyad.compare`` in a plain session, and ``toyad.report.write`` for its frame;
- the plugin on a user's file in a temporary folder (the issue's command).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import toyad
from toyad import backends, problems, userproblems
from toyad.bench.accuracy import directions, reference_of
from toyad.results import CASE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
HAVE_JAX_TORCH = {"jax-jit", "torch-func"} <= set(backends.available())


def _tanh_sq(xp, x):
    return xp.sum(xp.tanh(x) ** 2)


def _tanh_sq_gradient(x):
    t = np.tanh(x)
    return 2 * t * (1 - t**2)


def _tanh_sq_hessian(x):
    t = np.tanh(x)
    return np.diag(2 * (1 - t**2) * (1 - 3 * t**2))


# -- declaring a problem ----------------------------------------------------------------
def test_problem_declares_sizes_shape_inputs_and_registers():
    @toyad.problem(n=[16, 4], x=lambda n, rng: rng.uniform(-1, 1, n))
    def ua_loss(xp, x):
        """A tanh loss."""
        return xp.sum(xp.tanh(x) ** 2)

    cat = ua_loss.catalog_problem()
    assert ua_loss.n_sizes == (4, 16) and cat.scales == ("n",) and cat.scalar
    assert cat.default_n == 4 and cat.description == "A tanh loss."
    assert problems.get("ua_loss") is cat and "ua_loss" not in problems.names()
    a, b = ua_loss.instance(n=16), ua_loss.instance(n=16)
    assert np.array_equal(a.x, b.x) and a.x.shape == (16,) and np.all(np.abs(a.x) <= 1)
    assert float(ua_loss(np, a.x)) == pytest.approx(float(a.value()))

    @toyad.problem(x=[1.0, 2.0, 3.0])
    def ua_vec(xp, x):
        return xp.sin(x) * x[0]

    vec = ua_vec.catalog_problem()
    assert not vec.scalar and vec.scales == () and vec.sizes() == (3, 3)

    @toyad.problem(n=[2, 5])
    def ua_square(xp, x):  # output length follows n
        return x * x

    assert ua_square.instance(n=5).m == 5 and ua_square.instance(n=2).m == 2

    with pytest.raises(ValueError, match="catalog problem"):
        toyad.problem(n=[4], name="rosenbrock")(_tanh_sq)
    with pytest.raises(ValueError, match="not both"):
        toyad.problem(n=[4], x=[1.0, 2.0])(_tanh_sq)


def test_hand_written_references_by_decorator_and_keyword():
    @toyad.problem(n=[3, 6])
    def ua_hand(xp, x):
        return xp.sum(xp.tanh(x) ** 2)

    @ua_hand.gradient
    def _(x):
        return _tanh_sq_gradient(x)

    assert _ is ua_hand  # the decorators return the problem (so `_` or the same name is fine)
    inst = ua_hand.instance(n=6)
    v, u = directions(inst.n, inst.m, True)
    assert reference_of(inst, "gradient", v, u).kind == "analytic"
    assert np.allclose(inst.gradient(), _tanh_sq_gradient(inst.x))

    kw = toyad.problem(n=[3], name="ua_kw", gradient=_tanh_sq_gradient, hessian=_tanh_sq_hessian)(
        _tanh_sq
    )
    inst = kw.instance(n=3)
    for op in ("gradient", "jvp", "vjp", "hessian"):
        assert reference_of(inst, op, v[:3], u).kind == "analytic"
    assert reference_of(inst, "primal", v[:3], u).kind == "numpy"
    analytic = backends.get("analytic")
    assert np.allclose(analytic.hessian(inst.f, inst.x), _tanh_sq_hessian(inst.x))


def test_analytic_backend_offers_only_what_is_hand_written():
    p = toyad.problem(n=[3], name="ua_half", gradient=_tanh_sq_gradient)(_tanh_sq)
    inst = p.instance()
    analytic = backends.get("analytic")
    assert np.allclose(analytic.gradient(inst.f, inst.x), _tanh_sq_gradient(inst.x))
    with pytest.raises(backends.UnsupportedOperation, match="no hand-written Hessian"):
        analytic.prepare("hessian", inst.f, inst.x)


# -- references by agreement (exact backends faked) -----------------------------------
def _fake_exact(wrong: dict[str, float], failing: tuple[str, ...] = ()):
    """userproblems._exact answering the true derivative, off by a factor for some names."""

    def exact(name, which, f, x, scalar, m):
        if name in failing:
            raise TypeError(f"{name} cannot run f")
        true = _tanh_sq_hessian(x) if which == "hessian" else _tanh_sq_gradient(x)[None, :]
        return true * (1.0 + wrong.get(name, 0.0))

    return exact


@pytest.fixture
def fake_libraries(monkeypatch):
    names = [name for name, _ in userproblems.AGREEMENT_CANDIDATES]
    monkeypatch.setattr(backends, "available", lambda: names + ["reverse"])
    monkeypatch.setattr(userproblems, "FINDINGS", [])

    def use(wrong=None, failing=()):
        monkeypatch.setattr(userproblems, "_exact", _fake_exact(wrong or {}, failing))

    return use


def _ref(name: str, op: str = "gradient"):
    p = toyad.problem(n=[5], name=name)(_tanh_sq)
    inst = p.instance()
    v, u = directions(inst.n, inst.m, True)
    return reference_of(inst, op, v, u)


def test_agreement_of_the_first_two_libraries_confirmed_numerically(fake_libraries):
    fake_libraries()
    ref = _ref("ua_agree")
    assert ref.kind == "agreement(jax-jit,torch-func)" and not userproblems.FINDINGS
    assert _ref("ua_agree_h", "hessian").kind == "agreement(jax-jit,torch-func)"


def test_a_third_library_breaks_a_tie_and_the_odd_one_out_is_a_finding(fake_libraries):
    fake_libraries(wrong={"jax-jit": 1e-6})
    ref = _ref("ua_tie")
    assert ref.kind == "agreement(torch-func,tensor)"
    (finding,) = userproblems.FINDINGS
    assert "jax-jit disagrees with agreement(torch-func,tensor)" in finding["finding"]


def test_a_disagreement_leaves_no_reference_and_the_cases_error(fake_libraries):
    fake_libraries(wrong={"jax-jit": 1e-6, "tensor": 2e-6, "autograd": 3e-6})
    ref = _ref("ua_split")
    assert ref.kind == "none" and ref.value is None and "disagree" in ref.problem
    assert (
        userproblems.FINDINGS and "exact backends disagree" in userproblems.FINDINGS[0]["finding"]
    )
    df = toyad.compare(_tanh_sq, np.linspace(-1, 1, 5), operations=["gradient"], backends="reverse")
    row = df.iloc[0]
    assert row["status"] == "error" and row["message"].startswith("no reference: exact backends")
    assert row["reference"] == "none" and row["median_s"] > 0  # timed all the same
    assert df.attrs["toyad"]["findings"]


def test_an_agreement_the_numeric_check_refutes_is_no_reference(fake_libraries):
    fake_libraries(wrong={name: 1e-3 for name, _ in userproblems.AGREEMENT_CANDIDATES})
    ref = _ref("ua_refuted")
    assert ref.kind == "none" and "not confirmed by the numeric check" in ref.problem


def test_one_library_only_gives_a_numeric_reference(fake_libraries):
    fake_libraries(failing=("torch-func", "tensor", "autograd"))
    ref = _ref("ua_numeric")
    assert ref.kind == "numeric" and ref.tolerance == userproblems.NUMERIC_REFERENCE_TOLERANCE
    p = problems.get("ua_numeric")
    assert np.allclose(ref.value, _tanh_sq_gradient(p.instance().x), rtol=1e-9, atol=1e-12)


# -- toyad.compare ----------------------------------------------------------------------
def test_compare_with_hand_written_references(tmp_path):
    p = toyad.problem(n=[6], name="ua_cmp", gradient=_tanh_sq_gradient, hessian=_tanh_sq_hessian)(
        _tanh_sq
    )
    df = toyad.compare(
        p, operations=["gradient", "hessian"], backends=["analytic", "tensor", "reverse"], repeat=3
    )
    assert tuple(df.columns) == CASE_COLUMNS
    assert set(df["reference"]) == {"analytic"} and set(df["status"]) == {"ok"}
    assert set(df["backend"]) == {"analytic", "tensor", "reverse"}
    assert set(df["operation"]) == {"gradient", "hessian"} and (df["rounds"] == 3).all()
    assert {"forward", "reverse"} <= set(df.loc[df.backend == "tensor", "mode"])
    out = toyad.report.write(df, tmp_path / "out")
    csv = pd.read_csv(out / "results.csv")
    assert len(csv) == len(df) and set(csv["reference"]) == {"analytic"}
    page = (out / "index.html").read_text()
    assert "<th>reference</th>" in page and 'id="references"' not in page  # all hand-written


@pytest.mark.skipif(not HAVE_JAX_TORCH, reason="needs jax and torch for the agreement")
def test_compare_by_agreement_and_with_functions_a_backend_cannot_run(tmp_path):
    def branchy(xp, x):  # data-dependent control flow: no jit, no toy Var comparison
        if x[0] > 0:
            return xp.sum(xp.sin(x) * x)
        return xp.sum(x * x)

    df = toyad.compare(
        branchy,
        np.linspace(0.5, 1.5, 5),
        operations=["gradient"],
        backends=["jax-jit", "tensor", "micrograd"],
        modes=["reverse"],
    )
    by = {b: g for b, g in df.groupby("backend")}
    assert set(by["jax-jit"]["status"]) == {"error"}
    assert "TracerBoolConversionError" in by["jax-jit"]["message"].iloc[0]
    assert set(by["micrograd"]["status"]) == {"unsupported"}
    assert set(by["tensor"]["status"]) == {"ok"} and set(df["mode"]) == {"reverse"}
    # jax-jit cannot run it, so the agreement is torch-func's and the tensor engine's
    assert set(df["reference"]) == {"agreement(torch-func,tensor)"}

    df = toyad.compare(_tanh_sq, np.linspace(-1, 1, 7), operations=["gradient", "hessian"],
                       backends="tensor")  # fmt: skip
    assert set(df["reference"]) == {"agreement(jax-jit,torch-func)"}
    assert set(df["status"]) == {"ok"}
    page = (toyad.report.write(df, tmp_path) / "index.html").read_text()
    assert "agreement(jax-jit,torch-func)" in page and '<section id="references">' in page


# -- the plugin on a user's file --------------------------------------------------------
USER_FILE = """
import numpy as np
import toyad

@toyad.problem(n=[4, 16])
def my_loss(xp, x):
    return xp.sum(xp.tanh(x) ** 2)

def _layer_jacobian(x, w):
    t = np.tanh(w @ x)
    return (1 - t**2)[:, None] * w

@toyad.problem(n=[3, 8], m=[2, 5], jacobian=_layer_jacobian,
               consts=lambda n, m, rng: {"w": rng.standard_normal((m, n)) / np.sqrt(n)})
def layer(xp, x, w):
    return xp.tanh(xp.asarray(w) @ x)
"""


def _user_pytest(folder: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "toyad.bench.plugin", "-p", "no:cacheprovider",
         "-q", *args],
        cwd=folder, capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip


@pytest.mark.skipif(not HAVE_JAX_TORCH, reason="needs jax and torch for the agreement")
def test_plugin_benchmarks_a_users_file_in_a_folder_of_its_own(tmp_path):
    (tmp_path / "bench_mine.py").write_text(textwrap.dedent(USER_FILE))
    proc = _user_pytest(
        tmp_path, "bench_mine.py", "--benchmark-only", "--backends", "tensor,reverse,analytic"
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    latest = tmp_path / "reports" / "latest"
    assert (latest / "index.html").is_file() and (latest / "benchmark.json").is_file()
    df = pd.read_csv(latest / "results.csv")
    assert set(df["status"]) <= {"ok", "unsupported"}, df[df.status != "ok"].to_string()
    loss, layer = df[df.problem == "my_loss"], df[df.problem == "layer"]
    assert set(loss["suite"]) == {"accuracy", "scaling", "hessians", "overhead"}
    assert set(layer["suite"]) == {"accuracy", "scaling"}
    # every size declared, forward against reverse, on every backend
    grads = loss[(loss.suite == "scaling") & (loss.status == "ok")]
    assert set(grads["n"]) == {4, 16} and {"forward", "reverse"} <= set(grads["mode"])
    jac = layer[(layer.suite == "scaling") & (layer.status == "ok")]
    assert set(zip(jac["n"], jac["m"])) == {(3, 2), (3, 5), (8, 2), (8, 5)}
    hess = loss[(loss.suite == "hessians") & (loss.status == "ok")]
    assert set(hess["n"]) == {4, 16} and set(hess["backend"]) >= {"tensor", "reverse"}
    # which reference each row used (unsupported rows were checked against nothing)
    checked = df[(df.operation != "primal") & (df.status == "ok")]
    assert set(checked.loc[checked.problem == "my_loss", "reference"]) == {
        "agreement(jax-jit,torch-func)"
    }
    assert set(checked.loc[checked.problem == "layer", "reference"]) == {"analytic"}
    assert set(df.loc[df.operation == "primal", "reference"]) == {"numpy"}
    # the analytic baseline runs only what is hand-written
    analytic = df[df.backend == "analytic"]
    assert set(analytic.loc[analytic.problem == "my_loss", "status"]) == {"ok", "unsupported"}
    assert set(analytic.loc[analytic.problem == "layer", "status"]) == {"ok"}
    toyad_obj = json.loads((latest / "benchmark.json").read_text())["toyad"]
    assert toyad_obj["reference_findings"] == []
    assert "my_loss::test_accuracy[" in " ".join(df["nodeid"])


def test_plugin_problems_option_selects_user_problems_too(tmp_path):
    (tmp_path / "bench_mine.py").write_text(textwrap.dedent(USER_FILE))
    proc = _user_pytest(tmp_path, "bench_mine.py", "--collect-only", "--problems", "my_*",
                        "--backends", "tensor")  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:]
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    assert ids and all(line.startswith("bench_mine.py::my_loss::") for line in ids)
    assert any("test_hessian_vs_n[tensor-my_loss-hessian" in line for line in ids)
    bad = _user_pytest(tmp_path, "bench_mine.py", "--collect-only", "--problems", "nosuch")
    assert bad.returncode == 4 and "unknown problem 'nosuch'" in bad.stderr + bad.stdout


def test_plugin_does_nothing_in_a_run_without_toyad_cases(tmp_path):
    (tmp_path / "test_plain.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    proc = _user_pytest(tmp_path, "test_plain.py", "--benchmark-only")
    assert proc.returncode in (0, 5), proc.stdout[-2000:]
    assert not (tmp_path / "reports").exists()


def test_the_example_file_collects_its_suites(tmp_path):
    (tmp_path / "bench_mine.py").write_text((ROOT / "examples" / "bench_mine.py").read_text())
    proc = _user_pytest(tmp_path, "bench_mine.py", "--collect-only", "--backends", "tensor")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    suites = {line.split("[")[0] for line in proc.stdout.splitlines() if "::" in line}
    assert suites == {
        "bench_mine.py::my_loss::test_accuracy",
        "bench_mine.py::my_loss::test_gradient_vs_n",
        "bench_mine.py::my_loss::test_hessian_vs_n",
        "bench_mine.py::my_loss::test_overhead",
        "bench_mine.py::my_layer::test_accuracy",
        "bench_mine.py::my_layer::test_jacobian_grid",
    }
