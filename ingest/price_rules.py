"""Price rules: the shipped catalog (`data/unit_prices.csv`) and a lake's overrides, one row each
as `PriceRule`, read and written as CSV with every row checked (an error names the line and field).

Examples:
    >>> rule = parse_rule({"provider": "ElevenLabs", "model": "eleven_v3", "unit": "character", "price": "0.30",
    ...                    "per": "1000", "effective_from": "2026-01-01"})
    >>> rule.provider, rule.rate, rule.active(dt.date(2025, 12, 31))
    ('elevenlabs', 0.0003, False)
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Final, Iterable

from ingest.errors import PricingError
from ingest.files import write_atomic

CATALOG_PATH: Final = Path(__file__).resolve().parent.parent / "data" / "unit_prices.csv"

# Rate columns: USD per one unit of the usage they multiply.
R_INPUT, R_CACHE_READ, R_CACHE_WRITE, R_CACHE_WRITE_1H = "r_input", "r_cache_read", "r_cache_write", "r_cache_write_1h"
R_OUTPUT, R_REASONING, R_REQUEST = "r_output", "r_reasoning", "r_request"
R_CHARACTER, R_IMAGE, R_AUDIO, R_COMPUTE, R_QUANTITY = (
    "r_character", "r_image", "r_audio_second", "r_compute_second", "r_quantity")

# Units a catalog row or an override may name, and the rate each sets.
UNIT_RATES: Final = {
    "input_token": R_INPUT, "cache_read_token": R_CACHE_READ, "cache_write_token": R_CACHE_WRITE,
    "cache_write_1h_token": R_CACHE_WRITE_1H, "output_token": R_OUTPUT, "reasoning_token": R_REASONING,
    "request": R_REQUEST, "character": R_CHARACTER, "image": R_IMAGE, "audio_second": R_AUDIO,
    "compute_second": R_COMPUTE,
}
RULE_COLUMNS: Final = ("provider", "model", "unit", "price", "per", "effective_from", "effective_to", "source_url")



@dataclass(frozen=True)
class PriceRule:
    """One catalog or override row: `price` USD per `per` units, valid on [effective_from, effective_to)."""

    provider: str
    model: str
    unit: str
    price: Decimal
    per: Decimal
    effective_from: dt.date
    effective_to: dt.date | None
    source_url: str = ""

    @property
    def rate(self) -> float:
        return float(self.price / self.per)

    def active(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)


def read_rules(path: Path, *, require_source: bool = False) -> list[PriceRule]:
    """Read price rules from CSV, validating every row (errors name the line and field)."""
    if not path.exists():
        return []
    rules, errors = [], []
    with path.open(newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            try:
                rules.append(parse_rule(row, require_source=require_source))
            except PricingError as e:
                errors.append(f"{path.name} line {line}: {e}")
    if errors:
        raise PricingError("; ".join(errors))
    return rules


def parse_rule(row: dict[str, str], *, require_source: bool = False) -> PriceRule:
    """Validate one price rule given as strings."""
    def text(name: str) -> str:
        value = (row.get(name) or "").strip()
        if not value and name in ("provider", "model", "unit", "price", "effective_from"):
            raise PricingError(f"{name} is missing")
        return value

    unit = text("unit")
    try:
        price, per = Decimal(text("price")), Decimal(text("per") or "1")
    except InvalidOperation:
        raise PricingError(f"price={row.get('price')!r} per={row.get('per')!r} must be decimal numbers") from None
    if not price.is_finite() or price < 0:
        raise PricingError(f"price={price} must be a finite number ≥ 0")
    if not per.is_finite() or per <= 0:
        raise PricingError(f"per={per} must be > 0")
    try:
        start = dt.date.fromisoformat(text("effective_from"))
        end = dt.date.fromisoformat(text("effective_to")) if text("effective_to") else None
    except ValueError as e:
        raise PricingError(f"effective dates must be YYYY-MM-DD ({e})") from None
    if end is not None and end <= start:
        raise PricingError(f"effective_to={end} must be after effective_from={start}")
    if require_source and not text("source_url"):
        raise PricingError("source_url is missing")
    return PriceRule(text("provider").lower(), text("model"), unit, price, per, start, end, text("source_url"))


def rules_by_key(rules: Iterable[PriceRule]) -> dict[tuple[str, str], list[PriceRule]]:
    out: dict[tuple[str, str], list[PriceRule]] = {}
    for r in rules:
        out.setdefault((r.provider, r.model), []).append(r)
    return out


def write_overrides(path: Path, rules: list[PriceRule]) -> None:
    """Write the override file whole (`write_atomic`)."""
    text = io.StringIO(newline="")
    w = csv.writer(text)
    w.writerow(RULE_COLUMNS)
    for r in rules:
        w.writerow([r.provider, r.model, r.unit, r.price, r.per, r.effective_from, r.effective_to or "", r.source_url])
    write_atomic(path, text.getvalue())


def add_override(path: Path, rule: PriceRule) -> list[PriceRule]:
    """Append a negotiated rate to the override file; returns all overrides."""
    rules = [*read_rules(path), rule]
    write_overrides(path, rules)
    return rules
