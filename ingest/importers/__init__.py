"""Importers: one module per source format, detected by content.

Examples:
    >>> detect(b'{"timestamp": "2025-01-21T10:00:00", "service": "gemini", "cost": 0.01}\\n')
    'costs-jsonl'
    >>> detect(b"ts,provider,model,service\\n")
    'csv'
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import polars as pl

from ingest import schema as s
from ingest.errors import ImportFormatError
from ingest.fx import FxError
from ingest.importers import (claude_code, codex, gemini_cli, generic, langfuse, litellm, opencode, otel,
                              provider_reports, seed_costs)
from ingest.import_state import FileState, ImportState, Plan
from ingest.importers.base import Chain, Parsed
from ingest.importers.jsonl import strict_json
from ingest.importers.pieces import BOM, PIECE_BYTES, line_pieces, parquet_pieces
from ingest.lake import Lake
from ingest.pipeline import ImportSummary, Progress, ingest_frame
from ingest.pricing import PriceBook
from ingest.reported import write_reported


PARSERS: dict[str, Callable[..., Parsed]] = {
    "claude-code": lambda source, mapping: claude_code.parse(source),
    "codex": lambda source, mapping: codex.parse(source),
    "gemini-cli": lambda source, mapping: gemini_cli.parse(source),
    "opencode": lambda source, mapping: opencode.parse(source),
    "opencode-db": lambda source, mapping: opencode.parse_db(source),
    "otel": lambda source, mapping: otel.parse(source),
    "openai-usage": lambda source, mapping: provider_reports.parse_openai_usage(source),
    "anthropic-usage": lambda source, mapping: provider_reports.parse_anthropic_usage(source),
    "openai-costs": lambda source, mapping: provider_reports.parse_openai_costs(source),
    "anthropic-costs": lambda source, mapping: provider_reports.parse_anthropic_costs(source),
    "openai-usage-csv": lambda source, mapping: provider_reports.parse_openai_usage_csv(source),
    "openai-costs-csv": lambda source, mapping: provider_reports.parse_openai_costs_csv(source),
    "litellm": lambda source, mapping: litellm.parse(source),
    "langfuse": lambda source, mapping: langfuse.parse(source),
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
    if data.startswith(opencode.SQLITE):  # the one SQLite database an importer reads
        return "opencode-db"
    first = _first_line(data)
    if first.lstrip().startswith(b"{"):
        try:
            record = strict_json(first)
        except ValueError:  # a document over several lines, or a bad first line (read as JSON Lines)
            record = _document(data)
        if not isinstance(record, dict):
            return "jsonl"
        return _record_kind(record)
    if first.lstrip().startswith(b"["):  # rows or report pages in a JSON array
        rows = _document(data)
        return _record_kind(rows[0]) if isinstance(rows, list) and rows and isinstance(rows[0], dict) else "jsonl"
    if b"," in first:
        columns = {c.strip().strip('"') for c in first.decode("utf-8", "replace").lstrip("\ufeff").split(",")}
        if litellm.looks_like(columns):
            return "litellm"
        if {"traceId", "type"} <= columns and columns & {"usageDetails", "usage"}:
            return "langfuse"
        return provider_reports.csv_kind(columns) or "csv"
    raise ImportFormatError("cannot tell the format (not Parquet, JSON Lines or CSV); pass --format")


def _record_kind(record: dict) -> str:
    """The format a JSON record (or report page) belongs to."""
    for name, module in (("claude-code", claude_code), ("codex", codex), ("otel", otel), ("costs-jsonl", seed_costs)):
        if module.looks_like(record):
            return name
    if gemini_cli.looks_like(record):
        return "gemini-cli"
    if opencode.looks_like(record):
        return "opencode"
    if litellm.looks_like(set(record)):
        return "litellm"
    rows = record.get("data")
    if langfuse.looks_like(record) or (isinstance(rows, list) and rows and isinstance(rows[0], dict)
                                       and langfuse.looks_like(rows[0])):
        return "langfuse"
    return provider_reports.looks_like(record) or "jsonl"


def _document(data: bytes) -> object:
    """The file as one JSON document (an OTLP request is known by its keys, not parsed whole)."""
    if b'"resourceSpans"' in data[:65536]:
        return {"resourceSpans": []}
    try:
        return strict_json(data)
    except ValueError:
        return None


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
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in (".jsonl", ".json", ".csv", ".parquet", ".db")))
        elif p.exists():
            out.append(p)
        else:
            raise ImportFormatError(f"{p}: no such file or folder")
    return out


LINE_FORMATS = frozenset({"claude-code", "otel", "costs-jsonl", "jsonl", "csv"})  # read in pieces, resumable
BATCH_ROWS = 500_000  # records of several files (or pieces of one) validated, priced and appended together
BATCH_BYTES = 64 << 20


def import_paths(lake: Lake, paths: list[Path], *, format: str | None = None, tz: str | None = None,
                 mapping: dict[str, str] | None = None, book: PriceBook | None = None,
                 progress: Progress | None = None, remember: bool = True,
                 names: dict[Path, str] | None = None) -> ImportSummary:
    """Import files (or folders of files) into the lake; returns what happened. `names`: what to
    call a file in messages and in quarantine (an upload's own name, not the temporary path).

    A file that cannot be read at all is named in `summary.failed` and the others are imported.
    Small files (a folder of session logs) are read one by one and go to the lake in batches,
    so each costs its reading, not a validation, pricing and append of its own; a large file
    is read in pieces (`pieces`), so memory does not grow with it. Messages name a record by
    its file and line. `progress(done, total)` is called in bytes across all files.

    With `remember`, the lake keeps what was read from each file (`ImportState`): the next
    import skips unchanged files and reads appended ones from where this one stopped.
    """
    if format is not None and format not in PARSERS:
        raise ImportFormatError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    mapping = mapping or {}
    generic.check_mapping(mapping)
    files = files_of(paths)
    shown = (lambda f: names.get(f, str(f))) if names else str
    book = book or PriceBook.load(lake.overrides_path)
    known = ImportState(lake) if remember else None
    settings = json.dumps([format, tz, sorted(mapping.items())])
    total = sum(f.stat().st_size for f in files)
    summary = ImportSummary()
    batch: list[tuple[Path, Parsed]] = []
    landed: dict[Path, FileState] = {}  # files read whole into the batch: remembered once it is in the lake
    done = batched = rows = 0  # bytes imported; bytes and records waiting in the batch

    def flush() -> None:
        nonlocal summary, done, batched, rows
        if batch:
            summary += _ingest(lake, batch, book, tz, lambda part: progress and progress(done + part, total), batched,
                               shown)
            done, batched, rows = done + batched, 0, 0
            batch.clear()
        if known is not None:
            known.record(landed)
        landed.clear()

    for f in files:
        plan = known.plan(f, settings) if known is not None else Plan("read")
        if plan.action == "skip":
            summary.unchanged += 1
            done += f.stat().st_size
            continue
        reader = _FileReader(f, format or plan.format, plan, mapping)
        try:
            for parsed, size in reader:
                if parsed.reported is not None:  # a cost report: kept beside the events (unreadable rows quarantined)
                    summary.reported += write_reported(lake, parsed.reported)
                    if not parsed.unreadable:
                        done += size
                        continue
                if batch and (_key(batch[-1][1], tz) != _key(parsed, tz) or rows + parsed.raw.height > BATCH_ROWS
                              or batched + size > BATCH_BYTES):
                    flush()
                batch.append((f, parsed))
                batched, rows = batched + size, rows + parsed.raw.height
        except (ImportFormatError, FxError) as e:  # this file only: the others are still imported
            summary.failed.append(f"{shown(f)}: {e}")
            continue
        if reader.empty:
            summary.notes.append(f"{shown(f)}: empty, skipped")
        if known is not None:
            landed[f] = known.state(f, settings, reader.format or "", end=reader.end, lines=reader.lines,
                                    size=reader.size)
    flush()
    if progress:
        progress(total, total)
    return summary


class _FileReader:
    """A file's records as parsed pieces with their sizes in bytes; afterwards, how far it was read."""

    def __init__(self, path: Path, format: str | None, plan: Plan, mapping: dict[str, str]) -> None:
        self.path, self.format, self.plan, self.mapping = path, format, plan, mapping
        self.end, self.lines, self.empty = 0, 0, False
        self.size = 0  # the file's size as it was read (it may grow meanwhile)

    def __iter__(self) -> Iterator[tuple[Parsed, int]]:
        self.size = self.path.stat().st_size
        if self.plan.start and self.plan.format not in LINE_FORMATS:  # its records need what came before
            self.plan = Plan("read")  # (a Codex session's model and totals): whole again, ids dedupe
        if self.plan.start == 0:
            with open(self.path, "rb") as f:
                head = f.read(1 << 20).removeprefix(BOM)
            if not head.strip():
                self.empty, self.end = True, self.size
                return
            if head[:4] == b"PAR1" and self.format in (None, "parquet"):
                yield from self._parquet()
                return
            lines = _line_records(head)
            large = lines and self.size > PIECE_BYTES
            fmt = self.format or (_recognised(head, detect(head)) if large else None)  # a large file's, from its head
            if not lines or fmt not in LINE_FORMATS:  # one document, or small enough to read at once
                yield from self._whole(lines)
                return
            self.format = fmt
        yield from self._pieces()

    def _whole(self, lines: bool) -> Iterator[tuple[Parsed, int]]:
        """The file read at once (small, or one document); a file of lines remembers its last whole line."""
        raw = self.path.read_bytes()
        data, self.size = raw.removeprefix(BOM), len(raw)
        self.format = self.format or _recognised(data, detect(data))
        self.end = self.size
        if lines and self.format in LINE_FORMATS:
            self.end -= len(data) - data.rfind(b"\n") - 1  # a last line still being written
            self.lines = data.count(b"\n")
        yield self._parse(data, self.lines if lines else None), self.size

    def _pieces(self) -> Iterator[tuple[Parsed, int]]:
        """A file of lines from `plan.start`, a piece at a time."""
        self.end, self.lines = self.plan.start, self.plan.lines
        for piece in line_pieces(self.path, csv=self.format == "csv", start=self.plan.start, lines=self.plan.lines):
            parsed = self._parse(piece.data, piece.lines - self.lines)
            partial = len(piece.data) - piece.data.rfind(b"\n") - 1  # a last line still being written
            self.end, self.lines, self.size = piece.end - partial, piece.lines, max(self.size, piece.end)
            yield _shifted(parsed, piece.shift), piece.end - piece.start

    def _parse(self, data: bytes, newlines: int | None) -> Parsed:
        """`data` parsed; JSON Lines is told how many line ends it holds (counting them again costs
        a tenth of an import)."""
        hint = {"newlines": newlines} if self.format == "jsonl" else {}
        return PARSERS[self.format](data, self.mapping, **hint)

    def _parquet(self) -> Iterator[tuple[Parsed, int]]:
        self.format, self.end = "parquet", self.size
        try:
            for frame, before, total in parquet_pieces(self.path):
                share = self.size * frame.height // max(1, total)  # bytes, for the progress bar
                yield generic.parquet_frame(frame, self.mapping, first=before + 1), share
        except (OSError, pl.exceptions.PolarsError) as e:  # a file that is not Parquet after all
            raise ImportFormatError(f"not a readable Parquet file: {str(e).splitlines()[0]}") from None


IDENTIFYING = {s.TS, s.PROVIDER, s.MODEL}  # a record of events names at least one of these


def _recognised(data: bytes, fmt: str) -> str:
    """`fmt`, unless it is plain JSON Lines or CSV whose columns name nothing of an event: then the
    file is of a format no importer knows, said once for the file (not once per record)."""
    if fmt not in ("jsonl", "csv"):
        return fmt
    columns = generic.columns_of(data, fmt)
    if IDENTIFYING & set(generic.column_mapping(columns).values()):
        return fmt
    shown = ", ".join(columns[:12]) + (", …" if len(columns) > 12 else "")
    known = ", ".join(f for f in FORMATS if f not in ("jsonl", "csv", "parquet"))
    raise ImportFormatError(f"no importer recognises it: not one of {known}, and its first records name no time, "
                            f"provider or model (their {'columns' if fmt == 'csv' else 'keys'}: {shown or 'none'}); "
                            f"pass --format {fmt} (and --map COLUMN=FIELD) to read it anyway")


def _line_records(head: bytes) -> bool:
    """Whether a file starting with `head` holds a record a line (JSON Lines, CSV), not one document."""
    first = _first_line(head).strip()
    if first[:1] == b"[":
        return False
    if first[:1] == b"{":
        try:
            return isinstance(strict_json(first), dict)
        except ValueError:
            return False
    return True


def _shifted(parsed: Parsed, shift: int) -> Parsed:
    """A piece's records numbered as lines of the whole file."""
    if not shift:
        return parsed
    return replace(parsed, record_numbers=parsed.record_numbers + shift,
                   unreadable=[(n + shift, text, why) for n, text, why in parsed.unreadable])


def _key(parsed: Parsed, tz: str | None) -> tuple:
    """Files that can share a batch: the same time zone, source text kept for all or none, ids alike."""
    return parsed.tz or tz, parsed.originals is None, parsed.content_ids


def _ingest(lake: Lake, batch: list[tuple[Path, Parsed]], book: PriceBook, tz: str | None,
            progress: Callable[[int], None], size: int, shown: Callable[[Path], str] = str) -> ImportSummary:
    names = [f"{f.name} {p.label}" for f, p in batch]
    raw = pl.concat([p.raw for _, p in batch], how="diagonal_relaxed") if len(batch) > 1 else batch[0][1].raw
    labels = pl.concat([pl.repeat(name, p.raw.height, dtype=pl.String, eager=True)
                        for name, (_, p) in zip(names, batch)]) if len(batch) > 1 else names[0]
    originals = None if batch[0][1].originals is None else Chain([p.originals for _, p in batch],
                                                                      [p.raw.height for _, p in batch])
    source = (shown(batch[0][0]) if len(batch) == 1 else
              f"{len(batch)} files in {os.path.commonpath([f for f, _ in batch])}" if shown is str else
              f"{len(batch)} files: {', '.join(dict.fromkeys(shown(f) for f, _ in batch))}")
    return ingest_frame(lake, raw, book=book, source=source, tz=batch[0][1].tz or tz,
                        record_numbers=pl.concat([p.record_numbers.cast(pl.Int64) for _, p in batch]),
                        label=labels, originals=originals,
                        unreadable=[(name, *bad) for name, (_, p) in zip(names, batch) for bad in p.unreadable],
                        content_ids=batch[0][1].content_ids,
                        progress=lambda rows, of: progress(size * rows // max(of, 1)))
