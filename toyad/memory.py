"""Peak memory of one computation, and the memory workload: a chain of tanh layers.

Two ways to measure, named in every record's ``memory_method``:

- ``tracemalloc`` (:func:`tracemalloc_peak`), in process, for the numpy-backed
  toys: numpy reports its data buffers to tracemalloc, and Python objects
  (tape nodes) are traced too. Peak = traced peak during the call minus the
  traced memory just before it.
- ``rss-subprocess`` (:func:`subprocess_peak`) for frameworks, whose buffers
  tracemalloc never sees: a fresh Python runs ``python -m toyad.memory`` on a
  ``module:function`` target, builds the case, calls it once warm (compiles,
  caches), then -- gc, ``malloc_trim``, the high-water mark reset by writing
  "5" to /proc/self/clear_refs -- takes VmRSS as the baseline, calls it once
  more and reads VmHWM: peak = VmHWM - baseline. Then it times a few calls.
  Several cases may share one worker (``rss-subprocess-shared``): the same
  reset between cases, one import instead of several.

The workload: x_0 = x, x_i = tanh(W_i x_{i-1}) for i = 1..L, loss = Σ x_L,
W_i seeded with entries N(0, 1/w); the gradient is with respect to the input
x. By hand: g_L = 1, g_{i-1} = W_iᵀ (g_i ⊙ (1 - x_i²)), ∇_x loss = g_0.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SEED = 0
BYTES_PER_FLOAT = 8


# -- the workload ------------------------------------------------------------------


def chain_weights(layers: int, width: int, seed: int = SEED) -> np.ndarray:
    """(L, w, w) weights, entries N(0, 1/w): tanh layers at the edge of chaos."""
    if layers < 1 or width < 1:
        raise ValueError(f"a chain needs layers >= 1 and width >= 1; got L={layers}, w={width}")
    rng = np.random.default_rng([seed, layers, width])
    return rng.standard_normal((layers, width, width)) / np.sqrt(width)


def chain_input(width: int, seed: int = SEED) -> np.ndarray:
    return np.random.default_rng([seed, width, 1]).standard_normal(width)


def chain_value_and_gradient(weights: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray]:
    """Σ x_L and its gradient by hand: g_{i-1} = W_iᵀ (g_i ⊙ (1 - x_i²)), g_L = 1."""
    states = [np.asarray(x, dtype=np.float64)]
    for w_i in weights:
        states.append(np.tanh(w_i @ states[-1]))
    g = np.ones_like(states[-1])
    for w_i, x_i in zip(weights[::-1], states[:0:-1]):
        g = w_i.T @ (g * (1.0 - x_i * x_i))
    return float(np.sum(states[-1])), g


def layer_state_bytes(width: int) -> int:
    """One layer state: w float64 numbers."""
    return width * BYTES_PER_FLOAT


# -- tracemalloc ---------------------------------------------------------------------


def tracemalloc_peak(call: Callable[[], Any]) -> tuple[Any, int]:
    """(call(), peak bytes traced during it above what was traced just before).

    Starts tracemalloc if it is off (and stops it after): memory allocated
    before that is invisible, and so are its frees.
    """
    started = not tracemalloc.is_tracing()
    gc.collect()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        result = call()
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        if started:
            tracemalloc.stop()
    return result, peak


# -- resident set size in this process (Linux) -------------------------------------------


def _status_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field_name} line")


def rss_bytes() -> int:
    """Current resident set size (VmRSS)."""
    return _status_kib("VmRSS") * 1024


def hwm_bytes() -> int:
    """Peak resident set size since start or the last :func:`reset_hwm` (VmHWM)."""
    return _status_kib("VmHWM") * 1024


def reset_hwm() -> bool:
    """Reset VmHWM to the current RSS (clear_refs "5"); False where not permitted."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def release_free_memory() -> None:
    """Collect garbage and hand malloc's free pages back to the OS (glibc malloc_trim)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def rss_peak(call: Callable[[], Any]) -> tuple[Any, int, int]:
    """(call(), peak RSS above the baseline, baseline RSS): VmHWM after a reset."""
    release_free_memory()
    if not reset_hwm():
        raise RuntimeError("cannot reset the RSS high-water mark (/proc/self/clear_refs)")
    baseline = rss_bytes()
    result = call()
    return result, max(0, hwm_bytes() - baseline), baseline


# -- the subprocess measurer --------------------------------------------------------------


@dataclass
class Outcome:
    """One case measured in a subprocess: peak, times, result, or the error."""

    ok: bool
    peak_bytes: int | None = None
    baseline_bytes: int | None = None
    times_s: list[float] = field(default_factory=list)
    result: np.ndarray | None = None
    value: float | None = None
    error: str = ""
    info: dict[str, Any] = field(default_factory=dict)


def _build(target: str, args: dict[str, Any]) -> Callable[[], Any]:
    module, _, name = target.partition(":")
    if not name:
        raise ValueError(f"target must be 'module:function'; got {target!r}")
    return getattr(importlib.import_module(module), name)(args)


def _as_pair(result: Any) -> tuple[float | None, np.ndarray]:
    """A call returns an array (the gradient) or (value, gradient)."""
    if isinstance(result, tuple):
        return float(np.asarray(result[0])), np.asarray(result[1], dtype=np.float64)
    return None, np.asarray(result, dtype=np.float64)


def _run_one(target: str, args: dict[str, Any], rounds: int, budget_s: float) -> dict[str, Any]:
    from toyad.bench.turns import turns  # a run's jobs take turns to time (TOYAD_TURNS)

    call = _build(target, args)
    start = time.perf_counter()
    call()  # warm: compilation, kernel caches, lazy imports
    first_s = time.perf_counter() - start
    with turns().exclusive():  # the peak and the rounds: alone on the machine
        start = time.perf_counter()
        result, peak, baseline = rss_peak(call)
        steady_s = time.perf_counter() - start  # a warm call (plus a gc and a trim)
        value, grad = _as_pair(result)
        times = []
        wanted = min(rounds, max(3, int(budget_s / max(steady_s, 1e-9))))  # 0 rounds: untimed
        gc.disable()
        try:
            for _ in range(wanted):
                start = time.perf_counter()
                call()
                times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    del call
    return {
        "ok": True,
        "peak_bytes": peak,
        "baseline_bytes": baseline,
        "times_s": times,
        "first_s": first_s,
        "value": value,
        "result": grad.tolist(),
    }


def _preload(argv: list[str]) -> set[int] | None:
    """``[--threads N] [--import-cpus 0,2] module ...``: threads pinned, then the modules
    imported, before the request arrives (a worker started early does its imports while
    it waits), on ``--import-cpus`` if given. Returns the CPU mask to measure on (the
    one the worker was started with) when the imports ran elsewhere."""
    from toyad import runtime

    threads = cpus = None
    while argv[:1] in (["--threads"], ["--import-cpus"]):
        if argv[0] == "--threads":
            threads = int(argv[1])
        else:
            cpus = {int(c) for c in argv[1].split(",") if c}
        argv = argv[2:]
    runtime.configure(threads)
    measure_on = None
    if cpus and hasattr(os, "sched_getaffinity"):
        measure_on = os.sched_getaffinity(0)
        runtime.set_affinity(cpus)
    for module in argv:
        with contextlib.suppress(Exception):  # (the case that needs it meets the error)
            importlib.import_module(module)
    return measure_on


def worker_main(stdin: Any = None, stdout: Any = None, argv: list[str] | None = None) -> int:
    """The child: imports what its command line names (see :func:`start_worker`), then
    reads {"cases": [{"target", "args"}], "rounds", "budget_s"} as JSON and writes one
    JSON line per case (errors included), in order."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    measure_on = _preload(list(argv or []))
    text = stdin.read()
    if not text.strip():  # started early and never asked (the run ended first)
        return 0
    if measure_on:  # back where its parent measures (threads the imports made too)
        from toyad import runtime

        runtime.set_affinity(measure_on)
    request = json.loads(text)
    from toyad import runtime

    runtime.configure(request.get("threads"))  # (no-op when _preload pinned them)
    for case in request["cases"]:
        try:
            line = _run_one(
                case["target"], case.get("args", {}), request["rounds"], request["budget_s"]
            )
        except BaseException as exc:  # noqa: BLE001 - every failure becomes that case's record
            line = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        stdout.write(json.dumps(line) + "\n")
        stdout.flush()
    return 0


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"


