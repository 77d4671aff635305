"""Rollups: measures summed per UTC day and attribution, kept beside the events.

    <lake>/rollups/daily/<YYYY-MM>-<signature>.parquet   by provider, model, service, operation,
                                                         project, stage, agent, user, cost source, tags
    <lake>/rollups/jobs/<YYYY-MM>-<signature>.parquet    runs only: by job and project, sorted by job
    <lake>/rollups/runs/<YYYY-MM>-<signature>.parquet    one row per run and month, costliest first
                                                         (derived from the jobs file of the same name)

One file per month and rollup. A day's signature is a hash of the names of its data files;
every change to a partition (append, compaction, reprice) gives it new names, and retention
removes it, so a rollup built from other files is stale by construction. `daily` and `jobs`
bring the months they read up to date before answering, rebuilding only the days whose
signature changed, so a rollup is never silently wrong. `refresh` does the same ahead of
time (import, compaction, reprice and retention call it).

Examples:
    >>> import tempfile, datetime as dt
    >>> from ingest.demo import write_demo
    >>> from ingest.lake import Lake
    >>> lake = Lake(tempfile.mkdtemp())
    >>> _ = write_demo(lake, dt.date(2026, 3, 31), days=3)
    >>> days = daily(lake).collect()
    >>> round(days["cost_usd"].sum(), 6) == round(lake.scan().select("cost_usd").sum().collect().item(), 6)
    True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from analytics.measures import FAILED_COST, MEASURES, measures, period_bounds, sums
from ingest import schema as s
from ingest.files import write_atomic
from ingest.lake import ROLLUPS as ROLLUP_FOLDER, Lake

@dataclass(frozen=True)
class Rollup:
    keys: tuple[str, ...]
    rows: pl.Expr  # which events it sums
    order: tuple[str, ...]  # how its files are sorted


ROLLUPS: dict[str, Rollup] = {
    "daily": Rollup((s.PROVIDER, s.MODEL, s.SERVICE, s.OPERATION, s.PROJECT, s.STAGE, s.AGENT, s.USER, s.COST_SOURCE,
                     s.TAGS), pl.lit(True), (s.DATE,)),
    # runs only; a run's stages are a drill-down that raw events answer
    "jobs": Rollup((s.JOB_ID, s.PROJECT), pl.col(s.JOB_ID).is_not_null(), (s.JOB_ID, s.DATE)),
}
FLOATS = (s.COST, FAILED_COST, s.AUDIO_SECONDS, s.COMPUTE_SECONDS, s.QUANTITY)
SIGNATURE = "_signature"
SUM_BYTES = 16 << 20  # bytes of data files summed at once when a rollup is rebuilt
FIRST_DAY, LAST_DAY = "first_day", "last_day"


def schema_of(name: str) -> pl.Schema:
    return pl.Schema({s.DATE: pl.Date, **{k: pl.String for k in ROLLUPS[name].keys},
                      **{m: pl.Float64 if m in FLOATS else pl.Int64 for m in MEASURES}})


def rollup_dir(lake: Lake, name: str = "daily") -> Path:
    return lake.path(ROLLUP_FOLDER) / name


def daily(lake: Lake | str | os.PathLike[str], *, start: dt.date | None = None,
          end: dt.date | None = None) -> pl.LazyFrame:
    """The daily rollup of days in [start, end], brought up to date first."""
    return _read(lake, "daily", start, end)


def daily_jobs(lake: Lake | str | os.PathLike[str], *, start: dt.date | None = None,
               end: dt.date | None = None) -> pl.LazyFrame:
    """The per-run rollup (day × job × project, events with a job id only) of days in [start, end]."""
    return _read(lake, "jobs", start, end)


def runs(lake: Lake | str | os.PathLike[str], *, start: dt.date | None = None,
         end: dt.date | None = None) -> pl.LazyFrame:
    """One row per run (job × project) with its first and last day in [start, end] and its measures summed there.

    Whole months come from the month-grain run files, which hold one row per run already, so
    "the costliest runs this month" is a top-k without a group-by; part months are summed from
    the per-run daily rollup.

    Examples:
        >>> import tempfile
        >>> from ingest.demo import write_demo
        >>> lake = Lake(tempfile.mkdtemp())
        >>> _ = write_demo(lake, dt.date(2026, 3, 31), days=3)
        >>> found = runs(lake).collect()
        >>> found.height == lake.scan().select(pl.col("job_id").drop_nulls().n_unique()).collect().item()
        True
    """
    lake = lake if isinstance(lake, Lake) else Lake(lake)
    parts = []
    for month, source in _refresh(lake, "jobs", start, end):
        first = dt.date.fromisoformat(month + "-01")
        if (start is None or start <= first) and (end is None or end >= period_bounds(first, "month")[1]):
            parts.append(_lazy(_month_of_runs(lake, source)))
        else:
            days = _lazy(source).filter(pl.col(s.DATE).is_between(start or dt.date.min, end or dt.date.max))
            parts.append(_per_run(days))
    if not parts:
        return pl.LazyFrame(schema=_runs_schema())
    return parts[0] if len(parts) == 1 else _per_run(pl.concat(parts), spans=True)


def run_days(lake: Lake | str | os.PathLike[str], job_id: str) -> tuple[dt.date, dt.date] | None:
    """The first and last UTC day of a run's events, from the per-run rollup (None for an unknown run).

    The jobs files are sorted by job id, so their row-group statistics let the reader skip all
    but the row group holding the run: a drill-down can then scan those days only,
    `job_report(scan(lake, start=first, end=last), job_id)`.
    """
    found = daily_jobs(lake).filter(pl.col(s.JOB_ID) == job_id).select(
        pl.col(s.DATE).min().alias(FIRST_DAY), pl.col(s.DATE).max().alias(LAST_DAY)).collect().row(0)
    return None if found[0] is None else found


def refresh(lake: Lake, *, start: dt.date | None = None, end: dt.date | None = None) -> None:
    """Bring every rollup of the months touching [start, end] up to date."""
    _refresh(lake, "daily", start, end)
    for _, source in _refresh(lake, "jobs", start, end):
        _month_of_runs(lake, source)


def _per_run(frame: pl.LazyFrame, *, spans: bool = False) -> pl.LazyFrame:
    first, last = (FIRST_DAY, LAST_DAY) if spans else (s.DATE, s.DATE)
    return frame.group_by(s.JOB_ID, s.PROJECT).agg(
        pl.col(first).min().alias(FIRST_DAY), pl.col(last).max().alias(LAST_DAY), *sums())


def _runs_schema() -> pl.Schema:
    return pl.Schema({s.JOB_ID: pl.String, s.PROJECT: pl.String, FIRST_DAY: pl.Date, LAST_DAY: pl.Date,
                      **{m: dtype for m, dtype in schema_of("jobs").items() if m in MEASURES}})


def _month_of_runs(lake: Lake, jobs: Source) -> Source:
    """The month-grain run file derived from a month's jobs file (written when missing)."""
    target = rollup_dir(lake, "runs") / jobs.name if isinstance(jobs, Path) else None
    if target is None or not target.exists():
        table = _per_run(_lazy(jobs)).collect().sort([s.COST, s.JOB_ID], descending=[True, False], nulls_last=True)
        return _write(lake, table.select(_runs_schema().names()), target)
    return target


