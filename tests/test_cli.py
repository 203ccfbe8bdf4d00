"""The headless CLI: prompts, evaluate, presets; exit codes and JSON shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from prompting.cli.main import main

REPO = Path(__file__).resolve().parents[1]


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_prompts_prints_json_per_class(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    classes = _write(tmp_path / "c.txt", "crane | crane bird\nheron\n")
    assert main(["prompts", "--strategy", "ensemble80", "--classes", classes]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert list(payload) == ["crane", "heron"] and len(payload["crane"]) == 80
    assert payload["crane"][0] == "a bad photo of a crane bird."


def test_prompts_for_dclip_default_to_the_files_classes(tmp_path: Path, capsys) -> None:
    dclip = _write(tmp_path / "d.json", json.dumps({"tiger": ["stripes", "a big cat"]}))
    assert main(["prompts", "--strategy", "dclip", "--dclip", dclip]) == 0
    assert json.loads(capsys.readouterr().out) == {"tiger": ["tiger, which has stripes", "tiger, which is a big cat"]}


PUBLISHED = json.loads((REPO / "tests" / "data" / "published_keys.json").read_text(encoding="utf-8"))["files"]


def _published_like(tmp_path: Path, name: str, text: str = "about {}") -> str:
    """A file with the keys of the published file ``name`` and one line per key."""
    entry = next(f for f in PUBLISHED if f["name"] == name)
    data = {key: ([] if key in entry["empty"] else [text.format(key)]) for key in entry["keys"]}
    return _write(tmp_path / name, json.dumps(data))


def test_prompts_for_dclip_food101_scores_empty_lists_and_reports_them(tmp_path: Path, capsys) -> None:
    dclip = _published_like(tmp_path, "descriptors_food101.json", "a {} dish")
    assert main(["prompts", "--strategy", "dclip", "--dclip", dclip, "--preset", "food101"]) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert payload["donuts"] == ["donuts, which has "]
    assert payload["apple pie"] == ["apple pie, which is a apple pie dish"]
    assert len(payload) == 101
    assert captured.err.splitlines() == [
        "dclip: Descriptions for 101 of 101 classes (101 by exact name); 5 have an empty or blank list: donuts, "
        "french fries, fried calamari, mussels, oysters.",
        "dclip: note: 5 classes have no descriptors and are scored with the one prompt '{class}, which has ', as "
        "DCLIP's code does: donuts, french fries, fried calamari, mussels, oysters",
    ]


@pytest.mark.parametrize(("preset", "flag", "name", "reported"), [
    ("cars", "--cupl", "cars_prompts_base.json",
     "1 matched ignoring case, spaces or punctuation: Ram C/V Cargo Van Minivan 2012 → 'Ram CV Cargo Van Minivan 2012'"),
    ("imagenet1k", "--cupl", "imagenet_prompts_base.json",
     "2 keys serve several classes, which get the same entries: 'missile' (missile, projectile), 'sunglasses' "
     "(sunglass, sunglasses)"),
    ("imagenet1k", "--dclip", "descriptors_imagenet.json",
     "2 matched by another published name: newt → 'eft', tights → 'maillot'"),
])
def test_prompts_match_published_files_to_presets_and_say_how(
    preset: str, flag: str, name: str, reported: str, tmp_path: Path, capsys
) -> None:
    path = _published_like(tmp_path, name)
    assert main(["prompts", "--strategy", flag[2:], flag, path, "--preset", preset]) == 0
    captured = capsys.readouterr()
    assert reported in captured.err
    payload = json.loads(captured.out)
    if flag == "--dclip":
        assert payload["newt"] == ["newt, which has about eft."] and payload["projectile"] == [
            "missile, which has about projectile."]
    elif preset == "imagenet1k":
        assert payload["projectile"] == payload["missile"] == ["about missile"]


def test_waffle_characters_can_come_from_a_descriptors_file(tmp_path: Path, capsys) -> None:
    classes = _write(tmp_path / "c.txt", "crane\nheron\n")
    source = _write(tmp_path / "d.json", json.dumps({"x": ["xy yz, z."], "y": []}))
    assert main(["prompts", "--strategy", "waffle", "--classes", classes, "--waffle-words", "0",
                 "--waffle-characters-from", source]) == 0
    prompts = json.loads(capsys.readouterr().out)["crane"]
    assert len(prompts) == 15
    assert all(set(p.split(", which has ", 1)[1][:-1]) <= set("xyz") for p in prompts)


def test_prompts_waffle_is_seeded(tmp_path: Path, capsys) -> None:
    classes = _write(tmp_path / "c.txt", "crane\nheron\n")
    outputs = []
    for seed in ("3", "3", "4"):
        assert main(["prompts", "--strategy", "waffle", "--classes", classes, "--seed", seed]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0] == outputs[1] != outputs[2]
    assert len(outputs[0]["crane"]) == 30


def test_evaluate_writes_json_in_the_documented_shape(tiny_clip_dir: Path, labeled_folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "result.json"
    code = main(["evaluate", "--model", str(tiny_clip_dir), "--images", str(labeled_folder),
                 "--strategy", "classname", "--strategy", "ensemble7", "--json", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    assert "top-1" in captured.out and "80-template" not in captured.out and "7-template ensemble" in captured.out
    assert "look-alike class names under 7-template ensemble (text cosine):" in captured.out
    assert "broken.jpg" in captured.err
    data = json.loads(out.read_text())
    assert data["classes"] == ["bird", "cat", "dog"]
    assert [Path(i["path"]).name for i in data["images"]][:2] == ["bird0.png", "bird1.png"]
    assert [i["label"] for i in data["images"]] == ["bird", "bird", "cat", "cat", "dog", "dog"]
    assert data["skipped"][0]["path"].endswith("broken.jpg")
    for name in ("classname", "ensemble7"):
        strategy = data["strategies"][name]
        assert len(strategy["probabilities"]) == 6 and len(strategy["probabilities"][0]) == 3
        assert set(strategy["predictions"]) <= {"bird", "cat", "dog"}
        assert {"top1", "top5", "mean_per_class_recall", "ece", "mce", "brier", "nll"} <= set(strategy["metrics"])
        assert strategy["metrics"]["top5"] is None  # only 3 classes
    assert data["encoder"] == {"prompts_encoded": 3 + 21, "prompts_cached": 0, "prompts_shared": 0,
                               "images_encoded": 6, "images_cached": 0}
    assert data["quantization"] is None
    [pair] = data["paired"]
    assert (pair["a"], pair["b"]) == ("classname", "ensemble7")
    truth = [i["label"] for i in data["images"]]
    right = {name: [p == t for p, t in zip(data["strategies"][name]["predictions"], truth)]
             for name in ("classname", "ensemble7")}
    assert pair["delta_top1"] == pytest.approx((sum(right["classname"]) - sum(right["ensemble7"])) / 6, abs=1e-6)
    low, high = pair["ci95"]
    assert low <= pair["delta_top1"] <= high
    assert pair["holm_p"] == pair["mcnemar_p"]  # one pair: nothing to adjust
    assert "paired comparisons on 6 labelled images" in captured.out


def test_evaluate_flat_folder_has_no_metrics(tiny_clip_dir: Path, flat_folder: Path, tmp_path: Path, capsys) -> None:
    classes = _write(tmp_path / "c.txt", "cat\ndog\n")
    out = tmp_path / "r.json"
    assert main(["evaluate", "--model", str(tiny_clip_dir), "--images", str(flat_folder), "--classes", classes,
                 "--strategy", "classname", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["strategies"]["classname"]["metrics"] is None
    assert [i["label"] for i in data["images"]] == [None, None, None]
    assert "no labels" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--images", "{tmp}/missing", "--strategy", "classname", "--classes", "{classes}"], "missing"),
        (["--images", "{flat}", "--strategy", "classname", "--classes", "{empty}"], "empty"),
        (["--images", "{flat}", "--strategy", "classname", "--classes", "{dupes}"], "Duplicate"),
        (["--images", "{flat}", "--strategy", "bogus", "--classes", "{classes}"], "Unknown strategy"),
        (["--images", "{flat}", "--strategy", "cupl", "--classes", "{classes}", "--cupl", "{badjson}"], "JSON"),
        (["--images", "{flat}", "--strategy", "dclip", "--classes", "{classes}", "--dclip", "{partial}"], "dog"),
        (["--images", "{emptydir}", "--strategy", "classname", "--classes", "{classes}"], "image"),
    ],
)
def test_bad_input_exits_nonzero_with_one_specific_line(
    args: list[str], message: str, tiny_clip_dir: Path, flat_folder: Path, tmp_path: Path, capsys
) -> None:
    (tmp_path / "emptydir").mkdir()
    values = {
        "tmp": str(tmp_path), "flat": str(flat_folder), "emptydir": str(tmp_path / "emptydir"),
        "classes": _write(tmp_path / "c.txt", "cat\ndog\n"),
        "empty": _write(tmp_path / "e.txt", "\n  \n"),
        "dupes": _write(tmp_path / "d.txt", "Cat\ncat \n"),
        "badjson": _write(tmp_path / "b.json", "{not json"),
        "partial": _write(tmp_path / "p.json", json.dumps({"cat": ["whiskers"]})),
    }
    argv = ["evaluate", "--model", str(tiny_clip_dir)] + [a.format(**values) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_module_entry_point_runs_and_reports_unknown_model(tmp_path: Path) -> None:
    images = tmp_path / "imgs"
    images.mkdir()
    from tests.conftest import make_image

    make_image(images / "a.png", 1)
    classes = _write(tmp_path / "c.txt", "cat\n")
    proc = subprocess.run(
        [sys.executable, "-m", "prompting", "evaluate", "--model", str(tmp_path / "nope"), "--images", str(images),
         "--classes", classes, "--strategy", "classname"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 2
    assert "Could not load model" in proc.stderr and "nope" in proc.stderr
    listing = subprocess.run([sys.executable, "-m", "prompting", "presets"], cwd=REPO, capture_output=True,
                             text=True, timeout=60)
    assert listing.returncode == 0 and "imagenet1k" in listing.stdout and "1000 classes" in listing.stdout


def test_evaluate_json_reports_no_strategy_errors_on_success(tiny_clip_dir: Path, flat_folder: Path, tmp_path: Path) -> None:
    classes = _write(tmp_path / "c.txt", "cat\ndog\n")
    out = tmp_path / "r.json"
    assert main(["evaluate", "--model", str(tiny_clip_dir), "--images", str(flat_folder), "--classes", classes,
                 "--strategy", "waffle", "--seed", "1", "--seed", "2", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["strategy_errors"] == {}
    assert [run["seed"] for run in data["strategies"]["waffle"]["seed_runs"]] == [1, 2]
    assert data["descriptions_match"] == {}


def test_evaluate_reports_how_descriptions_matched(tiny_clip_dir: Path, flat_folder: Path, tmp_path: Path,
                                                    capsys) -> None:
    classes = _write(tmp_path / "c.txt", "cat\nDog\n")
    dclip = _write(tmp_path / "d.json", json.dumps({"cat": ["whiskers"], "dog": [], "eel": ["fins"]}))
    out = tmp_path / "r.json"
    assert main(["evaluate", "--model", str(tiny_clip_dir), "--images", str(flat_folder), "--classes", classes,
                 "--strategy", "dclip", "--dclip", dclip, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert ("dclip: Descriptions for 2 of 2 classes (1 by exact name); 1 matched ignoring case only: Dog → 'dog'; "
            "1 have an empty or blank list: Dog; 1 entries match no class: eel.") in printed
    report = json.loads(out.read_text())["descriptions_match"]["dclip"]
    assert report["inexact"] == [{"class": "Dog", "key": "dog", "how": "normalised", "shared_with": []}]
    assert report["empty"] == ["Dog"] and report["unused_keys"] == ["eel"]


def test_presets_print_a_valid_class_file_and_the_templates(tmp_path: Path, capsys) -> None:
    from prompting.classes import read_class_file
    from prompting.strategies.classsets import get_class_set

    assert main(["presets", "cifar10"]) == 0
    path = tmp_path / "cifar10.txt"
    path.write_text(capsys.readouterr().out, encoding="utf-8")
    assert [c.display for c in read_class_file(str(path))] == list(get_class_set("cifar10").classes)
    assert main(["presets", "cifar10", "--templates"]) == 0
    assert capsys.readouterr().out.splitlines() == list(get_class_set("cifar10").templates)


def _cli(args: list[str], cache: Path, timeout: int = 180) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "ZSP_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "prompting", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_a_warm_rerun_in_a_new_process_encodes_nothing(
    tiny_clip_dir: Path, labeled_folder: Path, tmp_path: Path
) -> None:
    args = ["evaluate", "--model", str(tiny_clip_dir), "--images", str(labeled_folder), "--strategy", "classname",
            "--strategy", "ensemble7"]
    runs = []
    for number in range(2):
        out = tmp_path / f"run{number}.json"
        proc = _cli([*args, "--json", str(out)], tmp_path / "cache")
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(out.read_text()))
    assert runs[0]["encoder"] == {"prompts_encoded": 24, "prompts_cached": 0, "prompts_shared": 0,
                                  "images_encoded": 6, "images_cached": 0}
    assert runs[1]["encoder"] == {"prompts_encoded": 0, "prompts_cached": 24, "prompts_shared": 0,
                                  "images_encoded": 0, "images_cached": 6}
    assert runs[1]["strategies"]["ensemble7"]["probabilities"] == runs[0]["strategies"]["ensemble7"]["probabilities"]
    assert "encoded: 0 prompts, 0 images   from cache: 24 prompts, 6 images" in proc.stdout


def test_an_unusable_cache_dir_is_one_clear_line(tiny_clip_dir: Path, flat_folder: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "cache-file"
    blocker.write_text("not a directory")
    proc = _cli(["evaluate", "--model", str(tiny_clip_dir), "--images", str(flat_folder), "--strategy", "classname",
                 "--classes", _write(tmp_path / "c.txt", "cat\ndog\n")], blocker)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: The cache directory '{blocker}' ($ZSP_CACHE_DIR) is a file, not a directory; point ZSP_CACHE_DIR "
        "at a directory.")
    assert "Traceback" not in proc.stderr


def test_quantize_int8_says_so_in_the_results(tiny_clip_dir: Path, flat_folder: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    classes = _write(tmp_path / "c.txt", "cat\ndog\n")
    out = tmp_path / "q.json"
    assert main(["evaluate", "--model", str(tiny_clip_dir), "--images", str(flat_folder), "--classes", classes,
                 "--strategy", "classname", "--quantize", "int8", "--json", str(out)]) == 0
    assert "(int8 quantised)" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["quantization"] == "int8" and data["encoder"]["prompts_encoded"] == 2
    # float32 results are cached apart: the same prompts are encoded again without --quantize
    assert main(["evaluate", "--model", str(tiny_clip_dir), "--images", str(flat_folder), "--classes", classes,
                 "--strategy", "classname", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["encoder"]["prompts_encoded"] == 2


def test_start_up_imports_neither_the_llm_client_nor_scikit_learn() -> None:
    code = (
        "import sys\n"
        "from prompting.cli.main import build_parser\n"
        "build_parser().parse_args(['evaluate', '--images', 'x', '--strategy', 'classname'])\n"
        "import prompting.evaluation.compare, prompting.evaluation.metrics\n"
        "print(sorted(name for name in ('openai', 'sklearn', 'scipy', 'gradio') if name in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=True)
    assert proc.stdout.strip() == "[]"


def test_describe_help_shows_the_generators_defaults() -> None:
    from prompting.cli import describe
    from prompting.llm import generate

    assert describe.HELP_CUPL_N == generate.CUPL_N
    assert describe.HELP_TEMPERATURES == describe.default_temperatures() == {
        "cupl": generate.CUPL_TEMPERATURE, "dclip": generate.DCLIP_TEMPERATURE,
        "concept": generate.CONCEPT_TEMPERATURE, "fudd": generate.FUDD_TEMPERATURE}


def test_a_fully_cached_run_starts_without_transformers_or_torch(tiny_clip_dir: Path, flat_folder: Path,
                                                                  tmp_path: Path) -> None:
    import os

    from prompting.encoding.devices import torch_build_has_gpu_support

    classes = _write(tmp_path / "c.txt", "cat\ndog\n")
    args = ["evaluate", "--model", str(tiny_clip_dir), "--images", str(flat_folder), "--classes", classes,
            "--strategy", "ensemble7"]
    assert _cli(args, tmp_path / "cache").returncode == 0
    code = (
        "import sys\n"
        "from prompting.cli.main import main\n"
        f"status = main({args!r})\n"
        "print('loaded transformers:', 'transformers' in sys.modules, 'torch:', 'torch' in sys.modules,"
        " 'status:', status)\n"
    )
    env = {**os.environ, "ZSP_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=180, check=False)
    # A CPU-only torch build (as here and in CI) can only run on the CPU, so torch is not imported;
    # a CUDA build imports it to ask whether a GPU is present.
    torch_loaded = torch_build_has_gpu_support()
    assert proc.stdout.strip().splitlines()[-1] == f"loaded transformers: False torch: {torch_loaded} status: 0", \
        proc.stderr
    assert "encoded: 0 prompts, 0 images   from cache: 14 prompts, 3 images" in proc.stdout
