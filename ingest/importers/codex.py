"""Codex session logs: `~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl` (or `$CODEX_HOME/sessions`).

A session file is a stream of lines `{"timestamp", "type", "payload"}`. What counts:

- `session_meta`: the session's id (→ job_id), its working folder (its last folder → project)
  and the CLI's version (a tag);
- `turn_context`: the model the following turns use (and the working folder, if it moved);
- `event_msg` of type `token_count`: the session's running totals (`total_token_usage`) and
  the last response's usage (`last_token_usage`). One event per `token_count` that adds usage:
  the last response's usage, or, where a line has only totals, their difference from the
  previous ones. A line whose totals did not grow (a repeat) adds nothing.

OpenAI's semantics: `input_tokens` includes the cached input and `output_tokens` the reasoning,
so an event's input is `input_tokens - cached_input_tokens` and its cache reads the cached part;
its reasoning is the part of its output that was reasoning.

Where a session never names its model, the model is the agent's default, `DEFAULT_MODEL`, as
ccusage assumes, and the event is tagged `model_assumed`. An event's id is the session and its
running totals, so a resumed session that repeats earlier lines, or a file imported twice,
counts once. Lines are read as JSON (spaces after colons or not); a line cut off mid-write goes to
quarantine, but a last line without its line end is taken to be still being written.

Examples:
    >>> lines = [b'{"timestamp":"2026-08-20T10:00:00Z","type":"session_meta","payload":{"id":"s1","cwd":"/home/me/shop"}}',
    ...          b'{"timestamp":"2026-08-20T10:00:01Z","type":"turn_context","payload":{"model":"gpt-5"}}',
    ...          b'{"timestamp":"2026-08-20T10:00:02Z","type":"event_msg","payload":{"type":"token_count","info":'
    ...          b'{"total_token_usage":{"input_tokens":100,"cached_input_tokens":40,"output_tokens":9}}}}']
    >>> parse(b"\\n".join(lines)).raw.select("model", "job_id", "project", "input_tokens", "cache_read_tokens").row(0)
    ('gpt-5', 's1', 'shop', 60, 40)
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import polars as pl

from ingest import schema as s
from ingest.importers.base import Parsed

LINE_TYPES = {"session_meta", "turn_context", "event_msg", "response_item", "compacted", "world_state"}
DEFAULT_MODEL = "gpt-5"  # what ccusage assumes for a session that never names its model
_WANTED = (b'"session_meta"', b'"turn_context"', b'"token_count"')


class _Tokens(msgspec.Struct, gc=False):
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_output_tokens: int = 0

    def key(self) -> tuple[int, int, int, int]:
        return self.input_tokens, self.cached_input_tokens, self.output_tokens, self.reasoning_output_tokens


class _Info(msgspec.Struct, gc=False):
    total_token_usage: _Tokens | None = None
    last_token_usage: _Tokens | None = None
    model: str | None = None


class _Payload(msgspec.Struct, gc=False):
    type: str | None = None
    id: str | None = None
    cwd: str | None = None
    cli_version: str | None = None
    model: str | None = None
    info: _Info | None = None


class _Line(msgspec.Struct, gc=False):
    timestamp: str | None = None
    type: str | None = None
    payload: _Payload | None = None


_LINE = msgspec.json.Decoder(_Line)


def looks_like(first: dict) -> bool:
    """A Codex session line: a known line type with a payload."""
    return first.get("type") in LINE_TYPES and isinstance(first.get("payload"), dict) and "timestamp" in first


def parse(source: Path | bytes, *, name: str | None = None) -> Parsed:
    """A session file's events. `name` stands for the session when no line names it (the file's name)."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    session = name or (Path(source).stem if not isinstance(source, bytes) else None)
    cwd = version = model = None
    previous: tuple[int, int, int, int] | None = None
    rows, numbers, texts, bad = [], [], [], []
    lines = data.split(b"\n")
    for number, text in enumerate(lines, start=1):
        if not any(w in text for w in _WANTED):
            if text.strip() and not text.rstrip().endswith(b"}") and number < len(lines):
                bad.append((number, text, "cut off: not a whole JSON line"))  # it may have been a token count
            continue
        try:
            line = _LINE.decode(text)
        except msgspec.DecodeError as e:
            if number < len(lines):  # (a last line without its line end is still being written)
                bad.append((number, text, f"not a Codex log line ({e})"))
            continue
        p = line.payload
        if p is None:
            continue
        if line.type == "session_meta":
            session, cwd, version = p.id or session, p.cwd or cwd, p.cli_version or version
        elif line.type == "turn_context":
            model, cwd = p.model or model, p.cwd or cwd
        elif line.type == "event_msg" and p.type == "token_count" and p.info is not None:
            info = p.info
            model = info.model or p.model or model
            total = info.total_token_usage.key() if info.total_token_usage else None
            if total is not None and previous is not None and sum(total) <= sum(previous):
                continue  # the totals did not grow: a repeated line
            used = info.last_token_usage.key() if info.last_token_usage else \
                tuple(t - p_ for t, p_ in zip(total, previous or (0, 0, 0, 0))) if total else None
            previous = total or previous
            if used is None or not any(used):
                continue
            rows.append((line.timestamp, session, cwd, version, model, used,
                         f"codex:{session}:{':'.join(map(str, total))}" if total and session else s.stable_id("codex", text)))
            numbers.append(number)
            texts.append(text)
    return Parsed(_events(rows), pl.Series("line", numbers, dtype=pl.Int64), "line", texts, bad)


def _events(rows: list[tuple]) -> pl.DataFrame:
    """The kept token counts as event columns (values still raw: validation types them)."""
    used = [r[5] for r in rows]
    frame = pl.DataFrame({
        s.EVENT_ID: [r[6] for r in rows], s.TS: [r[0] for r in rows], s.JOB_ID: [r[1] for r in rows],
        "cwd": [r[2] for r in rows], "version": [r[3] for r in rows], "named": [r[4] for r in rows],
        s.INPUT_TOKENS: [max(u[0] - u[1], 0) for u in used], s.CACHE_READ_TOKENS: [u[1] for u in used],
        s.OUTPUT_TOKENS: [u[2] for u in used], s.REASONING_TOKENS: [u[3] for u in used],
    }, schema={**{c: pl.String for c in (s.EVENT_ID, s.TS, s.JOB_ID, "cwd", "version", "named")},
               **{c: pl.Int64 for c in (s.INPUT_TOKENS, s.CACHE_READ_TOKENS, s.OUTPUT_TOKENS, s.REASONING_TOKENS)}})
    assumed = pl.col("named").is_null()
    return frame.with_columns(
        pl.lit("openai").alias(s.PROVIDER), pl.lit("llm").alias(s.SERVICE), pl.lit("response").alias(s.OPERATION),
        pl.lit("codex").alias(s.AGENT), pl.lit("main").alias(s.STAGE),
        pl.col("named").fill_null(pl.lit(DEFAULT_MODEL)).alias(s.MODEL),
        pl.col("cwd").str.extract(r"([^/\\]+)[/\\]*$").alias(s.PROJECT),
        pl.struct(pl.col("version"), pl.when(assumed).then(True).alias("model_assumed"))
        .struct.json_encode().alias(s.TAGS),
    ).drop("cwd", "version", "named")
