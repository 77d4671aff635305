"""What every importer returns: a raw frame in event column names, ready for validation."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

import msgspec
import polars as pl

from ingest.errors import ImportFormatError


@dataclass(frozen=True)
class Parsed:
    """A source file mapped onto event columns (values still raw), with where each record came from."""

    raw: pl.DataFrame
    record_numbers: pl.Series
    label: str  # how records are named in errors: "line", "row"
    originals: Sequence[bytes] | None = None  # source text of each record, for the quarantine file
    unreadable: list[tuple[int, bytes, str]] = field(default_factory=list)  # (number, text, reason)
    tz: str | None = None  # a zone the source itself fixes for naive timestamps
    content_ids: bool = False  # ids made from each record's content: a repeated id is an exact repeat
    reported: pl.DataFrame | None = None  # what a provider's cost report billed (not events; see ingest.reported)


class Chain(Sequence[bytes]):
    """Several sequences read as one (the source lines of a batch of files), without copying them."""

    def __init__(self, parts: list[Sequence[bytes]], lengths: list[int]) -> None:
        self._parts = parts
        self._ends = list(accumulate(lengths))  # given: a part may split its text only when asked

    def __getitem__(self, i):  # type: ignore[override]
        part = bisect_right(self._ends, i)
        return self._parts[part][i - (self._ends[part - 1] if part else 0)]

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0


def decode_document(source: Path | bytes, decoder: msgspec.json.Decoder, what: str) -> tuple[bytes, object]:
    """A file that is one JSON document, its bytes and what `decoder` makes of them; a file that is
    not one is named once ("not <what> (…)")."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        return data, decoder.decode(data)
    except msgspec.DecodeError as e:
        raise ImportFormatError(f"not {what} ({e})") from None
