"""Events that arrive over HTTP: a request body read into records in the request's own thread, then
validated, priced (bad records to quarantine) and made durable by one committing thread for every
request waiting at that moment (group commit: one validation, one lock and one file per day for
all of them, so small requests do not each pay for a plan, a file and an fsync).

A request's answer names what became of each record: `written`, `duplicate` (its id is in the lake
already, or earlier in the same request or commit) or `rejected` (with the fields and reasons; the
record is in quarantine). Only when the commit is durable (files fsynced and renamed in) is the
answer sent, so a client may retry anything unanswered: ids make a retry exact.

Examples:
    >>> parsed = read_body(b'{"ts": "2026-01-05T10:00:00Z", "provider": "openai"}', "application/json")
    >>> parsed.raw.select("ts", "provider").row(0), parsed.label
    (('2026-01-05T10:00:00Z', 'openai'), 'item')
    >>> read_body(b"x", "text/plain")
    Traceback (most recent call last):
    ...
    spendlake.intake.BodyError: content type 'text/plain': send application/json, application/x-ndjson or application/vnd.apache.arrow.stream
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl

from ingest import fx, rollups, schema as s
from ingest.errors import ImportFormatError, SpendlakeError
from ingest.importers import generic
from ingest.importers.base import Chain, Parsed
from ingest.lake import AppendResult, Lake
from ingest.pipeline import Prepared, Quarantine, as_text, prepare
from ingest.pricing import PriceBook

log = logging.getLogger(__name__)

MAX_BODY = 32 << 20  # bytes a request may send (after gzip: MAX_INFLATED)
MAX_INFLATED = 256 << 20
MAX_EVENTS = 100_000  # records in one request
MAX_QUEUED = 400_000  # events prepared and waiting for the committing thread: beyond, 503 and Retry-After
JSON, NDJSON, ARROW = "application/json", "application/x-ndjson", "application/vnd.apache.arrow.stream"
_FIELD = re.compile(r"^([a-z_0-9]+)(?:=| is )")


class BodyError(SpendlakeError):
    """A request body that cannot be read; `status` is the HTTP answer (400, 413, 415)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Busy(SpendlakeError):
    """The commit queue is full: the client should retry after a moment."""


