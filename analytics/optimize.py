"""Optimization suggestions, each priced from the user's own usage through the price book.

For the last `days` days of events, each rule proposes a change, re-prices the affected
events as they would have been under it, and reports the monthly saving (scaled to 30
days), the quality trade-off in one sentence and the action:

- model_successor: an older model's current successor at the same tier (gpt-4 → gpt-4o,
  claude-3-opus → claude-opus-4-5…), when it costs less for the same tokens;
- model_downgrade: the next cheaper model of the same family (same tokens);
- provider_switch: the cheapest comparable model of another provider (same tokens);
- prompt_caching: large inputs with a low cache hit rate, assuming half of each input
  becomes a cached prefix (`CACHEABLE_SHARE`);
- batch_api: LLM calls made by pipeline runs (they have a job id, so nobody waits on
  them) at the providers' 50 % batch discount;
- output_cap: operations whose long outputs cost most, capped at their own 75th percentile
  (rounded up to two significant digits);
- failure_waste: what failed calls and retried attempts cost;
- combine_messages: SMS and chat-app messages a run sends for one operation on one day, sent
  as one (billed per message or per part of a long SMS, so fewer cost less), where every
  message's length is known (tag `characters`).

Several ideas often touch the same calls (three ways to move one model's traffic, caching the
same prompts): `headline` marks the best set that touches no call twice, the greatest total
saving found greedily (largest first); the others are alternatives to it, and `instead_of`
names the headline suggestion each competes with. Only the headline rows add up.

The rules read the window once, summed by `usage` into rows that the price book prices as it
would price each call (`PriceBook.price_sums`), so repricing a month of calls on a dozen
alternatives costs milliseconds.

Examples:
    >>> ALTERNATIVES[("anthropic", "claude-opus-4-5")]
    [('anthropic', 'claude-sonnet-4-5')]
"""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from analytics.measures import CALLS, FAILED_CALLS, FAILED_COST, RETRY_COST
from ingest import schema as s
from ingest.llm_prices import tier_bounds
from ingest.pricing import EVENT_TIER_INPUT, PRICED_COLUMNS, SLOT_MINUTES, PriceBook, half_hour_of

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
# an older model → its current successor at the same tier (a dated snapshot, e.g. gpt-4-0613, counts as its model)
SUCCESSORS: dict[tuple[str, str], tuple[str, str]] = {
    ("openai", "gpt-4"): ("openai", "gpt-4o"),
    ("openai", "gpt-4-32k"): ("openai", "gpt-4o"),
    ("openai", "gpt-4-turbo"): ("openai", "gpt-4o"),
    ("openai", "gpt-4-turbo-preview"): ("openai", "gpt-4o"),
    ("openai", "gpt-3.5-turbo"): ("openai", "gpt-4o-mini"),
    ("openai", "gpt-3.5-turbo-16k"): ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-3-opus"): ("anthropic", "claude-opus-4-5"),
    ("anthropic", "claude-opus-4"): ("anthropic", "claude-opus-4-5"),
    ("anthropic", "claude-opus-4-1"): ("anthropic", "claude-opus-4-5"),
    ("anthropic", "claude-3-sonnet"): ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-3-5-sonnet"): ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-3-haiku"): ("anthropic", "claude-haiku-4-5"),
    ("anthropic", "claude-2.1"): ("anthropic", "claude-sonnet-4-5"),
    ("google", "gemini-1.5-pro"): ("google", "gemini-2.5-pro"),
    ("google", "gemini-1.5-flash"): ("google", "gemini-2.5-flash"),
}
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|latest|preview)$")


def successor(provider: str, model: str) -> tuple[str, str] | None:
    """The current successor of an older model (its dated snapshots included), or None.

    Examples:
        >>> successor("openai", "gpt-4-0613"), successor("anthropic", "claude-3-opus-20240229"), successor("openai", "gpt-4o")
        (('openai', 'gpt-4o'), ('anthropic', 'claude-opus-4-5'), None)
    """
    return SUCCESSORS.get((provider, model)) or SUCCESSORS.get((provider, _SNAPSHOT.sub("", model)))


