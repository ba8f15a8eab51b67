"""The benchmark harness's machinery that lives in the package.

toyad.bench.journal   each finished case appended to the run folder as it completes;
                      a killed run's folder still reports, and ``--resume`` continues it
toyad.bench.guard     per-case hard limits on wall-clock time and resident memory
"""
