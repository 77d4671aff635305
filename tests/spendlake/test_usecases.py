"""Each use case driven once, as the CLI, the app and the API call it. Those front ends' own tests
check their wiring; these check what the actions do."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import analytics
from analytics.budgets import Budget, BudgetError
from analytics.estimate import video_pipeline
from ingest import rollups, schema as s
from ingest.errors import OptionError, PricingError, SpendlakeError
from ingest.lake import Lake
from ingest.pricing import PriceBook
from spendlake import usecases
from spendlake.store import load_alerts, load_budgets

TODAY = dt.date(2026, 3, 31)


def assert_rollups_current(lake: Lake) -> None:
    """The rollups already say what the events say: no day is left for a reader to sum from its
    events, and the daily rollup's cost and calls equal a sum over the raw events."""
    assert rollups.uncovered(lake) == []
    rolled = analytics.daily(lake).select(pl.col(s.COST).sum(), pl.col("calls").sum()).collect().row(0)
    raw = analytics.scan(lake).select(pl.col(s.COST).sum(), pl.len()).collect().row(0)
    assert rolled[1] == raw[1] and rolled[0] == pytest.approx(raw[0], rel=1e-12)


@pytest.fixture
def demo(tmp_path: Path) -> Lake:
    lake = Lake(tmp_path / "lake")
    usecases.write_demo(lake, days=40, today=TODAY)
    return lake


def test_changes_leave_the_rollups_current(demo, tmp_path):
    assert_rollups_current(demo)

    extra = tmp_path / "more.jsonl"
    extra.write_text("\n".join(json.dumps({"ts": f"2026-03-{d:02d}T10:00:00Z", "provider": "openai", "model": "gpt-4o",
                                           "service": "llm", "input_tokens": 1000 * d, "project": "late"})
                               for d in range(1, 31)) + "\n")
    summary = usecases.import_files(demo, [extra])
    assert summary.imported == 30 and summary.complete
    assert_rollups_current(demo)

    result = usecases.compact(demo)
    assert result.partitions > 0
    assert_rollups_current(demo)

    rule = usecases.add_override(demo, "openai", "gpt-4o", "input_token", "100", per="1000000", start="2026-03-01")
    assert rule.price == Decimal("100")
    report = usecases.reprice(demo)
    assert report.partitions > 0 and report.changes.height
    assert_rollups_current(demo)


def test_an_override_is_validated_before_it_is_stored(demo):
    with pytest.raises(PricingError, match="price"):
        usecases.add_override(demo, "openai", "gpt-4o", "input_token", "cheap")
    assert not demo.overrides_path.exists()


def test_retention_previews_then_drops_and_refreshes(demo):
    before = sorted(demo.partitions())
    preview = usecases.retention(demo, 10, today=TODAY)
    assert not preview.dropped and preview.partitions == [d for d in before if d < TODAY - dt.timedelta(days=10)]
    assert preview.events == analytics.scan(demo, end=preview.partitions[-1]).select(pl.len()).collect().item()
    assert sorted(demo.partitions()) == before  # a preview changes nothing

    done = usecases.retention(demo, 10, drop=True, today=TODAY)
    assert done.dropped and done.partitions == preview.partitions
    assert min(demo.partitions()) == preview.cutoff
    assert_rollups_current(demo)
    assert usecases.retention(demo, 10, drop=True, today=TODAY).partitions == []


@pytest.mark.parametrize("text", ["soon", "-1d", "90", "36501d"])
def test_a_retention_age_names_the_accepted_form(text):
    with pytest.raises(OptionError, match="write a number of days") as caught:
        usecases.parse_age(text)
    assert caught.value.option == "--older-than"


def test_the_monthly_report_compares_month_to_date_with_the_same_days(demo):
    report = usecases.monthly(demo, dt.date(2026, 3, 1), today=dt.date(2026, 3, 15))
    assert report.partial and report.through == dt.date(2026, 3, 15)
    spent = analytics.scan(demo, start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 15)).select(
        pl.col(s.COST).sum()).collect().item()
    assert report.cost_usd == pytest.approx(spent, rel=1e-12)


