"""Langfuse observations, as its export and public API give them: JSON (an array, a row a line, or
an API page `{"data": [...], "meta": {...}}`) or CSV with nested values as JSON text.

Generations (and embeddings) with usage are events; spans and events are not billed. `id`
→ event id, `traceId` → job_id, `name` → operation, `startTime` → ts, `endTime` −
`startTime` → latency, level ERROR → a failed call, `environment` or the trace's project
tag → project. Langfuse's cost (`costDetails.total`, else `calculatedTotalCost`) is kept as
the reported cost. The provider is not in an observation: it comes from genai-prices'
match of the model name (e.g. "gpt-4o-2024-08-06" → openai).

`usageDetails` keys are disjoint and each priced on its own in Langfuse: `input` (uncached
input), `input_cached_tokens` / `cache_read_input_tokens` / `input_cache_read` (cache
reads), `cache_creation_input_tokens` / `input_cache_creation` (cache writes), `output`, and
`output_reasoning_tokens` / `output_reasoning` (reasoning, added to the output as our schema
counts it). The older `usage` object (`input`, `output`) is read when `usageDetails` is absent.

Examples:
    >>> obs = (b'[{"id":"gen-1","traceId":"t1","type":"GENERATION","name":"summarize","startTime":'
    ...        b'"2026-03-02T10:00:00.000Z","endTime":"2026-03-02T10:00:01.250Z","model":"gpt-4o-mini",'
    ...        b'"usageDetails":{"input":900,"input_cached_tokens":100,"output":40},"level":"DEFAULT"}]')
    >>> parse(obs).raw.select("provider", "input_tokens", "cache_read_tokens", "latency_ms").row(0)
    ('openai', 900, 100, 1250.0)
"""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path

import polars as pl

from ingest import schema as s
from ingest.errors import ImportFormatError
from ingest.importers.base import Parsed

BILLED = ("GENERATION", "EMBEDDING")
KEYS = {  # our column: Langfuse usage keys
    s.INPUT_TOKENS: ("input",),
    s.CACHE_READ_TOKENS: ("input_cached_tokens", "cache_read_input_tokens", "input_cache_read"),
    s.CACHE_WRITE_TOKENS: ("cache_creation_input_tokens", "input_cache_creation"),
    s.OUTPUT_TOKENS: ("output",),
    s.REASONING_TOKENS: ("output_reasoning_tokens", "output_reasoning"),
}


def looks_like(record: dict) -> bool:
    return "traceId" in record and "type" in record and ("usageDetails" in record or "usage" in record)


def parse(source: Path | bytes) -> Parsed:
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    rows, numbers, label = _rows(data)
    kept = [(n, r) for n, r in zip(numbers, rows) if str(r.get("type", "")).upper() in BILLED
            and (_usage(r) or {}).keys() & {k for keys in KEYS.values() for k in keys}]
    records, numbers, bad = [], [], []
    for number, r in kept:
        try:
            records.append(_record(r))
            numbers.append(number)
        except (ValueError, TypeError) as e:
            bad.append((number, json.dumps(r, default=str).encode(), f"observation {r.get('id')}: {e}"))
    schema = {s.EVENT_ID: pl.String, s.TS: pl.String, "_end": pl.String, s.PROVIDER: pl.String, s.MODEL: pl.String,
              s.SERVICE: pl.String, s.OPERATION: pl.String, s.PROJECT: pl.String, s.JOB_ID: pl.String,
              **{c: pl.Int64 for c in KEYS}, s.SUCCESS: pl.Boolean, s.COST: pl.String, s.TAGS: pl.String}
    times = [pl.col(c).str.to_datetime(time_zone="UTC", strict=False) for c in (s.TS, "_end")]
    raw = pl.DataFrame(records, schema=schema, strict=False).with_columns(
        ((times[1] - times[0]).dt.total_microseconds() / 1000).alias(s.LATENCY_MS)).drop("_end")
    return Parsed(raw, pl.Series("row", numbers, dtype=pl.Int64), label, unreadable=bad)


