"""Every command through Typer's runner, with real files and a real lake."""

import json

import polars as pl
import pytest
from typer.testing import CliRunner

import analytics
from ingest import schema as s
from ingest.lake import Lake
from spendlake.cli import app
from tests.conftest import FIXTURES
from tests.helpers import same

runner = CliRunner()


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def root(tmp_path):
    return tmp_path / "lake"


def test_demo_then_status_reports_the_lake(root):
    assert "events written" in run("demo", "--days", "10", "--lake", root)
    status = json.loads(run("status", "--lake", root, "--format", "json"))[0]
    totals = analytics.totals(analytics.scan(root))
    assert status["events"] == totals.events > 0
    days = analytics.scan(root).select(pl.col(s.TS).dt.date().n_unique()).collect().item()
    assert status["partitions"] == days >= 9  # (10 days ending today; none yet of today just after midnight)


def test_import_prints_a_summary_and_reimport_skips_duplicates(root):
    first = run("import", FIXTURES / "costs_2025-01-21.jsonl", "--tz", "Europe/Berlin", "--lake", root, code=1)
    assert "imported 3 events, skipped 0 duplicates, quarantined 2" in first
    assert "quarantine: " in first
    second = run("import", FIXTURES / "costs_2025-01-21.jsonl", "--tz", "Europe/Berlin", "--lake", root)
    assert "imported 0 events, skipped 0 duplicates" in second and "1 file unchanged since the last import" in second
    third = run("import", FIXTURES / "costs_2025-01-21.jsonl", "--tz", "Europe/Paris", "--lake", root, code=1)
    assert "imported 0 events, skipped 3 duplicates" in third  # other options: read again, ids keep it exact


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
    # the days both demos wrote to (just after midnight UTC one may have none of today yet)
    shared = [d for d in lake.partitions() if len(lake.files(d)) >= 2]
    files = sum(len(lake.files(d)) for d in shared)
    assert f"{files} files → {len(shared)}" in run("compact", "--lake", root)  # what the use case did
    before = len(lake.partitions())  # 5 days ending today (4 just after midnight: none of today yet)
    preview = run("retention", "--older-than", "2d", "--lake", root)
    assert "would drop 2 partition(s)" in preview and "run again with --yes" in preview
    assert len(lake.partitions()) == before  # nothing dropped without --yes
    out = run("retention", "--older-than", "2d", "--yes", "--lake", root)
    assert "dropped 2 partition(s)" in out
    assert len(lake.partitions()) == before - 2


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


def invoke(*args: object) -> tuple[int, str]:
    """Exit code and everything printed (errors included), as a person at a terminal sees them."""
    import subprocess, sys
    done = subprocess.run([sys.executable, "-m", "spendlake.cli", *map(str, args)], capture_output=True, text=True)
    return done.returncode, " ".join((done.stdout + done.stderr).split())


@pytest.mark.parametrize("days", ["99999999999d", "800000d", "-3d", "36501d", "3 weeks"])
def test_a_bad_retention_argument_is_one_line_naming_the_form(root, days):
    run("demo", "--days", "3", "--lake", root)
    code, said = invoke("retention", "--older-than", days, "--lake", root)
    assert code == 2 and "write a number of days from 0 to 36500, e.g. 90d" in said and "Traceback" not in said
    assert len(Lake(root).partitions()) == 3


def test_a_month_is_written_yyyy_mm_and_the_month_under_way_compares_like_days(root):
    import datetime as dt
    run("demo", "--days", "75", "--lake", root)
    today = dt.datetime.now(dt.UTC).date()
    month = f"{today:%Y-%m}"
    by_month = json.loads(run("report", "monthly", "--month", month, "--lake", root, "-f", "json"))
    assert same(by_month, json.loads(run("report", "monthly", "--month", f"{month}-01", "--lake", root, "-f", "json")))
    assert by_month["month"] == month and by_month["partial"] and by_month["through"] == str(today)
    first = today.replace(day=1)
    previous_from = (first - dt.timedelta(days=1)).replace(day=1)
    assert by_month["previous_from"] == str(previous_from)
    same_days = min(previous_from + (today - first), first - dt.timedelta(days=1))
    assert by_month["previous_to"] == str(same_days)
    days = analytics.daily(root).collect()
    spent = days.filter(pl.col("date").is_between(previous_from, same_days))["cost_usd"].sum()
    assert by_month["previous_cost_usd"] == pytest.approx(spent)
    assert "against the same days of the month before" in run("report", "monthly", "--lake", root)
    code, said = invoke("report", "monthly", "--month", "11/2026", "--lake", root)
    assert code == 2 and "write a month as YYYY-MM" in said


def test_from_after_to_and_a_folder_without_a_lake_are_refused(root, tmp_path):
    run("demo", "--days", "3", "--lake", root)
    code, said = invoke("report", "jobs", "--from", "2026-11-20", "--to", "2026-11-01", "--lake", root)
    assert code == 2 and "--from 2026-11-20 is after --to 2026-11-01" in said
    code, said = invoke("status", "--lake", tmp_path / "not-a-lake")
    assert code == 1 and f"no lake at {tmp_path / 'not-a-lake'}" in said


def test_import_exits_1_when_anything_went_to_quarantine_or_a_file_was_not_read(root, tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text('{"ts": "2026-01-05T10:00:00Z", "provider": "openai", "model": "gpt-4o", "service": "llm"}\n')
    assert invoke("import", good, "--lake", root)[0] == 0
    code, said = invoke("import", FIXTURES / "costs_2025-01-21.jsonl", "--lake", root)  # the seeds' naive times
    assert code == 1 and "imported 0 events" in said and "pass the zone they were written in, e.g. --tz" in said
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.jsonl").write_text(good.read_text().replace("10:00", "11:00"))
    (tmp_path / "folder" / "b.csv").write_text("hello world\n")
    code, said = invoke("import", tmp_path / "folder", "--lake", root)
    assert code == 1 and "imported 1 events" in said and "not read: " in said and "b.csv" in said


def test_estimate_exits_by_its_decision_and_its_json_carries_it(root):
    run("demo", "--days", "10", "--lake", root)
    code, said = invoke("estimate", "--stories", "0", "--lake", root, "-f", "json")
    assert code == 0, said
    result = json.loads(subprocess_json("estimate", "--stories", "0", "--lake", root, "-f", "json",
                                        "--compare", "anthropic/claude-sonnet-4-5"))
    assert result["decision"]["action"] == "allow" and result["compared"]
    assert result["steps"][0]["count"] == 0 and result["steps"][0]["expected_usd"] == 0
    run("budget", "add", "tiny", "--limit", "0.01", "--enforcement", "hard_stop", "--lake", root)
    code, said = invoke("estimate", "--lake", root)
    assert code == 2 and "block" in said
    assert json.loads(subprocess_json("estimate", "--lake", root, "-f", "json", code=2))["decision"]["action"] == "block"
    run("budget", "add", "tiny", "--limit", "0.01", "--enforcement", "warn", "--lake", root)
    assert invoke("estimate", "--lake", root)[0] == 1
    code, said = invoke("estimate", "--stories", "-1", "--lake", root)
    assert code == 2 and "should be greater than or equal to 0" in said


def subprocess_json(*args: object, code: int = 0) -> str:
    import subprocess, sys
    done = subprocess.run([sys.executable, "-m", "spendlake.cli", *map(str, args)], capture_output=True, text=True)
    assert done.returncode == code, done.stderr
    return done.stdout
