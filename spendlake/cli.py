"""`spendlake`: the command line, thin over `ingest` and `analytics`."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import polars as pl
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

from analytics.budgets import ENFORCEMENTS, BUDGET_PERIODS, SCOPES
from ingest.errors import OptionError, SpendlakeError
from ingest.price_rules import UNIT_RATES
from spendlake.config import lake_path

app = typer.Typer(help="What your paid AI APIs cost: capture, price and analyse usage events.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

LakeOption = Annotated[Optional[str], typer.Option("--lake", help="Lake folder, or s3://bucket/prefix (default: $SPENDLAKE_LAKE or data/lake).")]


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    html = "html"  # report monthly only: one self-contained file to forward


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
FromOption = Annotated[Optional[str], typer.Option("--from", help="First day (YYYY-MM-DD, UTC).")]
CurrencyOption = Annotated[Optional[str], typer.Option(
    "--currency", help="Show money in this currency (EUR, GBP, JPY…), converted day by day at each day's rate "
    "(default: $SPENDLAKE_CURRENCY, else USD as priced); see: spendlake fx.")]
ToOption = Annotated[Optional[str], typer.Option("--to", help="Last day (YYYY-MM-DD, UTC).")]


def _lake(option: str | None, *, existing: bool = False):
    """The lake; `existing` refuses a folder that holds no lake (a report of zeros would mislead)."""
    from ingest.errors import LakeError
    from ingest.lake import Lake
    lake = Lake(lake_path(option))
    if existing and not lake.exists():
        raise LakeError(f"no lake at {lake.root} (no events, budgets or prices there); "
                        "import some usage (spendlake import …) or write a demo lake (spendlake demo)")
    return lake


def _emit(frame: pl.DataFrame, fmt: Format, title: str = "") -> None:
    _no_html(fmt)
    if fmt is Format.json:
        out.print_json(frame.write_json())
    elif fmt is Format.csv:
        from analytics.export import to_csv
        sys.stdout.write(to_csv(frame))
    else:
        out.print(_table_for_people(frame, title))


def _table_for_people(frame: pl.DataFrame, title: str = "") -> Table:
    """A table that fits the terminal: headers in words, money as dollars, shares as percentages,
    counts with separators; numeric columns that are all zero are left out, and the columns that
    do not fit after the first ones are named in the caption (all of them: --format csv or json)."""
    from analytics.words import in_words
    empty = [c for c, t in frame.schema.items() if t.is_numeric() and c != frame.columns[0]
             and frame.height and not (frame[c].fill_null(0) != 0).any()]
    shown = frame.drop(empty)
    cells = {c: [_cell(v, c) for v in shown[c]] for c in shown.columns}
    room, keep, widths = out.size.width - 1, [], {}
    for c in shown.columns:  # in order: the answer (what it is grouped by, its cost) comes first
        widths[c] = max([len(in_words(c))] + [len(x) for x in cells[c]])
        if keep and widths[c] + 3 > room:
            break
        keep.append(c)
        room -= widths[c] + 3
    left = [in_words(c).lower() for c in shown.columns[len(keep):]]
    table = Table(title=title or None, caption=f"also: {', '.join(left)} (--format csv)" if left else None)
    for c in keep:
        numeric = shown.schema[c].is_numeric()
        table.add_column(in_words(c), justify="right" if numeric else "left", no_wrap=numeric, overflow="fold")
    for i in range(shown.height):
        table.add_row(*[cells[c][i] for c in keep])
    return table


def _cell(v: object, column: str = "") -> str:
    from analytics.words import cell
    return cell(v, column)


@app.command("import")
def import_(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Files or folders to import.")] = None,
    agents: Annotated[bool, typer.Option("--agents", help="Import every coding agent's logs from its own folder on this machine (Claude Code, Codex, Gemini CLI, OpenCode): what is new since the last import.")] = False,
    format: Annotated[Optional[str], typer.Option("--format", help="Force a format (e.g. claude-code, otel, litellm, jsonl); an unknown name lists them all.")] = None,
    tz: Annotated[Optional[str], typer.Option("--tz", help="Time zone of naive timestamps, e.g. Europe/Paris.")] = None,
    map_: Annotated[Optional[list[str]], typer.Option("--map", help="Rename a source column: SOURCE=COLUMN (SOURCE= leaves it out).")] = None,
    lake: LakeOption = None,
) -> None:
    """Import usage logs; bad records go to quarantine with their reasons. Exit 0 when everything
    landed, 1 when anything went to quarantine or a file could not be read."""
    from spendlake import usecases
    if not paths and not agents:
        raise OptionError("name files or folders to import, or pass --agents for the coding agents' own logs")
    mapping = {}
    for item in map_ or []:
        source, sep, target = item.partition("=")
        if not sep:
            raise OptionError(f"--map {item!r}: write SOURCE=COLUMN", option="--map")
        mapping[source] = target
    target_lake = _lake(lake)
    complete = True
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=err, transient=True) as bar:
        task = bar.add_task("importing", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
        found = usecases.import_agents(target_lake, progress=progress) if agents else []
        summary = usecases.import_files(target_lake, paths, format=format, tz=tz, mapping=mapping,
                                        progress=progress) if paths else None
    for each in found:
        where = ", ".join(_home_relative(f) for f in each.folders)
        if each.summary is None:
            out.print(f"{each.agent}: no logs in {where}")
            continue
        out.print(f"[bold]{each.agent}[/] ({where}): {each.files:,} log file{'s' * (each.files != 1)}")
        complete &= _print_import(each.summary, tz, indent="  ")
    if summary is not None:
        complete &= _print_import(summary, tz)
    if not complete:
        raise typer.Exit(1)


def _home_relative(path: Path) -> str:
    return f"~/{path.relative_to(Path.home())}" if path.is_relative_to(Path.home()) else str(path)


def _print_import(summary, tz: str | None, indent: str = "") -> bool:
    """Print what an import did; whether everything landed."""
    out.print(f"{indent}imported [bold]{summary.imported:,}[/] events, skipped {summary.duplicates:,} duplicates"
              + (f" ({summary.repeats:,} exact repeats, kept in quarantine)" if summary.repeats else "")
              + f", quarantined {summary.quarantined:,}" + (f", {summary.unpriced:,} unpriced" if summary.unpriced else "")
              + (f"; kept {summary.reported:,} reported cost rows (see: spendlake report reconcile)"
                 if summary.reported else "")
              + (f"; {summary.unchanged:,} file{'s' * (summary.unchanged != 1)} unchanged since the last import"
                 if summary.unchanged else ""))
    for message in summary.problem_messages()[:5]:  # one line per problem, with how many records had it
        err.print(f"{indent}  [yellow]{message}[/]")
    for note in summary.notes:
        err.print(f"{indent}  {note}")
    for failure in summary.failed:
        err.print(f"{indent}  [red]not read:[/] {failure}")
    if any("has no time zone" in e for e in summary.errors) and not tz:
        err.print(f"{indent}  timestamps without a time zone: pass the zone they were written in, e.g. --tz Europe/Paris")
    for path in summary.quarantine_files:
        out.print(f"{indent}quarantine: {path}")
    if summary.unpriced:
        out.print(f"{indent}see unpriced models with: spendlake prices --unpriced")
    return summary.complete


@app.command()
def demo(
    days: Annotated[int, typer.Option(help="Days of history ending today.")] = 120,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same lake).")] = 7,
    lake: LakeOption = None,
) -> None:
    """Write a deterministic demo lake (pipelines, agents, growth, one spike)."""
    from spendlake.usecases import write_demo
    summary = write_demo(_lake(lake), days=days, seed=seed)
    out.print(f"demo: {summary.imported:,} events written to {lake_path(lake)} "
              f"({summary.duplicates:,} were already there)")


@app.command()
def status(lake: LakeOption = None, fmt: FormatOption = Format.table) -> None:
    """Events, cost, unpriced events and files in the lake."""
    import analytics
    target = _lake(lake, existing=True)
    totals = analytics.totals(analytics.scan(target)).to_dict()
    totals |= {"partitions": len(target.partitions()), "files": len(target.files()), "lake": str(target.root)}
    _emit(pl.DataFrame([totals]), fmt, "lake status")


@app.command()
def prices(
    unpriced: Annotated[bool, typer.Option("--unpriced", help="List models without a price, with event counts.")] = False,
    search: Annotated[Optional[str], typer.Option(help="Show rates whose provider/model/unit contains this text.")] = None,
    lake: LakeOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """The price book: unpriced models, or override, catalog and genai-prices rates."""
    target = _lake(lake)
    if unpriced:
        from spendlake.usecases import unpriced_models
        _emit(unpriced_models(target), fmt, "unpriced models")
        return
    from ingest.pricing import PriceBook
    _emit(PriceBook.load(target.overrides_path).rules(search), fmt, "price rules")


@app.command()
def override(
    provider: str, model: str,
    unit: Annotated[str, typer.Argument(help=f"{', '.join(UNIT_RATES)}, or a custom unit")],
    price: Annotated[str, typer.Argument(help="USD per PER units")],
    per: Annotated[str, typer.Option(help="How many units PRICE buys, e.g. 1000000 for per-MTok.")] = "1",
    start: Annotated[str, typer.Option("--from", help="First day the rate applies (YYYY-MM-DD).")] = "2000-01-01",
    end: Annotated[Optional[str], typer.Option("--to", help="First day it no longer applies.")] = None,
    lake: LakeOption = None,
) -> None:
    """Add a negotiated rate; it wins over catalog and genai-prices from its start date. Then run reprice."""
    from spendlake.usecases import add_override
    target = _lake(lake)
    rule = add_override(target, provider, model, unit, price, per=per, start=start, end=end)
    out.print(f"override added: {provider}/{model} {unit} = ${rule.price} per {rule.per} from {rule.effective_from}"
              f" ({target.overrides_path}); run `spendlake reprice` to apply it to stored events")


@app.command()
def reprice(lake: LakeOption = None, fmt: FormatOption = Format.table) -> None:
    """Recompute costs with the current price book; prints what changed."""
    from spendlake.usecases import reprice as run
    report = run(_lake(lake, existing=True))
    if fmt is Format.table:
        out.print(f"repriced {report.partitions} partition(s)")
    _emit(report.changes, fmt, "changes")


@app.command()
def compact(lake: LakeOption = None,
            older_than: Annotated[str, typer.Option("--older-than", help="Only days at least this old, e.g. 2d "
                                                    "(default 0d: every day).")] = "0d") -> None:
    """Merge each partition's small files into one and drop duplicate ids (safe while others append)."""
    from spendlake.usecases import compact as run, parse_age
    result = run(_lake(lake, existing=True), older_than=parse_age(older_than))
    out.print(f"compacted {result.partitions} partition(s): {result.files_before:,} files → {result.files_after:,}, "
              f"{result.events_before:,} events → {result.events_after:,}")


