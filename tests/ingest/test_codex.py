"""Codex session logs: two real sessions (../shared/data/real/codex, MIT; see its licence) and
sessions written in Codex's format for the hard cases (a resumed session that repeats earlier
lines, a repeated `token_count`, a model switch, a session that never names its model, a line
cut off mid-write, a day boundary). Tokens and costs are checked against ccusage, an
independent reader of these logs, installed from npm, and against genai-prices' calc_price."""

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
from genai_prices import Usage, calc_price
from typer.testing import CliRunner

import analytics
from ingest import schema as s
from ingest.importers import detect
from spendlake.cli import app

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "codex" / "margin"
USAGE = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")
# ccusage prices from LiteLLM's list, Spendlake from genai-prices'; they agree on every model here
# but this one (per million tokens, input / cached input / output, below 272k input):
# LiteLLM in ccusage 20.0.24 $4 / $0.40 / $20, genai-prices 0.2.5 $5 / $0.50 / $30
LISTS_DIFFER = {"gpt-5.6-sol": (4e-6, 0.4e-6, 20e-6)}


def line(ts: str, kind: str, payload: dict) -> str:
    return json.dumps({"timestamp": ts, "type": kind, "payload": payload}, separators=(",", ":"))  # as Codex writes


def tokens(total: tuple[int, int, int, int] | None, last: tuple[int, int, int, int] | None = None) -> dict:
    info = {}
    for name, usage in (("total_token_usage", total), ("last_token_usage", last)):
        if usage:
            info[name] = dict(zip(USAGE, usage)) | {"total_tokens": usage[0] + usage[2]}
    return {"type": "token_count", "info": info}


def hard_cases(home: Path) -> None:
    """Sessions written as Codex writes them, under `home`/sessions/YYYY/MM/DD/."""
    day = home / "sessions" / "2026" / "08" / "20"
    day.mkdir(parents=True)
    meta = {"id": "s-resumed", "cwd": "/home/dev/shop", "cli_version": "0.146.0"}
    first = [line("2026-08-20T23:50:00.000Z", "session_meta", meta),
             line("2026-08-20T23:50:01.000Z", "turn_context", {"cwd": "/home/dev/shop", "model": "gpt-5-codex"}),
             line("2026-08-20T23:50:05.000Z", "event_msg", tokens((12_000, 8_000, 300, 120), (12_000, 8_000, 300, 120))),
             line("2026-08-20T23:51:00.000Z", "event_msg", tokens((30_000, 20_000, 900, 400), (18_000, 12_000, 600, 280))),
             # the same totals written again: nothing new
             line("2026-08-20T23:51:00.500Z", "event_msg", tokens((30_000, 20_000, 900, 400), (18_000, 12_000, 600, 280))),
             line("2026-08-20T23:52:00.000Z", "turn_context", {"model": "gpt-5-mini"}),
             line("2026-08-20T23:59:30.000Z", "event_msg", tokens((50_000, 36_000, 1_500, 400), (20_000, 16_000, 600, 0)))]
    (day / "rollout-2026-08-20T23-50-00-s-resumed.jsonl").write_text("\n".join(first) + "\n")
    # resumed the next day: the earlier lines again, then new turns past midnight (UTC)
    (home / "sessions" / "2026" / "08" / "21").mkdir(parents=True)
    resumed = [*first, line("2026-08-21T00:10:00.000Z", "event_msg",
                            tokens((90_000, 70_000, 2_100, 500), (40_000, 34_000, 600, 100)))]
    (home / "sessions" / "2026" / "08" / "21" / "rollout-2026-08-21T00-09-00-s-resumed.jsonl").write_text(
        "\n".join(resumed) + "\n")
    # no model named anywhere, totals only, and a line cut off mid-write
    bare = [line("2026-08-20T09:00:00.000Z", "session_meta", {"id": "s-bare", "cwd": "C:\\Users\\dev\\blog"}),
            line("2026-08-20T09:00:03.000Z", "event_msg", tokens((5_000, 0, 200, 50))),
            line("2026-08-20T09:01:03.000Z", "event_msg", tokens((11_000, 4_000, 350, 50)))[:70],
            line("2026-08-20T09:02:03.000Z", "event_msg", tokens((19_000, 9_000, 600, 80)))]
    (day / "rollout-2026-08-20T09-00-00-s-bare.jsonl").write_text("\n".join(bare) + "\n")


def theirs(ccusage: Path, home: Path, tmp: Path) -> tuple[dict, dict]:
    """ccusage's tokens per day and model, and its cost per day, of the sessions under `home`."""
    env = os.environ | {"HOME": str(tmp / "nohome"), "CODEX_HOME": str(home)}
    report = json.loads(subprocess.run([str(ccusage), "codex", "daily", "--json", "--offline", "-z", "UTC"], env=env,
                                       check=True, capture_output=True, text=True, timeout=120).stdout)
    counts = {(d["date"], m): (v["inputTokens"], v["cacheReadTokens"], v["outputTokens"], v["reasoningOutputTokens"])
              for d in report["daily"] for m, v in d["models"].items()}
    return counts, {d["date"]: d["costUSD"] for d in report["daily"]}


def ours(lake) -> tuple[dict, dict]:
    days = pl.col(s.TS).dt.date().cast(pl.String)
    per = (analytics.scan(lake).group_by(days.alias("day"), s.MODEL)
           .agg(*[pl.col(c).sum() for c in (s.INPUT_TOKENS, s.CACHE_READ_TOKENS, s.OUTPUT_TOKENS, s.REASONING_TOKENS)])
           .collect())
    cost = analytics.scan(lake).group_by(days.alias("day")).agg(pl.col(s.COST).sum()).collect()
    return {(r[0], r[1]): tuple(r[2:]) for r in per.iter_rows()}, dict(cost.iter_rows())


