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

import contextlib
import fcntl
import io
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from ingest.objects import Lease, ObjectPath

Content = bytes | str | Callable[[BinaryIO], object]  # or a function that writes the file


def write_atomic(path: Path, content: Content, *, tmp: Path | None = None, replace: bool = True,
                 private: bool = False) -> bool:
    """Write `content` to `path` whole. `tmp` names the temp file (default: hidden, beside `path`).
    With `replace=False` an existing `path` is kept (for files named by their content, which a
    reader may hold open): returns False then, True when `path` was written. `private`: readable
    by its owner only from its first byte (mode 600). An object in a bucket is written by one PUT,
    whole or not at all, with no temp file (who may read it is the bucket's policy)."""
    if isinstance(path, ObjectPath):
        if callable(content):
            buffer = io.BytesIO()
            content(buffer)
            content = buffer.getvalue()
        data = content.encode() if isinstance(content, str) else content
        return path.write_bytes(data, exclusive=not replace) is not None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp or path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            if private:
                os.fchmod(f.fileno(), 0o600)
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


@contextlib.contextmanager
def flocked(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive flock on `path` (made if missing; released by the kernel if the process
    dies). Yields whether this process holds it: without `wait`, False at once if another does.
    In a bucket, the lock is a lease object (`objects.Lease`)."""
    if isinstance(path, ObjectPath):
        lease = Lease(path)
        if not lease.acquire(wait=wait):
            yield False
            return
        try:
            yield True
        finally:
            lease.release()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def append_lines(path: Path, entries: list[dict]) -> None:
    """Append JSON lines in one `write` to a file opened for appending, then sync it: writers in
    several processes never interleave their lines, and no lock is needed for that."""
    if not entries:
        return
    data = "".join(json.dumps(e, default=str) + "\n" for e in entries).encode()
    if isinstance(path, ObjectPath):  # no append in a bucket: rewritten whole, unless another came between
        while True:
            try:
                before, version = path.read_versioned()
            except FileNotFoundError:
                if path.write_bytes(data, exclusive=True):
                    return
                continue
            if path.write_bytes(before + data, version=version):
                return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        while data:  # (a regular file takes it whole; the loop is for the rare short write)
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)


def read_lines(path: Path) -> Iterator[dict]:
    """The JSON objects of an append-only JSON Lines file, oldest first; a line cut short by a
    crash is skipped."""
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


def fsync_dir(path: Path) -> None:
    """Make the names in a folder durable (a rename is not, until its folder is synced). A bucket's
    objects are durable once written."""
    if isinstance(path, ObjectPath):
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
