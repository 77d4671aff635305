"""Anomalies on the demo lake: the spike is found and explained; weekends stay quiet."""

import datetime as dt

import polars as pl
import pytest

import analytics
from ingest import schema as s
from ingest.demo import SPIKE_DAYS_AGO

END = dt.date(2026, 3, 31)
SPIKE = END - dt.timedelta(days=SPIKE_DAYS_AGO)


@pytest.mark.parametrize("by, direction, driver", [(s.PROJECT, "spike", "model=claude-opus-4-5"),
                                                    (s.MODEL, "new", "project=research-agent")])  # opus's first day
def test_the_demo_spike_is_the_strongest_anomaly_and_its_driver_is_named(demo_lake, by, direction, driver):
    found = analytics.anomalies(analytics.daily(demo_lake), by=by)
    top = found.row(0, named=True)
    assert (top[s.DATE], top["direction"], top["driver"]) == (SPIKE, direction, driver)
    assert top[by] in ("research-agent", "claude-opus-4-5")
    spend = analytics.scan(demo_lake, start=SPIKE, end=SPIKE).filter(pl.col(by) == top[by]).select(
        pl.col(s.COST).sum()).collect().item()
    assert top[s.COST] == pytest.approx(spend)


def test_ordinary_weekends_are_not_flagged(demo_lake):
    for by in (s.PROJECT, s.MODEL, s.PROVIDER):
        found = analytics.anomalies(analytics.daily(demo_lake), by=by)
        assert found.filter(pl.col(s.DATE).dt.weekday() >= 6).height == 0, found
        assert found.height <= 5  # a handful at most in 120 days, not every busy day


def test_raw_events_and_the_rollup_find_the_same_days(demo_lake):
    raw = analytics.anomalies(analytics.scan(demo_lake), by=s.PROJECT)
    rolled = analytics.anomalies(analytics.daily(demo_lake), by=s.PROJECT)
    assert raw.select(s.PROJECT, s.DATE).rows() == rolled.select(s.PROJECT, s.DATE).rows()


def test_the_spike_hours_are_found_from_raw_events(demo_lake):
    hours = analytics.anomalies(analytics.scan(demo_lake, start=SPIKE - dt.timedelta(days=30), end=SPIKE),
                                by=s.PROJECT, grain="hour")
    spike_hours = hours.filter((pl.col(s.PROJECT) == "research-agent") & (pl.col(s.DATE) == SPIKE))
    assert spike_hours.height >= 5 and set(spike_hours["driver"]) == {"model=claude-opus-4-5"}


def test_a_spike_becomes_one_alert(demo_lake):
    found = analytics.anomalies(analytics.daily(demo_lake, end=SPIKE), by=s.PROJECT)  # as checked that evening
    now = dt.datetime(2026, 3, 19, 23, tzinfo=dt.UTC)
    alerts = analytics.anomaly_alerts(found, now=now, since=SPIKE)
    assert [(a.kind, a.subject, a.period_start) for a in alerts] == [("anomaly", "project=research-agent", "2026-03-19")]
    assert "driven by model=claude-opus-4-5" in alerts[0].message
    assert analytics.anomaly_alerts(found, now=now, since=SPIKE, seen={alerts[0].key}) == []