@app.command()
def retention(
    older_than: Annotated[str, typer.Option("--older-than", help="Drop partitions older than this many days, e.g. 90d.")],
    yes: Annotated[bool, typer.Option("--yes", help="Drop them; without it, only say what would be dropped.")] = False,
    lake: LakeOption = None,
) -> None:
    """Drop whole partitions older than a number of days: shows what it would drop, drops with --yes."""
    from spendlake import usecases
    days = usecases.parse_age(older_than)
    found = usecases.retention(_lake(lake, existing=True), days, drop=yes)
    old, cutoff = found.partitions, found.cutoff
    if not old:
        out.print(f"no partition before {cutoff}: nothing to drop")
    elif found.dropped:
        out.print(f"dropped {len(old)} partition(s) before {cutoff}: {old[0]} … {old[-1]}")
    else:
        out.print(f"would drop {len(old)} partition(s) before {cutoff}: {old[0]} … {old[-1]}, {found.events:,} events; "
                  "run again with --yes to drop them")


report = typer.Typer(no_args_is_help=True)
app.add_typer(report, name="report", help="Reports (every one takes --format table|json|csv).")
budget = typer.Typer(no_args_is_help=True)
app.add_typer(budget, name="budget", help="Budgets: add, list, remove.")


def _day(text: str | None, name: str) -> dt.date:
    if text is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise OptionError(f"{name} {text!r}: write a date as YYYY-MM-DD", option=name) from None