def inflate(body: bytes, encoding: str | None) -> bytes:
    """The body without its gzip (or deflate) content encoding, refused past `MAX_INFLATED` bytes."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise BodyError(f"content encoding {encoding!r}: send gzip, deflate or none", 415)
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        data = inflater.decompress(body, MAX_INFLATED + 1)
    except zlib.error as e:
        raise BodyError(f"the body is not valid {encoding} ({e})") from None
    if len(data) > MAX_INFLATED:
        raise BodyError(f"the body inflates past {MAX_INFLATED >> 20} MiB; send smaller requests", 413)
    return data


def read_body(body: bytes, content_type: str | None) -> Parsed:
    """Records of the event schema from a JSON array (or one object), JSON Lines, or an Arrow IPC stream."""
    kind = (content_type or "").split(";")[0].strip().lower()
    try:
        if kind == JSON:
            stripped = body.strip()
            if stripped[:1] == b"{":  # one event: an array of one (it may span lines)
                stripped = b"[" + stripped + b"]"
            if stripped[:1] != b"[":
                raise BodyError("a JSON body must be an array of events (or one event object)")
            parsed = generic.parse_jsonl(stripped)
        elif kind in (NDJSON, "application/jsonl", "application/x-jsonlines"):
            parsed = generic.parse_jsonl(body)
        elif kind == ARROW:
            parsed = _arrow(body)
        else:
            raise BodyError(f"content type {kind or 'none'!r}: send {JSON}, {NDJSON} or {ARROW}", 415)
    except ImportFormatError as e:
        raise BodyError(str(e)) from None
    if parsed.raw.height + len(parsed.unreadable) > MAX_EVENTS:
        raise BodyError(f"{parsed.raw.height + len(parsed.unreadable):,} records: send at most {MAX_EVENTS:,} "
                        "a request", 413)
    return parsed


def _arrow(body: bytes) -> Parsed:
    import pyarrow as pa
    try:
        table = pa.ipc.open_stream(body).read_all()
    except (pa.ArrowInvalid, OSError) as e:
        raise BodyError(f"not an Arrow IPC stream ({e})") from None
    frame = pl.from_arrow(table)
    return generic.parquet_frame(frame if isinstance(frame, pl.DataFrame) else frame.to_frame(), {})


def outside(parsed: Parsed, projects: tuple[str, ...]) -> list[str]:
    """Records whose project is not one of `projects` (a key limited to them may not write them)."""
    if not projects:
        return []
    if s.PROJECT not in parsed.raw.columns:
        return [f"every {parsed.label}: no project (this key writes only {', '.join(projects)})"]
    project = parsed.raw[s.PROJECT].cast(pl.String).str.strip_chars()
    bad = parsed.raw.with_columns(project.alias("_p"), parsed.record_numbers.alias("_n")).filter(
        pl.col("_p").is_null() | ~pl.col("_p").is_in(projects))
    return [f"{parsed.label} {n}: project {p!r} is not one of {', '.join(projects)}"
            for n, p in bad.select("_n", "_p").head(20).iter_rows()]


@dataclass(frozen=True)
class Answer:
    """What became of each record of one request."""

    label: str  # how records are numbered: line, item or row
    records: list[dict]  # {record, status, event_id | error, fields}

    def counts(self) -> dict[str, int]:
        found = {"written": 0, "duplicate": 0, "rejected": 0}
        for r in self.records:
            found[r["status"]] += 1
        return found

    def to_dict(self) -> dict:
        return {**self.counts(), "numbered_by": self.label, "records": self.records}


def answer(parsed: Parsed, ready: Prepared, written: pl.Series) -> Answer:
    """Each record's fate: `written` tells, for each of `ready.events`, whether the commit wrote it."""
    numbers = parsed.record_numbers.to_list()
    records: dict[tuple[int, int], dict] = {}  # by (record number, row): an OTLP line holds many spans
    for i, (number, _, why) in enumerate(parsed.unreadable):
        records[number, len(numbers) + i] = {"record": number, "status": "rejected", "error": why, "fields": []}
    for _, error, row in ready.rejected.iter_rows():
        why = error.split(": ", 1)[-1]
        records[numbers[row], row] = {"record": numbers[row], "status": "rejected", "error": why, "fields": sorted(
            {m[1] for part in why.split("; ") if (m := _FIELD.match(part))})}
    for row, was in ready.repeats.items():
        records[numbers[row], row] = {"record": numbers[row], "status": "duplicate",
                                      **({"repeats": numbers[was]} if was >= 0 else {})}
    for row, event_id, fresh in zip(ready.rows.to_list(), ready.events[s.EVENT_ID].to_list(), written.to_list()):
        records[numbers[row], row] = {"record": numbers[row], "status": "written" if fresh else "duplicate",
                                      "event_id": event_id}
    return Answer(parsed.label, [records[k] for k in sorted(records)])


@dataclass(frozen=True)
class Request:
    """One request's records, waiting to be committed."""

    parsed: Parsed
    source: str  # who sent them and how: the quarantine names it ("ci/events")


