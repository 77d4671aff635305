"""Spend forecasts: daily spend to the end of the period with 80 % and 95 % intervals, the
end-of-period total, and the day a budget runs out.

Candidates are exponential-smoothing models from statsmodels (weekly seasonality, with and
without a damped trend) and the naive run-rate (spent ÷ days elapsed × days in period). A
rolling-origin backtest over the last weeks picks the one with the smallest error on
weekly totals and reports every candidate's error. With fewer than three weeks of history
the run-rate is used. The models learn from the last 26 weeks of complete days, and fits are
remembered by their history, so a forecast of a lake that only gained calls today costs
no new fit. statsmodels is imported only here, when a forecast runs.

Examples:
    >>> import datetime as dt, polars as pl
    >>> days = pl.date_range(dt.date(2026, 1, 1), dt.date(2026, 1, 10), eager=True)
    >>> events = pl.LazyFrame({"ts": days.cast(pl.Datetime("us", "UTC")), "cost_usd": [10.0] * 10})
    >>> f = forecast(events, today=dt.date(2026, 1, 10), budget_usd=250)
    >>> f.model, f.spent_usd, f.expected_total_usd, f.exhaustion_date
    ('run_rate', 100.0, 310.0, datetime.date(2026, 1, 25))
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import warnings
from dataclasses import dataclass, field

import polars as pl

from analytics.measures import Period, day_column, dimension, measures, period_bounds
from analytics.reports import _Report
from ingest import schema as s

MIN_HISTORY_DAYS = 21
FIT_DAYS = 182  # the models learn from the last 26 weeks: enough for a weekly season, and fits stay fast
BACKTEST_ORIGINS = 4
BACKTEST_HORIZON = 7
SIMULATIONS = 1000
Z80, Z95 = 1.2815515655446004, 1.959963984540054
MODELS = ("ets_trend_weekly", "ets_weekly", "run_rate")


@dataclass(frozen=True)
class Forecast(_Report):
    period_start: dt.date
    period_end: dt.date
    today: dt.date
    spent_usd: float                # in the period, through today
    expected_total_usd: float       # spent + expected spend of the remaining days
    total_low80_usd: float
    total_high80_usd: float
    total_low95_usd: float
    total_high95_usd: float
    run_rate_total_usd: float       # spent ÷ days elapsed × days in period
    model: str
    budget_usd: float | None
    exhaustion_date: dt.date | None  # first day the expected cumulative spend reaches the budget
    daily: pl.DataFrame = field(repr=False)     # date, actual, expected, low/high 80 and 95, cumulative
    backtest: pl.DataFrame = field(repr=False)  # model, origins, mape of weekly totals


def daily_series(events: pl.LazyFrame, *, end: dt.date) -> pl.DataFrame:
    """Cost per UTC day through `end`, days without spend as 0 (raw events or the rollup)."""
    frame = measures(events)
    day = day_column(frame)
    per_day = frame.filter(day <= end).group_by(day.alias(s.DATE)).agg(pl.col(s.COST).sum()).collect()
    if per_day.height == 0:
        return pl.DataFrame({s.DATE: [end], s.COST: [0.0]})
    days = pl.DataFrame({s.DATE: pl.date_range(per_day[s.DATE].min(), end, eager=True)})
    return days.join(per_day, on=s.DATE, how="left").with_columns(pl.col(s.COST).fill_null(0.0)).sort(s.DATE)


def forecast(events: pl.LazyFrame, *, today: dt.date | None = None, period: Period = "month",
             budget_usd: float | None = None) -> Forecast:
    """Forecast the period holding `today` (default: today, UTC); today counts as spent, the days after it are forecast."""
    today = today or dt.datetime.now(dt.UTC).date()
    start, end = period_bounds(today, period)
    series = daily_series(events, end=today)
    # complete days only, to a billionth of a dollar: sums taken in another order differ in their last
    # bits, which moved a fit by a cent and missed the remembered one
    history = tuple(round(v, 9) for v in series.filter(pl.col(s.DATE) < today)[s.COST].to_list()[-FIT_DAYS:])
    spent = series.filter(pl.col(s.DATE) >= start)[s.COST].sum()
    elapsed = (today - start).days + 1
    horizon = (end - today).days
    run_rate_total = spent / elapsed * ((end - start).days + 1)

    backtest = _backtest(history)
    model = "run_rate"
    if len(history) >= MIN_HISTORY_DAYS and backtest.height:
        model = backtest.sort("mape", "model")["model"][0]
    mean, bands, totals = _predict(model, history, horizon, spent, elapsed)

    future = [today + dt.timedelta(days=i + 1) for i in range(horizon)]
    observed = series.filter(pl.col(s.DATE).is_between(start, today))
    daily = pl.concat([
        observed.select(pl.col(s.DATE), pl.col(s.COST).alias("actual")),
        pl.DataFrame({s.DATE: future, "expected": mean, **bands},
                     schema={s.DATE: pl.Date, "expected": pl.Float64, **{k: pl.Float64 for k in bands}}),
    ], how="diagonal").with_columns(pl.coalesce("actual", "expected").cum_sum().alias("cumulative"))
    expected_total = spent + sum(mean)
    exhaustion = None
    if budget_usd is not None:  # the first day the spend so far plus the expected spend reaches the budget
        over = daily.filter(pl.col("cumulative") >= budget_usd)
        exhaustion = over[s.DATE][0] if over.height else None
    return Forecast(
        period_start=start, period_end=end, today=today, spent_usd=spent, expected_total_usd=expected_total,
        total_low80_usd=totals[0], total_high80_usd=totals[1], total_low95_usd=totals[2], total_high95_usd=totals[3],
        run_rate_total_usd=run_rate_total, model=model, budget_usd=budget_usd, exhaustion_date=exhaustion,
        daily=daily, backtest=backtest)


def forecast_by(events: pl.LazyFrame, by: str, *, today: dt.date | None = None, period: Period = "month",
                top: int = 10) -> pl.DataFrame:
    """One forecast per value of `by` (e.g. project, provider) for the `top` largest spenders."""
    today = today or dt.datetime.now(dt.UTC).date()
    start, _ = period_bounds(today, period)
    frame = measures(events)
    leaders = frame.filter(day_column(frame).is_between(start, today)).group_by(dimension(by)).agg(
        pl.col(s.COST).sum()).sort(s.COST, descending=True).head(top).collect()[by].to_list()
    fields = ("spent_usd", "expected_total_usd", "total_low80_usd", "total_high80_usd", "run_rate_total_usd", "model")
    rows = []
    for value in leaders:
        f = forecast(frame.filter(dimension(by) == value), today=today, period=period)
        rows.append({by: value, **{k: getattr(f, k) for k in fields}})
    return pl.DataFrame(rows, schema={by: pl.String, **{k: pl.String if k == "model" else pl.Float64 for k in fields}})


def _run_rate(history: tuple[float, ...], elapsed: int) -> tuple[float, float]:
    """The naive daily rate (mean of this period's days, at least the last 7) and the daily spread."""
    window = history[-max(elapsed - 1, 7):] or [0.0]
    rate = sum(window) / len(window)
    spread = math.sqrt(sum((x - rate) ** 2 for x in window) / max(len(window) - 1, 1))
    return rate, spread


def _predict(model: str, history: tuple[float, ...], horizon: int, spent: float,
             elapsed: int) -> tuple[list[float], dict[str, list[float]], tuple[float, float, float, float]]:
    """Daily means, daily bands and (low80, high80, low95, high95) of the period total."""
    if horizon == 0:
        return [], {k: [] for k in ("low80", "high80", "low95", "high95")}, (spent, spent, spent, spent)
    if model == "run_rate":
        rate, spread = _run_rate(history, elapsed)
        mean = [rate] * horizon
        bands = {"low80": [max(0.0, rate - Z80 * spread)] * horizon, "high80": [rate + Z80 * spread] * horizon,
                 "low95": [max(0.0, rate - Z95 * spread)] * horizon, "high95": [rate + Z95 * spread] * horizon}
        total, wide = spent + rate * horizon, spread * math.sqrt(horizon)
        return mean, bands, (max(spent, total - Z80 * wide), total + Z80 * wide,
                             max(spent, total - Z95 * wide), total + Z95 * wide)
    # the history ends yesterday: step 1 is today (already counted as spent), so keep steps 2..horizon+1
    import numpy as np
    fitted = _fit(model, history)
    n = len(history)
    bands = {}
    for alpha, name in ((0.2, "80"), (0.05, "95")):
        frame = fitted.get_prediction(start=n + 1, end=n + horizon).summary_frame(alpha=alpha)
        bands[f"low{name}"] = [max(0.0, float(v)) for v in frame["pi_lower"]]
        bands[f"high{name}"] = [float(v) for v in frame["pi_upper"]]
    mean = [max(0.0, float(v)) for v in fitted.forecast(horizon + 1)[1:]]
    paths = fitted.simulate(horizon + 1, repetitions=SIMULATIONS, anchor="end",
                            rng=np.random.default_rng(0)).iloc[1:].clip(lower=0).sum(axis=0)
    q = paths.quantile([0.1, 0.9, 0.025, 0.975]).tolist()
    return mean, bands, tuple(spent + float(v) for v in q)  # type: ignore[return-value]


@functools.lru_cache(maxsize=32)
def _fit(model: str, history: tuple[float, ...]):
    """A fitted ETS model, remembered by its history: the complete days before today do not change
    while today's calls arrive, so forecasts of a live lake refit only when a day has passed."""
    import pandas as pd  # statsmodels wants a dated pandas series: the one place pandas is needed
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    series = pd.Series(history, index=pd.date_range("2000-01-03", periods=len(history), freq="D"), dtype=float)
    trend = model == "ets_trend_weekly"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter: the backtest judges the fit
        return ETSModel(series, error="add", trend="add" if trend else None, damped_trend=trend,
                        seasonal="add", seasonal_periods=7).fit(disp=False)


@functools.lru_cache(maxsize=32)
def _backtest(history: tuple[float, ...]) -> pl.DataFrame:
    """Rolling-origin backtest: from each of the last origins, forecast a week and compare its total."""
    rows = []
    origins = [len(history) - BACKTEST_HORIZON * k for k in range(1, BACKTEST_ORIGINS + 1)]
    origins = [o for o in origins if o >= MIN_HISTORY_DAYS]
    if not origins:
        return pl.DataFrame(schema={"model": pl.String, "origins": pl.Int64, "mape": pl.Float64})
    for model in MODELS:
        errors = []
        for origin in origins:
            actual = sum(history[origin:origin + BACKTEST_HORIZON])
            if actual <= 0:
                continue
            if model == "run_rate":
                predicted = _run_rate(history[:origin], elapsed=1)[0] * BACKTEST_HORIZON  # the last week's rate
            else:
                predicted = sum(max(0.0, float(v)) for v in _fit(model, history[:origin]).forecast(BACKTEST_HORIZON))
            errors.append(abs(predicted - actual) / actual)
        if errors:
            rows.append({"model": model, "origins": len(errors), "mape": sum(errors) / len(errors)})
    return pl.DataFrame(rows, schema={"model": pl.String, "origins": pl.Int64, "mape": pl.Float64})
