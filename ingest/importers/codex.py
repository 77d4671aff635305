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

import re
from pathlib import Path

import msgspec
import numpy as np
import polars as pl

from ingest import schema as s
from ingest.importers.base import Parsed

LINE_TYPES = {"session_meta", "turn_context", "event_msg", "response_item", "compacted", "world_state"}
DEFAULT_MODEL = "gpt-5"  # what ccusage assumes for a session that never names its model


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
_LINES = msgspec.json.Decoder(list[_Line])


def looks_like(first: dict) -> bool:
    """A Codex session line: a known line type with a payload."""
    return first.get("type") in LINE_TYPES and isinstance(first.get("payload"), dict) and "timestamp" in first


def parse(source: Path | bytes) -> Parsed:
    """A session file's events (a file's name stands for its session when no line names it)."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    session = None if isinstance(source, bytes) else Path(source).stem
    numbers, texts, bad, last = _wanted(data)
    decoded = _decode(numbers, texts, bad, last=last)
    cwd = version = model = None
    previous: tuple[int, int, int, int] | None = None
    rows: list[tuple] = []
    kept_numbers, kept_texts = [], []
    for number, text, line in zip(numbers, texts, decoded):
        p = line.payload if line is not None else None
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
            rows.append((f"codex:{session}:{':'.join(map(str, total))}" if total and session else s.stable_id("codex", text),
                         line.timestamp, session, cwd, version, model, *used))
            kept_numbers.append(number)
            kept_texts.append(text)
    return Parsed(_events(rows), pl.Series("line", kept_numbers, dtype=pl.Int64), "line", kept_texts, bad)


_MARKERS = re.compile(rb'"(?:session_meta|turn_context|token_count)"')
_NL, _BRACE, _CR = 10, ord("}"), 13


def _wanted(data: bytes) -> tuple[list[int], list[bytes], list[tuple[int, bytes, str]], int]:
    """The lines that may matter (numbered from 1), found by their markers rather than by looking at
    every line (most of a session is messages and tool output); the lines cut off mid-write; the
    number of the last line."""
    raw = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(raw == _NL)  # every line end, once: line numbers and cut lines from them
    spans: dict[int, int] = {}  # start → end, in the order of the file
    for m in _MARKERS.finditer(data):
        begin = data.rfind(b"\n", 0, m.start()) + 1
        if begin not in spans:
            end = data.find(b"\n", m.end())
            spans[begin] = len(data) if end < 0 else end
    begins = np.fromiter(spans, np.int64, len(spans))
    numbers = (np.searchsorted(ends, begins) + 1).tolist()
    texts = [data[b:e] for b, e in spans.items()]
    # a line that ends (is followed by a line end) on anything but "}" was cut off, unless it is blank
    last = ends - 1 - (raw[np.maximum(ends - 1, 0)] == _CR)
    starts = np.concatenate(([0], ends[:-1] + 1)) if len(ends) else ends
    cut = np.flatnonzero((last >= starts) & (raw[np.maximum(last, 0)] != _BRACE))
    bad = [(int(i) + 1, data[int(starts[i]):int(ends[i])], "cut off: not a whole JSON line")
           for i in cut if int(starts[i]) not in spans]  # (a wanted line cut off is named when it does not decode)
    return numbers, texts, bad, len(ends) + 1


def _decode(numbers: list[int], texts: list[bytes], bad: list, *, last: int) -> list[_Line | None]:
    """Every wanted line at once; if one does not decode, line by line, naming the bad ones (but a
    last line without its line end, still being written)."""
    try:
        return _LINES.decode(b"[" + b",".join(texts) + b"]")
    except msgspec.DecodeError:
        pass
    lines = []
    for number, text in zip(numbers, texts):
        try:
            lines.append(_LINE.decode(text))
        except msgspec.DecodeError as e:
            lines.append(None)
            if number < last:
                bad.append((number, text, f"not a Codex log line ({e})"))
    return lines


def _events(rows: list[tuple]) -> pl.DataFrame:
    """The kept token counts as event columns (values still raw: validation types them)."""
    names = [s.EVENT_ID, s.TS, s.JOB_ID, "cwd", "version", "named", "input", "cached", s.OUTPUT_TOKENS,
             s.REASONING_TOKENS]
    frame = pl.DataFrame(rows, schema={**{c: pl.String for c in names[:6]}, **{c: pl.Int64 for c in names[6:]}},
                         orient="row")
    assumed = pl.col("named").is_null()
    return frame.with_columns(
        (pl.col("input") - pl.col("cached")).clip(0).alias(s.INPUT_TOKENS), pl.col("cached").alias(s.CACHE_READ_TOKENS),
        pl.lit("openai").alias(s.PROVIDER), pl.lit("llm").alias(s.SERVICE), pl.lit("response").alias(s.OPERATION),
        pl.lit("codex").alias(s.AGENT), pl.lit("main").alias(s.STAGE),
        pl.col("named").fill_null(pl.lit(DEFAULT_MODEL)).alias(s.MODEL),
        pl.col("cwd").str.extract(r"([^/\\]+)[/\\]*$").alias(s.PROJECT),
        pl.struct(pl.col("version"), pl.when(assumed).then(True).alias("model_assumed"))
        .struct.json_encode().alias(s.TAGS),
    ).drop("cwd", "version", "named", "input", "cached")
