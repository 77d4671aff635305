"""Budgets, the run gate and alerts: validated, strictest decision wins, each alert fires once."""

import datetime as dt
import json

import polars as pl
import pytest
from scipy.stats import norm

from analytics import Budget, BudgetError, budget_alerts, budget_status, can_execute, estimate_alert
from analytics.alerts import exit_code
from ingest import schema as s

NOW = dt.datetime(2026, 3, 20, 12, tzinfo=dt.UTC)


def spend(*rows: tuple[str, str, float, str]) -> pl.LazyFrame:
    """Events from (date, project, cost, tags json)."""
    return pl.LazyFrame({
        s.TS: [dt.datetime.fromisoformat(d).replace(hour=10, tzinfo=dt.UTC) for d, *_ in rows],
        s.PROJECT: [p for _, p, _, _ in rows], s.COST: [c for _, _, c, _ in rows], s.TAGS: [t for *_, t in rows]})


EVENTS = spend(("2026-02-27", "a", 50.0, '{"env": "prod"}'), ("2026-03-02", "a", 30.0, '{"env": "prod"}'),
               ("2026-03-16", "b", 20.0, '{"env": "dev"}'), ("2026-03-20", "a", 5.0, '{"env": "prod"}'))


@pytest.mark.parametrize("fields, message", [
    ({"limit_usd": -5}, "limit_usd=-5 must be a positive amount"),
    ({"thresholds": (0.9, 0.5)}, "thresholds=[0.9, 0.5] must rise strictly"),
    ({"scope": "galaxy", "value": "x"}, "scope='galaxy' is not one of overall"),
    ({"scope": "project"}, "scope=project needs a value"),
    ({"period": "custom"}, "a custom period needs start ≤ end"),
    ({"enforcement": "shout"}, "enforcement='shout' is not one of warn"),
])
def test_a_wrong_budget_is_refused_with_a_clear_message(fields, message):
    with pytest.raises(BudgetError, match="budget 'x': .*" + message.replace("[", r"\[").replace("]", r"\]")):
        Budget(**({"name": "x", "limit_usd": 10.0} | fields))


def test_status_counts_only_the_scope_and_the_current_period():
    budgets = [Budget("all", 100), Budget("a", 40, scope="project", value="a"),
               Budget("week", 10, period="weekly"), Budget("dev", 10, scope="tag", value="env=dev"),
               Budget("feb", 60, period="custom", start=dt.date(2026, 2, 20), end=dt.date(2026, 3, 5))]
    st = budget_status(EVENTS, budgets, today=NOW.date(), with_forecast=False)
    assert st["spent_usd"].to_list() == [55.0, 35.0, 25.0, 20.0, 80.0]  # the week from Monday 16 March
    assert st["state"].to_list() == ["warning", "warning", "exceeded", "exceeded", "exceeded"]
    assert st["threshold"].to_list() == [0.5, 0.8, 1.0, 1.0, 1.0]
    assert st["days_left"].to_list()[:3] == [11, 11, 2]
    assert exit_code(st) == 2 and exit_code(st.head(2)) == 1 and exit_code(st.head(0)) == 0


def test_the_strictest_matching_budget_decides_a_run():
    budgets = [Budget("all", 1000), Budget("a", 40, scope="project", value="a", enforcement="require_confirmation"),
               Budget("a-hard", 45, scope="project", value="a", enforcement="hard_stop")]
    small = can_execute(EVENTS, budgets, 0.5, {"project": "a"}, today=NOW.date())
    assert (small.action, small.allowed) == ("allow", True)
    confirm = can_execute(EVENTS, budgets, 8.0, {"project": "a"}, today=NOW.date())
    assert confirm.action == "confirm" and not confirm.allowed and confirm.reason.startswith("a: $35.00 spent")
    block = can_execute(EVENTS, budgets, 20.0, {"project": "a"}, today=NOW.date())
    assert block.action == "block" and "a-hard" in block.reason and len(block.budgets) == 3
    other = can_execute(EVENTS, budgets, 20.0, {"project": "b"}, today=NOW.date())
    assert other.action == "allow" and [b["name"] for b in other.budgets] == ["all"]
    warn = can_execute(EVENTS, [Budget("all", 100)], 30.0, {}, today=NOW.date())
    assert warn.action == "warn" and "85%" in warn.reason
    alert = estimate_alert(block, "job-7", 20.0, now=NOW)
    assert alert.kind == "task_estimate_high" and "block" in alert.message
    assert estimate_alert(small, "job-7", 0.5, now=NOW) is None
    with pytest.raises(BudgetError, match="estimate_usd=-1"):
        can_execute(EVENTS, budgets, -1, {})


