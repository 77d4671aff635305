"""Where the lake is: `--lake`, then `SPENDLAKE_LAKE`, then `data/lake` (relative to the working folder)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_LAKE = Path("data") / "lake"


def lake_path(option: str | os.PathLike[str] | None = None) -> Path:
    """The lake to use.

    Examples:
        >>> str(lake_path("/tmp/lake"))
        '/tmp/lake'
    """
    return Path(option or os.environ.get("SPENDLAKE_LAKE") or DEFAULT_LAKE)
