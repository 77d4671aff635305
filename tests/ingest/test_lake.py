"""The lake's guarantees, proven with real processes, real files and SIGKILL."""

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import analytics
from tests.helpers import events
from ingest import rollups, schema as s
from ingest.errors import LakeError
from ingest.lake import Lake

WORKER = Path(__file__).with_name("lake_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def spawn(*args: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, env=os.environ | {"PYTHONPATH": str(ROOT)})


def ids(lake: Lake) -> pl.Series:
    return lake.scan().select(s.EVENT_ID).collect()[s.EVENT_ID]


def test_append_round_trips_with_the_fixed_schema(lake):
    batch = events(20)
    assert lake.append(batch).written == 20
    back = lake.scan().collect()
    assert_frame_equal(back.drop(s.DATE).sort(s.EVENT_ID), batch.sort(s.EVENT_ID), check_column_order=False)
    assert back.schema[s.DATE] == pl.Date


@pytest.mark.parametrize("order", ["by time", "shuffled"])
def test_each_event_lands_in_its_utc_day_sorted_by_time(lake, order):
    batch = pl.concat([events(50, day=dt.date(2026, 1, d), prefix=f"d{d}-") for d in (3, 4, 6)])
    batch = batch.sample(fraction=1.0, shuffle=True, seed=2) if order == "shuffled" else batch
    assert lake.append(batch).files == 3
    for day in (dt.date(2026, 1, 3), dt.date(2026, 1, 4), dt.date(2026, 1, 6)):
        (file,) = lake.files(day)
        stored = pl.read_parquet(file)
        assert stored.height == 50 and stored[s.TS].is_sorted()
        assert (stored[s.TS].dt.date() == day).all()


def test_the_same_event_id_counts_once(lake):
    lake.append(events(10))
    result = lake.append(pl.concat([events(10), events(3, prefix="new")]))
    assert (result.written, result.duplicates) == (3, 10)
    assert ids(lake).len() == 13 == ids(lake).n_unique()


def test_four_processes_appending_at_once_lose_nothing(lake):
    workers = [spawn("append", lake.root, f"w{i}", 12, 300) for i in range(4)]
    acks = [w.communicate(timeout=120)[0].split() for w in workers]
    assert all(w.returncode == 0 for w in workers)
    seen = ids(lake)
    assert seen.len() == seen.n_unique()
    assert seen.len() == 4 * 12 * 300 + 12 * 5  # shared ids appended by all four count once
    assert sum(a.count("ack") for a in acks) == 48
    assert rollups.uncovered(lake) == []  # each append wrote its own sums
    assert analytics.daily(lake).select(pl.col("calls").sum()).collect().item() == seen.len()


def test_sigkill_of_a_writer_loses_no_acknowledged_event_and_shows_nothing_half_written(lake):
    rng = random.Random(5)
    acked = []
    for round_ in range(6):
        worker = spawn("append", lake.root, f"k{round_}", 400, 200)
        time.sleep(rng.uniform(0.8, 2.5))
        worker.send_signal(signal.SIGKILL)
        out = worker.communicate()[0]
        acked += [line.split()[1] for line in out.splitlines() if line.startswith("ack")]
        for f in lake.files():  # every visible file is whole
            pl.read_parquet(f)
    seen = ids(lake)
    assert seen.len() == seen.n_unique()
    present = set(seen.str.replace(r"\d+$", ""))
    assert set(acked) <= present
    assert len(acked) > 0
    # a writer killed between publishing a file and writing its sums: readers sum that day from its
    # events, and the next refresh leaves nothing for them to sum
    assert analytics.daily(lake).select(pl.col("calls").sum()).collect().item() == seen.len()
    rollups.refresh(lake)
    assert rollups.uncovered(lake) == []
    assert analytics.daily(lake).select(pl.col("calls").sum()).collect().item() == seen.len()


def test_compaction_while_others_append_neither_loses_nor_doubles(lake):
    lake.append(events(50, prefix="seed-"))
    appenders = [spawn("append", lake.root, f"c{i}", 30, 100) for i in range(2)]
    compactor = spawn("compact", lake.root, "-", 40, 0)
    for p in (*appenders, compactor):
        p.communicate(timeout=180)
        assert p.returncode == 0
    seen = ids(lake)
    assert seen.len() == seen.n_unique() == 50 + 2 * 30 * 100 + 30 * 5
    assert analytics.daily(lake).select(pl.col("calls").sum()).collect().item() == seen.len()
    lake.compact()
    assert [len(lake.files(d)) for d in lake.partitions()] == [1, 1]
    assert ids(lake).len() == 50 + 2 * 30 * 100 + 30 * 5
    assert rollups.uncovered(lake) == [] and list(lake.rollups_dir.glob("*/added/*/*.parquet")) == []
    assert analytics.daily(lake).select(pl.col("calls").sum()).collect().item() == seen.len()


def test_sigkill_during_compaction_neither_loses_nor_doubles(lake):
    rng = random.Random(9)
    day = dt.date(2026, 1, 5)
    expected = 0
    for round_ in range(5):
        batch = events(4000, prefix=f"r{round_}-", day=day)
        for part in batch.iter_slices(20):  # 200 small files; the ids are new, so skip the look-up
            lake.append(part, check_existing=False)
        expected += 4000
        compactor = spawn("compact", lake.root, "-", 1, 0)
        time.sleep(rng.uniform(0.3, 1.2))
        compactor.send_signal(signal.SIGKILL)
        compactor.communicate()
        seen = ids(lake)  # readers skip the files an interrupted compaction replaced
        assert seen.len() == seen.n_unique() == expected
    assert analytics.daily(lake).select(pl.col("calls").sum()).collect().item() == expected
    lake.compact()
    assert len(lake.files(day)) == 1
    assert ids(lake).len() == expected
    assert not list((lake.root / "_journal").glob("*.json"))
    assert rollups.uncovered(lake) == []


def test_temp_files_are_invisible_to_polars_and_duckdb(lake):
    lake.append(events(5))
    (lake.root / "_tmp").mkdir(exist_ok=True)
    events(7, prefix="tmp").write_parquet(lake.root / "_tmp" / "half-written.parquet")
    assert ids(lake).len() == 5
    glob = str(lake.root / "events" / "**" / "*.parquet")
    assert pl.scan_parquet(glob, hive_partitioning=True).select(pl.len()).collect().item() == 5
    assert duckdb.sql(f"select count(*) from read_parquet('{glob}', hive_partitioning=true)").fetchall() == [(5,)]


def test_other_engines_read_the_lake_as_it_is(lake):
    lake.append(events(10, day=dt.date(2026, 1, 5)))
    lake.append(events(4, prefix="x", day=dt.date(2026, 1, 6)))
    glob = str(lake.root / "events" / "**" / "*.parquet")
    rows = duckdb.sql(f"select date::varchar, count(*) from read_parquet('{glob}', hive_partitioning=true) "
                      "group by 1 order by 1").fetchall()
    assert rows == [("2026-01-05", 10), ("2026-01-06", 4)]


def test_a_stray_folder_fails_loudly(lake):
    lake.append(events(3))
    (lake.events_dir / "date=unknown").mkdir()
    with pytest.raises(LakeError, match="not a partition folder"):
        lake.scan()


def test_retention_drops_only_whole_partitions_older_than_asked(lake):
    for d in range(1, 6):
        lake.append(events(3, prefix=f"d{d}-", day=dt.date(2026, 1, d)))
    dropped = lake.drop_before(dt.date(2026, 1, 3))
    assert dropped == [dt.date(2026, 1, 1), dt.date(2026, 1, 2)]
    assert lake.partitions() == [dt.date(2026, 1, d) for d in (3, 4, 5)]
    assert ids(lake).len() == 9


def test_compaction_merges_files_sorted_by_time(lake):
    for b in range(5):
        lake.append(events(10, prefix=f"b{b}-"))
    result = lake.compact()
    assert (result.files_before, result.files_after, result.events_after) == (5, 1, 50)
    merged = pl.read_parquet(lake.files()[0])
    assert merged[s.TS].is_sorted()


def test_every_file_holds_the_one_fixed_arrow_schema(lake):
    import pyarrow.parquet as pq
    lake.append(events(5))
    lake.append(events(5, prefix="more", day=dt.date(2026, 1, 6)))
    lake.append(events(5, prefix="again", day=dt.date(2026, 1, 6)))
    lake.compact()
    assert len(lake.files()) == 2
    for f in lake.files():
        assert pq.read_schema(f).remove_metadata() == s.ARROW_SCHEMA


def in_mount_namespace(script: str, *mounts: str) -> subprocess.CompletedProcess:
    """Run Python in a private mount namespace after the shell `mounts` (real read-only or full file
    systems, gone when the process ends)."""
    setup = " && ".join(mounts)
    return subprocess.run(["unshare", "-rm", "sh", "-c", f'{setup} && exec "$0" -c "$1"', sys.executable, script],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=os.environ | {"PYTHONPATH": str(ROOT)})


def test_a_journal_entry_cannot_reach_outside_the_lake(lake, caplog):
    import json
    lake.append(events(3))
    victim = lake.root.parent / "victim.txt"
    victim.write_text("not the lake's")
    (lake.root / "_journal").mkdir()
    for name, entry in {"up": {"partition": "../..", "new": "", "old": ["victim.txt"]},
                        "path": {"partition": "date=2026-01-05", "new": "", "old": ["../../../victim.txt"]},
                        "new": {"partition": "date=2026-01-05", "new": "../x.parquet", "old": []}}.items():
        (lake.root / "_journal" / f"{name}.json").write_text(json.dumps(entry))
    with caplog.at_level("WARNING", logger="ingest.lake"):
        lake.append(events(2, prefix="more"))
        lake.compact()
    assert victim.read_text() == "not the lake's"
    assert ids(lake).len() == 5
    assert "is not a partition folder of this lake" in caplog.text and "is not a data file name" in caplog.text
    assert len(list((lake.root / "_journal").glob("*.json"))) == 3  # refused, left for a person to look at


@pytest.mark.parametrize("state", ["current", "stale"])
def test_a_lake_on_a_read_only_mount_can_be_read(lake, state):
    lake.append(events(5, job_id="run-1"))
    rollups.refresh(lake)
    lake.append(events(4, prefix="x", day=dt.date(2026, 1, 6), job_id="run-2"))
    if state == "stale":  # a writer killed after publishing its events, before writing their sums
        _ = [p.unlink() for p in lake.rollups_dir.glob("*/added/*/*.parquet")]
        assert rollups.uncovered(lake) == [dt.date(2026, 1, 6)]
    root = lake.root
    before = sorted(str(p) for p in root.rglob("*"))
    script = (f"import analytics; from ingest.lake import Lake; lake = Lake({str(root)!r}); "
              "print(analytics.scan(lake).collect().height, analytics.daily(lake).collect()['calls'].sum(), "
              "analytics.runs(lake).collect().height)")
    done = in_mount_namespace(script, f"mount --bind {root} {root}", f"mount -o remount,bind,ro {root}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["9", "9", "2"]
    assert sorted(str(p) for p in root.rglob("*")) == before  # reading wrote nothing


def test_the_next_writer_removes_temp_files_of_a_killed_writer(lake):
    lake.append(events(1))
    script = (f"from ingest.lake import Lake; import os; p = Lake({str(lake.root)!r}).tmp_path(); "
              "f = open(p, 'wb'); f.write(os.urandom(1 << 20)); f.flush(); print(p, flush=True); "
              "import time; time.sleep(60)")
    writer = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env=os.environ | {"PYTHONPATH": str(ROOT)})
    partial = Path(writer.stdout.readline().strip())
    mine = lake.tmp_path()  # a live writer's file (this process) stays
    mine.write_bytes(b"being written")
    unknown = lake.tmp_dir / "written-by-an-older-version.parquet"  # no writer in the name: kept for an hour
    unknown.write_bytes(b"x")
    lake.append(events(2, prefix="before-kill"))
    assert partial.exists()  # its writer is alive
    writer.kill()
    writer.wait()
    lake.append(events(2, prefix="after-kill"))
    assert not partial.exists()
    assert mine.exists() and unknown.exists()


def test_a_full_disk_leaves_no_empty_temp_files(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    script = (f"import polars as pl; from tests.helpers import events; from ingest.lake import Lake; "
              f"lake = Lake({str(small / 'lake')!r}); lake.append(events(1))\n"
              "try:\n    lake.append(pl.concat([events(200_000, prefix=f'b{i}-') for i in range(3)]))\n"
              "except Exception:\n    print('refused')\n"
              "import os; print(sorted(os.listdir(lake.tmp_dir)), lake.scan().collect().height)")
    done = in_mount_namespace(script, f"mount -t tmpfs -o size=1m tmpfs {small}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["refused", "[] 1"]


def test_a_killed_import_leaves_no_partial_quarantine_file(lake):
    lake.append(events(1))
    script = (f"from ingest.lake import Lake; from ingest.pipeline import Quarantine; import time; "
              f"q = Quarantine(Lake({str(lake.root)!r}), 'big.jsonl'); q.add(1, 'line 1: bad', {{'text': 'x'}}); "
              "q._file.flush(); print(q._tmp, flush=True); time.sleep(60)")
    writer = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env=os.environ | {"PYTHONPATH": str(ROOT)})
    partial = Path(writer.stdout.readline().strip())
    assert partial.exists() and partial.parent == lake.tmp_dir
    writer.kill()
    writer.wait()
    lake.append(events(1, prefix="next"))
    assert not partial.exists() and not list(lake.quarantine_dir.iterdir())


def test_compaction_in_groups_keeps_each_id_once_across_groups(lake, monkeypatch):
    monkeypatch.setattr("ingest.lake.REWRITE_ROWS", 30)  # a large day, in miniature: groups of ~30 events
    monkeypatch.setattr("ingest.lake.READ_BYTES", 1)  # one file read at a time
    day = dt.date(2026, 1, 5)
    folder = lake.partition_dir(day)
    folder.mkdir(parents=True)
    for f in range(10):  # 10 files of 10 events; every file repeats 3 ids of the file before (as a
        # crash between a rewrite's rename and its deletes could leave behind)
        batch = events(10, prefix="e", day=day).with_row_index().with_columns(
            (pl.lit("e") + (pl.col("index") + 7 * f).cast(pl.String)).alias(s.EVENT_ID)).drop("index")
        batch.write_parquet(folder / f"part-{f:020d}-{f:012x}.parquet")
    distinct = pl.scan_parquet(lake.files(day)).select(pl.col(s.EVENT_ID).n_unique()).collect().item()
    result = lake.compact()
    assert result.files_before == 10 and result.files_after >= 3  # several groups, each one file
    assert ids(lake).len() == ids(lake).n_unique() == distinct == 73
    for f in lake.files(day):
        assert pl.read_parquet(f)[s.TS].is_sorted()


@pytest.mark.parametrize("limit", [1_000_000, 5], ids=["ids kept", "day too big to keep"])
def test_a_writer_that_remembers_ids_sees_what_others_did_to_the_day(lake, monkeypatch, limit):
    monkeypatch.setattr("ingest.lake.KNOWN_IDS", limit)
    writer, other = lake, Lake(lake.root)  # one process's writer, and a second writer
    assert writer.append(events(10, prefix="a")).written == 10
    assert other.append(events(10, prefix="b")).written == 10
    assert writer.append(events(12, prefix="b")).duplicates == 10  # another writer's ids are seen
    assert writer.append(events(10, prefix="a")).duplicates == 10  # and its own
    other.compact()  # every file the writer knew is replaced by another
    assert writer.append(events(13, prefix="a")).written == 3
    assert writer.append(pl.concat([events(14, prefix="b"), events(2, prefix="c")])).written == 2 + 2
    for day in other.partitions():
        other.drop_before(day + dt.timedelta(days=1))  # the day is gone: its ids may come again
    assert writer.append(events(5, prefix="a")).written == 5
    assert ids(lake).len() == ids(lake).n_unique() == 5


def test_compaction_brings_rollups_current_that_a_killed_compactor_left_stale(lake, monkeypatch):
    # a compactor killed after its rewrites and before its rollup refresh leaves nothing to
    # rewrite; the next compaction must still leave every day's rollup current
    day = dt.date(2026, 1, 5)
    for part in events(200, day=day).iter_slices(20):
        lake.append(part, check_existing=False)
    real = rollups.refresh

    def killed(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(rollups, "refresh", killed)
    with pytest.raises(KeyboardInterrupt):
        lake.compact()
    monkeypatch.setattr(rollups, "refresh", real)
    assert rollups.uncovered(lake) != []
    lake.compact()
    assert rollups.uncovered(lake) == []


def test_compaction_finishes_a_rewrite_a_killed_compactor_left_even_with_nothing_left_to_merge(lake, monkeypatch):
    # killed after its merged file was in and its journal written, before the old files were deleted:
    # readers see the merged file alone, so the next compaction has nothing to merge, and must
    # still finish the rewrite (delete the old files and the journal entry)
    import ingest.lake as lake_module
    day = dt.date(2026, 1, 5)
    for part in events(100, day=day).iter_slices(20):
        lake.append(part, check_existing=False)
    real = lake_module._unlink_all

    def killed(paths):
        raise KeyboardInterrupt
    monkeypatch.setattr(lake_module, "_unlink_all", killed)
    with pytest.raises(KeyboardInterrupt):
        lake.compact()
    monkeypatch.setattr(lake_module, "_unlink_all", real)
    assert len(lake.files(day)) == 1 and len(list(lake.journal_dir.glob("*.json"))) == 1
    assert len(list(lake.partition_dir(day).glob("*.parquet"))) == 6  # the old five, hidden, and the merged one
    lake.compact()
    assert not list(lake.journal_dir.glob("*.json"))
    assert len(list(lake.partition_dir(day).glob("*.parquet"))) == 1 and ids(lake).len() == 100
