"""Stored sets in the web app's service layer: found by folder name in the operator's folders,
scored at full scale (metrics and summary on every image, per-image arrays on a sample),
thumbnails of mistakes when the source is still readable, and bounded work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from prompting.classes import as_class_names
from prompting.cli.main import main
from prompting.data.store import MANIFEST, open_store
from prompting.encoding.models import load_model
from prompting.errors import DatasetError, ModelLoadError, StoreError
from prompting.evaluation.compare import score_strategies
from prompting.evaluation.export import headline, plain_language_summary
from prompting.evaluation.paired import paired_comparisons
from prompting.evaluation.stored import encoded_from_store
from prompting.service import stored_sets
from prompting.service.config import RunLimits, parse_app_args
from prompting.service.session_store import record_bytes
from prompting.service.stored_sets import find_stored_sets, run_stored_set, stored_set_info
from prompting.service.workflows import extend_run
from prompting.strategies.registry import StrategySpec
from tests.conftest import make_image

SPECS = [StrategySpec("classname"), StrategySpec("ensemble7")]


@pytest.fixture(scope="module")
def stored(tiny_clip_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """stores/pets: 3 classes x 12 images (one unreadable file) embedded with the tiny CLIP."""
    root = tmp_path_factory.mktemp("stored-sets")
    for c, name in enumerate(["bird", "cat", "dog"]):
        for i in range(12):
            make_image(root / "images" / name / f"{name}{i:02d}.png", 40 * c + i)
    (root / "images" / "dog" / "zz.png").write_bytes(b"broken")
    assert main(["embed", "--model", str(tiny_clip_dir), "--images", str(root / "images"),
                 "--out", str(root / "stores" / "pets"), "--shard-size", "16"]) == 0
    return root


def test_stores_are_found_by_folder_name_only(stored: Path, tmp_path: Path) -> None:
    (tmp_path / "more" / "not-a-store").mkdir(parents=True)
    shutil.copytree(stored / "stores" / "pets", tmp_path / "more" / "pets")
    found = find_stored_sets([str(stored / "stores"), str(tmp_path / "more"), str(tmp_path / "missing"),
                              str(stored / "stores" / "pets")])
    assert list(found) == ["pets", "pets (2)", "pets (3)"]
    assert found["pets"] == stored / "stores" / "pets" and found["pets (2)"] == tmp_path / "more" / "pets"
    info = stored_set_info("pets", found["pets"])
    assert (info.images, info.skipped, info.classes, info.complete) == (36, 1, ["bird", "cat", "dog"], True)
    assert info.model == Path(info.model).name  # a local model folder by its name, never a server path
    assert "36 images embedded by" in info.describe() and "labelled with 3 classes" in info.describe()


def test_operator_names_the_store_folders(tmp_path: Path) -> None:
    assert parse_app_args([], {}).stores == ()
    assert parse_app_args(["--stores", "/a, /b"], {"ZSP_STORES": "/c"}).stores == ("/a", "/b")
    assert parse_app_args([], {"ZSP_STORES": "/c,,/d "}).stores == ("/c", "/d")


def test_a_stored_run_scores_every_image_and_keeps_a_sample(
    stored: Path, tiny_clip_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stored_sets, "SAMPLE_IMAGES", 10)
    monkeypatch.setattr(stored_sets, "MISTAKES_SHOWN", 5)
    classes = as_class_names(["bird", "cat", "dog"])
    run = run_stored_set("pets", stored / "stores" / "pets", classes, SPECS, RunLimits(), load_model)
    comparison = run.record.comparison
    assert comparison.sample_of == 36 and len(comparison.images) == 10
    assert comparison.images[0].name == "bird/bird00.png" and comparison.images[-1].name == "dog/dog11.png"
    assert comparison.model == Path(str(tiny_clip_dir)).name
    assert [item["path"] for item in comparison.skipped] == ["dog/zz.png"]
    encoder = load_model(str(tiny_clip_dir))
    whole = score_strategies(encoder, encoded_from_store(open_store(stored / "stores" / "pets"), encoder,
                                                         classes).encoded, classes, SPECS)
    rows = [int(image.name[-6:-4]) + 12 * ["bird", "cat", "dog"].index(image.name.split("/")[0])
            for image in comparison.images]
    for key, result in comparison.strategies.items():
        full = whole.strategies[key]
        assert result.metrics == full.metrics and result.metrics["n_images"] == 36
        np.testing.assert_allclose(result.probabilities, full.probabilities[rows])
        np.testing.assert_allclose(result.prompt_similarities[1], full.prompt_similarities[1][rows], atol=1e-6)
    assert comparison.paired == paired_comparisons(whole) and comparison.paired[0].n_images == 36
    assert paired_comparisons(comparison) == comparison.paired
    assert comparison.summary[:-1] == plain_language_summary(whole)
    assert comparison.summary[-1].startswith("Per-image views and downloads show a sample of 10 of the 36 images")
    assert plain_language_summary(comparison) == comparison.summary
    assert headline(comparison) == headline(whole) and "36 images" in headline(comparison)
    assert comparison.encoder_stats == {"prompts_encoded": 3 + 21, "prompts_cached": 0, "prompts_shared": 0}
    # one run scored strategy by strategy: a prompt of the second already used by the first is shared, not cached
    again = run_stored_set("pets", stored / "stores" / "pets", classes,
                           [StrategySpec("ensemble7"), StrategySpec("template", templates=["art of the {}."])],
                           RunLimits(), load_model)
    assert again.record.comparison.encoder_stats == {"prompts_encoded": 0, "prompts_cached": 21, "prompts_shared": 3}
    wrong = np.flatnonzero(whole.strategies["classname"].logits.argmax(axis=1) != whole.labels)
    assert len(run.thumbnails) == min(5, len(wrong)) > 0
    image, caption = run.thumbnails[0]
    assert max(image.size) <= stored_sets.THUMBNAIL_PIXELS
    assert caption.startswith(f"{whole.images[wrong[0]].name}: ") and " → " in caption
    assert "“Class name”" in run.thumbnails_note
    assert record_bytes(run.record) < 100_000  # the session keeps the sample, not 36 x 3 x strategies arrays
    with pytest.raises(DatasetError, match="cannot be added to a stored-set run"):
        extend_run(run.record, [StrategySpec("ensemble80")])


def test_thumbnails_need_the_source_and_the_limits_hold(stored: Path, tmp_path: Path) -> None:
    copy = tmp_path / "pets"
    shutil.copytree(stored / "stores" / "pets", copy)
    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["source"]["root"] = str(tmp_path / "gone")
    (copy / MANIFEST).write_text(json.dumps(manifest))
    classes = as_class_names(["bird", "cat", "dog"])
    run = run_stored_set("pets", copy, classes, SPECS, RunLimits(), load_model)
    assert run.thumbnails == [] and "cannot be read on this server any more" in run.thumbnails_note
    with pytest.raises(DatasetError, match="holds 36 images; this server scores at most 20"):
        run_stored_set("pets", copy, classes, SPECS, RunLimits(max_stored_images=20), load_model)
    with pytest.raises(DatasetError, match="choose at most 1 strategy "):
        run_stored_set("pets", copy, classes, SPECS, RunLimits(max_stored_scores=36 * 3), load_model)
    manifest["model"]["name"] = str(tmp_path / "nowhere" / "model")
    (copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=r"^The model of the stored set 'pets' \(model\) cannot be") as error:
        run_stored_set("pets", copy, classes, SPECS, RunLimits(), load_model)
    assert str(tmp_path) not in str(error.value)
    manifest["shards"] = manifest["shards"][:1]
    (copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="still being built"):
        run_stored_set("pets", copy, classes, SPECS, RunLimits(), load_model)
    (copy / MANIFEST).write_text("{broken")
    with pytest.raises(StoreError, match="^The stored set 'pets' cannot be read on this server now.$"):
        stored_set_info("pets", copy)


def test_label_free_weighting_uses_the_whole_set_and_autoclip_weights_follow_the_sample(
    stored: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stored_sets, "SAMPLE_IMAGES", 7)
    classes = as_class_names(["bird", "cat", "dog"])
    templates = ["a photo of a {}.", "art of the {}."]
    specs = [StrategySpec("zpe", templates=templates), StrategySpec("autoclip", templates=templates)]
    run = run_stored_set("pets", stored / "stores" / "pets", classes, specs, RunLimits(), load_model)
    comparison = run.record.comparison
    encoder = load_model(run.record.sources["zpe"].model)
    whole = score_strategies(encoder, encoded_from_store(open_store(stored / "stores" / "pets"), encoder,
                                                         classes).encoded, classes, specs)
    rows = [[image.name for image in whole.images].index(image.name) for image in comparison.images]
    assert len(rows) == 7 and comparison.strategies["zpe"].metrics["n_images"] == 36
    np.testing.assert_allclose(comparison.strategies["zpe"].prompt_weights, whole.strategies["zpe"].prompt_weights)
    np.testing.assert_allclose(comparison.strategies["autoclip"].prompt_weights,
                               whole.strategies["autoclip"].prompt_weights[rows])
    np.testing.assert_allclose(comparison.strategies["autoclip"].probabilities,
                               whole.strategies["autoclip"].probabilities[rows])
