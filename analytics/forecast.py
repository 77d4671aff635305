"""Spend forecasts: daily spend to the end of the period with 80 % and 95 % intervals, the
end-of-period total, and the day a budget runs out.

Four models forecast each day: exponential smoothing from statsmodels with weekly seasonality
(no trend, a linear trend, a damped trend), fitted on the last 26 weeks of complete days, and
the recent rate (the mean of the last two weeks). Each is replayed from every day of the last
13 weeks as if that day were today, with parameters fitted on the days before those weeks only
(a fit that had seen them would know their mean), so its errors at every horizon are known.
The forecast is their blend, weighted by the inverse of each model's squared error on totals
over the days left, so the month-end figure moves with the spend, not with a change of winner.
The bands come from the blend's replayed errors, in units of the spend level of their time:
their root mean square at each horizon, fitted as a·h + b·h² (long horizons are seen in few
independent stretches of history), read as Student's t with as many degrees of freedom as there
are such stretches. Until the history has three weeks to fit on and ten more days to judge
by, the recent rate alone is used, with a band that counts the uncertainty of the rate itself. Fits are remembered by their
history, so a forecast of a lake that only gained calls today costs no new fit. statsmodels
is imported only here, when a forecast runs.

Examples:
    >>> import datetime as dt, polars as pl
    >>> days = pl.date_range(dt.date(2026, 1, 1), dt.date(2026, 1, 10), eager=True)
    >>> events = pl.LazyFrame({"ts": days.cast(pl.Datetime("us", "UTC")), "cost_usd": [10.0] * 10})
    >>> f = forecast(events, today=dt.date(2026, 1, 10), budget_usd=250)
    >>> f.model, f.spent_usd, f.expected_total_usd, f.exhaustion_date
    ('run_rate', 100.0, 310.0, datetime.date(2026, 1, 25))
"""

from __future__ import annotations

import dataclasses

import datetime as dt
import functools
import hashlib
import itertools
import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import polars as pl

from analytics.measures import Period, day_column, dimension, measures, period_bounds
from analytics.reports import _Report
from ingest import schema as s

MIN_HISTORY_DAYS = 21  # days the smoothing models are fitted on at least (and then judged on MIN_ORIGINS more)
FIT_DAYS = 182  # the models learn from the last 26 weeks: enough for a weekly season, and fits stay fast
CALIBRATION_DAYS = 91  # the days replayed as if each were today: their errors weigh the models and make the bands
MIN_ORIGINS = 10  # replayed days a horizon needs to be judged on its own errors
RATE_DAYS = 14  # the recent rate: the mean of the last two weeks (whole weeks: weekends count their share)
LEVEL_DAYS = 28  # errors are measured against the mean spend of the four weeks before their day
MODELS = ("ets_trend_weekly", "ets_linear_weekly", "ets_weekly", "run_rate")
QUANTILES = {"low80": 0.1, "high80": 0.9, "low95": 0.025, "high95": 0.975}


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
    model: str                      # "blend" of `backtest`'s models by their weights, or "run_rate" alone
    budget_usd: float | None
    exhaustion_date: dt.date | None  # first day the expected cumulative spend reaches the budget
    exhaustion_earliest: dt.date | None  # first day the 80 % band's upper edge of the cumulative spend reaches it
    daily: pl.DataFrame = field(repr=False)     # date, actual, expected, low/high 80 and 95, cumulative (+ its 80 % band: cumulative_low80, cumulative_high80)
    backtest: pl.DataFrame = field(repr=False)  # model, origins, mape (of totals over the days left), weight
    currency: str = "USD"  # what money is in (`in_currency`)
    rates: str = "USD as priced"

    @property
    def method(self) -> str:
        """How the figure was made, in words (for a tooltip)."""
        if self.model == "run_rate":
            return "the recent daily rate (too little history to judge other models)"
        weights = ", ".join(f"{m.replace('_', ' ')} {w:.0%}" for m, w in self.backtest.select("model", "weight").iter_rows())
        return f"a blend by past accuracy: {weights}"


