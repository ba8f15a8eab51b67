"""A test that kills the dask worker running its shard, for tests/test_cluster.py only.

Not collected by default (the name does not match test_*.py); test_cluster.py passes
this file on the command line with TOYAD_TEST_KILL_WORKER=1. The shard's pytest runs
in a subprocess of the worker process, so its parent is the worker.
"""

from __future__ import annotations

import os
import signal


def test_kill_my_worker():
    if os.environ.get("TOYAD_TEST_KILL_WORKER") == "1":
        os.kill(os.getppid(), signal.SIGKILL)
        os._exit(1)
