#!/usr/bin/env bash
# The whole test suite: unit tests, plus every benchmark run once
# (--benchmark-disable) so its accuracy assertions are tests too.
source "$(dirname "$0")/env.sh"
exec python -m pytest tests benchmarks --benchmark-disable -q "$@"
