"""The one way files are written in and beside a lake: whole or not at all."""

from pathlib import Path

import pytest

from ingest.files import write_atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    path = tmp_path / "budgets.json"
    write_atomic(path, '["old"]')

    def fail_halfway(f):
        f.write(b'["new", ')
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomic(path, fail_halfway)
    assert path.read_text() == '["old"]' and [p.name for p in tmp_path.iterdir()] == ["budgets.json"]


def test_a_content_named_file_is_never_replaced(tmp_path):
    path = tmp_path / "2026-03-abc.parquet"
    assert write_atomic(path, b"first", tmp=tmp_path / "t1", replace=False)
    assert not write_atomic(path, b"second", tmp=tmp_path / "t2", replace=False)
    assert path.read_bytes() == b"first" and sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def _appender(path: str, writer: int, n: int) -> None:
    from ingest.files import append_lines
    for i in range(n):  # lines of ~4 KB: larger than a pipe's atomic write, as an audit entry can be
        append_lines(Path(path), [{"writer": writer, "i": i, "pad": "x" * 4000}])


def test_processes_appending_at_once_never_interleave_their_lines(tmp_path):
    """The audit trail, alerts and deliveries are appended by several processes (CLI, servers, Trackers)."""
    import multiprocessing
    from ingest.files import read_lines
    path = tmp_path / "log.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_appender, args=(str(path), w, 300)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    lines = path.read_text().splitlines()
    got = list(read_lines(path))
    assert len(lines) == len(got) == 1200  # every line whole: none cut, none merged
    for w in range(4):
        assert [e["i"] for e in got if e["writer"] == w] == list(range(300))
