"""Reading JSON Lines robustly: one bad line is reported with its number, the rest are read."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl


@dataclass(frozen=True)
class JsonLines:
    """The parsed lines (requested fields; nested values as JSON text)."""

    frame: pl.DataFrame
    line_numbers: pl.Series  # 1-based line of each row
    lines: Sequence[bytes]  # the source text of each row
    bad: list[tuple[int, bytes, str]]  # (line number, text, reason) of lines that are not JSON objects


class _Lines(Sequence[bytes]):
    """The non-blank lines of a file, split only if someone asks for one (a rejected record)."""

    def __init__(self, data: bytes) -> None:
        self._data, self._lines = data, None

    def _split(self) -> list[bytes]:
        if self._lines is None:
            self._lines = [line for line in self._data.splitlines() if line.strip()]
        return self._lines

    def __getitem__(self, i):  # type: ignore[override]
        return self._split()[i]

    def __len__(self) -> int:
        return len(self._split())


def read_jsonl(source: Path | bytes, schema: dict[str, pl.DataType], *, newlines: int | None = None) -> JsonLines:
    """Read the `schema` fields of every JSON object line; blank lines are skipped. `newlines`: the
    line ends in `source`, when the caller has counted them.

    The whole file is parsed at once with `schema`'s types (the fast path); if a value does not
    fit its type, every field is read as text instead, for validation to name the bad value; if
    a line is not JSON at all, the lines are parsed one by one and the bad ones reported.

    Examples:
        >>> rows = read_jsonl(b'{"a": 1, "b": {"c": 2}}\\n\\nnot json\\n{"a": "x"}\\n', {"a": pl.Int64, "b": pl.String})
        >>> rows.frame.rows(), rows.line_numbers.to_list(), [(n, why) for n, _, why in rows.bad]
        ([('1', '{"c": 2}'), ('x', None)], [1, 4], [(3, 'not valid JSON (Expecting value)')])
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    as_text = {f: pl.String for f in schema}
    for attempt in (schema, as_text):
        try:
            frame = _parse(data, attempt)
        except pl.exceptions.PolarsError:
            continue
        ends = data.count(b"\n") if newlines is None else newlines
        lines = ends + (not data.endswith(b"\n") and bool(data))
        if lines == frame.height:  # no blank lines: line i is row i
            return JsonLines(frame, pl.int_range(1, frame.height + 1, eager=True, dtype=pl.Int64), _Lines(data), [])
        numbered = [(i, line) for i, line in enumerate(data.splitlines(), start=1) if line.strip()]
        return JsonLines(frame, pl.Series("line", [n for n, _ in numbered], dtype=pl.Int64),
                         [line for _, line in numbered], [])
    good, bad = [], []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = strict_json(line)
        except ValueError as e:
            bad.append((number, line, f"not valid JSON ({str(e).split(':')[0]})"))
            continue
        if isinstance(value, dict):
            good.append((number, line, value))
        else:
            bad.append((number, line, "not a JSON object"))
    # from the parsed lines themselves: Polars refused this file once already
    frame = pl.DataFrame({f: [_as_text(v.get(f)) for _, _, v in good] for f in schema}, schema=as_text)
    return JsonLines(frame, pl.Series("line", [n for n, _, _ in good], dtype=pl.Int64), [line for _, line, _ in good], bad)


def strict_json(text: str | bytes) -> object:
    """JSON as RFC 8259 defines it: no NaN or Infinity, no number too large for a float, and a
    document nested too deeply is refused with a message rather than a RecursionError."""
    try:
        return json.loads(text, parse_constant=_not_a_number, parse_float=_finite)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None


def _not_a_number(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a number")
    return value


def _as_text(value: object) -> str | None:
    """A JSON value as the text Polars gives a field read as a string."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _parse(data: bytes, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    if not data or data.isspace():  # (isspace stops at the first other byte; strip would copy the file)
        return pl.DataFrame(schema=schema)
    # bytes, not BytesIO: Polars parses them in parallel; one chunk makes every later step faster
    return pl.read_ndjson(data, schema=schema).rechunk()
