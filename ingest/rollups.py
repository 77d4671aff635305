"""Rollups: the measures of events summed per UTC day and attribution, kept beside the events by
the lake's own writes; reading them writes nothing.

    rollups/<daily|jobs>/<YYYY-MM>-<digest>.parquet      a month's sums; its metadata gives, for each
                                                          day, a digest of the data files they sum
    rollups/<daily|jobs>/added/<YYYY-MM>/<id>.parquet    the sums of one append (its metadata names
                                                          the data files it added, by day)
    rollups/runs/<YYYY-MM>-<digest>.parquet               one row per run and month, from the jobs
                                                          month file of the same name

An append writes the sums of what it added (`add`), so its cost follows the append, not the day
it lands in. Rewrites (compaction, reprice) and retention re-sum the days they changed and fold
the appends' sums into the month file (`refresh`). A reader (`read`) takes, for each day, the
month file's rows when their digest is that of the day's files less those appends cover, plus the
appends' sums; a day for which that does not hold (a writer stopped half way, or is writing now)
is summed from its events in memory. So a rollup is never silently wrong, and reading one never
writes.

Examples:
    >>> import tempfile, datetime as dt
    >>> from ingest.demo import write_demo
    >>> from ingest.lake import Lake
    >>> lake = Lake(tempfile.mkdtemp())
    >>> _ = write_demo(lake, dt.date(2026, 3, 31), days=3)
    >>> days = read(lake, "daily").collect()
    >>> round(days["cost_usd"].sum(), 6) == round(lake.scan().select("cost_usd").sum().collect().item(), 6)
    True
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from ingest import plans, schema as s
from ingest.files import flocked, write_atomic
from ingest.objects import names_in, read_parquet_metadata, scan_parquet

if TYPE_CHECKING:
    from ingest.lake import Lake

# ---- what a rollup sums ----------------------------------------------------------------------

CALLS = "calls"
FAILED_CALLS = "failed_calls"
FAILED_COST = "failed_cost_usd"
TOKENS = "tokens"
UNPRICED = "unpriced_events"
MEASURES = (s.COST, CALLS, FAILED_CALLS, FAILED_COST, s.RETRIES, UNPRICED, TOKENS, *s.TOKEN_COLUMNS,
            s.CHARACTERS, s.IMAGES, s.AUDIO_SECONDS, s.COMPUTE_SECONDS, s.QUANTITY)
FLOATS = (s.COST, FAILED_COST, s.AUDIO_SECONDS, s.COMPUTE_SECONDS, s.QUANTITY)


def is_rollup(frame: pl.LazyFrame) -> bool:
    return CALLS in frame.collect_schema()


def measures(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Raw events with one summable measure column each (a rollup is returned unchanged).

    Examples:
        >>> raw = pl.LazyFrame({"ts": [dt.datetime(2026, 1, 5, tzinfo=dt.UTC)], "cost_usd": [0.5], "success": [False],
        ...                     "input_tokens": [10], "output_tokens": [5], "retries": [2]})
        >>> measures(raw).select("calls", "failed_calls", "tokens", "cost_usd").collect().row(0)
        (1, 1, 15, 0.5)
    """
    if is_rollup(frame):
        return frame
    schema = frame.collect_schema()
    missing = [c for c in s.COLUMNS if c not in schema]  # frames built by hand may leave columns out
    failed = ~pl.col(s.SUCCESS).fill_null(True)
    return frame.with_columns(*[pl.lit(None, s.POLARS_SCHEMA[c]).alias(c) for c in missing]).with_columns(
        pl.lit(1, pl.Int64).alias(CALLS),
        failed.cast(pl.Int64).alias(FAILED_CALLS),
        pl.when(failed).then(pl.col(s.COST)).otherwise(0.0).alias(FAILED_COST),
        (pl.col(s.COST_SOURCE) == "unpriced").cast(pl.Int64).fill_null(0).alias(UNPRICED),
        pl.sum_horizontal(s.INPUT_TOKENS, s.CACHE_READ_TOKENS, s.CACHE_WRITE_TOKENS, s.OUTPUT_TOKENS).alias(TOKENS),
    )


def sums(names: Sequence[str] = MEASURES) -> list[pl.Expr]:
    """Aggregations adding measures up (counts stay integers, money stays exact floats)."""
    return [pl.col(c).sum().alias(c) for c in names]


