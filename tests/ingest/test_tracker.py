import datetime as dt
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest
from genai_prices import Usage, calc_price
from hypothesis import given, settings, strategies as st

from ingest import Tracker, schema as s
from ingest.errors import ValidationError
from ingest.lake import Lake
from ingest.pricing import PriceBook
from ingest.tracker import default_spill_dir


def test_log_returns_the_cost_at_once_and_the_lake_gets_it(tmp_path):
    with Tracker(tmp_path / "lake", spill_dir=tmp_path / "spill") as tracker:
        with tracker.job("video-1", project="shorts"), tracker.stage("script"):
            cost = tracker.log(provider="anthropic", model="claude-sonnet-4-5", input_tokens=1200,
                               cache_read_tokens=30_000, cache_write_tokens=2000, cache_write_1h_tokens=1000,
                               output_tokens=800)
    row = Lake(tmp_path / "lake").scan().collect().row(0, named=True)
    usage = Usage(input_tokens=1200 + 30_000 + 2000, cache_read_tokens=30_000, cache_write_tokens=2000,
                  cache_write_1h_tokens=1000, output_tokens=800)
    expected = calc_price(usage, "claude-sonnet-4-5", provider_id="anthropic",
                          genai_request_timestamp=row[s.TS]).total_price
    assert cost == pytest.approx(float(expected), rel=1e-12, abs=1e-15)  # genai-prices' own answer
    assert row[s.COST] == cost and row[s.COST_SOURCE] == "computed"
    assert (row[s.JOB_ID], row[s.PROJECT], row[s.STAGE]) == ("video-1", "shorts", "script")


# a tiered price (above 200k input tokens), off-peak hours, a fee per request, a plain price, no price
ONE_EVENT_MODELS = [("anthropic", "claude-sonnet-4-5"), ("deepseek", "deepseek-chat"), ("perplexity", "sonar"),
                    ("openai", "gpt-4o"), ("openai", "no-such-model")]
_book = PriceBook.load()


@pytest.fixture(scope="module")
def pricing_tracker(tmp_path_factory):
    root = tmp_path_factory.mktemp("one-event")
    with Tracker(root / "lake", spill_dir=root / "spill", book=_book) as tracker:
        yield tracker


@settings(max_examples=300, deadline=None)
@given(model=st.sampled_from(ONE_EVENT_MODELS),
       minute=st.integers(0, 700 * 24 * 60),  # 2025-01-01 to 2026-12-01
       tokens=st.tuples(*[st.integers(0, 400_000)] * 3, st.integers(0, 50_000), st.integers(0, 20_000)),
       reasoning=st.integers(0, 100), edge=st.sampled_from([None, -1, 0, 1]))
def test_the_tracker_prices_one_event_as_the_engine_prices_a_batch(pricing_tracker, model, minute, tokens, reasoning,
                                                                   edge):
    """The Tracker's one-event path against `PriceBook.price`, across tiers (at their thresholds
    too), time-of-day prices and request fees: the same float, or unpriced both."""
    provider, name = model
    inputs, cache_read, cache_write, cache_1h, output = tokens
    if edge is not None:  # total input one below, at or one above the 200k-token tier
        cache_read, cache_write = cache_read // 5, cache_write // 5  # (so that inputs stay ≥ 0)
        inputs = 200_000 + edge - cache_read - cache_write
    usage = {s.INPUT_TOKENS: inputs, s.CACHE_READ_TOKENS: cache_read, s.CACHE_WRITE_TOKENS: cache_write,
             s.CACHE_WRITE_1H_TOKENS: min(cache_1h, cache_write), s.OUTPUT_TOKENS: output,
             s.REASONING_TOKENS: output * reasoning // 100}
    ts = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=minute)
    one = pricing_tracker.log(provider=provider, model=name, ts=ts, **usage)
    batch = _book.price(s.validate(pl.DataFrame([{s.TS: ts, s.PROVIDER: provider, s.MODEL: name, s.SERVICE: "llm",
                                                   **usage}]), now=ts).events)[s.COMPUTED_COST].item()
    assert one == batch


def test_bad_calls_raise_at_once_naming_the_field(tmp_path):
    with Tracker(tmp_path / "lake", spill_dir=tmp_path / "spill") as tracker:
        with pytest.raises(ValidationError, match=r"input_tokens=-5 must be ≥ 0"):
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


