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

import io
from pathlib import Path

import polars as pl

from ingest import schema as s
from ingest.errors import ImportFormatError
from ingest.importers.base import Parsed
from ingest.importers.jsonl import read_jsonl


def _check_mapping(mapping: dict[str, str]) -> None:
    wrong = {k: v for k, v in mapping.items() if v not in s.INPUT_COLUMNS}
    if wrong:
        raise ImportFormatError(f"column mapping names unknown event columns: {wrong} "
                                f"(event columns: {', '.join(s.INPUT_COLUMNS)})")


def _select(frame: pl.DataFrame, mapping: dict[str, str]) -> pl.DataFrame:
    _check_mapping(mapping)
    renamed = frame.rename({k: v for k, v in mapping.items() if k in frame.columns})
    return renamed.select([c for c in renamed.columns if c in s.INPUT_COLUMNS])


def parse_csv(source: Path | bytes, mapping: dict[str, str] | None = None) -> Parsed:
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        frame = pl.read_csv(data, infer_schema=False)
    except pl.exceptions.PolarsError as e:
        raise ImportFormatError(f"not a readable CSV file: {str(e).splitlines()[0]}") from None
    numbers = pl.int_range(2, frame.height + 2, eager=True, dtype=pl.Int64)
    return Parsed(_select(frame, mapping or {}), numbers, "line")


def parse_jsonl(source: Path | bytes, mapping: dict[str, str] | None = None) -> Parsed:
    mapping = mapping or {}
    _check_mapping(mapping)
    sources = {**{c: c for c in s.INPUT_COLUMNS if c not in mapping.values()}, **mapping}
    # timestamps and tags arrive as text; every other field is tried at its event type first
    types = {name: pl.String if target in (s.TS, s.TAGS) else s.POLARS_SCHEMA[target]
             for name, target in sources.items()}
    rows = read_jsonl(source, types)
    return Parsed(_select(rows.frame, mapping), rows.line_numbers, "line", rows.lines, rows.bad)


def parse_parquet(source: Path | bytes, mapping: dict[str, str] | None = None) -> Parsed:
    try:
        frame = pl.read_parquet(io.BytesIO(source) if isinstance(source, bytes) else source)
    except pl.exceptions.PolarsError as e:
        raise ImportFormatError(f"not a readable Parquet file: {str(e).splitlines()[0]}") from None
    numbers = pl.int_range(1, frame.height + 1, eager=True, dtype=pl.Int64)
    return Parsed(_select(frame, mapping or {}), numbers, "row")
