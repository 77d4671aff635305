"""Anomalies: days (or hours) whose cost departs from a robust baseline, per project or model,
with the dimension that drove the departure named.

The baseline of a day is the median of the same kind of day (weekday or weekend; for hours,
the same hour of the same kind of day) over the previous `window` such days, and the spread
is their median absolute deviation (×1.4826, floored at 25 % of the baseline or of the scope's
mean spend on that kind of day (or hour), so a flat or lumpy series does not flag pennies). A
day is a spike when its robust z-score passes `threshold`; a drop when it passes
`-drop_threshold` (spend cannot fall below $0, so a drop's z is bounded: a $0 day of steady
spend scores -4). Comparing weekends with weekends is what keeps ordinary weekends quiet.

A scope that starts spending is one anomaly, "new", on its first day, not a spike every day
until it has a baseline: its days are scored once `window` days of its own kind follow its start.
The driver named is the most specific dimension that explains most of the departure, never a
parent of the scope (a model's provider says nothing a model does not).

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
DRIVERS = (s.MODEL, s.USER, s.STAGE, s.PROJECT, s.AGENT, s.OPERATION, s.PROVIDER)  # the first that explains is named
PARENTS = {s.MODEL: (s.PROVIDER,), s.OPERATION: (s.PROJECT,), s.STAGE: (s.PROJECT,)}  # what holds a scope's members
EXPLAINS = 0.8  # a driver explains a departure when its own change is at least this share of the largest
MAD_SCALE = 1.4826
WEEKEND = (pl.col(s.DATE).dt.weekday() >= 6).alias("_weekend")  # the kind of day a baseline compares with
SCALE_FLOOR = 0.25  # the spread is at least 25 % of the baseline (or of the scope's usual spend): lumpy series stay quiet


def anomalies(events: pl.LazyFrame, *, by: str = s.PROJECT, grain: Grain = "day", window: int = 12,
              threshold: float = 6.0, drop_threshold: float = 3.0, min_usd: float = 1.0) -> pl.DataFrame:
    """Anomalous days (or hours) per value of `by`, most departing first (new scopes after them).

    Columns: by, date (and hour), cost_usd, baseline_usd, excess_usd, z, direction (spike, drop
    or new), driver (e.g. "model=claude-opus-4-5") and driver_excess_usd. `min_usd` ignores
    departures smaller than that many dollars. Hours need raw events (the rollup is daily).
    """
    frame = measures(events)
    drivers = [d for d in DRIVERS if d != by and d not in PARENTS.get(by, ()) and d in frame.collect_schema()]
    slot_keys = _slot(frame, grain)
    per = frame.group_by([dimension(by), *slot_keys]).agg(pl.col(s.COST).sum()).collect()
    if per.height == 0:
        return pl.DataFrame(schema=_schema(by, grain))
    full = _complete(per, by, grain)
    scored = _score(full, by, grain, window)
    direction = (pl.when(pl.col("z") > threshold).then(pl.lit("spike"))
                 .when(pl.col("_z_drop") < -drop_threshold).then(pl.lit("drop")))
    flagged = scored.with_columns(direction.alias("direction")).filter(
        pl.col("direction").is_not_null() & (pl.col("excess_usd").abs() >= min_usd)).with_columns(
        pl.when(pl.col("direction") == "drop").then(pl.col("_z_drop")).otherwise(pl.col("z")).alias("z"))
    flagged = pl.concat([flagged, _new(full, by, grain, min_usd)], how="diagonal_relaxed")
    if flagged.height == 0:
        return pl.DataFrame(schema=_schema(by, grain))
    return _drivers(frame, flagged, by, grain, drivers, window).sort(  # (ties by day and name: the same order every run)
        [pl.col("z").abs(), s.DATE, *_hour(grain), by], descending=[True, False, *[False] * len(_hour(grain)), False],
        nulls_last=True).select(list(_schema(by, grain)))


def _new(full: pl.DataFrame, by: str, grain: Grain, min_usd: float) -> pl.DataFrame:
    """Each scope's first day (or hour) of spend, when the data hold days before it: one "new" row."""
    first_day = full[s.DATE].min()
    spending = full.filter(pl.col(s.COST) > 0).sort([s.DATE] + _hour(grain))
    first = spending.group_by(by, maintain_order=True).first()
    return first.filter((pl.col(s.DATE) > first_day) & (pl.col(s.COST) >= min_usd)).with_columns(
        pl.lit(0.0).alias("baseline_usd"), pl.col(s.COST).alias("excess_usd"), pl.lit(None, pl.Float64).alias("z"),
        pl.lit("new").alias("direction"))


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
        start = int(np.argmax(cost > 0)) if (cost > 0).any() else cost.size  # the scope's first spend of this kind
        if cost.size - start > window:  # a baseline of `window` points, all after the scope started
            history = sliding_window_view(cost[start:-1], window)  # row i: the `window` points before point start + i + window
            median = np.median(history, axis=1)
            baseline[start + window:] = median
            spread[start + window:] = np.median(np.abs(history - median[:, None]), axis=1) * MAD_SCALE
        parts.append(part.with_columns(pl.Series("baseline_usd", baseline), pl.Series("_spread", spread)))
    # the scope's usual spend on this kind of slot, idle slots included (weekends' own, not the week's),
    # taken before the slots without a baseline are dropped
    scored = pl.concat(parts).with_columns(pl.col(s.COST).mean().over(group).alias("_typical")).filter(
        pl.col("baseline_usd").is_not_nan())
    scale = pl.max_horizontal(pl.col("_spread"), pl.max_horizontal("baseline_usd", "_typical") * SCALE_FLOOR,
                              pl.lit(0.01))
    # a drop is judged against the recent days alone: spikes of the past raise the scope's mean
    # spend, and with it the floor, until an outage on a day of small spend could not score
    steady = pl.max_horizontal(pl.col("_spread"), pl.col("baseline_usd") * SCALE_FLOOR, pl.lit(0.01))
    return scored.with_columns(
        (pl.col(s.COST) - pl.col("baseline_usd")).alias("excess_usd"),
        ((pl.col(s.COST) - pl.col("baseline_usd")) / scale).alias("z"),
        ((pl.col(s.COST) - pl.col("baseline_usd")) / steady).alias("_z_drop"),
    )


