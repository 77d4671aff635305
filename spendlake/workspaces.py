"""Workspaces: named sets of projects with their members (e-mail addresses). A signed-in person
sees the projects of the workspaces they belong to; the lake's admins see everything; a key made
for a workspace reaches its projects, as the workspace has them now. Without workspaces, everyone
sees everything (as before there were any).

Kept in `<lake>/workspaces.json`; every change is audited.

Examples:
    >>> import tempfile
    >>> from ingest.lake import Lake
    >>> lake = Lake(tempfile.mkdtemp())
    >>> projects_for(lake, "ada@example.com") is None  # no workspaces: everything
    True
    >>> set_workspace(lake, Workspace("video", ("shorts", "ads"), ("ada@example.com",)))
    >>> projects_for(lake, "ada@example.com"), projects_for(lake, "bob@example.com")
    (('ads', 'shorts'), ())
    >>> set_admins(lake, ["bob@example.com"]); projects_for(lake, "bob@example.com") is None
    True
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from ingest import audit
from ingest.errors import SpendlakeError
from ingest.files import write_atomic
from ingest.lake import WORKSPACES, Lake


class WorkspaceError(SpendlakeError):
    """A workspace that cannot be right (no name, no project, an address that is not one)."""


@dataclass(frozen=True)
class Workspace:
    name: str
    projects: tuple[str, ...]
    members: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "projects", tuple(sorted({p.strip() for p in self.projects if p.strip()})))
        object.__setattr__(self, "members", tuple(sorted({_address(m) for m in self.members if m.strip()})))
        if not self.name or not self.name.strip():
            raise WorkspaceError("a workspace needs a name")
        if not self.projects:
            raise WorkspaceError(f"workspace {self.name!r} needs at least one project (--project)")


@dataclass(frozen=True)
class Settings:
    admins: tuple[str, ...] = ()  # see every project, whatever the workspaces
    workspaces: tuple[Workspace, ...] = ()


def load(lake: Lake) -> Settings:
    path = lake.path(WORKSPACES)
    if not path.exists():
        return Settings()
    try:
        raw = json.loads(path.read_text())
        return Settings(tuple(raw.get("admins", ())),
                        tuple(Workspace(w["name"], tuple(w["projects"]), tuple(w.get("members", ())))
                              for w in raw.get("workspaces", ())))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise WorkspaceError(f"{path}: not a workspaces file ({e})") from None


def projects_for(lake: Lake, email: str | None) -> tuple[str, ...] | None:
    """The projects a person sees: None for every project (no workspaces configured, or an admin),
    else those of their workspaces (none when they belong to none)."""
    settings = load(lake)
    if not settings.workspaces:
        return None
    who = (email or "").strip().lower()
    if who and who in settings.admins:
        return None
    return tuple(sorted({p for w in settings.workspaces if who in w.members for p in w.projects}))


def workspace_projects(lake: Lake, name: str) -> tuple[str, ...]:
    """A workspace's projects now (none when it is gone: a key of a deleted workspace reaches nothing)."""
    return next((w.projects for w in load(lake).workspaces if w.name == name), ())


def set_workspace(lake: Lake, workspace: Workspace, *, who: str | None = None) -> None:
    """Add a workspace, or replace the one of its name (audited)."""
    with lake.lock():
        settings = load(lake)
        before = next((w for w in settings.workspaces if w.name == workspace.name), None)
        _save(lake, Settings(settings.admins, tuple(w for w in settings.workspaces if w.name != workspace.name)
                             + (workspace,)))
    audit.append(lake, audit.entry("workspace_set", workspace.name, who=who, before=before and asdict(before),
                                   after=asdict(workspace)))


def remove_workspace(lake: Lake, name: str, *, who: str | None = None) -> None:
    with lake.lock():
        settings = load(lake)
        doomed = next((w for w in settings.workspaces if w.name == name), None)
        if doomed is None:
            raise WorkspaceError(f"no workspace named {name!r}; see: spendlake workspace list")
        _save(lake, Settings(settings.admins, tuple(w for w in settings.workspaces if w.name != name)))
    audit.append(lake, audit.entry("workspace_removed", name, who=who, before=asdict(doomed)))


def set_admins(lake: Lake, emails: Iterable[str], *, who: str | None = None) -> None:
    """Who sees every project once workspaces exist (audited)."""
    admins = tuple(sorted({_address(e) for e in emails if e.strip()}))
    with lake.lock():
        settings = load(lake)
        _save(lake, Settings(admins, settings.workspaces))
    audit.append(lake, audit.entry("admins_set", "admins", who=who, before=list(settings.admins), after=list(admins)))


def _save(lake: Lake, settings: Settings) -> None:
    names = [w.name for w in settings.workspaces]
    if len(names) != len(set(names)):
        raise WorkspaceError("workspace names must be unique")
    write_atomic(lake.path(WORKSPACES), json.dumps(
        {"admins": list(settings.admins), "workspaces": [asdict(w) for w in settings.workspaces]}, indent=2))


def _address(text: str) -> str:
    address = text.strip().lower()
    if "@" not in address or any(c.isspace() for c in address):
        raise WorkspaceError(f"{text!r} is not an e-mail address (name@example.com)")
    return address

