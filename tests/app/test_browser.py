"""The app in a real browser: Debian's chromium driven by Playwright against `streamlit run` on a demo lake.

Visits every page (screenshots saved under $SPENDLAKE_ARTIFACTS, default test-artifacts/), fills
the estimate form, downloads a table as CSV and checks it, uploads a file, watches the live
panel pick up an event logged while the page is open, and signs in through an OIDC provider.
"""

import datetime as dt
import io
import json
import os
from pathlib import Path

import polars as pl
import pytest
from playwright.sync_api import expect, sync_playwright

import analytics
from ingest import schema as s
from ingest.demo import write_demo
from ingest.lake import Lake
from ingest.pricing import PriceBook
from spendlake import usecases
from tests.app.browser import CHROMIUM, CHROMIUM_ARGS, PAGES, open_page, streamlit_server, wait_idle
from tests.helpers import events

ARTIFACTS = Path(os.environ.get("SPENDLAKE_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory, browser):
    root = tmp_path_factory.mktemp("browser") / "lake"
    write_demo(Lake(root), TODAY, days=60)
    with streamlit_server(root, ARTIFACTS / "streamlit.log") as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        yield Lake(root), url, page
        page.close()


def test_every_page_draws_without_an_error(served):
    lake, url, page = served
    for path, title in PAGES.items():
        open_page(page, url, path)
        page.screenshot(path=ARTIFACTS / f"page-{path or 'overview'}.png", full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0, title
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0, title


def test_a_downloaded_csv_holds_the_table_on_screen(served):
    lake, url, page = served
    open_page(page, url, "")
    with page.expect_download() as caught:
        page.get_by_test_id("stDownloadButton").filter(has_text="CSV").first.click()  # (Top projects')
    got = pl.read_csv(io.BytesIO(Path(caught.value.path()).read_bytes()))
    last = analytics.daily(lake).select(pl.col(s.DATE).max()).collect().item()  # the sidebar's default: the
    start = last - dt.timedelta(days=29)  # lake's last 30 days (its last day is yesterday just after midnight)
    expected = analytics.breakdown(analytics.daily(lake, start=start, end=last), by=s.PROJECT,
                                   values=[s.COST, "calls"], limit=10)
    assert caught.value.suggested_filename == "top-projects.csv"
    assert got[s.PROJECT].to_list() == expected[s.PROJECT].to_list()
    assert got[s.COST].to_list() == pytest.approx([round(x, 6) for x in expected[s.COST]], abs=1e-12)  # to a millionth


def test_a_link_in_euros_shows_and_downloads_each_days_cost_at_its_rate(served, ecb_per_usd):
    from tests.helpers import rate_on
    lake, url, page = served
    page.goto(f"{url}/?currency=EUR")
    page.get_by_role("heading", name="Overview").first.wait_for(timeout=60_000)
    wait_idle(page)
    month = page.get_by_test_id("stMetric").filter(has_text="Month to date").get_by_test_id("stMetricValue")
    assert "€" in month.inner_text()
    with page.expect_download() as caught:
        page.get_by_test_id("stDownloadButton").filter(has_text="CSV").first.click()  # (Top projects')
    got = pl.read_csv(io.BytesIO(Path(caught.value.path()).read_bytes()))
    last = analytics.daily(lake).select(pl.col(s.DATE).max()).collect().item()
    rows = analytics.daily(lake, start=last - dt.timedelta(days=29), end=last).select(s.PROJECT, s.DATE, s.COST).collect()
    expected: dict[str, float] = {}
    for project, day, cost in rows.iter_rows():
        expected[project] = expected.get(project, 0.0) + cost * rate_on(ecb_per_usd["EUR"], day)[1]
    assert "cost_usd" not in got.columns
    assert dict(zip(got[s.PROJECT], got["cost_eur"])) == pytest.approx({p: round(expected[p], 6) for p in got[s.PROJECT]},
                                                                       abs=1e-6)


def test_the_estimate_form_prices_the_plan(served):
    lake, url, page = served
    open_page(page, url, "estimate")
    stories = page.get_by_label("Stories")
    stories.fill("7")
    stories.press("Enter")
    wait_idle(page)
    history = analytics.scan(lake, start=TODAY - dt.timedelta(days=90), end=TODAY)
    expected = analytics.estimate(analytics.video_pipeline(stories=7), PriceBook.load(), history=history)
    shown = page.get_by_test_id("stMetric").filter(has_text="Expected").get_by_test_id("stMetricValue")
    expect(shown).to_have_text(f"${expected.expected_usd:,.2f}", timeout=30_000)
    page.screenshot(path=ARTIFACTS / "estimate-filled.png", full_page=True)


def test_a_click_on_a_run_opens_its_report(served):
    lake, url, page = served
    open_page(page, url, "jobs")
    last = analytics.daily(lake).select(pl.col(s.DATE).max()).collect().item()  # the sidebar's default dates
    runs = usecases.top_runs(lake, start=last - dt.timedelta(days=29), end=last, top=200)
    grid = page.get_by_test_id("stDataFrame").first.bounding_box()
    page.mouse.click(grid["x"] + 18, grid["y"] + 35 + 35 * 2.5)  # the third row's selection box (rows 35 px)
    expect(page.get_by_role("heading", name=f"Run {runs[s.JOB_ID][2]}")).to_be_visible(timeout=30_000)
    wait_idle(page)
    page.screenshot(path=ARTIFACTS / "jobs-run-clicked.png", full_page=True)


def test_an_uploaded_file_is_imported(served, tmp_path):
    lake, url, page = served
    rows = [{"event_id": f"browser-{i}", "ts": f"{TODAY}T07:0{i}:00Z", "provider": "openai", "model": "gpt-4o",
             "service": "llm", "input_tokens": 1000, "output_tokens": 50} for i in range(4)]
    upload = tmp_path / "calls.jsonl"
    upload.write_text("\n".join(json.dumps(r) for r in rows))
    open_page(page, url, "import")
    page.locator('input[type="file"]').set_input_files(upload)
    page.get_by_role("button", name="Import", exact=True).click()
    imported = page.get_by_test_id("stMetric").filter(has_text="Imported").get_by_test_id("stMetricValue")
    expect(imported).to_have_text("4", timeout=60_000)
    assert lake.scan().filter(pl.col(s.EVENT_ID).str.starts_with("browser-")).select(pl.len()).collect().item() == 4


def test_the_live_panel_shows_an_event_logged_while_the_page_is_open(served):
    lake, url, page = served
    open_page(page, url, "")
    before = analytics.totals(analytics.scan(lake, start=TODAY, end=TODAY)).cost_usd
    lake.append(events(1, day=TODAY, prefix="live", input_tokens=10_000_000).with_columns(
        pl.lit(dt.datetime.now(dt.UTC).replace(microsecond=0)).alias(s.TS)))
    after = analytics.totals(analytics.scan(lake, start=TODAY, end=TODAY)).cost_usd
    assert after > before
    live = page.get_by_test_id("stMetric").filter(has_text="Spent today").get_by_test_id("stMetricValue")
    expect(live).to_have_text(f"${after:,.2f}", timeout=30_000)  # the fragment reruns every 5 s


def test_sign_in_through_an_oidc_provider_when_configured(tmp_path, browser):
    """With `[auth]` in the secrets the app shows nothing until the provider has signed the user in,
    then only the projects of the user's workspaces."""
    from tests.app.browser import free_port
    from tests.app.oidc import CLIENT_ID, USER, oidc_provider
    from spendlake import workspaces
    root = tmp_path / "lake"
    write_demo(Lake(root), TODAY, days=10)
    mine = ("marketing-videos", "shorts-factory")  # Ada's workspace; the other projects are another's
    workspaces.set_workspace(Lake(root), workspaces.Workspace("video", mine, (USER["email"],)))
    workspaces.set_workspace(Lake(root), workspaces.Workspace("bots", ("support-bot", "research-agent"),
                                                              ("bob@example.com",)))
    month = analytics.scan(root, start=TODAY.replace(day=1), end=TODAY)
    ours = month.filter(pl.col(s.PROJECT).is_in(mine)).select(pl.col(s.COST).sum()).collect().item()
    everyone = month.select(pl.col(s.COST).sum()).collect().item()
    port = free_port()
    with oidc_provider() as issuer:
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(f'[auth]\nredirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
                           f'cookie_secret = "not-a-secret-but-long-enough-0123456789"\nclient_id = "{CLIENT_ID}"\n'
                           f'client_secret = "shh"\nserver_metadata_url = "{issuer}/.well-known/openid-configuration"\n')
        with streamlit_server(root, ARTIFACTS / "streamlit-auth.log", port=port,
                              options=["--secrets.files", str(secrets)]) as url:
            page = browser.new_page()
            page.goto(url)
            page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
            assert page.get_by_text("Month to date").count() == 0  # nothing of the lake before signing in
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("heading", name="Overview").first.wait_for(timeout=60_000)
            expect(page.get_by_text(f"Signed in as {USER['email']}")).to_be_visible(timeout=30_000)
            # a member of one workspace: month to date is their projects' spend, not everyone's
            expect(page.get_by_text(f"${ours:,.2f}", exact=True).first).to_be_visible(timeout=30_000)
            assert page.get_by_text(f"${everyone:,.2f}", exact=True).count() == 0
            page.screenshot(path=ARTIFACTS / "signed-in.png")
            page.close()


def test_the_monthly_html_report_reads_in_a_browser_with_the_figures_of_the_json_report(served, tmp_path, browser):
    from spendlake import usecases
    lake, _, _ = served
    html = tmp_path / "month.html"
    html.write_text(usecases.monthly_html(lake, TODAY))
    report = usecases.monthly(lake, TODAY).to_dict()  # what `report monthly -f json` prints
    assert "<script" not in html.read_text() and "http" not in html.read_text().split("<body>")[0]  # self-contained
    page = browser.new_page()
    page.goto(html.as_uri())
    shown = {e.get_attribute("data-figure"): e.inner_text() for e in page.locator("[data-figure]").all()}
    assert shown["cost_usd"] == f"${report['cost_usd']:,.2f}" and shown["calls"] == f"{report['calls']:,}"
    assert shown["change_pct"] == f"{report['change_pct']:+.1%}"
    assert shown["runs"] == f"{report['runs']:,} · ${report['cost_per_run_usd']:,.2f}"
    assert page.locator(".chart svg").count() == 1  # the chart drawn, not fetched
    top = page.locator("table").first.locator("tbody tr td").first.inner_text()
    assert top == report["by_project"][0]["project"]
    page.screenshot(path=ARTIFACTS / "monthly-report.png", full_page=True)
    page.close()
