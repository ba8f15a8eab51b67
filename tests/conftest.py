"""The unit tests' set-up (xdist variables, CPU pinning).

Under pytest-xdist (the test command runs on every core) a worker carries
``PYTEST_XDIST_*`` in its environment, and a pytest *subprocess* started by a
test (the plugin's end-to-end tests) would inherit them and believe it is a
worker too: pytest-benchmark then refuses ``--benchmark-only``. The worker has
read them by the time this file loads; the subprocesses must not see them.
"""

import os

for _name in [n for n in os.environ if n.startswith("PYTEST_XDIST_")]:
    del os.environ[_name]

# The timed pytest subprocesses these tests start would each pin themselves to the same
# (last) CPU (toyad.runtime.pin_cpu): two workers' subprocesses would then share one core.
# The tests check what a run records, not how fast; the pinning test sets its own.
os.environ.setdefault("TOYAD_CPU", "none")
os.environ.setdefault("TOYAD_JOBS", "1")  # (a test that wants jobs asks for them)
