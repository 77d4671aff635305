"""What the providers billed, from their cost reports: `<lake>/reported/<digest>.parquet`.

Kept beside the events, not among them: a cost report says what a day cost, not which calls
made it, and counting it as events would count the spend twice. `spendlake report reconcile`
sets it against the events' computed costs. Rows carry the report's own id (bucket and
grouping); a file is named by its rows, so re-importing a report rewrites the same file, and
readers keep one row per id when reports overlap.

Examples:
    >>> import tempfile, datetime as dt, polars as pl
    >>> from ingest.lake import Lake
    >>> lake = Lake(tempfile.mkdtemp())
    >>> rows = pl.DataFrame([("a", "openai", dt.date(2026, 3, 1), None, None, "gpt-4o, input", 1.5)],
    ...                     schema=REPORTED, orient="row")
    >>> write_reported(lake, rows); write_reported(lake, rows)
    1
    1
    >>> read_reported(lake).collect()["cost_usd"].sum()
    1.5
"""

from __future__ import annotations

import datetime as dt
import hashlib

import polars as pl

from ingest.files import write_atomic
from ingest.lake import REPORTED as REPORTED_FOLDER, Lake

REPORTED = pl.Schema({"id": pl.String, "provider": pl.String, "date": pl.Date, "project": pl.String,
                      "model": pl.String, "item": pl.String, "cost_usd": pl.Float64})


def write_reported(lake: Lake, rows: pl.DataFrame) -> int:
    """Keep a cost report's rows (atomically); returns how many."""
    if rows.height == 0:
        return 0
    name = hashlib.blake2b("\n".join(sorted(rows["id"])).encode(), digest_size=12).hexdigest()
    write_atomic(lake.path(REPORTED_FOLDER) / f"{name}.parquet",
                 rows.select(REPORTED.names()).cast(dict(REPORTED)).write_parquet, tmp=lake.tmp_path("reported"))
    return rows.height


def read_reported(lake: Lake, *, start: dt.date | None = None, end: dt.date | None = None) -> pl.LazyFrame:
    """Every reported cost row dated in [start, end] (UTC days, inclusive), once per id."""
    files = sorted(str(p) for p in lake.path(REPORTED_FOLDER).glob("[!.]*.parquet"))
    if not files:
        return pl.LazyFrame(schema=REPORTED)
    rows = pl.scan_parquet(files).unique("id", keep="last", maintain_order=True)
    if start:
        rows = rows.filter(pl.col("date") >= start)
    if end:
        rows = rows.filter(pl.col("date") <= end)
    return rows