def _month(text: str | None) -> dt.date:
    """--month as YYYY-MM (or any day of the month, YYYY-MM-DD); default this month."""
    if text is not None and re.fullmatch(r"\d{4}-\d{2}", text.strip()):
        text = text.strip() + "-01"
    try:
        return _day(text, "--month")
    except OptionError:
        raise OptionError(f"--month {text!r}: write a month as YYYY-MM (or a day of it, YYYY-MM-DD)",
                          option="--month") from None


def _span(start: str | None, end: str | None) -> dict[str, dt.date | None]:
    """--from/--to as the start/end keywords of scans and rollups (--from after --to is refused)."""
    span = {"start": start and _day(start, "--from"), "end": end and _day(end, "--to")}
    if span["start"] and span["end"] and span["start"] > span["end"]:
        raise OptionError(f"--from {span['start']} is after --to {span['end']}: the range holds no day", option="--from")
    return span


def _no_html(fmt: Format) -> None:
    if fmt is Format.html:
        raise OptionError("--format html is for report monthly; this takes table, json or csv", option="--format")


def _in(code: str) -> str:
    """A title's note of the currency its money is in (nothing for dollars)."""
    return f", in {code}" if code != "USD" else ""


def _say_rates(fmt: Format, code: str, rates: str) -> None:
    """Under a table in another currency, which rates it took (said on the terminal only)."""
    if fmt is Format.table and code != "USD":
        out.print(rates)


def _emit_report(result, fmt: Format, title: str) -> None:
    """A report dataclass: its figures, then each of its tables (or all of it as JSON / CSV)."""
    if fmt is Format.json:
        out.print_json(result.to_json())
    elif fmt is Format.csv:
        sys.stdout.write(result.to_csv())
    else:
        from analytics.words import in_words
        figures = Table(title=title or None, show_header=False)  # one figure a line: it fits any terminal
        figures.add_column(style="bold")
        figures.add_column(justify="right")
        for k, v in result.to_dict().items():
            if not isinstance(v, list):
                figures.add_row(in_words(k), _cell(v, k))
        out.print(figures)
        for name, table in result._tables().items():
            if table.height:
                _emit(table, fmt, name.replace("_", " "))


@report.command("monthly")
def report_monthly(month: Annotated[Optional[str], typer.Option(help="The month, YYYY-MM (or a day of it); default this month.")] = None,
                   top: int = 10, lake: LakeOption = None, fmt: FormatOption = Format.table,
                   currency: CurrencyOption = None) -> None:
    """A calendar month: totals, change vs the month before, breakdowns, top runs. The month under
    way is compared with the same days of the month before."""
    from spendlake.usecases import display_currency, monthly, monthly_html
    day = _month(month)
    if fmt is Format.html:  # to stdout: spendlake report monthly -f html > november.html
        sys.stdout.write(monthly_html(_lake(lake, existing=True), day, top=top, currency=display_currency(currency)))
        return
    result = monthly(_lake(lake, existing=True), day, top=top, currency=currency)
    _emit_report(result, fmt, f"month of {day:%Y-%m}" + (f", to {result.through}" if result.partial else "")
                 + _in(result.currency))
    if fmt is Format.table and result.partial:
        out.print(f"month to date ({result.month}-01 … {result.through}) against the same days of the month "
                  f"before ({result.previous_from} … {result.previous_to})")
    _say_rates(fmt, result.currency, result.rates)


