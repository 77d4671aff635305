from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import analytics
from ingest.demo import write_demo
from ingest.lake import Lake

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(autouse=True)
def fresh_cache():
    st.cache_data.clear()


def test_an_empty_lake_offers_demo_data_and_loads_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SPENDLAKE_LAKE", str(tmp_path / "lake"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "is empty" in at.info[0].value
    at.button[0].click().run()
    assert not at.exception
    assert at.metric[1].value == f"{analytics.totals(analytics.scan(tmp_path / 'lake')).events:,}"


def test_totals_match_the_library(tmp_path, monkeypatch):
    write_demo(Lake(tmp_path / "lake"), days=5)
    monkeypatch.setenv("SPENDLAKE_LAKE", str(tmp_path / "lake"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    totals = analytics.totals(analytics.scan(tmp_path / "lake"))
    assert at.metric[0].value == f"${totals.cost_usd:,.2f}"
    assert at.metric[1].value == f"{totals.events:,}"


def test_a_broken_lake_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    write_demo(Lake(tmp_path / "lake"), days=2)
    (tmp_path / "lake" / "events" / "stray").mkdir()
    monkeypatch.setenv("SPENDLAKE_LAKE", str(tmp_path / "lake"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "not a partition folder" in at.error[0].value
