"""Budget checks that record what they find: of the whole lake (`check`) and of a planned run (`check_plan`).

The CLI (`spendlake check`, `spendlake estimate`) and the app's Budgets and Estimate pages
call these, so a check means the same thing everywhere.

Examples:
    >>> import tempfile, datetime as dt
    >>> from ingest.demo import write_demo
    >>> from ingest.lake import Lake
    >>> from analytics.budgets import Budget
    >>> from spendlake.store import save_budgets
    >>> lake = Lake(tempfile.mkdtemp())
    >>> _ = write_demo(lake, dt.date(2026, 3, 31), days=30)
    >>> save_budgets(lake.root, [Budget("tiny", limit_usd=1)])
    >>> result = check(lake, today=dt.date(2026, 3, 31), anomalies=False)
    >>> result.exit_code, [a.kind for a in result.new]
    (2, ['budget_exceeded'])
    >>> check(lake, today=dt.date(2026, 3, 31), anomalies=False).new  # fired once per period
    []
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

import analytics
from analytics.alerts import Alert, budget_alerts, exit_code
from analytics.budgets import Decision
from analytics.estimate import Estimate, Step
from ingest.lake import Lake
from ingest.pricing import PriceBook
from spendlake.store import load_budgets, record_alerts, record_estimate, record_new_alerts

HISTORY_DAYS = 90  # how far back estimates learn tokens per call


def estimate_history(lake: Lake, day: dt.date) -> pl.LazyFrame:
    """The raw events an estimate made on `day` learns its tokens per call from."""
    return analytics.scan(lake, start=day - dt.timedelta(days=HISTORY_DAYS), end=day)


@dataclass(frozen=True)
class Check:
    budgets: int
    status: pl.DataFrame = field(repr=False)  # analytics.budget_status of every budget
    new: list[Alert] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 ok, 1 a warning threshold crossed, 2 a budget exceeded."""
        return exit_code(self.status)


def check(lake: Lake, *, today: dt.date | None = None, anomalies: bool = True,
          now: dt.datetime | None = None) -> Check:
    """Evaluate every budget (and spikes of yesterday and today); record and return the new alerts."""
    now = now or dt.datetime.now(dt.UTC)
    today = today or now.date()
    budgets = load_budgets(lake.root)
    status = analytics.budget_status(analytics.daily(lake), budgets, today=today)
    spikes = []
    if anomalies:
        recent = analytics.daily(lake, start=today - dt.timedelta(days=120), end=today)
        spikes = [analytics.anomalies(recent, by=by) for by in ("project", "model")]

    def decide(seen: set[tuple]) -> list[Alert]:  # under the lake's lock: frames only, no reading
        return budget_alerts(status, now=now, seen=seen) + [
            alert for found in spikes
            for alert in analytics.anomaly_alerts(found, now=now, since=today - dt.timedelta(days=1), seen=seen)]

    return Check(len(budgets), status, record_new_alerts(lake, decide))


@dataclass(frozen=True)
class PlanCheck:
    estimate: Estimate
    decision: Decision | None  # None when a step has no price
    alert: Alert | None


def check_plan(lake: Lake, plan: Sequence[Step], *, attribution: Mapping[str, str] | None = None,
               job_id: str | None = None, book: PriceBook | None = None, now: dt.datetime | None = None) -> PlanCheck:
    """Estimate a plan (calibrated by the lake's last 90 days), decide it against the budgets at its
    high estimate, record a task_estimate_high alert when it warns or worse, and record the
    estimate against `job_id` so the run's report shows estimate vs actual."""
    now = now or dt.datetime.now(dt.UTC)
    book = book or PriceBook.load(lake.overrides_path)
    result = analytics.estimate(plan, book, history=estimate_history(lake, now.date()), at=now)
    if result.expected_usd is None:
        return PlanCheck(result, None, None)
    decision = analytics.can_execute(analytics.daily(lake), load_budgets(lake.root), result.high_usd,
                                     dict(attribution or {}), today=now.date())
    alert = analytics.estimate_alert(decision, job_id or "unnamed run", result.high_usd, now=now)
    if alert:
        record_alerts(lake, [alert])
    if job_id:
        record_estimate(lake, job_id, result.to_dict())
    return PlanCheck(result, decision, alert)