def daily_series(events: pl.LazyFrame, *, end: dt.date) -> pl.DataFrame:
    """Cost per UTC day through `end`, days without spend as 0 (raw events or the rollup)."""
    frame = measures(events)
    day = day_column(frame)
    per_day = frame.filter(day <= end).group_by(day.alias(s.DATE)).agg(pl.col(s.COST).sum()).collect()
    if per_day.height == 0:
        return pl.DataFrame({s.DATE: [end], s.COST: [0.0]})
    days = pl.DataFrame({s.DATE: pl.date_range(per_day[s.DATE].min(), end, eager=True)})
    return days.join(per_day, on=s.DATE, how="left").with_columns(pl.col(s.COST).fill_null(0.0)).sort(s.DATE)


class PlanStore(Protocol):
    """Where fitted forecasts are kept between processes (the lake keeps them beside its rollups)."""

    def get(self, key: str) -> dict | None: ...

    def put(self, key: str, plan: dict) -> None: ...


METHOD = "blend-2026-12-06"  # names the fitting method in a stored plan's key: a change of method refits


def forecast(events: pl.LazyFrame, *, today: dt.date | None = None, period: Period = "month",
             budget_usd: float | None = None, plans: PlanStore | None = None) -> Forecast:
    """Forecast the period holding `today` (default: today, UTC); today counts as spent, the days after it are forecast.

    The fit reads complete days only, so it is the same all day however many events arrive today;
    with `plans` it is fitted once and kept there (a restarted app, `spendlake check` and the
    server's schedule reuse it)."""
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

    plan = _plan(history, horizon) if plans is None else _kept_plan(history, horizon, plans)
    future = [today + dt.timedelta(days=i + 1) for i in range(horizon)]
    observed = series.filter(pl.col(s.DATE).is_between(start, today))
    daily = pl.concat([
        observed.select(pl.col(s.DATE), pl.col(s.COST).alias("actual")),
        pl.DataFrame({s.DATE: future, "expected": plan.mean, **plan.daily,
                      # the band is symmetric about the expected path: its low edge mirrors the high one
                      "cumulative_low80": [spent + max(0.0, 2 * m - h) for m, h in
                                           zip(itertools.accumulate(plan.mean), plan.cumulative_high80)],
                      "cumulative_high80": [spent + v for v in plan.cumulative_high80]},
                     schema={s.DATE: pl.Date, "expected": pl.Float64, **{k: pl.Float64 for k in plan.daily},
                             "cumulative_low80": pl.Float64, "cumulative_high80": pl.Float64}),
    ], how="diagonal").with_columns(pl.coalesce("actual", "expected").cum_sum().alias("cumulative"))
    totals = {k: max(spent, spent + sum(plan.mean) + v) for k, v in plan.total.items()}
    exhaustion = earliest = None
    if budget_usd is not None:  # the first day the spend so far plus the expected spend reaches the budget
        over = daily.filter(pl.col("cumulative") >= budget_usd)
        exhaustion = over[s.DATE][0] if over.height else None
        high = daily.filter(pl.coalesce("cumulative_high80", "cumulative") >= budget_usd)
        earliest = high[s.DATE][0] if high.height else None
    return Forecast(
        period_start=start, period_end=end, today=today, spent_usd=spent, expected_total_usd=spent + sum(plan.mean),
        total_low80_usd=totals["low80"], total_high80_usd=totals["high80"], total_low95_usd=totals["low95"],
        total_high95_usd=totals["high95"], run_rate_total_usd=run_rate_total, model=plan.model, budget_usd=budget_usd,
        exhaustion_date=exhaustion, exhaustion_earliest=earliest, daily=daily, backtest=plan.backtest)


DAY_COLUMNS = ("actual", "expected", "low80", "high80", "low95", "high95")


