"""The web app's named endpoints, driven with gradio_client against a tiny model on 127.0.0.1."""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from app import build_demo
from prompting.classes import as_class_names, parse_class_list
from prompting.data.datasets import scan_folder
from prompting.encoding.models import load_model
from prompting.evaluation.compare import ImageInput, compare
from prompting.evaluation.results import Comparison
from prompting.service.config import AppConfig, RunLimits
from prompting.strategies.registry import StrategySpec
from prompting.strategies.waffle import WaffleOptions
from tests.conftest import make_image

CLASSES = "cat\ndog | small dog\nbird"
MISSING_MODEL = "/no/such/model-dir"
# Gradio's queue itself trips pandas 3 deprecation warnings; they are not this app's.
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword is deprecated)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tiny_clip_dir: Path, tiny_siglip_dir: Path) -> Iterator[str]:
    """The app on a free local port with the tiny CLIP (and tiny SigLIP as second model), with
    small run limits so going over them is cheap to test."""
    config = AppConfig(model=str(tiny_clip_dir), models=(str(tiny_siglip_dir), MISSING_MODEL), max_upload_mb=5,
                       limits=RunLimits(max_images=4, max_waffle_seeds=3, max_pixels_per_run=20_000_000))
    demo = build_demo(config)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("app-images")
    return [make_image(folder / f"img{index}.png", seed=index) for index in range(3)]


def test_only_the_named_endpoints_are_public(client: Client) -> None:
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/classify", "/compare", "/evaluate", "/select_templates", "/export_head"}


def test_classify_returns_top_k_per_image_and_strategy(client: Client, images: list[Path]) -> None:
    result = client.predict(
        images=[handle_file(str(p)) for p in images], classes=CLASSES, strategies=["classname", "ensemble7"],
        top_k=2, api_name="/classify",
    )
    assert result["probability_kind"] == "softmax"
    assert "softmax" in result["probability_meaning"]
    assert [image["name"] for image in result["images"]] == ["img0.png", "img1.png", "img2.png"]
    for image in result["images"]:
        assert set(image["predictions"]) == {"classname", "ensemble7"}
        for top in image["predictions"].values():
            assert len(top) == 2
            assert {entry["class"] for entry in top} <= {"cat", "dog", "bird"}
            assert top[0]["probability"] >= top[1]["probability"]


def test_compare_returns_the_export_json_with_metrics_when_labelled(client: Client, images: list[Path]) -> None:
    result = client.predict(
        images=[handle_file(str(p)) for p in images], classes=CLASSES, strategies=["classname", "template", "waffle"],
        labels=["cat", "dog", "bird"],
        options={"templates": ["a photo of a {}.", "art of the {}."], "waffle": {"seeds": [0, 1], "n_words": 3,
                                                                                  "n_chars": 3}},
        api_name="/compare",
    )
    assert result["classes"] == ["cat", "dog", "bird"]
    assert result["class_prompt_names"] == ["cat", "small dog", "bird"]
    assert list(result["strategies"]) == ["classname", "template", "waffle"]
    for strategy in result["strategies"].values():
        assert len(strategy["probabilities"]) == 3
        assert sum(strategy["probabilities"][0]) == pytest.approx(1.0, abs=1e-5)
        assert 0.0 <= strategy["metrics"]["top1"] <= 1.0
        assert strategy["metrics"]["ece"] is not None
    assert len(result["strategies"]["waffle"]["seed_runs"]) == 2
    assert result["summary"] and "of 3" in result["summary"][0]
    assert result["headline"].startswith(("Best on these 3 images", "Most right on these 3 images", "No approach"))


def test_compare_adds_fudd_from_the_options(client: Client, images: list[Path]) -> None:
    pairs = {"pairs": [{"classes": ["cat", "dog"], "descriptions": [
        {"attribute": "ears", "cat": "a photo of a cat, pointed ears.", "dog": "a photo of a small dog, floppy ears."}]}]}
    result = client.predict(
        images=[handle_file(str(p)) for p in images], classes=CLASSES, strategies=["template", "fudd"],
        labels=["cat", "dog", "bird"],
        options={"templates": ["a photo of a {}."], "fudd": {"pairs": pairs, "base": "template", "k": 2}},
        api_name="/compare",
    )
    fudd = result["strategies"]["fudd"]
    assert fudd["label"] == "FuDD (k=2) · Template" and fudd["fudd"]["k"] == 2
    assert fudd["fudd"]["base"] == "Template" and fudd["fudd"]["base_computed"] is False
    assert [len(row) for row in fudd["fudd"]["ambiguous_sets"]] == [2, 2, 2]
    assert ["cat", "dog"] not in fudd["fudd"]["missing_pairs"] and all(len(row) == 3 for row in fudd["probabilities"])


