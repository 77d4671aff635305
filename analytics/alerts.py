"""Alerts: each fires once per budget, threshold and period, with the figures that fired it.

Kinds: budget_warning (a threshold below 100 % crossed), budget_exceeded (100 %),
forecast_exceeded (even the low edge of the period total's 80 % band passes the limit: about
90 % likely or more, said in the message), forecast_resolved (the expected total is back under
the limit; a later rise fires forecast_exceeded again), task_estimate_high (a run's estimate was
refused or warned by `can_execute`), anomaly (a day far off its baseline).

Examples:
    >>> import datetime as dt, polars as pl
    >>> from analytics.budgets import Budget, status
    >>> events = pl.LazyFrame({"ts": [dt.datetime(2026, 1, 5, tzinfo=dt.UTC)], "cost_usd": [85.0]})
    >>> st = status(events, [Budget("all", limit_usd=100)], today=dt.date(2026, 1, 5), with_forecast=False)
    >>> fired = budget_alerts(st, now=dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC))
    >>> [(a.kind, a.threshold) for a in fired]  # 50 % and 80 % crossed at once: the higher one speaks
    [('budget_warning', 0.8)]
    >>> budget_alerts(st, now=dt.datetime(2026, 1, 5, 13, tzinfo=dt.UTC), seen={a.key for a in fired})
    []
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Literal

import polars as pl

from analytics.budgets import SUMS

AlertKind = Literal["budget_warning", "budget_exceeded", "forecast_exceeded", "forecast_resolved", "task_estimate_high",
                    "anomaly"]
ALERT_KINDS: tuple[str, ...] = AlertKind.__args__
BUDGET_KINDS = ("budget_warning", "budget_exceeded")


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    subject: str          # the budget's name, or the scope an anomaly is about
    period_start: str     # ISO date of the period (or day) it belongs to
    threshold: float | None
    fired_at: str         # ISO 8601 UTC
    spent_usd: float | None
    limit_usd: float | None
    forecast_usd: float | None
    message: str
    occurrence: int | None = None  # forecast alerts: the n-th of its kind for this budget and period

    @property
    def key(self) -> tuple:
        """What makes an alert the same alert: it fires once per key."""
        return (self.kind, self.subject, self.period_start, self.threshold, self.occurrence)

    @property
    def id(self) -> str:
        """A short name for the alert, to acknowledge it by (a digest of its key)."""
        return hashlib.blake2b(json.dumps(list(self.key)).encode(), digest_size=5).hexdigest()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: object) -> Alert:
        """An alert as `to_dict` wrote it; anything else is refused with the field that is wrong."""
        if not isinstance(d, dict):
            raise ValueError(f"an alert is a JSON object, not {type(d).__name__}")
        problems = [f"unknown field {k!r}" for k in d if k not in cls.__dataclass_fields__]
        for name in cls.__dataclass_fields__:
            value, text = d.get(name), name in ("kind", "subject", "period_start", "fired_at", "message")
            if text and not isinstance(value, str):
                problems.append(f"{name}={value!r} must be text")
            elif not text and value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                problems.append(f"{name}={value!r} must be a number or null")
        if d.get("kind") not in ALERT_KINDS:
            problems.append(f"kind={d.get('kind')!r} is not one of {', '.join(ALERT_KINDS)}")
        if problems:
            raise ValueError("; ".join(problems))
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__})


def budget_alerts(budget_status: pl.DataFrame, *, now: dt.datetime, seen: Iterable[tuple] = ()) -> list[Alert]:
    """New alerts for a `budgets.status` table; alerts whose key is in `seen` are not repeated."""
    seen = set(seen)
    fired: list[Alert] = []
    stamp = now.astimezone(dt.UTC).isoformat()
    for r in budget_status.iter_rows(named=True):
        period = r["period_start"].isoformat()
        scope = "overall" if r["scope"] == "overall" else f"{r['scope']}={r['value']}"
        # the highest threshold crossed fires, once; thresholds below one that already fired stay quiet
        done = max((k[3] for k in seen if k[1] == r["name"] and k[2] == period and k[0] in BUDGET_KINDS), default=0)
        t = r["threshold"]
        if t is not None and t > done:
            kind: AlertKind = "budget_exceeded" if t >= 1 else "budget_warning"
            fired.append(Alert(kind, r["name"], period, t, stamp, r["spent_usd"], r["limit_usd"], r["forecast_usd"],
                               f"{r['name']} ({scope}, {r['period']}): {_of(r)} spent ({r['pct']:.0%}), crossing {t:.0%}"))
        forecast = _forecast_alert(r, scope, period, stamp, seen)
        if forecast:
            fired.append(forecast)
    return [a for a in fired if a.key not in seen]


def _of(r: dict) -> str:
    """Spent of the limit, in the budget's currency and, for one not in dollars, in dollars too."""
    dollars = f"${r['spent_usd']:,.2f} of ${r['limit_usd']:,.2f}"
    code = r.get("currency") or "USD"
    if code == "USD":
        return dollars
    from analytics.words import money
    return f"{money(r['spent'], code)} of {money(r['limit'], code)} ({dollars} at today's rate)"


