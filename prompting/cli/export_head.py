"""``python -m prompting export-head``: a linear strategy as a classifier head on disk.

Writes ``OUT/head.safetensors`` (one float32 tensor ``weight``, classes x D) and ``OUT/head.json``
(model, identity, family, logit scale and bias, temperature, strategy, classes, prompts and,
for ZPE, the template weights). With ``--images`` the strategy is scored on them first: ZPE
learns its weights there, and labelled folders fit the temperature; without, it is 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from prompting.encoding.models import DEFAULT_MODEL, load_model
from prompting.evaluation.compare import encode_images
from prompting.evaluation.head import check_linear, head_for_strategy


def add_export_head_parser(subparsers: Any) -> None:
    """Register the ``export-head`` subcommand (strategy inputs as for ``evaluate``)."""
    from prompting.cli.main import add_strategy_inputs

    parser = subparsers.add_parser(
        "export-head", help="write a strategy's class weights as head.safetensors + head.json",
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"hub id or local directory ({DEFAULT_MODEL})")
    parser.add_argument("--strategy", required=True, help="a linear strategy (every one but autoclip and fudd)")
    parser.add_argument("--images", help="image folder: ZPE's weights; a labelled one also fits the temperature")
    parser.add_argument("--out", required=True, help="folder to write head.safetensors and head.json into")
    parser.add_argument("--device", help="torch device (default: cuda if present, else cpu)")
    add_strategy_inputs(parser)
    parser.set_defaults(func=run_export_head)


def run_export_head(args: argparse.Namespace) -> int:
    """Build the head (scoring on --images when given) and write its two files."""
    from prompting.cli.main import (
        add_zpe_reference,
        check_output_folder,
        folder_inputs,
        resolve_classes,
        strategy_specs,
    )

    check_output_folder(args.out, "--out")
    spec = strategy_specs(args, [args.strategy])[0]
    check_linear(spec.name)
    encoder = load_model(args.model, device=args.device)
    add_zpe_reference(args, encoder, [spec])
    if args.images:
        classes, inputs = folder_inputs(args, [spec])
        encoded = encode_images(encoder, inputs)
    else:
        classes, encoded = resolve_classes(args, [spec]), None
    head = head_for_strategy(encoder, classes, spec, args.model, encoded)
    for path in head.write(Path(args.out)):
        print(f"wrote {path}")
    manifest = head.manifest
    fitted = manifest["temperature_fitted_on_images"]
    where = f"fitted on {fitted} labelled images" if fitted else "not fitted"
    print(f"{len(classes)} classes x {head.weight.shape[1]} dims, strategy {manifest['strategy_label']}, "
          f"temperature {manifest['temperature']:.4g} ({where})")
    return 0
