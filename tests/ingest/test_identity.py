"""Nothing doubled: a record's id depends on its values, not on how a file spelled them; exact
repeats are duplicates in every format (kept in quarantine); implausible values are refused."""

import datetime as dt
import json

import polars as pl
import pytest

from ingest import Tracker, schema as s
from ingest.errors import ValidationError
from ingest.importers import import_paths

ROWS = [  # two calls, no event ids
    {"ts": "2026-01-05T10:00:00Z", "provider": "openai", "model": "gpt-4o", "service": "llm",
     "input_tokens": 1000, "output_tokens": 10, "latency_ms": 250.0, "project": "a"},
    {"ts": "2026-01-05T11:00:00Z", "provider": "anthropic", "model": "claude-sonnet-4-5", "service": "llm",
     "input_tokens": 2000, "output_tokens": 20, "latency_ms": 125.5, "project": "b"},
]


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def ids(lake) -> list[str]:
    return sorted(lake.scan().collect()[s.EVENT_ID])


SPELLINGS = {
    "a bad line makes the file read as text": lambda p: p.write_text(jsonl(ROWS) + "not json\n"),
    "CSV": lambda p: pl.DataFrame(ROWS).write_csv(p.with_suffix(".csv")),
    "Parquet": lambda p: pl.DataFrame(ROWS).write_parquet(p.with_suffix(".parquet")),
    "CSV, columns reordered": lambda p: pl.DataFrame(ROWS).select(reversed(list(ROWS[0]))).write_csv(
        p.with_suffix(".csv")),
    "CSV with an extra empty column": lambda p: pl.DataFrame(ROWS).with_columns(
        agent=pl.lit(""), note=pl.lit(None, pl.String)).write_csv(p.with_suffix(".csv")),
    "whole floats and other offsets": lambda p: p.write_text(jsonl([
        r | {"input_tokens": float(r["input_tokens"]), "ts": r["ts"].replace("T10", "T11").replace("T11:00:00Z",
             "T12:00:00+01:00") if r["project"] == "b" else r["ts"].replace("Z", "+00:00")} for r in ROWS])),
    "defaults spelled out": lambda p: p.write_text(jsonl([r | {"success": True, "retries": 0, "cache_read_tokens": 0}
                                                          for r in ROWS])),
}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_same_rows_spelled_another_way_are_not_imported_twice(lake, tmp_path, spelling):
    first = tmp_path / "clean.jsonl"
    first.write_text(jsonl(ROWS))
    assert import_paths(lake, [first]).imported == 2
    before = ids(lake)
    other = tmp_path / "again" / "usage.jsonl"
    other.parent.mkdir()
    SPELLINGS[spelling](other)
    summary = import_paths(lake, [other.parent])
    assert (summary.imported, summary.duplicates) == (0, 2)
    assert ids(lake) == before


def test_a_file_beside_one_with_an_extra_column_keeps_its_ids(lake, tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "a.jsonl").write_text(jsonl(ROWS))
    import_paths(lake, [tmp_path / "one"])
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "a.jsonl").write_text(jsonl(ROWS))
    (tmp_path / "two" / "b.jsonl").write_text(jsonl([ROWS[0] | {"user": "ann", "ts": "2026-01-05T12:00:00Z"}]))
    summary = import_paths(lake, [tmp_path / "two"])
    assert (summary.imported, summary.duplicates) == (1, 2)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "costs-jsonl"])
