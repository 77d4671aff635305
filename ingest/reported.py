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
    >>> rows = pl.DataFrame([("a", "openai", dt.date(2026, 3, 1), None, None, "gpt-4o, input", 1.5, None, None)],
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
from ingest.objects import scan_parquet

REPORTED = pl.Schema({"id": pl.String, "provider": pl.String, "date": pl.Date, "project": pl.String,
                      "model": pl.String, "item": pl.String, "cost_usd": pl.Float64,
                      # what the report said, in its own currency (cost_usd: that amount in dollars)
                      "amount": pl.Float64, "currency": pl.String})


def write_reported(lake: Lake, rows: pl.DataFrame) -> int:
    """Keep a cost report's rows (atomically); returns how many. A row billed in another currency
    gets its dollars at its day's rate (`ingest.fx`), its amount and currency kept beside them; a
    day with no rate stops the report (nothing is converted with a guessed rate)."""
    if rows.height == 0:
        return 0
    rows = in_dollars(lake, rows)
    name = hashlib.blake2b("\n".join(sorted(rows["id"])).encode(), digest_size=12).hexdigest()
    write_atomic(lake.path(REPORTED_FOLDER) / f"{name}.parquet",
                 rows.select(REPORTED.names()).cast(dict(REPORTED)).write_parquet, tmp=lake.tmp_path("reported"))
    return rows.height


def in_dollars(lake: Lake, rows: pl.DataFrame) -> pl.DataFrame:
    """Rows with `amount` in `currency` (none: dollars in `cost_usd`) and their `cost_usd`."""
    from ingest import fx
    rows = rows.with_columns(pl.col("currency").fill_null(fx.BASE).str.to_uppercase(),
                             pl.coalesce("amount", "cost_usd").alias("amount"))
    parts = [rows.filter(pl.col("currency") == fx.BASE).with_columns(pl.col("amount").alias("cost_usd"))]
    table = fx.rates(lake) if (rows["currency"] != fx.BASE).any() else None
    for (code,), billed in rows.filter(pl.col("currency") != fx.BASE).partition_by("currency", as_dict=True).items():
        rates = fx.per_day(billed.select("date"), code, table).select("date", "rate")
        parts.append(billed.join(rates, on="date", how="left").with_columns(
            (pl.col("amount") / pl.col("rate")).alias("cost_usd")).drop("rate"))
    return pl.concat(parts).select(REPORTED.names())


def read_reported(lake: Lake, *, start: dt.date | None = None, end: dt.date | None = None) -> pl.LazyFrame:
    """Every reported cost row dated in [start, end] (UTC days, inclusive), once per id."""
    files = sorted(lake.path(REPORTED_FOLDER).glob("[!.]*.parquet"))
    if not files:
        return pl.LazyFrame(schema=REPORTED)
    rows = scan_parquet(files, schema=REPORTED, missing_columns="insert").unique("id", keep="last",
                                                                                    maintain_order=True)
    if start:
        rows = rows.filter(pl.col("date") >= start)
    if end:
        rows = rows.filter(pl.col("date") <= end)
    return rows
