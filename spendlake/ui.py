"""What every page of the app shares: the lake, cached reads keyed on its version, the sidebar
filters (kept in the URL), and tables that download as CSV and JSON.

Reads are cached on `(lake, version)`: the version changes with every new, compacted,
repriced or dropped file, so a cached answer is never older than the lake. app.py reads
the version once at the start of each script run.
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import streamlit as st

import analytics
from analytics.estimate import Step
from spendlake import usecases, workspaces
from analytics.words import amount_in, currency_of, in_words, is_share
from ingest import objects, schema as s
from ingest.lake import Lake
from ingest.pricing import PriceBook
from spendlake.config import lake_path

_VERSION = "_lake_version"


def lake() -> Lake:
    return Lake(lake_path())


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def read_version(target: Lake) -> None:
    """Read the lake's version for this script run (app.py, before the page): one listing of the
    lake's files per run instead of one per cached read."""
    st.session_state[_VERSION] = (str(target.root), target.version())


def version(target: Lake) -> str:
    """The version read for this run (the cache key of every read), or a fresh one."""
    root, known = st.session_state.get(_VERSION, (None, None))
    return known if root == str(target.root) else target.version()


def rates_version(target: Lake) -> int:
    """When the team's exchange rates last changed: a cache key of every figure in another currency."""
    from ingest.lake import FX_RATES
    return stamp(target.path(FX_RATES))


def stamp(path: Path) -> tuple:
    """When a small file beside the lake (budgets, overrides, estimates) last changed: a cache key."""
    return objects.stamp(path)


@dataclass(frozen=True)
class Filters:
    """The sidebar's choice: UTC dates (inclusive), projects and providers (empty = all)."""

    start: dt.date
    end: dt.date
    projects: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    currency: str = "USD"  # money is shown in it: each day's dollars at that day's rate (`ingest.fx`)

    @property
    def scan_filters(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in ((s.PROJECT, self.projects), (s.PROVIDER, self.providers)) if v}


# ---- cached reads (plain arguments only: Streamlit hashes them) -------------------------------

@st.cache_data(show_spinner=False, max_entries=4)
def _daily(root: str, lake_version: str) -> pl.DataFrame:
    return analytics.daily(root).collect()


@st.cache_data(show_spinner=False, max_entries=4)
def _span(root: str, lake_version: str) -> tuple[dt.date | None, dt.date | None, list[str], list[str]]:
    table = _daily(root, lake_version)
    if table.height == 0:
        return None, None, [], []
    return (table[s.DATE].min(), table[s.DATE].max(), sorted(table[s.PROJECT].drop_nulls().unique().to_list()),
            sorted(table[s.PROVIDER].drop_nulls().unique().to_list()))


def allowed() -> tuple[str, ...] | None:
    """The projects the signed-in person sees (their workspaces'); None: every project (sign-in
    off, no workspaces, or one of the lake's admins)."""
    if not st.user.get("is_logged_in", False):
        return None
    return workspaces.projects_for(lake(), st.user.get("email"))


def llm_models(target: Lake) -> list[str]:
    """Every LLM the price book prices, as provider/model: those the lake uses first (costliest first),
    then the rest in order."""
    used = days(target).filter(pl.col(s.SERVICE) == "llm").group_by(s.PROVIDER, s.MODEL).agg(
        pl.col(s.COST).sum()).sort(s.COST, descending=True).collect()
    mine = [f"{p}/{m}" for p, m, _ in used.iter_rows()]
    return list(dict.fromkeys([*mine, *_priced_llms(str(target.root), stamp(target.overrides_path))]))


@st.cache_data(show_spinner=False, max_entries=2)
def _priced_llms(root: str, overrides_version: int) -> list[str]:
    """Every token-priced model of the book, sorted (read once per change of the overrides)."""
    priced = book(Lake(root)).rules(None).filter(pl.col("unit") == "input_token").select(s.PROVIDER, s.MODEL).unique()
    return sorted(f"{p}/{m}" for p, m in priced.iter_rows())


