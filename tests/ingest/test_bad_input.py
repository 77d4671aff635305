"""One bad record never aborts its neighbours: it goes to quarantine naming its file, line and
reason, and the rest of the file (and of the folder) lands."""

import json

import pytest

from ingest.importers import import_paths

GOOD = '{"ts": "2026-01-05T10:00:00Z", "provider": "openai", "model": "gpt-4o", "service": "llm", "input_tokens": %d}'
HEADER = "ts,provider,model,service,input_tokens"
ROW = "2026-01-05T10:00:00Z,openai,gpt-4o,llm,%d"


def quarantined(summary) -> list[dict]:
    return [json.loads(line) for f in summary.quarantine_files for line in f.read_text().splitlines()]


@pytest.mark.parametrize("value, reason", [
    ("NaN", "NaN is not a JSON number"),
    ("Infinity", "Infinity is not a JSON number"),
    ("-Infinity", "-Infinity is not a JSON number"),
    ("1e400", "1e400 is too large for a number"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_a_jsonl_line_json_does_not_allow_is_quarantined(lake, tmp_path, value, reason):
    bad = (GOOD % 2).replace("}", f', "latency_ms": {value}}}')
    path = tmp_path / "usage.jsonl"
    path.write_text(f"{GOOD % 1}\n{bad}\n{GOOD % 3}\n")
    summary = import_paths(lake, [path])
    assert (summary.imported, summary.quarantined) == (2, 1)
    (kept,) = quarantined(summary)
    assert kept["error"] == f"usage.jsonl line 2: not valid JSON ({reason})"
    assert kept["data"]["text"] == bad


@pytest.mark.parametrize("text", [f"{GOOD % 1}\n{GOOD % 2}\n", f"{HEADER}\n{ROW % 1}\n{ROW % 2}\n"])
def test_a_byte_order_mark_is_read_past(lake, tmp_path, text):
    path = tmp_path / "usage.txt"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    summary = import_paths(lake, [path])
    assert (summary.imported, summary.quarantined) == (2, 0)


def test_a_csv_row_that_is_not_utf8_is_quarantined_with_its_line(lake, tmp_path):
    path = tmp_path / "usage.csv"
    path.write_bytes(f"{HEADER},project\n{ROW % 1},a\n".encode() + (ROW % 2).encode() + b",\xff\xfe\n"
                     + f"{ROW % 3},c\n".encode())
    summary = import_paths(lake, [path])
    assert (summary.imported, summary.quarantined) == (2, 1)
    assert summary.errors == ["usage.csv line 3: not UTF-8 text"]
    assert sorted(lake.scan().collect()["input_tokens"]) == [1, 3]


def test_a_ragged_csv_row_is_quarantined_with_its_line(lake, tmp_path):
    path = tmp_path / "usage.csv"
    path.write_text(f'{HEADER}\n{ROW % 1}\n{ROW % 2},extra,"more"\n{ROW % 3}\n"2026-01-05T10:00:00Z",openai,\n')
    summary = import_paths(lake, [path])
    assert summary.errors[0] == "usage.csv line 3: has 7 fields where the header has 5"
    assert summary.imported == 2  # the short last row is read (and fails validation on its own)
    assert summary.errors[1].startswith("usage.csv line 5: ") and "model is missing" in summary.errors[1]
    assert quarantined(summary)[0]["data"]["text"] == f'{ROW % 2},extra,"more"'


def test_a_json_file_holding_an_array_of_events_is_read_as_records(lake, tmp_path):
    path = tmp_path / "events.json"
    items = [json.loads(GOOD % 1), {"ts": "2026-01-05T10:00:00Z", "provider": "openai"}, json.loads(GOOD % 3)]
    path.write_text(json.dumps(items, indent=2))
    summary = import_paths(lake, [path])
    assert (summary.imported, summary.quarantined) == (2, 1)
    assert summary.errors[0].startswith("events.json item 2: model is missing")


def test_an_empty_file_in_a_folder_is_skipped_with_a_note(lake, tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.jsonl").write_text(f"{GOOD % 1}\n")
    (tmp_path / "logs" / "b.jsonl").write_text("")
    (tmp_path / "logs" / "c.csv").write_text("\n  \n")
    summary = import_paths(lake, [tmp_path / "logs"])
    assert summary.imported == 1
    assert summary.notes == [f"{tmp_path / 'logs' / 'b.jsonl'}: empty, skipped",
                             f"{tmp_path / 'logs' / 'c.csv'}: empty, skipped"]
