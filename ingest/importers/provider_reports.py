"""The providers' own usage and cost reports, as their admin APIs return them (one page a file,
a JSON array of pages, or one page a line).

- `openai-usage`: `/v1/organization/usage/{completions,embeddings,images,audio_speeches,
  audio_transcriptions}` buckets → one event per bucket result (the bucket's start as its
  time; `input_tokens` counts cached input, which is taken out of it).
- `anthropic-usage`: `/v1/organizations/usage_report/messages` → one event per bucket result
  (`uncached_input_tokens`, `cache_read_input_tokens`, `cache_creation` 5-minute and 1-hour,
  `output_tokens`; the flat `cache_creation_1h_input_tokens` spelling is read too).
- `openai-costs`, `anthropic-costs`: `/v1/organization/costs` and
  `/v1/organizations/cost_report` → what the provider billed per day (Anthropic's `amount` is
  in cents). These are not events: they are kept beside the lake as reported costs for
  `spendlake report reconcile`.

An event from a report stands for all the calls of its bucket (`num_model_requests` is in its
tags); its id is the bucket and grouping, so a re-downloaded report counts nothing twice.
Tiers apply per request, not to a bucket's total, so the tags also say which input a request
had (`tier_input`): Anthropic's `context_window` ("0-200k" below the long-context tier, unless
it is "200k-1M"; without that grouping, below it), OpenAI's average input per request.

Examples:
    >>> page = (b'{"object":"page","data":[{"object":"bucket","start_time":1772409600,"end_time":1772496000,'
    ...         b'"results":[{"object":"organization.usage.completions.result","input_tokens":1000,'
    ...         b'"input_cached_tokens":800,"output_tokens":50,"num_model_requests":5,"model":"gpt-4o-mini"}]}]}')
    >>> parse_openai_usage(page).raw.select("model", "input_tokens", "cache_read_tokens").row(0)
    ('gpt-4o-mini', 200, 800)
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

import polars as pl

from ingest import schema as s
from ingest.errors import ImportFormatError
from ingest.importers.base import Parsed
from ingest.pricing import TIER_TAG
from ingest.reported import REPORTED

# A request's input, for the tier (tiers apply per request): Anthropic's window, else below the tier
ANTHROPIC_TIERS = {"0-200k": 0, "200k-1M": 200_001}
OPENAI_SERVICES = {"completions": "llm", "embeddings": "embedding", "images": "image",
                   "audio_speeches": "tts", "audio_transcriptions": "stt", "moderations": "llm"}


def looks_like(first: dict) -> str | None:
    """Which report a page is, from its first bucket's results (None if it is not one)."""
    data = first.get("data")
    if not isinstance(data, list):
        return None
    results = next((b.get("results") for b in data if isinstance(b, dict) and b.get("results")), None)
    row = results[0] if results else {}
    kind = str(row.get("object", ""))
    if kind.startswith("organization.usage."):
        return "openai-usage"
    if kind == "organization.costs.result":
        return "openai-costs"
    if "uncached_input_tokens" in row:
        return "anthropic-usage"
    if "cost_type" in row or ("amount" in row and "currency" in row):
        return "anthropic-costs"
    if first.get("object") == "page":
        return "openai-usage"  # a page without results yet
    return None


def parse_openai_usage(source: Path | bytes) -> Parsed:
    return _each_result(source, _openai_usage, "start_time")


def parse_anthropic_usage(source: Path | bytes) -> Parsed:
    return _each_result(source, _anthropic_usage, "starting_at")


def parse_openai_costs(source: Path | bytes) -> Parsed:
    return _each_result(source, _openai_cost, "start_time", reported=True)


def parse_anthropic_costs(source: Path | bytes) -> Parsed:
    return _each_result(source, _anthropic_cost, "starting_at", reported=True)


