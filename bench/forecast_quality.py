"""How far the forecasts and budget alerts can be trusted, against known truth: prints Markdown tables.

    python bench/forecast_quality.py [--seeds 5] [--alert-seeds 2] [--workers 2]

Each lake is 181 days (2026-01-01 … 06-30) of daily spend of about $100 in one of these shapes:

- flat: noise with a coefficient of variation of 20 %
- growth: 1 % a day
- weekly: weekends at 30 % of weekdays
- level ×2: spend doubles from day 100 (10 April)
- spikes: lognormal spikes (×e^N(1, 0.5)) on 10 % of days
- new project: a second project of $80/day from 15 May
- decline (ours): a project winding down from $150 to $50 a day
- zero days (ours): flat, with 5 % of days at $0 (outages, holidays)

**Forecasts** are made on the 5th, 10th, 15th and 20th of April, May and June (12 per seed), the
day's spend counted as spent, and compared with the month's true total: MAPE of the expected
total against the run-rate (spent ÷ days × days in month) and the last 30 days' mean
(spent + mean × days left) in the same run; how often the 80 % and 95 % bands hold the true total;
and the day a budget of 80 % of the true total runs out (the expected day within ±2 days of the
true day, and how often the budget was crossed after the forecast with no day given at all,
neither the expected day nor the earliest, at the 80 % band's upper edge). Beside the bands, an
oracle's: a forecaster that knows how each shape's spend is made and every day before the forecast,
but not a level shift or a new project still to come (4,000 draws of the rest of the month), so
its coverage and exhaustion days are the best any forecast can do on the same days.

**Every day** of the same three months (of `--alert-seeds` seeds: 6 months with the default)
is forecast as `spendlake budgets status` does, with budgets at 10 % below, 10 % above and 25 %
above the month's true total, and alerts fired as `analytics.alerts.budget_alerts` fires them:
a `forecast_exceeded` is false in a month whose true total stays under the limit, missed in one
that passes it without the alert coming before the limit is reached. The month-end figure's
day-to-day change not explained by the day's spend (the change minus the day's surprise: spend
against what the previous day's forecast expected for it) is shown as a share of the true total,
with the number of times the chosen model changed in a month.

**Anomalies**: lakes of three projects on two models each (180 days, about $50 a day per project
and model, flat with a 10 % noise or weekly with weekends at 30 %), with 20 spikes (a project's day
×3, all of it on one model), 5 outage days (a project at $0) and a project that starts on day 150
put in. Recall and precision of the spikes and outages `analytics.anomalies` finds by project, whether
the driver it names is the model the spike was put on (by project) and the project (by model),
and how many anomalies the new project raised in its first 19 days (one is right). The clean
lakes, without anything put in, must raise none.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.alerts import budget_alerts  # noqa: E402
from analytics.anomalies import anomalies  # noqa: E402
from analytics.budgets import Budget, status  # noqa: E402
from analytics.forecast import forecast  # noqa: E402
from ingest import schema as s  # noqa: E402

START, DAYS = dt.date(2026, 1, 1), 181
MONTHS = (dt.date(2026, 4, 1), dt.date(2026, 5, 1), dt.date(2026, 6, 1))
ORIGIN_DAYS = (5, 10, 15, 20)
HEADROOMS = (-0.10, 0.10, 0.25)
SHAPES = ("flat", "growth", "weekly", "level ×2", "spikes", "new project", "decline", "zero days")


NEW_PROJECT_DAY = (dt.date(2026, 5, 15) - START).days
LEVEL_DAY = 99


def draw(shape: str, t: np.ndarray, rng: np.random.Generator, regime: np.ndarray | None = None,
         size: tuple[int, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Daily spend of the main project and of a new one on days `t` (0 = START), `size` draws of each;
    `regime`: the day whose level shift and new project hold (default: each day its own; an oracle
    that knows only the days before a forecast passes the last of them)."""
    size = size or t.shape
    regime = t if regime is None else regime
    weekend = np.array([(START + dt.timedelta(days=int(i))).weekday() >= 5 for i in t])
    noise = 1 + 0.1 * rng.standard_normal(size)
    extra = np.zeros(size)
    if shape == "flat":
        cost = 100 * (1 + 0.2 * rng.standard_normal(size))
    elif shape == "growth":
        cost = 100 * 1.01 ** (t - 120) * noise
    elif shape == "weekly":
        cost = np.where(weekend, 30.0, 100.0) * noise
    elif shape == "level ×2":
        cost = np.where(regime >= LEVEL_DAY, 140.0, 70.0) * noise
    elif shape == "spikes":
        cost = 100 * noise * np.where(rng.random(size) < 0.1, np.exp(rng.normal(1, 0.5, size)), 1.0)
    elif shape == "new project":
        cost = 100 * noise
        extra = np.where(regime >= NEW_PROJECT_DAY, 80 * (1 + 0.1 * rng.standard_normal(size)), 0.0)
    elif shape == "decline":
        cost = (150 - 100 * t / (DAYS - 1)) * noise
    elif shape == "zero days":
        cost = 100 * (1 + 0.2 * rng.standard_normal(size)) * (rng.random(size) >= 0.05)
    else:
        raise ValueError(shape)
    return np.clip(cost, 0, None), extra


