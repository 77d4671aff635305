"""Run (job) reports, monthly reports and token statistics.

A report is a frozen dataclass of headline figures plus tables; `to_dict()`/`to_json()`
give everything, `to_csv()` one tidy table (a `table` column names each section).

Cost of failures: a failed call is billed (its `cost_usd` counts) and produced nothing
usable. Retried attempts that were not logged as their own events are estimated at the
logged attempt's cost (`cost_usd × retries`); retries logged as events are failed calls.

Examples:
    >>> import datetime as dt, polars as pl
    >>> t = dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC)
    >>> events = pl.LazyFrame({"ts": [t, t], "job_id": ["j1", "j1"], "stage": ["script", "voice"],
    ...     "provider": ["openai", "elevenlabs"], "model": ["gpt-4o", "v2"], "cost_usd": [0.25, 0.5],
    ...     "success": [True, False], "retries": [0, 1], "latency_ms": [900.0, 1500.0]})
    >>> report = run_report(events, "j1")
    >>> report.cost_usd, report.failed_cost_usd, report.retry_cost_usd, report.by_stage["stage"].to_list()
    (0.75, 0.5, 0.5, ['voice', 'script'])
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import polars as pl

from analytics.breakdown import breakdown
from analytics.export import to_csv
from analytics.measures import (CALLS, FAILED_CALLS, FAILED_COST, RETRY_COST, TOKENS, day_column, measures,
                               period_bounds)
from analytics.words import named_for
from ingest import schema as s
from ingest.pricing import PriceBook

LATENCY = (pl.col(s.LATENCY_MS).quantile(0.5).alias("latency_p50_ms"),
           pl.col(s.LATENCY_MS).quantile(0.95).alias("latency_p95_ms"))
TABLE_COLUMNS = (s.COST, CALLS, FAILED_CALLS, FAILED_COST, s.RETRIES, TOKENS, s.INPUT_TOKENS, s.CACHE_READ_TOKENS,
                 s.CACHE_WRITE_TOKENS, s.OUTPUT_TOKENS, s.REASONING_TOKENS, s.CHARACTERS, s.IMAGES,
                 s.COMPUTE_SECONDS, "share")


class _Report:
    """Serialisation shared by reports: figures are fields, tables are `pl.DataFrame` fields."""

    def _tables(self) -> dict[str, pl.DataFrame]:
        code = getattr(self, "currency", "USD")
        return {k: v.rename(lambda c: named_for(c, code)) for k, v in vars(self).items() if isinstance(v, pl.DataFrame)}

    def to_dict(self) -> dict:
        """Figures and tables; in a report in another currency, money is named for it (`cost_eur`)."""
        code = getattr(self, "currency", "USD")
        figures = {named_for(k, code): v for k, v in vars(self).items() if not isinstance(v, pl.DataFrame)}
        return {**figures, **{k: json.loads(v.write_json()) for k, v in self._tables().items()}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=str, indent=2)

    def to_csv(self) -> str:
        tables = [t.with_columns(pl.lit(name).alias("table")).rename({t.columns[0]: "name"}).with_columns(
            pl.col("name").cast(pl.String)) for name, t in self._tables().items() if t.width]
        return to_csv(pl.concat(tables, how="diagonal_relaxed").select("table", pl.exclude("table")))


@dataclass(frozen=True)
class RunReport(_Report):
    job_id: str
    cost_usd: float
    calls: int
    failed_calls: int
    failed_cost_usd: float
    retries: int
    retry_cost_usd: float
    waste_usd: float  # failed calls' cost plus retries': paid for, delivered nothing
    tokens: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    started: dt.datetime | None
    finished: dt.datetime | None
    estimate_usd: float | None
    estimate_error_pct: float | None  # (actual - estimate) / estimate
    still_going: bool  # its last event is less than `QUIET` before now
    projected_usd: float | None  # a run still going: its estimate when it has one (the cost so far if more)
    by_stage: pl.DataFrame = field(repr=False)
    by_provider: pl.DataFrame = field(repr=False)
    by_model: pl.DataFrame = field(repr=False)
    by_service: pl.DataFrame = field(repr=False)  # LLM against compute, TTS, images…
    failures: pl.DataFrame = field(repr=False)
    budgets: pl.DataFrame = field(default_factory=pl.DataFrame, repr=False)  # those covering it (the use case's)
    currency: str = "USD"  # what money is in: USD as priced, or each event's cost at its day's rate
    rates: str = "USD as priced"  # which rates, published when, from where


QUIET = dt.timedelta(minutes=30)  # a run with no event for this long is taken as finished


def run_report(events: pl.LazyFrame, job_id: str, *, estimate_usd: float | None = None,
               now: dt.datetime | None = None) -> RunReport:
    """Everything about one run: per stage, provider, model and service; tokens, latency, failures,
    estimate vs actual and, for a run still going, its projected total."""
    job = events.filter(pl.col(s.JOB_ID) == job_id).collect().lazy()  # one scan; the rest works on the run's rows
    frame = measures(job).with_columns((pl.col(s.COST).fill_null(0) * pl.col(s.RETRIES)).alias(RETRY_COST))
    head = frame.select(
        pl.col(s.COST).sum(), pl.col(CALLS).sum(), pl.col(FAILED_CALLS).sum(), pl.col(FAILED_COST).sum(),
        pl.col(s.RETRIES).sum(), pl.col(RETRY_COST).sum(), pl.col(TOKENS).sum(), *LATENCY,
        pl.col(s.TS).min().alias("started"), pl.col(s.TS).max().alias("finished")).collect().row(0, named=True)

    def table(key: str) -> pl.DataFrame:
        sums = breakdown(job, by=key).select(key, *[c for c in TABLE_COLUMNS if c != key])
        latency = frame.group_by(key).agg(*LATENCY).collect()
        return sums.join(latency, on=key, how="left", nulls_equal=True)

    by_stage = table(s.STAGE)
    order = frame.group_by(s.STAGE).agg(pl.col(s.TS).min().alias("_first")).collect()
    by_stage = by_stage.join(order, on=s.STAGE, how="left", nulls_equal=True).sort("_first").drop("_first")
    failures = frame.filter(pl.col(FAILED_CALLS) > 0).select(
        s.TS, s.STAGE, s.PROVIDER, s.MODEL, s.OPERATION, s.RETRIES, s.COST).sort(s.TS).collect()
    cost = head[s.COST] or 0.0
    now = now or dt.datetime.now(dt.UTC)
    going = head["finished"] is not None and now - head["finished"] < QUIET
    return RunReport(
        job_id=job_id, cost_usd=cost, calls=head[CALLS] or 0, failed_calls=head[FAILED_CALLS] or 0,
        failed_cost_usd=head[FAILED_COST] or 0.0, retries=head[s.RETRIES] or 0, retry_cost_usd=head[RETRY_COST] or 0.0,
        waste_usd=(head[FAILED_COST] or 0.0) + (head[RETRY_COST] or 0.0), tokens=head[TOKENS] or 0, latency_p50_ms=head["latency_p50_ms"], latency_p95_ms=head["latency_p95_ms"],
        started=head["started"], finished=head["finished"], estimate_usd=estimate_usd,
        estimate_error_pct=(cost / estimate_usd - 1) if estimate_usd else None,
        still_going=going, projected_usd=max(cost, estimate_usd) if going and estimate_usd else None,
        by_stage=by_stage, by_provider=table(s.PROVIDER), by_model=table(s.MODEL), by_service=table(s.SERVICE),
        failures=failures)


def top_runs(runs: pl.LazyFrame, top: int = 20) -> pl.DataFrame:
    """The `top` costliest runs of a table with one row per run (`analytics.runs(lake, start=…, end=…)`),
    each with its share of all the runs' cost; ties go to the smaller job id.

    Examples:
        >>> runs = pl.LazyFrame({"job_id": ["a", "b", "c"], "project": ["p", "p", "q"], "cost_usd": [1.0, 2.0, 1.0],
        ...                      "calls": [1, 2, 3], "failed_calls": [0, 0, 1]})
        >>> top_runs(runs, 2).select("job_id", "share").rows()
        [('b', 0.5), ('a', 0.25)]
    """
    # two reads: the cost column alone gives the total and the cost a run needs to make the top;
    # then only runs at or above it are read whole (a month holds one row per run: 10⁵ and more)
    total, floor = runs.select(pl.col(s.COST).sum(), pl.col(s.COST).top_k(top).min().alias("floor")).collect().row(0)
    at_least = pl.col(s.COST) >= floor if floor is not None else pl.lit(False)  # no priced run: none to show
    found = runs.filter(at_least).select(s.JOB_ID, s.PROJECT, s.COST, CALLS, FAILED_CALLS).collect()
    return found.sort([s.COST, s.JOB_ID], descending=[True, False]).head(top).with_columns(
        (pl.col(s.COST) / total if total else pl.lit(None, pl.Float64)).alias("share"))


@dataclass(frozen=True)
class MonthlyReport(_Report):
    month: str
    cost_usd: float
    calls: int
    failed_cost_usd: float
    unpriced_events: int
    previous_cost_usd: float
    change_pct: float | None
    through: dt.date          # the last day counted (the month's last, or today in the month under way)
    partial: bool             # the month is under way: it and the month before are compared day for day
    previous_from: dt.date    # the days of the month before it is compared with
    previous_to: dt.date
    runs: int                 # runs (job ids) with spend in the month
    cost_per_run_usd: float | None  # their cost ÷ their number
    daily: pl.DataFrame = field(repr=False)
    by_provider: pl.DataFrame = field(repr=False)
    by_model: pl.DataFrame = field(repr=False)
    by_project: pl.DataFrame = field(repr=False)
    by_stage: pl.DataFrame = field(repr=False)
    top_runs: pl.DataFrame = field(repr=False)
    currency: str = "USD"     # what money is in: USD as priced, or converted day by day (`ingest.fx`)
    rates: str = "USD as priced"  # which rates, published when, from where


def monthly_report(events: pl.LazyFrame, month: dt.date, *, top: int = 10, runs: pl.LazyFrame | None = None,
                   today: dt.date | None = None) -> MonthlyReport:
    """A calendar month (the one holding `month`): totals, change vs the month before, breakdowns, top runs.

    `events` may be raw events or the daily rollup; top runs come from `runs` (one row per
    run of the month: `analytics.runs(lake, start=…, end=…)`) when given, else from `events`
    (which then must be raw events). When `today` falls inside the month, the month to date
    is compared with the same days of the month before (the 1st to the 2nd with the 1st to the
    2nd), not with the whole of it.

    Examples:
        >>> import polars as pl
        >>> days = pl.LazyFrame({"date": [dt.date(2026, 10, 1), dt.date(2026, 10, 20), dt.date(2026, 11, 2)],
        ...                      "cost_usd": [5.0, 50.0, 10.0]})
        >>> r = monthly_report(days, dt.date(2026, 11, 1), today=dt.date(2026, 11, 2))
        >>> r.partial, r.previous_from, r.previous_to, r.previous_cost_usd, r.change_pct
        (True, datetime.date(2026, 10, 1), datetime.date(2026, 10, 2), 5.0, 1.0)
    """
    start, end = period_bounds(month, "month")
    before_start, before_end = period_bounds(start - dt.timedelta(days=1), "month")
    partial = today is not None and start <= today < end
    if partial:
        end = today
        before_end = min(before_end, before_start + (today - start))
    this = _in_range(events, start, end)
    total = breakdown(this)
    previous = _in_range(events, before_start, before_end).select(pl.col(s.COST).sum()).collect().item() or 0.0
    cost = total[s.COST].item() or 0.0
    columns = [c for c in TABLE_COLUMNS if c != "share"] + ["share"]
    per_run = (runs if runs is not None else this.filter(pl.col(s.JOB_ID).is_not_null()).group_by(
        s.JOB_ID, s.PROJECT).agg(pl.col(s.COST, CALLS, FAILED_CALLS).sum()))
    counted = per_run.select(pl.len().alias("n"), pl.col(s.COST).sum()).collect().row(0, named=True)
    return MonthlyReport(
        month=start.strftime("%Y-%m"), cost_usd=cost, calls=total[CALLS].item(),
        failed_cost_usd=total[FAILED_COST].item() or 0.0, unpriced_events=total["unpriced_events"].item(),
        previous_cost_usd=previous, change_pct=(cost / previous - 1) if previous else None,
        through=end, partial=partial, previous_from=before_start, previous_to=before_end,
        runs=counted["n"], cost_per_run_usd=counted[s.COST] / counted["n"] if counted["n"] else None,
        daily=breakdown(this, period="day").select("period_start", s.COST, CALLS, TOKENS).rename({"period_start": "date"}),
        by_provider=breakdown(this, by=s.PROVIDER).select(s.PROVIDER, *columns),
        by_model=breakdown(this, by=[s.MODEL]).select(s.MODEL, *columns),
        by_project=breakdown(this, by=s.PROJECT).select(s.PROJECT, *columns),
        by_stage=breakdown(this, by=s.STAGE).select(s.STAGE, *columns),
        top_runs=top_runs(per_run, top))


def _in_range(frame: pl.LazyFrame, start: dt.date, end: dt.date) -> pl.LazyFrame:
    frame = measures(frame)
    return frame.filter(day_column(frame).is_between(start, end))


@dataclass(frozen=True)
class TokenStats(_Report):
    cache_hit_rate: float | None      # cache-read tokens ÷ all input tokens (read + written + uncached)
    cached_call_share: float | None   # calls that read from the cache ÷ LLM calls
    cache_savings_usd: float          # cache reads priced as plain input, minus what they cost
    reasoning_share: float | None     # reasoning tokens ÷ output tokens
    by_model: pl.DataFrame = field(repr=False)
    by_operation: pl.DataFrame = field(repr=False)
    currency: str = "USD"             # what the savings are in: each event's at its day's rate
    rates: str = "USD as priced"


def token_stats(events: pl.LazyFrame, book: PriceBook, rates: pl.DataFrame | None = None) -> TokenStats:
    """Cache hit rate, what caching saved, reasoning share, and tokens per call by model and operation.

    Savings are priced by the price book at each event's own time: the same events with their
    cache-read tokens moved to plain input, minus the events as they were; with `rates` (`date`,
    `rate`), each event's saving at its day's rate.
    """
    llm = events.filter(pl.col(s.SERVICE).is_in(["llm", "embedding"]))
    inputs = pl.col(s.INPUT_TOKENS) + pl.col(s.CACHE_READ_TOKENS) + pl.col(s.CACHE_WRITE_TOKENS)

    def per(key: str) -> pl.DataFrame:
        return llm.group_by(key).agg(
            pl.len().alias(CALLS), pl.col(s.INPUT_TOKENS).sum(), pl.col(s.CACHE_READ_TOKENS).sum(),
            pl.col(s.CACHE_WRITE_TOKENS).sum(), pl.col(s.OUTPUT_TOKENS).sum(), pl.col(s.REASONING_TOKENS).sum(),
            (pl.col(s.CACHE_READ_TOKENS).sum() / inputs.sum()).alias("cache_hit_rate"),
            inputs.mean().alias("input_tokens_per_call"), pl.col(s.OUTPUT_TOKENS).mean().alias("output_tokens_per_call"),
        ).collect().sort([CALLS, key], descending=[True, False])

    head = llm.select(
        pl.len().alias(CALLS), pl.col(s.CACHE_READ_TOKENS).sum().alias("read"), inputs.sum().alias("inputs"),
        (pl.col(s.CACHE_READ_TOKENS) > 0).sum().alias("cached_calls"),
        pl.col(s.REASONING_TOKENS).sum().alias("reasoning"), pl.col(s.OUTPUT_TOKENS).sum().alias("output"),
    ).collect().row(0, named=True)
    cached = llm.filter(pl.col(s.CACHE_READ_TOKENS) > 0).select(s.COLUMNS).collect()
    savings = 0.0
    if cached.height:
        actual = book.price(cached)[s.COMPUTED_COST]
        uncached = book.price(cached.with_columns((pl.col(s.INPUT_TOKENS) + pl.col(s.CACHE_READ_TOKENS)).alias(s.INPUT_TOKENS),
                                                  pl.lit(0, pl.Int64).alias(s.CACHE_READ_TOKENS)))[s.COMPUTED_COST]
        weight = 1.0 if rates is None else cached.select(pl.col(s.TS).dt.date().alias(s.DATE)).join(
            rates.select(s.DATE, "rate"), on=s.DATE, how="left", maintain_order="left")["rate"]
        savings = float(((uncached - actual) * weight).sum())
    return TokenStats(
        cache_hit_rate=head["read"] / head["inputs"] if head["inputs"] else None,
        cached_call_share=head["cached_calls"] / head[CALLS] if head[CALLS] else None,
        cache_savings_usd=savings,
        reasoning_share=head["reasoning"] / head["output"] if head["output"] else None,
        by_model=per(s.MODEL), by_operation=per(s.OPERATION))