def imported(lake, *folders: Path) -> str:
    result = CliRunner().invoke(app, ["import", *map(str, folders), "--lake", str(lake.root)], catch_exceptions=False)
    return result.output


def test_real_sessions_give_ccusages_tokens_per_day_and_model_and_genai_prices_costs(lake, ccusage, tmp_path):
    home = tmp_path / "codex"
    shutil.copytree(REAL, home / "sessions" / "2026" / "08" / "20")
    assert "imported 59 events" in imported(lake, home)
    counts, _ = theirs(ccusage, home, tmp_path)
    mine, _ = ours(lake)
    assert mine == counts and len(mine) == 2
    for session in sorted(REAL.glob("*.jsonl")):  # one model each: its cost against ccusage's alone
        alone = tmp_path / session.stem
        (alone / "sessions").mkdir(parents=True)
        shutil.copy(session, alone / "sessions" / session.name)
        (_, day), = theirs(ccusage, alone, tmp_path)[1].items()
        events = analytics.scan(lake).filter(pl.col(s.JOB_ID) == _session_id(session)).collect()
        (model,) = set(events[s.MODEL])
        expected = sum(float(calc_price(Usage(input_tokens=r[s.INPUT_TOKENS] + r[s.CACHE_READ_TOKENS],
                                              cache_read_tokens=r[s.CACHE_READ_TOKENS], output_tokens=r[s.OUTPUT_TOKENS]),
                                        model, provider_id="openai", genai_request_timestamp=r[s.TS]).total_price)
                       for r in events.iter_rows(named=True))
        assert events[s.COST].sum() == pytest.approx(expected, rel=1e-12)
        if model in LISTS_DIFFER:  # ccusage's figure is the same tokens at LiteLLM's rates
            rates = LISTS_DIFFER[model]
            litellm = sum(events[c].sum() * r for c, r in zip((s.INPUT_TOKENS, s.CACHE_READ_TOKENS, s.OUTPUT_TOKENS), rates))
            assert day == pytest.approx(litellm, rel=1e-9)
        else:
            assert events[s.COST].sum() == pytest.approx(day, rel=1e-9)


def _session_id(path: Path) -> str:
    first = json.loads(path.read_text().splitlines()[0])
    return first["payload"]["id"]


def test_hard_cases_equal_ccusage_per_day_tokens_and_cost(lake, ccusage, tmp_path):
    home = tmp_path / "codex"
    hard_cases(home)
    output = imported(lake, home)
    assert "quarantined 1" in output  # the line cut off, named by file and line
    counts, costs = theirs(ccusage, home, tmp_path)
    mine, my_costs = ours(lake)
    assert mine == counts
    assert set(mine) == {("2026-08-20", "gpt-5-codex"), ("2026-08-20", "gpt-5-mini"), ("2026-08-20", "gpt-5"),
                         ("2026-08-21", "gpt-5-mini")}
    assert my_costs.keys() == costs.keys()
    for day, cost in costs.items():
        assert my_costs[day] == pytest.approx(cost, rel=1e-9), day
    events = analytics.scan(lake).collect()
    assert events.filter(pl.col(s.JOB_ID) == "s-resumed").height == 4  # the resumed file's repeats counted once
    bare = events.filter(pl.col(s.JOB_ID) == "s-bare")
    assert set(bare[s.PROJECT]) == {"blog"}  # a Windows working folder
    assert all(json.loads(t)["model_assumed"] for t in bare[s.TAGS])
    assert not any(json.loads(t)["model_assumed"] for t in events.filter(pl.col(s.JOB_ID) == "s-resumed")[s.TAGS])


def test_json_written_with_spaces_reads_the_same(lake, tmp_path):
    """ccusage finds nothing in a log re-written with spaces after the colons; Spendlake reads JSON as JSON."""
    spaced = tmp_path / "spaced"
    spaced.mkdir()
    for session in REAL.glob("*.jsonl"):
        lines = [json.dumps(json.loads(text)) for text in session.read_text().splitlines() if text.strip()]
        (spaced / session.name).write_text("\n".join(lines) + "\n")
    assert detect((spaced / "session-basic.jsonl").read_bytes()) == "codex"
    imported(lake, spaced)
    compact = lake.root.parent / "compact"
    from ingest.lake import Lake
    imported(Lake(compact), REAL)
    assert ours(lake) == ours(Lake(compact))


def test_a_session_still_being_written_is_read_again_and_counts_each_turn_once(lake, tmp_path):
    home = tmp_path / "codex"
    hard_cases(home)
    imported(lake, home)
    before = analytics.scan(lake).select(pl.len()).collect().item()
    session = next(home.rglob("rollout-2026-08-20T23-50-00-s-resumed.jsonl"))
    with open(session, "a") as f:  # the next turn, appended while Codex runs
        f.write(line("2026-08-20T23:59:50.000Z", "event_msg", tokens((60_000, 40_000, 1_700, 450),
                                                                        (10_000, 4_000, 200, 50))) + "\n")
    output = imported(lake, home)
    assert "unchanged" in output
    new = analytics.scan(lake).filter(pl.col(s.TS) == dt.datetime(2026, 8, 20, 23, 59, 50, tzinfo=dt.UTC)).collect()
    assert analytics.scan(lake).select(pl.len()).collect().item() == before + 1
    assert new.row(0, named=True)[s.MODEL] == "gpt-5-mini"  # from the turn_context read before the new line
    assert (new[s.INPUT_TOKENS][0], new[s.CACHE_READ_TOKENS][0]) == (6_000, 4_000)
