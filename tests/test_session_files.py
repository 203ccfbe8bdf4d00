"""Unpacked zip uploads: bounded per session and in all, replaced by the next, deleted at the end."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from prompting.errors import DatasetError
from prompting.service.session_files import SessionFiles, folder_size


def zeros_zip(path: Path, n_files: int, size: int) -> Path:
    """A small archive that unpacks to ``n_files`` files of ``size`` zero bytes (the report's
    411 kB zip of 1,999 files unpacked to 190 MB)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(n_files):
            archive.writestr(f"cat/{index}.jpg", b"\0" * size)
    return path


def unpacked(parent: Path) -> tuple[int, int]:
    return folder_size(parent)


def test_a_zip_over_the_session_bounds_is_refused_before_writing(tmp_path: Path) -> None:
    parent = tmp_path / "uploads"
    parent.mkdir()
    files = SessionFiles(max_bytes=100_000, max_files=50, max_total_bytes=10**9)
    bomb = zeros_zip(tmp_path / "zeros.zip", 40, 10_000)  # 400 kB unpacked, a few kB packed
    assert bomb.stat().st_size < 20_000
    with pytest.raises(DatasetError, match="would unpack to more than"):
        files.unpack("s1", bomb, parent)
    many = zeros_zip(tmp_path / "many.zip", 60, 10)
    with pytest.raises(DatasetError, match="holds more than 50 files"):
        files.unpack("s1", many, parent)
    assert unpacked(parent) == (0, 0) and list(parent.iterdir()) == [] and files.total_bytes == 0


def test_the_next_zip_replaces_the_last_and_the_end_deletes_everything(tmp_path: Path) -> None:
    parent = tmp_path / "uploads"
    parent.mkdir()
    files = SessionFiles(max_bytes=100_000, max_files=50, max_total_bytes=10**9)
    for _ in range(3):  # three uploads of 9 x 10 kB: the session never holds more than one
        root = files.unpack("s1", zeros_zip(tmp_path / "set.zip", 9, 10_000), parent)
        assert unpacked(parent) == (90_000, 9) and files.total_bytes == 90_000
    assert sorted(path.name for path in root.iterdir()) == [f"{index}.jpg" for index in range(9)]
    files.unpack("s2", zeros_zip(tmp_path / "other.zip", 2, 1000), parent)
    files.end("s1")
    assert unpacked(parent) == (2000, 2) and files.total_bytes == 2000
    files.end("s2")
    assert list(parent.iterdir()) == [] and files.total_bytes == 0


def test_all_sessions_together_stay_within_the_total(tmp_path: Path) -> None:
    parent = tmp_path / "uploads"
    parent.mkdir()
    files = SessionFiles(max_bytes=60_000, max_files=50, max_total_bytes=100_000)
    files.unpack("s1", zeros_zip(tmp_path / "a.zip", 5, 10_000), parent)
    with pytest.raises(DatasetError, match="would unpack to more than"):  # 50 kB left, 60 kB asked
        files.unpack("s2", zeros_zip(tmp_path / "b.zip", 6, 10_000), parent)
    files.unpack("s2", zeros_zip(tmp_path / "c.zip", 5, 10_000), parent)
    with pytest.raises(DatasetError, match="as many unpacked uploads as it can"):
        files.unpack("s3", zeros_zip(tmp_path / "d.zip", 1, 10), parent)
    files.unpack("s1", zeros_zip(tmp_path / "e.zip", 5, 10_000), parent)  # replacing its own fits
    assert files.total_bytes == 100_000 <= files.max_total_bytes