def spend(shape: str, seed: int) -> pl.DataFrame:
    """Daily spend per project: date, project, cost_usd."""
    t = np.arange(DAYS)
    cost, extra = draw(shape, t, np.random.default_rng([seed, SHAPES.index(shape)]))
    days = [START + dt.timedelta(days=int(i)) for i in t]
    frames = [pl.DataFrame({s.DATE: days, s.PROJECT: "main", s.COST: cost})]
    if shape == "new project":
        frames.append(pl.DataFrame({s.DATE: days, s.PROJECT: "new", s.COST: extra}).filter(pl.col(s.COST) > 0))
    return pl.concat(frames)


def oracle(shape: str, seed: int, today: dt.date, last: dt.date, spent: float, budget: float) -> dict:
    """What a forecaster that knows how the spend is made and every day before today (not the level
    shift or the new project yet to come) would say: the month total's 80 % and 95 % bands, and the
    day its expected spend reaches the budget. The floor of coverage and exhaustion on the same days."""
    known = (today - START).days - 1
    t = np.arange(known + 2, (last - START).days + 1)
    cost, extra = draw(shape, t, np.random.default_rng([seed, 999, known]), regime=np.full(t.shape, known),
                       size=(4000, len(t)))
    totals = spent + (cost + extra).sum(axis=1)
    path = spent + np.cumsum((cost + extra).mean(axis=0))
    over = np.nonzero(path >= budget)[0]
    return {**dict(zip(("low80", "high80", "low95", "high95"), np.quantile(totals, (0.1, 0.9, 0.025, 0.975)))),
            "exhaustion": today + dt.timedelta(days=int(over[0]) + 1) if over.size else None}


def as_events(daily: pl.DataFrame, through: dt.date) -> pl.LazyFrame:
    """The spend through `through` as one event per project and day (at noon UTC)."""
    return daily.filter(pl.col(s.DATE) <= through).lazy().select(
        (pl.col(s.DATE).cast(pl.Datetime("us", "UTC")) + pl.duration(hours=12)).alias(s.TS), s.PROJECT, s.COST)


