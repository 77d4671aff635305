"""Optimization suggestions, each priced from the user's own usage through the price book.

For the last `days` days of events, each rule proposes a change, re-prices the affected
events as they would have been under it, and reports the monthly saving (scaled to 30
days), the quality trade-off in one sentence and the action:

- model_downgrade: the next cheaper model of the same family (same tokens);
- provider_switch: the cheapest comparable model of another provider (same tokens);
- prompt_caching: large inputs with a low cache hit rate, assuming half of each input
  becomes a cached prefix (`CACHEABLE_SHARE`);
- batch_api: LLM calls made by pipeline runs (they have a job id, so nobody waits on
  them) at the providers' 50 % batch discount;
- output_cap: operations whose long outputs cost most, capped at their own 75th percentile;
- failure_waste: what failed calls and retried attempts cost.

Examples:
    >>> ALTERNATIVES[("anthropic", "claude-opus-4-5")]
    [('anthropic', 'claude-sonnet-4-5')]
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from analytics.measures import FAILED_COST, measures
from ingest import schema as s
from ingest.pricing import PRICED_COLUMNS, PriceBook

MONTH_DAYS = 30
MIN_SAVINGS_USD = 1.0
MIN_SAVINGS_SHARE = 0.05
CACHEABLE_SHARE = 0.5
CACHE_MIN_INPUT = 1024       # providers cache prefixes of at least ~1,024 tokens
CACHE_LOW_HIT_RATE = 0.2
OUTPUT_CAP_QUANTILE = 0.75
BATCH_DISCOUNT = {  # share of the price saved by the batch APIs
    "openai": 0.5,     # https://platform.openai.com/docs/guides/batch
    "anthropic": 0.5,  # https://docs.anthropic.com/en/docs/build-with-claude/batch-processing
    "google": 0.5,     # https://ai.google.dev/gemini-api/docs/batch-mode
}
# same family, one step cheaper
ALTERNATIVES: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("anthropic", "claude-opus-4-5"): [("anthropic", "claude-sonnet-4-5")],
    ("anthropic", "claude-opus-4-1"): [("anthropic", "claude-sonnet-4-5")],
    ("anthropic", "claude-sonnet-4-5"): [("anthropic", "claude-haiku-4-5")],
    ("anthropic", "claude-sonnet-4"): [("anthropic", "claude-haiku-4-5")],
    ("openai", "gpt-4o"): [("openai", "gpt-4o-mini")],
    ("openai", "gpt-4.1"): [("openai", "gpt-4.1-mini")],
    ("openai", "gpt-4.1-mini"): [("openai", "gpt-4.1-nano")],
    ("google", "gemini-2.5-pro"): [("google", "gemini-2.5-flash")],
    ("google", "gemini-2.5-flash"): [("google", "gemini-2.5-flash-lite")],
}
# comparable models across providers (a tier each)
TIERS = [
    [("openai", "gpt-4o"), ("openai", "gpt-4.1"), ("anthropic", "claude-sonnet-4-5"), ("google", "gemini-2.5-pro")],
    [("openai", "gpt-4o-mini"), ("openai", "gpt-4.1-mini"), ("anthropic", "claude-haiku-4-5"),
     ("google", "gemini-2.5-flash")],
]
# what the rules read: the rest of an event's columns stays on disk
WINDOW_COLUMNS = (s.EVENT_ID, s.TS, s.PROVIDER, s.MODEL, s.SERVICE, s.UNIT, s.OPERATION, s.JOB_ID, s.SUCCESS,
                  s.RETRIES, s.COST, s.COMPUTED_COST, s.COST_SOURCE, *PRICED_COLUMNS)
COLUMNS = pl.Schema({"kind": pl.String, "scope": pl.String, "current_monthly_usd": pl.Float64,
                     "savings_monthly_usd": pl.Float64, "savings_pct": pl.Float64, "tradeoff": pl.String,
                     "action": pl.String})


def suggestions(events: pl.LazyFrame, book: PriceBook, *, today: dt.date | None = None, days: int = 30) -> pl.DataFrame:
    """Every suggestion worth at least $1 and 5 % of its scope a month, largest saving first."""
    today = today or dt.datetime.now(dt.UTC).date()
    start = today - dt.timedelta(days=days - 1)
    window = events.filter(pl.col(s.TS).dt.date().is_between(start, today)).select(WINDOW_COLUMNS).collect()
    scale = MONTH_DAYS / days
    llm = window.filter(pl.col(s.SERVICE) == "llm")
    rows = [*_model_changes(llm, book), *_caching(llm, book), *_batch(llm), *_output_cap(llm, book), *_failures(window)]
    found = pl.DataFrame(rows, schema=COLUMNS).with_columns(
        pl.col("current_monthly_usd") * scale, pl.col("savings_monthly_usd") * scale)
    return found.filter((pl.col("savings_monthly_usd") >= MIN_SAVINGS_USD) & (pl.col("savings_pct") >= MIN_SAVINGS_SHARE)
                        ).sort("savings_monthly_usd", descending=True)


def reprice_as(events: pl.DataFrame, book: PriceBook, provider: str, model: str) -> float | None:
    """What these events would have cost on another model (None if it cannot price them all)."""
    return priced_total(events.with_columns(pl.lit(provider).alias(s.PROVIDER), pl.lit(model).alias(s.MODEL)), book)


def priced_total(events: pl.DataFrame, book: PriceBook) -> float | None:
    """The price book's total for these events as they are (None if any of them has no price)."""
    calls = events.select(s.EVENT_ID, s.TS, s.PROVIDER, s.MODEL, s.SERVICE, s.UNIT, *PRICED_COLUMNS)
    cost = book.price(pl.concat([pl.DataFrame(schema=s.POLARS_SCHEMA), calls], how="diagonal_relaxed"))[s.COMPUTED_COST]
    return None if cost.null_count() else float(cost.sum())