@report.command("job")
def report_job(job_id: str, estimate: Annotated[Optional[float], typer.Option(help="The run's estimate in USD.")] = None,
               lake: LakeOption = None, fmt: FormatOption = Format.table, currency: CurrencyOption = None) -> None:
    """One run: stages, providers, models, tokens, latency, failures, estimate vs actual."""
    from spendlake.usecases import run_report
    result = run_report(_lake(lake, existing=True), job_id, estimate_usd=estimate, currency=currency)
    if result is None:
        from ingest.errors import SpendlakeError
        raise SpendlakeError(f"no events for job {job_id!r}; list runs with: spendlake report jobs")
    _emit_report(result, fmt, f"job {job_id}" + _in(result.currency))
    _say_rates(fmt, result.currency, result.rates)


@report.command("jobs")
def report_jobs(start: FromOption = None, end: ToOption = None, top: int = 20,
                lake: LakeOption = None, fmt: FormatOption = Format.table, currency: CurrencyOption = None) -> None:
    """The costliest runs in a date range."""
    from spendlake.usecases import display_currency, rates_used, top_runs
    span, target = _span(start, end), _lake(lake, existing=True)
    _emit(top_runs(target, **span, top=top, currency=currency), fmt, "runs")
    _say_rates(fmt, display_currency(currency), rates_used(target, currency, span["start"], span["end"]))


@report.command("reconcile")
def report_reconcile(start: FromOption = None, end: ToOption = None,
                     min_gap: Annotated[float, typer.Option(help="Only days whose gap is at least this many USD.")] = 0.0,
                     lake: LakeOption = None, fmt: FormatOption = Format.table) -> None:
    """Per provider and day: what the providers billed (imported cost reports) and what events brought
    as their own cost, against what the price book computes."""
    from spendlake.usecases import reconcile
    result = reconcile(_lake(lake, existing=True), **_span(start, end), min_gap=min_gap)
    if fmt is Format.table:  # the gaps and what they are made of; JSON and CSV carry every column
        result = result.select("provider", "date", "billed_usd", "computed_usd", "gap_usd", "event_gap_usd",
                               "unpriced_events")
    _emit(result, fmt, "reported vs computed")


@report.command("breakdown")
def report_breakdown(by: Annotated[list[str], typer.Option(help="Columns to group by (repeat), or tag:<key>.")],
                     period: Annotated[Optional[str], typer.Option(help="day, week or month.")] = None,
                     start: FromOption = None, end: ToOption = None,
                     top: Optional[int] = None, lake: LakeOption = None, fmt: FormatOption = Format.table,
                     currency: CurrencyOption = None) -> None:
    """Cost, calls and tokens by any attribution and period (from the daily rollup)."""
    from spendlake.usecases import costs, display_currency, rates_used
    span, target = _span(start, end), _lake(lake, existing=True)
    _emit(costs(target, by, period=period, top=top, currency=currency, **span), fmt, "breakdown")
    _say_rates(fmt, display_currency(currency), rates_used(target, currency, span["start"], span["end"]))


@report.command("forecast")
def report_forecast(by: Annotated[Optional[str], typer.Option(help="One forecast per project, provider, …")] = None,
                    period: str = "month", budget_usd: Annotated[Optional[float], typer.Option("--budget")] = None,
                    today: Optional[str] = None, lake: LakeOption = None, fmt: FormatOption = Format.table,
                    currency: CurrencyOption = None) -> None:
    """Spend to the end of the period with 80/95 % intervals and the budget's exhaustion date (the
    budget in --currency when given)."""
    target, day = _lake(lake, existing=True), _day(today, "--today")
    if by:
        from spendlake.usecases import display_currency, forecast_by
        found, rates = forecast_by(target, by, today=day, period=period, currency=currency)
        _emit(found, fmt, f"forecast by {by}")
        _say_rates(fmt, display_currency(currency), rates)
    else:
        from analytics.words import money
        from spendlake.usecases import forecast
        found = forecast(target, today=day, period=period, budget_usd=budget_usd, currency=currency)
        if fmt is Format.table:  # the answer first
            m = lambda amount: money(amount, found.currency)  # noqa: E731
            out.print(f"[bold]Expected {period} total: {m(found.expected_total_usd)}[/] (80 % band "
                      f"{m(found.total_low80_usd)} – {m(found.total_high80_usd)}); spent {m(found.spent_usd)} "
                      f"from {found.period_start}" + (f"; the budget runs out about {found.exhaustion_date}"
                                                      if found.exhaustion_date else ""))
        _emit_report(found, fmt, "forecast")
        _say_rates(fmt, found.currency, found.rates)


@report.command("anomalies")
def report_anomalies(by: str = "project", grain: Annotated[str, typer.Option(help="day or hour")] = "day",
                     start: FromOption = None, end: ToOption = None,
                     lake: LakeOption = None, fmt: FormatOption = Format.table, currency: CurrencyOption = None) -> None:
    """Days (or hours) whose cost departs from their usual level, with what drove them (found in USD as
    priced; shown in --currency, each day at its rate)."""
    from spendlake.usecases import anomalies, display_currency, rates_used
    target, span = _lake(lake, existing=True), _span(start, end)
    _emit(anomalies(target, by=by, grain=grain, currency=currency, **span), fmt, f"anomalies by {by}")
    _say_rates(fmt, display_currency(currency), rates_used(target, currency, span["start"], span["end"]))


