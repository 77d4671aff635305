import datetime as dt
import random
from decimal import Decimal

import polars as pl
import pytest
from genai_prices import Usage, calc_price, data_snapshot
from genai_prices.types import ModelPrice
from hypothesis import given, settings, strategies as st

from ingest import schema as s
from ingest.errors import PricingError
from ingest.price_rules import PriceRule, add_override, read_rules
from ingest.pricing import PriceBook


def priced(book, rows):
    frame = pl.DataFrame(rows)
    checked = s.validate(frame, now=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))  # prices of dates to come too
    assert checked.rejected.height == 0, checked.rejected
    return book.price(checked.events)


def llm_models():
    """(provider, model) pairs genai-prices can price from our token columns, across providers."""
    pairs = []
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            prices = [model.prices] if isinstance(model.prices, ModelPrice) else [c.prices for c in model.prices]
            keys = {k for p in prices for k, v in p.__dict__.items() if v is not None}
            if "input_mtok" in keys and "output_mtok" in keys and keys <= {
                    "input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok",
                    "output_reasoning_mtok", "requests_kcount", "web_searches_kcount"}:
                pairs.append((provider.id, model.id))
    return pairs


def test_costs_equal_genai_prices_calc_price_on_10000_random_events(book):
    rng = random.Random(20261123)
    models = llm_models()
    sample = rng.sample(models, 120)
    rows, expected = [], []
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    while len(rows) < 10_000:
        provider, model = rng.choice(sample)
        ts = start + dt.timedelta(seconds=rng.randrange(int(3 * 365.25 * 86400)))
        cache_read = rng.choice([0, 0, rng.randrange(200_000)])
        cache_write = rng.choice([0, 0, rng.randrange(50_000)])
        write_1h = rng.choice([0, cache_write // 2, cache_write])
        output = rng.randrange(1, 20_000)
        reasoning = rng.choice([0, output // 3])
        base = rng.choice([rng.randrange(10_000), rng.randrange(400_000)])  # some cross 200k/272k tiers
        usage = Usage(input_tokens=base + cache_read + cache_write, cache_read_tokens=cache_read,
                      cache_write_tokens=cache_write, cache_write_1h_tokens=write_1h, output_tokens=output,
                      output_reasoning_tokens=reasoning)
        try:
            reference = calc_price(usage, model, provider_id=provider, genai_request_timestamp=ts).total_price
        except (LookupError, ValueError):
            continue
        rows.append({"ts": ts, "provider": provider, "model": model, "service": "llm", "input_tokens": base,
                     "cache_read_tokens": cache_read, "cache_write_tokens": cache_write,
                     "cache_write_1h_tokens": write_1h, "output_tokens": output, "reasoning_tokens": reasoning})
        expected.append(float(reference))
    out = priced(book, rows)
    assert out[s.COST_SOURCE].unique().to_list() == ["computed"]
    assert out.select(pl.struct(s.PROVIDER, s.MODEL).n_unique()).item() >= 50
    gap = (out[s.COST] - pl.Series(expected)).abs().max()
    assert gap < 1e-9


def test_historic_prices_follow_the_event_timestamp(book):
    # a model whose price changed: each event is priced at its own date
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            if not isinstance(model.prices, ModelPrice) and len(model.prices) > 1 and model.prices[1].constraint \
                    and type(model.prices[1].constraint).__name__ == "StartDateConstraint":
                change = model.prices[1].constraint.start_date
                days = [change - dt.timedelta(days=1), change]
                rows = [{"ts": dt.datetime.combine(d, dt.time(12), dt.UTC), "provider": provider.id,
                         "model": model.id, "service": "llm", "input_tokens": 1_000_000, "output_tokens": 0}
                        for d in days]
                out = priced(book, rows)
                expected = [float(calc_price(Usage(input_tokens=1_000_000), model.id, provider_id=provider.id,
                                             genai_request_timestamp=r["ts"]).total_price) for r in rows]
                if expected[0] != expected[1]:
                    assert out[s.COST].to_list() == pytest.approx(expected, abs=1e-12)
                    return
    pytest.fail("no model with a dated price change found in genai-prices")


def test_one_hour_cache_writes_have_their_own_rate(book):
    row = {"ts": "2026-01-05T10:00:00Z", "provider": "anthropic", "model": "claude-sonnet-4-5", "service": "llm",
           "cache_write_tokens": 100_000}
    five_minute, one_hour = priced(book, [row, {**row, "cache_write_1h_tokens": 100_000}])[s.COST]
    assert (five_minute, one_hour) == (pytest.approx(0.375), pytest.approx(0.6))


def test_crossing_a_tier_moves_all_tokens_to_the_higher_rate(book):
    row = {"ts": "2026-01-05T10:00:00Z", "provider": "anthropic", "model": "claude-sonnet-4-5", "service": "llm"}
    below, above = priced(book, [{**row, "input_tokens": 200_000}, {**row, "input_tokens": 200_001}])[s.COST]
    assert below == pytest.approx(200_000 * 3 / 1e6)
    assert above == pytest.approx(200_001 * 6 / 1e6)


def test_unknown_models_stay_unpriced_never_zero(book):
    out = priced(book, [{"ts": "2026-01-05T10:00:00Z", "provider": "openai", "model": "gpt-imaginary-9",
                         "service": "llm", "input_tokens": 10}])
    assert out.row(0, named=True)[s.COST] is None
    assert out[s.COST_SOURCE].item() == "unpriced"


def test_units_without_a_price_make_the_event_unpriced(book):
    out = priced(book, [{"ts": "2026-01-05T10:00:00Z", "provider": "openai", "model": "gpt-4o",
                         "service": "llm", "input_tokens": 10, "images": 2}])
    assert out[s.COST_SOURCE].item() == "unpriced"


def test_reported_costs_are_kept_beside_the_computed_one(book):
    out = priced(book, [{"ts": "2026-01-05T10:00:00Z", "provider": "openai", "model": "gpt-4o", "service": "llm",
                         "input_tokens": 1_000_000, "cost_usd": 3.0}]).row(0, named=True)
    assert (out[s.COST], out[s.COMPUTED_COST], out[s.COST_SOURCE]) == (3.0, pytest.approx(2.5), "reported")


def test_catalog_prices_non_token_units(book):
    rules = {(r.provider, r.model, r.unit): r for r in book.catalog}
    out = priced(book, [
        {"ts": "2026-01-05T10:00:00Z", "provider": "elevenlabs", "model": "eleven_multilingual_v2", "service": "tts",
         "characters": 2500},
        {"ts": "2026-01-05T10:00:00Z", "provider": "openai", "model": "dall-e-3", "service": "image", "images": 3},
        {"ts": "2026-01-05T10:00:00Z", "provider": "modal", "model": "gpu-a100-40gb", "service": "compute",
         "compute_seconds": 90.0},
        {"ts": "2026-01-05T10:00:00Z", "provider": "twilio", "model": "sms-us", "service": "messaging",
         "quantity": 4.0, "unit": "message"},
    ])
    expected = [2500 * rules["elevenlabs", "eleven_multilingual_v2", "character"].rate,
                3 * rules["openai", "dall-e-3", "image"].rate,
                90 * rules["modal", "gpu-a100-40gb", "compute_second"].rate,
                4 * rules["twilio", "sms-us", "message"].rate]
    assert out[s.COST].to_list() == pytest.approx(expected, rel=1e-15)


def test_every_catalog_row_has_a_source_and_effective_date(book):
    assert len(book.catalog) >= 30
    assert all(r.source_url.startswith("https://") and r.effective_from for r in book.catalog)
    services = {r.unit for r in book.catalog}
    assert {"character", "image", "audio_second", "compute_second", "message"} <= services


def test_overrides_win_from_their_start_date(tmp_path):
    path = tmp_path / "overrides.csv"
    add_override(path, PriceRule("openai", "gpt-4o", "input_token", Decimal("2"), Decimal("1000000"),
                            dt.date(2026, 1, 10), None))
    book = PriceBook.load(path)
    rows = [{"ts": f"2026-01-{d}T10:00:00Z", "provider": "openai", "model": "gpt-4o", "service": "llm",
             "input_tokens": 1_000_000} for d in ("09", "10")]
    before, after = priced(book, rows)[s.COST]
    assert (before, after) == (pytest.approx(2.5), pytest.approx(2.0))
    assert "override:" in priced(book, rows[1:])[s.PRICE_VERSION].item()


def test_invalid_price_rules_name_the_line_and_field(tmp_path):
    path = tmp_path / "overrides.csv"
    path.write_text("provider,model,unit,price,per,effective_from,effective_to,source_url\n"
                    "openai,gpt-4o,input_token,-1,1,2026-01-01,,\n")
    with pytest.raises(PricingError, match="overrides.csv line 2: price=-1 must be a finite number ≥ 0"):
        read_rules(path)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 100_000), st.integers(0, 100_000), st.integers(0, 50_000), st.integers(1, 5))
def test_pricing_is_linear_in_tokens_below_tiers(input_tokens, output_tokens, cache_read, factor):
    book = PriceBook.load()
    row = {"ts": "2026-01-05T10:00:00Z", "provider": "anthropic", "model": "claude-haiku-4-5", "service": "llm"}
    usage = {"input_tokens": input_tokens, "output_tokens": output_tokens, "cache_read_tokens": cache_read}
    one, scaled = priced(book, [{**row, **usage}, {**row, **{k: v * factor for k, v in usage.items()}}])[s.COST]
    assert scaled == pytest.approx(one * factor, rel=1e-12, abs=1e-15)


def test_time_of_day_prices_follow_the_event_time(book):
    # DeepSeek's off-peak window: the same call costs differently by the half hour
    times = [dt.datetime(2025, 6, 1, h, m, tzinfo=dt.UTC) for h, m in ((0, 29), (0, 30), (16, 29), (16, 30))]
    rows = [{"ts": t, "provider": "deepseek", "model": "deepseek-chat", "service": "llm",
             "input_tokens": 1_000_000, "output_tokens": 1_000_000} for t in times]
    expected = [float(calc_price(Usage(input_tokens=1_000_000, output_tokens=1_000_000), "deepseek-chat",
                                 provider_id="deepseek", genai_request_timestamp=t).total_price) for t in times]
    assert len(set(expected)) == 2
    assert priced(book, rows)[s.COST].to_list() == pytest.approx(expected, rel=1e-15)


def test_an_event_summing_many_requests_takes_its_tier_from_the_input_of_one(book):
    """Tiers apply per request: a day's usage over 200k input tokens made of small requests stays at the base rate."""
    day = {"ts": "2026-03-02T00:00:00Z", "provider": "anthropic", "model": "claude-sonnet-4-5", "service": "llm",
           "input_tokens": 300_000, "output_tokens": 1_000}
    summed, single = priced(book, [day | {"tags": '{"tier_input": 3000}'}, day])[s.COST].to_list()
    base = calc_price(Usage(input_tokens=3_000, output_tokens=10), "claude-sonnet-4-5", provider_id="anthropic")
    tiered = calc_price(Usage(input_tokens=300_000, output_tokens=1_000), "claude-sonnet-4-5", provider_id="anthropic")
    assert summed == pytest.approx(100 * float(base.total_price), rel=1e-12)
    assert single == pytest.approx(float(tiered.total_price), rel=1e-12) and single > summed


def test_a_book_that_priced_other_batches_prices_the_next_as_a_fresh_book_does():
    """The book keeps every key it priced (days, models, half hours): batches that share some keys
    and add others, from several threads at once, cost what a fresh book says, row for row."""
    from concurrent.futures import ThreadPoolExecutor
    rng = random.Random(7)
    models = [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"), ("deepseek", "deepseek-chat"),
              ("openai", "no-such-model")]
    start = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)

    def batch(days: range) -> pl.DataFrame:
        rows = [{"ts": start + dt.timedelta(days=rng.choice(days), minutes=rng.randrange(1440)),
                 "provider": p, "model": m, "service": "llm", "input_tokens": rng.randrange(1, 300_000),
                 "output_tokens": rng.randrange(1, 4000)} for p, m in (rng.choice(models) for _ in range(300))]
        return s.validate(pl.DataFrame(rows), now=dt.datetime(2030, 1, 1, tzinfo=dt.UTC)).events

    batches = [batch(range(k * 5, k * 5 + 10)) for k in range(8)]  # each overlaps the next by 5 days
    shared = PriceBook.load()
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(shared.price, batches))
    for events, ours in zip(batches, got):
        assert ours.height == events.height
        fresh = PriceBook.load().price(events)
        assert ours.select(s.EVENT_ID, s.COST, s.PRICE_VERSION).equals(fresh.select(s.EVENT_ID, s.COST, s.PRICE_VERSION))