def _record(r: dict) -> dict:
    """One observation as event columns; ValueError names what cannot be read."""
    usage = _usage(r)
    count = {column: _whole(keys, usage) for column, keys in KEYS.items()}
    reasoning = count[s.REASONING_TOKENS]
    output = count[s.OUTPUT_TOKENS]
    cost = _cost(r)
    return {
        s.EVENT_ID: f"langfuse:{r.get('id')}" if r.get("id") else None, s.TS: r.get("startTime"),
        "_end": r.get("endTime"), s.PROVIDER: _provider(r.get("model")), s.MODEL: r.get("model"),
        s.SERVICE: "embedding" if str(r.get("type")).upper() == "EMBEDDING" else "llm",
        s.OPERATION: r.get("name"), s.PROJECT: r.get("environment"), s.JOB_ID: r.get("traceId"),
        s.INPUT_TOKENS: count[s.INPUT_TOKENS], s.CACHE_READ_TOKENS: count[s.CACHE_READ_TOKENS],
        s.CACHE_WRITE_TOKENS: count[s.CACHE_WRITE_TOKENS],
        s.OUTPUT_TOKENS: None if output is None and reasoning is None else (output or 0) + (reasoning or 0),
        s.REASONING_TOKENS: reasoning, s.SUCCESS: str(r.get("level", "")).upper() != "ERROR",
        s.COST: None if cost is None else str(cost),
        s.TAGS: json.dumps({k: r[k] for k in ("promptName", "statusMessage") if r.get(k)}, separators=(",", ":")),
    }


def _whole(keys: tuple[str, ...], usage: dict) -> int | None:
    """The first of these usage keys present, as a whole number ≥ 0."""
    for key in keys:
        value = usage.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != int(value):
                raise ValueError(f"usageDetails.{key}={value!r} is not a whole number ≥ 0")
            return int(value)
    return None


def _usage(r: dict) -> dict:
    usage = r.get("usageDetails") or r.get("usage") or {}
    if isinstance(usage, str):  # CSV: JSON text
        usage = json.loads(usage) if usage.strip() else {}
    return usage if isinstance(usage, dict) else {}


def _cost(r: dict) -> float | None:
    details = r.get("costDetails")
    if isinstance(details, str):
        details = json.loads(details) if details.strip() else {}
    total = (details or {}).get("total") if isinstance(details, dict) else None
    value = total if total is not None else r.get("calculatedTotalCost")
    return None if value in (None, "") else float(value)


@functools.cache
def _provider(model: str | None) -> str | None:
    """The provider genai-prices matches this model name to."""
    if not model:
        return None
    from genai_prices import data_snapshot
    try:
        provider, _ = data_snapshot.get_snapshot().find_provider_model(model, None, None, None)
    except LookupError:
        return None
    return provider.id


def _rows(data: bytes) -> tuple[list[dict], list[int], str]:
    head = data.lstrip()[:1]
    if head in (b"[", b"{"):
        try:
            whole = json.loads(data)
        except ValueError:
            lines = [(n, line) for n, line in enumerate(data.splitlines(), start=1) if line.strip()]
            try:
                return [json.loads(line) for _, line in lines], [n for n, _ in lines], "line"
            except ValueError as e:
                raise ImportFormatError(f"not a Langfuse export ({e})") from None
        rows = whole.get("data", [whole]) if isinstance(whole, dict) else whole
        return rows, list(range(1, len(rows) + 1)), "observation"
    try:
        frame = pl.read_csv(io.BytesIO(data), infer_schema=False)
    except pl.exceptions.PolarsError as e:
        raise ImportFormatError(f"not a readable CSV file: {str(e).splitlines()[0]}") from None
    return frame.to_dicts(), list(range(2, frame.height + 2)), "line"