def known_values(target: Lake, scope: str) -> list[str]:
    """The values a budget's scope takes in the lake (of the projects this person sees), costliest
    first; for tags, `key=value` pairs."""
    frame = days(target)
    if scope == "tag":
        return _tag_pairs(frame.select(s.TAGS, s.COST).collect())
    found = frame.group_by(scope).agg(pl.col(s.COST).sum()).drop_nulls(scope).sort(s.COST, descending=True).collect()
    return found[scope].to_list()


def _tag_pairs(frame: pl.DataFrame) -> list[str]:
    import json
    totals: dict[str, float] = {}
    for tags, cost in frame.iter_rows():
        try:
            for key, value in (json.loads(tags) if tags else {}).items():
                totals[f"{key}={value}"] = totals.get(f"{key}={value}", 0.0) + (cost or 0.0)
        except (ValueError, AttributeError):
            continue
    return sorted(totals, key=totals.get, reverse=True)


def days(target: Lake, filters: Filters | None = None, *, start: dt.date | None = None,
         end: dt.date | None = None) -> pl.LazyFrame:
    """The daily rollup (cached), narrowed to the filters' projects/providers (without filters, to
    the projects this person sees) and to [start, end]. With filters, its money is in their currency
    (each day at its rate; columns keep their names: `named` names them for display); without,
    in dollars, as use cases take it."""
    frame = _daily(str(target.root), version(target)).lazy()
    frame = usecases.narrowed(frame, start, end, filters.projects if filters else allowed(),
                              filters and filters.providers)
    return usecases.in_currency(target, frame, filters.currency, (start, end))[0] if filters else frame


def currency() -> str:
    """The currency the sidebar chose (dollars before it has run)."""
    chosen = st.session_state.get("filters")
    return chosen.currency if chosen else "USD"


def named(frame: pl.DataFrame) -> pl.DataFrame:
    """A table computed in the chosen currency with its money columns named for it (`cost_eur`)."""
    return usecases.named_for(frame, currency())


