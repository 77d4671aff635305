"""What every report adds up, and how to group it.

Raw events and the daily rollup carry the same measures (the rollup holds their sums per
day and attribution; both are defined in `ingest.rollups`), so every report runs on either:
`measures(frame)` turns raw events into one row of measures each and leaves a rollup as it is."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import polars as pl

from ingest import schema as s
from ingest.errors import OptionError
# the measures are defined beside the rollups that store their sums
from ingest.rollups import CALLS, FAILED_CALLS, FAILED_COST, MEASURES, TOKENS, UNPRICED, is_rollup, measures, sums

__all__ = ["CALLS", "FAILED_CALLS", "FAILED_COST", "MEASURES", "TOKENS", "UNPRICED", "is_rollup", "measures", "sums",
           "RETRY_COST", "Period", "PERIODS", "DIMENSIONS", "TAG_PREFIX", "day_column", "period_start", "dimension", "period_bounds"]

Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")

RETRY_COST = "retry_cost_usd"  # cost × retries: what the attempts before a call's last cost

# What a breakdown can group by: attribution columns, plus any tag as "tag:<key>"
DIMENSIONS = s.ATTRIBUTION + (s.COST_SOURCE,)
TAG_PREFIX = "tag:"


def day_column(frame: pl.LazyFrame) -> pl.Expr:
    """The UTC date of each row: the hive `date` of raw events, or the rollup's own."""
    return pl.col(s.DATE) if s.DATE in frame.collect_schema() else pl.col(s.TS).dt.date()


def period_start(day: pl.Expr, period: Period) -> pl.Expr:
    """The first day of the day's period (weeks start on Monday)."""
    if period == "day":
        return day
    if period == "week":
        return day.dt.truncate("1w")
    if period == "month":
        return day.dt.month_start()
    raise OptionError(f"unknown period {period!r}; choose one of {', '.join(PERIODS)}")


def dimension(name: str) -> pl.Expr:
    """A grouping column: an attribution column, or `tag:<key>` read from the tags JSON."""
    if name.startswith(TAG_PREFIX):
        key = name.removeprefix(TAG_PREFIX)
        if not key.replace("_", "").replace("-", "").isalnum():
            raise OptionError(f"tag key {key!r}: use letters, digits, '-' and '_'")
        return pl.col(s.TAGS).str.json_path_match(f"$.{key}").alias(name)
    if name not in DIMENSIONS:
        raise OptionError(f"cannot group by {name!r}; choose one of {', '.join(DIMENSIONS)} or tag:<key>")
    return pl.col(name)


def period_bounds(today: dt.date, period: Period) -> tuple[dt.date, dt.date]:
    """The first and last day of the period holding `today`.

    Examples:
        >>> period_bounds(dt.date(2026, 2, 11), "month")
        (datetime.date(2026, 2, 1), datetime.date(2026, 2, 28))
    """
    if period == "day":
        return today, today
    if period == "week":
        start = today - dt.timedelta(days=today.weekday())
        return start, start + dt.timedelta(days=6)
    if period != "month":
        raise OptionError(f"unknown period {period!r}; choose one of {', '.join(PERIODS)}")
    start = today.replace(day=1)
    following = (start + dt.timedelta(days=32)).replace(day=1)
    return start, following - dt.timedelta(days=1)
