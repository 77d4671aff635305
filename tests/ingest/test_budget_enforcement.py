"""Budgets enforced where the money is spent: a pipeline stops before the call that would pass a
hard stop (the transport never sees it), a confirmation lets a call past and is audited, warnings
come once per threshold, and another process's spending is seen within the refresh."""

from __future__ import annotations

import datetime as dt
import time
import warnings

import httpx2
import openai
import pytest
from genai_prices import Usage, calc_price

from analytics.budgets import Budget
from ingest import BudgetExceeded, ConfirmationRequired, Tracker, audit, instrument
from ingest.budget_guard import BudgetWarning
from ingest.instrument import worst_case
from spendlake import usecases

pytestmark = pytest.mark.filterwarnings("ignore::ingest.budget_guard.BudgetWarning")  # asserted where they matter
PROMPT = [{"role": "user", "content": "Write a two-line poem about budgets."}]


def price(**usage) -> float:
    return float(calc_price(Usage(**usage), "gpt-4o", provider_id="openai",
                            genai_request_timestamp=dt.datetime.now(dt.UTC)).total_price)


def chat_transport(seen: list, *, prompt_tokens: int, completion_tokens: int) -> httpx2.MockTransport:
    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={
            "id": f"chatcmpl-{len(seen)}", "object": "chat.completion", "created": 1772409600, "model": "gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}})
    return httpx2.MockTransport(answer)


def budget(lake, **fields) -> Budget:
    found = Budget(**{"name": "cap", "limit_usd": 0.005, "scope": "project", "value": "shorts",
                      "enforcement": "hard_stop", **fields})
    usecases.save_budget(lake, found)
    return found


def test_a_pipeline_stops_before_the_call_that_would_pass_a_hard_stop(lake):
    budget(lake)
    worst = worst_case({"messages": PROMPT, "max_tokens": 100})
    seen: list = []
    # each reply uses what the request allowed, so five calls of $0.00102… pass $0.005 on the fifth
    http = httpx2.Client(transport=chat_transport(seen, prompt_tokens=worst["input_tokens"], completion_tokens=100))
    with Tracker(lake) as tracker:
        client = instrument(openai.OpenAI(api_key="sk-test", http_client=http), tracker)
        calls = 0
        with tracker.job("video-1", project="shorts"), pytest.raises(BudgetExceeded) as stopped:
            for _ in range(10):
                client.chat.completions.create(model="gpt-4o", messages=PROMPT, max_tokens=100)
                calls += 1
    each = price(input_tokens=worst["input_tokens"], output_tokens=100)
    assert calls == len(seen) == 4  # the fifth request was never sent
    assert 4 * each <= 0.005 < 5 * each
    error = stopped.value
    assert (error.budget, error.limit_usd) == ("cap", 0.005)
    assert error.spent_usd == pytest.approx(4 * each, rel=1e-12) and error.call_usd == pytest.approx(each, rel=1e-12)
    assert str(error).startswith(f"budget 'cap' (hard_stop, monthly from {dt.datetime.now(dt.UTC).date().replace(day=1)}): ${4 * each:.3g} spent of $0.005")


def test_other_projects_and_disabled_trackers_are_not_stopped(lake):
    budget(lake, limit_usd=0.001)
    with Tracker(lake, project="research") as tracker:  # not the budget's project
        assert tracker.guard(provider="openai", model="gpt-4o", estimated_cost=5.0) == 5.0
    with Tracker(lake, project="shorts", enforce=False) as tracker:
        assert tracker.guard(provider="openai", model="gpt-4o", estimated_cost=5.0) == 5.0
    with Tracker(lake, project="shorts") as tracker, pytest.raises(BudgetExceeded):
        tracker.guard(provider="openai", model="gpt-4o", estimated_cost=5.0)


def test_a_tag_budget_and_a_model_budget_match_by_attribution(lake):
    usecases.save_budget(lake, Budget("team-a", limit_usd=1, scope="tag", value="team=a", enforcement="hard_stop"))
    usecases.save_budget(lake, Budget("opus", limit_usd=1, scope="model", value="claude-opus-4-1",
                                      enforcement="hard_stop"))
    with Tracker(lake) as tracker:
        tracker.guard(provider="openai", model="gpt-4o", estimated_cost=2.0, tags={"team": "b"})
        with pytest.raises(BudgetExceeded, match="team-a"):
            tracker.guard(provider="openai", model="gpt-4o", estimated_cost=2.0, tags={"team": "a"})
        with pytest.raises(BudgetExceeded, match="opus"):
            tracker.guard(provider="anthropic", model="claude-opus-4-1", estimated_cost=2.0)


def test_tokens_are_priced_at_the_models_price_when_no_cost_is_given(lake):
    budget(lake, limit_usd=1.0)
    with Tracker(lake, project="shorts") as tracker:
        judged = tracker.guard(provider="openai", model="gpt-4o", input_tokens=100_000, output_tokens=50_000)
        assert judged == pytest.approx(price(input_tokens=100_000, output_tokens=50_000), rel=1e-12)
        with pytest.raises(BudgetExceeded):  # $0.75 each: the second pair would pass $1
            tracker.log(provider="openai", model="gpt-4o", input_tokens=100_000, output_tokens=50_000)
            tracker.guard(provider="openai", model="gpt-4o", input_tokens=100_000, output_tokens=50_000)


def test_confirmation_lets_a_call_past_and_is_audited(lake):
    budget(lake, enforcement="require_confirmation", limit_usd=1.0)
    with Tracker(lake, project="shorts") as tracker:
        tracker.log(provider="openai", model="gpt-4o", cost_usd=0.9)
        with pytest.raises(ConfirmationRequired, match="confirmed"):
            tracker.guard(provider="openai", model="gpt-4o", estimated_cost=0.2)
        with tracker.confirmed(reason="launch-day rerun"):
            tracker.guard(provider="openai", model="gpt-4o", estimated_cost=0.2)
    entries = [e for e in audit.read(lake) if e["action"] == "confirmed_call"]
    assert len(entries) == 1
    entry = entries[0]
    assert (entry["action"], entry["subject"], entry["reason"]) == ("confirmed_call", "cap", "launch-day rerun")
    assert entry["who"].startswith("os:") and entry["call"]["project"] == "shorts"
    assert entry["before"]["spent_usd"] == pytest.approx(0.9) and entry["after"]["spent_usd"] == pytest.approx(1.1)


def test_a_hard_stop_is_not_passed_by_confirming(lake):
    budget(lake, limit_usd=1.0)
    with Tracker(lake, project="shorts") as tracker, tracker.confirmed(reason="please"):
        with pytest.raises(BudgetExceeded) as stopped:
            tracker.guard(provider="openai", model="gpt-4o", estimated_cost=2.0)
    assert type(stopped.value) is BudgetExceeded
    assert [e for e in audit.read(lake) if e["action"] == "confirmed_call"] == []


def test_warnings_come_once_per_threshold_and_period(lake):
    budget(lake, enforcement="warn", limit_usd=1.0, thresholds=(0.5, 0.8))
    with Tracker(lake, project="shorts") as tracker, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(12):  # $0.1 a call: 50 %, 80 % and the limit are each reached once
            tracker.guard(provider="openai", model="gpt-4o", estimated_cost=0.1)
            tracker.log(provider="openai", model="gpt-4o", cost_usd=0.1)
    said = [str(w.message) for w in caught if issubclass(w.category, BudgetWarning)]
    assert [m.split(" at ")[1].split("%")[0] for m in said] == ["50", "80", "100"]


def test_another_process_spending_is_seen_within_the_refresh(lake):
    budget(lake, limit_usd=1.0)
    with Tracker(lake, project="shorts", budget_refresh=0.2) as watcher:
        watcher.guard(provider="openai", model="gpt-4o", estimated_cost=0.5)
        with Tracker(lake, project="shorts", budget_refresh=0.2) as spender:
            spender.log(provider="openai", model="gpt-4o", cost_usd=0.8)
            deadline = time.monotonic() + 30
            with pytest.raises(BudgetExceeded, match=r"\$0\.80 spent"):
                while time.monotonic() < deadline:  # the spender sends within 0.1 s, the watcher reads within 0.1 s
                    watcher.guard(provider="openai", model="gpt-4o", estimated_cost=0.5)
                    time.sleep(0.02)


def test_a_budget_added_later_is_enforced_and_a_raised_limit_lets_calls_go_on(lake, monkeypatch):
    monkeypatch.setattr("ingest.budget_guard.IDLE_REFRESH", 0.1)
    with Tracker(lake, project="shorts", budget_refresh=0.2) as tracker:
        tracker.log(provider="openai", model="gpt-4o", cost_usd=0.9)
        tracker.guard(provider="openai", model="gpt-4o", estimated_cost=0.5)  # no budget yet
        budget(lake, limit_usd=1.0)
        _until(lambda: tracker.guard(provider="openai", model="gpt-4o", estimated_cost=0.5), raises=BudgetExceeded)
        budget(lake, limit_usd=2.0)
        _until(lambda: tracker.guard(provider="openai", model="gpt-4o", estimated_cost=0.5), raises=None)


def _until(call, *, raises: type[Exception] | None, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            call()
            outcome = None
        except BudgetExceeded as e:
            outcome = type(e)
        if outcome is raises or time.monotonic() > deadline:
            assert outcome is raises
            return
        time.sleep(0.02)
