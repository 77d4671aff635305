"""Every page through Streamlit's AppTest: widgets set, buttons pressed, figures checked against
`analytics` on the same lake (downloads are checked in the browser test)."""

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest
import streamlit as st
from polars.testing import assert_frame_equal
from streamlit.testing.v1 import AppTest

import analytics
from analytics.budgets import Budget
from ingest import schema as s
from ingest.demo import write_demo
from ingest.lake import Lake
from ingest.pricing import PriceBook
from ingest.reported import read_reported
from ingest.lake import ESTIMATES
from spendlake.store import load_budgets, save_budgets
from ingest import audit
from tests.conftest import FIXTURES
from analytics.words import amount_in
from spendlake import usecases
from tests.helpers import events, rate_on

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("app") / "lake"
    write_demo(Lake(root), TODAY, days=120)
    return root


@pytest.fixture
def lake(demo_root, tmp_path, monkeypatch) -> Lake:
    """A copy of the demo lake each test may change."""
    root = tmp_path / "lake"
    shutil.copytree(demo_root, root)
    monkeypatch.setenv("SPENDLAKE_LAKE", str(root))
    st.cache_data.clear()
    return Lake(root)


def open_app(page: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def frame(at: AppTest, i: int) -> pl.DataFrame:
    return pl.from_pandas(at.dataframe[i].value)


def frame_with(at: AppTest, column: str) -> pl.DataFrame:
    """The first table on the page that has this column."""
    return next(frame(at, i) for i in range(len(at.dataframe)) if column in at.dataframe[i].value.columns)


def dollars(text: str) -> float:
    return float(text.removeprefix("$").replace(",", ""))


def money(x: float) -> str:
    return f"${x:,.2f}"


def test_overview_shows_month_to_date_forecast_budget_top_spenders_and_unpriced_events(lake):
    save_budgets(lake, [Budget("all", 100.0)])
    lake.append(events(2, day=TODAY, prefix="odd", model="mystery-model"))
    at = open_app()
    month = analytics.daily(lake, start=TODAY.replace(day=1), end=TODAY).select(pl.col(s.COST).sum()).collect().item()
    outlook = analytics.forecast(analytics.daily(lake), today=TODAY, budget_usd=100.0)
    assert metric(at, "Month to date") == money(month)
    assert dollars(metric(at, "Expected month total")) == pytest.approx(outlook.expected_total_usd, abs=0.005)
    assert metric(at, "Monthly budget") == "$100.00"
    assert metric(at, "Budget runs out") == str(outlook.exhaustion_date)
    assert "all (overall, monthly)" in at.get("progress")[0].proto.text
    assert "2 event(s) have no price" in at.warning[0].value
    top = analytics.breakdown(analytics.daily(lake, start=TODAY - dt.timedelta(days=29), end=TODAY), by=s.PROJECT,
                              values=[s.COST, "calls"], limit=10)
    assert_frame_equal(frame(at, 0), top, check_dtypes=False)
    assert len(at.get("vega_lite_chart")) == 2


def test_what_is_left_of_the_monthly_budget_does_not_change_with_a_project_filter(lake):
    save_budgets(lake, [Budget("all", 1000.0)])
    project = analytics.daily(lake, start=TODAY.replace(day=1), end=TODAY).select(s.PROJECT).drop_nulls().collect()[s.PROJECT][0]
    status = analytics.budget_status(analytics.daily(lake), load_budgets(lake), today=TODAY)
    for query in ({}, {"project": project}):
        at = open_app(**query)
        left = next(m for m in at.metric if m.label == "Monthly budget").proto.delta
        assert left == f"{money(status['remaining_usd'][0])} left", query


def test_a_project_filter_shows_that_projects_own_budget(lake):
    project = "shorts-factory"
    save_budgets(lake, [Budget("all", 1000.0), Budget("shorts", 50.0, scope="project", value=project)])
    at = open_app(project=project)
    outlook = analytics.forecast(analytics.daily(lake).filter(pl.col(s.PROJECT) == project), today=TODAY,
                                 budget_usd=50.0)
    assert metric(at, "Monthly budget") == "$50.00"
    assert metric(at, "Budget runs out") == str(outlook.exhaustion_date or "not expected")
    assert metric(open_app(), "Monthly budget") == "$1,000.00"
    assert metric(open_app(project=["shorts-factory", "support-bot"]), "Monthly budget") == "$1,000.00"  # one lacks its own


def test_explore_groups_as_asked_keeps_the_view_in_the_url_and_drills_into_a_run(lake):
    at = open_app("explore")
    at.multiselect(key="explore-by").set_value([s.PROJECT, s.MODEL])
    at.selectbox(key="explore-period").set_value("week")
    at.run()
    start = TODAY - dt.timedelta(days=29)
    expected = analytics.breakdown(analytics.daily(lake, start=start, end=TODAY), by=[s.PROJECT, s.MODEL],
                                   period="week", top=10)
    assert_frame_equal(frame(at, 0), expected, check_dtypes=False)
    assert at.query_params["by"] == [s.PROJECT, s.MODEL] and at.query_params["period"] == "week"
    assert at.query_params["from"] == start.isoformat()
    project = expected[s.PROJECT][0]
    at.selectbox(key="explore-project").set_value(project).run()
    runs = analytics.top_runs(analytics.runs(lake, start=start, end=TODAY).filter(pl.col(s.PROJECT) == project), 50)
    shown = frame_with(at, s.JOB_ID)
    assert shown[s.JOB_ID].to_list() == runs[s.JOB_ID].to_list()
    at.selectbox(key="explore-run").set_value(runs[s.JOB_ID][0]).run()
    assert at.page_link[-1].proto.query_string == f"job={runs[s.JOB_ID][0]}"
    at.multiselect(key="explore-by").set_value([s.JOB_ID]).run()  # runs come from the per-run rollup
    assert not at.exception and not at.error
    by_run = frame(at, 0).filter(pl.col(s.JOB_ID) != "other")  # the ten costliest runs, the rest summed
    top = analytics.top_runs(analytics.runs(lake, start=start, end=TODAY), 10)
    assert sorted(by_run[s.COST].to_list()) == pytest.approx(sorted(top[s.COST].to_list()), rel=1e-12)


def test_a_shared_explore_link_reopens_with_every_grouping_it_names(lake):
    at = open_app("explore", by=[s.PROVIDER, s.MODEL], project=["shorts-factory", "support-bot"], period="week")
    assert at.multiselect(key="explore-by").value == [s.PROVIDER, s.MODEL]
    assert at.multiselect(key="projects").value == ["shorts-factory", "support-bot"]
    at.run()  # and again: the URL the page wrote keeps every value
    assert at.query_params["by"] == [s.PROVIDER, s.MODEL]
    assert at.query_params["project"] == ["shorts-factory", "support-bot"]
    assert at.multiselect(key="explore-by").value == [s.PROVIDER, s.MODEL]
    broken = open_app("explore", top="abc")
    assert "top='abc' in the link is not a number from 1 to 100" in broken.warning[0].value
    assert broken.number_input(key="explore-top").value == 10


def test_a_run_report_from_the_url_matches_the_library(lake):
    job = analytics.top_runs(analytics.runs(lake, start=TODAY - dt.timedelta(days=29), end=TODAY), 1)[s.JOB_ID][0]
    at = open_app("jobs", job=job)
    report = analytics.run_report(analytics.scan(lake), job)
    assert at.header[0].value == f"Run {job}"
    assert metric(at, "Cost") == money(report.cost_usd)
    by_stage = frame_with(at, s.STAGE)
    assert by_stage[s.STAGE].to_list() == report.by_stage[s.STAGE].to_list()
    assert by_stage[s.COST].to_list() == pytest.approx(report.by_stage[s.COST].to_list(), rel=1e-12)
    at.text_input(key="jobs-search").set_value(job[:6]).run()
    assert all(job[:6] in j for j in frame(at, 0)[s.JOB_ID].to_list())



def test_a_runs_report_shows_times_people_read_and_failures_as_a_count(lake):
    runs = analytics.runs(lake, start=TODAY - dt.timedelta(days=29), end=TODAY).collect()
    failing = runs.filter(pl.col("failed_calls") > 0)[s.JOB_ID][0]
    at = open_app("jobs", job=failing)
    assert at.header[0].value == f"Run {failing}"
    calls = next(m for m in at.metric if m.label == "Calls")
    assert calls.proto.delta.endswith(" failed")
    assert (calls.proto.direction, calls.proto.color) == (2, 2)  # a count of failures: no arrow, no colour of a rise
    when = next(c.value for c in at.caption if "(UTC) ·" in c.value)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d → \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(UTC\) · [\d,]+ tokens", when)


def test_the_estimate_follows_the_form_compares_models_checks_budgets_and_is_recorded(lake):
    save_budgets(lake, [Budget("small", 0.5, enforcement="hard_stop")])
    at = open_app("estimate")
    at.number_input(key="est-stories").set_value(5).run()
    history = analytics.scan(lake, start=TODAY - dt.timedelta(days=90), end=TODAY)
    plan = analytics.video_pipeline(stories=5)
    expected = analytics.estimate(plan, PriceBook.load(), history=history)
    assert metric(at, "Expected") == money(expected.expected_usd)
    assert metric(at, "High") == money(expected.high_usd)
    at.multiselect(key="est-compare").set_value(["anthropic/claude-sonnet-4-5"]).run()
    compared = frame_with(at, "unpriced_steps")
    oracle = analytics.compare_models(plan, PriceBook.load(), [("anthropic", "claude-sonnet-4-5")], history=history)
    assert compared["model"].to_list() == ["as planned", "claude-sonnet-4-5"]
    assert compared["expected_usd"].to_list() == pytest.approx(oracle["expected_usd"].to_list())
    assert compared["expected_usd"][0] == pytest.approx(expected.expected_usd)
    assert "block" in at.error[0].value and "small" in at.error[0].value  # over the hard-stop budget
    at.text_input(key="est-job").set_value("video-77").run()
    at.button[0].click().run()
    recorded = [json.loads(line) for line in lake.path(ESTIMATES).read_text().splitlines()]
    assert recorded[-1]["job_id"] == "video-77" and "recorded for job video-77" in at.success[0].value


def test_budgets_are_validated_saved_edited_deleted_and_checked(lake):
    at = open_app("budgets")
    assert "No budgets yet" in at.info[0].value
    at.text_input(key="b-name").set_value("team")
    at.number_input(key="b-limit").set_value(-5.0)
    at.text_input(key="b-thresholds").set_value("0.9, 0.5")
    at.button[0].click().run()
    assert "limit_usd=-5.0 must be a positive amount" in at.error[0].value and "must rise strictly" in at.error[0].value
    assert load_budgets(lake) == []
    at.number_input(key="b-limit").set_value(3.0)
    at.text_input(key="b-thresholds").set_value("0.5, 0.9")
    at.button[0].click().run()
    assert load_budgets(lake) == []  # not before it is confirmed
    assert "Save budget **team**: $3.00 monthly for everything, warn, alerts at 50%, 90%?" in at.info[-1].value
    at.button(key="budget-confirm").click().run()
    assert [(b.name, b.limit_usd, b.thresholds) for b in load_budgets(lake)] == [("team", 3.0, (0.5, 0.9))]
    at.selectbox(key="budget-edit").set_value("team").run()
    at.number_input(key="b-limit").set_value(4.0)
    at.button[0].click().run()
    at.button(key="budget-confirm").click().run()
    assert [b.limit_usd for b in load_budgets(lake)] == [4.0]
    next(b for b in at.button if b.label == "Run the check now").click().run()
    alerts = frame_with(at, "kind")
    assert "budget_exceeded" in alerts["kind"].to_list() and alerts["state"].to_list()[0] == "active"
    exceeded = alerts.filter(pl.col("kind") == "budget_exceeded")["id"][0]
    at.selectbox(key="alert-ack").set_value(exceeded).run()
    next(b for b in at.button if b.label == "Acknowledge").click().run()
    states = dict(zip(*frame_with(at, "kind").select("id", "state").to_dict(as_series=False).values()))
    assert states[exceeded] == "acknowledged"
    trail = audit.read(lake)
    assert [(e["action"], e["subject"]) for e in trail] == [("budget_set", "team"), ("budget_set", "team"),
                                                            ("alert_acknowledged", exceeded)]
    assert all(e["who"].startswith("app:") for e in trail)
    assert (trail[1]["before"]["limit_usd"], trail[1]["after"]["limit_usd"]) == (3.0, 4.0)
    assert frame_with(at, "who")["action"].to_list()[:1] == ["alert_acknowledged"]  # the page's trail, newest first
    at.selectbox(key="budget-delete").set_value("team").run()
    next(b for b in at.button if b.label == "Delete").click().run()
    assert load_budgets(lake) == []
    assert audit.read(lake)[-1]["action"] == "budget_deleted" and audit.read(lake)[-1]["before"]["limit_usd"] == 4.0


def test_a_budgets_target_is_picked_from_the_lake_and_a_typo_is_saved_only_with_a_warning(lake):
    at = open_app("budgets")
    at.selectbox(key="b-scope").set_value("project").run()
    known = at.selectbox(key="b-value").options
    assert "shorts-factory" in known and len(known) == len(set(known)) > 1
    at.text_input(key="b-name").set_value("shorts")
    at.selectbox(key="b-value").set_value("shorts-factory")
    at.button[0].click().run()
    at.button(key="budget-confirm").click().run()
    assert [(b.scope, b.value) for b in load_budgets(lake)] == [("project", "shorts-factory")]
    assert not at.warning
    at.text_input(key="b-name").set_value("typo")
    at.text_input(key="b-new-value").set_value("shorts-factroy")
    at.button[0].click().run()
    at.button(key="budget-cancel").click().run()
    assert len(load_budgets(lake)) == 1  # cancelled
    at.button[0].click().run()
    at.button(key="budget-confirm").click().run()
    assert "did you mean 'shorts-factory'?" in at.warning[0].value
    assert {b.value for b in load_budgets(lake)} == {"shorts-factory", "shorts-factroy"}


def test_the_estimate_keeps_a_changed_model_when_a_count_changes_and_compares_any_priced_model(lake):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/estimate.py").run()
    at.session_state["est-plan-1"] = {"edited_rows": {1: {"model": "gpt-4o-mini", "count": 3}}, "added_rows": [],
                                      "deleted_rows": []}
    at.run()
    at.number_input(key="est-images").set_value(9).run()
    steps = frame_with(at, "basis")  # the estimate of the plan as edited
    script = steps.filter(pl.col("operation") == "script_generation").row(0, named=True)
    assert (script["model"], script["count"]) == ("gpt-4o-mini", 3)  # the edits stayed
    assert steps.filter(pl.col("operation") == "images_generation")["count"][0] == 9  # and the new count came
    offered = at.multiselect(key="est-compare").options
    assert "openai/gpt-4o-mini" in offered and "anthropic/claude-opus-4-1" in offered  # not only the plan's
    assert len(offered) > 100
    shared = open_app("estimate", compare=["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"])
    assert shared.multiselect(key="est-compare").value == ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]
    assert shared.query_params["compare"] == ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]


