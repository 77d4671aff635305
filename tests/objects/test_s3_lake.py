"""The lake on object storage, tested over HTTP against a real S3 protocol server (moto's, on a
loopback port): the same answers as the same events on disk through every kind of write, one
writer at a time by a lease (a killed holder frees it when it expires), SIGKILLed imports and
compactions that lose and double nothing, and a `spendlake serve` taking appends under load."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import analytics
from ingest import schema as s
from ingest.demo import write_demo
from ingest.errors import LakeError
from ingest.lake import Lake
from ingest.objects import ObjectPath
from ingest.price_rules import PriceRule, add_override
from ingest.pricing import PriceBook
from ingest.reprice import reprice
from spendlake import keys
from tests.helpers import events, same
from tests.server.server import client, running

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 3, 31)


def answers(lake: Lake) -> dict:
    """What the reports read: the daily rollup by day, provider and project; the runs; the month."""
    daily = analytics.daily(lake).group_by(s.DATE, s.PROVIDER, s.PROJECT).agg(
        pl.col(s.COST).sum(), pl.col("calls").sum()).collect().sort(s.DATE, s.PROVIDER, s.PROJECT)
    runs = analytics.runs(lake).collect().sort(s.JOB_ID, s.PROJECT)
    month = analytics.monthly_report(analytics.daily(lake), TODAY, runs=analytics.runs(lake), today=TODAY)
    raw = lake.scan().select(pl.len(), pl.col(s.EVENT_ID).n_unique(), pl.col(s.COST).sum()).collect().row(0)
    return {"daily": daily.to_dicts(), "runs": runs.to_dicts(), "month": month.to_dict(), "raw": list(raw)}


def test_a_lake_on_s3_answers_as_the_same_events_on_disk_through_every_write(s3_lake, tmp_path):
    remote, local = Lake(s3_lake), Lake(tmp_path / "lake")
    assert isinstance(remote.root, ObjectPath)
    for lake in (remote, local):
        for seed in (7, 8):  # two imports: two files a day
            write_demo(lake, TODAY, days=40, seed=seed)
        lake.append(events(30, day=TODAY, prefix="late", job_id="late-run"))
    assert same(answers(remote), answers(local))
    for lake in (remote, local):
        lake.compact()
    assert len(remote.files()) == len(local.files()) == 40
    assert same(answers(remote), answers(local))
    for lake in (remote, local):
        add_override(lake.overrides_path, PriceRule("openai", "gpt-4o", "input_token", Decimal("1"), Decimal("1000000"),
                                                    dt.date(2026, 1, 1), None))
        reprice(lake, PriceBook.load(lake.overrides_path))
    assert same(answers(remote), answers(local))
    for lake in (remote, local):
        lake.drop_before(TODAY - dt.timedelta(days=9))
    assert remote.partitions() == local.partitions() and len(remote.partitions()) == 10
    assert same(answers(remote), answers(local))
    assert not list(remote.journal_dir.glob("*.json"))


def test_an_id_counts_once_on_s3(s3_lake):
    lake = Lake(s3_lake)
    batch = events(50, day=TODAY)
    assert lake.append(batch).written == 50
    again = Lake(s3_lake).append(batch)  # another process's view: nothing known in memory
    assert (again.written, again.duplicates) == (0, 50)
    assert lake.scan().select(pl.len()).collect().item() == 50


HOLDER = """
import sys, time
from ingest.lake import Lake
lake = Lake(sys.argv[1])
with lake.lock():
    print("held", flush=True)
    time.sleep(120)
