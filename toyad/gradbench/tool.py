"""The GradBench tool: one toyad backend answering an eval's JSON-lines messages.

:class:`Tool` answers one message (``handle(message) -> response``);
:func:`serve` reads lines, answers each with exactly one JSON line and
flushes. Protocol: ``/work/shared/gradbench-rig/README.md`` and GradBench's
``python/gradbench/gradbench/eval.py``.

- ``start`` -> ``{"id", "tool": "toyad-<backend>", "config": {...}}``;
- ``define`` -> ``success`` true iff the backend can do every function of the
  eval (declared capabilities, then a tiny prepare-and-run on the workload's
  tiny instance, which finds what a backend cannot express, e.g.
  micrograd's missing ``max``); else false with the reason;
- ``evaluate`` -> ``output`` and ``timings``: one ``"prepare"`` (the
  backend's untimed set-up: tracing, jit, graph building) and one
  ``"evaluate"`` per run, repeated while ``runs < min_runs or total <
  min_seconds`` (GradBench's ``multiple_runs``); input conversion
  (``from_gradbench``), ``to_numpy`` and ``to_gradbench`` are outside every
  timed span;
- ``analysis`` -> ``{"id"}``.

Every error becomes ``{"id", "success": false, "error": ...}`` and the tool
keeps serving. NaN/Infinity never reach stdout (an error answer instead).
"""

from __future__ import annotations

import importlib
import json
import math
import re
import sys
import time
import traceback
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from toyad import backends
from toyad.gradbench import functions as fn
from toyad.workloads import TINY_OPTIONS, WORKLOADS

TOOL_PREFIX = "toyad-"
KINDS = ("start", "define", "evaluate", "analysis")


class MessageError(Exception):
    """A message the tool cannot act on (missing field, unknown module, ...)."""


def load_nested() -> tuple[Any, str | None]:
    """``toyad.workloads.nested`` (particle/saddle) if present, else (None, why)."""
    try:
        return importlib.import_module("toyad.workloads.nested"), None
    except ModuleNotFoundError as exc:
        if exc.name in ("toyad.workloads.nested",):
            return None, "toyad.workloads.nested (particle/saddle) is not available in this toyad"
        return None, f"toyad.workloads.nested cannot be imported: {exc}"
    except Exception as exc:  # a broken module must not take the tool down
        return None, f"toyad.workloads.nested cannot be imported: {type(exc).__name__}: {exc}"


