"""OpenCode messages: `~/.local/share/opencode/storage/message/<session>/<message>.json` (or
`$OPENCODE_DATA_DIR/storage`), one JSON document per message; newer versions keep the same
messages in `opencode.db`, a SQLite database (`parse_db`).

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
import sqlite3
from pathlib import Path

import msgspec
import polars as pl

from ingest import schema as s
from ingest.errors import ImportFormatError
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
    """One message file."""
    data, message = decode_document(source, _MESSAGE, "an OpenCode message")
    return _parsed([(1, message, data)], "record")


SQLITE = b"SQLite format 3\x00"


def parse_db(source: Path | bytes) -> Parsed:
    """OpenCode's database (`opencode.db`, newer versions): the `message` table's rows (id, session
    id, the message as JSON), numbered by row; a session's folder from the `session` table when the
    message does not name it. Read from the file as it is (writes still in its `-wal` file are read
    by the next import)."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    db = sqlite3.connect(":memory:")
    try:
        db.deserialize(data)
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "message" not in tables:
            raise ImportFormatError("a SQLite database, but not OpenCode's (it has no message table)")
        folders = {}
        if "session" in tables and "directory" in {c[1] for c in db.execute("PRAGMA table_info(session)")}:
            folders = dict(db.execute("SELECT id, directory FROM session"))
        rows = db.execute("SELECT id, session_id, data FROM message ORDER BY rowid").fetchall()
    except sqlite3.DatabaseError as e:
        raise ImportFormatError(f"not a readable SQLite database ({e})") from None
    finally:
        db.close()
    found, bad = [], []
    for number, (message_id, session, text) in enumerate(rows, start=1):
        raw = text.encode() if isinstance(text, str) else bytes(text or b"")
        try:
            message = _MESSAGE.decode(raw)
        except msgspec.DecodeError as e:
            bad.append((number, raw, f"not an OpenCode message ({e})"))
            continue
        message.id, message.session = message.id or message_id, message.session or session
        if message.path is None and folders.get(session):
            message.path = _Path(cwd=folders[session])
        found.append((number, message, raw))
    return _parsed(found, "row", bad)


def _parsed(messages: list[tuple[int, _Message, bytes]], label: str, bad: list | None = None) -> Parsed:
    """Messages with tokens (numbered, with their source text) as event columns."""
    rows = []
    for number, m, text in messages:
        t = m.tokens
        if t is None or not any((t.input, t.output, t.reasoning, t.cache.read, t.cache.write)):
            continue
        via, provider, model = None, m.provider, m.model
        if model and "/" in model:  # named through a gateway: the model's own provider
            via, (provider, model) = m.provider, model.split("/", 1)
        created = dt.datetime.fromtimestamp(m.time.created / 1000, dt.UTC).isoformat() if m.time.created else None
        rows.append((number, text, f"opencode:{m.id}", created, m.session, provider, model, t.input, t.cache.read,
                     t.cache.write, t.output + t.reasoning, t.reasoning,
                     m.cost if m.cost else None,  # 0 means "not said"
                     (m.path.cwd or m.path.root) if m.path else None,
                     msgspec.json.encode({"via": via}).decode() if via else None))
    names = [s.EVENT_ID, s.TS, s.JOB_ID, s.PROVIDER, s.MODEL, s.INPUT_TOKENS, s.CACHE_READ_TOKENS,
             s.CACHE_WRITE_TOKENS, s.OUTPUT_TOKENS, s.REASONING_TOKENS, s.COST, "cwd", s.TAGS]
    types = [pl.String] * 5 + [pl.Int64] * 5 + [pl.Float64, pl.String, pl.String]
    frame = pl.DataFrame([r[2:] for r in rows], schema=dict(zip(names, types)), orient="row")
    raw = frame.with_columns(
        pl.lit("llm").alias(s.SERVICE), pl.lit("response").alias(s.OPERATION), pl.lit("opencode").alias(s.AGENT),
        pl.lit("main").alias(s.STAGE), pl.col("cwd").str.extract(r"([^/\\]+)[/\\]*$").alias(s.PROJECT)).drop("cwd")
    return Parsed(raw, pl.Series(label, [r[0] for r in rows], dtype=pl.Int64), label, [r[1] for r in rows], bad or [])