def _forecast_alert(r: dict, scope: str, period: str, stamp: str, seen: set[tuple]) -> Alert | None:
    """forecast_exceeded once the low edge of the 80 % band passes the limit; forecast_resolved once
    the expected total is back under it (between the two, nothing: a forecast near the limit must
    not chatter)."""
    if r["forecast_usd"] is None or r["forecast_low80_usd"] is None or r["pct"] >= 1:
        return None
    mine = [k for k in seen if k[1] == r["name"] and k[2] == period]
    fired = sum(k[0] == "forecast_exceeded" for k in mine)
    resolved = sum(k[0] == "forecast_resolved" for k in mine)
    expected, limit = r["forecast_usd"], r["limit_usd"]
    band = f"${r['forecast_low80_usd']:,.2f} – ${r['forecast_high80_usd']:,.2f}"
    if fired <= resolved and r["forecast_low80_usd"] > limit:
        when = f", runs out about {r['exhaustion_date']}" if r["exhaustion_date"] else ""
        sure = over_probability(expected, r["forecast_low80_usd"], r["forecast_high80_usd"], limit)
        return Alert("forecast_exceeded", r["name"], period, None, stamp, r["spent_usd"], limit, expected,
                     f"{r['name']} ({scope}): forecast ${expected:,.2f} for the period (80 % band {band}) passes the "
                     f"${limit:,.2f} limit, {sure:.0%} likely{when}", occurrence=fired + 1)
    if fired > resolved and expected <= limit:
        return Alert("forecast_resolved", r["name"], period, None, stamp, r["spent_usd"], limit, expected,
                     f"{r['name']} ({scope}): forecast back under the ${limit:,.2f} limit: ${expected:,.2f} for "
                     f"the period (80 % band {band})", occurrence=resolved + 1)
    return None


AlertState = Literal["active", "acknowledged", "resolved"]


def alert_states(alerts: list[Alert], budget_status: pl.DataFrame, *, today: dt.date,
                 acknowledged: Iterable[str] = ()) -> list[AlertState]:
    """Each alert's state today. A budget alert is active while its budget's period runs and the
    spend is still at its threshold (a limit raised above the spend, or a deleted budget, resolves
    it); forecast_exceeded until its forecast_resolved, a raised limit or the period's end; an anomaly or estimate
    alert through the day after its day; forecast_resolved is itself a resolution. An active alert
    whose id is in `acknowledged` is acknowledged (still unresolved, but a person has seen it).

    Examples:
        >>> from analytics.budgets import Budget, status
        >>> events = pl.LazyFrame({"ts": [dt.datetime(2026, 1, 5, tzinfo=dt.UTC)], "cost_usd": [85.0]})
        >>> now = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)
        >>> fired = budget_alerts(status(events, [Budget("all", limit_usd=100)], today=now.date(), with_forecast=False), now=now)
        >>> raised = status(events, [Budget("all", limit_usd=200)], today=now.date(), with_forecast=False)
        >>> alert_states(fired, raised, today=now.date())  # 42 % of the new limit: below its 80 %
        ['resolved']
    """
    rows = {r["name"]: r for r in budget_status.iter_rows(named=True)}
    resolutions = {(a.subject, a.period_start, a.occurrence) for a in alerts if a.kind == "forecast_resolved"}
    acknowledged = set(acknowledged)
    states: list[AlertState] = []
    for a in alerts:
        row = rows.get(a.subject)
        running = row is not None and row["period_start"].isoformat() == a.period_start and today <= row["period_end"]
        if a.kind in BUDGET_KINDS:
            active = running and row["pct"] >= (a.threshold or 1.0) * (1 - SUMS)
        elif a.kind == "forecast_exceeded":  # (a raised limit is judged afresh by the next check)
            active = (running and (a.subject, a.period_start, a.occurrence) not in resolutions
                      and row["limit_usd"] <= (a.limit_usd or 0))
        elif a.kind == "forecast_resolved":
            active = False
        else:  # anomaly, task_estimate_high: about a day
            active = dt.date.fromisoformat(a.period_start) >= today - dt.timedelta(days=1)
        states.append("resolved" if not active else "acknowledged" if a.id in acknowledged else "active")
    return states