def plain(value: Any) -> Any:
    """numpy scalars/arrays (e.g. from nested) -> plain JSON values."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def multiple_runs(
    call: Callable[[], Any], min_runs: int, min_seconds: float
) -> tuple[Any, list[int]]:
    """GradBench's loop: run until ``runs >= min_runs`` and ``total >= min_seconds``;
    the last run's result and each run's nanoseconds."""
    times: list[int] = []
    elapsed = 0.0
    result = None
    while len(times) < min_runs or elapsed < min_seconds:
        start = time.perf_counter_ns()
        result = call()
        end = time.perf_counter_ns()
        times.append(end - start)
        elapsed += (end - start) / 1e9
    return result, times


def _run_settings(inp: Any) -> tuple[int, float]:
    if not isinstance(inp, dict):
        return 1, 0.0  # hello: a bare number, no min_runs
    try:
        min_runs = int(inp.get("min_runs", 1))
        min_seconds = float(inp.get("min_seconds", 0.0))
    except (TypeError, ValueError) as exc:
        raise MessageError(f"malformed input: min_runs/min_seconds: {exc}") from None
    if not math.isfinite(min_seconds):
        raise MessageError("malformed input: min_seconds must be finite")
    return min_runs, min_seconds


class Tool:
    """Answers GradBench messages with one toyad backend."""

    def __init__(
        self,
        backend_name: str,
        mode: str | None = None,
        max_dense_bytes: int = fn.MAX_DENSE_BYTES,
        log: IO[str] | None = None,
    ):
        backends.spec(backend_name)  # UnknownBackend at once
        if mode not in (None, "forward", "reverse"):
            raise ValueError(f"mode must be forward or reverse; got {mode!r}")
        self.backend_name = backend_name
        self.mode = mode
        self.max_dense_bytes = max_dense_bytes
        self.log = log if log is not None else sys.stderr
        self._backend: backends.Backend | None = None
        self._backend_error: str | None = None
        self._defined: dict[str, str | None] = {}  # eval -> None (ok) or reason

    # -- the backend ---------------------------------------------------------
    def backend(self) -> backends.Backend:
        if self._backend is None:
            if self._backend_error is not None:
                raise MessageError(self._backend_error)
            try:
                self._backend = backends.get(self.backend_name)
            except backends.BackendError as exc:
                self._backend_error = str(exc)
                raise MessageError(self._backend_error) from None
        return self._backend

    def config(self) -> dict:
        cfg: dict[str, Any] = {"backend": self.backend_name, "mode": self.mode or "default"}
        try:
            b = self.backend()
        except MessageError as exc:
            cfg["error"] = str(exc)
            return cfg
        from toyad import __version__ as toyad_version
        from toyad import runtime

        cfg.update(
            family=b.family,
            variant=b.variant,
            description=b.description,
            versions={"toyad": toyad_version, "python": sys.version.split()[0], **b.versions()},
            threads=runtime.settings().get("threads"),
        )
        return cfg

    # -- messages ------------------------------------------------------------
    def handle(self, message: Any) -> dict:
        """The response to one parsed message (always a dict with its id)."""
        if not isinstance(message, dict):
            return {"id": None, "success": False, "error": "message is not a JSON object"}
        mid = message.get("id")
        if "id" not in message:
            return {"id": None, "success": False, "error": "message has no 'id'"}
        kind = message.get("kind")
        try:
            if kind == "start":
                return {"id": mid, "tool": TOOL_PREFIX + self.backend_name, "config": self.config()}
            if kind == "define":
                reason = self.define(self._field(message, "module"))
                if reason is None:
                    return {"id": mid, "success": True}
                return {"id": mid, "success": False, "error": reason}
            if kind == "evaluate":
                return {"id": mid, "success": True, **self.evaluate(message)}
            if kind == "analysis":
                if message.get("valid") is False:
                    print(
                        f"[toyad-gradbench] analysis of {message.get('of')}: invalid: "
                        f"{str(message.get('error'))[:500]}",
                        file=self.log,
                    )
                return {"id": mid}
            known = ", ".join(KINDS)
            raise MessageError(f"unknown message kind {kind!r}; known kinds: {known}")
        except MessageError as exc:
            return {"id": mid, "success": False, "error": str(exc)}
        except Exception as exc:  # anything else: report, keep serving
            traceback.print_exc(file=self.log)
            return {"id": mid, "success": False, "error": f"{type(exc).__name__}: {exc}"}

    @staticmethod
    def _field(message: dict, name: str) -> Any:
        if name not in message:
            raise MessageError(f"{message.get('kind')} message has no {name!r}")
        return message[name]

    # -- define --------------------------------------------------------------
    def define(self, module: Any) -> str | None:
        """None if every function of eval ``module`` works with this backend, else why."""
        if not isinstance(module, str):
            raise MessageError(f"module must be a string; got {module!r}")
        if module not in self._defined:
            self._defined[module] = self._check_module(module)
        return self._defined[module]

    def _check_module(self, module: str) -> str | None:
        if module in fn.NESTED_EVALS:
            nested, why = load_nested()
            if nested is None:
                return why
            for function in fn.NESTED_FUNCTIONS:
                reason = nested.supports(self.backend_name, module, function)
                if reason is not None:
                    return f"{module}::{function}: {reason}"
            return None
        if module not in WORKLOADS:
            return f"unknown module {module!r}; toyad has {', '.join(self.modules())}"
        try:
            b = self.backend()
        except MessageError as exc:
            return str(exc)
        w = WORKLOADS[module]
        for function, (problem, operation) in w.functions.items():
            reason = fn.unsupported_reason(b, operation, self.mode)
            if reason is None:
                reason = self._tiny_trial(b, module, function, problem)
            if reason is not None:
                return f"{module}::{function}: {reason}"
        return None

    def _tiny_trial(self, b: backends.Backend, module: str, function: str, problem: str):
        """Prepare and run the function once on the workload's tiny instance."""
        from toyad import problems

        inst = problems.get(problem).instance(**TINY_OPTIONS.get(problem, {}))
        try:
            p = fn.plan(b, module, function, inst, self.mode, self.max_dense_bytes)
            p.output(p.prepare()())
        except backends.UnsupportedOperation as exc:
            return str(exc)
        except backends.BackendError as exc:
            return f"{type(exc).__name__}: {exc}"
        except Exception as exc:
            traceback.print_exc(file=self.log)
            return f"fails on a tiny instance: {type(exc).__name__}: {exc}"
        return None

    @staticmethod
    def modules() -> list[str]:
        return [*WORKLOADS, *fn.NESTED_EVALS]

    # -- evaluate ------------------------------------------------------------
    def evaluate(self, message: dict) -> dict:
        module = self._field(message, "module")
        function = self._field(message, "function")
        inp = self._field(message, "input")
        if module in fn.NESTED_EVALS:
            if function not in fn.NESTED_FUNCTIONS:
                raise MessageError(
                    f"unknown function {function!r} of module {module!r}; "
                    f"functions: {', '.join(fn.NESTED_FUNCTIONS)}"
                )
            return self._evaluate_nested(module, function, inp)
        if module not in WORKLOADS:
            raise MessageError(f"unknown module {module!r}; toyad has {', '.join(self.modules())}")
        w = WORKLOADS[module]
        if function not in w.functions:
            raise MessageError(
                f"unknown function {function!r} of module {module!r}; "
                f"functions: {', '.join(w.functions)}"
            )
        reason = self.define(module)
        if reason is not None:
            raise MessageError(f"module {module!r} is not supported: {reason}")
        min_runs, min_seconds = _run_settings(inp)
        try:
            inst = w.from_gradbench(inp, function)  # the harness's own conversion
        except Exception as exc:
            raise MessageError(
                f"malformed input for {module}::{function}: {type(exc).__name__}: {exc}"
            ) from None
        try:
            p = fn.plan(self.backend(), module, function, inst, self.mode, self.max_dense_bytes)
        except fn.TooLarge as exc:
            raise MessageError(str(exc)) from None
        return self._run(p.prepare, p.output, min_runs, min_seconds)

    def _evaluate_nested(self, module: str, function: str, inp: Any) -> dict:
        reason = self.define(module)
        if reason is not None:
            raise MessageError(f"module {module!r} is not supported: {reason}")
        nested, _ = load_nested()
        min_runs, min_seconds = _run_settings(inp)
        if not isinstance(inp, dict):
            raise MessageError(f"malformed input for {module}::{function}: not an object")

        def prepare() -> Callable[[], Any]:
            return nested.prepare(self.backend_name, module, function, inp)

        return self._run(prepare, plain, min_runs, min_seconds)

    def _run(
        self,
        prepare: Callable[[], Callable[[], Any]],
        output: Callable[[Any], Any],
        min_runs: int,
        min_seconds: float,
    ) -> dict:
        try:
            t0 = time.perf_counter_ns()
            call = prepare()
            t1 = time.perf_counter_ns()
            raw, times = multiple_runs(call, min_runs, min_seconds)
        except backends.TooExpensive as exc:
            raise MessageError(f"too slow: {exc}") from None
        except backends.UnsupportedOperation as exc:
            raise MessageError(str(exc)) from None
        try:
            out = plain(output(raw))
        except ValueError as exc:
            if "finite" in str(exc):
                raise MessageError("the result has NaN or Infinity") from None
            raise
        if not _finite(out):
            raise MessageError("the result has NaN or Infinity")
        timings = [{"name": "prepare", "nanoseconds": t1 - t0}]
        timings += [{"name": "evaluate", "nanoseconds": t} for t in times]
        return {"output": out, "timings": timings}


# -- the line loop ---------------------------------------------------------------

_ID = re.compile(rb'"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")')


def _recover_id(line: bytes) -> Any:
    m = _ID.search(line)
    if m is None:
        return None
    try:
        return json.loads(m.group(1))
    except ValueError:
        return None


def encode(response: dict) -> str:
    """One JSON line; an answer that cannot be standard JSON becomes an error answer."""
    try:
        return json.dumps(response, allow_nan=False, separators=(",", ":"))
    except (ValueError, TypeError) as exc:
        why = "the result has NaN or Infinity" if isinstance(exc, ValueError) else str(exc)
        return json.dumps({"id": response.get("id"), "success": False, "error": why})


def serve(tool: Tool, stdin: IO[bytes], stdout: IO[str]) -> None:
    """Answer every line of ``stdin`` with one line on ``stdout`` until EOF."""
    for line in iter(stdin.readline, b""):
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError as exc:
            mid = _recover_id(line)
            print(f"[toyad-gradbench] unparseable line ({len(line)} bytes): {exc}", file=tool.log)
            response = {"id": mid, "success": False, "error": f"unparseable JSON: {exc}"}
        else:
            response = tool.handle(message)
        stdout.write(encode(response) + "\n")
        stdout.flush()