def in_currency(f: Forecast, rates: pl.DataFrame, currency: str, *, budget: float | None = None,
                rates_text: str = "") -> Forecast:
    """The forecast in another currency, from `rates` (`date`, `rate`: units per USD for every day
    of the period). Each day, spent or expected, at its own day's rate; the bands' spread, which
    belongs to the days to come, at the period's last day's rate; `budget` is in `currency`.

    Examples:
        >>> days = pl.DataFrame({"date": [dt.date(2026, 1, 1), dt.date(2026, 1, 2)], "actual": [10.0, None],
        ...     "expected": [None, 10.0], "low80": [None, 8.0], "high80": [None, 12.0], "low95": [None, 7.0],
        ...     "high95": [None, 13.0], "cumulative_low80": [None, 18.0], "cumulative_high80": [None, 22.0],
        ...     "cumulative": [10.0, 20.0]})
        >>> f = Forecast(dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 1), 10.0, 20.0, 18.0, 22.0, 17.0,
        ...              23.0, 20.0, "run_rate", None, None, None, days, pl.DataFrame())
        >>> eur = in_currency(f, pl.DataFrame({"date": days["date"], "rate": [0.5, 0.8]}), "EUR", budget=12.0)
        >>> eur.spent_usd, eur.expected_total_usd, eur.total_high80_usd, eur.exhaustion_date
        (5.0, 13.0, 14.6, datetime.date(2026, 1, 2))
    """
    end_rate = rates.filter(pl.col("date") == f.period_end)["rate"][0]
    daily = f.daily.join(rates.select(s.DATE, "rate"), on=s.DATE, how="left")
    usd_cumulative = pl.col("cumulative")
    daily = daily.with_columns(
        *[pl.col(c) * pl.col("rate") for c in DAY_COLUMNS],
        *[(pl.coalesce(pl.col("actual"), pl.col("expected")) * pl.col("rate")).cum_sum().alias("_c")],
        *[((pl.col(c) - usd_cumulative) * end_rate).alias(f"_{c}") for c in ("cumulative_low80", "cumulative_high80")],
    ).with_columns(
        pl.col("_c").alias("cumulative"),
        *[(pl.col("_c") + pl.col(f"_{c}")).alias(c) for c in ("cumulative_low80", "cumulative_high80")],
    ).drop("_c", "_cumulative_low80", "_cumulative_high80", "rate")
    spent = float(daily["actual"].sum() or 0.0)
    expected = spent + float(daily["expected"].sum() or 0.0)
    band = {k: expected + (getattr(f, k) - f.expected_total_usd) * end_rate
            for k in ("total_low80_usd", "total_high80_usd", "total_low95_usd", "total_high95_usd")}
    elapsed, days = (f.today - f.period_start).days + 1, (f.period_end - f.period_start).days + 1
    exhaustion = earliest = None
    if budget is not None:
        over = daily.filter(pl.col("cumulative") >= budget)
        exhaustion = over[s.DATE][0] if over.height else None
        high = daily.filter(pl.coalesce("cumulative_high80", "cumulative") >= budget)
        earliest = high[s.DATE][0] if high.height else None
    return dataclasses.replace(f, spent_usd=spent, expected_total_usd=expected, run_rate_total_usd=spent / elapsed * days,
                               budget_usd=budget, exhaustion_date=exhaustion, exhaustion_earliest=earliest, daily=daily,
                               currency=currency, rates=rates_text, **band)


def forecast_by(events: pl.LazyFrame, by: str, *, today: dt.date | None = None, period: Period = "month",
                top: int = 10, rates: pl.DataFrame | None = None, currency: str = "USD") -> pl.DataFrame:
    """One forecast per value of `by` (e.g. project, provider) for the `top` largest spenders; with
    `rates` (`date`, `rate` for every day of the period), each in `currency` as `in_currency` converts."""
    today = today or dt.datetime.now(dt.UTC).date()
    start, _ = period_bounds(today, period)
    frame = measures(events)
    leaders = frame.filter(day_column(frame).is_between(start, today)).group_by(dimension(by)).agg(
        pl.col(s.COST).sum()).sort(s.COST, descending=True).head(top).collect()[by].to_list()
    fields = ("spent_usd", "expected_total_usd", "total_low80_usd", "total_high80_usd", "run_rate_total_usd", "model")
    rows = []
    for value in leaders:
        f = forecast(frame.filter(dimension(by) == value), today=today, period=period)
        f = f if rates is None else in_currency(f, rates, currency)
        rows.append({by: value, **{k: getattr(f, k) for k in fields}})
    return pl.DataFrame(rows, schema={by: pl.String, **{k: pl.String if k == "model" else pl.Float64 for k in fields}})