def start_worker(
    preload: Sequence[str] = (),
    threads: int | None = None,
    import_cpus: Sequence[int] = (),
) -> subprocess.Popen:
    """A fresh worker process, started now: it pins its threads and imports ``preload``
    (modules: a framework, the targets' module), then waits for the request that
    :func:`subprocess_peak` sends it. Imports take seconds (TensorFlow ~4 s): a worker
    started before it is needed does them while the caller works -- on
    ``import_cpus`` (the CPUs the caller is not timing on), measuring later on the CPUs
    it inherited."""
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    argv = [sys.executable, "-m", "toyad.memory"]
    if threads is not None:
        argv += ["--threads", str(threads)]
    if import_cpus:
        argv += ["--import-cpus", ",".join(str(c) for c in import_cpus)]
    return subprocess.Popen(
        [*argv, *preload],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=root,
        env=env,
    )


def subprocess_peak(
    cases: list[tuple[str, dict[str, Any]]],
    *,
    rounds: int = 5,
    budget_s: float = 0.5,
    timeout_s: float = 300.0,
    threads: int | None = None,
    worker: subprocess.Popen | None = None,
) -> list[Outcome]:
    """Measure each (target, args) case in ONE fresh worker process, in order.

    ``target`` is "module:function"; ``function(args)`` builds the case and
    returns a zero-argument callable doing the gradient (returning it, or
    (value, gradient)). For one case per process, call this once per case.
    ``worker``: a process from :func:`start_worker` that has not had a request
    yet (else one is started here). A worker that dies leaves the cases it did
    not finish as errors carrying the last line of its stderr.
    """
    request = {
        "cases": [{"target": t, "args": a} for t, a in cases],
        "rounds": rounds,
        "budget_s": budget_s,
        "threads": threads,
    }
    proc = worker if worker is not None else start_worker(threads=threads)
    try:
        stdout, stderr = proc.communicate(json.dumps(request), timeout=timeout_s)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, _ = proc.communicate()
        stderr, code = f"worker timed out after {timeout_s:g} s", None
    except OSError as exc:  # (a worker that died before its request: a broken pipe)
        proc.kill()
        stdout, stderr = proc.communicate()
        stderr, code = f"{stderr}\n{type(exc).__name__}: {exc}", proc.returncode
    outcomes = []
    for line in stdout.splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if data.get("ok"):
            outcomes.append(
                Outcome(
                    ok=True,
                    peak_bytes=int(data["peak_bytes"]),
                    baseline_bytes=int(data["baseline_bytes"]),
                    times_s=list(data["times_s"]),
                    result=np.asarray(data["result"], dtype=np.float64),
                    value=data["value"],
                    info={"first_s": data["first_s"]},
                )
            )
        else:
            outcomes.append(Outcome(ok=False, error=data.get("error", "unknown error")))
    if len(outcomes) < len(cases):
        why = _last_line(stderr)
        if code not in (0, None):
            why = f"worker exited with code {code}: {why}"
        outcomes += [Outcome(ok=False, error=why) for _ in range(len(cases) - len(outcomes))]
    return outcomes


# -- targets the worker can build --------------------------------------------------------


def allocation_probe(args: dict[str, Any]) -> Callable[[], Any]:
    """A known allocation (self-check): np.ones(floats) -> its sum; "crash" raises."""
    if args.get("crash"):
        raise RuntimeError(args["crash"])
    floats = int(args["floats"])

    def call() -> Any:
        if args.get("exit"):
            os._exit(int(args["exit"]))
        return np.asarray([float(np.ones(floats).sum())])

    return call


if __name__ == "__main__":
    sys.exit(worker_main(argv=sys.argv[1:]))