class Committer:
    """One thread that validates, prices and appends together the records of every request waiting
    when it is free: a request costs its parsing, and the fixed cost of validation, pricing and an
    append (the same for 10 records as for 10,000) is paid once per group.

    `submit` returns at once with a future of the request's `Answer`; it refuses with `Busy` when
    more than `max_queued` records are waiting. The rollups' sums are folded by a thread of their
    own, so that no request waits for a fold (it made the slowest answers 2× slower).
    """

    def __init__(self, lake: Lake, book: Callable[[], PriceBook], *, max_queued: int = MAX_QUEUED,
                 on_commit: Callable[[AppendResult], None] | None = None) -> None:
        self.lake, self.book, self.max_queued, self.on_commit = lake, book, max_queued, on_commit
        self._cond = threading.Condition()
        self._queue: list[tuple[Request, Future]] = []
        self._queued = 0
        self._closed = False
        self.commits = 0
        self._folder = ThreadPoolExecutor(1, thread_name_prefix="spendlake-fold")
        self._folding: set[dt.date] = set()  # months waiting for the folding thread
        self._thread = threading.Thread(target=self._run, name="spendlake-commit", daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        return self._queued

    def submit(self, request: Request) -> Future:
        future: Future = Future()
        size = request.parsed.raw.height + len(request.parsed.unreadable)
        with self._cond:
            if self._closed:
                raise Busy("the server is stopping")
            if self._queued and self._queued + size > self.max_queued:
                raise Busy(f"{self._queued:,} records are waiting to be written")
            self._queue.append((request, future))
            self._queued += size
            self._cond.notify()
        return future

    def close(self) -> None:
        """Write what is queued, then stop."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        self._folder.shutdown(wait=True)

    def _fold(self, month: dt.date) -> None:
        try:
            rollups.refresh(self.lake, month, month, wait=False)
        except Exception as e:  # the sums stay as they are, correct; the next append that finds them due retries
            log.warning("folding the rollups of %s failed: %s", month.strftime("%Y-%m"), e)
        finally:
            with self._cond:
                self._folding.discard(month)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                batch, self._queue, self._queued = self._queue, [], 0
                if not batch and self._closed:
                    return
            try:
                answers = self.commit([request for request, _ in batch])
            except BaseException as e:  # every waiting request hears of it (500), none hangs
                for _, future in batch:
                    future.set_exception(e)
                continue
            for (_, future), found in zip(batch, answers):
                future.set_result(found)

    def commit(self, requests: list[Request]) -> list[Answer]:
        """One group, validated, priced and appended here and now (what the thread does with each)."""
        parsed = [r.parsed for r in requests]
        sizes = [p.raw.height for p in parsed]
        raw = pl.concat([p.raw for p in parsed], how="diagonal_relaxed") if len(parsed) > 1 else parsed[0].raw
        labels = pl.concat([pl.repeat(f"{r.source} {r.parsed.label}", n, dtype=pl.String, eager=True)
                            for r, n in zip(requests, sizes)])
        originals = Chain([p.originals for p in parsed], sizes) if all(p.originals is not None for p in parsed) else None
        quarantine = Quarantine(self.lake, "http")
        for r in requests:
            for number, text, why in r.parsed.unreadable:
                quarantine.add(number, f"{r.source} {r.parsed.label} {number}: {why}", {"text": as_text(text)})
        ready = prepare(raw, quarantine, book=self.book(), label=labels, originals=originals,
                        record_numbers=pl.concat([p.record_numbers.cast(pl.Int64) for p in parsed]),
                        content_ids=any(p.content_ids for p in parsed), rates=lambda: fx.rates(self.lake))
        if quarantine.count:
            quarantine.close()
        events = ready.events
        first = events[s.EVENT_ID].is_first_distinct()  # the same id twice in one commit: the first is written
        result = self.lake.append(events.filter(first) if not first.all() else events, fold=False)
        self.commits += 1
        with self._cond:
            for month in set(result.fold_due) - self._folding:
                self._folding.add(month)
                self._folder.submit(self._fold, month)
        if self.on_commit:
            self.on_commit(result)
        written = first & ~events[s.EVENT_ID].is_in(list(result.existing)) if result.existing else first
        return [answer(p, part, written.filter(keep)) for p, (part, keep) in zip(parsed, _split(ready, sizes))]


def _split(ready: Prepared, sizes: list[int]) -> list[tuple[Prepared, pl.Series]]:
    """A group's `Prepared` as each request's own (rows counted from the request's first), with
    the mask of the group's events that are that request's."""
    parts, start = [], 0
    for n in sizes:
        mine = ready.rows.is_between(start, start + n - 1)
        rejected = ready.rejected.filter(pl.col("row").is_between(start, start + n - 1)).with_columns(
            pl.col("row") - start)
        repeats = {row - start: was - start if was >= start else -1  # (-1: a repeat of another request's)
                   for row, was in ready.repeats.items() if start <= row < start + n}
        parts.append((Prepared(ready.events.filter(mine), ready.rows.filter(mine) - start, rejected, repeats), mine))
        start += n
    return parts

