"""Money in another currency: each day's USD cost times that day's ECB reference rate (the last one
published on or before it), checked against the ECB's own history read here with the csv module;
the team's rates win from their first date; bad rates files and unknown currencies are named."""

import datetime as dt
import io
import json

import polars as pl
import pytest
from typer.testing import CliRunner

import analytics
from analytics import words
from ingest import audit, fx, schema as s
from ingest.demo import write_demo
from spendlake import usecases
from spendlake.cli import app
from tests.helpers import rate_on

TODAY = dt.date(2026, 3, 31)


@pytest.fixture
def demo(lake):
    write_demo(lake, TODAY, days=70)
    return lake


@pytest.mark.parametrize("code", ["EUR", "GBP", "JPY"])
def test_a_month_in_another_currency_is_each_days_cost_at_that_days_rate(demo, ecb_per_usd, code):
    report = usecases.monthly(demo, TODAY, today=TODAY, currency=code.lower())
    days = analytics.daily(demo, start=TODAY.replace(day=1), end=TODAY).group_by(s.DATE).agg(pl.col(s.COST).sum()).collect()
    expected = sum(cost * rate_on(ecb_per_usd[code], day)[1] for day, cost in days.iter_rows())
    assert report.currency == code and report.cost_usd == pytest.approx(expected, rel=1e-12)  # to the cent and far below
    assert round(report.cost_usd, 2) == round(expected, 2)
    assert report.to_dict()[f"cost_{code.lower()}"] == report.cost_usd and "cost_usd" not in report.to_dict()
    assert "ECB" in report.rates and "day by day" in report.rates
    per_day = dict(report.daily.select(s.DATE, s.COST).iter_rows())
    for day, cost in days.iter_rows():
        assert per_day[day] == pytest.approx(cost * rate_on(ecb_per_usd[code], day)[1], rel=1e-12)


def test_a_weekend_takes_fridays_rate(ecb_per_usd):
    saturday, sunday = dt.date(2026, 3, 14), dt.date(2026, 3, 15)
    found = fx.per_day(pl.DataFrame({"date": [saturday, sunday]}), "EUR", fx.rates())
    assert found["rate_date"].to_list() == [dt.date(2026, 3, 13)] * 2
    assert found["rate"].to_list() == [ecb_per_usd["EUR"][dt.date(2026, 3, 13)]] * 2


def test_the_teams_rates_win_from_their_first_date(demo, tmp_path, ecb_per_usd):
    rates = tmp_path / "treasury.csv"
    rates.write_text("date,currency,rate\n2026-03-16,EUR,0.80\n2026-03-23,EUR,0.85\n")
    assert CliRunner().invoke(app, ["fx", "import", str(rates), "--lake", str(demo.root)]).exit_code == 0
    report = usecases.monthly(demo, TODAY, today=TODAY, currency="EUR")
    days = analytics.daily(demo, start=TODAY.replace(day=1), end=TODAY).group_by(s.DATE).agg(pl.col(s.COST).sum()).collect()
    ours = lambda day: 0.80 if day < dt.date(2026, 3, 23) else 0.85  # noqa: E731
    expected = sum(cost * (ours(day) if day >= dt.date(2026, 3, 16) else rate_on(ecb_per_usd["EUR"], day)[1])
                   for day, cost in days.iter_rows())
    assert report.cost_usd == pytest.approx(expected, rel=1e-12)
    assert "ECB and team" in report.rates
    listed = json.loads(CliRunner().invoke(app, ["fx", "--lake", str(demo.root), "--format", "json"]).output)
    eur = {r["source"]: (r["first"], r["last"]) for r in listed if r["currency"] == "EUR"}
    assert eur["team"] == ("2026-03-16", "2026-03-23") and eur["ECB"][0] == "1999-01-04"


@pytest.mark.parametrize("body, named", [
    ("date,currency,rate\n2026-03-16,EUR,-0.8\n", "line 2: rate '-0.8' must be above zero"),
    ("date,currency,rate\n2026-03-16,EUR,\n", "line 2: rate '' is not a number"),
    ("date,currency,rate\n16/03/2026,EUR,0.8\n", "line 2: date '16/03/2026' is not YYYY-MM-DD"),
    ("date,currency,rate\n2026-03-16,EURO,0.8\n", "line 2: currency 'EURO' is not a three-letter code"),
    ("day,currency,rate\n2026-03-16,EUR,0.8\n", "missing: date"),
])
def test_a_bad_rates_file_is_named_and_nothing_of_it_is_kept(demo, tmp_path, body, named):
    rates = tmp_path / "rates.csv"
    rates.write_text(body)
    with pytest.raises(fx.FxError, match=named):
        usecases.import_rates(demo, rates.read_bytes(), rates.name)
    assert fx.team(demo).height == 0


