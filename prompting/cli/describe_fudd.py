"""``python -m prompting describe --method fudd``: differential descriptions of class pairs.

The pairs come from ``--pairs F`` (one ``class A | class B`` per line) or ``--from-run
RESULTS.json`` (an ``evaluate --json`` output: every pair inside an image's top-k classes under
a base strategy, most images first). The output is our FuDD JSON shape (README), written
atomically; exit statuses as for the other methods.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from prompting.errors import DescriptionsError, LLMError
from prompting.llm.config import LLMConfig
from prompting.llm.generate import PairReport, generate_fudd
from prompting.storage import read_user_text
from prompting.strategies.fudd import ambiguous_pairs, ambiguous_sets, check_k
from prompting.strategies.fudd_pairs import parse_pair_lines, save_pairs

EXIT_OK = 0
EXIT_FAILED = 1
PAPER_BASE = "template"


def pairs_from_run(data: Any, base: str | None, k: int) -> tuple[str, list[tuple[str, str]], int]:
    """(base key, pairs of class names, images) from an ``evaluate --json`` result: every pair in
    some image's top-``k`` classes under ``base`` (default: ``template``, else the first
    strategy), most images first. Classes are asked by their prompt names."""
    if not isinstance(data, dict) or not isinstance(data.get("strategies"), dict) or not data["strategies"]:
        raise DescriptionsError("The run file is not an 'evaluate --json' result (no \"strategies\").")
    classes = data.get("class_prompt_names") or data.get("classes")
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise DescriptionsError("The run file needs a \"classes\" list with at least two classes.")
    strategies = data["strategies"]
    key = base or (PAPER_BASE if PAPER_BASE in strategies else next(iter(strategies)))
    if key not in strategies:
        raise DescriptionsError(f"The run has no strategy '{key}'; it has: {', '.join(strategies)}.")
    try:
        scores = np.asarray(strategies[key]["probabilities"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise DescriptionsError(f"The run's '{key}' entry has no usable \"probabilities\".") from exc
    if scores.ndim != 2 or scores.shape[1] != len(classes) or not len(scores):
        raise DescriptionsError(f"The run's '{key}' probabilities do not match its {len(classes)} classes.")
    pairs = ambiguous_pairs(ambiguous_sets(scores, k), len(classes))
    return key, [(classes[p.first], classes[p.second]) for p in pairs], len(scores)


def read_pairs_input(args: Any) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The pairs to ask about and the names to write them under (prompt name -> display name)."""
    if bool(args.pairs) == bool(args.from_run):
        raise DescriptionsError("--method fudd needs exactly one of --pairs FILE or --from-run RESULTS.json.")
    if args.classes:
        raise DescriptionsError("--method fudd takes its classes from --pairs or --from-run, not --classes.")
    try:
        k = check_k(args.fudd_k)
    except ValueError as exc:
        raise DescriptionsError(f"--fudd-k: {exc}") from None
    if args.pairs:
        return parse_pair_lines(read_user_text(args.pairs, "pairs file", DescriptionsError)), {}
    try:
        data = json.loads(read_user_text(args.from_run, "run file", DescriptionsError))
    except json.JSONDecodeError as exc:
        raise DescriptionsError(f"The run file is not valid JSON: {exc.msg} at line {exc.lineno}.") from None
    key, pairs, images = pairs_from_run(data, args.fudd_base, k)
    if args.max_pairs:
        pairs = pairs[: args.max_pairs]
    print(f"{len(pairs)} look-alike pairs from the top {k} classes of '{key}' over {images} images.", file=sys.stderr)
    prompts, shown = data.get("class_prompt_names") or data["classes"], data["classes"]
    return pairs, dict(zip(prompts, shown))


def write_fudd(pairs: list[tuple[str, str]], display: dict[str, str], config: LLMConfig, temperature: float,
               out: Path) -> int:
    """Generate, write the pairs that succeeded (under display names), report failures."""
    with tqdm(total=len(pairs), desc="fudd", unit="pair", file=sys.stderr, disable=None) as bar:

        def progress(done: int, total: int, message: str) -> None:
            bar.set_postfix_str(message)
            bar.update(done - bar.n)

        try:
            report = generate_fudd(pairs, config, progress=progress, temperature=temperature)
        except LLMError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED
    return _finish(report, display, len(pairs), out)


def _finish(report: PairReport, display: dict[str, str], asked: int, out: Path) -> int:
    for pair in report.pairs:
        pair.first, pair.second = display.get(pair.first, pair.first), display.get(pair.second, pair.second)
    for label, reason in report.failures.items():
        print(f"failed: {label}: {reason}", file=sys.stderr)
    if report.pairs:
        save_pairs(out, report.pairs)
    written = f"Wrote {len(report.pairs)} pairs to {out}." if report.pairs else f"Nothing written to {out}."
    print(f"{report.summary()} {written}")
    if report.failures:
        print(f"error: {len(report.failures)} of {asked} pairs failed; rerun to retry them (answers are cached).",
              file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
