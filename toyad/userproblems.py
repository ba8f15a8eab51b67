"""Your own function as a toyad problem: ``toyad.problem`` and references by agreement.

    import toyad

    @toyad.problem(n=[4, 64, 1024])          # sizes to sweep (or x=... for one fixed input)
    def my_loss(xp, x):                      # the namespace contract, as in the catalog
        return xp.sum(xp.tanh(x) ** 2)

    @my_loss.gradient                        # optional: a hand-written numpy reference
    def my_loss_gradient(x):
        t = np.tanh(x)
        return 2 * t * (1 - t**2)

``toyad.problem(fn=None, *, n=None, x=None, m=None, consts=None, name=None,
gradient=None, jacobian=None, hessian=None, description=None)``:

- ``n``: an int or a list of sizes (the sweeps' n); ``x``: one fixed input
  array (no sweep), or a generator ``x=lambda n, rng: ...`` (``rng`` a seeded
  ``numpy.random.Generator``; default: a standard normal). Neither given:
  n = 4, 16, 64.
- ``m``: output sizes to sweep, for a vector-valued f: f is called as
  ``f(xp, x, m=m)`` when it takes ``m`` (or shapes its output through
  ``consts``). Without it the output size is whatever f returns at that n
  (found by evaluating f once with numpy).
- ``consts``: ``lambda n, m, rng: {"w": ...}`` -- constants passed to f as
  keywords, drawn once per instance (use ``xp.asarray`` on arrays in f).
- ``gradient`` / ``jacobian`` / ``hessian`` (or the decorators of the same
  name): hand-written numpy derivatives of x (plus the constants as keywords,
  when there are any): gradient (n,), Jacobian (m, n), Hessian (n, n).

The result is a :class:`UserProblem`: still callable as ``f(xp, x)``, and
registered (by name) where the harness finds problems (``toyad.problems.get``;
the catalog's ``names()`` stays the catalog). The pytest plugin collects a
``UserProblem`` found in a test module as a suite of its own (see
``toyad.bench.user``); ``toyad.compare`` measures one in a plain session.

References
----------
Each operation is checked against a reference, and each case says which one
(the ``reference`` column):

- ``analytic``: hand-written (the catalog's, or yours);
- ``agreement(A,B)``: without a hand-written one, the answers of two exact
  backends from different libraries (:data:`AGREEMENT_CANDIDATES`, first two
  that run f: jax-jit, torch-func, tensor, autograd) agreeing within
  :data:`AGREEMENT_TOLERANCE`, then confirmed by a numeric check: directional
  derivatives ``J v`` by Richardson extrapolation of central differences
  (first derivatives, within :data:`CONFIRM_TOLERANCE`) and second
  differences ``u^T H v`` (Hessians, within :data:`CONFIRM_HESSIAN_TOLERANCE`),
  for a few seeded directions;
- ``numeric``: fewer than two exact libraries could run f: Richardson
  differences of the numpy primal (tolerance :data:`NUMERIC_REFERENCE_TOLERANCE`
  for every backend);
- ``numpy``: the primal (f evaluated with numpy);
- ``none``: no reference. When the exact backends disagree (and no third one
  sides with either), or their agreement fails the numeric check, the
  disagreement is a *finding*: it is kept in :data:`FINDINGS` (the run JSON's
  ``toyad.findings``, shown in the report) and every case needing that
  reference is recorded ``error`` with the message ``no reference: ...``
  (timed all the same). When a third library sides with one of them, the
  agreeing pair is the reference and the odd one out is a finding (its own
  cases then come out ``wrong``).
"""

from __future__ import annotations

import hashlib
import inspect
import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from toyad.bench.accuracy import NoReference, Reference
from toyad.loops import NUMPY
from toyad.problems import PROBLEMS, Problem

__all__ = [
    "AGREEMENT_CANDIDATES",
    "FINDINGS",
    "NoReference",
    "UserProblem",
    "problem",
    "registered",
]

