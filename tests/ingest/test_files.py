"""The one way files are written in and beside a lake: whole or not at all."""

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
