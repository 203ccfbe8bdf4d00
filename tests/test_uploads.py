"""Zip extraction: well-formed and malicious archives built in tmp_path."""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
from pathlib import Path

import pytest

from prompting.data.uploads import _copy_limited, extract_zip_safely
from prompting.errors import DatasetError


def _zip(path: Path, entries: dict[str, bytes] | list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    items = entries.items() if isinstance(entries, dict) else entries
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are deliberate
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in items:
                archive.writestr(name, data)
    return path


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_single_top_level_folder_is_returned_and_junk_skipped(tmp_path: Path) -> None:
    archive = _zip(
        tmp_path / "flowers.zip",
        {
            "flowers/rose/a.jpg": b"rose",
            "flowers/tulip/b.jpg": b"tulip",
            "flowers/.DS_Store": b"junk",
            "__MACOSX/flowers/rose/._a.jpg": b"junk",
        },
    )
    target = tmp_path / "out"
    root = extract_zip_safely(archive, target)
    assert root == target / "flowers"
    assert _files(target) == ["flowers", "flowers/rose", "flowers/rose/a.jpg", "flowers/tulip", "flowers/tulip/b.jpg"]
    assert (root / "tulip" / "b.jpg").read_bytes() == b"tulip"


def test_several_top_level_entries_return_target(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "mixed.zip", {"rose/a.jpg": b"1", "tulip/b.jpg": b"2"})
    assert extract_zip_safely(archive, tmp_path / "out") == tmp_path / "out"
    flat = _zip(tmp_path / "flat.zip", {"a.jpg": b"1"})
    assert extract_zip_safely(flat, tmp_path / "flat") == tmp_path / "flat"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("/etc/evil.txt", "absolute path"),
        ("C:\\evil.txt", "absolute path"),
        ("../evil.txt", "'\\.\\.'"),
        ("ok/../../evil.txt", "'\\.\\.'"),
        ("..\\evil.txt", "'\\.\\.'"),
    ],
)
def test_unsafe_names_are_refused(tmp_path: Path, name: str, message: str) -> None:
    archive = _zip(tmp_path / "bad.zip", [("fine.txt", b"ok"), (zipfile.ZipInfo(name), b"evil")])
    target = tmp_path / "a" / "b"
    with pytest.raises(DatasetError, match=message):
        extract_zip_safely(archive, target)
    assert _files(target) == []
    assert not (tmp_path / "a" / "evil.txt").exists()


def test_symlink_entries_are_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("link")
    link.external_attr = 0o120777 << 16
    archive = _zip(tmp_path / "link.zip", [(link, b"/etc/passwd")])
    with pytest.raises(DatasetError, match=r"symbolic link \('link'\)"):
        extract_zip_safely(archive, tmp_path / "out")


def test_entry_through_existing_symlink_leaving_target_is_refused(tmp_path: Path) -> None:
    outside, target = tmp_path / "outside", tmp_path / "out"
    outside.mkdir()
    target.mkdir()
    (target / "sub").symlink_to(outside, target_is_directory=True)
    archive = _zip(tmp_path / "sneaky.zip", {"sub/x.txt": b"evil"})
    with pytest.raises(DatasetError, match="outside the upload folder"):
        extract_zip_safely(archive, target)
    assert list(outside.iterdir()) == []


def test_file_count_limit_ignores_skipped_entries(tmp_path: Path) -> None:
    three = {f"d/{i}.jpg": b"x" for i in range(3)} | {"__MACOSX/d/._0.jpg": b"j", "d/.hidden": b"j"}
    assert extract_zip_safely(_zip(tmp_path / "three.zip", three), tmp_path / "ok", max_files=3) == tmp_path / "ok/d"
    four = _zip(tmp_path / "four.zip", {f"{i}.jpg": b"x" for i in range(4)})
    with pytest.raises(DatasetError, match="more than 3 files"):
        extract_zip_safely(four, tmp_path / "no", max_files=3)
    assert _files(tmp_path / "no") == []


