"""Every action a person takes, composed once: the CLI, the app's pages and the HTTP API parse
their input, call one of these with a lake and plain arguments, and lay out what comes back.

Changing the lake (the lake keeps its rollups current as it writes):
    `import_files`, `write_demo`, `compact`, `reprice`, `retention`, `add_override`
Reports:
    `monthly`, `top_runs`, `run_report`, `breakdown`, `compare`, `forecast`, `anomalies`, `unpriced_models`, `suggestions`,
    `what_if`, `reconcile`
Budgets:
    `parse_thresholds`, `save_budget`, `delete_budget`, `budget_status`, `check`
Estimates:
    `estimate` (with other models side by side), `plan_decision`, `check_plan` (decide and record)

Examples:
    >>> import tempfile, datetime as dt
    >>> from ingest.lake import Lake
    >>> from analytics.budgets import Budget
    >>> lake = Lake(tempfile.mkdtemp())
    >>> _ = write_demo(lake, days=30, today=dt.date(2026, 3, 31))
    >>> save_budget(lake, Budget("tiny", limit_usd=1, thresholds=parse_thresholds("0.5, 1")))
    >>> result = check(lake, today=dt.date(2026, 3, 31), anomalies=False)
    >>> result.exit_code, [a.kind for a in result.new]
    (2, ['budget_exceeded'])
    >>> check(lake, today=dt.date(2026, 3, 31), anomalies=False).new  # fired once per period
    []
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

import analytics
from analytics import words
from analytics.alerts import Alert, budget_alerts, exit_code
from analytics.budgets import Budget, BudgetError, Decision, per_usd, spent_both
from analytics.estimate import Estimate, Step
from ingest import audit, fx, schema as s
from ingest.errors import OptionError, SpendlakeError
from ingest.lake import Lake, RewriteResult
from ingest.pipeline import ImportSummary
from ingest.price_rules import PriceRule
from ingest.pricing import PriceBook
from ingest.reprice import RepriceReport
from spendlake.access import Forbidden, narrow
from spendlake.notify import Delivered, Email, deliver

HISTORY_DAYS = 90  # how far back estimates learn tokens per call
MAX_DAYS = 36_500  # a hundred years: retention's cutoff is before every possible event beyond it


def _names(values: Sequence[str] | None) -> list[str]:
    return [v for v in values or () if v]


def _filters(projects: Sequence[str] | None, providers: Sequence[str] | None) -> dict[str, list[str]]:
    """Scan filters of the chosen projects and providers (none chosen: all)."""
    return {c: v for c, v in ((s.PROJECT, _names(projects)), (s.PROVIDER, _names(providers))) if v}


# ---- changing the lake ------------------------------------------------------------------------

def import_files(lake: Lake, paths: Sequence[Path], *, format: str | None = None, tz: str | None = None,
                 mapping: Mapping[str, str] | None = None, progress: Callable[[int, int], None] | None = None,
                 remember: bool = True, projects: Sequence[str] | None = None,
                 names: Mapping[Path, str] | None = None) -> ImportSummary:
    """Import files or folders (`ingest.importers.import_paths`); `remember=False` for one-off uploads.
    A caller limited to `projects` may not: a file may hold any project's events."""
    from ingest.importers import import_paths
    _every_project(projects, "importing")
    summary = import_paths(lake, list(paths), format=format, tz=tz, mapping=dict(mapping or {}),
                           progress=progress, remember=remember, names=dict(names or {}))
    return summary


@dataclass(frozen=True)
class AgentImport:
    agent: str
    folders: list[Path]  # where its logs are (none found: where they were looked for)
    files: int  # log files found there
    summary: ImportSummary | None  # None: no logs found


def agent_logs(home: Path | None = None, env: Mapping[str, str] | None = None) -> list:
    """Each supported coding agent with the log files found in its folders (`ingest.agents.Found`)."""
    from ingest.agents import discover
    return discover(home, env)


def import_agents(lake: Lake, *, home: Path | None = None, env: Mapping[str, str] | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  projects: Sequence[str] | None = None) -> list[AgentImport]:
    """Import every supported coding agent's logs from its folders on this machine
    (`ingest.agents.discover`); files read before and unchanged are skipped, grown ones read again."""
    _every_project(projects, "importing")
    done = []
    for found in agent_logs(home, env):
        summary = None
        for format, files in found.files.items():  # (OpenCode: message files, and its database)
            read = import_files(lake, files, format=format, progress=progress)
            if summary is None:
                summary = read
            else:
                summary += read
        where = [f for f in found.folders if f.is_dir()] if found.files else found.folders  # (found: where it was)
        done.append(AgentImport(found.agent.name, where, found.count, summary))
    return done


def upload_mapping(files: Sequence[tuple[str, bytes]], format: str | None = None) -> dict[str, str]:
    """The columns of the event files among `files` (name, content): CSV, JSON Lines and Parquet, in
    the order first seen, each with the event column it becomes in its file ("" for none), for a
    person to check and change before importing (`generic.column_mapping`)."""
    from ingest.importers import detect, generic
    found: dict[str, str] = {}
    for _, data in files:
        try:
            kind = format or detect(data[:1 << 20])
            columns = generic.columns_of(data, kind) if kind in ("csv", "jsonl", "parquet") else []
        except (SpendlakeError, OSError, ValueError, pl.exceptions.PolarsError):  # unreadable: the import says so
            continue
        mapped = generic.column_mapping(columns)
        for column in columns:
            found[column] = found.get(column) or mapped.get(column, "")
    return found


def write_demo(lake: Lake, *, days: int = 120, seed: int = 7, today: dt.date | None = None) -> ImportSummary:
    """A deterministic demo history ending `today` (pipelines, agents, growth, one spike)."""
    from ingest.demo import write_demo as write
    summary = write(lake, today or dt.datetime.now(dt.UTC).date(), days=days, seed=seed)
    return summary


def compact(lake: Lake, *, older_than: int = 0, today: dt.date | None = None) -> RewriteResult:
    """Merge each partition's small files into one and drop duplicate ids; only the days at least
    `older_than` days before today (UTC), so a day still being written is left alone."""
    if not older_than:
        return lake.compact()
    cutoff = (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=older_than)
    return lake.compact([day for day in lake.partitions() if day <= cutoff])


def reprice(lake: Lake, book: PriceBook | None = None, *, who: str | None = None,
            projects: Sequence[str] | None = None) -> RepriceReport:
    """Recompute every stored cost with the current price book; what changed (audited)."""
    from ingest.reprice import reprice as run
    _every_project(projects, "repricing")
    report = run(lake, book)
    changes = report.changes
    totals = {k: float(changes[k].sum()) if changes.height else 0.0 for k in ("cost_before", "cost_after")}
    audit.append(lake, audit.entry("reprice", "events", who=who, before={"cost_usd": totals["cost_before"]},
                                   after={"cost_usd": totals["cost_after"]}, partitions=report.partitions,
                                   events=int(changes["events"].sum()) if changes.height else 0))
    return report


