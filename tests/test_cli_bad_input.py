"""The CLI under bad input: unusable output paths, a strategy that cannot run among good ones,
repeated strategies, inputs for strategies not asked for, unbounded sizes, a failed late write
and Ctrl-C. Each is one clear line and loses no other work."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from prompting.cli import main as cli_main
from prompting.cli.main import main
from tests.conftest import make_image

REPO = Path(__file__).resolve().parents[1]
INTERRUPTED = "interrupted: what was done so far is cached; run the same command again to resume."


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def _one_error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_unusable_output_paths_are_refused_before_any_work(
    tmp_path: Path, labeled_folder: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_main, "load_model", lambda *a, **k: pytest.fail("work started"))
    a_file = Path(_write(tmp_path / "file.txt", "cat\ndog\n"))
    model, images = str(tmp_path / "no-model"), str(labeled_folder)
    cases = [
        (["evaluate", "--images", images, "--strategy", "classname", "--json", str(tmp_path)],
         f"error: --json '{tmp_path}' is a directory; give a file name."),
        (["select", "--images", images, "--json", str(tmp_path)],
         f"error: --json '{tmp_path}' is a directory; give a file name."),
        (["evaluate", "--images", images, "--strategy", "classname", "--json", str(a_file / "r.json")],
         f"error: --json '{a_file / 'r.json'}' cannot be created: '{a_file}' is a file, not a folder."),
        (["export-head", "--strategy", "classname", "--classes", str(a_file), "--out", str(a_file)],
         f"error: --out '{a_file}' is a file; give a directory (new or existing) to write into."),
        (["embed", "--images", images, "--out", str(a_file)],
         f"error: --out '{a_file}' is a file; give a directory (new or existing) to write into."),
    ]
    for argv, expected in cases:
        assert main([argv[0], "--model", model, *argv[1:]]) == 2
        assert _one_error(capsys) == expected
    assert a_file.read_text(encoding="utf-8") == "cat\ndog\n"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc, where no file can be created")
def test_an_output_folder_where_nothing_can_be_created_is_refused(tmp_path: Path, labeled_folder: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    for argv, option, path in (
        (["evaluate", "--images", str(labeled_folder), "--strategy", "classname", "--json", "/proc/x.json"], "--json",
         "/proc/x.json"),
        (["export-head", "--strategy", "classname", "--preset", "cifar10", "--out", "/proc/head"], "--out",
         "/proc/head"),
    ):
        assert main([argv[0], "--model", str(tmp_path / "no-model"), *argv[1:]]) == 2
        line = _one_error(capsys)
        assert line.startswith(f"error: {option} '{path}' cannot be written: no file can be created in '/proc' (")
        assert line.endswith("); choose another place.")


def test_a_failed_late_write_is_one_line_and_status_1(tiny_clip_dir: Path, flat_folder: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(path: Path, payload: object) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(cli_main, "atomic_write_json", full_disk)
    out = tmp_path / "r.json"
    assert main(["evaluate", "--model", str(tiny_clip_dir), "--images", str(flat_folder), "--classes",
                 _write(tmp_path / "c.txt", "cat\ndog\n"), "--strategy", "classname", "--json", str(out)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: No space left on device ('{out}'); check the path and free space, then run the command again.")


def test_a_strategy_that_cannot_run_does_not_stop_the_others(tiny_clip_dir: Path, labeled_folder: Path,
                                                             tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cupl = _write(tmp_path / "partial.json", json.dumps({"bird": ["a bird"], "cat": ["a cat"]}))
    out = tmp_path / "r.json"
    code = main(["evaluate", "--model", str(tiny_clip_dir), "--images", str(labeled_folder), "--strategy",
                 "classname", "--strategy", "cupl", "--cupl", cupl, "--json", str(out)])
    assert code == 1
    captured = capsys.readouterr()
    reason = "The CuPL descriptions have no entries for: dog. Add them (generate or edit) or remove those classes."
    assert captured.err.strip().splitlines()[-1] == f"error: cupl: {reason}"
    data = json.loads(out.read_text())
    assert list(data["strategies"]) == ["classname"] and data["strategies"]["classname"]["metrics"]["top1"] is not None
    assert data["strategy_errors"] == {"cupl": reason}
    assert f"cupl: not scored: {reason}" in captured.out


def test_when_no_strategy_can_run_each_reason_is_named_and_nothing_is_loaded(
    tmp_path: Path, labeled_folder: Path, capsys: pytest.CaptureFixture
) -> None:
    partial = _write(tmp_path / "partial.json", json.dumps({"bird": ["a bird"]}))
    code = main(["evaluate", "--model", str(tmp_path / "no-model"), "--images", str(labeled_folder), "--strategy",
                 "cupl", "--strategy", "dclip", "--cupl", partial, "--dclip", partial])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert [line.split(":")[:2] for line in err[:2]] == [["error", " cupl"], ["error", " dclip"]]
    assert "cat, dog" in err[0] and "cat, dog" in err[1]
    assert err[2] == "error: None of the strategies could be scored; fix the inputs named above."


def test_a_repeated_strategy_is_scored_once(tiny_clip_dir: Path, flat_folder: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "r.json"
    assert main(["evaluate", "--model", str(tiny_clip_dir), "--images", str(flat_folder), "--classes",
                 _write(tmp_path / "c.txt", "cat\ndog\n"), "--strategy", "classname", "--strategy", "ensemble7",
                 "--strategy", "classname", "--json", str(out)]) == 0
    assert "note: --strategy classname was given 2 times; it is scored once." in capsys.readouterr().err
    data = json.loads(out.read_text())
    assert list(data["strategies"]) == ["classname", "ensemble7"]


def test_inputs_for_strategies_not_asked_for_are_named_and_ignored(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    missing = str(tmp_path / "nope.json")
    assert main(["prompts", "--strategy", "classname", "--classes", _write(tmp_path / "c.txt", "cat\ndog\n"),
                 "--cupl", missing, "--fudd", missing, "--selected", missing, "--zpe-reference", missing,
                 "--seed", "2"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"cat": ["cat"], "dog": ["dog"]}
    assert captured.err.strip().splitlines() == [
        "warning: --cupl is used only by --strategy cupl; it was ignored.",
        "warning: --fudd is used only by --strategy fudd; it was ignored.",
        "warning: --selected is used only by --strategy selected; it was ignored.",
        "warning: --zpe-reference is used only by --strategy zpe; it was ignored.",
        "warning: --seed is used only by --strategy waffle; it was ignored.",
    ]
    dclip = _write(tmp_path / "d.json", json.dumps({"cat": ["whiskers"], "dog": ["a snout"]}))
    pairs = _write(tmp_path / "p.json", json.dumps({"pairs": [{"classes": ["cat", "dog"], "descriptions": [
        {"attribute": "ears", "cat": "a cat, pointed ears.", "dog": "a dog, floppy ears."}]}]}))
    assert main(["prompts", "--strategy", "fudd", "--fudd", pairs, "--fudd-base", "dclip", "--dclip", dclip,
                 "--fudd-k", "2"]) == 0
    assert capsys.readouterr().err == ""  # FuDD's base strategy uses --dclip
    assert main(["prompts", "--strategy", "classname", "--classes", str(tmp_path / "c.txt"), "--fudd-base",
                 "dclip", "--dclip", dclip]) == 0
    assert capsys.readouterr().err.strip().splitlines() == [
        "warning: --dclip is used only by --strategy dclip; it was ignored.",
        "warning: --fudd-base is used only by --strategy fudd; it was ignored.",
    ]


@pytest.mark.parametrize(("argv", "message"), [
    (["prompts", "--strategy", "waffle", "--classes", "c.txt", "--waffle-words", "1000000000"],
     "argument --waffle-words: '1000000000' must be from 0 to 100"),
    (["describe", "--method", "cupl", "--classes", "c.txt", "--out", "o.json", "--n", "100000"],
     "argument --n: '100000' is more than the maximum, 40"),
    (["embed", "--images", "photos", "--out", "store", "--batch-size", "100000"],
     "argument --batch-size: '100000' is more than the maximum, 1024"),
    (["describe", "--method", "cupl", "--classes", "c.txt", "--out", "o.json", "--timeout", "nan"],
     "argument --timeout: 'nan' must be a finite number greater than 0"),
    (["describe", "--method", "cupl", "--classes", "c.txt", "--out", "o.json", "--timeout", "inf"],
     "argument --timeout: 'inf' must be a finite number greater than 0"),
])
def test_sizes_and_timeouts_are_bounded(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(f"error: {message}")


def test_waffle_counts_stop_at_the_apps_maximum(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    classes = _write(tmp_path / "c.txt", "cat\n")
    with pytest.raises(SystemExit):
        main(["prompts", "--strategy", "waffle", "--classes", classes, "--waffle-chars", "101"])
    assert capsys.readouterr().err.strip().endswith("argument --waffle-chars: '101' must be from 0 to 100")
    assert main(["prompts", "--strategy", "waffle", "--classes", classes, "--waffle-words", "100",
                 "--waffle-chars", "0"]) == 0
    assert len(json.loads(capsys.readouterr().out)["cat"]) == 100


def test_ctrl_c_in_process_stops_queued_image_work_and_returns_130(
    tiny_clip_dir: Path, flat_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from prompting.encoding import workers

    release = threading.Event()
    pool = workers._workers()
    running = [pool.submit(release.wait) for _ in range(pool._max_workers)]
    queued = [pool.submit(release.wait) for _ in range(3)]

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_main, "load_model", interrupted)
    codes: list[int] = []
    argv = ["evaluate", "--model", str(tiny_clip_dir), "--images", str(flat_folder), "--classes",
            _write(tmp_path / "c.txt", "cat\ndog\n"), "--strategy", "classname"]
    caller = threading.Thread(target=lambda: codes.append(main(argv)))
    caller.start()
    caller.join(timeout=60)  # waiting for the running work (held until release) would never end
    assert not caller.is_alive() and codes == [130]
    assert _one_error(capsys) == INTERRUPTED
    assert all(future.cancelled() for future in queued)
    release.set()
    assert all(future.result(timeout=5) for future in running)


def _shards_done(store: Path) -> int:
    """Shards the store's manifest lists as written (0 while it is missing or being replaced)."""
    try:
        return len(json.loads((store / "manifest.json").read_text(encoding="utf-8"))["shards"])
    except (OSError, ValueError, KeyError):
        return 0