WORKER = Path(__file__).with_name("tracker_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def run_worker(*args: object, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=os.environ | {"PYTHONPATH": str(ROOT), **env})


def events_of(lake: Lake) -> pl.DataFrame:
    return lake.scan().select(s.EVENT_ID, s.PROJECT).collect()


def spill_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.parquet")] if root.exists() else []


def test_an_unclosed_tracker_writes_to_its_own_lake_at_exit(tmp_path):
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    proc = run_worker("unclosed", tmp_path / "lakeA", "a", env=env)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "could not write" not in stderr
    assert events_of(Lake(tmp_path / "lakeA"))[s.PROJECT].to_list() == ["a"]
    assert spill_files(tmp_path / "state") == []


def test_spills_go_to_a_folder_of_their_own_lake_and_are_sent_only_there(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("SPENDLAKE_SPILL", raising=False)
    lake_a, lake_b = Lake(tmp_path / "lakeA"), Lake(tmp_path / "lakeB")
    lake_a.root.mkdir()
    (lake_a.root / "_tmp").write_text("a file where the temp folder should be: lake A cannot be written")
    tracker = Tracker(lake_a, retries=1, project="a")
    tracker.log(provider="openai", model="gpt-4o", input_tokens=10, event_id="for-a")
    with caplog.at_level("WARNING", logger="ingest.tracker"):
        assert tracker.flush() == 0
    assert "could not write 1 event(s) to the lake" in caplog.text  # a failed flush is reported
    (spilled,) = spill_files(tmp_path / "state")
    assert spilled.parent == default_spill_dir(lake_a) and spilled.parent.parent == tmp_path / "state/spendlake/spill"
    with Tracker(lake_b, project="b") as other:  # another lake's Tracker never sends lake A's spill
        other.log(provider="openai", model="gpt-4o", input_tokens=10, event_id="for-b")
    assert events_of(lake_b)[s.EVENT_ID].to_list() == ["for-b"]
    (lake_a.root / "_tmp").unlink()
    tracker.close()
    assert events_of(lake_a)[s.EVENT_ID].to_list() == ["for-a"]
    assert spill_files(tmp_path / "state") == []


def test_a_spill_file_that_names_another_lake_is_left_alone(tmp_path):
    lake_a, lake_b = Lake(tmp_path / "lakeA"), Lake(tmp_path / "lakeB")
    shared = tmp_path / "one-folder-for-both"  # e.g. two lakes given the same spill_dir by hand
    lake_a.root.mkdir()
    (lake_a.root / "_tmp").write_text("blocked")
    tracker = Tracker(lake_a, retries=1, spill_dir=shared)
    tracker.log(provider="openai", model="gpt-4o", input_tokens=10, event_id="for-a")
    tracker.flush()
    with Tracker(lake_b, spill_dir=shared) as other:
        other.log(provider="openai", model="gpt-4o", input_tokens=10, event_id="for-b")
    assert events_of(lake_b)[s.EVENT_ID].to_list() == ["for-b"]
    assert len(spill_files(shared)) == 1
    (lake_a.root / "_tmp").unlink()
    tracker.close()
    assert events_of(lake_a)[s.EVENT_ID].to_list() == ["for-a"]


@pytest.mark.parametrize("flusher", ["close", "background"])
def test_trackers_draining_spills_at_once_lose_nothing(tmp_path, flusher):
    """30 spill files and 6 processes whose Trackers flush together: every event lands once."""
    spill = tmp_path / "spill"
    env = {"SPENDLAKE_SPILL": str(spill)}
    lake = Lake(tmp_path / "lake")
    lake.root.mkdir()
    (lake.root / "_tmp").write_text("blocked while the spills are made")
    os.environ["SPENDLAKE_SPILL"] = str(spill)
    try:
        maker = Tracker(lake, retries=1, max_age=3600)
        for f in range(30):
            for i in range(100):
                maker.log(provider="openai", model="gpt-4o", input_tokens=10, event_id=f"spill{f}-{i}")
            maker.flush()
        maker._closed.set()  # stop it without a last flush: its spills are the test's input
    finally:
        del os.environ["SPENDLAKE_SPILL"]
    assert len(spill_files(spill)) == 30
    (lake.root / "_tmp").unlink()
    start = time.time() + 8
    age = ["0.05"] if flusher == "background" else []
    procs = [run_worker("close", lake.root, f"p{n}", 2000, start, *age, env=env) for n in range(6)]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (stdout, stderr) in zip(procs, results):
        assert p.returncode == 0 and stdout.strip() == "closed", stderr
        assert "could not send" not in stderr or "kept for the next flush" in stderr
    ids = events_of(lake)[s.EVENT_ID]
    assert ids.n_unique() == ids.len() == 30 * 100 + 6 * 2000
    assert spill_files(spill) == []
