"""The CLI's fast exit: atexit handlers, buffered output and the exit status survive it, and a
running non-daemon thread is still waited for."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


def test_fast_exit_runs_atexit_handlers_flushes_output_and_keeps_the_status(tmp_path: Path) -> None:
    done = _run("""
        import atexit, sys
        from pathlib import Path
        from prompting.cli.process_exit import exit_process
        folder = Path(sys.argv[1])
        atexit.register(lambda: (folder / "handler-ran").write_text("yes"))
        sys.stdout.write("buffered, no newline")
        exit_process(3)
        """, tmp_path)
    assert done.returncode == 3
    assert done.stdout == "buffered, no newline"
    assert (tmp_path / "handler-ran").read_text() == "yes"


def test_fast_exit_skips_the_teardown_that_a_normal_exit_runs(tmp_path: Path) -> None:
    """An object's finaliser runs at a normal interpreter teardown, not after the fast exit:
    proof that the teardown (the slow part) is what is skipped."""
    script = """
        import sys
        from pathlib import Path
        from prompting.cli.process_exit import exit_process
        folder = Path(sys.argv[1])
        class Marker:
            def __del__(self):
                (folder / "teardown-ran").write_text("yes")
        kept = Marker()
        {exit}
        """
    assert _run(script.format(exit="sys.exit(0)"), tmp_path).returncode == 0
    assert (tmp_path / "teardown-ran").is_file()
    (tmp_path / "teardown-ran").unlink()
    assert _run(script.format(exit="exit_process(0)"), tmp_path).returncode == 0
    assert not (tmp_path / "teardown-ran").exists()


def test_a_running_worker_thread_is_waited_for(tmp_path: Path) -> None:
    done = _run("""
        import sys, threading
        from pathlib import Path
        from prompting.cli.process_exit import exit_process
        folder = Path(sys.argv[1])
        started = threading.Event()
        def work():
            started.set()
            for index in range(200_000):
                pass
            (folder / "worker-finished").write_text("yes")
        threading.Thread(target=work).start()
        started.wait()
        exit_process(0)
        """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "worker-finished").read_text() == "yes"
