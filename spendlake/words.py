"""Column names in words, for tables people read (the app, the HTML report); programs keep the names."""

from __future__ import annotations

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
    "first_day": "First day", "last_day": "Last day", "instead_of": "Instead of", "fired_at": "Fired (UTC)",
}


def in_words(column: str) -> str:
    """A column's header for people.

    Examples:
        >>> in_words("cache_write_1h_tokens"), in_words("total_low80_usd"), in_words("project")
        ('Cache writes (1 h)', 'Total low 80 %', 'Project')
    """
    return WORDS.get(column) or column.removesuffix("_usd").replace("_", " ").replace("80", " 80 %").replace(
        "95", " 95 %").replace("  ", " ").capitalize()
