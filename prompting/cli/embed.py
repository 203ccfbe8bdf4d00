"""``python -m prompting embed``: encode a data set's images once into an embedding store.

The store (see ``prompting.data.store``) is filled shard by shard, in one process
(``--engine local``) or on a Ray cluster (``--engine ray``); re-running the same command
resumes a killed run. Unreadable images are skipped and listed, and the run goes on; when no
input could be embedded, the command exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from prompting.cli.describe import positive
from prompting.data.engines import LocalEngine, RayEngine
from prompting.data.sources import open_source
from prompting.data.store import DEFAULT_BATCH_SIZE, DEFAULT_SHARD_SIZE, BuildReport, StoreBuilder
from prompting.encoding.models import DEFAULT_MODEL, load_model
from prompting.errors import StoreError

SKIPPED_SHOWN = 10
MAX_BATCH_SIZE = 1024  # decoded images held at once: about 0.6 GB as float32 at 224 x 224
RAY_ONLY = ("address", "workers", "cpus_per_worker", "gpus_per_worker")


def add_embed_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``embed`` on the CLI's subparsers."""
    parser = sub.add_parser("embed", help="encode a data set's images once into an embedding store")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"hub id or local directory ({DEFAULT_MODEL})")
    parser.add_argument(
        "--images", required=True, metavar="SOURCE",
        help="image folder (DIR/<class>/<image> or flat), Hugging Face imagefolder with metadata, text file of "
             "paths (optionally 'path<TAB>class'), a data set saved with save_to_disk, or webdataset .tar shards",
    )
    parser.add_argument("--out", required=True, metavar="STORE", help="store folder (re-run to resume)")
    parser.add_argument("--split", help="split of a saved Hugging Face DatasetDict")
    parser.add_argument("--engine", choices=("local", "ray"), default="local", help="where to encode (local)")
    parser.add_argument("--address", help="ray: join this cluster (e.g. 10.0.0.1:6379); default: start a local one")
    parser.add_argument("--workers", type=positive(int), help="ray: model replicas (actors) (1)")
    parser.add_argument("--cpus-per-worker", type=positive(float), help="ray: CPUs reserved per worker (1)")
    parser.add_argument("--gpus-per-worker", type=float, help="ray: GPUs per worker (1 when the cluster has GPUs)")
    parser.add_argument("--batch-size", type=positive(int, MAX_BATCH_SIZE),
                        help=f"images per forward pass, at most {MAX_BATCH_SIZE} ({DEFAULT_BATCH_SIZE})")
    parser.add_argument("--shard-size", type=positive(int), help=f"images per shard file ({DEFAULT_SHARD_SIZE})")
    parser.add_argument("--device", help="torch device (default: cuda if present, else cpu)")
    parser.set_defaults(func=run_embed)


def run_embed(args: argparse.Namespace) -> int:
    """Build or resume the store; print what was done."""
    if args.engine == "local":
        given = [f"--{name.replace('_', '-')}" for name in RAY_ONLY if getattr(args, name) is not None]
        if given:
            raise StoreError(f"{', '.join(given)} only apply with --engine ray.")
    from prompting.cli.main import check_output_folder

    check_output_folder(args.out, "--out")
    source = open_source(args.images, args.split)
    encoder = load_model(args.model, device=args.device)
    builder = StoreBuilder(Path(args.out), source, {"name": args.model, "identity": encoder.identity},
                           args.shard_size, args.batch_size)
    if args.engine == "ray":
        engine = RayEngine(args.model, source.spec, args.device, args.address, args.workers or 1,
                           args.cpus_per_worker or 1, args.gpus_per_worker)
    else:
        engine = LocalEngine(args.model, source.spec, args.device)
    started = time.perf_counter()
    with tqdm(total=len(source.items), desc="embed", unit="img", file=sys.stderr, disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = builder.build(engine, progress)
    _print_report(builder, report, time.perf_counter() - started, args.out)
    if not report.embedded:
        raise StoreError(f"None of the {report.inputs} inputs could be embedded (see the reasons above); "
                         "check that --images holds readable images.")
    return 0


def _print_report(builder: StoreBuilder, report: BuildReport, seconds: float, out: str) -> None:
    skipped = builder.manifest["skipped"]
    for item in skipped[:SKIPPED_SHOWN]:
        print(f"skipped {item['id']}: {item['reason']}", file=sys.stderr)
    if len(skipped) > SKIPPED_SHOWN:
        print(f"... and {len(skipped) - SKIPPED_SHOWN} more (listed in the manifest)", file=sys.stderr)
    rate = f", {report.read_now / seconds:.1f} images/s" if report.read_now and seconds > 0 else ""
    print(
        f"store {out}: {report.embedded} of {report.inputs} inputs embedded, {report.skipped} skipped; "
        f"shards: {report.shards_written} written, {report.shards_reused} already done, of {report.shards_total} "
        f"({seconds:.1f} s{rate})"
    )
