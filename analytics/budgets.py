"""Budgets: what a scope may spend per period, how far it has got, and whether a run may start.

A call falls under every budget whose scope matches it (overall always does); each budget
decides on its own, and the strictest decision wins: block > confirm > warn > allow.

Examples:
    >>> import datetime as dt, polars as pl
    >>> b = Budget("research", limit_usd=100, scope="project", value="research-agent", enforcement="hard_stop")
    >>> events = pl.LazyFrame({"ts": [dt.datetime(2026, 1, 5, tzinfo=dt.UTC)], "project": ["research-agent"],
    ...                        "cost_usd": [95.0]})
    >>> d = can_execute(events, [b], 10.0, {"project": "research-agent"}, today=dt.date(2026, 1, 6))
    >>> d.action, d.reason
    ('block', 'research: $95.00 spent + $10.00 estimated = $105.00 > $100.00 limit (monthly, hard_stop)')
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import polars as pl

from analytics.measures import day_column, dimension, measures, period_bounds
from analytics.words import amount_in
from ingest import fx, schema as s
from ingest.errors import SpendlakeError

BudgetPeriod = Literal["daily", "weekly", "monthly", "custom"]
Enforcement = Literal["warn", "require_confirmation", "hard_stop"]
Action = Literal["allow", "warn", "confirm", "block"]
SCOPES = ("overall", s.PROVIDER, s.MODEL, s.PROJECT, s.USER, s.AGENT, s.STAGE, "tag")
BUDGET_PERIODS = ("daily", "weekly", "monthly", "custom")
ENFORCEMENTS = ("warn", "require_confirmation", "hard_stop")
ACTIONS: tuple[Action, ...] = ("allow", "warn", "confirm", "block")  # in order of strictness
_ON_EXCEEDED: dict[str, Action] = {"warn": "warn", "require_confirmation": "confirm", "hard_stop": "block"}
_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")
SUMS = 1e-9  # how far float sums of costs may land off a figure they reach
_CALENDAR = {"daily": "day", "weekly": "week", "monthly": "month"}


class BudgetError(SpendlakeError):
    """A budget that cannot be right (negative limit, thresholds out of order, unknown scope…)."""


@dataclass(frozen=True)
class Budget:
    """`limit_usd` per period for one scope. `value` names the scope's member (a project, a model…);
    a tag scope's value is `key=value`. A custom period needs `start` and `end` (inclusive).

    A budget in another `currency` has its limit in that currency (`limit_usd` keeps the name it had
    when every budget was in dollars): its spend is the USD cost of each day at that day's rate, and
    a call's cost is taken at today's rate (`ingest.fx`)."""

    name: str
    limit_usd: float
    period: BudgetPeriod = "monthly"
    scope: str = "overall"
    value: str | None = None
    thresholds: tuple[float, ...] = (0.5, 0.8, 0.9, 1.0)
    enforcement: Enforcement = "warn"
    start: dt.date | None = None
    end: dt.date | None = None
    alert_emails: tuple[str, ...] = ()  # who gets its alerts by e-mail (else the lake's default recipients)
    currency: str = "USD"  # what the limit is in

    def __post_init__(self) -> None:
        problems = []
        code = self.currency.strip().upper() if isinstance(self.currency, str) else ""
        if len(code) != 3 or not code.isalpha():
            problems.append(f"currency={self.currency!r} is not a three-letter code (USD, EUR, GBP…)")
        object.__setattr__(self, "currency", code)
        if not self.name or not self.name.strip():
            problems.append("name is missing")
        if not isinstance(self.limit_usd, (int, float)) or math.isnan(self.limit_usd) or self.limit_usd <= 0:
            problems.append(f"limit_usd={self.limit_usd!r} must be a positive amount")
        if self.period not in BUDGET_PERIODS:
            problems.append(f"period={self.period!r} is not one of {', '.join(BUDGET_PERIODS)}")
        if self.scope not in SCOPES:
            problems.append(f"scope={self.scope!r} is not one of {', '.join(SCOPES)}")
        elif self.scope == "overall" and self.value:
            problems.append("an overall budget takes no value")
        elif self.scope != "overall" and not self.value:
            problems.append(f"scope={self.scope} needs a value (which {self.scope})")
        elif self.scope == "tag" and "=" not in (self.value or ""):
            problems.append(f"tag value {self.value!r} must be key=value")
        if self.enforcement not in ENFORCEMENTS:
            problems.append(f"enforcement={self.enforcement!r} is not one of {', '.join(ENFORCEMENTS)}")
        t = list(self.thresholds)
        if not t or any(not 0 < x <= 1 for x in t) or t != sorted(set(t)):
            problems.append(f"thresholds={t} must rise strictly, each above 0 and at most 1 (e.g. 0.5, 0.8, 1.0)")
        bad = [e for e in self.alert_emails if not isinstance(e, str) or not _EMAIL.fullmatch(e)]
        if bad:
            problems.append(f"alert_emails {bad} are not e-mail addresses (name@example.com)")
        if self.period == "custom" and (self.start is None or self.end is None or self.end < self.start):
            problems.append("a custom period needs start ≤ end")
        if problems:
            raise BudgetError(f"budget {self.name!r}: " + "; ".join(problems))

    def bounds(self, today: dt.date) -> tuple[dt.date, dt.date]:
        if self.period == "custom":
            return self.start, self.end  # type: ignore[return-value]
        return period_bounds(today, _CALENDAR[self.period])  # type: ignore[arg-type]

    def passed_by(self, spend: float) -> bool:
        """Whether `spend` passes the limit (a float sum that lands a hair off it does not: ten
        $0.10 calls make $0.9999999999999999, and $1.0000000000000002)."""
        return spend > self.limit_usd * (1 + SUMS)

    def reached(self, spend: float) -> list[float]:
        """The thresholds `spend` has reached, the limit itself (1.0) counting as one."""
        return [t for t in sorted({*self.thresholds, 1.0}) if spend >= t * self.limit_usd * (1 - SUMS)]

    def matches(self) -> pl.Expr:
        """Which events count against this budget."""
        if self.scope == "overall":
            return pl.lit(True)
        if self.scope == "tag":
            key, _, wanted = (self.value or "").partition("=")
            return dimension(f"tag:{key}") == wanted
        return pl.col(self.scope) == self.value

    def covers(self, attribution: Mapping[str, str | None]) -> bool:
        """Whether a call with this attribution falls under the budget."""
        if self.scope == "overall":
            return True
        if self.scope == "tag":
            key, _, wanted = (self.value or "").partition("=")
            tags = attribution.get("tags") or {}
            return isinstance(tags, Mapping) and str(tags.get(key)) == wanted
        return attribution.get(self.scope) == self.value

    def to_dict(self) -> dict:
        d = asdict(self)
        d["thresholds"] = list(self.thresholds)
        d["alert_emails"] = list(self.alert_emails)
        d["start"], d["end"] = (x.isoformat() if x else None for x in (self.start, self.end))
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> Budget:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise BudgetError(f"budget {d.get('name')!r}: unknown fields {unknown}")
        try:
            if "thresholds" in known:
                known["thresholds"] = tuple(float(x) for x in known["thresholds"])
            if "alert_emails" in known:
                known["alert_emails"] = tuple(known["alert_emails"] or ())
            if "limit_usd" in known:
                known["limit_usd"] = float(known["limit_usd"])
            for k in ("start", "end"):
                if known.get(k):
                    known[k] = dt.date.fromisoformat(str(known[k]))
        except (TypeError, ValueError) as e:
            raise BudgetError(f"budget {d.get('name')!r}: {e}") from None
        return cls(**known)


def spent(events: pl.LazyFrame, budgets: Sequence[Budget], today: dt.date, rates: pl.DataFrame | None = None,
          *, in_usd: bool = False) -> list[float]:
    """What each budget's scope spent in its current period (one scan for all budgets), in the
    budget's currency (each day's USD at that day's rate from `rates`, `ingest.fx.rates`), or in
    USD for all with `in_usd`."""
    if not budgets:
        return []
    frame = measures(events)
    day = day_column(frame)
    codes = [] if in_usd else sorted({b.currency for b in budgets} - {fx.BASE})
    if codes:
        if rates is None:
            raise BudgetError(f"budgets in {', '.join(codes)} need exchange rates (ingest.fx.rates)")
        periods = [b.bounds(today) for b in budgets]
        calendar = pl.DataFrame({s.DATE: pl.date_range(min(p[0] for p in periods), max(p[1] for p in periods),
                                                        eager=True)})
        for code in codes:
            calendar = calendar.join(fx.per_day(calendar.select(s.DATE), code, rates).select(
                s.DATE, pl.col("rate").alias(f"_per_{code}")), on=s.DATE)
        frame = frame.with_columns(day.alias("_day")).join(calendar.lazy().rename({s.DATE: "_day"}), on="_day",
                                                           how="left")
    exprs = []
    for i, b in enumerate(budgets):
        start, end = b.bounds(today)
        cost = pl.col(s.COST) if in_usd or b.currency == fx.BASE else pl.col(s.COST) * pl.col(f"_per_{b.currency}")
        exprs.append(cost.filter(b.matches() & day.is_between(start, end)).sum().alias(f"b{i}"))
    row = frame.select(exprs).collect().row(0)
    return [float(v or 0.0) for v in row]


def spent_both(events: pl.LazyFrame, budgets: Sequence[Budget], today: dt.date,
               rates: pl.DataFrame | None) -> tuple[list[float], list[float]]:
    """What each budget spent in its own currency, and in dollars (one scan when all are in dollars)."""
    own = spent(events, budgets, today, rates)
    return own, (spent(events, budgets, today, in_usd=True) if any(b.currency != fx.BASE for b in budgets) else own)


def per_usd(budget: Budget, today: dt.date, rates: pl.DataFrame | None) -> float:
    """Units of the budget's currency a dollar buys today (1 for a budget in USD)."""
    if budget.currency == fx.BASE:
        return 1.0
    if rates is None:
        raise BudgetError(f"budget {budget.name!r} is in {budget.currency}: exchange rates are needed")
    return float(fx.per_day(pl.DataFrame({s.DATE: [today]}), budget.currency, rates)["rate"][0])


