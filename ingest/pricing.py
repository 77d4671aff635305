"""The price book's engine: what an event costs, from genai-prices for tokens (`llm_prices`), the
shipped catalog for other units and the user's overrides on top (`price_rules`).

Pricing is vectorised: each distinct (provider, model, unit, UTC date[, half hour for
time-of-day prices]) in a batch is resolved once to its coefficients, one row per tier, and the
events are joined to those rows. `cost_of` is the same arithmetic for one event (the Tracker's
path); a property test holds the two equal across tiers, time-of-day prices and request fees.

Examples:
    >>> import polars as pl, datetime as dt
    >>> from ingest import schema
    >>> book = PriceBook.load()
    >>> raw = pl.DataFrame({"ts": [dt.datetime(2026, 1, 5, tzinfo=dt.UTC)], "provider": ["openai"],
    ...                     "model": ["gpt-4o"], "service": ["llm"], "input_tokens": [1_000_000]})
    >>> priced = book.price(schema.validate(raw).events)
    >>> priced.select("cost_usd", "cost_source").row(0)
    (2.5, 'computed')"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Iterable

import polars as pl

from ingest import llm_prices, plans, schema as s
from ingest.price_rules import (CATALOG_PATH, R_AUDIO, R_CACHE_READ, R_CACHE_WRITE, R_CACHE_WRITE_1H, R_CHARACTER,
                                R_COMPUTE, R_IMAGE, R_INPUT, R_OUTPUT, R_QUANTITY, R_REASONING, R_REQUEST, UNIT_RATES,
                                PriceRule, read_rules, rules_by_key)

# The cost of an event is REQUEST + Σ column × coefficient, in this column order everywhere.
PRICED_COLUMNS: Final = (
    s.INPUT_TOKENS, s.CACHE_READ_TOKENS, s.CACHE_WRITE_TOKENS, s.CACHE_WRITE_1H_TOKENS, s.OUTPUT_TOKENS,
    s.REASONING_TOKENS, s.CHARACTERS, s.IMAGES, s.AUDIO_SECONDS, s.COMPUTE_SECONDS, s.QUANTITY,
)
REQUEST: Final = "request"
# what a tier threshold is compared with
TOTAL_INPUT: Final = pl.col(s.INPUT_TOKENS) + pl.col(s.CACHE_READ_TOKENS) + pl.col(s.CACHE_WRITE_TOKENS)
# An event that sums many requests (a provider's usage report) says in its tags which input a
# request had, for the tier: tiers apply per request, not to a day's total.
TIER_TAG: Final = "tier_input"
_TAGGED_TIER = pl.col(s.TAGS).str.contains(f'"{TIER_TAG}"', literal=True).fill_null(False)
EVENT_TIER_INPUT: Final = pl.when(_TAGGED_TIER).then(
    pl.col(s.TAGS).str.json_path_match(f"$.{TIER_TAG}").cast(pl.Int64, strict=False)).otherwise(TOTAL_INPUT)
COEFFICIENT_COLUMNS: Final = (*PRICED_COLUMNS, REQUEST)
# A resolved price: [(tier threshold, coefficients)], the base tier first with threshold -1.
Tiers = list[tuple[int, dict[str, float | None]]]


def coefficients(rates: dict[str, float]) -> dict[str, float | None]:
    """Per-unit rates → a coefficient per event column (the token columns overlap: 1-hour writes
    are part of cache writes, reasoning part of output, so those two carry the difference)."""
    def diff(a: str, b: str) -> float | None:
        return None if rates.get(a) is None or rates.get(b) is None else rates[a] - rates[b]
    return {
        s.INPUT_TOKENS: rates.get(R_INPUT), s.CACHE_READ_TOKENS: rates.get(R_CACHE_READ),
        s.CACHE_WRITE_TOKENS: rates.get(R_CACHE_WRITE), s.CACHE_WRITE_1H_TOKENS: diff(R_CACHE_WRITE_1H, R_CACHE_WRITE),
        s.OUTPUT_TOKENS: rates.get(R_OUTPUT), s.REASONING_TOKENS: diff(R_REASONING, R_OUTPUT),
        s.CHARACTERS: rates.get(R_CHARACTER), s.IMAGES: rates.get(R_IMAGE), s.AUDIO_SECONDS: rates.get(R_AUDIO),
        s.COMPUTE_SECONDS: rates.get(R_COMPUTE), s.QUANTITY: rates.get(R_QUANTITY), REQUEST: rates.get(R_REQUEST),
    }


# Time-of-day prices (DeepSeek's off-peak hours) change on the half hour: the half hour of the UTC
# day (0–47) is part of their price key, 0 for every other model. These three say it once.
SLOT_MINUTES: Final = 30


def slot_of(ts: dt.datetime) -> int:
    """The half hour of the UTC day `ts` falls in."""
    return (ts.hour * 60 + ts.minute) // SLOT_MINUTES


def slot_start(day: dt.date, slot: int) -> dt.datetime:
    """When a half hour of a UTC day begins."""
    return dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(minutes=SLOT_MINUTES * slot)


def half_hour_of(models: Iterable[tuple[str, str]]) -> pl.Expr:
    """`slot_of` each event's `ts` for these (provider, model) pairs, 0 for the others."""
    models = ["\x1f".join(m) for m in models]
    if not models:
        return pl.lit(0, pl.Int32)
    half_hour = (pl.col(s.TS).dt.hour().cast(pl.Int32) * 60 + pl.col(s.TS).dt.minute().cast(pl.Int32)) // SLOT_MINUTES
    listed = pl.concat_str(s.PROVIDER, s.MODEL, separator="\x1f").is_in(models)
    return pl.when(listed).then(half_hour).otherwise(0).cast(pl.Int32)


