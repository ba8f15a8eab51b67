"""Time and memory caps predicted from smaller sizes: skip what cannot fit."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from functools import partial

GUARANTEED_TIMEOUT_FACTOR = 8.0
# Worst cost growth per size axis, for extrapolating to a size not yet run: a
# dense Jacobian costs ~n passes of an O(nm) primal (n^2 m); a Hessian ~n^2
# column passes of an O(n) primal for nested forward mode (n^3).
GROWTH_EXPONENT = {"hessian": 3.0}


class SlowRegistry:
    """Per key (backend, problem, operation, mode): one-call times by size, and the cap."""

    def __init__(self, cap_s: float, factor: float = GUARANTEED_TIMEOUT_FACTOR):
        self.cap_s, self.factor = cap_s, factor
        # (n, m, data bytes or None where unknown, seconds)
        self._times: dict[tuple, list[tuple[int, int, int | None, float]]] = defaultdict(list)
        self._bytes: dict[tuple, list[tuple[int, int, int]]] = defaultdict(list)

    def note(self, key: tuple, n: int, m: int, seconds: float, data: int | None = None) -> None:
        """One call of ``key`` at (n, m) took ``seconds``; ``data``: the bytes of its input
        and constants (a workload's size may grow in its data alone: more points, a longer
        text, at the same n and m)."""
        self._times[key].append((n, m, data, seconds))

    def note_memory(self, key: tuple, n: int, m: int, grown_bytes: int) -> None:
        """How far the case drove the resident set above where it started."""
        self._bytes[key].append((n, m, int(grown_bytes)))

    def memory_verdict(
        self,
        key: tuple,
        n: int,
        m: int,
        available: int,
        weight: Callable[[int, int], float] | None = None,
    ) -> str | None:
        """Why (n, m) should be skipped-too-large, or None: the nearest smaller size that
        grew memory measurably (>= MEMORY_NOTICE_BYTES), scaled by ``weight`` (how memory
        grows with (n, m): :func:`memory_weight`; by default n·m, n² for Hessians),
        would need more than ``available``."""
        nearest = self._nearest_growth(key, n, m, weight, MEMORY_NOTICE_BYTES)
        if nearest is None:
            return None
        n0, m0, b, predicted = nearest
        if predicted > available:
            return (
                f"skipped: n={n0}, m={m0} grew the resident set by {b / 2**30:.2f} GiB; "
                f"scaled to this size {predicted / 2**30:.2f} GiB, over the "
                f"{max(available, 0) / 2**30:.2f} GiB left under the memory limit"
            )
        return None

    def memory_need(
        self, key: tuple, n: int, m: int, weight: Callable[[int, int], float] | None = None
    ) -> float | None:
        """What (n, m) is expected to add to the resident set: the nearest smaller size's
        growth, scaled by ``weight``; 0 for a case too small to matter (weight at most
        LIGHT_WEIGHT) that has no smaller size yet; None when unknown."""
        nearest = self._nearest_growth(key, n, m, weight, 0)
        if nearest is not None:
            return nearest[3]
        weight = weight or _default_weight(key)
        return 0.0 if weight(n, m) <= LIGHT_WEIGHT else None

    def _nearest_growth(
        self,
        key: tuple,
        n: int,
        m: int,
        weight: Callable[[int, int], float] | None,
        at_least: int,
    ) -> tuple[int, int, int, float] | None:
        """(n0, m0, grown bytes, predicted bytes here) of the nearest smaller size that grew
        at least ``at_least`` bytes, or None."""
        weight = weight or _default_weight(key)

        def factor(n0: int, m0: int) -> float:
            return weight(n, m) / weight(n0, m0)

        # Only a size within MEMORY_SCALE_REACH of this one: a small case's growth is
        # mostly one-time (a library's first allocations, its caches), and scaling
        # that by n·m predicted GiB for cases that need MiB.
        grown = [
            (n0, m0, b)
            for n0, m0, b in self._bytes.get(key, ())
            if n0 <= n
            and m0 <= m
            and (n0, m0) != (n, m)
            and b >= at_least
            and factor(n0, m0) <= MEMORY_SCALE_REACH
        ]
        if not grown:
            return None
        n0, m0, b = max(grown, key=lambda p: (p[0] * p[1], p[2]))
        return n0, m0, b, b * factor(n0, m0)

    def verdict(self, key: tuple, n: int, m: int, data: int | None = None) -> str | None:
        """Why (n, m) with ``data`` bytes of input should be skipped-too-slow, or None to
        run it. A smaller size is smaller in n and m and no larger in data, or the same n
        and m with less data (both known)."""

        def smaller_than_this(n0: int, m0: int, d0: int | None) -> bool:
            if n0 > n or m0 > m:
                return False
            if (n0, m0) != (n, m):
                return d0 is None or data is None or d0 <= data
            return d0 is not None and data is not None and d0 < data

        smaller = [row for row in self._times.get(key, ()) if smaller_than_this(*row[:3])]
        for n0, m0, _d0, t in smaller:
            if t > self.cap_s:
                more = " with less data" if (n0, m0) == (n, m) else ""
                return (
                    f"skipped: the smaller size n={n0}, m={m0}{more} already took {t:.3g} s "
                    f"per call, over the {self.cap_s:g} s cap"
                )
        if smaller:
            k = GROWTH_EXPONENT.get(key[2] if len(key) > 2 else "", 2.0)

            def extrapolated(n0: int, m0: int, d0: int | None, t: float) -> float:
                if (n0, m0) == (n, m):  # the same sizes, more data: at least linear in it
                    return t * (data or 0) / max(d0 or 1, 1)
                return t * (n / n0) ** k * (m / m0) ** k

            predicted = min(extrapolated(*row) for row in smaller)
            if predicted > self.factor * self.cap_s:
                return (
                    f"skipped: extrapolated from smaller sizes to at least {predicted:.3g} s "
                    f"per call, over {self.factor:g} x the {self.cap_s:g} s cap"
                )
        return None


MEMORY_NOTICE_BYTES = 32 << 20
MEMORY_SCALE_REACH = 16.0  # memory is predicted from a size at most 16x smaller (weight)
LIGHT_WEIGHT = 1 << 16  # a case this small (memory_weight) needs no prediction: MiB at most


def _default_weight(key: tuple) -> Callable[[int, int], float]:
    """Memory growth of ``key``'s case one pass at a time (no batch known)."""
    return partial(memory_weight, key[2] if len(key) > 2 else "", batch=None)


def memory_weight(operation: str, n: int, m: int, batch: int | None = None) -> float:
    """How a case's memory grows with (n, m), up to a constant.

    - passes run as one batch (``batch``: their number, for a vectorised strategy):
      every intermediate carries ``batch`` tangents or cotangents, the seeds are
      ``batch`` x n (forward) or ``batch`` x m (reverse): ~ batch·(n + m), plus the
      result (n·m; n² for a Hessian). A forward-mode gradient is n² so, not n.
    - one pass at a time: the tape or graph of one primal and the result, ~ n·m
      (n² for a Hessian).
    """
    result = n * n if operation == "hessian" else n * m
    if batch and batch > 1:
        return batch * (n + m) + result
    return float(result)