def add_override(lake: Lake, provider: str, model: str, unit: str, price: str, *, per: str = "1",
                 start: dt.date | str = "2000-01-01", end: dt.date | str | None = None,
                 who: str | None = None, projects: Sequence[str] | None = None) -> PriceRule:
    """Add a negotiated rate (validated, audited); it wins from `start`. Stored costs change on `reprice`."""
    from ingest.price_rules import add_override as add, parse_rule
    _every_project(projects, "a price override")
    fields = {"provider": provider, "model": model, "unit": unit, "price": str(price), "per": str(per),
              "effective_from": str(start), "effective_to": str(end or "")}
    rule = parse_rule(fields)
    add(lake.overrides_path, rule)
    audit.append(lake, audit.entry("price_override_added", f"{rule.provider}/{rule.model} {rule.unit}", who=who,
                                   after=fields))
    return rule


def exchange_rates(lake: Lake) -> pl.DataFrame:
    """The rates at hand per currency and source: the days they cover and the newest rate (units per USD)."""
    return fx.summary(fx.rates(lake))


def import_rates(lake: Lake, data: bytes, name: str = "rates.csv", *, who: str | None = None,
                 projects: Sequence[str] | None = None) -> int:
    """Add the team's own rates (`date,currency,rate`), which win over the ECB's from their first
    date on (audited; every figure in another currency follows them); returns how many."""
    _every_project(projects, "exchange rates")
    count = fx.import_rates(lake, data, name)
    audit.append(lake, audit.entry("fx_rates_imported", name, who=who, after={"rates": count}))
    return count


def parse_age(text: str) -> int:
    """A retention age as days: `90d` → 90 (0 to `MAX_DAYS`)."""
    match = re.fullmatch(r"(\d{1,6})d", text.strip())
    if not match or int(match[1]) > MAX_DAYS:
        raise OptionError(f"{text!r}: write a number of days from 0 to {MAX_DAYS}, e.g. 90d", option="--older-than")
    return int(match[1])


def parse_every(text: str, option: str = "--check-every") -> float:
    """An interval as seconds: `30s`, `5m`, `1h` (at least a second, at most a day); `0` is never.

    Examples:
        >>> parse_every("5m"), parse_every("90s"), parse_every("0")
        (300.0, 90.0, 0.0)
    """
    match = re.fullmatch(r"(\d{1,5})([smh])", text.strip())
    if text.strip() == "0":
        return 0.0
    seconds = int(match[1]) * {"s": 1, "m": 60, "h": 3600}[match[2]] if match else 0
    if not 1 <= seconds <= 86_400:
        raise OptionError(f"{text!r}: write an interval from 1s to 24h, e.g. 30s, 5m or 1h (0: never)", option=option)
    return float(seconds)


@dataclass(frozen=True)
class Retention:
    cutoff: dt.date  # partitions before this day
    partitions: list[dt.date]  # that are (or, with dropped, were) before it
    events: int
    dropped: bool


def retention(lake: Lake, days: int, *, drop: bool = False, today: dt.date | None = None,
              who: str | None = None, projects: Sequence[str] | None = None) -> Retention:
    """The partitions older than `days` days and their events; dropped only with `drop` (audited)."""
    _every_project(projects, "retention")
    if not 0 <= days <= MAX_DAYS:
        raise OptionError(f"{days} days: keep from 0 to {MAX_DAYS} days", option="--older-than")
    cutoff = (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=days)
    old = [d for d in lake.partitions() if d < cutoff]
    events = lake.scan(start=old[0], end=old[-1]).select(pl.len()).collect().item() if old else 0
    if not (drop and old):
        return Retention(cutoff, old, events, False)
    dropped = lake.drop_before(cutoff)
    audit.append(lake, audit.entry("retention", f"before {cutoff}", who=who,
                                   before={"partitions": len(old), "events": events},
                                   after={"partitions": 0, "events": 0}, dropped=[d.isoformat() for d in dropped]))
    return Retention(cutoff, dropped, events, True)


# ---- reports ----------------------------------------------------------------------------------

def monthly(lake: Lake, month: dt.date, *, top: int = 10, today: dt.date | None = None,
            projects: Sequence[str] | None = None, currency: str | None = None) -> analytics.MonthlyReport:
    """The calendar month holding `month` for the chosen projects (none chosen: all); the month under
    way is compared with the same days before. In another `currency` (default: SPENDLAKE_CURRENCY,
    else USD) each day's cost is converted at that day's rate before anything is added up."""
    today = today or dt.datetime.now(dt.UTC).date()
    first, last = analytics.measures.period_bounds(month, "month")
    through = min(last, max(today, first))
    before = analytics.measures.period_bounds(first - dt.timedelta(days=1), "month")[0]  # (compared with it)
    code = display_currency(currency)
    # the two months' days read once (the report asks of them a dozen times), in another currency each at its rate
    daily, used = in_currency(lake, narrowed(analytics.daily(lake, start=before, end=through), None, None, projects,
                                             None), code, (before, through))
    daily = daily.collect().lazy()
    runs = runs_in(lake, first, through, code)
    if _names(projects):
        runs = runs.filter(pl.col(s.PROJECT).is_in(_names(projects)))
    report = analytics.monthly_report(daily, month, top=top, runs=runs, today=today)
    return report if code == fx.BASE else dataclasses.replace(report, currency=code, rates=str(used))


MONEY = [s.COST, "failed_cost_usd"]  # a rollup's money columns
EVENT_MONEY = [s.COST, s.COMPUTED_COST]  # an event's


def limit_in(lake: Lake, status: Mapping, currency: str, day: dt.date) -> float:
    """A budget's limit (a row of `budget_status`) in `currency`: as set when the budget is in it,
    else its dollars at the rate of `day`."""
    if status["currency"] == currency:
        return status["limit"]
    return status["limit_usd"] if currency == fx.BASE else status["limit_usd"] * rate_on(lake, currency, day)


@dataclass(frozen=True)
class MonthBudget:
    """The monthly budget a view of some projects stands against (Overview's headline)."""

    names: str  # the budgets', comma-separated
    currency: str  # the one they were set in (several: USD)
    limit_set: float  # their limit and what is left of it, in that currency
    left_set: float
    limit: float  # their limit in the currency asked for (another's at the rate of the day asked for)


def month_budget(lake: Lake, status: pl.DataFrame, projects: Sequence[str], currency: str,
                 today: dt.date) -> MonthBudget | None:
    """Of a `budget_status` table, the chosen projects' own monthly budgets when each has one (their
    sum), else the overall monthly budget, whatever the projects (None: no such budget)."""
    monthly = status.filter(pl.col("period") == "monthly")
    mine = monthly.filter((pl.col("scope") == "project") & pl.col("value").is_in(list(projects)))
    chosen = (mine if projects and set(mine["value"]) == set(projects)
              else monthly.filter(pl.col("scope") == "overall").head(1))
    if chosen.height == 0:
        return None
    own = set(chosen["currency"])
    code = own.pop() if len(own) == 1 else fx.BASE
    limit, left = ("limit", "remaining") if code != fx.BASE else ("limit_usd", "remaining_usd")
    return MonthBudget(", ".join(chosen["name"]), code, chosen[limit].sum(), chosen[left].sum(),
                       sum(limit_in(lake, r, currency, today) for r in chosen.iter_rows(named=True)))


def runs_in(lake: Lake, start: dt.date | None, end: dt.date | None, code: str) -> pl.LazyFrame:
    """One row per run in [start, end] with its cost, calls and failed calls: in dollars from the
    per-run rollup; in another currency each of the run's days at its rate, then added up."""
    from analytics.measures import CALLS, FAILED_CALLS
    if code == fx.BASE:
        return analytics.runs(lake, start=start, end=end)
    days = analytics.daily_jobs(lake, start=start, end=end).select(s.DATE, s.JOB_ID, s.PROJECT, s.COST, CALLS,
                                                                    FAILED_CALLS)
    return in_currency(lake, days, code, (start, end), money=[s.COST])[0].group_by(s.JOB_ID, s.PROJECT).agg(
        pl.col(s.COST, CALLS, FAILED_CALLS).sum()).collect().lazy()


