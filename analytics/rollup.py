"""The daily rollup: measures summed per UTC day and attribution, kept beside the events.

    <lake>/rollups/daily/<YYYY-MM-DD>-<signature>.parquet

The signature is a hash of the names of the day's data files. Every change to a partition
(append, compaction, reprice) gives it new file names, so a rollup built from other files
is stale by construction: `daily` rebuilds stale and missing days before it answers and
ignores rollups of dropped partitions, so it is never silently wrong. `refresh` does the
same work ahead of time (import, compaction, reprice and retention call it).

Examples:
    >>> import tempfile, datetime as dt
    >>> from ingest.demo import write_demo
    >>> from ingest.lake import Lake
    >>> lake = Lake(tempfile.mkdtemp())
    >>> _ = write_demo(lake, dt.date(2026, 3, 31), days=3)
    >>> days = daily(lake).collect()
    >>> round(days["cost_usd"].sum(), 6) == round(lake.scan().select("cost_usd").sum().collect().item(), 6)
    True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid
from pathlib import Path

import polars as pl

from analytics.measures import CALLS, MEASURES, measures, sums
from ingest import schema as s
from ingest.lake import Lake

KEYS = (s.PROVIDER, s.MODEL, s.SERVICE, s.OPERATION, s.PROJECT, s.JOB_ID, s.STAGE, s.AGENT, s.USER,
        s.COST_SOURCE, s.TAGS)
SCHEMA = pl.Schema({s.DATE: pl.Date, **{k: pl.String for k in KEYS}, **{m: pl.Int64 for m in MEASURES}}
                   | {m: pl.Float64 for m in (s.COST, "failed_cost_usd", s.AUDIO_SECONDS, s.COMPUTE_SECONDS, s.QUANTITY)})


def rollup_dir(lake: Lake) -> Path:
    return lake.root / "rollups" / "daily"


def daily(lake: Lake | str | os.PathLike[str], *, start: dt.date | None = None,
          end: dt.date | None = None) -> pl.LazyFrame:
    """The rollup rows of days in [start, end], rebuilding any that are stale first."""
    lake = lake if isinstance(lake, Lake) else Lake(lake)
    current = refresh(lake, start=start, end=end)
    if not current:
        return pl.LazyFrame(schema=SCHEMA)
    return pl.scan_parquet(current, schema=SCHEMA, hive_partitioning=False)


def refresh(lake: Lake, *, start: dt.date | None = None, end: dt.date | None = None) -> list[Path]:
    """Bring the rollup of days in [start, end] up to date; returns the current rollup files."""
    folder = rollup_dir(lake)
    existing = {p.name: p for p in folder.glob("*.parquet")} if folder.exists() else {}
    current = []
    for day, files in lake.files_by_day(start=start, end=end).items():
        if not files:
            continue
        name = f"{day.isoformat()}-{_signature(files)}.parquet"
        if name not in existing:
            try:
                _build(lake, day, files, folder / name)
            except FileNotFoundError:  # a rewrite replaced the files meanwhile: take the new ones
                return refresh(lake, start=start, end=end)
        current.append(folder / name)
    keep = {p.name for p in current}
    for name, path in existing.items():  # stale, or of a partition retention dropped
        day = name[:10]
        in_range = (start is None or day >= start.isoformat()) and (end is None or day <= end.isoformat())
        if in_range and name not in keep:
            path.unlink(missing_ok=True)
    return current


def _signature(files: list[Path]) -> str:
    return hashlib.blake2b("\n".join(sorted(p.name for p in files)).encode(), digest_size=8).hexdigest()


def _build(lake: Lake, day: dt.date, files: list[Path], target: Path) -> None:
    events = pl.scan_parquet(files, schema=s.POLARS_SCHEMA, hive_partitioning=False, missing_columns="insert",
                             extra_columns="ignore")
    rows = measures(events).group_by(KEYS).agg(sums()).with_columns(pl.lit(day).alias(s.DATE))
    table = rows.collect().select(SCHEMA.names()).cast(SCHEMA).sort(s.COST, descending=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    lake.tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = lake.tmp_dir / f"rollup-{uuid.uuid4().hex}.parquet"
    table.write_parquet(tmp, compression="zstd")
    os.replace(tmp, target)  # a lost rollup is rebuilt, so no fsync: only whole files matter


__all__ = ["daily", "refresh", "KEYS", "CALLS"]
