"""The usage event: column names, dtypes, allowed values and validation, named once.

Every writer casts to `ARROW_SCHEMA`; every reader scans with `POLARS_SCHEMA`.
`validate` turns a raw frame (strings, numbers, whatever a source gave) into typed
events plus one error message per bad record, naming the record, field, value and rule.

Examples:
    >>> import polars as pl
    >>> raw = pl.DataFrame({"ts": ["2026-01-05T10:00:00Z", "2026-01-05T10:00:00"],
    ...                     "provider": ["openai", "openai"], "model": ["gpt-4o", "gpt-4o"],
    ...                     "service": ["llm", "llm"], "input_tokens": [10, -5]})
    >>> result = validate(raw)
    >>> result.events.height, result.rejected["error"].to_list()
    (1, ["record 2: ts='2026-01-05T10:00:00' has no time zone (give an offset or --tz); input_tokens=-5 must be ≥ 0"])
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

import polars as pl
import pyarrow as pa

EVENT_ID: Final = "event_id"
TS: Final = "ts"
PROVIDER: Final = "provider"
MODEL: Final = "model"
SERVICE: Final = "service"
OPERATION: Final = "operation"
PROJECT: Final = "project"
JOB_ID: Final = "job_id"
STAGE: Final = "stage"
AGENT: Final = "agent"
USER: Final = "user"
INPUT_TOKENS: Final = "input_tokens"
CACHE_READ_TOKENS: Final = "cache_read_tokens"
CACHE_WRITE_TOKENS: Final = "cache_write_tokens"
CACHE_WRITE_1H_TOKENS: Final = "cache_write_1h_tokens"
OUTPUT_TOKENS: Final = "output_tokens"
REASONING_TOKENS: Final = "reasoning_tokens"
CHARACTERS: Final = "characters"
IMAGES: Final = "images"
AUDIO_SECONDS: Final = "audio_seconds"
COMPUTE_SECONDS: Final = "compute_seconds"
QUANTITY: Final = "quantity"
UNIT: Final = "unit"
LATENCY_MS: Final = "latency_ms"
RETRIES: Final = "retries"
CACHE_HIT: Final = "cache_hit"
SUCCESS: Final = "success"
COST: Final = "cost_usd"
COMPUTED_COST: Final = "computed_cost_usd"
COST_SOURCE: Final = "cost_source"
PRICE_VERSION: Final = "price_version"
TAGS: Final = "tags"
DATE: Final = "date"  # hive partition column, derived from ts (UTC)

SERVICES: Final = ("llm", "embedding", "tts", "stt", "image", "video", "compute", "messaging", "other")
COST_SOURCES: Final = ("reported", "computed", "unpriced")

ATTRIBUTION: Final = (PROVIDER, MODEL, SERVICE, OPERATION, PROJECT, JOB_ID, STAGE, AGENT, USER)
TOKEN_COLUMNS: Final = (
    INPUT_TOKENS, CACHE_READ_TOKENS, CACHE_WRITE_TOKENS, CACHE_WRITE_1H_TOKENS,
    OUTPUT_TOKENS, REASONING_TOKENS,
)
COUNT_COLUMNS: Final = (*TOKEN_COLUMNS, CHARACTERS, IMAGES, RETRIES)
AMOUNT_COLUMNS: Final = (AUDIO_SECONDS, COMPUTE_SECONDS, QUANTITY, LATENCY_MS)

POLARS_SCHEMA: Final = pl.Schema({
    EVENT_ID: pl.String,
    TS: pl.Datetime("us", "UTC"),
    PROVIDER: pl.String,
    MODEL: pl.String,
    SERVICE: pl.String,
    OPERATION: pl.String,
    PROJECT: pl.String,
    JOB_ID: pl.String,
    STAGE: pl.String,
    AGENT: pl.String,
    USER: pl.String,
    **{c: pl.Int64 for c in TOKEN_COLUMNS},
    CHARACTERS: pl.Int64,
    IMAGES: pl.Int64,
    AUDIO_SECONDS: pl.Float64,
    COMPUTE_SECONDS: pl.Float64,
    QUANTITY: pl.Float64,
    UNIT: pl.String,
    LATENCY_MS: pl.Float64,
    RETRIES: pl.Int64,
    CACHE_HIT: pl.Boolean,
    SUCCESS: pl.Boolean,
    COST: pl.Float64,
    COMPUTED_COST: pl.Float64,
    COST_SOURCE: pl.String,
    PRICE_VERSION: pl.String,
    TAGS: pl.String,
})
COLUMNS: Final = tuple(POLARS_SCHEMA.names())

_ARROW_TYPES = {pl.String: pa.string(), pl.Int64: pa.int64(), pl.Float64: pa.float64(), pl.Boolean: pa.bool_()}
ARROW_SCHEMA: Final = pa.schema([
    pa.field(name, pa.timestamp("us", tz="UTC") if name == TS else _ARROW_TYPES[dtype],
             nullable=name not in (EVENT_ID, TS, PROVIDER, MODEL, SERVICE, COST_SOURCE))
    for name, dtype in POLARS_SCHEMA.items()
])
HIVE_SCHEMA: Final = pl.Schema({DATE: pl.Date})

# Input columns a source may give; the pricing columns are derived (a given cost_usd is "reported").
INPUT_COLUMNS: Final = tuple(c for c in COLUMNS if c not in (COMPUTED_COST, COST_SOURCE, PRICE_VERSION))
REQUIRED: Final = (TS, PROVIDER, MODEL, SERVICE)
MAX_STRING: Final = 512
MAX_TAGS: Final = 8192


@dataclass(frozen=True)
class Validated:
    """Typed good events (schema columns, pricing columns still empty) and rejected records."""

    events: pl.DataFrame
    rejected: pl.DataFrame  # columns: record (int, 1-based), error (str)


def stable_id(*parts: str | bytes) -> str:
    """A deterministic event id for a source record: re-imports produce the same id.

    Examples:
        >>> stable_id("costs.jsonl", '{"a": 1}') == stable_id("costs.jsonl", '{"a": 1}')
        True
    """
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode())
        h.update(b"\x1f")
    return h.hexdigest()


def validate(raw: pl.DataFrame, *, tz: str | None = None, record_numbers: pl.Series | None = None,
             label: str = "record") -> Validated:
    """Cast a raw frame to the event schema; one error message per bad record.

    `tz` converts naive timestamps from that zone (without it they are rejected).
    `record_numbers` names records in messages (e.g. file line numbers); default 1..n.
    """
    unknown = [c for c in raw.columns if c not in INPUT_COLUMNS and c != "_record"]
    if unknown:
        raw = raw.drop(unknown)
    n = raw.height
    numbers = record_numbers if record_numbers is not None else pl.int_range(1, n + 1, eager=True)
    df = raw.with_columns(numbers.alias("_record").cast(pl.Int64))
    for c in INPUT_COLUMNS:
        if c not in df.columns:
            df = df.with_columns(pl.lit(None).alias(c))

    errors: list[pl.Expr] = []
    typed: list[pl.Expr] = []

    def shown(c: str) -> pl.Expr:
        v = pl.col(c).cast(pl.String)
        quoted = pl.concat_str(pl.lit("'"), v.str.slice(0, 40), pl.lit("'"))
        return quoted if df.schema[c] == pl.String else v

    def rule(c: str, bad: pl.Expr, text: str) -> None:
        errors.append(pl.when(bad).then(pl.concat_str(pl.lit(f"{c}="), shown(c), pl.lit(f" {text}"))))

    for c in REQUIRED:
        errors.append(pl.when(pl.col(c).is_null() | (pl.col(c).cast(pl.String).str.strip_chars() == ""))
                      .then(pl.lit(f"{c} is missing")))

    ts, ts_errors = _timestamp(df, tz)
    typed.append(ts.alias(TS))
    errors.extend(ts_errors)

    for c in (EVENT_ID, PROVIDER, MODEL, SERVICE, OPERATION, PROJECT, JOB_ID, STAGE, AGENT, USER, UNIT, TAGS):
        s = pl.col(c).cast(pl.String).str.strip_chars()
        limit = MAX_TAGS if c == TAGS else MAX_STRING
        if df.schema[c] not in (pl.String, pl.Null):
            if c == TAGS and isinstance(df.schema[c], pl.Struct):
                s = pl.col(c).struct.json_encode()
            elif c not in (TAGS,) and not df.schema[c].is_numeric():
                rule(c, pl.col(c).is_not_null(), "must be text")
        rule(c, s.str.len_chars() > limit, f"is longer than {limit} characters")
        if c in (PROVIDER, SERVICE):
            s = s.str.to_lowercase()
        typed.append(pl.when(s == "").then(None).otherwise(s).alias(c))
    rule(SERVICE, pl.col(SERVICE).is_not_null()
         & ~pl.col(SERVICE).cast(pl.String).str.strip_chars().str.to_lowercase().is_in(SERVICES),
         f"is not a known service ({', '.join(SERVICES)})")

    for c in COUNT_COLUMNS:
        v, bad_type = _number(df, c, pl.Int64)
        rule(c, bad_type, "is not a whole number")
        rule(c, v < 0, "must be ≥ 0")
        typed.append(v.fill_null(0).alias(c) if c in TOKEN_COLUMNS else v.alias(c))
    for c in (*AMOUNT_COLUMNS, COST):
        v, bad_type = _number(df, c, pl.Float64)
        rule(c, bad_type, "is not a number")
        rule(c, v.is_nan() | v.is_infinite(), "must be a finite number")
        rule(c, v < 0, "must be ≥ 0")
        typed.append(v.alias(c))
    for c in (CACHE_HIT, SUCCESS):
        v, bad_type = _boolean(df, c)
        rule(c, bad_type, "is not true or false")
        typed.append(v.alias(c))

    w, w1h = _number(df, CACHE_WRITE_TOKENS, pl.Int64)[0].fill_null(0), _number(df, CACHE_WRITE_1H_TOKENS, pl.Int64)[0]
    rule(CACHE_WRITE_1H_TOKENS, w1h > w, "must be ≤ cache_write_tokens (1-hour writes are part of them)")
    o, r = _number(df, OUTPUT_TOKENS, pl.Int64)[0].fill_null(0), _number(df, REASONING_TOKENS, pl.Int64)[0]
    rule(REASONING_TOKENS, r > o, "must be ≤ output_tokens (reasoning is part of the output)")

    checked = df.select(
        pl.col("_record"),
        pl.concat_str(errors, separator="; ", ignore_nulls=True).replace("", None).alias("_error"),
        *typed,
    )
    bad = checked.filter(pl.col("_error").is_not_null())
    good = checked.filter(pl.col("_error").is_null())
    if good.height and good[EVENT_ID].null_count():
        good = good.with_columns(pl.col(EVENT_ID).fill_null(_row_ids(df, good["_record"])))
    events = good.select(
        *[pl.col(c).cast(POLARS_SCHEMA[c]) if c in good.columns else pl.lit(None, POLARS_SCHEMA[c]).alias(c)
          for c in COLUMNS]
    ).with_columns(
        pl.col(SUCCESS).fill_null(True), pl.col(CACHE_HIT).fill_null(False), pl.col(RETRIES).fill_null(0),
    )
    rejected = bad.select(
        pl.col("_record").alias("record"),
        pl.concat_str(pl.lit(f"{label} "), pl.col("_record").cast(pl.String), pl.lit(": "), pl.col("_error"))
        .alias("error"),
    )
    return Validated(events, rejected)


def _row_ids(raw: pl.DataFrame, records: pl.Series) -> pl.Series:
    """Deterministic ids for rows that came without one: a hash of the row's own values."""
    rows = raw.filter(pl.col("_record").is_in(records.implode())).drop("_record")
    text = rows.select(pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in rows.columns],
                                     separator="\x1f")).to_series()
    return pl.Series([stable_id(t) for t in text], dtype=pl.String)