@report.command("optimize")
def report_optimize(days: Annotated[int, typer.Option(help="Days of history to learn from.")] = 30,
                    today: Optional[str] = None, lake: LakeOption = None, fmt: FormatOption = Format.table,
                    currency: CurrencyOption = None) -> None:
    """Ways to spend less, each priced from your own usage: savings per month, trade-off, action (a saving
    looks ahead: in --currency at the newest rate of the days learned from)."""
    from spendlake.usecases import suggestions
    found = suggestions(_lake(lake, existing=True), today=_day(today, "--today"), days=days, currency=currency)
    _emit(found.table, fmt, "suggestions")
    _say_rates(fmt, found.currency, found.rates)


@report.command("focus")
def report_focus(start: FromOption = None, end: ToOption = None,
                 lake: LakeOption = None, fmt: FormatOption = Format.csv, currency: CurrencyOption = None) -> None:
    """Costs as FOCUS 1.2 rows (one per day, model, project, stage and charge kind) for FinOps tools: priced in
    USD, billed in --currency (each day at its rate)."""
    import analytics
    from spendlake.usecases import focus
    rows = focus(_lake(lake, existing=True), **_span(start, end), currency=currency)
    if fmt is Format.csv:
        sys.stdout.write(analytics.to_csv(rows))
    else:
        _emit(rows, fmt, "FOCUS")


@report.command("tokens")
def report_tokens(start: FromOption = None, end: ToOption = None,
                  lake: LakeOption = None, fmt: FormatOption = Format.table, currency: CurrencyOption = None) -> None:
    """Cache hit rate, what caching saved, reasoning share, tokens per call."""
    from spendlake.usecases import tokens
    found = tokens(_lake(lake, existing=True), **_span(start, end), currency=currency)
    _emit_report(found, fmt, "tokens" + _in(found.currency))
    _say_rates(fmt, found.currency, found.rates)


@report.command("budget")
def report_budget(today: Optional[str] = None, lake: LakeOption = None, fmt: FormatOption = Format.table) -> None:
    """Every budget: spent, remaining, % used, forecast, days left."""
    from spendlake.usecases import budget_status
    state = budget_status(_lake(lake, existing=True), today=_day(today, "--today"))
    if fmt is Format.table:
        if (state["currency"] != "USD").any():  # each budget's figures in its own currency
            from analytics.words import money
            state = state.with_columns(*[pl.struct(c, "currency").map_elements(
                lambda r, c=c: money(r[c], r["currency"]), return_dtype=pl.String).alias(f"{c}_usd")
                for c in ("limit", "spent", "forecast")])
        state = state.select("name", "scope", "value", "period", "limit_usd", "spent_usd", "pct", "state",
                             "forecast_usd", "exhaustion_date", "days_left")
    _emit(state, fmt, "budgets")


@budget.command("add")
def budget_add(name: str, limit: Annotated[float, typer.Option("--limit", help="Per period, in --currency.")],
               period: Annotated[str, typer.Option(help=", ".join(BUDGET_PERIODS))] = "monthly",
               scope: Annotated[str, typer.Option(help=", ".join(SCOPES))] = "overall",
               value: Annotated[Optional[str], typer.Option(help="Which member of the scope (tag: key=value).")] = None,
               thresholds: Annotated[str, typer.Option(help="Comma-separated: 80%,100% or 0.5,0.8,1 or 50,80,100.")] = "80%,100%",
               enforcement: Annotated[str, typer.Option(help=", ".join(ENFORCEMENTS))] = "warn",
               start: Annotated[Optional[str], typer.Option("--from", help="Custom period start.")] = None,
               end: Annotated[Optional[str], typer.Option("--to", help="Custom period end.")] = None,
               email: Annotated[Optional[list[str]], typer.Option(help="Send its alerts to this address (repeat).")] = None,
               currency: Annotated[str, typer.Option(help="The limit's currency: spend is converted day by day at each day's rate (see: spendlake fx).")] = "USD",
               lake: LakeOption = None) -> None:
    """Add or replace a budget (validated before it is stored)."""
    from analytics.budgets import Budget
    from analytics.words import money
    from spendlake.usecases import parse_thresholds, save_budget
    new = Budget(name, limit, period, scope, value, parse_thresholds(thresholds), enforcement,  # type: ignore[arg-type]
                 **_span(start, end), alert_emails=tuple(email or ()), currency=currency)
    warning = save_budget(_lake(lake), new)
    out.print(f"budget {name!r}: {money(limit, new.currency)} {period} for {scope}{'=' + value if value else ''} "
              f"({enforcement}), alerts at {', '.join(f'{t:.0%}' for t in new.thresholds)}")
    if warning:
        err.print(f"[yellow]warning:[/] {warning}")


@budget.command("list")
def budget_list(lake: LakeOption = None, fmt: FormatOption = Format.table) -> None:
    """The stored budgets."""
    from spendlake.store import load_budgets
    rows = [b.to_dict() | {"thresholds": ",".join(map(str, b.thresholds))} for b in load_budgets(_lake(lake))]
    _emit(pl.DataFrame(rows) if rows else pl.DataFrame({"name": []}), fmt, "budgets")


@budget.command("remove")
def budget_remove(name: str, lake: LakeOption = None) -> None:
    """Delete a budget by name."""
    from spendlake.usecases import delete_budget
    delete_budget(_lake(lake), name)
    out.print(f"budget {name!r} removed")


