"""The shape of a run's results: what the harness writes, what reports read.

A run is a pytest-benchmark JSON file whose top level gains a ``"toyad"``
object (added by the harness's ``pytest_benchmark_update_json`` hook or
written directly at session end):

    {
      "machine_info": {...}, "commit_info": {...}, "benchmarks": [...],
      "datetime": "...", "version": "...",            # pytest-benchmark's own
      "toyad": {
        "schema": 1,
        "profile": "quick",
        "started": "2026-11-26T13:50:00+00:00",
        "duration_s": 123.4,
        "environment": {"python": ..., "numpy": ..., "threads": 1, "cpu": ...,
                         "commit": ..., "gc": "disabled during timing", ...},
        "cases": [ {<CASE_COLUMNS>}, ... ],            # every case, timed or not
        "semantics": [ {<SEMANTICS_COLUMNS>}, ... ]     # native answers table
      }
    }

``cases`` holds one record per backend x problem x operation x mode x n x m
(x step for numeric step sweeps, x checkpoint for memory runs), including the
ones that were unsupported, wrong, errored or skipped: nothing is dropped.
Timing fields are None where nothing was timed (``--benchmark-disable``).
"""

from __future__ import annotations

STATUSES = ("ok", "wrong", "unsupported", "error", "skipped-too-slow", "skipped-too-large")

CASE_COLUMNS = (
    "suite",  # accuracy | scaling | hessians | overhead | per-op | memory | convenience | ...
    "backend",
    "family",  # toy | analytic | tensorflow | jax | torch | peer
    "variant",  # eager | jit | function | ... ("" for toys)
    "problem",
    "operation",  # primal | gradient | jacobian | hessian | jvp | vjp
    "mode",  # forward | reverse | forward-over-reverse | ...
    "n",
    "m",
    "preset",  # a named size (GradBench's description, "tiny"), "" for n/m sizes
    "median_s",
    "min_s",
    "mean_s",
    "iqr_s",
    "stddev_s",
    "rounds",
    "max_rel_error",
    "tolerance",
    "reference",  # what the result is checked against: analytic | agreement(A,B) | numeric | none
    "status",
    "message",
    "primal_s",  # median time of the primal in the same backend
    "ratio_to_primal",  # median_s / primal_s
    "passes",  # primal-equivalent passes the method makes
    "ops",  # elementary operations in the graph (per-op suite), else None
    "step",  # finite-difference step (step-sweep suite), else None
    "peak_bytes",  # peak memory (memory suite), else None
    "memory_method",  # tracemalloc | rss-subprocess | ...
    "checkpoint",  # none | every_k | sqrt | revolve (memory suite)
    "gc",  # "off" | "on" during timing
    "strategy",  # vectorised | loop | per-op | single: how the backend carries the passes
    "prepare_s",  # the untimed preparation (tracing, jit, building), seconds
    "warmup_calls",  # untimed calls made before timing (until successive calls agreed)
    "empty_call_s",  # the backend's empty prepared call (per-call overhead), median seconds
    "ratio_net",  # (median_s - empty_call_s) / (primal_s - empty_call_s): work, not dispatch
    "overhead_bound",  # True when the primal is within 10x the empty call (ratio is dispatch)
    "rss_peak_bytes",  # the process's peak resident memory during the case
    "wall_s",  # the whole case's wall-clock time: prepare, warm-up, rounds, primal
    "machine_slowdown",  # speed probe around the timed rounds / its recent median (1 = usual)
    "nodeid",  # the pytest test id
    "machine",  # the machine's label (TOYAD_MACHINE, else its hostname): runs merge by it
    "call",  # convenience suite: prepared | native (framework array in/out) | convenience (numpy)
    "ratio",  # median_s over a baseline row's, named by ratio_of
    "ratio_of",  # native|convenience ÷ prepared | tensor ÷ numpy by hand | micrograd ÷ engine
    # where a case's wall_s went, beside prepare_s (the rest: checks, probe, release)
    "first_call_s",  # the first, checked call (one-off costs: kernels compiled per shape)
    "warmup_s",  # the untimed calls after it, until successive calls agreed
    "timed_s",  # the timed rounds, wall clock
    "primal_timing_s",  # preparing, calling and timing the primal here (ratio, cap prediction)
    "reference_s",  # computing the analytic reference checked against (0: another case's)
    "release_s",  # after the case: its builds dropped (and every cache, when it kept much)
    "same_as",  # the test item whose measurement this row is (another suite lists it too)
)

# The fields that tell one case from another within a run (compare matches runs on
# them; merge adds the nodeid, since a test item may record several rows).
CASE_IDENTITY = (
    "suite",
    "backend",
    "problem",
    "operation",
    "mode",
    "n",
    "m",
    "preset",
    "step",
    "checkpoint",
    "gc",
    "memory_method",
    "call",
)

# Per-case fields kept in the run JSON (and journal) but not in results.csv.
EXTRA_CASE_FIELDS = ("samples_s",)  # per-round seconds of the timed rounds

SEMANTICS_COLUMNS = (
    "case",  # e.g. "unused-input", "abs-at-0", "log-0"
    "description",
    "backend",
    "family",
    "kind",  # value | none | exception | unsupported
    "answer",  # printed value, "None", or "ExcType: message"
    "expected",  # the documented/mathematical truth, "" if none
    "agrees",  # True/False, None where there is no single truth
)

# The message of a case a run budget left unrun starts with this (a guard rail that cut).
BUDGET_CUT_PREFIX = "not run: the run budget"


def budget_cut(record: dict) -> bool:
    """Whether a run budget left this case unrun."""
    return str(record.get("message") or "").startswith(BUDGET_CUT_PREFIX)
