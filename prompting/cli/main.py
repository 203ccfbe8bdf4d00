"""Headless CLI: ``python -m prompting prompts|evaluate|select|export-head|describe|embed|presets``.

Bad input exits with status 2 and one specific line on stderr; results go to stdout. Output paths
are checked before any work starts. ``evaluate`` scores the strategies that can run and exits with
status 1 when another could not (each named on stderr); a failed write also exits with status 1,
and Ctrl-C with 130 (what was encoded is cached). Progress (with the time left, once batches have
been timed) is drawn on stderr when it is a terminal.
Start-up stays light: the language-model stack is imported only by ``describe``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from prompting.classes import ClassName, as_class_names, read_class_file
from prompting.data.datasets import scan_folder, with_classes
from prompting.data.store import open_store
from prompting.encoding.models import DEFAULT_MODEL, QUANTIZATIONS, DualEncoder, load_model
from prompting.cli.process_exit import EXIT_INTERRUPTED
from prompting.encoding.workers import shutdown_workers
from prompting.errors import ClassListError, PromptingError
from prompting.evaluation.compare import ImageInput, ProgressFn, compare, encode_images, score_strategies, unique_keys
from prompting.evaluation.disambiguation import confusable_pairs
from prompting.evaluation.export import comparison_to_dict, one_class_note, paired_rows, seed_spread
from prompting.evaluation.paired import PairedComparison, paired_comparisons
from prompting.evaluation.results import Comparison
from prompting.evaluation.stored import encoded_from_store
from prompting.evaluation.template_selection import read_selection_file
from prompting.storage import atomic_write_json
from prompting.strategies.autoclip import DEFAULT_BETA, AutoClipOptions
from prompting.strategies.classsets import get_class_set, list_class_sets
from prompting.strategies.descriptions import load_descriptions
from prompting.strategies.fudd import DEFAULT_K, FuddOptions
from prompting.strategies.fudd_pairs import load_pairs
from prompting.strategies.matching import DescriptionMatch, match_descriptions
from prompting.strategies.registry import (
    WEIGHTED,
    PromptPlan,
    StrategySpec,
    build_prompts,
    get_strategy,
    list_strategies,
)
from prompting.strategies.templates import read_template_file
from prompting.strategies.waffle import WaffleOptions, character_pool_from

EXIT_FAILED = 1
EXIT_USAGE = 2
INTERRUPTED = "interrupted: what was done so far is cached; run the same command again to resume."
DESCRIBED = ("cupl", "dclip")
SKIPPED_SHOWN = 20
MAX_WAFFLE_COUNT = 100  # WaffleCLIP descriptors of each kind, as the app allows (the paper uses 15)
# The strategy each optional input is for: given without it, the input is ignored with a warning.
INPUT_OWNERS = {"cupl": "cupl", "dclip": "dclip", "fudd": "fudd", "fudd_base": "fudd", "selected": "selected",
                "zpe_reference": "zpe", "concept": "waffle", "waffle_characters_from": "waffle", "seed": "waffle"}


def count(maximum: int) -> Callable[[str], int]:
    """An argparse type accepting whole numbers from 0 to ``maximum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not 0 <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{text!r} must be from 0 to {maximum}")
        return value

    return parse