def _number(df: pl.DataFrame, c: str, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    src = df.schema[c]
    col = pl.col(c)
    if src == pl.Null:
        return col.cast(dtype), pl.lit(False)
    if src == pl.Boolean:
        return pl.lit(None, dtype), col.is_not_null()
    if src == pl.String:
        text = col.str.strip_chars()
        as_float = text.cast(pl.Float64, strict=False)
        if dtype == pl.Int64:
            whole = as_float.is_not_null() & (as_float == as_float.floor()) & (as_float.abs() < 2**62)
            value = pl.when(whole).then(as_float).cast(pl.Int64)
            return value, col.is_not_null() & (text != "") & ~whole
        return as_float, col.is_not_null() & (text != "") & as_float.is_null()
    if src.is_float() and dtype == pl.Int64:
        whole = col.is_finite() & (col == col.floor())
        return pl.when(whole).then(col).cast(pl.Int64), col.is_not_null() & ~whole
    if src.is_numeric():
        return col.cast(dtype), pl.lit(False)
    return pl.lit(None, dtype), col.is_not_null()


def _boolean(df: pl.DataFrame, c: str) -> tuple[pl.Expr, pl.Expr]:
    src = df.schema[c]
    col = pl.col(c)
    if src in (pl.Boolean, pl.Null):
        return col.cast(pl.Boolean), pl.lit(False)
    text = col.cast(pl.String).str.strip_chars().str.to_lowercase()
    value = (pl.when(text.is_in(["true", "1", "yes", "1.0"])).then(True)
             .when(text.is_in(["false", "0", "no", "0.0", ""])).then(False))
    return value, col.is_not_null() & value.is_null() & (text != "")


def _timestamp(df: pl.DataFrame, tz: str | None) -> tuple[pl.Expr, list[pl.Expr]]:
    src = df.schema[TS]
    col = pl.col(TS)
    if isinstance(src, pl.Datetime):
        if src.time_zone is not None:
            return col.dt.convert_time_zone("UTC").dt.cast_time_unit("us"), []
        if tz is not None:
            return col.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")\
                .dt.convert_time_zone("UTC").dt.cast_time_unit("us"), []
        return col.dt.replace_time_zone("UTC"), [
            pl.when(col.is_not_null()).then(pl.concat_str(pl.lit("ts="), col.cast(pl.String),
                                                           pl.lit(" has no time zone (give an offset or --tz)")))]
    if src.is_numeric():
        return pl.lit(None, pl.Datetime("us", "UTC")), [
            pl.when(col.is_not_null()).then(pl.lit("ts must be an ISO 8601 timestamp, not a number"))]
    text = col.cast(pl.String).str.strip_chars().str.replace(r"^(\d{4}-\d\d-\d\d) ", "${1}T")\
        .str.replace(r"[zZ]$", "+00:00")
    aware = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us", time_zone="UTC")
    naive = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
    naive_date = text.str.to_datetime("%Y-%m-%d", strict=False, time_unit="us")
    naive = pl.coalesce(naive, naive_date)
    quoted = pl.concat_str(pl.lit("ts='"), text.str.slice(0, 40), pl.lit("'"))
    errors = [pl.when(col.is_not_null() & aware.is_null() & naive.is_null())
              .then(pl.concat_str(quoted, pl.lit(" is not an ISO 8601 timestamp")))]
    if tz is None:
        errors.append(pl.when(aware.is_null() & naive.is_not_null())
                      .then(pl.concat_str(quoted, pl.lit(" has no time zone (give an offset or --tz)"))))
        return aware, errors
    localised = naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")
    errors.append(pl.when(aware.is_null() & naive.is_not_null() & localised.is_null())
                  .then(pl.concat_str(quoted, pl.lit(f" does not exist in {tz} (a DST gap)"))))
    return pl.coalesce(aware, localised), errors


def empty_events() -> pl.DataFrame:
    """A frame with no rows and the event schema."""
    return pl.DataFrame(schema=POLARS_SCHEMA)