def display_currency(currency: str | None = None) -> str:
    """The currency to show money in: the one asked for, else SPENDLAKE_CURRENCY, else USD."""
    import os
    return (currency or os.environ.get("SPENDLAKE_CURRENCY") or fx.BASE).strip().upper()


def monthly_html(lake: Lake, month: dt.date, *, top: int = 10, today: dt.date | None = None,
                 projects: Sequence[str] | None = None, book: PriceBook | None = None,
                 currency: str | None = None) -> str:
    """The monthly report as one self-contained HTML file to forward (`report_html`): with the
    month's forecast when it is under way, the budgets' status and the headline suggestions; in
    another `currency` as `monthly` converts (the overall budget's limit in it: `limit_in`)."""
    from spendlake.report_html import monthly_html as html
    today = today or dt.datetime.now(dt.UTC).date()
    report = monthly(lake, month, top=top, today=today, projects=projects, currency=currency)
    status = budget_status(lake, today=report.through, projects=projects)  # as the month ended (or stands)
    overall = status.filter((pl.col("scope") == "overall") & (pl.col("period") == "monthly"))
    limit = limit_in(lake, overall.row(0, named=True), report.currency, report.through) if overall.height else None
    outlook = (forecast(lake, today=today, projects=projects, budget_usd=limit, currency=report.currency)
               if report.partial else None)
    ideas = suggestions(lake, today=report.through, days=30, projects=projects, book=book, currency=report.currency).table
    return html(report, forecast=outlook, budgets=status, limit_usd=limit,
                suggestions=ideas.filter("headline") if ideas.height else None)


def top_runs(lake: Lake, *, start: dt.date | None = None, end: dt.date | None = None,
             projects: Sequence[str] | None = None, search: str | None = None, top: int = 20,
             currency: str | None = None) -> pl.DataFrame:
    """The costliest runs in [start, end] of the chosen projects whose id contains `search` (in
    another `currency`: each run's days at their own rates, named for it)."""
    code = display_currency(currency)
    runs = runs_in(lake, start, end, code)
    if _names(projects):  # runs have no provider: a provider filter does not apply to them
        runs = runs.filter(pl.col(s.PROJECT).is_in(_names(projects)))
    if search:
        runs = runs.filter(pl.col(s.JOB_ID).str.contains(search, literal=True))
    return named_for(analytics.top_runs(runs, top), code)


def run_report(lake: Lake, job_id: str, *, estimate_usd: float | None = None,
               projects: Sequence[str] | None = None, currency: str | None = None) -> analytics.RunReport | None:
    """One run's report from the run's own days only (and only the chosen projects' events), with its
    recorded estimate (None: no such run). In another `currency`, each event's cost at its day's
    rate, the estimate (made in dollars) at the rate of the run's first day."""
    from spendlake.store import estimate_for
    days = analytics.run_days(lake, job_id)
    if days is None:
        return None
    events = analytics.scan(lake, start=days[0], end=days[1], **_filters(projects, None))
    if _names(projects) and not events.filter(pl.col(s.JOB_ID) == job_id).head(1).collect().height:
        return None
    estimate_usd = estimate_usd if estimate_usd is not None else estimate_for(lake, job_id)
    events, used = in_currency(lake, events, currency, days, money=EVENT_MONEY)
    if estimate_usd is not None and used.currency != fx.BASE:
        estimate_usd *= rate_on(lake, used.currency, days[0])
    report = analytics.run_report(events, job_id, estimate_usd=estimate_usd)
    if used.currency != fx.BASE:
        report = dataclasses.replace(report, currency=used.currency, rates=str(used))
    # budget compliance: the budgets that cover the run's project, as they stood on its last day
    project = events.filter(pl.col(s.JOB_ID) == job_id).select(s.PROJECT).drop_nulls().first().collect()
    covering = [b for b in budgets(lake, projects=projects)
                if b.covers({s.PROJECT: project[s.PROJECT][0] if project.height else None})]
    status = analytics.budget_status(analytics.daily(lake), covering, today=days[1], with_forecast=False,
                                     rates=rates_for(lake, covering))
    return dataclasses.replace(report, budgets=status.select(  # each budget in its own currency
        "name", "scope", "value", "period", "currency", "limit", "spent", "pct", "state", "enforcement"))


def events(lake: Lake, *, start: dt.date | None = None, end: dt.date | None = None,
           projects: Sequence[str] | None = None, providers: Sequence[str] | None = None, job_id: str | None = None,
           where: Mapping[str, str] | None = None, limit: int = 200, book: PriceBook | None = None,
           currency: str | None = None) -> pl.DataFrame:
    """The latest events (newest first) of [start, end] (a run's: all its days), narrowed to `where`
    (dimension → value, as a breakdown's row names them): each with how it was priced, quantities
    × rates = cost with the price version in full, and for a failed call why it failed. In another
    `currency`, each cost also at its day's rate (`cost_eur`) beside the dollars it was priced in."""
    from analytics.measures import dimension
    from ingest.pricing import PRICED_COLUMNS, explain
    if job_id:
        days = analytics.run_days(lake, job_id)
        if days is None:
            return pl.DataFrame()
        start, end = days
    frame = analytics.scan(lake, start=start, end=end, **_filters(projects, providers))
    if job_id:
        frame = frame.filter(pl.col(s.JOB_ID) == job_id)
    for name, value in (where or {}).items():
        frame = frame.filter(dimension(name) == value)
    found = frame.sort(s.TS, descending=True).head(limit).collect()
    book = book or PriceBook.load(lake.overrides_path)
    how = []
    for row in found.iter_rows(named=True):
        rates = book.rates_for(row[s.PROVIDER], row[s.MODEL], row[s.UNIT], row[s.TS])
        usage = {c: row[c] for c in PRICED_COLUMNS if row[c]}
        computed = explain(usage, rates[0]) if rates else "no price for this model"
        if row[s.COST_SOURCE] != "reported":
            how.append(computed)
            continue
        billed = _billed(row[s.TAGS])  # a cost billed in another currency: that, and its dollars
        said = f"{billed} = ${row[s.COST]:,.6f} at its day's rate" if billed else f"${row[s.COST]:,.6f}"
        how.append(f"reported {said}; the book: {computed}")
    failure = pl.when(~pl.col(s.SUCCESS)).then(pl.concat_str(
        pl.col(s.TAGS).str.json_path_match("$.error").fill_null("failed"),
        pl.col(s.TAGS).str.json_path_match("$.status").map_elements(lambda v: f" (HTTP {v})", return_dtype=pl.String)
        .fill_null(""))).alias("failure")
    code = display_currency(currency)
    converted = []
    if code != fx.BASE and found.height:
        found = in_currency(lake, found.lazy().with_columns(pl.col(s.COST).alias("_in")), code,
                            (found[s.DATE].min(), found[s.DATE].max()), money=["_in"])[0].collect()
        converted = [pl.col("_in").alias(words.named_for(s.COST, code))]
    return found.with_columns(pl.Series("how_priced", how, dtype=pl.String), failure).select(
        s.TS, s.EVENT_ID, s.PROVIDER, s.MODEL, s.SERVICE, s.OPERATION, s.PROJECT, s.JOB_ID, s.STAGE,
        s.INPUT_TOKENS, s.CACHE_READ_TOKENS, s.CACHE_WRITE_TOKENS, s.OUTPUT_TOKENS, s.REASONING_TOKENS,
        s.CHARACTERS, s.IMAGES, *converted, s.COST, s.COST_SOURCE, "how_priced", s.PRICE_VERSION, s.SUCCESS,
        "failure", s.RETRIES, s.LATENCY_MS)


