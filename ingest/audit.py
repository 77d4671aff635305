"""The lake's audit trail: who changed what, when, with the before and after, one JSON line each,
oldest first. Lines are only ever appended (one `write` on a file opened for appending, so
writers never interleave and no lock is waited for); nothing rewrites or removes them.

Examples:
    >>> import tempfile
    >>> from ingest.lake import Lake
    >>> lake = Lake(tempfile.mkdtemp())
    >>> append(lake, entry("budget_set", "all", who="ana", before=None, after={"limit_usd": 500}))
    >>> [(e["action"], e["subject"], e["who"], e["after"]) for e in read(lake)]
    [('budget_set', 'all', 'ana', {'limit_usd': 500})]
"""

from __future__ import annotations

import datetime as dt
import getpass
import os

from ingest.files import append_lines, read_lines
from ingest.lake import AUDIT, Lake


def entry(action: str, subject: str, *, who: str | None = None, before: object = None, after: object = None,
          **details: object) -> dict:
    """One audit line: `who` is a key's name, a signed-in user, or (by default) the OS user."""
    return {"at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"), "who": who or _os_user(),
            "action": action, "subject": subject, "before": before, "after": after, **details}


def append(lake: Lake, *entries: dict) -> None:
    append_lines(lake.path(AUDIT), list(entries))


def read(lake: Lake) -> list[dict]:
    """Every entry, oldest first (a line cut short by a crash is skipped)."""
    return list(read_lines(lake.path(AUDIT)))


def _os_user() -> str:
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"os:uid {os.getuid()}"