def _recompute_from_scratch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point the in-process run at an empty embedding cache, so it encodes every prompt and
    image itself instead of reading what the app's run just stored."""
    monkeypatch.setenv("ZSP_CACHE_DIR", str(tmp_path / "in-process-cache"))


def test_compare_probabilities_equal_an_in_process_comparison(
    client: Client, images: list[Path], tiny_clip_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    templates = ["a photo of a {}.", "art of the {}."]
    result = client.predict(
        images=[handle_file(str(p)) for p in images], classes=CLASSES,
        strategies=["classname", "ensemble7", "template", "waffle"], labels=["cat", "dog", "bird"],
        options={"templates": templates, "waffle": {"seeds": [0, 1], "n_words": 3, "n_chars": 3}},
        api_name="/compare",
    )
    _recompute_from_scratch(monkeypatch, tmp_path)
    specs = [
        StrategySpec("classname"),
        StrategySpec("ensemble7"),
        StrategySpec("template", templates=templates),
        StrategySpec("waffle", waffle=WaffleOptions(n_words=3, n_chars=3, seeds=(0, 1))),
    ]
    local = compare(load_model(str(tiny_clip_dir)), [ImageInput(str(p), label) for p, label in zip(images, [0, 1, 2])],
                    parse_class_list(CLASSES), specs)
    # really computed here, not read back from the app's cache: 3 class names, 3 x 7 ensemble, 3 for the
    # template "a photo of a {}." ("art of the {}." is one of the 7, so shared, not from a cache), 3 x 2 seeds x 6
    # Waffle descriptors
    assert local.encoder_stats == {"prompts_encoded": 3 + 21 + 3 + 36, "prompts_cached": 0, "prompts_shared": 3,
                                   "images_encoded": 3, "images_cached": 0}
    assert list(result["strategies"]) == list(local.strategies)
    for key, expected in local.strategies.items():
        served = result["strategies"][key]
        np.testing.assert_allclose(np.array(served["probabilities"]), expected.probabilities, rtol=0, atol=1e-5,
                                   err_msg=key)
        assert served["metrics"]["top1"] == pytest.approx(expected.metrics["top1"], abs=1e-6), key
        assert served["metrics"]["nll"] == pytest.approx(expected.metrics["nll"], abs=1e-5), key
    # the strategies really differ, so equal arrays are not a coincidence of identical prompts
    assert not np.allclose(local.strategies["classname"].probabilities, local.strategies["waffle"].probabilities,
                           atol=1e-5)


def test_compare_two_models_puts_them_side_by_side(
    client: Client, images: list[Path], tiny_clip_dir: Path, tiny_siglip_dir: Path
) -> None:
    result = client.predict(
        images=[handle_file(str(images[0]))], classes=CLASSES, strategies=["classname"],
        second_model=str(tiny_siglip_dir), api_name="/compare",
    )
    kinds = {key: value["probability_kind"] for key, value in result["strategies"].items()}
    assert kinds == {f"classname@{tiny_clip_dir.name}": "softmax", f"classname@{tiny_siglip_dir.name}": "sigmoid"}


def test_a_bad_image_is_skipped_with_its_reason_and_the_rest_scored(
    client: Client, images: list[Path], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"definitely not a png")
    files = [handle_file(str(images[0])), handle_file(str(broken)), handle_file(str(images[1]))]
    result = client.predict(images=files, classes=CLASSES, strategies=["classname"], api_name="/compare")
    assert len(result["skipped"]) == 1
    assert "broken.png" in result["skipped"][0]["reason"]
    assert len(result["strategies"]["classname"]["probabilities"]) == 2


def test_an_empty_class_list_is_a_readable_error(client: Client, images: list[Path]) -> None:
    with pytest.raises(AppError, match="class list is empty"):
        client.predict(images=[handle_file(str(images[0]))], classes="\n  \n", strategies=["classname"],
                       api_name="/classify")


def test_a_strategy_missing_its_inputs_keeps_the_others(client: Client, images: list[Path]) -> None:
    result = client.predict(images=[handle_file(str(images[0]))], classes=CLASSES,
                            strategies=["classname", "cupl"], api_name="/compare")
    assert list(result["strategies"]) == ["classname"]
    assert "CuPL" in next(iter(result["strategy_errors"].values()))


def test_labels_outside_the_class_list_are_refused(client: Client, images: list[Path]) -> None:
    with pytest.raises(AppError, match="not in the class list"):
        client.predict(images=[handle_file(str(images[0]))], classes=CLASSES, labels=["horse"],
                       strategies=["classname"], api_name="/compare")


def test_a_model_that_cannot_load_is_a_readable_error(
    client: Client, images: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    """Visitors are told what failed; how to fix it (a local folder, the hub cache) is for the
    operator, so it goes to the server log."""
    with caplog.at_level("WARNING"), pytest.raises(AppError, match="Could not load model 'model-dir'") as info:
        client.predict(images=[handle_file(str(images[0]))], classes=CLASSES, model=MISSING_MODEL,
                       api_name="/classify")
    message = str(info.value)
    assert MISSING_MODEL not in message  # the operator's folder is shown by its name only
    assert message.endswith("The server log tells its operator how to fix this.")
    assert "--model" not in message and "hf download" not in message and "HF_HUB_OFFLINE" not in message
    assert "pass a local directory saved with save_pretrained (--model /path/to/model)" in caplog.text


def test_only_uploads_and_assets_are_served(app_url: str) -> None:
    root = Path(__file__).resolve().parent.parent

    def status(path: Path) -> int:
        try:
            with urllib.request.urlopen(f"{app_url}gradio_api/file={path}") as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    assert status(root / "assets" / "style.css") == 200
    assert status(root / "app.py") == 403
    assert status(Path("/etc/passwd")) == 403


def test_a_model_outside_the_menu_is_refused() -> None:
    from components.panels.run_panel import chosen_models
    from prompting.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="not offered"):
        chosen_models(AppConfig(model="a", models=("b",)), "evil/model", None)


def test_the_same_model_under_compare_with_is_said_not_ignored() -> None:
    from components.panels.run_panel import _done, same_model_note
    from components.panels.strategies_panel import NO_SECOND_MODEL

    config = AppConfig(model="/srv/models/clip-a", models=("/srv/models/clip-b",))
    assert same_model_note(config, "clip-a", "clip-a").startswith("“Compare with” names the same model as “Model”")
    assert same_model_note(config, "clip-a", "/srv/models/clip-a") != ""
    assert same_model_note(config, None, "clip-a") != ""  # no choice means the default model
    assert same_model_note(config, "clip-a", "clip-b") == same_model_note(config, "clip-a", NO_SECOND_MODEL) == ""
    comparison = Comparison(model="clip-a", classes=parse_class_list("cat"), images=[], strategies={})
    assert "ℹ️ “Compare with” names the same model" in _done(comparison, 1.0, [same_model_note(config, "clip-a",
                                                                                               "clip-a")])


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def _png(seed: int, tmp_path: Path) -> bytes:
    return make_image(tmp_path / f"source{seed}.png", seed).read_bytes()


def test_evaluate_a_labelled_zip_returns_metrics(client: Client, tmp_path: Path) -> None:
    archive = _zip(tmp_path / "set.zip", {
        f"pets/{name}/{index}.png": _png(seed, tmp_path)
        for seed, (name, index) in enumerate([("cat", 0), ("cat", 1), ("dog", 0), ("dog", 1)])
    })
    result = client.predict(dataset=handle_file(str(archive)), classes="", strategies=["classname", "ensemble7"],
                            api_name="/evaluate")
    assert result["classes"] == ["cat", "dog"]
    assert result["n_images"] == 4
    for metrics in result["metrics"].values():
        assert set(metrics) >= {"top1", "mean_per_class_recall", "ece", "mce", "brier", "nll", "temperature"}
        assert metrics["confusion"]["n_classes"] == 2
        assert sum(count for _, _, count in metrics["confusion"]["cells"]) == 4


def test_evaluate_metrics_equal_an_in_process_evaluation(
    client: Client, tiny_clip_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    layout = [("cat", 0), ("cat", 1), ("dog", 0), ("bird", 0)]  # the fixture's limit is 4 images
    local_root = tmp_path / "local"
    entries = {}
    for seed, (name, index) in enumerate(layout):
        path = make_image(local_root / name / f"{index}.png", seed=40 + seed)
        entries[f"set/{name}/{index}.png"] = path.read_bytes()
    archive = _zip(tmp_path / "set.zip", entries)
    result = client.predict(dataset=handle_file(str(archive)), classes="", strategies=["classname", "ensemble7"],
                            api_name="/evaluate")
    _recompute_from_scratch(monkeypatch, tmp_path)
    scanned = scan_folder(local_root)
    inputs = [ImageInput(str(path), label, name=path.relative_to(local_root).as_posix())
              for path, label in scanned.items]
    local = compare(load_model(str(tiny_clip_dir)), inputs, as_class_names(scanned.classes),
                    [StrategySpec("classname"), StrategySpec("ensemble7")])
    assert local.encoder_stats == {"prompts_encoded": 3 + 21, "prompts_cached": 0, "prompts_shared": 0,
                                   "images_encoded": 4, "images_cached": 0}
    assert result["classes"] == scanned.classes == ["bird", "cat", "dog"]
    assert [image["name"] for image in result["images"]] == [image.name for image in local.images]
    assert list(result["metrics"]) == ["classname", "ensemble7"]
    for key, expected in local.strategies.items():
        served = result["metrics"][key]
        assert served["top1"] == pytest.approx(expected.metrics["top1"], abs=1e-6), key
        for metric in ("mean_per_class_recall", "nll", "brier", "ece"):
            assert served[metric] == pytest.approx(expected.metrics[metric], abs=1e-5), (key, metric)
        assert served["confusion"] == expected.metrics["confusion"]
        np.testing.assert_allclose(np.array(result["strategies"][key]["probabilities"]), expected.probabilities,
                                   rtol=0, atol=1e-5, err_msg=key)


def test_evaluate_refuses_a_zip_with_a_path_traversal_entry(client: Client, tmp_path: Path) -> None:
    archive = _zip(tmp_path / "evil.zip", {"cat/0.png": _png(1, tmp_path), "../../escape.png": _png(2, tmp_path)})
    with pytest.raises(AppError, match="climbs out"):
        client.predict(dataset=handle_file(str(archive)), classes="", strategies=["classname"], api_name="/evaluate")
    assert not (tmp_path.parent / "escape.png").exists()


def test_evaluate_errors_name_the_zip_not_the_server_folder(client: Client, tmp_path: Path) -> None:
    import tempfile

    archive = _zip(tmp_path / "notes.zip", {"readme/notes.txt": b"no images here"})
    with pytest.raises(AppError) as caught:
        client.predict(dataset=handle_file(str(archive)), classes="", strategies=["classname"], api_name="/evaluate")
    message = str(caught.value)
    assert "No images found in 'notes.zip'" in message
    assert tempfile.gettempdir() not in message and "zsp-eval" not in message


def test_hostile_text_comes_back_escaped(client: Client, images: list[Path]) -> None:
    hostile = '<img src="https://evil.example/x.png">'
    with pytest.raises(AppError) as caught:
        client.predict(images=[handle_file(str(images[0]))], classes=f"{hostile}\n{hostile}",
                       strategies=["classname"], api_name="/compare")
    assert "&lt;img src=" in str(caught.value) and "<img" not in str(caught.value)


def test_two_clients_at_once_get_their_own_results(app_url: str, tmp_path: Path) -> None:
    first = [make_image(tmp_path / "a" / f"a{index}.png", seed=10 + index) for index in range(2)]
    second = [make_image(tmp_path / "b" / f"b{index}.png", seed=20 + index) for index in range(3)]

    def call(paths: list[Path], classes: str) -> dict:
        return Client(app_url, verbose=False).predict(
            images=[handle_file(str(p)) for p in paths], classes=classes, strategies=["classname"],
            api_name="/classify",
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        a = pool.submit(call, first, "cat\ndog")
        b = pool.submit(call, second, "car\ntruck\nship")
        result_a, result_b = a.result(timeout=120), b.result(timeout=120)
    assert [image["name"] for image in result_a["images"]] == ["a0.png", "a1.png"]
    assert [image["name"] for image in result_b["images"]] == ["b0.png", "b1.png", "b2.png"]
    assert {p["class"] for image in result_a["images"] for p in image["predictions"]["classname"]} <= {"cat", "dog"}
    assert {p["class"] for image in result_b["images"] for p in image["predictions"]["classname"]} <= {
        "car", "truck", "ship"}


def test_files_given_as_urls_are_not_fetched(client: Client) -> None:
    with pytest.raises(AppError, match="does not fetch files"):
        client.predict(images=[handle_file("http://127.0.0.1:9/cat.png")], classes=CLASSES,
                       strategies=["classname"], api_name="/classify")


def test_reruns_reuse_cached_prompts_and_an_edit_encodes_only_that_class(client: Client, images: list[Path]) -> None:
    def encoder_stats(classes: str) -> dict:
        return client.predict(images=[handle_file(str(images[0]))], classes=classes, strategies=["ensemble7"],
                              api_name="/compare")["encoder"]

    first = encoder_stats(CLASSES)
    assert first["prompts_encoded"] == 3 * 7
    assert encoder_stats(CLASSES) == {"prompts_encoded": 0, "prompts_cached": 21, "prompts_shared": 0,
                                      "images_encoded": 0, "images_cached": 1}
    assert encoder_stats(CLASSES.replace("bird", "bird | songbird")) == {
        "prompts_encoded": 7, "prompts_cached": 14, "prompts_shared": 0, "images_encoded": 0, "images_cached": 1}


def test_uploads_over_the_size_limit_are_refused(app_url: str, client: Client, tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (6 * 2**20))  # the fixture's limit is 5 MiB = 5242880 bytes
    # gradio_client reads the limit from the app's config and refuses before sending ...
    with pytest.raises(ValueError, match=r"big\.png exceeds the maximum file size of 5242880 bytes"):
        client.predict(images=[handle_file(str(big))], classes=CLASSES, api_name="/classify")
    # ... and the server itself refuses a direct upload over the limit, but takes one under it.
    over = httpx.post(f"{app_url}gradio_api/upload", files=[("files", ("big.png", big.read_bytes()))])
    assert over.status_code == 413
    assert "File size exceeded maximum allowed size of 5242880 bytes" in over.text
    under = httpx.post(f"{app_url}gradio_api/upload", files=[("files", ("small.png", b"\0" * 2**20))])
    assert under.status_code == 200 and under.json()[0].endswith("small.png")


def test_requests_over_the_limits_are_refused_with_the_limit(client: Client, tmp_path: Path) -> None:
    files = [handle_file(str(make_image(tmp_path / f"many{index}.png", seed=index))) for index in range(5)]
    with pytest.raises(AppError, match=r"Too many images: 5\. This server scores at most 4 per run"):
        client.predict(images=files, classes=CLASSES, strategies=["classname"], api_name="/classify")
    with pytest.raises(AppError, match="Too many WaffleCLIP seeds: 4. This server runs at most 3"):
        client.predict(images=files[:1], classes=CLASSES, strategies=["waffle"],
                       options={"waffle": {"seeds": [0, 1, 2, 3]}}, api_name="/compare")


def test_a_request_over_the_work_budget_is_refused_up_front_with_the_estimate(
    client: Client, images: list[Path]
) -> None:
    classes = "\n".join(f"class {index}" for index in range(1000))
    with pytest.raises(AppError, match=r"This run would encode about 600,000 new text prompts \(WaffleCLIP "
                                       r"600,000\); this server encodes at most 100,000 per run"):
        client.predict(images=[handle_file(str(images[0]))], classes=classes, strategies=["waffle"],
                       options={"waffle": {"seeds": [0, 1, 2], "n_words": 100, "n_chars": 100}},
                       api_name="/compare")


MALFORMED = {
    "labels as numbers": ({"labels": [1]}, r"labels\[0\] must be a class name \(text\) or null, not 1"),
    "labels as an object": ({"labels": {"a": 1}}, r"Send labels as a list .* not an object"),
    "a seed of 2**64": ({"strategies": ["waffle"], "options": {"waffle": {"seeds": [2**64]}}},
                        r"options\.waffle\.seeds\[0\] must be a whole number from 0 to 9223372036854775807"),
    "a negative count": ({"strategies": ["waffle"], "options": {"waffle": {"n_words": -5}}},
                         r"options\.waffle\.n_words must be a whole number from 0 to 100, not -5"),
    "options as a list": ({"options": [1, 2]}, r"options must be a JSON object"),
    "templates as an object": ({"strategies": ["template"], "options": {"templates": {"a": 1}}},
                               r"options\.templates must be a list of templates"),
    "a typo in an option": ({"options": {"templatez": []}}, r'options has no setting "templatez"'),
    "a concept as a number": ({"strategies": ["waffle"], "options": {"waffle": {"concept": 5}}},
                              r"options\.waffle\.concept must be text"),
    "classes as a number": ({"classes": 5}, r"classes must be text with one class per line"),
    "images as text": ({"images": "hello"}, r"images must be a list of uploaded files"),
    "a model as a number": ({"model": 3}, r"model must be a name \(text\), not 3"),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_compare_arguments_get_a_readable_error(client: Client, images: list[Path], case: str) -> None:
    changes, message = MALFORMED[case]
    arguments = {"images": [handle_file(str(images[0]))], "classes": CLASSES, "strategies": ["classname"],
                 **changes}
    with pytest.raises(AppError, match=message):
        client.predict(**arguments, api_name="/compare")


def test_malformed_classify_and_evaluate_arguments_get_a_readable_error(client: Client, images: list[Path]) -> None:
    image = [handle_file(str(images[0]))]
    for top_k, message in ((-3, "top_k must be a whole number from 1 to 1000, not -3"), ("x", 'top_k must be a '
                                                                                              'number, not "x"')):
        with pytest.raises(AppError, match=re.escape(message)):
            client.predict(images=image, classes=CLASSES, strategies=["classname"], top_k=top_k, api_name="/classify")
    with pytest.raises(AppError, match=r"dataset must be an uploaded file"):
        client.predict(dataset="hello", classes="", strategies=["classname"], api_name="/evaluate")


def test_friendly_argument_forms_are_accepted(client: Client, images: list[Path]) -> None:
    result = client.predict(images=[handle_file(str(images[0]))], classes=["cat", "dog"], strategies="classname",
                            api_name="/compare")
    assert result["classes"] == ["cat", "dog"] and list(result["strategies"]) == ["classname"]


def test_visitors_see_model_names_not_server_paths(app_url: str, client: Client, images: list[Path],
                                                    tiny_clip_dir: Path, tiny_siglip_dir: Path) -> None:
    with urllib.request.urlopen(f"{app_url}config") as response:
        page_config = response.read().decode("utf-8")
    assert tiny_clip_dir.name in page_config
    for path in (str(tiny_clip_dir), str(tiny_siglip_dir), MISSING_MODEL):
        assert path not in page_config
    result = client.predict(images=[handle_file(str(images[0]))], classes=CLASSES, strategies=["classname"],
                            model=tiny_siglip_dir.name, api_name="/compare")
    assert result["model"] == tiny_siglip_dir.name
    assert result["strategies"]["classname"]["probability_kind"] == "sigmoid"


def test_a_disabled_concept_button_says_why() -> None:
    demo = build_demo(AppConfig(model="openai/clip-vit-base-patch32"))
    blocks = {getattr(block, "elem_id", None): block for block in demo.blocks.values()}
    assert blocks["concept-btn"].interactive is False
    assert "no language model is configured" in blocks["concept-why"].value


def test_an_over_budget_request_is_refused_while_another_goes_on(
    client: Client, images: list[Path], tmp_path: Path
) -> None:
    from PIL import Image

    huge = tmp_path / "huge.png"
    Image.new("L", (8000, 8000), 120).save(huge)  # 64 million pixels in a file of ~200 kB
    over = client.submit(images=[handle_file(str(huge)), handle_file(str(images[0]))], classes=CLASSES,
                         strategies=["classname"], api_name="/compare")
    fine = client.submit(images=[handle_file(str(p)) for p in images], classes=CLASSES, strategies=["classname"],
                         api_name="/compare")
    with pytest.raises(AppError, match=r"would need 64 million pixels decoded \(the largest, 'huge\.png', 64 "
                                       r"million\); this server decodes at most 20 million per run"):
        over.result(timeout=120)
    result = fine.result(timeout=120)
    assert [image["name"] for image in result["images"]] == [p.name for p in images]