def test_an_exact_repeat_is_a_duplicate_in_every_format_and_kept_in_quarantine(lake, tmp_path, fmt):
    path = tmp_path / f"costs_2025-01-21.{'jsonl' if 'jsonl' in fmt else fmt}"
    if fmt == "costs-jsonl":
        line = ('{"timestamp": "2025-01-21T10:00:00.123456", "service": "elevenlabs", "operation": "voice", '
                '"cost": 0.15, "metadata": {"characters": 500}, "video_id": "v1"}')
        path.write_text(f"{line}\n{line.replace('v1', 'v2')}\n{line}\n")
    else:
        rows = pl.DataFrame([ROWS[0], ROWS[1], ROWS[0]])
        {"csv": rows.write_csv, "jsonl": rows.write_ndjson, "parquet": rows.write_parquet}[fmt](path)
    summary = import_paths(lake, [path], tz="UTC")
    assert (summary.imported, summary.duplicates, summary.repeats, summary.quarantined) == (2, 1, 1, 0)
    (kept,) = [json.loads(line) for f in summary.quarantine_files for line in f.read_text().splitlines()]
    first, third = ("line 1", "line 3") if fmt != "csv" else ("line 2", "line 4")
    if fmt == "parquet":
        first, third = "row 1", "row 3"
    assert kept["error"] == f"{path.name} {third}: repeat of {first}"
    assert lake.scan().select(pl.len()).collect().item() == 2


def test_a_repeated_id_a_source_gave_is_an_ordinary_duplicate(lake, tmp_path):
    path = tmp_path / "ids.jsonl"
    path.write_text(jsonl([ROWS[0] | {"event_id": "x"}, ROWS[1] | {"event_id": "x"}]))
    summary = import_paths(lake, [path])
    assert (summary.imported, summary.duplicates, summary.repeats, summary.quarantine_files) == (1, 1, 0, [])


BOUNDS = {
    "ts=0001-01-01": {"ts": "0001-01-01T00:00:00Z"},
    "ts=1900-": {"ts": "1900-06-01T00:00:00Z"},
    "ts=2200-": {"ts": "2200-01-01T00:00:00Z"},
    "input_tokens=9223372036854775807 is over the bound of 1e+12 per event": {"input_tokens": 2**63 - 1},
    "cost_usd=1e+308 is over the bound of 1e+07 per event": {"cost_usd": 1e308},
    "latency_ms=1000000000000000.0 is over the bound of 1e+10 per event": {"latency_ms": 1e15},
    "project='a\x00b' must be printable": {"project": "a\x00b"},
    "model='gpt-4o\nrm -rf' must be printable": {"model": "gpt-4o\nrm -rf"},
}


@pytest.mark.parametrize("message", BOUNDS)
def test_implausible_values_are_quarantined_naming_the_bound(lake, tmp_path, message):
    path = tmp_path / "usage.jsonl"
    path.write_text(jsonl([ROWS[0] | BOUNDS[message], ROWS[1]]))
    summary = import_paths(lake, [path])
    assert (summary.imported, summary.quarantined) == (1, 1)
    assert summary.errors[0].startswith("usage.jsonl line 1: ") and message in summary.errors[0], summary.errors
    if message.startswith("ts"):
        assert "is outside 2000-01-01 … a day from now (the schema's bounds)" in summary.errors[0]


def test_timestamps_up_to_a_day_ahead_are_accepted():
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(hours=20)
    frame = pl.DataFrame([ROWS[0] | {"ts": soon.isoformat()}])
    assert s.validate(frame).events.height == 1
    assert s.validate(frame, now=soon - dt.timedelta(days=2)).events.height == 0


def test_the_tracker_refuses_the_same_implausible_values(tmp_path):
    with Tracker(tmp_path / "lake", spill_dir=tmp_path / "spill") as tracker:
        with pytest.raises(ValidationError, match="input_tokens=.* is over the bound"):
            tracker.log(provider="openai", model="gpt-4o", input_tokens=2**63 - 1)
        with pytest.raises(ValidationError, match=r"cost_usd=.* is over the bound of 1e\+07 per event"):
            tracker.log(provider="openai", model="gpt-4o", cost_usd=1e308)
        with pytest.raises(ValidationError, match="is outside 2000-01-01"):
            tracker.log(provider="openai", model="gpt-4o", ts=dt.datetime(1900, 1, 1, tzinfo=dt.UTC))
        with pytest.raises(ValidationError, match="must be printable"):
            tracker.log(provider="openai", model="gpt-4o", project="a\nb")