# comparable models across providers (a class each)
MODEL_CLASSES = [
    [("openai", "gpt-4o"), ("openai", "gpt-4.1"), ("anthropic", "claude-sonnet-4-5"), ("google", "gemini-2.5-pro")],
    [("openai", "gpt-4o-mini"), ("openai", "gpt-4.1-mini"), ("anthropic", "claude-haiku-4-5"),
     ("google", "gemini-2.5-flash")],
]
COLUMNS = pl.Schema({"kind": pl.String, "scope": pl.String, "current_monthly_usd": pl.Float64,
                     "savings_monthly_usd": pl.Float64, "savings_pct": pl.Float64, "tradeoff": pl.String,
                     "action": pl.String, "calls": pl.List(pl.String)})  # the calls it changes: provider|model|operation, * any
# usage() columns beside the priced ones
TIER_INPUT, CAP, JOB, OK = "tier_input", "cap", "in_run", "succeeded"
CACHEABLE, CAPPED_OUTPUT, CAPPED_REASONING = "cacheable", "capped_output", "capped_reasoning"


def suggestions(events: pl.LazyFrame | None, book: PriceBook, *, today: dt.date | None = None, days: int = 30,
                sums: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every suggestion worth at least $1 and 5 % of its scope a month, largest saving first: from
    the events of the `days` days up to `today`, or from those days' `day_sums` (`sums`)."""
    today = today or dt.datetime.now(dt.UTC).date()
    start = today - dt.timedelta(days=days - 1)
    sums = day_sums(events.filter(pl.col(s.TS).dt.date().is_between(start, today)), book) if sums is None else \
        sums.filter(pl.col("_day").is_between(start, today))
    window = from_day_sums(sums)
    scale = MONTH_DAYS / days
    llm = window.filter(pl.col(s.SERVICE) == "llm")
    rows = [*_model_changes(llm, book), *_caching(llm, book), *_batch(llm), *_output_cap(llm, book), *_failures(window),
            *_combined_messages(sums, book)]
    found = pl.DataFrame(rows, schema=COLUMNS).with_columns(
        pl.col("current_monthly_usd") * scale, pl.col("savings_monthly_usd") * scale)
    found = found.filter((pl.col("savings_monthly_usd") >= MIN_SAVINGS_USD) & (pl.col("savings_pct") >= MIN_SAVINGS_SHARE)
                         ).sort("savings_monthly_usd", descending=True)
    return _headline(found)


def _headline(found: pl.DataFrame) -> pl.DataFrame:
    """Mark the largest-first set of suggestions that touch no call twice (`headline`); each other
    one names the headline suggestion it competes with (`instead_of`)."""
    taken: list[tuple[list[str], str]] = []
    headline, instead = [], []
    for calls, kind, scope in found.select("calls", "kind", "scope").iter_rows():
        rival = next((name for other, name in taken if any(_overlap(a, b) for a in calls for b in other)), None)
        headline.append(rival is None)
        instead.append(rival)
        if rival is None:
            taken.append((calls, f"{kind} {scope}"))
    return found.with_columns(pl.Series("headline", headline, dtype=pl.Boolean),
                              pl.Series("instead_of", instead, dtype=pl.String)).drop("calls")


def _overlap(a: str, b: str) -> bool:
    """Whether two call sets (provider|model|operation, `*` for any) share calls."""
    return all(x == y or "*" in (x, y) for x, y in zip(a.split("|"), b.split("|")))


def usage(events: pl.LazyFrame, book: PriceBook, targets: list[tuple[str, str]] | None = None) -> pl.DataFrame:
    """The events summed into what the rules read, a few hundred rows for a month of millions of calls.

    One row per provider, model, operation, service and unit, UTC day, tier bucket (the side of
    every `llm_prices.tier_bounds()` threshold the call's input falls on; for an event that sums
    many requests, the input of one, its `tier_input` tag), whether the call was
    part of a run (`in_run`) and whether it `succeeded`; and per half hour where the source model
    or a model in `targets` (those it may be repriced on; by default every model the rules name)
    has time-of-day prices. So `PriceBook.price_sums` prices a row, or the row moved to another
    model, as the book would price its calls one by one. Besides the sums of the priced columns,
    cost and computed cost: `calls`, a `ts` and a `tier_input` that stand for its calls,
    `retry_cost_usd` (cost × retries), `cacheable` (the input tokens `CACHEABLE_SHARE` of each call
    moves to the cache), `cap` (the operation's 75th percentile of output tokens rounded up to two
    significant digits, `cap_above`; LLM calls only) and the output and reasoning tokens capped at it.
    """
    return from_day_sums(day_sums(events, book, targets))


_OUT, _REASONING, _RUN = "_output_bucket", "_reasoning_bucket", "_run"
_TEXT, _UNKNOWN_TEXT = "_message_characters", "_messages_of_unknown_length"
MESSAGE = "message"  # the unit of SMS and chat-app messages (billed per message, or per part of a long one)
TEXT_TAG = "characters"  # a message's length, in its tags: not billed, so not the priced `characters` column
MESSAGE_TEXT = pl.col(s.TAGS).str.json_path_match(f"$.{TEXT_TAG}").cast(pl.Int64, strict=False)
SMS_SINGLE, SMS_PART = 160, 153  # GSM-7 characters in one SMS, and in each part of a longer one
SUMS_METHOD = "day-sums-2026-12-07.2"  # names how `day_sums` sums in a kept file's name: a change sums again


def day_sums(events: pl.LazyFrame, book: PriceBook, targets: list[tuple[str, str]] | None = None) -> pl.DataFrame:
    """What `usage` is made of, summed per day and project, with the output and reasoning tokens
    bucketed by `cap_above` (so a cap can be set over any days later, exactly): sums of several
    windows of days concatenated are the sums of their union."""
    targets = [*{m for pairs in [*ALTERNATIVES.values(), *MODEL_CLASSES, SUCCESSORS.values()] for m in pairs}] \
        if targets is None else targets
    timed_target = any(book.time_of_day(*m) for m in targets)
    models = events.select(s.PROVIDER, s.MODEL).unique().collect()
    slotted = [m for m in models.iter_rows() if timed_target or book.time_of_day(*m)]
    bounds = tier_bounds()

    keys = [s.PROVIDER, s.MODEL, s.OPERATION, s.SERVICE, s.UNIT, s.PROJECT, pl.col(s.TS).dt.date().alias("_day"),
            half_hour_of(slotted).alias("_slot"),
            pl.sum_horizontal(pl.lit(0), *[pl.col("_tier_input") > b for b in bounds]).alias("_bucket"),
            pl.col(s.JOB_ID).is_not_null().alias(JOB), pl.col(s.SUCCESS).fill_null(True).alias(OK),
            cap_above(s.OUTPUT_TOKENS).alias(_OUT), cap_above(s.REASONING_TOKENS).alias(_REASONING),
            pl.when(pl.col(s.UNIT) == MESSAGE).then(pl.col(s.JOB_ID)).alias(_RUN)]  # messages: per run
    moved = (pl.col(s.INPUT_TOKENS) * CACHEABLE_SHARE).floor().cast(pl.Int64)
    return (events.with_columns(EVENT_TIER_INPUT.alias("_tier_input"))  # once, not once per threshold
            .group_by(keys).agg(
                pl.len().alias(CALLS),
                *[pl.col(c).sum() for c in PRICED_COLUMNS], pl.col(s.COST).sum(), pl.col(s.COMPUTED_COST).sum(),
                (pl.col(s.COST).fill_null(0) * pl.col(s.RETRIES)).sum().alias(RETRY_COST), moved.sum().alias(CACHEABLE),
                MESSAGE_TEXT.sum().alias(_TEXT), MESSAGE_TEXT.null_count().alias(_UNKNOWN_TEXT))
            .collect())


def cap_above(column: str) -> pl.Expr:
    """The smallest number of two significant digits above each count (counts under 100: the next
    one): the bucket of calls a cap can be set at, and the cap.

    Examples:
        >>> pl.DataFrame({"n": [0, 42, 99, 100, 1234, 9999, None]}).select(cap_above("n"))["n"].to_list()
        [1, 43, 100, 110, 1300, 10000, 1]
    """
    n = pl.col(column).fill_null(0).cast(pl.Int64)
    unit = pl.lit(10, pl.Int64).pow((n.cast(pl.String).str.len_chars().cast(pl.Int64) - 2).clip(0)).cast(pl.Int64)
    return (n // unit + 1) * unit


def from_day_sums(sums: pl.DataFrame) -> pl.DataFrame:
    """`usage` from `day_sums` (of one window, or of its days concatenated): each LLM operation's
    cap is the `cap_above` of its calls' 75th percentile of output tokens (the first call at or past
    75 % of them, fewest tokens first); a bucket at or below the cap keeps its tokens and one above
    it counts `cap` per call, so the capped sums are exact."""
    operation = [s.PROVIDER, s.MODEL, s.OPERATION]
    caps = (sums.filter(pl.col(s.SERVICE) == "llm").group_by(*operation, _OUT).agg(pl.col(CALLS).sum()).sort(_OUT)
            .with_columns((pl.col(CALLS).cum_sum().over(operation) / pl.col(CALLS).sum().over(operation))
                          .alias("_share"))
            .filter(pl.col("_share") >= OUTPUT_CAP_QUANTILE).group_by(operation).agg(pl.col(_OUT).min().alias(CAP)))

    def capped(column: str, bucket: str) -> pl.Expr:
        return (pl.when(pl.col(CAP).is_null() | (pl.col(bucket) <= pl.col(CAP))).then(pl.col(column))
                .otherwise(pl.col(CAP) * pl.col(CALLS)))
    keys = [s.PROVIDER, s.MODEL, s.OPERATION, s.SERVICE, s.UNIT, "_day", "_slot", "_bucket", JOB, OK]
    summed = [CALLS, *PRICED_COLUMNS, s.COST, s.COMPUTED_COST, RETRY_COST, CACHEABLE, CAPPED_OUTPUT, CAPPED_REASONING]
    return (sums.join(caps, on=operation, how="left", nulls_equal=True)
            .with_columns(capped(s.OUTPUT_TOKENS, _OUT).alias(CAPPED_OUTPUT),
                          capped(s.REASONING_TOKENS, _REASONING).alias(CAPPED_REASONING))
            .group_by(keys).agg(*[pl.col(c).sum() for c in summed], pl.col(CAP).first())
            .with_columns(*_stand_ins()).drop("_day", "_slot", "_bucket"))


def _stand_ins() -> list[pl.Expr]:
    """A time and a total input of a row's day, half hour and tier bucket, which stand for its calls."""
    bounds = tier_bounds()
    return [(pl.col("_day").cast(s.POLARS_SCHEMA[s.TS]) + pl.duration(minutes=SLOT_MINUTES * pl.col("_slot"))).alias(s.TS),
            pl.col("_bucket").replace_strict({0: 0} | {i + 1: b + 1 for i, b in enumerate(bounds)},
                                             return_dtype=pl.Int64).alias(TIER_INPUT)]


def reprice_as(usage: pl.DataFrame, book: PriceBook, provider: str, model: str,
               weight: str | None = None) -> float | None:
    """What the calls summed in `usage` would have cost on another model (None if it cannot price them all)."""
    return priced_totals([_on(usage, provider, model)], book, weight)[0]


def priced_totals(usages: list[pl.DataFrame], book: PriceBook, weight: str | None = None) -> list[float | None]:
    """The price book's total for the calls summed in each frame (None where any of them has no price),
    priced in one pass; each row's cost times its `weight` column when one is named (e.g. its
    day's exchange rate)."""
    if not usages:
        return []
    stacked = pl.concat([u.with_columns(pl.lit(i).alias("_case")) for i, u in enumerate(usages)],
                        how="vertical_relaxed")
    times = pl.col(weight) if weight else pl.lit(1.0)
    per = stacked.select("_case", times.alias("_weight"), book.price_sums(stacked)).group_by("_case").agg(
        (pl.col(s.COMPUTED_COST) * pl.col("_weight")).sum().alias("total"),
        pl.col(s.COMPUTED_COST).null_count().alias("unpriced"))
    found = {r["_case"]: None if r["unpriced"] else r["total"] for r in per.iter_rows(named=True)}
    return [found.get(i) for i in range(len(usages))]


def _on(usage: pl.DataFrame, provider: str, model: str) -> pl.DataFrame:
    return usage.with_columns(pl.lit(provider).alias(s.PROVIDER), pl.lit(model).alias(s.MODEL))


def _suggestion(kind: str, scope: str, current: float, saving: float, tradeoff: str, action: str,
                calls: tuple[str, str, str | None]) -> dict:
    return {"kind": kind, "scope": scope, "current_monthly_usd": current, "savings_monthly_usd": saving,
            "savings_pct": saving / current if current else 0.0, "tradeoff": tradeoff, "action": action,
            "calls": ["|".join("" if part is None else part for part in calls)]}  # (no operation: "")


def _computed(frame: pl.DataFrame) -> float:
    return float(frame[s.COMPUTED_COST].fill_null(0).sum())


def _model_changes(llm: pl.DataFrame, book: PriceBook) -> list[dict]:
    used = {key: frame for key, frame in llm.partition_by(s.PROVIDER, s.MODEL, as_dict=True).items()
            if _computed(frame) > 0}
    moves = [(source, "model_successor", alt) for source in used if (alt := successor(*source))]
    moves += [(source, "model_downgrade", alt) for source in used for alt in ALTERNATIVES.get(source, [])]
    moves += [(source, "provider_switch", alt) for source in used
              for alt in next((t for t in MODEL_CLASSES if source in t), []) if alt[0] != source[0]]
    rows, cheapest = [], {}
    for (source, kind, alt), cost in zip(moves, priced_totals([_on(used[m[0]], *m[2]) for m in moves], book)):
        current = _computed(used[source])
        if cost is None or cost >= current:
            continue
        if kind == "provider_switch":
            cheapest[source] = min(cheapest.get(source, (cost, *alt)), (cost, *alt))
            continue
        (provider, model), (_, alt_model) = source, alt
        if kind == "model_successor":
            rows.append(_suggestion(
                "model_successor", f"{provider}/{model}", current, current - cost,
                f"{alt_model} is the current model of the same tier: usually as good or better at a lower price; "
                "re-check prompts that lean on the older model's habits.",
                f"move {model} calls to {alt_model}", (provider, model, "*")))
            continue
        rows.append(_suggestion(
            "model_downgrade", f"{provider}/{model}", current, current - cost,
            f"{alt_model} is the smaller model of the family: less reliable on hard reasoning and long "
            "instructions; check your evaluations first.",
            f"route {model} calls to {alt_model} (start with the simplest operations)", (provider, model, "*")))
    for (provider, model), (cost, p, m) in cheapest.items():
        current = _computed(used[(provider, model)])
        rows.append(_suggestion(
            "provider_switch", f"{provider}/{model}", current, current - cost,
            f"{p}/{m} is a comparable model at a lower price for your token mix; outputs differ in style and "
            "tool-use behaviour.", f"try {p}/{m} for {model} traffic behind a flag and compare", (provider, model, "*")))
    return rows


def _by_operation(llm: pl.DataFrame) -> list[tuple[tuple[str, str, str], pl.DataFrame]]:
    return list(llm.partition_by(s.PROVIDER, s.MODEL, s.OPERATION, as_dict=True).items())


def _caching(llm: pl.DataFrame, book: PriceBook) -> list[dict]:
    candidates = []
    for key, used in _by_operation(llm):
        inputs = used[s.INPUT_TOKENS].sum() + used[s.CACHE_READ_TOKENS].sum() + used[s.CACHE_WRITE_TOKENS].sum()
        if inputs and inputs / used[CALLS].sum() >= CACHE_MIN_INPUT and \
                used[s.CACHE_READ_TOKENS].sum() / inputs < CACHE_LOW_HIT_RATE:
            candidates.append((key, used))
    moved = [(pl.col(s.CACHE_READ_TOKENS) + pl.col(CACHEABLE)).alias(s.CACHE_READ_TOKENS),
             (pl.col(s.INPUT_TOKENS) - pl.col(CACHEABLE)).alias(s.INPUT_TOKENS)]
    return [_suggestion(
        "prompt_caching", f"{provider}/{model} {operation}", current, current - cost,
        "No quality change; it needs a stable prompt prefix (system prompt, tools, documents) and the first "
        "call in each cache window pays a write premium.",
        f"put the shared part of {operation} prompts first and enable prompt caching", (provider, model, operation))
        for (provider, model, operation), _, current, cost in _repriced(candidates, moved, book)]


def _repriced(candidates: list[tuple[tuple, pl.DataFrame]], change: list[pl.Expr],
              book: PriceBook) -> list[tuple[tuple, pl.DataFrame, float, float]]:
    """Each candidate's calls (key, sums) with their cost now and with `change` made to them, priced
    in one pass; those the book cannot price so are left out."""
    costs = priced_totals([used.with_columns(change) for _, used in candidates], book)
    return [(key, used, _computed(used), cost) for (key, used), cost in zip(candidates, costs) if cost is not None]


def _batch(llm: pl.DataFrame) -> list[dict]:
    rows = []
    offline = llm.filter(pl.col(JOB) & pl.col(s.PROVIDER).is_in(list(BATCH_DISCOUNT)))
    for (provider, operation), used in offline.partition_by(s.PROVIDER, s.OPERATION, as_dict=True).items():
        current = _computed(used)
        rows.append(_suggestion(
            "batch_api", f"{provider} {operation}", current, current * BATCH_DISCOUNT[provider],
            "No quality change; results arrive within hours instead of seconds, so only for runs nobody waits on.",
            f"send {operation} requests of pipeline runs through the {provider} Batch API", (provider, "*", operation)))
    return rows


def _output_cap(llm: pl.DataFrame, book: PriceBook) -> list[dict]:
    candidates = [(key, used) for key, used in _by_operation(llm) if used[CAP][0] and used[CALLS].sum() >= 20]
    capped = [pl.col(CAPPED_OUTPUT).alias(s.OUTPUT_TOKENS), pl.col(CAPPED_REASONING).alias(s.REASONING_TOKENS)]
    return [_suggestion(
        "output_cap", f"{provider}/{model} {operation}", current, current - cost,
        f"Answers longer than {used[CAP][0]:,} tokens (the longest quarter) get cut or must be asked to be concise.",
        f"ask for concise output and set max_tokens ≈ {used[CAP][0]:,} for {operation}", (provider, model, operation))
        for (provider, model, operation), used, current, cost in _repriced(candidates, capped, book)]


def _combined_messages(sums: pl.DataFrame, book: PriceBook) -> list[dict]:
    """Messages a run sends for one operation on one day, sent as one message instead: billed per
    message (per part of a long SMS, `SMS_PART` characters each), fewer messages cost less. Only
    where every message's length is known (its `characters` tag, e.g. `{"characters": 42}`)."""
    per_run = (sums.filter(pl.col(_RUN).is_not_null())
               .group_by(s.PROVIDER, s.MODEL, s.OPERATION, s.SERVICE, s.UNIT, "_day", "_slot", "_bucket", _RUN)
               .agg(*[pl.col(c).sum() for c in (CALLS, *PRICED_COLUMNS, s.COMPUTED_COST, _TEXT, _UNKNOWN_TEXT)])
               .filter((pl.col(_UNKNOWN_TEXT) == 0) & (pl.col(CALLS) > 1))
               .with_columns(pl.when(pl.col(_TEXT) <= SMS_SINGLE).then(1)
                             .otherwise((pl.col(_TEXT) + SMS_PART - 1) // SMS_PART).cast(pl.Float64).alias("_one"))
               .filter(pl.col("_one") < pl.col(s.QUANTITY)).with_columns(*_stand_ins()))
    groups = list(per_run.partition_by(s.PROVIDER, s.MODEL, s.OPERATION, as_dict=True).items())
    as_one = [pl.col("_one").alias(s.QUANTITY), pl.lit(1).alias(CALLS)]
    return [_suggestion(
        "combine_messages", f"{provider}/{model} {operation}", current, current - cost,
        f"One message per run and day instead of {used[s.QUANTITY].sum() / used.height:,.1f}: recipients get the "
        f"updates together, later; the saving assumes plain GSM-7 text ({SMS_PART} characters per part; "
        "emoji and non-Latin text fit 67).",
        f"send one summary message per run for {operation} instead of one per step", (provider, model, operation))
        for (provider, model, operation), used, current, cost in _repriced(groups, as_one, book)]


def _failures(window: pl.DataFrame) -> list[dict]:
    rows = []
    failed = ~pl.col(OK)
    per = window.group_by(s.PROVIDER, s.MODEL).agg(
        pl.col(s.COST).sum(), pl.col(s.COST).filter(failed).sum().alias(FAILED_COST), pl.col(RETRY_COST).sum(),
        pl.col(CALLS).filter(failed).sum().alias(FAILED_CALLS))
    for r in per.iter_rows(named=True):
        waste = r[FAILED_COST] + r[RETRY_COST]
        if waste and r[s.COST]:
            rows.append(_suggestion(
                "failure_waste", f"{r[s.PROVIDER]}/{r[s.MODEL]}", r[s.COST], waste,
                "No quality trade-off: failed calls and retried attempts are paid for and deliver nothing.",
                f"look at the {r[FAILED_CALLS]:,} failed calls (timeouts, invalid requests) and retry with backoff only "
                "on errors that can succeed", (r[s.PROVIDER], r[s.MODEL], "*")))
    return rows
