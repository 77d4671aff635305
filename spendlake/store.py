"""Small tables kept beside the lake: budgets (JSON, written atomically) and alerts (JSON Lines).

Examples:
    >>> import tempfile
    >>> from analytics.budgets import Budget
    >>> lake = Lake(tempfile.mkdtemp())
    >>> save_budgets(lake, [Budget("all", limit_usd=500)])
    >>> [b.name for b in load_budgets(lake)]
    ['all']
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import polars as pl

from analytics.alerts import Alert
from analytics.budgets import Budget, BudgetError
from ingest.errors import LakeError
from ingest import files
from ingest.files import read_lines, write_atomic
from ingest.pricing import PriceBook
from ingest.lake import ACKS, ALERTS, BUDGETS, ESTIMATES, FORECASTS, USAGE_SUMS, Lake
from ingest.objects import read_parquet

T = TypeVar("T")



def load_budgets(lake: Lake) -> list[Budget]:
    """The budgets stored in the lake; every entry is validated (errors name it)."""
    path = lake.path(BUDGETS)
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise BudgetError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(entries, list):
        raise BudgetError(f"{path}: expected a list of budgets")
    budgets = [Budget.from_dict(e) for e in entries]
    _unique(budgets)
    return budgets


def save_budgets(lake: Lake, budgets: Iterable[Budget]) -> None:
    """Replace the stored budgets (temp file + rename: readers see the old or the new list, whole)."""
    budgets = list(budgets)
    _unique(budgets)
    write_atomic(lake.path(BUDGETS), json.dumps([b.to_dict() for b in budgets], indent=2))


def _unique(budgets: list[Budget]) -> None:
    names = [b.name for b in budgets]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise BudgetError(f"budget names must be unique: {', '.join(twice)}")


def load_alerts(lake: Lake) -> list[Alert]:
    """Every alert recorded so far, oldest first."""
    return _read_lines(lake.path(ALERTS), Alert.from_dict)


class ForecastPlans:
    """Fitted forecasts kept beside the rollups (`analytics.forecast`'s `plans`): one small JSON file
    per fit, named by the complete days it read, so a restart or a day of new events does not
    refit. The newest `KEEP` are kept; a lake that cannot be written is only read."""

    KEEP = 256

    def __init__(self, lake: Lake) -> None:
        self.folder = lake.path(FORECASTS)

    def get(self, key: str) -> dict | None:
        try:
            return json.loads((self.folder / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None

    def put(self, key: str, plan: dict) -> None:
        try:
            write_atomic(self.folder / f"{key}.json", json.dumps(plan))
            kept = sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
            for old in kept[self.KEEP:]:
                old.unlink(missing_ok=True)
        except OSError:  # a read-only lake: fitted again next time
            pass


class UsageSums:
    """Optimize's usage sums of each day (`analytics.optimize.day_sums`) kept beside the rollups, one
    file per day named by the summing method, genai-prices' version and the day's data files: a day
    is summed from its events once, and again only when its files change (an append, a compaction,
    a reprice). Days from `today` on, still being written, are summed each time and not kept; a
    lake that cannot be written is only read."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.folder = lake.path(USAGE_SUMS)

    def window(self, start: dt.date, end: dt.date, book: PriceBook, *, today: dt.date) -> pl.DataFrame:
        """The sums of the days in [start, end]."""
        from analytics.optimize import day_sums
        parts = [self._day(day, files, book, keep=day < today)
                 for day, files in self.lake.files_by_day(start=start, end=end).items() if files]
        return pl.concat(parts) if parts else day_sums(self.lake.scan(start=start, end=end), book)

    def _day(self, day: dt.date, files: list[Path], book: PriceBook, *, keep: bool) -> pl.DataFrame:
        from analytics.optimize import SUMS_METHOD, day_sums
        from ingest.llm_prices import version
        from ingest.rollups import digest
        name = digest([f"method {SUMS_METHOD}", f"genai-prices {version()}", *(p.name for p in files)])
        path = self.folder / f"{day.isoformat()}-{name}.parquet"
        if keep and path.exists():
            try:
                return read_parquet(path)
            except (FileNotFoundError, pl.exceptions.PolarsError):  # removed meanwhile (its files changed)
                pass
        try:
            found = day_sums(self.lake.scan(files=files), book)
        except (FileNotFoundError, pl.exceptions.ComputeError):  # a compaction replaced them meanwhile
            return day_sums(self.lake.scan(start=day, end=day), book)
        if keep:
            try:
                # never replaced: a reader holding this name's footer must find the same bytes (the
                # name says which files it sums, so another writer's copy holds the same sums)
                write_atomic(path, lambda f: found.write_parquet(f), replace=False)
                for old in self.folder.glob(f"{day.isoformat()}-*.parquet"):
                    if old != path:
                        old.unlink(missing_ok=True)
            except OSError:  # a read-only lake: summed again next time
                pass
        return found


def load_acknowledged(lake: Lake) -> set[str]:
    """The ids of alerts a person acknowledged."""
    return {entry["alert"] for entry in read_lines(lake.path(ACKS)) if "alert" in entry}


def record_acknowledged(lake: Lake, alert_id: str, audited: dict) -> None:
    """Acknowledge an alert (and append `audited`, the audit entry saying who did)."""
    from ingest import audit
    with lake.lock():
        append_lines(lake, ACKS, [{"alert": alert_id, "who": audited["who"], "at": audited["at"]}])
    audit.append(lake, audited)


def record_alerts(lake: Lake, alerts: Iterable[Alert]) -> None:
    """Append alerts to the history."""
    with lake.lock():
        append_lines(lake, ALERTS, [a.to_dict() for a in alerts])


def record_new_alerts(lake: Lake, decide: Callable[[set[tuple]], list[Alert]]) -> list[Alert]:
    """Decide which alerts are new against those recorded, and record them, under the lake's lock:
    however many checks run at once, an alert is recorded (and so sent) once. `decide` gets the
    keys recorded so far and must not touch the lake (the lock is held)."""
    with lake.lock():
        new = decide({a.key for a in load_alerts(lake)})
        append_lines(lake, ALERTS, [a.to_dict() for a in new])
    return new


def record_estimate(lake: Lake, job_id: str, estimate: dict) -> None:
    """Keep a run's estimate (its `to_dict()` figures) so its report can show estimate vs actual."""
    with lake.lock():
        append_lines(lake, ESTIMATES, [{"job_id": job_id, **{k: v for k, v in estimate.items()
                                                               if not isinstance(v, list)}}])


def estimate_for(lake: Lake, job_id: str) -> float | None:
    """The latest expected cost recorded for a run, if any."""
    found = [e["expected_usd"] for e in _read_lines(lake.path(ESTIMATES), _estimate) if e["job_id"] == job_id]
    return found[-1] if found else None


def _estimate(entry: object) -> dict:
    """An estimate as `record_estimate` wrote it: a run's id and its figures (numbers, text or null)."""
    if not isinstance(entry, dict):
        raise ValueError(f"an estimate is a JSON object, not {type(entry).__name__}")
    if not isinstance(entry.get("job_id"), str):
        raise ValueError(f"job_id={entry.get('job_id')!r} must be text")
    expected = entry.get("expected_usd")
    if expected is not None and (isinstance(expected, bool) or not isinstance(expected, (int, float))):
        raise ValueError(f"expected_usd={expected!r} must be a number or null")
    return entry


def _read_lines(path: Path, read: Callable[[object], T]) -> list[T]:
    """Each line of a JSON Lines file the lake owns, through `read` (which refuses what is not
    right); a damaged line is a LakeError naming the file and line."""
    if not path.exists():
        return []
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(read(json.loads(line)))
        except ValueError as e:  # (json.JSONDecodeError is one)
            raise LakeError(f"{path} line {number}: {e}") from None
    return entries


def append_lines(lake: Lake, name: str, entries: list[dict]) -> None:
    """Append JSON lines to one of the lake's tables, synced to disk (`files.append_lines`)."""
    files.append_lines(lake.path(name), entries)
