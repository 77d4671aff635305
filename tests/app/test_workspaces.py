"""Workspaces in the app: a signed-in member of workspace A sees none of workspace B's spend on any
page or export; an admin sees everything; without sign-in everything is as before."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import analytics
from analytics.budgets import Budget
from ingest import schema as s
from ingest.demo import write_demo
from ingest.lake import Lake
from spendlake import usecases, workspaces

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TODAY = dt.datetime.now(dt.UTC).date()
A = ("marketing-videos", "shorts-factory")
B = ("docs-assistant", "podcast-studio", "research-agent", "support-bot")
PAGES = ("overview", "explore", "jobs", "estimate", "budgets", "optimize", "prices", "import_files")
AUTH = {"redirect_uri": "http://127.0.0.1/oauth2callback", "cookie_secret": "x" * 40, "client_id": "c",
        "client_secret": "s", "server_metadata_url": "http://127.0.0.1/.well-known/openid-configuration"}


@pytest.fixture
def lake(tmp_path, monkeypatch) -> Lake:
    found = Lake(tmp_path / "lake")
    write_demo(found, TODAY, days=40)
    workspaces.set_workspace(found, workspaces.Workspace("video", A, ("ada@example.com",)))
    workspaces.set_workspace(found, workspaces.Workspace("bots", B, ("bob@example.com",)))
    workspaces.set_admins(found, ["carol@example.com"])
    usecases.save_budget(found, Budget("all", 1_000_000))
    usecases.save_budget(found, Budget("shorts", 1_000, scope="project", value="shorts-factory"))
    usecases.save_budget(found, Budget("support", 1_000, scope="project", value="support-bot"))
    monkeypatch.setenv("SPENDLAKE_LAKE", str(found.root))
    st.cache_data.clear()
    return found


def visit(page: str, email: str | None, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if email:
        at.secrets["auth"] = AUTH
        at.user = {"is_logged_in": True, "email": email, "name": email.split("@")[0]}
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def seen_text(at: AppTest) -> str:
    """Everything a page shows: its tables (what each export holds), metrics, text and choices."""
    parts = [at.dataframe[i].value.to_csv() for i in range(len(at.dataframe))]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [e.value for kind in (at.markdown, at.caption, at.info, at.warning, at.error, at.success) for e in kind]
    parts += [str(o) for box in (*at.selectbox, *at.multiselect) for o in box.options]
    return "\n".join(map(str, parts))


def month_spend(lake: Lake, projects: tuple[str, ...] | None) -> float:
    events = analytics.scan(lake, start=TODAY.replace(day=1), end=TODAY)
    if projects is not None:
        events = events.filter(pl.col(s.PROJECT).is_in(projects))
    return events.select(pl.col(s.COST).sum()).collect().item()


def test_a_member_of_one_workspace_sees_none_of_anothers_spend(lake):
    for page in PAGES:
        text = seen_text(visit(page, "ada@example.com"))
        assert not [p for p in B if p in text], page
    overview = visit("overview", "ada@example.com")
    shown = next(m.value for m in overview.metric if m.label == "Month to date")
    assert shown == f"${month_spend(lake, A):,.2f}" != f"${month_spend(lake, None):,.2f}"
    budgets = visit("budgets", "ada@example.com")
    assert set(budgets.dataframe[0].value["name"]) == {"shorts"}  # neither the overall budget nor bots' one
    b_run = analytics.scan(lake).filter(pl.col(s.PROJECT).is_in(B)).select(s.JOB_ID).drop_nulls() \
        .head(1).collect().item()
    jobs = visit("jobs", "ada@example.com", job=b_run)  # a shared link to another workspace's run
    assert f"No events for run {b_run!r}" in jobs.error[0].value


def test_limits_hold_below_the_pages(lake):
    from spendlake.access import Forbidden
    with pytest.raises(Forbidden):
        usecases.save_budget(lake, Budget("sneaky", 5, scope="project", value="support-bot"), projects=A)
    with pytest.raises(Forbidden):
        usecases.audit_log(lake, projects=A)
    with pytest.raises(Forbidden):
        usecases.what_if(lake, "support-bot", "openai", "gpt-4o-mini", projects=A)
    assert usecases.run_report(lake, "nothing", projects=A) is None


def test_an_admin_and_an_app_without_sign_in_see_everything(lake):
    for email in ("carol@example.com", None):
        overview = visit("overview", email)
        shown = next(m.value for m in overview.metric if m.label == "Month to date")
        assert shown == f"${month_spend(lake, None):,.2f}"
        assert set(visit("budgets", email).dataframe[0].value["name"]) == {"all", "shorts", "support"}


def test_a_person_in_no_workspace_sees_nothing(lake):
    at = visit("overview", "eve@example.com")
    assert "not a member of any workspace" in at.info[0].value
    assert not at.metric and not at.dataframe
