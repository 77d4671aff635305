"""LiteLLM spend logs, Langfuse observations and the OpenAI dashboard's CSV exports (fixtures written
from LiteLLM's `LiteLLM_SpendLogs` schema, Langfuse's observations API and the usage API's
fields): mapped, priced, kept as reported where the source priced, and counted once."""

import datetime as dt
import json

import polars as pl
import pytest
from genai_prices import Usage, calc_price

import analytics
from ingest import schema as s
from ingest.importers import detect, import_paths
from ingest.reported import read_reported
from tests.conftest import FIXTURES


def genai_cost(r: dict) -> float:
    usage = Usage(input_tokens=r[s.INPUT_TOKENS] + r[s.CACHE_READ_TOKENS] + r[s.CACHE_WRITE_TOKENS],
                  cache_read_tokens=r[s.CACHE_READ_TOKENS], cache_write_tokens=r[s.CACHE_WRITE_TOKENS],
                  output_tokens=r[s.OUTPUT_TOKENS])
    return float(calc_price(usage, r[s.MODEL], provider_id=r[s.PROVIDER], genai_request_timestamp=r[s.TS]).total_price)


@pytest.mark.parametrize("name, kind", [("litellm/spend-logs.json", "litellm"), ("litellm/spend-logs.csv", "litellm"),
                                        ("langfuse/observations-api.json", "langfuse"),
                                        ("langfuse/observations-export.csv", "langfuse"),
                                        ("openai-dashboard/activity-2026-03.csv", "openai-usage-csv"),
                                        ("openai-dashboard/cost-2026-03.csv", "openai-costs-csv")])
def test_exports_are_recognised_by_their_content(name, kind):
    assert detect((FIXTURES / name).read_bytes()) == kind


def test_litellm_spend_logs_keep_litellms_price_beside_ours(lake):
    summary = import_paths(lake, [FIXTURES / "litellm"])  # the CSV repeats two rows of the JSON
    assert (summary.imported, summary.duplicates, summary.quarantined) == (4, 2, 0)
    events = {r[s.EVENT_ID]: r for r in analytics.scan(lake).collect().iter_rows(named=True)}
    gpt = events["litellm:chatcmpl-B4x1"]
    assert (gpt[s.INPUT_TOKENS], gpt[s.CACHE_READ_TOKENS], gpt[s.OUTPUT_TOKENS]) == (476, 1024, 310)
    assert (gpt[s.PROJECT], gpt[s.JOB_ID], gpt[s.USER], gpt[s.LATENCY_MS]) == ("team-support", "sess-9a", "cust-42", 2787.0)
    assert gpt[s.COST_SOURCE] == "reported" and gpt[s.COST] == 0.004275
    assert gpt[s.COMPUTED_COST] == pytest.approx(genai_cost(gpt), rel=1e-12)
    claude = events["litellm:msg_01AbC"]  # LiteLLM said $0: the price book does not
    assert (claude[s.MODEL], claude[s.INPUT_TOKENS], claude[s.CACHE_READ_TOKENS], claude[s.CACHE_WRITE_TOKENS]) == (
        "claude-sonnet-4-5-20250929", 4000, 20000, 6000)
    assert claude[s.COST] == 0.0 and claude[s.COMPUTED_COST] > 0.05
    assert claude[s.COMPUTED_COST] == pytest.approx(genai_cost(claude), rel=1e-12)
    assert not events["litellm:chatcmpl-B4x3"][s.SUCCESS]
    assert events["litellm:emb-77"][s.SERVICE] == "embedding"
    gaps = analytics.reconcile(analytics.scan(lake), read_reported(lake))
    day = gaps.filter((pl.col("provider") == "anthropic") & (pl.col("date") == dt.date(2026, 3, 2))).row(0, named=True)
    assert day["event_gap_usd"] == pytest.approx(-claude[s.COMPUTED_COST])


def test_langfuse_generations_become_events_and_spans_do_not(lake):
    summary = import_paths(lake, [FIXTURES / "langfuse"])
    assert (summary.imported, summary.quarantined) == (4, 0)  # 3 generations from the API page, 1 from the CSV
    events = {r[s.EVENT_ID]: r for r in analytics.scan(lake).collect().iter_rows(named=True)}
    assert "langfuse:trace-1-span-1" not in events
    draft = events["langfuse:trace-1-gen-1"]
    assert (draft[s.PROVIDER], draft[s.INPUT_TOKENS], draft[s.CACHE_READ_TOKENS], draft[s.OUTPUT_TOKENS]) == (
        "openai", 1176, 1024, 380)
    assert (draft[s.JOB_ID], draft[s.OPERATION], draft[s.PROJECT], draft[s.LATENCY_MS]) == (
        "trace-1", "draft-answer", "production", 3400.0)
    assert draft[s.COST] == 0.00802 and draft[s.COMPUTED_COST] == pytest.approx(genai_cost(draft), rel=1e-12)
    plan = events["langfuse:trace-2-gen-1"]
    assert plan[s.PROVIDER] == "anthropic" and not plan[s.SUCCESS] and plan[s.CACHE_WRITE_TOKENS] == 2000
    think = events["langfuse:trace-3-gen-1"]  # reasoning is part of the output here
    assert (think[s.OUTPUT_TOKENS], think[s.REASONING_TOKENS], think[s.COST_SOURCE]) == (1600, 700, "computed")
    assert events["langfuse:trace-4-gen-1"][s.CACHE_READ_TOKENS] == 1024  # from the CSV's JSON cells


def test_openai_dashboard_exports_import_like_the_api(lake):
    summary = import_paths(lake, [FIXTURES / "openai-dashboard"])
    assert (summary.imported, summary.reported) == (2, 3)
    events = analytics.scan(lake).sort(s.TS).collect()
    first = events.row(0, named=True)
    assert (first[s.TS], first[s.INPUT_TOKENS], first[s.CACHE_READ_TOKENS], first[s.PROJECT]) == (
        dt.datetime(2026, 3, 2, tzinfo=dt.UTC), 850_000, 400_000, "proj_support")
    assert json.loads(first[s.TAGS])["num_model_requests"] == 420
    assert read_reported(lake).collect()["cost_usd"].sum() == pytest.approx(4.425)
    again = import_paths(lake, [FIXTURES / "openai-dashboard"], remember=False)
    assert (again.imported, again.duplicates) == (0, 2) and read_reported(lake).collect().height == 3


def test_rows_that_cannot_be_read_are_quarantined_with_their_reason(lake, tmp_path):
    logs = json.loads((FIXTURES / "litellm" / "spend-logs.json").read_text())
    logs[0]["prompt_tokens"] = "lots"
    (tmp_path / "spend.json").write_text(json.dumps(logs))
    page = json.loads((FIXTURES / "langfuse" / "observations-api.json").read_text())
    page["data"][0]["usageDetails"]["output"] = -3
    (tmp_path / "observations.json").write_text(json.dumps(page))
    summary = import_paths(lake, [tmp_path])
    assert (summary.imported, summary.quarantined) == (3 + 2, 2)
    assert sorted(summary.errors) == [
        "observations.json observation 1: observation trace-1-gen-1: usageDetails.output=-3 is not a whole number ≥ 0",
        "spend.json row 1: input_tokens='lots' is not a whole number"]