def test_a_stored_budget_file_that_is_wrong_is_a_message(lake):
    (lake.root / "budgets.json").write_text(json.dumps([{"name": "x", "limit_usd": 5, "scope": "planet"}]))
    at = open_app("budgets")
    assert "scope='planet' is not one of" in at.error[0].value


def test_optimize_lists_the_library_suggestions_and_prices_a_what_if(lake):
    at = open_app("optimize")
    found = analytics.suggestions(analytics.scan(lake, start=TODAY - dt.timedelta(days=29), end=TODAY),
                                  PriceBook.load(), today=TODAY, days=30)
    shown = frame(at, 0)
    assert shown["scope"].to_list() == found["scope"].to_list()
    assert metric(at, "Possible savings per month") == money(found.filter("headline")["savings_monthly_usd"].sum())
    assert found.filter("headline").height < found.height  # the demo's ideas overlap: alternatives are not added
    project = analytics.breakdown(analytics.daily(lake).filter(pl.col(s.SERVICE) == "llm"), by=s.PROJECT)[s.PROJECT][0]
    at.selectbox(key="opt-project").set_value(project).run()
    llm = analytics.scan(lake, start=TODAY - dt.timedelta(days=29), end=TODAY, project=project, service="llm").collect()
    moved = PriceBook.load().price(llm.with_columns(pl.lit("openai").alias(s.PROVIDER), pl.lit("gpt-4o-mini").alias(s.MODEL)))
    assert metric(at, "LLM cost, last 30 days") == money(llm[s.COST].sum())
    assert metric(at, "On openai/gpt-4o-mini") == money(moved[s.COMPUTED_COST].sum())