def add_strategy_inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--classes", help="class list file: one class per line, 'display | prompt name' allowed")
    parser.add_argument("--preset", choices=list_class_sets(), help="a built-in class list instead of --classes")
    parser.add_argument("--templates", help="template file for the 'template' strategy: one per line, with {}")
    parser.add_argument("--cupl", help="CuPL JSON file: {class: [sentence, ...]}")
    parser.add_argument("--dclip", help="DCLIP JSON file: {class: [descriptor, ...]}")
    parser.add_argument("--seed", type=int, action="append",
                        help="WaffleCLIP seed, repeat for several (default: the one seed 0; the paper reports mean ± "
                             "std over the 7 seeds 0-6: --seed 0 ... --seed 6)")
    parser.add_argument("--waffle-words", type=count(MAX_WAFFLE_COUNT), default=15,
                        help=f"WaffleCLIP random-word descriptors, at most {MAX_WAFFLE_COUNT} (15)")
    parser.add_argument("--waffle-chars", type=count(MAX_WAFFLE_COUNT), default=15,
                        help=f"WaffleCLIP random-character descriptors, at most {MAX_WAFFLE_COUNT} (15)")
    parser.add_argument("--concept", help="WaffleCLIP high-level concept, e.g. 'bird'")
    parser.add_argument("--waffle-characters-from", metavar="FILE",
                        help="draw WaffleCLIP's random characters from the characters of this DCLIP descriptors file, "
                             "as the reference does per data set (default: those of DCLIP's ImageNet file)")
    parser.add_argument("--selected", help="the JSON file `select` wrote: its templates for the 'selected' strategy")
    parser.add_argument("--beta", type=float, default=DEFAULT_BETA,
                        help=f"AutoCLIP: target entropy as a share of the uniform weights' ({DEFAULT_BETA})")
    parser.add_argument("--autoclip-objective", choices=("cosine", "logit"), default="cosine",
                        help="AutoCLIP: logsumexp over raw cosines (reference code; default) or scaled logits")
    parser.add_argument("--zpe-reference", help="ZPE: a folder of unlabelled pretraining-like images (e.g. a LAION "
                        "sample) for the paper's main normalisation; default: normalise with the scored images only")
    parser.add_argument("--fudd", help="FuDD pair descriptions: our JSON, or the authors' <dataset>_prompt_pairs.json "
                        "(its <dataset>_class_names.json beside it)")
    parser.add_argument("--fudd-base", help="FuDD's base strategy (default: the template 'a photo of a {}.')")
    parser.add_argument("--fudd-k", type=int, default=DEFAULT_K, help=f"FuDD: classes re-scored per image, 2 to 10 "
                        f"({DEFAULT_K})")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="python -m prompting", description="Prompt Workbench, headless.")
    sub = parser.add_subparsers(dest="command", required=True)

    prompts = sub.add_parser("prompts", help="print the prompts a strategy writes, as JSON {class: [prompt, ...]}")
    prompts.add_argument("--strategy", required=True, help=f"one of: {', '.join(list_strategies())}")
    add_strategy_inputs(prompts)
    prompts.set_defaults(func=run_prompts)

    evaluate = sub.add_parser("evaluate", help="score strategies on a folder of images and compare them")
    evaluate.add_argument("--model", default=DEFAULT_MODEL, help=f"hub id or local directory ({DEFAULT_MODEL})")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", help="image folder: DIR/<class>/<image> (labelled) or flat")
    source.add_argument("--embeddings", metavar="STORE", help="an embedding store built by `embed` (no image encoding)")
    evaluate.add_argument("--strategy", action="append", required=True, help="strategy to compare (repeatable)")
    evaluate.add_argument("--json", dest="json_out", help="write all results as JSON to this file")
    evaluate.add_argument("--device", help="torch device (default: cuda if present, else cpu)")
    evaluate.add_argument(
        "--quantize", choices=QUANTIZATIONS,
        help="int8: dynamic int8 quantisation of the encoders' linear layers (CPU only; faster, slightly "
             "different scores, cached separately)",
    )
    add_strategy_inputs(evaluate)
    evaluate.set_defaults(func=run_evaluate)

    presets = sub.add_parser("presets", help="list built-in class lists, or print one's classes or templates")
    presets.add_argument("name", nargs="?", choices=list_class_sets())
    presets.add_argument("--templates", action="store_true", help="print the preset's templates instead of classes")
    presets.set_defaults(func=run_presets)

    from prompting.cli.describe import add_describe_parser
    from prompting.cli.embed import add_embed_parser
    from prompting.cli.export_head import add_export_head_parser
    from prompting.cli.select import add_select_parser

    add_select_parser(sub)
    add_export_head_parser(sub)
    add_describe_parser(sub)
    add_embed_parser(sub)
    return parser


def _descriptions(args: argparse.Namespace, name: str) -> dict[str, list[str]] | None:
    path = getattr(args, name, None)
    return load_descriptions(Path(path)) if path else None


def resolve_classes(
    args: argparse.Namespace, specs: list[StrategySpec], folder_classes: list[str] | None = None
) -> list[ClassName]:
    """Classes from --classes, --preset, the image folders, or a CuPL/DCLIP file's keys (or the
    names in a FuDD pairs file)."""
    if args.classes:
        return read_class_file(args.classes)
    if args.preset:
        return get_class_set(args.preset).class_names()
    if folder_classes:
        return as_class_names(folder_classes)
    for name in DESCRIBED:
        data = next((spec.descriptions for spec in specs if spec.name == name and spec.descriptions), None)
        if data:
            return as_class_names(list(data))
    pairs = next((spec.fudd.pairs for spec in specs if spec.fudd and spec.fudd.pairs), None)
    if pairs:
        return as_class_names(list(dict.fromkeys(name for pair in pairs for name in (pair.first, pair.second))))
    raise ClassListError("No classes given: pass --classes FILE or --preset NAME.")


