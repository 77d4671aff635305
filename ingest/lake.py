"""The Parquet lake: atomic appends, exactly-once event ids, compaction, retention, reprice; in a
folder or in a bucket (`s3://bucket/prefix`: see `ingest.objects` for what differs there).

Layout: `LAYOUT` names everything the lake holds, and every module reaches its files through the
`Lake` (`lake.path(name)`); any Parquet engine reads `events/` as a hive-partitioned dataset.

Guarantees: a file appears whole or not at all (written in `_tmp/`, fsynced, renamed);
appends from many processes serialise only the final check-and-rename, under the lock,
where event ids already in the partition are dropped, so an id counts once. A rewrite
(compaction, reprice) writes its new file, records a journal entry naming the files it
replaces, renames the new file in, deletes the old ones and then the journal entry:
readers skip files a journal entry names, and the next writer finishes or undoes an
interrupted rewrite. SIGKILL at any point loses no acknowledged event and doubles none.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import functools
import hashlib
import io
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl

from ingest import rollups, schema as s
from ingest.errors import LakeError
from ingest.files import fsync_dir, write_atomic
from ingest.objects import OTHER_SCHEMES, Lease, ObjectPath, is_remote, names_in, scan_parquet, sizes_of

PARTITION_PREFIX = "date="
PARQUET_OPTIONS = dict(compression="zstd", compression_level=1, statistics=True)
REWRITE_ROWS = 100_000  # events a compaction or reprice merges into one file at most (its memory follows)
READ_BYTES = 1 << 20  # bytes of data files read at once by a rewrite
STALE_TMP_SECONDS = 3600  # a temp file whose name does not say its writer is removed after this long
KNOWN_IDS = 1_000_000  # ids a writer of small appends keeps in memory (1M 32-character ids: 109 MiB), see `_KnownIds`
SMALL_APPEND = 10_000  # events of one day in an append small enough to use and feed `_KnownIds`
_PARTITION_NAME = re.compile(r"date=\d{4}-\d\d-\d\d")
_PART_FILE = re.compile(r"part-[\w-]+\.parquet")  # a plain file name: no folder, no "..", no separator
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppendResult:
    written: int
    duplicates: int
    files: int
    existing: frozenset[str] = frozenset()  # ids that were in the lake already (skipped)
    fold_due: tuple[dt.date, ...] = ()  # months whose rollup sums the caller should fold (`append(fold=False)`)


@dataclass(frozen=True)
class RewriteResult:
    partitions: int
    files_before: int
    files_after: int
    events_before: int
    events_after: int


EVENTS, ROLLUPS, REPORTED, QUARANTINE = "events", "rollups", "reported", "quarantine"
BUDGETS, ALERTS, ESTIMATES, OVERRIDES, IMPORTS = "budgets", "alerts", "estimates", "overrides", "imports"
TMP, JOURNAL, LOCK, TRASH = "tmp", "journal", "lock", "trash"
ADDED, ROLLUP_LOCK, KEYS, AUDIT = "added", "rollup lock", "keys", "audit"
DELIVERIES, ACKS, NOTIFY_LOCK, WORKSPACES = "deliveries", "acknowledged", "notify lock", "workspaces"
FORECASTS, USAGE_SUMS, FX_RATES = "forecasts", "usage sums", "fx rates"
LAYOUT: Final = {  # everything a lake holds: (its path under the lake's root, the files in it, what it is)
    EVENTS: ("events", "date=YYYY-MM-DD/part-<time>-<random>.parquet", "the events: zstd, one fixed schema"),
    ROLLUPS: ("rollups", "<daily|jobs|runs>/<YYYY-MM>-<digest>.parquet",
              "sums per day and attribution, per day and run, per run and month"),
    ADDED: ("rollups", "<daily|jobs>/added/<YYYY-MM>/<id>.parquet", "each append's sums, until folded into its month's file"),
    ROLLUP_LOCK: ("rollups/_lock", "", "flock: one rollup refresh at a time (in a bucket: a lease)"),
    FORECASTS: ("rollups/forecasts", "<digest>.json", "fitted forecasts, named by the complete days they read"),
    USAGE_SUMS: ("rollups/usage", "<YYYY-MM-DD>-<digest>.parquet",
                 "Optimize's usage sums of a day, named by the day's data files"),
    REPORTED: ("reported", "<digest>.parquet", "providers' cost reports, billed per day (reconcile)"),
    QUARANTINE: ("quarantine", "<source>-<time>.jsonl", "rejected records with their reasons and source text"),
    BUDGETS: ("budgets.json", "", "the budgets"),
    ALERTS: ("alerts.jsonl", "", "every alert fired, oldest first"),
    ESTIMATES: ("estimates.jsonl", "", "estimates recorded against runs"),
    WORKSPACES: ("workspaces.json", "", "workspaces (projects and members) and the admins who see every project"),
    ACKS: ("alerts_acknowledged.jsonl", "", "alerts a person acknowledged: which, who, when"),
    DELIVERIES: ("deliveries.jsonl", "", "each alert sent (or tried) to each webhook and e-mail recipient"),
    AUDIT: ("audit.jsonl", "", "who changed what and when, oldest first (append-only)"),
    OVERRIDES: ("prices/overrides.csv", "", "negotiated rates (they win over the catalog and genai-prices)"),
    FX_RATES: ("fx/rates.csv", "", "the team's own exchange rates: date, currency, units per US dollar"),
    IMPORTS: ("_imports.json", "", "what was read of each imported file (re-imports skip or resume)"),
    KEYS: ("keys.json", "", "the server's API keys: names, scopes, salted hashes (never a token)"),
    TMP: ("_tmp", "<kind>-<pid>.<start>-<random>", "files being written, named by their writer"),
    JOURNAL: ("_journal", "<id>.json", "one note per partition rewrite in flight (crash recovery)"),
    LOCK: ("_lock", "", "flock: exclusive for changes, shared for listing (in a bucket: the writers' lease)"),
    NOTIFY_LOCK: ("_notify_lock", "", "flock: one sender of alerts at a time"),
    TRASH: ("_trash", "<date>-<random>", "partitions retention is dropping"),
}


def layout() -> str:
    """`LAYOUT` as the lines the README shows."""
    return "\n".join(f"{(where + '/' + files) if files else where:<60} {what}" for where, files, what in LAYOUT.values())


class Lake:
    """A lake on the local file system.

    Examples:
        >>> import tempfile, datetime as dt, polars as pl
        >>> from ingest import schema
        >>> lake = Lake(tempfile.mkdtemp())
        >>> raw = pl.DataFrame({"event_id": ["a"], "ts": ["2026-01-05T10:00:00Z"], "provider": ["openai"],
        ...                     "model": ["gpt-4o"], "service": ["llm"], "input_tokens": [1000]})
        >>> events = schema.validate(raw).events.with_columns(cost_source=pl.lit("computed"))
        >>> lake.append(events).written, lake.append(events).duplicates
        (1, 1)
        >>> lake.scan().select(pl.len()).collect().item()
        1
    """

    def __init__(self, root: str | os.PathLike[str] | ObjectPath) -> None:
        if str(root).startswith(OTHER_SCHEMES):
            raise LakeError(f"{root}: only s3:// (Amazon S3 or a server speaking its protocol) is supported for "
                            "object storage; Google Cloud Storage and Azure can serve it through their S3 interfaces")
        self.remote = is_remote(root)
        self.root = root if isinstance(root, ObjectPath) else ObjectPath.parse(str(root)) if self.remote else Path(root)
        if not self.remote and "://" in str(root):
            raise LakeError(f"{root}: not a folder nor an s3:// address")
        self._known = _KnownIds()
        self._lease = Lease(self.path(LOCK)) if self.remote else None

    def path(self, name: str) -> Path:
        """Where one of the `LAYOUT` entries lives in this lake."""
        return self.root / LAYOUT[name][0]

    events_dir = property(lambda self: self.path(EVENTS))
    tmp_dir = property(lambda self: self.path(TMP))
    journal_dir = property(lambda self: self.path(JOURNAL))
    quarantine_dir = property(lambda self: self.path(QUARANTINE))
    overrides_path = property(lambda self: self.path(OVERRIDES))
    rollups_dir = property(lambda self: self.path(ROLLUPS))
    rollup_lock_path = property(lambda self: self.path(ROLLUP_LOCK))

    def exists(self) -> bool:
        """Whether a lake is there: events, budgets, prices or the lock file of one."""
        return any(p.exists() for p in (self.events_dir, self.path(BUDGETS), self.overrides_path.parent, self.path(LOCK)))

    def writable(self) -> bool:
        """Whether this process may write here (not on a read-only mount, nor without permission;
        in a bucket, a write that is refused says so itself)."""
        return self.remote or os.access(self.root, os.W_OK)

    def partition_dir(self, day: dt.date) -> Path:
        return self.events_dir / f"{PARTITION_PREFIX}{day.isoformat()}"

    @contextlib.contextmanager
    def lock(self, *, shared: bool = False) -> Iterator[None]:
        """Hold the lake's lock (released by the kernel if the process dies).

        The shared lock (readers) needs no write access: on a read-only mount it is taken on
        the lock file opened for reading, or not at all where there is none (nobody can be
        writing there either). In a bucket, the exclusive lock is the lake's lease
        (`objects.Lease`: one writer at a time, whatever its machine) and readers take none: a
        listing there shows every finished write, and the journal hides what a rewrite replaces."""
        if self._lease is not None:
            if shared:
                yield
                return
            if not self._lease.acquire():
                raise LakeError(f"{self.root}: another writer holds the lake: {self._lease.holder()}; "
                                f"waited {self._lease.wait:.0f} s (trackers on other machines write through "
                                "`spendlake serve`)")
            try:
                yield
            finally:
                self._lease.release()
            return
        if not shared:
            self.root.mkdir(parents=True, exist_ok=True)
        path = self.path(LOCK)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            if not shared or e.errno not in (*_READ_ONLY, errno.ENOENT):
                raise
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                yield
                return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    # ---- reading -------------------------------------------------------------------------

    def partitions(self) -> list[dt.date]:
        """The partition dates present, oldest first; a stray folder fails loudly."""
        names = names_in(self.events_dir)  # plain names: dashboards list the partitions on every read
        days = []
        for name in names:
            if name.startswith((".", "_")):
                continue
            try:
                if not name.startswith(PARTITION_PREFIX):
                    raise ValueError
                days.append(dt.date.fromisoformat(name[len(PARTITION_PREFIX):]))
            except ValueError:
                raise LakeError(f"{self.events_dir / name}: not a partition folder (expected "
                                f"{PARTITION_PREFIX}YYYY-MM-DD); move it out of the lake") from None
        return sorted(days)

    def files(self, day: dt.date | None = None, *, start: dt.date | None = None,
              end: dt.date | None = None) -> list[Path]:
        """The visible data files of one partition, of dates in [start, end], or of all."""
        with self.lock(shared=True):
            return self._files(day, start=start, end=end)

    def files_by_day(self, *, start: dt.date | None = None, end: dt.date | None = None) -> dict[dt.date, list[Path]]:
        """The visible data files of each partition dated in [start, end], listed under one lock."""
        with self.lock(shared=True):
            return self._listed([d for d in self.partitions()
                                 if (start is None or d >= start) and (end is None or d <= end)], self._replaced())

    def _files(self, day: dt.date | None = None, *, start: dt.date | None = None,
               end: dt.date | None = None) -> list[Path]:
        days = [day] if day is not None else [
            d for d in self.partitions() if (start is None or d >= start) and (end is None or d <= end)]
        return [p for files in self._listed(days, self._replaced()).values() for p in files]

    def _listed(self, days: list[dt.date], replaced: set[Path]) -> dict[dt.date, list[Path]]:
        """The visible data files of each of these days. In a bucket, one listing per month of
        them (keys are listed by prefix, `date=YYYY-MM-`), not one per day."""
        if not self.remote or len(days) < 2:
            return {d: self._day_files(d, replaced) for d in days}
        wanted = set(days)
        found: dict[dt.date, list[Path]] = {d: [] for d in days}
        for month in sorted({d.strftime("%Y-%m") for d in days}):
            for key in self.events_dir.keys_under(f"{PARTITION_PREFIX}{month}-"):
                folder, _, name = key.partition("/")
                if "/" in name or not (name.startswith("part-") and name.endswith(".parquet")):
                    continue
                try:
                    day = dt.date.fromisoformat(folder[len(PARTITION_PREFIX):])
                except ValueError:
                    continue
                if day in wanted and (path := self.events_dir / key) not in replaced:
                    found[day].append(path)
        return {d: sorted(files) for d, files in found.items()}

    def _day_files(self, day: dt.date, replaced: set[Path]) -> list[Path]:
        folder = self.partition_dir(day)
        files = [folder / n for n in sorted(names_in(folder)) if n.startswith("part-") and n.endswith(".parquet")]
        return [p for p in files if p not in replaced] if replaced else files

    def _replaced(self) -> set[Path]:
        replaced: set[Path] = set()
        for entry in self._journal_entries():
            if not entry["new"] or (self.events_dir / entry["partition"] / entry["new"]).exists():
                replaced.update(self.events_dir / entry["partition"] / old for old in entry["old"])
        return replaced

    def _journal_entries(self) -> list[dict]:
        """The rewrites in flight. An entry that names anything but a partition folder of this
        lake and plain data file names in it is refused (a warning names it) and touches nothing."""
        if not self.remote and not self.journal_dir.exists():  # (in a bucket, the listing alone tells)
            return []
        entries = []
        for p in self.journal_dir.glob("*.json"):
            try:
                entry = json.loads(p.read_text())
            except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
                continue
            problem = _journal_problem(entry)
            if problem:
                log.warning("%s: %s; the entry is ignored and nothing it names is touched (move it out of "
                            "the lake)", p, problem)
                continue
            entries.append(entry | {"_path": str(p)})
        return entries

    def scan(self, *, start: dt.date | None = None, end: dt.date | None = None,
             files: list[Path] | None = None) -> pl.LazyFrame:
        """A LazyFrame over the events dated in [start, end] (UTC), or of these data `files`, fixed
        schema plus `date`."""
        files = self.files(start=start, end=end) if files is None else files
        if not files:
            return s.empty_events().lazy().with_columns(pl.lit(None, pl.Date).alias(s.DATE))
        return scan_parquet(files, hive_partitioning=True, hive_schema=s.HIVE_SCHEMA, schema=s.POLARS_SCHEMA,
                            missing_columns="insert", extra_columns="ignore")

    def version(self) -> str:
        """Changes whenever events are added, rewritten or dropped: a short cache key for readers
        (a digest of every file's name: a data file never changes and its name is never used again;
        Streamlit hashes a tuple of them item by item)."""
        listing = "\n".join(p.name for p in self.files())
        return hashlib.blake2b(listing.encode(), digest_size=16).hexdigest()

    # ---- writing -------------------------------------------------------------------------

    def append(self, events: pl.DataFrame, *, check_existing: bool = True, fold: bool = True) -> AppendResult:
        """Add priced events; ids already in their day's partition or repeated in the batch are skipped.

        `check_existing=False` skips the look-up of ids already in the lake: only for ids
        that cannot be there (freshly generated ones), never for imported or retried events.
        `fold=False` leaves the folding of the rollups' sums that falls due to the caller
        (`rollups.refresh` of each month in `fold_due`), e.g. to a thread that nobody waits for.
        """
        if events.height == 0:
            return AppendResult(0, 0, 0)
        days = _by_day(events.select(s.COLUMNS))
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        temps: list[Path] = []  # every temp file made here, removed at the end whatever happens

        def stage(item: tuple[tuple[dt.date], pl.DataFrame]) -> tuple[dt.date, pl.DataFrame, Path]:
            (day,), part = item
            if part[s.EVENT_ID].n_unique() < part.height:  # rare: checking is far cheaper than deduplicating
                part = part.unique(subset=s.EVENT_ID, keep="first", maintain_order=True)
            if not part[s.TS].is_sorted():
                part = part.sort(s.TS)
            if self.remote:  # (written under its final name, once its ids are checked)
                return day, part, None
            temps.append(tmp := self._write_tmp(part))
            return day, part, tmp

        written = files = 0
        published: list[tuple[dt.date, Path, pl.DataFrame]] = []
        found: set[str] = set()
        try:
            staged = _threads(stage, list(days.items()), 4)  # Polars releases the GIL
            duplicates = events.height - sum(part.height for _, part, _ in staged)
            with self.lock():
                self._recover()
                replaced = self._replaced()
                listing = self._listed([day for day, _, _ in staged], replaced) if check_existing else {}

                def existing(item: tuple[dt.date, pl.DataFrame, Path | None]) -> set[str]:
                    day, part, _ = item
                    if not check_existing:
                        return set()
                    listed = listing[day]
                    return (self._known.existing(day, listed, part[s.EVENT_ID], self._ids) if part.height <= SMALL_APPEND
                            else self._ids(listed, part[s.EVENT_ID]))
                # in a bucket each day's listing and each upload wait on the network: on threads
                checked = zip(staged, _threads(existing, staged, 8) if self.remote else map(existing, staged))
                uploads = []
                for (day, part, tmp), there in checked:
                    if there:
                        found |= there
                        fresh = part.filter(~pl.col(s.EVENT_ID).is_in(list(there)))
                        duplicates += part.height - fresh.height
                        if tmp is not None:
                            tmp.unlink()
                        if fresh.height == 0:
                            continue
                        part, tmp = fresh, None if self.remote else self._write_tmp(fresh)
                        if tmp is not None:
                            temps.append(tmp)
                    if self.remote:
                        uploads.append((day, part))
                    else:
                        published.append((day, self._publish(tmp, day), part))
                if uploads:
                    targets = _threads(lambda item: self._put(item[1], item[0]), uploads, 8)
                    published += [(day, target, part) for (day, part), target in zip(uploads, targets)]
                for day, target, part in published:
                    if part.height <= SMALL_APPEND:
                        self._known.add(day, target, part[s.EVENT_ID])
                    written += part.height
                    files += 1
        finally:
            for tmp in temps:
                tmp.unlink(missing_ok=True)
        due = rollups.add(self, published, fold=fold) if published else []  # after the lock: the sums it added
        return AppendResult(written, duplicates, files, frozenset(found), tuple(due))

    def _ids(self, files: list[Path], candidates: pl.Series) -> set[str]:
        if not files:
            return set()
        ids = scan_parquet(files, schema={s.EVENT_ID: pl.String}, extra_columns="ignore").filter(
            pl.col(s.EVENT_ID).is_between(pl.lit(candidates.min()), pl.lit(candidates.max()))  # statistics skip files
            & pl.col(s.EVENT_ID).is_in(candidates.implode())).select(s.EVENT_ID).collect()
        return set(ids[s.EVENT_ID])

    def tmp_path(self, kind: str = "part", suffix: str = ".parquet") -> Path:
        """A fresh temp file name in `_tmp/` that says which process writes it, so that the next
        writer removes it once that process is gone (a SIGKILL leaves no litter for long)."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        return self.tmp_dir / f"{kind}-{writer_tag()}-{uuid.uuid4().hex}{suffix}"

    def _write_tmp(self, part: pl.DataFrame) -> Path:
        tmp = self.tmp_path()
        try:
            with open(tmp, "wb") as f:
                _write_events(part, f)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:  # a full disk must not leave an empty or partial file behind
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    def _put(self, part: pl.DataFrame, day: dt.date, name: str | None = None) -> ObjectPath:
        """Write a data file in a bucket under its final name, whole (one PUT that never replaces):
        the moment it becomes visible. The lease must be held."""
        buffer = io.BytesIO()
        _write_events(part, buffer)
        self._still_held()
        target = self.partition_dir(day) / (name or _part_name())
        if target.write_bytes(buffer.getvalue(), exclusive=True) is None:
            raise LakeError(f"{target}: a data file of that name exists already")
        return target

    def _still_held(self) -> None:
        if self._lease is not None and not self._lease.held:
            raise LakeError(f"{self.root}: this writer lost the lake's lease (it stalled longer than the lease "
                            f"lasts); {self._lease.holder()} holds it now, and nothing more was written")

    def _publish(self, tmp: Path, day: dt.date, name: str | None = None) -> Path:
        """Rename a whole temp file into its partition (the moment it becomes visible)."""
        folder = self.partition_dir(day)
        if not folder.exists():
            folder.mkdir(parents=True, exist_ok=True)
        target = folder / (name or _part_name())
        os.replace(tmp, target)
        fsync_dir(folder)
        return target

    # ---- rewriting -----------------------------------------------------------------------

    def rewrite(self, day: dt.date, transform: Callable[[pl.DataFrame], pl.DataFrame | None], *,
                min_files: int = 1) -> tuple[int, int, int, int] | None:
        """Replace one partition's files by `transform(their events)`; appends may go on meanwhile.

        The files are taken in groups of about `REWRITE_ROWS` events, each replaced by one file on
        its own (so memory follows that, not the day's size); an id already kept by an earlier
        group is dropped from a later one. Returns (files before, files after, events before,
        events after), or None if nothing was replaced (fewer than `min_files` files, `transform`
        returned None, or another rewrite won). The day's rollups are left to the caller:
        `rewrite_all` (compaction, reprice) brings them up to date once for all its days.
        """
        with self.lock(shared=True):
            snapshot = self._files(day)
        if len(snapshot) < min_files:
            return None
        totals, kept = [0, 0, 0, 0], pl.Series(s.EVENT_ID, [], pl.String)  # ids of the groups before
        try:
            for group, before in _groups(snapshot):
                earlier = before[s.EVENT_ID].is_in(kept.implode())
                kept = pl.concat([kept, before[s.EVENT_ID]])
                if earlier.any():
                    before = before.filter(~earlier)
                elif len(group) < min_files:
                    continue
                after = transform(before)
                if after is None or not self._replace(day, group, after):
                    continue
                for k, v in enumerate((len(group), 1 if after.height else 0, before.height, after.height)):
                    totals[k] += v
        except FileNotFoundError:  # another rewrite replaced files meanwhile
            pass
        return tuple(totals) if totals[0] else None

    def _replace(self, day: dt.date, old: list[Path], after: pl.DataFrame) -> bool:
        """Put `after` in place of the files `old`, atomically for readers (False if one is gone)."""
        tmp = self._write_tmp(after) if after.height and not self.remote else None
        try:
            with self.lock():
                self._recover()
                listed = set(names_in(self.partition_dir(day)))
                if not all(p.name in listed for p in old):
                    return False
                new_name = _part_name() if after.height else ""
                journal = self._write_journal({"partition": self.partition_dir(day).name, "new": new_name,
                                               "old": [p.name for p in old]})
                if tmp is not None:
                    self._publish(tmp, day, new_name)
                elif new_name:
                    self._put(after, day, new_name)
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        # From here the journal hides the old files from every Spendlake reader and writer, so
        # deleting them needs no lock (a crash here is finished by the next writer's _recover).
        _threads(_unlink_all, [old[i::8] for i in range(8)], 8)  # unlink waits on the file system
        fsync_dir(self.partition_dir(day))
        journal.unlink(missing_ok=True)
        return True

    def _write_journal(self, entry: dict) -> Path:
        path = self.journal_dir / f"{uuid.uuid4().hex}.json"
        write_atomic(path, json.dumps(entry))
        return path

    def _recover(self) -> None:
        """Finish rewrites a crash interrupted; drop stale temp files. Call under the lock."""
        for entry in self._journal_entries():
            folder = self.events_dir / entry["partition"]
            if not entry["new"] or (folder / entry["new"]).exists():
                for old in entry["old"]:
                    (folder / old).unlink(missing_ok=True)
            (self.journal_dir / Path(entry["_path"]).name).unlink(missing_ok=True)
        if not self.remote and self.tmp_dir.exists():
            cutoff = time.time() - STALE_TMP_SECONDS
            for p in self.tmp_dir.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    writer = _writer_of(p.name)
                    if (not alive(writer)) if writer else p.stat().st_mtime < cutoff:
                        p.unlink()

    def compact(self, days: list[dt.date] | None = None, *, min_files: int = 2) -> RewriteResult:
        """Merge each partition's files into one, sorted by time, without duplicate ids."""
        def merge(events: pl.DataFrame) -> pl.DataFrame:
            return events.unique(subset=s.EVENT_ID, keep="first", maintain_order=True).sort(s.TS)
        return self.rewrite_all(days, merge, min_files=min_files)

    def rewrite_all(self, days: list[dt.date] | None, transform: Callable[[pl.DataFrame], pl.DataFrame | None],
                     *, min_files: int = 1) -> RewriteResult:
        """`rewrite` each of these days (default: all), then bring the rollups of the days it changed,
        or found stale, up to date. A rewrite a crash interrupted is finished first, even where
        nothing is left to rewrite (its merged file alone is what readers see)."""
        with self.lock():
            self._recover()
        totals, changed = [0, 0, 0, 0, 0], []
        for day in days if days is not None else self.partitions():
            done = self.rewrite(day, transform, min_files=min_files)
            if done is not None:
                changed.append(day)
                totals[0] += 1
                for i, v in enumerate(done, start=1):
                    totals[i] += v
        # and the days an earlier rewrite, stopped before its refresh, left stale
        stale = (rollups.uncovered(self) if days is None
                 else rollups.uncovered(self, min(days), max(days)) if days else [])
        if changed or stale:
            rollups.refresh(self, min(changed + stale), max(changed + stale))
        return RewriteResult(*totals)

    def drop_before(self, cutoff: dt.date) -> list[dt.date]:
        """Drop whole partitions dated before `cutoff` (retention); returns the dropped dates."""
        dropped = []
        trash = self.path(TRASH)
        with self.lock():
            for day in self.partitions():
                if day < cutoff:
                    if self.remote:  # no rename of a folder in a bucket: a rewrite of the day into nothing
                        self._replace(day, self._day_files(day, set()), s.empty_events())
                    else:
                        trash.mkdir(parents=True, exist_ok=True)
                        os.replace(self.partition_dir(day), trash / f"{day.isoformat()}-{uuid.uuid4().hex[:8]}")
                    dropped.append(day)
            if dropped:
                fsync_dir(self.events_dir)
        if not self.remote:
            shutil.rmtree(trash, ignore_errors=True)
        if dropped:
            rollups.refresh(self, end=cutoff)
            for day in dropped:  # and what was kept of those days for Optimize
                for kept in self.path(USAGE_SUMS).glob(f"{day.isoformat()}-*.parquet"):
                    kept.unlink(missing_ok=True)
        return dropped