def test_prices_search_explain_an_event_take_an_override_and_reprice(lake):
    lake.append(events(3, day=TODAY, prefix="new", provider="acme", model="acme-1", output_tokens=0))
    at = open_app("prices")
    at.text_input(key="price-search").set_value("gpt-4o-mini").run()
    assert all("gpt-4o-mini" in m for m in frame(at, 0)["model"].to_list())
    event = lake.scan().filter(pl.col(s.MODEL) == "gpt-4o").select(s.EVENT_ID, s.PRICE_VERSION, s.TS).sort(s.TS).collect()
    at.text_input(key="price-event").set_value(event[s.EVENT_ID][-1]).run()
    assert frame(at, 1)[s.PRICE_VERSION][0] == event[s.PRICE_VERSION][-1]
    unpriced = frame(at, 2)
    assert unpriced.select(s.PROVIDER, s.MODEL, "events").rows() == [("acme", "acme-1", 3)]
    at.text_input(key="ov-price").set_value("2")  # $2 per million input tokens (provider and model are prefilled)
    at.button[0].click().run()
    assert "Override added: acme/acme-1 input_token" in at.success[0].value
    next(b for b in at.button if b.label == "Reprice stored events").click().run()
    costs = lake.scan().filter(pl.col(s.MODEL) == "acme-1").select(s.INPUT_TOKENS, s.COST, s.COST_SOURCE).collect()
    assert costs[s.COST].to_list() == pytest.approx([t * 2 / 1e6 for t in costs[s.INPUT_TOKENS]], rel=1e-12)
    assert set(costs[s.COST_SOURCE]) == {"computed"}


