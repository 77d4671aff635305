"""Reading the lake: one LazyFrame with the lake's fixed dtypes, pruned by date and filters."""

from __future__ import annotations

import datetime as dt
import os

import polars as pl

from ingest import schema as s
from ingest.errors import OptionError
from ingest.lake import Lake


def scan(lake: str | os.PathLike[str] | Lake, *, start: dt.date | None = None, end: dt.date | None = None,
         **filters: str | list[str]) -> pl.LazyFrame:
    """Events dated in [start, end] (UTC dates, inclusive) matching `filters` (column=value or list).

    Only the partitions in the date range are opened. A folder in the lake that is not a
    partition raises `LakeError` rather than changing the lake's schema.
    """
    unknown = [k for k in filters if k not in s.COLUMNS]
    if unknown:
        raise OptionError(f"unknown filter columns: {unknown}; filter on one of {s.ATTRIBUTION}")
    events = (lake if isinstance(lake, Lake) else Lake(lake)).scan(start=start, end=end)
    for column, value in filters.items():
        values = [value] if isinstance(value, str) else list(value)
        events = events.filter(pl.col(column).is_in(values))
    return events