def month_end(first: dt.date) -> dt.date:
    return (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def origins_task(shape: str, seed: int) -> list[dict]:
    """One row per forecast origin."""
    daily = spend(shape, seed)
    per_day = daily.group_by(s.DATE).agg(pl.col(s.COST).sum()).sort(s.DATE)
    cost = dict(per_day.iter_rows())
    rows = []
    for first in MONTHS:
        last = month_end(first)
        month = [cost[first + dt.timedelta(days=i)] for i in range((last - first).days + 1)]
        truth = sum(month)
        budget = 0.8 * truth
        crossed = next(first + dt.timedelta(days=i) for i, c in enumerate(np.cumsum(month)) if c >= budget)
        for day in ORIGIN_DAYS:
            today = first.replace(day=day)
            f = forecast(as_events(daily, today), today=today, budget_usd=budget)
            o = oracle(shape, seed, today, last, f.spent_usd, budget)
            elapsed, left = day, len(month) - day
            last30 = [cost[today - dt.timedelta(days=i)] for i in range(30)]
            rows.append({
                "shape": shape, "seed": seed, "month": first, "day": day, "truth": truth, "model": f.model,
                "expected": f.expected_total_usd, "run_rate": f.spent_usd / elapsed * len(month),
                "last30": f.spent_usd + statistics.fmean(last30) * left,
                "in80": f.total_low80_usd <= truth <= f.total_high80_usd,
                "in95": f.total_low95_usd <= truth <= f.total_high95_usd,
                **{f"oracle{p}": o[f"low{p}"] <= truth <= o[f"high{p}"] for p in (80, 95)},
                "exhaustion_due": crossed > today, "exhaustion": f.exhaustion_date, "crossed": crossed,
                "earliest": f.exhaustion_earliest, "oracle_exhaustion": o["exhaustion"]})
    return rows


def daily_task(shape: str, seed: int) -> list[dict]:
    """One row per month: alerts per headroom and the month-end figure's moves."""
    daily = spend(shape, seed)
    cost = dict(daily.group_by(s.DATE).agg(pl.col(s.COST).sum()).iter_rows())
    rows = []
    for first in MONTHS:
        last = month_end(first)
        truth = sum(cost[first + dt.timedelta(days=i)] for i in range((last - first).days + 1))
        budgets = [Budget(f"h{h:+.0%}", limit_usd=truth * (1 + h), thresholds=(1.0,)) for h in HEADROOMS]
        seen: set[tuple] = set()
        alerted: dict[str, dt.date] = {}
        previous, moves, models = None, [], []
        for day in range(1, last.day):
            today = first.replace(day=day)
            events = as_events(daily, today)
            table = status(events, budgets, today=today)
            for alert in budget_alerts(table, now=dt.datetime.combine(today, dt.time(23), dt.UTC), seen=seen):
                seen.add(alert.key)
                if alert.kind == "forecast_exceeded":
                    alerted.setdefault(alert.subject, today)
            f = forecast(events, today=today)
            models.append(f.model)
            if previous is not None:
                surprise = cost[today] - previous.daily.filter(pl.col(s.DATE) == today)["expected"].item()
                moves.append(abs(f.expected_total_usd - previous.expected_total_usd - surprise) / truth)
            previous = f
        spent_by = {b.name: next((first + dt.timedelta(days=i) for i in range(last.day)
                                  if sum(cost[first + dt.timedelta(days=k)] for k in range(i + 1)) > b.limit_usd), None)
                    for b in budgets}
        for h, b in zip(HEADROOMS, budgets):
            reached = spent_by[b.name]
            fired = alerted.get(b.name)
            rows.append({"shape": shape, "seed": seed, "month": first, "headroom": h,
                         "false": truth <= b.limit_usd and fired is not None,
                         "missed": truth > b.limit_usd and (fired is None or (reached is not None and fired >= reached)),
                         "move": statistics.fmean(moves), "switches": sum(a != b for a, b in zip(models, models[1:]))})
    return rows


ANOMALY_SHAPES = ("flat", "weekly")
PROJECTS, MODELS = ("shop", "search", "support"), {"gpt-4o": "openai", "claude-sonnet-4-5": "anthropic"}


def anomaly_task(shape: str, seed: int) -> dict:
    """One lake with spikes, outages and a new project put in, and one clean: what was found."""
    rng = np.random.default_rng([seed, 100 + ANOMALY_SHAPES.index(shape)])
    days = [START + dt.timedelta(days=i) for i in range(180)]
    picked = rng.choice(np.arange(40, 150), size=25, replace=False)
    spikes = {(str(rng.choice(PROJECTS)), days[i]): str(rng.choice(list(MODELS))) for i in picked[:20]}
    factor = {k: 3 if n < 10 else 6 for n, k in enumerate(spikes)}  # half ×3, half ×6 (seen by model too)
    outages = {(str(rng.choice(PROJECTS)), days[i]) for i in picked[20:]}
    new_day = days[150]
    rows, clean = [], []
    for day in days:
        for project in (*PROJECTS, "new"):
            for model, provider in MODELS.items():
                base = 50 * (0.3 if shape == "weekly" and day.weekday() >= 5 else 1.0)
                cost = base * (1 + 0.1 * rng.standard_normal())
                ts = dt.datetime.combine(day, dt.time(12), dt.UTC)
                if project != "new":
                    clean.append((ts, project, model, provider, cost))
                if project == "new" and day < new_day or (project, day) in outages:
                    continue
                if spikes.get((project, day)) == model:
                    cost += (factor[project, day] - 1) * 2 * base  # the project's day (two models) ×3 or ×6, on this model
                rows.append((ts, project, model, provider, cost))
    schema = {s.TS: pl.Datetime("us", "UTC"), s.PROJECT: pl.String, s.MODEL: pl.String, s.PROVIDER: pl.String,
              s.COST: pl.Float64}
    events = pl.LazyFrame(rows, schema=schema, orient="row")
    by_project, by_model = anomalies(events, by=s.PROJECT), anomalies(events, by=s.MODEL)
    found = {(p, d): (kind, driver) for p, d, kind, driver in
             by_project.select(s.PROJECT, s.DATE, "direction", "driver").iter_rows()}
    put = {**{k: "spike" for k in spikes}, **{k: "drop" for k in outages}, ("new", new_day): "new"}
    model_drivers = {d: driver for m, d, kind, driver in by_model.select(s.MODEL, s.DATE, "direction", "driver").iter_rows()
                     if kind == "spike"}
    spiked_models = {(d, m): p for (p, d), m in spikes.items()}
    return {
        "shape": shape, "seed": seed,
        "spikes": len(spikes), "spikes_found": sum(found.get(k, ("",))[0] == "spike" for k in spikes),
        "spikes3": sum(factor[k] == 3 for k in spikes),
        "spikes3_found": sum(found.get(k, ("",))[0] == "spike" for k in spikes if factor[k] == 3),
        "outages": len(outages), "outages_found": sum(found.get(k, ("",))[0] == "drop" for k in outages),
        "flags": len(found), "true_flags": sum(put.get(k) == v[0] for k, v in found.items()),
        "drivers_right": sum(found[k][1] == f"model={spikes[k]}" for k in spikes if found.get(k, ("",))[0] == "spike"),
        "model_drivers": sum(1 for (d, m) in spiked_models if d in model_drivers),
        "model_drivers_right": sum(model_drivers.get(d) == f"project={p}" for (d, m), p in spiked_models.items()),
        "model_driver_parent": sum(str(model_drivers.get(d, "")).startswith("provider=") for (d, m) in spiked_models),
        "new_flags": sum(1 for (p, d) in found if p == "new" and d < new_day + dt.timedelta(days=19)),
        "clean_flags": anomalies(pl.LazyFrame(clean, schema=schema, orient="row"), by=s.PROJECT).height,
    }


def anomaly_table(rows: pl.DataFrame) -> str:
    lines = ["| spend | ×3 spikes found | all spikes found | precision | driver by project right | driver by model right; "
             "a provider named | outage days found | anomalies of a new project in 19 days | flags on the clean lake |",
             "|---|---|---|---|---|---|---|---|---|"]
    for shape in ANOMALY_SHAPES:
        r = rows.filter(pl.col("shape") == shape).sum()
        lines.append(
            f"| {shape} | {r['spikes3_found'][0]} of {r['spikes3'][0]} | "
            f"{r['spikes_found'][0]} of {r['spikes'][0]} ({r['spikes_found'][0] / r['spikes'][0]:.0%}) | "
            f"{r['true_flags'][0] / max(r['flags'][0], 1):.0%} | {r['drivers_right'][0]} of {r['spikes_found'][0]} | "
            f"{r['model_drivers_right'][0]} of {r['model_drivers'][0]}; {r['model_driver_parent'][0]} | "
            f"{r['outages_found'][0]} of {r['outages'][0]} | {r['new_flags'][0]} in {rows.filter(pl.col('shape') == shape).height} lakes | "
            f"{r['clean_flags'][0]} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--alert-seeds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=SHAPES)
    args = parser.parse_args()
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        forecasts = [pool.submit(origins_task, shape, seed) for shape in args.shapes for seed in range(args.seeds)]
        months = [pool.submit(daily_task, shape, seed) for shape in args.shapes for seed in range(args.alert_seeds)]
        found = [pool.submit(anomaly_task, shape, seed) for shape in ANOMALY_SHAPES for seed in range(args.seeds)]
        origins = pl.DataFrame([row for f in forecasts for row in f.result()])
        monthly = pl.DataFrame([row for f in months for row in f.result()])
        anomaly_rows = pl.DataFrame([f.result() for f in found])
    print(f"{origins.height} forecasts ({args.seeds} seeds × {len(MONTHS)} months × {len(ORIGIN_DAYS)} origins a "
          f"shape), {monthly.height // len(HEADROOMS)} months forecast daily; "
          f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {time.perf_counter() - started:.0f} s\n")
    print(forecast_table(origins, monthly, args.shapes))
    if not monthly.is_empty():
        print()
        print(alert_table(monthly, args.shapes))
    print()
    print(anomaly_table(anomaly_rows))


def _pct(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}"


def forecast_table(origins: pl.DataFrame, monthly: pl.DataFrame, shapes: list[str]) -> str:
    err = lambda c: ((pl.col(c) - pl.col("truth")).abs() / pl.col("truth")).mean() * 100  # noqa: E731
    due = pl.col("exhaustion_due")
    near = (pl.col("exhaustion") - pl.col("crossed")).dt.total_days().abs() <= 2
    oracle_near = (pl.col("oracle_exhaustion") - pl.col("crossed")).dt.total_days().abs() <= 2
    summary = origins.group_by("shape").agg(
        err("expected").alias("mape"), err("run_rate").alias("mape_rr"), err("last30").alias("mape_30"),
        ((pl.col("expected") - pl.col("truth")) / pl.col("truth")).mean().alias("bias"),
        pl.col("in80").mean(), pl.col("in95").mean(), pl.col("oracle80").mean(), pl.col("oracle95").mean(),
        (near.filter(due & pl.col("exhaustion").is_not_null())).mean().alias("near"),
        (oracle_near.filter(due & pl.col("oracle_exhaustion").is_not_null())).mean().alias("oracle_near"),
        (pl.col("exhaustion").is_null() & pl.col("earliest").is_null()).filter(due).mean().alias("no_date"))
    everything = summary if monthly.is_empty() else summary.join(
        monthly.group_by("shape").agg(pl.col("move").mean(), pl.col("switches").mean()), on="shape", how="left")
    lines = ["| shape | MAPE Spendlake | MAPE run-rate | MAPE last 30 days | bias % | 80 % band covers | "
             "95 % band covers | an oracle's 80 / 95 % bands cover | exhaustion ±2 days % (an oracle's) | no date though crossed % | unexplained move % | "
             "model changes a month |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = {r["shape"]: r for r in everything.iter_rows(named=True)}
    for shape in shapes:
        lines.append(_row(shape, rows[shape]))
    whole = origins.select(
        err("expected").alias("mape"), err("run_rate").alias("mape_rr"), err("last30").alias("mape_30"),
        ((pl.col("expected") - pl.col("truth")) / pl.col("truth")).mean().alias("bias"),
        pl.col("in80").mean(), pl.col("in95").mean(), pl.col("oracle80").mean(), pl.col("oracle95").mean(),
        (near.filter(due & pl.col("exhaustion").is_not_null())).mean().alias("near"),
        (oracle_near.filter(due & pl.col("oracle_exhaustion").is_not_null())).mean().alias("oracle_near"),
        (pl.col("exhaustion").is_null() & pl.col("earliest").is_null()).filter(due).mean().alias("no_date")
    ).row(0, named=True)
    if not monthly.is_empty():
        whole |= monthly.select(pl.col("move").mean(), pl.col("switches").mean()).row(0, named=True)
    lines.append(_row("all", whole))
    return "\n".join(lines)


def _row(shape: str, r: dict) -> str:
    return (f"| {shape} | {r['mape']:.1f} | {r['mape_rr']:.1f} | {r['mape_30']:.1f} | {100 * r['bias']:+.1f} | "
            f"{_pct(r['in80'])} | {_pct(r['in95'])} | {_pct(r['oracle80'])} / {_pct(r['oracle95'])} | {_pct(r['near'])} ({_pct(r['oracle_near'])}) | {_pct(r['no_date'])} | "
            f"{_num(r.get('move'), 100, '.2f')} | {_num(r.get('switches'), 1, '.1f')} |")


def _num(x: float | None, scale: float, spec: str) -> str:
    return "–" if x is None else format(scale * x, spec)


def alert_table(monthly: pl.DataFrame, shapes: list[str]) -> str:
    lines = ["| shape | " + " | ".join(f"budget {h:+.0%}: {'missed' if h < 0 else 'false'} forecast_exceeded"
                                        for h in HEADROOMS) + " |", "|---|" + "---|" * len(HEADROOMS)]
    for shape in shapes:
        cells = []
        for h in HEADROOMS:
            part = monthly.filter((pl.col("shape") == shape) & (pl.col("headroom") == h))
            bad = part["missed" if h < 0 else "false"].sum()
            cells.append(f"{bad} of {part.height} months")
        lines.append(f"| {shape} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
