"""Build WaffleCLIP's word pool from DCLIP descriptor files (``assets/words.json``).

WaffleCLIP's ``word_list.pkl`` is the vocabulary of DCLIP's seven GPT descriptor files
(``descriptors_{cub,dtd,eurosat,food101,imagenet,pets,places365}.json``): rebuilt with the rule
in ``prompting.strategies.waffle.word_pool_from`` it is the same 4,330 strings in the same order.
Run from the repository root with the files you downloaded:

    python -m scripts.build_waffle_words descriptors/descriptors_*.json --out assets/words.json

The files are read as published (``json.load``, no cleaning), in the order given; the order
does not change the sorted result. See ``assets/WORDS_SOURCE.md`` for provenance and licence.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from prompting.strategies.waffle import word_pool_from
from prompting.storage import atomic_write_bytes


def read_descriptor_lists(path: Path) -> list[list[str]]:
    """The descriptor lists of one DCLIP-format file, exactly as published."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(
        isinstance(items, list) and all(isinstance(item, str) for item in items) for items in data.values()
    ):
        raise ValueError(f"{path.name} is not a DCLIP descriptor file ({{class: [descriptor, ...]}}).")
    return list(data.values())


def build(paths: list[Path]) -> list[str]:
    """The word pool of the given descriptor files."""
    return word_pool_from(items for path in paths for items in read_descriptor_lists(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.build_waffle_words", description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="DCLIP descriptor JSON files")
    parser.add_argument("--out", type=Path, default=Path("assets/words.json"), help="output (assets/words.json)")
    args = parser.parse_args(argv)
    try:
        words = build(args.files)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    atomic_write_bytes(args.out, (json.dumps(words, ensure_ascii=False, indent=0) + "\n").encode("utf-8"))
    print(f"wrote {len(words)} words from {len(args.files)} files to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