def _drivers(frame: pl.LazyFrame, flagged: pl.DataFrame, by: str, grain: Grain, drivers: list[str],
             window: int) -> pl.DataFrame:
    """For each flagged point, the value of another dimension that explains the move: among those
    whose own cost moved at least `EXPLAINS` of the most any moved, the most specific."""
    keys = [by, s.DATE] + _hour(grain)
    days = flagged.select(by, s.DATE).unique()
    start = days[s.DATE].min()
    lookback = start - dt.timedelta(days=window * 7)  # enough same-kind days for each driver's typical cost
    scope = frame.filter(day_column(frame) >= lookback).filter(dimension(by).is_in(days[by].implode()))
    calendar = pl.DataFrame({s.DATE: pl.date_range(lookback, flagged[s.DATE].max(), eager=True)})
    same_kind = calendar.group_by(WEEKEND).agg(
        pl.len().cast(pl.Float64).alias("_days"))
    moved: dict[tuple, list[tuple[int, str, float]]] = {}  # per point: (specificity, driver, its excess)
    for rank, d in enumerate(drivers):
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
            moved.setdefault(tuple(row[k] for k in keys), []).append((rank, f"{d}={row[d]}", row["_excess"]))
    best = {}
    for key, candidates in moved.items():
        most = max(abs(e) for _, _, e in candidates)
        best[key] = min((c for c in candidates if abs(c[2]) >= EXPLAINS * most), key=lambda c: c[0])[1:]
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
