"""What earlier imports read from each file, kept in the lake (`<lake>/_imports.json`).

Per file: its size and modification time, a hash of its first block, how far it was read (a
line boundary) with the lines before it and a hash of the block ending there, and the format
and options it was read with. A re-import then skips a file that did not change without
opening more than its first block, reads an appended file from where the last import stopped,
and reads a file that shrank or changed again whole (event ids keep that exact either way).

Examples:
    >>> import tempfile, pathlib
    >>> from ingest.lake import Lake
    >>> lake = Lake(tempfile.mkdtemp())
    >>> log = pathlib.Path(lake.root) / "log.jsonl"
    >>> _ = log.write_text('{"a": 1}\\n')
    >>> known = ImportState(lake)
    >>> known.plan(log, "jsonl-settings")
    Plan(action='read', start=0, lines=0, format=None)
    >>> known.record({log: known.state(log, "jsonl-settings", "jsonl", end=log.stat().st_size, lines=1)})
    >>> ImportState(lake).plan(log, "jsonl-settings").action
    'skip'
    >>> _ = log.write_text('{"a": 1}\\n{"a": 2}\\n')
    >>> ImportState(lake).plan(log, "jsonl-settings")
    Plan(action='read', start=9, lines=1, format='jsonl')
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from ingest.files import write_atomic
from ingest.lake import IMPORTS, Lake

BLOCK = 4096


@dataclass(frozen=True)
class FileState:
    size: int
    mtime_ns: int
    head: str  # hash of the first BLOCK bytes (of those before `end`)
    end: int  # read up to here (a line boundary; the whole file for other formats)
    lines: int  # lines before `end`
    tail: str  # hash of the BLOCK bytes before `end`
    settings: str  # format, time zone and mapping asked for: other options, other events
    format: str  # the format the file was read as


@dataclass(frozen=True)
class Plan:
    action: Literal["skip", "read"]
    start: int = 0  # where to read from (0: the whole file)
    lines: int = 0  # lines before `start`
    format: str | None = None  # the format found last time, when reading on from `start`


class ImportState:
    """The files this lake has read, loaded once per import."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.path = lake.path(IMPORTS)
        self._files = self._load()
        self._heads: dict[Path, str] = {}  # first-block hashes checked by `plan`, for `state`

    def _load(self) -> dict[str, FileState]:
        try:
            entries = json.loads(self.path.read_text())
            return {k: FileState(**v) for k, v in entries.items()}
        except (FileNotFoundError, ValueError, TypeError):  # none yet, or unreadable: read everything again
            return {}

    def plan(self, path: Path, settings: str) -> Plan:
        """Skip the file, or read it: whole, or from where the last import stopped."""
        known = self._files.get(_key(path))
        if known is None or known.settings != settings:
            return Plan("read")
        st = path.stat()
        if st.st_size < known.end or _hash(path, 0, min(BLOCK, known.end)) != known.head \
                or _hash(path, max(0, known.end - BLOCK), known.end) != known.tail:
            return Plan("read")  # shrank or changed: whole
        if known.end >= BLOCK:
            self._heads[path] = known.head  # the first block is what it was: no need to read it again
        if st.st_size == known.size and st.st_mtime_ns == known.mtime_ns:
            return Plan("skip")
        if known.end == known.size and st.st_size == known.size:
            return Plan("read")  # rewritten in place to the same size: whole
        return Plan("read", known.end, known.lines, known.format)

    def state(self, path: Path, settings: str, format: str, *, end: int, lines: int,
              size: int | None = None) -> FileState:
        """What to remember of a file read up to `end` (after `lines` lines), whose size was `size`
        when it was read (bytes appended since then make it grow, so they are read next time)."""
        st = path.stat()
        head = self._heads.pop(path, None) if end >= BLOCK else None
        return FileState(st.st_size if size is None else size, st.st_mtime_ns, head or _hash(path, 0, min(BLOCK, end)),
                         end, lines, _hash(path, max(0, end - BLOCK), end), settings, format)

    def record(self, files: dict[Path, FileState]) -> None:
        """Remember files whose records are in the lake (merged with what others recorded meanwhile)."""
        if not files:
            return
        with self.lake.lock():
            self._files = self._load() | {_key(p): st for p, st in files.items()}
            write_atomic(self.path, json.dumps({k: asdict(v) for k, v in self._files.items()}),
                         tmp=self.lake.tmp_path("imports", ".json"))


def _key(path: Path) -> str:
    return str(path.resolve())


def _hash(path: Path, start: int, end: int) -> str:
    with open(path, "rb") as f:
        f.seek(start)
        return hashlib.blake2b(f.read(max(0, end - start)), digest_size=8).hexdigest()