@app.command()
def estimate(
    stories: Annotated[int, typer.Option(min=0, help="Video template: stories to find.")] = 3,
    images: Annotated[int, typer.Option(min=0, help="Video template: images to draw.")] = 6,
    dialogue_chars: Annotated[int, typer.Option(min=0, help="Video template: characters of dialogue to voice.")] = 2600,
    project: Annotated[Optional[str], typer.Option(help="Project the run belongs to (for budgets).")] = None,
    job: Annotated[Optional[str], typer.Option(help="Record the estimate against this job id.")] = None,
    compare: Annotated[Optional[list[str]], typer.Option(help="Also price the LLM steps on PROVIDER/MODEL.")] = None,
    lake: LakeOption = None, fmt: FormatOption = Format.table, currency: CurrencyOption = None,
) -> None:
    """Estimate a run of the video pipeline (calibrated by your history), check it against budgets.
    Exit 0 allow, 1 warn or confirm, 2 block, so a pipeline can gate on it."""
    from analytics.estimate import video_pipeline
    from spendlake import usecases
    if compare and any("/" not in m for m in compare):
        raise OptionError("--compare takes PROVIDER/MODEL, e.g. anthropic/claude-sonnet-4-5", option="--compare")
    plan = video_pipeline(stories=stories, images=images, dialogue_chars=dialogue_chars)
    result = usecases.estimate_run(_lake(lake), plan, project=project, job_id=job, compare=compare or (),
                                   currency=currency)
    found, compared = result.checked, result.compared
    if fmt is Format.json:
        out.print_json(json.dumps(result.to_dict(), default=str))
    else:
        _emit_report(result.estimate, fmt, "estimate" + _in(result.estimate.currency))
    if found.decision is None:
        from ingest.errors import PricingError
        raise PricingError(f"{found.estimate.unpriced_steps} step(s) have no price; see: spendlake prices --unpriced")
    if fmt is Format.table:
        out.print(f"budget check at the high estimate ${found.estimate.high_usd:,.2f}: "
                  f"[bold]{found.decision.action}[/] — {found.decision.reason}")
        if compared is not None:
            _emit(compared, fmt, "models compared")
    _say_rates(fmt, result.estimate.currency, result.estimate.rates)
    if job:
        err.print(f"estimate recorded for job {job}")
    raise typer.Exit({"allow": 0, "warn": 1, "confirm": 1, "block": 2}[found.decision.action])


@app.command("can-execute")
def can_execute(amount: Annotated[float, typer.Option("--amount", min=0, help="What the run or call may cost at most, USD.")],
                project: Optional[str] = None, job: Optional[str] = None, stage: Optional[str] = None,
                provider: Optional[str] = None, model: Optional[str] = None,
                lake: LakeOption = None, fmt: FormatOption = Format.table) -> None:
    """May a run of this cost start under the budgets matching its attribution? Exit 0 allow or warn,
    1 confirm, 2 block."""
    from spendlake.usecases import plan_decision
    attribution = {k: v for k, v in (("project", project), ("job_id", job), ("stage", stage), ("provider", provider),
                                     ("model", model)) if v}
    decision = plan_decision(_lake(lake), amount, attribution)
    if fmt is Format.json:
        out.print_json(json.dumps(decision.to_dict(), default=str))
    else:
        out.print(f"[bold]{decision.action}[/] — {decision.reason}")
        if decision.budgets:
            _emit(pl.DataFrame(decision.budgets), fmt, "budgets that decided")
    raise typer.Exit({"allow": 0, "warn": 0, "confirm": 1, "block": 2}[decision.action])


@app.command()
def check(webhook: Annotated[Optional[str], typer.Option(envvar="SPENDLAKE_WEBHOOK_URL",
                                                         help="POST new alerts here as JSON (Slack-compatible).")] = None,
          anomalies: Annotated[bool, typer.Option(help="Also alert on cost spikes of yesterday and today.")] = True,
          today: Optional[str] = None, lake: LakeOption = None, fmt: FormatOption = Format.table) -> None:
    """Evaluate every budget and recent anomalies, record and print new alerts; exit 0 ok, 1 warning, 2 exceeded."""
    from spendlake.usecases import check as run
    result = run(_lake(lake, existing=True), today=_day(today, "--today"), anomalies=anomalies, webhook=webhook,
                 email=_email())
    if fmt is Format.table:
        out.print(f"{result.budgets} budget(s) checked, {len(result.new)} new alert(s)")
        for a in result.new:
            out.print(f"[{'red' if a.kind == 'budget_exceeded' else 'yellow'}]{a.kind}[/]: {a.message}")
    else:
        _emit(pl.DataFrame([a.to_dict() for a in result.new]) if result.new else pl.DataFrame({"kind": []}), fmt)
    sent = result.delivered
    for target, n in (sent.sent.items() if sent else ()):
        err.print(f"sent {n} alert(s) to {target}")
    for failure in (sent.failed if sent else ()):
        err.print(f"[red]error:[/] {failure} (tried again by the next check)")
    raise typer.Exit(1 if sent and sent.failed else result.exit_code)


def _email():
    """The SMTP settings of the environment (`spendlake.notify`), or None."""
    from spendlake.notify import Email
    try:
        return Email.from_env()
    except ValueError as e:
        raise OptionError(str(e), option="SPENDLAKE_SMTP_*") from None