def test_runs_reports_and_estimates_meet(demo):
    runs = usecases.top_runs(demo, start=TODAY - dt.timedelta(days=6), end=TODAY, top=5)
    assert runs.height == 5 and runs[s.COST].is_sorted(descending=True)
    job = runs[s.JOB_ID][0]
    assert usecases.top_runs(demo, search=job)[s.JOB_ID].to_list() == [job]
    assert usecases.run_report(demo, "no-such-run") is None

    plan = video_pipeline(stories=1, images=2, dialogue_chars=500)
    found = usecases.check_plan(demo, plan, job_id=job, now=dt.datetime(2026, 3, 31, 12, tzinfo=dt.UTC))
    assert found.decision is not None and found.decision.action == "allow"  # no budgets yet
    report = usecases.run_report(demo, job)
    assert report.estimate_usd == pytest.approx(found.estimate.expected_usd)
    expected = analytics.scan(demo).filter(pl.col(s.JOB_ID) == job).select(pl.col(s.COST).sum()).collect().item()
    assert report.cost_usd == pytest.approx(expected, rel=1e-12)

    estimate, compared = usecases.estimate(demo, plan, compare=[("openai", "gpt-4o-mini"), ("openai", "gpt-4o")])
    assert estimate.low_usd <= estimate.expected_usd <= estimate.high_usd
    assert compared.height == 3 and compared["model"][0] == "as planned"


def test_a_plan_over_a_hard_stop_budget_is_blocked_and_alerted(demo):
    usecases.save_budget(demo, Budget("cap", limit_usd=0.01, enforcement="hard_stop"))
    now = dt.datetime(2026, 3, 31, 12, tzinfo=dt.UTC)
    plan = video_pipeline(stories=1, images=1, dialogue_chars=100)
    found = usecases.check_plan(demo, plan, job_id="next", now=now)
    assert found.decision.action == "block"
    assert usecases.plan_decision(demo, found.estimate.high_usd, today=TODAY).action == "block"
    assert [a.kind for a in load_alerts(demo)] == ["task_estimate_high"]


def test_suggestions_and_what_if_read_the_window_they_are_given(demo):
    found = usecases.suggestions(demo, today=TODAY, days=30)
    assert found.table.height and (found.table["savings_monthly_usd"] > 0).all()
    headline = found.table.filter("headline")
    assert found.savings_monthly_usd == pytest.approx(sum(headline["savings_monthly_usd"]), rel=1e-12)
    project = analytics.scan(demo, service="llm").select(s.PROJECT).drop_nulls().collect()[s.PROJECT][0]
    moved = usecases.what_if(demo, project, "openai", "gpt-4o-mini", today=TODAY, days=30)
    llm = analytics.scan(demo, start=TODAY - dt.timedelta(days=29), end=TODAY, project=project, service="llm").collect()
    assert moved.current_usd == pytest.approx(llm[s.COST].sum(), rel=1e-12)
    # every call priced on the other model by the engine, one by one
    on_mini = PriceBook.load().price(llm.with_columns(pl.lit("openai").alias(s.PROVIDER),
                                                      pl.lit("gpt-4o-mini").alias(s.MODEL), pl.lit(None).alias(s.COST)))
    assert moved.moved_usd == pytest.approx(on_mini[s.COMPUTED_COST].sum(), rel=1e-9)
    assert moved.difference_usd == pytest.approx(moved.moved_usd - moved.current_usd)
    assert moved.change == pytest.approx(moved.moved_usd / moved.current_usd - 1)
    unknown = usecases.what_if(demo, project, "openai", "no-such-model", today=TODAY)
    assert unknown.moved_usd is None and unknown.difference_usd is None and unknown.change is None


def test_reconcile_keeps_days_with_a_gap_of_at_least_min_gap(demo):
    fixture = Path(__file__).parents[1] / "fixtures" / "reports" / "openai-costs.json"
    assert usecases.import_files(demo, [fixture], format="openai-costs").reported > 0
    span = {"start": dt.date(2026, 3, 1), "end": dt.date(2026, 3, 5)}
    billed = usecases.reconcile(demo, **span).filter(pl.col("billed_usd").is_not_null())
    assert billed.height >= 2 and set(billed[s.PROVIDER]) == {"openai"}
    widest = billed.select(pl.max_horizontal(pl.col("gap_usd").abs(), pl.col("event_gap_usd").abs())).to_series()
    narrow = usecases.reconcile(demo, **span, min_gap=widest.max())
    assert narrow.height == (widest == widest.max()).sum()
    other = usecases.reconcile(demo, **span, providers=["anthropic"])
    assert other.filter(pl.col("billed_usd").is_not_null()).height == 0