# Exact backends tried for a reference by agreement, in order, with their library.
AGREEMENT_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("jax-jit", "jax"),
    ("torch-func", "torch"),
    ("tensor", "toyad.tensor"),
    ("autograd", "autograd"),
)
AGREEMENT_TOLERANCE = 1e-10  # max relative difference between two exact answers
CONFIRM_TOLERANCE = 1e-6  # the numeric check of a first-derivative agreement
CONFIRM_HESSIAN_TOLERANCE = 1e-4  # the numeric check of a Hessian agreement
CONFIRM_DIRECTIONS = 3
NUMERIC_REFERENCE_TOLERANCE = 1e-8  # cases checked against a numeric reference
NUMERIC_HESSIAN_TOLERANCE = 1e-5
NUMERIC_HESSIAN_MAX_N = 64  # beyond: no numeric Hessian reference (n² primal calls)
DEFAULT_SIZES = (4, 16, 64)

# Findings about references (disagreements between exact backends), in order.
FINDINGS: list[dict[str, Any]] = []

# User problems by name; toyad.problems.get falls back to this.
REGISTRY: dict[str, Problem] = {}


def _accepts(fn: Callable, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _call(fn: Callable, x: np.ndarray, consts: dict[str, Any]) -> Any:
    """A hand-written derivative: ``fn(x)``, or ``fn(x, **consts)`` when it takes them."""
    wanted = {k: v for k, v in consts.items() if _accepts(fn, k)}
    return fn(x, **wanted)


def _identifier(name: str) -> str:
    cleaned = re.sub(r"\W+", "_", name).strip("_")
    return cleaned or "user_function"


@dataclass(frozen=True, eq=False, repr=False)
class UserCatalogProblem(Problem):
    """A catalog :class:`~toyad.problems.Problem` made from a :class:`UserProblem`.

    ``hand_written``: which references are hand-written ("derivative",
    "hessian"): the analytic backend offers only those.
    """

    user: Any = None
    hand_written: frozenset[str] = frozenset()

    def sizes(self, n: int | None = None, m: int | None = None) -> tuple[int, int]:
        n, m = super().sizes(n, m)
        if not self.scalar and "m" not in self.scales:
            m = self.user.output_size(n)
        return n, m


class UserProblem:
    """A function ``f(xp, x)`` declared with :func:`problem`; still callable as f."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        n: int | Sequence[int] | None = None,
        x: Any = None,
        m: int | Sequence[int] | None = None,
        consts: Callable[..., dict[str, Any]] | None = None,
        name: str | None = None,
        gradient: Callable | None = None,
        jacobian: Callable | None = None,
        hessian: Callable | None = None,
        description: str | None = None,
    ):
        if not callable(fn):
            raise TypeError(f"toyad.problem wraps a function f(xp, x); got {fn!r}")
        self.fn = fn
        self.name = _identifier(name or getattr(fn, "__name__", "") or "user_function")
        if self.name in PROBLEMS:
            raise ValueError(
                f"{self.name!r} is a catalog problem's name; pass toyad.problem(name=...)"
            )
        doc = (inspect.getdoc(fn) or "").strip().splitlines()
        self.description = description or (doc[0] if doc else f"{self.name}(xp, x)")
        self.fixed_x: np.ndarray | None = None
        self.generator: Callable[..., Any] | None = None
        if x is not None and not callable(x):
            if n is not None:
                raise ValueError("toyad.problem: give n (sizes to sweep) or a fixed x, not both")
            self.fixed_x = np.array(x, dtype=np.float64, copy=True).reshape(-1)
            self.n_sizes: tuple[int, ...] = (int(self.fixed_x.shape[0]),)
        else:
            self.generator = x
            sizes = DEFAULT_SIZES if n is None else n
            self.n_sizes = tuple(sorted({int(s) for s in np.atleast_1d(sizes)}))
        if not self.n_sizes or min(self.n_sizes) < 1:
            raise ValueError(f"toyad.problem: sizes must be >= 1; got {n!r}")
        self.m_sizes: tuple[int, ...] = (
            () if m is None else tuple(sorted({int(s) for s in np.atleast_1d(m)}))
        )
        self.consts_fn = consts
        self._gradient = gradient
        self._jacobian = jacobian
        self._hessian = hessian
        self._outputs: dict[int, int] = {}
        self._references: dict[tuple, Reference] = {}
        self._catalog: UserCatalogProblem | None = None
        self.__name__ = self.name
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        self.catalog_problem()  # evaluates f once: scalar or not, and registers it

    # -- as a function ---------------------------------------------------------
    def __call__(self, xp: Any, x: Any, **kwargs: Any) -> Any:
        return self.fn(xp, x, **kwargs)

    def __repr__(self) -> str:
        sizes = f"x={self.fixed_x.shape}" if self.fixed_x is not None else f"n={list(self.n_sizes)}"
        return f"<toyad problem {self.name}: {sizes}>"

    # -- hand-written references (decorators) ----------------------------------
    def gradient(self, fn: Callable) -> UserProblem:
        """Decorator: the hand-written gradient (n,) of a scalar f."""
        self._gradient = fn
        return self._rebuilt()

    def jacobian(self, fn: Callable) -> UserProblem:
        """Decorator: the hand-written Jacobian (m, n)."""
        self._jacobian = fn
        return self._rebuilt()

    def hessian(self, fn: Callable) -> UserProblem:
        """Decorator: the hand-written Hessian (n, n) of a scalar f."""
        self._hessian = fn
        return self._rebuilt()

    def _rebuilt(self) -> UserProblem:
        self._catalog = None
        self._references.clear()
        self.catalog_problem()
        return self

    @property
    def has_hand_derivative(self) -> bool:
        return self._gradient is not None or self._jacobian is not None

    # -- sizes and inputs --------------------------------------------------------
    @property
    def scales(self) -> tuple[str, ...]:
        scales = () if self.fixed_x is not None else ("n",)
        return scales + (("m",) if self.m_sizes else ())

    def setup(self, n: int, m: int, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
        rng = np.random.default_rng([seed, n, m])
        if self.fixed_x is not None:
            x = self.fixed_x.copy()
        elif self.generator is not None:
            x = np.asarray(self.generator(n, rng), dtype=np.float64).reshape(-1)
            if x.shape != (n,):
                raise ValueError(f"{self.name}: x(n={n}, rng) returned shape {x.shape}, not ({n},)")
        else:
            x = rng.standard_normal(n)
        consts: dict[str, Any] = {}
        if self.m_sizes and _accepts(self.fn, "m"):
            consts["m"] = m
        if self.consts_fn is not None:
            consts.update(self.consts_fn(n, m, rng))
        return x, consts

    def output_size(self, n: int) -> int:
        """The length of f's output at size n (f evaluated once with numpy)."""
        if n not in self._outputs:
            x, consts = self.setup(n, 1, 0)
            out = np.asarray(self.fn(NUMPY, x, **consts))
            if out.ndim > 1:
                raise ValueError(
                    f"{self.name}: f must return a 0-d or 1-D array; got shape {out.shape}"
                )
            self._outputs[n] = 1 if out.ndim == 0 else int(out.shape[0])
        return self._outputs[n]

    def catalog_problem(self) -> UserCatalogProblem:
        """The problem the harness measures (built once, registered under ``name``)."""
        if self._catalog is not None:
            return self._catalog
        n0 = self.n_sizes[0]
        m0 = self.m_sizes[0] if self.m_sizes else 1
        x0, consts0 = self.setup(n0, m0, 0)
        out = np.asarray(self.fn(NUMPY, x0, **consts0))
        if out.ndim > 1:
            raise ValueError(
                f"{self.name}: f must return a 0-d or 1-D array; got shape {out.shape}"
            )
        scalar = out.ndim == 0
        if not scalar:
            self._outputs[n0] = int(out.shape[0])
        if scalar and self.m_sizes:
            raise ValueError(f"{self.name}: declares m sizes but returns a scalar")
        if scalar and self._jacobian is not None and self._gradient is None:
            self._gradient = lambda x, **c: np.reshape(_call(self._jacobian, x, c), -1)
        hand = set()
        if self.has_hand_derivative:
            hand.add("derivative")
        if self._hessian is not None:
            hand.add("hessian")
        fn = self.fn

        def body(xp: Any, x: Any, **consts: Any) -> Any:
            return fn(xp, x, **consts)

        def primal(x: np.ndarray, **consts: Any) -> Any:
            return fn(NUMPY, x, **consts)

        self._catalog = UserCatalogProblem(
            name=self.name,
            description=self.description,
            scalar=scalar,
            scales=self.scales,
            default_n=n0,
            default_m=m0 if self.m_sizes else (1 if scalar else int(out.shape[0])),
            setup=lambda n, m, seed: self.setup(n, m, seed),
            body=body,
            primal=primal,
            derivative=self._derivative,
            hessian=self._hessian_of if scalar else None,
            user=self,
            hand_written=frozenset(hand),
        )
        REGISTRY[self.name] = self._catalog
        return self._catalog

    def instance(self, n: int | None = None, m: int | None = None, seed: int = 0) -> Any:
        return self.catalog_problem().instance(n=n, m=m, seed=seed)

    # -- references ----------------------------------------------------------------
    def _derivative(self, x: np.ndarray, **consts: Any) -> np.ndarray:
        hand = self._gradient if self.catalog_problem().scalar else self._jacobian
        if hand is None:
            hand = self._gradient or self._jacobian
        if hand is not None:
            return np.asarray(_call(hand, x, consts), dtype=np.float64)
        ref = self.agreed("derivative", x, consts)
        if ref.value is None:
            raise NoReference(ref.problem)
        return ref.value

    def _hessian_of(self, x: np.ndarray, **consts: Any) -> np.ndarray:
        if self._hessian is not None:
            return np.asarray(_call(self._hessian, x, consts), dtype=np.float64)
        ref = self.agreed("hessian", x, consts)
        if ref.value is None:
            raise NoReference(ref.problem)
        return ref.value

    def reference(self, inst: Any, operation: str, v: np.ndarray, u: np.ndarray) -> Reference:
        """The reference for ``operation`` on an instance of this problem, and its kind."""
        from toyad.bench.accuracy import reference as analytic_reference

        if operation == "primal":
            return Reference(np.asarray(inst.value(), dtype=np.float64), "numpy")
        which = "hessian" if operation == "hessian" else "derivative"
        hand = self._hessian is not None if which == "hessian" else self.has_hand_derivative
        if hand:
            return Reference(analytic_reference(inst, operation, v, u), "analytic")
        ref = self.agreed(which, inst.x, inst.consts)
        if ref.value is None:
            return ref
        return Reference(analytic_reference(inst, operation, v, u), ref.kind, "", ref.tolerance)

    def agreed(self, which: str, x: np.ndarray, consts: dict[str, Any]) -> Reference:
        """The reference by agreement at x ("derivative" or "hessian"), computed once."""
        key = (which, _fingerprint(x, consts))
        if key not in self._references:
            self._references[key] = _agreement(self, which, np.asarray(x, np.float64), consts)
        return self._references[key]


def _fingerprint(x: np.ndarray, consts: dict[str, Any]) -> str:
    digest = hashlib.sha1(np.ascontiguousarray(x, dtype=np.float64).tobytes())
    for k in sorted(consts):
        v = consts[k]
        digest.update(k.encode())
        digest.update(np.asarray(v).tobytes() if isinstance(v, np.ndarray) else repr(v).encode())
    return digest.hexdigest()


def _finding(problem: UserProblem, which: str, n: int, text: str, **extra: Any) -> None:
    FINDINGS.append(
        {"kind": "reference", "problem": problem.name, "operation": which, "n": n, "finding": text}
        | extra
    )


def _exact(name: str, which: str, f: Callable, x: np.ndarray, scalar: bool, m: int) -> np.ndarray:
    from toyad import backends

    b = backends.get(name)
    op = "hessian" if which == "hessian" else ("gradient" if scalar else "jacobian")
    with warnings.catch_warnings():  # a framework's deprecation notes are not the user's
        warnings.simplefilter("ignore", DeprecationWarning)
        out = np.asarray(b.to_numpy(b.prepare(op, f, x.copy())()), dtype=np.float64)
    n = x.shape[0]
    return out.reshape((n, n) if which == "hessian" else (m, n))


def _agreement(
    problem: UserProblem, which: str, x: np.ndarray, consts: dict[str, Any]
) -> Reference:
    from toyad import backends
    from toyad.bench.accuracy import max_rel_error

    cat = problem.catalog_problem()
    n = x.shape[0]
    value = np.asarray(problem.fn(NUMPY, x, **consts), dtype=np.float64)
    m = 1 if cat.scalar else int(value.shape[0])
    if which == "hessian" and not cat.scalar:
        return Reference(None, "none", f"{problem.name} is vector-valued: no Hessian")

    def f(xp: Any, z: Any) -> Any:
        return problem.fn(xp, z, **consts)

    f.__name__ = f.__qualname__ = problem.name
    installed = set(backends.available())
    answers: list[tuple[str, np.ndarray]] = []
    failures: list[str] = []
    for name, _library in AGREEMENT_CANDIDATES:
        if name not in installed:
            continue
        if len(answers) >= 2 and _pair(answers, max_rel_error) is not None:
            break
        try:
            answers.append((name, _exact(name, which, f, x, cat.scalar, m)))
        except Exception as exc:  # a backend that cannot run f is not a witness
            failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")
    pair = _pair(answers, max_rel_error)
    if pair is not None:
        (a, ja), (b, _jb) = pair
        for other, jo in answers:
            if other not in (a, b):
                diff = max_rel_error(jo, ja)
                _finding(
                    problem, which, n,
                    f"{other} disagrees with agreement({a},{b}): max relative difference "
                    f"{diff:.3g}",
                    backends=[a, b, other],
                )  # fmt: skip
        problem_text = _confirm(problem, which, x, consts, ja, cat.scalar)
        label = f"agreement({a},{b})"
        if problem_text:
            text = f"{label} not confirmed by the numeric check: {problem_text}"
            _finding(problem, which, n, text, backends=[a, b])
            return Reference(None, "none", text)
        return Reference(ja, label)
    if len(answers) >= 2:
        (a, ja), (b, jb) = answers[0], answers[1]
        text = (
            f"exact backends disagree: {a} vs {b}, max relative difference "
            f"{max_rel_error(jb, ja):.3g} (over {AGREEMENT_TOLERANCE:g})"
        )
        _finding(problem, which, n, text, backends=[name for name, _ in answers])
        return Reference(None, "none", text)
    # fewer than two exact libraries ran f: numeric differences of the numpy primal
    why = "; ".join(failures) or "fewer than two exact backends installed"
    return _numeric_reference(problem, which, x, consts, cat.scalar, why)


def _pair(answers: list[tuple[str, np.ndarray]], max_rel_error: Callable) -> Any:
    """The first two answers (of different libraries) agreeing within AGREEMENT_TOLERANCE."""
    for i in range(len(answers)):
        for j in range(i + 1, len(answers)):
            try:
                if max_rel_error(answers[j][1], answers[i][1]) <= AGREEMENT_TOLERANCE:
                    return answers[i], answers[j]
            except ValueError:
                continue
    return None


def _confirm(
    problem: UserProblem,
    which: str,
    x: np.ndarray,
    consts: dict[str, Any],
    agreed: np.ndarray,
    scalar: bool,
) -> str:
    """ "" if seeded directional differences confirm the agreed derivative, else why not."""
    from toyad import numeric

    def value(z: np.ndarray) -> np.ndarray:
        return np.asarray(problem.fn(NUMPY, z, **consts), dtype=np.float64)

    n = x.shape[0]
    rng = np.random.default_rng([7, n])
    scale_x = max(1.0, float(np.max(np.abs(x))))
    worst = 0.0
    with np.errstate(all="ignore"):
        for _ in range(CONFIRM_DIRECTIONS):
            v = rng.standard_normal(n)
            v /= max(float(np.max(np.abs(v))), 1e-300)
            if which == "derivative":
                exact = agreed @ v
                approx = np.reshape(
                    numeric.derivative(lambda t, v=v: value(x + t * v), 0.0, method="richardson"),
                    exact.shape,
                )
                top = max(float(np.max(np.abs(exact))), 1e-8 * float(np.max(np.abs(value(x)))))
                tolerance = CONFIRM_TOLERANCE
            else:
                w = rng.standard_normal(n)
                w /= max(float(np.max(np.abs(w))), 1e-300)
                exact = np.asarray(w @ agreed @ v)
                h = 1e-3 * scale_x
                approx = np.asarray(
                    (
                        value(x + h * w + h * v)
                        - value(x + h * w - h * v)
                        - value(x - h * w + h * v)
                        + value(x - h * w - h * v)
                    )
                    / (4 * h * h)
                )
                top = max(float(np.max(np.abs(agreed))), 1e-300)
                tolerance = CONFIRM_HESSIAN_TOLERANCE
            err = float(np.max(np.abs(exact - approx))) / max(top, 1e-300)
            worst = max(worst, err if math.isfinite(err) else math.inf)
    if worst > tolerance:
        return f"max relative difference {worst:.3g} over {tolerance:g}"
    return ""


def _numeric_reference(
    problem: UserProblem,
    which: str,
    x: np.ndarray,
    consts: dict[str, Any],
    scalar: bool,
    why: str,
) -> Reference:
    from toyad import numeric

    def value(z: np.ndarray) -> np.ndarray:
        return np.asarray(problem.fn(NUMPY, z, **consts), dtype=np.float64)

    n = x.shape[0]
    try:
        with np.errstate(all="ignore"):
            if which == "hessian":
                if n > NUMERIC_HESSIAN_MAX_N:
                    text = (
                        f"no exact agreement ({why}) and n={n} is past the numeric Hessian's "
                        f"{NUMERIC_HESSIAN_MAX_N}"
                    )
                    _finding(problem, which, n, text)
                    return Reference(None, "none", text)
                ref = numeric.hessian(value, x, method="richardson")
                return Reference(
                    np.asarray(ref).reshape(n, n), "numeric", "", NUMERIC_HESSIAN_TOLERANCE
                )
            ref = numeric.jacobian(value, x, method="richardson")
    except Exception as exc:
        text = f"no exact agreement ({why}); numeric differences failed: {exc}"
        _finding(problem, which, n, text)
        return Reference(None, "none", text)
    return Reference(np.asarray(ref), "numeric", "", NUMERIC_REFERENCE_TOLERANCE)


def problem(fn: Callable | None = None, **options: Any) -> Any:
    """Declare ``fn(xp, x)`` a toyad problem: ``@toyad.problem`` or ``@toyad.problem(n=[...])``.

    See the module docstring for the options; returns a :class:`UserProblem`.
    """
    if fn is not None and not callable(fn):
        raise TypeError("toyad.problem takes keyword options: toyad.problem(n=[4, 64])")
    if fn is None:
        return lambda f: UserProblem(f, **options)
    return UserProblem(fn, **options)


def registered(name: str) -> Problem | None:
    return REGISTRY.get(name)