def _suggestion(kind: str, scope: str, current: float, saving: float, tradeoff: str, action: str) -> dict:
    return {"kind": kind, "scope": scope, "current_monthly_usd": current, "savings_monthly_usd": saving,
            "savings_pct": saving / current if current else 0.0, "tradeoff": tradeoff, "action": action}


def _computed(frame: pl.DataFrame) -> float:
    return float(frame[s.COMPUTED_COST].fill_null(0).sum())


def _model_changes(llm: pl.DataFrame, book: PriceBook) -> list[dict]:
    rows = []
    for (provider, model), used in llm.partition_by(s.PROVIDER, s.MODEL, as_dict=True).items():
        current = _computed(used)
        if current <= 0:
            continue
        for alt_provider, alt_model in ALTERNATIVES.get((provider, model), []):
            cost = reprice_as(used, book, alt_provider, alt_model)
            if cost is not None and cost < current:
                rows.append(_suggestion(
                    "model_downgrade", f"{provider}/{model}", current, current - cost,
                    f"{alt_model} is the smaller model of the family: less reliable on hard reasoning and long "
                    "instructions; check your evaluations first.",
                    f"route {model} calls to {alt_model} (start with the simplest operations)"))
        tier = next((t for t in TIERS if (provider, model) in t), [])
        others = [(cost, p, m) for p, m in tier if p != provider
                  for cost in [reprice_as(used, book, p, m)] if cost is not None and cost < current]
        if others:
            cost, p, m = min(others)
            rows.append(_suggestion(
                "provider_switch", f"{provider}/{model}", current, current - cost,
                f"{p}/{m} is a comparable model at a lower price for your token mix; outputs differ in style and "
                "tool-use behaviour.", f"try {p}/{m} for {model} traffic behind a flag and compare"))
    return rows


