"""atomic.py: files replaced whole or not at all, with a plain open()'s permissions."""

import os

import pytest

from atomic import atomic_path, stale_temporaries, write_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "settings.yaml"
    write_atomic(target, "old: 1\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("new: half")
        raise RuntimeError("the writer failed")
    assert target.read_text() == "old: 1\n" and not stale_temporaries(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.yaml"]


def test_the_new_file_lands_whole_with_the_umask_permissions(tmp_path):
    target = tmp_path / "cache.npz"
    old = os.umask(0o022)
    try:
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(".cache.npz.") and tmp.name.endswith(".tmp")
            tmp.write_bytes(b"\x00" * 1000)
            assert not target.exists()  # nothing there until the block ends
        assert target.read_bytes() == b"\x00" * 1000
        assert target.stat().st_mode & 0o777 == 0o644  # as open() would give, not mkstemp's 0600
        assert write_atomic(target, "é") == target and target.read_bytes() == "é".encode()
    finally:
        os.umask(old)
    assert not stale_temporaries(target)
