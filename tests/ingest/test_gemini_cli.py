"""Gemini CLI chat recordings, written in the format Gemini CLI's ChatRecordingService saves
(`~/.gemini/tmp/<project hash>/chats/session-*.json`, pretty-printed JSON): cached input,
thoughts, tool-use prompt tokens, a call past the 200k-token tier, two models over two days, user
messages, a response without tokens and one without a model. Tokens and costs are checked
against ccusage (`ccusage gemini daily`), an independent reader of these recordings."""

import json
import os
import subprocess
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import analytics
from ingest import schema as s
from ingest.importers import detect
from spendlake.cli import app

PROJECT = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def reply(n: int, ts: str, model: str | None, input_: int, output: int, cached: int = 0, thoughts: int = 0,
          tool: int = 0) -> dict:
    message = {"id": f"m{n}", "timestamp": ts, "type": "gemini", "content": "…",
               "tokens": {"input": input_, "output": output, "cached": cached, "thoughts": thoughts, "tool": tool,
                          "total": input_ + output + thoughts + tool}}
    return message | ({"model": model} if model else {})


def recordings(home: Path) -> Path:
    chats = home / "tmp" / PROJECT / "chats"
    chats.mkdir(parents=True)
    first = {"sessionId": "g-1", "projectHash": PROJECT, "startTime": "2026-08-20T22:00:00.000Z",
             "lastUpdated": "2026-08-21T00:20:00.000Z", "messages": [
                 {"id": "u1", "timestamp": "2026-08-20T22:00:00.000Z", "type": "user", "content": "refactor"},
                 reply(2, "2026-08-20T22:00:09.000Z", "gemini-2.5-pro", 48_000, 1_200, cached=30_000, thoughts=800),
                 reply(3, "2026-08-20T22:04:00.000Z", "gemini-2.5-pro", 61_000, 400, cached=47_000, tool=2_500),
                 reply(4, "2026-08-20T23:30:00.000Z", "gemini-2.5-pro", 240_000, 2_000, cached=0, thoughts=1_500),
                 {"id": "m5", "timestamp": "2026-08-20T23:31:00.000Z", "type": "gemini", "content": "error",
                  "model": "gemini-2.5-pro", "tokens": None},
                 reply(6, "2026-08-21T00:20:00.000Z", "gemini-2.5-flash", 9_000, 300, cached=6_000, thoughts=100)]}
    second = {"sessionId": "g-2", "projectHash": PROJECT, "startTime": "2026-08-20T08:00:00.000Z",
              "lastUpdated": "2026-08-20T08:10:00.000Z", "messages": [
                  reply(1, "2026-08-20T08:00:05.000Z", "gemini-2.5-flash", 3_000, 150),
                  reply(2, "2026-08-20T08:05:05.000Z", None, 3_500, 90)]}  # no model: quarantined, not dropped
    (chats / "session-2026-08-20T22-00-g-1.json").write_text(json.dumps(first, indent=2))
    (chats / "session-2026-08-20T08-00-g-2.json").write_text(json.dumps(second, indent=2))
    return chats


def theirs(ccusage: Path, home: Path, tmp: Path) -> tuple[dict, dict]:
    env = os.environ | {"HOME": str(tmp / "nohome"), "GEMINI_DATA_DIR": str(home)}
    report = json.loads(subprocess.run([str(ccusage), "gemini", "daily", "--json", "--offline", "-z", "UTC"], env=env,
                                       check=True, capture_output=True, text=True, timeout=120).stdout)
    return ({(d["date"], m["modelName"]): (m["inputTokens"], m["cacheReadTokens"], m["outputTokens"])
             for d in report["daily"] for m in d["modelBreakdowns"]},
            {(d["date"], m["modelName"]): m["cost"] for d in report["daily"] for m in d["modelBreakdowns"]})


def test_recordings_equal_ccusage_per_day_and_model(lake, ccusage, tmp_path):
    home = tmp_path / "gemini"
    chats = recordings(home)
    assert detect((chats / "session-2026-08-20T22-00-g-1.json").read_bytes()) == "gemini-cli"
    output = CliRunner().invoke(app, ["import", str(home), "--lake", str(lake.root)], catch_exceptions=False).output
    assert "imported 5 events" in output and "quarantined 1" in output
    counts, costs = theirs(ccusage, home, tmp_path)
    per = (analytics.scan(lake).group_by(pl.col(s.TS).dt.date().cast(pl.String), s.MODEL)
           .agg(pl.col(s.INPUT_TOKENS).sum(), pl.col(s.CACHE_READ_TOKENS).sum(),
                (pl.col(s.OUTPUT_TOKENS) - pl.col(s.REASONING_TOKENS)).sum(),  # ccusage shows output without thoughts
                pl.col(s.COST).sum()).collect())
    mine = {(r[0], r[1]): tuple(r[2:5]) for r in per.iter_rows()}
    assert mine == counts and len(mine) == 3
    for r in per.iter_rows():
        assert r[5] == pytest.approx(costs[(r[0], r[1])], rel=1e-9), r  # thoughts priced as output, tiers included
    assert set(analytics.scan(lake).select(s.PROJECT).collect()[s.PROJECT]) == {PROJECT[:12]}


def test_a_recording_rewritten_as_the_chat_goes_on_counts_each_reply_once(lake, tmp_path):
    home = tmp_path / "gemini"
    chats = recordings(home)
    CliRunner().invoke(app, ["import", str(home), "--lake", str(lake.root)], catch_exceptions=False)
    path = chats / "session-2026-08-20T22-00-g-1.json"
    recording = json.loads(path.read_text())
    recording["messages"].append(reply(7, "2026-08-21T00:30:00.000Z", "gemini-2.5-flash", 12_000, 200, cached=9_000))
    path.write_text(json.dumps(recording, indent=2))  # Gemini CLI rewrites the whole file
    output = CliRunner().invoke(app, ["import", str(home), "--lake", str(lake.root)], catch_exceptions=False).output
    assert "imported 1 events" in output
    assert analytics.scan(lake, job_id="g-1").select(pl.len()).collect().item() == 5