def test_provider_reports_import_and_reconcile_on_the_prices_page(lake):
    reports = FIXTURES / "reports"
    at = open_app("import_files")
    at.file_uploader(key="import-files").set_value(
        [(name, (reports / name).read_bytes(), "application/json")
         for name in ("openai-usage-completions.json", "openai-costs.json")])
    at.run()
    at.button[0].click().run()
    assert metric(at, "Imported") == "3" and "Kept 10 rows of providers' cost reports" in at.info[0].value
    at = open_app("prices", **{"from": "2026-03-01", "to": "2026-03-05"})
    at.toggle(key="price-reconcile").set_value(True).run()
    shown = frame_with(at, "gap_usd")
    expected = analytics.reconcile(analytics.scan(lake, start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 5)),
                                   read_reported(lake))
    assert_frame_equal(shown, expected, check_dtypes=False)
    assert shown.filter(pl.col("provider") == "openai")["gap_usd"].abs().max() == pytest.approx(0.93)


def test_import_lands_good_records_and_offers_the_bad_ones_for_download(lake):
    good = [{"event_id": f"up{i}", "ts": f"{TODAY}T08:0{i}:00Z", "provider": "openai", "model": "gpt-4o",
             "service": "llm", "input_tokens": 100, "output_tokens": 10} for i in range(3)]
    bad = {"event_id": "bad1", "ts": f"{TODAY}T09:00:00Z", "provider": "openai", "model": "gpt-4o", "service": "llm",
           "input_tokens": -5}
    body = "\n".join(json.dumps(r) for r in [*good, bad]).encode()
    at = open_app("import_files")
    at.file_uploader(key="import-files").set_value(("calls.jsonl", body, "application/jsonl"))
    at.run()
    at.button[0].click().run()
    assert metric(at, "Imported") == "3" and metric(at, "Quarantined") == "1"
    assert "input_tokens" in at.error[0].value
    assert lake.scan().filter(pl.col(s.EVENT_ID).str.starts_with("up")).select(pl.len()).collect().item() == 3
    assert any(b.label.startswith("Quarantined records") for b in at.get("download_button"))