@dataclass(frozen=True)
class _Plan:
    """What the models say of the days after today: daily means, daily bands, and the bands of the
    total and of the cumulative spend as offsets from the expected total."""

    model: str
    mean: list[float]
    daily: dict[str, list[float]]
    total: dict[str, float]        # low80 … high95, added to the expected total
    cumulative_high80: list[float]  # expected spend through each day plus its 80 % band's upper offset
    backtest: pl.DataFrame


@functools.lru_cache(maxsize=64)
def _plan(history: tuple[float, ...], horizon: int) -> _Plan:
    """The forecast of `horizon` days after today from the complete days before it, remembered:
    budgets' status asks it once per budget of the same scope."""
    y = np.asarray(history, dtype=float)
    n = len(y)
    # each origin plays "today" (the day after is step 1); the models' parameters come from the days before the first
    origins = np.arange(max(MIN_HISTORY_DAYS, n - CALIBRATION_DAYS), n - 1)
    if horizon == 0:  # the period ends today: nothing left to forecast
        return _Plan("run_rate" if len(origins) < MIN_ORIGINS else "blend", [], {k: [] for k in QUANTILES},
                     {k: 0.0 for k in QUANTILES}, [], _backtest_frame({}, {}, {}))
    if len(origins) < MIN_ORIGINS:
        return _rate_alone(y, horizon)
    paths = {m: _replay(m, history, origins, horizon) for m in MODELS}  # (origins + 1) × horizon, last row: now
    target = _targets(y, origins, horizon)  # origins × horizon, NaN past the history's end
    level = np.array([max(y[max(0, o - LEVEL_DAYS):o].mean(), 1e-9) for o in origins])
    now_level = max(y[-LEVEL_DAYS:].mean(), 1e-9)
    # each model judged on totals over the days left (or the longest horizon enough days allow)
    judged = _judged_horizon(target, horizon)
    errors = {m: (np.cumsum(target - paths[m][:-1], axis=1)[:, judged - 1] / level) for m in MODELS}
    mse = {m: float(np.nanmean(e ** 2)) for m, e in errors.items()}
    inverse = {m: 1 / max(v, 1e-12) for m, v in mse.items()}
    weights = {m: v / sum(inverse.values()) for m, v in inverse.items()}
    blend = sum(weights[m] * paths[m] for m in MODELS)
    blend = np.clip(blend, 0, None)
    mean = blend[-1]
    relative = (target - blend[:-1]) / level[:, None]  # each replayed day's error, step by step, in levels
    cumulative = np.cumsum(target - blend[:-1], axis=1) / level[:, None]
    spread = _spread(cumulative)  # the error's size at each horizon, in levels
    shape = _shape(len(origins), np.arange(1, horizon + 1))  # quantile → its multiple of the spread, by horizon
    total = {k: shape[k][-1] * spread[horizon - 1] * now_level for k in QUANTILES}
    daily = {k: [max(0.0, float(v)) for v in mean + _pooled_quantile(relative, q) * now_level]
             for k, q in QUANTILES.items()}
    high80 = [float(v) for v in np.cumsum(mean) + shape["high80"] * spread * now_level]
    mape = {m: float(np.nanmean(np.abs(e))) for m, e in errors.items()}
    counts = {m: int(np.sum(~np.isnan(e))) for m, e in errors.items()}
    return _Plan("blend", [float(v) for v in mean], daily, total, high80, _backtest_frame(mape, counts, weights))


