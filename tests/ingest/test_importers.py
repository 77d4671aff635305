import json

import polars as pl
import pytest

from ingest import schema as s
from ingest.errors import ImportFormatError
from ingest.importers import detect, import_paths
from tests.conftest import FIXTURES

SEED_LOG = FIXTURES / "costs_2025-01-21.jsonl"


def test_seed_cost_logs_need_a_zone_for_their_naive_timestamps(lake):
    summary = import_paths(lake, [SEED_LOG])
    assert summary.imported == 0
    assert any("has no time zone (give an offset or --tz)" in e for e in summary.errors)


def test_seed_cost_logs_import_with_reported_costs_and_quarantine(lake):
    summary = import_paths(lake, [SEED_LOG], tz="Europe/Berlin")
    assert (summary.imported, summary.quarantined) == (3, 2)
    assert len(summary.quarantine_files) == 1
    events = lake.scan().collect().sort(s.TS)
    assert events[s.PROVIDER].to_list() == ["google", "google", "elevenlabs"]
    assert events[s.SERVICE].to_list() == ["llm", "image", "tts"]
    assert events[s.COST_SOURCE].unique().to_list() == ["reported"]
    assert events[s.COST].sum() == pytest.approx(0.000375 + 0.02 + 0.3)
    assert events[s.TS][0].hour == 9  # 10:00 in Berlin is 09:00 UTC in January
    # the LLM call is also priced by the book; the image predates the catalog's first price for
    # gemini-2.5-flash-image (2025-08-26), so the book does not price it: the reported cost counts
    assert events.row(0, named=True)[s.COMPUTED_COST] == pytest.approx((500 * 0.1 + 800 * 0.4) / 1e6)
    assert events.row(1, named=True)[s.COMPUTED_COST] is None
    quarantined = [json.loads(line) for p in summary.quarantine_files for line in p.read_text().splitlines()]
    reasons = sorted(q["error"] for q in quarantined)
    assert reasons == ["costs_2025-01-21.jsonl line 4: cost_usd='-1' must be ≥ 0",
                       "costs_2025-01-21.jsonl line 5: not valid JSON (Expecting property name enclosed in double quotes)"]
    assert all(q["data"]["text"] for q in quarantined)


def test_reimporting_a_file_changes_no_total(lake):
    import_paths(lake, [SEED_LOG], tz="Europe/Berlin")
    before = lake.scan().select(pl.len(), pl.col(s.COST).sum()).collect().row(0)
    again = import_paths(lake, [SEED_LOG], tz="Europe/Berlin", remember=False)
    assert (again.imported, again.duplicates) == (0, 3)
    assert lake.scan().select(pl.len(), pl.col(s.COST).sum()).collect().row(0) == before


def test_generic_csv_with_a_column_mapping(lake, tmp_path):
    path = tmp_path / "usage.csv"
    path.write_text("when,vendor,model,service,input_tokens,output_tokens\n"
                    "2026-01-05T10:00:00Z,openai,gpt-4o,llm,1000000,0\n"
                    "2026-01-05T11:00:00Z,openai,gpt-4o,llm,-4,0\n")
    summary = import_paths(lake, [path], mapping={"when": "ts", "vendor": "provider"})
    assert (summary.imported, summary.quarantined) == (1, 1)
    assert summary.errors == ["usage.csv line 3: input_tokens='-4' must be ≥ 0"]
    assert lake.scan().collect()[s.COST].item() == pytest.approx(2.5)
    assert import_paths(lake, [path], mapping={"when": "ts", "vendor": "provider"}, remember=False).duplicates == 1


def test_generic_parquet_and_jsonl_in_schema_columns(lake, tmp_path):
    frame = pl.DataFrame({"event_id": ["a", "b"], "ts": ["2026-01-05T10:00:00Z"] * 2, "provider": ["openai"] * 2,
                          "model": ["gpt-4o-mini"] * 2, "service": ["llm"] * 2, "input_tokens": [10, 20]})
    frame.write_parquet(tmp_path / "a.parquet")
    frame.with_columns(event_id=pl.lit("c") + pl.col("event_id")).write_ndjson(tmp_path / "b.jsonl")
    summary = import_paths(lake, [tmp_path])
    assert summary.imported == 4
    assert sorted(lake.scan().collect()[s.EVENT_ID]) == ["a", "b", "ca", "cb"]