@app.command("app")
def run_app(lake: LakeOption = None, port: int = 8501) -> None:
    """Open the Streamlit app on this lake."""
    where = lake_path(lake)
    env = os.environ | {"SPENDLAKE_LAKE": where if isinstance(where, str) else str(where.resolve())}
    raise typer.Exit(subprocess.call([sys.executable, "-m", "spendlake.app_server", "--server.port", str(port)], env=env))


@app.command()
def serve(lake: LakeOption = None,
          host: Annotated[str, typer.Option(help="Address to listen on; beyond this machine only once a key exists.")] = "127.0.0.1",
          port: int = 8787,
          max_queued: Annotated[int, typer.Option(min=1, help="Events waiting to be written before requests get 503.")] = 400_000,
          check_every: Annotated[str, typer.Option(help="Check budgets and anomalies and send new alerts this often (30s, 5m, 1h; 0: never).")] = "5m",
          webhook: Annotated[Optional[str], typer.Option(envvar="SPENDLAKE_WEBHOOK_URL",
                                                          help="POST new alerts here as JSON (Slack-compatible).")] = None) -> None:
    """Run the HTTP API: events and OpenTelemetry traces in, reports out (docs at /docs); check the
    budgets on a schedule and send alerts to the webhook and by e-mail (SPENDLAKE_SMTP_*)."""
    import ipaddress
    from spendlake import keys
    target = _lake(lake)
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise OptionError(f"--host {host!r}: give an IP address to listen on, e.g. 127.0.0.1 or 0.0.0.0",
                          option="--host") from None
    if not loopback and not any(k.revoked is None for k in keys.load(target)):
        raise OptionError(f"--host {host}: the lake has no API key yet, so the server listens only on this machine "
                          "(127.0.0.1); create one first: spendlake keys create NAME --scope admin", option="--host")
    import uvicorn
    from spendlake.api import create_app
    err.print(f"Spendlake API on http://{host}:{port} (docs at /docs), lake {target.root}")
    from spendlake import usecases
    every = usecases.parse_every(check_every)
    email = _email()
    uvicorn.run(create_app(target, max_queued=max_queued, check_every=every, webhook=webhook, email=email),
                host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)


keys_app = typer.Typer(no_args_is_help=True)
app.add_typer(keys_app, name="keys", help="API keys for spendlake serve: create, list, revoke.")


@keys_app.command("create")
def keys_create(name: str, scope: Annotated[str, typer.Option(help="ingest (send events), read (ask questions) or admin.")],
                project: Annotated[Optional[list[str]], typer.Option(help="Limit the key to this project (repeat).")] = None,
                workspace: Annotated[Optional[str], typer.Option(help="The key reaches this workspace's projects.")] = None,
                lake: LakeOption = None) -> None:
    """Make a key; its token is printed once (stdout), the lake keeps only a salted hash."""
    from spendlake import keys
    token = keys.create(_lake(lake), name, scope, projects=project or (), workspace=workspace)
    sys.stdout.write(token + "\n")
    err.print(f"key {name!r} ({scope}{', projects ' + ', '.join(project) if project else ''}): keep the token now, "
              "it is not shown again")


@keys_app.command("list")
def keys_list(lake: LakeOption = None, fmt: FormatOption = Format.table) -> None:
    """The keys: name, scope, projects, created, revoked (never a token)."""
    from spendlake import keys
    rows = [{**k.public(), "projects": ", ".join(k.projects)} for k in keys.load(_lake(lake))]
    rows = [{**r, "workspace": r["workspace"] or ""} for r in rows]
    _emit(pl.DataFrame(rows) if rows else pl.DataFrame({"name": []}), fmt, "API keys")


@keys_app.command("revoke")
def keys_revoke(name: str, lake: LakeOption = None) -> None:
    """Revoke a key: the server refuses it from its next request."""
    from spendlake import keys
    keys.revoke(_lake(lake), name)
    out.print(f"key {name!r} revoked")


@app.command("audit")
def audit_trail(action: Annotated[Optional[list[str]], typer.Option(help="Only this action (repeat), e.g. budget_set.")] = None,
                lake: LakeOption = None, fmt: FormatOption = Format.table) -> None:
    """The audit trail, newest first: who changed budgets, prices, exchange rates, keys, retention, reprice; confirmed calls."""
    from spendlake.usecases import audit_log
    _emit(audit_log(_lake(lake, existing=True), actions=action), fmt, "audit trail")


workspace_app = typer.Typer(no_args_is_help=True)
app.add_typer(workspace_app, name="workspace",
              help="Workspaces: who sees which projects in the app once sign-in is on (and which keys reach them).")


@workspace_app.command("set")
def workspace_set(name: str, project: Annotated[list[str], typer.Option(help="A project of the workspace (repeat).")],
                  member: Annotated[Optional[list[str]], typer.Option(help="A member's e-mail address (repeat).")] = None,
                  lake: LakeOption = None) -> None:
    """Add a workspace, or replace the one of this name (audited)."""
    from spendlake.workspaces import Workspace, set_workspace
    found = Workspace(name, tuple(project), tuple(member or ()))
    set_workspace(_lake(lake), found)
    out.print(f"workspace {name!r}: projects {', '.join(found.projects)}; members {', '.join(found.members) or 'none'}")