def _replay(model: str, history: tuple[float, ...], origins: np.ndarray, horizon: int) -> np.ndarray:
    """The model's forecast of steps 1..horizon after each origin (the model knows the days before
    it; the origin itself is "today", counted as spent) and, in the last row, after today."""
    y = np.asarray(history, dtype=float)
    n = len(y)
    rows = np.full((len(origins) + 1, horizon), np.nan)
    if model == "run_rate":
        for i, o in enumerate([*origins, n]):
            rows[i] = y[max(0, o - RATE_DAYS):o].mean()
        return rows
    # replayed with the parameters of a fit on the days before the first origin only: a fit that had
    # seen the days after an origin would know their mean, and its errors would promise too much
    rows[:-1] = _from_states(_smoothed(model, history, int(origins[0])), origins, horizon)
    rows[-1] = np.asarray(_fit(model, history).forecast(horizon + 1))[1:]
    return rows


def _from_states(smoothed, origins: np.ndarray, horizon: int) -> np.ndarray:
    """What the model forecast for steps 1..horizon after each origin, knowing the days before it
    (steps 2..horizon + 1 of its dynamic prediction from the origin), from its states the day
    before: level + (φ + … + φ^h)·trend + the season's last value for that weekday. The same
    numbers as statsmodels' `predict(start=o, dynamic=True)`, without a call per origin."""
    states = smoothed.states
    params = dict(zip(smoothed.model.param_names, np.asarray(smoothed.params)))
    level = states["level"].to_numpy()
    trend = states["trend"].to_numpy() if "trend" in states else np.zeros_like(level)
    season = states["seasonal"].to_numpy()
    phi = float(params.get("damping_trend", 1.0))
    h = np.arange(2, horizon + 2)
    damped = phi * (1 - phi ** h) / (1 - phi) if phi != 1.0 else h.astype(float)  # φ + … + φ^h
    t = (origins - 1)[:, None]  # the states after the day before each origin
    same_weekday = t + h - 7 * np.ceil(h / 7).astype(int)
    return level[t] + damped * trend[t] + season[same_weekday]


