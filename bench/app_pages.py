"""App speed: each page of the app in a real browser on a 10M-event lake, cold and warm.

    python bench/app_pages.py [--events 10000000] [--repeat 3] [--pages Overview Optimize]

The lake is a year of demo-shaped events ending today (built under bench/out/ once). Cold: a
fresh server per page (`python -m spendlake.app_server`, as `spendlake app` starts it; Streamlit's
caches empty) and a fresh browser context (nothing cached), first visit; and the same with a
browser that has seen the app before (its HTTP cache holds Streamlit's JavaScript). Warm, reload: the same
page loaded again (a new session; medians of `--repeat`). Warm, in the app: reached from another
page through the sidebar, as a person moves around (medians of `--repeat`). A page counts as
drawn when its title is on screen, no script is running and no chart or table is still a
placeholder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from playwright.sync_api import sync_playwright  # noqa: E402

from analytics_queries import OUT, build_lake  # noqa: E402
from tests.app.browser import CHROMIUM, CHROMIUM_ARGS, PAGES, open_page, streamlit_server, wait_idle  # noqa: E402

NAV = {"": "Overview", "estimate": "Estimate", "import": "Import"}  # sidebar labels that differ from titles


def through_sidebar(page, url: str, path: str) -> float:
    """Seconds from a click on the page's sidebar link (from another page) until it is drawn."""
    open_page(page, url, "budgets" if path == "" else "")
    start = time.perf_counter()
    page.get_by_test_id("stSidebarNav").get_by_text(NAV.get(path, PAGES[path]), exact=True).click()
    page.get_by_role("heading", name=PAGES[path]).first.wait_for()
    wait_idle(page)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pages", nargs="*", help="page titles to measure (default: every page)")
    args = parser.parse_args()
    lake = build_lake(args.events, dt.datetime.now(dt.UTC).date())
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; lake {lake.root.name}: {len(lake.files())} files\n")
    print("| page | cold s | cold s, browser cache warm | warm s, reload | warm s, in the app |")
    print("|---|---|---|---|---|")
    log = OUT / "streamlit-bench.log"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        returning = browser.new_context(viewport={"width": 1400, "height": 1000})  # keeps its HTTP cache
        with streamlit_server(lake.root, log) as url:
            for path in PAGES:  # a returning visitor: Streamlit's JavaScript and components already cached
                open_page(returning.new_page(), url, path)
        for path, title in PAGES.items():
            if args.pages and title not in args.pages:
                continue
            with streamlit_server(lake.root, log) as url:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                cold = open_page(page, url, path)
                page.close()
            with streamlit_server(lake.root, log) as url:
                page = returning.new_page()
                cached = open_page(page, url, path)
                warm = statistics.median(open_page(page, url, path) for _ in range(args.repeat))
                moving = statistics.median(through_sidebar(page, url, path) for _ in range(args.repeat))
                page.close()
            print(f"| {title} | {cold:.2f} | {cached:.2f} | {warm:.2f} | {moving:.2f} |")
        browser.close()


if __name__ == "__main__":
    main()
