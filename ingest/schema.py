"""The usage event: column names, dtypes, allowed values and validation, named once.

Every writer writes `POLARS_SCHEMA` (which is `ARROW_SCHEMA` on disk); every reader scans with it.
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

import datetime as dt
import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Final

import polars as pl
import pyarrow as pa

from ingest import plans

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
CURRENCY: Final = "currency"  # input only: the currency a given cost_usd is in (converted to dollars at import)

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

# What every data file holds (Polars writes strings as large_string): no dictionaries, no ns.
_ARROW_TYPES = {pl.String: pa.large_string(), pl.Int64: pa.int64(), pl.Float64: pa.float64(), pl.Boolean: pa.bool_()}
ARROW_SCHEMA: Final = pa.schema([
    pa.field(name, pa.timestamp("us", tz="UTC") if name == TS else _ARROW_TYPES[dtype])
    for name, dtype in POLARS_SCHEMA.items()
])
HIVE_SCHEMA: Final = pl.Schema({DATE: pl.Date})

# Input columns a source may give; the pricing columns are derived (a given cost_usd is "reported").
INPUT_COLUMNS: Final = tuple(c for c in COLUMNS if c not in (COMPUTED_COST, COST_SOURCE, PRICE_VERSION))
ACCEPTED: Final = (*INPUT_COLUMNS, CURRENCY)  # every field a source may give (`currency` is not stored)
REQUIRED: Final = (TS, PROVIDER, MODEL, SERVICE)
NAMES: Final = (PROVIDER, MODEL, SERVICE, OPERATION, PROJECT, JOB_ID, STAGE, AGENT, USER, UNIT)  # printable text

# What each column holds: the column reference (docs/schema.md) is generated from this and the
# dtypes above (`column_reference`), so the docs cannot drift from the schema.
DESCRIPTIONS: Final = {
    EVENT_ID: "the caller's id, or a deterministic hash of the source record: re-imports are idempotent",
    TS: "when the call happened, in UTC; a timestamp without a zone is refused unless a zone is given (--tz)",
    PROVIDER: "who billed it: openai, anthropic, google, elevenlabs, … (lower case)",
    MODEL: "the model as the source names it; pricing resolves it",
    SERVICE: f"the kind of call: {', '.join(SERVICES)}",
    OPERATION: "what the call did, e.g. story_generation, image_generation",
    PROJECT: "attribution: the project the call belongs to",
    JOB_ID: "attribution: the run (a video, a pipeline execution, an agent session) the call belongs to",
    STAGE: "attribution: the step of the run",
    AGENT: "attribution: the agent or tool that made the call",
    USER: "attribution: the person or key behind the call",
    INPUT_TOKENS: "input tokens billed at the base rate, without cache reads or writes (an OpenAI-style "
                  "prompt_tokens that includes cached tokens is split on import)",
    CACHE_READ_TOKENS: "input tokens read from the prompt cache",
    CACHE_WRITE_TOKENS: "input tokens written to the prompt cache",
    CACHE_WRITE_1H_TOKENS: "the part of cache_write_tokens written with a 1-hour lifetime (its own rate)",
    OUTPUT_TOKENS: "output tokens, reasoning included",
    REASONING_TOKENS: "how many of the output tokens were reasoning",
    CHARACTERS: "characters of text (text to speech)",
    IMAGES: "images made",
    AUDIO_SECONDS: "seconds of audio (speech to text)",
    COMPUTE_SECONDS: "seconds of compute (GPU jobs)",
    QUANTITY: "units of `unit` for any other usage",
    UNIT: "what `quantity` counts; a price rule for this unit prices it",
    LATENCY_MS: "how long the call took",
    RETRIES: "how many times the call was retried",
    CACHE_HIT: "whether the response came from a cache",
    SUCCESS: "whether the call succeeded (failed calls are still billed and counted)",
    COST: "the cost that counts: the reported one where the source gave it, else the computed one; "
          "null when unpriced. A source billed in another currency gives its cost with `currency` (EUR, JPY…): "
          "it lands in dollars at the rate of its UTC day (`spendlake fx`), the amount and code kept in `tags` "
          "(billed_amount, billed_currency); a currency without a rate for that day sends the record to quarantine",
    COMPUTED_COST: "what the price book says, kept beside a reported cost so the gap can be shown",
    COST_SOURCE: f"where cost_usd came from: {', '.join(COST_SOURCES)}",
    PRICE_VERSION: "which price rules priced the event, so a cost can be explained and repriced",
    TAGS: "free key → value attribution, as JSON text",
}


def column_reference() -> str:
    """The event schema as a Markdown table: column, type, whether a source must give it, what it holds."""
    def kind(c: str) -> str:
        dtype = POLARS_SCHEMA[c]
        text = "timestamp (µs, UTC)" if c == TS else {pl.String: "text", pl.Int64: "integer", pl.Float64: "number",
                                                      pl.Boolean: "true / false"}[dtype]
        return text + (" ≥ 0" if c in (*COUNT_COLUMNS, *AMOUNT_COLUMNS, LATENCY_MS, COST, COMPUTED_COST) else "")

    def given(c: str) -> str:
        return "required" if c in REQUIRED else "derived" if c not in INPUT_COLUMNS else "optional"

    rows = [f"| `{c}` | {kind(c)} | {given(c)} | {DESCRIPTIONS[c]} |" for c in COLUMNS]
    return "\n".join(["# The usage event", "", "Written by `ingest.schema.column_reference()` from the schema itself; "
                      "a test keeps this file equal to it.", "", "| column | type | a source gives it | what it holds |",
                      "|---|---|---|---|", *rows, ""])


# Bounds of a plausible event (beyond them a value is a bug or an attack, and goes to quarantine):
MAX_STRING: Final = 512  # characters of a name or id; names are printable (no NUL, newline or other control)
MAX_TAGS: Final = 8192  # characters of the tags' JSON text
EARLIEST: Final = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # ts from here ...
FUTURE: Final = dt.timedelta(days=1)  # ... to a day ahead of now (clocks drift, zones differ)
MAX_COUNT: Final = 10**12  # tokens, characters, images, retries of one event (a day's usage report included)
MAX_AMOUNT: Final = 1e10  # seconds, quantity, latency_ms of one event
MAX_COST: Final = 1e7  # USD of one event
CONTROL_CHARS: Final = (*map(chr, range(32)), "\x7f")  # what a name may not hold

# The words of each rule, after `<column>=<value> `: `validate` (a frame) and `check_record` (one
# record, for the Tracker) say the same thing.
MISSING: Final = "is missing"
OUTSIDE: Final = f"is outside {EARLIEST:%Y-%m-%d} … a day from now (the schema's bounds)"
NOT_TEXT: Final = "must be text"
UNPRINTABLE: Final = "must be printable (no NUL, newline or other control character)"
UNKNOWN_SERVICE: Final = f"is not a known service ({', '.join(SERVICES)})"
NOT_WHOLE: Final = "is not a whole number"
NOT_NUMBER: Final = "is not a number"
NOT_FINITE: Final = "must be a finite number"
NEGATIVE: Final = "must be ≥ 0"
NOT_BOOLEAN: Final = "is not true or false"
NOT_CURRENCY: Final = "is not a three-letter currency code (EUR, GBP, JPY…)"
ONE_HOUR_OVER_WRITES: Final = "must be ≤ cache_write_tokens (1-hour writes are part of them)"
REASONING_OVER_OUTPUT: Final = "must be ≤ output_tokens (reasoning is part of the output)"


def too_long(limit: int) -> str:
    return f"is longer than {limit} characters"


def over_bound(bound: float) -> str:
    return f"is over the bound of {bound:.0e} per event"


@dataclass(frozen=True)
class Validated:
    """Typed good events (schema columns, pricing columns still empty) and rejected records."""

    events: pl.DataFrame
    rejected: pl.DataFrame  # columns: record (its number), error (str), row (0-based position in the input)
    rows: pl.Series  # the 0-based position in the input of each good event


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


RecordRule = tuple[pl.Expr, pl.Expr]  # (the record breaks it, the message saying how)


def validate(raw: pl.DataFrame, *, tz: str | None = None, record_numbers: pl.Series | None = None,
             label: str | pl.Series = "record", now: dt.datetime | None = None) -> Validated:
    """Cast a raw frame to the event schema; one error message per bad record.

    `tz` converts naive timestamps from that zone (without it they are rejected).
    `record_numbers` names records in messages (e.g. file line numbers); default 1..n, after
    `label` ("line"), or after each record's own label when it is a Series ("a.jsonl line").
    Values are converted once; the rules are cheap comparisons on them, and messages
    are written only for the records that break one. Values outside the bounds above (`EARLIEST`
    to `now` + `FUTURE`, `MAX_COUNT`, `MAX_AMOUNT`, `MAX_COST`, printable names) are rejected.
    A record without an `event_id` gets one from its validated values (see `_row_ids`).
    """
    latest = (now or dt.datetime.now(dt.UTC)) + FUTURE
    # (a currency column with nothing in it, as a reader that lists every field makes, is no currency)
    kept = [c for c in raw.columns if c in ACCEPTED
            and not (c == CURRENCY and raw[c].null_count() == raw.height)]
    # (none of them: a frame without columns has no rows, so keep one column of nulls, one per record)
    raw = raw.select(kept) if kept else pl.DataFrame({EVENT_ID: pl.Series([None] * raw.height, dtype=pl.String)})
    numbers = record_numbers if record_numbers is not None else pl.int_range(1, raw.height + 1, eager=True)
    name = label.alias("_label") if isinstance(label, pl.Series) else pl.lit(label).alias("_label")
    df = raw.with_columns(numbers.cast(pl.Int64).alias("_record"), name,
                          *[pl.lit(None).alias(c) for c in INPUT_COLUMNS if c not in raw.columns])
    parsed = _iso_timestamps(df)
    if parsed is not None:
        df = df.with_columns(parsed.alias(_PARSED_TS))
    typed, rules = _plan(tuple(df.schema.items()), tz, frozenset(_unprintable(raw)), parsed is not None)
    ts = pl.col(f"_v_{TS}")
    rules = [*rules, (~ts.is_between(pl.lit(EARLIEST), pl.lit(latest)),
                      pl.concat_str(pl.lit("ts="), ts.dt.to_string("%Y-%m-%dT%H:%M:%SZ"),
                                    pl.lit(f" {OUTSIDE}")))]
    checked = df.lazy().with_columns(typed).with_row_index("_row").with_columns(
        pl.any_horizontal([bad.fill_null(False) for bad, _ in rules]).alias("_bad"))
    checked = plans.collect(checked, raw.height)
    good = checked.filter(~pl.col("_bad")) if checked["_bad"].any() else checked
    events = good.lazy().select(
        *[pl.col(f"_v_{c}").cast(POLARS_SCHEMA[c]).alias(c) if c in INPUT_COLUMNS else pl.lit(None, POLARS_SCHEMA[c]).alias(c)
          for c in COLUMNS],
        *([pl.col(f"_v_{CURRENCY}").alias(CURRENCY)] if CURRENCY in kept else []),  # (for the pipeline to convert)
    ).with_columns(
        *[pl.col(c).fill_null(0) for c in TOKEN_COLUMNS],
        pl.col(SUCCESS).fill_null(True), pl.col(CACHE_HIT).fill_null(False), pl.col(RETRIES).fill_null(0),
    )
    events = plans.collect(events, good.height)
    if events.height and events[EVENT_ID].null_count():
        missing = events[EVENT_ID].is_null()
        ids = _row_ids(events.filter(missing))
        events = events.with_columns(events[EVENT_ID].scatter(missing.arg_true(), ids))
    if good is checked:  # messages are written only for records that break a rule
        return Validated(events, pl.DataFrame(schema=REJECTED_SCHEMA), good["_row"].cast(pl.Int64))
    rejected = checked.rename({"_row": "row"}).filter(pl.col("_bad")).select(
        pl.col("_record").alias("record"),
        pl.concat_str(pl.col("_label"), pl.lit(" "), pl.col("_record").cast(pl.String), pl.lit(": "),
                      pl.concat_str([pl.when(bad).then(message) for bad, message in rules],
                                    separator="; ", ignore_nulls=True)).alias("error"),
        pl.col("row").cast(pl.Int64),
    )
    return Validated(events, rejected, good["_row"].cast(pl.Int64))


_PARSED_TS = "_ts_parsed"  # the ts column already parsed (every value ISO 8601 with an offset)
REJECTED_SCHEMA: Final = pl.Schema({"record": pl.Int64, "error": pl.String, "row": pl.Int64})


@functools.lru_cache(maxsize=64)
def _plan(schema: tuple[tuple[str, pl.DataType], ...], tz: str | None, unprintable: frozenset[str],
          parsed: bool) -> tuple[list[pl.Expr], list[RecordRule]]:
    """Each input column's value in the event schema (named `_v_<column>`) and the rules, for a raw
    frame of this schema: built once per shape of input, since the batches of an import share it."""
    schema = dict(schema)
    typed: list[pl.Expr] = []
    rules: list[RecordRule] = []

    def value(c: str) -> pl.Expr:
        return pl.col(f"_v_{c}")

    def given(c: str) -> pl.Expr:
        text = pl.col(c).cast(pl.String).str.strip_chars()
        return pl.col(c).is_not_null() & (text != "") if schema[c] == pl.String else pl.col(c).is_not_null()

    def shown(c: str) -> pl.Expr:
        v = pl.col(c).cast(pl.String)
        return pl.concat_str(pl.lit("'"), v.str.slice(0, 40), pl.lit("'")) if schema[c] == pl.String else v

    def rule(c: str, bad: pl.Expr, text: str) -> None:
        rules.append((bad, pl.concat_str(pl.lit(f"{c}="), shown(c), pl.lit(f" {text}"))))

    for c in REQUIRED:  # (an unparseable ts has its own message, so ts is missing only when not given)
        rules.append((~given(c) if c == TS else value(c).is_null(), pl.lit(f"{c} {MISSING}")))

    ts, ts_rules = (pl.col(_PARSED_TS), []) if parsed else _timestamp(schema[TS], tz)
    typed.append(ts.alias(f"_v_{TS}"))
    rules += ts_rules
    for c in (EVENT_ID, *NAMES, TAGS):
        text = pl.col(c).cast(pl.String)
        if c == TAGS and isinstance(schema[c], pl.Struct):
            text = pl.col(c).struct.json_encode()
        elif schema[c] not in (pl.String, pl.Null) and not schema[c].is_numeric():
            rule(c, pl.col(c).is_not_null(), NOT_TEXT)
        if c not in (EVENT_ID, TAGS):  # names that group and filter: " prod" must be "prod"
            text = text.str.strip_chars()
        if c in (PROVIDER, SERVICE):
            text = text.str.to_lowercase()
        typed.append(text.replace("", None).alias(f"_v_{c}"))
        limit = MAX_TAGS if c == TAGS else MAX_STRING
        rule(c, value(c).str.len_chars() > limit, too_long(limit))
        if c in unprintable:
            rule(c, value(c).str.contains_any(list(CONTROL_CHARS)), UNPRINTABLE)
    rule(SERVICE, value(SERVICE).is_not_null() & ~value(SERVICE).is_in(SERVICES),
         UNKNOWN_SERVICE)
    if CURRENCY in schema:  # a code here; whether rates exist for it is the pipeline's to say
        typed.append(pl.col(CURRENCY).cast(pl.String).str.strip_chars().str.to_uppercase().replace("", None)
                     .alias(f"_v_{CURRENCY}"))
        rule(CURRENCY, value(CURRENCY).is_not_null() & ~value(CURRENCY).str.contains("^[A-Z]{3}$"), NOT_CURRENCY)

    for c in COUNT_COLUMNS:
        typed.append(_number(schema[c], c, pl.Int64).alias(f"_v_{c}"))
        rule(c, given(c) & value(c).is_null(), NOT_WHOLE)
        rule(c, value(c) < 0, NEGATIVE)
        rule(c, value(c) > MAX_COUNT, over_bound(MAX_COUNT))
    for c in (*AMOUNT_COLUMNS, COST):
        typed.append(_number(schema[c], c, pl.Float64).alias(f"_v_{c}"))
        rule(c, given(c) & value(c).is_null(), NOT_NUMBER)
        rule(c, value(c).is_nan() | value(c).is_infinite(), NOT_FINITE)
        rule(c, value(c) < 0, NEGATIVE)
        bound = MAX_COST if c == COST else MAX_AMOUNT
        rule(c, value(c).is_finite() & (value(c) > bound), over_bound(bound))
    for c in (CACHE_HIT, SUCCESS):
        typed.append(_boolean(schema[c], c).alias(f"_v_{c}"))
        rule(c, given(c) & value(c).is_null(), NOT_BOOLEAN)
    rule(CACHE_WRITE_1H_TOKENS, value(CACHE_WRITE_1H_TOKENS) > value(CACHE_WRITE_TOKENS).fill_null(0),
         ONE_HOUR_OVER_WRITES)
    rule(REASONING_TOKENS, value(REASONING_TOKENS) > value(OUTPUT_TOKENS).fill_null(0),
         REASONING_OVER_OUTPUT)
    return typed, rules



def check_record(record: dict, *, now: dt.datetime | None = None,
                 required: tuple[str, ...] = REQUIRED) -> list[str]:
    """`validate`'s rules for one record given as Python values (a Tracker's call), in the same
    words, fast enough for every call: [] when it is good. Values are taken as typed (a count
    is an int, a timestamp an aware datetime): text is not parsed here. `required`: the fields
    that must be there (none, for some fields of a record such as its attribution)."""
    problems: list[str] = []
    for c in required:
        v = record.get(c)
        if v is None or (v.__class__ is str and v not in _GOOD_NAMES.get(c, ()) and not _strip(v)):
            problems.append(f"{c} {MISSING}")
    for c, v in record.items():
        kind = _KINDS.get(c)
        if v is None or kind is None:
            continue
        if kind is _COUNT:
            if v.__class__ is int and 0 <= v <= MAX_COUNT:
                continue
            if v.__class__ is bool or not isinstance(v, (int, float)) or not math.isfinite(v) or v != int(v):
                _bad(problems, c, v, NOT_WHOLE)
            elif v < 0:
                _bad(problems, c, v, NEGATIVE)
            elif v > MAX_COUNT:
                _bad(problems, c, v, over_bound(MAX_COUNT))
        elif kind is _TEXT or kind is _NAME:
            good = _GOOD_NAMES.get(c)
            if good is not None and v in good:  # names repeat from call to call: each is checked once
                continue
            if v.__class__ is not str:
                _bad(problems, c, v, NOT_TEXT)
                continue
            text = _strip(v) if kind is _NAME else v
            if not text:  # an empty name is no name (a required one is missing)
                continue
            limit = MAX_TAGS if c == TAGS else MAX_STRING
            if len(text) > limit:
                _bad(problems, c, v, too_long(limit))
            if kind is _NAME and not (text.isascii() and text.isprintable()) and _CONTROL.search(text):
                _bad(problems, c, v, UNPRINTABLE)
            if c == SERVICE and text.lower() not in SERVICES:
                _bad(problems, c, v, UNKNOWN_SERVICE)
            if not problems and good is not None and len(good) < 10_000:
                good.add(v)
        elif kind is _AMOUNT:  # (each rule on its own, as in `validate`: -inf breaks two)
            bound = MAX_COST if c == COST else MAX_AMOUNT
            if v.__class__ is bool or not isinstance(v, (int, float)):
                _bad(problems, c, v, NOT_NUMBER)
            elif not 0 <= v <= bound:
                if not math.isfinite(v):
                    _bad(problems, c, v, NOT_FINITE)
                if v < 0:
                    _bad(problems, c, v, NEGATIVE)
                if math.isfinite(v) and v > bound:
                    _bad(problems, c, v, over_bound(bound))
        elif kind is _BOOLEAN:
            if v.__class__ is not bool:
                _bad(problems, c, v, NOT_BOOLEAN)
        elif isinstance(v, dt.datetime) and v.tzinfo is not None:  # ts
            if not EARLIEST <= v <= (now or dt.datetime.now(dt.UTC)) + FUTURE:
                problems.append(f"ts={v.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ} {OUTSIDE}")
    for part, whole, words in _PARTS:
        v = record.get(part)
        if v is not None and isinstance(v, (int, float)) and v.__class__ is not bool and v > (record.get(whole) or 0):
            _bad(problems, part, v, words)
    return problems


def _strip(text: str) -> str:
    """`text` without the white space Polars' strip_chars() removes (most names have none)."""
    if text and text[0] not in _WHITESPACE and text[-1] not in _WHITESPACE:
        return text
    return text.strip(_WHITESPACE)


