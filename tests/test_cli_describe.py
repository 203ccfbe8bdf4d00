"""The ``describe`` subcommand: output files, exit statuses, messages, no truncated files."""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_llm_server import (
    SECRET_KEY,
    FakeLLMServer,
    Recorded,
    Reply,
    unused_port,
)

from prompting.cli.describe import add_describe_parser, run_describe

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _llm_env(monkeypatch: pytest.MonkeyPatch, isolated_cache: Path) -> Path:
    cache = isolated_cache
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.setenv("ZSP_LLM_MODEL", "env-model")
    monkeypatch.setenv("ZSP_LLM_BACKOFF", "0.001")
    monkeypatch.setenv("ZSP_LLM_MAX_RETRIES", "1")
    return cache


@pytest.fixture
def classes_file(tmp_path: Path) -> Path:
    path = tmp_path / "classes.txt"
    path.write_text("# fish\nTench | tench\naxolotl\ngoldfish\n", encoding="utf-8")
    return path


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m prompting")
    add_describe_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["describe", *argv])


def describe(server_url: str, *argv: str) -> int:
    args = parse("--base-url", server_url, "--timeout", "2", *argv)
    return run_describe(args)


def fish_of(request: Recorded) -> str:
    asked = request.last_user_message
    return next(name for name in ("axolotl", "goldfish", "tench") if name in asked)


def sentences(request: Recorded) -> Reply:
    return Reply(contents=(json.dumps({"sentence": f"A {fish_of(request)} in water"}),), echo_n=True)


def bullets(request: Recorded) -> Reply:
    if fish_of(request) == "goldfish":
        return Reply.error(500, "model overloaded")
    return Reply.text(f"- {fish_of(request)} fins\n- scales")


def test_cupl_writes_published_format_keyed_by_display_name(
    classes_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cupl.json"
    with FakeLLMServer(responder=sentences) as server:
        status = describe(server.url, "--method", "cupl", "--classes", str(classes_file), "--out", str(out), "--n", "2")
    assert status == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert list(data) == ["Tench", "axolotl", "goldfish"]
    assert data["Tench"] == ["A tench in water."] * 10
    assert {r.body["model"] for r in server.requests} == {"env-model"}
    assert "What does a tench look like?" in {r.last_user_message for r in server.requests}
    captured = capsys.readouterr()
    assert "Descriptions for 3 of 3 classes (0 answers from the cache, 15 requested). Wrote 3 classes to" in captured.out
    assert f"endpoint {server.url}, model env-model" in captured.err
    assert SECRET_KEY not in captured.out + captured.err


def test_url_credentials_and_a_key_echoed_in_answers_reach_no_file_message_or_cache(
    classes_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], isolated_cache: Path
) -> None:
    basic = base64.b64encode(b"ops:pa55-word").decode()

    def leaky(request: Recorded) -> Reply:
        if fish_of(request) == "goldfish":
            return Reply.error(500, f"upstream saw Authorization: {request.headers['authorization']}")
        return Reply.text(f"- {fish_of(request)} fins (key {SECRET_KEY}, basic {basic})\n- scales pa55-word")

    out = tmp_path / "dclip.json"
    with FakeLLMServer(responder=leaky) as server:
        url = server.url.replace("http://", "http://ops:pa55-word@")
        status = describe(url, "--method", "dclip", "--classes", str(classes_file), "--out", str(out))
    assert status == 1  # goldfish failed
    assert server.requests[0].headers["authorization"] == f"Basic {basic}"
    written = out.read_text(encoding="utf-8")
    assert json.loads(written)["axolotl"] == ["axolotl fins (key [redacted], [redacted])", "scales [redacted]"]
    captured = capsys.readouterr()
    cached = "".join(path.read_text(encoding="utf-8") for path in isolated_cache.rglob("*.json"))
    assert "goldfish: LLM endpoint" in captured.err and "[redacted]" in captured.err
    for text in (written, captured.out, captured.err, cached):
        for secret in (SECRET_KEY, basic, "pa55-word", "ops:pa55"):
            assert secret not in text


def test_custom_questions_file_and_model_flag(classes_file: Path, tmp_path: Path) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text("What colour is a(n) {}?\n", encoding="utf-8")
    out = tmp_path / "cupl.json"
    with FakeLLMServer(responder=sentences) as server:
        status = describe(
            server.url, "--method", "cupl", "--classes", str(classes_file), "--out", str(out),
            "--questions", str(questions), "--n", "1", "--llm-model", "flag-model", "--temperature", "0.5",
        )
    assert status == 0
    assert sorted(r.last_user_message for r in server.requests) == [
        "What colour is a goldfish?", "What colour is a tench?", "What colour is an axolotl?",
    ]
    assert {(r.body["model"], r.body["temperature"]) for r in server.requests} == {("flag-model", 0.5)}


