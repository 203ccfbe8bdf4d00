"""The prompt-search API endpoints and the weighted strategies through /compare, driven with
gradio_client against a tiny model on 127.0.0.1, and the page's service functions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from safetensors.numpy import load_file

from app import build_demo
from prompting.classes import parse_class_list
from prompting.encoding.models import load_model
from prompting.errors import DatasetError, StrategyError
from prompting.evaluation.compare import ImageInput
from prompting.service.config import AppConfig, RunLimits
from prompting.service.prompt_search import check_selection_size, head_for_run, selection_pool
from prompting.service.workflows import extend_run, model_tags, run_models
from prompting.strategies.registry import StrategySpec
from tests.conftest import make_image
from tests.test_app import free_port

CLASSES = "cat\ndog | small dog\nbird"
LABELS = ["cat", "dog", "bird", "cat", "dog", "bird"]
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword is deprecated)")


@pytest.fixture(scope="module")
def client(tiny_clip_dir: Path) -> Iterator[Client]:
    config = AppConfig(model=str(tiny_clip_dir), limits=RunLimits(max_images=6, max_templates=90, max_folds=3,
                                                                  max_selected_templates=4))
    demo = build_demo(config)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield Client(url, verbose=False)
    demo.close()


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("search-images")
    return [make_image(folder / f"img{index}.png", seed=40 + index) for index in range(6)]


def test_select_templates_returns_the_cli_json_and_obeys_the_limits(client: Client, images: list[Path]) -> None:
    files = [handle_file(str(p)) for p in images]
    result = client.predict(images=files, labels=LABELS, classes=CLASSES, pool=["imagenet80", "custom"],
                            templates=["a {} in the wild."], folds=2, max_templates=3, seed=0,
                            api_name="/select_templates")
    assert set(result["cv"]) == {"selected", "ensemble80", "template"} and result["folds"] == 2
    assert result["pool_size"] == 81 and 1 <= len(result["selected"]) <= 3
    compared = client.predict(images=files, classes=CLASSES, strategies=["selected", "zpe", "autoclip"],
                              labels=LABELS, options={"selected": result, "weighting": {"beta": 0.7}},
                              api_name="/compare")
    assert compared["strategies"]["selected"]["label"] == result["label"]
    assert np.array(compared["strategies"]["autoclip"]["weights"]["values"]).shape == (6, 80)
    assert len(compared["strategies"]["zpe"]["weights"]["values"]) == 80
    with pytest.raises(AppError, match="between 2 and 3 folds"):
        client.predict(images=files, labels=LABELS, classes=CLASSES, pool=["imagenet80"], templates=[], folds=5,
                       max_templates=3, seed=0, api_name="/select_templates")
    with pytest.raises(AppError, match="needs labels"):
        client.predict(images=files, labels=[], classes=CLASSES, pool=["imagenet80"], templates=[], folds=2,
                       max_templates=3, seed=0, api_name="/select_templates")


def test_export_head_returns_both_files(client: Client, images: list[Path]) -> None:
    paths = client.predict(images=[handle_file(str(p)) for p in images], labels=LABELS, classes=CLASSES,
                           strategy="zpe", options={"weighting": {"pool": "custom"},
                                                    "templates": ["a photo of a {}.", "art of the {}."]},
                           api_name="/export_head")
    named = {Path(path).name: Path(path) for path in paths}
    assert set(named) == {"head.safetensors", "head.json"}
    manifest = json.loads(named["head.json"].read_text())
    assert manifest["strategy"] == "zpe" and manifest["templates"] == ["a photo of a {}.", "art of the {}."]
    assert manifest["temperature_fitted_on_images"] == 6 and not manifest["model"].startswith("/")
    assert load_file(str(named["head.safetensors"]))["weight"].shape == (3, 32)
    with pytest.raises(AppError, match="no fixed classifier head"):
        client.predict(images=None, labels=[], classes=CLASSES, strategy="autoclip", options={},
                       api_name="/export_head")


def test_a_selection_bigger_than_the_server_allows_is_refused() -> None:
    limits = RunLimits(max_selection_cells=1000)
    with pytest.raises(DatasetError, match="80 templates × 10 images × 3 classes = 2,400 scores"):
        check_selection_size(10, 3, ["a photo of a {}."], 5, 5, limits)
    with pytest.raises(StrategyError, match="at most 2"):
        selection_pool(["imagenet80"], "", RunLimits(max_templates=2))
    with pytest.raises(StrategyError, match="candidate pool from"):
        selection_pool(["elsewhere"], "", RunLimits())


def test_heads_of_a_run_with_two_models_name_the_model_publicly(tiny_clip_dir: Path, tiny_siglip_dir: Path,
                                                                 images: list[Path]) -> None:
    classes = parse_class_list(CLASSES)
    inputs = [ImageInput(str(p), i % 3, name=p.name) for i, p in enumerate(images)]
    record = run_models([str(tiny_clip_dir), str(tiny_siglip_dir)], inputs, classes,
                        [StrategySpec("classname"), StrategySpec("zpe"), StrategySpec("autoclip")])
    spec = StrategySpec("selected", templates=["itap of a {}."], label="Selected templates (1 of 80)")
    updated, added = extend_run(record, [spec])
    tags = model_tags([str(tiny_clip_dir), str(tiny_siglip_dir)])
    assert added == [f"selected@{tag}" for tag in tags.values()]
    for model, tag in tags.items():
        head = head_for_run(updated, f"zpe@{tag}", load_model)
        assert head.manifest["model"] == tag and head.manifest["temperature_fitted_on_images"] == 6
        assert head.manifest["family"] == load_model(model).family
        assert head_for_run(updated, f"selected@{tag}", load_model).manifest["strategy"] == "selected"
    with pytest.raises(StrategyError, match="differently for every image"):
        head_for_run(updated, f"autoclip@{tags[str(tiny_clip_dir)]}", load_model)
    with pytest.raises(StrategyError, match="not part of this run"):
        head_for_run(updated, "nothing", load_model)
