"""OTLP JSON trace exports carrying OpenTelemetry GenAI spans (tests/fixtures/otel, written from the
OTLP JSON encoding and the GenAI semantic conventions: the collector's one-request-a-line
file exporter, and one pretty-printed request)."""

import datetime as dt
import json

import polars as pl
import pytest
from genai_prices import Usage, calc_price

import analytics
from ingest import schema as s
from ingest.importers import detect, import_paths
from tests.conftest import FIXTURES

OTEL = FIXTURES / "otel"


@pytest.fixture
def imported(lake):
    return lake, import_paths(lake, [OTEL])


def test_spans_with_usage_become_priced_events_and_the_rest_is_skipped_or_quarantined(imported):
    lake, summary = imported
    assert (summary.imported, summary.quarantined) == (6, 1)  # the agent span has no usage: not an event
    assert summary.errors == ["collector-export.jsonl line 2: span b7ad6b7169203333: gen_ai.usage.input_tokens=10 "
                              "is less than its cache reads and writes (40): the conventions count cached input "
                              "inside input_tokens"]
    events = {r[s.EVENT_ID]: r for r in analytics.scan(lake).collect().iter_rows(named=True)}
    chat = events["otel:5b8efff798038103d269b633813fc60c:eee19b7ec3c1b175"]
    assert (chat[s.PROVIDER], chat[s.MODEL], chat[s.OPERATION], chat[s.PROJECT], chat[s.AGENT]) == (
        "openai", "gpt-4o-2024-08-06", "chat", "support-bot", "triage")
    assert (chat[s.INPUT_TOKENS], chat[s.CACHE_READ_TOKENS], chat[s.OUTPUT_TOKENS]) == (776, 1024, 420)
    assert chat[s.JOB_ID] == "5b8efff798038103d269b633813fc60c" and chat[s.LATENCY_MS] == 2300.0
    assert chat[s.TS] == dt.datetime(2026, 3, 2, 8, 0, 0, 100_000, tzinfo=dt.UTC)
    failed = events["otel:5b8efff798038103d269b633813fc60c:eee19b7ec3c1b177"]
    assert not failed[s.SUCCESS] and json.loads(failed[s.TAGS])["error.type"] == "timeout"
    embedding = events["otel:5b8efff798038103d269b633813fc60c:eee19b7ec3c1b176"]
    assert embedding[s.SERVICE] == "embedding" and embedding[s.COST_SOURCE] == "computed"
    older = events["otel:0af7651916cd43dd8448eb211c80319c:b7ad6b7169203331"]  # gen_ai.system, prompt_tokens
    assert (older[s.PROVIDER], older[s.INPUT_TOKENS], older[s.CACHE_WRITE_TOKENS], older[s.CACHE_READ_TOKENS],
            older[s.OUTPUT_TOKENS]) == ("anthropic", 2000, 4000, 20000, 1900)
    gemini = events["otel:0af7651916cd43dd8448eb211c80319c:b7ad6b7169203332"]
    assert (gemini[s.PROVIDER], gemini[s.REASONING_TOKENS]) == ("google", 700)
    assert events["otel:4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7"][s.PROJECT] == "batch-jobs"


def test_costs_are_what_genai_prices_says_for_the_span_usage(imported):
    lake, _ = imported
    for r in analytics.scan(lake).collect().iter_rows(named=True):
        usage = Usage(input_tokens=r[s.INPUT_TOKENS] + r[s.CACHE_READ_TOKENS] + r[s.CACHE_WRITE_TOKENS],
                      cache_read_tokens=r[s.CACHE_READ_TOKENS], cache_write_tokens=r[s.CACHE_WRITE_TOKENS],
                      output_tokens=r[s.OUTPUT_TOKENS])
        expected = calc_price(usage, r[s.MODEL], provider_id=r[s.PROVIDER], genai_request_timestamp=r[s.TS])
        assert r[s.COST] == pytest.approx(float(expected.total_price), rel=1e-12), r[s.EVENT_ID]


def test_reimporting_counts_nothing_twice(imported):
    lake, first = imported
    again = import_paths(lake, [OTEL], remember=False)
    assert (again.imported, again.duplicates) == (0, first.imported)
    assert analytics.scan(lake).select(pl.len()).collect().item() == first.imported


def test_both_layouts_are_recognised():
    assert detect((OTEL / "collector-export.jsonl").read_bytes()) == "otel"
    assert detect((OTEL / "one-trace.json").read_bytes()) == "otel"


def test_a_span_whose_usage_is_not_a_count_is_quarantined_and_its_neighbours_land(lake, tmp_path):
    request = json.loads((OTEL / "collector-export.jsonl").read_text().splitlines()[0])
    chat = request["resourceSpans"][0]["scopeSpans"][0]["spans"][1]
    chat["attributes"] = [a if a["key"] != "gen_ai.usage.output_tokens" else
                          {"key": a["key"], "value": {"stringValue": "lots"}} for a in chat["attributes"]]
    (tmp_path / "traces.jsonl").write_text(json.dumps(request) + "\n")
    summary = import_paths(lake, [tmp_path])
    assert (summary.imported, summary.quarantined) == (2, 1)
    assert summary.errors == ["traces.jsonl line 1: span eee19b7ec3c1b175: gen_ai.usage.output_tokens=lots "
                              "is not a whole number ≥ 0"]
