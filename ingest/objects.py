"""Lakes on object storage: `s3://bucket/prefix` (Amazon S3 or any server speaking its protocol).

`ObjectPath` acts as `pathlib.Path` does for what the lake does with its files (join, list, read,
write, delete), so the lake's code is the same on both; what a file system gives and a bucket
does not is done another way:

- No rename: a file becomes visible whole by one PUT under its final, unique name, made with
  `If-None-Match: *` so that it never replaces another (`write_bytes(..., exclusive=True)`).
- No append: a JSON Lines file gains lines by rewriting it with `If-Match` its version, again
  until no other writer came between (`files.append_lines`).
- No flock: one writer at a time holds a lease object (`Lease`), taken with a conditional write
  and renewed while held; a holder killed with SIGKILL frees it when it expires.

Credentials, region and endpoint come from the standard AWS environment variables and profiles,
as boto3 resolves them (`AWS_PROFILE`, `AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL` for an
S3-compatible server, ...); Polars reads the data files itself with the same credentials.
PyArrow's `S3FileSystem` cannot make conditional writes, which the lease needs, hence boto3.

Examples:
    >>> ObjectPath.parse("s3://team-costs/spend/").key
    'spend'
    >>> str(ObjectPath.parse("s3://team-costs/spend") / "events" / "date=2026-01-05")
    's3://team-costs/spend/events/date=2026-01-05'
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import io
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ingest.errors import LakeError

SCHEMES = ("s3://",)
OTHER_SCHEMES = ("gs://", "gcs://", "az://", "abfs://", "abfss://")


def is_remote(root: object) -> bool:
    return isinstance(root, ObjectPath) or str(root).startswith(SCHEMES)


@dataclass(frozen=True, eq=False)
class Bucket:
    """One bucket and the client that reaches it."""

    name: str
    client: Any  # a boto3 S3 client
    storage_options: tuple[tuple[str, str], ...]  # the same credentials, for Polars' own reader

    @classmethod
    def open(cls, name: str) -> Bucket:
        env = tuple(os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE",
                                                 "AWS_ACCESS_KEY_ID", "AWS_DEFAULT_REGION", "AWS_REGION"))
        return _bucket(name, env)


@functools.cache
def _bucket(name: str, _env: tuple) -> Bucket:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:  # pragma: no cover - boto3 comes with the `s3` extra
        raise LakeError("a lake on S3 needs boto3: pip install 'spendlake[s3]'") from None
    session = boto3.session.Session()
    client = session.client("s3", config=Config(retries={"max_attempts": 5, "mode": "standard"},
                                                 max_pool_connections=16))
    credentials = session.get_credentials()
    options = {"aws_region": client.meta.region_name or "us-east-1"}
    if credentials is not None:
        frozen = credentials.get_frozen_credentials()
        options |= {"aws_access_key_id": frozen.access_key, "aws_secret_access_key": frozen.secret_key}
        if frozen.token:
            options["aws_session_token"] = frozen.token
    endpoint = client.meta.endpoint_url
    if os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"):
        options["aws_endpoint_url"] = endpoint
        if endpoint.startswith("http://"):
            options["aws_allow_http"] = "true"
    return Bucket(name, client, tuple(sorted(options.items())))


class ObjectPath:
    """A key in a bucket, with the part of `pathlib.Path`'s interface the lake uses. Folders are
    key prefixes: they exist while something is under them, and `mkdir` does nothing."""

    __slots__ = ("bucket", "key")

    def __init__(self, bucket: Bucket, key: str) -> None:
        self.bucket = bucket
        self.key = key.strip("/")

    @classmethod
    def parse(cls, url: str) -> ObjectPath:
        """`s3://bucket/prefix` (the bucket must exist)."""
        if not url.startswith(SCHEMES):
            raise LakeError(f"{url}: not an object store address (s3://bucket/prefix)")
        bucket, _, key = url[len("s3://"):].partition("/")
        if not bucket:
            raise LakeError(f"{url}: name a bucket (s3://bucket/prefix)")
        return cls(Bucket.open(bucket), key)

    # ---- names ----------------------------------------------------------------------------

    def __truediv__(self, other: str | os.PathLike[str]) -> ObjectPath:
        other = str(other).strip("/")
        if ".." in other.split("/"):
            raise LakeError(f"{self}/{other}: a key may not climb out of its folder")
        return ObjectPath(self.bucket, f"{self.key}/{other}" if self.key else other)

    def __str__(self) -> str:
        return f"s3://{self.bucket.name}/{self.key}"

    def __repr__(self) -> str:
        return f"ObjectPath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectPath) and (self.bucket.name, self.key) == (other.bucket.name, other.key)

    def __hash__(self) -> int:
        return hash((self.bucket.name, self.key))

    def __lt__(self, other: ObjectPath) -> bool:
        return self.key < other.key

    name = property(lambda self: self.key.rsplit("/", 1)[-1])
    parent = property(lambda self: ObjectPath(self.bucket, self.key.rsplit("/", 1)[0] if "/" in self.key else ""))

    # ---- reading --------------------------------------------------------------------------

    def _list(self, start: str = "", *, folders: bool = True) -> Iterator[tuple[str, dict | None]]:
        """(name relative to this prefix, object or None for a folder) of the keys under it that
        begin with `start`: one level (`folders`), or at any depth."""
        prefix = f"{self.key}/" if self.key else ""
        pages = self.bucket.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket.name, Prefix=prefix + start, **({"Delimiter": "/"} if folders else {}))
        for page in pages:
            for folder in page.get("CommonPrefixes", ()):
                yield folder["Prefix"][len(prefix):].rstrip("/"), None
            for item in page.get("Contents", ()):
                yield item["Key"][len(prefix):], item

    def keys_under(self, start: str) -> Iterator[str]:
        """The keys under this prefix that begin with `start`, at any depth: one listing for what
        would take one per folder."""
        return (name for name, _ in self._list(start, folders=False))

    def iterdir(self) -> Iterator[ObjectPath]:
        return (self / name for name, _ in self._list() if name)

    def listing(self) -> dict[str, int]:
        """Name → size of the files directly under this prefix, in one listing."""
        return {name: item["Size"] for name, item in self._list() if item is not None and name}

    def glob(self, pattern: str) -> Iterator[ObjectPath]:
        """The names directly under this prefix that match `pattern` (`*.json`, `2026-*.parquet`)."""
        return (self / name for name, _ in self._list() if name and fnmatch.fnmatchcase(name, pattern))

    def exists(self) -> bool:
        return self.is_file() or self.is_dir()

    def is_file(self) -> bool:
        return self._head() is not None

    def is_dir(self) -> bool:
        found = self.bucket.client.list_objects_v2(Bucket=self.bucket.name, Prefix=f"{self.key}/", MaxKeys=1)
        return found.get("KeyCount", 0) > 0

    def _head(self) -> dict | None:
        from botocore.exceptions import ClientError
        try:
            return self.bucket.client.head_object(Bucket=self.bucket.name, Key=self.key)
        except ClientError as e:
            if e.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def stat(self) -> os.stat_result:
        head = self._head()
        if head is None:
            raise FileNotFoundError(str(self))
        mtime = head["LastModified"].timestamp()
        return os.stat_result((0o644, 0, 0, 1, 0, 0, head["ContentLength"], mtime, mtime, mtime))

    def read_bytes(self) -> bytes:
        return self.read_versioned()[0]

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def read_versioned(self) -> tuple[bytes, str]:
        """The content and its version (ETag), for a write that must not lose another's."""
        from botocore.exceptions import ClientError
        try:
            got = self.bucket.client.get_object(Bucket=self.bucket.name, Key=self.key)
        except ClientError as e:
            if e.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(str(self)) from None
            raise
        return got["Body"].read(), got["ETag"]

    def open(self, mode: str = "r", encoding: str | None = None, newline: str | None = None) -> io.IOBase:
        """The object read whole into memory, as text (`r`) or bytes (`rb`); it is written whole by
        `write_bytes`, never through a file."""
        if mode not in ("r", "rt", "rb"):
            raise ValueError(f"{self}: mode {mode!r} (an object is written whole, with write_bytes)")
        data = self.read_bytes()
        return io.BytesIO(data) if "b" in mode else io.StringIO(data.decode(encoding or "utf-8"), newline=newline)

    # ---- writing --------------------------------------------------------------------------

    def write_bytes(self, data: bytes, *, exclusive: bool = False, version: str | None = None) -> str | None:
        """Put the object whole; returns its version (ETag), or None when a condition failed:
        `exclusive` (it existed already) or `version` (it is not that version any more)."""
        from botocore.exceptions import ClientError
        conditions = {"IfNoneMatch": "*"} if exclusive else {"IfMatch": version} if version else {}
        try:
            return self.bucket.client.put_object(Bucket=self.bucket.name, Key=self.key, Body=data,
                                                 **conditions)["ETag"]
        except ClientError as e:
            if e.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                return None
            raise

    def unlink(self, missing_ok: bool = False) -> None:
        if not missing_ok and self._head() is None:
            raise FileNotFoundError(str(self))
        self.bucket.client.delete_object(Bucket=self.bucket.name, Key=self.key)

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to make: a folder is a prefix."""



def stamp(path: Path | ObjectPath) -> tuple:
    """What changes whenever a file is rewritten (a cache key): its modification time, size and
    inode, or an object's version; `(None,)` when there is none."""
    if isinstance(path, ObjectPath):
        head = path._head()
        return (None,) if head is None else (head["ETag"], head["ContentLength"])
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return (None,)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def names_in(folder: Path | ObjectPath) -> list[str]:
    """The names in a folder, local or in a bucket (none if there is no such folder)."""
    if isinstance(folder, ObjectPath):
        return [p.name for p in folder.iterdir()]
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []


