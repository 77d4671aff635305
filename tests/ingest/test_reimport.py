"""Re-importing is cheap: unchanged files are skipped, appended ones read from where the last
import stopped, changed ones read again whole; large files are read in pieces that give the
same events and the same line numbers as one read."""

import json
import os

import polars as pl
import pytest

import ingest.importers as importers
from ingest import schema as s
from ingest.importers import import_paths
from tests.conftest import FIXTURES

LINE = '{"ts": "2026-01-05T10:%02d:00Z", "provider": "openai", "model": "gpt-4o", "service": "llm", "input_tokens": %d}\n'


def lines(first: int, last: int) -> str:
    return "".join(LINE % (i % 60, i) for i in range(first, last))


def tokens(lake) -> list[int]:
    return sorted(lake.scan().collect()[s.INPUT_TOKENS])


def test_an_unchanged_file_is_skipped_and_an_appended_one_read_from_where_it_stopped(lake, tmp_path, monkeypatch):
    log = tmp_path / "usage.jsonl"
    log.write_text(lines(0, 50))
    assert import_paths(lake, [log]).imported == 50
    assert import_paths(lake, [log]).unchanged == 1
    parsed_bytes = []
    real = importers.PARSERS["jsonl"]
    monkeypatch.setitem(importers.PARSERS, "jsonl", lambda data, mapping, **hint: parsed_bytes.append(data) or real(data, mapping, **hint))
    with open(log, "a") as f:
        f.write(lines(50, 53) + '{"ts": "nonsense", "provider": "openai", "model": "gpt-4o", "service": "llm"}\n')
    summary = import_paths(lake, [log])
    assert (summary.imported, summary.duplicates, summary.quarantined) == (3, 0, 1)
    assert parsed_bytes == [(lines(50, 53) + '{"ts": "nonsense", "provider": "openai", "model": "gpt-4o", '
                             '"service": "llm"}\n').encode()]  # only what was appended
    assert summary.errors == ["usage.jsonl line 54: ts='nonsense' is not an ISO 8601 timestamp"]
    assert tokens(lake) == list(range(53))


def test_a_line_being_written_is_read_again_when_it_is_whole(lake, tmp_path):
    log = tmp_path / "usage.jsonl"
    whole = LINE % (1, 1)
    log.write_text(lines(0, 1) + whole[:30])  # the second line cut off mid-write
    first = import_paths(lake, [log])
    assert (first.imported, first.quarantined) == (1, 1)
    log.write_text(lines(0, 1) + whole)
    again = import_paths(lake, [log])
    assert (again.imported, again.quarantined) == (1, 0)
    assert tokens(lake) == [0, 1]


@pytest.mark.parametrize("change", ["shrank", "rewritten to the same size", "rewritten and grown"])
def test_a_file_that_shrank_or_changed_is_read_again_whole(lake, tmp_path, change):
    log = tmp_path / "usage.jsonl"
    log.write_text(lines(0, 20))
    import_paths(lake, [log])
    new = {"shrank": lines(0, 10), "rewritten to the same size": lines(20, 40),
           "rewritten and grown": lines(100, 140)}[change]
    log.write_text(new)
    stat = log.stat()
    os.utime(log, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    summary = import_paths(lake, [log])
    assert summary.imported + summary.duplicates == len(new.splitlines())
    assert set(tokens(lake)) >= {json.loads(line)["input_tokens"] for line in new.splitlines()}


def test_other_options_read_the_file_again(lake, tmp_path):
    log = FIXTURES / "costs_2025-01-21.jsonl"
    import_paths(lake, [log], tz="Europe/Berlin")
    assert import_paths(lake, [log], tz="Europe/Berlin").unchanged == 1
    assert import_paths(lake, [log], tz="UTC").unchanged == 0


def test_an_appended_csv_is_read_on_with_its_header(lake, tmp_path):
    path = tmp_path / "usage.csv"
    row = "2026-01-05T10:00:00Z,openai,gpt-4o,llm,%d\n"
    path.write_text("ts,provider,model,service,input_tokens\n" + row % 1 + row % 2)
    import_paths(lake, [path])
    with open(path, "a") as f:
        f.write(row % 3 + "2026-01-05T10:00:00Z,openai,gpt-4o,llm,-4\n")
    summary = import_paths(lake, [path])
    assert summary.imported == 1 and summary.errors == ["usage.csv line 5: input_tokens='-4' must be ≥ 0"]
    assert tokens(lake) == [1, 2, 3]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "claude-code"])