class _KnownIds:
    """The event ids of each day's data files that this process has read or written, so that a
    small append (a server's group commit, a Tracker's flush) reads only the files of the day it
    has not seen, not every file of the day again (that grew with each commit: 26 ms per commit
    after 100k events in 300-event commits).

    What is known of a file stays true, since a published data file never changes (a rewrite
    makes new ones); when a file known here is no longer listed (compacted, repriced, dropped),
    the day is read again. At most `KNOWN_IDS` ids are kept: the day used longest ago is
    forgotten first, and a day with more ids than that is left to the reader's filtered scan.
    """

    def __init__(self) -> None:
        self._days: OrderedDict[dt.date, tuple[set[Path], set[str]]] = OrderedDict()
        self._size = 0
        self._too_big: set[dt.date] = set()
        self._lock = threading.Lock()

    def existing(self, day: dt.date, listed: list[Path], candidates: pl.Series,
                 scan: Callable[[list[Path], pl.Series], set[str]]) -> set[str]:
        """The `candidates` already in the day's `listed` files (`scan` answers for a day too big)."""
        with self._lock:
            if day in self._too_big:
                return scan(listed, candidates)
            files, ids = self._take(day)
            if not files <= set(listed):
                files, ids = set(), set()
            new = [p for p in listed if p not in files]
            if new:
                ids.update(scan_parquet(new, schema={s.EVENT_ID: pl.String}, extra_columns="ignore")
                           .collect(engine="in-memory")[s.EVENT_ID].to_list())
                files.update(new)
            found = {i for i in candidates.to_list() if i in ids}
            if len(ids) > KNOWN_IDS:
                self._too_big.add(day)
            else:
                self._keep(day, files, ids)
            return found

    def add(self, day: dt.date, file: Path, ids: pl.Series) -> None:
        """A file just published with these ids."""
        with self._lock:
            if day not in self._too_big:
                files, known = self._take(day)
                files.add(file)
                known.update(ids.to_list())
                self._keep(day, files, known)

    def _take(self, day: dt.date) -> tuple[set[Path], set[str]]:
        files, ids = self._days.pop(day, (set(), set()))
        self._size -= len(ids)
        return files, ids

    def _keep(self, day: dt.date, files: set[Path], ids: set[str]) -> None:
        self._days[day] = (files, ids)
        self._size += len(ids)
        while self._size > KNOWN_IDS and len(self._days) > 1:
            _, (_, old) = self._days.popitem(last=False)
            self._size -= len(old)


