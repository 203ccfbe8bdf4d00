"""The app's pure helpers: settings, specs, labels, runs over two models, stores, A/B, examples."""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from components.tables import md_escape, metrics_table, predictions_table
from prompting.app_config import NO_LLM_NOTE, parse_app_args
from prompting.class_text import set_prompt_name
from prompting.classes import parse_class_list
from prompting.compare import ImageInput
from prompting.errors import ClassListError, DatasetError, StrategyError
from prompting.examples import EXAMPLE_CLASSES, example_images
from prompting.models import load_model
from prompting.rewrite_ab import ab_test_rewrite
from prompting.session_store import (
    CancelRegistry,
    ResultsExpiredError,
    ResultStore,
    RunRecord,
)
from prompting.strategies import StrategySpec
from prompting.workflows import (
    StrategyInputs,
    build_specs,
    comparison_payload,
    dataset_from_zip,
    match_labels,
    model_tags,
    run_models,
    strict_labels,
    top_predictions,
)
from tests.conftest import make_image

CLASSES = parse_class_list("cat\ndog | small dog\nbird")


def test_app_settings_from_flags_and_environment() -> None:
    config = parse_app_args(["--model", "a", "--port", "8000"], {"ZSP_MODELS": "b, a ,c"})
    assert config.model_menu == ["a", "b", "c"]
    assert (config.port, config.host, config.max_upload_bytes) == (8000, "127.0.0.1", 50 * 2**20)
    assert config.llm is None and config.llm_note == NO_LLM_NOTE
    assert parse_app_args(["--models", "x,y"], {"ZSP_MODELS": "z"}).models == ("x", "y")


def test_llm_settings_never_show_the_key() -> None:
    env = {"OPENAI_BASE_URL": "http://user:pw@127.0.0.1:9/v1", "OPENAI_API_KEY": "sk-secret-123456",
           "ZSP_LLM_MODELS": "m1,m2"}
    config = parse_app_args([], env)
    assert config.llm is not None and config.llm.allowed_models == ("m1", "m2")
    assert "sk-secret" not in config.llm_note and "pw" not in config.llm_note
    assert "127.0.0.1:9" in config.llm_note


def test_bad_settings_exit_with_usage() -> None:
    with pytest.raises(SystemExit):
        parse_app_args(["--max-upload-mb", "0"], {})


def test_build_specs_keeps_good_strategies_and_names_bad_ones() -> None:
    inputs = StrategyInputs(templates_text="a photo of a {}.\nno placeholder", waffle_seeds=(0, 1), waffle_words=2,
                            waffle_chars=2, waffle_concept="animal")
    specs, errors = build_specs(["classname", "template", "cupl", "waffle", "classname"], inputs)
    assert [spec.name for spec in specs] == ["classname", "waffle"]
    assert specs[1].waffle is not None and specs[1].waffle.seeds == (0, 1) and specs[1].waffle.concept == "animal"
    assert set(errors) == {"Template", "CuPL"}
    assert "Line 2" in errors["Template"] and "generate" in errors["CuPL"]
    with pytest.raises(StrategyError, match="at least one strategy"):
        build_specs([], inputs)


def test_descriptions_json_becomes_a_spec() -> None:
    specs, errors = build_specs(["dclip"], StrategyInputs(dclip_json='{"cat": ["whiskers"], "dog": ["a tail"]}'))
    assert not errors and specs[0].descriptions == {"cat": ["whiskers"], "dog": ["a tail"]}


def test_descriptions_text_never_names_a_server_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text('{"cat": ["server-side secret"]}')
    specs, errors = build_specs(["cupl", "classname"], StrategyInputs(cupl_json=str(secret)))
    assert [spec.name for spec in specs] == ["classname"]
    assert "not valid JSON" in errors["CuPL"] and "server-side secret" not in errors["CuPL"]


def test_labels_match_display_or_prompt_names_ignoring_case() -> None:
    indices, unknown = match_labels(["CAT", "small dog", "", None, "horse", "horse"], CLASSES)
    assert indices == [0, 1, None, None, None, None]
    assert unknown == ["horse"]
    with pytest.raises(DatasetError, match="'horse'"):
        strict_labels(["horse"], CLASSES)


def test_model_tags_are_short_unless_they_collide() -> None:
    assert model_tags(["openai/clip-vit-base-patch32", "/models/siglip"]) == {
        "openai/clip-vit-base-patch32": "clip-vit-base-patch32", "/models/siglip": "siglip"}
    assert model_tags(["a/clip", "b/clip"]) == {"a/clip": "a/clip", "b/clip": "b/clip"}


def _inputs(tmp_path: Path, labels: list[int | None]) -> list[ImageInput]:
    return [ImageInput(str(make_image(tmp_path / f"i{n}.png", seed=n)), label, name=f"i{n}.png")
            for n, label in enumerate(labels)]


def test_two_models_are_merged_and_grouped_by_strategy(
    tmp_path: Path, tiny_clip_dir: Path, tiny_siglip_dir: Path
) -> None:
    specs, _ = build_specs(["classname", "ensemble7"], StrategyInputs())
    models = [str(tiny_clip_dir), str(tiny_siglip_dir)]
    messages: list[tuple[float, str]] = []
    record = run_models(models, _inputs(tmp_path, [0, 2]), CLASSES, specs,
                        progress=lambda fraction, message: messages.append((fraction, message)))
    clip, siglip = tiny_clip_dir.name, tiny_siglip_dir.name
    assert list(record.comparison.strategies) == [f"classname@{clip}", f"classname@{siglip}",
                                                   f"ensemble7@{clip}", f"ensemble7@{siglip}"]
    assert record.sources[f"ensemble7@{siglip}"].model == str(tiny_siglip_dir)
    assert record.comparison.strategies[f"classname@{siglip}"].probability_kind == "sigmoid"
    assert record.comparison.strategies[f"classname@{clip}"].label == f"Class name · {clip}"
    assert all(result.metrics is not None for result in record.comparison.strategies.values())
    fractions = [fraction for fraction, _ in messages]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert any(message.startswith(f"{siglip}: ") for _, message in messages)


