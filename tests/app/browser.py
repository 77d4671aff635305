"""A real Streamlit server on a lake, and Debian's chromium driven by Playwright (used by the browser
test and by bench/app_pages.py)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SPENDLAKE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking"]
PAGES = {"": "Overview", "explore": "Explore", "jobs": "Jobs", "events": "Events", "estimate": "Estimate a run", "budgets": "Budgets",
         "optimize": "Optimize", "prices": "Prices", "import": "Import usage"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(lake: Path, log: Path, *, port: int | None = None, options: list[str] = (),
                     script: Path | None = None, cpus: set[int] | None = None) -> Iterator[str]:
    """The app's server on the lake, started as `spendlake app` starts it (plus Streamlit `options`;
    or plain `streamlit run script`), on these `cpus` if given; yields its URL once /_stcore/health answers."""
    port = port or free_port()
    env = os.environ | {"SPENDLAKE_LAKE": str(lake)}
    start = ["streamlit", "run", str(script)] if script else ["spendlake.app_server"]
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", *start, "--server.port", str(port),
                                    "--server.headless", "true", *options],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start:\n{log.read_text()}") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def open_page(page, url: str, path: str, *, timeout_ms: int = 60_000) -> float:
    """Load one page and wait until its title is drawn and the script has finished; returns seconds."""
    start = time.perf_counter()
    page.goto(f"{url}/{path}")
    page.get_by_role("heading", name=PAGES[path]).first.wait_for(timeout=timeout_ms)
    wait_idle(page, timeout_ms)
    return time.perf_counter() - start


def wait_idle(page, timeout_ms: int = 60_000) -> None:
    """Until no script runs (Streamlit's status widget is gone) and every chart and table is drawn."""
    page.wait_for_timeout(100)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]') && "
                           "!document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=timeout_ms)
