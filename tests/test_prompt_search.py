"""Template selection, ZPE and AutoCLIP end to end with a tiny model: encoder counts, the CLI
contract (select, evaluate --strategy zpe|autoclip|selected) and cancellation."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from prompting.classes import as_class_names
from prompting.cli.main import main
from prompting.encoding.embeddings import text_store
from prompting.encoding.models import load_model
from prompting.errors import DatasetError, StrategyError
from prompting.evaluation.compare import Cancelled, ImageInput, encode_images, score_strategies
from prompting.evaluation.template_selection import read_selection_file, select_templates, selection_spec
from prompting.strategies.templates import IMAGENET_TEMPLATES
from tests.conftest import make_image

OWN = ["a photo of a {}.", "art of the {}.", "a {} in the wild."]


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    """4 images in each of 3 class folders."""
    seed = 0
    for name in ("bird", "cat", "dog"):
        for index in range(4):
            make_image(tmp_path / "set" / name / f"{name}{index}.png", seed)
            seed += 1
    return tmp_path / "set"


def _encoded(encoder, folder: Path):
    paths = sorted(folder.rglob("*.png"))
    names = sorted({p.parent.name for p in paths})
    return encode_images(encoder, [ImageInput(str(p), names.index(p.parent.name)) for p in paths]), names


def test_selection_encodes_every_prompt_once_and_reports_held_out_numbers(
    tiny_clip_dir: Path, labelled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoder = load_model(str(tiny_clip_dir))
    encoded, names = _encoded(encoder, labelled)
    classes = as_class_names(names)
    texts: list[str] = []
    original = type(encoder).encode_text
    monkeypatch.setattr(type(encoder), "encode_text", lambda self, batch: texts.extend(batch) or original(self, batch))
    selection = select_templates(encoder, encoded, classes, [*OWN, *IMAGENET_TEMPLATES], folds=3, max_templates=4)
    distinct = len(set(OWN) | set(IMAGENET_TEMPLATES)) * len(classes)
    assert len(texts) == len(set(texts)) == distinct
    assert selection.encoder_stats == {"prompts_encoded": distinct, "prompts_cached": 0, "prompts_shared": 0,
                                       "images_encoded": 0, "images_cached": 0}
    data = selection.to_dict()
    assert set(data["cv"]) == {"selected", "ensemble80", "template"} and data["folds"] == 3
    assert sum(fold["test"] for fold in data["per_fold"]) == 12 and data["stratified"]
    for name, accuracy in data["cv"].items():
        assert accuracy == pytest.approx(np.mean([f["top1"][name] * f["test"] for f in data["per_fold"]]) * 3 / 12)
        assert data["cv_correct"][name] == round(accuracy * 12)
    assert 1 <= len(data["selected"]) <= 4 and set(data["selected"]) <= set(data["pool"])
    # paired: the procedure's held-out predictions against each baseline's, Holm across the two
    assert [(pair["a"], pair["b"]) for pair in data["paired"]] == [("selected", "ensemble80"), ("selected", "template")]
    for pair in data["paired"]:
        assert pair["n_images"] == 12
        assert pair["delta_top1"] == pytest.approx(data["cv"]["selected"] - data["cv"][pair["b"]])
        assert pair["holm_p"] >= pair["mcnemar_p"]
    assert len(selection.verdicts()) == 2
    assert data["label"] == f"Selected templates ({len(data['selected'])} of {len(data['pool'])})"
    # a second selection on the same images and pool encodes nothing
    again = select_templates(encoder, encoded, classes, OWN, folds=3, max_templates=2)
    assert again.encoder_stats["prompts_encoded"] == 0 and len(texts) == distinct
    # the selected set scores like the template strategy with the same templates
    comparison = score_strategies(encoder, encoded, classes, [selection.spec()])
    result = comparison.strategies["selected"]
    assert result.label == selection.label and "optimistic" in result.warnings[0]
    assert result.metrics["top1"] == pytest.approx(selection.final.accuracy[-1])


def test_selection_refuses_unlabelled_images_and_stops_when_cancelled(tiny_clip_dir: Path, labelled: Path) -> None:
    encoder = load_model(str(tiny_clip_dir))
    encoded, names = _encoded(encoder, labelled)
    encoded.records[0].label = None
    with pytest.raises(DatasetError, match="true class for every image \\(1 of 12 have none\\)"):
        select_templates(encoder, encoded, as_class_names(names), OWN)
    encoded.records[0].label = 0
    with pytest.raises(DatasetError, match="13 folds need at least 13 labelled images"):
        select_templates(encoder, encoded, as_class_names(names), OWN, folds=13)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        select_templates(encoder, encoded, as_class_names(names), OWN, cancel=stop)


def test_select_cli_writes_the_contract_json_that_evaluate_reads(tiny_clip_dir: Path, labelled: Path, tmp_path: Path,
                                                                 capsys) -> None:
    own = tmp_path / "own.txt"
    own.write_text("\n".join(OWN) + "\n")
    out = tmp_path / "selection.json"
    code = main(["select", "--model", str(tiny_clip_dir), "--images", str(labelled), "--templates", str(own),
                 "--folds", "3", "--max-templates", "3", "--seed", "1", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "held-out top-1 on the same folds" in printed and "80-template ensemble" in printed
    data = json.loads(out.read_text())
    assert isinstance(data["selected"], list) and data["folds"] == 3 and data["seed"] == 1
    assert set(data["cv"]) == {"selected", "ensemble80", "template"}
    assert data["pool_size"] == 81  # the 80 ImageNet templates hold two of the three own ones
    result = tmp_path / "evaluate.json"
    code = main(["evaluate", "--model", str(tiny_clip_dir), "--images", str(labelled), "--strategy", "zpe",
                 "--strategy", "autoclip", "--strategy", "selected", "--selected", str(out), "--templates", str(own),
                 "--beta", "0.7", "--json", str(result)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "note on Selected templates" in printed and "optimistic" in printed
    strategies = json.loads(result.read_text())["strategies"]
    assert strategies["selected"]["label"] == data["label"]
    assert len(strategies["zpe"]["weights"]["values"]) == 3
    assert np.array(strategies["autoclip"]["weights"]["values"]).shape == (12, 3)
    assert strategies["autoclip"]["weights"]["templates"] == OWN


def test_evaluate_selected_without_a_selection_file_says_what_to_do(tiny_clip_dir: Path, labelled: Path,
                                                                     capsys) -> None:
    assert main(["evaluate", "--model", str(tiny_clip_dir), "--images", str(labelled), "--strategy", "selected"]) == 2
    assert "run template selection first" in capsys.readouterr().err


def test_selection_files_are_checked(tmp_path: Path) -> None:
    spec = selection_spec({"selected": ["itap of a {}."], "pool_size": 80})
    assert spec.templates == ["itap of a {}."] and spec.label == "Selected templates (1 of 80)"
    for bad in ({}, {"selected": []}, {"selected": [3]}, ["itap of a {}."]):
        with pytest.raises(StrategyError, match="non-empty list of templates"):
            selection_spec(bad)
    with pytest.raises(StrategyError, match="placeholder"):
        selection_spec({"selected": ["no placeholder"]})
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(StrategyError, match="not valid JSON"):
        read_selection_file(broken)


def test_zpe_with_a_reference_sample_uses_the_papers_main_normalisation(tiny_clip_dir: Path, labelled: Path,
                                                                       flat_folder: Path, tmp_path: Path) -> None:
    outputs = {}
    for name, extra in (("test", []), ("both", ["--zpe-reference", str(flat_folder)])):
        out = tmp_path / f"{name}.json"
        assert main(["evaluate", "--model", str(tiny_clip_dir), "--images", str(labelled), "--strategy", "zpe",
                     "--json", str(out), *extra]) == 0
        outputs[name] = json.loads(out.read_text())["strategies"]["zpe"]
    assert "3 reference images" in outputs["both"]["notes"][0] and "test-images-only" in outputs["test"]["notes"][0]
    test_weights, both_weights = (np.array(outputs[n]["weights"]["values"]) for n in ("test", "both"))
    assert not np.allclose(test_weights, both_weights)
    # the same weights by hand: scores with half the reference images' mean logits subtracted
    from prompting.strategies.zpe import zpe_scores, zpe_weights

    encoder = load_model(str(tiny_clip_dir))
    encoded, names = _encoded(encoder, labelled)
    reference = encode_images(encoder, [ImageInput(str(p)) for p in sorted(flat_folder.glob("*.png"))]).vectors
    stack = np.stack([text_store(encoder).embed([t.replace("{}", n) for n in names]) for t in IMAGENET_TEMPLATES])
    expected = zpe_weights(zpe_scores(encoded.vectors, stack, encoder.logit_scale, reference))
    np.testing.assert_allclose(both_weights, expected, atol=1e-6)
