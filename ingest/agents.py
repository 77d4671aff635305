"""Where each coding agent keeps its logs on this machine, as the agent itself (and ccusage) looks.

Each agent's folder comes from its environment variable when set, else from its default under the
home folder; the files are the agent's own log files there (not every JSON file: Gemini CLI keeps
other files beside its chats).

Examples:
    >>> import tempfile
    >>> home = Path(tempfile.mkdtemp())
    >>> (home / ".codex" / "sessions" / "2026" / "08" / "20").mkdir(parents=True)
    >>> _ = (home / ".codex" / "sessions" / "2026" / "08" / "20" / "rollout-a.jsonl").write_text("{}")
    >>> [(f.agent.name, f.count) for f in discover(home, env={}) if f.files]
    [('Codex', 1)]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Agent:
    name: str
    format: str  # the importer that reads its logs
    variable: str  # the environment variable naming its folder(s), comma-separated
    logs: str  # its logs' folder inside that folder
    defaults: tuple[str, ...]  # that folder under the home folder, when the variable is not set
    pattern: str  # its log files inside the logs' folder
    also: tuple[tuple[str, str], ...] = ()  # (file, format) beside the logs' folder, in the agent's own folder

    def roots(self, home: Path, env: Mapping[str, str]) -> list[Path]:
        """The agent's own folders (existing or not), the variable's first."""
        named = [Path(p).expanduser() for p in env.get(self.variable, "").split(",") if p.strip()]
        if self.name == "OpenCode" and not named and env.get("XDG_DATA_HOME"):
            named = [Path(env["XDG_DATA_HOME"]) / "opencode"]
        return named or [home / d for d in self.defaults]

    def folders(self, home: Path, env: Mapping[str, str]) -> list[Path]:
        """The logs' folders to look in."""
        return [root / self.logs for root in self.roots(home, env)]


AGENTS = (
    Agent("Claude Code", "claude-code", "CLAUDE_CONFIG_DIR", "projects", (".config/claude", ".claude"), "**/*.jsonl"),
    Agent("Codex", "codex", "CODEX_HOME", "sessions", (".codex",), "**/*.jsonl"),
    Agent("Gemini CLI", "gemini-cli", "GEMINI_DATA_DIR", "tmp", (".gemini",), "*/chats/session-*.json"),
    Agent("OpenCode", "opencode", "OPENCODE_DATA_DIR", "storage/message", (".local/share/opencode",), "*/*.json",
          (("opencode.db", "opencode-db"),)),  # newer versions keep their messages in a database
)


@dataclass(frozen=True)
class Found:
    agent: Agent
    folders: list[Path]  # where it looked
    files: dict[str, list[Path]]  # the log files there, by the format they are read in

    @property
    def count(self) -> int:
        return sum(map(len, self.files.values()))


def discover(home: Path | None = None, env: Mapping[str, str] | None = None) -> list[Found]:
    """Every supported agent, with the log files found in its folders."""
    home = Path.home() if home is None else home
    env = os.environ if env is None else env
    found = []
    for agent in AGENTS:
        roots, folders = agent.roots(home, env), agent.folders(home, env)
        files = {agent.format: sorted({f for folder in folders if folder.is_dir()
                                       for f in folder.glob(agent.pattern) if f.is_file()})}
        for name, format in agent.also:
            files[format] = sorted(root / name for root in roots if (root / name).is_file())
        found.append(Found(agent, folders, {k: v for k, v in files.items() if v}))
    return found