def strategy_specs(args: argparse.Namespace, names: list[str]) -> list[StrategySpec]:
    """Specs for the named strategies with the inputs the arguments provide (each file read once).

    ZPE and AutoCLIP weight the --templates file's templates, else the 80 ImageNet templates;
    ``selected`` takes its templates from the --selected file written by ``select``.
    """
    warn_unused_inputs(args, names)
    own = read_template_file(args.templates) if args.templates else None
    templates = own if own is not None or not args.preset else list(get_class_set(args.preset).templates)
    source = getattr(args, "waffle_characters_from", None)
    characters = character_pool_from(load_descriptions(Path(source)).values()) if source else None
    waffle = WaffleOptions(
        n_words=args.waffle_words, n_chars=args.waffle_chars, seeds=tuple(args.seed or [0]), concept=args.concept,
        characters=characters,
    )
    fudd_base = args.fudd_base if "fudd" in names else None
    descriptions = {name: _descriptions(args, name) for name in DESCRIBED if name in names or name == fudd_base}
    autoclip = AutoClipOptions(beta=args.beta, objective=args.autoclip_objective)

    def spec(name: str) -> StrategySpec:
        if name == "selected" and args.selected:
            return read_selection_file(args.selected)
        pool = own if get_strategy(name).aggregation in WEIGHTED else templates
        return StrategySpec(name=name, templates=pool, descriptions=descriptions.get(name), waffle=waffle,
                            autoclip=autoclip)

    specs = [spec(name) for name in names]
    if "fudd" in names:
        pairs = load_pairs(Path(args.fudd)).pairs if args.fudd else []
        options = FuddOptions(pairs, spec(fudd_base) if fudd_base else None, args.fudd_k)
        specs = [replace(s, fudd=options) if s.name == "fudd" else s for s in specs]
    return specs


def warn_unused_inputs(args: argparse.Namespace, names: list[str]) -> None:
    """One warning on stderr for each input given for a strategy that was not asked for (FuDD's
    base strategy counts as asked for)."""
    used = set(names) | ({args.fudd_base} if "fudd" in names and args.fudd_base else set())
    for option, owner in INPUT_OWNERS.items():
        if getattr(args, option, None) is not None and owner not in used:
            flag = "--" + option.replace("_", "-")
            print(f"warning: {flag} is used only by --strategy {owner}; it was ignored.", file=sys.stderr)


def description_matches(specs: list[StrategySpec], classes: list[ClassName]) -> dict[str, DescriptionMatch]:
    """How each CuPL/DCLIP spec's file keys matched the classes, by result key."""
    return {
        key: match_descriptions(classes, spec.descriptions)
        for key, spec in zip(unique_keys(specs), specs)
        if spec.name in DESCRIBED and spec.descriptions
    }


def _report_lines(matches: dict[str, DescriptionMatch], plans: dict[str, PromptPlan]) -> list[str]:
    """Per strategy: the match summary, then any other note its prompt plan carries."""
    lines = []
    for key, plan in plans.items():
        match = matches.get(key)
        known = match.notes() if match else []
        lines += [f"{key}: {match.summary()}"] if match else []
        lines += [f"{key}: note: {note}" for note in plan.notes if note not in known]
    return lines


def run_prompts(args: argparse.Namespace) -> int:
    """Print the prompts of one strategy as JSON; how a descriptions file matched goes to stderr."""
    spec = strategy_specs(args, [args.strategy])[0]
    classes = resolve_classes(args, [spec])
    plan = build_prompts(spec, classes)
    for line in _report_lines(description_matches([spec], classes), {spec.name: plan}):
        print(line, file=sys.stderr)
    payload = {c.display: prompts for c, prompts in zip(classes, plan.prompts)}
    print(json.dumps(payload, ensure_ascii=False, indent=2))
    return 0