def test_a_large_file_read_in_pieces_gives_what_one_read_gives(tmp_path, monkeypatch, fmt):
    from ingest.lake import Lake
    if fmt == "claude-code":
        source = next((FIXTURES / "claude-code").rglob("session-basic.jsonl"))
        path = tmp_path / "big.jsonl"
        path.write_bytes(source.read_bytes() * 3)  # repeated replies count once however they are cut
    else:
        rows = [json.loads(line) for line in lines(0, 3000).splitlines()]
        rows[1234]["input_tokens"] = -1  # one bad record, to check its line number
        path = tmp_path / f"big.{fmt}"
        frame = pl.DataFrame(rows)
        {"jsonl": frame.write_ndjson, "csv": frame.write_csv, "parquet": frame.write_parquet}[fmt](path)
    whole = import_paths(Lake(tmp_path / "whole"), [path], remember=False)
    monkeypatch.setattr(importers, "PIECE_BYTES", 0)  # every file is "large": read in pieces
    monkeypatch.setattr("ingest.importers.pieces.PIECE_BYTES", 4096)
    monkeypatch.setattr("ingest.importers.pieces.PIECE_ROWS", 100)
    calls = []
    if fmt == "parquet":
        real = importers.generic.parquet_frame
        monkeypatch.setattr(importers.generic, "parquet_frame", lambda *a, **k: calls.append(1) or real(*a, **k))
    else:
        real = importers.PARSERS[fmt]
        monkeypatch.setitem(importers.PARSERS, fmt, lambda data, mapping, **hint: calls.append(1) or real(data, mapping, **hint))
    pieces = import_paths(Lake(tmp_path / "pieces"), [path], remember=False)
    assert len(calls) > 3  # it was read in pieces
    assert (pieces.imported, pieces.quarantined, pieces.errors) == (whole.imported, whole.quarantined, whole.errors)
    assert whole.imported > 0
    if fmt != "claude-code":
        assert whole.errors == [f"big.{fmt} {'row' if fmt == 'parquet' else 'line'} "
                                f"{1235 + (fmt == 'csv')}: input_tokens{'=' if fmt == 'parquet' else '='}"
                                + ("'-1'" if fmt == "csv" else "-1") + " must be ≥ 0"]
    read = [Lake(tmp_path / name).scan().select(s.EVENT_ID, s.COST).collect().sort(s.EVENT_ID) for name in ("whole", "pieces")]
    assert read[0].equals(read[1])


def test_lines_appended_while_a_file_is_read_are_read_next_time(lake, tmp_path, monkeypatch):
    log = tmp_path / "usage.jsonl"
    log.write_text(lines(0, 10))
    real = importers.PARSERS["jsonl"]

    def parse_then_append(data, mapping, **hint):  # a writer appends while the import is reading
        parsed = real(data, mapping, **hint)
        with open(log, "a") as f:
            f.write(lines(10, 12))
        return parsed

    monkeypatch.setitem(importers.PARSERS, "jsonl", parse_then_append)
    assert import_paths(lake, [log]).imported == 10
    monkeypatch.setitem(importers.PARSERS, "jsonl", real)
    assert import_paths(lake, [log]).imported == 2
    assert tokens(lake) == list(range(12))


def test_blank_lines_in_a_large_file_keep_every_line_number(tmp_path, monkeypatch):
    from ingest.lake import Lake
    text = lines(0, 3000).splitlines(keepends=True)
    text[2000] = text[2000].replace('"input_tokens": 2000', '"input_tokens": -1')
    path = tmp_path / "big.jsonl"
    path.write_text("".join(line + ("\n" if i % 7 == 0 else "") for i, line in enumerate(text)))  # a blank line after every 7th
    monkeypatch.setattr(importers, "PIECE_BYTES", 0)
    monkeypatch.setattr("ingest.importers.pieces.PIECE_BYTES", 4096)
    summary = import_paths(Lake(tmp_path / "lake"), [path], remember=False)
    assert summary.imported == 2999
    assert summary.errors == [f"big.jsonl line {2000 + 2000 // 7 + 2}: input_tokens=-1 must be ≥ 0"]