def test_import_names_a_file_it_could_not_read_and_keeps_exact_repeats(lake):
    row = f"{TODAY}T08:00:00Z,openai,gpt-4o,llm,100"
    at = open_app("import_files")
    at.file_uploader(key="import-files").set_value(
        [("calls.csv", f"ts,provider,model,service,input_tokens\n{row}\n{row}\n".encode(), "text/csv"),
         ("notes.csv", b"hello world\n", "text/csv")])
    at.run()
    at.button[0].click().run()
    assert metric(at, "Imported") == "1" and metric(at, "Already in the lake") == "1"
    assert any("1 exact repeats" in i.value for i in at.info)
    assert any(e.value.startswith("Not read: ") and "notes.csv" in e.value for e in at.error)
    assert any(b.label.startswith("Quarantined records") for b in at.get("download_button"))


def test_an_empty_lake_offers_demo_data_and_loads_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SPENDLAKE_LAKE", str(tmp_path / "lake"))
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert "is empty" in at.info[0].value
    at.button[0].click().run()
    assert not at.exception
    assert metric(at, "Month to date").startswith("$")


def test_a_broken_lake_is_a_message_not_a_traceback(lake):
    (lake.events_dir / "stray").mkdir()
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert "not a partition folder" in at.error[0].value


def test_sign_in_is_required_only_when_configured(lake):
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "s3cret",
                          "client_id": "spendlake", "client_secret": "x",
                          "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"] and not at.metric  # nothing of the lake is shown
    assert metric(open_app(), "Month to date").startswith("$")  # without [auth]: open


def test_an_ordinary_csv_imports_with_its_mapping_shown_and_one_message_per_problem(lake):
    rows = "".join(f"{TODAY}T08:{i % 60:02d}:00Z,openai,gpt-4o,{100 + i},{10 + i},web,note {i}\n" for i in range(5))
    ordinary = f"timestamp,provider,model,prompt_tokens,completion_tokens,project,notes\n{rows}".encode()
    bad = "ts,provider,model,service,input_tokens\n" + "".join(
        f"{TODAY}T09:00:{i % 60:02d}Z,openai,gpt-4o,llm,-{i + 1}\n" for i in range(300))
    at = open_app("import_files")
    at.file_uploader(key="import-files").set_value([("usage.csv", ordinary, "text/csv"),
                                                    ("bad.csv", bad.encode(), "text/csv")])
    at.run()
    shown = {box.label: box.value for box in at.selectbox if box.key and box.key.startswith("map-")}
    assert shown["timestamp"] == "ts" and shown["prompt_tokens"] == "input_tokens"
    assert shown["completion_tokens"] == "output_tokens" and shown["notes"] == "(not imported)"
    assert any(b.label == "Download a CSV template" for b in at.get("download_button"))
    at.selectbox(key="map-project").set_value("stage")  # a person's change is what is imported
    at.button[0].click().run()
    assert metric(at, "Imported") == "5" and metric(at, "Quarantined") == "300"
    assert [e.value for e in at.error] == [
        "bad.csv line 2: input_tokens='-1' must be ≥ 0 (and 299 more records with the same problem)"]
    web = lake.scan().filter(pl.col(s.STAGE) == "web").select(s.INPUT_TOKENS, s.SERVICE, s.PROJECT).collect()
    assert sorted(web[s.INPUT_TOKENS]) == [100, 101, 102, 103, 104] and set(web[s.SERVICE]) == {"llm"}
    assert web[s.PROJECT].null_count() == 5
    (quarantine,) = [p for p in (lake.root / "quarantine").iterdir() if "bad.csv" in p.name]
    first = json.loads(quarantine.read_text().splitlines()[0])
    assert first["source"] == "2 files: usage.csv, bad.csv"  # the uploaded files, not a temporary path
    assert first["error"].startswith("bad.csv line 2: ")