def test_each_threshold_fires_once_per_period():
    budget = [Budget("all", 100)]
    seen: set = set()
    fired = []
    for day, cost in (("2026-03-01", 55.0), ("2026-03-02", 1.0), ("2026-03-03", 30.0), ("2026-03-04", 30.0),
                      ("2026-04-01", 95.0)):
        events = spend(*[(d, "a", c, "{}") for d, c in (("2026-03-01", 55.0), ("2026-03-02", 1.0),
                                                        ("2026-03-03", 30.0), ("2026-03-04", 30.0),
                                                        ("2026-04-01", 95.0)) if d <= day])
        st = budget_status(events, budget, today=dt.date.fromisoformat(day), with_forecast=False)
        new = budget_alerts(st, now=NOW, seen=seen)
        seen |= {a.key for a in new}
        fired.append([(a.kind, a.threshold, a.period_start) for a in new])
    assert fired == [[("budget_warning", 0.5, "2026-03-01")], [], [("budget_warning", 0.8, "2026-03-01")],
                     [("budget_exceeded", 1.0, "2026-03-01")], [("budget_warning", 0.9, "2026-04-01")]]


def forecast_status(expected: float, low80: float, high80: float) -> pl.DataFrame:
    return budget_status(EVENTS, [Budget("all", 200)], today=NOW.date(), with_forecast=False).with_columns(
        pl.lit(expected).alias("forecast_usd"), pl.lit(low80).alias("forecast_low80_usd"),
        pl.lit(high80).alias("forecast_high80_usd"), pl.lit(dt.date(2026, 3, 27)).alias("exhaustion_date"))


def test_a_forecast_alerts_once_even_its_band_s_low_edge_passes_the_limit_and_resolves_when_back_under():
    """27.5 % spent, no threshold crossed yet: a forecast over the limit whose band reaches under it
    is no alarm (spiky spend made 5 alarms in 6 months with a 10 % headroom); a band wholly over is,
    once, saying how sure it is; back under, it is resolved; over again, it fires again."""
    assert budget_alerts(forecast_status(230.0, 190.0, 270.0), now=NOW) == []
    (alert,) = budget_alerts(forecast_status(260.0, 220.0, 300.0), now=NOW)
    assert alert.kind == "forecast_exceeded" and alert.forecast_usd == 260.0
    assert "runs out about 2026-03-27" in alert.message and "(80 % band $220.00 – $300.00)" in alert.message
    sure = norm.sf(200, loc=260, scale=80 / (2 * norm.ppf(0.9)))  # a normal whose 80 % band is 220 – 300
    assert f"limit, {sure:.0%} likely" in alert.message
    assert json.loads(json.dumps(alert.to_dict()))["spent_usd"] == 55.0
    seen = {alert.key}
    assert budget_alerts(forecast_status(260.0, 220.0, 300.0), now=NOW, seen=seen) == []
    assert budget_alerts(forecast_status(205.0, 180.0, 230.0), now=NOW, seen=seen) == []  # near: no chatter
    (resolved,) = budget_alerts(forecast_status(190.0, 170.0, 210.0), now=NOW, seen=seen)
    assert resolved.kind == "forecast_resolved" and "back under the $200.00 limit" in resolved.message
    seen.add(resolved.key)
    assert budget_alerts(forecast_status(190.0, 170.0, 210.0), now=NOW, seen=seen) == []
    (again,) = budget_alerts(forecast_status(250.0, 210.0, 290.0), now=NOW, seen=seen)
    assert again.kind == "forecast_exceeded" and again.key not in seen and again.occurrence == 2


def test_passing_the_limit_is_exceeded_even_when_no_threshold_says_100_percent():
    st = budget_status(EVENTS, [Budget("tight", 50, thresholds=(0.5, 0.9))], today=NOW.date(), with_forecast=False)
    assert st["state"][0] == "exceeded"
    warned = budget_alerts(st.with_columns(pl.lit(0.6).alias("pct"), pl.lit(0.5).alias("threshold")), now=NOW)
    (alert,) = budget_alerts(st, now=NOW, seen={warned[0].key})
    assert alert.kind == "budget_exceeded" and alert.threshold == 1.0
