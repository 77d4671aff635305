import datetime as dt
import threading

import polars as pl
import pytest

from ingest import Tracker, schema as s
from ingest.errors import ValidationError
from ingest.lake import Lake
from ingest.pricing import PriceBook


def test_log_returns_the_cost_at_once_and_the_lake_gets_the_same_cost(tmp_path):
    with Tracker(tmp_path / "lake", spill_dir=tmp_path / "spill") as tracker:
        with tracker.job("video-1", project="shorts"), tracker.stage("script"):
            cost = tracker.log(provider="anthropic", model="claude-sonnet-4-5", input_tokens=1200,
                               cache_read_tokens=30_000, cache_write_tokens=2000, cache_write_1h_tokens=1000,
                               output_tokens=800)
    row = Lake(tmp_path / "lake").scan().collect().row(0, named=True)
    assert cost == row[s.COST]  # the same float the vectorised pricer computes
    recomputed = PriceBook.load().price(pl.DataFrame([row]).drop(s.DATE).with_columns(
        pl.lit(None, pl.Float64).alias(s.COST)))
    assert recomputed[s.COST].item() == cost
    assert (row[s.JOB_ID], row[s.PROJECT], row[s.STAGE]) == ("video-1", "shorts", "script")


def test_bad_calls_raise_at_once_naming_the_field(tmp_path):
    with Tracker(tmp_path / "lake", spill_dir=tmp_path / "spill") as tracker:
        with pytest.raises(ValidationError, match=r"input_tokens=-5 must be a finite number ≥ 0"):
            tracker.log(provider="openai", model="gpt-4o", input_tokens=-5)
        with pytest.raises(ValidationError, match="service='chat' is not a known service"):
            tracker.log(provider="openai", model="gpt-4o", service="chat")
        with pytest.raises(ValidationError, match="ts=.* must be a timezone-aware datetime"):
            tracker.log(provider="openai", model="gpt-4o", ts=dt.datetime(2026, 1, 1))


def test_flushes_by_size_and_by_age(tmp_path):
    lake = Lake(tmp_path / "lake")
    tracker = Tracker(lake, max_events=50, max_age=0.5, spill_dir=tmp_path / "spill")
    for _ in range(120):
        tracker.log(provider="openai", model="gpt-4o", input_tokens=10)
    tracker.log(provider="openai", model="gpt-4o", input_tokens=10)
    deadline = dt.datetime.now() + dt.timedelta(seconds=10)
    while lake.scan().select(pl.len()).collect().item() < 121 and dt.datetime.now() < deadline:
        threading.Event().wait(0.1)
    assert lake.scan().select(pl.len()).collect().item() == 121
    tracker.close()


def test_many_threads_log_without_losing_events(tmp_path):
    lake = Lake(tmp_path / "lake")
    with Tracker(lake, max_events=500, spill_dir=tmp_path / "spill") as tracker:
        def work(n: int) -> None:
            with tracker.job(f"job-{n}"):
                for _ in range(1000):
                    tracker.log(provider="openai", model="gpt-4o-mini", input_tokens=100, output_tokens=10)
        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    jobs = lake.scan().group_by(s.JOB_ID).len().collect()
    assert sorted(jobs["len"].to_list()) == [1000] * 8


def test_an_unwritable_lake_spills_and_the_next_flush_sends_the_spill(tmp_path):
    lake = Lake(tmp_path / "lake")
    tracker = Tracker(lake, retries=2, spill_dir=tmp_path / "spill")
    tracker.log(provider="openai", model="gpt-4o", input_tokens=10, event_id="kept-1")
    real_append = lake.append
    lake.append = lambda *a, **k: (_ for _ in ()).throw(OSError("disk full"))
    tracker.flush()
    assert len(list((tmp_path / "spill").glob("spill-*.parquet"))) == 1
    lake.append = real_append
    tracker.log(provider="openai", model="gpt-4o", input_tokens=10, event_id="kept-2")
    tracker.close()
    assert sorted(lake.scan().collect()[s.EVENT_ID]) == ["kept-1", "kept-2"]
    assert not list((tmp_path / "spill").glob("spill-*.parquet"))


def test_a_given_timestamp_is_kept_to_the_microsecond(tmp_path):
    when = dt.datetime(2026, 1, 5, 11, 0, 0, 123457, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with Tracker(tmp_path / "lake", spill_dir=tmp_path / "spill") as tracker:
        tracker.log(provider="openai", model="gpt-4o", input_tokens=1, ts=when)
    assert Lake(tmp_path / "lake").scan().collect()[s.TS].item() == when


def test_when_even_the_spill_fails_the_events_stay_buffered_and_the_error_is_raised(tmp_path):
    lake = Lake(tmp_path / "lake")
    blocked = tmp_path / "spill"
    blocked.write_text("a file where the spill folder should be")
    tracker = Tracker(lake, retries=1, spill_dir=blocked)
    tracker.log(provider="openai", model="gpt-4o", input_tokens=10, event_id="precious")
    real_append = lake.append
    lake.append = lambda *a, **k: (_ for _ in ()).throw(OSError("disk full"))
    with pytest.raises(OSError):
        tracker.flush()
    lake.append = real_append
    blocked.unlink()
    tracker.close()
    assert lake.scan().collect()[s.EVENT_ID].to_list() == ["precious"]
