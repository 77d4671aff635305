"""`spendlake report …`, `budget …` and `check` through Typer's runner, on a demo lake."""

import datetime as dt
import io
import json
import threading
from pathlib import Path
from http.server import BaseHTTPRequestHandler, HTTPServer

import polars as pl
import pytest
from typer.testing import CliRunner

import analytics
from ingest import schema as s
from ingest.demo import write_demo
from ingest.lake import Lake
from spendlake.cli import app, main
from spendlake.store import load_alerts

runner = CliRunner()
TODAY = dt.date(2026, 3, 20)


def invoke(*args: object, code: int = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli") / "lake"
    write_demo(Lake(root), TODAY, days=60)
    return root


def test_the_monthly_report_in_three_formats_agrees_with_analytics(root):
    expected = analytics.monthly_report(analytics.scan(root), TODAY)
    as_json = json.loads(invoke("report", "monthly", "--month", TODAY, "--lake", root, "-f", "json"))
    assert as_json["cost_usd"] == pytest.approx(expected.cost_usd) and len(as_json["by_project"]) == 6
    table = pl.read_csv(io.StringIO(invoke("report", "monthly", "--month", TODAY, "--lake", root, "-f", "csv")))
    assert table.filter(pl.col("table") == "by_provider")[s.COST].sum() == pytest.approx(expected.cost_usd)
    assert "by project" in invoke("report", "monthly", "--month", TODAY, "--lake", root)


def test_job_breakdown_forecast_and_token_reports(root):
    top = json.loads(invoke("report", "jobs", "--lake", root, "--top", "3", "-f", "json"))
    assert len(top) == 3 and top[0]["cost_usd"] >= top[1]["cost_usd"]
    job = json.loads(invoke("report", "job", top[0]["job_id"], "--lake", root, "-f", "json"))
    assert job["cost_usd"] == pytest.approx(top[0]["cost_usd"]) and len(job["by_stage"]) == 5
    by = json.loads(invoke("report", "breakdown", "--by", "provider", "--period", "month", "--lake", root, "-f", "json"))
    assert {r["provider"] for r in by} >= {"openai", "anthropic", "google", "elevenlabs", "modal"}
    f = json.loads(invoke("report", "forecast", "--today", TODAY, "--budget", "500", "--lake", root, "-f", "json"))
    assert f["spent_usd"] <= f["expected_total_usd"] and f["model"] in ("blend", "run_rate")
    tokens = json.loads(invoke("report", "tokens", "--lake", root, "-f", "json"))
    assert 0 < tokens["cache_hit_rate"] < 1 and tokens["cache_savings_usd"] > 0
    missing = runner.invoke(app, ["report", "job", "nope", "--lake", str(root)])
    assert missing.exit_code != 0


class Hook(BaseHTTPRequestHandler):
    bodies: list = []
    failures = 1

    def do_POST(self):  # noqa: N802 - the http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if Hook.failures:
            Hook.failures -= 1
            self.send_response(503)
        else:
            Hook.bodies.append(body)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_check_records_alerts_once_exits_by_state_and_posts_to_a_webhook(tmp_path, monkeypatch):
    root = tmp_path / "lake"
    write_demo(Lake(root), TODAY, days=30)
    month = analytics.scan(root, start=TODAY.replace(day=1), end=TODAY).select(pl.col(s.COST).sum()).collect().item()
    invoke("budget", "add", "all", "--limit", month * 10, "--lake", root)
    assert "0 new alert(s)" in invoke("check", "--today", TODAY, "--lake", root, code=0)

    invoke("budget", "add", "all", "--limit", month / 0.85, "--lake", root)  # replaces it: now 85 % used
    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    monkeypatch.setattr("spendlake.webhook.BACKOFF_SECONDS", 0.01)
    output = invoke("check", "--today", TODAY, "--lake", root, "--webhook", url, code=1)
    assert "budget_warning" in output and "crossing 80%" in output
    (body,) = Hook.bodies  # the first POST got 503 and was retried
    assert body["text"].startswith("Spendlake: 2 new alert(s)")  # 85 % now, and the month's forecast passes the limit
    assert [(a["kind"], a["threshold"]) for a in body["alerts"]] == [("budget_warning", 0.8), ("forecast_exceeded", None)]
    # which alerts fire, and once, is the use case's (tests/spendlake); here: its exit code reaches the shell
    invoke("budget", "add", "tight", "--limit", month / 2, "--scope", "overall", "--enforcement", "hard_stop",
           "--lake", root)
    assert "budget_exceeded" in invoke("check", "--today", TODAY, "--lake", root, code=2)
    server.shutdown()


def test_bad_budgets_and_dead_webhooks_are_one_clear_message(tmp_path, monkeypatch, capsys):
    root = tmp_path / "lake"
    monkeypatch.setattr("sys.argv", ["spendlake", "budget", "add", "x", "--limit", "-5", "--thresholds", "0.9,0.5",
                                     "--lake", str(root)])
    with pytest.raises(SystemExit) as exit:
        main()
    assert exit.value.code == 1
    message = capsys.readouterr().err
    assert "limit_usd=-5.0 must be a positive amount" in message and "thresholds" in message
    assert "Traceback" not in message

    write_demo(Lake(root), TODAY, days=3)
    invoke("budget", "add", "all", "--limit", "1", "--lake", root)
    monkeypatch.setattr("spendlake.webhook.BACKOFF_SECONDS", 0.0)
    monkeypatch.setattr("sys.argv", ["spendlake", "check", "--lake", str(root), "--today", str(TODAY),
                                     "--webhook", "http://127.0.0.1:9/nothing-listens"])
    with pytest.raises(SystemExit) as exit:
        main()
    assert exit.value.code == 1 and "failed after 4 attempt(s)" in capsys.readouterr().err
    assert load_alerts(Lake(root))  # recorded even though the webhook was down


@pytest.mark.parametrize("args, message", [
    (["report", "forecast", "--period", "year"], "unknown period 'year'"),
    (["report", "breakdown", "--by", "galaxy"], "cannot group by 'galaxy'"),
    (["report", "breakdown", "--by", "job_id", "--by", "planet"], "cannot group by 'planet'"),
    (["report", "anomalies", "--grain", "minute"], "grain must be day or hour"),
])
def test_wrong_report_options_are_one_clear_message(root, monkeypatch, capsys, args, message):
    monkeypatch.setattr("sys.argv", ["spendlake", *args, "--lake", str(root)])
    with pytest.raises(SystemExit) as exit:
        main()
    assert exit.value.code != 0
    said = capsys.readouterr().err
    assert said.startswith("error: ") and message in said and "Traceback" not in said


def test_tables_fit_80_columns_with_the_answer_first(root):
    import os
    import subprocess
    import sys
    env = os.environ | {"COLUMNS": "80", "LINES": "50"}

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "spendlake.cli", *args, "--lake", str(root)], capture_output=True,
                              text=True, env=env, cwd=Path(__file__).resolve().parents[2], timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    shown = run("report", "breakdown", "--by", "provider", "--by", "model")
    assert max(len(line) for line in shown.splitlines()) <= 80 and "…" not in shown
    assert "Provider" in shown and "Cost" in shown and "$" in shown and "%" in shown
    assert "also: " in shown  # what did not fit is named, not cut
    forecast = run("report", "forecast", "--budget", "100").splitlines()
    assert forecast[0].startswith("Expected month total: $") and "80 % band" in " ".join(forecast[:3])
