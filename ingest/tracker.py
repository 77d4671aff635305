"""The tracker SDK: log a call, get its cost at once; events reach the lake in batches.

Examples:
    >>> import tempfile
    >>> from ingest import Tracker
    >>> with Tracker(tempfile.mkdtemp()) as tracker:
    ...     with tracker.job("video-42", project="shorts"), tracker.stage("script"):
    ...         cost = tracker.log(provider="openai", model="gpt-4o", input_tokens=1200, output_tokens=300)
    >>> round(cost, 6)
    0.006
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import datetime as dt
import hashlib
import json
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from ingest import audit, schema as s
from ingest.budget_guard import REFRESH, Guard, lake_source
from ingest.errors import ValidationError
from ingest.files import write_atomic
from ingest.lake import Lake, alive, writer_tag
from ingest.objects import is_remote
from ingest.pricing import PriceBook, cost_of

log = logging.getLogger(__name__)
SPILL_LAKE = "spendlake.lake"  # Parquet metadata key: the lake a spill file belongs to

_attribution: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("spendlake_attribution", default={})
_confirmation: contextvars.ContextVar[str | None] = contextvars.ContextVar("spendlake_confirmation", default=None)
_MISSING = object()
_EPOCH, _MICROSECOND = dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.timedelta(microseconds=1)
_DAY_NS, _SLOT_NS = 86_400 * 10**9, 1_800 * 10**9
_ALLOWED = frozenset(s.INPUT_COLUMNS)
_NAMED = (s.PROVIDER, s.MODEL, s.SERVICE)  # required of every call (ts defaults to now)


def default_spill_dir(lake: Lake | str | None = None) -> Path:
    """Where a lake's (or a server's) unsent batches wait: `$SPENDLAKE_SPILL`, else
    `$XDG_STATE_HOME/spendlake/spill`, else `~/.local/state/spendlake/spill`; then one folder per lake,
    named by its resolved path (per server, by its URL)."""
    base = os.environ.get("SPENDLAKE_SPILL")
    if not base:
        state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        base = Path(state) / "spendlake" / "spill"
    if lake is None:
        return Path(base)
    key = lake if isinstance(lake, str) else _lake_key(lake)
    return Path(base) / hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def _lake_key(lake: Lake) -> str:
    return str(lake.root.resolve())


def _is_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("http://", "https://"))


class Tracker:
    """Validates, prices and buffers usage events; flushes by size, by age and at exit.

    Thread-safe. A flush that cannot write is retried; after `retries` failures the batch
    is spilled to `spill_dir` (by default a folder of this lake's own, see `default_spill_dir`)
    with a warning, and the next flush of a Tracker on the same lake sends it (ids make that
    exactly-once). A Tracker never closed is flushed at interpreter exit.

    Budgets are enforced before each call that asks (`guard`, and every call `instrument` wraps):
    see `ingest.budget_guard`. `enforce=False` turns that off.

    Given a server's URL (`Tracker("http://host:8787", api_key=…)`, or no target and
    `$SPENDLAKE_URL` / `$SPENDLAKE_API_KEY`), batches go to the server instead (`ingest.remote`):
    `log()` still prices at once, with the server's price overrides, and unsent batches spill to a
    folder of that server's own.
    """

    def __init__(self, lake: Lake | str | os.PathLike[str] | None = None, *, api_key: str | None = None,
                 book: PriceBook | None = None, max_events: int = 50_000, max_age: float = 5.0, retries: int = 3,
                 spill_dir: Path | None = None, enforce: bool = True, budget_refresh: float = REFRESH,
                 **attribution: str) -> None:
        lake = lake if lake is not None else os.environ.get("SPENDLAKE_URL")
        if lake is None:
            raise ValidationError("a Tracker needs a lake (a folder) or a server's URL (or $SPENDLAKE_URL)")
        self.remote = None
        if _is_url(lake):
            from ingest.remote import Remote
            self.lake, self.remote = None, Remote(str(lake), api_key)
            self._key, self._where = self.remote.url, f"the server {self.remote.url}"
        else:
            if is_remote(lake.root if isinstance(lake, Lake) else lake):
                raise ValidationError(f"{lake}: a Tracker writes to a lake on object storage through its server "
                                      "(`spendlake serve --lake s3://…`): Tracker('http://host:8787', api_key=…)")
            self.lake = lake if isinstance(lake, Lake) else Lake(lake)
            self._key, self._where = _lake_key(self.lake), f"the lake {self.lake.root}"
        self.max_events, self.max_age, self.retries = max_events, max_age, retries
        self.spill_dir = Path(spill_dir) if spill_dir else default_spill_dir(self._key)
        self._fixed_book = book is not None
        self.book = book or self._load_book()
        _check_fields(attribution)
        self.defaults = attribution
        self._buffer: list[dict] = []
        self._oldest = 0.0
        self._lock = threading.RLock()
        self._rates: dict[tuple, tuple | None] = {}
        self._fx: dict[tuple[str, int], float] = {}  # (currency, UTC day) → units per dollar
        self._closed = threading.Event()
        self._wake = threading.Event()
        self.budget_refresh = budget_refresh
        self._guard: Guard | None = None
        if enforce:
            self._guard = Guard(self.remote.budget_source() if self.remote else lake_source(self.lake))
            self._guard.load()
        self._timer = threading.Thread(target=self._tick, name="spendlake-flush", daemon=True)
        self._timer.start()
        atexit.register(_close_ref, weakref.ref(self))

    def _load_book(self) -> PriceBook:
        """The lake's price book; for a server, the catalog with the server's overrides (fetched now)."""
        if self.remote is None:
            return PriceBook.load(self.lake.overrides_path)
        return PriceBook.load(self.remote.overrides(self.spill_dir / "overrides.csv"))

    def _refresh_book(self) -> None:
        from ingest.remote import OVERRIDES_EVERY
        if self.remote is not None and not self._fixed_book and time.monotonic() - self.remote.fetched > OVERRIDES_EVERY:
            book = self._load_book()
            if book.overrides != self.book.overrides:
                self.book, self._rates = book, {}

    # ---- attribution ------------------------------------------------------------------------

    @contextlib.contextmanager
    def job(self, job_id: str, **attribution: str) -> Iterator[None]:
        """Attribute every event logged inside to this job (and project, agent, user, …)."""
        with self._attributed({s.JOB_ID: job_id, **attribution}):
            yield

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Attribute every event logged inside to this stage of the current job."""
        with self._attributed({s.STAGE: name}):
            yield

    @contextlib.contextmanager
    def confirmed(self, reason: str) -> Iterator[None]:
        """Calls inside may pass `require_confirmation` limits; each one that does is audited with
        `reason` (never `hard_stop` ones)."""
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError("confirmed() needs a reason: what the spending past the limit is for")
        token = _confirmation.set(reason.strip())
        try:
            yield
        finally:
            _confirmation.reset(token)

    # ---- budgets ----------------------------------------------------------------------------

    def guard(self, *, provider: str, model: str, service: str = "llm", estimated_cost: float | None = None,
              tags: dict[str, str] | None = None, **usage: object) -> float | None:
        """Before a call: raise `BudgetExceeded` (a `hard_stop` budget) or `ConfirmationRequired` (a
        `require_confirmation` budget, outside `confirmed`) if a call that may cost `estimated_cost`
        (else its `usage`, e.g. tokens, at the model's price) would pass the limit of a budget
        covering it; warn once per threshold reached. Returns the cost it judged (None: no price)."""
        guard = self._guard
        if guard is None or not guard.active:
            return estimated_cost
        provider = provider.strip().lower()
        if estimated_cost is None:
            _check(usage, provider, model, service, None, None)
            rates = self._rates_at(provider, model, usage.get(s.UNIT), time.time_ns())
            estimated_cost = cost_of(usage, rates[0]) if rates else None
        elif not isinstance(estimated_cost, (int, float)) or not estimated_cost >= 0:
            raise ValidationError(f"estimated_cost={estimated_cost!r} must be an amount ≥ 0 (USD)")
        attribution = {**self.defaults, **_attribution.get(), s.PROVIDER: provider, s.MODEL: model,
                       s.SERVICE: service, s.TAGS: tags or {}}
        for passed in guard.check(attribution, estimated_cost or 0.0, _confirmation.get()):
            self._audit_confirmed(passed, attribution)
        return estimated_cost

    def _audit_confirmed(self, passed, attribution: dict) -> None:
        entry = audit.entry("confirmed_call", passed.budget, before={"spent_usd": passed.spent_usd},
                            after={"spent_usd": passed.spent_usd + passed.call_usd}, reason=passed.reason,
                            limit_usd=passed.limit_usd, call_usd=passed.call_usd,
                            call={k: v for k, v in attribution.items() if v and k != s.TAGS})
        if self.remote is not None:
            self.remote.audit(entry)
        else:
            audit.append(self.lake, entry)

    @contextlib.contextmanager
    def _attributed(self, values: dict[str, str]) -> Iterator[None]:
        _check_fields(values)
        token = _attribution.set({**_attribution.get(), **values})
        try:
            yield
        finally:
            _attribution.reset(token)

    # ---- logging ----------------------------------------------------------------------------

    def log(self, *, provider: str, model: str, service: str = "llm", ts: dt.datetime | None = None,
            cost_usd: float | None = None, tags: dict[str, str] | None = None, event_id: str | None = None,
            currency: str | None = None, **usage: object) -> float | None:
        """Record one call; returns its cost in dollars (the reported one if given, else the computed
        one). A cost the caller was billed in another `currency` is converted at its day's rate, the
        amount and currency kept in its tags (the lake's rates; a remote Tracker's: the ECB's)."""
        _check(usage, provider, model, service, ts, cost_usd)
        ns = time.time_ns() if ts is None else (ts - _EPOCH) // _MICROSECOND * 1000
        if currency is not None and cost_usd is not None and currency.strip().upper() != "USD":
            cost_usd, tags = self._in_dollars(cost_usd, currency, ns, tags)
        provider = provider.strip().lower()
        rates = self._rates_at(provider, model, usage.get(s.UNIT), ns)
        computed = cost_of(usage, rates[0]) if rates else None
        event = {**self.defaults, **_attribution.get(), **usage}
        event.update(provider=provider, model=model, service=service, ts=ns, event_id=event_id,
                     computed_cost_usd=computed, cost_usd=cost_usd if cost_usd is not None else computed,
                     cost_source="reported" if cost_usd is not None else "computed" if computed is not None
                     else "unpriced", price_version=rates[1] if rates else None,
                     tags=json.dumps(tags) if tags else None)
        with self._lock:
            if not self._buffer:
                self._oldest = time.monotonic()
            self._buffer.append(event)
            size = len(self._buffer)
            if self._guard is not None and self._guard.active:
                self._guard.logged({**event, s.TAGS: tags or {}}, event[s.COST])
        if size >= self.max_events:
            if size >= 4 * self.max_events:  # the flusher is behind: write here (back-pressure)
                self.flush()
            else:
                self._wake.set()
        return cost_usd if cost_usd is not None else computed

    def _in_dollars(self, amount: float, currency: str, ns: int, tags: dict | None) -> tuple[float, dict]:
        """A cost billed in `currency` in dollars at the rate of its UTC day (remembered per day), and
        the tags that keep what was billed."""
        from ingest import fx
        code, day = currency.strip().upper(), ns // _DAY_NS
        rate = self._fx.get((code, day))
        if rate is None:
            when = dt.date(1970, 1, 1) + dt.timedelta(days=day)
            try:
                found = fx.per_day(pl.DataFrame({s.DATE: [when]}), code, fx.rates(self.lake))
            except fx.FxError as e:
                raise ValidationError(f"currency={currency!r}: {e}") from None
            rate = self._fx[(code, day)] = found["rate"][0]
        return amount / rate, {**(tags or {}), fx.BILLED_AMOUNT: amount, fx.BILLED_CURRENCY: code}

    def _rates_at(self, provider: str, model: str, unit: object, ns: int) -> tuple | None:
        """The book's rates for a call at `ns` (epoch ns), remembered per day and half hour: a
        guard and the log of the same call resolve them once."""
        key = (provider, model, unit, ns // _DAY_NS, ns % _DAY_NS // _SLOT_NS)
        rates = self._rates.get(key, _MISSING)
        if rates is _MISSING:
            rates = self._rates[key] = self.book.rates_for(provider, model, unit,
                                                           dt.datetime.fromtimestamp(ns / 1e9, dt.UTC))
        return rates

    # ---- flushing -----------------------------------------------------------------------------

    def flush(self) -> int:
        """Write buffered (and previously spilled) events; returns how many were written.

        A batch the lake refuses is retried, then spilled with a warning; if even the spill fails,
        the batch goes back into the buffer and the error is raised: events are never dropped
        silently. Spills are sent after the buffer, and a spill that fails again stays spilled.
        """
        self._refresh_book()
        with self._lock:
            batch, self._buffer = self._buffer, []
            marker = self._guard.marker() if self._guard is not None else None
        written = 0
        if batch:
            frame = _frame(batch)
            generated_ids_only = all(e[s.EVENT_ID] is None for e in batch)
            error: Exception | None = None
            for attempt in range(1 if self.remote else self.retries):  # (a server is retried in `remote`)
                try:
                    with self._guard.writing if marker is not None else contextlib.nullcontext():
                        written = self._write(frame, check_existing=not generated_ids_only)
                        if marker is not None:
                            self._guard.landed(marker)
                    break
                except Exception as e:  # noqa: BLE001 - whatever the cause, the batch is kept below
                    error = e
                    time.sleep(0.05 * 2**attempt)
            else:
                try:
                    path = self._spill(frame)
                except Exception:
                    with self._lock:
                        self._buffer[:0] = batch
                    raise
                log.warning("could not write %d event(s) to %s (%s: %s); kept in %s, sent by the "
                            "next flush", frame.height, self._where, type(error).__name__, error, path)
                return 0
        return written + self._send_spilled()

    def _write(self, frame: pl.DataFrame, *, check_existing: bool = True) -> int:
        if self.remote is not None:
            return self.remote.send(frame)
        return self.lake.append(frame, check_existing=check_existing).written

    def _spill(self, frame: pl.DataFrame) -> Path:
        path = self.spill_dir / f"spill-{uuid.uuid4().hex}.parquet"
        write_atomic(path, lambda f: frame.write_parquet(f, metadata={SPILL_LAKE: self._key}))
        return path  # durable: a spill is what is left when the lake cannot be written

    def _send_spilled(self) -> int:
        """Send this lake's spill files. Each is claimed first by renaming it to a name that carries
        this process, so two processes never send (or delete) the same file; a claim whose process
        died is taken over. A file that fails to send is released for the next flush."""
        try:
            names = os.listdir(self.spill_dir)
        except FileNotFoundError:
            return 0
        written = 0
        for name in sorted(names):
            claimed = _claim(self.spill_dir, name)
            if claimed is None:
                continue
            try:
                if pl.read_parquet_metadata(claimed).get(SPILL_LAKE) != self._key:
                    os.replace(claimed, self.spill_dir / name)  # another lake's: not ours to send
                    continue
                written += self._write(pl.read_parquet(claimed))
            except Exception as e:  # noqa: BLE001 - the spill stays for the next flush
                with contextlib.suppress(OSError):
                    os.replace(claimed, self.spill_dir / f"spill-{uuid.uuid4().hex}.parquet")
                log.warning("could not send the spilled events in %s to %s (%s: %s); kept for the "
                            "next flush", claimed, self._where, type(e).__name__, e)
                break
            claimed.unlink()
        return written

    def _tick(self) -> None:
        """Background flusher: wakes when the buffer is full or every second to check its age. While
        budgets are enforced, every half `budget_refresh` it sends what was logged and reads the
        budgets' state again, so another process's spending is seen within `budget_refresh`."""
        while not self._closed.is_set():
            enforcing = self._guard is not None
            self._wake.wait(min(self.max_age, 1.0, self.budget_refresh / 2) if enforcing else min(self.max_age, 1.0))
            self._wake.clear()
            with self._lock:
                size = len(self._buffer)
                due = size >= self.max_events or (size and time.monotonic() - self._oldest >= self.max_age)
                due = due or (size and enforcing and self._guard.active)
            if due and not self._closed.is_set():
                try:
                    self.flush()  # a failed write is retried, then spilled with a warning, in flush
                except Exception as e:  # noqa: BLE001 - the events are back in the buffer: say so, retry later
                    log.warning("could not write or spill buffered events of %s (%s: %s); they stay "
                                "in memory and are tried again", self._where, type(e).__name__, e)
            if enforcing and not self._closed.is_set() and self._guard.due():
                self._guard.load()

    def close(self) -> None:
        """Flush and stop the background flusher."""
        if not self._closed.is_set():
            self._closed.set()
            self._wake.set()
            self._timer.join()
            self.flush()
            if self.remote is not None:
                self.remote.close()

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_ref(ref: weakref.ref[Tracker]) -> None:
    """At interpreter exit: write an unclosed Tracker's buffer to its own lake, here and now."""
    tracker = ref()
    if tracker is not None:
        tracker.close()


def _claim(folder: Path, name: str) -> Path | None:
    """Take a spill file for this process (None if it is not a spill file, or someone else has it)."""
    if name.startswith("spill-") and name.endswith(".parquet"):
        stem = name[len("spill-"):-len(".parquet")]
    elif name.startswith("claimed-") and name.endswith(".parquet"):
        stem, _, owner = name[len("claimed-"):-len(".parquet")].rpartition("~")
        if not stem or alive(owner):
            return None
    else:
        return None
    target = folder / f"claimed-{stem}~{writer_tag()}.parquet"
    try:
        os.rename(folder / name, target)  # atomic: of several claimants exactly one succeeds
    except FileNotFoundError:
        return None
    return target


def _frame(batch: list[dict]) -> pl.DataFrame:
    """Buffered events → schema frame; ts arrive as epoch ns, missing ids are made time-ordered."""
    present = set().union(*map(dict.keys, batch))
    frame = pl.from_dicts(batch, schema={c: pl.Int64 if c == s.TS else t
                                         for c, t in s.POLARS_SCHEMA.items() if c in present})
    noise = os.urandom(8 * len(batch)).hex()
    generated = pl.concat_str(
        (pl.col(s.TS) // 1_000_000).cast(pl.String).str.zfill(13),
        pl.Series([noise[i:i + 16] for i in range(0, len(noise), 16)], dtype=pl.String))
    return frame.with_columns(
        *[pl.lit(None, t).alias(c) for c, t in s.POLARS_SCHEMA.items() if c not in present]
    ).with_columns(
        pl.coalesce(s.EVENT_ID, generated).alias(s.EVENT_ID),
        pl.from_epoch(s.TS, "ns").dt.replace_time_zone("UTC").dt.cast_time_unit("us"),
        *[pl.col(c).fill_null(0) for c in s.TOKEN_COLUMNS],
        pl.col(s.SUCCESS).fill_null(True), pl.col(s.CACHE_HIT).fill_null(False), pl.col(s.RETRIES).fill_null(0),
    ).select(s.COLUMNS)


def _field_problems(fields: dict) -> list[str]:
    """Problems with usage or attribution fields given by name: the schema's rules and words."""
    unknown = [f"{c} is not an event field" for c in fields if c not in _ALLOWED]
    return unknown + s.check_record({c: v for c, v in fields.items() if c in _ALLOWED}, required=())


def _check_fields(fields: dict) -> None:
    problems = _field_problems(fields)
    if problems:
        raise ValidationError("; ".join(problems))


def _check(usage: dict, provider: object, model: object, service: object, ts: object, cost: object) -> None:
    """The schema's rules for one call (`schema.check_record`), fast enough to run on every call."""
    problems = [f"{c} is not an event field" for c in usage if c not in _ALLOWED]
    if ts is not None and (not isinstance(ts, dt.datetime) or ts.tzinfo is None):
        problems.append(f"ts={ts!r} must be a timezone-aware datetime")
    record = {**usage, s.PROVIDER: provider, s.MODEL: model, s.SERVICE: service, s.COST: cost, s.TS: ts}
    problems += s.check_record(record, required=_NAMED)  # (no ts: the Tracker stamps the call now)
    if problems:
        raise ValidationError("; ".join(problems))
