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
import json
import os

from ingest.lake import AUDIT, Lake


def entry(action: str, subject: str, *, who: str | None = None, before: object = None, after: object = None,
          **details: object) -> dict:
    """One audit line: `who` is a key's name, a signed-in user, or (by default) the OS user."""
    return {"at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"), "who": who or _os_user(),
            "action": action, "subject": subject, "before": before, "after": after, **details}


def append(lake: Lake, *entries: dict) -> None:
    if not entries:
        return
    path = lake.path(AUDIT)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, "".join(json.dumps(e, default=str) + "\n" for e in entries).encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read(lake: Lake) -> list[dict]:
    """Every entry, oldest first (a line cut short by a crash is skipped)."""
    path = lake.path(AUDIT)
    if not path.exists():
        return []
    found = []
    for line in path.read_text().splitlines():
        try:
            found.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return found


def _os_user() -> str:
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"os:uid {os.getuid()}"
