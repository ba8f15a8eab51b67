"""Replay recorded GradBench conversations against the tool; the backend × eval table.

A recorded conversation (``tests/fixtures/gradbench/<eval>.jsonl``) is the
message lines an eval sent, at its smallest sizes, captured from a real run
of GradBench's eval. :class:`ToolProcess` runs ``python -m toyad.gradbench
BACKEND`` in a subprocess; :func:`replay` plays the eval's part: ``start``,
``define``, then each ``evaluate`` (ids renumbered as the eval numbers them),
each answer checked against :func:`~toyad.gradbench.functions.reference_output`
with GradBench's comparison (``gradbench_mismatch``) and acknowledged with an
``analysis`` message, with a per-message timeout.

Outcomes per (backend, eval): ``passes`` (every evaluate valid),
``unsupported`` (define said no), ``too slow`` (a message timed out, or the
backend declined as too expensive), ``too large`` (a dense Jacobian/Hessian
beyond the tool's memory cap), ``fails`` (an evaluate answered
``success: false`` otherwise), ``invalid`` (a mismatch: a bug).

    python -m toyad.gradbench --matrix --backends analytic,tensor --timeout 60 \\
        --out gradbench_matrix.md --json gradbench_matrix.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toyad.gradbench.functions import reference_output
from toyad.workloads import gradbench_mismatch

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "gradbench"
EVALS = (
    "hello",
    "gmm",
    "lstm",
    "ba",
    "ht",
    "kmeans",
    "ode",
    "llsq",
    "det",
    "lse",
    "particle",
    "saddle",
)
OUTCOMES = ("passes", "unsupported", "too slow", "too large", "fails", "invalid")


class Timeout(Exception):
    pass


def load_conversation(path: str | Path) -> list[dict]:
    """The eval's messages from a recorded log (``message`` lines, or bare messages)."""
    out = []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        if "response" in obj:
            continue
        out.append(obj.get("message", obj))
    return out


class ToolProcess:
    """``python -m toyad.gradbench BACKEND`` in a subprocess, one line per answer."""

    def __init__(self, backend: str, *extra: str, python: str = sys.executable, cwd=ROOT):
        self.backend = backend
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [python, "-m", "toyad.gradbench", backend, *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            cwd=str(cwd),
            start_new_session=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in iter(self.proc.stdout.readline, b""):
            self.lines.put(line)
        self.lines.put(None)

    def ask(self, message: Any, timeout: float) -> dict:
        """Send one message (a dict, or a raw line as bytes/str); its answer."""
        raw = message if isinstance(message, (bytes, str)) else json.dumps(message)
        if isinstance(raw, str):
            raw = raw.encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(raw.rstrip(b"\n") + b"\n")
        self.proc.stdin.flush()
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise Timeout(f"no answer within {timeout:g} s") from None
        if line is None:
            raise RuntimeError(f"tool exited (status {self.proc.poll()}): {self.stderr_text()}")
        return json.loads(line)

    def stderr_text(self, tail: int = 2000) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-tail:]

    def close(self, timeout: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout)
            except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
                self.kill()
        self.stderr.close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)  # the tool's own session, started here
            self.proc.wait()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class Round:
    function: str
    description: str
    success: bool
    valid: bool | None
    seconds: float
    evaluate_ns: list[int] = field(default_factory=list)
    prepare_ns: int | None = None
    error: str = ""


@dataclass
class Result:
    backend: str
    eval: str
    outcome: str
    detail: str = ""
    rounds: list[Round] = field(default_factory=list)
    start: dict = field(default_factory=dict)


def replay(
    tool: ToolProcess, messages: list[dict], timeout: float = 60.0, references: bool = True
) -> Result:
    """Play the eval's side of ``messages`` against ``tool``."""
    evals = [m for m in messages if m.get("kind") == "evaluate"]
    start = next(m for m in messages if m.get("kind") == "start")
    define = next(m for m in messages if m.get("kind") == "define")
    name = define["module"]
    res = Result(tool.backend, name, "passes")
    next_id = 0

    def ask(msg: dict) -> dict:
        nonlocal next_id
        msg = {**msg, "id": next_id}
        next_id += 1
        answer = tool.ask(msg, timeout)
        if answer.get("id") != msg["id"]:
            raise RuntimeError(f"answer id {answer.get('id')!r} != message id {msg['id']}")
        return answer

    try:
        res.start = ask(start)
        answer = ask(define)
        if not answer.get("success"):
            res.outcome, res.detail = "unsupported", str(answer.get("error", ""))
            return res
        for msg in evals:
            t0 = time.perf_counter()
            answer = ask(msg)
            secs = time.perf_counter() - t0
            timings = answer.get("timings") or []
            rnd = Round(
                msg["function"],
                str(msg.get("description", "")),
                bool(answer.get("success")),
                None,
                secs,
                [t["nanoseconds"] for t in timings if t["name"] == "evaluate"],
                next((t["nanoseconds"] for t in timings if t["name"] == "prepare"), None),
            )
            res.rounds.append(rnd)
            if not rnd.success:
                rnd.error = str(answer.get("error", ""))
                if res.outcome == "passes":
                    res.outcome = _failure_kind(rnd.error)
                    res.detail = f"{rnd.function} {rnd.description}: {rnd.error}"
                continue
            mismatches: list[str] = []
            if references:
                expected = reference_output(name, msg["function"], msg["input"])
                mismatches = gradbench_mismatch(expected, answer["output"], limit=10)
            rnd.valid = not mismatches
            analysis = {"kind": "analysis", "of": next_id - 1, "valid": rnd.valid}
            if mismatches:
                analysis["error"] = f"Found {len(mismatches)} mismatches: " + "; ".join(mismatches)
                if res.outcome == "passes":
                    res.outcome = "invalid"
                    res.detail = f"{rnd.function} {rnd.description}: {mismatches[0]}"
            ask(analysis)
    except Timeout as exc:
        tool.kill()
        res.outcome, res.detail = "too slow", f"{exc} (message {next_id - 1})"
    except Exception as exc:
        tool.kill()
        res.outcome, res.detail = "fails", f"{type(exc).__name__}: {exc}"
    return res