def test_an_unknown_currency_or_a_day_without_a_rate_converts_nothing(demo, tmp_path):
    with pytest.raises(fx.FxError, match="unknown currency 'XYZ'"):
        usecases.monthly(demo, TODAY, today=TODAY, currency="XYZ")
    rates = tmp_path / "rates.csv"
    rates.write_text("date,currency,rate\n2026-03-20,ABC,3.5\n")  # a currency only the team prices, from the 20th
    usecases.import_rates(demo, rates.read_bytes(), rates.name)
    with pytest.raises(fx.FxError, match="no ABC rate on or before 2026-02-01"):
        usecases.monthly(demo, TODAY, today=TODAY, currency="ABC")


def test_a_breakdown_by_day_in_euros_is_each_days_cost_at_its_rate(demo, ecb_per_usd):
    table = usecases.costs(demo, [], period="day", start=dt.date(2026, 3, 1), end=TODAY, currency="EUR")
    usd = dict(analytics.daily(demo, start=dt.date(2026, 3, 1), end=TODAY).group_by(s.DATE).agg(pl.col(s.COST).sum())
               .collect().iter_rows())
    assert table.height == len(usd) and "cost_eur" in table.columns
    for day, cost in table.select(pl.col("period_start").cast(pl.Date), "cost_eur").iter_rows():
        assert cost == pytest.approx(usd[day] * rate_on(ecb_per_usd["EUR"], day)[1], rel=1e-12)


def test_a_forecast_in_euros_takes_each_day_at_its_rate_and_a_budget_in_euros(demo, ecb_per_usd):
    today = dt.date(2026, 3, 20)
    usd = usecases.forecast(demo, today=today)
    eur = usecases.forecast(demo, today=today, currency="EUR", budget_usd=400.0)
    rate = {day: rate_on(ecb_per_usd["EUR"], day)[1] for day in usd.daily["date"]}
    spent = sum(a * rate[d] for d, a in usd.daily.select("date", "actual").iter_rows() if a is not None)
    coming = sum(e * rate[d] for d, e in usd.daily.select("date", "expected").iter_rows() if e is not None)
    assert eur.currency == "EUR" and eur.spent_usd == pytest.approx(spent, rel=1e-12)
    assert eur.expected_total_usd == pytest.approx(spent + coming, rel=1e-12)
    running, runs_out = 0.0, None  # the first day the euros spent and expected reach €400
    for d, a, e in usd.daily.select("date", "actual", "expected").iter_rows():
        running += (a if a is not None else e) * rate[d]
        if runs_out is None and running >= 400.0:
            runs_out = d
    assert runs_out is not None and eur.exhaustion_date == runs_out
    assert eur.to_dict()["expected_total_eur"] == eur.expected_total_usd and "the days to come" in eur.rates


# ---- budgets in their own currency ---------------------------------------------------------------

def test_a_budget_in_euros_or_yen_decides_at_its_own_limit_not_at_the_dollar_number(demo, ecb_per_usd):
    """The spend in the budget's currency is each day's USD at that day's rate; a run's estimate (in
    USD) is taken at today's rate. In euros the dollar number would stop a run the euro limit allows;
    in yen it would let through a run the yen limit stops."""
    from analytics.budgets import Budget
    today = TODAY  # (the demo's last day: nothing after it in the month)
    days = analytics.daily(demo, start=today.replace(day=1), end=today).group_by(s.DATE).agg(pl.col(s.COST).sum()).collect()
    spent_usd = days[s.COST].sum()
    for code, room, factor, expected in (("EUR", 50.0, 0.95, "allow"), ("JPY", 5_000.0, 1.05, "block")):
        spent = sum(cost * rate_on(ecb_per_usd[code], day)[1] for day, cost in days.iter_rows())
        rate_today = rate_on(ecb_per_usd[code], today)[1]
        limit = spent + room
        usecases.save_budget(demo, Budget(f"cap-{code}", limit_usd=limit, enforcement="hard_stop", currency=code))
        estimate = room / rate_today * factor  # just under (euros) or over (yen) what is left, in dollars
        decision = usecases.plan_decision(demo, estimate, {}, today=today)
        mine = next(b for b in decision.budgets if b["name"] == f"cap-{code}")
        assert mine["action"] == expected, decision.reason
        assert mine["spent"] == pytest.approx(spent, rel=1e-12) and mine["after"] == pytest.approx(spent + estimate * rate_today)
        naive = "block" if spent_usd + estimate > limit else "allow"  # the dollar figure against the limit's number
        assert naive != expected
        usecases.delete_budget(demo, f"cap-{code}")