def sizes_of(files: list) -> dict:
    """Each file's size: in a bucket, from one listing per folder (not one request per file)."""
    if files and isinstance(files[0], ObjectPath):
        sizes: dict = {}
        for folder in {p.parent for p in files}:
            sizes |= {folder / name: size for name, size in folder.listing().items()}
        return {p: sizes.get(p, 0) for p in files}
    return {p: p.stat().st_size for p in files}


def _polars(paths: object) -> tuple[object, dict[str, str] | None]:
    """Paths as Polars takes them (`s3://` strings for objects) and the credentials it needs."""
    many = isinstance(paths, (list, tuple))
    first = (paths[0] if paths else None) if many else paths
    if not isinstance(first, ObjectPath):
        return paths, None
    return [str(p) for p in paths] if many else str(paths), dict(first.bucket.storage_options)


def scan_parquet(paths: object, **options: object) -> pl.LazyFrame:
    """`pl.scan_parquet` of lake files, local or in a bucket (with the bucket's credentials): the
    one way Spendlake reads the Parquet files beside or in a lake."""
    source, storage = _polars(paths)
    return pl.scan_parquet(source, storage_options=storage, **options)


def read_parquet(path: object, **options: object) -> pl.DataFrame:
    source, storage = _polars(path)
    return pl.read_parquet(source, storage_options=storage, **options)