@dataclass(frozen=True)
class Suggestions:
    table: pl.DataFrame  # one row per suggestion, largest saving first (`analytics.suggestions`)
    savings_monthly_usd: float  # the headline suggestions' savings: a set that touches no call twice
    currency: str = "USD"  # what the money is in (savings look ahead: at the rate of the window's last day)
    rates: str = "USD as priced"


def suggestions(lake: Lake, *, today: dt.date | None = None, days: int = 30, projects: Sequence[str] | None = None,
                providers: Sequence[str] | None = None, book: PriceBook | None = None,
                currency: str | None = None) -> Suggestions:
    """Ways to spend less, learned from the last `days` days up to `today`: their usage sums, kept
    per day beside the rollups (`store.UsageSums`), summed from the events of a day not seen yet.
    A saving a month looks ahead: in another `currency`, at the rate of `today`."""
    from spendlake.store import UsageSums
    today = today or dt.datetime.now(dt.UTC).date()
    book = book or PriceBook.load(lake.overrides_path)
    sums = UsageSums(lake).window(today - dt.timedelta(days=days - 1), today, book,
                                  today=dt.datetime.now(dt.UTC).date())
    for column, values in _filters(projects, providers).items():
        sums = sums.filter(pl.col(column).is_in(values))
    found = analytics.suggestions(None, book, today=today, days=days, sums=sums)
    total = float(found.filter("headline")["savings_monthly_usd"].sum())
    code = display_currency(currency)
    if code == fx.BASE:
        return Suggestions(found, total)
    table, rate, used = at_rate_of(lake, found, code, today)
    return Suggestions(table, total * rate, code, str(used))


@dataclass(frozen=True)
class WhatIf:
    current_usd: float  # the project's LLM cost over the window
    moved_usd: float | None  # the same calls on the other model (None: it has no price)
    currency: str = "USD"  # what both are in: each day's dollars at that day's rate

    @property
    def difference_usd(self) -> float | None:
        return None if self.moved_usd is None else self.moved_usd - self.current_usd

    @property
    def change(self) -> float | None:
        """The difference as a fraction of the current cost (None without one)."""
        return None if self.moved_usd is None or not self.current_usd else self.moved_usd / self.current_usd - 1


def what_if(lake: Lake, project: str, provider: str, model: str, *, today: dt.date | None = None, days: int = 30,
            book: PriceBook | None = None, projects: Sequence[str] | None = None,
            currency: str | None = None) -> WhatIf:
    """A project's LLM cost over the last `days` days, and the same calls priced on another model
    (a caller limited to `projects` asks only of one of them); in another `currency`, each day's
    cost at that day's rate."""
    from analytics.optimize import reprice_as, usage
    narrow(_names(projects), [project])
    today = today or dt.datetime.now(dt.UTC).date()
    book = book or PriceBook.load(lake.overrides_path)
    first = today - dt.timedelta(days=days - 1)
    llm = usage(analytics.scan(lake, start=first, end=today, project=project, service="llm"), book,
                targets=[(provider, model)])
    dated = llm.lazy().with_columns(pl.col(s.TS).dt.date().alias(s.DATE), pl.lit(1.0).alias("_rate"))
    llm, used = in_currency(lake, dated, currency, (first, today), money=["_rate"])  # (each usage row: one day)
    llm = llm.collect()
    return WhatIf(float((llm[s.COST] * llm["_rate"]).sum()), reprice_as(llm, book, provider, model, weight="_rate"),
                  used.currency)


def reconcile(lake: Lake, *, start: dt.date | None = None, end: dt.date | None = None,
              projects: Sequence[str] | None = None, providers: Sequence[str] | None = None,
              min_gap: float = 0.0) -> pl.DataFrame:
    """Per provider and day, what providers billed and what sources priced themselves, against the
    price book; only days with a gap of at least `min_gap` USD. Billed rows have a provider, not a
    project, so a project filter narrows the events only."""
    from ingest.reported import read_reported
    billed = read_reported(lake, start=start, end=end)
    if _names(providers):
        billed = billed.filter(pl.col(s.PROVIDER).is_in(_names(providers)))
    result = analytics.reconcile(analytics.scan(lake, start=start, end=end, **_filters(projects, providers)), billed)
    if min_gap > 0:
        result = result.filter(pl.max_horizontal(pl.col("gap_usd").abs().fill_null(0),
                                                 pl.col("event_gap_usd").abs()) >= min_gap)
    return result


# ---- budgets ----------------------------------------------------------------------------------

DEFAULT_THRESHOLDS = "80%, 100%"  # what a new budget is offered: a warning at 80 %, exceeded at 100 %


def parse_thresholds(text: str) -> tuple[float, ...]:
    """Alert thresholds as people write them, separated by commas: fractions (`0.5, 0.8, 1`),
    percentages (`50%, 80%`) or plain numbers above 1 read as percentages (`50,75,90,100`); spaces
    and an empty piece are ignored (whether they are in order and in range, `Budget` checks).

    Examples:
        >>> parse_thresholds("50,75,90,100"), parse_thresholds("50%, 0.8, 1")
        ((0.5, 0.75, 0.9, 1.0), (0.5, 0.8, 1.0))
    """
    values = []
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        try:
            number = float(piece.removesuffix("%").strip())
        except ValueError:
            raise BudgetError(f"thresholds {text!r}: write fractions (0.5, 0.8, 1), percentages (50%, 80%, 100%) "
                              "or 50,80,100") from None
        values.append(number / 100 if piece.endswith("%") or number > 1 else number)
    return tuple(values)


def target_warning(lake: Lake, budget: Budget) -> str | None:
    """A budget whose target (project, model, tag value…) matches no event yet: a message naming
    the nearest existing values, so that a typo (`shorts-factroy`) is seen when it is saved."""
    import difflib
    if budget.scope == "overall":
        return None
    key, _, wanted = (budget.value or "").partition("=") if budget.scope == "tag" else (budget.scope, "", budget.value)
    try:
        column = analytics.measures.dimension(f"tag:{key}" if budget.scope == "tag" else budget.scope)
    except OptionError as e:
        return f"budget {budget.name!r} can match no event: {e}"
    known = analytics.daily(lake).select(column.alias("v")).unique().drop_nulls().collect()["v"].to_list()
    if wanted in known:
        return None
    what = f"tag {key}" if budget.scope == "tag" else budget.scope
    near = difflib.get_close_matches(wanted, known, n=3, cutoff=0.6)
    hint = (f"did you mean {', '.join(map(repr, near))}?" if near else
            f"known: {', '.join(map(repr, sorted(known)[:8]))}{'…' if len(known) > 8 else ''}" if known else
            "the lake has none yet")
    return f"no event has {what} {wanted!r} yet, so budget {budget.name!r} matches nothing; {hint}"