@pytest.mark.parametrize("text, levels", [("0.5,0.8,1.0", (0.5, 0.8, 1.0)), ("0.5, 0.9", (0.5, 0.9)),
                                          (" 1 ,", (1.0,))])
def test_one_threshold_rule_for_every_front_end(text, levels):
    assert usecases.parse_thresholds(text) == levels


def test_thresholds_that_are_not_numbers_are_refused():
    with pytest.raises(BudgetError, match="write fractions"):
        usecases.parse_thresholds("half, all")


def test_budgets_are_saved_renamed_and_deleted(demo):
    usecases.save_budget(demo, Budget("team", limit_usd=100))
    usecases.save_budget(demo, Budget("team", limit_usd=200))  # the same name replaces
    usecases.save_budget(demo, Budget("other", limit_usd=5))
    assert [(b.name, b.limit_usd) for b in load_budgets(demo)] == [("team", 200), ("other", 5)]
    usecases.save_budget(demo, Budget("squad", limit_usd=300), replacing="team")  # renamed in the app
    assert sorted(b.name for b in load_budgets(demo)) == ["other", "squad"]
    status = usecases.budget_status(demo, today=TODAY)
    assert sorted(status["name"]) == ["other", "squad"]
    usecases.delete_budget(demo, "other")
    with pytest.raises(SpendlakeError, match="no budget named 'other'"):
        usecases.delete_budget(demo, "other")
    assert [b.name for b in load_budgets(demo)] == ["squad"]


def test_the_forecast_reads_the_chosen_projects_and_the_rollup_the_app_holds(demo):
    project = analytics.scan(demo).select(s.PROJECT).drop_nulls().unique().sort(s.PROJECT).collect()[s.PROJECT][0]
    mine = usecases.forecast(demo, today=TODAY, projects=[project], budget_usd=10)
    spent = analytics.scan(demo, start=TODAY.replace(day=1), end=TODAY, project=project).select(
        pl.col(s.COST).sum()).collect().item()
    assert mine.spent_usd == pytest.approx(spent, rel=1e-12) and mine.budget_usd == 10
    held = usecases.forecast(demo, today=TODAY, projects=[project], budget_usd=10, daily=analytics.daily(demo))
    assert_frame_equal(held.daily, mine.daily, rel_tol=1e-9)  # (sums in another order: the last bits may differ)
    assert held.spent_usd == pytest.approx(mine.spent_usd, rel=1e-12)
    assert held.expected_total_usd == pytest.approx(mine.expected_total_usd, rel=1e-9)
    everything = usecases.forecast(demo, today=TODAY)
    assert everything.spent_usd > mine.spent_usd


def test_unpriced_models_count_the_events_without_a_price(demo):
    from tests.helpers import events
    demo.append(events(3, day=TODAY, prefix="acme", provider="acme", model="acme-1"))
    found = usecases.unpriced_models(demo)
    assert found.filter(pl.col(s.MODEL) == "acme-1")["events"].to_list() == [3]


def test_a_breakdown_reads_the_rollup_its_grouping_needs_and_the_chosen_rows(demo):
    start, end = TODAY - dt.timedelta(days=9), TODAY
    project = analytics.scan(demo).select(s.PROJECT).drop_nulls().unique().sort(s.PROJECT).collect()[s.PROJECT][0]
    raw = analytics.scan(demo, start=start, end=end, project=project)
    by_run = usecases.breakdown(demo, [s.JOB_ID], start=start, end=end, projects=[project])  # the per-run rollup
    expected = raw.filter(pl.col(s.JOB_ID).is_not_null()).group_by(s.JOB_ID).agg(pl.col(s.COST).sum()).collect()
    assert dict(by_run.select(s.JOB_ID, s.COST).rows()) == pytest.approx(dict(expected.rows()), rel=1e-12)
    by_provider = usecases.breakdown(demo, [s.PROVIDER], period="day", start=start, end=end, projects=[project])
    held = usecases.breakdown(demo, [s.PROVIDER], period="day", start=start, end=end, projects=[project],
                              daily=analytics.daily(demo))
    assert_frame_equal(by_provider, held, rel_tol=1e-12)
    assert by_provider[s.COST].sum() == pytest.approx(raw.select(pl.col(s.COST).sum()).collect().item(), rel=1e-12)


