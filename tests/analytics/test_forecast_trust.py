"""Forecasts against known truth: synthetic daily spend whose month totals are known, so that a
band's promise ("80 % of the time") can be counted, not just looked at."""

import datetime as dt

import numpy as np
import polars as pl

import analytics
from ingest import schema as s

APRIL = dt.date(2026, 4, 1)


def lake_of(cost: np.ndarray, first: dt.date) -> pl.DataFrame:
    days = [first + dt.timedelta(days=i) for i in range(len(cost))]
    return pl.DataFrame({s.TS: [dt.datetime.combine(d, dt.time(12), dt.UTC) for d in days],
                         s.COST: np.clip(cost, 0, None)})


def month_truth(frame: pl.DataFrame, month: dt.date) -> float:
    return frame.filter(pl.col(s.TS).dt.date().dt.month_start() == month)[s.COST].sum()


def covered(frame: pl.DataFrame, today: dt.date) -> tuple[bool, bool, analytics.Forecast]:
    f = analytics.forecast(frame.lazy().filter(pl.col(s.TS).dt.date() <= today), today=today)
    truth = month_truth(frame, today.replace(day=1))
    return f.total_low80_usd <= truth <= f.total_high80_usd, f.total_low95_usd <= truth <= f.total_high95_usd, f


def test_a_young_lake_s_band_counts_the_uncertainty_of_its_rate():
    """Point 1: i.i.d. spend, a lake of 4–17 days: the run-rate is the right model, and its band
    must hold the month's total about as often as it says (the rate's own error included)."""
    hits80, hits95 = [], []
    for seed in range(60):
        rng = np.random.default_rng(seed)
        age = 4 + seed % 14
        first = APRIL - dt.timedelta(days=age - 5)  # today is the 5th: `age` days of history with today
        frame = lake_of(100 * (1 + 0.2 * rng.standard_normal(age + 25)), first)
        in80, in95, f = covered(frame, dt.date(2026, 4, 5))
        assert f.model == "run_rate"
        hits80.append(in80)
        hits95.append(in95)
    assert 0.7 <= np.mean(hits80) <= 0.9 and np.mean(hits95) >= 0.88, (np.mean(hits80), np.mean(hits95))


def test_bands_hold_the_month_total_where_spend_grows():
    """Point 2: spend growing 1 % a day: the 80 % band holds the true total in at least 65 % of 24
    forecasts (a third of them when the band came from the model's own formula)."""
    hits = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        t = np.arange(181)
        cost = 100 * 1.01 ** (t - 120) * (1 + 0.1 * rng.standard_normal(t.size))
        frame = lake_of(cost, dt.date(2026, 1, 1))
        for month in (dt.date(2026, 4, 1), dt.date(2026, 5, 1)):
            for day in (5, 10, 15, 20):
                hits.append(covered(frame, month.replace(day=day))[0])
    assert np.mean(hits) >= 0.65, np.mean(hits)


def test_the_month_end_figure_moves_with_the_day_s_spend_not_with_a_change_of_model():
    """Point 3: forecast every day of a month of flat, noisy spend: from one day to the next the
    expected total changes by the day's surprise (its spend against what yesterday's forecast
    expected of it) and little else; a change of the winning model moved it by up to 15 %."""
    rng = np.random.default_rng(7)
    frame = lake_of(100 * (1 + 0.2 * rng.standard_normal(160)), dt.date(2026, 1, 1))
    truth = month_truth(frame, dt.date(2026, 5, 1))
    cost = dict(zip(frame[s.TS].dt.date().to_list(), frame[s.COST].to_list()))
    previous, moves = None, []
    for day in range(3, 28):
        today = dt.date(2026, 5, day)
        f = analytics.forecast(frame.lazy().filter(pl.col(s.TS).dt.date() <= today), today=today)
        if previous is not None:
            surprise = cost[today] - previous.daily.filter(pl.col(s.DATE) == today)["expected"].item()
            moves.append(abs(f.expected_total_usd - previous.expected_total_usd - surprise) / truth)
        previous = f
    assert max(moves) < 0.02, [round(m, 3) for m in moves]


def test_the_day_a_budget_may_run_out_is_given_whenever_the_band_reaches_it():
    """Point 4: spend that doubled two weeks ago; a budget the expected spend does not reach this
    month but the band's upper edge does: the earliest day it may run out is named."""
    rng = np.random.default_rng(3)
    t = np.arange(135)
    frame = lake_of(np.where(t >= 120, 140.0, 70.0) * (1 + 0.1 * rng.standard_normal(t.size)), dt.date(2026, 1, 1))
    today = dt.date(2026, 5, 10)
    base = analytics.forecast(frame.lazy(), today=today)
    budget = (base.expected_total_usd + base.total_high80_usd) / 2
    f = analytics.forecast(frame.lazy(), today=today, budget_usd=budget)
    assert f.exhaustion_date is None and f.exhaustion_earliest is not None
    assert today < f.exhaustion_earliest <= f.period_end
    upper = f.daily.filter(pl.col(s.DATE) == f.exhaustion_earliest)["cumulative_high80"].item()
    assert upper >= budget


def test_the_replay_is_statsmodels_own_dynamic_prediction():
    """The errors that weigh the models and make the bands are those of statsmodels' own forecasts
    from each replayed day (`predict(start=o, dynamic=True)`), read here from the model's states."""
    from analytics.forecast import _from_states, _smoothed
    rng = np.random.default_rng(5)
    t = np.arange(150)
    history = tuple(float(v) for v in (100 + 0.5 * t + np.where(t % 7 >= 5, -40, 0)) * (1 + 0.1 * rng.standard_normal(150)))
    origins = np.arange(60, 149)
    for model in ("ets_trend_weekly", "ets_linear_weekly", "ets_weekly"):
        smoothed = _smoothed(model, history, 60)
        fast = _from_states(smoothed, origins, 20)
        for i, o in enumerate(origins):
            steps = min(20, 149 - o)
            own = np.asarray(smoothed.predict(start=int(o), end=int(o) + steps, dynamic=True))[1:]
            np.testing.assert_allclose(fast[i, :steps], own, rtol=1e-12, atol=1e-9)
