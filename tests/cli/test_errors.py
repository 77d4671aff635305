"""One shape for every error of every command, whoever finds it: Typer parsing the command line,
the CLI reading an option, or the library refusing a value. A person (or a script) reads one line
`error: …` on stderr and an exit code: 2 for an argument that cannot be used, 1 for anything else."""

import datetime as dt

import pytest
import typer

from ingest.demo import write_demo
from ingest.lake import Lake
from spendlake.cli import ERROR, USAGE_ERROR, app, main


def commands(group=None, path=()) -> list[tuple[str, ...]]:
    group = group or typer.main.get_command(app)
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


def said(monkeypatch, capsys, *args: str) -> tuple[int, list[str]]:
    """The exit code and the lines on stderr of `spendlake args…`, run as the console script runs it."""
    monkeypatch.setattr("sys.argv", ["spendlake", *map(str, args)])
    with pytest.raises(SystemExit) as exit:
        main()
    return exit.value.code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("errors") / "lake"
    write_demo(Lake(root), dt.date(2026, 3, 31), days=5)
    return root


def test_every_command_is_found():
    assert len(commands()) >= 20 and ("report", "reconcile") in commands() and ("budget", "add") in commands()


@pytest.mark.parametrize("command", commands(), ids=" ".join)
def test_an_unknown_option_is_one_line_naming_the_command(monkeypatch, capsys, command):
    code, lines = said(monkeypatch, capsys, *command, "--no-such-option")
    assert code == USAGE_ERROR
    assert lines == [f"error: No such option: --no-such-option (see: spendlake {' '.join(command)} --help)"]


@pytest.mark.parametrize("args, code, message", [
    (["demo", "--days", "many"], USAGE_ERROR, "Invalid value for '--days'"),
    (["import", "x.csv", "--map", "nothing"], USAGE_ERROR, "--map 'nothing': write SOURCE=COLUMN"),
    (["retention", "--older-than", "soon"], USAGE_ERROR, "write a number of days from 0 to 36500"),
    (["report", "monthly", "--month", "March"], USAGE_ERROR, "write a month as YYYY-MM"),
    (["report", "jobs", "--from", "2026-03-05", "--to", "2026-03-01"], USAGE_ERROR, "the range holds no day"),
    (["report", "breakdown", "--by", "galaxy"], USAGE_ERROR, "cannot group by 'galaxy'"),
    (["report", "forecast", "--period", "year"], USAGE_ERROR, "unknown period 'year'"),
    (["report", "anomalies", "--grain", "minute"], USAGE_ERROR, "grain must be day or hour"),
    (["report", "optimize", "--today", "yesterday"], USAGE_ERROR, "--today 'yesterday': write a date as YYYY-MM-DD"),
    (["estimate", "--compare", "gpt-4o"], USAGE_ERROR, "--compare takes PROVIDER/MODEL"),
    (["budget", "add", "x", "--limit", "-5"], ERROR, "limit_usd=-5.0 must be a positive amount"),
    (["budget", "add", "x", "--limit", "5", "--thresholds", "half"], ERROR, "thresholds 'half': write fractions (0.5, 0.8, 1), percentages"),
    (["budget", "remove", "nobody"], ERROR, "no budget named 'nobody'"),
    (["report", "job", "no-such-run"], ERROR, "no events for job 'no-such-run'"),
    (["override", "openai", "gpt-4o", "input_token", "cheap"], ERROR, "must be decimal numbers"),
])
def test_a_value_that_cannot_be_used_is_one_line_saying_what_is_accepted(monkeypatch, capsys, root, args, code,
                                                                          message):
    got, lines = said(monkeypatch, capsys, *args, "--lake", root)
    assert got == code and len(lines) == 1, lines
    assert lines[0].startswith("error: ") and message in lines[0]


def test_a_folder_without_a_lake_is_named(monkeypatch, capsys, tmp_path):
    code, lines = said(monkeypatch, capsys, "status", "--lake", tmp_path / "nothing")
    assert code == ERROR and lines == [f"error: no lake at {tmp_path / 'nothing'} (no events, budgets or prices "
                                       "there); import some usage (spendlake import …) or write a demo lake "
                                       "(spendlake demo)"]
