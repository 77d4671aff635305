"""The documentation follows the code: every command is shown in the README, every column of
the event schema is described, and the column reference is the one the schema writes."""

import re
from pathlib import Path

from ingest import schema as s
from tests.cli.test_errors import commands

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_column_reference_is_the_one_the_schema_writes():
    assert (ROOT / "docs" / "schema.md").read_text() == s.column_reference()
    assert set(s.DESCRIPTIONS) == set(s.COLUMNS)
    assert "docs/schema.md" in README


def test_every_command_is_in_the_readme():
    shown = {tuple(line.split()[1:1 + len(c)]) for line in re.findall(r"^spendlake [^#\n]*", README, re.M)
             for c in commands()}
    missing = [" ".join(c) for c in commands() if c not in shown]
    assert not missing, f"not in the README's CLI at a glance: {missing}"


def test_the_readme_shows_the_lake_layout_the_lake_declares():
    from ingest.lake import layout
    assert f"```\n{layout()}\n```" in README
