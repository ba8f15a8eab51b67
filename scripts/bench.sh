#!/usr/bin/env bash
# The main job: run the benchmark suites (default profile: quick) and write
# the report to reports/<timestamp>-<commit>/ and reports/latest/.
source "$(dirname "$0")/env.sh"
exec python -m pytest benchmarks --benchmark-only --benchmark-quiet -q "$@"
