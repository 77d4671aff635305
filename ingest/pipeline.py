"""One path for every source: validate → price → append, bad records to quarantine.

Examples:
    >>> import tempfile, polars as pl
    >>> from ingest.lake import Lake
    >>> lake = Lake(tempfile.mkdtemp())
    >>> raw = pl.DataFrame({"ts": ["2026-01-05T10:00:00Z", "yesterday"], "provider": ["openai"] * 2,
    ...                     "model": ["gpt-4o"] * 2, "service": ["llm"] * 2, "input_tokens": [1000, 5]})
    >>> summary = ingest_frame(lake, raw, source="example")
    >>> summary.imported, summary.quarantined
    (1, 1)
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ingest import fx, schema as s
from ingest.lake import Lake
from ingest.objects import ObjectPath
from ingest.pricing import PriceBook

Progress = Callable[[int, int], None]
CHUNK_ROWS = 1_000_000


@dataclass
class ImportSummary:
    """What an import did; summaries of several inputs add up."""

    imported: int = 0
    duplicates: int = 0
    quarantined: int = 0
    unchanged: int = 0  # files skipped: read whole by an earlier import and not changed since
    repeats: int = 0  # exact repeats of a record in the same input: counted in duplicates, kept in quarantine
    unpriced: int = 0
    reported: int = 0  # rows of providers' cost reports (kept beside the events)
    quarantine_files: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the first few rejection messages
    notes: list[str] = field(default_factory=list)  # files skipped, and why
    failed: list[str] = field(default_factory=list)  # files that could not be read at all, and why
    problems: dict[str, list] = field(default_factory=dict)  # each reason → [records, the first one's message]

    def __iadd__(self, other: ImportSummary) -> ImportSummary:
        self.imported += other.imported
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.repeats += other.repeats
        self.unchanged += other.unchanged
        self.unpriced += other.unpriced
        self.reported += other.reported
        self.quarantine_files += other.quarantine_files
        self.errors += other.errors[: max(0, 20 - len(self.errors))]
        self.notes += other.notes
        self.failed += other.failed
        for why, (count, first) in other.problems.items():
            self.problems.setdefault(why, [0, first])[0] += count
        return self

    def problem_messages(self) -> list[str]:
        """One message per problem, however many records had it: the first record's, and how many
        more (a reason repeated on 300 rows is one line, not 300)."""
        return [first + (f" (and {count - 1:,} more record{'s' * (count > 2)} with the same problem)" if count > 1 else "")
                for count, first in self.problems.values()]

    def _problems(self, errors: pl.Series) -> None:
        """Count rejection messages (`label number: reason`) by reason."""
        if errors.is_empty():
            return
        parts = pl.col("error").str.splitn(": ", 2)
        counted = errors.to_frame("error").group_by(  # (the file and the reason: "calls.csv line" + why)
            parts.struct.field("field_0").str.replace(r"\s*\d+$", "").alias("file"),
            # the rule, not the value that broke it: input_tokens='-1' and input_tokens='-2' are one problem
            parts.struct.field("field_1").str.replace_all(r"(\w+)=('[^']*'|\S+)", "$1=…").alias("why"),
            maintain_order=True).agg(pl.len().alias("n"), pl.col("error").first())
        for where, why, n, first in counted.iter_rows():
            self.problems.setdefault(f"{where}: {why}", [0, first])[0] += n

    @property
    def complete(self) -> bool:
        """Whether every record landed (or was already there): nothing quarantined, no file unread."""
        return not self.quarantined and not self.failed

    def to_dict(self) -> dict:
        return {"imported": self.imported, "duplicates": self.duplicates, "quarantined": self.quarantined,
                "repeats": self.repeats, "unchanged_files": self.unchanged, "unpriced": self.unpriced, "reported": self.reported, "quarantine_files": [str(p) for p in self.quarantine_files],
                "errors": self.errors, "problems": self.problem_messages(), "notes": self.notes, "failed": self.failed}


def ingest_frame(lake: Lake, raw: pl.DataFrame, *, book: PriceBook | None = None, source: str,
                 tz: str | None = None, record_numbers: pl.Series | None = None, label: str | pl.Series = "record",
                 originals: Sequence[bytes | str] | None = None,
                 unreadable: Sequence[tuple[str, int, bytes | str, str]] = (),
                 content_ids: bool = False, progress: Progress | None = None) -> ImportSummary:
    """Validate, price and append a raw frame; rejected records go to one quarantine file.

    Records are named in messages by `label` and their number ("line 4"); `label` may be a
    Series with one per record, when the frame holds several files ("a.jsonl line"). `originals`
    holds each record's source text (e.g. its JSONL line) for the quarantine file; without it
    the raw row is written as JSON. `unreadable` are records the reader could not parse at
    all: (label, number, text, reason); they are quarantined with the rest.

    An exact repeat of a record (the same id, made from the record's content: records without an
    id, or every record when `content_ids`) counts as a duplicate and is kept in quarantine as
    "repeat of line N", so nothing is lost. A repeated id that a source gave (a streamed reply, a
    resumed session) is an ordinary duplicate.
    """
    book = book or PriceBook.load(lake.overrides_path)
    summary = ImportSummary()
    bad = Quarantine(lake, source)
    for name, number, text, why in unreadable:
        summary.errors.append(f"{name} {number}: {why}")
        summary._problems(pl.Series([f"{name} {number}: {why}"]))
        bad.add(number, f"{name} {number}: {why}", {"text": as_text(text)})
    n = raw.height
    for start in range(0, max(n, 1), CHUNK_ROWS):
        chunk = raw.slice(start, CHUNK_ROWS)
        numbers = (record_numbers.slice(start, CHUNK_ROWS) if record_numbers is not None
                   else pl.int_range(start + 1, start + chunk.height + 1, eager=True))
        names = label.slice(start, CHUNK_ROWS) if isinstance(label, pl.Series) else label
        ready = prepare(chunk, bad, book=book, tz=tz, record_numbers=numbers, label=names,
                        originals=None if originals is None else _Slice(originals, start), content_ids=content_ids,
                        rates=lambda: fx.rates(lake))
        summary.errors += ready.rejected["error"].head(max(0, 20 - len(summary.errors))).to_list()
        summary._problems(ready.rejected["error"])
        summary.repeats += len(ready.repeats)
        summary.duplicates += len(ready.repeats)
        result = lake.append(ready.events)
        summary.imported += result.written
        summary.duplicates += result.duplicates
        summary.unpriced += ready.events.filter(pl.col(s.COST_SOURCE) == "unpriced").height
        if progress:
            progress(min(start + CHUNK_ROWS, n), n)
    summary.quarantined = bad.count - summary.repeats
    if bad.count:
        summary.quarantine_files.append(bad.close())
    return summary


def with_service(raw: pl.DataFrame) -> pl.DataFrame:
    """A missing `service` inferred from the model where genai-prices knows it: a token-priced
    model is an LLM (an embedding model when its name says so). Other rows keep theirs, or none.

    Examples:
        >>> with_service(pl.DataFrame({"provider": ["openai", "openai", "acme"], "model": ["gpt-4o", "text-embedding-3-small", "x"]}))["service"].to_list()
        ['llm', 'embedding', None]
    """
    from ingest.llm_prices import find_model
    if s.MODEL not in raw.columns or s.PROVIDER not in raw.columns:
        return raw
    if s.SERVICE not in raw.columns:
        raw = raw.with_columns(pl.lit(None, pl.String).alias(s.SERVICE))
    elif raw[s.SERVICE].null_count() == 0:
        return raw
    key = [pl.col(c).cast(pl.String).str.strip_chars().str.to_lowercase().alias(f"_{c}") for c in (s.PROVIDER, s.MODEL)]
    pairs = raw.filter(pl.col(s.SERVICE).is_null()).select(key).unique().drop_nulls()
    known = [(p, m, "embedding" if "embed" in m else "llm") for p, m in pairs.iter_rows() if find_model(p, m)]
    if not known:
        return raw
    table = pl.DataFrame(known, schema={"_provider": pl.String, "_model": pl.String, "_service": pl.String}, orient="row")
    return raw.with_columns(key).join(table, on=["_provider", "_model"], how="left", maintain_order="left").with_columns(
        pl.coalesce(pl.col(s.SERVICE).cast(pl.String), "_service").alias(s.SERVICE)).drop("_provider", "_model", "_service")


@dataclass(frozen=True)
class Prepared:
    """Records validated and priced, ready to append; what became of each input row."""

    events: pl.DataFrame  # priced events, exact repeats taken out
    rows: pl.Series  # the input row (0-based) of each event
    rejected: pl.DataFrame  # record, error, row (`schema.REJECTED_SCHEMA`): sent to quarantine
    repeats: dict[int, int]  # row → the earlier row it repeats exactly (kept in quarantine too)


def prepare(chunk: pl.DataFrame, quarantine: Quarantine, *, book: PriceBook, tz: str | None = None,
            record_numbers: pl.Series | None = None, label: str | pl.Series = "record",
            originals: Sequence[bytes | str] | None = None, content_ids: bool = False,
            rates: Callable[[], pl.DataFrame] | None = None) -> Prepared:
    """Validate and price one frame; rejected records and exact repeats go to `quarantine`
    (see `ingest_frame`). A cost given in another `currency` is converted to dollars with the
    exchange rates `rates()` returns (default: the ECB's), its own amount and currency kept in the
    event's tags; a record whose currency has no rate for its day is rejected. Nothing is written
    to the lake."""
    numbers = record_numbers if record_numbers is not None else pl.int_range(1, chunk.height + 1, eager=True)
    checked = s.validate(with_service(chunk), tz=tz, record_numbers=numbers, label=label)
    events, rows, rejected = checked.events, checked.rows, checked.rejected
    if s.CURRENCY in events.columns:
        events, why = fx.billed_in_dollars(events, rates() if rates else fx.rates())
        bad = why.is_not_null()
        if bad.any():  # (a few records: their messages are written one by one)
            failed = [(numbers[r], f"{_named(label, r)} {numbers[r]}: {w}", r)
                      for r, w in zip(rows.filter(bad), why.filter(bad))]
            rejected = pl.concat([rejected, pl.DataFrame(failed, schema=s.REJECTED_SCHEMA, orient="row")])
            events, rows = events.filter(~bad), rows.filter(~bad)

    def original(i: int) -> dict:
        return {"text": as_text(originals[i])} if originals is not None else chunk.row(i, named=True)

    for record, error, row in rejected.iter_rows():
        quarantine.add(record, error, original(row))
    events = events.rechunk()
    ids = events[s.EVENT_ID]
    repeats: dict[int, int] = {}
    from_content = (chunk[s.EVENT_ID].is_null() if s.EVENT_ID in chunk.columns and not content_ids
                    else pl.repeat(True, chunk.height, eager=True)).gather(rows)
    if from_content.any() and ids.is_duplicated().any():  # (ids a source gave repeat only as duplicates)
        firsts = ids.is_first_distinct()
        repeat = ~firsts & from_content
        if repeat.any():
            first_row = dict(zip(ids.filter(firsts), rows.filter(firsts)))
            for row, event_id in zip(rows.filter(repeat), ids.filter(repeat)):
                was = repeats[row] = first_row[event_id]
                quarantine.add(numbers[row], f"{_named(label, row)} {numbers[row]}: repeat of "
                                             f"{_named(label, was, row)} {numbers[was]}", original(row))
            events = events.filter(~repeat)
            return Prepared(book.price(events), rows.filter(~repeat), rejected, repeats)
    return Prepared(book.price(events), rows, rejected, repeats)


class _Slice(Sequence):
    """`items` from `start` on, without copying them."""

    def __init__(self, items: Sequence, start: int) -> None:
        self._items, self._start = items, start

    def __getitem__(self, i):  # type: ignore[override]
        return self._items[self._start + i]

    def __len__(self) -> int:
        return len(self._items) - self._start


class Quarantine:
    """One JSONL file of rejected records with their reasons, made visible whole when closed."""

    def __init__(self, lake: Lake, source: str) -> None:
        lake.quarantine_dir.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in Path(source).name)[:60]
        self.source = source
        self.path = lake.quarantine_dir / f"{stamp}-{name}-{uuid.uuid4().hex[:6]}.jsonl"
        self._tmp = lake.tmp_path("quarantine", ".jsonl")  # a killed import's is removed by the next writer
        self._file = None
        self.count = 0

    def add(self, record: int, error: str, data: dict) -> None:
        if self._file is None:  # (in a bucket the file is put whole when closed)
            self._file = io.StringIO() if isinstance(self.path, ObjectPath) else open(self._tmp, "w")
        self._file.write(json.dumps({"source": self.source, "record": record, "error": error, "data": data},
                                    default=str, ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> Path:
        if isinstance(self._file, io.StringIO):
            self.path.write_bytes(self._file.getvalue().encode(), exclusive=True)
            return self.path
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._tmp, self.path)
        return self.path


def _named(names: str | pl.Series, row: int, beside: int | None = None) -> str:
    """How record `row` is named ("a.jsonl line"); beside a record of the same file, just "line"."""
    if isinstance(names, str):
        return names.rsplit(" ", 1)[-1] if beside is not None else names
    name = names[row]
    return name.rsplit(" ", 1)[-1] if beside is not None and names[beside] == name else name


def as_text(original: bytes | str) -> str:
    """A record's source text as the quarantine file keeps it."""
    return original.decode("utf-8", "replace") if isinstance(original, bytes) else original
