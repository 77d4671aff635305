"""Figures and column names as people read them (the app, the CLI's tables, the HTML report, the
budget messages); programs keep the numbers and the names.

Examples:
    >>> usd(1234.5), usd(0.004081), usd(None), cell(0.123, "share"), cell(1200, "calls")
    ('$1,234.50', '$0.00408', '—', '12.3%', '1,200')
"""

from __future__ import annotations

import datetime as dt

WORDS = {  # column names in words; others: underscores to spaces, the first letter capital
    "ts": "Time (UTC)", "date": "Day", "period_start": "Period", "event_id": "Event id", "job_id": "Run",
    "cost_usd": "Cost", "computed_cost_usd": "Cost by the price book", "cost_source": "Cost from",
    "price_version": "Price version", "input_tokens": "Input tokens", "output_tokens": "Output tokens",
    "cache_read_tokens": "Cache reads", "cache_write_tokens": "Cache writes", "cache_write_1h_tokens": "Cache writes (1 h)",
    "reasoning_tokens": "Reasoning tokens", "latency_ms": "Latency (ms)", "latency_p50_ms": "Latency p50 (ms)",
    "latency_p95_ms": "Latency p95 (ms)", "audio_seconds": "Audio (s)", "compute_seconds": "Compute (s)",
    "unpriced_events": "Unpriced events", "failed_calls": "Failed calls", "failed_cost_usd": "Cost of failed calls",
    "retry_cost_usd": "Cost of retries", "share": "Share", "pct": "Used", "change_pct": "Change",
    "savings_monthly_usd": "Saving a month", "current_monthly_usd": "Now a month", "savings_pct": "Saving",
    "difference_usd": "Difference", "difference_pct": "Difference (%)", "how_priced": "How priced",
    "expected_usd": "Expected", "low_usd": "Low", "high_usd": "High", "limit_usd": "Limit", "spent_usd": "Spent",
    "remaining_usd": "Left", "forecast_usd": "Forecast", "forecast_low80_usd": "Forecast, 80 % low",
    "forecast_high80_usd": "Forecast, 80 % high", "exhaustion_date": "Runs out", "days_left": "Days left",
    "first_day": "First day", "last_day": "Last day", "newest_rate": "Newest rate (per US dollar)",
    "limit": "Limit (its currency)", "spent": "Spent (its currency)", "remaining": "Left (its currency)",
    "forecast": "Forecast (its currency)", "after": "After (its currency)", "instead_of": "Instead of", "fired_at": "Fired (UTC)",
}
SHARES = ("share", "pct", "savings_pct", "difference_pct", "change_pct", "error_pct", "hit_rate")


def in_words(column: str) -> str:
    """A column's header for people.

    Examples:
        >>> in_words("cache_write_1h_tokens"), in_words("total_low80_usd"), in_words("project")
        ('Cache writes (1 h)', 'Total low 80 %', 'Project')
    """
    code = currency_of(column)
    if code and code != "USD":  # the same words as in dollars, with the currency said
        return f"{in_words(column[:-4] + '_usd')} ({code})"
    return WORDS.get(column) or column.removesuffix("_usd").replace("_", " ").replace("80", " 80 %").replace(
        "95", " 95 %").replace("  ", " ").capitalize()


def usd(amount: float | None) -> str:
    """Dollars and cents, or three significant digits below ten cents (a call often costs a fraction
    of one), so a sub-cent amount stays visible."""
    if amount is None:
        return "—"
    return f"${amount:,.2f}" if amount == 0 or abs(amount) >= 0.1 else f"${amount:.3g}"


def money(amount: float | None, currency: str = "USD", locale: str | None = None) -> str:
    """An amount in its currency for the reader's locale (Babel: symbol, separators, the currency's
    own decimals), three significant digits below a tenth so a sub-cent amount stays visible.

    Examples:
        >>> money(1234.5, "EUR", "de_DE"), money(1234.5, "JPY", "en_US"), money(0.004081, "GBP", "en_GB")
        ('1.234,50\xa0€', '¥1,234', '£0.00408')
    """
    if amount is None:
        return "—"
    from babel.numbers import format_currency
    where = locale or reader_locale()
    if amount == 0 or abs(amount) >= 0.1:
        return format_currency(amount, currency, locale=where)
    return format_currency(float(f"{amount:.3g}"), currency, locale=where, currency_digits=False,
                           decimal_quantization=False)


def amount_in(amount: float | None, currency: str) -> str:
    """An amount in its currency: dollars as `usd` writes them (the messages people know), any other
    currency as `money` does."""
    return usd(amount) if currency == "USD" else money(amount, currency)


def named_for(column: str, currency: str) -> str:
    """A money column's name for the currency it holds (`cost_usd` → `cost_eur`).

    Examples:
        >>> named_for("cost_usd", "EUR"), named_for("cost_usd", "USD"), named_for("calls", "EUR")
        ('cost_eur', 'cost_usd', 'calls')
    """
    return column[:-4] + "_" + currency.lower() if currency != "USD" and column.endswith("_usd") else column


def reader_locale() -> str:
    """The locale money is written for: SPENDLAKE_LOCALE, else the environment's language, else en_US."""
    import os
    from babel import Locale, UnknownLocaleError
    for candidate in (os.environ.get("SPENDLAKE_LOCALE"), os.environ.get("LC_ALL"), os.environ.get("LANG")):
        name = (candidate or "").split(".")[0]
        if name and name not in ("C", "POSIX"):
            try:
                return str(Locale.parse(name))
            except (ValueError, UnknownLocaleError):
                continue
    return "en_US"


def currency_of(column: str) -> str | None:
    """The currency a money column holds, from its name's suffix (`cost_usd`, `cost_eur`), or None."""
    from babel.numbers import list_currencies
    suffix = column.rsplit("_", 1)[-1].upper() if "_" in column else ""
    return suffix if len(suffix) == 3 and suffix in list_currencies() else None


def is_share(column: str) -> bool:
    return column in SHARES or column.endswith("_pct") or column.endswith("_share")


def cell(value: object, column: str = "") -> str:
    """One value of a column as text for people: money, shares, counts, times (UTC, to the second)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        if column.endswith("_usd"):
            return usd(value)
        if currency_of(column):
            return money(value, currency_of(column))
        if is_share(column):
            return f"{value:.1%}"
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)
