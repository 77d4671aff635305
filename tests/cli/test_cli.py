"""Every command through Typer's runner, with real files and a real lake."""

import json

import polars as pl
import pytest
from typer.testing import CliRunner

import analytics
from ingest.lake import Lake
from spendlake.cli import app
from tests.conftest import FIXTURES

runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def root(tmp_path):
    return tmp_path / "lake"


def test_demo_then_status_reports_the_lake(root):
    assert "events written" in run("demo", "--days", "10", "--lake", root)
    status = json.loads(run("status", "--lake", root, "--format", "json"))[0]
    totals = analytics.totals(analytics.scan(root))
    assert status["events"] == totals.events > 0
    assert status["partitions"] == 10


def test_import_prints_a_summary_and_reimport_skips_duplicates(root):
    first = run("import", FIXTURES / "costs_2025-01-21.jsonl", "--tz", "Europe/Berlin", "--lake", root)
    assert "imported 3 events, skipped 0 duplicates, quarantined 2" in first
    assert "quarantine: " in first
    second = run("import", FIXTURES / "costs_2025-01-21.jsonl", "--tz", "Europe/Berlin", "--lake", root)
    assert "imported 0 events, skipped 3 duplicates" in second


def test_unpriced_models_then_override_then_reprice(root, tmp_path):
    path = tmp_path / "usage.csv"
    path.write_text("ts,provider,model,service,characters\n"
                    "2026-01-05T10:00:00Z,acme-tts,voice-1,tts,1000\n"
                    "2026-01-06T10:00:00Z,acme-tts,voice-1,tts,3000\n")
    assert "2 unpriced" in run("import", path, "--lake", root)
    unpriced = json.loads(run("prices", "--unpriced", "--lake", root, "-f", "json"))
    assert [(u["provider"], u["model"], u["events"]) for u in unpriced] == [("acme-tts", "voice-1", 2)]
    run("override", "acme-tts", "voice-1", "character", "0.2", "--per", "1000", "--from", "2026-01-01",
        "--lake", root)
    changes = json.loads(run("reprice", "--lake", root, "-f", "json"))
    assert changes == [{"provider": "acme-tts", "model": "voice-1", "events": 2, "newly_priced": 2,
                        "cost_before": 0.0, "cost_after": pytest.approx(0.8)}]
    assert json.loads(run("prices", "--unpriced", "--lake", root, "-f", "json")) == []
    assert json.loads(run("reprice", "--lake", root, "-f", "json")) == []  # nothing left to change


def test_compact_and_retention(root, tmp_path):
    run("demo", "--days", "5", "--lake", root)
    run("demo", "--days", "5", "--seed", "8", "--lake", root)
    lake = Lake(root)
    total = lake.scan().select(pl.len()).collect().item()
    assert "files → " in run("compact", "--lake", root)
    assert all(len(lake.files(d)) == 1 for d in lake.partitions())
    assert lake.scan().select(pl.len()).collect().item() == total
    out = run("retention", "--older-than", "2d", "--lake", root)
    assert "dropped 2 partition(s)" in out
    assert len(lake.partitions()) == 3


def test_csv_and_table_outputs(root):
    run("demo", "--days", "3", "--lake", root)
    csv = run("prices", "--search", "elevenlabs", "--lake", root, "-f", "csv")
    assert csv.splitlines()[0].startswith("source,provider,model,unit,price")
    assert "eleven_multilingual_v2" in csv
    assert "lake status" in run("status", "--lake", root)


def test_errors_are_one_clear_message_not_a_traceback(root, tmp_path):
    import subprocess, sys
    result = subprocess.run([sys.executable, "-m", "spendlake.cli", "import", str(tmp_path / "missing.csv"),
                             "--lake", str(root)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "error:" in result.stderr and "no such file or folder" in result.stderr
    assert "Traceback" not in result.stderr
    bad = runner.invoke(app, ["retention", "--older-than", "soon", "--lake", str(root)])
    assert bad.exit_code == 2 and "write a number of days" in bad.output
