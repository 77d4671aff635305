"""genai-prices, adapted to the price book: a model's rates per token as plain numbers, one row per
tier, derived from the library's own `ModelPrice.calc_price` on unit usages, so its decomposition
rules (cache reads priced as input where a model has no cache price, 1-hour writes at their own
rate, reasoning billed as output unless priced apart) are the library's, not a copy of them. A
tier (crossing a threshold moves all tokens to the higher rate) is a threshold and its rates.

Examples:
    >>> model = find_model("openai", "gpt-4o")
    >>> [(threshold, rates[R_INPUT] * 1e6) for threshold, rates in token_tiers(model.info.get_prices(None))]
    [(-1, 2.5)]
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from ingest.price_rules import R_CACHE_READ, R_CACHE_WRITE, R_CACHE_WRITE_1H, R_INPUT, R_OUTPUT, R_REASONING, R_REQUEST

# genai-prices' fields (USD per million tokens) and the units a price rule names them by
GENAI_UNITS: Final = {"input_mtok": "input_token", "output_mtok": "output_token",
                      "cache_read_mtok": "cache_read_token", "cache_write_mtok": "cache_write_token",
                      "cache_write_1h_mtok": "cache_write_1h_token"}


@dataclass(frozen=True)
class LlmModel:
    """A genai-prices model, with whether its price depends on the time of day."""

    provider_id: str
    info: object
    time_of_day: bool


@functools.cache
def version() -> str:
    from importlib.metadata import version as installed
    return installed("genai-prices")


@functools.lru_cache(maxsize=4096)
def find_model(provider: str, model: str) -> LlmModel | None:
    """The genai-prices model for (provider, model), or None when it does not know it."""
    from genai_prices import data_snapshot
    from genai_prices.types import ModelPrice, TimeOfDateConstraint
    try:
        p, m = data_snapshot.get_snapshot().find_provider_model(model, None, provider, None)
    except LookupError:
        return None
    tod = not isinstance(m.prices, ModelPrice) and any(isinstance(c.constraint, TimeOfDateConstraint) for c in m.prices)
    return LlmModel(p.id, m, tod)


_TIERS: dict[int, tuple[object, list[tuple[int, dict[str, float]]]]] = {}


def token_tiers(model_price: object) -> list[tuple[int, dict[str, float]]]:
    """[(threshold, rates)] for one genai-prices ModelPrice; threshold -1 is the base tier."""
    cached = _TIERS.get(id(model_price))
    if cached is not None and cached[0] is model_price:
        return cached[1]
    from genai_prices import Usage
    from genai_prices.types import ModelPrice, TieredPrices
    values = {k: v for k, v in model_price.__dict__.items() if not k.startswith("_") and v is not None}
    thresholds = sorted({t.start for v in values.values() if isinstance(v, TieredPrices) for t in v.tiers})
    levels = []
    for level in [-1, *thresholds]:
        flat = {}
        for k, v in values.items():
            if isinstance(v, TieredPrices):
                applicable = [t.price for t in v.tiers if t.start <= level]
                v = applicable[-1] if applicable else v.base
            flat[k] = v
        price = ModelPrice(**flat)

        def cost(**usage: int) -> Decimal:
            return price.calc_price(Usage(**usage))["total_price"]
        base = cost()
        rates = {
            R_INPUT: cost(input_tokens=1) - base,
            R_CACHE_READ: cost(input_tokens=1, cache_read_tokens=1) - base,
            R_CACHE_WRITE: cost(input_tokens=1, cache_write_tokens=1) - base,
            R_CACHE_WRITE_1H: cost(input_tokens=1, cache_write_tokens=1, cache_write_1h_tokens=1) - base,
            R_OUTPUT: cost(output_tokens=1) - base,
            R_REASONING: cost(output_tokens=1, output_reasoning_tokens=1) - base,
            R_REQUEST: base,
        }
        levels.append((level, {k: float(v) for k, v in rates.items()}))
    _TIERS[id(model_price)] = (model_price, levels)
    return levels


@functools.cache
def tier_bounds() -> tuple[int, ...]:
    """Every total-input threshold at which some genai-prices model moves to another rate, ascending."""
    from genai_prices import data_snapshot
    from genai_prices.types import ModelPrice, TieredPrices
    bounds = set()
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            prices = [model.prices] if isinstance(model.prices, ModelPrice) else [c.prices for c in model.prices]
            bounds |= {t.start for price in prices for v in price.__dict__.values() if isinstance(v, TieredPrices)
                       for t in v.tiers}
    return tuple(sorted(bounds))


def rule_rows(when: dt.datetime) -> list[tuple[str, ...]]:
    """genai-prices' token prices in force at `when` as price-book rows (per million tokens; a tiered
    price shows its base and, in `note`, where it rises): source, provider, model, unit, price, per,
    effective_from, effective_to, note, source_url."""
    from genai_prices import data_snapshot
    from genai_prices.types import TieredPrices
    rows = []
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            price = model.get_prices(when)
            for field_name, unit in GENAI_UNITS.items():
                value = getattr(price, field_name, None)
                if value is None:
                    continue
                note = ""
                if isinstance(value, TieredPrices):
                    note = "; ".join(f"{t.price} above {t.start:,} tokens" for t in value.tiers)
                    value = value.base
                rows.append(("genai-prices", provider.id, model.id, unit, str(value), "1000000", "", "", note,
                             (provider.pricing_urls or [""])[0]))
    return rows
