"""Any result out as CSV or JSON; CSV cells that a spreadsheet would run as a formula are defused.

Examples:
    >>> import polars as pl
    >>> print(to_csv(pl.DataFrame({"project": ["=HYPERLINK(1)", "shorts"], "cost_usd": [-1.5, 2.0]})), end="")
    project,cost_usd
    '=HYPERLINK(1),-1.5
    shorts,2.0
    >>> to_json(pl.DataFrame({"a": [1]}))
    '[{"a":1}]'
"""

from __future__ import annotations

import polars as pl

FORMULA = r"^[=+\-@\t\r]"


def to_csv(frame: pl.DataFrame) -> str:
    """CSV text; a text cell starting with = + - @ (or tab/CR) gets a leading ' (OWASP's advice)."""
    text = [c for c, t in frame.schema.items() if t == pl.String]
    safe = frame.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA))
        .then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c) for c in text)
    nested = [c for c, t in safe.schema.items() if t.is_nested()]
    safe = safe.with_columns(pl.col(c).cast(pl.String) if not isinstance(safe.schema[c], pl.Struct)
                             else pl.col(c).struct.json_encode() for c in nested)
    return safe.write_csv()


def to_json(frame: pl.DataFrame) -> str:
    """A JSON array of row objects (dates and times as ISO 8601)."""
    return frame.write_json()
