"""Forecasts on the demo lake: the month's real total lands in the interval, weekends dip, budgets run out."""

import datetime as dt
import subprocess
import sys

import polars as pl
import pytest

import analytics
from analytics.forecast import MODELS
from ingest import schema as s

END = dt.date(2026, 3, 31)
TODAY = dt.date(2026, 3, 12)


def test_the_real_month_total_falls_in_the_forecast_interval(demo_lake):
    f = analytics.forecast(analytics.scan(demo_lake, end=TODAY), today=TODAY)
    actual = analytics.scan(demo_lake, start=dt.date(2026, 3, 1)).select(pl.col(s.COST).sum()).collect().item()
    assert f.model == "blend" and f.backtest["model"].to_list() == list(MODELS)
    assert f.backtest["weight"].sum() == pytest.approx(1) and (f.backtest["origins"] >= 10).all()
    assert f.total_low95_usd <= f.total_low80_usd <= f.expected_total_usd <= f.total_high80_usd <= f.total_high95_usd
    assert f.total_low95_usd <= actual <= f.total_high95_usd
    spent = analytics.scan(demo_lake, start=dt.date(2026, 3, 1), end=TODAY).select(pl.col(s.COST).sum()).collect().item()
    assert f.spent_usd == pytest.approx(spent)
    assert f.run_rate_total_usd == pytest.approx(spent / 12 * 31)
    assert f.daily.height == 31 and f.daily["expected"].null_count() == 12


def test_weekly_seasonality_shows_in_the_daily_forecast(demo_lake):
    f = analytics.forecast(analytics.daily(demo_lake, end=TODAY), today=TODAY)
    if f.model == "run_rate":
        pytest.fail(f"the backtest preferred the run-rate on seasonal demo data: {f.backtest.rows()}")
    future = f.daily.filter(pl.col("expected").is_not_null())
    weekend = future.filter(pl.col(s.DATE).dt.weekday() >= 6)["expected"].mean()
    weekday = future.filter(pl.col(s.DATE).dt.weekday() < 6)["expected"].mean()
    assert weekend < 0.8 * weekday
    assert (future["low80"] <= future["expected"]).all() and (future["expected"] <= future["high80"]).all()


def test_a_budget_runs_out_on_the_first_day_the_expected_spend_reaches_it(demo_lake):
    base = analytics.forecast(analytics.scan(demo_lake, end=TODAY), today=TODAY)
    budget = base.spent_usd + 0.5 * (base.expected_total_usd - base.spent_usd)
    f = analytics.forecast(analytics.scan(demo_lake, end=TODAY), today=TODAY, budget_usd=budget)
    running = f.daily.with_columns(pl.coalesce("actual", "expected").cum_sum().alias("running"))
    first = running.filter(pl.col("running") >= budget)[s.DATE][0]
    assert f.exhaustion_date == first and TODAY < first < END
    never = analytics.forecast(analytics.scan(demo_lake, end=TODAY), today=TODAY, budget_usd=base.total_high95_usd * 2)
    assert never.exhaustion_date is None


def test_short_history_falls_back_to_the_run_rate(demo_lake):
    f = analytics.forecast(analytics.scan(demo_lake, start=dt.date(2026, 3, 1), end=TODAY), today=TODAY)
    assert f.model == "run_rate" and f.expected_total_usd == pytest.approx(f.run_rate_total_usd, rel=0.15)


def test_forecasts_per_project_cover_the_largest_spenders(demo_lake):
    per = analytics.forecast_by(analytics.daily(demo_lake, end=TODAY), "project", today=TODAY, top=3)
    assert per.height == 3 and (per["expected_total_usd"] >= per["spent_usd"]).all()


def test_importing_analytics_does_not_load_statsmodels():
    code = "import sys, analytics; print('statsmodels' in sys.modules, 'streamlit' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.split() == ["False", "False"]
