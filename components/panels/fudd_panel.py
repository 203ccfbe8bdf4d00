"""FuDD in the Class names tab: the run's look-alike pairs (from each image's top-k classes), their
differential descriptions (generate, import, edit, export), and FuDD added beside the run with a
one-click A/B against its base."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from components.panels import messages
from components.panels.cancellable import cancellable, current_cancel
from components.panels.descriptions_panel import LLM_JOB, LLMGuard, register_llm
from components.panels.downloads import download_file
from components.panels.events import PAGE_ONLY
from components.panels.local_files import local_only
from components.panels.results_panel import lookup
from components.tables import fudd_pairs_table, md_escape, pair_descriptions_markdown
from prompting.errors import PromptingError, StrategyError
from prompting.evaluation.compare import Cancelled
from prompting.llm.config import LLMConfig
from prompting.service.config import AppConfig, RunLimits
from prompting.service.fudd_flow import (
    FuddTrial,
    add_fudd,
    base_keys,
    clamp_k,
    default_base,
    described_pairs,
    fudd_trial,
    generate_descriptions,
    latest_fudd,
    look_alike_pairs,
    pair_changes,
)
from prompting.service.session_store import ResultStore, RunRecord
from prompting.service.workflows import read_pairs
from prompting.strategies.fudd import MAX_K, MIN_K
from prompting.strategies.fudd_pairs import load_pair_files, match_pairs, pairs_to_json

HELP = (
    "**Tell look-alike classes apart (FuDD).** For each image, FuDD (Esfandiarpoor & Bach, ICLR 2024) takes the "
    "*k* classes a base strategy ranks highest, and re-scores the image among them with descriptions of how each "
    "pair of those classes looks different (one caption per class and attribute). Classes outside the *k* keep "
    "the base strategy's scores. The paper's base is the single template “a photo of a {}.” with *k* = 10."
)
ADAPTATION = (
    "The language model is asked with our own FuDD-style prompt: the authors' prompt is not published in their "
    "code. Descriptions can also be written here or imported (our JSON or the authors' files)."
)
NO_FUDD_LLM = ("Unavailable: no language model is configured on this server. Import a descriptions file, or "
               "write the descriptions in the editor below.")
JSON_SHAPE = ('The editor holds `{"pairs": [{"classes": [A, B], "descriptions": [{"attribute": …, A: …, B: …}]}]}`: '
              "for each pair, each attribute described once per class.")
PAIRS_SHOWN = 20
PAIR_CHOICES = 100
FAILURES_SHOWN = 3
FUDD = "fudd"


@dataclass
class FuddPanel:
    """Handles of the FuDD section."""

    base: gr.Dropdown
    k: gr.Slider
    pairs: gr.Dataframe
    llm_model: gr.Dropdown
    generate: gr.Button
    upload: gr.UploadButton
    export: gr.Button
    export_file: gr.File
    code: gr.Code
    check: gr.Markdown
    pair: gr.Dropdown
    pair_view: gr.Markdown
    run: gr.Button
    summary: gr.Markdown
    table: gr.Dataframe

    @property
    def outputs(self) -> list[gr.components.Component]:
        """Components ``render_fudd`` fills, in its order."""
        return [self.base, self.k, self.pairs, self.pair, self.summary, self.table]


def build_fudd_panel(config: AppConfig) -> FuddPanel:
    """The FuDD section (call inside the Class names tab)."""
    llm = config.llm
    models = list(llm.allowed_models or (llm.model,)) if llm else []
    with gr.Column(variant="panel", elem_id="fudd-section"):
        gr.Markdown(HELP, elem_classes=["help"])
        gr.Markdown(md_escape(ADAPTATION), elem_classes=["status-line"], elem_id="fudd-adaptation")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                with gr.Row():
                    base = gr.Dropdown(label="Base strategy (its top k classes are re-scored)", elem_id="fudd-base")
                    k = gr.Slider(MIN_K, MAX_K, value=MAX_K, step=1, label="k: classes per image",
                                  info="The paper uses 10; capped by the number of classes.", elem_id="fudd-k")
                pairs = gr.Dataframe(interactive=False, wrap=True, max_height=320, elem_id="fudd-pairs",
                                     label="Look-alike pairs (most images first)")
                pair = gr.Dropdown(label="Pair to read", elem_id="fudd-pair")
                pair_view = gr.Markdown(elem_id="fudd-pair-view")
            with gr.Column(scale=3):
                with gr.Row():
                    generate = gr.Button("Ask the language model about the listed pairs", size="sm",
                                         variant="primary", interactive=llm is not None, elem_id="fudd-generate")
                    upload = local_only(gr.UploadButton("Import JSON", file_types=[".json"], file_count="multiple",
                                                        size="sm", elem_id="fudd-import"))
                    export = gr.Button("Export JSON", size="sm", variant="secondary", elem_id="fudd-export")
                if llm is None:
                    gr.Markdown(NO_FUDD_LLM, elem_classes=["help"], elem_id="fudd-why")
                llm_model = gr.Dropdown(models, value=models[0] if models else None, label="Language model",
                                        visible=len(models) > 1, elem_id="fudd-llm-model")
                gr.Markdown(JSON_SHAPE, elem_classes=["help"], elem_id="fudd-json-shape")
                code = gr.Code("", language="json", lines=10, max_lines=14, wrap_lines=True, elem_id="fudd-json",
                               label="Differential descriptions (editable JSON)")
                check = gr.Markdown(elem_classes=["status-line"], elem_id="fudd-check")
                export_file = gr.File(visible=False, interactive=False, height=70, label="FuDD descriptions file")
        run = gr.Button("Run FuDD and A/B it against the base", variant="primary", elem_id="fudd-run")
        summary = gr.Markdown(visible=False, elem_id="fudd-summary", elem_classes=["summary-box"])
        table = gr.Dataframe(interactive=False, wrap=True, visible=False, elem_id="fudd-table",
                             label="FuDD vs base, per image")
    return FuddPanel(base, k, pairs, llm_model, generate, upload, export, export_file, code, check, pair, pair_view,
                     run, summary, table)


def render_fudd(record: RunRecord) -> list[Any]:
    """Values for ``FuddPanel.outputs``: the base (FuDD's when the run has it), k, the pairs, and
    the A/B when the run has a FuDD result."""
    latest = latest_fudd(record)
    base = latest[1] if latest else default_base(record)
    n_classes = len(record.comparison.classes)
    k = clamp_k(record.sources[latest[0]].spec.fudd.k if latest else None, n_classes)
    choices = [(record.comparison.strategies[key].label, key) for key in base_keys(record)]
    table, pair_choices = _pairs_view(record, base, k)
    values = [
        gr.Dropdown(choices=choices, value=base),
        gr.Slider(maximum=slider_max(n_classes), value=k),
        table,
        gr.Dropdown(choices=pair_choices, value=pair_choices[0][1] if pair_choices else None),
    ]
    if latest is None:
        return values + [gr.Markdown("", visible=False), gr.Dataframe(value=None, visible=False)]
    trial = fudd_trial(record, latest[1], latest[0])
    return values + [gr.Markdown(md_escape(trial.summary()), visible=True),
                     gr.Dataframe(value=trial.table.rows, headers=trial.table.headers, visible=True)]


def slider_max(n_classes: int) -> int:
    """The k slider's top: the class count within 2..10 (a slider needs its top above its bottom,
    so at least 3; the run caps k by the class count)."""
    return max(MIN_K + 1, min(MAX_K, n_classes))


def _pairs_view(record: RunRecord, base: str | None, k: int) -> tuple[Any, list[tuple[str, str]]]:
    """The look-alike pairs table and the pair menu for ``base`` and ``k``."""
    names = [c.display for c in record.comparison.classes]
    if base is None or len(names) < 2:
        return gr.Dataframe(value=[], headers=["Pair"]), []
    k = clamp_k(k, len(names))
    pairs = look_alike_pairs(record, base, k)
    latest = latest_fudd(record)
    changes = None
    if latest and latest[1] == base:
        details = record.comparison.strategies[latest[0]].fudd
        changes = details.changes if details and details.k == k else None
    headers, rows = fudd_pairs_table(names, pairs[:PAIRS_SHOWN], k, changes)
    menu = [(f"{names[p.first]} / {names[p.second]} ({p.images})", f"{p.first},{p.second}")
            for p in pairs[:PAIR_CHOICES]]
    return gr.Dataframe(value=rows, headers=headers), menu


def wire_fudd_panel(
    panel: FuddPanel,
    token: gr.State,
    store: ResultStore,
    config: AppConfig,
    guard: LLMGuard,
    rerender: tuple[list[Any], Callable[[RunRecord], list[Any]]],
) -> None:
    """Pairs, description checks, generation, import/export and the FuDD run. ``rerender`` is the
    results area's outputs and a function filling them from a record, so FuDD joins every tab."""
    limits, llm = config.limits, config.llm
    outputs, render = rerender

    def text_views(tok: str | None, base: str | None, k: float, pair: str | None, text: str) -> tuple[str, str]:
        if not tok:
            return "", ""
        record = lookup(store, tok)
        return _check(record, base, int(k), text or ""), _pair_markdown(record, pair, text or "")

    def repair(tok: str | None, base: str | None, k: float, text: str) -> tuple[Any, ...]:
        record = lookup(store, tok)
        table, menu = _pairs_view(record, base, int(k))
        pair = menu[0][1] if menu else None
        return (table, gr.Dropdown(choices=menu, value=pair), _check(record, base, int(k), text or ""),
                _pair_markdown(record, pair, text or ""))

    def import_files(files: list[str] | None) -> Any:
        if not files:
            return gr.skip()
        try:
            loaded = load_pair_files([Path(f) for f in files])
        except PromptingError as exc:
            raise messages.error(exc, title="Could not import the descriptions") from exc
        messages.info(f"Imported {loaded.summary()}")
        return pairs_to_json(loaded.pairs)

    def export(text: str) -> Any:
        try:
            pairs = read_pairs(text or "", limits).pairs
        except PromptingError as exc:
            raise messages.error(exc, title="Nothing to export") from exc
        return gr.File(value=download_file("fudd_pairs.json", pairs_to_json(pairs)), visible=True)

    @cancellable(guard.jobs, FUDD)
    def run(tok: str | None, base: str | None, k: float, text: str, request: gr.Request,
            progress: gr.Progress = gr.Progress()) -> list[Any]:
        record = lookup(store, tok)
        session = request.session_hash or ""
        event = current_cancel()
        try:
            if base is None:
                raise StrategyError("Choose a base strategy first.")
            k = clamp_k(k, len(record.comparison.classes))
            extended, _ = add_fudd(record, base, text or "", k, limits,
                                   progress=lambda fraction, message: progress(fraction, desc=message), cancel=event)
        except Cancelled:
            return [gr.skip()] * (len(outputs) + 1)
        except PromptingError as exc:
            raise messages.error(exc, title="Could not run FuDD") from exc
        return [store.put(extended, owner=session), *render(extended)]

    gr.on([panel.code.change, token.change], text_views, [token, panel.base, panel.k, panel.pair, panel.code],
          [panel.check, panel.pair_view], show_progress="hidden", **PAGE_ONLY)
    gr.on([panel.base.input, panel.k.release], repair, [token, panel.base, panel.k, panel.code],
          [panel.pairs, panel.pair, panel.check, panel.pair_view], **PAGE_ONLY)
    panel.pair.input(lambda tok, pair, text: _pair_markdown(lookup(store, tok), pair, text or ""),
                     [token, panel.pair, panel.code], panel.pair_view, show_progress="hidden", **PAGE_ONLY)
    panel.upload.upload(import_files, panel.upload, panel.code, **PAGE_ONLY)
    panel.export.click(export, panel.code, panel.export_file, **PAGE_ONLY)
    if llm is not None:
        panel.generate.click(cancellable(guard.jobs, LLM_JOB)(generator(store, llm, limits, guard)),
                             [token, panel.base, panel.k, panel.llm_model, panel.code], panel.code,
                             concurrency_id="llm", concurrency_limit=2, **PAGE_ONLY)
    panel.run.click(run, [token, panel.base, panel.k, panel.code], [token, *outputs],
                    concurrency_id="model", concurrency_limit=2, **PAGE_ONLY)


