"""The harness API the suites use, from the package (``toyad.bench``).

The machinery lives in ``toyad.bench`` (a pytest plugin: ``toyad.bench.plugin``);
this module keeps the suites' and tests' ``from benchmarks import harness``
spelling working. See ``toyad.bench.harness`` for the API.
"""

from toyad.bench.accuracy import *  # noqa: F403
from toyad.bench.accuracy import TINY, ShapeMismatch  # noqa: F401
from toyad.bench.analysis import *  # noqa: F403
from toyad.bench.environment import *  # noqa: F403
from toyad.bench.harness import *  # noqa: F403
from toyad.bench.harness import _family_of_missing  # noqa: F401
from toyad.bench.limits import *  # noqa: F403
from toyad.bench.measure import *  # noqa: F403
from toyad.bench.measure import _is_sync_pending  # noqa: F401
from toyad.bench.profiles import *  # noqa: F403
from toyad.bench.publish import *  # noqa: F403
from toyad.bench.selection import *  # noqa: F403