"""


def test_two_writers_contend_for_the_lease_and_a_killed_holder_frees_it(s3_lake, monkeypatch):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, s3_lake], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setenv("SPENDLAKE_LEASE_WAIT", "1")
        with pytest.raises(LakeError) as refused:
            Lake(s3_lake).append(events(5, day=TODAY))
        assert f"pid {holder.pid}" in str(refused.value)  # the message names the holder
        assert "another writer holds the lake" in str(refused.value)
        assert Lake(s3_lake).scan().select(pl.len()).collect().item() == 0  # nothing was written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    monkeypatch.setenv("SPENDLAKE_LEASE_WAIT", "30")  # the killed holder's lease expires after 2 s
    assert Lake(s3_lake).append(events(5, day=TODAY)).written == 5


def test_a_waiting_writer_gets_the_lease_when_the_holder_lets_go(s3_lake):
    first, second = Lake(s3_lake), Lake(s3_lake)
    order = []

    def hold():
        with first.lock():
            order.append("first took it")
            time.sleep(1.0)
            order.append("first let go")
    thread = threading.Thread(target=hold)
    thread.start()
    while not order:
        time.sleep(0.01)
    second.append(events(5, day=TODAY))
    order.append("second wrote")
    thread.join()
    assert order == ["first took it", "first let go", "second wrote"]


def jsonl(path: Path, n: int) -> Path:
    start = dt.datetime.combine(TODAY - dt.timedelta(days=5), dt.time(), dt.UTC)
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"event_id": f"imp-{i}", "ts": (start + dt.timedelta(seconds=30 * i)).isoformat(),
                                "provider": "openai", "model": "gpt-4o", "service": "llm", "input_tokens": 100 + i,
                                "output_tokens": 10}) + "\n")
    return path


def spendlake(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "spendlake.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def kill_after(process: subprocess.Popen, seconds: float) -> None:
    time.sleep(seconds)
    process.send_signal(signal.SIGKILL)
    process.wait()


def ids(lake: Lake) -> pl.Series:
    return lake.scan().select(s.EVENT_ID).collect()[s.EVENT_ID]


def test_sigkilled_imports_and_compactions_on_s3_lose_nothing_and_double_nothing(s3_lake, tmp_path):
    n = 20_000
    source = jsonl(tmp_path / "calls.jsonl", n)
    rng = random.Random(5)
    for _ in range(4):  # imports killed at random moments, then one that finishes
        kill_after(spendlake("import", str(source), "--lake", s3_lake), rng.uniform(1.0, 4.0))
    done = spendlake("import", str(source), "--lake", s3_lake)
    assert done.wait(timeout=300) in (0, 1), done.stdout.read().decode()
    lake = Lake(s3_lake)
    landed = ids(lake)
    assert landed.len() == landed.n_unique() == n

    for i in range(40):  # many small files a day, for compactions to merge
        lake.append(events(20, day=TODAY - dt.timedelta(days=i % 5), prefix=f"small{i}-"))
    expected = ids(lake).sort()
    for _ in range(4):
        kill_after(spendlake("compact", "--lake", s3_lake), rng.uniform(1.0, 4.0))
        after = ids(Lake(s3_lake)).sort()  # a reader between the kill and the next writer
        assert after.len() == after.n_unique() == expected.len()
    finisher = spendlake("compact", "--lake", s3_lake)
    assert finisher.wait(timeout=300) == 0, finisher.stdout.read().decode()
    lake = Lake(s3_lake)
    assert ids(lake).sort().equals(expected)
    assert not list(lake.journal_dir.glob("*.json"))
    assert len(lake.files()) == len(lake.partitions())


def test_the_server_takes_appends_under_load_into_an_s3_lake_exactly_once(s3_lake):
    lake = Lake(s3_lake)
    token = keys.create(lake, "ingest", "ingest")
    day = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)
    clients, batches, size = 6, 10, 100
    failures = []

    def send(c: int, url: str) -> None:
        with client(url, token) as http:
            for b in range(batches):
                body = [{"event_id": f"c{c}-b{b}-{i}", "ts": (day + dt.timedelta(seconds=i)).isoformat(),
                         "provider": "openai", "model": "gpt-4o", "service": "llm", "input_tokens": 100 + i,
                         "project": f"p{c}"} for i in range(size)]
                for attempt in range(3):  # a retry re-sends the same ids: they must not double
                    answer = http.post("/v1/events", json=body)
                    if answer.status_code == 200:
                        break
                else:
                    failures.append(answer.text)
    with running(s3_lake) as url:
        threads = [threading.Thread(target=send, args=(c, url)) for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with client(url, token) as http:  # one batch sent twice
            http.post("/v1/events", json=[{"event_id": "c0-b0-0", "ts": day.isoformat(), "provider": "openai",
                                           "model": "gpt-4o", "service": "llm", "input_tokens": 1}])
    assert not failures
    landed = ids(Lake(s3_lake))
    assert landed.len() == landed.n_unique() == clients * batches * size
    totals = analytics.daily(Lake(s3_lake)).group_by(s.PROJECT).agg(pl.col("calls").sum()).collect()
    assert dict(totals.iter_rows()) == {f"p{c}": batches * size for c in range(clients)}


def test_other_object_stores_and_paths_out_of_the_prefix_are_refused(s3_lake):
    with pytest.raises(LakeError, match="only s3://"):
        Lake("gs://bucket/lake")
    with pytest.raises(LakeError, match="climb out"):
        Lake(s3_lake).events_dir / "../../elsewhere"
    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")  # loopback only


def test_a_writer_that_stalled_past_its_lease_writes_nothing_more(s3_lake, monkeypatch):
    from ingest.objects import Lease
    monkeypatch.setattr(Lease, "_renew", lambda self: None)  # a process stopped: its renewer does not run
    stalled, other = Lake(s3_lake), Lake(s3_lake)
    with stalled.lock():
        time.sleep(2.5)  # past its 2 s lease
        assert other.append(events(5, day=TODAY, prefix="other")).written == 5  # another writer took the lake
        with pytest.raises(LakeError, match="lost the lake's lease"):
            stalled._put(events(5, day=TODAY, prefix="late"), TODAY)
    assert ids(Lake(s3_lake)).sort().to_list() == [f"other{i}" for i in range(5)]


def test_every_app_page_reads_a_lake_on_s3(s3_lake, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest
    today = dt.datetime.now(dt.UTC).date()
    lake = Lake(s3_lake)
    write_demo(lake, today, days=35)
    monkeypatch.setenv("SPENDLAKE_LAKE", s3_lake)
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    month = analytics.daily(lake, start=today.replace(day=1), end=today).select(pl.col(s.COST).sum()).collect().item()
    assert next(m.value for m in at.metric if m.label == "Month to date") == f"${month:,.2f}"
    for page in sorted(p.stem for p in (ROOT / "app_pages").glob("*.py")):
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, (page, at.exception)
        assert not at.error, (page, [e.value for e in at.error])


def test_every_cli_command_works_on_an_s3_lake_as_on_disk(s3_lake, tmp_path):
    """Each command answers the same on a bucket's lake as on the same lake on disk."""
    def run(lake: str, *args: str) -> tuple[int, str]:
        done = subprocess.run([sys.executable, "-m", "spendlake.cli", *args, "--lake", lake], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert "Traceback" not in done.stdout + done.stderr, (args, done.stderr)
        return done.returncode, done.stdout
    local = str(tmp_path / "lake")
    commands = [("demo",), ("status", "-f", "json"), ("budget", "add", "all", "--limit", "500"), ("budget", "list"),
                ("report", "monthly", "-f", "json"), ("report", "breakdown", "--by", "provider", "-f", "csv"),
                ("report", "jobs", "-f", "csv"), ("report", "forecast", "-f", "json"),
                ("report", "anomalies", "-f", "csv"), ("report", "tokens", "-f", "json"),
                ("report", "focus", "-f", "csv"), ("report", "budget", "-f", "csv"), ("check",),
                ("report", "optimize", "-f", "json"), ("report", "optimize", "-f", "json"),  # (the second reads kept sums)
                ("report", "reconcile", "-f", "csv"),
                ("reprice", "-f", "json"), ("compact", "--older-than", "2d"), ("retention", "--older-than", "60d"),
                ("retention", "--older-than", "60d", "--yes"), ("status", "-f", "json")]
    def parsed(text: str, fmt: str) -> object:
        """The answer as data (sums in another order differ in their last bits; `same` allows that)."""
        if fmt == "json" and text.strip():
            value = json.loads(text)
            return [{k: v for k, v in row.items() if k != "lake"} for row in value] if isinstance(value, list) else value
        return text
    for command in commands:
        on_disk, in_bucket = run(local, *command), run(s3_lake, *command)
        assert in_bucket[0] == on_disk[0], command
        if command[0] in ("demo", "check", "compact", "retention"):  # (those name their lake)
            continue
        fmt = command[command.index("-f") + 1] if "-f" in command else "table"
        if fmt == "csv":  # (written to 6 decimals: a last bit may move the sixth)
            assert_frame_equal(pl.read_csv(io.StringIO(in_bucket[1])), pl.read_csv(io.StringIO(on_disk[1])),
                               check_exact=False, abs_tol=2e-6)
        else:
            assert same(parsed(in_bucket[1], fmt), parsed(on_disk[1], fmt)), command


def test_compaction_leaves_the_recent_days_alone_and_trackers_write_through_the_server(s3_lake):
    from ingest.errors import ValidationError
    from ingest.tracker import Tracker
    from spendlake import usecases
    lake = Lake(s3_lake)
    for prefix in ("a", "b"):  # two files on each of two days
        for day in (TODAY, TODAY - dt.timedelta(days=5)):
            lake.append(events(10, day=day, prefix=f"{prefix}{day.day}-"))
    usecases.compact(lake, older_than=2, today=TODAY)
    assert [len(lake.files(day)) for day in (TODAY - dt.timedelta(days=5), TODAY)] == [1, 2]
    with pytest.raises(ValidationError, match="through its server"):
        Tracker(s3_lake)


APPENDER = """
import sys
from ingest.files import append_lines
from ingest.lake import AUDIT, Lake
lake = Lake(sys.argv[1])
for i in range(25):
    append_lines(lake.path(AUDIT), [{"writer": sys.argv[2], "i": i}])
"""


def test_lines_appended_by_four_processes_at_once_to_an_s3_object_are_all_kept(s3_lake):
    """No append in a bucket: each writer rewrites the object conditional on its version."""
    from ingest.files import read_lines
    from ingest.lake import AUDIT
    writers = [subprocess.Popen([sys.executable, "-c", APPENDER, s3_lake, str(w)], cwd=ROOT) for w in range(4)]
    assert [w.wait(timeout=300) for w in writers] == [0] * 4
    lines = list(read_lines(Lake(s3_lake).path(AUDIT)))
    assert sorted((line["writer"], line["i"]) for line in lines) == [(str(w), i) for w in range(4) for i in range(25)]


def test_a_bad_record_imported_into_s3_goes_to_quarantine_and_its_neighbours_land(s3_lake, tmp_path):
    source = jsonl(tmp_path / "calls.jsonl", 10)
    with source.open("a") as f:
        f.write('{"event_id": "bad", "ts": "yesterday", "provider": "openai", "model": "gpt-4o"}\n')
    done = subprocess.run([sys.executable, "-m", "spendlake.cli", "import", str(source), "--lake", s3_lake],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    lake = Lake(s3_lake)
    assert ids(lake).len() == 10
    [kept] = list(lake.quarantine_dir.glob("*.jsonl"))
    [record] = [json.loads(line) for line in kept.read_text().splitlines()]
    assert record["record"] == 11 and "ts" in record["error"]