def _targets(y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """What was spent on steps 1..horizon after each origin (NaN past the last complete day)."""
    out = np.full((len(origins), horizon), np.nan)
    for i, o in enumerate(origins):
        known = y[o + 1:o + 1 + horizon]
        out[i, :len(known)] = known
    return out


def _judged_horizon(target: np.ndarray, horizon: int) -> int:
    """The horizon whose totals judge the models: the days left, or fewer where too few replayed
    days reach that far."""
    reach = np.sum(~np.isnan(target), axis=0)  # origins with a full total at each horizon
    enough = np.nonzero(reach >= MIN_ORIGINS)[0]
    return int(min(horizon, enough[-1] + 1)) if enough.size else 1


def _spread(cumulative: np.ndarray) -> np.ndarray:
    """The root mean square error of totals over 1..H days, as `a·h + b·h²` fitted to the replayed
    errors (daily noise adds up as h, an error in the rate as h²). Long horizons are seen from few
    independent stretches of history, short ones from many: the fit lends the short ones' numbers
    to the long ones."""
    h = np.arange(1, cumulative.shape[1] + 1, dtype=float)
    counts = np.sum(~np.isnan(cumulative), axis=0)
    seen = counts > 0
    squares = np.where(seen, np.nansum(cumulative ** 2, axis=0) / np.maximum(counts, 1), np.nan)
    (a, b), *_ = np.linalg.lstsq(np.column_stack([h[seen], h[seen] ** 2]), squares[seen], rcond=None)
    if a < 0 or b < 0:  # one term alone, the better of the two
        a, b = max(0.0, float(np.sum(squares[seen] * h[seen]) / np.sum(h[seen] ** 2))), 0.0
    return np.sqrt(np.maximum(a * h + b * h ** 2, 1e-12))


def _shape(origins: int, h: np.ndarray) -> dict[str, np.ndarray]:
    """Each band's edge as a multiple of the spread at horizons `h`: Student's t, since the spread of
    totals over h days is learnt from only about origins ÷ h separate stretches of the replay (at
    least 3 degrees of freedom, at most 30). With normal quantiles the 95 % band held the true
    total 84 % of the time (10 seeds of the forecast bench), with these 91 %."""
    from scipy import stats
    freedom = np.clip(origins / h, 3, 30)
    return {k: stats.t.ppf(q, freedom) for k, q in QUANTILES.items()}


def _pooled_quantile(relative: np.ndarray, q: float) -> float:
    values = relative[~np.isnan(relative)]
    return float(np.quantile(values, q)) if values.size else 0.0


def _rate_alone(y: np.ndarray, horizon: int) -> _Plan:
    """The recent rate, with a band for both the days' spread and the rate's own uncertainty (it is
    the mean of only k days): the total's variance is h·σ² + h²·σ²/k, with Student's t for k − 1."""
    from scipy import stats
    window = y[-RATE_DAYS:] if len(y) else np.zeros(1)
    k = len(window)
    rate = float(window.mean())
    spread = float(window.std(ddof=1)) if k > 1 else rate
    mean = [rate] * horizon
    wide = spread * math.sqrt(horizon + horizon ** 2 / k)
    total, daily = {}, {}
    for name, q in QUANTILES.items():
        z = float(stats.t.ppf(q, max(k - 1, 1)))
        total[name] = z * wide
        daily[name] = [max(0.0, rate + z * spread * math.sqrt(1 + 1 / k))] * horizon
    z80 = float(stats.t.ppf(QUANTILES["high80"], max(k - 1, 1)))
    high80 = [rate * h + z80 * spread * math.sqrt(h + h ** 2 / k) for h in range(1, horizon + 1)]
    return _Plan("run_rate", mean, daily, total, high80, _backtest_frame({}, {}, {"run_rate": 1.0}))


def plan_key(history: tuple[float, ...], horizon: int) -> str:
    """A fitted plan's name: the method, the horizon and the complete days it was fitted on."""
    return hashlib.blake2b(json.dumps([METHOD, horizon, history]).encode(), digest_size=12).hexdigest()


def _kept_plan(history: tuple[float, ...], horizon: int, plans: PlanStore) -> _Plan:
    key = plan_key(history, horizon)
    found = plans.get(key)
    if found is not None:
        return _Plan(found["model"], found["mean"], found["daily"], found["total"], found["cumulative_high80"],
                     pl.DataFrame(found["backtest"], schema=_backtest_frame({}, {}, {}).schema))
    plan = _plan(history, horizon)
    plans.put(key, {"model": plan.model, "mean": plan.mean, "daily": plan.daily, "total": plan.total,
                    "cumulative_high80": plan.cumulative_high80, "backtest": plan.backtest.to_dicts()})
    return plan


def _backtest_frame(mape: dict[str, float], counts: dict[str, int], weights: dict[str, float]) -> pl.DataFrame:
    models = [m for m in MODELS if m in weights or m in mape]
    return pl.DataFrame({"model": models, "origins": [counts.get(m, 0) for m in models],
                         "mape": [mape.get(m) for m in models], "weight": [weights.get(m, 0.0) for m in models]},
                        schema={"model": pl.String, "origins": pl.Int64, "mape": pl.Float64, "weight": pl.Float64})


@functools.lru_cache(maxsize=32)
def _smoothed(model: str, history: tuple[float, ...], fitted_on: int):
    """The whole history run through the model with the parameters fitted to its first `fitted_on` days."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _ets(model, history).smooth(_fit(model, history[:fitted_on]).params)


def _ets(model: str, history: tuple[float, ...]):
    import pandas as pd  # statsmodels wants a dated pandas series: the one place pandas is needed
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    series = pd.Series(history, index=pd.date_range("2000-01-03", periods=len(history), freq="D"), dtype=float)
    trend, damped = model in ("ets_trend_weekly", "ets_linear_weekly"), model == "ets_trend_weekly"
    return ETSModel(series, error="add", trend="add" if trend else None, damped_trend=damped,
                    seasonal="add", seasonal_periods=7)


@functools.lru_cache(maxsize=32)
def _fit(model: str, history: tuple[float, ...]):
    """A fitted ETS model, remembered by its history: the complete days before today do not change
    while today's calls arrive, so forecasts of a live lake refit only when a day has passed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter: the replayed errors judge the fit
        return _ets(model, history).fit(disp=False)
