"""Selecting backends and problems from --backends/--problems patterns."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence


class SelectionError(ValueError):
    """A --backends/--problems pattern that names nothing known."""


def select_names(patterns: str | None, known: Sequence[str], what: str) -> list[str]:
    """Names matching comma-separated names or fnmatch globs, in ``known``'s order.

    ``None`` or an empty string selects everything. A pattern that matches
    nothing raises SelectionError listing the known names.
    """
    if patterns is None or not patterns.strip():
        return list(known)
    chosen: set[str] = set()
    for pattern in (p.strip() for p in patterns.split(",")):
        if not pattern:
            continue
        hits = [name for name in known if fnmatch.fnmatchcase(name, pattern)]
        if not hits:
            raise SelectionError(f"unknown {what} {pattern!r}; known {what}s: {', '.join(known)}")
        chosen.update(hits)
    return [name for name in known if name in chosen]