def test_formats_are_detected_by_content():
    assert detect(b"PAR1....") == "parquet"
    assert detect(SEED_LOG.read_bytes()) == "costs-jsonl"
    assert detect(b'{"ts": "x"}\n') == "jsonl"
    with pytest.raises(ImportFormatError, match="pass --format"):
        detect(b"hello world")


def test_unknown_mapping_targets_are_refused(lake, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ImportFormatError, match="unknown event columns"):
        import_paths(lake, [path], mapping={"a": "tokens"})


def test_jsonl_with_a_value_of_the_wrong_type_names_its_line(lake, tmp_path):
    path = tmp_path / "usage.jsonl"
    good = '{"ts": "2026-01-05T10:00:00Z", "provider": "openai", "model": "gpt-4o", "service": "llm", "input_tokens": 5}'
    bad = good.replace('"input_tokens": 5', '"input_tokens": "abc"')
    path.write_text(f"{good}\n\n{bad}\n")
    summary = import_paths(lake, [path])
    assert (summary.imported, summary.quarantined) == (1, 1)
    assert summary.errors == ["usage.jsonl line 3: input_tokens='abc' is not a whole number"]
    quarantined = json.loads(summary.quarantine_files[0].read_text())
    assert quarantined["data"]["text"] == bad


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_an_ordinary_export_imports_with_its_own_column_names(lake, tmp_path, suffix):
    """timestamp / prompt_tokens / completion_tokens / cost as people export them; service from the model."""
    from genai_prices import Usage, calc_price
    rows = [{"Timestamp": "2026-12-01T10:00:00Z", "provider": "openai", "model": "gpt-4o", "Prompt Tokens": 1000,
             "completion_tokens": 200, "project": "web"},
            {"Timestamp": "2026-12-01T11:00:00Z", "provider": "elevenlabs", "model": "eleven_v3", "service": "tts",
             "chars": 500, "cost": 0.15, "project": "web"}]
    path = tmp_path / f"export.{suffix}"
    if suffix == "csv":
        pl.DataFrame(rows).write_csv(path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = import_paths(lake, [path])
    assert (summary.imported, summary.quarantined) == (2, 0), summary.errors
    got = lake.scan().sort(s.TS).collect()
    assert got[s.SERVICE].to_list() == ["llm", "tts"] and got[s.INPUT_TOKENS].to_list() == [1000, 0]
    assert got[s.CHARACTERS].to_list()[1] == 500 and got[s.COST_SOURCE].to_list() == ["computed", "reported"]
    expected = float(calc_price(Usage(input_tokens=1000, output_tokens=200), "gpt-4o", provider_id="openai",
                                genai_request_timestamp=got[s.TS][0]).total_price)
    assert got[s.COST].to_list() == pytest.approx([expected, 0.15], rel=1e-12)


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_a_file_no_importer_knows_gets_one_message_naming_its_keys(lake, tmp_path, suffix):
    """Not one quarantine line per record: one line for the file, what was tried, what its records
    hold; --format still forces a reading."""
    path = tmp_path / f"export.{suffix}"
    rows = [{"user_handle": f"u{i}", "plan": "pro", "seats": i} for i in range(300)]
    path.write_text("\n".join(json.dumps(r) for r in rows) if suffix == "jsonl" else
                    "user_handle,plan,seats\n" + "\n".join(f"u{i},pro,{i}" for i in range(300)))
    summary = import_paths(lake, [path])
    assert summary.quarantined == 0 and len(summary.failed) == 1
    (message,) = summary.failed
    assert "no importer recognises it" in message and "codex" in message and "claude-code" in message
    assert "user_handle, plan, seats" in message and f"--format {suffix}" in message
    forced = import_paths(lake, [path], format=suffix)
    assert forced.quarantined == 300 and not forced.failed  # read as asked: every record named with its problem