def _bad(problems: list[str], c: str, value: object, words: str) -> None:
    shown = f"'{value[:40]}'" if isinstance(value, str) else str(value)
    problems.append(f"{c}={shown} {words}")


_COUNT, _NAME, _TEXT, _AMOUNT, _BOOLEAN, _TS = "count", "name", "text", "amount", "boolean", "ts"
_KINDS = {**{c: _COUNT for c in COUNT_COLUMNS}, **{c: _NAME for c in NAMES}, EVENT_ID: _TEXT, TAGS: _TEXT,
          **{c: _AMOUNT for c in (*AMOUNT_COLUMNS, COST)}, CACHE_HIT: _BOOLEAN, SUCCESS: _BOOLEAN, TS: _TS}
_GOOD_NAMES: dict[str, set[str]] = {c: set() for c in NAMES}  # names that passed (a bounded memo)
_PARTS = ((CACHE_WRITE_1H_TOKENS, CACHE_WRITE_TOKENS, ONE_HOUR_OVER_WRITES),
          (REASONING_TOKENS, OUTPUT_TOKENS, REASONING_OVER_OUTPUT))
_TEXT_COLUMNS = frozenset((EVENT_ID, *NAMES, TAGS))
# what Polars' strip_chars() strips: Unicode White_Space, which is Python's isspace() without the
# four separators \x1c-\x1f
_WHITESPACE = "".join(chr(i) for i in range(0x3001) if chr(i).isspace() and not 0x1c <= i <= 0x1f)
_CONTROL = re.compile(f"[{re.escape(''.join(CONTROL_CHARS))}]")

