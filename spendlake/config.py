"""Where the lake is: `--lake`, then `SPENDLAKE_LAKE`, then `data/lake` (relative to the working folder);
`s3://bucket/prefix` for a lake on object storage."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_LAKE = Path("data") / "lake"


def lake_path(option: str | os.PathLike[str] | None = None) -> Path | str:
    """The lake to use: a folder, or an object store address as written.

    Examples:
        >>> str(lake_path("/tmp/lake")), lake_path("s3://team-costs/spend")
        ('/tmp/lake', 's3://team-costs/spend')
    """
    where = str(option or os.environ.get("SPENDLAKE_LAKE") or DEFAULT_LAKE)
    return where if "://" in where else Path(where)