def test_top_predictions_and_payload_are_plain_json(tmp_path: Path, tiny_clip_dir: Path) -> None:
    specs, _ = build_specs(["classname"], StrategyInputs())
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"nope")
    inputs = _inputs(tmp_path, [None, None]) + [ImageInput(str(broken), name="broken.png")]
    comparison = run_models([str(tiny_clip_dir)], inputs, CLASSES, specs).comparison
    top = top_predictions(comparison, k=5)
    assert [len(image["predictions"]["classname"]) for image in top["images"]] == [3, 3]
    payload = comparison_payload(comparison)
    assert payload["images"] == [{"name": "i0.png", "label": None}, {"name": "i1.png", "label": None}]
    assert payload["skipped"][0]["name"] == "broken.png" and "path" not in payload["skipped"][0]
    assert payload["summary"] and "softmax" in payload["probability_meaning"]


def test_dataset_from_zip_uses_folders_or_a_given_class_list(tmp_path: Path) -> None:
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for seed, name in enumerate(["Cat/a.png", "dog/b.png"]):
            handle.writestr(f"root/{name}", make_image(tmp_path / f"s{seed}.png", seed).read_bytes())
    images, classes = dataset_from_zip(archive, tmp_path / "one")
    assert [c.display for c in classes] == ["Cat", "dog"]
    assert [(image.name, image.label) for image in images] == [("Cat/a.png", 0), ("dog/b.png", 1)]
    images, classes = dataset_from_zip(archive, tmp_path / "two", "dog | puppy\ncat\nbird")
    assert [c.prompt for c in classes] == ["puppy", "cat", "bird"]
    assert [image.label for image in images] == [1, 0]


def test_result_store_is_bounded_and_tokens_are_unguessable() -> None:
    store = ResultStore(capacity=2)
    records = [RunRecord(comparison=None, images=[]) for _ in range(3)]  # type: ignore[arg-type]
    tokens = [store.put(record) for record in records]
    assert len(set(tokens)) == 3 and all(len(token) >= 20 for token in tokens)
    assert store.get(tokens[2]) is records[2]
    with pytest.raises(ResultsExpiredError):
        store.get(tokens[0])
    with pytest.raises(ResultsExpiredError, match="press Run"):
        store.get(None)


def test_cancel_registry_reaches_only_the_running_job() -> None:
    registry = CancelRegistry()
    assert registry.cancel("s1") is False
    first = registry.start("s1")
    other = registry.start("s2")
    assert registry.cancel("s1") is True and first.is_set() and not other.is_set()
    registry.finish("s1", first)
    assert registry.cancel("s1") is False
    newer = registry.start("s2")
    registry.finish("s2", other)
    assert registry.cancel("s2") is True and newer.is_set()
    assert isinstance(newer, threading.Event)


def test_set_prompt_name_rewrites_only_that_line() -> None:
    text = "# birds\ncat\nCrane | crane bird\nheron"
    expected = "# birds\ncat\nCrane | crane, a type of bird\nheron"
    assert set_prompt_name(text, "crane", "crane, a type of bird") == expected
    with pytest.raises(ClassListError, match="no longer"):
        set_prompt_name(text, "stork", "stork bird")


def test_ab_test_changes_only_the_chosen_class(tmp_path: Path, tiny_clip_dir: Path) -> None:
    encoder = load_model(str(tiny_clip_dir))
    trial = ab_test_rewrite(encoder, _inputs(tmp_path, [0, 1, 2]), CLASSES, StrategySpec("classname"), 2,
                            "bird, a type of animal")
    assert (trial.original, trial.rewritten, trial.labelled) == ("bird", "bird, a type of animal", 3)
    assert len(trial.rows) == 3 and trial.correct_before is not None
    assert trial.changed == sum(1 for row in trial.rows if row[4] == "yes")
    assert "correct:" in trial.summary()
    with pytest.raises(ClassListError):
        ab_test_rewrite(encoder, _inputs(tmp_path, [None]), CLASSES, StrategySpec("classname"), 7, "x")


def test_example_photos_are_real_labelled_and_match_the_class_list(tmp_path: Path) -> None:
    pairs = example_images(tmp_path)
    assert len(pairs) >= 8 and all(path.stat().st_size > 10_000 for path, _ in pairs)
    indices, unknown = match_labels([label for _, label in pairs], parse_class_list(EXAMPLE_CLASSES))
    assert not unknown and len(set(indices)) == len(pairs)


def test_tables_escape_and_label_honestly(tmp_path: Path, tiny_clip_dir: Path) -> None:
    specs, _ = build_specs(["classname"], StrategyInputs())
    comparison = run_models([str(tiny_clip_dir)], _inputs(tmp_path, [0, 1]), CLASSES, specs).comparison
    headers, rows = predictions_table(comparison)
    assert headers == ["Image", "True class", "Class name"] and rows[0][1] == "cat"
    assert rows[0][2][0] in "✓✗" and rows[0][2].endswith(")")
    metric_headers, metric_rows = metrics_table(comparison)
    assert metric_headers[1] == "Top-1 accuracy" and metric_rows[0][0] == "Class name"
    assert md_escape("[click](http://x) <b>") == "\\[click\\]\\(http\\://x\\) &lt;b&gt;"
    assert np.isfinite(comparison.strategies["classname"].probabilities).all()
