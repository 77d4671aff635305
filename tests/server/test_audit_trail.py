"""The audit trail: budget edits from the CLI and the API (the app's are in tests/app), keys, price
overrides, reprice and retention, each with its author, before and after; read with
`spendlake audit` and `GET /v1/audit` (admin keys of every project); nothing can rewrite it."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import subprocess
import sys

from ingest import audit
from ingest.demo import write_demo
from ingest.lake import Lake
from spendlake import keys
from tests.server.server import ROOT, client, running


def spendlake(*args: str, lake: Lake) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "spendlake.cli", *args, "--lake", str(lake.root)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_every_change_is_recorded_with_its_author_from_each_front_end(tmp_path):
    lake = Lake(tmp_path / "lake")
    write_demo(lake, dt.datetime.now(dt.UTC).date(), days=20)
    spendlake("budget", "add", "all", "--limit", "500", lake=lake)
    spendlake("budget", "add", "all", "--limit", "800", "--email", "lead@example.com", lake=lake)
    spendlake("override", "openai", "gpt-4o", "input_token", "2.00", "--per", "1000000", lake=lake)
    spendlake("reprice", lake=lake)
    spendlake("retention", "--older-than", "10d", "--yes", lake=lake)
    admin = keys.create(lake, "ops", "admin", who="os:test")
    reader = keys.create(lake, "dash", "read")
    narrow = keys.create(lake, "ads-admin", "admin", projects=["ads"])
    with running(lake.root, "--check-every", "0") as url, client(url, admin) as http:
        assert http.put("/v1/budgets/all", json={"limit_usd": 900}).status_code == 200
        assert http.delete("/v1/budgets/all").status_code == 200
        trail = http.get("/v1/audit").json()
        assert client(url, reader).get("/v1/audit").status_code == 403
        assert client(url, narrow).get("/v1/audit").status_code == 403
        assert http.delete("/v1/audit").status_code == 405 and http.put("/v1/audit", json={}).status_code == 405
    me = f"os:{getpass.getuser()}"
    assert [(e["action"], e["subject"], e["who"]) for e in reversed(trail)] == [
        ("budget_set", "all", me), ("budget_set", "all", me), ("price_override_added", "openai/gpt-4o input_token", me),
        ("reprice", "events", me), ("retention", trail[-5]["subject"], me), ("key_created", "ops", "os:test"),
        ("key_created", "dash", me), ("key_created", "ads-admin", me),
        ("budget_set", "all", "key:ops"), ("budget_deleted", "all", "key:ops")]
    first, second = (json.loads(e["after"])["limit_usd"] for e in reversed(trail[:][-2:]))
    assert (first, second) == (500, 800)
    edit = trail[1]
    assert json.loads(edit["before"])["limit_usd"] == 800 and json.loads(edit["after"])["limit_usd"] == 900
    assert json.loads(trail[-4]["before"])["cost_usd"] != json.loads(trail[-4]["after"])["cost_usd"]  # repriced
    assert json.loads(trail[-5]["before"])["partitions"] > 0
    assert not any("hash" in (e["after"] or "") or "salt" in (e["after"] or "") for e in trail)  # never a secret
    printed = json.loads(spendlake("audit", "--action", "budget_deleted", "--format", "json", lake=lake).stdout)
    assert [(e["action"], e["who"]) for e in printed] == [("budget_deleted", "key:ops")]
    assert len(audit.read(lake)) == len(trail)
