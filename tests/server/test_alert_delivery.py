"""Alerts that reach people: two servers checking on a schedule and a cron `spendlake check`, all
at once on one lake, send each alert once to the webhook and once by e-mail (a real SMTP server,
aiosmtpd, on a loopback port); alerts have a state, and a person can acknowledge one."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx2
import polars as pl
import pytest
from aiosmtpd.controller import Controller

import analytics
from analytics.budgets import Budget
from ingest import audit, schema as s
from ingest.demo import write_demo
from ingest.lake import Lake
from spendlake import keys, usecases
from spendlake.store import load_alerts
from tests.server.server import ROOT, client, free_port, running


class Hook(BaseHTTPRequestHandler):
    alerts: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        Hook.alerts += json.loads(self.rfile.read(int(self.headers["Content-Length"])))["alerts"]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], object]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's API
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def channels(monkeypatch):
    hook = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    for name, value in {"SPENDLAKE_SMTP_HOST": "127.0.0.1", "SPENDLAKE_SMTP_PORT": str(smtp.port),
                        "SPENDLAKE_SMTP_SECURITY": "none", "SPENDLAKE_SMTP_FROM": "alerts@spendlake.test",
                        "SPENDLAKE_ALERT_EMAILS": "team@example.com"}.items():
        monkeypatch.setenv(name, value)
    Hook.alerts = []
    yield f"http://127.0.0.1:{hook.server_port}/hook", inbox
    smtp.stop()
    hook.shutdown()


def test_schedulers_and_a_cron_check_at_once_send_each_alert_once(tmp_path, channels):
    url, inbox = channels
    lake = Lake(tmp_path / "lake")
    today = dt.datetime.now(dt.UTC).date()
    write_demo(lake, today, days=40)
    month = analytics.scan(lake, start=today.replace(day=1), end=today).select(pl.col(s.COST).sum()).collect().item()
    usecases.save_budget(lake, Budget("tight", limit_usd=month / 2, enforcement="hard_stop",
                                      alert_emails=("lead@example.com", "cfo@example.com")))
    usecases.save_budget(lake, Budget("roomy", limit_usd=month / 0.85))  # 85 %: the 80 % warning
    with running(lake.root, "--check-every", "1s", "--webhook", url), \
            running(lake.root, "--check-every", "1s", "--webhook", url):
        cron = subprocess.run([sys.executable, "-m", "spendlake.cli", "check", "--lake", str(lake.root), "--webhook", url],
                              cwd=ROOT, capture_output=True, text=True, env=os.environ, timeout=120)
        assert cron.returncode in (1, 2), cron.stderr
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(Hook.alerts) < len(load_alerts(lake)):
            time.sleep(0.2)
        time.sleep(3)  # three more checks by each server: nothing more may be sent
    recorded = load_alerts(lake)
    kinds = {a.kind for a in recorded}
    assert {"budget_exceeded", "budget_warning"} <= kinds
    assert sorted(json.dumps(a, sort_keys=True) for a in Hook.alerts) == sorted(
        json.dumps(a.to_dict(), sort_keys=True) for a in recorded)  # each once
    mails = [(sorted(to), m["Subject"], m.get_payload()) for to, m in inbox.messages]
    assert len(mails) == len(recorded)  # one message per alert
    (tight,) = [m for m in mails if "tight" in m[1]]
    assert tight[0] == ["cfo@example.com", "lead@example.com"] and tight[1] == "Spendlake budget exceeded: tight"
    exceeded = next(a for a in recorded if a.subject == "tight")
    assert f"Spent: ${exceeded.spent_usd:,.2f}" in tight[2] and f"Limit: ${month / 2:,.2f}" in tight[2]
    assert all(m[0] == ["team@example.com"] for m in mails if "tight" not in m[1])


def test_alerts_have_a_state_and_can_be_acknowledged_from_the_cli_and_the_api(tmp_path):
    lake = Lake(tmp_path / "lake")
    today = dt.datetime.now(dt.UTC).date()
    write_demo(lake, today, days=40)
    month = analytics.scan(lake, start=today.replace(day=1), end=today).select(pl.col(s.COST).sum()).collect().item()
    usecases.save_budget(lake, Budget("tight", limit_usd=month / 2))
    usecases.save_budget(lake, Budget("roomy", limit_usd=month / 0.85))
    usecases.check(lake, anomalies=False)
    board = usecases.alert_board(lake)
    assert set(board["state"]) == {"active"} and board.height >= 2
    usecases.save_budget(lake, Budget("roomy", limit_usd=month * 10))  # limit raised above the spend: resolved
    board = usecases.alert_board(lake)
    roomy = board.filter(pl.col("subject") == "roomy")
    assert set(roomy["state"]) == {"resolved"}
    assert board["state"].to_list()[0] == "active"  # active first
    cli = subprocess.run([sys.executable, "-m", "spendlake.cli", "alerts", "--active", "--format", "json", "--lake",
                          str(lake.root)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    listed = json.loads(cli.stdout)
    assert {a["subject"] for a in listed} == {"tight"} and all(a["state"] == "active" for a in listed)
    first = listed[0]["id"]
    done = subprocess.run([sys.executable, "-m", "spendlake.cli", "alerts", "ack", first, "--lake", str(lake.root)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "acknowledged" in done.stdout, done.stderr
    token = keys.create(lake, "ops", "admin")
    with running(lake.root, "--check-every", "0") as url, client(url, token) as http:
        answer = http.get("/v1/alerts", params={"active": "true"}).json()
        assert {(a["id"], a["state"]) for a in answer} == {(a["id"], "acknowledged" if a["id"] == first else "active")
                                                          for a in listed}
        rest = [a["id"] for a in answer if a["id"] != first]
        if rest:
            assert http.post(f"/v1/alerts/{rest[0]}/acknowledge").status_code == 200
        assert http.post("/v1/alerts/nope/acknowledge").status_code == 422
    acks = [e for e in audit.read(lake) if e["action"] == "alert_acknowledged"]
    assert acks[0]["subject"] == first and acks[0]["who"].startswith("os:")
    assert all(e["who"] == "key:ops" for e in acks[1:]) and len(acks) == 1 + bool(rest)


def test_a_target_that_failed_gets_the_alert_at_a_later_check_and_is_not_tried_for_ever(tmp_path, monkeypatch):
    """A webhook down (HTTP 503) and an SMTP server not listening: nothing is marked sent; once the
    webhook is back, the next check sends what it missed, once; a target still down is given up
    after `ATTEMPTS` checks."""
    from spendlake import notify
    monkeypatch.setattr("spendlake.webhook.BACKOFF_SECONDS", 0.0)
    lake = Lake(tmp_path / "lake")
    today = dt.datetime.now(dt.UTC).date()
    write_demo(lake, today, days=10)
    usecases.save_budget(lake, Budget("tight", limit_usd=0.01))
    usecases.check(lake, anomalies=False)
    fired = load_alerts(lake)
    down = {"on": True}

    class Flaky(Hook):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            if down["on"]:
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(503)
                self.end_headers()
                return
            super().do_POST()

    hook = HTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{hook.server_port}/hook"
    mail = notify.Email("127.0.0.1", free_port(), "none", default_to=("team@example.com",))  # nothing listens
    Hook.alerts = []
    try:
        first = notify.deliver(lake, webhook=url, email=mail)
        assert not first.sent and len(first.failed) == 1 + len(fired)  # one POST, one message per alert
        down["on"] = False
        second = notify.deliver(lake, webhook=url, email=mail)
        assert [a["kind"] for a in Hook.alerts] == [a.kind for a in fired]  # what it missed, now
        assert notify.deliver(lake, webhook=url).sent == {}  # and once
        for _ in range(notify.ATTEMPTS):
            notify.deliver(lake, email=mail)
        assert notify.deliver(lake, email=mail).failed == []  # given up: not tried for ever
        assert len(second.failed) == len(fired)  # (the mail server was still away)
    finally:
        hook.shutdown()