def _by_day(events: pl.DataFrame) -> dict[tuple[dt.date], pl.DataFrame]:
    """The events split by UTC day; time-ordered input (the usual case) is sliced, not copied."""
    if not events[s.TS].is_sorted():
        return events.with_columns(pl.col(s.TS).dt.date().alias(s.DATE)).partition_by(
            s.DATE, as_dict=True, include_key=False)
    runs = events[s.TS].dt.date().rle()
    offsets = runs.struct.field("len").cum_sum() - runs.struct.field("len")
    return {(day,): events.slice(offset, length)
            for day, offset, length in zip(runs.struct.field("value"), offsets, runs.struct.field("len"))}


def _groups(files: list[Path]) -> Iterator[tuple[list[Path], pl.DataFrame]]:
    """The files in order, in groups holding about REWRITE_ROWS events, each with its events.
    Files are read a few MB at a time (many small files on threads), so memory stays near a group."""
    group: list[Path] = []
    frames: list[pl.DataFrame] = []
    held: tuple[list[Path], pl.DataFrame] | None = None  # the last full group, kept back for a small rest
    rows = start = 0
    sizes = sizes_of(files)
    while start < len(files):
        chunk, size = [], 0
        while start < len(files) and (not chunk or size < READ_BYTES):
            chunk.append(files[start])
            size += sizes[files[start]]
            start += 1
        frame = _read(chunk)
        group += chunk
        frames.append(frame)
        rows += frame.height
        if rows >= REWRITE_ROWS:
            if held:
                yield held
            held, group, frames, rows = (group, pl.concat(frames)), [], [], 0
    if held and group and rows < REWRITE_ROWS // 2:  # a small rest joins the group before it
        held, group = (held[0] + group, pl.concat([held[1], *frames])), []
    if held:
        yield held
    if group:
        yield group, pl.concat(frames)


