"""Events sent to a running `spendlake serve`: what lands, what each record's answer says, bad input,
keys and the queue's limit. Costs are checked against genai-prices' own `calc_price`."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import threading
import time

import polars as pl
import pyarrow as pa
import pytest
from genai_prices import Usage, calc_price

import analytics
from ingest import schema as s
from ingest.lake import Lake
from spendlake import keys
from tests.server.server import client, running

DAY = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)


def event(i: int, **fields) -> dict:
    return {"event_id": f"ev-{i}", "ts": (DAY + dt.timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
            "provider": "openai", "model": "gpt-4o", "service": "llm", "input_tokens": 1000 + i,
            "output_tokens": 100 + i, "project": "shop", **fields}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("served") / "lake"
    lake = Lake(root)
    tokens = {"admin": keys.create(lake, "admin", "admin"), "ingest": keys.create(lake, "ingest", "ingest"),
              "read": keys.create(lake, "read", "read"),
              "shop-ingest": keys.create(lake, "shop-ingest", "ingest", projects=["shop"]),
              "shop-read": keys.create(lake, "shop-read", "read", projects=["shop"]),
              "old": keys.create(lake, "old", "admin")}
    keys.revoke(lake, "old")
    with running(root) as url:
        yield lake, url, tokens


def events_of(lake: Lake, prefix: str) -> pl.DataFrame:
    return analytics.scan(lake).filter(pl.col(s.EVENT_ID).str.starts_with(prefix)).collect().sort(s.EVENT_ID)


def test_a_json_array_lands_and_each_record_is_answered(served):
    lake, url, tokens = served
    good = [event(1, event_id="a-1"), event(2, event_id="a-2")]
    bad = {"event_id": "a-3", "ts": "yesterday", "provider": "acme", "model": "acme-1"}  # no service (nor a known model), bad ts
    with client(url, tokens["ingest"]) as http:
        first = http.post("/v1/events", json=[*good, bad, good[0]])
        assert first.status_code == 422
        body = first.json()
        assert "1 of 4 records rejected" in body["error"]["message"]
        assert [(r["record"], r["status"]) for r in body["records"]] == [
            (1, "written"), (2, "written"), (3, "rejected"), (4, "duplicate")]
        assert body["records"][2]["fields"] == ["service", "ts"] and "yesterday" in body["records"][2]["error"]
        again = http.post("/v1/events", json=good)  # a retry: exact, by id
    assert again.status_code == 200 and again.json()["duplicate"] == 2 and again.json()["written"] == 0
    landed = events_of(lake, "a-")
    assert landed[s.EVENT_ID].to_list() == ["a-1", "a-2"]
    for r in landed.iter_rows(named=True):
        expected = calc_price(Usage(input_tokens=r[s.INPUT_TOKENS], output_tokens=r[s.OUTPUT_TOKENS]), "gpt-4o",
                              provider_id="openai", genai_request_timestamp=r[s.TS])
        assert r[s.COST] == pytest.approx(float(expected.total_price), rel=1e-12)
    quarantined = [json.loads(line) for f in lake.quarantine_dir.glob("*-http-*")
                   for line in f.read_text().splitlines()]
    [kept] = [q for q in quarantined if "a-3" in json.dumps(q["data"])]  # the bad record is kept, with its reason
    assert kept["error"].startswith("ingest/events item 3: ") and "yesterday" in kept["error"]


def test_json_lines_gzip_and_arrow_streams_land_once(served):
    lake, url, tokens = served
    batch = [event(i, event_id=f"b-{i}") for i in range(50)]
    lines = gzip.compress(b"".join(json.dumps(e).encode() + b"\n" for e in batch[:30]))
    sink = io.BytesIO()
    table = pa.Table.from_pylist(batch[20:])
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    with client(url, tokens["ingest"]) as http:
        ndjson = http.post("/v1/events", content=lines, headers={"content-type": "application/x-ndjson",
                                                                  "content-encoding": "gzip"})
        arrow = http.post("/v1/events", content=sink.getvalue(),
                          headers={"content-type": "application/vnd.apache.arrow.stream"})
    assert (ndjson.status_code, ndjson.json()["written"]) == (200, 30)
    assert (arrow.status_code, arrow.json()["written"], arrow.json()["duplicate"]) == (200, 20, 10)
    assert arrow.json()["numbered_by"] == "row"
    assert events_of(lake, "b-")[s.EVENT_ID].to_list() == sorted(e["event_id"] for e in batch)


@pytest.mark.parametrize("content, headers, status, words", [
    (b'[{"ts": ', {"content-type": "application/json"}, 400, "not a readable JSON array"),
    (b'{"a": 1}', {"content-type": "text/csv"}, 415, "content type 'text/csv'"),
    (b"\x00\x01not gzip", {"content-type": "application/x-ndjson", "content-encoding": "gzip"}, 400, "not valid gzip"),
    (b"not arrow", {"content-type": "application/vnd.apache.arrow.stream"}, 400, "not an Arrow IPC stream"),
    (b"x" * (33 << 20), {"content-type": "application/json"}, 413, "send at most"),
])
def test_bad_bodies_get_a_json_error_and_the_server_keeps_serving(served, content, headers, status, words):
    _, url, tokens = served
    with client(url, tokens["ingest"]) as http:
        answer = http.post("/v1/events", content=content, headers=headers)
        assert answer.status_code == status, answer.text
        assert words in answer.json()["error"]["message"]
        assert http.get("/healthz").status_code == 200


def test_broken_protobuf_is_refused_with_a_message(served):
    _, url, tokens = served
    with client(url, tokens["ingest"]) as http:
        answer = http.post("/v1/traces", content=b"\xff\xff\xff garbage", headers={"content-type": "application/x-protobuf"})
    assert answer.status_code == 400 and "not an OTLP protobuf trace export" in answer.json()["error"]["message"]


@pytest.mark.parametrize("query, parameter", [
    ("by=provider&tpo=3", "tpo"), ("from=2026-13-01", "from"), ("period=fortnight", "period"),
    ("from=2026-02-01&to=2026-01-01", "from"), ("top=0", "top"),
])
def test_bad_parameters_get_422_naming_the_parameter(served, query, parameter):
    _, url, tokens = served
    with client(url, tokens["read"]) as http:
        answer = http.get(f"/v1/costs?{query}")
    assert answer.status_code == 422 and answer.json()["error"]["parameter"] == parameter, answer.text


@pytest.mark.parametrize("who, method, path, status", [
    (None, "GET", "/v1/costs", 401), ("nonsense", "GET", "/v1/costs", 401), ("old", "GET", "/v1/costs", 401),
    ("read", "POST", "/v1/events", 403), ("ingest", "GET", "/v1/costs", 403), ("ingest", "GET", "/metrics", 403),
    ("read", "PUT", "/v1/budgets/x", 403), ("shop-read", "GET", "/v1/costs?project=other", 403),
    ("shop-read", "GET", "/v1/reports/monthly?project=other", 403),
])
def test_keys_are_enforced(served, who, method, path, status):
    lake, url, tokens = served
    with client(url, tokens.get(who, who)) as http:
        answer = http.request(method, path, json=[event(0, event_id="sec-1")] if method == "POST" else
                              {"limit_usd": 5} if method == "PUT" else None)
    assert answer.status_code == status, answer.text
    assert "error" in answer.json()
    assert events_of(lake, "sec-").height == 0


def test_a_project_key_writes_and_reads_only_its_project(served):
    lake, url, tokens = served
    with client(url, tokens["shop-ingest"]) as http:
        refused = http.post("/v1/events", json=[event(1, event_id="p-1"), event(2, event_id="p-2", project="other")])
        assert refused.status_code == 403 and "record 2" not in refused.text and "item 2" in refused.text
        assert events_of(lake, "p-").height == 0  # nothing of the request was written
        assert http.post("/v1/events", json=[event(1, event_id="p-1")]).status_code == 200
    with client(url, tokens["admin"]) as http:
        assert http.post("/v1/events", json=[event(3, event_id="p-3", project="other")]).status_code == 200
        everyone = http.get("/v1/costs?by=project").json()
    with client(url, tokens["shop-read"]) as http:
        mine = http.get("/v1/costs?by=project").json()
        assert http.get(f"/v1/runs/{'x'}").status_code == 404
    assert {r["project"] for r in everyone} >= {"shop", "other"}
    assert [r["project"] for r in mine] == ["shop"]


def test_a_full_queue_answers_503_with_retry_after(tmp_path):
    lake = Lake(tmp_path / "lake")
    token = keys.create(lake, "ingest", "ingest")
    answers: list = []
    with running(lake.root, "--max-queued", "10") as url, client(url, token) as http:
        def send(i: int) -> None:
            answers.append(http.post("/v1/events", json=[event(k, event_id=f"q-{i}-{k}") for k in range(6)]))
        senders = []
        with lake.lock():  # the committing thread waits for the lake: requests queue up
            for i in range(20):
                senders.append(threading.Thread(target=send, args=(i,)))
                senders[-1].start()
                time.sleep(0.3)
                if any(a.status_code == 503 for a in answers):
                    break
        for t in senders:
            t.join()
    busy = [a for a in answers if a.status_code == 503]
    assert busy, [(a.status_code, a.text[:200]) for a in answers]
    assert busy[0].headers["retry-after"] == "1" and "busy" in busy[0].json()["error"]["message"]
    written = [a.json()["written"] for a in answers if a.status_code == 200]
    assert len(written) + len(busy) == len(answers) and len(written) >= 2, [(a.status_code, a.text[:200]) for a in answers]
    assert events_of(lake, "q-").height == sum(written) == 6 * len(written)  # queued requests land once the lake is free


def test_too_many_records_in_one_request_are_refused_whole(monkeypatch):
    from spendlake import intake
    monkeypatch.setattr(intake, "MAX_EVENTS", 3)
    body = "\n".join(json.dumps(event(i)) for i in range(4)).encode()
    with pytest.raises(intake.BodyError) as refused:
        intake.read_body(body, "application/x-ndjson")
    assert refused.value.status == 413 and "send at most 3 a request" in str(refused.value)


def test_the_server_listens_beyond_this_machine_only_once_a_key_exists(tmp_path):
    from typer.testing import CliRunner
    from spendlake.cli import app
    result = CliRunner().invoke(app, ["serve", "--lake", str(tmp_path / "lake"), "--host", "0.0.0.0"])
    assert result.exit_code != 0 and "has no API key yet" in str(result.exception or result.output)


def test_the_sums_are_folded_beside_the_commits_and_stay_exact(tmp_path, monkeypatch):
    from ingest import rollups
    from ingest.pricing import PriceBook
    from spendlake import intake
    monkeypatch.setattr(rollups, "FOLD_AFTER", 3)
    lake = Lake(tmp_path / "lake")
    committer = intake.Committer(lake, PriceBook.load)
    for n in range(12):  # one request a group: every commit adds one file of sums
        body = json.dumps([event(k, event_id=f"f-{n}-{k}") for k in range(5)]).encode()
        committer.submit(intake.Request(intake.read_body(body, intake.JSON), "test")).result(timeout=60)
    committer.close()  # waits for the folding thread
    added = list(rollups.rollup_dir(lake, "daily").glob(f"{rollups.ADDED}/*/*.parquet"))
    assert len(added) <= rollups.FOLD_AFTER + 1  # folded as they came, not left to pile up
    assert rollups.uncovered(lake) == []
    by_day = analytics.daily(lake).group_by("date").agg(pl.col("calls").sum(), pl.col(s.COST).sum()).collect()
    raw = lake.scan().group_by(s.DATE).agg(pl.len().alias("calls"), pl.col(s.COST).sum()).collect()
    assert by_day.rows() == raw.rename({s.DATE: "date"}).cast({"calls": by_day["calls"].dtype}).rows()
    assert raw["calls"].sum() == 60


def test_a_cost_sent_in_euros_lands_in_dollars_at_its_days_rate_and_an_unknown_currency_is_named(served, ecb_per_usd):
    from tests.helpers import rate_on
    lake, url, tokens = served
    sent = [event(1, event_id="fx-1", cost_usd=2.5, currency="EUR"), event(2, event_id="fx-2", cost_usd=2.5, currency="QQQ")]
    with client(url, tokens["ingest"]) as http:
        answer = http.post("/v1/events", json=sent)
    assert answer.status_code == 422
    record = answer.json()["records"][1]
    assert record["status"] == "rejected" and record["fields"] == ["currency"] and "QQQ" in record["error"]
    [landed] = events_of(lake, "fx-").iter_rows(named=True)
    assert landed[s.COST] == pytest.approx(2.5 / rate_on(ecb_per_usd["EUR"], DAY.date())[1], rel=1e-12)
    assert json.loads(landed[s.TAGS]) == {"billed_amount": 2.5, "billed_currency": "EUR"}
