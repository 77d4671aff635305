"""App speed: each page of the app in a real browser on a 10M-event lake, against an empty page.

    python bench/app_pages.py [--events 10000000] [--repeat 3] [--pages Overview Optimize] [--shared-cores]

The lake is a year of demo-shaped events ending today (built under bench/out/ once). The server
runs on one core and the browser (with this script and Playwright's driver) on the other, as they
are in use: a person's browser is not on the server (`--shared-cores` puts both on both cores, as
the earlier table measured). The empty page (`bench/empty_page.py`: Streamlit and a title) is
measured the same way in the same run, and each page's time is given against it.

Cold: a fresh server per load (`python -m spendlake.app_server`, as `spendlake app` starts it;
Streamlit's caches empty) and a fresh browser context (nothing cached), first visit; and the same
with a browser that has seen the app before (its HTTP cache holds Streamlit's JavaScript; every
server is on the same port, so the cache applies). Overview's headline: until "Month to date" and
"Monthly budget" show their figures, in the same cold loads. Warm, reload: the page loaded again
(a new session). Warm, in the app: reached from another page through the sidebar, as a person
moves around. Every figure is a median of `--repeat`. A page counts as drawn when its title is on
screen, no script is running and no chart or table is still a placeholder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from playwright.sync_api import sync_playwright  # noqa: E402

from analytics_queries import OUT, build_lake  # noqa: E402
from tests.app.browser import CHROMIUM, CHROMIUM_ARGS, PAGES, free_port, open_page, streamlit_server, wait_idle  # noqa: E402

NAV = {"": "Overview", "estimate": "Estimate", "import": "Import"}  # sidebar labels that differ from titles
HERE = Path(__file__).resolve().parent
SERVER_CPU, BROWSER_CPU = {0}, {1}
VIEWPORT = {"width": 1400, "height": 1000}


@dataclass(frozen=True)
class Target:
    """A page to load: its server's script (None: the app), path, title and sidebar link, and the
    page a sidebar move starts from (None: the page has no sidebar)."""

    name: str
    path: str
    title: str
    script: Path | None = None
    link: str | None = None
    start_from: str | None = None
    figures: tuple[str, ...] = ()  # the headline figures' labels


EMPTY = Target("empty page", "", "Empty page", HERE / "empty_page.py")
ELEMENTS = Target("Overview's elements, no data", "", "Elements page", HERE / "elements_page.py", "Elements", "other",
                  ("Figure 0", "Figure 2"))


def app_page(path: str) -> Target:
    return Target(PAGES[path], path, PAGES[path], None, NAV.get(path, PAGES[path]), "budgets" if path == "" else "",
                  ("Month to date", "Monthly budget") if path == "" else ())


def load(page, url: str, target: Target) -> float:
    """Seconds from asking for the page until it is drawn: its title on screen, no script running,
    no chart or table a placeholder."""
    start = time.perf_counter()
    page.goto(f"{url}/{target.path}")
    page.get_by_role("heading", name=target.title).first.wait_for(timeout=60_000)
    wait_idle(page)
    return time.perf_counter() - start


def headline(page, url: str, target: Target) -> tuple[float, float]:
    """Seconds until the page's headline figures show, and until it is drawn."""
    start = time.perf_counter()
    page.goto(f"{url}/{target.path}")
    for label in target.figures:
        page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue").first.wait_for()
    shown = time.perf_counter() - start
    page.get_by_role("heading", name=target.title).first.wait_for()
    wait_idle(page)
    return shown, time.perf_counter() - start


def through_sidebar(page, url: str, target: Target) -> float:
    """Seconds from a click on the page's sidebar link (from another page) until it is drawn."""
    page.goto(f"{url}/{target.start_from}")
    page.get_by_test_id("stSidebarNav").wait_for()
    wait_idle(page)
    start = time.perf_counter()
    page.get_by_test_id("stSidebarNav").get_by_text(target.link, exact=True).click()
    page.get_by_role("heading", name=target.title).first.wait_for()
    wait_idle(page)
    return time.perf_counter() - start


def measure(browser, returning, lake: Path, log: Path, port: int, target: Target, repeat: int,
            cpus: set[int] | None) -> dict[str, float]:
    """Medians of `repeat` cold loads (a fresh server; a fresh browser, then one that has seen the
    app), and of warm reloads and sidebar moves."""
    runs: dict[str, list[float]] = {"cold": [], "cached": [], "headline": [], "reload": [], "moving": []}
    for _ in range(repeat):
        with streamlit_server(lake, log, port=port, script=target.script, cpus=cpus) as url:
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            if target.figures:
                shown, drawn = headline(page, url, target)
                runs["headline"].append(shown)
                runs["cold"].append(drawn)
            else:
                runs["cold"].append(load(page, url, target))
            context.close()
        with streamlit_server(lake, log, port=port, script=target.script, cpus=cpus) as url:
            page = returning.new_page()
            runs["cached"].append(load(page, url, target))
            runs["reload"].append(load(page, url, target))
            if target.link:
                runs["moving"].append(through_sidebar(page, url, target))
            page.close()
    return {k: statistics.median(v) for k, v in runs.items() if v}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pages", nargs="*", help="page titles to measure (default: every page)")
    parser.add_argument("--shared-cores", action="store_true", help="server and browser on both cores")
    args = parser.parse_args()
    cpus = None if args.shared_cores else SERVER_CPU
    if not args.shared_cores:  # Playwright's driver and the browser it starts inherit this
        os.sched_setaffinity(0, BROWSER_CPU)
    lake = build_lake(args.events, dt.datetime.now(dt.UTC).date())
    placement = "sharing both cores" if args.shared_cores else \
        f"server on core {min(SERVER_CPU)}, browser on core {min(BROWSER_CPU)}"
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; lake {lake.root.name}: {len(lake.files())} files; "
          f"{placement}; medians of {args.repeat}\n")
    log, port = OUT / "streamlit-bench.log", free_port()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        returning = browser.new_context(viewport=VIEWPORT)  # keeps its HTTP cache
        with streamlit_server(lake.root, log, port=port, cpus=cpus) as url:
            for path in PAGES:  # a returning visitor: Streamlit's JavaScript and components already cached
                open_page(returning.new_page(), url, path)
        empty = measure(browser, returning, lake.root, log, port, EMPTY, args.repeat, cpus)
        print("| page | cold s | ÷ empty | cold s, browser cache warm | ÷ empty | warm s, reload | warm s, in the app |")
        print("|---|---|---|---|---|---|---|")

        def row(name: str, got: dict[str, float]) -> None:
            moving = f"{got['moving']:.2f}" if "moving" in got else "—"
            print(f"| {name} | {got['cold']:.2f} | {got['cold'] / empty['cold']:.2f} | {got['cached']:.2f} | "
                  f"{got['cached'] / empty['cached']:.2f} | {got['reload']:.2f} | {moving} |", flush=True)
        row(EMPTY.name, empty)
        for target in [ELEMENTS, *(app_page(path) for path, title in PAGES.items()
                                   if not args.pages or title in args.pages)]:
            got = measure(browser, returning, lake.root, log, port, target, args.repeat, cpus)
            if "headline" in got:
                print(f"| {target.name}, headline figures | {got['headline']:.2f} | "
                      f"{got['headline'] / empty['cold']:.2f} | | | | |")
            row(target.name, got)
        browser.close()


if __name__ == "__main__":
    main()
