"""A key that belongs to a workspace reaches that workspace's projects as they are now: it reads and
writes only them, follows the workspace when its projects change, and reaches nothing once the
workspace is removed."""

from __future__ import annotations

import datetime as dt

from ingest.demo import write_demo
from ingest.lake import Lake
from spendlake import keys, workspaces
from tests.server.server import client, running


def test_a_workspace_key_reaches_the_workspaces_projects(tmp_path):
    lake = Lake(tmp_path / "lake")
    write_demo(lake, dt.datetime.now(dt.UTC).date(), days=10)
    workspaces.set_workspace(lake, workspaces.Workspace("video", ("shorts-factory",), ("ada@example.com",)))
    token = keys.create(lake, "video-admin", "admin", workspace="video")
    with running(lake.root, "--check-every", "0") as url, client(url, token) as http:
        def projects() -> set[str]:
            answer = http.get("/v1/costs", params={"by": "project"})
            assert answer.status_code == 200, answer.text
            return {row["project"] for row in answer.json()}

        assert projects() == {"shorts-factory"}
        assert http.get("/v1/costs", params={"by": "project", "project": "support-bot"}).status_code == 403
        refused = http.put("/v1/budgets/bots", json={"limit_usd": 5, "scope": "project", "value": "support-bot"})
        assert refused.status_code == 403
        assert http.put("/v1/budgets/shorts", json={"limit_usd": 5, "scope": "project",
                                                    "value": "shorts-factory"}).status_code == 200
        workspaces.set_workspace(lake, workspaces.Workspace("video", ("shorts-factory", "marketing-videos")))
        assert projects() == {"shorts-factory", "marketing-videos"}  # the workspace as it is now
        assert http.get("/v1/audit").status_code == 403  # every project's trail: not this key's
        workspaces.remove_workspace(lake, "video")
        assert http.get("/v1/costs").status_code == 401
