"""Reading JSON Lines robustly: one bad line is reported with its number, the rest are read."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl


@dataclass(frozen=True)
class JsonLines:
    """The parsed lines (requested fields as strings; nested values as JSON text)."""

    frame: pl.DataFrame
    line_numbers: pl.Series  # 1-based line of each row
    lines: list[bytes]  # the source text of each row
    bad: list[tuple[int, bytes, str]]  # (line number, text, reason) of lines that are not JSON objects


def read_jsonl(path: Path | bytes, fields: list[str]) -> JsonLines:
    """Read the `fields` of every JSON object line as strings; blank lines are skipped.

    Examples:
        >>> rows = read_jsonl(b'{"a": 1, "b": {"c": 2}}\\n\\nnot json\\n{"a": "x"}\\n', ["a", "b"])
        >>> rows.frame.rows(), rows.line_numbers.to_list(), [(n, why) for n, _, why in rows.bad]
        ([('1', '{"c": 2}'), ('x', None)], [1, 4], [(3, 'not valid JSON (Expecting value)')])
    """
    data = path if isinstance(path, bytes) else Path(path).read_bytes()
    numbered = [(i, line) for i, line in enumerate(data.splitlines(), start=1) if line.strip()]
    schema = {f: pl.String for f in fields}
    bad: list[tuple[int, bytes, str]] = []
    try:
        frame = _parse([line for _, line in numbered], schema)
    except pl.exceptions.PolarsError:
        good = []
        for number, line in numbered:
            try:
                value = json.loads(line)
            except ValueError as e:
                bad.append((number, line, f"not valid JSON ({str(e).split(':')[0]})"))
                continue
            if not isinstance(value, dict):
                bad.append((number, line, "not a JSON object"))
            else:
                good.append((number, line))
        numbered = good
        frame = _parse([line for _, line in numbered], schema)
    numbers = pl.Series("line", [n for n, _ in numbered], dtype=pl.Int64)
    return JsonLines(frame, numbers, [line for _, line in numbered], bad)


def _parse(lines: list[bytes], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    if not lines:
        return pl.DataFrame(schema=schema)
    return pl.read_ndjson(io.BytesIO(b"\n".join(lines)), schema=schema)
