"""Events out: pure Polars functions over a LazyFrame of events (`import analytics`).

Examples:
    >>> import tempfile, analytics
    >>> from ingest.demo import write_demo
    >>> from ingest.lake import Lake
    >>> lake = tempfile.mkdtemp()
    >>> _ = write_demo(Lake(lake), days=3)
    >>> totals(scan(lake)).events > 0
    True
"""

from analytics.scan import scan
from analytics.summary import Totals, totals, unpriced_models

__all__ = ["scan", "totals", "Totals", "unpriced_models"]