def tier_of(total_input: int, thresholds: Iterable[int]) -> int:
    """A price's tier: the number of its thresholds the request's total input exceeds (the engine
    counts the same way, one comparison per threshold)."""
    return sum(total_input > threshold for threshold in thresholds)


def cost_of(usage: dict, tiers: Tiers) -> float | None:
    """One event's cost at resolved coefficients, computed as `PriceBook.price` does; None if unpriced.

    Examples:
        >>> cost_of({"input_tokens": 2_000_000}, [(-1, coefficients({R_INPUT: 2.5e-06}))])
        5.0
    """
    k = tiers[0][1]
    if len(tiers) > 1:
        total_input = sum(usage.get(c) or 0 for c in (s.INPUT_TOKENS, s.CACHE_READ_TOKENS, s.CACHE_WRITE_TOKENS))
        k = tiers[tier_of(total_input, [threshold for threshold, _ in tiers[1:]])][1]
    total = k[REQUEST] or 0.0
    for c in PRICED_COLUMNS:
        if c in usage:
            v = usage[c]
            if v:
                if k[c] is None:
                    return None
                total += v * k[c]
    return total


def explain(usage: dict, tiers: Tiers) -> str:
    """An event's cost as people check it: each quantity times its rate, and the total (as `cost_of`).

    Examples:
        >>> explain({"input_tokens": 1200, "output_tokens": 300},
        ...         [(-1, coefficients({R_INPUT: 2.5e-06, R_OUTPUT: 1e-05}))])
        '1,200 input tokens × $2.50/M + 300 output tokens × $10.00/M = $0.006000'
    """
    k = tiers[0][1]
    if len(tiers) > 1:
        total_input = sum(usage.get(c) or 0 for c in (s.INPUT_TOKENS, s.CACHE_READ_TOKENS, s.CACHE_WRITE_TOKENS))
        k = tiers[tier_of(total_input, [threshold for threshold, _ in tiers[1:]])][1]
    terms = [f"${k[REQUEST]:.6g} a request"] if k[REQUEST] else []
    for c in PRICED_COLUMNS:
        v = usage.get(c)
        if v:
            if k[c] is None:
                return f"{v:,} {c.replace('_', ' ')}: no price"
            per_million = c.endswith("_tokens")
            rate = f"${k[c] * 1e6:,.2f}/M" if per_million else f"${k[c]:.6g}"
            terms.append(f"{v:,} {c.replace('_', ' ')} × {rate}")
    total = cost_of(usage, tiers)
    return f"{' + '.join(terms) or 'nothing priced'} = ${total:,.6f}"


