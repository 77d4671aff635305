"""Every suggestion's saving, recomputed independently (genai-prices' own calc_price, plain sums)."""

import datetime as dt
import json
import math
import random

import polars as pl
import pytest
from genai_prices import Usage, calc_price

import analytics
from analytics.optimize import BATCH_DISCOUNT, reprice_as, suggestions, usage
from ingest import schema as s

TODAY = dt.date(2026, 3, 31)
START = TODAY - dt.timedelta(days=29)


@pytest.fixture(scope="module")
def found(demo_lake, book):
    window = analytics.scan(demo_lake, start=START, end=TODAY).collect()
    return suggestions(analytics.scan(demo_lake), book, today=TODAY, days=30), window


def calc(rows: pl.DataFrame, provider: str | None = None, model: str | None = None, output_cap: int | None = None,
         cached_share: float = 0.0) -> float:
    total = 0.0
    for r in rows.iter_rows(named=True):
        output = min(r[s.OUTPUT_TOKENS], output_cap) if output_cap is not None else r[s.OUTPUT_TOKENS]
        moved = int(r[s.INPUT_TOKENS] * cached_share)
        usage = Usage(input_tokens=r[s.INPUT_TOKENS] + r[s.CACHE_READ_TOKENS] + r[s.CACHE_WRITE_TOKENS],
                      cache_read_tokens=r[s.CACHE_READ_TOKENS] + moved, cache_write_tokens=r[s.CACHE_WRITE_TOKENS],
                      output_tokens=output)
        total += float(calc_price(usage, model or r[s.MODEL], provider_id=provider or r[s.PROVIDER],
                                  genai_request_timestamp=r[s.TS]).total_price)
    return total


