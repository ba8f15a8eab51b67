"""Memory (suite "memory"): peak memory of one gradient of a tanh chain as L grows.

The workload (``toyad.memory``): x_i = tanh(W_i x_{i-1}), i = 1..L, width
w = 256, loss Σ x_L, gradient with respect to the input x, checked against
the hand-written backprop (``chain_value_and_gradient``). Records: backend,
mode, ``n`` = L, ``m`` = 1, problem ``tanh_chain_w256``, ``peak_bytes``,
``memory_method``, ``checkpoint``, ``passes`` = layer evaluations / L.

- ``tensor`` reverse: ``toyad.tensor.checkpoint`` with strategies none,
  every_k (k = 8), sqrt (k = ⌈√L⌉), revolve (budget ⌈√L⌉ stored states);
  forward: ``jacfwd`` (w tangents in one pass, flat in L). Measured in
  process with tracemalloc (one extra call), timed with the harness.
  Checkpointed gradients must equal the unchecked tape's bit for bit
  (np.array_equal), else the case is "wrong".
- frameworks, reverse, checkpoint none and sqrt: ``jax-jit`` (lax.scan;
  ``jax.checkpoint`` on √L-layer inner scans), ``torch-autograd``
  (``checkpoint_sequential``, use_reentrant=False), ``tf-eager``
  (GradientTape; ``tf.recompute_grad`` per segment). Peak RSS in a worker
  process (``toyad.memory.subprocess_peak``), timed there: a fresh process
  per case in the full profile (``rss-subprocess``), one per framework for
  its cases in the quick one (``rss-subprocess-shared``: the high-water mark
  is reset between cases, the weights are kept, sqrt runs before none; checked
  against fresh processes at L = 256: within ~20%). Workers run one at a time while timing, two at a
  time under --benchmark-disable.
"""

from __future__ import annotations

import atexit
import math
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from benchmarks import harness
from toyad import memory, runtime
from toyad.backends import missing_package

WIDTH = 256
PROBLEM = f"tanh_chain_w{WIDTH}"
EVERY_K = 8
TENSOR_LAYERS = {"quick": (16, 64, 256), "full": (16, 64, 256, 1024)}
FORWARD_LAYERS = {"quick": (16, 64), "full": (16, 64, 256)}  # w tangents: w³ flops a layer
FRAMEWORK_LAYERS = {"quick": (64,), "full": (16, 64, 256, 1024)}
STRATEGIES = ("none", "every_k", "sqrt", "revolve")
FRAMEWORKS = {"jax-jit": "jax", "torch-autograd": "torch", "tf-eager": "tensorflow"}
# sqrt first: in a shared worker the later case may reuse the earlier one's freed
# memory without growing the RSS, so the smaller peak goes first.
FRAMEWORK_STRATEGIES = ("sqrt", "none")
SUBPROCESS_ROUNDS = {"quick": 5, "full": 10}


def sqrt_k(layers: int) -> int:
    """⌈√L⌉: the segment length of the sqrt strategy."""
    return math.isqrt(layers - 1) + 1


@dataclass(frozen=True)
class MemoryCase:
    backend: str
    mode: str
    layers: int
    checkpoint: str

    @property
    def id(self) -> str:
        return f"{self.backend}-{self.mode}-L{self.layers}-{self.checkpoint}"


def memory_cases(h: harness.Harness) -> list[MemoryCase]:
    profile = h.profile.name
    cases = []
    if "tensor" in h.backend_names:
        for L in TENSOR_LAYERS[profile]:
            cases += [MemoryCase("tensor", "reverse", L, s) for s in STRATEGIES]
        cases += [MemoryCase("tensor", "forward", L, "none") for L in FORWARD_LAYERS[profile]]
    for backend in FRAMEWORKS:
        if backend in h.backend_names:
            for L in FRAMEWORK_LAYERS[profile]:
                cases += [MemoryCase(backend, "reverse", L, s) for s in FRAMEWORK_STRATEGIES]
    return cases


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "memory_case" in metafunc.fixturenames:
        h = harness.harness_of(metafunc.config)
        cases = memory_cases(h)
        metafunc.parametrize("memory_case", cases, ids=[c.id for c in cases])
        h.when_selected("memory", start_workers_early)


# -- the chain per engine (the framework builders run in the worker process) ----------


