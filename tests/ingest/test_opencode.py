"""OpenCode messages, written in the format OpenCode's storage saves
(`storage/message/<session>/<message>.json`, pretty-printed): cache reads and writes, reasoning,
a cost the provider reported, a model named through a gateway, user messages and a reply with no
tokens, two sessions over two days. Tokens and costs are checked against ccusage (`ccusage
opencode daily`), an independent reader of OpenCode's storage."""

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import analytics
from ingest import schema as s
from ingest.importers import detect
from ingest.lake import Lake
from spendlake.cli import app

DAY = 1_787_184_000_000  # 2026-08-20T00:00:00Z in milliseconds


def message(store: Path, session: str, n: int, minutes: float, model: str, provider: str, tokens: dict | None,
            role: str = "assistant", cost: float | None = None) -> None:
    body = {"id": f"msg_{session}_{n:03d}", "sessionID": session, "role": role,
            "time": {"created": DAY + int(minutes * 60_000), "completed": DAY + int(minutes * 60_000) + 4_000},
            "modelID": model, "providerID": provider, "mode": "build",
            "path": {"cwd": f"/home/dev/{session[-4:]}", "root": f"/home/dev/{session[-4:]}"}, "system": []}
    if tokens is not None:
        body["tokens"] = {"input": tokens.get("input", 0), "output": tokens.get("output", 0),
                          "reasoning": tokens.get("reasoning", 0),
                          "cache": {"read": tokens.get("read", 0), "write": tokens.get("write", 0)}}
    if cost is not None:
        body["cost"] = cost
    folder = store / "storage" / "message" / session
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{body['id']}.json").write_text(json.dumps(body, indent=2))


def storage(home: Path) -> None:
    message(home, "ses_shop", 1, 600, "claude-sonnet-4-5", "anthropic", None, role="user")
    message(home, "ses_shop", 2, 601, "claude-sonnet-4-5", "anthropic", {"input": 12, "output": 900, "read": 18_000,
                                                                          "write": 6_000})
    message(home, "ses_shop", 3, 605, "claude-sonnet-4-5", "anthropic", {"input": 4, "output": 300, "reasoning": 700,
                                                                          "read": 24_000, "write": 1_000})
    message(home, "ses_shop", 4, 606, "claude-sonnet-4-5", "anthropic", {"input": 3, "output": 120, "read": 25_000},
            cost=0.0123)  # the provider's own figure
    message(home, "ses_shop", 5, 607, "claude-sonnet-4-5", "anthropic", {})  # an aborted reply: no tokens used
    message(home, "ses_blog", 1, 1430, "gpt-5", "openai", {"input": 5_000, "output": 400, "reasoning": 250,
                                                            "read": 2_000})
    message(home, "ses_blog", 2, 1445, "anthropic/claude-haiku-4-5", "openrouter", {"input": 2_000, "output": 150})
    message(home, "ses_blog", 3, 1450, "gpt-5", "openai", {"input": 800, "output": 90, "read": 6_000})


def database(home: Path) -> None:
    """The same messages in OpenCode's database (newer versions): `session` and `message` tables,
    each message's JSON in `data` (its id and session in their own columns)."""
    files = sorted((home / "storage" / "message").rglob("*.json"))
    home.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(home / "opencode.db")
    db.execute("CREATE TABLE session (id TEXT PRIMARY KEY, directory TEXT, time_created INTEGER)")
    db.execute("CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT, time_created INTEGER, data TEXT)")
    for path in files:
        body = json.loads(path.read_text())
        folder = body.pop("path")["cwd"]
        db.execute("INSERT OR IGNORE INTO session VALUES (?, ?, ?)", (body["sessionID"], folder, body["time"]["created"]))
        db.execute("INSERT INTO message VALUES (?, ?, ?, ?)", (body.pop("id"), body.pop("sessionID"),
                                                              body["time"]["created"], json.dumps(body)))
    db.commit()
    db.close()


