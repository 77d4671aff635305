"""Reported against computed cost, per provider and UTC day: a wrong price or a missed event shows
as a gap.

Two comparisons, side by side:
- `billed_usd`, what the provider's cost reports billed that day (`ingest.reported`), against
  `computed_usd`, what the price book makes of every event of that provider and day
  (unpriced events count as nothing: `unpriced_events` says how many);
- `event_reported_usd`, the costs that events brought with them (a source that priced its own
  calls), against `event_computed_usd`, the price book's cost of those same events.

Examples:
    >>> import datetime as dt, polars as pl
    >>> events = pl.LazyFrame({"ts": [dt.datetime(2026, 3, 1, tzinfo=dt.UTC)] * 2, "provider": ["openai"] * 2,
    ...                        "cost_usd": [1.0, 2.5], "computed_cost_usd": [1.0, 2.0],
    ...                        "cost_source": ["computed", "reported"]})
    >>> billed = pl.LazyFrame({"provider": ["openai"], "date": [dt.date(2026, 3, 1)], "cost_usd": [3.3]})
    >>> reconcile(events, billed).select("billed_usd", "computed_usd", "gap_usd", "event_gap_usd").row(0)
    (3.3, 3.0, 0.2999999999999998, 0.5)
"""

from __future__ import annotations

import polars as pl

from ingest import schema as s

COLUMNS = ("provider", "date", "billed_usd", "computed_usd", "gap_usd", "gap_pct", "event_reported_usd",
           "event_computed_usd", "event_gap_usd", "unpriced_events")


def reconcile(events: pl.LazyFrame, billed: pl.LazyFrame) -> pl.DataFrame:
    """One row per provider and day that has events or a billed cost, largest gap first."""
    brought = pl.col(s.COST_SOURCE) == "reported"
    ours = events.group_by(s.PROVIDER, pl.col(s.TS).dt.date().alias(s.DATE)).agg(
        pl.col(s.COMPUTED_COST).sum().alias("computed_usd"),
        pl.col(s.COST).filter(brought).sum().alias("event_reported_usd"),
        pl.col(s.COMPUTED_COST).filter(brought).sum().alias("event_computed_usd"),
        (pl.col(s.COST_SOURCE) == "unpriced").sum().cast(pl.Int64).alias("unpriced_events"))
    theirs = billed.group_by(s.PROVIDER, s.DATE).agg(pl.col(s.COST).sum().alias("billed_usd"))
    both = ours.join(theirs, on=[s.PROVIDER, s.DATE], how="full", coalesce=True).with_columns(
        pl.col("computed_usd", "event_reported_usd", "event_computed_usd").fill_null(0.0),
        pl.col("unpriced_events").fill_null(0))
    return both.with_columns(
        (pl.col("billed_usd") - pl.col("computed_usd")).alias("gap_usd"),
        (pl.col("event_reported_usd") - pl.col("event_computed_usd")).alias("event_gap_usd"),
    ).with_columns(
        (pl.col("gap_usd") / pl.col("billed_usd")).alias("gap_pct"),
    ).select(COLUMNS).collect().sort(
        pl.max_horizontal(pl.col("gap_usd").abs().fill_null(0), pl.col("event_gap_usd").abs()), s.PROVIDER, s.DATE,
        descending=[True, False, False])
