"""The providers' admin-API usage and cost reports (tests/fixtures/reports, written from the OpenAI
usage and costs API and the Anthropic usage and cost report documentation), and the
reconciliation of what they billed against what the price book computes."""

import datetime as dt
import json

import polars as pl
import pytest
from genai_prices import Usage, calc_price
from typer.testing import CliRunner

import analytics
from ingest import schema as s
from ingest.importers import detect, import_paths
from ingest.reported import read_reported
from spendlake.cli import app
from tests.conftest import FIXTURES

REPORTS = FIXTURES / "reports"
DAY1, DAY2 = dt.date(2026, 3, 2), dt.date(2026, 3, 3)


def test_each_report_is_recognised_by_its_content():
    kinds = {f.name: detect(f.read_bytes()) for f in sorted(REPORTS.iterdir())}
    assert kinds == {"anthropic-costs.json": "anthropic-costs", "anthropic-usage.json": "anthropic-usage",
                     "openai-costs.json": "openai-costs", "openai-usage-completions.json": "openai-usage",
                     "openai-usage-embeddings.jsonl": "openai-usage"}


def test_usage_reports_become_events_priced_as_genai_prices_prices_them(lake):
    summary = import_paths(lake, [REPORTS])
    assert (summary.imported, summary.quarantined, summary.reported) == (6, 0, 19)
    events = analytics.scan(lake).collect()
    for r in events.iter_rows(named=True):
        # a bucket sums many requests, each below the long-context tier: priced as one request of a
        # hundredth of the bucket, a hundred times (prices are linear within a tier)
        usage = Usage(input_tokens=(r[s.INPUT_TOKENS] + r[s.CACHE_READ_TOKENS] + r[s.CACHE_WRITE_TOKENS]) // 100,
                      cache_read_tokens=r[s.CACHE_READ_TOKENS] // 100, cache_write_tokens=r[s.CACHE_WRITE_TOKENS] // 100,
                      cache_write_1h_tokens=r[s.CACHE_WRITE_1H_TOKENS] // 100, output_tokens=r[s.OUTPUT_TOKENS] // 100)
        expected = calc_price(usage, r[s.MODEL], provider_id=r[s.PROVIDER], genai_request_timestamp=r[s.TS])
        assert r[s.COST] == pytest.approx(100 * float(expected.total_price), rel=1e-12), r
    sonnet = events.filter(pl.col(s.MODEL) == "claude-sonnet-4-5-20250929").row(0, named=True)
    assert sonnet[s.INPUT_TOKENS] + sonnet[s.CACHE_READ_TOKENS] + sonnet[s.CACHE_WRITE_TOKENS] > 200_000
    assert sonnet[s.COST] == pytest.approx(4.29)  # its "0-200k" requests at the base rates, as Anthropic billed
    gpt4o = events.filter((pl.col(s.MODEL) == "gpt-4o-2024-08-06") & (pl.col(s.TS).dt.date() == DAY1)).row(0, named=True)
    assert (gpt4o[s.INPUT_TOKENS], gpt4o[s.CACHE_READ_TOKENS], gpt4o[s.PROJECT]) == (850_000, 400_000, "proj_support")
    assert json.loads(gpt4o[s.TAGS])["num_model_requests"] == 420
    haiku = events.filter(pl.col(s.MODEL) == "claude-haiku-4-5-20251001").row(0, named=True)  # the flat spelling
    assert (haiku[s.CACHE_WRITE_TOKENS], haiku[s.CACHE_WRITE_1H_TOKENS]) == (30_000, 30_000)
    assert events.filter(pl.col(s.SERVICE) == "embedding").height == 1


def test_cost_reports_are_kept_beside_the_events_once(lake):
    import_paths(lake, [REPORTS])
    again = import_paths(lake, [REPORTS], remember=False)
    assert (again.imported, again.duplicates) == (0, 6)
    billed = read_reported(lake).collect()
    assert billed.height == 19
    anthropic = billed.filter(pl.col("provider") == "anthropic")
    assert anthropic["cost_usd"].sum() == pytest.approx((126 + 52.5 + 36 + 72 + 142.5 + 15 + 6 + 8 + 20) / 100)


def test_reconcile_shows_the_gap_per_provider_and_day(lake):
    import_paths(lake, [REPORTS])
    result = CliRunner().invoke(app, ["report", "reconcile", "--lake", str(lake.root), "--format", "json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = {(r["provider"], r["date"]): r for r in json.loads(result.output)}
    events = analytics.scan(lake).collect()
    billed = read_reported(lake).collect()
    for (provider, day), r in rows.items():
        date = dt.date.fromisoformat(day)
        ours = events.filter((pl.col(s.PROVIDER) == provider) & (pl.col(s.TS).dt.date() == date))[s.COMPUTED_COST].sum()
        theirs = billed.filter((pl.col("provider") == provider) & (pl.col("date") == date))["cost_usd"].sum()
        assert r["computed_usd"] == pytest.approx(ours) and r["billed_usd"] == pytest.approx(theirs)
        assert r["gap_usd"] == pytest.approx(theirs - ours)
    # the reports price exactly as genai-prices does, except a gpt-4.1 line whose usage was not exported
    assert rows[("openai", DAY2.isoformat())]["gap_usd"] == pytest.approx(0.93)
    assert [k for k, r in rows.items() if abs(r["gap_usd"]) > 1e-9] == [("openai", DAY2.isoformat())]
    first = json.loads(result.output)[0]
    assert (first["provider"], first["date"]) == ("openai", DAY2.isoformat())  # largest gap first


def test_a_report_row_that_cannot_be_read_is_quarantined_with_its_bucket_and_field(lake, tmp_path):
    usage = json.loads((REPORTS / "openai-usage-completions.json").read_text())
    usage["data"][0]["results"][1]["input_tokens"] = "3.1M"
    costs = json.loads((REPORTS / "anthropic-costs.json").read_text())
    costs["data"][1]["results"][0]["amount"] = "n/a"
    (tmp_path / "usage.json").write_text(json.dumps(usage))
    (tmp_path / "costs.json").write_text(json.dumps(costs))
    summary = import_paths(lake, [tmp_path / "usage.json", tmp_path / "costs.json"])
    assert (summary.imported, summary.reported, summary.quarantined) == (2, 8, 2)
    assert sorted(summary.errors) == [
        "costs.json line 1: bucket 2026-03-03T00:00:00Z: amount='n/a' is not a number",
        "usage.json line 1: bucket 1772409600: input_tokens='3.1M' is not a whole number ≥ 0"]