def test_a_tracker_stops_a_call_at_a_yen_hard_stop(lake, ecb_per_usd):
    """The call-time guard: a budget in yen with ¥100 left; a call of $0.60 (about ¥94) passes, the
    next is stopped before it is made, with the figures in yen."""
    from analytics.budgets import Budget
    from ingest import BudgetExceeded, Tracker
    from ingest.budget_guard import BudgetWarning
    from tests.helpers import events
    today = dt.datetime.now(dt.UTC).date()
    lake.append(events(20, day=today))  # spend today, in dollars
    rate = rate_on(ecb_per_usd["JPY"], today)[1]  # (today is past the ECB history at hand: its newest rate)
    spent = analytics.daily(lake).select(pl.col(s.COST).sum()).collect().item() * rate
    usecases.save_budget(lake, Budget("yen", limit_usd=spent + 100, enforcement="hard_stop", currency="JPY"))
    with Tracker(lake) as tracker:
        with pytest.warns(BudgetWarning, match="of ¥"):  # past 80 % of the yen limit with this call
            tracker.guard(provider="openai", model="gpt-4o", estimated_cost=0.60)
        tracker.log(provider="openai", model="gpt-4o", service="llm", cost_usd=0.60)
        with pytest.raises(BudgetExceeded) as stopped:
            tracker.guard(provider="openai", model="gpt-4o", estimated_cost=0.60)
    assert stopped.value.currency == "JPY" and "¥" in str(stopped.value)
    assert stopped.value.spent_usd == pytest.approx(spent + 0.60 * rate, rel=1e-9)  # (in the budget's yen)


def test_budget_alerts_and_status_say_the_budgets_currency_and_dollars(demo, ecb_per_usd):
    from analytics.budgets import Budget
    today = TODAY
    usecases.save_budget(demo, Budget("eur", limit_usd=10.0, currency="EUR"))  # long passed
    status = usecases.budget_status(demo, today=today)
    row = status.row(0, named=True)
    assert row["currency"] == "EUR" and row["state"] == "exceeded" and row["pct"] == pytest.approx(row["spent"] / 10.0)
    assert row["spent_usd"] == pytest.approx(analytics.daily(demo, start=today.replace(day=1), end=today)
                                             .select(pl.col(s.COST).sum()).collect().item(), rel=1e-12)
    alerts = usecases.check(demo, today=today, anomalies=False, now=dt.datetime(2026, 3, 31, 12, tzinfo=dt.UTC)).new
    assert any("€10.00" in a.message and f"${row['spent_usd']:,.2f}" in a.message for a in alerts)


def test_the_costliest_runs_in_euros_add_each_runs_days_at_their_rates(demo, ecb_per_usd):
    top = usecases.top_runs(demo, start=dt.date(2026, 3, 1), end=TODAY, top=5, currency="EUR")
    assert "cost_eur" in top.columns and top.height == 5
    for job, cost in top.select(s.JOB_ID, "cost_eur").iter_rows():
        days = (analytics.scan(demo, start=dt.date(2026, 3, 1), end=TODAY).filter(pl.col(s.JOB_ID) == job)
                .group_by(pl.col(s.TS).dt.date()).agg(pl.col(s.COST).sum()).collect())
        assert cost == pytest.approx(sum(c * rate_on(ecb_per_usd["EUR"], d)[1] for d, c in days.iter_rows()), rel=1e-12)


