"""A Tracker that reports to a running server: the same API and costs as a local one, the server's
price overrides, spills of its own while the server is away, and exactly-once delivery through
server crashes."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import openai
import polars as pl
import pytest

import analytics
from ingest import Tracker, instrument, schema as s
from ingest.lake import Lake
from ingest.tracker import default_spill_dir
from spendlake import keys, usecases
from tests.ingest.test_instrument import replay
from tests.server.server import free_port, running, start, stop

WORKER = Path(__file__).with_name("remote_worker.py")


@pytest.fixture
def served(tmp_path, monkeypatch):
    lake = Lake(tmp_path / "lake")
    token = keys.create(lake, "ingest", "ingest")
    monkeypatch.setenv("SPENDLAKE_SPILL", str(tmp_path / "spill"))
    with running(lake.root) as url:
        yield lake, url, token


def test_a_remote_tracker_prices_at_once_and_the_server_agrees(served):
    lake, url, token = served
    with Tracker(lake.root) as local:
        expected = local.book.rates_for("openai", "gpt-4o", None, __import__("datetime").datetime.now(
            __import__("datetime").UTC))
    with Tracker(url, api_key=token) as tracker:
        with tracker.job("video-1", project="shorts"), tracker.stage("script"):
            cost = tracker.log(provider="openai", model="gpt-4o", input_tokens=1200, output_tokens=300)
            reported = tracker.log(provider="elevenlabs", model="eleven_v3", service="tts", characters=100,
                                   cost_usd=0.5)
    assert expected is not None and cost == pytest.approx(0.006)
    events = analytics.scan(lake).sort(s.COST).collect()
    assert events[s.COST].to_list() == pytest.approx([cost, reported])
    assert events[s.COST_SOURCE].to_list() == ["computed", "reported"]
    assert set(events[s.JOB_ID]) == {"video-1"} and set(events[s.STAGE]) == {"script"}


def test_the_servers_overrides_price_the_remote_tracker(served):
    lake, url, token = served
    usecases.add_override(lake, "acme", "voice-1", "character", "0.002")
    with Tracker(url, api_key=token) as tracker:
        cost = tracker.log(provider="acme", model="voice-1", service="tts", characters=1000)
    assert cost == pytest.approx(2.0)
    assert analytics.scan(lake).select(s.COST).collect().item() == pytest.approx(2.0)


def test_instrument_works_unchanged_on_a_remote_tracker(served, monkeypatch):
    lake, url, token = served
    monkeypatch.setenv("SPENDLAKE_URL", url)
    monkeypatch.setenv("SPENDLAKE_API_KEY", token)
    http = httpx2.Client(transport=httpx2.MockTransport(replay((200, "openai-chat.json"))))
    with Tracker() as tracker:
        client = instrument(openai.OpenAI(api_key="sk-test", http_client=http), tracker)
        with tracker.job("order-77", project="support"):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "When?"}])
    [event] = analytics.scan(lake).collect().to_dicts()
    assert (event[s.EVENT_ID], event[s.JOB_ID], event[s.INPUT_TOKENS]) == ("openai:chatcmpl-CeA1b2", "order-77", 476)


def test_while_the_server_is_away_batches_spill_to_its_own_folder_then_go(tmp_path, monkeypatch):
    lake = Lake(tmp_path / "lake")
    token = keys.create(lake, "ingest", "ingest")
    monkeypatch.setenv("SPENDLAKE_SPILL", str(tmp_path / "spill"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process, _ = start(lake.root, port=port)
    tracker = Tracker(url, api_key=token, max_age=3600)
    tracker.remote.attempts, tracker.remote.backoff = 3, 0.05  # give up fast: this test is about the spill
    stop(process)
    for i in range(5):
        tracker.log(provider="openai", model="gpt-4o", input_tokens=10, event_id=f"away-{i}")
    assert tracker.flush() == 0
    [spilled] = default_spill_dir(url).glob("spill-*.parquet")
    assert default_spill_dir(url) != default_spill_dir(lake) and pl.read_parquet(spilled).height == 5
    process, _ = start(lake.root, port=port)
    try:
        tracker.log(provider="openai", model="gpt-4o", input_tokens=10, event_id="back-0")
        assert tracker.flush() == 6  # the new batch, then the spilled one
        tracker.close()
    finally:
        stop(process)
    assert sorted(analytics.scan(lake).collect()[s.EVENT_ID]) == ["away-0", "away-1", "away-2", "away-3",
                                                                    "away-4", "back-0"]
    assert not list(default_spill_dir(url).glob("*.parquet"))


def test_a_bad_key_is_refused_at_once_and_the_events_are_kept(served, caplog):
    lake, url, _ = served
    tracker = Tracker(url, api_key="slk_000000000000_" + "x" * 43)
    tracker.log(provider="openai", model="gpt-4o", input_tokens=10)
    assert tracker.flush() == 0 and "401" in caplog.text and "unknown or revoked" in caplog.text
    assert len(list(tracker.spill_dir.glob("spill-*.parquet"))) == 1  # kept, to send once the key is fixed
    tracker.close()


def test_eight_clients_through_two_server_crashes_land_every_event_once(tmp_path):
    """8 processes × 50,000 events through remote Trackers; the server is SIGKILLed and restarted twice."""
    lake = Lake(tmp_path / "lake")
    token = keys.create(lake, "ingest", "ingest")
    port, n, clients = free_port(), 50_000, 8
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SPENDLAKE_API_KEY": token, "SPENDLAKE_SPILL": str(tmp_path / "spill")}
    process, _ = start(lake.root, port=port)
    workers = [subprocess.Popen([sys.executable, str(WORKER), url, f"w{i}", str(n)], env=env, cwd=WORKER.parents[2],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(clients)]
    try:
        for _ in range(2):
            time.sleep(4)
            process.send_signal(signal.SIGKILL)  # mid-flow: requests in flight are never answered
            process.wait()
            time.sleep(1)
            process, _ = start(lake.root, port=port)
        results = [w.communicate(timeout=600) for w in workers]
    finally:
        for w in workers:
            w.kill()
        stop(process)
    for w, (out, err) in zip(workers, results):
        assert w.returncode == 0 and "closed" in out, err[-2000:]
    retried = sum(int(out.split("retried ")[1]) for out, _ in results)
    assert retried > 0, [out for out, _ in results]  # the crashes caught clients sending
    print(*[out.strip() for out, _ in results], sep="\n")
    counts = analytics.scan(lake).group_by(s.PROJECT).agg(pl.len(), pl.col(s.EVENT_ID).n_unique().alias("ids"))
    counts = counts.sort(s.PROJECT).collect()
    assert counts.rows() == [(f"w{i}", n, n) for i in range(clients)]
    assert not list((tmp_path / "spill").rglob("spill-*.parquet"))
    # the rollups' sums, folded by the server's own thread (killed twice mid-run), still say what the events say
    rolled = analytics.daily(lake).select(pl.col("calls").sum(), pl.col(s.COST).sum()).collect().row(0)
    raw = analytics.scan(lake).select(pl.len(), pl.col(s.COST).sum()).collect().row(0)
    assert rolled[0] == raw[0] == clients * n and rolled[1] == pytest.approx(raw[1], rel=1e-9)


@pytest.mark.filterwarnings("ignore::ingest.budget_guard.BudgetWarning")
def test_a_remote_tracker_enforces_the_servers_budgets_and_confirmations_are_audited_there(served):
    from analytics.budgets import Budget
    from ingest import BudgetExceeded, audit
    lake, url, token = served
    usecases.save_budget(lake, Budget("cap", limit_usd=1.0, scope="project", value="shorts", enforcement="hard_stop"))
    usecases.save_budget(lake, Budget("ask", limit_usd=1.0, scope="project", value="ads",
                                      enforcement="require_confirmation"))
    narrow = keys.create(lake, "ads-only", "ingest", projects=["ads"])
    with Tracker(url, api_key=token, project="shorts", budget_refresh=0.2) as tracker:
        tracker.log(provider="openai", model="gpt-4o", cost_usd=0.7)
        tracker.flush()
        with Tracker(url, api_key=token, project="shorts", budget_refresh=0.2) as other:  # sees the server's $0.70
            with pytest.raises(BudgetExceeded, match=r"\$0\.70 spent of \$1\.00"):
                other.guard(provider="openai", model="gpt-4o", estimated_cost=0.5)
    with Tracker(url, api_key=narrow, project="ads") as tracker:
        tracker.log(provider="openai", model="gpt-4o", cost_usd=0.9)
        with tracker.confirmed(reason="campaign launch"):
            tracker.guard(provider="openai", model="gpt-4o", estimated_cost=0.2)
    with httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {narrow}"}) as http:
        assert [b["name"] for b in http.get("/v1/budgets/spent").json()] == ["ask"]  # its project's only
        assert http.post("/v1/audit", json={"subject": "cap", "reason": "x", "limit_usd": 1, "call_usd": 1,
                                            "call": {"project": "shorts"}}).status_code == 403
    entries = [e for e in audit.read(lake) if e["action"] == "confirmed_call"]
    assert [(e["action"], e["subject"], e["who"], e["reason"]) for e in entries] == [
        ("confirmed_call", "ask", "key:ads-only", "campaign launch")]


@pytest.mark.filterwarnings("ignore::ingest.budget_guard.BudgetWarning")
def test_a_server_that_goes_away_leaves_the_last_budget_state_in_force(tmp_path, monkeypatch, caplog):
    """Enforcement fails open on the server's absence, never on a budget it already knows is spent."""
    from analytics.budgets import Budget
    from ingest import BudgetExceeded
    lake = Lake(tmp_path / "lake")
    token = keys.create(lake, "ingest", "ingest")
    monkeypatch.setenv("SPENDLAKE_SPILL", str(tmp_path / "spill"))
    usecases.save_budget(lake, Budget("cap", limit_usd=1.0, scope="project", value="shorts", enforcement="hard_stop"))
    process, url = start(lake.root)
    with Tracker(url, api_key=token, project="shorts", budget_refresh=0.2) as tracker:
        tracker.log(provider="openai", model="gpt-4o", cost_usd=0.7)
        tracker.flush()
        process.send_signal(signal.SIGKILL)  # the server dies
        process.wait()
        deadline = time.monotonic() + 30
        while "could not read the budgets" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.1)  # the flusher tried to read the state again, and could not
        assert "could not read the budgets" in caplog.text
        started = time.monotonic()
        assert tracker.guard(provider="openai", model="gpt-4o", estimated_cost=0.2) == 0.2  # $0.90: allowed
        with pytest.raises(BudgetExceeded, match=r"\$0\.70 spent of \$1\.00"):  # still known to be spent
            tracker.guard(provider="openai", model="gpt-4o", estimated_cost=0.5)
        assert time.monotonic() - started < 1  # a guard never waits for the server


