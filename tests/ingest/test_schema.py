import datetime as dt

import polars as pl
import pyarrow as pa
from hypothesis import given, settings, strategies as st

from ingest import schema as s


def raw(**overrides):
    row = {"ts": "2026-01-05T10:00:00Z", "provider": "openai", "model": "gpt-4o", "service": "llm",
           "input_tokens": "10", "output_tokens": "5"}
    row.update(overrides)
    return pl.DataFrame([row], schema={k: pl.String for k in row})


def error_of(**overrides) -> str:
    result = s.validate(raw(**overrides))
    assert result.events.height == 0
    return result.rejected["error"].item()


def test_a_valid_record_is_typed_to_the_schema():
    result = s.validate(raw())
    assert result.rejected.height == 0
    assert result.events.schema == s.POLARS_SCHEMA
    assert result.events.row(0, named=True)[s.TS] == dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC)


def test_errors_name_the_record_field_value_and_rule():
    assert error_of(input_tokens="-5") == "record 1: input_tokens='-5' must be ≥ 0"
    assert error_of(service="llmz").startswith("record 1: service='llmz' is not a known service")
    assert error_of(input_tokens="1.5") == "record 1: input_tokens='1.5' is not a whole number"
    assert error_of(cost_usd="nan") == "record 1: cost_usd='nan' must be a finite number"
    assert error_of(cost_usd="-0.1") == "record 1: cost_usd='-0.1' must be ≥ 0"
    assert error_of(ts="yesterday") == "record 1: ts='yesterday' is not an ISO 8601 timestamp"
    assert error_of(model="") == "record 1: model is missing"
    assert "is longer than 512 characters" in error_of(project="x" * 600)
    assert "must be ≤ output_tokens" in error_of(reasoning_tokens="9")
    assert "must be ≤ cache_write_tokens" in error_of(cache_write_1h_tokens="3")


def test_every_broken_field_is_reported_at_once():
    message = error_of(input_tokens="-1", service="x", ts="2026-13-01")
    assert message.count(";") == 2


def test_naive_timestamps_are_rejected_unless_a_zone_is_given():
    assert "has no time zone" in error_of(ts="2026-01-05T10:00:00")
    converted = s.validate(raw(ts="2026-07-05T10:00:00"), tz="Europe/Paris").events
    assert converted[s.TS].item() == dt.datetime(2026, 7, 5, 8, tzinfo=dt.UTC)


def test_offsets_are_converted_to_utc():
    events = s.validate(raw(ts="2026-01-05 10:00:00+02:00")).events
    assert events[s.TS].item() == dt.datetime(2026, 1, 5, 8, tzinfo=dt.UTC)


def test_good_records_survive_bad_neighbours():
    frame = pl.concat([raw(), raw(input_tokens="-3"), raw(model="gpt-4o-mini")])
    result = s.validate(frame)
    assert result.events[s.MODEL].to_list() == ["gpt-4o", "gpt-4o-mini"]
    assert result.rejected["record"].to_list() == [2]


def test_wrong_types_in_typed_input_are_errors_not_crashes():
    frame = pl.DataFrame({"ts": [dt.datetime(2026, 1, 5, tzinfo=dt.UTC)], "provider": ["openai"],
                          "model": ["gpt-4o"], "service": ["llm"], "input_tokens": [True]})
    assert "input_tokens='true'" in s.validate(frame).rejected["error"].item() or \
        "input_tokens=true" in s.validate(frame).rejected["error"].item()


def test_missing_ids_are_deterministic():
    a = s.validate(raw()).events[s.EVENT_ID].item()
    b = s.validate(raw()).events[s.EVENT_ID].item()
    c = s.validate(raw(input_tokens="11")).events[s.EVENT_ID].item()
    assert a == b != c


def test_one_arrow_schema_without_dictionaries_or_nanoseconds():
    assert s.ARROW_SCHEMA.field(s.TS).type == pa.timestamp("us", tz="UTC")
    assert not any(pa.types.is_dictionary(f.type) for f in s.ARROW_SCHEMA)
    assert s.ARROW_SCHEMA.names == list(s.COLUMNS)


RULE_WORDS = (s.MISSING, s.OUTSIDE, s.NOT_TEXT, s.UNPRINTABLE, s.UNKNOWN_SERVICE, s.NOT_WHOLE, s.NOT_NUMBER,
              s.NOT_FINITE, s.NEGATIVE, s.NOT_BOOLEAN, s.ONE_HOUR_OVER_WRITES, s.REASONING_OVER_OUTPUT,
              s.too_long(s.MAX_STRING), s.over_bound(s.MAX_COUNT), s.over_bound(s.MAX_AMOUNT), s.over_bound(s.MAX_COST))


def broken_rules(messages: list[str]) -> set[tuple[str, str]]:
    """(column, rule) of each message: the value shown between them may be written differently."""
    return {(m.split("=")[0].split(" ")[0], next(w for w in RULE_WORDS if m.endswith(w))) for m in messages}


names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=600) | st.sampled_from(
    ["openai", " gpt-4o ", "", "  ", "a\nb", "x" * 513, "llm", "LLM", "chat"])
counts = st.integers(-5, 2 * 10**12) | st.sampled_from([0, -1, 10**12, 10**12 + 1])
amounts = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.5, 1e7, 1e7 + 1, 1e10 + 1])


@settings(max_examples=400, deadline=None)
@given(record=st.fixed_dictionaries(
    {s.TS: st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2031, 1, 1), timezones=st.just(dt.UTC)),
     s.PROVIDER: names, s.MODEL: names, s.SERVICE: names},
    optional={s.PROJECT: names, s.STAGE: names, s.UNIT: names, s.INPUT_TOKENS: counts, s.OUTPUT_TOKENS: counts,
              s.REASONING_TOKENS: counts, s.CACHE_WRITE_TOKENS: counts, s.CACHE_WRITE_1H_TOKENS: counts,
              s.LATENCY_MS: amounts, s.QUANTITY: amounts, s.COST: amounts, s.SUCCESS: st.booleans()}))
def test_one_record_breaks_the_same_rules_in_the_tracker_as_in_validate(record):
    """`check_record` (the Tracker's per-call check) and `validate` (every import) are one set of
    rules in one set of words."""
    now = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
    rejected = s.validate(pl.DataFrame([record]), now=now).rejected
    frame_says = rejected["error"][0].split(": ", 1)[1].split("; ") if rejected.height else []
    assert broken_rules(s.check_record(record, now=now)) == broken_rules(frame_says)