def over_probability(expected: float, low80: float, high80: float, limit: float) -> float:
    """How likely the period's total passes `limit`, read off the forecast's 80 % band as a normal
    distribution's (a band of zero width: 0 or 1).

    Examples:
        >>> round(over_probability(100, 90, 110, 100), 2), round(over_probability(100, 90, 110, 90), 2)
        (0.5, 0.9)
    """
    spread = (high80 - low80) / (2 * NormalDist().inv_cdf(0.9))
    if spread <= 0:
        return float(expected > limit)
    return 1 - NormalDist(expected, spread).cdf(limit)


def exit_code(budget_status: pl.DataFrame) -> int:
    """0 when every budget is ok, 1 when one is past a warning threshold, 2 when one is exceeded."""
    states = set(budget_status["state"])
    return 2 if "exceeded" in states else 1 if "warning" in states else 0


def estimate_alert(decision, subject: str, estimate_usd: float, *, now: dt.datetime) -> Alert | None:
    """A task_estimate_high alert when `can_execute` did not simply allow a run (`decision` is its answer)."""
    if decision.action == "allow":
        return None
    return Alert("task_estimate_high", subject, now.astimezone(dt.UTC).date().isoformat(), None,
                 now.astimezone(dt.UTC).isoformat(), None, None, None,
                 f"run {subject} estimated at ${estimate_usd:,.2f}: {decision.action} ({decision.reason})")


def anomaly_alerts(found: pl.DataFrame, *, now: dt.datetime, since: dt.date, seen: Iterable[tuple] = ()) -> list[Alert]:
    """Anomaly alerts for what `anomalies.anomalies` found on or after `since` (spikes, drops, new
    spend), once per scope and day."""
    seen = set(seen)
    by = found.columns[0]
    fired = []
    for r in found.filter(pl.col("date") >= since).iter_rows(named=True):
        when = r["date"].isoformat() + (f" {r['hour']:02d}:00" if "hour" in r else "")
        if r["direction"] == "new":
            said = f"new spend: {by} {r[by]}, ${r['cost_usd']:,.2f} on {when}"
        elif r["direction"] == "drop":
            said = (f"{by} {r[by]} spent ${r['cost_usd']:,.2f} on {when} against a usual ${r['baseline_usd']:,.2f}: "
                    f"down {1 - r['cost_usd'] / r['baseline_usd']:.0%}")
        else:
            said = f"{by} {r[by]} spent ${r['cost_usd']:,.2f} on {when} against a usual ${r['baseline_usd']:,.2f}"
        if r["driver"]:
            moved = r["driver_excess_usd"]
            said += (f", {'from' if r['direction'] == 'new' else 'driven by'} {r['driver']} "
                     f"({'+' if moved >= 0 else '-'}${abs(moved):,.2f})")
        alert = Alert("anomaly", f"{by}={r[by]}", when, None, now.astimezone(dt.UTC).isoformat(), r["cost_usd"], None,
                      None, said)
        if alert.key not in seen:
            fired.append(alert)
    return fired
