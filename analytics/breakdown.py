"""Breakdowns: cost, calls, tokens and units by any attribution and period, with shares,
top-N (the rest as "other") and the change against the previous period.

Examples:
    >>> import datetime as dt, polars as pl
    >>> events = pl.LazyFrame({
    ...     "ts": [dt.datetime(2026, 1, d, tzinfo=dt.UTC) for d in (5, 5, 6)],
    ...     "provider": ["openai", "anthropic", "openai"], "cost_usd": [1.0, 6.0, 1.0]})
    >>> breakdown(events, by="provider").select("provider", "cost_usd", "share").rows()
    [('anthropic', 6.0, 0.75), ('openai', 2.0, 0.25)]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from analytics.measures import MEASURES, TAG_PREFIX, Period, day_column, dimension, measures, period_start, sums
from ingest import schema as s
from ingest.errors import OptionError

OTHER = "other"
PERIOD_START = "period_start"


def breakdown(events: pl.LazyFrame, by: str | Sequence[str] = (), *, period: Period | None = None,
              top: int | None = None, metric: str = s.COST, values: Sequence[str] | None = None,
              limit: int | None = None) -> pl.DataFrame:
    """Measures summed by `by` (attribution columns or `tag:<key>`) and, if given, by period.

    A custom period is the range scanned: `breakdown(analytics.scan(lake, start=…, end=…), …)`.

    `values` names the measures to sum (default: all of them); asking for fewer reads fewer
    columns from raw events.

    `share` is each row's part of its period's `metric`. With `top`, the `top` groups
    largest in `metric` over the whole range keep their names and the rest are summed as
    "other", so every breakdown adds up to the same total. Rows are ordered by period,
    then largest first. `limit` keeps only the first rows of that order (without a period:
    the largest; the rest are dropped, not summed). Works on raw events and on rollups alike.
    """
    keys = [by] if isinstance(by, str) else list(by)
    wanted = list(dict.fromkeys([metric, *(values if values is not None else MEASURES)]))
    unknown = [m for m in wanted if m not in MEASURES]
    if unknown:
        raise OptionError(f"unknown measure(s) {unknown}; choose from {', '.join(MEASURES)}")
    frame = measures(events)
    groups = [dimension(k) for k in keys]
    absent = [k for k in keys if not k.startswith(TAG_PREFIX) and k not in frame.collect_schema()]
    if absent:
        raise OptionError(f"this table has no {', '.join(absent)} column: group runs with the per-run rollup "
                         "(daily_jobs) or raw events (scan)")
    if period is not None:
        groups = [period_start(day_column(frame), period).alias(PERIOD_START), *groups]
    names = [PERIOD_START] * (period is not None) + keys
    if not names:
        result = frame.select(sums(wanted)).collect()
    else:
        result = frame.group_by(groups).agg(sums(wanted)).collect()
    if top is not None and keys:
        result = _top(result, keys, names, top, metric, wanted)
    within = [pl.col(PERIOD_START)] if period is not None else []
    total = pl.col(metric).sum().over(within) if within else pl.col(metric).sum()
    result = result.with_columns(pl.when(total != 0).then(pl.col(metric) / total).alias("share"))
    order = ([PERIOD_START] if period is not None else []) + [metric] + keys
    descending = [False] * (period is not None) + [True] + [False] * len(keys)
    if limit is not None and period is None and result.height > limit:  # a top-k is cheaper than a full sort
        result = result.filter(pl.col(metric).is_not_null()).top_k(  # ties broken by the keys, as the sort does
            limit, by=[metric, *keys], reverse=[False] + [True] * len(keys))
    result = result.sort(order, descending=descending, nulls_last=True)
    return result.head(limit) if limit is not None else result


def _top(result: pl.DataFrame, keys: list[str], names: list[str], top: int, metric: str,
         wanted: list[str]) -> pl.DataFrame:
    if top < 1:
        raise OptionError("top must be at least 1")
    ranked = result.group_by(keys).agg(pl.col(metric).sum()).sort([metric, *keys], descending=[True] + [False] * len(keys),
                                                                   nulls_last=True)
    kept = ranked.head(top).select(keys).with_columns(pl.lit(True).alias("_kept"))
    marked = result.join(kept, on=keys, how="left", nulls_equal=True)
    renamed = marked.with_columns(
        *[pl.when(pl.col("_kept")).then(pl.col(k).cast(pl.String)).otherwise(pl.lit(OTHER)).alias(k) for k in keys])
    return renamed.group_by(names).agg(sums(wanted))


def compare(events: pl.LazyFrame, by: str | Sequence[str] = (), *, start: dt.date, end: dt.date,
            metric: str = s.COST) -> pl.DataFrame:
    """`metric` in [start, end] beside the equally long period just before it, by `by`.

    `events` must cover both periods (scan from `start - (end - start + 1 days)`).
    `change_pct` is null where the previous period had none.

    Examples:
        >>> import datetime as dt, polars as pl
        >>> ev = pl.LazyFrame({"ts": [dt.datetime(2026, 1, d, tzinfo=dt.UTC) for d in (1, 2, 3, 4)],
        ...                    "cost_usd": [1.0, 1.0, 3.0, 3.0]})
        >>> compare(ev, start=dt.date(2026, 1, 3), end=dt.date(2026, 1, 4)).row(0)
        (6.0, 2.0, 4.0, 2.0)
    """
    keys = [by] if isinstance(by, str) else list(by)
    length = end - start + dt.timedelta(days=1)
    frame = measures(events)
    day = day_column(frame)
    window = pl.when(day.is_between(start, end)).then(pl.lit("current")).when(
        day.is_between(start - length, start - dt.timedelta(days=1))).then(pl.lit("previous"))
    per = frame.with_columns(window.alias("_window")).filter(pl.col("_window").is_not_null())
    both = [pl.col(metric).filter(pl.col("_window") == "current").sum().alias(metric),
            pl.col(metric).filter(pl.col("_window") == "previous").sum().alias(f"previous_{metric}")]
    per = per.group_by([dimension(k) for k in keys]).agg(both) if keys else per.select(both)
    previous = pl.col(f"previous_{metric}")
    return per.with_columns((pl.col(metric) - previous).alias("change"),
                            pl.when(previous != 0).then(pl.col(metric) / previous - 1).alias("change_pct")
                            ).collect().sort([metric, *keys], descending=[True] + [False] * len(keys), nulls_last=True)
