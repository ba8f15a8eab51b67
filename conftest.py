"""This repository's pytest set-up: threads and float64 fixed before anything loads a
framework, and the toyad plugin (``toyad.bench.plugin``, also registered by the
package's ``pytest11`` entry point) for a checkout run without installing.

    pytest benchmarks --benchmark-only                 # quick profile, report in reports/
    pytest tests benchmarks --benchmark-disable        # each case once: accuracy as tests
"""

from toyad import runtime

# Threads and float64 are fixed before anything can import a framework.
runtime.configure()

pytest_plugins = [] if "toyad.bench.plugin" in __import__("sys").modules else ["toyad.bench.plugin"]