def run_presets(args: argparse.Namespace) -> int:
    """List presets, or print one preset's classes (a valid class file) or its templates."""
    if not args.name:
        for key in list_class_sets():
            preset = get_class_set(key)
            print(f"{key:12s} {preset.title} ({len(preset.classes)} classes, {len(preset.templates)} templates)")
        return 0
    preset = get_class_set(args.name)
    print("\n".join(preset.templates if args.templates else preset.classes))
    return 0


def folder_inputs(args: argparse.Namespace, specs: list[StrategySpec]) -> tuple[list[ClassName], list[ImageInput]]:
    """The classes (see ``resolve_classes``) and the images of --images, labelled by their class
    folders when the folder has them."""
    scanned = scan_folder(Path(args.images))
    classes = resolve_classes(args, specs, scanned.classes if scanned.labeled else None)
    if scanned.labeled:
        scanned = with_classes(scanned, [c.display for c in classes])
    return classes, [ImageInput(path=str(path), label=label) for path, label in scanned.items]


def run_evaluate(args: argparse.Namespace) -> int:
    """Score the strategies that can run on the images (or a stored set), print a comparison table,
    optionally write JSON; status 1 when a strategy could not be scored (see ``runnable_plans``)."""
    if args.json_out:
        check_output_file(args.json_out, "--json")
    specs = strategy_specs(args, distinct_strategies(args.strategy))
    if args.embeddings:
        store = open_store(args.embeddings)
        classes, inputs = resolve_classes(args, specs, store.classes), []
    else:
        classes, inputs = folder_inputs(args, specs)
    plans, errors = runnable_plans(specs, classes)
    specs = [spec for key, spec in zip(unique_keys(specs), specs) if key in plans]
    matches = description_matches(specs, classes)
    encoder = load_model(args.model, device=args.device, quantize=args.quantize)
    add_zpe_reference(args, encoder, specs)
    if args.embeddings:
        stored = encoded_from_store(store, encoder, classes)
        for note in stored.notes:
            print(f"note: {note}", file=sys.stderr)
        with progress_bar("evaluate") as progress:
            comparison = score_strategies(encoder, stored.encoded, classes, specs, strict=False, progress=progress)
    else:
        comparison = _compare_with_progress(encoder, inputs, classes, specs)
    comparison.strategy_errors = {**errors, **comparison.strategy_errors}
    for skipped in comparison.skipped[:SKIPPED_SHOWN]:
        print(f"skipped {skipped['path']}: {skipped['reason']}", file=sys.stderr)
    if len(comparison.skipped) > SKIPPED_SHOWN:
        print(f"... and {len(comparison.skipped) - SKIPPED_SHOWN} more skipped (see --json)", file=sys.stderr)
    for note in (one_class_note(comparison), unreadable_classes_note(comparison, inputs)):
        if note:
            print(f"note: {note}", file=sys.stderr)
    pairs = paired_comparisons(comparison)
    print("\n".join([format_table(comparison, pairs)] + _report_lines(matches, plans)))
    if args.json_out:
        payload = comparison_to_dict(comparison, pairs)
        payload["descriptions_match"] = {key: match.as_dict() for key, match in matches.items()}
        atomic_write_json(Path(args.json_out), payload)
        print(f"wrote {args.json_out}")
    for key, error in comparison.strategy_errors.items():
        print(f"error: {key}: {error}", file=sys.stderr)
    return EXIT_FAILED if comparison.strategy_errors else 0


def unreadable_classes_note(comparison: Comparison, inputs: list[ImageInput]) -> str | None:
    """A note naming the classes whose every image was skipped as unreadable: they are missing
    from the accuracy and its per-class figures."""
    skipped = {item["path"] for item in comparison.skipped}
    scored = {image.label for image in comparison.images}
    lost = sorted({item.label for item in inputs if item.path in skipped and item.label is not None} - scored)
    if not lost:
        return None
    names = ", ".join(repr(comparison.classes[label].display) for label in lost)
    return (f"every image of {names} was unreadable and skipped, so the accuracy leaves "
            f"{'that class' if len(lost) == 1 else 'those classes'} out.")


def distinct_strategies(names: list[str]) -> list[str]:
    """The strategy names in order, each once; a repeat is dropped with a note on stderr."""
    distinct = list(dict.fromkeys(names))
    for name in distinct:
        if names.count(name) > 1:
            print(f"note: --strategy {name} was given {names.count(name)} times; it is scored once.", file=sys.stderr)
    return distinct


