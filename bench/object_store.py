"""The lake on an S3 server against the same lake on local disk, in the same run.

    python bench/object_store.py [--events 200000] [--repeat 3]

The S3 server is moto's (`python -m moto.server`, its own process on a loopback port): a real
HTTP server speaking S3's protocol, but Python on the same two cores, so its figures are an upper
bound on what the lake itself costs there. For a lake of 90 days and one of 360 days (the same events per day),
each on disk and in a bucket: the import of a Parquet file (`spendlake import`'s path), a month's
breakdown by provider from the rollups, and a raw scan of one month's events summed by day. Prints
the medians, the ratio bucket ÷ disk, and the HTTP requests each step made (counted by the
server): the month's reads should not grow with the partitions outside it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.lake_core import raw_events  # noqa: E402
from ingest import schema as s  # noqa: E402

MONTH = (dt.date(2026, 5, 1), dt.date(2026, 5, 31))


class Requests:
    """Counts the requests the S3 server answers: its log has one line per request."""

    def __init__(self, log) -> None:
        self.count = 0
        self._thread = threading.Thread(target=self._read, args=(log,), daemon=True)
        self._thread.start()

    def _read(self, log) -> None:
        for line in log:
            if " HTTP/1." in line:
                self.count += 1

    def settled(self) -> int:
        """The count once the server has logged what was answered so far."""
        time.sleep(0.2)
        return self.count


def events_over(per_90_days: int, days: int) -> pl.DataFrame:
    """Demo-shaped events over `days` days ending 2026-06-30, `per_90_days` every 90 days."""
    base = raw_events(per_90_days)
    blocks = [base.with_columns(pl.col(s.TS) - pl.duration(days=90 * k), pl.col(s.EVENT_ID) + f"-{k}")
              for k in range(days // 90)]
    return pl.concat(blocks).sort(s.TS)


def steps(where: str, source: Path, counter: Requests) -> dict[str, tuple[float, int]]:
    """Seconds and S3 requests of each step on one fresh lake."""
    import analytics
    from ingest.importers import import_paths
    from ingest.lake import Lake
    lake = Lake(where)
    out = {}
    for step, run in (
            ("import", lambda: import_paths(lake, [source])),
            ("month from rollups", lambda: analytics.breakdown(analytics.daily(lake, start=MONTH[0], end=MONTH[1]),
                                                               by=s.PROVIDER)),
            ("raw month scan", lambda: lake.scan(start=MONTH[0], end=MONTH[1]).group_by(s.DATE)
             .agg(pl.col(s.COST).sum()).collect())):
        before = counter.settled()
        t = time.perf_counter()
        run()
        out[step] = (time.perf_counter() - t, counter.settled() - before)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000, help="events per 90 days")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        host, port = free.getsockname()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    counter = Requests(server.stderr)
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                break
        time.sleep(0.1)
    os.environ.update(AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="bench",
                      AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    import boto3
    s3 = boto3.client("s3")
    work = Path(tempfile.mkdtemp())
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {args.events:,} events per 90 days; medians of "
          f"{args.repeat}; moto {__import__('moto').__version__} on {host}:{port}\n")
    print("| lake | step | disk s | S3 s | S3 ÷ disk | S3 requests |")
    print("|---|---|---|---|---|---|")
    try:
        for days in (90, 360):
            source = work / f"events-{days}.parquet"
            events_over(args.events, days).write_parquet(source)
            disk: dict[str, list[float]] = {}
            bucket: dict[str, list[float]] = {}
            requests: dict[str, list[int]] = {}
            for _ in range(args.repeat):
                for step, (seconds, _) in steps(str(work / f"lake-{uuid.uuid4().hex}"), source, counter).items():
                    disk.setdefault(step, []).append(seconds)
                name = f"bench-{uuid.uuid4().hex[:12]}"
                s3.create_bucket(Bucket=name)
                for step, (seconds, count) in steps(f"s3://{name}/spend", source, counter).items():
                    bucket.setdefault(step, []).append(seconds)
                    requests.setdefault(step, []).append(count)
            for step in disk:
                d, b = statistics.median(disk[step]), statistics.median(bucket[step])
                print(f"| {days} days | {step} | {d:.3f} | {b:.3f} | {b / d:.1f}× | {int(statistics.median(requests[step])):,} |",
                      flush=True)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