def save_budget(lake: Lake, budget: Budget, *, replacing: str | None = None, who: str | None = None,
                projects: Sequence[str] | None = None) -> str | None:
    """Add `budget`, or replace the one of its name (and the one named `replacing`, when renamed);
    audited. Returns a warning when its target matches no event yet (`target_warning`). A caller
    limited to `projects` sets only budgets of one of them, and replaces only those."""
    from spendlake.store import load_budgets, save_budgets
    _own_budget(budget, projects)
    fx.check(budget.currency, fx.rates(lake))  # a currency with rates at hand, or a message listing them
    with lake.lock():
        budgets = load_budgets(lake)
        before = next((b for b in budgets if b.name == (replacing or budget.name)), None)
        for old in (b for b in budgets if b.name in (budget.name, replacing)):
            _own_budget(old, projects)
        save_budgets(lake, [b for b in budgets if b.name not in (budget.name, replacing)] + [budget])
    audit.append(lake, audit.entry("budget_set", budget.name, who=who, before=before and before.to_dict(),
                                   after=budget.to_dict()))
    return target_warning(lake, budget)


def delete_budget(lake: Lake, name: str, *, who: str | None = None, projects: Sequence[str] | None = None) -> None:
    from spendlake.store import load_budgets, save_budgets
    with lake.lock():
        budgets = load_budgets(lake)
        doomed = next((b for b in budgets if b.name == name), None)
        if doomed is None or (_names(projects) and doomed.value not in _names(projects)):
            raise SpendlakeError(f"no budget named {name!r}; see: spendlake budget list")
        _own_budget(doomed, projects)
        save_budgets(lake, [b for b in budgets if b.name != name])
    audit.append(lake, audit.entry("budget_deleted", name, who=who, before=doomed.to_dict()))


def narrowed(frame: pl.LazyFrame, start: dt.date | None, end: dt.date | None,
              projects: Sequence[str] | None, providers: Sequence[str] | None) -> pl.LazyFrame:
    """A rollup (or events with a `date`) narrowed to [start, end] and the chosen projects and providers
    (none chosen: all)."""
    for column, values in _filters(projects, providers).items():
        frame = frame.filter(pl.col(column).is_in(values))
    if start is not None or end is not None:
        frame = frame.filter(pl.col(s.DATE).is_between(start or dt.date.min, end or dt.date.max))
    return frame


def breakdown(lake: Lake, by: Sequence[str] = (), *, period: str | None = None, top: int | None = None,
              metric: str = s.COST, start: dt.date | None = None, end: dt.date | None = None,
              projects: Sequence[str] | None = None, providers: Sequence[str] | None = None,
              daily: pl.LazyFrame | None = None, currency: str | None = None) -> pl.DataFrame:
    """Measures by any attribution and period, from the daily rollup (by run, from the per-run
    rollup). `daily`: the lake's daily rollup when the caller holds it already. In another
    `currency`, each day's money at that day's rate, named for it (`cost_eur`)."""
    rows, used = in_currency(lake, narrowed(_rollup_for(lake, by, start, end, daily), start, end, projects, providers),
                             currency, (start, end))
    result = analytics.breakdown(rows, by=list(by), period=period, top=top, metric=metric)
    return named_for(result, used.currency)


def in_currency(lake: Lake, rows: pl.LazyFrame, currency: str | None,
                span: tuple[dt.date | None, dt.date | None] = (None, None),
                money: Sequence[str] = MONEY) -> tuple[pl.LazyFrame, fx.Used]:
    """Rows of days (in `span`, when known; or events, by their `date`) with their `money` columns
    at each day's rate in `currency` (default: `display_currency`), and the rates that took."""
    code = display_currency(currency)
    if code == fx.BASE:  # (nothing to read: dollars are what the lake holds)
        return rows, fx.Used(fx.BASE, None, None, ())
    return fx.convert(rows, code, fx.rates(lake), list(money), _days_held(lake, span))


def rate_on(lake: Lake, currency: str, day: dt.date) -> float:
    """Units of `currency` a dollar bought on `day` (the last rate published on or before it)."""
    return fx.per_day(pl.DataFrame({s.DATE: [day]}), currency, fx.rates(lake))["rate"][0]


def at_rate_of(lake: Lake, table: pl.DataFrame, currency: str | None,
               day: dt.date) -> tuple[pl.DataFrame, float, fx.Used]:
    """A table of figures that look ahead (an estimate, a saving a month) with every money column at
    the rate of `day` and named for the currency; that rate, and where it came from."""
    code = display_currency(currency)
    rates = fx.per_day(pl.DataFrame({s.DATE: [day]}), code, fx.rates(lake))
    rate = rates["rate"][0]
    money = [c for c, dtype in table.schema.items() if c.endswith("_usd") and dtype.is_float()]
    used = dataclasses.replace(fx.used_by(rates, code), daily=False)
    return named_for(table.with_columns(pl.col(money) * rate), code), rate, used


def _days_held(lake: Lake, span: tuple[dt.date | None, dt.date | None]) -> tuple[dt.date | None, dt.date | None]:
    """`span` with an open end closed at the lake's first or last day (from its partitions, not its events)."""
    days = lake.partitions() if None in span else []
    return (span[0] or (days[0] if days else None)), (span[1] or (days[-1] if days else None))


def named_for(table: pl.DataFrame, code: str) -> pl.DataFrame:
    """A table's money columns named for the currency they hold (`cost_usd` → `cost_eur`)."""
    return table.rename(lambda c: words.named_for(c, code))


def rates_used(lake: Lake, currency: str | None, start: dt.date | None, end: dt.date | None) -> str:
    """Which rates a figure in `currency` over [start, end] took: to state beside it."""
    return str(in_currency(lake, pl.LazyFrame(schema={s.DATE: pl.Date, s.COST: pl.Float64, "failed_cost_usd": pl.Float64}),
                           currency, (start, end))[1])


COST_COLUMNS = ("period_start", "cost_usd", "share", "calls", "failed_calls", "tokens", "characters", "images",
                "compute_seconds")  # what `costs` shows beside the grouping columns


def costs(lake: Lake, by: Sequence[str] = (), *, period: str | None = None, top: int | None = None,
          start: dt.date | None = None, end: dt.date | None = None, projects: Sequence[str] | None = None,
          providers: Sequence[str] | None = None, currency: str | None = None) -> pl.DataFrame:
    """`breakdown`'s cost, calls and tokens (what `report breakdown` and `GET /v1/costs` answer)."""
    result = breakdown(lake, by, period=period, top=top, start=start, end=end, projects=projects, providers=providers,
                       currency=currency)
    wanted = named_for(pl.DataFrame(schema=dict.fromkeys(COST_COLUMNS, pl.Float64)), display_currency(currency)).columns
    keep = [c for c in (wanted[0], *by, *wanted[1:]) if c in result.columns]
    return result.select(list(dict.fromkeys(keep)))


def compare(lake: Lake, by: Sequence[str] = (), *, start: dt.date, end: dt.date, metric: str = s.COST,
            projects: Sequence[str] | None = None, providers: Sequence[str] | None = None,
            daily: pl.LazyFrame | None = None, currency: str | None = None) -> pl.DataFrame:
    """`metric` by `by` in [start, end] beside the equally long period just before it (money in
    another `currency`: each day at its rate)."""
    first = start - (end - start + dt.timedelta(days=1))
    rollup, used = in_currency(lake, narrowed(_rollup_for(lake, by, first, end, daily), first, end, projects, providers),
                               currency, (first, end))
    return named_for(analytics.compare(rollup, by=list(by), start=start, end=end, metric=metric), used.currency)


