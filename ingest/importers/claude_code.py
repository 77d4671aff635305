"""Claude Code session logs: `~/.claude/projects/<project>/<session>.jsonl` (any folder of them).

Each assistant line carries the API response's `usage`. One event per reply:

- tokens: `input_tokens` (without cache), `cache_read_input_tokens`, `cache_creation_input_tokens`
  with its 1-hour part (`cache_creation.ephemeral_1h_input_tokens`, priced at its own rate),
  `output_tokens` with `output_tokens_details.thinking_tokens` as reasoning;
- model, timestamp (UTC), `sessionId` → job_id, the working directory's last folder →
  project, sub-agent replies (`isSidechain`) → stage "subagent", else "main";
- `costUSD`, which older versions wrote, is kept as the reported cost;
- `<synthetic>` replies (written by Claude Code itself, never billed) are skipped.

A reply streamed over several lines repeats its `message.id` and `requestId`. As ccusage does,
one line per (message id, request id) counts: the one with the most tokens, the first of
equals, so a partial snapshot written before the final usage never wins. The pair is the
event id, so a session copied into a resumed one, or a file imported twice, counts once.

Examples:
    >>> line = (b'{"type":"assistant","timestamp":"2026-01-05T10:00:00Z","sessionId":"s1","requestId":"r1",'
    ...         b'"cwd":"/home/me/shop","message":{"id":"m1","model":"claude-sonnet-4-5","usage":'
    ...         b'{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":100}}}')
    >>> parse(line).raw.select("model", "job_id", "project", "input_tokens", "cache_read_tokens").row(0)
    ('claude-sonnet-4-5', 's1', 'shop', 10, 100)
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ingest import schema as s
from ingest.importers.base import Parsed
from ingest.importers.jsonl import Subset, read_jsonl

LINE_TYPES = {"user", "assistant", "summary", "system", "queue-operation", "file-history-snapshot", "last-prompt"}
USAGE = pl.Struct({
    "input_tokens": pl.Int64, "output_tokens": pl.Int64, "cache_creation_input_tokens": pl.Int64,
    "cache_read_input_tokens": pl.Int64,
    "cache_creation": pl.Struct({"ephemeral_5m_input_tokens": pl.Int64, "ephemeral_1h_input_tokens": pl.Int64}),
    "output_tokens_details": pl.Struct({"thinking_tokens": pl.Int64}),
})
MESSAGE = pl.Struct({"id": pl.String, "model": pl.String, "usage": USAGE})
FIELDS = {"type": pl.String, "timestamp": pl.String, "sessionId": pl.String, "requestId": pl.String,
          "cwd": pl.String, "isSidechain": pl.Boolean, "version": pl.String, "gitBranch": pl.String,
          "costUSD": pl.Float64, "message": MESSAGE}


def looks_like(first: dict) -> bool:
    """A Claude Code log line: a known line type naming its session, message or leaf."""
    return first.get("type") in LINE_TYPES and bool({"sessionId", "leafUuid", "messageId"} & first.keys())


def parse(source: Path | bytes) -> Parsed:
    rows = read_jsonl(source, FIELDS)
    frame = rows.frame
    if frame.schema["message"] == pl.String:  # a line did not fit the types: fields came as text
        frame = frame.with_columns(pl.col("message").str.json_decode(MESSAGE),
                                   pl.col("isSidechain").str.to_lowercase() == "true")
    message, usage = pl.col("message"), pl.col("message").struct.field("usage")

    def tokens(name: str) -> pl.Expr:
        return usage.struct.field(name)

    cache_write = tokens("cache_creation_input_tokens")
    total = pl.sum_horizontal(tokens("input_tokens"), tokens("output_tokens"), cache_write,
                              tokens("cache_read_input_tokens"))
    replies = (frame.with_row_index("_row")
               .filter((pl.col("type") == "assistant") & usage.is_not_null()
                       & (message.struct.field("model") != "<synthetic>"))
               .with_columns(total.alias("_tokens"), message.struct.field("id").alias("_message")))
    # one line per (message id, request id): the most tokens, then the first
    keep = (replies.filter(pl.col("_message").is_null())
            .vstack(replies.filter(pl.col("_message").is_not_null())
                    .sort("_tokens", "_row", descending=[True, False])
                    .unique(["_message", "requestId"], keep="first"))
            .sort("_row"))
    raw = keep.select(
        pl.when(pl.col("_message").is_not_null())
        .then(pl.concat_str(pl.lit("claude-code:"), "_message", pl.lit(":"), pl.col("requestId").fill_null("")))
        .alias(s.EVENT_ID),
        pl.col("timestamp").alias(s.TS),
        pl.lit("anthropic").alias(s.PROVIDER),
        message.struct.field("model").alias(s.MODEL),
        pl.lit("llm").alias(s.SERVICE),
        pl.lit("message").alias(s.OPERATION),
        pl.lit("claude-code").alias(s.AGENT),
        pl.col("cwd").str.extract(r"([^/\\]+)[/\\]*$").alias(s.PROJECT),
        pl.col("sessionId").alias(s.JOB_ID),
        pl.when(pl.col("isSidechain")).then(pl.lit("subagent")).otherwise(pl.lit("main")).alias(s.STAGE),
        tokens("input_tokens").alias(s.INPUT_TOKENS),
        tokens("cache_read_input_tokens").alias(s.CACHE_READ_TOKENS),
        cache_write.alias(s.CACHE_WRITE_TOKENS),
        tokens("cache_creation").struct.field("ephemeral_1h_input_tokens").alias(s.CACHE_WRITE_1H_TOKENS),
        tokens("output_tokens").alias(s.OUTPUT_TOKENS),
        tokens("output_tokens_details").struct.field("thinking_tokens").alias(s.REASONING_TOKENS),
        pl.col("costUSD").alias(s.COST),
        pl.struct(version="version", git_branch="gitBranch", request_id="requestId").struct.json_encode()
        .alias(s.TAGS),
    )
    rows_kept = keep["_row"].to_list()
    lines = Subset(rows.lines, rows_kept)
    if raw[s.EVENT_ID].null_count():  # a line without a message id is its own identity (its text)
        ids = [event_id or s.stable_id("claude-code", lines[i]) for i, event_id in enumerate(raw[s.EVENT_ID])]
        raw = raw.with_columns(pl.Series(s.EVENT_ID, ids, dtype=pl.String))
    return Parsed(raw, rows.line_numbers.gather(rows_kept), "line", lines, rows.bad)
