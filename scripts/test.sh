#!/usr/bin/env bash
# The whole test suite: unit tests, plus every benchmark run once
# (--benchmark-disable) so its accuracy assertions are tests too; on every core
# (pytest-xdist, work stealing: a worker left idle takes tests queued for the
# other; TOYAD_TEST_WORKERS=1 for one process). PYTHONHASHSEED is fixed so
# that every worker collects the same parametrisations.
source "$(dirname "$0")/env.sh"
export PYTHONHASHSEED=${PYTHONHASHSEED:-0}
exec python -m pytest tests benchmarks --benchmark-disable -q -n "${TOYAD_TEST_WORKERS:-auto}" --dist worksteal "$@"
