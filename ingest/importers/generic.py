"""CSV, JSON Lines and Parquet files whose columns are the event schema's (or mapped onto it).

`mapping` renames source columns: `{"timestamp": "ts", "vendor": "provider"}`. Columns
that are neither schema columns nor mapped are ignored. Rows without `event_id` get one
from their own values, so re-importing the same file counts nothing twice.

Examples:
    >>> parsed = parse_csv(b"when,provider,model,service,input_tokens\\n2026-01-05T10:00:00Z,openai,gpt-4o,llm,10\\n",
    ...                    mapping={"when": "ts"})
    >>> parsed.raw.select("ts", "input_tokens").row(0), parsed.record_numbers.to_list()
    (('2026-01-05T10:00:00Z', '10'), [2])
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import msgspec
import polars as pl

from ingest import schema as s
from ingest.errors import ImportFormatError
from ingest.importers.base import Parsed
from ingest.importers.jsonl import read_jsonl, strict_json


def check_mapping(mapping: dict[str, str]) -> None:
    wrong = {k: v for k, v in mapping.items() if v not in s.INPUT_COLUMNS}
    if wrong:
        raise ImportFormatError(f"column mapping names unknown event columns: {wrong} "
                                f"(event columns: {', '.join(s.INPUT_COLUMNS)})")


def _select(frame: pl.DataFrame, mapping: dict[str, str]) -> pl.DataFrame:
    check_mapping(mapping)
    renamed = frame.rename({k: v for k, v in mapping.items() if k in frame.columns})
    return renamed.select([c for c in renamed.columns if c in s.INPUT_COLUMNS])


def parse_csv(source: Path | bytes, mapping: dict[str, str] | None = None) -> Parsed:
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        frame = pl.read_csv(data, infer_schema=False)
    except pl.exceptions.PolarsError:
        return _parse_csv_rows(data, mapping or {})
    numbers = pl.int_range(2, frame.height + 2, eager=True, dtype=pl.Int64)
    return Parsed(_select(frame, mapping or {}), numbers, "line")


def _parse_csv_rows(data: bytes, mapping: dict[str, str]) -> Parsed:
    """A CSV file Polars refused, row by row: a row that is not UTF-8 or has more fields than the
    header is reported with its line; the others are read (a short row is padded, as Polars does)."""
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as e:
        raise ImportFormatError(f"not a readable CSV file: {e or 'no header'}") from None
    if any(_undecodable(c) for c in header):
        raise ImportFormatError("not a readable CSV file: the header is not UTF-8 text")
    lines = data.split(b"\n")
    rows, numbers, originals, bad = [], [], [], []
    line = 1  # the line the header ended on
    while True:
        first = line + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            line = reader.line_num
            bad.append((first, b"\n".join(lines[first - 1:line]), f"not a CSV row ({e})"))
            continue
        line = reader.line_num
        original = b"\n".join(lines[first - 1:line]).rstrip(b"\r")
        if not row:
            continue
        if any(_undecodable(c) for c in row):
            bad.append((first, original, "not UTF-8 text"))
        elif len(row) > len(header):
            bad.append((first, original, f"has {len(row)} fields where the header has {len(header)}"))
        else:
            rows.append(row + [None] * (len(header) - len(row)))
            numbers.append(first)
            originals.append(original)
    names = _unique_names(header)
    frame = pl.DataFrame([dict(zip(names, r)) for r in rows], schema={n: pl.String for n in names})
    return Parsed(_select(frame, mapping), pl.Series("line", numbers, dtype=pl.Int64), "line", originals, bad)


def _undecodable(cell: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in cell)


def _unique_names(header: list[str]) -> list[str]:
    """Column names as Polars makes them: a repeated name gets a suffix."""
    seen: dict[str, int] = {}
    names = []
    for name in header:
        seen[name] = seen.get(name, -1) + 1
        names.append(name if not seen[name] else f"{name}_duplicated_{seen[name] - 1}")
    return names


def parse_jsonl(source: Path | bytes, mapping: dict[str, str] | None = None, *,
                newlines: int | None = None) -> Parsed:
    """JSON Lines, or one JSON array of event objects (its items named "item N"); `newlines`: the
    line ends in `source`, when the caller has counted them."""
    mapping = mapping or {}
    check_mapping(mapping)
    sources = {**{c: c for c in s.INPUT_COLUMNS if c not in mapping.values()}, **mapping}
    # timestamps and tags arrive as text; every other field is tried at its event type first
    types = {name: pl.String if target in (s.TS, s.TAGS) else s.POLARS_SCHEMA[target]
             for name, target in sources.items()}
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    label = "line"
    if data.lstrip()[:1] == b"[":
        data, newlines = _array_as_lines(data), None
        label = "item"
    rows = read_jsonl(data, types, newlines=newlines)
    return Parsed(_select(rows.frame, mapping), rows.line_numbers, label, rows.lines, rows.bad)


def _array_as_lines(data: bytes) -> bytes:
    """A JSON array's items as JSON Lines, each item's own text (items are checked as lines are: one
    bad item is that item's error). An item written over several lines is written again on one."""
    try:
        items = [bytes(item) for item in msgspec.json.decode(data, type=list[msgspec.Raw])]
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise ImportFormatError(f"not a readable JSON array ({str(e).split(':')[0]})") from None
    lines = [item if b"\n" not in item and b"\r" not in item else _one_line(item) for item in items]
    return b"".join(line + b"\n" for line in lines)


def _one_line(item: bytes) -> bytes:
    try:
        return json.dumps(strict_json(item), ensure_ascii=False).encode()
    except ValueError:
        return item.replace(b"\r", b" ").replace(b"\n", b" ")  # (JSON allows no raw newline inside a string)


def parse_parquet(source: Path | bytes, mapping: dict[str, str] | None = None) -> Parsed:
    try:
        frame = pl.read_parquet(io.BytesIO(source) if isinstance(source, bytes) else source)
    except pl.exceptions.PolarsError as e:
        raise ImportFormatError(f"not a readable Parquet file: {str(e).splitlines()[0]}") from None
    return parquet_frame(frame, mapping or {})


def parquet_frame(frame: pl.DataFrame, mapping: dict[str, str], *, first: int = 1) -> Parsed:
    """Rows of a Parquet file (or of a piece of one, whose first row is row `first`)."""
    numbers = pl.int_range(first, first + frame.height, eager=True, dtype=pl.Int64)
    return Parsed(_select(frame, mapping), numbers, "row")