def test_a_cost_report_billed_in_euros_reconciles_with_events_priced_in_dollars(lake, tmp_path, ecb_per_usd):
    """An account billed in euros (as Azure and Google Cloud bill in the account's currency): its
    report is each line's dollars at the day's ECB rate. Imported, each line gets its dollars back at
    its day's rate, keeps its euros beside them, and reconciles against the events with a gap of 0."""
    from ingest.importers import import_paths
    from ingest.reported import read_reported
    from tests.conftest import FIXTURES
    reports = FIXTURES / "reports"
    costs = json.loads((reports / "anthropic-costs.json").read_text())
    for bucket in costs["data"]:
        day = dt.date.fromisoformat(bucket["starting_at"][:10])
        for r in bucket["results"]:
            r["amount"], r["currency"] = f"{float(r['amount']) * rate_on(ecb_per_usd['EUR'], day)[1]:.6f}", "EUR"
    (tmp_path / "costs-eur.json").write_text(json.dumps(costs))
    summary = import_paths(lake, [reports / "anthropic-usage.json", tmp_path / "costs-eur.json"])
    assert summary.quarantined == 0 and summary.reported == 9
    billed = read_reported(lake).collect()
    assert set(billed["currency"]) == {"EUR"}
    gaps = usecases.reconcile(lake, providers=["anthropic"])
    assert gaps.height == 2 and gaps["gap_usd"].abs().max() < 1e-6  # (the euros were written to a millionth)
    assert billed["cost_usd"].sum() == pytest.approx((126 + 52.5 + 36 + 72 + 142.5 + 15 + 6 + 8 + 20) / 100, rel=1e-6)


def test_a_cost_report_in_a_currency_without_rates_is_not_kept(lake, tmp_path):
    from ingest.importers import import_paths
    from tests.conftest import FIXTURES
    costs = json.loads((FIXTURES / "reports" / "anthropic-costs.json").read_text())
    for bucket in costs["data"]:
        for r in bucket["results"]:
            r["currency"] = "XYZ"
    (tmp_path / "costs.json").write_text(json.dumps(costs))
    summary = import_paths(lake, [tmp_path / "costs.json", FIXTURES / "reports" / "anthropic-usage.json"])
    assert summary.reported == 0 and summary.imported > 0  # the report is not kept; the file beside it is read
    (failure,) = summary.failed
    assert "costs.json" in failure and "unknown currency 'XYZ'" in failure