def _caching(llm: pl.DataFrame, book: PriceBook) -> list[dict]:
    rows = []
    for (provider, model, operation), used in llm.partition_by(s.PROVIDER, s.MODEL, s.OPERATION, as_dict=True).items():
        inputs = used[s.INPUT_TOKENS].sum() + used[s.CACHE_READ_TOKENS].sum() + used[s.CACHE_WRITE_TOKENS].sum()
        if not inputs or inputs / used.height < CACHE_MIN_INPUT or used[s.CACHE_READ_TOKENS].sum() / inputs >= CACHE_LOW_HIT_RATE:
            continue
        moved = (pl.col(s.INPUT_TOKENS) * CACHEABLE_SHARE).floor().cast(pl.Int64)
        cached = priced_total(used.with_columns((pl.col(s.CACHE_READ_TOKENS) + moved).alias(s.CACHE_READ_TOKENS),
                                                (pl.col(s.INPUT_TOKENS) - moved).alias(s.INPUT_TOKENS)), book)
        if cached is None:
            continue
        current = _computed(used)
        rows.append(_suggestion(
            "prompt_caching", f"{provider}/{model} {operation}", current, current - cached,
            "No quality change; it needs a stable prompt prefix (system prompt, tools, documents) and the first "
            "call in each cache window pays a write premium.",
            f"put the shared part of {operation} prompts first and enable prompt caching"))
    return rows


def _batch(llm: pl.DataFrame) -> list[dict]:
    rows = []
    offline = llm.filter(pl.col(s.JOB_ID).is_not_null() & pl.col(s.PROVIDER).is_in(list(BATCH_DISCOUNT)))
    for (provider, operation), used in offline.partition_by(s.PROVIDER, s.OPERATION, as_dict=True).items():
        current = _computed(used)
        rows.append(_suggestion(
            "batch_api", f"{provider} {operation}", current, current * BATCH_DISCOUNT[provider],
            "No quality change; results arrive within hours instead of seconds, so only for runs nobody waits on.",
            f"send {operation} requests of pipeline runs through the {provider} Batch API"))
    return rows


def _output_cap(llm: pl.DataFrame, book: PriceBook) -> list[dict]:
    rows = []
    for (provider, model, operation), used in llm.partition_by(s.PROVIDER, s.MODEL, s.OPERATION, as_dict=True).items():
        cap = used[s.OUTPUT_TOKENS].quantile(OUTPUT_CAP_QUANTILE)
        if not cap or used.height < 20:
            continue
        capped = priced_total(used.with_columns(
            pl.min_horizontal(s.OUTPUT_TOKENS, pl.lit(int(cap))).alias(s.OUTPUT_TOKENS),
            pl.min_horizontal(s.REASONING_TOKENS, pl.lit(int(cap))).alias(s.REASONING_TOKENS)), book)
        if capped is None:
            continue
        current = _computed(used)
        saving = current - capped
        rows.append(_suggestion(
            "output_cap", f"{provider}/{model} {operation}", current, saving,
            f"Answers longer than {int(cap):,} tokens (the longest quarter) get cut or must be asked to be concise.",
            f"ask for concise output and set max_tokens ≈ {int(cap):,} for {operation}"))
    return rows


def _failures(window: pl.DataFrame) -> list[dict]:
    rows = []
    frame = measures(window.lazy()).with_columns((pl.col(s.COST).fill_null(0) * pl.col(s.RETRIES)).alias("_retry"))
    per = frame.group_by(s.PROVIDER, s.MODEL).agg(pl.col(s.COST).sum(), pl.col(FAILED_COST).sum(),
                                                  pl.col("_retry").sum(), pl.col("failed_calls").sum()).collect()
    for r in per.iter_rows(named=True):
        waste = (r[FAILED_COST] or 0) + (r["_retry"] or 0)
        if waste and r[s.COST]:
            rows.append(_suggestion(
                "failure_waste", f"{r[s.PROVIDER]}/{r[s.MODEL]}", r[s.COST], waste,
                "No quality trade-off: failed calls and retried attempts are paid for and deliver nothing.",
                f"look at the {r['failed_calls']:,} failed calls (timeouts, invalid requests) and retry with backoff only "
                "on errors that can succeed"))
    return rows