def test_partial_failure_writes_successes_and_exits_1(
    classes_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dclip.json"
    with FakeLLMServer(responder=bullets) as server:
        status = describe(server.url, "--method", "dclip", "--classes", str(classes_file), "--out", str(out))
    assert status == 1
    assert json.loads(out.read_text(encoding="utf-8")) == {"Tench": ["tench fins", "scales"], "axolotl": ["axolotl fins", "scales"]}
    err = capsys.readouterr().err
    assert f"failed: goldfish: LLM endpoint {server.url} answered 500 Internal Server Error: model overloaded" in err
    assert "error: 1 of 3 classes failed; rerun to retry them (answers are cached)." in err


def test_total_failure_leaves_the_old_output_untouched(
    classes_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dclip.json"
    out.write_text('{"previous": ["run"]}', encoding="utf-8")
    url = f"http://127.0.0.1:{unused_port()}/v1"
    status = describe(url, "--method", "dclip", "--classes", str(classes_file), "--out", str(out))
    assert status == 1
    assert out.read_text(encoding="utf-8") == '{"previous": ["run"]}'
    captured = capsys.readouterr()
    assert "connection refused" in captured.err
    assert "Nothing written to" in captured.out
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_concept(classes_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "concept.json"
    with FakeLLMServer() as server:
        server.queue(Reply.text('{"concept": "They are all fishes."}'))
        status = describe(server.url, "--method", "concept", "--classes", str(classes_file), "--out", str(out))
    assert status == 0
    assert json.loads(out.read_text(encoding="utf-8")) == {"concept": "fish"}


def test_concept_failure_exits_1_without_output(
    classes_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "concept.json"
    with FakeLLMServer(responder=lambda r: Reply.error(401, f"bad key {SECRET_KEY}")) as server:
        status = describe(server.url, "--method", "concept", "--classes", str(classes_file), "--out", str(out))
    assert status == 1 and not out.exists()
    err = capsys.readouterr().err
    assert "401 Unauthorized: check OPENAI_API_KEY" in err and SECRET_KEY not in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "dclip", "--n", "3"], "--n applies to --method cupl only"),
        (["--method", "dclip", "--questions", "q.txt"], "--questions applies to --method cupl only"),
        (["--method", "cupl", "--questions", "missing.txt"], "Cannot read question file"),
        (["--method", "cupl", "--base-url", "localhost:11434"], "is not an http(s) URL"),
    ],
)
def test_usage_errors_exit_2_before_any_request(
    extra: list[str], message: str, classes_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeLLMServer() as server:
        args = parse("--base-url", server.url, "--classes", str(classes_file), "--out", str(tmp_path / "o.json"), *extra)
        assert run_describe(args) == 2
    assert server.requests == []
    assert message in capsys.readouterr().err


def test_bad_class_file_and_out_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("--method", "dclip", "--classes", str(tmp_path / "none.txt"), "--out", str(tmp_path / "o.json"))
    assert run_describe(args) == 2
    assert "Cannot read class list file" in capsys.readouterr().err
    classes = tmp_path / "dupes.txt"
    classes.write_text("cat\nCat\n", encoding="utf-8")
    assert run_describe(parse("--method", "dclip", "--classes", str(classes), "--out", str(tmp_path / "o.json"))) == 2
    assert "Duplicate class names" in capsys.readouterr().err
    classes.write_text("cat\n", encoding="utf-8")
    assert run_describe(parse("--method", "dclip", "--classes", str(classes), "--out", str(tmp_path))) == 2
    assert "is a directory" in capsys.readouterr().err


@pytest.mark.parametrize("flag", [["--n", "0"], ["--temperature", "3"], ["--concurrency", "-1"], ["--method", "x"]])
def test_argparse_rejects_bad_values(flag: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse("--method", "cupl", "--classes", "c.txt", "--out", "o.json", *flag)
    assert caught.value.code == 2


def _env_for(server_url: str, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ZSP_"))}
    env.update(
        OPENAI_BASE_URL=server_url, OPENAI_API_KEY=SECRET_KEY, ZSP_LLM_MODEL="sub-model", ZSP_CACHE_DIR=str(cache),
        ZSP_LLM_BACKOFF="0.001", PYTHONPATH=str(REPO),
    )
    return env


def test_subprocess_run_describe(classes_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "dclip.json"
    code = (
        "import argparse, sys\n"
        "from prompting.cli.describe import add_describe_parser, run_describe\n"
        "p = argparse.ArgumentParser(); add_describe_parser(p.add_subparsers())\n"
        "sys.exit(run_describe(p.parse_args(sys.argv[1:])))\n"
    )
    with FakeLLMServer(responder=bullets) as server:
        result = subprocess.run(
            [sys.executable, "-c", code, "describe", "--method", "dclip", "--classes", str(classes_file), "--out", str(out)],
            env=_env_for(server.url, tmp_path / "cache"), capture_output=True, text=True, timeout=60, check=False,
        )
    assert result.returncode == 1, result.stderr
    assert "failed: goldfish" in result.stderr
    assert SECRET_KEY not in result.stdout + result.stderr
    assert set(json.loads(out.read_text(encoding="utf-8"))) == {"Tench", "axolotl"}
    assert {r.body["model"] for r in server.requests} == {"sub-model"}


def test_python_m_prompting_describe(classes_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "cupl.json"
    with FakeLLMServer(responder=sentences) as server:
        result = subprocess.run(
            [sys.executable, "-m", "prompting", "describe", "--method", "cupl", "--classes", str(classes_file),
             "--out", str(out), "--n", "1"],
            env=_env_for(server.url, tmp_path / "cache"), capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
        )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(out.read_text(encoding="utf-8"))["axolotl"]) == 5