def _vectors_cached(cache: Path) -> int:
    """Embeddings committed to the vector cache so far (0 before it exists)."""
    path = cache / "embeddings.sqlite3"
    if not path.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.1)) as db:
            return int(db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
    except sqlite3.Error:
        return 0


def _interrupt(args: list[str], cache: Path, started: Callable[[], bool]) -> subprocess.CompletedProcess:
    """Run ``python -m prompting ARGS`` in a new process and send it SIGINT once ``started()``."""
    env = {**os.environ, "ZSP_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    # python -m prompting, with Ctrl-C raising KeyboardInterrupt even where this process ignores SIGINT
    code = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            f"sys.argv = ['prompting', *{args!r}]; runpy.run_module('prompting', run_name='__main__')")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not started() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)  # a hang fails here
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def _run(args: list[str], cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ZSP_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "prompting", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def _assert_interrupted(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == INTERRUPTED
    assert "Traceback" not in proc.stderr


def test_ctrl_c_during_evaluate_is_one_line_status_130_and_the_rerun_resumes(tiny_clip_dir: Path,
                                                                             tmp_path: Path) -> None:
    for index in range(800):
        make_image(tmp_path / "many" / f"img{index:03d}.png", 900 + index, (64, 64))
    cache, out = tmp_path / "cache", tmp_path / "r.json"
    args = ["evaluate", "--model", str(tiny_clip_dir), "--images", str(tmp_path / "many"), "--classes",
            _write(tmp_path / "c.txt", "cat\ndog\n"), "--strategy", "classname", "--json", str(out)]
    _assert_interrupted(_interrupt(args, cache, lambda: _vectors_cached(cache) > 0))
    assert not out.exists()
    rerun = _run(args, cache)
    assert rerun.returncode == 0, rerun.stderr
    encoder = json.loads(out.read_text())["encoder"]
    assert 16 <= encoder["images_cached"] < 800 and encoder["images_encoded"] == 800 - encoder["images_cached"]


def test_ctrl_c_during_embed_is_one_line_status_130_and_the_rerun_resumes(tiny_clip_dir: Path,
                                                                          tmp_path: Path) -> None:
    for index in range(160):
        make_image(tmp_path / "many" / f"img{index:03d}.png", 500 + index, (96, 96))
    store, cache = tmp_path / "store", tmp_path / "cache"
    args = ["embed", "--model", str(tiny_clip_dir), "--images", str(tmp_path / "many"), "--out", str(store),
            "--batch-size", "1", "--shard-size", "2"]
    _assert_interrupted(_interrupt(args, cache, lambda: _shards_done(store) > 0))
    rerun = _run(args, cache)
    assert rerun.returncode == 0, rerun.stderr
    done = int(rerun.stdout.split(" already done")[0].rsplit(" ", 1)[1])
    assert "160 of 160 inputs embedded" in rerun.stdout and 1 <= done < 80


def test_a_class_whose_every_image_is_unreadable_is_named(tiny_clip_dir: Path, labeled_folder: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    for image in (labeled_folder / "cat").glob("*.png"):
        image.write_bytes(b"no longer an image")  # the folder's broken.jpg was unreadable already
    assert main(["evaluate", "--model", str(tiny_clip_dir), "--images", str(labeled_folder), "--strategy",
                 "classname"]) == 0
    assert ("note: every image of 'cat' was unreadable and skipped, so the accuracy leaves that class out."
            in capsys.readouterr().err)
    make_image(labeled_folder / "cat" / "cat0.png", seed=1)  # one readable cat again: no note
    assert main(["evaluate", "--model", str(tiny_clip_dir), "--images", str(labeled_folder), "--strategy",
                 "classname"]) == 0
    assert "was unreadable and skipped, so" not in capsys.readouterr().err


def test_one_class_is_flagged_for_softmax_models(tiny_clip_dir: Path, flat_folder: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    from prompting.evaluation.export import ONE_CLASS

    args = ["evaluate", "--model", str(tiny_clip_dir), "--images", str(flat_folder), "--strategy", "classname"]
    assert main([*args, "--classes", _write(tmp_path / "one.txt", "cat\n")]) == 0
    assert f"note: {ONE_CLASS}" in capsys.readouterr().err
    assert main([*args, "--classes", _write(tmp_path / "two.txt", "cat\ndog\n")]) == 0
    assert ONE_CLASS not in capsys.readouterr().err


def test_ctrl_c_during_describe_does_not_wait_for_a_request_in_flight(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from fake_llm_server import SECRET_KEY, FakeLLMServer, Reply

    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.setenv("ZSP_LLM_MODEL", "test-model")
    slow = Reply.text("- fins", delay=90)  # answered long after the test's 30 s limit on the process
    with FakeLLMServer(responder=lambda request: slow) as server:
        proc = _interrupt(["describe", "--method", "dclip", "--classes", _write(tmp_path / "c.txt", "tench\ncarp\n"),
                           "--out", str(tmp_path / "d.json"), "--base-url", server.url, "--timeout", "80"],
                          tmp_path / "cache", lambda: len(server.requests) > 0)
    _assert_interrupted(proc)
    assert not (tmp_path / "d.json").exists()
