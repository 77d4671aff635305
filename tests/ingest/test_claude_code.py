"""Claude Code session logs: real transcripts (tests/fixtures/claude-code, MIT; see their licence
files) and one session written in the same format to cover streamed replies, 1-hour cache
writes, sub-agents, `<synthetic>` replies, a repeated line and a line cut off mid-write.
Costs are checked against ccusage, an independent reader of these logs, installed from npm."""

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import polars as pl
import pytest
from genai_prices import Usage, calc_price
from typer.testing import CliRunner

import analytics
from ingest import schema as s
from ingest.importers import claude_code, detect, import_paths
from spendlake.cli import app
from tests.conftest import FIXTURES

LOGS = FIXTURES / "claude-code"
SHOP = LOGS / "projects" / "-home-dev-shop" / "5d0c1f3e-1111-4a2b-9c3d-000000000001.jsonl"
@pytest.fixture
def imported(lake):
    result = CliRunner().invoke(app, ["import", str(LOGS), "--lake", str(lake.root)], catch_exceptions=False)
    assert result.exit_code == 1, result.output  # the line cut off mid-write went to quarantine
    return lake, result.output


def test_daily_costs_per_model_equal_ccusage_on_the_same_logs(imported, ccusage, tmp_path):
    lake, _ = imported
    env = os.environ | {"HOME": str(tmp_path), "CLAUDE_CONFIG_DIR": str(LOGS)}
    report = json.loads(subprocess.run([str(ccusage), "daily", "--json", "--offline", "-z", "UTC"], env=env,
                                       check=True, capture_output=True, text=True, timeout=120).stdout)
    theirs = {(day["period"], m["modelName"]): (m["cost"], m["inputTokens"], m["outputTokens"],
                                                  m["cacheCreationTokens"], m["cacheReadTokens"])
              for day in report["daily"] for m in day["modelBreakdowns"]}
    ours = (analytics.scan(lake).group_by(pl.col(s.TS).dt.date().cast(pl.String), s.MODEL)
            .agg(pl.col(s.COST).sum(), *[pl.col(c).sum() for c in (s.INPUT_TOKENS, s.OUTPUT_TOKENS,
                                                                     s.CACHE_WRITE_TOKENS, s.CACHE_READ_TOKENS)])
            .collect())
    ours = {(r[0], r[1]): r[2:] for r in ours.iter_rows()}
    assert ours.keys() == theirs.keys() and len(ours) == 5
    for key, (cost, *tokens) in theirs.items():
        assert ours[key][0] == pytest.approx(cost, rel=1e-9, abs=1e-12), key
        assert list(ours[key][1:]) == tokens, key


def test_a_streamed_reply_counts_once_with_its_final_usage(imported):
    lake, output = imported
    shop = analytics.scan(lake, project="shop").sort(s.TS).collect()
    assert shop[s.EVENT_ID].to_list() == ["claude-code:msg_01shopA:req_01shopA", "claude-code:msg_01shopB:req_01shopB",
                                          "claude-code:msg_01shopD:req_01shopD"]  # no <synthetic>, D once
    first = shop.row(0, named=True)
    assert (first[s.OUTPUT_TOKENS], first[s.REASONING_TOKENS], first[s.CACHE_WRITE_TOKENS],
            first[s.CACHE_WRITE_1H_TOKENS]) == (812, 240, 18_000, 12_000)
    assert first[s.JOB_ID] == "5d0c1f3e-1111-4a2b-9c3d-000000000001" and first[s.STAGE] == "main"
    assert first[s.TS] == dt.datetime(2026, 3, 2, 23, 58, 9, 877_000, tzinfo=dt.UTC)
    assert shop.row(1, named=True)[s.STAGE] == "subagent"
    assert "quarantined 1" in output  # the line cut off mid-write, named by its line number
    quarantined = [json.loads(line) for f in lake.quarantine_dir.glob("*.jsonl") for line in f.read_text().splitlines()]
    assert [q["record"] for q in quarantined] == [10] and "line 10" in quarantined[0]["error"]


