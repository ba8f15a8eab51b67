"""Selecting backends and problems from --backends/--problems patterns."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence


class SelectionError(ValueError):
    """A --backends/--problems pattern that names nothing known."""


def _patterns(patterns: str | None) -> list[str]:
    return [p.strip() for p in (patterns or "").split(",") if p.strip()]


def matches(patterns: str | None, name: str) -> bool:
    """Whether ``name`` is selected by the patterns (None or empty: everything is)."""
    pats = _patterns(patterns)
    return not pats or any(fnmatch.fnmatchcase(name, p) for p in pats)


def unmatched(patterns: str | None, known: Sequence[str]) -> list[str]:
    """The patterns that match none of ``known``."""
    return [p for p in _patterns(patterns) if not fnmatch.filter(list(known), p)]


def select_names(
    patterns: str | None, known: Sequence[str], what: str, strict: bool = True
) -> list[str]:
    """Names matching comma-separated names or fnmatch globs, in ``known``'s order.

    ``None`` or an empty string selects everything. A pattern that matches
    nothing raises SelectionError listing the known names (unless not
    ``strict``: the plugin checks ``--problems`` again once the test modules,
    and the problems they declare with ``toyad.problem``, are collected).
    """
    if patterns is None or not patterns.strip():
        return list(known)
    chosen: set[str] = set()
    for pattern in (p.strip() for p in patterns.split(",")):
        if not pattern:
            continue
        hits = [name for name in known if fnmatch.fnmatchcase(name, pattern)]
        if not hits and strict:
            raise SelectionError(f"unknown {what} {pattern!r}; known {what}s: {', '.join(known)}")
        chosen.update(hits)
    return [name for name in known if name in chosen]