def test_anomalies_by_day_from_the_rollup_and_by_hour_from_events(demo):
    days = usecases.anomalies(demo, by=s.PROJECT, start=TODAY - dt.timedelta(days=39), end=TODAY)
    held = usecases.anomalies(demo, by=s.PROJECT, start=TODAY - dt.timedelta(days=39), end=TODAY,
                              daily=analytics.daily(demo))
    assert_frame_equal(days, held, rel_tol=1e-9)
    assert days.height == analytics.anomalies(analytics.scan(demo, start=TODAY - dt.timedelta(days=39), end=TODAY),
                                              by=s.PROJECT).height
    hours = usecases.anomalies(demo, by=s.PROJECT, grain="hour", start=TODAY - dt.timedelta(days=6), end=TODAY)
    assert "hour" in hours.columns


def test_compare_reads_both_periods_from_the_rollup_its_grouping_needs(demo):
    start, end = TODAY - dt.timedelta(days=6), TODAY
    for by in ([s.PROVIDER], [s.JOB_ID]):
        found = usecases.compare(demo, by, start=start, end=end)
        raw = analytics.scan(demo, start=start - dt.timedelta(days=7), end=end)
        if by == [s.JOB_ID]:  # runs are events with a job id
            raw = raw.filter(pl.col(s.JOB_ID).is_not_null())
        expected = analytics.compare(raw, by=by, start=start, end=end)
        key = lambda frame: frame.sort(by).select(*by, s.COST).rows()  # noqa: E731
        assert [r[:-1] for r in key(found)] == [r[:-1] for r in key(expected)]
        assert [r[-1] for r in key(found)] == pytest.approx([r[-1] for r in key(expected)], rel=1e-12)


def test_check_fires_each_alert_once_and_says_how_bad_it_is(demo):
    month = analytics.scan(demo, start=TODAY.replace(day=1), end=TODAY).select(pl.col(s.COST).sum()).collect().item()
    at = dt.datetime.combine(TODAY, dt.time(12), dt.UTC)
    usecases.save_budget(demo, Budget("all", limit_usd=month * 10))
    calm = usecases.check(demo, today=TODAY, now=at, anomalies=False)
    assert (calm.budgets, calm.exit_code, calm.new) == (1, 0, [])
    usecases.save_budget(demo, Budget("all", limit_usd=month / 0.85), replacing="all")  # 85 % used
    warned = usecases.check(demo, today=TODAY, now=at, anomalies=False)
    assert warned.exit_code == 1
    # (the month ends today, so its forecast is what was spent: no forecast alert)
    assert [(a.kind, a.threshold) for a in warned.new] == [("budget_warning", 0.8)]
    assert usecases.check(demo, today=TODAY, now=at, anomalies=False).new == []  # once per period
    usecases.save_budget(demo, Budget("tight", limit_usd=month / 2))
    over = usecases.check(demo, today=TODAY, now=at, anomalies=False)
    assert over.exit_code == 2 and [a.kind for a in over.new] == ["budget_exceeded"]
    assert [a.kind for a in load_alerts(demo)] == ["budget_warning", "budget_exceeded"]
    spike_day = TODAY - dt.timedelta(days=12)  # the demo's spike: an anomaly alert the day after it
    spiked = usecases.check(demo, today=spike_day + dt.timedelta(days=1), now=at, anomalies=True)
    assert {a.kind for a in spiked.new} >= {"anomaly"}


def test_runs_broken_down_by_service_agree_with_duckdb(demo):
    """`report breakdown --by job_id --by service` (refused before: the per-run rollup has no service)."""
    import duckdb
    found = usecases.costs(demo, [s.JOB_ID, s.SERVICE], top=8).filter(pl.col(s.JOB_ID) != "other")
    files = [str(p) for p in demo.events_dir.rglob("*.parquet")]
    oracle = duckdb.sql(f"SELECT job_id, service, sum(cost_usd) AS cost FROM read_parquet({files}) "
                        "GROUP BY ALL ORDER BY cost DESC").pl()
    rows = {(r[s.JOB_ID], r[s.SERVICE]): r["cost"] for r in oracle.iter_rows(named=True)}
    assert found.height >= 5
    for r in found.iter_rows(named=True):
        assert r[s.COST] == pytest.approx(rows[(r[s.JOB_ID], r[s.SERVICE])], rel=1e-9)


