"""Atomic writes: all or nothing, with the file mode the user's umask asks for."""

import os
import stat

import pytest

from minigpt.fileio import atomic_write, check_writable


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def write_with_umask(path, umask, data=b"data"):
    old = os.umask(umask)
    try:
        atomic_write(path, lambda f: f.write(data))
    finally:
        os.umask(old)


# defect class: files were written with mode 0600 whatever the umask (and 0644 files turned 0600)
@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_new_files_get_the_mode_the_umask_asks_for(tmp_path, umask, expected):
    write_with_umask(tmp_path / "new.bin", umask)
    assert mode(tmp_path / "new.bin") == expected


def test_replacing_a_file_keeps_its_mode(tmp_path):
    path = tmp_path / "old.bin"
    for existing in (0o644, 0o600, 0o664):
        path.write_bytes(b"old")
        os.chmod(path, existing)
        write_with_umask(path, 0o077, b"new")
        assert path.read_bytes() == b"new" and mode(path) == existing


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "keep.bin"
    path.write_bytes(b"old")

    def broken(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["keep.bin"]


def test_check_writable(tmp_path):
    assert check_writable(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert os.listdir(tmp_path / "a" / "b") == []  # the probe file is gone
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match="cannot write"):
        check_writable(blocker / "out")