def _rollup_for(lake: Lake, by: Sequence[str], start: dt.date | None, end: dt.date | None,
                daily: pl.LazyFrame | None) -> pl.LazyFrame:
    """The table that holds a grouping: the per-run rollup for runs (by project too), raw events for
    runs by anything else (service, model, stage…), else the daily rollup (`daily` if held)."""
    if s.JOB_ID in by:
        if set(by) <= {s.JOB_ID, s.PROJECT}:
            return analytics.daily_jobs(lake, start=start, end=end)
        return analytics.measures.measures(analytics.scan(lake, start=start, end=end)).with_columns(
            pl.col(s.TS).dt.date().alias(s.DATE))
    return analytics.daily(lake, start=start, end=end) if daily is None else daily


def anomalies(lake: Lake, *, by: str = s.PROJECT, grain: str = "day", start: dt.date | None = None,
              end: dt.date | None = None, projects: Sequence[str] | None = None,
              providers: Sequence[str] | None = None, daily: pl.LazyFrame | None = None,
              currency: str | None = None) -> pl.DataFrame:
    """Days (or hours, from raw events) in [start, end] whose cost departs from their usual level,
    with what drove them. `daily`: the lake's daily rollup when the caller holds it already. Found
    in dollars (the spend the lake holds); in another `currency`, each row at its day's rate."""
    if grain == "hour":
        events = analytics.scan(lake, start=start, end=end, **_filters(projects, providers))
    else:
        rollup = analytics.daily(lake, start=start, end=end) if daily is None else daily
        events = narrowed(rollup, start, end, projects, providers)
    found = analytics.anomalies(events, by=by, grain=grain)
    money = [c for c in found.columns if c.endswith("_usd")]
    span = (found[s.DATE].min(), found[s.DATE].max()) if found.height else (start, end)
    return named_for(in_currency(lake, found.lazy(), currency, span, money)[0].collect(), display_currency(currency))


def focus(lake: Lake, *, start: dt.date | None = None, end: dt.date | None = None, currency: str | None = None,
          book: PriceBook | None = None) -> pl.DataFrame:
    """Costs in [start, end] as FOCUS 1.2 rows for FinOps tools: priced in USD, billed in `currency`
    (each day at its rate)."""
    events = analytics.scan(lake, start=start, end=end)
    book = book or PriceBook.load(lake.overrides_path)
    code = display_currency(currency)
    return analytics.focus(events, book, _day_rates(lake, code, (start, end)), code)


def tokens(lake: Lake, *, start: dt.date | None = None, end: dt.date | None = None, currency: str | None = None,
           book: PriceBook | None = None) -> analytics.TokenStats:
    """Cache hit rate, what caching saved (in `currency`: each event's saving at its day's rate),
    reasoning share, tokens per call."""
    book = book or PriceBook.load(lake.overrides_path)
    code = display_currency(currency)
    rates = _day_rates(lake, code, (start, end))
    found = analytics.token_stats(analytics.scan(lake, start=start, end=end), book, rates)
    return found if rates is None else dataclasses.replace(found, currency=code, rates=str(fx.used_by(rates, code)))


def _day_rates(lake: Lake, code: str, span: tuple[dt.date | None, dt.date | None]) -> pl.DataFrame | None:
    """The rate of each day of `span` (its open ends: the lake's first and last day) in `code`; None for dollars."""
    start, end = _days_held(lake, span)
    if code == fx.BASE or start is None:
        return None
    return fx.calendar(start, end, code, fx.rates(lake))


def unpriced_models(lake: Lake, *, projects: Sequence[str] | None = None) -> pl.DataFrame:
    """Models with events and no price, with their event counts (a price override fixes them)."""
    return analytics.unpriced_models(analytics.scan(lake, **_filters(projects, None)))


def forecast(lake: Lake, *, today: dt.date | None = None, period: str = "month", budget_usd: float | None = None,
             projects: Sequence[str] | None = None, providers: Sequence[str] | None = None,
             daily: pl.LazyFrame | None = None, currency: str | None = None) -> analytics.Forecast:
    """Spend to the end of the period holding `today`, with intervals and when `budget_usd` runs out,
    for the chosen projects and providers. `daily`: the lake's daily rollup when the caller holds it.
    In another `currency` (the budget then in it too), each day at its own day's rate
    (`analytics.forecast.in_currency`; the days to come at the newest rate at hand)."""
    from analytics.forecast import in_currency
    from spendlake.store import ForecastPlans
    frame = narrowed(analytics.daily(lake) if daily is None else daily, None, None, projects, providers)
    code = display_currency(currency)
    found = analytics.forecast(frame, today=today or dt.datetime.now(dt.UTC).date(), period=period,
                               budget_usd=budget_usd if code == fx.BASE else None, plans=ForecastPlans(lake))
    if code == fx.BASE:
        return found
    rates, text = _period_rates(lake, code, found.period_start, found.period_end, found.today)
    return in_currency(found, rates.select(s.DATE, "rate"), code, budget=budget_usd, rates_text=text)


def _period_rates(lake: Lake, code: str, first: dt.date, last: dt.date, today: dt.date) -> tuple[pl.DataFrame, str]:
    """The rate of each day of a period being forecast (the days to come: the newest at hand) and
    what to say of them."""
    rates = fx.calendar(first, last, code, fx.rates(lake))
    used = fx.used_by(rates.filter(pl.col(s.DATE) <= today), code)
    return rates, f"{used}; the days to come at the rate of {last}"


def forecast_by(lake: Lake, by: str, *, today: dt.date | None = None, period: str = "month",
                currency: str | None = None) -> tuple[pl.DataFrame, str]:
    """One forecast per value of `by` for the largest spenders (in another `currency` each day at its
    rate, the days to come at the newest at hand), and which rates that took."""
    today = today or dt.datetime.now(dt.UTC).date()
    code = display_currency(currency)
    if code == fx.BASE:
        return analytics.forecast_by(analytics.daily(lake), by, today=today, period=period), str(fx.Used(code, None, None, ()))
    rates, text = _period_rates(lake, code, *analytics.measures.period_bounds(today, period), today)
    found = analytics.forecast_by(analytics.daily(lake), by, today=today, period=period, rates=rates, currency=code)
    return named_for(found, code), text


def budget_status(lake: Lake, *, today: dt.date | None = None, daily: pl.LazyFrame | None = None,
                  projects: Sequence[str] | None = None) -> pl.DataFrame:
    """Every budget (with `projects`, those of just these projects): spent, remaining, share used,
    forecast, days left. `daily`: the lake's daily rollup when the caller holds it already (the app
    caches it)."""
    from spendlake.store import ForecastPlans
    chosen = budgets(lake, projects=projects)
    return analytics.budget_status(analytics.daily(lake) if daily is None else daily, chosen, rates=rates_for(lake, chosen),
                                   today=today or dt.datetime.now(dt.UTC).date(), plans=ForecastPlans(lake))