def _lazy(source: Source) -> pl.LazyFrame:
    return source.lazy() if isinstance(source, pl.DataFrame) else pl.scan_parquet(source, hive_partitioning=False)


def _read(lake: Lake | str | os.PathLike[str], name: str, start: dt.date | None, end: dt.date | None) -> pl.LazyFrame:
    lake = lake if isinstance(lake, Lake) else Lake(lake)
    sources = [source for _, source in _refresh(lake, name, start, end)]
    schema = schema_of(name)
    if not sources:
        return pl.LazyFrame(schema=schema)
    files = [p for p in sources if isinstance(p, Path)]
    frames = ([pl.scan_parquet(files, hive_partitioning=False)] if files else []) + [
        f.lazy() for f in sources if isinstance(f, pl.DataFrame)]
    frame = pl.concat([f.select(schema.names()) for f in frames])
    if start is not None or end is not None:
        frame = frame.filter(pl.col(s.DATE).is_between(start or dt.date.min, end or dt.date.max))
    return frame


Source = Path | pl.DataFrame  # a rollup file, or the rollup itself where the lake cannot be written


def _refresh(lake: Lake, name: str, start: dt.date | None, end: dt.date | None) -> list[tuple[str, Source]]:
    """Rebuild the stale days of each month in range; returns each month ("YYYY-MM") with its current
    file (on a lake this process cannot write, a stale month is summed in memory instead)."""
    first = start.replace(day=1) if start else None
    last = period_bounds(end, "month")[1] if end else None
    months: dict[str, dict[dt.date, list[Path]]] = defaultdict(dict)
    for day, files in lake.files_by_day(start=first, end=last).items():
        if files:
            months[day.strftime("%Y-%m")][day] = files
    folder = rollup_dir(lake, name)
    existing: dict[str, list[Path]] = defaultdict(list)
    if folder.exists():
        for p in folder.glob("*.parquet"):
            existing[p.name[:7]].append(p)
    current = []
    for month, days in sorted(months.items()):
        signatures = {d: _hash(p.name for p in files) for d, files in days.items()}
        target = folder / f"{month}-{_hash(f'{d}:{sig}' for d, sig in signatures.items())}.parquet"
        source: Source = target
        if not target.exists():
            try:
                source = _rebuild(lake, name, days, signatures, existing.get(month, []), target)
            except (FileNotFoundError, pl.exceptions.ComputeError):  # files replaced meanwhile: start again
                return _refresh(lake, name, start, end)
        current.append((month, source))
    if any(isinstance(source, pl.DataFrame) for _, source in current):
        return current  # a read-only lake: nothing to tidy
    for month, paths in existing.items():  # stale files, and months retention dropped
        in_range = (first is None or month >= first.strftime("%Y-%m")) and (last is None or month <= last.strftime("%Y-%m"))
        for p in paths:
            if in_range and (month, p) not in current:
                p.unlink(missing_ok=True)
                if name == "jobs":  # and the run file derived from it
                    (rollup_dir(lake, "runs") / p.name).unlink(missing_ok=True)
    return current


