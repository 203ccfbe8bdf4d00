"""The classifier head: loaded from its files and applied with plain transformers, it reproduces
the comparison's probabilities (tiny CLIP and SigLIP)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from transformers import AutoModel, AutoProcessor

from prompting.classes import as_class_names
from prompting.cli.main import main
from prompting.encoding.embeddings import EncodeStats, text_store
from prompting.encoding.models import load_model
from prompting.errors import StrategyError
from prompting.evaluation.compare import ImageInput, compare
from prompting.evaluation.head import MANIFEST_FILE, WEIGHT_FILE, fit_sigmoid_temperature, head_from_result
from prompting.strategies.registry import StrategySpec
from prompting.strategies.waffle import WaffleOptions
from prompting.vectors import softmax
from tests.conftest import make_image

REPO = Path(__file__).resolve().parents[1]
CLASSES = as_class_names(["cat", "dog | small dog", "bird"])
MANIFEST_KEYS = {"model", "identity", "family", "logit_scale", "logit_bias", "temperature", "strategy", "classes",
                 "prompts"}
SPECS = [
    StrategySpec("classname"),
    StrategySpec("template", templates=["a photo of a {}.", "art of the {}.", "a {} in a video game."]),
    StrategySpec("ensemble7"),
    StrategySpec("dclip", descriptions={"cat": ["whiskers", "a tail"], "dog": ["four legs"], "bird": ["wings"]}),
    StrategySpec("waffle", waffle=WaffleOptions(n_words=3, n_chars=3, seeds=(0, 1))),
    StrategySpec("zpe", templates=["a photo of a {}.", "art of the {}.", "the origami {}.", "a {} in a video game."]),
    StrategySpec("selected", templates=["itap of a {}.", "a origami {}."], label="Selected templates (2 of 80)"),
]


def _images(folder: Path, count: int = 5) -> list[Path]:
    return [make_image(folder / f"photo{index}.png", seed=20 + index) for index in range(count)]


def _transformers_probabilities(model_dir: Path, head_dir: Path, paths: list[Path]) -> np.ndarray:
    """Probabilities of new images from the head's files and plain transformers (no project code)."""
    manifest = json.loads((head_dir / MANIFEST_FILE).read_text())
    weight = load_file(str(head_dir / WEIGHT_FILE))["weight"]
    assert weight.dtype == np.float32 and weight.shape[0] == len(manifest["classes"])
    model = AutoModel.from_pretrained(model_dir).eval()
    processor = AutoProcessor.from_pretrained(model_dir)
    from PIL import Image

    with torch.no_grad():
        pixels = processor(images=[Image.open(p).convert("RGB") for p in paths], return_tensors="pt")
        features = model.get_image_features(pixel_values=pixels["pixel_values"])
    z = torch.nn.functional.normalize(getattr(features, "pooler_output", features).float(), dim=-1).numpy()
    logits = (manifest["logit_scale"] * z.astype(np.float64) @ weight.T.astype(np.float64) + manifest["logit_bias"])
    logits /= manifest["temperature"]
    if manifest["family"] == "siglip":
        return 1 / (1 + np.exp(-logits))
    return softmax(logits, axis=1)


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_the_head_reproduces_the_comparisons_probabilities(family: str, tiny_clip_dir: Path, tiny_siglip_dir: Path,
                                                            tmp_path: Path) -> None:
    model_dir = tiny_clip_dir if family == "clip" else tiny_siglip_dir
    encoder = load_model(str(model_dir))
    paths = _images(tmp_path / "images")
    comparison = compare(encoder, [ImageInput(str(p)) for p in paths], CLASSES, SPECS)
    for spec, (key, result) in zip(SPECS, comparison.strategies.items()):
        head = head_from_result(encoder, CLASSES, spec, result, None, "tiny", key)
        folder = tmp_path / key
        head.write(folder)
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        assert MANIFEST_KEYS <= set(manifest) and manifest["family"] == family and manifest["temperature"] == 1.0
        assert manifest["classes"][1] == {"display": "dog", "prompt": "small dog"}
        assert manifest["prompts"] == result.prompts
        probabilities = _transformers_probabilities(model_dir, folder, paths)
        assert np.max(np.abs(probabilities - result.probabilities)) < 1e-5, key
    zpe = comparison.strategies["zpe"]
    manifest = json.loads((tmp_path / "zpe" / MANIFEST_FILE).read_text())
    np.testing.assert_allclose(manifest["weights"], zpe.prompt_weights, atol=1e-12)
    assert manifest["templates"] == zpe.weight_templates


def test_a_fitted_temperature_divides_the_logits(tiny_clip_dir: Path, tiny_siglip_dir: Path, tmp_path: Path) -> None:
    paths = _images(tmp_path / "images", 6)
    labels = np.array([0, 1, 2, 0, 1, 2])
    for model_dir in (tiny_clip_dir, tiny_siglip_dir):
        encoder = load_model(str(model_dir))
        inputs = [ImageInput(str(p), int(label)) for p, label in zip(paths, labels)]
        comparison = compare(encoder, inputs, CLASSES, [StrategySpec("ensemble7")])
        result = comparison.strategies["ensemble7"]
        head = head_from_result(encoder, CLASSES, StrategySpec("ensemble7"), result, comparison.labels, "tiny")
        temperature = head.manifest["temperature"]
        assert head.manifest["temperature_fitted_on_images"] == 6 and temperature != 1.0
        head.write(tmp_path / encoder.family)
        expected = result.logits / temperature
        expected = 1 / (1 + np.exp(-expected)) if encoder.family == "siglip" else softmax(expected, axis=1)
        np.testing.assert_allclose(_transformers_probabilities(model_dir, tmp_path / encoder.family, paths),
                                   expected, atol=1e-5)


