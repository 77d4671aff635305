"""The server under load, on this machine's two cores (server and clients share them): prints a
Markdown table, each figure beside its reference in the same run.

    python bench/server.py [--events 400000] [--clients 8] [--batch 1000] [--seconds 10]

Events are the demo's mix, stamped over the last two hours, as a live service receives them.

1. Events per second through `POST /v1/events`, `--clients` concurrent clients sending batches of
   `--batch` events as JSON and as Arrow IPC streams, against a direct JSONL import of the same
   events into a fresh lake (goals: JSON at least half the direct rate, Arrow at least equal).
2. Requests per second of one-event requests (8 clients, `--seconds`).
3. Time to acknowledge at a steady 10,000 events/s offered (100 requests/s of 100 events, sent on
   schedule whatever the answers; latency counted from the scheduled time): p50 and p99 (goal < 100 ms),
   after 2 s at that rate to warm up (a fresh server's first commit resolves the prices of each
   model and day it meets: ~150 ms, for which every request of that moment waits).
4. The server's peak memory (VmHWM) under overload: 16 clients sending 1,000-event batches as fast
   as they can for `--seconds`, with the answers (written, 503 busy) counted.

Bodies are encoded before the clock starts; each figure runs on a fresh server and lake.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx2
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import schema as s  # noqa: E402
from ingest.importers import import_paths  # noqa: E402
from ingest.lake import Lake  # noqa: E402
from ingest.remote import arrow_stream  # noqa: E402
from lake_core import raw_events  # noqa: E402
from spendlake import keys  # noqa: E402
from tests.server.server import start, stop  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="spendlake-server-bench-"))
    rows = []
    try:
        raw = live(raw_events(args.events))
        jsonl = work / "events.jsonl"
        raw.write_ndjson(jsonl)
        started = time.perf_counter()
        assert import_paths(Lake(work / "direct"), [jsonl]).imported == raw.height
        direct = raw.height / (time.perf_counter() - started)

        batches = [raw.slice(i, args.batch) for i in range(0, raw.height, args.batch)]
        as_json = [b.write_json().encode() for b in batches]
        as_arrow = [arrow_stream(b) for b in batches]
        json_rate = _throughput(work / "json", as_json, "application/json", args.clients, raw.height)
        arrow_rate = _throughput(work / "arrow", as_arrow, "application/vnd.apache.arrow.stream", args.clients,
                                 raw.height)
        floor_json = _committer_alone(work / "alone-json", as_json, "application/json", args.clients)
        floor_arrow = _committer_alone(work / "alone-arrow", as_arrow, "application/vnd.apache.arrow.stream",
                                       args.clients)
        rows += [
            (f"POST /v1/events, JSON, {args.clients} clients × {args.batch:,}-event batches (events/s)",
             f"{json_rate:,.0f}", f"{direct:,.0f} direct JSONL import ({json_rate / direct:.2f}×)"),
            (f"POST /v1/events, Arrow IPC, {args.clients} clients × {args.batch:,}-event batches (events/s)",
             f"{arrow_rate:,.0f}", f"{direct:,.0f} direct JSONL import ({arrow_rate / direct:.2f}×)"),
            (f"… the same batches parsed and group-committed in one process, no HTTP, groups of {args.clients} "
             "(events/s): JSON; Arrow", f"{floor_json:,.0f}; {floor_arrow:,.0f}", "the floor without HTTP and clients"),
        ]
        singles = [raw.slice(i, 1).write_json().encode() for i in range(min(raw.height, 200_000))]
        rps, single_p50 = _single_requests(work / "single", singles, 8, args.seconds)
        rows.append(("one-event requests, 8 clients (requests/s; median ms)", f"{rps:,.0f}; {single_p50:.1f}", ""))
        p50, p99, missed = _steady(work / "steady", [raw.slice(i, 100).write_json().encode()
                                                     for i in range(0, min(raw.height, 200_000), 100)], args.seconds)
        rows.append(("time to acknowledge at 10,000 events/s offered (100 × 100-event requests/s): p50; p99 (ms)",
                     f"{p50:.1f}; {p99:.1f}", f"goal p99 < 100 ms{'; ' + missed if missed else ''}"))
        peak, answers = _overload(work / "overload", as_json, args.seconds)
        rows.append((f"peak memory under overload, 16 clients for {args.seconds:.0f} s (MB)", f"{peak:,.0f}",
                     f"answers: {answers}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.events:,} events; {os.cpu_count()} cores shared by server and clients; "
          f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n")
    print("| measure | Spendlake server | reference (same run) |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {' | '.join(row)} |")


def live(events: pl.DataFrame) -> pl.DataFrame:
    """The demo's events as a live service receives them: stamped over the last two hours (UTC)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    step = 7_200_000_000 // max(events.height, 1)  # microseconds apart
    stamps = pl.int_range(0, events.height, eager=True) * step
    return events.with_columns((pl.lit(now - dt.timedelta(hours=2)) + pl.duration(microseconds=stamps))
                               .dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").alias(s.TS))


def _together(threads: list[threading.Thread]) -> float:
    """Run the threads to their end; the seconds it took."""
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


class _Served:
    """A fresh lake, an ingest key and a running server."""

    def __init__(self, root: Path, *args: str) -> None:
        self.lake = Lake(root)
        self.token = keys.create(self.lake, "bench", "ingest")
        self.process, self.url = start(root, "--check-every", "0", *args)  # ingest alone: no scheduled check

    def client(self) -> httpx2.Client:
        return httpx2.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=120)

    def peak_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024

    def stop(self) -> None:
        stop(self.process)


