"""Breakdowns add up, agree with DuckDB on the demo lake, and from the rollup equal those from raw events."""

import datetime as dt

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from hypothesis import given, settings, strategies as st

import analytics
from ingest import schema as s
from tests.helpers import events



def test_cost_by_model_for_a_month_matches_duckdb(demo_lake):
    ours = analytics.breakdown(analytics.scan(demo_lake, start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31)),
                               by=[s.PROVIDER, s.MODEL])
    con = duckdb.connect()
    con.sql("SET TimeZone='UTC'")
    theirs = con.sql(f"""
        SELECT provider, model, sum(cost_usd) AS cost, count(*) AS calls, sum(input_tokens) AS input_tokens
        FROM read_parquet('{demo_lake.events_dir}/*/*.parquet', hive_partitioning=true)
        WHERE date BETWEEN DATE '2026-03-01' AND DATE '2026-03-31' GROUP BY ALL ORDER BY cost DESC""").fetchall()
    assert [(r[0], r[1], r[3], r[4]) for r in theirs] == ours.select(
        s.PROVIDER, s.MODEL, "calls", s.INPUT_TOKENS).rows()
    assert [r[2] for r in theirs] == pytest.approx(ours[s.COST].to_list(), rel=1e-12)


def test_breakdowns_from_the_rollup_equal_those_from_raw_events(demo_lake):
    for by, period in ((s.PROJECT, "week"), ([s.PROVIDER, s.STAGE], "month"), ("tag:env", "day")):
        keys = ["period_start", *([by] if isinstance(by, str) else by)]
        raw = analytics.breakdown(analytics.scan(demo_lake), by=by, period=period).sort(keys)
        rolled = analytics.breakdown(analytics.daily(demo_lake), by=by, period=period).sort(keys)
        assert_frame_equal(raw, rolled, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)


def test_top_n_keeps_the_largest_and_sums_the_rest_as_other(demo_lake):
    full = analytics.breakdown(analytics.scan(demo_lake), by=s.MODEL)
    top = analytics.breakdown(analytics.scan(demo_lake), by=s.MODEL, top=3)
    assert top[s.MODEL].to_list()[:3] == full[s.MODEL].to_list()[:3] or "other" in top[s.MODEL].to_list()[:3]
    assert set(top[s.MODEL]) == set(full[s.MODEL].head(3)) | {"other"}
    other = top.filter(pl.col(s.MODEL) == "other")
    assert other[s.COST].item() == pytest.approx(full[s.COST].tail(full.height - 3).sum())
    assert other["calls"].item() == full["calls"].tail(full.height - 3).sum()
    assert top["share"].sum() == pytest.approx(1.0)


def test_compare_reports_the_change_against_the_period_before(demo_lake):
    start, end = dt.date(2026, 3, 18), dt.date(2026, 3, 24)
    result = analytics.compare(analytics.scan(demo_lake), by=s.PROJECT, start=start, end=end)
    daily = analytics.scan(demo_lake).group_by(s.PROJECT, s.DATE).agg(pl.col(s.COST).sum()).collect()
    for row in result.iter_rows(named=True):
        mine = daily.filter(pl.col(s.PROJECT) == row[s.PROJECT])
        now = mine.filter(pl.col(s.DATE).is_between(start, end))[s.COST].sum()
        before = mine.filter(pl.col(s.DATE).is_between(dt.date(2026, 3, 11), dt.date(2026, 3, 17)))[s.COST].sum()
        assert (row[s.COST], row[f"previous_{s.COST}"]) == (pytest.approx(now), pytest.approx(before))
        assert row["change_pct"] == pytest.approx(now / before - 1)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.sampled_from(["a", "b", "c", "d"]),
                          st.sampled_from(["x", "y", None]), st.floats(0, 100, allow_nan=False)), min_size=1,
                max_size=60),
       st.sampled_from([s.PROJECT, [s.PROJECT, s.STAGE], []]), st.sampled_from([None, "day", "week", "month"]),
       st.one_of(st.none(), st.integers(1, 3)))
