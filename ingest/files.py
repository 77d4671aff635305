"""Writing a file whole or not at all: the one way Spendlake writes a file in or beside a lake.

The bytes go to a temp file (in the lake's `_tmp/`, whose leftovers the next writer removes once
their process is gone, or beside the target), are flushed and fsynced, and only then get the
target's name; the folder is fsynced so the name survives a crash too. A reader sees the old file
or the new one, never a part, and a failed write (a full disk) leaves no temp file behind.

Examples:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "budgets.json"
    >>> write_atomic(path, "[]")
    True
    >>> path.read_text(), sorted(p.name for p in path.parent.iterdir())
    ('[]', ['budgets.json'])
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

Content = bytes | str | Callable[[BinaryIO], object]  # or a function that writes the file


def write_atomic(path: Path, content: Content, *, tmp: Path | None = None, replace: bool = True) -> bool:
    """Write `content` to `path` whole. `tmp` names the temp file (default: hidden, beside `path`).
    With `replace=False` an existing `path` is kept (for files named by their content, which a
    reader may hold open): returns False then, True when `path` was written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp or path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode() if isinstance(content, str) else content)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # never replaces
            except FileExistsError:
                return False
    finally:
        Path(tmp).unlink(missing_ok=True)  # (after a rename there is nothing left to remove)
    fsync_dir(path.parent)
    return True


def fsync_dir(path: Path) -> None:
    """Make the names in a folder durable (a rename is not, until its folder is synced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