class Chain:
    """Weights, input and the analytic answer of the chain at (L, w), built once."""

    _cache: dict[tuple[int, int], Chain] = {}

    def __init__(self, layers: int, width: int):
        self.weights = memory.chain_weights(layers, width)
        self.x = memory.chain_input(width)
        self.value, self.gradient = memory.chain_value_and_gradient(self.weights, self.x)

    @classmethod
    def get(cls, layers: int, width: int = WIDTH) -> Chain:
        if (layers, width) not in cls._cache:
            cls._cache.clear()  # one at a time: L = 1024 weights take 512 MiB
            cls._cache[(layers, width)] = cls(layers, width)
        return cls._cache[(layers, width)]


_WORKER_WEIGHTS: dict[tuple[int, int], np.ndarray] = {}


def worker_weights(layers: int, width: int) -> np.ndarray:
    """The chain's weights in a worker, kept across its cases (freeing them between
    cases would leave memory that the next case reuses without growing the RSS)."""
    if (layers, width) not in _WORKER_WEIGHTS:
        _WORKER_WEIGHTS[(layers, width)] = memory.chain_weights(layers, width)
    return _WORKER_WEIGHTS[(layers, width)]


def tensor_layers(weights: np.ndarray) -> list:
    from toyad.tensor import xp

    return [lambda t, w_i=w_i: xp.tanh(w_i @ t) for w_i in weights]


