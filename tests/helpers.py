"""Small builders shared by the tests."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from ingest import schema as s
from ingest.pricing import PriceBook


def events(n: int = 10, *, day: dt.date = dt.date(2026, 1, 5), prefix: str = "e", **columns: object) -> pl.DataFrame:
    """n valid, priced events on one day (ids prefix0..prefix{n-1})."""
    start = dt.datetime.combine(day, dt.time(9), dt.UTC)
    raw = pl.DataFrame({
        s.EVENT_ID: [f"{prefix}{i}" for i in range(n)],
        s.TS: [start + dt.timedelta(minutes=i) for i in range(n)],
        s.PROVIDER: "openai", s.MODEL: "gpt-4o", s.SERVICE: "llm",
        s.INPUT_TOKENS: [1000 + i for i in range(n)], s.OUTPUT_TOKENS: 100,
        **columns,
    })
    checked = s.validate(raw)
    assert checked.rejected.height == 0, checked.rejected
    return PriceBook.load().price(checked.events)


def same(a: object, b: object) -> bool:
    """Equal, floats to 1e-12 (sums added up in another order, as Polars' threads do, differ in
    their last bits)."""
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=1e-12, abs=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def rate_on(published: dict[dt.date, float], day: dt.date) -> tuple[dt.date, float]:
    """The rate a day takes from a publication history: its own, or the last one before it (a weekend,
    a holiday, a day past the newest)."""
    while day not in published:
        day -= dt.timedelta(days=1)
    return day, published[day]