def test_the_events_page_shows_each_event_with_its_arithmetic_and_why_it_failed(lake):
    from genai_prices import Usage, calc_price
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    lake.append(events(2, day=TODAY, prefix="look", job_id="run-look", project="web", ts=[now, now + dt.timedelta(seconds=1)],
                       success=[True, False], tags=[None, json.dumps({"error": "RateLimitError", "status": "429"})]))
    at = open_app("events", job="run-look")
    shown = frame(at, 0)
    assert shown[s.EVENT_ID].to_list() == ["look1", "look0"]  # newest first
    first = shown.row(1, named=True)
    rate_in, rate_out = (float(calc_price(Usage(**{k: 1_000_000}), "gpt-4o", provider_id="openai").total_price)
                         for k in ("input_tokens", "output_tokens"))
    assert first["how_priced"] == (f"1,000 input tokens × ${rate_in:,.2f}/M + 100 output tokens × ${rate_out:,.2f}/M "
                                   f"= ${first[s.COST]:,.6f}")
    assert first[s.COST] == pytest.approx(1000 * rate_in / 1e6 + 100 * rate_out / 1e6, rel=1e-12)
    assert first[s.PRICE_VERSION].startswith("genai-prices") and first[s.PRICE_VERSION].endswith("gpt-4o")
    assert shown.row(0, named=True)["failure"] == "RateLimitError (HTTP 429)" and first["failure"] is None
    cell = open_app("events", where=["model:gpt-4o", "project:web"])
    assert set(frame(cell, 0)[s.EVENT_ID]) == {"look0", "look1"}
    assert "No events for run nope" in open_app("events", job="nope").info[0].value


def test_tables_show_money_as_money_shares_as_percentages_and_headers_in_words(lake):
    at = open_app("explore")
    config = json.loads(at.dataframe[0].proto.columns)
    assert config["cost_usd"]["label"] == "Cost" and config["cost_usd"]["type_config"]["format"] == "dollar"
    assert config["share"]["type_config"]["format"] == "percent"
    assert config["calls"]["type_config"]["format"] == "localized"
    events_page = open_app("events")
    small = json.loads(events_page.dataframe[0].proto.columns)
    assert small["cost_usd"]["type_config"]["format"] in ("$%.4f", "$%.6f")  # a sub-cent cost stays visible
    assert small["cache_write_tokens"]["label"] == "Cache writes"
    for code, shown in (("EUR", "euro"), ("JPY", "yen"), ("GBP", "accounting")):  # money in the sidebar's currency
        at = open_app("explore", currency=code)
        config = json.loads(at.dataframe[0].proto.columns)
        money = config[f"cost_{code.lower()}"]
        assert money["label"] == f"Cost ({code})" and money["type_config"]["format"] == shown, code
        assert config["tokens"]["type_config"]["format"] == "localized"
    assert "Cost (GBP)" in at.selectbox(key="explore-metric").options  # the measure in words, in its currency


def test_a_date_preset_sets_the_sidebars_dates(lake):
    at = open_app("overview")
    at.selectbox(key="date-preset").set_value("last month").run()
    end = TODAY.replace(day=1) - dt.timedelta(days=1)
    assert at.date_input(key="dates").value == (end.replace(day=1), end)
    assert at.query_params["from"] == end.replace(day=1).isoformat() and at.query_params["to"] == end.isoformat()
    assert any(f"{end.replace(day=1)} to {end}" in c.value for c in at.caption)  # Top projects says which days
    at.selectbox(key="date-preset").set_value("last 7 days").run()
    assert at.date_input(key="dates").value == (TODAY - dt.timedelta(days=6), TODAY)


