"""``embed`` and ``evaluate --embeddings``: a stored set scores exactly like its images."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from prompting.cli.main import main
from prompting.data.store import MANIFEST
from prompting.encoding.models import load_model
from tests.conftest import make_image

STRATEGIES = ["--strategy", "classname", "--strategy", "ensemble7", "--strategy", "waffle", "--seed", "0",
              "--seed", "1", "--waffle-words", "3", "--waffle-chars", "3"]


def _embed(model: Path, images: Path, out: Path, *extra: str) -> int:
    return main(["embed", "--model", str(model), "--images", str(images), "--out", str(out), *extra])


def _evaluate(model: Path, *args: str) -> int:
    return main(["evaluate", "--model", str(model), *args])


def test_evaluate_embeddings_equals_evaluate_images(
    tiny_clip_dir: Path, labeled_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert _embed(tiny_clip_dir, labeled_folder, tmp_path / "store", "--batch-size", "3") == 0
    out = capsys.readouterr()
    assert "6 of 7 inputs embedded, 1 skipped; shards: 1 written, 0 already done, of 1" in out.out
    assert "skipped cat/broken.jpg: 'cat/broken.jpg' is not an image" in out.err
    assert _evaluate(tiny_clip_dir, "--embeddings", str(tmp_path / "store"), *STRATEGIES,
                     "--json", str(tmp_path / "stored.json")) == 0
    assert _evaluate(tiny_clip_dir, "--images", str(labeled_folder), *STRATEGIES,
                     "--json", str(tmp_path / "images.json")) == 0
    stored = json.loads((tmp_path / "stored.json").read_text())
    direct = json.loads((tmp_path / "images.json").read_text())
    assert [i["path"] for i in stored["images"]] == [
        Path(i["path"]).relative_to(labeled_folder).as_posix() for i in direct["images"]]
    assert [i["label"] for i in stored["images"]] == [i["label"] for i in direct["images"]]
    assert stored["classes"] == direct["classes"] == ["bird", "cat", "dog"]
    assert [s["path"] for s in stored["skipped"]] == ["cat/broken.jpg"]
    # text goes through the usual cache: the images run finds every prompt the stored run encoded
    assert stored["encoder"]["prompts_encoded"] == direct["encoder"]["prompts_cached"] > 0
    assert direct["encoder"]["prompts_encoded"] == 0
    assert list(stored["strategies"]) == list(direct["strategies"]) == ["classname", "ensemble7", "waffle"]
    for name, result in stored["strategies"].items():
        other = direct["strategies"][name]
        np.testing.assert_allclose(result["probabilities"], other["probabilities"], atol=1e-5)
        assert result["predictions"] == other["predictions"]
        for key in ("top1", "top5", "mean_per_class_recall", "ece", "mce", "brier", "nll"):
            assert result["metrics"][key] == pytest.approx(other["metrics"][key], abs=1e-5), (name, key)
        assert [run["predictions"] for run in result["seed_runs"]] == [run["predictions"] for run in other["seed_runs"]]


def test_a_class_list_relabels_a_stored_set_by_name(
    tiny_clip_dir: Path, labeled_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert _embed(tiny_clip_dir, labeled_folder, tmp_path / "store") == 0
    classes = tmp_path / "classes.txt"
    classes.write_text("dog | a dog\nfox\nCat\nbird\n", encoding="utf-8")
    assert _evaluate(tiny_clip_dir, "--embeddings", str(tmp_path / "store"), "--classes", str(classes),
                     "--strategy", "classname", "--json", str(tmp_path / "r.json")) == 0
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["class_prompt_names"] == ["a dog", "fox", "Cat", "bird"]
    assert [i["label"] for i in data["images"]] == ["bird", "bird", "Cat", "Cat", "dog", "dog"]
    classes.write_text("dog\ncat\n", encoding="utf-8")
    assert _evaluate(tiny_clip_dir, "--embeddings", str(tmp_path / "store"), "--classes", str(classes),
                     "--strategy", "classname") == 2
    assert "'bird' match no class in the class list" in capsys.readouterr().err


def test_a_store_is_scored_only_with_its_own_image_settings(
    tiny_clip_dir: Path, labeled_folder: Path, tmp_path: Path, capsys
) -> None:
    """(Another model: see test_a_store_refused_for_its_model_or_quantisation_says_what_to_do.)"""
    store = tmp_path / "store"
    assert _embed(tiny_clip_dir, labeled_folder, store) == 0
    capsys.readouterr()
    manifest = json.loads((store / MANIFEST).read_text())
    changed = {**manifest, "model": {**manifest["model"], "image_settings_key": "0123456789abcdef"}}
    (store / MANIFEST).write_text(json.dumps(changed))
    assert _evaluate(tiny_clip_dir, "--embeddings", str(store), "--strategy", "classname") == 2
    assert "other image preprocessing" in capsys.readouterr().err
    half = load_model(str(tiny_clip_dir)).card.image_settings_key_in("float16")
    assert half != manifest["model"]["image_settings_key"]
    gpu = {**manifest, "model": {**manifest["model"], "image_settings_key": half, "dtype": "float16"}}
    (store / MANIFEST).write_text(json.dumps(gpu))  # as if embedded on a GPU in half precision
    assert _evaluate(tiny_clip_dir, "--embeddings", str(store), "--strategy", "classname") == 0
    assert "note: Images were encoded in float16 and text here in float32" in capsys.readouterr().err


def test_an_incomplete_or_missing_store_is_refused(tiny_clip_dir: Path, labeled_folder: Path, tmp_path: Path,
                                                   capsys) -> None:
    store = tmp_path / "store"
    assert _embed(tiny_clip_dir, labeled_folder, store, "--shard-size", "2") == 0
    manifest = json.loads((store / MANIFEST).read_text())
    (store / MANIFEST).write_text(json.dumps({**manifest, "shards": manifest["shards"][:1]}))
    capsys.readouterr()
    assert _evaluate(tiny_clip_dir, "--embeddings", str(store), "--strategy", "classname") == 2
    assert "incomplete (1 of 4 shards); run the same embed command again" in capsys.readouterr().err
    assert _evaluate(tiny_clip_dir, "--embeddings", str(tmp_path), "--strategy", "classname") == 2
    assert "is not an embedding store" in capsys.readouterr().err


def _shard_with_indices(path: Path, labels: list[int]) -> None:
    with tarfile.open(path, "w") as archive:
        for i, label in enumerate(labels):
            image = make_image(path.parent / f"src{i}.png", 70 + i)
            for name, data in ((f"{i:04d}.png", image.read_bytes()), (f"{i:04d}.cls", str(label).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
            image.unlink()


def test_index_labelled_shards_take_the_class_list_by_position(
    tiny_clip_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "wds").mkdir()
    _shard_with_indices(tmp_path / "wds" / "train-0000.tar", [2, 0, 1, 2])
    assert _embed(tiny_clip_dir, tmp_path / "wds", tmp_path / "store") == 0
    capsys.readouterr()
    assert _evaluate(tiny_clip_dir, "--embeddings", str(tmp_path / "store"), "--strategy", "classname") == 2
    assert "No classes given" in capsys.readouterr().err
    classes = tmp_path / "classes.txt"
    classes.write_text("ant\nbee\n", encoding="utf-8")
    assert _evaluate(tiny_clip_dir, "--embeddings", str(tmp_path / "store"), "--classes", str(classes),
                     "--strategy", "classname") == 2
    assert "class index up to 2, but the class list has 2 classes" in capsys.readouterr().err
    classes.write_text("ant\nbee\ncow\n", encoding="utf-8")
    assert _evaluate(tiny_clip_dir, "--embeddings", str(tmp_path / "store"), "--classes", str(classes),
                     "--strategy", "classname", "--json", str(tmp_path / "r.json")) == 0
    data = json.loads((tmp_path / "r.json").read_text())
    assert [(i["path"], i["label"]) for i in data["images"]] == [
        ("train-0000.tar/0000", "cow"), ("train-0000.tar/0001", "ant"), ("train-0000.tar/0002", "bee"),
        ("train-0000.tar/0003", "cow")]


def test_embed_usage_errors_exit_2(tiny_clip_dir: Path, labeled_folder: Path, tmp_path: Path, capsys) -> None:
    assert _embed(tiny_clip_dir, labeled_folder, tmp_path / "s", "--workers", "2") == 2
    assert "--workers only apply with --engine ray" in capsys.readouterr().err
    assert _embed(tiny_clip_dir, tmp_path / "missing", tmp_path / "s") == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_a_store_refused_for_its_model_or_quantisation_says_what_to_do(
    tiny_clip_dir: Path, tiny_siglip_dir: Path, labeled_folder: Path, tmp_path: Path, capsys
) -> None:
    store = tmp_path / "store"
    assert _embed(tiny_clip_dir, labeled_folder, store) == 0
    capsys.readouterr()
    assert _evaluate(tiny_clip_dir, "--embeddings", str(store), "--strategy", "classname", "--quantize", "int8") == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: The store 'store' was embedded without quantisation, so it cannot be scored with int8 quantisation; "
        "drop --quantize.")
    assert _evaluate(tiny_siglip_dir, "--embeddings", str(store), "--strategy", "classname") == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: The store 'store' holds embeddings of another model ('{tiny_clip_dir.name}') than the one loaded "
        f"('{tiny_siglip_dir.name}'); score it with the model it was built with.")
    manifest = json.loads((store / MANIFEST).read_text())
    (store / MANIFEST).write_text(json.dumps({**manifest, "model": {**manifest["model"], "identity": "local:old"}}))
    assert _evaluate(tiny_clip_dir, "--embeddings", str(store), "--strategy", "classname") == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: The store 'store' was built with another version of the model '{tiny_clip_dir.name}' than the one "
        "loaded; build the store again with `embed`.")


def test_embed_with_no_readable_input_fails_with_a_clear_line(tiny_clip_dir: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "bad").mkdir()
    for name in ("a.jpg", "b.png"):
        (tmp_path / "bad" / name).write_bytes(b"not an image")
    assert _embed(tiny_clip_dir, tmp_path / "bad", tmp_path / "store") == 2
    captured = capsys.readouterr()
    assert "0 of 2 inputs embedded, 2 skipped" in captured.out
    assert captured.err.strip().splitlines()[-1] == (
        "error: None of the 2 inputs could be embedded (see the reasons above); check that --images holds readable "
        "images.")