def generator(store: ResultStore, llm: LLMConfig, limits: RunLimits, guard: LLMGuard) -> Callable[..., str]:
    """The Generate handler: ask about the listed pairs that have no descriptions yet (at most
    ``limits.max_fudd_generate``, within the session's request budget) and merge the answers
    into the editor's JSON."""
    register_llm(llm)

    def generate(tok: str | None, base: str | None, k: float, model: str | None, text: str, request: gr.Request,
                 progress: gr.Progress = gr.Progress()) -> str:
        record = lookup(store, tok)
        session = request.session_hash or ""
        try:
            wanted = _undescribed(record, base, int(k), text or "")[: limits.max_fudd_generate]
            guard.check_budget(session)
            progress(0, desc=f"Asking {model or llm.model} about {len(wanted)} pairs")
            updated, report = generate_descriptions(
                record, wanted, llm.with_allowed_model(model or llm.model), text or "", limits,
                progress=lambda done, total, message: progress(done / total, desc=messages.public(message)),
                controls=guard.controls(session),
            )
        except PromptingError as exc:
            raise messages.error(exc, title="Could not generate descriptions") from exc
        if report.failures:
            shown = "; ".join(f"{name}: {reason}" for name, reason in list(report.failures.items())[:FAILURES_SHOWN])
            messages.warning(f"{len(report.failures)} pairs got no descriptions: {shown}", title="Some pairs failed")
        if not report.pairs:
            raise messages.error("No descriptions were generated.", title="Generation failed")
        messages.info(report.summary())
        return updated

    return generate


