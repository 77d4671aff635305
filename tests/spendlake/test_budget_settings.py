"""Budget settings as people write them: thresholds as percentages, the seeds' defaults offered,
and a target that matches nothing saved only with a warning naming the nearest values."""

from __future__ import annotations

import datetime as dt

from typer.testing import CliRunner

from analytics.budgets import Budget
from ingest.demo import write_demo
from ingest.lake import Lake
from spendlake import usecases
from spendlake.cli import app
from spendlake.store import load_budgets

TODAY = dt.date(2026, 3, 20)


def test_thresholds_are_read_as_fractions_or_percentages_and_new_budgets_get_80_and_100(tmp_path):
    root = tmp_path / "lake"
    write_demo(Lake(root), TODAY, days=5)
    runner = CliRunner()
    for written, read in (("50,75,90,100", (0.5, 0.75, 0.9, 1.0)), ("50%, 80%", (0.5, 0.8)), ("0.5, 0.8, 1", (0.5, 0.8, 1.0))):
        result = runner.invoke(app, ["budget", "add", "b", "--limit", "100", "--thresholds", written, "--lake", str(root)])
        assert result.exit_code == 0, result.output
        assert load_budgets(Lake(root))[0].thresholds == read
    runner.invoke(app, ["budget", "add", "fresh", "--limit", "100", "--lake", str(root)])
    assert next(b for b in load_budgets(Lake(root)) if b.name == "fresh").thresholds == (0.8, 1.0)
    result = runner.invoke(app, ["budget", "add", "x", "--limit", "100", "--thresholds", "half", "--lake", str(root)])
    assert "write fractions (0.5, 0.8, 1), percentages (50%, 80%, 100%)" in str(result.exception)  # (main() prints it)


def test_a_target_that_matches_nothing_is_saved_with_a_warning_naming_the_nearest(tmp_path):
    lake = Lake(tmp_path / "lake")
    write_demo(lake, TODAY, days=5)
    typo = usecases.save_budget(lake, Budget("shorts", 100, scope="project", value="shorts-factroy"))
    assert typo == ("no event has project 'shorts-factroy' yet, so budget 'shorts' matches nothing; "
                    "did you mean 'shorts-factory'?")
    assert [b.value for b in load_budgets(lake)] == ["shorts-factroy"]  # saved all the same: it may be new
    assert usecases.save_budget(lake, Budget("shorts", 100, scope="project", value="shorts-factory")) is None
    assert usecases.save_budget(lake, Budget("all", 100)) is None
    other = usecases.save_budget(lake, Budget("galaxy", 100, scope="model", value="zzz-9"))
    assert other.startswith("no event has model 'zzz-9' yet") and "known: " in other
    result = CliRunner().invoke(app, ["budget", "add", "t", "--limit", "5", "--scope", "tag", "--value", "team=nobody",
                                      "--lake", str(lake.root)])
    assert result.exit_code == 0 and "warning: no event has tag team 'nobody' yet" in result.output
