"""`spendlake import --agents`: each coding agent's logs found in its own folder on a machine (a
home folder made for the test, one agent moved by its environment variable), imported once, then
only what is new."""

import shutil

import polars as pl
import pytest
from typer.testing import CliRunner

import analytics
from ingest import schema as s
from ingest.errors import OptionError
from spendlake.cli import app
from tests.conftest import FIXTURES
from tests.ingest.test_codex import REAL
from tests.ingest.test_gemini_cli import recordings
from tests.ingest.test_opencode import storage


def run(*args: str, env: dict) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_every_agents_logs_are_found_in_their_folders_and_imported_once(tmp_path):
    home = tmp_path / "home"
    shutil.copytree(FIXTURES / "claude-code" / "projects", home / ".claude" / "projects")
    codex_home = tmp_path / "elsewhere" / "codex"  # moved: $CODEX_HOME says where
    shutil.copytree(REAL, codex_home / "sessions" / "2026" / "08" / "20")
    recordings(home / ".gemini")
    storage(home / ".local" / "share" / "opencode")
    (home / ".gemini" / "tmp" / "logs.json").write_text("[]")  # Gemini CLI's prompt log: not a chat, not read
    env = {"HOME": str(home), "CODEX_HOME": str(codex_home), "SPENDLAKE_LAKE": str(tmp_path / "lake"),
           "XDG_DATA_HOME": "", "CLAUDE_CONFIG_DIR": "", "GEMINI_DATA_DIR": "", "OPENCODE_DATA_DIR": ""}
    code, output = run("import", "--agents", env=env)
    assert code == 1, output  # Claude Code's fixture holds a line cut off, Gemini's a reply without a model
    assert f"Codex ({codex_home / 'sessions'}): 2 log files" in output
    for agent in ("Claude Code (~/.claude/projects)", "Gemini CLI (~/.gemini/tmp): 2 log files",
                  "OpenCode (~/.local/share/opencode/storage/message): 8 log files"):
        assert agent in output
    lake = tmp_path / "lake"
    agents = analytics.scan(lake).group_by(s.AGENT).agg(pl.len()).collect()
    assert dict(agents.iter_rows()) == {"codex": 59, "gemini-cli": 5, "opencode": 6,
                                        "claude-code": dict(agents.iter_rows())["claude-code"]}

    code, again = run("import", "--agents", env=env)
    assert again.count("imported 0 events") == 4 and "unchanged since the last import" in again
    assert analytics.scan(lake).select(pl.len()).collect().item() == agents["len"].sum()


def test_no_agent_on_the_machine_says_where_it_looked(tmp_path):
    env = {"HOME": str(tmp_path), "SPENDLAKE_LAKE": str(tmp_path / "lake"), "CODEX_HOME": "", "XDG_DATA_HOME": "",
           "CLAUDE_CONFIG_DIR": "", "GEMINI_DATA_DIR": "", "OPENCODE_DATA_DIR": ""}
    code, output = run("import", "--agents", env=env)
    assert code == 0
    assert "Codex: no logs in ~/.codex/sessions" in output and "Gemini CLI: no logs in ~/.gemini/tmp" in output
    with pytest.raises(OptionError, match="pass --agents"):  # (the CLI's entry point prints it, exit 2)
        run("import", env=env)


def test_a_person_limited_to_some_projects_may_not_import_the_machines_agent_logs(tmp_path):
    """The logs may hold any project's calls: the use case refuses, whatever page or command calls it."""
    from ingest.lake import Lake
    from spendlake import usecases
    from spendlake.access import Forbidden
    home = tmp_path / "home"
    storage(home / ".local" / "share" / "opencode")
    lake = Lake(tmp_path / "lake")
    with pytest.raises(Forbidden):
        usecases.import_agents(lake, home=home, env={}, projects=["shorts"])
    assert not lake.partitions()
