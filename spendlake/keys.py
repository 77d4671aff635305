"""API keys for `spendlake serve`: a token is shown once, when it is made; the lake keeps only its
salted hash (SHA-256 of a random salt and the token's 256 random bits: a secret of that length
needs no slow hash), its scope and the projects it is limited to.

A token reads `slk_<id>_<secret>`: the id finds the key without trying every hash.

Scopes: `ingest` sends events and traces (and reads the price book, which a remote Tracker
prices with); `read` asks questions (costs, reports, runs, forecasts, budgets, alerts, estimates,
can-execute, metrics); `admin` does both and changes budgets.

Examples:
    >>> import tempfile
    >>> lake = Lake(tempfile.mkdtemp())
    >>> token = create(lake, "ci", "ingest", projects=["shop"])
    >>> verify(lake, token).name, verify(lake, token).projects, verify(lake, token + "x")
    ('ci', ('shop',), None)
    >>> token in (lake.path(KEYS)).read_text(), oct(lake.path(KEYS).stat().st_mode & 0o777)
    (False, '0o600')
    >>> revoke(lake, "ci"); verify(lake, token) is None
    True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import asdict, dataclass, replace

from ingest import audit
from ingest.errors import OptionError, SpendlakeError
from ingest.files import write_atomic
from ingest.lake import KEYS, Lake
from spendlake.workspaces import workspace_projects

SCOPES = ("ingest", "read", "admin")
ALLOWS = {"ingest": {"ingest"}, "read": {"read"}, "admin": {"ingest", "read", "admin"}}  # what each scope may do
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class ApiKey:
    name: str
    id: str
    scope: str
    projects: tuple[str, ...]  # empty: every project
    created: str  # UTC, ISO 8601
    salt: str
    hash: str
    revoked: str | None = None
    workspace: str | None = None  # a workspace's key reaches that workspace's projects, as they are now

    def allows(self, action: str) -> bool:
        """Whether this key may do `action` (ingest, read or admin)."""
        return self.revoked is None and action in ALLOWS[self.scope]

    def public(self) -> dict:
        """What `keys list` shows: everything but the salt and the hash."""
        return {"name": self.name, "scope": self.scope, "projects": list(self.projects), "workspace": self.workspace,
                "created": self.created, "revoked": self.revoked}


def load(lake: Lake) -> list[ApiKey]:
    path = lake.path(KEYS)
    if not path.exists():
        return []
    try:
        return [ApiKey(**{**entry, "projects": tuple(entry["projects"])}) for entry in json.loads(path.read_text())]
    except (json.JSONDecodeError, TypeError, KeyError) as e:
        raise SpendlakeError(f"{path}: not a list of API keys ({e})") from None


def create(lake: Lake, name: str, scope: str, *, projects: list[str] | tuple[str, ...] = (),
           workspace: str | None = None, who: str | None = None) -> str:
    """Make a key and return its token (the only time it exists outside the caller); audited
    without it. A key of a `workspace` reaches that workspace's projects (not `projects`)."""
    if not _NAME.fullmatch(name):
        raise OptionError(f"key name {name!r}: letters, digits, '.', '_' and '-', up to 64", option="NAME")
    if scope not in SCOPES:
        raise OptionError(f"scope {scope!r}: one of {', '.join(SCOPES)}", option="--scope")
    projects = tuple(sorted({p.strip() for p in projects if p.strip()}))
    if workspace is not None:
        if projects:
            raise OptionError("a workspace's key reaches the workspace's projects: give --workspace or --project",
                              option="--workspace")
        if not workspace_projects(lake, workspace):
            raise OptionError(f"no workspace named {workspace!r}; see: spendlake workspace list", option="--workspace")
    with lake.lock():
        keys = load(lake)
        if any(k.name == name and k.revoked is None for k in keys):
            raise SpendlakeError(f"a key named {name!r} exists; revoke it first (spendlake keys revoke {name})")
        key_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_hex(16)
        keys.append(new := ApiKey(name, key_id, scope, projects, _now(), salt, _hash(salt, secret),
                                  workspace=workspace))
        _save(lake, keys)
    audit.append(lake, audit.entry("key_created", name, who=who, after=new.public()))
    return f"slk_{key_id}_{secret}"


def revoke(lake: Lake, name: str, *, who: str | None = None) -> None:
    with lake.lock():
        keys = load(lake)
        live = next((k for k in keys if k.name == name and k.revoked is None), None)
        if live is None:
            raise SpendlakeError(f"no key named {name!r}; see: spendlake keys list")
        revoked = ApiKey(**{**asdict(live), "revoked": _now()})
        _save(lake, [revoked if k is live else k for k in keys])
    audit.append(lake, audit.entry("key_revoked", name, who=who, before=live.public(), after=revoked.public()))


def verify(lake: Lake, token: str, keys: list[ApiKey] | None = None) -> ApiKey | None:
    """The live key `token` belongs to, or None (unknown, malformed or revoked)."""
    match = re.fullmatch(r"slk_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})", token or "")
    if not match:
        return None
    for key in load(lake) if keys is None else keys:
        if key.id == match[1] and key.revoked is None and hmac.compare_digest(key.hash, _hash(key.salt, match[2])):
            if key.workspace is None:
                return key
            reach = workspace_projects(lake, key.workspace)  # a deleted workspace's key reaches nothing
            return replace(key, projects=reach) if reach else None
    return None


def _hash(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def _save(lake: Lake, keys: list[ApiKey]) -> None:
    text = json.dumps([asdict(k) for k in keys], indent=2).encode()
    write_atomic(lake.path(KEYS), text, private=True)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