def test_the_forecast_chart_draws_its_band_as_a_band_with_a_legend_and_labels_the_budget(lake):
    save_budgets(lake, [Budget("all", 800.0)])
    at = open_app()
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in spec["layer"]]
    assert "area" in marks and "text" in marks  # the band, and the budget line's label
    domain = next(layer["encoding"]["color"]["scale"]["domain"] for layer in spec["layer"]
                  if "color" in layer.get("encoding", {}) and "scale" in layer["encoding"]["color"])
    assert domain == ["spent", "expected", "80 % band", "budget $800.00"]
    outlook = analytics.forecast(analytics.daily(lake), today=TODAY, budget_usd=800.0)
    last = outlook.daily.row(-1, named=True)
    assert (last["cumulative_low80"], last["cumulative_high80"]) == pytest.approx(
        (outlook.total_low80_usd, outlook.total_high80_usd), rel=1e-9)


def test_explore_draws_a_weeks_bar_a_week_wide_and_says_when_there_is_nothing_to_show(lake):
    at = open_app("explore", by=[s.PROVIDER], period="week")
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["encoding"]["x"]["type"] == "ordinal"  # one band per week, not a sliver on a time axis
    empty = open_app("explore", **{"from": "2001-01-01", "to": "2001-01-31"})
    assert "Nothing to show from 2001-01-01 to 2001-01-31" in empty.info[0].value


def test_the_import_page_finds_the_coding_agents_logs_on_this_machine_and_imports_them(lake, tmp_path, monkeypatch):
    from tests.ingest.test_codex import REAL
    codex = tmp_path / "codex"
    shutil.copytree(REAL, codex / "sessions")
    for variable in ("CLAUDE_CONFIG_DIR", "GEMINI_DATA_DIR", "OPENCODE_DATA_DIR", "XDG_DATA_HOME"):
        monkeypatch.setenv(variable, str(tmp_path / "none"))
    monkeypatch.setenv("CODEX_HOME", str(codex))
    at = open_app("import_files")
    shown = at.dataframe[-1].value
    assert dict(zip(shown["agent"], shown["log files"])) == {"Claude Code": 0, "Codex": 2, "Gemini CLI": 0, "OpenCode": 0}
    at.button(key="import-agents").click().run()
    assert any("**Codex**: imported 59 events" in m.value for m in at.markdown)
    assert lake.scan().filter(pl.col(s.AGENT) == "codex").select(pl.len()).collect().item() == 59


def test_a_budget_in_euros_is_set_and_shown_in_euros(lake):
    at = open_app("budgets")
    at.text_input(key="b-name").set_value("team-eur")
    at.number_input(key="b-limit").set_value(250.0)
    at.selectbox(key="b-currency").set_value("EUR")
    at.button[0].click().run()
    assert "Save budget **team-eur**: €250.00 monthly for everything" in at.info[-1].value
    at.button(key="budget-confirm").click().run()
    assert [(b.name, b.limit_usd, b.currency) for b in load_budgets(lake)] == [("team-eur", 250.0, "EUR")]
    bar = next(p.text for p in at.get("progress"))
    assert "of €250.00" in bar and "$" not in bar.split(":")[1].split("·")[0]


def test_every_page_shows_money_in_the_currency_chosen_in_the_sidebar_each_day_at_its_rate(lake, ecb_per_usd):
    eur = lambda day: rate_on(ecb_per_usd["EUR"], day)[1]  # noqa: E731 - the ECB's own history, read by the test
    start = TODAY - dt.timedelta(days=29)
    at = open_app(currency="EUR")
    assert at.selectbox(key="currency").value == "EUR" and at.query_params["currency"] == "EUR"
    assert "ECB" in "".join(c.value for c in at.sidebar.caption)
    per_day = analytics.daily(lake, start=TODAY.replace(day=1), end=TODAY).group_by(s.DATE).agg(
        pl.col(s.COST).sum()).collect()
    assert metric(at, "Month to date") == amount_in(sum(c * eur(d) for d, c in per_day.iter_rows()), "EUR")
    top = frame_with(at, "cost_eur")  # top projects, each day of each project at that day's rate
    rows = analytics.daily(lake, start=start, end=TODAY).select(s.PROJECT, s.DATE, s.COST).collect()
    expected = {}
    for project, day, cost in rows.iter_rows():
        expected[project] = expected.get(project, 0.0) + cost * eur(day)
    assert dict(zip(top[s.PROJECT], top["cost_eur"])) == pytest.approx(
        {p: expected[p] for p in top[s.PROJECT]}, rel=1e-9)

    at.switch_page("app_pages/explore.py").run()  # the choice follows to every page, in the URL
    assert at.query_params["currency"] == "EUR"
    by_provider = frame(at, 0)
    assert "cost_eur" in by_provider.columns and "cost_usd" not in by_provider.columns

    job = analytics.top_runs(analytics.runs(lake, start=start, end=TODAY), 1)[s.JOB_ID][0]
    at = open_app("jobs", job=job, currency="EUR")
    run = analytics.scan(lake).filter(pl.col(s.JOB_ID) == job).select(s.DATE, s.COST).collect()
    assert metric(at, "Cost") == amount_in(sum(c * eur(d) for d, c in run.iter_rows()), "EUR")
    assert "cost_eur" in frame_with(at, s.STAGE).columns

    at = open_app("events", job=job, currency="EUR")
    shown = frame_with(at, "cost_eur")
    assert shown["cost_eur"].to_list() == pytest.approx(
        [c * eur(t.date()) for t, c in zip(shown[s.TS], shown[s.COST])], rel=1e-12)  # beside the dollars priced

    at = open_app("optimize", currency="EUR")
    dollars_ahead = usecases.suggestions(lake, today=TODAY, days=30).savings_monthly_usd
    assert metric(at, "Possible savings per month") == amount_in(dollars_ahead * eur(TODAY), "EUR")
    assert "at the rate of" in at.caption[0].value

    at.sidebar.selectbox(key="currency").set_value("USD").run()  # and back: dollars as priced, nothing in the URL
    assert "currency" not in at.query_params
    assert metric(at, "Possible savings per month") == amount_in(dollars_ahead, "USD")
    assert not open_app(currency="XYZ").exception  # a link with a currency without rates: a warning, dollars
    assert "No exchange rates for 'XYZ'" in open_app(currency="XYZ").sidebar.warning[0].value


