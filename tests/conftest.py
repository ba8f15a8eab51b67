"""The unit tests' set-up.

Under pytest-xdist (the test command runs on every core) a worker carries
``PYTEST_XDIST_*`` in its environment, and a pytest *subprocess* started by a
test (the plugin's end-to-end tests) would inherit them and believe it is a
worker too: pytest-benchmark then refuses ``--benchmark-only``. The worker has
read them by the time this file loads; the subprocesses must not see them.
"""

import os

for _name in [n for n in os.environ if n.startswith("PYTEST_XDIST_")]:
    del os.environ[_name]