def budget_spent(lake: Lake, *, today: dt.date | None = None, projects: Sequence[str] | None = None) -> list[dict]:
    """Each budget (as stored) with its current period and what was spent in it: the state a
    Tracker enforces. No forecast, so it is cheap to ask every second. With `projects`, only the
    budgets of just those projects (`budgets`)."""
    today = today or dt.datetime.now(dt.UTC).date()
    found = budgets(lake, projects=projects)
    if not found:
        return []
    periods = [b.bounds(today) for b in found]
    daily = analytics.daily(lake, start=min(start for start, _ in periods), end=max(end for _, end in periods))
    rates = rates_for(lake, found)
    own, dollars = spent_both(daily, found, today, rates)
    # a budget in another currency: its spend in it, and what a dollar is worth in it today (a guard
    # takes a call's cost in dollars at that rate)
    return [b.to_dict() | {"period_start": start.isoformat(), "period_end": end.isoformat(), "spent_usd": used_usd,
                           "spent": used, "per_usd": per_usd(b, today, rates)}
            for b, (start, end), used, used_usd in zip(found, periods, own, dollars)]


def rates_for(lake: Lake, budgets: Sequence[Budget]) -> pl.DataFrame | None:
    """The exchange rates budgets in other currencies need (None when all are in dollars)."""
    return fx.rates(lake) if any(b.currency != fx.BASE for b in budgets) else None


@dataclass(frozen=True)
class Check:
    budgets: int
    status: pl.DataFrame = field(repr=False)  # analytics.budget_status of every budget
    new: list[Alert] = field(default_factory=list)
    delivered: Delivered | None = None  # what reached the webhook and e-mail now (None: no channel)

    @property
    def exit_code(self) -> int:
        """0 ok, 1 a warning threshold crossed, 2 a budget exceeded."""
        return exit_code(self.status)


def check(lake: Lake, *, today: dt.date | None = None, anomalies: bool = True, now: dt.datetime | None = None,
          webhook: str | None = None, email: Email | None = None, projects: Sequence[str] | None = None) -> Check:
    """Evaluate every budget (and spikes of yesterday and today); record and return the new alerts,
    then send what has not reached the webhook and e-mail recipients yet (`notify.deliver`: once
    each, however many checks run)."""
    from spendlake.store import load_budgets, record_new_alerts
    _every_project(projects, "the check")
    now = now or dt.datetime.now(dt.UTC)
    today = today or now.date()
    from spendlake.store import ForecastPlans
    budgets = load_budgets(lake)
    status = analytics.budget_status(analytics.daily(lake), budgets, today=today, plans=ForecastPlans(lake),
                                     rates=rates_for(lake, budgets))
    forecast(lake, today=today)  # the whole lake's month, fitted ahead of the first visitor of the day
    from spendlake.store import UsageSums  # and Optimize's usage sums of the days before today
    UsageSums(lake).window(today - dt.timedelta(days=30), today - dt.timedelta(days=1),
                           PriceBook.load(lake.overrides_path), today=today)
    spikes = []
    if anomalies:
        recent = analytics.daily(lake, start=today - dt.timedelta(days=120), end=today)
        spikes = [analytics.anomalies(recent, by=by) for by in ("project", "model")]

    def decide(seen: set[tuple]) -> list[Alert]:  # under the lake's lock: frames only, no reading
        return budget_alerts(status, now=now, seen=seen) + [
            alert for found in spikes
            for alert in analytics.anomaly_alerts(found, now=now, since=today - dt.timedelta(days=1), seen=seen)]

    new = record_new_alerts(lake, decide)
    sent = deliver(lake, webhook=webhook, email=email, now=now) if webhook or email else None
    return Check(len(budgets), status, new, sent)


# ---- estimates --------------------------------------------------------------------------------

def estimate_history(lake: Lake, day: dt.date) -> pl.LazyFrame:
    """The raw events an estimate made on `day` learns its tokens per call from."""
    return analytics.scan(lake, start=day - dt.timedelta(days=HISTORY_DAYS), end=day)


def estimate(lake: Lake, plan: Sequence[Step], *, at: dt.datetime | None = None, book: PriceBook | None = None,
             compare: Sequence[tuple[str, str]] = ()) -> tuple[Estimate, pl.DataFrame | None]:
    """A plan's low/expected/high cost calibrated by the lake's last 90 days, and its LLM steps on
    each (provider, model) of `compare` side by side (None without)."""
    at = at or dt.datetime.now(dt.UTC)
    book = book or PriceBook.load(lake.overrides_path)
    history = estimate_history(lake, at.date())
    result = analytics.estimate(plan, book, history=history, at=at)
    compared = analytics.compare_models(plan, book, list(compare), history=history, at=at) if compare else None
    return result, compared


def plan_decision(lake: Lake, high_usd: float, attribution: Mapping[str, str] | None = None, *,
                  today: dt.date | None = None, daily: pl.LazyFrame | None = None,
                  projects: Sequence[str] | None = None) -> Decision:
    """Whether a run that may cost `high_usd` may start under the budgets matching its attribution
    (a caller limited to `projects`: for one of them, under their budgets only)."""
    if _names(projects):
        narrow(_names(projects), [(attribution or {}).get(s.PROJECT) or ""])
    chosen = budgets(lake, projects=projects)
    return analytics.can_execute(analytics.daily(lake) if daily is None else daily, chosen, high_usd,
                                 dict(attribution or {}), today=today or dt.datetime.now(dt.UTC).date(),
                                 rates=rates_for(lake, chosen))


@dataclass(frozen=True)
class PlanCheck:
    estimate: Estimate
    decision: Decision | None  # None when a step has no price
    alert: Alert | None


def check_plan(lake: Lake, plan: Sequence[Step], *, attribution: Mapping[str, str] | None = None,
               job_id: str | None = None, book: PriceBook | None = None, now: dt.datetime | None = None,
               projects: Sequence[str] | None = None) -> PlanCheck:
    """Estimate a plan, decide it against the budgets at its high estimate, record a
    task_estimate_high alert when it warns or worse, and record the estimate against `job_id` so
    the run's report shows estimate vs actual."""
    from spendlake.store import record_alerts, record_estimate
    now = now or dt.datetime.now(dt.UTC)
    result, _ = estimate(lake, plan, at=now, book=book)
    if result.expected_usd is None:
        return PlanCheck(result, None, None)
    decision = plan_decision(lake, result.high_usd, attribution, today=now.date(), projects=projects)
    alert = analytics.estimate_alert(decision, job_id or "unnamed run", result.high_usd, now=now)
    if alert:
        record_alerts(lake, [alert])
    if job_id:
        record_estimate(lake, job_id, result.to_dict())
    return PlanCheck(result, decision, alert)


@dataclass(frozen=True)
class RunEstimate:
    checked: PlanCheck  # in dollars, as recorded and decided
    compared: pl.DataFrame | None  # the LLM steps on other models, side by side (None: none asked)
    shown: Estimate | None = None  # the estimate in the currency asked for (None: dollars)

    @property
    def estimate(self) -> Estimate:
        """The estimate as shown: in the currency asked for."""
        return self.shown or self.checked.estimate

    def to_dict(self) -> dict:
        """What `spendlake estimate --format json` and `POST /v1/estimate` answer."""
        decision = self.checked.decision.to_dict() if self.checked.decision else None
        return self.estimate.to_dict() | {"decision": decision, "compared": (
            self.compared.to_dicts() if self.compared is not None else [])}