def test_any_breakdown_adds_up_to_the_total(rows, by, period, top):
    frame = pl.LazyFrame({
        s.TS: [dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=d) for d, *_ in rows],
        s.PROJECT: [p for _, p, _, _ in rows], s.STAGE: [g for _, _, g, _ in rows],
        s.COST: [c for *_, c in rows], s.INPUT_TOKENS: [d for d, *_ in rows]})
    result = analytics.breakdown(frame, by=by, period=period, top=top)
    assert result[s.COST].sum() == pytest.approx(sum(c for *_, c in rows))
    assert result["calls"].sum() == len(rows)
    assert result[s.INPUT_TOKENS].sum() == sum(d for d, *_ in rows)
    if top is not None and by:
        assert result.select(by if isinstance(by, list) else [by]).unique().height <= top + 1


def test_runs_sum_each_run_over_whole_and_part_months_as_raw_events_do(demo_lake):
    start, end = dt.date(2026, 1, 20), dt.date(2026, 3, 31)  # part of January, February and March whole
    raw = demo_lake.scan(start=start, end=end).filter(pl.col(s.JOB_ID).is_not_null()).group_by(s.JOB_ID).agg(
        pl.col(s.COST).sum(), pl.len().alias("calls"), pl.col(s.DATE).min().alias("first_day"),
        pl.col(s.DATE).max().alias("last_day")).collect().sort(s.JOB_ID)
    found = analytics.runs(demo_lake, start=start, end=end).collect().sort(s.JOB_ID)
    assert found[s.JOB_ID].to_list() == raw[s.JOB_ID].to_list()
    assert found["calls"].to_list() == raw["calls"].to_list()
    assert found[s.COST].to_list() == pytest.approx(raw[s.COST].to_list(), rel=1e-12)
    assert found.select("first_day", "last_day").equals(raw.select("first_day", "last_day"))
    spanning = raw.filter(pl.col("first_day").dt.month() != pl.col("last_day").dt.month())
    for job, first, last in raw.select(s.JOB_ID, "first_day", "last_day").head(5).vstack(
            spanning.select(s.JOB_ID, "first_day", "last_day")).iter_rows():
        assert analytics.run_days(demo_lake, job) == (first, last)
    assert analytics.run_days(demo_lake, "no-such-run") is None
    top = analytics.top_runs(analytics.runs(demo_lake, start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31)), 5)
    assert top[s.JOB_ID].to_list() == analytics.breakdown(analytics.daily_jobs(
        demo_lake, start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31)), by=s.JOB_ID, limit=5)[s.JOB_ID].to_list()


def test_a_limit_keeps_the_largest_rows_in_order(demo_lake):
    full = analytics.breakdown(analytics.daily_jobs(demo_lake), by=s.JOB_ID, values=[s.COST])
    limited = analytics.breakdown(analytics.daily_jobs(demo_lake), by=s.JOB_ID, values=[s.COST], limit=20)
    assert full.height > 1000
    # (sums may differ in their last bit between two group-bys: Polars adds in parallel)
    assert limited[s.JOB_ID].to_list() == full.head(20)[s.JOB_ID].to_list()
    assert limited[s.COST].to_list() == pytest.approx(full.head(20)[s.COST].to_list(), rel=1e-12)


def test_a_run_across_months_is_one_run_with_its_whole_span(lake):
    lake.append(pl.concat([events(3, day=dt.date(2026, 1, 31), prefix="a", job_id="night", project="p"),
                           events(2, day=dt.date(2026, 2, 1), prefix="b", job_id="night", project="p"),
                           events(4, day=dt.date(2026, 2, 1), prefix="c", job_id="day", project="p")]))
    found = analytics.runs(lake).collect().sort(s.JOB_ID)
    assert found.select(s.JOB_ID, "calls", "first_day", "last_day").rows() == [
        ("day", 4, dt.date(2026, 2, 1), dt.date(2026, 2, 1)), ("night", 5, dt.date(2026, 1, 31), dt.date(2026, 2, 1))]
    assert analytics.runs(lake, start=dt.date(2026, 2, 1)).collect().sort(s.JOB_ID)["calls"].to_list() == [4, 2]
    assert analytics.run_days(lake, "night") == (dt.date(2026, 1, 31), dt.date(2026, 2, 1))
    assert analytics.top_runs(analytics.runs(lake, start=dt.date(2026, 3, 1)), 5).height == 0  # no runs: no rows
