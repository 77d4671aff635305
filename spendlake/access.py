"""What a caller may see: the projects a key is limited to, applied to what it asks for. Every use
case that answers with figures takes the projects to narrow to; the HTTP API passes
`narrow(key's projects, asked)`, so a limited key can never widen what it reads.

Examples:
    >>> narrow((), ["a"]), narrow(("a", "b"), []), narrow(("a", "b"), ["b"])
    (['a'], ['a', 'b'], ['b'])
    >>> narrow(("a",), ["c"])
    Traceback (most recent call last):
    ...
    spendlake.access.Forbidden: this key reads only project a; 'c' is not one of them
"""

from __future__ import annotations

from collections.abc import Sequence

from ingest.errors import SpendlakeError


class Forbidden(SpendlakeError):
    """The caller's key does not allow this (HTTP 403)."""


def narrow(allowed: Sequence[str], asked: Sequence[str] | None) -> list[str]:
    """The projects to answer for: those asked (all when none), within `allowed` (empty: every project)."""
    asked = [p for p in asked or () if p]
    if not allowed:
        return asked
    outside = [p for p in asked if p not in allowed]
    if outside:
        raise Forbidden(f"this key reads only project{'s' * (len(allowed) > 1)} {', '.join(allowed)}; "
                        f"{', '.join(map(repr, outside))} is not one of them")
    return asked or list(allowed)

