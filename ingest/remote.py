"""A Tracker's way to a Spendlake server (`Tracker("http://host:8787", api_key=…)`): batches go to
`POST /v1/events` as Arrow IPC streams, retried with exponential backoff and jitter on connection
errors, 429 and 5xx (a `Retry-After` is honoured); the server's price overrides are fetched at start
and every few minutes, so `log()` prices each call as the server will.

A batch the server answers 200 (or 422: some records rejected and quarantined there, the rest
written) is done. Anything else, after the retries, is the Tracker's to spill.
"""

from __future__ import annotations

import io
import logging
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import httpx2
import polars as pl
import pyarrow as pa

from ingest import schema as s
from ingest.errors import SpendlakeError

log = logging.getLogger(__name__)
MAX_REQUEST = 50_000  # events a request (the server takes up to 100,000)
OVERRIDES_EVERY = 300.0  # seconds between fetches of the server's price overrides


class SendError(SpendlakeError):
    """The server did not take a batch (down, overloaded, or refusing the key)."""


class Remote:
    def __init__(self, url: str, api_key: str | None, *, attempts: int = 8, backoff: float = 0.2,
                 max_backoff: float = 5.0, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key or os.environ.get("SPENDLAKE_API_KEY")
        if not self.api_key:
            raise SpendlakeError(f"a Tracker on {self.url} needs an API key: api_key=… or SPENDLAKE_API_KEY "
                                 "(make one with: spendlake keys create NAME --scope ingest)")
        self.attempts, self.backoff, self.max_backoff = attempts, backoff, max_backoff
        self._http = httpx2.Client(base_url=self.url, timeout=timeout,
                                   headers={"Authorization": f"Bearer {self.api_key}"})
        self.fetched = 0.0  # when the overrides were last fetched (monotonic)
        self.retried = 0  # attempts that failed and were tried again

    def __repr__(self) -> str:
        return f"Remote({self.url!r})"  # never the key

    def send(self, events: pl.DataFrame) -> int:
        """Send priced events; returns how many the server wrote (the rest were there already, or rejected)."""
        written = 0
        wire = events.with_columns(  # the server prices again: only a reported cost travels as one
            pl.when(pl.col(s.COST_SOURCE) == "reported").then(pl.col(s.COST)).alias(s.COST)).select(s.INPUT_COLUMNS)
        for start in range(0, wire.height, MAX_REQUEST):
            written += self._post(arrow_stream(wire.slice(start, MAX_REQUEST)))
        return written

    def _post(self, body: bytes) -> int:
        problem = ""
        for attempt in range(self.attempts):
            wait = None
            try:
                answer = self._http.post("/v1/events", content=body,
                                         headers={"content-type": "application/vnd.apache.arrow.stream"})
            except httpx2.TransportError as e:
                problem = f"{type(e).__name__}: {e}"
            else:
                if answer.status_code in (200, 422):
                    result = answer.json()
                    if result.get("rejected"):
                        log.warning("the server %s rejected %d event(s) (kept in its quarantine): %s", self.url,
                                    result["rejected"], result.get("error", {}).get("message", ""))
                    return int(result.get("written", 0))
                problem = f"HTTP {answer.status_code}: {_message(answer)}"
                if answer.status_code != 429 and answer.status_code < 500:
                    raise SendError(f"{self.url} refused the events ({problem})")
                wait = _retry_after(answer)
            if attempt + 1 < self.attempts:
                self.retried += 1
                delay = min(self.max_backoff, self.backoff * 2**attempt)
                time.sleep(wait if wait is not None else random.uniform(delay / 2, delay))  # jitter
        raise SendError(f"{self.url} did not take the events after {self.attempts} attempts ({problem})")

    def overrides(self, cache: Path) -> Path | None:
        """Fetch the server's price overrides into `cache` (a CSV file); the cached copy when the
        server cannot be reached (None without one)."""
        self.fetched = time.monotonic()
        try:
            answer = self._http.get("/v1/prices/overrides")
            answer.raise_for_status()
        except httpx2.HTTPError as e:
            log.warning("could not fetch the price overrides of %s (%s); pricing with %s", self.url, e,
                        "the copy fetched before" if cache.exists() else "no overrides")
            return cache if cache.exists() else None
        from ingest.files import write_atomic
        if not cache.exists() or cache.read_bytes() != answer.content:
            write_atomic(cache, answer.content)
        return cache

    def budget_source(self) -> Callable[[], list[dict]]:
        """The budgets' state as the server holds it (`GET /v1/budgets/spent`), for `budget_guard`."""
        def read() -> list[dict]:
            answer = self._http.get("/v1/budgets/spent", timeout=5.0)
            if answer.status_code != 200:
                raise SendError(f"HTTP {answer.status_code}: {_message(answer)}")
            return answer.json()
        return read

    def audit(self, entry: dict) -> None:
        """Append a confirmed call to the server's audit trail (`POST /v1/audit`; the server names
        the key as its author)."""
        answer = self._http.post("/v1/audit", json=entry, timeout=10.0)
        if answer.status_code != 200:
            raise SendError(f"{self.url} did not record the confirmation (HTTP {answer.status_code}: {_message(answer)})")

    def close(self) -> None:
        self._http.close()


def arrow_stream(frame: pl.DataFrame) -> bytes:
    """A frame as an Arrow IPC stream (what `POST /v1/events` reads fastest)."""
    table = frame.to_arrow()
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _message(answer: httpx2.Response) -> str:
    try:
        return answer.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return answer.text[:200]


def _retry_after(answer: httpx2.Response) -> float | None:
    value = answer.headers.get("retry-after", "")
    return min(float(value), 60.0) if value.replace(".", "", 1).isdigit() else None
