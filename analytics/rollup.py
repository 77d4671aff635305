"""The rollups, read: measures summed per UTC day and attribution (`daily`), per day and run
(`daily_jobs`), per run (`runs`). The lake keeps them current as it writes (`ingest.rollups`);
reading them writes nothing, and a day the files beside the events do not cover yet is summed
from its events in memory, so the answer always equals the events'.
"""

from __future__ import annotations

import datetime as dt
import os

import polars as pl

from ingest import rollups, schema as s
from ingest.lake import Lake
from ingest.rollups import FIRST_DAY, LAST_DAY


def daily(lake: Lake | str | os.PathLike[str], *, start: dt.date | None = None,
          end: dt.date | None = None) -> pl.LazyFrame:
    """The daily rollup of days in [start, end]."""
    return rollups.read(_lake(lake), "daily", start, end)


def daily_jobs(lake: Lake | str | os.PathLike[str], *, start: dt.date | None = None,
               end: dt.date | None = None) -> pl.LazyFrame:
    """The per-run rollup (day × job × project, events with a job id only) of days in [start, end]."""
    return rollups.read(_lake(lake), "jobs", start, end)


def runs(lake: Lake | str | os.PathLike[str], *, start: dt.date | None = None,
         end: dt.date | None = None) -> pl.LazyFrame:
    """One row per run (job × project) with its first and last day in [start, end] and its measures summed there.

    Examples:
        >>> import tempfile
        >>> from ingest.demo import write_demo
        >>> lake = Lake(tempfile.mkdtemp())
        >>> _ = write_demo(lake, dt.date(2026, 3, 31), days=3)
        >>> found = runs(lake).collect()
        >>> found.height == lake.scan().select(pl.col("job_id").drop_nulls().n_unique()).collect().item()
        True
    """
    return rollups.runs(_lake(lake), start, end)


def run_days(lake: Lake | str | os.PathLike[str], job_id: str) -> tuple[dt.date, dt.date] | None:
    """The first and last UTC day of a run's events, from the per-run rollup (None for an unknown run).

    The jobs files are sorted by job id, so their row-group statistics let the reader skip all
    but the row group holding the run: a drill-down can then scan those days only,
    `run_report(scan(lake, start=first, end=last), job_id)`.
    """
    found = daily_jobs(lake).filter(pl.col(s.JOB_ID) == job_id).select(
        pl.col(s.DATE).min().alias(FIRST_DAY), pl.col(s.DATE).max().alias(LAST_DAY)).collect().row(0)
    return None if found[0] is None else found


def _lake(lake: Lake | str | os.PathLike[str]) -> Lake:
    return lake if isinstance(lake, Lake) else Lake(lake)
