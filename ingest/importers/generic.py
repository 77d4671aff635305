"""CSV, JSON Lines and Parquet files whose columns are the event schema's (or mapped onto it).

`mapping` renames source columns: `{"when": "ts", "vendor": "provider"}`. Without one, a
column named as an event column is that column, and the common spellings people export are
recognised (`timestamp`, `created_at`, `prompt_tokens`, `completion_tokens`, `cost`, `spend`…:
`ALIASES`), in any case and with spaces or dashes. Columns that are none of these are ignored. Rows without `event_id` get one
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
    """Each value an event column, or "" for a column to ignore."""
    wrong = {k: v for k, v in mapping.items() if v and v not in s.ACCEPTED}
    if wrong:
        raise ImportFormatError(f"column mapping names unknown event columns: {wrong} "
                                f"(event columns: {', '.join(s.ACCEPTED)})")


ALIASES: dict[str, tuple[str, ...]] = {  # event column → the spellings recognised for it (normalised)
    s.TS: ("timestamp", "time", "date", "datetime", "date_time", "created_at", "created", "start_time",
           "started_at", "request_time", "requested_at", "event_time"),
    s.PROVIDER: ("vendor", "api_provider", "provider_name", "llm_provider"),
    s.MODEL: ("model_name", "model_id", "llm_model"),
    s.SERVICE: ("service_type", "call_kind"),
    s.OPERATION: ("endpoint", "call_type", "operation_name", "task"),
    s.PROJECT: ("project_name", "project_id", "app", "application"),
    s.JOB_ID: ("job", "run_id", "run", "session_id", "trace_id"),
    s.STAGE: ("step", "phase"),
    s.AGENT: ("agent_name",),
    s.USER: ("user_id", "user_name", "username"),
    s.INPUT_TOKENS: ("prompt_tokens", "tokens_in", "input_token_count", "prompt_token_count", "in_tokens"),
    s.OUTPUT_TOKENS: ("completion_tokens", "tokens_out", "output_token_count", "completion_token_count",
                      "out_tokens"),
    s.CACHE_READ_TOKENS: ("cached_tokens", "cache_read_input_tokens", "cached_input_tokens"),
    s.CACHE_WRITE_TOKENS: ("cache_creation_input_tokens", "cache_creation_tokens"),
    s.REASONING_TOKENS: ("thinking_tokens",),
    s.COST: ("cost", "spend", "cost_in_usd", "total_cost", "amount_usd", "usd", "price_usd", "cost_dollars"),
    s.LATENCY_MS: ("latency", "duration_ms", "response_time_ms"),
    s.CHARACTERS: ("chars", "character_count"),
    s.IMAGES: ("image_count", "n_images"),
    s.EVENT_ID: ("request_id",),
    s.CURRENCY: ("cost_currency", "billing_currency", "currency_code"),  # the cost is in it, not in dollars  # (not "id": a row number in two files would make their rows one)
}
_SPELLINGS = {spelling: column for column, spellings in ALIASES.items() for spelling in (column, *spellings)}


def column_mapping(columns: list[str], mapping: dict[str, str] | None = None) -> dict[str, str]:
    """Which event column each source column becomes: `mapping` first, then a column named as an
    event column, then a recognised spelling (`ALIASES`); a column is used once, the first one wins.

    Examples:
        >>> column_mapping(["Timestamp", "provider", "Prompt Tokens", "completion_tokens", "cost", "notes"])
        {'Timestamp': 'ts', 'provider': 'provider', 'Prompt Tokens': 'input_tokens', 'completion_tokens': 'output_tokens', 'cost': 'cost_usd'}
        >>> column_mapping(["timestamp", "ts"])  # the event column's own name wins
        {'ts': 'ts'}
    """
    mapping = mapping or {}
    check_mapping(mapping)
    chosen = {c: mapping[c] for c in columns if c in mapping}  # ("": ignored, whatever its name)
    taken = set(chosen.values())
    for exact in (True, False):
        for column in columns:
            if column in chosen:
                continue
            target = column if exact else _SPELLINGS.get(_normal(column))
            if target in s.ACCEPTED and target not in taken:
                chosen[column] = target
                taken.add(target)
    return {c: chosen[c] for c in columns if chosen.get(c)}


def columns_of(data: bytes, format: str) -> list[str]:
    """The column names of a CSV, JSON Lines or Parquet file's content (JSON Lines: the keys of its
    first lines), to show which event column each becomes (`column_mapping`)."""
    if format == "csv":
        first = data.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace")
        return next(csv.reader([first]), [])
    if format == "jsonl":
        return _head_keys(_array_as_lines(data) if data.lstrip()[:1] == b"[" else data)
    if format == "parquet":
        return list(pl.read_parquet_schema(io.BytesIO(data)))
    return []


TEMPLATE = (  # a CSV people can fill in: one LLM call priced by Spendlake, one TTS call with its own cost
    b"timestamp,provider,model,service,input_tokens,output_tokens,characters,cost_usd,project,job_id,stage\n"
    b"2026-12-01T09:30:00Z,openai,gpt-4o,llm,1200,300,,,shorts,video-42,script\n"
    b"2026-12-01T09:31:10Z,elevenlabs,eleven_v3,tts,,,1200,0.36,shorts,video-42,voice\n")


def _normal(name: str) -> str:
    return "_".join("".join(ch if ch.isalnum() else " " for ch in name.strip().lower()).split())


def _select(frame: pl.DataFrame, mapping: dict[str, str]) -> pl.DataFrame:
    """The columns that become event columns, renamed; a row for every record even when none does
    (each is then named with what it lacks)."""
    chosen = column_mapping(frame.columns, mapping)
    if not chosen:
        return pl.DataFrame({s.EVENT_ID: pl.Series([None] * frame.height, dtype=pl.String)})
    return frame.select([pl.col(c).alias(target) for c, target in chosen.items()])


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
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    label = "line"
    if data.lstrip()[:1] == b"[":
        data, newlines = _array_as_lines(data), None
        label = "item"
    # the fields named in the first lines, mapped (a spelling such as `timestamp` included), and
    # every event column by its own name
    chosen = column_mapping(_head_keys(data), mapping)
    sources = {**chosen, **{c: c for c in s.ACCEPTED if c not in chosen.values() and c not in chosen}}
    # timestamps and tags arrive as text; every other field is tried at its event type first
    types = {name: pl.String if target in (s.TS, s.TAGS, s.CURRENCY) else s.POLARS_SCHEMA[target]
             for name, target in sources.items()}
    rows = read_jsonl(data, types, newlines=newlines)
    frame = rows.frame.select([pl.col(name).alias(target) for name, target in sources.items()])
    return Parsed(frame, rows.line_numbers, label, rows.lines, rows.bad)


def _head_keys(data: bytes, lines: int = 64) -> list[str]:
    """The keys of the JSON objects among the first `lines` lines, in the order first seen."""
    keys: dict[str, None] = {}
    for line in data[:1 << 20].split(b"\n", lines)[:lines]:
        try:
            value = msgspec.json.decode(line) if line.strip() else None
        except (msgspec.DecodeError, RecursionError):  # (the line is reported when it is read)
            continue
        if isinstance(value, dict):
            keys.update(dict.fromkeys(value))
    return list(keys)


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
