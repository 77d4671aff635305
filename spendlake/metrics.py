"""The server's figures in Prometheus' text format (`GET /metrics`), for the Grafana teams already run:
events received, written, duplicates and quarantined; request latency by route; spend so far today.

Each server has its own registry (tests start several in one process)."""

from __future__ import annotations

import datetime as dt

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ingest.lake import AppendResult, Lake

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.registry = registry = CollectorRegistry()
        self.events = Counter("spendlake_events", "Records received, by what became of them", ["outcome"],
                              registry=registry)
        for outcome in ("received", "written", "duplicate", "rejected"):
            self.events.labels(outcome)
        self.commits = Counter("spendlake_commits", "Group commits to the lake", registry=registry)
        self.latency = Histogram("spendlake_request_duration_seconds", "Time to answer a request",
                                 ["route", "method", "status"], buckets=LATENCY_BUCKETS, registry=registry)
        Gauge("spendlake_spend_today_usd", "Cost of today's events (UTC day) in the lake",
              registry=registry).set_function(self._spend_today)

    def received(self, n: int) -> None:
        self.events.labels("received").inc(n)

    def answered(self, counts: dict[str, int]) -> None:
        for outcome, n in counts.items():
            self.events.labels(outcome).inc(n)

    def committed(self, result: AppendResult) -> None:
        self.commits.inc()

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.latency.labels(route, method, str(status)).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def _spend_today(self) -> float:
        import analytics
        today = dt.datetime.now(dt.UTC).date()
        daily = analytics.daily(self.lake, start=today, end=today)
        return float(daily.select("cost_usd").sum().collect().item() or 0.0)
