"""What every importer returns: a raw frame in event column names, ready for validation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl


@dataclass(frozen=True)
class Parsed:
    """A source file mapped onto event columns (values still raw), with where each record came from."""

    raw: pl.DataFrame
    record_numbers: pl.Series
    label: str  # how records are named in errors: "line", "row"
    originals: Sequence[bytes] | None = None  # source text of each record, for the quarantine file
    unreadable: list[tuple[int, bytes, str]] = field(default_factory=list)  # (number, text, reason)
    tz: str | None = None  # a zone the source itself fixes for naive timestamps
