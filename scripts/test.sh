#!/usr/bin/env bash
# The whole test suite: unit tests, plus every benchmark run once
# (--benchmark-disable) so its accuracy assertions are tests too; on every core
# (pytest-xdist, work stealing: a worker left idle takes tests queued for the
# other; TOYAD_TEST_WORKERS=1 for one process). PYTHONHASHSEED is fixed so
# that every worker collects the same parametrisations.
#
# JAX keeps the programs it compiles on disk between test runs (its persistent cache,
# ~12 MB in the user's cache folder; every eager op is a program): the first run on a
# machine fills it, later runs load instead of compiling. Only here: a timed run
# (scripts/bench.sh) compiles afresh, so its prepare times are cold ones.
source "$(dirname "$0")/env.sh"
export PYTHONHASHSEED=${PYTHONHASHSEED:-0}
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/toyad/jax-tests}
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=${JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS:-0}
export JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=${JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES:-0}
exec python -m pytest tests benchmarks --benchmark-disable -q -n "${TOYAD_TEST_WORKERS:-auto}" --dist worksteal "$@"