def test_reimporting_the_logs_counts_nothing_twice(imported):
    lake, _ = imported
    before = analytics.totals(analytics.scan(lake))
    again = import_paths(lake, [LOGS])  # unchanged since: skipped without being parsed
    assert (again.imported, again.duplicates, again.unchanged) == (0, 0, len(list(LOGS.rglob("*.jsonl"))))
    reread = import_paths(lake, [LOGS], remember=False)  # read again: every reply is already there
    assert (reread.imported, reread.duplicates) == (0, before.events)
    assert analytics.totals(analytics.scan(lake)).cost_usd == before.cost_usd


def test_one_hour_cache_writes_are_priced_at_their_own_rate(imported):
    lake, _ = imported
    event = analytics.scan(lake).filter(pl.col(s.EVENT_ID) == "claude-code:msg_01shopA:req_01shopA").collect().row(0, named=True)
    usage = dict(input_tokens=3 + 18_000, cache_write_tokens=18_000, output_tokens=812)
    at_1h = calc_price(Usage(**usage, cache_write_1h_tokens=12_000), "claude-sonnet-4-5", provider_id="anthropic")
    at_5m = calc_price(Usage(**usage), "claude-sonnet-4-5", provider_id="anthropic")
    assert event[s.COST] == pytest.approx(float(at_1h.total_price), rel=1e-12)
    assert event[s.COST] > float(at_5m.total_price) * 1.2


def test_a_long_context_reply_moves_every_token_to_the_higher_rate(book):
    """Above 200k input tokens Sonnet 4.5 bills all tokens at its long-context rates (genai-prices
    and Anthropic's price list). ccusage 20.0.24 raises only the tokens past 200k of each kind,
    so it prices this reply at $0.1275; it is kept out of the ccusage comparison for that reason."""
    line = ('{"type":"assistant","timestamp":"2026-03-03T00:05:40.500Z","sessionId":"s","requestId":"r",'
            '"message":{"id":"m","model":"claude-sonnet-4-5-20250929","usage":{"input_tokens":5000,'
            '"cache_creation_input_tokens":4000,"cache_read_input_tokens":210000,"output_tokens":2100}}}').encode()
    priced = book.price(s.validate(claude_code.parse(line).raw).events)
    expected = calc_price(Usage(input_tokens=219_000, cache_write_tokens=4000, cache_read_tokens=210_000,
                                output_tokens=2100), "claude-sonnet-4-5", provider_id="anthropic")
    assert priced[s.COST][0] == pytest.approx(float(expected.total_price), rel=1e-12) == pytest.approx(0.23325)


@pytest.mark.parametrize("first", [
    '{"type":"summary","summary":"Add checkout tests","leafUuid":"u-0"}',
    '{"type":"queue-operation","operation":"enqueue","timestamp":"2026-08-20T10:21:52.260Z","sessionId":"9c4"}',
    '{"type":"file-history-snapshot","messageId":"a1","snapshot":{},"isSnapshotUpdate":false}',
])
def test_session_files_are_recognised_by_their_first_line(first):
    assert detect(first.encode() + b"\n") == "claude-code"


def test_older_logs_that_priced_their_replies_keep_that_cost_as_reported(book):
    """Claude Code 1.0 wrote `costUSD` on each reply: it is the reported cost, the price book's beside it."""
    line = ('{"type":"assistant","timestamp":"2025-06-01T10:00:00Z","sessionId":"s","requestId":"r","costUSD":0.0123,'
            '"cwd":"/work/app","message":{"id":"m","model":"claude-sonnet-4-20250514","usage":{"input_tokens":1000,'
            '"output_tokens":500}}}').encode()
    priced = book.price(s.validate(claude_code.parse(line).raw).events).row(0, named=True)
    expected = calc_price(Usage(input_tokens=1000, output_tokens=500), "claude-sonnet-4-20250514", provider_id="anthropic")
    assert (priced[s.COST], priced[s.COST_SOURCE]) == (0.0123, "reported")
    assert priced[s.COMPUTED_COST] == pytest.approx(float(expected.total_price), rel=1e-12)