def test_declared_size_limit(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "big.zip", {"zeros.bin": bytes(2**20)})  # compresses to ~1 KiB
    assert archive.stat().st_size < 10_000
    with pytest.raises(DatasetError, match="would unpack to more than"):
        extract_zip_safely(archive, tmp_path / "out", max_total_bytes=2**19)
    assert _files(tmp_path / "out") == []
    extract_zip_safely(archive, tmp_path / "fits", max_total_bytes=2**20)
    assert (tmp_path / "fits" / "zeros.bin").stat().st_size == 2**20


def _patch_headers(path: Path, name: bytes, fmt: str, local_offset: int, central_offset: int, value: int) -> None:
    """Overwrite one field of entry ``name`` in its local and central directory headers."""
    data = bytearray(path.read_bytes())
    for signature, offset, name_offset in ((b"PK\x03\x04", local_offset, 30), (b"PK\x01\x02", central_offset, 46)):
        start = 0
        while (start := data.find(signature, start)) != -1:
            if data[start + name_offset : start + name_offset + len(name)] == name:
                struct.pack_into(fmt, data, start + offset, value)
            start += 4
    path.write_bytes(bytes(data))


def test_lying_header_fails_and_earlier_files_are_removed(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "liar.zip", [("a/first.txt", b"fine"), ("b/liar.bin", bytes(50_000))])
    _patch_headers(archive, b"b/liar.bin", "<I", 22, 24, 10)  # uncompressed size
    with zipfile.ZipFile(archive) as opened:
        assert opened.getinfo("b/liar.bin").file_size == 10
    target = tmp_path / "out"
    with pytest.raises(DatasetError, match="could not be extracted"):
        extract_zip_safely(archive, target, max_total_bytes=1000)
    assert _files(target) == []


def test_copy_limited_counts_streamed_bytes() -> None:
    sink = io.BytesIO()
    assert _copy_limited(io.BytesIO(b"x" * 5000), sink, 5000, "a.zip") == 5000
    assert sink.getvalue() == b"x" * 5000
    with pytest.raises(DatasetError, match=r"'a\.zip' unpacks to more data"):
        _copy_limited(io.BytesIO(b"x" * 5001), io.BytesIO(), 5000, "a.zip")


def test_duplicate_entries_fail_without_leftovers(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "dup.zip", [("d/a.txt", b"1"), ("d/a.txt", b"2")])
    with pytest.raises(DatasetError, match="could not be extracted"):
        extract_zip_safely(archive, tmp_path / "out")
    assert _files(tmp_path / "out") == []


def test_encrypted_entries_are_refused(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "enc.zip", {"secret.jpg": b"x"})
    _patch_headers(archive, b"secret.jpg", "<H", 6, 8, 0x1)  # general purpose flag: encrypted
    with zipfile.ZipFile(archive) as opened, pytest.raises(RuntimeError, match="password required"):
        opened.read("secret.jpg")
    with pytest.raises(DatasetError, match="password-protected"):
        extract_zip_safely(archive, tmp_path / "out")


def test_bad_and_empty_archives(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"'missing\.zip' does not exist"):
        extract_zip_safely(tmp_path / "missing.zip", tmp_path / "out")
    (tmp_path / "fake.zip").write_text("not a zip")
    with pytest.raises(DatasetError, match=r"'fake\.zip' is not a readable zip archive"):
        extract_zip_safely(tmp_path / "fake.zip", tmp_path / "out")
    (tmp_path / "taken").write_text("a file, not a folder")
    good = _zip(tmp_path / "good.zip", {"a.jpg": b"x"})
    with pytest.raises(DatasetError, match="Cannot create the upload folder"):
        extract_zip_safely(good, tmp_path / "taken")
    junk = _zip(tmp_path / "junk.zip", {"__MACOSX/._a.jpg": b"j", ".DS_Store": b"j"})
    with pytest.raises(DatasetError, match="contains no files"):
        extract_zip_safely(junk, tmp_path / "out")