def estimate_run(lake: Lake, plan: Sequence[Step], *, project: str | None = None, job_id: str | None = None,
                 compare: Sequence[str] = (), book: PriceBook | None = None,
                 now: dt.datetime | None = None, currency: str | None = None) -> RunEstimate:
    """Estimate a run, decide it against the budgets and record it (`check_plan`, in dollars), with its
    LLM steps on each PROVIDER/MODEL of `compare`; shown in another `currency` at the newest rate
    (an estimate looks ahead)."""
    if any("/" not in m for m in compare):
        raise OptionError("compare takes PROVIDER/MODEL, e.g. anthropic/claude-sonnet-4-5", option="--compare")
    book = book or PriceBook.load(lake.overrides_path)
    found = check_plan(lake, plan, attribution={"project": project} if project else {}, job_id=job_id, book=book,
                       now=now)
    compared = None
    if compare:
        _, compared = estimate(lake, plan, at=now, book=book, compare=[tuple(m.split("/", 1)) for m in compare])
    code = display_currency(currency)
    if code == fx.BASE:
        return RunEstimate(found, compared)
    day = (now or dt.datetime.now(dt.UTC)).date()
    steps, rate, used = at_rate_of(lake, found.estimate.steps, code, day)
    est = found.estimate
    shown = dataclasses.replace(est, steps=steps, currency=code, rates=str(used), **{
        k: None if getattr(est, k) is None else getattr(est, k) * rate for k in ("low_usd", "expected_usd", "high_usd")})
    return RunEstimate(found, None if compared is None else at_rate_of(lake, compared, code, day)[0], shown)


def prices(lake: Lake, search: str | None = None, *, book: PriceBook | None = None) -> pl.DataFrame:
    """The price book's rates whose provider, model or unit contains `search` (overrides first)."""
    return (book or PriceBook.load(lake.overrides_path)).rules(search)


def alerts(lake: Lake, *, projects: Sequence[str] | None = None, kinds: Sequence[str] | None = None) -> list[Alert]:
    """Alerts fired so far, oldest first; with `projects`, only those about budgets of just those
    projects or about those projects themselves."""
    from spendlake.store import load_alerts
    found = load_alerts(lake)
    if kinds:
        found = [a for a in found if a.kind in kinds]
    if _names(projects):
        mine = {b.name for b in budgets(lake, projects=projects)}
        found = [a for a in found if a.subject in mine or a.subject.removeprefix("project=") in _names(projects)]
    return found


ALERT_COLUMNS = pl.Schema({"id": pl.String, "state": pl.String, **{name: dtype for name, dtype in {
    "kind": pl.String, "subject": pl.String, "period_start": pl.String, "threshold": pl.Float64, "fired_at": pl.String,
    "spent_usd": pl.Float64, "limit_usd": pl.Float64, "forecast_usd": pl.Float64, "message": pl.String,
    "occurrence": pl.Int64}.items()}})


def alert_board(lake: Lake, *, projects: Sequence[str] | None = None, kinds: Sequence[str] | None = None,
                active: bool = False, today: dt.date | None = None) -> pl.DataFrame:
    """Alerts with their id and state (`analytics.alert_states`): active first, then acknowledged,
    then resolved, newest first within each; with `active`, only those not resolved."""
    from spendlake.store import load_acknowledged, load_budgets
    today = today or dt.datetime.now(dt.UTC).date()
    found = alerts(lake, projects=projects, kinds=kinds)
    if not found:
        return pl.DataFrame(schema=ALERT_COLUMNS)
    stored = load_budgets(lake)
    status = analytics.budget_status(analytics.daily(lake), stored, today=today, with_forecast=False,
                                     rates=rates_for(lake, stored))
    states = analytics.alert_states(found, status, today=today, acknowledged=load_acknowledged(lake))
    board = pl.DataFrame([{"id": a.id, "state": state, **a.to_dict()} for a, state in zip(found, states)],
                         schema=ALERT_COLUMNS)
    if active:
        board = board.filter(pl.col("state") != "resolved")
    rank = pl.col("state").replace_strict({"active": 0, "acknowledged": 1, "resolved": 2}, return_dtype=pl.Int8)
    return board.sort(rank, pl.col("fired_at"), descending=[False, True])


def acknowledge(lake: Lake, alert_id: str, *, who: str | None = None,
                projects: Sequence[str] | None = None) -> dict:
    """Mark an active alert as seen by `who` (audited); refused for an unknown or resolved one."""
    from ingest import audit
    from spendlake.store import record_acknowledged
    board = alert_board(lake, projects=projects)
    row = board.filter(pl.col("id") == alert_id)
    if row.height == 0:
        raise OptionError(f"no alert {alert_id!r}; list them with: spendlake alerts", option="ID")
    state = row["state"][0]
    if state == "resolved":
        raise OptionError(f"alert {alert_id!r} is resolved already", option="ID")
    entry = audit.entry("alert_acknowledged", alert_id, who=who, before={"state": state},
                        after={"state": "acknowledged"}, alert=row["message"][0])
    record_acknowledged(lake, alert_id, entry)
    return entry


def audit_log(lake: Lake, *, actions: Sequence[str] | None = None, projects: Sequence[str] | None = None) -> pl.DataFrame:
    """The audit trail, newest first: when, who, action, subject, before and after (as JSON text);
    for callers who see every project."""
    _every_project(projects, "the audit trail")
    rows = [{"at": e.get("at"), "who": e.get("who"), "action": e.get("action"), "subject": e.get("subject"),
             "before": _json(e.get("before")), "after": _json(e.get("after")),
             "details": _json({k: v for k, v in e.items() if k not in AUDIT_FIELDS})}
            for e in audit.read(lake) if not actions or e.get("action") in actions]
    schema = {k: pl.String for k in (*AUDIT_FIELDS, "details")}
    return pl.DataFrame(rows, schema=schema).reverse()


AUDIT_FIELDS = ("at", "who", "action", "subject", "before", "after")


def _billed(tags: str | None) -> str | None:
    """What a source was billed in another currency, from an event's tags (`fx.billed_in_dollars`)."""
    if not tags or fx.BILLED_CURRENCY not in tags:
        return None
    import json
    try:
        kept = json.loads(tags)
        return words.amount_in(float(kept[fx.BILLED_AMOUNT]), str(kept[fx.BILLED_CURRENCY]))
    except (ValueError, KeyError, TypeError):
        return None


def _json(value: object) -> str | None:
    import json
    return None if value in (None, {}) else json.dumps(value, default=str, sort_keys=True)


def _every_project(projects: Sequence[str] | None, what: str) -> None:
    """Refuse a caller limited to some projects an action that reaches every project."""
    if _names(projects):
        raise Forbidden(f"{what} reaches every project; you see only {', '.join(_names(projects))} "
                        "(an admin of every project can)")


def _own_budget(budget: Budget, projects: Sequence[str] | None) -> None:
    """A caller limited to `projects` sets and removes only budgets of one of them."""
    if _names(projects) and not (budget.scope == s.PROJECT and budget.value in _names(projects)):
        raise Forbidden(f"you set only budgets of project(s) {', '.join(_names(projects))} "
                        f"(scope project, value one of them); {budget.name!r} is not one")


def budgets(lake: Lake, *, projects: Sequence[str] | None = None) -> list[Budget]:
    """The stored budgets; with `projects`, only those that cover one of these projects alone."""
    from spendlake.store import load_budgets
    found = load_budgets(lake)
    if _names(projects):
        found = [b for b in found if b.scope == s.PROJECT and b.value in _names(projects)]
    return found