@pytest.mark.filterwarnings("ignore::ingest.budget_guard.BudgetWarning")
def test_a_remote_tracker_stops_at_a_yen_budget_of_the_server(served):
    """A budget in yen on the server: the remote Tracker reads its spend in yen and today's rate
    (GET /v1/budgets/spent) and takes a call's dollars at that rate, as a local one does."""
    from analytics.budgets import Budget, per_usd
    from ingest import BudgetExceeded, fx
    lake, url, token = served
    rate = per_usd(Budget("x", 1.0, currency="JPY"), dt.datetime.now(dt.UTC).date(), fx.rates(lake))
    usecases.save_budget(lake, Budget("yen", limit_usd=200.0, enforcement="hard_stop", currency="JPY"))
    with Tracker(url, api_key=token, project="shorts", budget_refresh=0.2) as tracker:
        tracker.log(provider="openai", model="gpt-4o", cost_usd=100 / rate)  # ¥100 of the ¥200
        tracker.flush()
        with Tracker(url, api_key=token, project="shorts", budget_refresh=0.2) as other:  # the server's ¥100
            other.guard(provider="openai", model="gpt-4o", estimated_cost=90 / rate)  # to ¥190: allowed
            with pytest.raises(BudgetExceeded, match=r"¥100 spent of ¥200") as stopped:
                other.guard(provider="openai", model="gpt-4o", estimated_cost=110 / rate)  # to ¥210: stopped
    assert stopped.value.currency == "JPY" and stopped.value.call_usd == pytest.approx(110 / rate)
