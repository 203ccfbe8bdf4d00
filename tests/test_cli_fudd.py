"""The CLI's FuDD: ``describe --method fudd`` from a pairs file or a run's JSON, and ``evaluate
--strategy fudd`` with its JSON entry under ``strategies``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fake_llm_server import SECRET_KEY, FakeLLMServer, Recorded, Reply

from prompting.cli.main import main

ASKED = re.compile(r"First class: (.*?)\. Second class: (.*?)\. ")


@pytest.fixture(autouse=True)
def _llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.setenv("ZSP_LLM_BACKOFF", "0.001")
    monkeypatch.setenv("ZSP_LLM_MAX_RETRIES", "1")


def asked(request: Recorded) -> tuple[str, str]:
    match = ASKED.match(request.last_user_message)
    assert match is not None
    return match.group(1), match.group(2)


def answer(request: Recorded) -> Reply:
    first, second = asked(request)
    if "excavator" in (first, second) and "heron" in (first, second):
        return Reply.error(500, "overloaded")
    return Reply.text(json.dumps({"differences": [
        {"attribute": "shape", "first": f"a photo of a {first}, round.", "second": f"a photo of a {second}, long."}]}))


def describe(url: str, *argv: str) -> int:
    return main(["describe", "--method", "fudd", "--base-url", url, "--timeout", "2", *argv])


def run_json(path: Path) -> str:
    """An ``evaluate --json`` result: 4 images, classes crane (prompted 'crane bird'), heron, excavator."""
    probabilities = {
        "classname": [[0.1, 0.2, 0.7]] * 4,
        "template": [[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.3, 0.1, 0.6], [0.1, 0.5, 0.4]],
    }
    path.write_text(json.dumps({
        "model": "m", "classes": ["crane", "heron", "excavator"], "class_prompt_names": ["crane bird", "heron",
                                                                                         "excavator"],
        "images": [{"path": f"{i}.png", "label": None} for i in range(4)],
        "strategies": {key: {"probabilities": value} for key, value in probabilities.items()},
    }))
    return str(path)


def test_describe_from_a_pairs_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("# look-alikes\ncrane | heron\nheron | crane\nsedan | hatchback\n")
    out = tmp_path / "fudd.json"
    with FakeLLMServer(responder=answer) as server:
        assert describe(server.url, "--pairs", str(pairs), "--out", str(out)) == 0
    assert len(server.requests) == 2
    data = json.loads(out.read_text())
    assert [p["classes"] for p in data["pairs"]] == [["crane", "heron"], ["sedan", "hatchback"]]
    assert data["pairs"][0]["descriptions"] == [
        {"attribute": "shape", "crane": "a photo of a crane, round.", "heron": "a photo of a heron, long."}]
    assert "Differences for 2 of 2 pairs" in capsys.readouterr().out


def test_describe_from_a_run_asks_about_the_top_k_pairs_most_images_first(tmp_path: Path, capsys) -> None:
    out = tmp_path / "fudd.json"
    with FakeLLMServer(responder=answer) as server:
        code = describe(server.url, "--from-run", run_json(tmp_path / "run.json"), "--fudd-k", "2", "--out", str(out))
    captured = capsys.readouterr()
    # template's top-2 sets: {crane, heron} x2, {crane, excavator}, {heron, excavator}; the last fails
    assert code == 1
    assert "3 look-alike pairs from the top 2 classes of 'template' over 4 images" in captured.err
    assert "failed: heron | excavator" in captured.err and "1 of 3 pairs failed" in captured.err
    assert sorted(asked(r) for r in server.requests)[:2] == [("crane bird", "excavator"), ("crane bird", "heron")]
    data = json.loads(out.read_text())  # asked by prompt name, written under the shown name
    assert [p["classes"] for p in data["pairs"]] == [["crane", "heron"], ["crane", "excavator"]]
    assert data["pairs"][0]["descriptions"][0]["crane"] == "a photo of a crane bird, round."
    with FakeLLMServer(responder=answer) as server:
        code = describe(server.url, "--from-run", str(tmp_path / "run.json"), "--fudd-base", "classname",
                        "--max-pairs", "1", "--out", str(out))
    assert code == 0 and [asked(r) for r in server.requests] == [("crane bird", "heron")]
    assert "1 look-alike pairs from the top 10 classes of 'classname'" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    ([], "exactly one of --pairs FILE or --from-run"),
    (["--pairs", "p.txt", "--from-run", "r.json"], "exactly one of"),
    (["--pairs", "p.txt", "--classes", "c.txt"], "not --classes"),
    (["--from-run", "run.json", "--fudd-k", "11"], "from 2 to 10"),
    (["--from-run", "run.json", "--fudd-base", "waffle"], "no strategy 'waffle'; it has: classname, template"),
    (["--pairs", "missing.txt"], "pairs file"),
])
def test_describe_fudd_usage_errors_exit_2_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, argv: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    run_json(tmp_path / "run.json")
    (tmp_path / "p.txt").write_text("a | b\n")
    with FakeLLMServer(responder=answer) as server:
        assert describe(server.url, *argv, "--out", "o.json") == 2
    assert not server.requests and message in capsys.readouterr().err
    assert main(["describe", "--method", "cupl", "--pairs", "p.txt", "--out", "o.json"]) == 2
    assert "--method fudd only" in capsys.readouterr().err


def test_evaluate_scores_fudd_beside_its_base_and_writes_its_entry(
    tiny_clip_dir: Path, labeled_folder: Path, tmp_path: Path, capsys
) -> None:
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps({"pairs": [
        {"classes": ["cat", "dog"], "descriptions": [
            {"attribute": "ears", "cat": "a photo of a cat, with pointed ears.", "dog": "a photo of a dog, with floppy ears."}]},
        {"classes": ["Bird", "cat"], "descriptions": [
            {"attribute": "body", "Bird": "a photo of a bird, with feathers.", "cat": "a photo of a cat, with fur."}]},
        {"classes": ["bird", "dog"], "descriptions": [
            {"attribute": "mouth", "bird": "a photo of a bird, with a beak.", "dog": "a photo of a dog, with a snout."}]},
    ]}))
    out = tmp_path / "result.json"
    code = main(["evaluate", "--model", str(tiny_clip_dir), "--images", str(labeled_folder), "--strategy", "template",
                 "--strategy", "fudd", "--fudd", str(pairs), "--fudd-k", "2", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert re.search(r"FuDD: top 2 classes of Template re-scored; top class changed for \d+ of 6 images", printed)
    data = json.loads(out.read_text())
    fudd = data["strategies"]["fudd"]
    assert fudd["label"] == "FuDD" and len(fudd["probabilities"]) == 6 and fudd["metrics"]["top1"] is not None
    assert fudd["fudd"]["k"] == 2 and fudd["fudd"]["base"] == "Template" and not fudd["fudd"]["base_computed"]
    assert all(len(row) == 2 for row in fudd["fudd"]["ambiguous_sets"])
    assert [{p["a"], p["b"]} for p in data["paired"]] == [{"fudd", "template"}]
    alone = main(["evaluate", "--model", str(tiny_clip_dir), "--images", str(labeled_folder), "--strategy", "fudd",
                  "--fudd", str(pairs), "--json", str(out)])
    assert alone == 0
    entry = json.loads(out.read_text())["strategies"]["fudd"]
    assert entry["fudd"]["base_computed"] and entry["fudd"]["k"] == 3  # k capped by the three classes
    assert entry["fudd"]["base"] == "Template “a photo of a {}.”"
    assert any("scored for FuDD only" in note for note in entry["notes"])


def test_evaluate_fudd_refuses_bad_inputs_before_loading_a_model(tmp_path: Path, labeled_folder: Path, capsys) -> None:
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps({"pairs": [{"classes": ["cat", "dog"], "descriptions": []}]}))
    base = ["evaluate", "--model", str(tmp_path / "no-model"), "--images", str(labeled_folder), "--strategy", "fudd"]
    for extra, message in (([], "needs differential descriptions"),
                           (["--fudd", str(pairs), "--fudd-k", "1"], "from 2 to 10"),
                           (["--fudd", str(pairs), "--fudd-base", "cupl"], "needs descriptions"),
                           (["--fudd", str(pairs), "--fudd-base", "nope"], "Unknown strategy 'nope'"),
                           (["--fudd", str(tmp_path / "none.json")], "Cannot read")):
        assert main(base + extra) == 2
        assert message in capsys.readouterr().err


def test_prompts_lists_each_classs_captions_from_the_authors_files(tmp_path: Path, capsys) -> None:
    (tmp_path / "pets_class_names.json").write_text(json.dumps(["Abyssinian", "american bulldog", "beagle"]))
    (tmp_path / "pets_prompt_pairs.json").write_text(json.dumps({
        "0_1": {"classes": [0, 1], "prompt_pairs": [{"attr_type": "ears", "prompt_pair": [
            "a photo of a abyssinian, a breed of cat, with large ears.",
            "a photo of a american bulldog, a breed of dog, with small ears."]}]},
        "1_2": {"classes": [1, 2], "prompt_pairs": [{"attr_type": "size", "prompt_pair": [
            "a photo of a american bulldog, a breed of dog, stocky.", "a photo of a beagle, a breed of dog, small."]}]},
    }))
    assert main(["prompts", "--strategy", "fudd", "--fudd", str(tmp_path / "pets_prompt_pairs.json")]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "Abyssinian": ["a photo of a abyssinian, a breed of cat, with large ears."],
        "american bulldog": ["a photo of a american bulldog, a breed of dog, with small ears.",
                             "a photo of a american bulldog, a breed of dog, stocky."],
        "beagle": ["a photo of a beagle, a breed of dog, small."],
    }