def two_digits_above(n: int) -> int:
    """The cap a 75th percentile of `n` output tokens gives: the next number of two significant digits."""
    step = 10 ** max(len(str(n)) - 2, 0)
    return (n // step + 1) * step


def test_the_demo_yields_at_least_three_kinds_each_with_a_tradeoff_and_action(found):
    result, _ = found
    assert result["kind"].n_unique() >= 3
    assert result.filter((pl.col("tradeoff").str.len_chars() < 20) | (pl.col("action").str.len_chars() < 10)).height == 0
    assert (result["savings_monthly_usd"] <= result["current_monthly_usd"]).all()
    assert result["savings_monthly_usd"].is_sorted(descending=True)


def test_model_changes_save_what_genai_prices_says(found):
    result, window = found
    for r in result.filter(pl.col("kind").is_in(["model_downgrade", "provider_switch"])).iter_rows(named=True):
        provider, model = r["scope"].split("/")
        target = r["action"].split(" to ")[-1].split(" ")[0] if r["kind"] == "model_downgrade" else \
            r["action"].removeprefix("try ").split(" ")[0]
        alt_provider, alt_model = (provider, target) if "/" not in target else target.split("/")
        used = window.filter((pl.col(s.PROVIDER) == provider) & (pl.col(s.MODEL) == model))
        now, then = calc(used), calc(used, alt_provider, alt_model)
        assert r["current_monthly_usd"] == pytest.approx(now, rel=1e-9)
        assert r["savings_monthly_usd"] == pytest.approx(now - then, rel=1e-9), r


def test_batch_caching_output_cap_and_failure_savings_add_up(found):
    result, window = found
    by_kind = {k: g for (k,), g in result.partition_by("kind", as_dict=True).items()}
    for r in by_kind["batch_api"].iter_rows(named=True):
        provider, operation = r["scope"].split(" ")
        offline = window.filter((pl.col(s.PROVIDER) == provider) & (pl.col(s.OPERATION) == operation)
                                & pl.col(s.JOB_ID).is_not_null() & (pl.col(s.SERVICE) == "llm"))
        assert r["savings_monthly_usd"] == pytest.approx(calc(offline) * BATCH_DISCOUNT[provider], rel=1e-9)
    for r in by_kind["output_cap"].iter_rows(named=True):
        name, operation = r["scope"].split(" ")
        provider, model = name.split("/")
        used = window.filter((pl.col(s.PROVIDER) == provider) & (pl.col(s.MODEL) == model)
                             & (pl.col(s.OPERATION) == operation) & (pl.col(s.SERVICE) == "llm"))
        cap = two_digits_above(sorted(used[s.OUTPUT_TOKENS])[math.ceil(0.75 * used.height) - 1])
        assert f"max_tokens ≈ {cap:,}" in r["action"]
        assert r["savings_monthly_usd"] == pytest.approx(calc(used) - calc(used, output_cap=cap), rel=1e-9)
    for r in by_kind["prompt_caching"].iter_rows(named=True):  # half of each input served from the cache
        name, operation = r["scope"].split(" ")
        provider, model = name.split("/")
        used = window.filter((pl.col(s.PROVIDER) == provider) & (pl.col(s.MODEL) == model)
                             & (pl.col(s.OPERATION) == operation) & (pl.col(s.SERVICE) == "llm"))
        assert r["savings_monthly_usd"] == pytest.approx(calc(used) - calc(used, cached_share=0.5), rel=1e-9)
    for r in by_kind["failure_waste"].iter_rows(named=True):
        provider, model = r["scope"].split("/", 1)
        used = window.filter((pl.col(s.PROVIDER) == provider) & (pl.col(s.MODEL) == model))
        waste = used.filter(~pl.col(s.SUCCESS))[s.COST].sum() + (used[s.COST] * used[s.RETRIES]).sum()
        assert r["savings_monthly_usd"] == pytest.approx(waste, rel=1e-9)


def test_summed_usage_prices_as_the_calls_one_by_one_across_tiers_time_of_day_and_request_fees(book):
    """The rules price `usage` sums; on any target model they must total what pricing each call does,
    including events that sum many requests (their tier is one request's input, in their tags)."""
    rng = random.Random(7)
    models = [("anthropic", "claude-sonnet-4-5"), ("google", "gemini-2.5-pro"), ("deepseek", "deepseek-chat"),
              ("perplexity", "sonar"), ("openai", "gpt-4o-mini")]
    rows = []
    for i in range(3_000):
        provider, model = rng.choice(models)
        rows.append({"event_id": f"e{i}", "provider": provider, "model": model, "service": "llm",
                     "operation": rng.choice(["chat", "summarize"]), "job_id": rng.choice([None, "run-1"]),
                     "ts": dt.datetime(2026, 3, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=rng.randrange(3 * 24 * 60)),
                     "input_tokens": rng.randrange(150_000, 260_000) if rng.random() < 0.3 else rng.randrange(5_000),
                     "cache_read_tokens": rng.choice([0, rng.randrange(60_000)]), "output_tokens": rng.randrange(4_000),
                     "success": rng.random() > 0.1, "retries": rng.choice([0, 0, 1]),
                     # a day of a usage report: many requests, each below the tiers
                     "tags": '{"tier_input": 4000}' if i % 97 == 0 else None})
    events = book.price(s.validate(pl.DataFrame(rows)).events)
    for targets in (models[:2] + models[3:], models):  # without, then with, a time-of-day target
        summed = usage(events.lazy(), book, targets=targets)
        assert summed["calls"].sum() == len(rows)
        for provider, model in targets:
            one_by_one = book.price(events.with_columns(pl.lit(provider).alias(s.PROVIDER), pl.lit(model).alias(s.MODEL)))
            assert reprice_as(summed, book, provider, model) == pytest.approx(one_by_one[s.COMPUTED_COST].sum(),
                                                                               rel=1e-12)
        assert reprice_as(summed, book, "openai", "no-such-model") is None


def test_older_models_get_their_successors_and_the_headline_touches_no_call_twice(book):
    """A lake of gpt-4 and claude-3-opus calls: before, zero suggestions."""
    rng = random.Random(5)
    rows = []
    for day in range(30):
        for i in range(40):
            provider, model = ("openai", "gpt-4-0613") if i % 2 else ("anthropic", "claude-3-opus-20240229")
            rows.append({s.EVENT_ID: f"old-{day}-{i}", s.PROVIDER: provider, s.MODEL: model, s.SERVICE: "llm",
                         s.TS: dt.datetime.combine(START + dt.timedelta(days=day), dt.time(9, i), dt.UTC),
                         s.INPUT_TOKENS: rng.randint(500, 3000), s.OUTPUT_TOKENS: rng.randint(100, 800),
                         s.OPERATION: "chat", s.JOB_ID: f"run-{day}"})
    events = book.price(s.validate(pl.DataFrame(rows)).events)
    result = suggestions(events.lazy(), book, today=TODAY, days=30)
    moves = result.filter(pl.col("kind") == "model_successor")
    assert set(moves["scope"]) == {"openai/gpt-4-0613", "anthropic/claude-3-opus-20240229"}
    for r in moves.iter_rows(named=True):
        provider, model = r["scope"].split("/")
        used = events.filter(pl.col(s.MODEL) == model)
        target = {"gpt-4-0613": "gpt-4o", "claude-3-opus-20240229": "claude-opus-4-5"}[model]
        assert r["action"] == f"move {model} calls to {target}"
        assert r["savings_monthly_usd"] == pytest.approx(calc(used) - calc(used, provider, target), rel=1e-9)
    headline = result.filter("headline")
    for model in ("gpt-4-0613", "claude-3-opus-20240229"):  # one way to move each model's calls is counted
        mine = headline.filter(pl.col("scope").str.contains(model, literal=True) & pl.col("kind").is_in(
            ["model_successor", "model_downgrade", "provider_switch"]))
        assert mine.height <= 1
    assert (result.filter(~pl.col("headline"))["instead_of"].is_not_null()).all()
    assert headline["savings_monthly_usd"].sum() <= events[s.COST].sum()


def test_messages_a_run_sends_apart_are_priced_as_one_message_per_run_and_day(book):
    """SMS billed per message (per 153-character part of a long one): a run's short updates sent as
    one message save the messages (parts) they no longer need; runs whose text is not known, or whose
    messages would need as many parts together, are left out. Oracle: the sums done by hand at the
    catalog's rate (twilio/sms-us $0.0083 a message)."""
    rng = random.Random(3)
    rows, i = [], 0
    for day in range(30):
        for run in range(12):
            kind = run % 3  # 0: short updates, 1: long texts (no saving), 2: one text of unknown length
            for step in range(rng.randint(2, 6)):
                text = rng.randint(20, 60) if kind == 0 else rng.randint(150, 160)
                rows.append({s.EVENT_ID: f"m{i}", s.PROVIDER: "twilio", s.MODEL: "sms-us", s.SERVICE: "messaging",
                             s.UNIT: "message", s.QUANTITY: 1.0, s.OPERATION: "notify", s.JOB_ID: f"run-{day}-{run}",
                             s.TAGS: None if kind == 2 and step == 0 else json.dumps({"characters": text}),
                             s.TS: dt.datetime.combine(START + dt.timedelta(days=day), dt.time(8, step), dt.UTC)})
                i += 1
        rows.append({s.EVENT_ID: f"m{i}", s.PROVIDER: "twilio", s.MODEL: "sms-us", s.SERVICE: "messaging",  # no run
                     s.UNIT: "message", s.QUANTITY: 1.0, s.OPERATION: "notify", s.TAGS: '{"characters": 30}',
                     s.TS: dt.datetime.combine(START + dt.timedelta(days=day), dt.time(9), dt.UTC)})
        i += 1
    events = book.price(s.validate(pl.DataFrame(rows)).events)
    assert events[s.COST].null_count() == 0
    saved = spent = 0.0
    for (_,), run in events.filter(pl.col(s.JOB_ID).is_not_null()).partition_by(s.JOB_ID, as_dict=True).items():
        lengths = [json.loads(t)["characters"] if t else None for t in run[s.TAGS]]
        if None in lengths or run.height < 2:
            continue
        parts = 1 if sum(lengths) <= 160 else math.ceil(sum(lengths) / 153)
        if run[s.QUANTITY].sum() > parts:
            saved += (run[s.QUANTITY].sum() - parts) * 0.0083
            spent += run[s.QUANTITY].sum() * 0.0083
    result = suggestions(events.lazy(), book, today=TODAY, days=30)
    found = result.filter(pl.col("kind") == "combine_messages")
    assert found.height == 1 and found["scope"][0] == "twilio/sms-us notify"
    assert found["savings_monthly_usd"][0] == pytest.approx(saved, rel=1e-9)
    assert found["current_monthly_usd"][0] == pytest.approx(spent, rel=1e-9)