def _undescribed(record: RunRecord, base: str | None, k: int, text: str) -> list[tuple[int, int]]:
    """The listed look-alike pairs that the descriptions do not cover yet, most images first."""
    if base is None:
        return []
    described = described_pairs(record, text) if text.strip() else set()
    return [(p.first, p.second) for p in look_alike_pairs(record, base, k)[:PAIRS_SHOWN]
            if (p.first, p.second) not in described]


def _check(record: RunRecord, base: str | None, k: int, text: str) -> str:
    """How the descriptions cover the run's look-alike pairs (escaped Markdown)."""
    if not text.strip():
        return "No differential descriptions yet: ask the language model, import a file, or write them above."
    try:
        loaded = read_pairs(text)
    except PromptingError as exc:
        return f"⚠️ {md_escape(exc)}"
    match = match_pairs(record.comparison.classes, loaded.pairs)
    line = md_escape(loaded.summary())
    if base is not None and len(record.comparison.classes) > 1:
        pairs = look_alike_pairs(record, base, clamp_k(k, len(record.comparison.classes)))
        covered = sum(1 for p in pairs if match.differences.get((p.first, p.second)))
        mark = "✓" if covered == len(pairs) else "⚠️"
        line = f"{mark} {covered} of {len(pairs)} look-alike pairs described. {line}"
    if match.unknown:
        line += f" Names not in the class list: {md_escape(', '.join(match.unknown[:5]))}."
    return line


def _pair_markdown(record: RunRecord, pair: str | None, text: str) -> str:
    """The chosen pair's descriptions and, after a FuDD run, the images it moved between them."""
    names = [c.display for c in record.comparison.classes]
    try:
        first, second = (int(part) for part in (pair or "").split(","))
    except ValueError:
        return ""
    if not (0 <= first < len(names) and 0 <= second < len(names)):
        return ""
    try:
        differences = match_pairs(record.comparison.classes, read_pairs(text).pairs).differences if text.strip() \
            else {}
    except PromptingError:
        differences = {}
    latest = latest_fudd(record)
    changed = None
    if latest is not None:
        trial: FuddTrial = fudd_trial(record, latest[1], latest[0])
        changed = pair_changes(trial, first, second, names)
    return pair_descriptions_markdown(names[first], names[second], differences.get((first, second), []), changed)