@workspace_app.command("list")
def workspace_list(lake: LakeOption = None, fmt: FormatOption = Format.table) -> None:
    """The workspaces, and the admins who see every project."""
    from spendlake.workspaces import load
    settings = load(_lake(lake))
    rows = [{"workspace": w.name, "projects": ", ".join(w.projects), "members": ", ".join(w.members)}
            for w in settings.workspaces] + [{"workspace": "(admins: every project)", "projects": "",
                                              "members": ", ".join(settings.admins)}]
    _emit(pl.DataFrame(rows), fmt, "workspaces")


@workspace_app.command("remove")
def workspace_remove(name: str, lake: LakeOption = None) -> None:
    """Remove a workspace: its members no longer see its projects, its keys reach nothing (audited)."""
    from spendlake.workspaces import remove_workspace
    remove_workspace(_lake(lake), name)
    out.print(f"workspace {name!r} removed")


@workspace_app.command("admins")
def workspace_admins(email: Annotated[list[str], typer.Argument(help="Who sees every project (the whole list).")],
                     lake: LakeOption = None) -> None:
    """Set the lake's admins: once workspaces exist, they alone see every project (audited)."""
    from spendlake.workspaces import set_admins
    set_admins(_lake(lake), email)
    out.print(f"admins: {', '.join(sorted(e.strip().lower() for e in email))}")


fx_app = typer.Typer(invoke_without_command=True)
app.add_typer(fx_app, name="fx", help="Exchange rates: the ECB's daily reference rates and your own; import a rates file.")


@fx_app.callback()
def fx_list(ctx: typer.Context, lake: LakeOption = None, fmt: FormatOption = Format.table) -> None:
    """The rates at hand per currency: where they come from, the days they cover, the newest rate."""
    if ctx.invoked_subcommand is not None:
        return
    from spendlake.usecases import exchange_rates
    _emit(exchange_rates(_lake(lake)), fmt, "exchange rates (units per US dollar)")


@fx_app.command("import")
def fx_import(path: Annotated[Path, typer.Argument(help="A CSV file: date,currency,rate (units of the currency per US dollar).")],
              lake: LakeOption = None) -> None:
    """Add your own rates (a treasury's): they win over the ECB's from their first date on."""
    from spendlake.usecases import import_rates
    if not path.is_file():
        raise OptionError(f"{path}: no such file")
    count = import_rates(_lake(lake), path.read_bytes(), path.name)
    out.print(f"kept {count:,} rate{'s' * (count != 1)} from {path.name}; see them with: spendlake fx")


alerts_app = typer.Typer(invoke_without_command=True)
app.add_typer(alerts_app, name="alerts", help="Alerts with their state (active, acknowledged, resolved); acknowledge one.")


@alerts_app.callback()
def alerts_list(ctx: typer.Context, active: Annotated[bool, typer.Option(help="Only alerts not resolved.")] = False,
                lake: LakeOption = None, fmt: FormatOption = Format.table) -> None:
    """Alerts, active first: id, state, kind, subject, figures, message."""
    if ctx.invoked_subcommand is not None:
        return
    from spendlake.usecases import alert_board
    board = alert_board(_lake(lake, existing=True), active=active)
    _emit(board if fmt is not Format.table else board.select("id", "state", "kind", "subject", "fired_at", "message"),
          fmt, "alerts")


@alerts_app.command("ack")
def alerts_ack(alert_id: Annotated[str, typer.Argument(metavar="ID", help="The alert's id (spendlake alerts).")],
               lake: LakeOption = None) -> None:
    """Acknowledge an active alert: it stays listed, as seen, until it resolves (audited)."""
    from spendlake.usecases import acknowledge
    entry = acknowledge(_lake(lake, existing=True), alert_id)
    out.print(f"alert {alert_id} acknowledged by {entry['who']}")


USAGE_ERROR = 2  # an argument or option that cannot be used (the message says which form is accepted)
ERROR = 1  # anything else that stopped the command (the message says what)


def main() -> None:
    """Entry point. Every error is one line on stderr, `error: <what happened>`, whoever found it
    (Typer's parsing, the CLI or the library), and exits `USAGE_ERROR` or `ERROR`; commands that
    report a state document their own exit codes (import, estimate, check)."""
    import click
    parsing = (click.ClickException, *([typer.TyperException] if hasattr(typer, "TyperException") else []))
    try:
        code = app(standalone_mode=False, prog_name="spendlake")
    except parsing as e:  # Typer's own: a missing argument, an integer that is not one
        if type(e).__name__ == "NoArgsIsHelpError":  # `spendlake report` alone: its help is printed
            code = USAGE_ERROR
        else:
            command = getattr(e, "ctx", None)
            code = _error(e.format_message() + (f" (see: {command.command_path} --help)" if command else ""),
                          e.exit_code)
    except OptionError as e:
        code = _error(str(e), USAGE_ERROR)
    except SpendlakeError as e:
        code = _error(str(e), ERROR)
    except (click.Abort, typer.Abort):
        code = _error("aborted", ERROR)
    except Exception as e:  # noqa: BLE001 - a person sees a message, not a traceback
        if os.environ.get("SPENDLAKE_DEBUG"):
            raise
        code = _error(f"unexpected {type(e).__name__}: {e} (set SPENDLAKE_DEBUG=1 for the traceback)", ERROR)
    sys.exit(code if isinstance(code, int) else 0)


def _error(message: str, code: int) -> int:
    from rich.text import Text
    err.print(Text.assemble(("error:", "red"), " ", message))  # as Text: brackets in a message stay
    return code


if __name__ == "__main__":
    main()
