"""Files the lake keeps beside the events are read with a schema: a damaged line is a message
naming the file and the line, in the library, the CLI and the app alike."""

import datetime as dt
import json

import pytest

from analytics.alerts import Alert
from ingest.errors import LakeError
from spendlake import usecases
from ingest.lake import ALERTS, ESTIMATES, Lake
from spendlake.store import estimate_for, load_alerts, record_alerts, record_estimate

GOOD = Alert("budget_warning", "all", "2026-03-01", 0.8, "2026-03-20T10:00:00+00:00", 81.0, 100.0, None, "81 % of all")


def test_alerts_and_estimates_read_back_as_written(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.root.mkdir(parents=True)
    record_alerts(lake, [GOOD])
    record_estimate(lake, "run-1", {"expected_usd": 1.5, "low_usd": 1.0, "steps": [1, 2]})
    record_estimate(lake, "run-1", {"expected_usd": 2.5})
    assert load_alerts(lake) == [GOOD]
    assert estimate_for(lake, "run-1") == 2.5 and estimate_for(lake, "run-2") is None


@pytest.mark.parametrize("name, line, why", [
    (ALERTS, '{"kind": "budget_warning", "subject": "all"', "line 2: Expecting"),
    (ALERTS, json.dumps(GOOD.to_dict() | {"kind": "panic"}), "line 2: kind='panic' is not one of"),
    (ALERTS, json.dumps(GOOD.to_dict() | {"spent_usd": "lots"}), "line 2: spent_usd='lots' must be a number"),
    (ALERTS, json.dumps(GOOD.to_dict() | {"colour": "red"}), "line 2: unknown field 'colour'"),
    (ALERTS, "[1, 2]", "line 2: an alert is a JSON object, not list"),
    (ESTIMATES, '{"job_id": 7, "expected_usd": 1}', "line 2: job_id=7 must be text"),
    (ESTIMATES, '{"job_id": "run-1", "expected_usd": "cheap"}', "line 2: expected_usd='cheap' must be a number"),
])
def test_a_damaged_line_names_the_file_and_the_line(tmp_path, name, line, why):
    lake = Lake(tmp_path / "lake")
    lake.root.mkdir(parents=True)
    first = json.dumps(GOOD.to_dict()) if name == ALERTS else '{"job_id": "run-1", "expected_usd": 1.0}'
    lake.path(name).write_text(first + "\n" + line + "\n")
    with pytest.raises(LakeError, match=f"{lake.path(name).name} {why}"):
        load_alerts(lake) if name == ALERTS else estimate_for(lake, "run-1")


def test_the_check_says_which_line_of_the_alert_history_is_damaged(tmp_path):
    lake = Lake(tmp_path / "lake")
    usecases.write_demo(lake, days=3, today=dt.date(2026, 3, 31))
    lake.path(ALERTS).write_text("not json\n")
    with pytest.raises(LakeError, match="alerts.jsonl line 1"):
        usecases.check(lake, today=dt.date(2026, 3, 31))
