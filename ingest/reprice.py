"""Reprice the lake with the current price book (after an override, or when a price arrives).

Reported costs stay; computed costs, cost_source and price_version are recomputed. Only
partitions where something changed are rewritten (with the same crash safety as compaction).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ingest import schema as s
from ingest.lake import Lake
from ingest.pricing import PriceBook


@dataclass(frozen=True)
class RepriceReport:
    changes: pl.DataFrame  # provider, model, events, newly_priced, cost_before, cost_after
    partitions: int

    def to_dict(self) -> dict:
        return {"partitions": self.partitions, "changes": self.changes.to_dicts()}


def reprice(lake: Lake, book: PriceBook | None = None) -> RepriceReport:
    """Recompute costs everywhere; returns what changed per provider and model."""
    book = book or PriceBook.load(lake.overrides_path)
    changes: list[pl.DataFrame] = []

    def transform(events: pl.DataFrame) -> pl.DataFrame | None:
        reported = events.with_columns(
            pl.when(pl.col(s.COST_SOURCE) == "reported").then(pl.col(s.COST)).alias(s.COST))
        after = book.price(reported)
        changed = ~(after[s.COMPUTED_COST].eq_missing(events[s.COMPUTED_COST])
                    & after[s.PRICE_VERSION].eq_missing(events[s.PRICE_VERSION])
                    & after[s.COST_SOURCE].eq_missing(events[s.COST_SOURCE]))
        if not changed.any():
            return None
        diff = pl.DataFrame({
            s.PROVIDER: events[s.PROVIDER], s.MODEL: events[s.MODEL],
            "was_unpriced": events[s.COST_SOURCE] == "unpriced", "is_priced": after[s.COST_SOURCE] != "unpriced",
            "before": events[s.COST], "after": after[s.COST],
        }).filter(changed)
        changes.append(diff)
        return after

    result = lake.rewrite_all(None, transform)
    if changes:
        summary = pl.concat(changes).group_by(s.PROVIDER, s.MODEL).agg(
            pl.len().alias("events"),
            (pl.col("was_unpriced") & pl.col("is_priced")).sum().alias("newly_priced"),
            pl.col("before").sum().alias("cost_before"),
            pl.col("after").sum().alias("cost_after"),
        ).sort(s.PROVIDER, s.MODEL)
    else:
        summary = pl.DataFrame(schema={s.PROVIDER: pl.String, s.MODEL: pl.String, "events": pl.UInt32,
                                       "newly_priced": pl.UInt32, "cost_before": pl.Float64,
                                       "cost_after": pl.Float64})
    return RepriceReport(summary, result.partitions)
