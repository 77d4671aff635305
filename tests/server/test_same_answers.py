"""The API answers what the CLI answers (`--format json`) for the same questions on the same lake, and
`/metrics` speaks Prometheus' text format (read back with prometheus_client's own parser)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

import analytics
from ingest.lake import Lake
from spendlake import keys, usecases
from spendlake.cli import app
from tests.helpers import same
from tests.server.server import client, running

TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("same") / "lake"
    lake = Lake(root)
    usecases.write_demo(lake, days=60, today=TODAY)
    from analytics.budgets import Budget
    usecases.save_budget(lake, Budget("shorts", limit_usd=50, scope="project", value="shorts-factory",
                                      enforcement="hard_stop"))
    token = keys.create(lake, "admin", "admin")
    with running(root) as url, client(url, token) as http:
        yield root, http


def cli(*args: str) -> object:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code in (0, 1, 2), result.output
    return json.loads(result.stdout)


def api(http, method: str, path: str, **kwargs) -> object:
    answer = http.request(method, path, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_breakdown(served):
    root, http = served
    start = TODAY - dt.timedelta(days=20)
    asked = cli("report", "breakdown", "--by", "project", "--by", "provider", "--period", "week", "--from", start,
                "--lake", root, "-f", "json")
    answered = api(http, "GET", f"/v1/costs?by=project&by=provider&period=week&from={start}")
    assert same(answered, asked) and len(answered) > 4


def test_monthly_report(served):
    root, http = served
    month = f"{TODAY:%Y-%m}"
    assert same(api(http, "GET", f"/v1/reports/monthly?month={month}"),
                cli("report", "monthly", "--month", month, "--lake", root, "-f", "json"))


def test_a_run_and_the_runs(served):
    root, http = served
    runs = api(http, "GET", "/v1/runs?top=3")
    assert same(runs, cli("report", "jobs", "--top", "3", "--lake", root, "-f", "json")) and len(runs) == 3
    job = runs[0]["job_id"]
    assert same(api(http, "GET", f"/v1/runs/{job}"), cli("report", "job", job, "--lake", root, "-f", "json"))
    in_yen = api(http, "GET", f"/v1/runs/{job}?currency=JPY")
    assert same(in_yen, cli("report", "job", job, "--currency", "JPY", "--lake", root, "-f", "json"))
    assert "cost_jpy" in in_yen and in_yen["cost_jpy"] > 50 * runs[0]["cost_usd"]  # (a dollar is far more than 50 yen)


def test_forecast(served):
    root, http = served
    assert same(api(http, "GET", f"/v1/forecast?budget=900&today={TODAY}"),
                cli("report", "forecast", "--budget", "900", "--today", TODAY, "--lake", root, "-f", "json"))


def test_estimate(served):
    root, http = served
    body = {"stories": 2, "images": 4, "dialogue_chars": 1000, "project": "shorts-factory",
            "compare": ["anthropic/claude-haiku-4-5"]}
    answered = api(http, "POST", "/v1/estimate", json=body)
    asked = cli("estimate", "--stories", "2", "--images", "4", "--dialogue-chars", "1000", "--project",
                "shorts-factory", "--compare", "anthropic/claude-haiku-4-5", "--lake", root, "-f", "json")
    assert same(answered, asked) and answered["decision"]["action"] in ("allow", "warn", "confirm", "block")
    in_euros = api(http, "POST", "/v1/estimate?currency=EUR", json=body)
    assert same(in_euros["decision"], answered["decision"])  # decided in dollars, as recorded
    assert in_euros["expected_eur"] == pytest.approx(answered["expected_usd"] * usecases.rate_on(
        Lake(root), "EUR", TODAY), rel=1e-12) and in_euros["compared"][0].get("expected_eur") is not None


def test_can_execute(served):
    root, http = served
    answered = api(http, "POST", "/v1/can-execute", json={"amount_usd": 60, "project": "shorts-factory"})
    asked = cli("can-execute", "--amount", "60", "--project", "shorts-factory", "--lake", root, "-f", "json")
    assert same(answered, asked) and answered["action"] == "block"  # $60 past a $50 hard stop
    assert api(http, "POST", "/v1/can-execute", json={"amount_usd": 1, "project": "elsewhere"})["action"] == "allow"


def test_budgets_put_get_delete(served):
    root, http = served
    put = api(http, "PUT", "/v1/budgets/all", json={"limit_usd": 5000, "thresholds": [0.5, 1.0]})
    assert put["limit_usd"] == 5000 and put["scope"] == "overall"
    listed = api(http, "GET", f"/v1/budgets?today={TODAY}")
    assert same(listed, cli("report", "budget", "--today", TODAY, "--lake", root, "-f", "json"))
    assert {b["name"] for b in listed} == {"shorts", "all"}
    assert http.put("/v1/budgets/bad", json={"limit_usd": 5, "period": "fortnightly"}).status_code == 422
    assert api(http, "DELETE", "/v1/budgets/all") == {"deleted": "all"}
    assert http.delete("/v1/budgets/all").status_code == 404


def test_csv_is_formula_safe(served):
    _, http = served
    assert api(http, "POST", "/v1/events", json=[{"ts": f"{TODAY}T01:00:00Z", "provider": "openai", "model": "gpt-4o",
                                                  "service": "llm", "input_tokens": 1, "project": "=HYPERLINK(1)"}])
    text = http.get("/v1/costs?by=project&format=csv").text
    assert "'=HYPERLINK(1)" in text and "\n=HYPERLINK" not in text


def test_metrics_in_prometheus_text_format(served):
    root, http = served
    before = metrics(http)
    day = dt.datetime.now(dt.UTC).date()  # the server's today (a module's TODAY may be yesterday after midnight)
    sent = [{"ts": f"{day}T00:00:0{i}Z", "provider": "openai", "model": "gpt-4o", "service": "llm",
             "input_tokens": 10 + i, "project": "metrics"} for i in range(3)]
    api(http, "POST", "/v1/events", json=sent + sent[:1])  # the last is an exact repeat
    after = metrics(http)
    assert after[("spendlake_events_total", "received")] - before[("spendlake_events_total", "received")] == 4
    assert after[("spendlake_events_total", "written")] - before[("spendlake_events_total", "written")] == 3
    assert after[("spendlake_events_total", "duplicate")] - before[("spendlake_events_total", "duplicate")] == 1
    today = analytics.daily(Lake(root), start=day, end=day).select("cost_usd").sum().collect().item()
    assert after[("spendlake_spend_today_usd", None)] == pytest.approx(today, rel=1e-9) and today > 0
    assert after[("spendlake_request_duration_seconds_count", "/v1/events")] >= 1


def metrics(http) -> dict:
    answer = http.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            label = sample.labels.get("outcome") or sample.labels.get("route")
            found[(sample.name, label)] = found.get((sample.name, label), 0) + sample.value
    return found


def test_money_in_another_currency_is_the_same_over_http_and_says_its_rates(served):
    root, http = served
    start = TODAY - dt.timedelta(days=20)
    asked = cli("report", "breakdown", "--by", "provider", "--from", start, "--currency", "eur", "--lake", root, "-f", "json")
    answer = http.get(f"/v1/costs?by=provider&from={start}&currency=EUR")
    assert answer.status_code == 200 and same(answer.json(), asked)
    assert "cost_eur" in answer.json()[0] and "cost_usd" not in answer.json()[0]
    assert answer.headers["Spendlake-Rates"].startswith("USD converted to EUR day by day at ECB rates published")
    monthly = http.get(f"/v1/reports/monthly?month={TODAY:%Y-%m}&currency=gbp")
    assert monthly.status_code == 200 and monthly.json()["currency"] == "GBP" and "cost_gbp" in monthly.json()
    runs = http.get(f"/v1/runs?from={start}&currency=JPY&top=5")
    assert runs.status_code == 200 and same(runs.json(), cli("report", "jobs", "--from", start, "--top", 5,
                                                              "--currency", "JPY", "--lake", root, "-f", "json"))
    wrong = http.get("/v1/costs?currency=XYZ")
    assert wrong.status_code == 400 and "unknown currency 'XYZ'" in wrong.json()["error"]["message"]


def test_exchange_rates_listed_and_the_teams_own_added(served):
    root, http = served
    assert same(api(http, "GET", "/v1/fx"), cli("fx", "--lake", root, "-f", "json"))
    bad = http.post("/v1/fx/rates", content=b"date,currency,rate\n2026-03-16,EUR,0\n", headers={"content-type": "text/csv"})
    assert bad.status_code == 400 and "line 2: rate '0' must be above zero" in bad.json()["error"]["message"]
    added = api(http, "POST", "/v1/fx/rates", content=b"date,currency,rate\n2026-03-16,EUR,0.9\n",
                headers={"content-type": "text/csv"})
    assert added == {"imported": 1}
    team = [r for r in api(http, "GET", "/v1/fx") if r["source"] == "team"]
    assert [(r["currency"], r["newest_rate"]) for r in team] == [("EUR", 0.9)]
    for name, scope, projects in (("reader", "read", ()), ("shop-admin", "admin", ["shop"])):  # rates reach every project
        token = keys.create(Lake(root), name, scope, projects=projects)
        with client(http.base_url, token) as other:
            refused = other.post("/v1/fx/rates", content=b"date,currency,rate\n2026-03-17,EUR,0.8\n")
        assert refused.status_code == 403, name
    assert len([r for r in api(http, "GET", "/v1/fx") if r["source"] == "team"]) == 1  # nothing of theirs was kept
