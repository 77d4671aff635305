"""LiteLLM proxy spend logs: the `LiteLLM_SpendLogs` table exported as CSV (with a header) or as
JSON (an array of rows, or a row a line).

One event per request: `request_id` → event id, `startTime` → ts, `endTime` − `startTime` →
latency, `custom_llm_provider` → provider, `model` (without a `provider/` prefix) → model,
`team_id` → project, `session_id` → job_id, `end_user` or `user` → user, `status` →
success, `cache_hit` (served from LiteLLM's cache) → cache_hit. `spend`, LiteLLM's own
price, is kept as the reported cost, the price book's beside it: `spendlake report
reconcile` shows where they differ (LiteLLM's price map is known to return $0 for some models).

Tokens: `prompt_tokens` counts cached input (OpenAI style); the cache reads and writes in
`metadata.usage_object` (`prompt_tokens_details.cached_tokens` or `cache_read_input_tokens`,
`cache_creation_input_tokens`) are taken out of it, and
`completion_tokens_details.reasoning_tokens` is the reasoning part of the output.

Examples:
    >>> row = (b'request_id,call_type,spend,prompt_tokens,completion_tokens,startTime,endTime,model,'
    ...        b'custom_llm_provider,status\\nchatcmpl-1,acompletion,0.0012,1000,50,2026-03-02 10:00:00+00,'
    ...        b'2026-03-02 10:00:02+00,openai/gpt-4o-mini,openai,success\\n')
    >>> parse(row).raw.select("event_id", "model", "input_tokens", "cost_usd", "latency_ms").row(0)
    ('litellm:chatcmpl-1', 'gpt-4o-mini', '1000', '0.0012', 2000.0)
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import polars as pl

from ingest import schema as s
from ingest.errors import ImportFormatError
from ingest.importers.base import Parsed

# LiteLLM provider names → genai-prices provider ids, where they differ
PROVIDERS = {"vertex_ai": "google", "vertex_ai_beta": "google", "gemini": "google", "bedrock": "aws",
             "azure_ai": "azure", "xai": "x-ai", "mistral": "mistral", "together_ai": "together"}
EMBEDDINGS = ("embedding", "aembedding")


def looks_like(columns: set[str]) -> bool:
    return {"request_id", "call_type", "spend"} <= columns


def parse(source: Path | bytes) -> Parsed:
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    frame, numbers, label = _rows(data)
    for c in ("metadata", "request_tags", "team_id", "session_id", "end_user", "user", "status", "cache_hit",
              "endTime", "custom_llm_provider", "model"):
        if c not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(c))
    usage = pl.col("metadata").str.json_path_match
    cache_read = pl.coalesce(usage("$.usage_object.prompt_tokens_details.cached_tokens"),
                             usage("$.usage_object.cache_read_input_tokens")).cast(pl.Int64, strict=False)
    cache_write = usage("$.usage_object.cache_creation_input_tokens").cast(pl.Int64, strict=False)
    prompt = pl.col("prompt_tokens").cast(pl.Int64, strict=False)
    start, end = (pl.col(c).str.to_datetime(time_zone="UTC", strict=False) for c in ("startTime", "endTime"))
    model = pl.col("model").str.replace(r"^[^/]+/", "")
    raw = frame.select(
        pl.concat_str(pl.lit("litellm:"), "request_id").alias(s.EVENT_ID),
        pl.col("startTime").alias(s.TS),
        pl.col("custom_llm_provider").str.to_lowercase().replace(PROVIDERS).alias(s.PROVIDER),
        model.alias(s.MODEL),
        pl.when(pl.col("call_type").is_in(EMBEDDINGS)).then(pl.lit("embedding")).otherwise(pl.lit("llm"))
        .alias(s.SERVICE),
        pl.col("call_type").alias(s.OPERATION),
        pl.col("team_id").alias(s.PROJECT),
        pl.col("session_id").alias(s.JOB_ID),
        pl.coalesce("end_user", "user").alias(s.USER),
        # a prompt count that is not a number goes on as it is, for validation to name it
        pl.coalesce((prompt - cache_read.fill_null(0) - cache_write.fill_null(0)).cast(pl.String),
                    pl.col("prompt_tokens").cast(pl.String)).alias(s.INPUT_TOKENS),
        cache_read.alias(s.CACHE_READ_TOKENS),
        cache_write.alias(s.CACHE_WRITE_TOKENS),
        pl.col("completion_tokens").alias(s.OUTPUT_TOKENS),
        usage("$.usage_object.completion_tokens_details.reasoning_tokens").alias(s.REASONING_TOKENS),
        ((end - start).dt.total_microseconds() / 1000).alias(s.LATENCY_MS),
        (pl.col("status").fill_null("success").str.to_lowercase() != "failure").alias(s.SUCCESS),
        (pl.col("cache_hit").str.to_lowercase() == "true").alias(s.CACHE_HIT),
        pl.col("spend").cast(pl.String).alias(s.COST),
        pl.col("request_tags").alias(s.TAGS),
    )
    return Parsed(raw, numbers, label)


def _rows(data: bytes) -> tuple[pl.DataFrame, pl.Series, str]:
    """Every field as text (nested values as JSON text), with each row's line number."""
    head = data.lstrip()[:1]
    if head in (b"[", b"{"):
        try:
            whole = json.loads(data)
            rows = whole if isinstance(whole, list) else [whole]
            numbers = list(range(1, len(rows) + 1))
            label = "row"
        except ValueError:
            lines = [(n, line) for n, line in enumerate(data.splitlines(), start=1) if line.strip()]
            try:
                rows = [json.loads(line) for _, line in lines]
            except ValueError as e:
                raise ImportFormatError(f"not LiteLLM spend logs in JSON ({e})") from None
            numbers, label = [n for n, _ in lines], "line"
        text = [{k: v if isinstance(v, str) or v is None else json.dumps(v) for k, v in r.items()} for r in rows]
        columns = {k for r in text for k in r}
        frame = pl.DataFrame(text, schema={c: pl.String for c in sorted(columns)})
        return frame, pl.Series("row", numbers, dtype=pl.Int64), label
    try:
        frame = pl.read_csv(io.BytesIO(data), infer_schema=False)
    except pl.exceptions.PolarsError as e:
        raise ImportFormatError(f"not a readable CSV file: {str(e).splitlines()[0]}") from None
    return frame, pl.int_range(2, frame.height + 2, eager=True, dtype=pl.Int64), "line"