def _openai_usage(bucket: dict, r: dict) -> dict:
    kind = str(r.get("object", "")).removeprefix("organization.usage.").removesuffix(".result")
    total, cached = _count(r, "input_tokens"), _count(r, "input_cached_tokens") or 0
    group = {k: r.get(k) for k in ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")}
    start = _epoch(bucket.get("start_time"))
    return {
        s.EVENT_ID: _id("openai-usage", kind, bucket.get("start_time"), group),
        s.TS: start and start.isoformat(), s.PROVIDER: "openai", s.MODEL: r.get("model"),
        s.SERVICE: OPENAI_SERVICES.get(kind, "other"), s.OPERATION: kind, s.PROJECT: r.get("project_id"),
        s.USER: r.get("user_id"), s.INPUT_TOKENS: None if total is None else total - cached,
        s.CACHE_READ_TOKENS: cached, s.OUTPUT_TOKENS: _count(r, "output_tokens"), s.IMAGES: _count(r, "images"),
        s.CHARACTERS: _count(r, "characters"), s.AUDIO_SECONDS: r.get("seconds"),
        s.TAGS: _tags(r | {TIER_TAG: _per_request(total, _count(r, "num_model_requests"))},
                      "num_model_requests", "api_key_id", "batch", "service_tier", "input_audio_tokens",
                      "output_audio_tokens", "size", "source", TIER_TAG),
    }


def _anthropic_usage(bucket: dict, r: dict) -> dict:
    creation = r.get("cache_creation") or {}
    five = _count(creation, "ephemeral_5m_input_tokens", r.get("cache_creation_5m_input_tokens")) or 0
    hour = _count(creation, "ephemeral_1h_input_tokens", r.get("cache_creation_1h_input_tokens")) or 0
    group = {k: r.get(k) for k in ("workspace_id", "api_key_id", "model", "service_tier", "context_window",
                                   "inference_geo")}
    return {
        s.EVENT_ID: _id("anthropic-usage", bucket.get("starting_at"), group),
        s.TS: bucket.get("starting_at"), s.PROVIDER: "anthropic", s.MODEL: r.get("model"), s.SERVICE: "llm",
        s.OPERATION: "messages", s.PROJECT: r.get("workspace_id"),
        s.INPUT_TOKENS: _count(r, "uncached_input_tokens"), s.CACHE_READ_TOKENS: _count(r, "cache_read_input_tokens"),
        s.CACHE_WRITE_TOKENS: five + hour, s.CACHE_WRITE_1H_TOKENS: hour, s.OUTPUT_TOKENS: _count(r, "output_tokens"),
        s.TAGS: _tags(r | {TIER_TAG: ANTHROPIC_TIERS.get(r.get("context_window"), 0)}, "api_key_id",
                      "service_tier", "context_window", "inference_geo", "server_tool_use", TIER_TAG),
    }


def _openai_cost(bucket: dict, r: dict) -> tuple:
    amount = r.get("amount") or {}
    item = r.get("line_item")
    start = _epoch(bucket.get("start_time"))
    return (_id("openai-costs", bucket.get("start_time"), r.get("project_id"), item), "openai",
            start and start.date(), r.get("project_id"), _model(item), item, None, _amount(amount.get("value", 0)),
            _currency(amount.get("currency")))  # (dollars: from the amount at its day's rate, when kept)


def _anthropic_cost(bucket: dict, r: dict) -> tuple:
    item = r.get("description") or "/".join(str(r.get(k)) for k in ("cost_type", "token_type") if r.get(k))
    group = {k: r.get(k) for k in ("workspace_id", "description", "cost_type", "model", "token_type",
                                   "service_tier", "context_window", "inference_geo")}
    return (_id("anthropic-costs", bucket.get("starting_at"), group), "anthropic",
            dt.date.fromisoformat(str(bucket.get("starting_at"))[:10]), r.get("workspace_id"), r.get("model"), item,
            None, _amount(r.get("amount", "0")) / 100, _currency(r.get("currency")))  # cents


def _each_result(source: Path | bytes, row, start_key: str, *, reported: bool = False) -> Parsed:
    """`row(bucket, result)` for every result; a result it cannot read is named with the reason."""
    rows, numbers, bad = [], [], []
    for number, bucket, r in _results(source):
        try:
            rows.append(row(bucket, r))
            numbers.append(number)
        except (ValueError, TypeError, ImportFormatError) as e:
            bad.append((number, json.dumps(r).encode(), f"bucket {bucket.get(start_key)}: {e}"))
    if reported:
        return Parsed(pl.DataFrame(schema={s.EVENT_ID: pl.String}), pl.Series("line", [], dtype=pl.Int64), "line",
                      unreadable=bad, reported=pl.DataFrame(rows, schema=REPORTED, orient="row"))
    raw = pl.DataFrame(rows, schema={c: s.POLARS_SCHEMA[c] if c != s.TS else pl.String
                                     for c in (rows[0] if rows else {s.EVENT_ID: None})}, strict=False)
    return Parsed(raw, pl.Series("line", numbers, dtype=pl.Int64), "line", unreadable=bad)


def _count(row: dict, key: str, default: object = None) -> int | None:
    """A whole number ≥ 0 from a report row (None when absent)."""
    value = row.get(key, default)
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise ValueError(f"{key}={value!r} is not a whole number ≥ 0")


def _amount(value: object) -> float:
    try:
        return float(Decimal(str(value)))
    except InvalidOperation:
        raise ValueError(f"amount={value!r} is not a number") from None


def parse_openai_usage_csv(source: Path | bytes) -> Parsed:
    """The usage dashboard's export: a row per bucket and grouping, the usage API's fields as columns."""
    return parse_openai_usage(_csv_pages(source, "organization.usage.completions.result"))


def parse_openai_costs_csv(source: Path | bytes) -> Parsed:
    """The cost dashboard's export: `amount_value`, `amount_currency`, `line_item`, `project_id`."""
    return parse_openai_costs(_csv_pages(source, "organization.costs.result"))


def csv_kind(columns: set[str]) -> str | None:
    """Which OpenAI dashboard export a CSV header is."""
    if "num_model_requests" in columns and columns & {"start_time", "start_time_iso"}:
        return "openai-usage-csv"
    if {"amount_value", "line_item"} <= columns:
        return "openai-costs-csv"
    return None


def _csv_pages(source: Path | bytes, kind: str) -> bytes:
    """CSV rows as usage API pages (numbers as numbers, empty cells as null)."""
    import csv
    import io
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    buckets = []
    for row in csv.DictReader(io.StringIO(data.decode("utf-8-sig"))):
        values = {k: _number(v) for k, v in row.items() if k}
        start = values.get("start_time")
        if start is None and values.get("start_time_iso"):
            start = int(dt.datetime.fromisoformat(str(values["start_time_iso"]).replace("Z", "+00:00")).timestamp())
        if "amount_value" in values:
            values["amount"] = {"value": values.pop("amount_value"), "currency": values.pop("amount_currency", "usd")}
        object_kind = kind if "input_tokens" in values or "amount" in values else values.get("object", kind)
        buckets.append({"object": "bucket", "start_time": start, "results": [values | {"object": object_kind}]})
    return json.dumps({"object": "page", "data": buckets}).encode()


def _number(text: str | None) -> object:
    if text is None or text.strip() == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _pages(source: Path | bytes) -> list[tuple[int, dict]]:
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        whole = json.loads(data)
        return [(1, p) for p in (whole if isinstance(whole, list) else [whole])]
    except ValueError:
        pass
    pages = []
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip():
            try:
                pages.append((number, json.loads(line)))
            except ValueError as e:
                raise ImportFormatError(f"line {number}: not a JSON report page ({e})") from None
    return pages


def _results(source: Path | bytes):
    for number, page in _pages(source):
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise ImportFormatError(f"line {number}: a report page holds its buckets in `data`")
        for bucket in page["data"]:
            for r in bucket.get("results") or []:
                yield number, bucket, r


def _id(*parts: object) -> str:
    return s.stable_id(json.dumps(parts, sort_keys=True, default=str))


def _epoch(seconds: object) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(int(seconds), dt.UTC)


def _tags(row: dict, *keys: str) -> str:
    return json.dumps({k: row[k] for k in keys if row.get(k) is not None}, separators=(",", ":"))


def _currency(currency: object) -> str:
    """A report's currency code (none said: dollars)."""
    code = "USD" if currency is None else str(currency).strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"currency={currency!r} is not a three-letter code")
    return code


def _per_request(tokens: int | None, requests: int | None) -> int | None:
    """OpenAI's reports do not say each request's input: the bucket's average stands for it."""
    return None if not tokens or not requests else tokens // requests


def _model(line_item: str | None) -> str | None:
    """OpenAI's line items read "<model>, <what>" ("gpt-4o-2024-08-06, input")."""
    return None if not line_item or "," not in line_item else line_item.split(",")[0].strip()