def jax_chain(args: dict[str, Any]):
    """jax.jit(jax.grad) of the chain as a lax.scan; sqrt: jax.checkpoint on √L-layer scans."""
    import jax
    import jax.numpy as jnp

    L, k = args["layers"], sqrt_k(args["layers"])
    weights = jnp.asarray(worker_weights(L, args["width"]))
    x = jnp.asarray(memory.chain_input(args["width"]))

    def layer(state, w_i):
        return jnp.tanh(w_i @ state), None

    def run(state, ws):
        return jax.lax.scan(layer, state, ws)[0]

    if args["checkpoint"] == "none":

        def loss(x, ws):
            return jnp.sum(run(x, ws))
    else:
        segment = jax.checkpoint(lambda state, seg: (run(state, seg), None))
        full = (L // k) * k

        def loss(x, ws):
            blocks = ws[:full].reshape(L // k, k, *ws.shape[1:])
            state = jax.lax.scan(segment, x, blocks)[0]
            if full < L:
                state = segment(state, ws[full:])[0]
            return jnp.sum(state)

    grad = jax.jit(jax.grad(loss))
    return lambda: np.asarray(grad(x, weights).block_until_ready())


def torch_chain(args: dict[str, Any]):
    """torch.autograd.grad through an nn.Sequential; sqrt: checkpoint_sequential, √L segments."""
    import torch
    from torch.utils.checkpoint import checkpoint_sequential

    L = args["layers"]
    weights = torch.from_numpy(worker_weights(L, args["width"]))
    x0 = torch.from_numpy(memory.chain_input(args["width"]))

    class Tanh(torch.nn.Module):
        def __init__(self, w_i: torch.Tensor):
            super().__init__()
            self.register_buffer("w_i", w_i)

        def forward(self, state: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.w_i @ state)

    chain = torch.nn.Sequential(*(Tanh(weights[i]) for i in range(L)))
    segments = math.ceil(L / sqrt_k(L))

    def call():
        x = x0.clone().requires_grad_(True)
        if args["checkpoint"] == "none":
            y = chain(x)
        else:
            y = checkpoint_sequential(chain, segments, x, use_reentrant=False)
        (g,) = torch.autograd.grad(y.sum(), x)
        return g.numpy()

    return call


def tf_chain(args: dict[str, Any]):
    """tf.GradientTape in eager mode; sqrt: tf.recompute_grad on each √L-layer segment."""
    import tensorflow as tf

    L, k = args["layers"], sqrt_k(args["layers"])
    weights = worker_weights(L, args["width"])
    ws = [tf.constant(w_i) for w_i in weights]  # one tensor a layer: slicing would copy
    x = tf.constant(memory.chain_input(args["width"]))

    def run(state, start, stop):
        for w_i in ws[start:stop]:
            state = tf.tanh(tf.linalg.matvec(w_i, state))
        return state

    if args["checkpoint"] == "none":
        segments = [lambda s: run(s, 0, L)]
    else:
        segments = [
            tf.recompute_grad(lambda s, a=a: run(s, a, min(a + k, L))) for a in range(0, L, k)
        ]

    def call():
        with tf.GradientTape() as tape:
            tape.watch(x)
            state = x
            for segment in segments:
                state = segment(state)
            loss = tf.reduce_sum(state)
        return tape.gradient(loss, x).numpy()

    return call


TARGETS = {
    "jax-jit": "benchmarks.bench_memory:jax_chain",
    "torch-autograd": "benchmarks.bench_memory:torch_chain",
    "tf-eager": "benchmarks.bench_memory:tf_chain",
}


# -- worker scheduling ---------------------------------------------------------------------


class Workers:
    """The framework cases' worker processes.

    quick: one worker per framework for all its cases, started (its imports) as soon
    as the run knows it has memory cases, measuring when the suite's first framework
    case asks; full: one fresh process per case, started when the suite asks.
    Workers measure one at a time while timing, two at a time under
    --benchmark-disable. Results are futures keyed by case, so every test takes its own.
    """

    def __init__(self, h: harness.Harness, cases: list[MemoryCase]):
        self.shared = h.profile.name == "quick"
        self.method = "rss-subprocess-shared" if self.shared else "rss-subprocess"
        self.rounds = SUBPROCESS_ROUNDS[h.profile.name] if h.timing else 0
        self.budget_s = h.profile.budget_s * 10
        self.pool = ThreadPoolExecutor(max_workers=1 if h.timing else 2)
        self.futures: dict[MemoryCase, Future] = {}
        groups: dict[Any, list[MemoryCase]] = {}
        for case in cases:
            groups.setdefault(case.backend if self.shared else case, []).append(case)
        # the slowest worker (TensorFlow: ~4 s to import) first, so two at a time pack well
        order = {name: i for i, name in enumerate(("tf-eager", "torch-autograd", "jax-jit"))}
        self.groups = sorted(groups.values(), key=lambda g: order[g[0].backend])
        self.processes: list[subprocess.Popen | None] = [
            memory.start_worker(
                preload=(TARGETS[g[0].backend].partition(":")[0], FRAMEWORKS[g[0].backend]),
                import_cpus=sorted(runtime.idle_cpus()),  # not on the CPU the run times on
            )
            if self.shared
            else None
            for g in self.groups
        ]
        atexit.register(self.close)

    def start(self) -> None:
        """Send the workers their cases (once)."""
        if self.futures:
            return
        for group, process in zip(self.groups, self.processes):
            jobs = [(TARGETS[c.backend], _worker_args(c)) for c in group]
            future = self.pool.submit(
                memory.subprocess_peak,
                jobs,
                rounds=self.rounds,
                budget_s=self.budget_s,
                worker=process,
            )
            for i, case in enumerate(group):
                self.futures[case] = _pick(future, i)

    def outcome(self, case: MemoryCase) -> memory.Outcome:
        self.start()
        return self.futures[case].result()

    def close(self) -> None:
        """Stop workers that never got their cases (a run cut short, a deselection)."""
        if self.futures:
            return
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.kill()
                process.communicate()


def _worker_args(case: MemoryCase) -> dict[str, Any]:
    return {"layers": case.layers, "width": WIDTH, "checkpoint": case.checkpoint}


def _pick(future: Future, index: int) -> Future:
    picked: Future = Future()

    def done(f: Future) -> None:
        try:
            picked.set_result(f.result()[index])
        except Exception as exc:
            picked.set_result(memory.Outcome(ok=False, error=f"{type(exc).__name__}: {exc}"))

    future.add_done_callback(done)
    return picked


_WORKERS: dict[int, Workers] = {}


def start_workers_early(h: harness.Harness) -> None:
    """Timing a quick run: the shared workers start (import) while other suites run."""
    if h.timing:
        workers_for(h)


def workers_for(h: harness.Harness) -> Workers:
    if id(h) not in _WORKERS:
        runnable = [
            c
            for c in memory_cases(h)
            if c.backend in FRAMEWORKS and missing_package(c.backend) is None
        ]
        _WORKERS[id(h)] = Workers(h, runnable)
    return _WORKERS[id(h)]


# -- the tests -----------------------------------------------------------------------------

_UNCHECKED: dict[tuple[str, int], tuple[np.ndarray, float | None]] = {}


# framework cases are timed in their worker, not through the fixture
@pytest.mark.filterwarnings("ignore:Benchmark fixture was not used")
def test_memory(benchmark, toyad_harness, memory_case):
    h, case = toyad_harness, memory_case
    if not h.timing:  # nothing timed: the framework workers may run beside the tensor cases
        workers_for(h)
    spec = harness.CaseSpec("memory", case.backend, PROBLEM, "gradient", case.mode, case.layers, 1)
    benchmark.group = f"memory: {PROBLEM} gradient L={case.layers}"
    record = h.new_record(spec, benchmark)
    record.update(checkpoint=case.checkpoint, tolerance=harness.EXACT_TOLERANCE)
    try:
        if case.backend == "tensor":
            status, message = _tensor_case(h, benchmark, case, record)
        else:
            status, message = _framework_case(h, case, record)
    except Exception as exc:  # a failure anywhere still leaves a record
        status, message = "error", f"{type(exc).__name__}: {exc}"
    h.conclude(record, benchmark, status, message)


def _tensor_case(h, benchmark, case: MemoryCase, record: dict) -> tuple[str, str]:
    from toyad.tensor import checkpoint, jacfwd, xp

    record.update(family="toy", variant="", memory_method="tracemalloc")
    chain = Chain.get(case.layers)
    layers = tensor_layers(chain.weights)
    L, state = case.layers, memory.layer_state_bytes(WIDTH)
    if case.mode == "forward":

        def f(t):
            for layer in layers:
                t = layer(t)
            return xp.sum(t)

        def call():
            return jacfwd(f, chain.x)

        record["passes"] = 1.0
    else:
        options = {"every_k": {"k": EVERY_K}, "revolve": {"budget": sqrt_k(L)}}
        kwargs = options.get(case.checkpoint, {})

        def call():
            return checkpoint.value_and_grad(layers, chain.x, strategy=case.checkpoint, **kwargs)

    result, first_s = h.first_call(benchmark, call)
    _, peak = memory.tracemalloc_peak(call)
    record["peak_bytes"] = peak
    grad = result if case.mode == "forward" else result.grad
    error = harness.max_rel_error(grad, chain.gradient)
    record["max_rel_error"] = error
    notes = [f"w={WIDTH}", f"peak {peak / state:.1f} layer-states of {state} B"]
    status = harness.status_for(error, harness.EXACT_TOLERANCE)
    if status != "ok":
        return status, f"max relative error {error:.3g}; " + "; ".join(notes)
    if h.timing:
        timing = h.measure(benchmark, call, first_s)
        record.update(timing.as_record())
    if case.mode == "reverse":
        stats = result.stats
        record["passes"] = round((stats.forward_calls + stats.taped_calls) / L, 3)
        notes.append(
            f"{stats.max_states} states held at most ({stats.max_stored} checkpoints, "
            f"{stats.max_taped} taped), {stats.recomputed} layers recomputed"
        )
        key = ("tensor", L)
        if case.checkpoint == "none":
            _UNCHECKED[key] = (grad, record["median_s"])
        elif key in _UNCHECKED:
            unchecked, unchecked_s = _UNCHECKED[key]
            if not np.array_equal(grad, unchecked):
                return "wrong", "gradient differs from the unchecked tape's; " + "; ".join(notes)
            notes.append("bit-identical to the unchecked tape")
            if unchecked_s and record["median_s"]:
                notes.append(f"time {record['median_s'] / unchecked_s:.2f}x unchecked")
        if case.checkpoint == "sqrt":
            bound = 3 * math.sqrt(L)
            verdict = "met" if peak <= bound * state else "MISSED"
            notes.append(f"target peak <= 3√L = {bound:.0f} layer-states: {verdict}")
    return "ok", "; ".join(notes)


def _framework_case(h, case: MemoryCase, record: dict) -> tuple[str, str]:
    family = FRAMEWORKS[case.backend]
    record.update(
        family={"tensorflow": "tensorflow"}.get(family, family),
        variant=case.backend.split("-", 1)[1],
    )
    missing = missing_package(case.backend)
    if missing:
        return "unsupported", f"{missing} is not installed (pip install -e '.[frameworks]')"
    workers = workers_for(h)
    record["memory_method"] = workers.method
    outcome = workers.outcome(case)
    if not outcome.ok:
        return "error", f"worker: {outcome.error}"
    chain = Chain.get(case.layers)
    record["peak_bytes"] = outcome.peak_bytes
    error = harness.max_rel_error(outcome.result, chain.gradient)
    record["max_rel_error"] = error
    state = memory.layer_state_bytes(WIDTH)
    message = (
        f"w={WIDTH}; peak {outcome.peak_bytes / state:.1f} layer-states of {state} B above "
        f"a baseline RSS of {outcome.baseline_bytes / 2**20:.0f} MiB"
    )
    if outcome.times_s:
        times = np.asarray(outcome.times_s)
        q1, q3 = np.percentile(times, [25, 75])
        record.update(
            median_s=float(np.median(times)),
            min_s=float(times.min()),
            mean_s=float(times.mean()),
            iqr_s=float(q3 - q1),
            stddev_s=float(times.std(ddof=1)) if times.size > 1 else 0.0,
            rounds=int(times.size),
            gc="off",
        )
    status = harness.status_for(error, harness.EXACT_TOLERANCE)
    if status != "ok":
        return status, f"max relative error {error:.3g}; {message}"
    return "ok", message