def runnable_plans(
    specs: list[StrategySpec], classes: list[ClassName]
) -> tuple[dict[str, PromptPlan], dict[str, str]]:
    """The prompt plan of each strategy that can be built, by result key, and the reason of each
    that cannot. When none can, the error is raised (one strategy) or each reason is printed and
    a PromptingError says that nothing could run (exit status 2, before any model is loaded)."""
    plans, errors = {}, {}
    for key, spec in zip(unique_keys(specs), specs):
        try:
            plans[key] = build_prompts(spec, classes)
        except PromptingError as exc:
            if len(specs) == 1:
                raise
            errors[key] = str(exc)
    if not plans:
        for key, error in errors.items():
            print(f"error: {key}: {error}", file=sys.stderr)
        raise PromptingError("None of the strategies could be scored; fix the inputs named above.")
    return plans, errors


def add_zpe_reference(args: argparse.Namespace, encoder: DualEncoder, specs: list[StrategySpec]) -> None:
    """Encode the --zpe-reference images (any folder; labels are ignored) into the ZPE specs."""
    if not args.zpe_reference or not any(spec.name == "zpe" for spec in specs):
        return
    scanned = scan_folder(Path(args.zpe_reference))
    encoded = encode_images(encoder, [ImageInput(path=str(path)) for path, _ in scanned.items])
    for skipped in encoded.skipped:
        print(f"skipped reference image {skipped['path']}: {skipped['reason']}", file=sys.stderr)
    for spec in specs:
        if spec.name == "zpe":
            spec.zpe_reference = encoded.vectors


@contextmanager
def progress_bar(description: str) -> Iterator[ProgressFn]:
    """A tqdm bar on stderr (hidden when it is not a terminal) fed by ``progress(fraction,
    message)``: the share of the work done and, in its description, what is being encoded and
    the time left."""
    from tqdm import tqdm

    bar_format = "{desc} {percentage:3.0f}%|{bar:24}| {elapsed}"
    with tqdm(total=1.0, desc=description, file=sys.stderr, disable=None, bar_format=bar_format) as bar:
        def progress(fraction: float, message: str) -> None:
            bar.set_description_str(message, refresh=False)
            bar.update(fraction - bar.n)

        yield progress


def _compare_with_progress(encoder, inputs, classes, specs) -> Comparison:
    with progress_bar("evaluate") as progress:
        return compare(encoder, inputs, classes, specs, strict=False, progress=progress)


def format_table(comparison: Comparison, pairs: Sequence[PairedComparison] = ()) -> str:
    """A readable table: accuracy and calibration per strategy (and the paired comparisons of
    ``pairs``), or predictions when unlabelled."""
    stats = comparison.encoder_stats
    lines = [
        f"model: {comparison.model_label}   images: {len(comparison.images)}   "
        f"classes: {len(comparison.classes)}   skipped: {len(comparison.skipped)}",
        f"encoded: {stats.get('prompts_encoded', 0)} prompts, {stats.get('images_encoded', 0)} images   "
        f"from cache: {stats.get('prompts_cached', 0)} prompts, {stats.get('images_cached', 0)} images   "
        f"shared by strategies: {stats.get('prompts_shared', 0)} prompts",
    ]
    if any(result.metrics for result in comparison.strategies.values()):
        lines.append(f"{'strategy':24s} {'top-1':>7s} {'top-5':>7s} {'recall':>7s} {'ECE':>7s} {'NLL':>7s} {'Brier':>7s}")
        for result in comparison.strategies.values():
            m = result.metrics or {}
            spread = seed_spread(result)
            seeds = f"  (per seed {spread[0] * 100:.1f} ± {spread[1] * 100:.1f})" if spread else ""
            lines.append(
                f"{result.label:24s} {_pct(m.get('top1')):>7s} {_pct(m.get('top5')):>7s} "
                f"{_pct(m.get('mean_per_class_recall')):>7s} {_num(m.get('ece')):>7s} {_num(m.get('nll')):>7s} "
                f"{_num(m.get('brier')):>7s}{seeds}"
            )
        if comparison.probability_kind == "sigmoid":
            lines.append("note: SigLIP scores classes independently (sigmoid); calibration uses the softmax over logits.")
    else:
        lines.append("no labels (flat folder): top prediction per image")
        names = [c.display for c in comparison.classes]
        header = f"{'image':28s} " + " ".join(f"{r.label[:22]:>24s}" for r in comparison.strategies.values())
        lines.append(header)
        for index, image in enumerate(comparison.images):
            cells = []
            for result in comparison.strategies.values():
                best = int(result.logits[index].argmax())
                cells.append(f"{names[best][:16]} {result.probabilities[index, best]:.2f}".rjust(24))
            lines.append(f"{image.name[:28]:28s} " + " ".join(cells))
    lines += _paired_lines(list(pairs))
    lines += _fudd_lines(comparison)
    lines += _confusable_lines(comparison)
    lines += [f"note on {result.label}: {warning}" for result in comparison.strategies.values()
              for warning in result.warnings]
    for key, error in comparison.strategy_errors.items():
        lines.append(f"{key}: not scored: {error}")
    return "\n".join(lines)


