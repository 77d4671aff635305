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

import msgspec
import polars as pl

from ingest import schema as s
from ingest.importers.base import Parsed

LINE_TYPES = {"user", "assistant", "summary", "system", "queue-operation", "file-history-snapshot", "last-prompt"}


# What is read of a line; msgspec skips the rest (message content, tool results) without building it.
# gc=False: hundreds of thousands of small objects without cycles, not tracked by the collector.
class _CacheCreation(msgspec.Struct, gc=False):
    ephemeral_1h_input_tokens: int | None = None


class _Details(msgspec.Struct, gc=False):
    thinking_tokens: int | None = None


class _Usage(msgspec.Struct, gc=False):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation: _CacheCreation | None = None
    output_tokens_details: _Details | None = None


class _Message(msgspec.Struct, gc=False):
    id: str | None = None
    model: str | None = None
    usage: _Usage | None = None


class _Line(msgspec.Struct, gc=False, rename={"session": "sessionId", "request": "requestId", "sidechain": "isSidechain",
                                    "branch": "gitBranch", "cost": "costUSD"}):
    type: str | None = None
    timestamp: str | None = None
    session: str | None = None
    request: str | None = None
    cwd: str | None = None
    sidechain: bool | None = None
    version: str | None = None
    branch: str | None = None
    cost: float | None = None
    message: _Message | None = None


_LINES = msgspec.json.Decoder(list[_Line])
_LINE = msgspec.json.Decoder(_Line)


def looks_like(first: dict) -> bool:
    """A Claude Code log line: a known line type naming its session, message or leaf."""
    return first.get("type") in LINE_TYPES and bool({"sessionId", "leafUuid", "messageId"} & first.keys())


def parse(source: Path | bytes) -> Parsed:
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    lines = data.split(b"\n")
    # only lines naming "assistant" can be replies: the others (prompts, tool results) are not parsed
    numbers = [i for i, line in enumerate(lines, start=1) if b'"assistant"' in line]
    texts = [lines[i - 1] for i in numbers]
    decoded, bad = _decode(texts, numbers)
    replies, best = [], {}
    for number, text, r in zip(numbers, texts, decoded):
        if r is None or r.type != "assistant" or r.message is None or r.message.usage is None \
                or r.message.model == "<synthetic>":
            continue
        if r.message.id is None:  # no id to share: the line is its own identity
            replies.append((number, text, r, s.stable_id("claude-code", text)))
            continue
        key = f"claude-code:{r.message.id}:{r.request or ''}"
        first = best.get(key)
        if first is None:
            best[key] = len(replies)
        elif _tokens(r) > _tokens(replies[first][2]):  # the most tokens, then the first line
            best[key] = len(replies)
        replies.append((number, text, r, key))
    kept = [row for i, row in enumerate(replies) if best.get(row[3], i) == i]
    return Parsed(_events(kept), pl.Series("line", [n for n, _, _, _ in kept], dtype=pl.Int64), "line",
                  [t for _, t, _, _ in kept], bad)


def _tokens(reply: _Line) -> int:
    u = reply.message.usage
    return sum(t or 0 for t in (u.input_tokens, u.output_tokens, u.cache_creation_input_tokens,
                                u.cache_read_input_tokens))


def _decode(texts: list[bytes], numbers: list[int]) -> tuple[list[_Line | None], list[tuple[int, bytes, str]]]:
    """Every line at once; if one does not decode, line by line, naming the bad ones."""
    try:
        return _LINES.decode(b"[" + b",".join(texts) + b"]"), []
    except msgspec.DecodeError:
        pass
    replies, bad = [], []
    for number, text in zip(numbers, texts):
        try:
            replies.append(_LINE.decode(text))
        except msgspec.DecodeError as e:
            replies.append(None)
            bad.append((number, text, f"not a Claude Code log line ({e})"))
    return replies, bad


def _events(kept: list[tuple[int, bytes, _Line, str]]) -> pl.DataFrame:
    """The kept replies as event columns (values still raw: validation types them)."""
    replies = [r for _, _, r, _ in kept]
    usage = [r.message.usage for r in replies]
    frame = pl.DataFrame({
        s.EVENT_ID: [key for _, _, _, key in kept], s.TS: [r.timestamp for r in replies],
        s.MODEL: [r.message.model for r in replies], s.JOB_ID: [r.session for r in replies],
        s.INPUT_TOKENS: [u.input_tokens for u in usage], s.CACHE_READ_TOKENS: [u.cache_read_input_tokens for u in usage],
        s.CACHE_WRITE_TOKENS: [u.cache_creation_input_tokens for u in usage],
        s.CACHE_WRITE_1H_TOKENS: [u.cache_creation.ephemeral_1h_input_tokens if u.cache_creation else None
                                  for u in usage],
        s.OUTPUT_TOKENS: [u.output_tokens for u in usage],
        s.REASONING_TOKENS: [u.output_tokens_details.thinking_tokens if u.output_tokens_details else None
                             for u in usage],
        s.COST: [r.cost for r in replies],
        "cwd": [r.cwd for r in replies], "sidechain": [r.sidechain for r in replies],
        "version": [r.version for r in replies], "git_branch": [r.branch for r in replies],
        "request_id": [r.request for r in replies],
    }, schema={**{c: pl.String for c in (s.EVENT_ID, s.TS, s.MODEL, s.JOB_ID, "cwd", "version", "git_branch",
                                         "request_id")},
               **{c: pl.Int64 for c in (s.INPUT_TOKENS, s.CACHE_READ_TOKENS, s.CACHE_WRITE_TOKENS,
                                        s.CACHE_WRITE_1H_TOKENS, s.OUTPUT_TOKENS, s.REASONING_TOKENS)},
               s.COST: pl.Float64, "sidechain": pl.Boolean})
    return frame.with_columns(
        pl.lit("anthropic").alias(s.PROVIDER), pl.lit("llm").alias(s.SERVICE), pl.lit("message").alias(s.OPERATION),
        pl.lit("claude-code").alias(s.AGENT),
        pl.col("cwd").str.extract(r"([^/\\]+)[/\\]*$").alias(s.PROJECT),
        pl.when(pl.col("sidechain")).then(pl.lit("subagent")).otherwise(pl.lit("main")).alias(s.STAGE),
        pl.struct("version", "git_branch", "request_id").struct.json_encode().alias(s.TAGS),
    ).drop("cwd", "sidechain", "version", "git_branch", "request_id")
