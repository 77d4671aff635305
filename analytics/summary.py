"""Headline figures: totals, and the models no price covers."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import polars as pl

from ingest import schema as s


@dataclass(frozen=True)
class Totals:
    events: int
    cost_usd: float
    unpriced_events: int
    first: str | None
    last: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def totals(events: pl.LazyFrame) -> Totals:
    """Event count, total cost, unpriced events and the time span."""
    row = events.select(
        pl.len().alias("events"),
        pl.col(s.COST).sum().alias("cost_usd"),
        (pl.col(s.COST_SOURCE) == "unpriced").sum().alias("unpriced"),
        pl.col(s.TS).min().alias("first"),
        pl.col(s.TS).max().alias("last"),
    ).collect().row(0, named=True)
    return Totals(row["events"], row["cost_usd"] or 0.0, row["unpriced"] or 0,
                  row["first"].isoformat() if row["first"] else None,
                  row["last"].isoformat() if row["last"] else None)


def unpriced_models(events: pl.LazyFrame) -> pl.DataFrame:
    """Provider/model pairs with unpriced events, most events first (what `reprice` would fix)."""
    return events.filter(pl.col(s.COST_SOURCE) == "unpriced").group_by(s.PROVIDER, s.MODEL, s.SERVICE).agg(
        pl.len().alias("events"),
        pl.col(s.TS).min().alias("first_seen"),
        pl.col(s.TS).max().alias("last_seen"),
    ).collect().sort(["events", s.PROVIDER, s.MODEL], descending=[True, False, False])
