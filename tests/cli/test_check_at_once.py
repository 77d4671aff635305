"""Several `spendlake check` processes at once (cron on two hosts, a retry racing the first run):
each alert is recorded once and posted to the webhook once."""

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from typer.testing import CliRunner

from ingest.demo import write_demo
from ingest.lake import Lake
from spendlake.cli import app
from spendlake.store import load_alerts

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 3, 20)


class Hook(BaseHTTPRequestHandler):
    alerts: list[dict] = []
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with Hook.lock:
            Hook.alerts += body["alerts"]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_checks_running_at_once_record_and_send_each_alert_once(tmp_path):
    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    spendlake = Path(sys.executable).with_name("spendlake")
    try:
        for trial in range(3):
            root = tmp_path / f"lake{trial}"
            write_demo(Lake(root), TODAY, days=40)
            for name, limit in (("all", 10), ("warn", 10_000), ("monthly-tight", 100)):
                CliRunner().invoke(app, ["budget", "add", name, "--limit", str(limit), "--lake", str(root)])
            Hook.alerts = []
            procs = [subprocess.Popen([str(spendlake), "check", "--lake", str(root), "--today", str(TODAY),
                                       "--webhook", url, "--format", "json"], cwd=ROOT, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      env=os.environ | {"PYTHONPATH": str(ROOT)}) for _ in range(4)]
            printed = []
            for p in procs:
                out, err = p.communicate(timeout=120)
                assert p.returncode in (0, 1, 2), err
                assert out.strip().startswith("["), (out, err)
                printed += [a for a in json.loads(out) if a.get("kind")]
            recorded = [a.key for a in load_alerts(Lake(root))]
            assert recorded and len(recorded) == len(set(recorded))
            assert len(printed) == len(recorded)  # each alert reported as new by exactly one process
            assert sorted(json.dumps(a, sort_keys=True) for a in Hook.alerts) == sorted(
                json.dumps(a, sort_keys=True) for a in printed)
    finally:
        server.shutdown()