def test_a_csv_billed_in_euros_is_imported_from_the_page_in_dollars_at_each_days_rate(lake, ecb_per_usd):
    day = TODAY - dt.timedelta(days=3)
    billed = (f"timestamp,provider,model,service,characters,cost,currency\n"
              f"{day}T08:00:00Z,acme-voice,narrator,tts,1200,12.40,EUR\n").encode()
    at = open_app("import_files")
    at.file_uploader(key="import-files").set_value([("billed.csv", billed, "text/csv")])
    at.run()
    assert at.selectbox(key="map-currency").value == "currency" and at.selectbox(key="map-cost").value == "cost_usd"
    at.button[0].click().run()
    assert not at.exception and metric(at, "Imported") == "1"
    [landed] = lake.scan().filter(pl.col(s.PROVIDER) == "acme-voice").collect().iter_rows(named=True)
    assert landed[s.COST] == pytest.approx(12.40 / rate_on(ecb_per_usd["EUR"], day)[1], rel=1e-12)
    assert json.loads(landed[s.TAGS]) == {"billed_amount": 12.4, "billed_currency": "EUR"}


def test_figures_in_another_currency_follow_the_teams_rates_as_soon_as_they_are_imported(lake, tmp_path):
    job = analytics.top_runs(analytics.runs(lake, start=TODAY - dt.timedelta(days=29), end=TODAY), 1)[s.JOB_ID][0]
    before = metric(open_app("jobs", job=job, currency="EUR"), "Cost")
    first = analytics.run_days(lake, job)[0]
    rates = tmp_path / "treasury.csv"
    rates.write_text(f"date,currency,rate\n{first - dt.timedelta(days=40)},EUR,2.0\n")  # every day of the run at 2 €/$
    usecases.import_rates(lake, rates.read_bytes(), rates.name)
    after = open_app("jobs", job=job, currency="EUR")  # the same session's cache: the run report is not stale
    cost = analytics.scan(lake).filter(pl.col(s.JOB_ID) == job).select(pl.col(s.COST).sum()).collect().item()
    assert metric(after, "Cost") == amount_in(cost * 2.0, "EUR") != before


def test_the_prices_page_lists_the_exchange_rates_and_takes_the_teams_own(lake):
    at = open_app("prices")
    listed = frame_with(at, "newest_rate")
    assert {"EUR", "GBP", "JPY"} <= set(listed["currency"]) and set(listed["source"]) == {"ECB"}
    at.file_uploader(key="fx-file").set_value([("bad.csv", b"date,currency,rate\n2026-03-16,EUR,-1\n", "text/csv")])
    at.run()
    at.button(key="fx-import").click().run()
    assert "line 2: rate '-1' must be above zero" in at.error[0].value and not at.exception
    at.file_uploader(key="fx-file").set_value([("treasury.csv", b"date,currency,rate\n2026-03-16,EUR,0.9\n", "text/csv")])
    at.run()
    at.button(key="fx-import").click().run()
    assert "Kept 1 rate(s) from treasury.csv" in at.success[0].value
    listed = frame_with(at, "newest_rate")
    assert listed.filter((pl.col("currency") == "EUR") & (pl.col("source") == "team"))["newest_rate"].to_list() == [0.9]
    assert [e["action"] for e in audit.read(lake)][-1] == "fx_rates_imported"