def status(events: pl.LazyFrame, budgets: Sequence[Budget], *, today: dt.date | None = None,
           with_forecast: bool = True, plans=None, rates: pl.DataFrame | None = None) -> pl.DataFrame:
    """Spent, remaining, % used, state, forecast period total and days left, per budget.

    The `*_usd` columns are in dollars for every budget (for one in another currency: what was spent,
    and the rest of its limit at today's rate); `limit`, `spent`, `remaining` and `forecast` are in
    the budget's `currency`, which its share used, thresholds and state are judged in.

    `state` is ok, warning (a threshold below 100 % crossed) or exceeded; `threshold` is the
    highest threshold crossed, the limit itself (1.0) counting as one whether listed or not.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    rows = []
    for b, used, used_usd in zip(budgets, *spent_both(events, budgets, today, rates)):
        start, end = b.bounds(today)
        rate = per_usd(b, today, rates)
        limit_usd = used_usd + (b.limit_usd - used) / rate  # in dollars: spent, and what is left at today's rate
        pct = used / b.limit_usd
        crossed = b.reached(used)
        expected = low80 = high80 = exhaustion = None
        if with_forecast and b.period in ("weekly", "monthly") and start <= today <= end:
            from analytics.forecast import forecast
            f = forecast(events.filter(b.matches()), today=today, period=_CALENDAR[b.period],
                         budget_usd=limit_usd, plans=plans)  # (plans: where fitted forecasts are kept)
            expected, low80, high80, exhaustion = (f.expected_total_usd, f.total_low80_usd, f.total_high80_usd,
                                                   f.exhaustion_date)
        rows.append({
            "name": b.name, "scope": b.scope, "value": b.value, "period": b.period, "period_start": start,
            "period_end": end, "limit_usd": limit_usd, "spent_usd": used_usd, "remaining_usd": limit_usd - used_usd,
            "pct": pct, "state": "exceeded" if crossed and crossed[-1] >= 1 else "warning" if crossed else "ok",
            "threshold": crossed[-1] if crossed else None, "forecast_usd": expected, "forecast_low80_usd": low80,
            "forecast_high80_usd": high80, "exhaustion_date": exhaustion,
            "days_left": max(0, (end - today).days), "enforcement": b.enforcement,
            "currency": b.currency, "limit": b.limit_usd, "spent": used, "remaining": b.limit_usd - used,
            "forecast": None if expected is None else used + (expected - used_usd) * rate})
    return pl.DataFrame(rows, schema=STATUS_SCHEMA)


STATUS_SCHEMA = pl.Schema({
    "name": pl.String, "scope": pl.String, "value": pl.String, "period": pl.String, "period_start": pl.Date,
    "period_end": pl.Date, "limit_usd": pl.Float64, "spent_usd": pl.Float64, "remaining_usd": pl.Float64,
    "pct": pl.Float64, "state": pl.String, "threshold": pl.Float64, "forecast_usd": pl.Float64,
    "forecast_low80_usd": pl.Float64, "forecast_high80_usd": pl.Float64, "exhaustion_date": pl.Date,
    "days_left": pl.Int64, "enforcement": pl.String, "currency": pl.String, "limit": pl.Float64, "spent": pl.Float64,
    "remaining": pl.Float64, "forecast": pl.Float64})


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    budgets: list[dict] = field(default_factory=list)  # each matching budget: name, spent, limit, action

    @property
    def allowed(self) -> bool:
        """Whether the run may start without asking (allow or warn)."""
        return self.action in ("allow", "warn")

    def to_dict(self) -> dict:
        return {"action": self.action, "allowed": self.allowed, "reason": self.reason, "budgets": self.budgets}


def can_execute(events: pl.LazyFrame, budgets: Sequence[Budget], estimate_usd: float,
                attribution: Mapping[str, str | None] | None = None, *, today: dt.date | None = None,
                rates: pl.DataFrame | None = None) -> Decision:
    """Whether a run estimated at `estimate_usd` with this attribution may start, and why.

    A budget whose spend plus the estimate would pass its limit answers with its enforcement
    (warn, confirm, block); one that would only cross a lower threshold answers warn.
    """
    if estimate_usd is None or math.isnan(estimate_usd) or estimate_usd < 0:
        raise BudgetError(f"estimate_usd={estimate_usd!r} must be an amount ≥ 0")
    today = today or dt.datetime.now(dt.UTC).date()
    matching = [b for b in budgets if b.covers(attribution or {})]
    verdicts = []
    for b, used, used_usd in zip(matching, *spent_both(events, matching, today, rates)):
        rate = per_usd(b, today, rates)
        estimate = estimate_usd * rate  # in the budget's currency, at today's rate
        after = used + estimate
        m = lambda amount, code=b.currency: amount_in(amount, code)  # noqa: E731
        if b.passed_by(after):
            action: Action = _ON_EXCEEDED[b.enforcement]
            why = (f"{b.name}: {m(used)} spent + {m(estimate)} estimated = {m(after)} > "
                   f"{m(b.limit_usd)} limit ({b.period}, {b.enforcement})")
        elif any(used / b.limit_usd < t <= after / b.limit_usd for t in b.thresholds):
            action = "warn"
            why = f"{b.name}: this run takes spend to {after / b.limit_usd:.0%} of {m(b.limit_usd)}"
        else:
            action, why = "allow", f"{b.name}: within budget ({after / b.limit_usd:.0%} after this run)"
        verdicts.append((ACTIONS.index(action), why, {
            "name": b.name, "spent_usd": used_usd, "limit_usd": used_usd + (b.limit_usd - used) / rate,
            "after_usd": used_usd + estimate_usd, "action": action,  # (dollars; in the budget's own currency:)
            "currency": b.currency, "spent": used, "limit": b.limit_usd, "after": after}))
    if not verdicts:
        return Decision("allow", "no budget covers this run")
    strictest = max(verdicts, key=lambda v: v[0])
    return Decision(ACTIONS[strictest[0]], strictest[1], [v[2] for v in verdicts])
