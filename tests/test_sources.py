"""Image sources for the embedding store: folders, path lists, HF imagefolder and saved data
sets, webdataset shards; deterministic ids, labels and byte-exact reads."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from prompting.data import sources
from prompting.data.sources import SourceReader, open_source
from prompting.errors import DatasetError
from tests.conftest import make_image


def _png(seed: int) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _read_all(source: sources.Source) -> list[bytes]:
    reader = SourceReader(source.spec)
    return [reader.read(item.locator) for item in source.items]


def test_labelled_folder_gives_relative_ids_and_folder_labels(labeled_folder: Path) -> None:
    source = open_source(labeled_folder)
    assert source.spec.kind == "folder" and source.label_kind == "names"
    assert source.classes == ["bird", "cat", "dog"]
    assert [item.id for item in source.items][:3] == ["bird/bird0.png", "bird/bird1.png", "cat/broken.jpg"]
    assert [item.label for item in source.items] == [0, 0, 1, 1, 1, 2, 2]
    assert _read_all(source)[0] == (labeled_folder / "bird" / "bird0.png").read_bytes()
    assert open_source(labeled_folder).items == source.items


def test_flat_folder_has_no_labels(flat_folder: Path) -> None:
    source = open_source(flat_folder)
    assert source.classes is None and source.label_kind == "none"
    assert [item.id for item in source.items] == ["img0.png", "img1.png", "img2.png"]


def test_path_list_with_optional_labels_comments_and_relative_paths(tmp_path: Path) -> None:
    make_image(tmp_path / "a" / "one.png", 1)
    make_image(tmp_path / "two.png", 2)
    listing = tmp_path / "images.txt"
    listing.write_text("# my set\na/one.png\tzebra\n\ntwo.png\tant\nmissing.png\n", encoding="utf-8")
    source = open_source(listing)
    assert source.spec.kind == "list" and source.classes == ["ant", "zebra"]
    assert [(item.id, item.label) for item in source.items] == [("a/one.png", 1), ("two.png", 0), ("missing.png", None)]
    reader = SourceReader(source.spec)
    assert reader.read("two.png") == (tmp_path / "two.png").read_bytes()
    with pytest.raises(OSError):
        reader.read("missing.png")


def test_path_list_refuses_a_repeated_path(tmp_path: Path) -> None:
    listing = tmp_path / "images.txt"
    listing.write_text("x.png\nx.png\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="'x.png' appears twice"):
        open_source(listing)


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_hf_imagefolder_metadata(tmp_path: Path, kind: str) -> None:
    for name in ("p.png", "q.png", "r.png"):
        make_image(tmp_path / "train" / name, len(name))
    rows = [("train/p.png", "owl"), ("train/q.png", "cat"), ("train/r.png", "owl")]
    if kind == "jsonl":
        text = "".join(json.dumps({"file_name": f, "label": label}) + "\n" for f, label in rows)
    else:
        text = "file_name,label\n" + "".join(f"{f},{label}\n" for f, label in rows)
    (tmp_path / f"metadata.{kind}").write_text(text, encoding="utf-8")
    source = open_source(tmp_path)
    assert source.spec.kind == "imagefolder" and source.classes == ["cat", "owl"]
    assert [(item.id, item.label) for item in source.items] == [("train/p.png", 1), ("train/q.png", 0),
                                                                 ("train/r.png", 1)]
    assert _read_all(source)[1] == (tmp_path / "train" / "q.png").read_bytes()


def _hf_dataset(count: int):
    import datasets

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["cat", "dog"])})
    return datasets.Dataset.from_dict(
        {"image": [{"bytes": _png(i), "path": None} for i in range(count)], "label": [i % 2 for i in range(count)]},
        features=features,
    )


def test_hf_saved_dataset_reads_image_bytes_and_class_labels(tmp_path: Path) -> None:
    _hf_dataset(4).save_to_disk(str(tmp_path / "ds"))
    source = open_source(tmp_path / "ds")
    assert source.spec.kind == "hf" and source.classes == ["cat", "dog"] and source.label_kind == "names"
    assert [(item.id, item.label) for item in source.items] == [("0", 0), ("1", 1), ("2", 0), ("3", 1)]
    assert _read_all(source) == [_png(i) for i in range(4)]


def test_hf_dataset_dict_needs_a_split(tmp_path: Path) -> None:
    import datasets

    datasets.DatasetDict({"train": _hf_dataset(3), "validation": _hf_dataset(2)}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(DatasetError, match="Choose a split .* train, validation"):
        open_source(tmp_path / "dd")
    with pytest.raises(DatasetError, match="no split 'test'"):
        open_source(tmp_path / "dd", split="test")
    source = open_source(tmp_path / "dd", split="validation")
    assert [item.id for item in source.items] == ["validation/0", "validation/1"]
    assert _read_all(source) == [_png(0), _png(1)]


def test_a_split_for_a_source_without_splits_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.png").write_bytes(_png(0))
    with pytest.raises(DatasetError, match="'photos' is not a saved Hugging Face data set, so it has no splits"):
        open_source(folder, split="train")
    assert [item.id for item in open_source(folder).items] == ["a.png"]


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def test_webdataset_shards_group_members_by_key(tmp_path: Path) -> None:
    with tarfile.open(tmp_path / "shard-000.tar", "w") as archive:
        _add(archive, "s/0001.png", _png(1))
        _add(archive, "s/0001.cls", b"7")
        _add(archive, "s/0002.json", b"{}")  # no image: rejected
        _add(archive, "s/0003.png", _png(3))
        _add(archive, "s/0003.cls", b"seven")  # not an index: rejected
    with tarfile.open(tmp_path / "shard-001.tar", "w") as archive:
        _add(archive, "0004.jpg.png", _png(4))  # extension = everything after the first dot
        _add(archive, "0004.cls", b" 2\n")
    source = open_source(tmp_path)
    assert source.spec.kind == "tar" and source.label_kind == "indices" and source.classes is None
    assert [(item.id, item.label) for item in source.items] == [("shard-000.tar/s/0001", 7),
                                                                 ("shard-001.tar/0004", 2)]
    assert [r["id"] for r in source.rejected] == ["shard-000.tar/s/0002", "shard-000.tar/s/0003"]
    assert "no image" in source.rejected[0]["reason"] and "not a class index" in source.rejected[1]["reason"]
    assert _read_all(source) == [_png(1), _png(4)]
    single = open_source(tmp_path / "shard-001.tar")
    assert [item.id for item in single.items] == ["shard-001.tar/0004"]


def test_a_truncated_shard_keeps_its_readable_samples(tmp_path: Path) -> None:
    with tarfile.open(tmp_path / "whole.tar", "w") as archive:
        for i in range(4):
            _add(archive, f"{i:04d}.png", _png(i) + b"\0" * 2048)
    data = (tmp_path / "whole.tar").read_bytes()
    (tmp_path / "whole.tar").unlink()
    (tmp_path / "cut.tar").write_bytes(data[:5000])  # inside the third member
    source = open_source(tmp_path)
    assert 1 <= len(source.items) < 4
    assert source.rejected[-1]["id"] == "cut.tar" and "truncated" in source.rejected[-1]["reason"]


def test_reader_refuses_paths_outside_the_folder_and_oversized_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_image(tmp_path / "set" / "a.png", 0)
    make_image(tmp_path / "outside.png", 1)
    reader = SourceReader(open_source(tmp_path / "set").spec)
    with pytest.raises(OSError, match="outside the source folder"):
        reader.read("../outside.png")
    monkeypatch.setattr(sources, "MAX_IMAGE_BYTES", 10)
    with pytest.raises(OSError, match="MiB allowed per image"):
        reader.read("a.png")


def test_unknown_sources_say_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        open_source(tmp_path / "nope")
    (tmp_path / "x.zip").write_bytes(b"PK")
    with pytest.raises(DatasetError, match=r"neither a webdataset shard \(.tar\) nor a list"):
        open_source(tmp_path / "x.zip")