def read_parquet_metadata(path: object) -> dict[str, str]:
    source, storage = _polars(path)
    return pl.read_parquet_metadata(source, storage_options=storage)


# ---- the lease -------------------------------------------------------------------------------

# how long a holder killed without releasing keeps others out, and how long a writer waits for the
# lease before it is refused (SPENDLAKE_LEASE_SECONDS, SPENDLAKE_LEASE_WAIT)
LEASE_SECONDS = float(os.environ.get("SPENDLAKE_LEASE_SECONDS", 30))
WAIT_SECONDS = float(os.environ.get("SPENDLAKE_LEASE_WAIT", 60))


def holder_name() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


class Lease:
    """One writer at a time on a lake in a bucket: the object `path` says who holds the lake and
    until when. Taken by creating it (`If-None-Match: *`), or by replacing an expired or released
    one (`If-Match` its version, so that of two takers one wins); renewed by a thread every third
    of its time while held; released by marking it so. Reentrant within a thread."""

    def __init__(self, path: ObjectPath, *, seconds: float | None = None, wait: float | None = None) -> None:
        self.path = path
        self.seconds = seconds or float(os.environ.get("SPENDLAKE_LEASE_SECONDS", LEASE_SECONDS))
        self.wait = wait if wait is not None else float(os.environ.get("SPENDLAKE_LEASE_WAIT", WAIT_SECONDS))
        self._version: str | None = None
        self._deadline = 0.0  # (monotonic) until when this process is sure the lease is its own
        self._depth = 0
        self._owner: int | None = None
        self._guard = threading.RLock()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.id = uuid.uuid4().hex

    def _record(self, until: float) -> bytes:
        return json.dumps({"holder": holder_name(), "id": self.id, "until": until,
                           "taken": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}).encode()

    def acquire(self, *, wait: bool = True) -> bool:
        """Take the lease; waits up to `self.wait` seconds (or not at all), then returns False."""
        with self._guard:
            if self._owner == threading.get_ident():
                self._depth += 1
                return True
        deadline = time.monotonic() + (self.wait if wait else 0)
        delay = 0.05
        while True:
            started = time.monotonic()
            version = self._take()
            if version:
                with self._guard:
                    self._version, self._owner, self._depth = version, threading.get_ident(), 1
                    self._deadline = started + self.seconds
                    self._stop.clear()
                    self._renewer = threading.Thread(target=self._renew, daemon=True, name="spendlake-lease")
                    self._renewer.start()
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _take(self) -> str | None:
        try:
            data, version = self.path.read_versioned()
        except FileNotFoundError:
            return self.path.write_bytes(self._record(time.time() + self.seconds), exclusive=True)
        try:
            until = float(json.loads(data)["until"])
        except (ValueError, KeyError, TypeError):
            until = 0.0  # unreadable: as if expired
        if until > time.time():
            return None
        return self.path.write_bytes(self._record(time.time() + self.seconds), version=version)

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            with self._guard:
                if self._version is None:
                    return
                started = time.monotonic()
                version = self.path.write_bytes(self._record(time.time() + self.seconds), version=self._version)
                if version is None:  # taken over: this process stalled past its lease
                    self._version = None
                    return
                self._version, self._deadline = version, started + self.seconds

    def holder(self) -> str:
        """Who holds the lease now, and until when (for a refusal's message)."""
        try:
            record = json.loads(self.path.read_bytes())
            until = dt.datetime.fromtimestamp(float(record["until"]), dt.UTC)
            return f"{record['holder']} (until {until:%H:%M:%S} UTC unless renewed)"
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return "nobody now"

    def release(self) -> None:
        with self._guard:
            self._depth -= 1
            if self._depth > 0:
                return
            self._owner = None
            self._stop.set()
            version, self._version = self._version, None
        if self._renewer is not None:
            self._renewer.join()
        if version is not None:
            self.path.write_bytes(self._record(0.0), version=version)  # released (unless taken over)

    @property
    def held(self) -> bool:
        """Whether the lease is surely still this process's: renewed within its time (a process
        that stalled past it may have lost it to another writer, even before its renewer noticed)."""
        return self._version is not None and time.monotonic() < self._deadline
