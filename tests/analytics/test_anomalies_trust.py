"""Anomalies against known truth: synthetic spend of three projects on two models each, with
spikes, outages and a new project put in where the test says."""

import datetime as dt

import numpy as np
import polars as pl

import analytics
from ingest import schema as s

START = dt.date(2026, 1, 5)  # a Monday
DAYS = 120
MODELS = {"gpt-4o": "openai", "claude-sonnet-4-5": "anthropic"}
PROJECTS = ("shop", "search", "support")


def lake(*, seed: int = 0, weekly: bool = False, change=None) -> pl.LazyFrame:
    """One event per project, model and day, about $50 a day each (weekends at 30 % when `weekly`);
    `change(project, model, day, cost)` returns the cost that day instead."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(DAYS):
        day = START + dt.timedelta(days=i)
        for project in PROJECTS:
            for model, provider in MODELS.items():
                cost = 50 * (0.3 if weekly and day.weekday() >= 5 else 1.0) * (1 + 0.1 * rng.standard_normal())
                cost = change(project, model, day, cost) if change else cost
                if cost > 0:
                    rows.append((dt.datetime.combine(day, dt.time(12), dt.UTC), project, model, provider, cost))
    return pl.LazyFrame(rows, schema={s.TS: pl.Datetime("us", "UTC"), s.PROJECT: pl.String, s.MODEL: pl.String,
                                      s.PROVIDER: pl.String, s.COST: pl.Float64}, orient="row")


def flagged(events: pl.LazyFrame, by: str = s.PROJECT) -> pl.DataFrame:
    return analytics.anomalies(events, by=by)


def test_clean_spend_flags_nothing():
    for weekly in (False, True):
        assert flagged(lake(seed=1, weekly=weekly)).height == 0


def test_an_outage_of_a_steady_project_is_a_drop():
    """Point 6: a day at $0 scored -4 at best against a threshold of 6; every outage day is found."""
    outages = {START + dt.timedelta(days=d) for d in (60, 61, 95)}
    found = flagged(lake(change=lambda p, m, day, c: 0.0 if p == "shop" and day in outages else c))
    drops = found.filter(pl.col("direction") == "drop")
    assert set(drops.select(s.PROJECT, s.DATE).rows()) == {("shop", d) for d in outages}
    alerts = analytics.anomaly_alerts(found, now=dt.datetime(2026, 5, 5, tzinfo=dt.UTC), since=START)
    assert any("down 100%" in a.message and a.subject == "project=shop" for a in alerts)


def test_a_weekend_outage_is_found_though_past_weekend_spikes_raised_the_usual_spend():
    """Spikes on earlier weekends raised the project's mean weekend spend, and with it the floor of
    the spread, until a $0 Saturday scored -3.0 against a drop threshold of 3 (found by the forecast
    bench at 25 seeds: 124 of 125 outage days). A drop is judged against the recent days alone."""
    weekends = [START + dt.timedelta(days=d) for d in range(DAYS) if (START + dt.timedelta(days=d)).weekday() >= 5]
    saturdays = [d for d in weekends if d.weekday() == 5]
    spiked, outage = set(weekends[4:24:4]), saturdays[-3]  # five ×6 weekend days, then a Saturday at $0

    def change(project, model, day, cost):
        if project != "support":
            return cost
        return 0.0 if day == outage else 6 * cost if day in spiked else cost
    found = flagged(lake(weekly=True, change=change))
    drops = found.filter(pl.col("direction") == "drop")
    assert drops.select(s.PROJECT, s.DATE).rows() == [("support", outage)]
    assert set(found.filter(pl.col("direction") == "spike").select(s.DATE).to_series()) <= spiked


def test_a_weekend_spike_is_compared_with_weekends():
    """Point 7: a ×4 Saturday on spend whose weekends run at 30 %: the floor of the spread came from
    the all-days mean, so it scored 4.2 where a ×4 Tuesday scored 13.6."""
    saturday = START + dt.timedelta(days=89)
    assert saturday.weekday() == 5
    found = flagged(lake(weekly=True, change=lambda p, m, day, c: 4 * c if p == "search" and day == saturday else c))
    assert found.select(s.PROJECT, s.DATE, "direction").rows() == [("search", saturday, "spike")]


def test_a_new_project_is_one_anomaly_not_a_spike_a_day():
    """Point 8: a project that starts spending is one "new" anomaly (it was flagged on 12 of its first 19 days)."""
    first = START + dt.timedelta(days=90)
    found = flagged(lake(change=lambda p, m, day, c: c if p != "support" or day >= first else 0.0))
    assert found.select(s.PROJECT, s.DATE, "direction").rows() == [("support", first, "new")]
    (alert,) = analytics.anomaly_alerts(found, now=dt.datetime(2026, 4, 5, tzinfo=dt.UTC), since=first)
    assert alert.message.startswith("new spend: project support, $") and f"on {first}" in alert.message


def test_the_driver_of_a_model_s_spike_is_below_the_model_never_its_provider():
    """Point 9: by model, the provider moves exactly as the model does; it was named whenever the
    model's other projects also rose a little that day."""
    day = START + dt.timedelta(days=100)

    def change(project, model, d, cost):
        if d == day and model == "gpt-4o":
            return cost * (8 if project == "shop" else 1.3)
        return cost
    found = flagged(lake(change=change), by=s.MODEL)
    top = found.row(0, named=True)
    assert (top[s.MODEL], top[s.DATE], top["direction"], top["driver"]) == ("gpt-4o", day, "spike", "project=shop")
