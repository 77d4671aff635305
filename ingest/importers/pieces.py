"""Reading a file a piece at a time, so memory does not grow with the file and a re-import reads
only what was appended: line formats in line-aligned pieces, Parquet by row groups.

A piece of a line format ends at a line boundary (for CSV, one outside quotes), so each piece
parses on its own; a CSV piece after the first carries the header again. `shift` turns the
record numbers a parser gives a piece into the file's own line (or row) numbers.

Examples:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
    >>> _ = path.write_bytes(b"ts,model\\n1,a\\n2,b\\n3,c\\n")
    >>> [(p.data, p.shift, p.end) for p in line_pieces(path, csv=True, size=8)]
    [(b'ts,model\\n1,a\\n', 0, 13), (b'ts,model\\n2,b\\n3,c\\n', 1, 21)]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

PIECE_BYTES = 16 << 20  # bytes of a line format parsed at once (peak memory is a few times this)
PIECE_ROWS = 500_000  # rows of a Parquet file read at once
BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark some editors put at the start of a text file


@dataclass(frozen=True)
class Piece:
    data: bytes  # what to parse (a CSV piece after the first starts with the header)
    start: int  # where the piece's own bytes begin in the file
    end: int  # where they end: a line boundary, or the end of the file
    shift: int  # add to a parser's record numbers to get the file's line numbers
    lines: int  # complete lines in the file before `end`


def line_pieces(path: Path, *, csv: bool = False, start: int = 0, lines: int = 0,
                size: int | None = None) -> Iterator[Piece]:
    """The file from byte `start` (after `lines` lines) in pieces of about `size` bytes (`PIECE_BYTES`)."""
    size = size or PIECE_BYTES
    with open(path, "rb") as f:
        header = f.readline().removeprefix(BOM) if csv else b""
        position = start
        while True:
            f.seek(position)
            own = f.read(size)
            if not own:
                return
            cut, ended = -1, len(own) < size
            while not ended and (cut := _boundary(own, csv)) < 0:  # a record longer than a piece: read on
                block = f.read(size)
                own, ended = own + block, len(block) < size
            if not ended:  # stop after the last whole record; the next piece is read from there
                own = own[:cut]  # (a piece's one copy)
            first = position == 0
            data = own.removeprefix(BOM) if first else own
            if csv and not first:
                data = header + data
            newlines = own.count(b"\n")
            yield Piece(data, position, position + len(own), lines - (csv and not first), lines + newlines)
            position += len(own)
            lines += newlines


def _boundary(buffer: bytes, csv: bool) -> int:
    """Just after the last line end in `buffer` that ends a record (-1 if none)."""
    end = buffer.rfind(b"\n")
    while csv and end >= 0 and buffer.count(b'"', 0, end) % 2:  # inside a quoted cell: go back a line
        end = buffer.rfind(b"\n", 0, end)
    return end + 1 if end >= 0 else -1


def parquet_pieces(path: Path, *, rows: int | None = None) -> Iterator[tuple[pl.DataFrame, int, int]]:
    """The file's rows in frames of at most `rows` (`PIECE_ROWS`), each with the number of rows before
    it and in the whole file (Polars reads only the row groups a slice needs)."""
    rows = rows or PIECE_ROWS
    total = pl.scan_parquet(path).select(pl.len()).collect().item()
    for before in range(0, total, rows):
        yield pl.scan_parquet(path).slice(before, rows).collect(), before, total