def test_the_sigmoid_temperature_minimises_the_binary_cross_entropy() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=4.0, size=(40, 5))
    labels = rng.integers(0, 5, size=40)
    best = fit_sigmoid_temperature(logits, labels)
    onehot = np.eye(5)[labels]

    def loss(t: float) -> float:
        x = logits / t
        return float(np.mean(np.sum(np.logaddexp(0, x) - onehot * x, axis=1)))

    grid = np.exp(np.linspace(np.log(0.05), np.log(50), 4001))
    assert loss(best) <= min(loss(t) for t in grid) + 1e-9


def test_autoclip_is_refused_and_zpe_needs_images(tiny_clip_dir: Path, tmp_path: Path) -> None:
    encoder = load_model(str(tiny_clip_dir))
    comparison = compare(encoder, [ImageInput(str(p)) for p in _images(tmp_path, 2)], CLASSES,
                         [StrategySpec("autoclip", templates=["a photo of a {}.", "art of the {}."])])
    with pytest.raises(StrategyError, match="differently for every image"):
        head_from_result(encoder, CLASSES, StrategySpec("autoclip"), comparison.strategies["autoclip"], None, "tiny")
    code = main(["export-head", "--model", str(tiny_clip_dir), "--strategy", "zpe", "--preset", "cifar10",
                 "--out", str(tmp_path / "zpe")])
    assert code == 2 and not (tmp_path / "zpe").exists()


def test_export_head_cli_writes_both_files_without_encoding_twice(tiny_clip_dir: Path, labeled_folder: Path,
                                                                  tmp_path: Path, capsys) -> None:
    out = tmp_path / "head"
    code = main(["export-head", "--model", str(tiny_clip_dir), "--strategy", "ensemble7", "--images",
                 str(labeled_folder), "--out", str(out)])
    assert code == 0
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert MANIFEST_KEYS <= set(manifest)
    assert [c["display"] for c in manifest["classes"]] == ["bird", "cat", "dog"]
    assert manifest["model"] == str(tiny_clip_dir) and manifest["identity"].startswith("local:")
    assert manifest["temperature_fitted_on_images"] == 6
    assert load_file(str(out / WEIGHT_FILE))["weight"].shape == (3, 32)
    assert "fitted on 6 labelled images" in capsys.readouterr().out
    stats = EncodeStats()
    text_store(load_model(str(tiny_clip_dir))).embed([p for ps in manifest["prompts"] for p in ps], stats=stats)
    assert stats.prompts_encoded == 0  # every prompt of the head came from the cache


def test_the_readme_snippet_classifies_with_the_head(tiny_clip_dir: Path, tmp_path: Path) -> None:
    encoder = load_model(str(tiny_clip_dir))
    paths = _images(tmp_path / "images", 3)
    comparison = compare(encoder, [ImageInput(str(p)) for p in paths], CLASSES, [StrategySpec("ensemble7")])
    head = head_from_result(encoder, CLASSES, StrategySpec("ensemble7"), comparison.strategies["ensemble7"], None,
                            str(tiny_clip_dir))
    head.write(tmp_path / "head")
    readme = (REPO / "README.md").read_text()
    snippet = re.search(r"<!-- head-snippet -->\s*```python\n(.*?)```", readme, re.S).group(1)
    setup = f"head_dir, paths = {str(tmp_path / 'head')!r}, {[str(p) for p in paths]!r}\n"
    assert snippet.splitlines()[0].startswith("head_dir, paths = ")
    namespace: dict = {}
    exec(setup + "\n".join(snippet.splitlines()[1:]), namespace)  # noqa: S102 - our own README
    np.testing.assert_allclose(namespace["probabilities"].numpy(), comparison.strategies["ensemble7"].probabilities,
                               atol=1e-5)


def test_fudd_is_refused_before_anything_is_written(tiny_clip_dir: Path, tmp_path: Path, capsys) -> None:
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps({"pairs": [{"classes": ["cat", "dog"], "descriptions": [
        {"attribute": "ears", "cat": "a photo of a cat, pointed ears.", "dog": "a photo of a dog, floppy ears."}]}]}))
    classes = tmp_path / "classes.txt"
    classes.write_text("cat\ndog\nbird\n", encoding="utf-8")  # bird is in no pair: FuDD has no prompt for it
    code = main(["export-head", "--model", str(tiny_clip_dir), "--strategy", "fudd", "--fudd", str(pairs),
                 "--classes", str(classes), "--out", str(tmp_path / "head")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not (tmp_path / "head").exists()
    assert err == [(
        "error: FuDD re-scores each image's top classes with descriptions of the pairs among them, so it has no "
        "fixed classifier head to export. Export its base strategy (e.g. --strategy template) instead.")]


def test_a_class_without_prompts_is_refused_not_averaged(tiny_clip_dir: Path, monkeypatch) -> None:
    from prompting.evaluation import head as head_module
    from prompting.strategies.registry import PromptPlan

    plan = PromptPlan([["a photo of a cat."], [], ["a photo of a bird."]], "mean_embedding")
    monkeypatch.setattr(head_module, "build_prompts", lambda spec, classes: plan)
    with pytest.raises(StrategyError, match=r"writes no prompts for dog \(1 of 3 classes\), so the head would"):
        head_module.head_for_strategy(load_model(str(tiny_clip_dir)), CLASSES, StrategySpec("classname"), "tiny")
