"""OpenCode messages: `~/.local/share/opencode/storage/message/<session>/<message>.json` (or
`$OPENCODE_DATA_DIR/storage`), one JSON document per message.

An assistant message carries its `tokens` (`input` without the cache, `output` without the
reasoning, `reasoning`, `cache.read`, `cache.write`), its `modelID` and `providerID`, when it was
`time.created` (milliseconds since the epoch, UTC) and, when the provider said so, its `cost`.
One event per message with tokens:

- output tokens are `output + reasoning` (reasoning is billed as output), reasoning apart;
- a model named through a gateway (`anthropic/claude-sonnet-4-5` from `openrouter`) is the
  model's own, with the gateway in the tags;
- a `cost` above zero is kept as the reported cost (as ccusage does); else the price book prices it;
- `sessionID` → job_id, the working folder's last folder → project, the message id → event id.

Examples:
    >>> doc = (b'{"id":"msg_1","sessionID":"ses_1","role":"assistant","time":{"created":1787220000000},'
    ...        b'"modelID":"claude-sonnet-4-5","providerID":"anthropic","path":{"cwd":"/home/me/shop"},'
    ...        b'"tokens":{"input":10,"output":20,"reasoning":5,"cache":{"read":100,"write":50}}}')
    >>> parse(doc).raw.select("provider", "model", "project", "output_tokens", "cache_write_tokens").row(0)
    ('anthropic', 'claude-sonnet-4-5', 'shop', 25, 50)
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import polars as pl

from ingest import schema as s
from ingest.importers.base import Parsed, decode_document


class _Cache(msgspec.Struct, gc=False):
    read: int = 0
    write: int = 0


class _Tokens(msgspec.Struct, gc=False):
    input: int = 0
    output: int = 0
    reasoning: int = 0
    cache: _Cache = msgspec.field(default_factory=_Cache)


class _Time(msgspec.Struct, gc=False):
    created: int | None = None


class _Path(msgspec.Struct, gc=False):
    cwd: str | None = None
    root: str | None = None


class _Message(msgspec.Struct, gc=False, rename={"session": "sessionID", "model": "modelID", "provider": "providerID"}):
    id: str | None = None
    session: str | None = None
    role: str | None = None
    model: str | None = None
    provider: str | None = None
    time: _Time = msgspec.field(default_factory=_Time)
    tokens: _Tokens | None = None
    cost: float | None = None
    path: _Path | None = None


_MESSAGE = msgspec.json.Decoder(_Message)


def looks_like(record: dict) -> bool:
    """An OpenCode message: an id, a session id, a role and, for a reply, model and tokens."""
    return {"id", "sessionID", "role"} <= record.keys() and bool({"tokens", "modelID"} & record.keys())


def parse(source: Path | bytes) -> Parsed:
    data, m = decode_document(source, _MESSAGE, "an OpenCode message")
    t = m.tokens
    used = t is not None and any((t.input, t.output, t.reasoning, t.cache.read, t.cache.write))
    via, model = None, m.model
    if model and "/" in model:  # named through a gateway: the model's own provider
        via, (provider, model) = m.provider, model.split("/", 1)
    else:
        provider = m.provider
    created = dt.datetime.fromtimestamp(m.time.created / 1000, dt.UTC).isoformat() if m.time.created else None
    rows = [m] if used else []
    frame = pl.DataFrame({
        s.EVENT_ID: [f"opencode:{m.id}" for _ in rows], s.TS: [created for _ in rows], s.JOB_ID: [m.session for _ in rows],
        s.PROVIDER: [provider for _ in rows], s.MODEL: [model for _ in rows],
        s.INPUT_TOKENS: [t.input for _ in rows], s.CACHE_READ_TOKENS: [t.cache.read for _ in rows],
        s.CACHE_WRITE_TOKENS: [t.cache.write for _ in rows], s.OUTPUT_TOKENS: [t.output + t.reasoning for _ in rows],
        s.REASONING_TOKENS: [t.reasoning for _ in rows],
        s.COST: [m.cost if m.cost else None for _ in rows],  # 0 means "not said"
        "cwd": [(m.path.cwd or m.path.root) if m.path else None for _ in rows],
        s.TAGS: [msgspec.json.encode({"via": via}).decode() if via else None for _ in rows],
    }, schema={**{c: pl.String for c in (s.EVENT_ID, s.TS, s.JOB_ID, s.PROVIDER, s.MODEL, "cwd", s.TAGS)},
               **{c: pl.Int64 for c in (s.INPUT_TOKENS, s.CACHE_READ_TOKENS, s.CACHE_WRITE_TOKENS, s.OUTPUT_TOKENS,
                                        s.REASONING_TOKENS)}, s.COST: pl.Float64})
    raw = frame.with_columns(
        pl.lit("llm").alias(s.SERVICE), pl.lit("response").alias(s.OPERATION), pl.lit("opencode").alias(s.AGENT),
        pl.lit("main").alias(s.STAGE), pl.col("cwd").str.extract(r"([^/\\]+)[/\\]*$").alias(s.PROJECT)).drop("cwd")
    return Parsed(raw, pl.Series("record", [1] * len(rows), dtype=pl.Int64), "record", [data] * len(rows))