def _unprintable(raw: pl.DataFrame) -> set[str]:
    """The name columns holding a control character anywhere, found on their distinct values (names
    repeat, so this costs a fraction of a check of every row); only those get the per-record rule."""
    names = [c for c in NAMES if c in raw.columns and raw.schema[c] == pl.String]
    if not names or raw.height == 0:
        return set()
    found = raw.select([pl.col(c).unique().str.contains_any(list(CONTROL_CHARS)).any() for c in names]).row(0)
    return {c for c, bad in zip(names, found) if bad}


def _row_ids(events: pl.DataFrame) -> pl.Series:
    """Deterministic ids for events that came without one: a hash of their validated values.

    The same record gets the same id however it was written: in any column order, with extra
    columns, from CSV, JSON Lines or Parquet, `250`, `250.0` or `"250"`, `Z` or `+01:00`, an empty
    cell or no column at all (the schema's defaults), tags with keys in any order.
    """
    def canonical(c: str) -> pl.Expr:
        if c == TS:
            return pl.col(c).dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ")
        if c == TAGS:
            return pl.col(c).map_elements(_canonical_json, return_dtype=pl.String)
        return pl.col(c).cast(pl.String)

    text = pl.concat_str([canonical(c).fill_null("") for c in INPUT_COLUMNS if c != EVENT_ID], separator="\x1f")
    if CURRENCY in events.columns:  # (a cost in euros is not the same record as in dollars; in dollars, ids stay)
        text = pl.when(pl.col(CURRENCY).is_null() | (pl.col(CURRENCY) == "USD")).then(text).otherwise(
            pl.concat_str([text, pl.col(CURRENCY)], separator="\x1f"))
    text = events.select(text).to_series()
    return pl.Series([stable_id(t) for t in text], dtype=pl.String)