def test_storage_equals_ccusage_per_day_and_model(lake, ccusage, tmp_path):
    home = tmp_path / "opencode"
    storage(home)
    output = CliRunner().invoke(app, ["import", str(home), "--lake", str(lake.root)], catch_exceptions=False).output
    assert "imported 6 events" in output and "quarantined 0" in output
    env = os.environ | {"HOME": str(tmp_path / "nohome"), "OPENCODE_DATA_DIR": str(home)}
    report = json.loads(subprocess.run([str(ccusage), "opencode", "daily", "--json", "--offline", "-z", "UTC"], env=env,
                                       check=True, capture_output=True, text=True, timeout=120).stdout)
    theirs = {(d["date"], m["modelName"].split("/")[-1]): (m["inputTokens"], m["cacheReadTokens"],
                                                            m["cacheCreationTokens"], m["outputTokens"], m["cost"])
              for d in report["daily"] for m in d["modelBreakdowns"]}
    per = (analytics.scan(lake).group_by(pl.col(s.TS).dt.date().cast(pl.String), s.MODEL)
           .agg(pl.col(s.INPUT_TOKENS).sum(), pl.col(s.CACHE_READ_TOKENS).sum(), pl.col(s.CACHE_WRITE_TOKENS).sum(),
                (pl.col(s.OUTPUT_TOKENS) - pl.col(s.REASONING_TOKENS)).sum(),  # ccusage shows output without reasoning
                pl.col(s.COST).sum()).collect())
    ours = {(r[0], r[1]): r[2:] for r in per.iter_rows()}
    assert ours.keys() == theirs.keys(), (ours, theirs)
    assert len(ours) == 4
    for key, (*tokens, cost) in theirs.items():
        assert list(ours[key][:4]) == tokens, key
        assert ours[key][4] == pytest.approx(cost, rel=1e-9), key
    routed = analytics.scan(lake, model="claude-haiku-4-5").collect().row(0, named=True)
    assert (routed[s.PROVIDER], json.loads(routed[s.TAGS])["via"], routed[s.PROJECT]) == ("anthropic", "openrouter", "blog")
    reported = analytics.scan(lake).filter(pl.col(s.EVENT_ID) == "opencode:msg_ses_shop_004").collect()
    assert (reported[s.COST][0], reported[s.COST_SOURCE][0]) == (0.0123, "reported")


def test_the_database_of_newer_versions_reads_as_the_message_files(lake, ccusage, tmp_path):
    files, only_db = tmp_path / "files", tmp_path / "db"
    storage(files)
    storage(only_db)
    database(only_db)
    shutil.rmtree(only_db / "storage")  # the database alone
    assert detect((only_db / "opencode.db").read_bytes()[:1 << 20]) == "opencode-db"
    output = CliRunner().invoke(app, ["import", str(only_db), "--lake", str(lake.root)], catch_exceptions=False).output
    assert "imported 6 events" in output
    other = Lake(tmp_path / "other")
    CliRunner().invoke(app, ["import", str(files), "--lake", str(other.root)], catch_exceptions=False)
    key = [s.EVENT_ID, s.TS, s.MODEL, s.INPUT_TOKENS, s.CACHE_READ_TOKENS, s.OUTPUT_TOKENS, s.COST, s.PROJECT]
    assert analytics.scan(lake).select(key).sort(s.EVENT_ID).collect().equals(
        analytics.scan(other).select(key).sort(s.EVENT_ID).collect())
    env = os.environ | {"HOME": str(tmp_path / "nohome"), "OPENCODE_DATA_DIR": str(only_db)}
    report = json.loads(subprocess.run([str(ccusage), "opencode", "daily", "--json", "--offline", "-z", "UTC"], env=env,
                                       check=True, capture_output=True, text=True, timeout=120).stdout)
    theirs = sum(m["cost"] for d in report["daily"] for m in d["modelBreakdowns"])
    assert analytics.scan(lake).select(pl.col(s.COST).sum()).collect().item() == pytest.approx(theirs, rel=1e-9)


def test_a_database_that_is_not_opencodes_or_is_damaged_is_named_and_the_files_beside_it_read(lake, tmp_path):
    folder = tmp_path / "data"
    storage(folder)
    other = sqlite3.connect(folder / "other.db")
    other.execute("CREATE TABLE notes (id TEXT)")
    other.commit()
    other.close()
    (folder / "damaged.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    from ingest.importers import import_paths
    summary = import_paths(lake, [folder])
    assert summary.imported == 6  # the message files beside them
    failed = sorted(summary.failed)
    assert len(failed) == 2
    assert "damaged.db" in failed[0] and "not a readable SQLite database" in failed[0]
    assert "other.db" in failed[1] and "not OpenCode's (it has no message table)" in failed[1]
