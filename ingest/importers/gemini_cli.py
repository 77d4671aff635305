"""Gemini CLI chat recordings: `~/.gemini/tmp/<project hash>/chats/session-*.json` (or `$GEMINI_DATA_DIR`).

A recording is one JSON document, `{"sessionId", "projectHash", "startTime", "lastUpdated",
"messages": [...]}`, rewritten as the conversation goes on. One event per `gemini` message with
`tokens` (the Gemini API's usage metadata of that response):

- `input` (the prompt, cached part included) less `cached`, plus `tool` (tool-use prompt tokens,
  billed as input) → input tokens; `cached` → cache reads;
- `output` plus `thoughts` (billed as output) → output tokens, `thoughts` → reasoning;
- the message's `model`; a message without one goes to quarantine ("model is missing") rather
  than being dropped;
- `sessionId` → job_id, the project hash's first 12 characters → project (the recording does not
  name the folder); the message id makes the event id, so a recording read again counts once.

Examples:
    >>> doc = (b'{"sessionId":"g1","projectHash":"0123456789abcdef","messages":[{"id":"m1","type":"gemini",'
    ...        b'"timestamp":"2026-08-20T10:00:05Z","model":"gemini-2.5-pro","tokens":{"input":100,"output":9,'
    ...        b'"cached":40,"thoughts":5,"tool":3,"total":117}}]}')
    >>> parse(doc).raw.select("model", "input_tokens", "cache_read_tokens", "output_tokens", "reasoning_tokens").row(0)
    ('gemini-2.5-pro', 63, 40, 14, 5)
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import polars as pl

from ingest import schema as s
from ingest.importers.base import Parsed, decode_document


class _Tokens(msgspec.Struct, gc=False):
    input: int = 0
    output: int = 0
    cached: int = 0
    thoughts: int | None = None
    tool: int | None = None


class _Message(msgspec.Struct, gc=False):
    id: str | None = None
    timestamp: str | None = None
    type: str | None = None
    model: str | None = None
    tokens: _Tokens | None = None


class _Recording(msgspec.Struct, gc=False, rename="camel"):
    session_id: str | None = None
    project_hash: str | None = None
    messages: list[_Message] = []


_RECORDING = msgspec.json.Decoder(_Recording)


def looks_like(record: dict) -> bool:
    """A Gemini CLI recording: a session id, a project hash and messages."""
    return {"sessionId", "projectHash", "messages"} <= record.keys()


def parse(source: Path | bytes) -> Parsed:
    _, recording = decode_document(source, _RECORDING, "a Gemini CLI chat recording")
    kept = [(i, m) for i, m in enumerate(recording.messages, start=1) if m.type == "gemini" and m.tokens is not None]
    session = recording.session_id
    frame = pl.DataFrame({
        s.EVENT_ID: [f"gemini-cli:{session}:{m.id or i}" for i, m in kept], s.TS: [m.timestamp for _, m in kept],
        s.MODEL: [m.model for _, m in kept],
        s.INPUT_TOKENS: [max(m.tokens.input - m.tokens.cached, 0) + (m.tokens.tool or 0) for _, m in kept],
        s.CACHE_READ_TOKENS: [m.tokens.cached for _, m in kept],
        s.OUTPUT_TOKENS: [m.tokens.output + (m.tokens.thoughts or 0) for _, m in kept],
        s.REASONING_TOKENS: [m.tokens.thoughts or 0 for _, m in kept],
    }, schema={**{c: pl.String for c in (s.EVENT_ID, s.TS, s.MODEL)},
               **{c: pl.Int64 for c in (s.INPUT_TOKENS, s.CACHE_READ_TOKENS, s.OUTPUT_TOKENS, s.REASONING_TOKENS)}})
    project = (recording.project_hash or "")[:12] or None
    raw = frame.with_columns(
        pl.lit("google").alias(s.PROVIDER), pl.lit("llm").alias(s.SERVICE), pl.lit("response").alias(s.OPERATION),
        pl.lit("gemini-cli").alias(s.AGENT), pl.lit("main").alias(s.STAGE), pl.lit(session).alias(s.JOB_ID),
        pl.lit(project, pl.String).alias(s.PROJECT),
        pl.lit(msgspec.json.encode({"project_hash": recording.project_hash}).decode()).alias(s.TAGS))
    return Parsed(raw, pl.Series("message", [i for i, _ in kept], dtype=pl.Int64), "message",
                  [msgspec.json.encode(m) for _, m in kept])