@dataclass
class PriceBook:
    """Rates from genai-prices, the shipped catalog and the user's overrides (which win)."""

    catalog: list[PriceRule]
    overrides: list[PriceRule] = field(default_factory=list)
    _resolved: dict[tuple, tuple[Tiers, str] | None] = field(default_factory=dict, repr=False)
    _table: tuple[pl.DataFrame, pl.DataFrame] | None = field(default=None, repr=False, compare=False)  # _key_table
    _tabled: set[tuple] = field(default_factory=set, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._catalog_by_key = rules_by_key(self.catalog)
        self._overrides_by_key = rules_by_key(self.overrides)

    def __getstate__(self) -> dict:  # a copy (the app caches books by value) gets its own lock
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    @classmethod
    def load(cls, overrides_path: Path | None = None) -> PriceBook:
        """The shipped catalog plus the overrides file, if given and present."""
        catalog = read_rules(CATALOG_PATH, require_source=True)
        return cls(catalog, read_rules(overrides_path) if overrides_path else [])

    def resolve(self, provider: str, model: str, unit: str | None, day: dt.date,
                slot: int) -> tuple[Tiers, str] | None:
        """Coefficients for one key as [(tier threshold, coefficients)] and the price version; None if unpriced."""
        key = (provider, model, unit, day, slot)
        if key not in self._resolved:
            self._resolved[key] = self._resolve(provider, model, unit, day, slot)
        return self._resolved[key]

    def _resolve(self, provider: str, model: str, unit: str | None, day: dt.date,
                 slot: int) -> tuple[Tiers, str] | None:
        version: list[str] = []
        tiers: list[tuple[int, dict[str, float]]] = [(-1, {})]
        llm = llm_prices.find_model(provider, model)
        if llm is not None:
            tiers = [(t, dict(r)) for t, r in llm_prices.token_tiers(llm.info.get_prices(slot_start(day, slot)))]
            version.append(f"genai-prices {llm_prices.version()}:{llm.provider_id}/{llm.info.id}")
        for label, rules in (("catalog", self._catalog_by_key), ("override", self._overrides_by_key)):
            active = [r for r in rules.get((provider, model), []) if r.active(day)]
            for r in sorted(active, key=lambda r: r.effective_from):
                column = UNIT_RATES.get(r.unit)
                if column is None and r.unit != unit:
                    continue
                for _, rates in tiers:
                    rates[column or R_QUANTITY] = r.rate
                version.append(f"{label}:{provider}/{model}/{r.unit}@{r.effective_from}")
        if not version:
            return None
        return [(t, coefficients(r)) for t, r in tiers], "+".join(dict.fromkeys(version))

    def rates_for(self, provider: str, model: str, unit: str | None, ts: dt.datetime) -> tuple[Tiers, str] | None:
        """`resolve` for one timestamp (the half-hour slot matters only for time-of-day prices)."""
        slot = slot_of(ts) if self.time_of_day(provider, model) else 0
        return self.resolve(provider, model, unit, ts.date(), slot)

    def time_of_day(self, provider: str, model: str) -> bool:
        """Whether the model's price depends on the time of day (DeepSeek's off-peak hours)."""
        llm = llm_prices.find_model(provider, model)
        return llm is not None and llm.time_of_day

    def price(self, events: pl.DataFrame) -> pl.DataFrame:
        """Fill computed_cost_usd, cost_usd, cost_source and price_version for a batch of events.

        A cost given in `cost_usd` is the reported one and is kept; the computed one sits beside it.
        An event is unpriced when its model is unknown or it uses a unit that has no price.
        """
        if events.height == 0:
            return events
        events = events.select(s.COLUMNS).cast(s.POLARS_SCHEMA)
        priced_by_book = self._rated(events).select(
            self._cost(pl.col(f"_k_{REQUEST}")).alias("_computed"), s.PRICE_VERSION)
        priced_by_book = plans.collect(priced_by_book, events.height)
        return events.drop(s.PRICE_VERSION).hstack(priced_by_book).with_columns(
            # every expression here sees the reported cost_usd of the input
            pl.coalesce(s.COST, "_computed").alias(s.COST),
            pl.col("_computed").alias(s.COMPUTED_COST),
            pl.when(pl.col(s.COST).is_not_null()).then(pl.lit("reported"))
            .when(pl.col("_computed").is_not_null()).then(pl.lit("computed"))
            .otherwise(pl.lit("unpriced")).alias(s.COST_SOURCE),
        ).select(s.COLUMNS)

    def price_sums(self, usage: pl.DataFrame) -> pl.Series:
        """The cost of rows that each stand for `calls` events with their priced columns summed, as
        `price` would total them; null where the events have no price.

        The events of a row share provider, model, unit and UTC day (and half hour, for models
        with time-of-day prices), with `ts` one of their timestamps, and they fall on the same
        side of every `llm_prices.tier_bounds()` threshold, with `tier_input` one of their total inputs
        (input + cache read + cache write tokens). Each event's cost is linear in its usage within
        its tier, so the sum is priced once.
        """
        if usage.height == 0:
            return pl.Series(s.COMPUTED_COST, [], pl.Float64)
        keyed = self._rated(usage.with_columns(pl.col(s.TS).cast(s.POLARS_SCHEMA[s.TS])), tier_input="tier_input")
        return plans.collect(keyed.select(self._cost(pl.col(f"_k_{REQUEST}") * pl.col("calls"))), usage.height).to_series()

    def rules(self, search: str | None = None, *, when: dt.datetime | None = None) -> pl.DataFrame:
        """The price book as rows: overrides, the shipped catalog, and genai-prices' LLM rates in
        force at `when` (per million tokens; a tiered rate shows its base and where it rises),
        keeping those whose provider/model/unit contains `search`.

        Examples:
            >>> book = PriceBook.load()
            >>> book.rules("anthropic/claude-sonnet-4-5/output").select("source", "price", "per").row(0)
            ('genai-prices', '15', '1000000')
        """
        needle = (search or "").lower()
        rows = [(source, r.provider, r.model, r.unit, str(r.price), str(r.per), str(r.effective_from),
                 str(r.effective_to or ""), "", r.source_url)
                for source, rules in (("override", self.overrides), ("catalog", self.catalog)) for r in rules]
        rows += llm_prices.rule_rows(when or dt.datetime.now(dt.UTC))
        names = ("source", "provider", "model", "unit", "price", "per", "effective_from", "effective_to", "note",
                 "source_url")
        table = pl.DataFrame(rows, schema={n: pl.String for n in names}, orient="row")
        if needle:
            table = table.filter(pl.concat_str("provider", "model", "unit", separator="/").str.to_lowercase()
                                 .str.contains(needle, literal=True))
        return table

    def charges(self, events: pl.DataFrame) -> pl.DataFrame:
        """What each priced column (and the per-request fee) of each event costs: `charge_<column>`
        and `charge_request`, null where that part has no price. They add up to `computed_cost_usd`."""
        events = events.select(s.COLUMNS).cast(s.POLARS_SCHEMA)
        if events.height == 0:
            return events.with_columns(*[pl.lit(None, pl.Float64).alias(f"charge_{c}") for c in COEFFICIENT_COLUMNS])
        parts = self._rated(events).select(
            *[(pl.col(c) * pl.col(f"_k_{c}")).alias(f"charge_{c}") for c in PRICED_COLUMNS],
            pl.col(f"_k_{REQUEST}").alias(f"charge_{REQUEST}")).collect()
        return events.hstack(parts)

    @staticmethod
    def _cost(request: pl.Expr) -> pl.Expr:
        """Over `_rated` rows: the request fee plus Σ column × coefficient, null where a used column has no price."""
        used_without_price = pl.any_horizontal(
            [(pl.col(c).fill_null(0) > 0) & pl.col(f"_k_{c}").is_null() for c in PRICED_COLUMNS])
        # added left to right, as `cost_of` adds (Polars' engines sum a horizontal sum in orders of their own)
        computed = functools.reduce(operator.add, [(pl.col(c) * pl.col(f"_k_{c}")).fill_null(0.0) for c in PRICED_COLUMNS],
                                    request.fill_null(0.0))
        return pl.when(pl.col("_rate").is_not_null() & ~used_without_price).then(computed).alias(s.COMPUTED_COST)

    def _key_table(self, keys: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Every key priced so far (provider, model, unit, day, half hour) with its first rate row, tier
        thresholds and price version, and the rate rows; the keys in `keys` among them. The table
        grows with the keys a book meets, so a batch of an import resolves only the days it adds."""
        new = [k for k in keys.iter_rows() if k not in self._tabled]
        if new or self._table is None:
            with self._lock:
                known, rates = self._table or (pl.DataFrame(schema=_KEY_SCHEMA), pl.DataFrame(schema=_RATE_SCHEMA))
                key_rows, rate_rows = [], []
                for key in new:
                    resolved = None if key in self._tabled else self.resolve(*key)
                    self._tabled.add(key)
                    if resolved is None:
                        continue
                    tiers, version = resolved
                    key_rows.append((*key, rates.height + len(rate_rows), [t for t, _ in tiers[1:]], version))
                    rate_rows += [[k[c] for c in COEFFICIENT_COLUMNS] for _, k in tiers]
                if key_rows:
                    known = pl.concat([known, pl.DataFrame(key_rows, orient="row", schema=_KEY_SCHEMA)], rechunk=True)
                    rates = pl.concat([rates, pl.DataFrame(rate_rows, orient="row", schema=_RATE_SCHEMA)], rechunk=True)
                self._table = known, rates  # one assignment: readers see both tables of one state
        return self._table

    def _rated(self, events: pl.DataFrame, tier_input: str | None = None) -> pl.LazyFrame:
        """The priced columns of each event beside their coefficients (`_k_<column>`), its rate row and price
        version. The tier follows the row's total input tokens (or the `tier_input` of its tags), or the
        column `tier_input` when named."""
        pair_columns = [s.PROVIDER, s.MODEL, s.UNIT]
        day = pl.col(s.TS).dt.date().alias("_day")
        keys = plans.collect(events.lazy().select(*pair_columns, day).unique(), events.height)
        timed = {(p, m) for p, m in keys.select(s.PROVIDER, s.MODEL).unique().iter_rows() if self.time_of_day(p, m)}
        slot = half_hour_of(timed)  # DeepSeek-style off-peak prices: the half hour is part of their key
        if timed:
            keys = plans.collect(events.lazy().select(*pair_columns, day, slot.alias("_slot")).unique(), events.height)
        else:
            keys = keys.with_columns(slot.alias("_slot"))
        # the joins carry only what pricing reads; the result is stacked back onto the events
        extra = [tier_input, "calls"] if tier_input else [s.TAGS]
        keyed = events.lazy().select(*pair_columns, *PRICED_COLUMNS, *extra, day, slot.alias("_slot"))
        on = [*pair_columns, "_day", "_slot"]
        table, rates = self._key_table(keys.select(on))
        key_table = keys.select(on).join(table, on=on, nulls_equal=True)  # this batch's priced keys
        keyed = keyed.join(key_table.lazy(), on=on, how="left", nulls_equal=True,
                           maintain_order="left")
        # the tier is the number of thresholds the event's total input tokens exceed (or its tags'
        # tier_input); its rates are the key's first rate row plus the tier
        deepest = key_table["_thresholds"].list.len().max() or 0
        if deepest:  # once for every threshold, and only when a price has tiers
            keyed = keyed.with_columns((pl.col(tier_input) if tier_input else EVENT_TIER_INPUT).alias("_tier_input"))
        total_input = pl.col("_tier_input")
        tier = pl.sum_horizontal(
            pl.lit(0, pl.UInt32),
            *[(total_input > pl.col("_thresholds").list.get(i, null_on_oob=True)).fill_null(False).cast(pl.UInt32)
              for i in range(deepest)])
        keyed = keyed.with_columns((pl.col("_first_rate") + tier).alias("_rate"))
        return keyed.with_columns(pl.lit(rates[c]).gather(pl.col("_rate")).alias(f"_k_{c}") for c in COEFFICIENT_COLUMNS)


_KEY_SCHEMA: Final = pl.Schema({s.PROVIDER: pl.String, s.MODEL: pl.String, s.UNIT: pl.String, "_day": pl.Date,
                                "_slot": pl.Int32, "_first_rate": pl.UInt32, "_thresholds": pl.List(pl.Int64),
                                s.PRICE_VERSION: pl.String})
_RATE_SCHEMA: Final = pl.Schema({c: pl.Float64 for c in COEFFICIENT_COLUMNS})
