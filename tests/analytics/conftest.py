import datetime as dt

import pytest

from ingest.demo import write_demo
from ingest.lake import Lake

DEMO_END = dt.date(2026, 3, 31)  # the demo lake's last day; its spike is 12 days before


@pytest.fixture(scope="session")
def demo_lake(tmp_path_factory) -> Lake:
    """120 days of demo events ending DEMO_END, shared by the analytics tests (which only read it)."""
    lake = Lake(tmp_path_factory.mktemp("demo") / "lake")
    write_demo(lake, DEMO_END, days=120)
    return lake