def _failure_kind(error: str) -> str:
    if error.startswith("too large"):
        return "too large"
    if error.startswith("too slow"):
        return "too slow"
    return "fails"


def fixture_path(eval_name: str, fixtures: Path = FIXTURES) -> Path:
    return fixtures / f"{eval_name}.jsonl"


def run_matrix(
    backends: list[str],
    evals: list[str],
    timeout: float,
    fixtures: Path = FIXTURES,
    log=sys.stderr,
) -> list[Result]:
    results = []
    for backend in backends:
        tool: ToolProcess | None = None
        for ev in evals:
            path = fixture_path(ev, fixtures)
            if not path.exists():
                continue
            if tool is None or not tool.alive:
                if tool is not None:
                    tool.close()  # killed after a timeout: release its stderr file
                tool = ToolProcess(backend)
            t0 = time.perf_counter()
            r = replay(tool, load_conversation(path), timeout)
            results.append(r)
            print(
                f"[matrix] {backend:20s} {ev:9s} {r.outcome:12s} {time.perf_counter() - t0:6.1f} s"
                f"  {r.detail[:150]}",
                file=log,
                flush=True,
            )
        if tool is not None:
            tool.close()
    return results


SHORT = {"passes": "✓", "unsupported": "–", "too slow": "slow", "too large": "large"}


def table(results: list[Result], timeout: float) -> str:
    """Markdown: backends × evals, then the reasons."""
    evals = [e for e in EVALS if any(r.eval == e for r in results)]
    backends = list(dict.fromkeys(r.backend for r in results))
    by = {(r.backend, r.eval): r for r in results}
    lines = [
        "| backend | " + " | ".join(evals) + " |",
        "| --- |" + " --- |" * len(evals),
    ]
    notes: dict[str, list[str]] = {}
    for b in backends:
        cells = []
        for e in evals:
            r = by.get((b, e))
            if r is None:
                cells.append("")
                continue
            cells.append(SHORT.get(r.outcome, r.outcome))
            if r.outcome != "passes":
                notes.setdefault(f"{r.outcome}: {_reason(r)}", []).append(f"{b}/{e}")
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"✓ passes (every answer within GradBench's tolerance of the reference); – unsupported "
        f"(define answers success: false); slow: no answer within {timeout:g} s per message "
        "(or the backend's own cap); large: a dense Jacobian/Hessian over the tool's memory cap."
    )
    if notes:
        lines.append("")
        for reason, where in notes.items():
            lines.append(f"- {', '.join(where)}: {reason}")
    return "\n".join(lines) + "\n"


def _reason(r: Result) -> str:
    d = r.detail.strip().splitlines()[0] if r.detail.strip() else ""
    if r.outcome == "unsupported":
        # "<eval>::<function>: reason" -> the reason, without the eval-specific prefix
        d = d.split(": ", 1)[1] if "::" in d.split(": ", 1)[0] else d
    elif r.outcome == "too slow":
        d = d.split(" (message")[0]
    elif r.outcome == "too large":
        d = d.split("; ")[0]
    return d[:200]


def evals_txt(results: list[Result], backend: str) -> str:
    """GradBench's ``tools/<tool>/evals.txt``: the evals a backend passes, one a line."""
    return "".join(f"{r.eval}\n" for r in results if r.backend == backend and r.outcome == "passes")


def main(argv: list[str] | None = None) -> int:
    from toyad import backends as _backends

    parser = argparse.ArgumentParser(prog="toyad-gradbench --matrix")
    parser.add_argument("--backends", default=",".join(_backends.available()))
    parser.add_argument("--evals", default=",".join(EVALS))
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per message")
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    parser.add_argument("--out", type=Path, help="write the markdown table here")
    parser.add_argument("--json", type=Path, help="write every round here")
    args = parser.parse_args(argv)
    results = run_matrix(
        [b for b in args.backends.split(",") if b],
        [e for e in args.evals.split(",") if e],
        args.timeout,
        args.fixtures,
    )
    md = table(results, args.timeout)
    if args.out:
        args.out.write_text(md)
    else:
        print(md)
    if args.json:
        from dataclasses import asdict

        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    return 0