def _rebuild(lake: Lake, name: str, days: dict[dt.date, list[Path]], signatures: dict[dt.date, str],
             old: list[Path], target: Path) -> Source:
    """Write a month's rollup: rows of unchanged days are kept from the old file, changed days are re-read."""
    rollup, schema = ROLLUPS[name], schema_of(name)
    kept = pl.DataFrame(schema=schema | {SIGNATURE: pl.String})
    if old:
        previous = max(old, key=lambda p: p.stat().st_mtime)
        valid = pl.DataFrame({s.DATE: list(signatures), SIGNATURE: list(signatures.values())},
                             schema={s.DATE: pl.Date, SIGNATURE: pl.String})
        try:
            kept = pl.read_parquet(previous).join(valid, on=[s.DATE, SIGNATURE], how="semi")
        except (FileNotFoundError, pl.exceptions.PolarsError):
            pass  # another process replaced it: rebuild everything from the events
    done = set(kept[s.DATE].unique().to_list())
    fresh = []
    for files in _day_batches([paths for d, paths in sorted(days.items()) if d not in done]):
        # a file deleted since it was listed raises, and the caller starts again
        events = pl.scan_parquet(files, schema=s.POLARS_SCHEMA, hive_partitioning=False, missing_columns="insert",
                                 extra_columns="ignore").filter(rollup.rows)
        rows = measures(events).group_by(pl.col(s.TS).dt.date().alias(s.DATE), *rollup.keys).agg(sums()).collect()
        fresh.append(rows.select(schema.names()).cast(schema).with_columns(
            pl.col(s.DATE).replace_strict(signatures, return_dtype=pl.String).alias(SIGNATURE)))
    return _write(lake, pl.concat([kept, *fresh]).sort(rollup.order), target)


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
        size += sum(f.stat().st_size for f in files)
    return batches


def _write(lake: Lake, table: pl.DataFrame, target: Path | None) -> Source:
    """Write a rollup file; where the lake is read-only (or there is no file to write) the table
    itself is the answer."""
    if target is None or not lake.writable():
        return table
    # never replaces: a reader holding the name's footer must find the same bytes (another process
    # that wrote the same month and signature first wrote the same rows)
    write_atomic(target, lambda f: table.write_parquet(f, compression="zstd", row_group_size=50_000),
                 tmp=lake.tmp_path("rollup"), replace=False)
    return target


def _hash(parts) -> str:
    return hashlib.blake2b("\n".join(sorted(parts)).encode(), digest_size=8).hexdigest()
