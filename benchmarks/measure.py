"""Timing helpers: whole processes with their peak memory, interleaved repetitions, medians."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ProcessRun:
    """One finished process: wall seconds, peak resident memory (MiB) and what it printed."""

    seconds: float
    peak_rss_mib: float
    stdout: str

    def json(self) -> dict:
        """The last stdout line as JSON (the baselines print one)."""
        return json.loads(self.stdout.strip().splitlines()[-1])


# Runs the command as a child of a fresh, small Python process and writes "peak-KiB seconds" to
# a file. A child forked straight from the benchmark would report the benchmark's own peak memory
# (Linux carries the parent's high-water mark across fork and exec).
LAUNCHER = (
    "import os, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "child = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "seconds = time.perf_counter() - start\n"
    "open(sys.argv[1], 'w').write(f'{usage.ru_maxrss} {seconds}')\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def run_process(args: list[str], env: dict[str, str] | None = None) -> ProcessRun:
    """Run ``python args...`` from the repository root: its wall time and own peak RSS."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error",
                   "TQDM_DISABLE": "1", **(env or {})}
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "peak"
        done = subprocess.run([sys.executable, "-c", LAUNCHER, str(report), sys.executable, *args], cwd=ROOT,
                              env=environment, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"{' '.join(args[:4])} failed ({done.returncode}):\n{done.stderr[-2000:]}")
        peak_kib, seconds = report.read_text().split()
    return ProcessRun(float(seconds), int(peak_kib) / 1024, done.stdout)


def timed(function: Callable[[], object]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def interleave(variants: dict[str, Callable[[], float]], repetitions: int) -> dict[str, list[float]]:
    """Run every variant once per repetition, rotating the order each time so load from other
    processes on the machine falls on all of them alike; each call returns its own measure."""
    names = list(variants)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(repetitions):
        order = names[rep % len(names):] + names[: rep % len(names)]
        for name in order:
            samples[name].append(variants[name]())
            print(f"  {name}: {samples[name][-1]:.3f}", file=sys.stderr, flush=True)
    return samples


def median(values: list[float]) -> float:
    """The median of the repetitions."""
    return float(statistics.median(values))


def paired_ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median over repetitions of numerator / denominator: both ran in the same repetition,
    so a change of load between repetitions cancels instead of landing on one side."""
    return median([a / b for a, b in zip(numerators, denominators, strict=True)])


def spread(values: list[float]) -> str:
    """'median (min-max)' for a table cell."""
    return f"{median(values):.3g} ({min(values):.3g}-{max(values):.3g})"