def _paired_lines(pairs: list[PairedComparison]) -> list[str]:
    """Each pair, better strategy first: top-1 difference with its interval, McNemar and Holm p."""
    if not pairs:
        return []
    lines = [
        f"paired comparisons on {pairs[0].n_images} labelled images (top-1 difference in points, 95% bootstrap "
        f"interval; exact McNemar p; Holm-adjusted over {len(pairs)} pairs):"
    ]
    for row in paired_rows(pairs):
        first, second, difference, only_first, only_second, p_value, holm, _, verdict = row
        lines.append(f"  {first} vs {second}: {difference}  only one right: {only_first} vs {only_second}  "
                     f"p={p_value}  holm={holm}  {verdict}")
    return lines


def _fudd_lines(comparison: Comparison) -> list[str]:
    """What each FuDD result did: its set size and base, the images it changed, missing pairs."""
    lines = []
    for result in comparison.strategies.values():
        details = result.fudd
        if details is None:
            continue
        line = (f"{result.label}: top {details.k} classes of {details.base_label} re-scored; top class changed for "
                f"{len(details.changes)} of {len(comparison.images)} images")
        if details.missing_pairs:
            line += (f"; {len(details.missing_pairs)} of {len(details.pairs)} look-alike pairs had no descriptions "
                     f"({details.images_missing} images used 'a photo of a {{class}}.')")
        lines.append(line + (" (base scored for FuDD only)" if details.base_computed else ""))
    return lines


def _confusable_lines(comparison: Comparison, top: int = 3) -> list[str]:
    """The class pairs whose prompts the model can hardly tell apart, per strategy."""
    names = [c.display for c in comparison.classes]
    lines = []
    for result in comparison.strategies.values():
        if result.class_text_vectors is None or len(names) < 2:
            continue
        pairs = confusable_pairs(result.class_text_vectors, top)
        listed = ", ".join(f"{names[p.first]} ~ {names[p.second]} ({p.similarity:.2f})" for p in pairs)
        lines.append(f"look-alike class names under {result.label} (text cosine): {listed}")
    return lines


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def check_output_file(path: str, option: str) -> None:
    """PromptingError unless a file can be written at ``path``: not a folder, and in a folder
    that exists (or can be created) and is writable. Checked before any work starts."""
    if Path(path).is_dir():
        raise PromptingError(f"{option} '{path}' is a directory; give a file name.")
    _check_writable_folder(Path(path).parent, path, option)


def check_output_folder(path: str, option: str) -> None:
    """PromptingError unless ``path`` is a writable folder or one that can be created there."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise PromptingError(f"{option} '{path}' is a file; give a directory (new or existing) to write into.")
    _check_writable_folder(target, path, option)


def _check_writable_folder(folder: Path, path: str, option: str) -> None:
    """Try writing a temporary file in ``folder``, or in its nearest existing parent when it is to
    be created; a PromptingError naming ``option`` when that fails."""
    existing = folder.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise PromptingError(f"{option} '{path}' cannot be created: '{existing}' is a file, not a folder.")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise PromptingError(f"{option} '{path}' cannot be written: no file can be created in '{existing}' "
                             f"({exc.strerror or exc}); choose another place.") from exc


def main(argv: list[str] | None = None) -> int:
    """Run the CLI. PromptingError becomes one line on stderr and exit status 2; a failed write
    (OSError) one line and status 1; Ctrl-C one line, the image workers stopped, status 130."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except PromptingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        where = f" ('{exc.filename}')" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}; check the path and free space, then run the command again.",
              file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        shutdown_workers(wait=False)
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
