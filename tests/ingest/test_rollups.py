"""The rollups the lake keeps: equal to the raw events after every kind of write, kept current by
each write at the cost of that write, and read without writing anything."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import analytics
from ingest import rollups, schema as s
from ingest.demo import write_demo
from ingest.lake import Lake
from ingest.price_rules import PriceRule, add_override
from ingest.pricing import PriceBook
from ingest.reprice import reprice
from tests.helpers import events

TODAY = dt.date(2026, 3, 31)


def files(lake: Lake) -> dict[str, tuple[int, int]]:
    """Every file of the lake with its size and modification time."""
    return {str(p.relative_to(lake.root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in lake.root.rglob("*") if p.is_file()}


def answers(lake: Lake) -> dict[str, pl.DataFrame]:
    """What reports read from the rollups, in a fixed order."""
    return {
        "daily": analytics.daily(lake).group_by(s.DATE, s.MODEL, s.PROJECT).agg(
            pl.col(s.COST).sum(), pl.col("calls").sum(), pl.col(s.INPUT_TOKENS).sum()).sort(s.DATE, s.MODEL, s.PROJECT)
        .collect(),
        "jobs": analytics.daily_jobs(lake).group_by(s.DATE, s.JOB_ID).agg(
            pl.col(s.COST).sum(), pl.col("calls").sum()).sort(s.DATE, s.JOB_ID).collect(),
        "runs": analytics.runs(lake).sort(s.JOB_ID, s.PROJECT).collect(),
        "month of runs": analytics.runs(lake, start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31))
        .sort(s.JOB_ID, s.PROJECT).collect(),
    }


def assert_equal_to_the_events(lake: Lake) -> None:
    raw = lake.scan().group_by(s.DATE, s.MODEL).agg(pl.col(s.COST).sum(), pl.len().alias("calls")).collect()
    rolled = analytics.daily(lake).group_by(s.DATE, s.MODEL).agg(pl.col(s.COST).sum(), pl.col("calls").sum()).collect()
    joined = raw.join(rolled, on=[s.DATE, s.MODEL], how="full", suffix="_r", coalesce=True)
    assert joined.height == raw.height == rolled.height
    assert joined.select((pl.col(s.COST) - pl.col(f"{s.COST}_r")).abs().max()).item() < 1e-9
    assert (joined["calls"] == joined["calls_r"]).all()
    jobs = analytics.daily_jobs(lake).group_by(s.JOB_ID).agg(pl.col(s.COST).sum()).sort(s.JOB_ID).collect()
    raw_jobs = lake.scan().filter(pl.col(s.JOB_ID).is_not_null()).group_by(s.JOB_ID).agg(
        pl.col(s.COST).sum()).sort(s.JOB_ID).collect()
    assert jobs[s.JOB_ID].to_list() == raw_jobs[s.JOB_ID].to_list()
    assert jobs[s.COST].to_list() == pytest.approx(raw_jobs[s.COST].to_list())
    assert analytics.runs(lake).sort(s.JOB_ID).collect()[s.COST].to_list() == pytest.approx(raw_jobs[s.COST].to_list())


def month_files(lake: Lake, name: str) -> list[Path]:
    return sorted((lake.rollups_dir / name).glob("*.parquet"))


def added_files(lake: Lake) -> list[Path]:
    return sorted(lake.rollups_dir.glob("*/added/*/*.parquet"))


def test_the_rollups_stay_equal_to_the_events_through_every_change(lake):
    write_demo(lake, TODAY, days=10)
    assert_equal_to_the_events(lake)
    lake.append(events(30, day=TODAY, prefix="late", job_id="late-run"))  # an append after the demo
    assert_equal_to_the_events(lake)
    assert rollups.uncovered(lake) == []
    lake.compact()
    assert_equal_to_the_events(lake)
    assert added_files(lake) == []  # a rewrite folds the appends' sums into the month file
    add_override(lake.overrides_path, PriceRule("openai", "gpt-4o", "input_token", Decimal("1"), Decimal("1000000"),
                                           dt.date(2026, 1, 1), None))
    reprice(lake, PriceBook.load(lake.overrides_path))
    assert_equal_to_the_events(lake)
    lake.drop_before(TODAY - dt.timedelta(days=3))
    assert_equal_to_the_events(lake)
    assert len(month_files(lake, "daily")) == 1  # one file per month, replaced
    assert len(month_files(lake, "runs")) == 1  # older run files went with their jobs files
    assert analytics.daily(lake).select(pl.col(s.DATE).min()).collect().item() == TODAY - dt.timedelta(days=3)
    assert rollups.uncovered(lake) == []


def test_an_append_adds_its_own_sums_and_leaves_the_month_file_alone(lake):
    big = events(600, day=TODAY, prefix="big", job_id="run-a")
    lake.append(big)
    rollups.refresh(lake)
    [month] = month_files(lake, "daily")
    before = files(lake)
    lake.append(events(1, day=TODAY, prefix="one", job_id="run-b"))
    after = files(lake)
    assert after[str(month.relative_to(lake.root))] == before[str(month.relative_to(lake.root))]
    new = sorted(set(after) - set(before))
    # the event's data file and one sums file per rollup; nothing else changed
    assert [n.split("/")[0] for n in new] == ["events", "rollups", "rollups"]
    assert {k: v for k, v in after.items() if k in before} == before
    added = pl.read_parquet(lake.rollups_dir / "daily" / "added" / "2026-03")
    assert added["calls"].to_list() == [1]  # the sums of the appended event alone
    assert rollups.uncovered(lake) == []
    assert_equal_to_the_events(lake)


def test_reading_stale_rollups_writes_nothing_and_answers_as_after_a_refresh(lake):
    write_demo(lake, TODAY, days=45)
    rollups.refresh(lake)
    # what writers killed half way leave behind: events whose sums were never written, an append
    # whose sums count a file a later rewrite replaced, and a day changed under the month file
    lake.append(events(40, day=TODAY, prefix="lost", job_id="lost-run"))
    _ = [p.unlink() for p in added_files(lake)]
    lake.append(events(5, day=dt.date(2026, 3, 2), prefix="x", job_id="x-run"))
    stale_sums = added_files(lake)
    lake.rewrite(dt.date(2026, 3, 2), lambda frame: frame.sort(s.TS), min_files=1)
    assert all(p.exists() for p in stale_sums)  # (a single-day rewrite leaves the rollups to the caller)
    (lake.root / "events" / "date=2026-02-20").rename(lake.root / "dropped")  # a day gone
    assert rollups.uncovered(lake) == [dt.date(2026, 3, 2), TODAY]
    before = files(lake)
    stale = answers(lake)
    assert files(lake) == before  # not a byte, not a modification time
    rollups.refresh(lake)
    assert rollups.uncovered(lake) == []
    assert files(lake) != before
    fresh = answers(lake)
    for name, frame in stale.items():
        assert_frame_equal(frame, fresh[name], check_exact=False, rel_tol=1e-12, abs_tol=1e-12)
    assert_equal_to_the_events(lake)


def test_appends_are_folded_into_the_month_file_every_so_often(lake, monkeypatch):
    monkeypatch.setattr(rollups, "FOLD_AFTER", 4)
    for i in range(11):
        lake.append(events(3, day=TODAY - dt.timedelta(days=i % 3), prefix=f"a{i}-", job_id=f"run-{i % 2}"))
        assert len(list((lake.rollups_dir / "daily" / "added" / "2026-03").glob("*.parquet"))) <= 5
        assert rollups.uncovered(lake) == []
    assert len(month_files(lake, "daily")) == 1
    assert_equal_to_the_events(lake)


def test_months_of_a_lake_are_summed_apart(lake):
    lake.append(pl.concat([events(3, day=dt.date(2026, 1, 31), prefix="a", job_id="night", project="p"),
                           events(2, day=dt.date(2026, 2, 1), prefix="b", job_id="night", project="p")]))
    assert sorted(p.name for p in (lake.rollups_dir / "daily" / "added").iterdir()) == ["2026-01", "2026-02"]
    rollups.refresh(lake)
    assert [p.name[:7] for p in month_files(lake, "jobs")] == ["2026-01", "2026-02"]
    found = analytics.runs(lake).collect()
    assert found.select(s.JOB_ID, "first_day", "last_day", "calls").rows() == [
        ("night", dt.date(2026, 1, 31), dt.date(2026, 2, 1), 5)]
