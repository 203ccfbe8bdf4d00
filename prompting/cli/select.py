"""``python -m prompting select``: choose templates for your classes on labelled images.

Greedy forward selection from a candidate pool (CLIP's 80 ImageNet templates, the preset's and
your own), validated by k-fold cross-validation against the 80-template ensemble and the single
default template on the same folds; the set written for use is then selected on all images.
The JSON holds ``selected``, ``cv`` (held-out top-1 per set) and ``folds``, plus details.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from prompting.encoding.models import DEFAULT_MODEL, load_model
from prompting.errors import DatasetError
from prompting.evaluation.compare import encode_images
from prompting.evaluation.template_selection import (
    DEFAULT_FOLDS,
    DEFAULT_MAX_TEMPLATES,
    TemplateSelection,
    candidate_pool,
    select_templates,
)
from prompting.storage import atomic_write_json
from prompting.strategies.classsets import get_class_set, list_class_sets
from prompting.strategies.templates import IMAGENET_TEMPLATES, read_template_file


def add_select_parser(subparsers: Any) -> None:
    """Register the ``select`` subcommand."""
    parser = subparsers.add_parser(
        "select", help="choose templates for your classes by cross-validated greedy selection on labelled images",
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"hub id or local directory ({DEFAULT_MODEL})")
    parser.add_argument("--images", required=True, help="labelled image folder: DIR/<class>/<image>")
    parser.add_argument("--classes", help="class list file (default: the class folders' names)")
    parser.add_argument("--preset", choices=list_class_sets(),
                        help="a built-in class list; its templates join the pool")
    parser.add_argument("--templates", help="your own candidate templates: one per line, with {}")
    parser.add_argument("--no-imagenet", action="store_true", help="leave CLIP's 80 ImageNet templates out of the pool")
    parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS, help=f"folds ({DEFAULT_FOLDS})")
    parser.add_argument("--max-templates", type=int, default=DEFAULT_MAX_TEMPLATES,
                        help=f"largest set to select ({DEFAULT_MAX_TEMPLATES})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fold split (0)")
    parser.add_argument("--json", dest="json_out", required=True, help="write the selection as JSON to this file")
    parser.add_argument("--device", help="torch device (default: cuda if present, else cpu)")
    parser.set_defaults(func=run_select)


def run_select(args: argparse.Namespace) -> int:
    """Select, print the held-out comparison, write the JSON."""
    from prompting.cli.main import check_output_file, folder_inputs, progress_bar

    check_output_file(args.json_out, "--json")
    classes, inputs = folder_inputs(args, [])
    if any(item.label is None for item in inputs):
        raise DatasetError("Template selection needs labelled images: put them in DIR/<class>/<image> folders.")
    pool = candidate_pool(
        () if args.no_imagenet else IMAGENET_TEMPLATES,
        get_class_set(args.preset).templates if args.preset else (),
        read_template_file(args.templates) if args.templates else (),
    )
    encoder = load_model(args.model, device=args.device)
    with progress_bar("select") as progress:
        encoded = encode_images(encoder, inputs, lambda fraction, message: progress(0.1 * fraction, message))
        selection = select_templates(encoder, encoded, classes, pool, args.folds, args.max_templates, args.seed,
                                     lambda fraction, message: progress(0.1 + 0.9 * fraction, message))
    for skipped in encoded.skipped:
        print(f"skipped {skipped['path']}: {skipped['reason']}", file=sys.stderr)
    print(format_selection(selection))
    atomic_write_json(Path(args.json_out), selection.to_dict())
    print(f"wrote {args.json_out}")
    return 0


def format_selection(selection: TemplateSelection) -> str:
    """The held-out table, the fold note and the selected templates, for people."""
    data = selection.to_dict()
    n = data["n_images"]
    split = "stratified by class" if data["stratified"] else "not stratified"
    lines = [
        f"pool: {data['pool_size']} templates   images: {n}   folds: {data['folds']} ({split}, seed {data['seed']})   "
        f"at most {data['max_templates']} templates   prompts encoded: {data['encoder']['prompts_encoded']}, "
        f"from cache: {data['encoder']['prompts_cached']}",
    ]
    if data["fold_note"]:
        lines.append(f"note: {data['fold_note']}")
    lines.append("held-out top-1 on the same folds (95% interval; per fold):")
    for name, label in selection.set_labels().items():
        low, high = data["cv_ci95"][name]
        folds = " ".join(f"{fold['top1'][name] * 100:.0f}" for fold in data["per_fold"])
        lines.append(f"  {label:44s} {data['cv'][name] * 100:5.1f}%  ({low * 100:.0f}–{high * 100:.0f}%)   {folds}")
    lines += selection.verdicts()
    lines.append(f"{data['label']}, chosen on all images (use with evaluate --strategy selected --selected FILE):")
    lines += [f"  {step['template']}" for step in data["in_sample"]["steps"]]
    return "\n".join(lines)