def _read(files: list[Path]) -> pl.DataFrame:
    """The events of these files, in file order. Many small files are read by four threads:
    opening a file waits on the file system, so 10,000 files read ~40 % faster that way."""
    def scan(group: list[Path]) -> pl.DataFrame:
        return scan_parquet(group, schema=s.POLARS_SCHEMA, missing_columns="insert", extra_columns="ignore",
                               hive_partitioning=False).collect()
    if len(files) < 256:
        return scan(files)
    groups = [files[i * len(files) // 4:(i + 1) * len(files) // 4] for i in range(4)]
    return pl.concat(_threads(scan, groups, 4))


def _threads(fn: Callable, items: list, workers: int) -> list:
    """`[fn(x) for x in items]` on up to `workers` threads; in this thread alone at interpreter exit,
    when no new thread may start (an unclosed Tracker is flushed then)."""
    if len(items) < 2:
        return [fn(x) for x in items]
    try:
        with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
            futures = [pool.submit(fn, x) for x in items]
    except RuntimeError:  # "cannot schedule new futures after interpreter shutdown"
        return [fn(x) for x in items]
    return [f.result() for f in futures]


def _journal_problem(entry: object) -> str | None:
    """Why a journal entry cannot be one this lake wrote (None when it can)."""
    if not isinstance(entry, dict):
        return "not a journal entry (expected an object)"
    partition, new, old = entry.get("partition"), entry.get("new"), entry.get("old")
    if not isinstance(partition, str) or not _PARTITION_NAME.fullmatch(partition):
        return f"partition={str(partition)[:60]!r} is not a partition folder of this lake (date=YYYY-MM-DD)"
    if not isinstance(new, str) or (new and not _PART_FILE.fullmatch(new)):
        return f"new={str(new)[:60]!r} is not a data file name (part-….parquet)"
    if not isinstance(old, list) or not all(isinstance(n, str) and _PART_FILE.fullmatch(n) for n in old):
        return "old must list data file names of the partition (part-….parquet)"
    return None


def _process_start(pid: int) -> str | None:
    """When a process started (clock ticks since boot), or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def writer_tag() -> str:
    """This process as `<pid>.<start>`: names of files it is writing carry it (the pid is read each
    time: a forked child is another writer)."""
    return _tag_of(os.getpid())


@functools.cache
def _tag_of(pid: int) -> str:
    return f"{pid}.{_process_start(pid) or 0}"


def alive(tag: str) -> bool:
    """Whether the process a `writer_tag` names still runs (a reused pid has another start time)."""
    pid, _, start = tag.partition(".")
    return pid.isdigit() and _process_start(int(pid)) == start


def _writer_of(name: str) -> str | None:
    """The writer tag of a temp file name `<kind>-<pid>.<start>-<random>.<suffix>`."""
    match = re.fullmatch(r"[a-z]+-(\d+\.\d+)-[0-9a-f]+\.[a-z]+", name)
    return match[1] if match else None


def _write_events(part: pl.DataFrame, sink: object) -> None:
    if part.schema != s.POLARS_SCHEMA:  # (validated events have it already)
        part = part.select(s.COLUMNS).cast(s.POLARS_SCHEMA)
    part.write_parquet(sink, **PARQUET_OPTIONS)


def _unlink_all(paths: list[Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def _part_name() -> str:
    """A data file name that sorts by creation time and never repeats."""
    return f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.parquet"