@dataclass(frozen=True)
class Rollup:
    keys: tuple[str, ...]
    rows: pl.Expr  # which events it sums
    order: tuple[str, ...]  # how its month files are sorted


ROLLUPS: dict[str, Rollup] = {
    "daily": Rollup((s.PROVIDER, s.MODEL, s.SERVICE, s.OPERATION, s.PROJECT, s.STAGE, s.AGENT, s.USER, s.COST_SOURCE,
                     s.TAGS), pl.lit(True), (s.DATE,)),
    # runs only; a run's stages are a drill-down that raw events answer
    "jobs": Rollup((s.JOB_ID, s.PROJECT), pl.col(s.JOB_ID).is_not_null(), (s.JOB_ID, s.DATE)),
}
RUNS = "runs"  # derived from a jobs month file: one row per run
FIRST_DAY, LAST_DAY = "first_day", "last_day"
ADDED = "added"
DAYS_KEY, FILES_KEY = "spendlake.days", "spendlake.files"  # Parquet metadata of month files and appends' sums
SUM_BYTES = 16 << 20  # bytes of data files summed at once when days are re-summed
FOLD_AFTER = 64  # appends' sums a month gathers before an append folds them into its file


@functools.cache
def schema_of(name: str) -> pl.Schema:
    return pl.Schema({s.DATE: pl.Date, **{k: pl.String for k in ROLLUPS[name].keys},
                      **{m: pl.Float64 if m in FLOATS else pl.Int64 for m in MEASURES}})


def runs_schema() -> pl.Schema:
    return pl.Schema({s.JOB_ID: pl.String, s.PROJECT: pl.String, FIRST_DAY: pl.Date, LAST_DAY: pl.Date,
                      **{m: dtype for m, dtype in schema_of("jobs").items() if m in MEASURES}})


def per_run(frame: pl.LazyFrame, *, spans: bool = False) -> pl.LazyFrame:
    """One row per run (job × project) with its first and last day and its measures summed."""
    first, last = (FIRST_DAY, LAST_DAY) if spans else (s.DATE, s.DATE)
    return frame.group_by(s.JOB_ID, s.PROJECT).agg(
        pl.col(first).min().alias(FIRST_DAY), pl.col(last).max().alias(LAST_DAY), *sums())