def _cli(lake, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--lake", str(lake.root)])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_runs_report_in_euros_takes_each_event_at_its_days_rate(demo, ecb_per_usd):
    job = analytics.top_runs(analytics.runs(demo, start=TODAY - dt.timedelta(days=40), end=TODAY), 1)["job_id"][0]
    run = analytics.scan(demo).filter(pl.col(s.JOB_ID) == job).select(s.DATE, s.STAGE, s.COST).collect()
    eur = lambda day: rate_on(ecb_per_usd["EUR"], day)[1]  # noqa: E731
    answer = json.loads(_cli(demo, "report", "job", job, "--currency", "eur", "--format", "json", "--estimate", "2"))
    assert answer["cost_eur"] == pytest.approx(sum(c * eur(d) for d, _, c in run.iter_rows()), rel=1e-12)
    first = run[s.DATE].min()
    assert answer["estimate_eur"] == pytest.approx(2 * eur(first), rel=1e-12)  # estimated in dollars before it began
    stages = {r["stage"]: r["cost_eur"] for r in answer["by_stage"]}
    for stage, cost in stages.items():
        assert cost == pytest.approx(sum(c * eur(d) for d, st, c in run.iter_rows() if st == stage), rel=1e-12)
    assert answer["currency"] == "EUR" and "ECB" in answer["rates"] and "cost_usd" not in answer


def test_anomalies_are_found_in_dollars_and_shown_each_day_at_its_rate(demo, ecb_per_usd):
    found = usecases.anomalies(demo, end=TODAY)
    assert found.height, "the demo has a spike"
    shown = usecases.anomalies(demo, end=TODAY, currency="GBP")
    assert shown[s.DATE].to_list() == found[s.DATE].to_list()  # the same days: found on what the lake holds
    gbp = [rate_on(ecb_per_usd["GBP"], d)[1] for d in found[s.DATE]]
    assert shown["cost_gbp"].to_list() == pytest.approx([c * r for c, r in zip(found[s.COST], gbp)], rel=1e-12)
    assert shown["excess_gbp"].to_list() == pytest.approx([c * r for c, r in zip(found["excess_usd"], gbp)], rel=1e-12)


def test_savings_a_month_look_ahead_so_they_take_the_rate_of_the_last_day_learned_from(demo, ecb_per_usd):
    dollars = usecases.suggestions(demo, today=TODAY)
    yen = usecases.suggestions(demo, today=TODAY, currency="JPY")
    rate = rate_on(ecb_per_usd["JPY"], TODAY)[1]
    assert yen.savings_monthly_usd == pytest.approx(dollars.savings_monthly_usd * rate, rel=1e-12)
    assert yen.table["savings_monthly_jpy"].to_list() == pytest.approx(
        [x * rate for x in dollars.table["savings_monthly_usd"]], rel=1e-12)
    listed = json.loads(_cli(demo, "report", "optimize", "--today", str(TODAY), "--currency", "JPY", "--format", "json"))
    assert [r["savings_monthly_jpy"] for r in listed] == pytest.approx(yen.table["savings_monthly_jpy"].to_list())


def test_what_caching_saved_in_euros_is_each_events_saving_at_its_days_rate(demo, ecb_per_usd, book):
    start = TODAY - dt.timedelta(days=30)
    stats = usecases.tokens(demo, start=start, end=TODAY, book=book)
    per_day = {d: usecases.tokens(demo, start=d, end=d, book=book).cache_savings_usd
               for d in (start + dt.timedelta(days=i) for i in range(31))}
    assert sum(per_day.values()) == pytest.approx(stats.cache_savings_usd, rel=1e-9)
    answer = json.loads(_cli(demo, "report", "tokens", "--from", str(start), "--to", str(TODAY), "--currency", "EUR",
                             "--format", "json"))
    assert answer["cache_savings_eur"] == pytest.approx(
        sum(v * rate_on(ecb_per_usd["EUR"], d)[1] for d, v in per_day.items()), rel=1e-9)


def test_the_focus_export_bills_in_the_currency_asked_and_prices_in_dollars(demo, ecb_per_usd):
    start = TODAY - dt.timedelta(days=13)
    usd = usecases.focus(demo, start=start, end=TODAY)
    eur = usecases.focus(demo, start=start, end=TODAY, currency="EUR")
    exported = pl.read_csv(io.StringIO(_cli(demo, "report", "focus", "--from", str(start), "--to", str(TODAY),
                                            "--currency", "EUR")))  # (the CSV: to six decimals)
    assert exported["BilledCost"].to_list() == pytest.approx(eur["BilledCost"].to_list(), abs=1e-6)
    assert set(exported["BillingCurrency"]) == {"EUR"} and set(exported["PricingCurrency"]) == {"USD"}
    assert set(usd["BillingCurrency"]) == {"USD"}
    rate = [rate_on(ecb_per_usd["EUR"], t.date())[1] for t in usd["ChargePeriodStart"]]
    assert eur["BilledCost"].to_list() == pytest.approx([c * r for c, r in zip(usd["BilledCost"], rate)], rel=1e-9)
    assert eur["PricingCurrencyEffectiveCost"].to_list() == pytest.approx(usd["BilledCost"].to_list(), rel=1e-9)
    tokens = eur.filter(pl.col("PricingUnit") == "1M Tokens")  # the unit price is the book's, per million tokens
    rates = pl.Series([rate_on(ecb_per_usd["EUR"], t.date())[1] for t in tokens["ChargePeriodStart"]])
    assert (tokens["PricingCurrencyListUnitPrice"] * tokens["PricingQuantity"]).to_list() == pytest.approx(
        (tokens["ListCost"] / rates).to_list(), rel=1e-9)
    assert tokens["ListUnitPrice"].to_list() == pytest.approx((tokens["PricingCurrencyListUnitPrice"] * rates).to_list(),
                                                              rel=1e-12)
    from genai_prices import Usage, calc_price  # the oracle of a unit price: genai-prices' own, for a million tokens
    inputs = eur.filter((pl.col("x_ChargeKind") == "input_tokens") & (pl.col("ProviderName") == "openai")).head(5)
    assert inputs.height
    for row in inputs.iter_rows(named=True):
        listed = calc_price(Usage(input_tokens=1_000_000), row["ServiceName"], provider_id="openai",
                            genai_request_timestamp=row["ChargePeriodStart"]).total_price
        assert row["PricingCurrencyListUnitPrice"] == pytest.approx(float(listed), rel=1e-9), row["ServiceName"]


def test_the_month_to_forward_in_euros_says_so_and_shows_the_figures_of_the_report(demo):
    page = _cli(demo, "report", "monthly", "--month", TODAY.strftime("%Y-%m"), "--format", "html", "--currency", "EUR")
    report = usecases.monthly(demo, TODAY, currency="EUR")
    assert f'data-figure="cost_usd">{words.money(report.cost_usd, "EUR")}<' in page
    assert "EUR, cumulative" in page and "converted to EUR day by day" in page and "Cost (EUR)" in page


def test_a_cost_a_source_gives_in_euros_lands_in_dollars_at_its_days_rate_with_the_euros_kept(lake, tmp_path,
                                                                                                ecb_per_usd):
    calls = tmp_path / "self-priced.csv"
    calls.write_text("timestamp,provider,model,service,characters,cost,currency,project\n"
                     "2026-03-06T10:00:00Z,acme-voice,narrator,tts,1200,12.40,EUR,films\n"   # a Friday
                     "2026-03-07T10:00:00Z,acme-voice,narrator,tts,1200,12.40,eur,films\n"   # Saturday: Friday's rate
                     "2026-03-07T11:00:00Z,acme-voice,narrator,tts,1200,3.10,USD,films\n"
                     "2026-03-07T12:00:00Z,acme-voice,narrator,tts,1200,5,XYZ,films\n"      # no rates for it
                     "2010-03-07T12:00:00Z,acme-voice,narrator,tts,1200,5,ILS,films\n"      # before its first rate
                     "2026-03-07T13:00:00Z,acme-voice,narrator,tts,1200,5,euro,films\n")    # not a code
    result = CliRunner().invoke(app, ["import", str(calls), "--lake", str(lake.root)])
    assert result.exit_code == 1, result.output  # something went to quarantine
    landed = analytics.scan(lake).sort(s.TS).collect()
    friday = rate_on(ecb_per_usd["EUR"], dt.date(2026, 3, 6))[1]
    assert landed[s.COST].to_list() == pytest.approx([12.40 / friday, 12.40 / friday, 3.10], rel=1e-12)
    assert set(landed[s.COST_SOURCE]) == {"reported"}
    kept = [json.loads(t) if t else {} for t in landed[s.TAGS]]
    assert [(k.get("billed_amount"), k.get("billed_currency")) for k in kept] == [(12.4, "EUR"), (12.4, "EUR"),
                                                                                  (None, None)]
    shown = usecases.events(lake).sort(s.TS)["how_priced"].to_list()  # the Events page says what was billed
    assert shown[0].startswith(f"reported {words.amount_in(12.4, 'EUR')} = ${12.40 / friday:,.6f} at its day's rate")
    assert "line 5: currency='XYZ' has no exchange rates" in result.output
    assert "line 6: currency='ILS' has no rate on or before 2010-03-07" in result.output
    assert "line 7: currency='euro' is not a three-letter currency code" in result.output
    quarantined = [json.loads(line) for f in lake.quarantine_dir.glob("*.jsonl") for line in f.read_text().splitlines()]
    assert sorted(q["record"] for q in quarantined) == [5, 6, 7]  # nothing lost: each bad line kept with its reason
    again = CliRunner().invoke(app, ["import", str(calls), "--lake", str(lake.root)])
    assert analytics.scan(lake).collect().height == 3, again.output  # the same records again: no new events


def test_a_tracker_logs_a_cost_billed_in_yen_in_dollars_and_refuses_a_currency_without_rates(lake, ecb_per_usd):
    from ingest.errors import ValidationError
    from ingest.tracker import Tracker
    when = dt.datetime(2026, 3, 8, 9, tzinfo=dt.UTC)  # a Sunday: Friday's rate
    with Tracker(lake) as tracker:
        dollars = tracker.log(provider="acme-gpu", model="a100", service="compute", compute_seconds=60, ts=when,
                              cost_usd=150.0, currency="JPY", tags={"team": "render"})
        with pytest.raises(ValidationError, match="currency='ZZZ'"):
            tracker.log(provider="acme-gpu", model="a100", service="compute", ts=when, cost_usd=1.0, currency="ZZZ")
    friday = rate_on(ecb_per_usd["JPY"], when.date())
    assert friday[0] == dt.date(2026, 3, 6) and dollars == pytest.approx(150.0 / friday[1], rel=1e-12)
    [landed] = analytics.scan(lake).collect().iter_rows(named=True)
    assert landed[s.COST] == pytest.approx(dollars, rel=1e-15) and landed[s.COST_SOURCE] == "reported"
    assert json.loads(landed[s.TAGS]) == {"team": "render", "billed_amount": 150.0, "billed_currency": "JPY"}


def test_forecasts_by_project_in_pounds_are_each_projects_forecast_in_pounds(demo):
    found = json.loads(_cli(demo, "report", "forecast", "--by", "project", "--today", str(TODAY), "--currency", "GBP",
                            "--format", "json"))
    assert found and all("spent_gbp" in row and "spent_usd" not in row for row in found)
    for row in found[:3]:
        alone = usecases.forecast(demo, today=TODAY, projects=[row["project"]], currency="GBP")
        assert row["spent_gbp"] == pytest.approx(alone.spent_usd, rel=1e-12)
        assert row["expected_total_gbp"] == pytest.approx(alone.expected_total_usd, rel=1e-9)


def test_an_estimate_looks_ahead_so_it_is_shown_at_the_newest_rate_and_recorded_in_dollars(demo, ecb_per_usd):
    from spendlake.store import estimate_for
    dollars = json.loads(_cli(demo, "estimate", "--stories", "2", "--format", "json"))
    euros = CliRunner().invoke(app, ["estimate", "--stories", "2", "--format", "json", "--currency", "EUR",
                                     "--job", "eur-run", "--lake", str(demo.root)])
    found = json.loads(euros.stdout)
    rate = rate_on(ecb_per_usd["EUR"], dt.datetime.now(dt.UTC).date())[1]
    assert found["expected_eur"] == pytest.approx(dollars["expected_usd"] * rate, rel=1e-9)
    assert found["steps"][0]["expected_eur"] == pytest.approx(dollars["steps"][0]["expected_usd"] * rate, rel=1e-9)
    assert found["currency"] == "EUR" and "ECB" in found["rates"]
    assert estimate_for(demo, "eur-run") == pytest.approx(dollars["expected_usd"], rel=1e-12)  # kept in dollars


def test_a_currency_column_saying_dollars_changes_no_id(lake, tmp_path):
    plain, said = tmp_path / "plain.csv", tmp_path / "said.csv"
    plain.write_text("timestamp,provider,model,service,characters,cost\n2026-03-06T10:00:00Z,acme,v1,tts,10,1.5\n")
    said.write_text("timestamp,provider,model,service,characters,cost,currency\n"
                    "2026-03-06T10:00:00Z,acme,v1,tts,10,1.5,USD\n2026-03-06T10:00:00Z,acme,v1,tts,10,1.5,EUR\n")
    for f in (plain, said):
        assert CliRunner().invoke(app, ["import", str(f), "--lake", str(lake.root)]).exit_code == 0
    landed = analytics.scan(lake).collect()
    assert landed.height == 2  # the dollar row is the same record either way; the euro row is another


def test_rates_imported_by_several_processes_at_once_all_land(lake):
    import subprocess
    import sys
    from pathlib import Path
    code = ("import sys, datetime as dt; sys.path.insert(0, sys.argv[1])\n"
            "from ingest.lake import Lake; from spendlake import usecases\n"
            "lake, who = Lake(sys.argv[2]), int(sys.argv[3])\n"
            "for i in range(25):  # each import a day of its own: nothing of another process's may be lost\n"
            "    day = dt.date(2026, 1, 1) + dt.timedelta(days=100 * who + i)\n"
            "    usecases.import_rates(lake, f'date,currency,rate\\n{day},EUR,0.9\\n'.encode(), f'p{who}-{i}.csv')\n")
    root = str(Path(__file__).resolve().parents[2])
    writers = [subprocess.Popen([sys.executable, "-c", code, root, str(lake.root), str(k)]) for k in range(4)]
    for w in writers:
        assert w.wait(timeout=120) == 0
    assert fx.team(lake).height == 4 * 25  # every process's every rate, none overwritten by another's
    assert [e["action"] for e in audit.read(lake)].count("fx_rates_imported") == 4 * 25
