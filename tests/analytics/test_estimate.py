"""Estimates: priced as genai-prices prices them, calibrated from history, compared across models."""

import datetime as dt
import json

import polars as pl
import pytest
from genai_prices import Usage, calc_price
from typer.testing import CliRunner

import analytics
from analytics import Step, compare_models, estimate, video_pipeline
from ingest import schema as s
from ingest.errors import OptionError, ValidationError
from spendlake.cli import app

AT = dt.datetime(2026, 3, 31, 12, tzinfo=dt.UTC)


def test_a_plan_is_priced_call_by_call_times_its_count(book):
    plan = [Step("anthropic", "claude-sonnet-4-5", count=7, input_tokens=3000, output_tokens=800, cache_read_tokens=9000),
            Step("openai", "gpt-4o-mini", prompt="x" * 4000, output_tokens=100)]
    e = estimate(plan, book, at=AT)
    one = calc_price(Usage(input_tokens=12000, cache_read_tokens=9000, output_tokens=800), "claude-sonnet-4-5",
                     provider_id="anthropic", genai_request_timestamp=AT).total_price
    mini = calc_price(Usage(input_tokens=1000, output_tokens=100), "gpt-4o-mini", provider_id="openai",
                      genai_request_timestamp=AT).total_price
    assert e.expected_usd == pytest.approx(7 * float(one) + float(mini), rel=1e-12)
    assert e.low_usd < e.expected_usd < e.high_usd and set(e.steps["basis"]) == {"plan"}
    with pytest.raises(OptionError, match="must be ≥ 0"):
        Step("openai", "gpt-4o", input_tokens=-1)
    with pytest.raises(ValidationError, match="step 2: service='hologram' is not a known service"):
        estimate([plan[0], Step("openai", "gpt-4o", service="hologram")], book, at=AT)


def test_history_calibrates_each_step_at_its_own_percentiles(demo_lake, book):
    e = estimate(video_pipeline(stories=4), book, history=analytics.scan(demo_lake), at=AT)
    assert e.steps["basis"].str.starts_with("history").all()
    scripts = analytics.scan(demo_lake).filter(pl.col(s.OPERATION) == "script_generation").collect()
    p50_in = round(scripts[s.INPUT_TOKENS].quantile(0.5, interpolation="linear"))
    p50_out = round(scripts[s.OUTPUT_TOKENS].quantile(0.5, interpolation="linear"))
    expected = calc_price(Usage(input_tokens=p50_in, output_tokens=p50_out), "gpt-4o", provider_id="openai",
                          genai_request_timestamp=AT).total_price
    script = e.steps.filter(pl.col("operation") == "script_generation").row(0, named=True)
    assert script["expected_usd"] == pytest.approx(float(expected), rel=1e-12)
    assert script["low_usd"] < script["expected_usd"] < script["high_usd"]
    stories = e.steps.filter(pl.col("operation") == "story_generation").row(0, named=True)
    assert stories["count"] == 4


def test_models_compare_side_by_side_and_an_unknown_one_is_not_free(book):
    table = compare_models(video_pipeline(), book, [("openai", "gpt-4o"), ("google", "gemini-2.5-flash"),
                                                   ("acme", "no-such-model")], at=AT)
    assert table["model"].to_list()[:3] == ["as planned", "gemini-2.5-flash", "gpt-4o"]
    planned = table["expected_usd"][0]
    assert planned == estimate(video_pipeline(), book, at=AT).expected_usd and table["difference_usd"][0] == 0
    cheaper = table.row(1, named=True)
    assert cheaper["difference_usd"] == pytest.approx(cheaper["expected_usd"] - planned, rel=1e-12)
    assert cheaper["difference_pct"] == pytest.approx(cheaper["difference_usd"] / planned, rel=1e-12)
    assert cheaper["difference_pct"] < 0
    unknown = table.filter(pl.col("model") == "no-such-model").row(0, named=True)
    assert unknown["expected_usd"] is None and unknown["unpriced_steps"] == 2


def test_an_estimate_recorded_against_a_job_shows_in_its_report(demo_lake, tmp_path):
    runner = CliRunner()
    job = analytics.top_runs(analytics.runs(demo_lake), 1)[s.JOB_ID][0]
    result = runner.invoke(app, ["estimate", "--job", job, "--lake", str(demo_lake.root), "-f", "json"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    expected = json.loads(result.stdout)["expected_usd"]
    report = runner.invoke(app, ["report", "job", job, "--lake", str(demo_lake.root), "-f", "json"],
                           catch_exceptions=False)
    figures = json.loads(report.stdout)
    assert figures["estimate_usd"] == pytest.approx(expected)
    assert figures["estimate_error_pct"] == pytest.approx(figures["cost_usd"] / expected - 1)