def ahead(target: Lake, table: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """A table of figures that look ahead (estimates, savings a month) in the chosen currency, at
    the rate of `day` (the newest at hand for today)."""
    return usecases.at_rate_of(target, table, currency(), day)[0]


def ahead_rates(target: Lake, day: dt.date) -> str:
    """Which rate `ahead` takes for `day`: to state beside the figures."""
    return str(usecases.at_rate_of(target, pl.DataFrame(), currency(), day)[2])


def ahead_amount(target: Lake, amount: float | None, day: dt.date) -> float | None:
    """One amount that looks ahead, in dollars, in the chosen currency at the rate of `day`."""
    code = currency()
    return amount if amount is None or code == "USD" else amount * usecases.rate_on(target, code, day)


def chart_money() -> tuple[str, str]:
    """A money axis's unit and its tooltips' d3 format in the chosen currency."""
    code = currency()
    return code, ("$,.2f" if code == "USD" else ",.2f")


def events(target: Lake, filters: Filters, *, start: dt.date | None = None, end: dt.date | None = None) -> pl.LazyFrame:
    """Raw events of the filters' dates (or [start, end]), projects and providers: for drill-downs."""
    return analytics.scan(target, start=start or filters.start, end=end or filters.end, **filters.scan_filters)


@st.cache_data(show_spinner=False, max_entries=2)
def _price_book(root: str, overrides_version: int) -> PriceBook:
    return PriceBook.load(Lake(root).overrides_path)


def book(target: Lake) -> PriceBook:
    path = target.overrides_path
    return _price_book(str(target.root), stamp(path))


@st.cache_data(show_spinner=False, max_entries=16)
def _forecast(root: str, lake_version: str, projects: tuple, providers: tuple, day: dt.date,
              budget: float | None, code: str, rates_version: int) -> analytics.Forecast:
    return usecases.forecast(Lake(root), today=day, budget_usd=budget, projects=projects, providers=providers,
                             daily=_daily(root, lake_version).lazy(), currency=code)


def forecast(target: Lake, filters: Filters, day: dt.date, budget: float | None = None) -> analytics.Forecast:
    """This month's forecast for the filters' projects and providers in their currency, with
    `budget` in it too (cached)."""
    return _forecast(str(target.root), version(target), filters.projects, filters.providers, day, budget,
                     filters.currency, rates_version(target))


@st.cache_data(show_spinner=False, max_entries=4)
def _unpriced_models(root: str, lake_version: str, projects: tuple[str, ...] | None) -> pl.DataFrame:
    return usecases.unpriced_models(Lake(root), projects=projects)


def unpriced_models(target: Lake) -> pl.DataFrame:
    """Models with events and no price, of the projects this person sees (cached until the lake changes)."""
    return _unpriced_models(str(target.root), version(target), allowed())


@st.cache_data(show_spinner=False, max_entries=16)
def _budget_status(root: str, lake_version: str, budgets_version: int, day: dt.date,
                   projects: tuple[str, ...] | None, rates: int) -> pl.DataFrame:
    return usecases.budget_status(Lake(root), today=day, daily=_daily(root, lake_version).lazy(), projects=projects)


def budget_status(target: Lake, day: dt.date) -> pl.DataFrame:
    """The status of every budget this person sees (cached until the lake or the budgets change)."""
    from ingest.lake import BUDGETS
    path = target.path(BUDGETS)
    return _budget_status(str(target.root), version(target), stamp(path), day, allowed(), rates_version(target))


@st.cache_data(show_spinner=False, max_entries=16)
def _suggestions(root: str, lake_version: str, overrides: int, projects: tuple, providers: tuple,
                 day: dt.date, window: int, code: str, rates_version: int) -> usecases.Suggestions:
    target = Lake(root)
    return usecases.suggestions(target, today=day, days=window, projects=projects, providers=providers,
                                book=book(target), currency=code)


def suggestions(target: Lake, filters: Filters, day: dt.date, window: int = 30) -> usecases.Suggestions:
    """Ways to spend less learned from the last `window` days of raw events, in the filters'
    currency (cached)."""
    path = target.overrides_path
    return _suggestions(str(target.root), version(target), stamp(path),
                        filters.projects, filters.providers, day, window, filters.currency, rates_version(target))


def top_runs(target: Lake, filters: Filters, search: str | None = None, top: int = 200) -> pl.DataFrame:
    """The costliest runs in the filters' dates and projects whose id contains `search`, in their currency."""
    return usecases.top_runs(target, start=filters.start, end=filters.end, projects=filters.projects,
                             search=search, top=top, currency=filters.currency)


@st.cache_data(show_spinner=False, max_entries=32)
def _job_report(root: str, lake_version: str, estimates_version: int, job_id: str,
                projects: tuple[str, ...] | None, code: str, rates_version: int) -> analytics.RunReport | None:
    return usecases.run_report(Lake(root), job_id, projects=projects, currency=code)


def run_report(target: Lake, job_id: str) -> analytics.RunReport | None:
    """One run's report in the chosen currency, read from the run's own days only (None for an unknown run)."""
    from ingest.lake import ESTIMATES
    path = target.path(ESTIMATES)
    return _job_report(str(target.root), version(target), stamp(path), job_id, allowed(), currency(),
                       rates_version(target))


@st.cache_data(show_spinner=False, max_entries=32)
def _estimate(root: str, lake_version: str, overrides: int, plan: tuple[Step, ...], day: dt.date,
              models: tuple[tuple[str, str], ...]) -> tuple[analytics.Estimate, pl.DataFrame | None]:
    target = Lake(root)
    return usecases.estimate(target, plan, at=dt.datetime.combine(day, dt.time(12), dt.UTC), book=book(target),
                             compare=models)


def estimate(target: Lake, plan: list[Step], day: dt.date,
             models: list[tuple[str, str]] = ()) -> tuple[analytics.Estimate, pl.DataFrame | None]:
    """A plan's estimate calibrated by the last 90 days, and the plan on other models (cached)."""
    path = target.overrides_path
    return _estimate(str(target.root), version(target), stamp(path),
                     tuple(plan), day, tuple(models))


@st.cache_data(show_spinner=False, max_entries=32)
def _what_if(root: str, lake_version: str, overrides: int, project: str, provider: str, model: str,
             day: dt.date, window: int, projects: tuple[str, ...] | None, code: str,
             rates_version: int) -> usecases.WhatIf:
    target = Lake(root)
    return usecases.what_if(target, project, provider, model, today=day, days=window, book=book(target),
                            projects=projects, currency=code)


def what_if(target: Lake, project: str, provider: str, model: str, day: dt.date,
            window: int = 30) -> usecases.WhatIf:
    """A project's LLM cost over the last `window` days, and the same calls priced on another model
    (in the chosen currency: each day at its rate)."""
    path = target.overrides_path
    return _what_if(str(target.root), version(target), stamp(path),
                    project, provider, model, day, window, allowed(), currency(), rates_version(target))


# ---- the sidebar --------------------------------------------------------------------------

def sidebar(target: Lake) -> Filters:
    """Date range, projects and providers; read from and written to the URL so a view can be shared."""
    first, last, projects, providers = _span(str(target.root), version(target))
    seen = allowed()
    projects = [p for p in projects if seen is None or p in seen]
    last = last or today()
    first = first or last
    params = st.query_params
    start = _date(params.get("from")) or max(first, last - dt.timedelta(days=29))
    end = _date(params.get("to")) or last
    st.sidebar.header("Filters")
    low, high = min(first, start), max(last, end, today())

    def preset() -> None:  # a preset writes the dates it stands for into the date picker
        span = date_preset(st.session_state["date-preset"], today())
        if span:
            st.session_state["dates"] = (max(span[0], low), min(span[1], high))
    st.sidebar.selectbox("Period", ["custom", *PRESETS], key="date-preset", on_change=preset,
                         help="Sets the dates below; pick dates to choose your own")
    chosen = st.sidebar.date_input("Dates (UTC)", value=(start, end), min_value=low, max_value=high, key="dates")
    if isinstance(chosen, tuple) and len(chosen) == 2:
        start, end = chosen
    picked_projects = st.sidebar.multiselect("Projects", projects, default=[p for p in params.get_all("project")
                                                                             if p in projects], key="projects")
    picked_providers = st.sidebar.multiselect("Providers", providers, default=[p for p in params.get_all("provider")
                                                                               if p in providers], key="providers")
    codes = currencies(target)
    asked = (params.get("currency") or usecases.display_currency()).upper()
    if asked not in codes:
        st.sidebar.warning(f"No exchange rates for {asked!r}: money is in USD.")
    code = st.sidebar.selectbox("Currency", codes, index=codes.index(asked) if asked in codes else 0, key="currency",
                                help="Each day's dollars at that day's rate (ECB, or the team's own: spendlake fx)")
    # every value of every other key (`to_dict` would keep only the last of a repeated one: by=a&by=b)
    keep = {k: params.get_all(k) for k in params.keys() if k not in ("from", "to", "project", "provider", "currency")}
    st.query_params.from_dict(keep | {"from": start.isoformat(), "to": end.isoformat(),
                                      "project": picked_projects, "provider": picked_providers}
                              | ({"currency": code} if code != "USD" else {}))
    if code != "USD":
        st.sidebar.caption(usecases.rates_used(target, code, start, end))
    st.sidebar.caption(f"Lake: `{target.root}`")
    return Filters(start, end, tuple(picked_projects) or (seen or ()), tuple(picked_providers), code)


PRESETS = ("month to date", "last month", "last 7 days", "last 30 days", "last 90 days", "this quarter")


def date_preset(name: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """The first and last day a preset stands for (None: not a preset).

    Examples:
        >>> [date_preset(p, dt.date(2026, 12, 6)) for p in ("month to date", "last month", "this quarter")]
        [(datetime.date(2026, 12, 1), datetime.date(2026, 12, 6)), (datetime.date(2026, 11, 1), datetime.date(2026, 11, 30)), (datetime.date(2026, 10, 1), datetime.date(2026, 12, 6))]
    """
    first = today.replace(day=1)
    if name == "month to date":
        return first, today
    if name == "last month":
        end = first - dt.timedelta(days=1)
        return end.replace(day=1), end
    if name.startswith("last ") and name.endswith(" days"):
        return today - dt.timedelta(days=int(name.split()[1]) - 1), today
    if name == "this quarter":
        return dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), today
    return None


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


# ---- output -------------------------------------------------------------------------------

def downloads(csv: Callable[[], str], json: Callable[[], str], name: str) -> None:
    """A CSV and a JSON download button side by side; each file is made when its button is pressed."""
    left, right, _ = st.columns([1, 1, 6])
    left.download_button("CSV", csv, f"{name}.csv", "text/csv", key=f"{name}-csv")
    right.download_button("JSON", json, f"{name}.json", "application/json", key=f"{name}-json")


def table(frame: pl.DataFrame, name: str, **options):
    """A table for people (`columns_for_people`) with its downloads (CSV cells neutralised against
    formula injection; the downloads keep the program's column names). Returns what
    `st.dataframe` returns (a selection, with `on_select`)."""
    shown = st.dataframe(frame, hide_index=True, width="stretch", column_config=columns_for_people(frame), **options)
    downloads(lambda: analytics.to_csv(frame), lambda: analytics.to_json(frame), name)
    return shown


_COUNTS = ("calls", "count", "events", "retries", "characters", "images", "failed_calls", "unpriced_events", "days_left",
           "tokens")


def columns_for_people(frame: pl.DataFrame) -> dict:
    """Streamlit column settings that show figures as people read them: money as dollars (small
    amounts with more decimals, so a sub-cent cost stays visible), shares as percentages, counts with
    separators, and each header in words."""
    config = {}
    for name, dtype in frame.schema.items():
        label = in_words(name)
        code = currency_of(name) if dtype.is_numeric() else None
        if code or (dtype.is_numeric() and name == "cost"):
            largest = frame[name].abs().max() or 0
            config[name] = st.column_config.NumberColumn(label, format=_money_format(code or "USD", largest))
        elif dtype.is_numeric() and is_share(name):
            config[name] = st.column_config.NumberColumn(label, format="percent")
        elif dtype.is_integer() and (name in _COUNTS or name.endswith("_tokens")):
            config[name] = st.column_config.NumberColumn(label, format="localized")
        elif dtype == pl.Datetime:
            config[name] = st.column_config.DatetimeColumn(label, format="YYYY-MM-DD HH:mm:ss")
        else:
            config[name] = label
    return config


_PRESETS = {"USD": "dollar", "EUR": "euro", "JPY": "yen"}  # Streamlit's own money formats


def _money_format(code: str, largest: float) -> str:
    """A money column's Streamlit format: the currency's own where Streamlit has one, more decimals
    for small amounts (a sub-cent cost stays visible), else plain numbers (the header names the currency)."""
    from babel.numbers import get_currency_symbol
    if largest >= 1:
        return _PRESETS.get(code, "accounting")  # (two decimals and separators; the header names the currency)
    symbol = get_currency_symbol(code, locale="en_US").replace("%", "%%")
    return f"{symbol}%.4f" if largest >= 0.01 else f"{symbol}%.6f"


def report_downloads(report, name: str) -> None:
    """A report dataclass as one CSV (a `table` column names each section) and as JSON."""
    downloads(report.to_csv, report.to_json, name)


def budget_bars(status: pl.DataFrame) -> None:
    """One progress bar per budget of an `analytics.budget_status` table, in the budget's currency."""
    for row in status.iter_rows(named=True):
        where = f"{row['scope']}{'=' + row['value'] if row['value'] else ''}"
        m = lambda amount, code=row["currency"]: amount_in(amount, code)  # noqa: E731
        st.progress(min(row["pct"], 1.0), text=f"{row['name']} ({where}, {row['period']}): {m(row['spent'])} of "
                    f"{m(row['limit'])} ({row['pct']:.0%}) · {row['state']} · {row['enforcement']}"
                    + (f" · forecast {m(row['forecast'])}" if row["forecast"] is not None else "")
                    + (f" · runs out {row['exhaustion_date']}" if row["exhaustion_date"] else ""))


def currencies(target: Lake) -> list[str]:
    """The currencies with exchange rates at hand (ECB's and the team's), USD first."""
    from ingest import fx
    return ["USD", *[c for c in fx.currencies(fx.rates(target)) if c != "USD"]]


def who() -> str:
    """The person using the app, for the audit trail: the signed-in user, else the OS user running it."""
    user = st.user.get("email") or st.user.get("name") if st.user.get("is_logged_in", False) else None
    return f"user:{user}" if user else f"app:{getpass.getuser()}"


def money(amount: float | None) -> str:
    """An amount already in the chosen currency, as people read it."""
    return amount_in(amount, currency())


def filters() -> Filters:
    """The sidebar's current choice (set by app.py before the page runs)."""
    return st.session_state["filters"]
