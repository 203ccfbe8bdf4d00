"""Atomic writes, the cache location, model identity, and the core's independence from gradio."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from prompting import storage
from prompting.encoding.models import _identity

REPO = Path(__file__).resolve().parents[1]


def test_failed_atomic_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "cache.json"
    storage.atomic_write_json(target, {"old": 1})
    monkeypatch.setattr(storage.os, "replace", lambda *args: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        storage.atomic_write_json(target, {"new": 2})
    assert target.read_text(encoding="utf-8") == '{\n  "old": 1\n}'
    assert [p.name for p in tmp_path.iterdir()] == ["cache.json"]


def test_cache_dir_defaults_to_the_user_cache_dir(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ZSP_CACHE_DIR", raising=False)
    monkeypatch.setattr(storage.platformdirs, "user_cache_dir", lambda app: str(tmp_path / app))
    assert storage.cache_dir() == tmp_path / "prompt-workbench" and storage.cache_dir().is_dir()
    monkeypatch.setenv("ZSP_CACHE_DIR", str(tmp_path / "override"))
    assert storage.cache_dir() == tmp_path / "override"


def test_hub_identity_uses_the_resolved_commit() -> None:
    model = SimpleNamespace(config=SimpleNamespace(_commit_hash="abc123"))
    assert _identity("openai/clip-vit-base-patch32", None, model) == "hub:openai/clip-vit-base-patch32@abc123"
    unresolved = SimpleNamespace(config=SimpleNamespace(_commit_hash=None))
    assert _identity("org/model", "v2", unresolved) == "hub:org/model@v2"


def test_local_identity_changes_when_the_weights_change(tiny_clip_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = Path(shutil.copytree(tiny_clip_dir, tmp_path / "copy"))
    model = SimpleNamespace(config=SimpleNamespace(_commit_hash=None))
    assert _identity(str(copy), None, model) == _identity(str(tiny_clip_dir), None, model)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert _identity(str(copy), None, model) != _identity(str(tiny_clip_dir), None, model)


def test_user_text_drops_a_byte_order_mark_and_says_how_to_fix_other_encodings(tmp_path: Path) -> None:
    from prompting.classes import read_class_file
    from prompting.errors import ClassListError

    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbfcat\ndog\n")
    assert [c.prompt for c in read_class_file(str(bom))] == ["cat", "dog"]
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café\n".encode("latin-1"))
    with pytest.raises(ClassListError) as info:
        read_class_file(str(latin))
    assert str(info.value) == (f"Cannot read class list file '{latin}': it is not UTF-8 text (byte 3); save the file "
                               "as UTF-8 and try again.")


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_get_the_permissions_the_umask_gives(tmp_path: Path, umask: int) -> None:
    import os
    import stat

    from prompting.storage import atomic_write_bytes

    previous = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "out" / "results.json", b"{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out" / "results.json").stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["results.json"]  # no temporary file left
