"""Anomalies: days (or hours) whose cost departs from a robust baseline, per project or model,
with the dimension that drove the departure named.

The baseline of a day is the median of the same kind of day (weekday or weekend; for hours,
the same hour of the same kind of day) over the previous `window` such days, and the spread
is their median absolute deviation (×1.4826, floored at 25 % of the baseline or of the scope's
mean spend per day (or hour), so a flat or lumpy series does not flag pennies). A day is anomalous when its robust z-score passes `threshold`.
Comparing weekends with weekends is what keeps ordinary weekends quiet.

Examples:
    >>> import datetime as dt, polars as pl
    >>> days = pl.date_range(dt.date(2026, 1, 5), dt.date(2026, 2, 13), eager=True)  # Mon 5 Jan … Fri 13 Feb
    >>> cost = [50.0 if d == dt.date(2026, 2, 12) else 5.0 if d.weekday() >= 5 else 10.0 + (d.day % 3) for d in days]
    >>> events = pl.LazyFrame({"ts": days.cast(pl.Datetime("us", "UTC")), "project": "p", "model": "m",
    ...                        "cost_usd": cost})
    >>> found = anomalies(events, by="project")
    >>> found.select("project", "date", "direction").rows()
    [('p', datetime.date(2026, 2, 12), 'spike')]
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import polars as pl

from analytics.measures import day_column, dimension, measures
from ingest import schema as s
from ingest.errors import OptionError

Grain = Literal["day", "hour"]
DRIVERS = (s.MODEL, s.PROJECT, s.OPERATION, s.AGENT, s.USER, s.PROVIDER, s.STAGE)
MAD_SCALE = 1.4826
WEEKEND = (pl.col(s.DATE).dt.weekday() >= 6).alias("_weekend")  # the kind of day a baseline compares with
SCALE_FLOOR = 0.25  # the spread is at least 25 % of the baseline (or of the scope's usual spend): lumpy series stay quiet


def anomalies(events: pl.LazyFrame, *, by: str = s.PROJECT, grain: Grain = "day", window: int = 12,
              threshold: float = 6.0, min_usd: float = 1.0) -> pl.DataFrame:
    """Anomalous days (or hours) per value of `by`, most departing first.

    Columns: by, date (and hour), cost_usd, baseline_usd, excess_usd, z, direction (spike or
    drop), driver (e.g. "model=claude-opus-4-5") and driver_excess_usd. `min_usd` ignores
    departures smaller than that many dollars. Hours need raw events (the rollup is daily).
    """
    frame = measures(events)
    drivers = [d for d in DRIVERS if d != by and d in frame.collect_schema()]
    slot_keys = _slot(frame, grain)
    per = frame.group_by([dimension(by), *slot_keys]).agg(pl.col(s.COST).sum()).collect()
    if per.height == 0:
        return pl.DataFrame(schema=_schema(by, grain))
    scored = _score(_complete(per, by, grain), by, grain, window)
    flagged = scored.filter((pl.col("z").abs() > threshold) & (pl.col("excess_usd").abs() >= min_usd))
    if flagged.height == 0:
        return pl.DataFrame(schema=_schema(by, grain))
    flagged = flagged.with_columns(pl.when(pl.col("excess_usd") > 0).then(pl.lit("spike")).otherwise(pl.lit("drop"))
                                   .alias("direction"))
    return _drivers(frame, flagged, by, grain, drivers, window).sort(
        pl.col("z").abs(), descending=True).select(list(_schema(by, grain)))


def _slot(frame: pl.LazyFrame, grain: Grain) -> list[pl.Expr]:
    day = day_column(frame).alias(s.DATE)
    if grain == "day":
        return [day]
    if grain == "hour":
        return [pl.col(s.TS).dt.date().alias(s.DATE), pl.col(s.TS).dt.hour().cast(pl.Int8).alias("hour")]
    raise OptionError(f"grain must be day or hour, not {grain!r}")


def _complete(per: pl.DataFrame, by: str, grain: Grain) -> pl.DataFrame:
    """Every scope on every day (and hour) of the range, zero where nothing was spent."""
    days = pl.DataFrame({s.DATE: pl.date_range(per[s.DATE].min(), per[s.DATE].max(), eager=True)})
    grid = per.select(by).unique().join(days, how="cross")
    keys = [by, s.DATE]
    if grain == "hour":
        grid = grid.join(pl.DataFrame({"hour": pl.int_range(0, 24, eager=True, dtype=pl.Int8)}), how="cross")
        keys.append("hour")
    return grid.join(per, on=keys, how="left", nulls_equal=True).with_columns(pl.col(s.COST).fill_null(0.0))


def _score(full: pl.DataFrame, by: str, grain: Grain, window: int) -> pl.DataFrame:
    """Baseline (median) and spread (MAD) of the previous `window` points of the same kind, and the z-score."""
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    order = [s.DATE] + _hour(grain)
    group = [by, "_weekend"] + _hour(grain)
    ordered = full.with_columns(WEEKEND).sort(order)
    parts = []
    for part in ordered.partition_by(group, maintain_order=True):
        cost = part[s.COST].to_numpy()
        baseline = np.full(cost.shape, np.nan)
        spread = np.full(cost.shape, np.nan)
        if cost.size > window:
            history = sliding_window_view(cost[:-1], window)  # row i: the `window` points before point i + window
            median = np.median(history, axis=1)
            baseline[window:] = median
            spread[window:] = np.median(np.abs(history - median[:, None]), axis=1) * MAD_SCALE
        parts.append(part.with_columns(pl.Series("baseline_usd", baseline), pl.Series("_spread", spread)))
    scored = pl.concat(parts).filter(pl.col("baseline_usd").is_not_nan())
    typical = pl.col(s.COST).mean().over(by)  # the scope's usual spend per slot, idle slots included
    scale = pl.max_horizontal(pl.col("_spread"), pl.max_horizontal(pl.col("baseline_usd"), typical) * SCALE_FLOOR,
                              pl.lit(0.01))
    return scored.with_columns(
        (pl.col(s.COST) - pl.col("baseline_usd")).alias("excess_usd"),
        ((pl.col(s.COST) - pl.col("baseline_usd")) / scale).alias("z"),
    )


def _drivers(frame: pl.LazyFrame, flagged: pl.DataFrame, by: str, grain: Grain, drivers: list[str],
             window: int) -> pl.DataFrame:
    """For each flagged point, the value of another dimension whose own cost moved the most."""
    keys = [by, s.DATE] + _hour(grain)
    days = flagged.select(by, s.DATE).unique()
    start = days[s.DATE].min()
    lookback = start - dt.timedelta(days=window * 7)  # enough same-kind days for each driver's typical cost
    scope = frame.filter(day_column(frame) >= lookback).filter(dimension(by).is_in(days[by].implode()))
    calendar = pl.DataFrame({s.DATE: pl.date_range(lookback, flagged[s.DATE].max(), eager=True)})
    same_kind = calendar.group_by(WEEKEND).agg(
        pl.len().cast(pl.Float64).alias("_days"))
    best: dict[tuple, tuple[str, float]] = {}
    for d in drivers:
        per = scope.group_by([dimension(by), *_slot(frame, grain), pl.col(d)]).agg(pl.col(s.COST).sum()).collect()
        if per.height == 0:
            continue
        per = per.with_columns(WEEKEND)
        group = [by, d, "_weekend"] + _hour(grain)
        totals = per.group_by(group).agg(pl.col(s.COST).sum().alias("_total"))
        point = flagged.select(keys).with_columns(WEEKEND).join(
            per, on=keys + ["_weekend"], how="left", nulls_equal=True)
        # typical: the value's mean over the other same-kind days of the look-back, zero days included
        point = point.join(totals, on=group, how="left", nulls_equal=True).join(
            same_kind, on="_weekend", how="left").with_columns(
            (pl.col(s.COST).fill_null(0) - (pl.col("_total") - pl.col(s.COST).fill_null(0)) / (pl.col("_days") - 1))
            .alias("_excess"))
        for row in point.filter(pl.col(d).is_not_null()).iter_rows(named=True):
            key = tuple(row[k] for k in keys)
            if key not in best or abs(row["_excess"]) > abs(best[key][1]):
                best[key] = (f"{d}={row[d]}", row["_excess"])
    named = pl.DataFrame([{**dict(zip(keys, k)), "driver": v[0], "driver_excess_usd": v[1]} for k, v in best.items()],
                         schema={**{k: flagged.schema[k] for k in keys}, "driver": pl.String,
                                 "driver_excess_usd": pl.Float64})
    return flagged.join(named, on=keys, how="left", nulls_equal=True)


def _hour(grain: Grain) -> list[str]:
    return ["hour"] if grain == "hour" else []


def _schema(by: str, grain: Grain) -> dict[str, pl.DataType]:
    """The result's columns, in order."""
    return {by: pl.String, s.DATE: pl.Date, **{h: pl.Int8 for h in _hour(grain)}, s.COST: pl.Float64,
            "baseline_usd": pl.Float64, "excess_usd": pl.Float64, "z": pl.Float64, "direction": pl.String,
            "driver": pl.String, "driver_excess_usd": pl.Float64}