def _canonical_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        return text


def _number(src: pl.DataType, c: str, dtype: pl.DataType) -> pl.Expr:
    """The column as `dtype`, null where a given value is not one (text is parsed; 1.0 is whole)."""
    col = pl.col(c)
    if src == pl.String:
        as_float = col.str.strip_chars().cast(pl.Float64, strict=False)
        if dtype == pl.Int64:
            whole = as_float.is_finite() & (as_float == as_float.floor()) & (as_float.abs() < 2**62)
            return pl.when(whole).then(as_float).cast(pl.Int64)
        return as_float
    if src.is_float() and dtype == pl.Int64:
        return pl.when(col.is_finite() & (col == col.floor())).then(col).cast(pl.Int64)
    if src.is_numeric() or src == pl.Null:
        return col.cast(dtype)
    return pl.lit(None, dtype)


def _boolean(src: pl.DataType, c: str) -> pl.Expr:
    if src in (pl.Boolean, pl.Null):
        return pl.col(c).cast(pl.Boolean)
    text = pl.col(c).cast(pl.String).str.strip_chars().str.to_lowercase()
    return (pl.when(text.is_in(["true", "1", "yes", "1.0"])).then(True)
            .when(text.is_in(["false", "0", "no", "0.0"])).then(False))


def _iso_timestamps(df: pl.DataFrame) -> pl.Series | None:
    """The common case, parsed at once: a text ts column whose every value is ISO 8601 with an
    offset (Arrow's parser refuses naive times); None otherwise."""
    if df.schema[TS] != pl.String:
        return None
    try:
        parsed = df.get_column(TS).to_arrow(compat_level=pl.CompatLevel.oldest())
        return pl.Series(parsed.cast(pa.timestamp("us", tz="UTC")))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _timestamp(src: pl.DataType, tz: str | None) -> tuple[pl.Expr, list[RecordRule]]:
    """The ts column in UTC, and its rules. Text is parsed as ISO 8601; naive formats are tried
    only when some values lack an offset."""
    col = pl.col(TS)
    if isinstance(src, pl.Datetime):
        if src.time_zone is not None:
            return col.dt.convert_time_zone("UTC").dt.cast_time_unit("us"), []
        if tz is not None:
            return col.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")\
                .dt.convert_time_zone("UTC").dt.cast_time_unit("us"), []
        return col.dt.replace_time_zone("UTC"), [
            (col.is_not_null(), pl.concat_str(pl.lit("ts="), col.cast(pl.String),
                                              pl.lit(" has no time zone (give an offset or --tz)")))]
    if src.is_numeric():
        return pl.lit(None, pl.Datetime("us", "UTC")), [
            (col.is_not_null(), pl.lit("ts must be an ISO 8601 timestamp, not a number"))]
    iso = "%Y-%m-%dT%H:%M:%S%.f%#z"  # %#z takes Z, +02:00 and +0200, and refuses naive times
    text = col.cast(pl.String).str.strip_chars().str.replace(r"^(\d{4}-\d\d-\d\d) ", "${1}T")
    aware = text.str.to_datetime(iso, strict=False, time_unit="us", time_zone="UTC")
    quoted = pl.concat_str(pl.lit("ts='"), text.str.slice(0, 40), pl.lit("'"))
    naive = pl.coalesce(text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"),
                        text.str.to_datetime("%Y-%m-%d", strict=False, time_unit="us"))
    rules = [(col.is_not_null() & aware.is_null() & naive.is_null(),
              pl.concat_str(quoted, pl.lit(" is not an ISO 8601 timestamp")))]
    if tz is None:
        rules.append((aware.is_null() & naive.is_not_null(),
                      pl.concat_str(quoted, pl.lit(" has no time zone (give an offset or --tz)"))))
        return aware, rules
    localised = naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")
    rules.append((aware.is_null() & naive.is_not_null() & localised.is_null(),
                  pl.concat_str(quoted, pl.lit(f" does not exist in {tz} (a DST gap)"))))
    return pl.coalesce(aware, localised), rules


def empty_events() -> pl.DataFrame:
    """A frame with no rows and the event schema."""
    return pl.DataFrame(schema=POLARS_SCHEMA)
