from __future__ import annotations

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