def _throughput(root: Path, bodies: list[bytes], kind: str, clients: int, events: int) -> float:
    served = _Served(root)
    todo = iter(enumerate(bodies))
    lock = threading.Lock()
    failures = []

    def client() -> None:
        with served.client() as http:
            while True:
                with lock:
                    item = next(todo, None)
                if item is None:
                    return
                answer = http.post("/v1/events", content=item[1], headers={"content-type": kind})
                if answer.status_code != 200:
                    failures.append(answer.text[:200])
    try:
        took = _together([threading.Thread(target=client) for _ in range(clients)])
    finally:
        served.stop()
    assert not failures, failures[:3]
    landed = served.lake.scan().select(pl.len()).collect().item()
    assert landed == events, (landed, events)
    return events / took


def _committer_alone(root: Path, bodies: list[bytes], kind: str, group: int) -> float:
    """The server's own path without HTTP: each body read as a request is, then committed in
    groups of `group` requests, as the committing thread takes them when every client waits."""
    from spendlake import intake
    from ingest.pricing import PriceBook
    lake = Lake(root)
    book = PriceBook.load(lake.overrides_path)
    committer = intake.Committer(lake, lambda: book)
    started = time.perf_counter()
    events = 0
    for i in range(0, len(bodies), group):
        requests = [intake.Request(intake.read_body(b, kind), "bench") for b in bodies[i:i + group]]
        events += sum(a.counts()["written"] for a in committer.commit(requests))
    took = time.perf_counter() - started
    committer.close()
    return events / took


def _single_requests(root: Path, bodies: list[bytes], clients: int, seconds: float) -> tuple[float, float]:
    served = _Served(root)
    times: list[float] = []
    todo = iter(bodies)
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        with served.client() as http:
            while time.perf_counter() < deadline:
                with lock:
                    body = next(todo, None)
                if body is None:
                    return
                sent = time.perf_counter()
                assert http.post("/v1/events", content=body, headers={"content-type": "application/json"}
                                 ).status_code == 200
                with lock:
                    times.append(time.perf_counter() - sent)
    try:
        took = _together([threading.Thread(target=client) for _ in range(clients)])
    finally:
        served.stop()
    return len(times) / took, statistics.median(times) * 1000


def _steady(root: Path, bodies: list[bytes], seconds: float) -> tuple[float, float, str]:
    """100 requests/s of 100 events, each sent at its scheduled time by a pool of senders."""
    served = _Served(root)
    rate, warm = 100, 200
    count = warm + int(seconds * 100)
    latencies: list[float] = []
    late = []
    lock = threading.Lock()
    slots = iter(range(count))
    start = time.perf_counter() + 0.5

    def sender() -> None:
        with served.client() as http:
            while True:
                with lock:
                    i = next(slots, None)
                if i is None:
                    return
                due = start + i / rate
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                elif i >= warm:
                    late.append(-wait)
                answer = http.post("/v1/events", content=bodies[i % len(bodies)],
                                   headers={"content-type": "application/json"})
                assert answer.status_code == 200, answer.text[:200]
                if i >= warm:
                    with lock:
                        latencies.append(time.perf_counter() - due)  # from the scheduled time: no coordinated omission
    try:
        _together([threading.Thread(target=sender) for _ in range(32)])
    finally:
        served.stop()
    latencies.sort()
    missed = f"{len(late)} requests sent late (all 32 senders busy)" if late else ""
    return latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000, missed


def _overload(root: Path, bodies: list[bytes], seconds: float) -> tuple[float, str]:
    served = _Served(root, "--max-queued", "100000")
    counts: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(k: int) -> None:
        with served.client() as http:
            i = k
            while time.perf_counter() < deadline:
                answer = http.post("/v1/events", content=bodies[i % len(bodies)],
                                   headers={"content-type": "application/json"})
                with lock:
                    counts[answer.status_code] = counts.get(answer.status_code, 0) + 1
                i += 16
    try:
        _together([threading.Thread(target=client, args=(k,)) for k in range(16)])
        peak = served.peak_mb()
    finally:
        served.stop()
    return peak, ", ".join(f"{n:,} × {code}" for code, n in sorted(counts.items()))


if __name__ == "__main__":
    main()