def summed(name: str, events: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """The rollup `name` of raw events (or of their `measures`)."""
    rollup, schema = ROLLUPS[name], schema_of(name)
    rows = measures(events.lazy()).filter(rollup.rows).group_by(pl.col(s.TS).dt.date().alias(s.DATE), *rollup.keys)
    size = events.height if isinstance(events, pl.DataFrame) else plans.SMALL
    return plans.collect(rows.agg(sums()).select(schema.names()).cast(schema), size)


# ---- reading -----------------------------------------------------------------------------------

def read(lake: Lake, name: str, start: dt.date | None = None, end: dt.date | None = None) -> pl.LazyFrame:
    """The rollup `name` of the days in [start, end]: one row per day and key, current whatever state
    the files beside the events are in. Writes nothing."""
    frames = [month.frame(name, start, end) for month in _months(lake, name, start, end)]
    if not frames:
        return pl.LazyFrame(schema=schema_of(name))
    frame = pl.concat(frames)
    if start is not None or end is not None:
        frame = frame.filter(pl.col(s.DATE).is_between(start or dt.date.min, end or dt.date.max))
    return frame


def runs(lake: Lake, start: dt.date | None = None, end: dt.date | None = None) -> pl.LazyFrame:
    """One row per run (job × project) with its first and last day in [start, end] and its measures
    summed there. A whole month whose file is current comes from its run file, which holds one row
    per run already ("the costliest runs this month" is then a top-k without a group-by)."""
    parts = []
    for month in _months(lake, "jobs", start, end):
        whole = (start is None or start <= month.first) and (end is None or end >= month.last)
        run_file = rollup_dir(lake, RUNS) / month.base.name if month.base is not None and month.clean else None
        if whole and run_file is not None and run_file.exists():
            parts.append(scan_parquet(run_file, hive_partitioning=False))
        else:
            days = month.frame("jobs", start, end).filter(pl.col(s.DATE).is_between(start or dt.date.min, end or dt.date.max))
            parts.append(per_run(days))
    if not parts:
        return pl.LazyFrame(schema=runs_schema())
    return parts[0] if len(parts) == 1 else per_run(pl.concat(parts), spans=True)


def uncovered(lake: Lake, start: dt.date | None = None, end: dt.date | None = None) -> list[dt.date]:
    """The days in [start, end] that a reader would sum from their events: none, once every write
    has finished; a writer stopped half way leaves some until the next rewrite or `refresh`."""
    return sorted({day for name in ROLLUPS for month in _months(lake, name, start, end) for day in month.stale
                   if (start is None or day >= start) and (end is None or day <= end)})


def rollup_dir(lake: Lake, name: str) -> Path:
    return lake.rollups_dir / name


@dataclass
class _Month:
    """What a month of one rollup is made of right now."""

    first: dt.date
    days: dict[dt.date, list[Path]]  # the data files of each day
    base: Path | None = None  # the month file
    bases: list[Path] = field(default_factory=list)  # every month file there (older ones wait for removal)
    covered: set[dt.date] = field(default_factory=set)  # days whose month-file rows are current
    gone: bool = False  # the month file holds days that have no events any more
    added: dict[Path, set[dt.date]] = field(default_factory=dict)  # appends' sums, and the days they count for
    spent: list[Path] = field(default_factory=list)  # appends' sums no day counts (files rewritten since)
    stale: dict[dt.date, list[Path]] = field(default_factory=dict)  # days to sum from their events

    @property
    def last(self) -> dt.date:
        return (self.first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)

    @property
    def clean(self) -> bool:
        """The month file alone is the month."""
        return not self.added and not self.stale and not self.gone and self.covered == set(self.days)

    def frame(self, name: str, start: dt.date | None = None, end: dt.date | None = None) -> pl.LazyFrame:
        """The month's rows (a stale day outside [start, end] is left out rather than summed)."""
        schema = schema_of(name)
        parts = []
        if self.base is not None and self.covered:
            base = scan_parquet(self.base, hive_partitioning=False).select(schema.names())
            parts.append(base if self.clean else base.filter(pl.col(s.DATE).is_in(sorted(self.covered))))
        by_days: dict[frozenset, list[Path]] = defaultdict(list)
        for path, days in self.added.items():
            by_days[frozenset(days)].append(path)
        for days, paths in by_days.items():
            parts.append(scan_parquet(paths, hive_partitioning=False).select(schema.names())
                         .filter(pl.col(s.DATE).is_in(sorted(days))))
        stale = [files for day, files in self.stale.items()
                 if (start is None or day >= start) and (end is None or day <= end)]
        for files in _day_batches(stale):
            parts.append(summed(name, _scan(files)).lazy())
        if not parts:
            return pl.LazyFrame(schema=schema)
        if len(parts) == 1 and self.clean:
            return parts[0]
        rollup = ROLLUPS[name]
        return pl.concat(parts).group_by(s.DATE, *rollup.keys).agg(sums()).select(schema.names())


def _months(lake: Lake, name: str, start: dt.date | None, end: dt.date | None) -> list[_Month]:
    """The months touching [start, end] that hold events, each with what makes it up."""
    first = start.replace(day=1) if start else None
    last = (end.replace(day=1) + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1) if end else None
    folder = rollup_dir(lake, name)
    # the appends' sums are listed before the data files: a sum listed belongs to a file listed
    added = _added(folder / ADDED, first, last)
    months: dict[str, _Month] = {}
    for day, files in lake.files_by_day(start=first, end=last).items():
        if files:
            key = day.strftime("%Y-%m")
            months.setdefault(key, _Month(day.replace(day=1), {})).days[day] = files
    bases = _bases(folder)
    for key, month in sorted(months.items()):
        month.bases = bases.get(key, [])
        _resolve(month, added.get(key, {}))
    return [month for _, month in sorted(months.items())]


def _resolve(month: _Month, added: dict[Path, dict[dt.date, list[str]]]) -> None:
    """Decide, day by day, what counts: the month file's rows, appends' sums, or the events themselves."""
    names = {day: {p.name for p in files} for day, files in month.days.items()}
    usable: dict[dt.date, set[str]] = defaultdict(set)  # names appends' sums cover, per day
    for path, files_by_day in added.items():
        days = {day for day, files in files_by_day.items() if day in names and set(files) <= names[day]}
        if days:
            month.added[path] = days
            for day in days:
                usable[day].update(files_by_day[day])
        else:
            month.spent.append(path)
    digests: dict[str, str] = {}
    if month.bases:
        month.base = max(month.bases, key=lambda p: _stat(p, "st_mtime"))
        digests = _metadata(month.base, DAYS_KEY) or {}
        month.gone = any(dt.date.fromisoformat(day) not in names for day in digests)
    for day, files in month.days.items():
        rest, counted = names[day] - usable[day], digests.get(day.isoformat(), digest(()))
        if counted == digest(rest):
            if rest:
                month.covered.add(day)
            continue
        if counted == digest(names[day]):  # a refresh summed files whose appends wrote their sums after it looked
            month.covered.add(day)
        else:
            month.stale[day] = files  # the events count for the whole day
        for path, days in list(month.added.items()):
            days.discard(day)
            if not days:
                del month.added[path]
                month.spent.append(path)


def _added(folder: Path, first: dt.date | None, last: dt.date | None) -> dict[str, dict[Path, dict[dt.date, list[str]]]]:
    """Appends' sums of each month ("YYYY-MM") in range, each with the data files it covers by day."""
    found: dict[str, dict[Path, dict[dt.date, list[str]]]] = {}
    for key in names_in(folder):
        if (first and key < first.strftime("%Y-%m")) or (last and key > last.strftime("%Y-%m")):
            continue
        for name in names_in(folder / key):
            if name.endswith(".parquet"):
                files = _metadata(path := folder / key / name, FILES_KEY)
                if files is not None:  # (unreadable: its days are summed from their events)
                    found.setdefault(key, {})[path] = {dt.date.fromisoformat(d): f for d, f in files.items()}
    return found


def _bases(folder: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = defaultdict(list)
    for name in names_in(folder):
        if name.endswith(".parquet"):
            found[name[:7]].append(folder / name)
    return found


def _metadata(path: Path, key: str) -> dict | None:
    try:
        return json.loads(read_parquet_metadata(path)[key])
    except (FileNotFoundError, KeyError, ValueError, pl.exceptions.PolarsError, OSError):
        return None


def _stat(path: Path, field: str) -> float:
    """A stat field of a file, 0 once another writer has removed it."""
    try:
        return getattr(path.stat(), field)
    except FileNotFoundError:
        return 0


def _scan(files: list[Path]) -> pl.LazyFrame:
    return scan_parquet(files, schema=s.POLARS_SCHEMA, hive_partitioning=False, missing_columns="insert",
                           extra_columns="ignore")


def _day_batches(days: list[list[Path]]) -> list[list[Path]]:
    """Whole days' files in batches of about SUM_BYTES: a day's rows are summed apart from other days
    (the date is a key), so memory follows a batch, not the month."""
    batches: list[list[Path]] = []
    size = SUM_BYTES
    for files in days:
        if size >= SUM_BYTES:
            batches.append([])
            size = 0
        batches[-1] += files
        size += sum(_stat(f, "st_size") for f in files)
    return batches


def digest(names: Iterable[str]) -> str:
    return hashlib.blake2b("\n".join(sorted(names)).encode(), digest_size=8).hexdigest()


# ---- keeping them current (the lake's writers call these) ----------------------------------------

def add(lake: Lake, published: list[tuple[dt.date, Path, pl.DataFrame]], *, fold: bool = True) -> list[dt.date]:
    """After an append: write the sums of the events it published (day, data file, events), one
    file per rollup and month. Costs what the append holds, not what its days hold; every
    `FOLD_AFTER` appends in a month are folded into its file, here, or (without `fold`) by the
    caller: the first days of the months due are returned."""
    due = []
    by_month: dict[str, list[tuple[dt.date, Path, pl.DataFrame]]] = defaultdict(list)
    for item in published:
        by_month[item[0].strftime("%Y-%m")].append(item)
    events = pl.concat([part for _, _, part in published]) if len(published) > 1 else published[0][2]
    measured = plans.collect(measures(events.lazy()), events.height)  # once for both rollups (planning costs more than a small append)
    month = pl.col(s.DATE).dt.strftime("%Y-%m")
    tables = {name: summed(name, measured) for name in ROLLUPS}  # every month at once, then split
    for key, items in by_month.items():
        files: dict[str, list[str]] = defaultdict(list)
        for day, path, _ in items:
            files[day.isoformat()].append(path.name)
        for name, table in tables.items():
            rows = table if len(by_month) == 1 else table.filter(month == key)
            _write(lake, rows, rollup_dir(lake, name) / ADDED / key / f"{uuid.uuid4().hex}.parquet", {FILES_KEY: json.dumps(files)})
        if len(names_in(rollup_dir(lake, "daily") / ADDED / key)) > FOLD_AFTER:
            due.append(items[0][0].replace(day=1))
    if fold:
        for first in due:
            refresh(lake, first, first, wait=False)
    return due


def refresh(lake: Lake, start: dt.date | None = None, end: dt.date | None = None, *, wait: bool = True) -> bool:
    """Make each month touching [start, end] one current file per rollup: days whose files changed
    are re-summed from their events, appends' sums folded in and removed, months without events
    any more removed. One process at a time (without `wait`, returns False at once if another is
    at it); appends and readers go on meanwhile."""
    with _maintaining(lake, wait) as mine:
        if not mine:
            return False
        first, last = (start.strftime("%Y-%m") if start else ""), (end.strftime("%Y-%m") if end else "~")
        for name in ROLLUPS:
            folder, bases = rollup_dir(lake, name), _bases(rollup_dir(lake, name))
            months = {month.first.strftime("%Y-%m"): month for month in _months(lake, name, start, end)}
            for month in months.values():
                if not _settled(lake, name, month):
                    _fold(lake, name, month)
            added = folder / ADDED
            gone = (set(bases) | set(names_in(added))) - set(months)
            for key in gone:  # months retention dropped whole
                if first <= key <= last:
                    _remove([*_with_runs(lake, bases.get(key, [])), *(added / key).glob("*.parquet")])
    return True


def _settled(lake: Lake, name: str, month: _Month) -> bool:
    """One month file alone is the month, nothing waits for removal, and its run file is there."""
    return (month.clean and len(month.bases) == 1 and not month.spent
            and (name != "jobs" or (rollup_dir(lake, RUNS) / month.base.name).exists()))


def _with_runs(lake: Lake, month_files: list[Path]) -> list[Path]:
    """Month files with the run files derived from them (jobs files name theirs)."""
    return [*month_files, *[rollup_dir(lake, RUNS) / p.name for p in month_files]]


def _fold(lake: Lake, name: str, month: _Month) -> None:
    rollup = ROLLUPS[name]
    table = month.frame(name).collect().sort(rollup.order)
    digests = {day.isoformat(): digest(p.name for p in files) for day, files in sorted(month.days.items())}
    target = rollup_dir(lake, name) / f"{month.first.strftime('%Y-%m')}-{digest(f'{d}:{h}' for d, h in digests.items())}.parquet"
    _write(lake, table, target, {DAYS_KEY: json.dumps(digests)})
    if name == "jobs":
        runs_table = per_run(table.lazy()).collect().sort([s.COST, s.JOB_ID], descending=[True, False], nulls_last=True)
        _write(lake, runs_table.select(runs_schema().names()), rollup_dir(lake, RUNS) / target.name, {})
    _remove([*_with_runs(lake, [p for p in month.bases if p != target]), *month.added, *month.spent])


def _write(lake: Lake, table: pl.DataFrame, target: Path, metadata: dict[str, str]) -> None:
    # never replaces: a reader holding the name's footer must find the same bytes (a file of the
    # same name holds the same rows)
    write_atomic(target, lambda f: table.write_parquet(f, compression="zstd", row_group_size=50_000,
                                                       metadata=metadata or None),
                 tmp=lake.tmp_path("rollup"), replace=False)


def _remove(paths: Iterable[Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


@contextlib.contextmanager
def _maintaining(lake: Lake, wait: bool) -> Iterator[bool]:
    """The rollups' own lock (released by the kernel if the process dies): one refresh at a time;
    appends and readers go on. Yields whether this process holds it."""
    with flocked(lake.rollup_lock_path, wait=wait) as mine:
        yield mine
