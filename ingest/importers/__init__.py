"""Importers: one module per source format, detected by content.

Examples:
    >>> detect(b'{"timestamp": "2025-01-21T10:00:00", "service": "gemini", "cost": 0.01}\\n')
    'costs-jsonl'
    >>> detect(b"ts,provider,model,service\\n")
    'csv'
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ingest.errors import ImportFormatError
from ingest.importers import claude_code, generic, seed_costs
from ingest.importers.base import Parsed
from ingest.lake import Lake
from ingest.pipeline import ImportSummary, Progress, ingest_frame
from ingest.pricing import PriceBook


PARSERS: dict[str, Callable[..., Parsed]] = {
    "claude-code": lambda source, mapping: claude_code.parse(source),
    "costs-jsonl": lambda source, mapping: seed_costs.parse(source),
    "jsonl": generic.parse_jsonl,
    "csv": generic.parse_csv,
    "parquet": generic.parse_parquet,
}
FORMATS = tuple(PARSERS)


def detect(data: bytes) -> str:
    """The format of a file from its first bytes."""
    if data[:4] == b"PAR1":
        return "parquet"
    first = _first_line(data)
    if first.lstrip().startswith(b"{"):
        try:
            record = json.loads(first)
        except ValueError:
            return "jsonl"
        if not isinstance(record, dict):
            return "jsonl"
        if claude_code.looks_like(record):
            return "claude-code"
        if seed_costs.looks_like(record):
            return "costs-jsonl"
        return "jsonl"
    if b"," in first:
        return "csv"
    raise ImportFormatError("cannot tell the format (not Parquet, JSON Lines or CSV); pass --format")


def _first_line(data: bytes) -> bytes:
    """The first non-blank line, without splitting the whole file."""
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        if data[start:end].strip():
            return data[start:end]
        start = end + 1
    return b""


def files_of(paths: list[Path]) -> list[Path]:
    """Files named, and the data files inside folders named (recursively)."""
    out = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in (".jsonl", ".json", ".csv", ".parquet")))
        elif p.exists():
            out.append(p)
        else:
            raise ImportFormatError(f"{p}: no such file or folder")
    return out


def import_paths(lake: Lake, paths: list[Path], *, format: str | None = None, tz: str | None = None,
                 mapping: dict[str, str] | None = None, book: PriceBook | None = None,
                 progress: Progress | None = None) -> ImportSummary:
    """Import files (or folders of files) into the lake; returns what happened.

    `progress(done, total)` is called in bytes across all files.
    """
    if format is not None and format not in PARSERS:
        raise ImportFormatError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    files = files_of(paths)
    book = book or PriceBook.load(lake.overrides_path)
    total = sum(f.stat().st_size for f in files)
    done = 0
    summary = ImportSummary()
    for f in files:
        data = f.read_bytes()
        try:
            parsed = PARSERS[format or detect(data)](data, mapping or {})
        except ImportFormatError as e:
            raise ImportFormatError(f"{f}: {e}") from None
        def step(rows_done: int, rows_total: int, size: int = len(data), start: int = done) -> None:
            if progress:
                progress(start + (size * rows_done // max(rows_total, 1)), total)

        summary += ingest_frame(lake, parsed.raw, book=book, source=str(f), tz=parsed.tz or tz,
                                record_numbers=parsed.record_numbers, label=f"{f.name} {parsed.label}",
                                originals=parsed.originals, unreadable=parsed.unreadable, progress=step)
        done += len(data)
        if progress:
            progress(done, total)
    return summary