def test_a_run_report_says_how_the_budgets_covering_its_project_stand(demo):
    run = analytics.top_runs(analytics.runs(demo), 1).row(0, named=True)
    usecases.save_budget(demo, Budget("tiny", limit_usd=0.01, scope="project", value=run[s.PROJECT]))
    usecases.save_budget(demo, Budget("other", limit_usd=0.01, scope="project", value="nobody"))
    usecases.save_budget(demo, Budget("all", limit_usd=1e9))
    report = usecases.run_report(demo, run[s.JOB_ID])
    states = dict(zip(report.budgets["name"], report.budgets["state"]))
    assert states == {"tiny": "exceeded", "all": "ok"}  # not the budget of another project


def test_a_forecast_is_fitted_once_a_day_and_kept_beside_the_rollups(demo, monkeypatch):
    """A restart (fresh caches) and new events of today reuse the fit; a new complete day refits."""
    import importlib
    from tests.helpers import events
    fitting = importlib.import_module("analytics.forecast")
    first = usecases.forecast(demo, today=TODAY)
    kept = list((demo.root / "rollups" / "forecasts").glob("*.json"))
    assert len(kept) == 1
    fitting._plan.cache_clear()  # as a restarted process
    fitting._smoothed.cache_clear()

    def no_fit(*args, **kwargs):
        raise AssertionError("refitted")
    monkeypatch.setattr(fitting, "_replay", no_fit)
    demo.append(events(5, day=TODAY, prefix="live"))  # a live lake: today's events do not change the fit
    again = usecases.forecast(demo, today=TODAY)
    assert again.backtest.equals(first.backtest) and again.method == first.method
    assert again.spent_usd > first.spent_usd  # today's new spend counts, on the same fitted path
    assert again.expected_total_usd - again.spent_usd == pytest.approx(first.expected_total_usd - first.spent_usd,
                                                                       rel=1e-12)
    with pytest.raises(AssertionError, match="refitted"):  # the next day has a new complete day: a new fit
        usecases.forecast(demo, today=TODAY + dt.timedelta(days=1))


def test_suggestions_from_kept_day_sums_equal_those_from_raw_events_and_follow_new_events(demo, monkeypatch):
    """Optimize reads each past day's usage sums once, beside the rollups; the same suggestions as
    from a month of raw events (which tests/analytics/test_optimize.py holds to genai-prices),
    before and after a day gains events, with and without a project filter."""
    from analytics import optimize
    book = PriceBook.load()

    def raw(**filters):
        events = analytics.scan(demo, start=TODAY - dt.timedelta(days=29), end=TODAY, **filters)
        return analytics.suggestions(events, book, today=TODAY, days=30)
    usecases.check(demo, today=TODAY, anomalies=False)  # ahead of any visitor: the 30 days before TODAY
    folder = demo.path("usage sums")
    assert len(list(folder.glob("*.parquet"))) == 30
    kept = usecases.suggestions(demo, today=TODAY, book=book).table
    assert kept.height >= 3
    assert_frame_equal(kept, raw())
    assert len(list(folder.glob("*.parquet"))) == 31  # and TODAY (in the past here: complete)

    summed = []
    real = optimize.day_sums
    monkeypatch.setattr(optimize, "day_sums", lambda *a, **k: summed.append(1) or real(*a, **k))
    assert_frame_equal(usecases.suggestions(demo, today=TODAY, book=book).table, kept)
    assert summed == []  # read, not summed again

    day = TODAY - dt.timedelta(days=3)
    more = s.validate(pl.DataFrame([{"event_id": f"late-{i}", "ts": dt.datetime(2026, 3, 28, 12, tzinfo=dt.UTC),
                                     "provider": "openai", "model": "gpt-4o", "service": "llm", "operation": "chat",
                                     "project": "late", "input_tokens": 40_000, "output_tokens": 9_000}
                                    for i in range(300)])).events
    demo.append(book.price(more))
    after = usecases.suggestions(demo, today=TODAY, book=book).table
    assert len(summed) == 1  # the day that changed, alone
    assert len(list(folder.glob(f"{day.isoformat()}-*.parquet"))) == 1  # its older sums removed
    assert_frame_equal(after, raw())
    assert not after.equals(kept)
    assert_frame_equal(usecases.suggestions(demo, today=TODAY, book=book, projects=["late"]).table,
                       raw(project=["late"]))
    dropped = usecases.retention(demo, 10, drop=True, today=TODAY)  # what was kept of dropped days goes with them
    assert dropped.partitions and not [p for d in dropped.partitions for p in folder.glob(f"{d.isoformat()}-*.parquet")]
    assert len(list(folder.glob("*.parquet"))) == len(demo.partitions())  # the days kept keep theirs
