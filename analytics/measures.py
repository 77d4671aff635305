"""What every report adds up: the summable measures of events, and how to group them.

Raw events and the daily rollup carry the same measures (the rollup holds their sums per
day and attribution), so every report runs on either: `measures(frame)` turns raw events
into one row of measures each and leaves a rollup as it is.

Examples:
    >>> import datetime as dt, polars as pl
    >>> raw = pl.LazyFrame({"ts": [dt.datetime(2026, 1, 5, tzinfo=dt.UTC)], "cost_usd": [0.5], "success": [False],
    ...                     "input_tokens": [10], "output_tokens": [5], "retries": [2]})
    >>> measures(raw).select("calls", "failed_calls", "tokens", "cost_usd").collect().row(0)
    (1, 1, 15, 0.5)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

import polars as pl

from ingest import schema as s
from ingest.errors import OptionError

Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")

CALLS = "calls"
FAILED_CALLS = "failed_calls"
FAILED_COST = "failed_cost_usd"
TOKENS = "tokens"
UNPRICED = "unpriced_events"
MEASURES = (s.COST, CALLS, FAILED_CALLS, FAILED_COST, s.RETRIES, UNPRICED, TOKENS, *s.TOKEN_COLUMNS,
            s.CHARACTERS, s.IMAGES, s.AUDIO_SECONDS, s.COMPUTE_SECONDS, s.QUANTITY)
# What a breakdown can group by: attribution columns, plus any tag as "tag:<key>"
DIMENSIONS = s.ATTRIBUTION + (s.COST_SOURCE,)
TAG_PREFIX = "tag:"


def is_rollup(frame: pl.LazyFrame) -> bool:
    return CALLS in frame.collect_schema()


def measures(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Raw events with one summable measure column each (a rollup is returned unchanged)."""
    if is_rollup(frame):
        return frame
    schema = frame.collect_schema()
    missing = [c for c in s.COLUMNS if c not in schema]  # frames built by hand may leave columns out
    failed = ~pl.col(s.SUCCESS).fill_null(True)
    return frame.with_columns(*[pl.lit(None, s.POLARS_SCHEMA[c]).alias(c) for c in missing]).with_columns(
        pl.lit(1, pl.Int64).alias(CALLS),
        failed.cast(pl.Int64).alias(FAILED_CALLS),
        pl.when(failed).then(pl.col(s.COST)).otherwise(0.0).alias(FAILED_COST),
        (pl.col(s.COST_SOURCE) == "unpriced").cast(pl.Int64).fill_null(0).alias(UNPRICED),
        pl.sum_horizontal(s.INPUT_TOKENS, s.CACHE_READ_TOKENS, s.CACHE_WRITE_TOKENS, s.OUTPUT_TOKENS).alias(TOKENS),
    )


def sums(names: Sequence[str] = MEASURES) -> list[pl.Expr]:
    """Aggregations adding measures up (counts stay integers, money stays exact floats)."""
    return [pl.col(c).sum().alias(c) for c in names]


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
