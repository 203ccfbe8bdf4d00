"""CuPL and DCLIP descriptions: generate with the operator's language model or import a JSON
file, then review and edit the text before it is scored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from components.panels.downloads import download_file
from components.panels.events import PAGE_ONLY
from components.panels import messages
from components.panels.cancellable import cancellable, current_cancel
from components.panels.local_files import local_only
from components.tables import descriptions_preview, md_escape
from prompting.classes import parse_class_list
from prompting.errors import LLMError, PromptingError
from prompting.llm.config import LLMConfig
from prompting.llm.generate import (
    Controls,
    GenerationReport,
    generate_concept,
    generate_cupl,
    generate_dclip,
)
from prompting.service.budgets import RequestBudgets
from prompting.service.public_text import public_text_for
from prompting.service.session_store import CancelRegistry
from prompting.strategies.descriptions import export_descriptions, load_descriptions
from prompting.strategies.matching import DescriptionMatch, match_descriptions

KINDS = {"cupl": "CuPL sentences", "dclip": "DCLIP descriptors"}
LLM_JOB = "llm"
FAILURES_SHOWN = 3
MATCH_ROWS_SHOWN = 40
EMPTY_DCLIP = "scored with the one prompt “{class}, which has ”, as DCLIP's code does"


def register_llm(llm: LLMConfig) -> None:
    """Make every message name the language model's server in words and hide its secrets
    (visitors see the model's name, never where the server sends its requests)."""
    messages.register(public_text_for({}, llm))


@dataclass
class DescriptionsEditor:
    """One kind's controls: generate, import, the editable JSON, its check and preview."""

    kind: str
    generate: gr.Button
    upload: gr.UploadButton
    export: gr.Button
    code: gr.Code
    check: gr.Markdown
    preview: gr.Markdown
    export_file: gr.File


@dataclass
class DescriptionsPanel:
    """Handles of the descriptions section."""

    llm_model: gr.Dropdown
    cupl: DescriptionsEditor
    dclip: DescriptionsEditor


def build_descriptions_panel(llm: LLMConfig | None, llm_note: str) -> DescriptionsPanel:
    """CuPL and DCLIP editors side by side, with a shared language-model picker (the operator's list only)."""
    models = list(llm.allowed_models or (llm.model,)) if llm else []
    with gr.Row(equal_height=True):
        with gr.Column(scale=3):
            gr.Markdown(
                "CuPL and DCLIP use descriptions of each class written by a language model. Generate them, or "
                "import a JSON file `{\"class\": [\"text\", ...]}` (the papers' published files load as they "
                "are); then read and edit them before you run. The check under each editor says how its entries "
                "match your classes. DCLIP prompts pick “which is/has” by the descriptor's whole first word "
                "(DCLIP's code tests letters: “antennae” read “which is antennae”).",
                elem_classes=["help"],
            )
            gr.Markdown(md_escape(llm_note), elem_classes=["status-line"], elem_id="llm-note")
        llm_model = gr.Dropdown(
            models, value=models[0] if models else None, label="Language model", visible=bool(models), scale=1,
            elem_id="llm-model",
        )
    editors = {}
    with gr.Row(equal_height=False):
        for kind, title in KINDS.items():
            with gr.Column(variant="panel"):
                gr.Markdown(f"#### {title}", elem_classes=["section-title"])
                editors[kind] = _build_editor(kind, llm is not None)
    return DescriptionsPanel(llm_model, editors["cupl"], editors["dclip"])


def _build_editor(kind: str, can_generate: bool) -> DescriptionsEditor:
    with gr.Row():
        generate = gr.Button(
            "Generate", size="sm", variant="primary", interactive=can_generate,
            elem_id=f"{kind}-generate",
        )
        upload = local_only(gr.UploadButton("Import JSON", file_types=[".json"], size="sm", elem_id=f"{kind}-import"))
        export = gr.Button("Export JSON", size="sm", variant="secondary", elem_id=f"{kind}-export")
    code = gr.Code("", language="json", lines=8, max_lines=10, label=f"{KINDS[kind]} (editable JSON)",
                   wrap_lines=True, elem_id=f"{kind}-json")
    check = gr.Markdown("", elem_classes=["status-line"], elem_id=f"{kind}-check")
    with gr.Accordion("Preview", open=False):
        preview = gr.Markdown(descriptions_preview({}), elem_id=f"{kind}-preview")
    export_file = gr.File(visible=False, interactive=False, height=70, label="Descriptions file")
    return DescriptionsEditor(kind, generate, upload, export, code, check, preview, export_file)


def wire_descriptions_panel(
    panel: DescriptionsPanel, llm: LLMConfig | None, classes_box: gr.Textbox, guard: LLMGuard
) -> None:
    """Generation (cancellable, within the session's request budget), import, export and a live
    check of the JSON against the class list."""
    for editor, generator in ((panel.cupl, generate_cupl), (panel.dclip, generate_dclip)):
        gr.on(
            [editor.code.change, classes_box.blur], _checker(editor.kind), [editor.code, classes_box],
            [editor.check, editor.preview], show_progress="hidden", **PAGE_ONLY,
        )
        editor.upload.upload(_import, editor.upload, editor.code, **PAGE_ONLY)
        editor.export.click(_exporter(editor.kind), editor.code, editor.export_file, **PAGE_ONLY)
        if llm is not None:
            editor.generate.click(
                cancellable(guard.jobs, LLM_JOB)(_generator(llm, generator, KINDS[editor.kind], guard)),
                [classes_box, panel.llm_model, editor.code], editor.code,
                concurrency_id="llm", concurrency_limit=2, **PAGE_ONLY,
            )


@dataclass
class LLMGuard:
    """What bounds a visitor's requests to the operator's language model: the classes per click
    (the run's class cap), the session's request budget, and the session's jobs (to cancel)."""

    max_classes: int
    requests: RequestBudgets
    jobs: CancelRegistry | None = None

    def controls(self, session: str) -> Controls:
        """The running job's cancel event and a gate that spends the session's budget."""
        return Controls(cancel=current_cancel(), gate=lambda: self.requests.take(session))

    def check(self, n_classes: int, session: str) -> None:
        """Refuse a request for more classes than a run allows, or from a session whose budget
        is used up (LLMError)."""
        if n_classes > self.max_classes:
            raise LLMError(f"Too many classes to describe at once: {n_classes}. This server asks the language "
                           f"model about at most {self.max_classes} per click.")
        self.check_budget(session)

    def check_budget(self, session: str) -> None:
        """Refuse a request from a session whose budget is used up (LLMError)."""
        if self.requests.remaining(session) == 0:
            raise LLMError(f"This session has used all of its {self.requests.per_session} language-model "
                           "requests; import descriptions as a JSON file instead.")


def concept_suggester(llm: LLMConfig, guard: LLMGuard) -> Callable[..., str]:
    """A handler suggesting a WaffleCLIP concept for the class list (one request)."""

    register_llm(llm)

    def suggest(classes_text: str, model: str, request: gr.Request) -> str:
        session = request.session_hash or ""
        try:
            classes = parse_class_list(classes_text)
            guard.check(len(classes), session)
            return generate_concept([cls.prompt for cls in classes], llm.with_allowed_model(model),
                                    controls=guard.controls(session))
        except PromptingError as exc:
            raise messages.error(exc, title="Could not suggest a concept") from exc

    return suggest


def _checker(kind: str) -> Callable[[str, str], tuple[str, str]]:
    return lambda text, classes_text: _check(text, classes_text, kind)


def _check(text: str, classes_text: str, kind: str = "cupl") -> tuple[str, str]:
    """The check line (how the file's keys match the class list) and the preview (how each
    class was matched when not exactly, then the entries)."""
    if not (text or "").strip():
        return "", descriptions_preview({})
    try:
        data = load_descriptions(text)
    except PromptingError as exc:
        return f"⚠️ {messages.markdown(exc)}", descriptions_preview({})
    try:
        match = match_descriptions(parse_class_list(classes_text or ""), data)
    except PromptingError:
        return f"{len(data)} classes described.", descriptions_preview(data)
    blocked = match.missing or (kind == "cupl" and match.empty)
    mark = "⚠️" if blocked else "✓"
    line = f"{mark} {messages.markdown(match.summary())}"
    if kind == "dclip" and match.empty:
        line += f" {md_escape(f'Classes with none are {EMPTY_DCLIP}.')}"
    return line, _match_details(match, kind) + descriptions_preview(data)


def _match_details(match: DescriptionMatch, kind: str) -> str:
    """Markdown rows for every class not matched by its own name, every shared key, empty
    list, missing class and unused key (nothing when all matched exactly); escaped."""
    rows = [f"- **{md_escape(m.display)}** ← “{md_escape(m.key)}” "
            f"({'another published name' if m.kind == 'alias' else 'case, spaces or punctuation differ'})"
            for m in match.inexact]
    rows += [f"- “{md_escape(key)}” serves {', '.join(f'**{md_escape(n)}**' for n in names)} (same entries)"
             for key, names in match.shared_keys.items()]
    empty_note = EMPTY_DCLIP if kind == "dclip" else "add sentences or remove the class"
    rows += [f"- **{md_escape(name)}**: empty list, {md_escape(empty_note)}" for name in match.empty]
    rows += [f"- **{md_escape(name)}**: no entry" for name in match.missing]
    rows += [f"- “{md_escape(key)}” matches no class (ignored)" for key in match.extra]
    if not rows:
        return ""
    more = [f"- _…and {len(rows) - MATCH_ROWS_SHOWN} more_"] if len(rows) > MATCH_ROWS_SHOWN else []
    return "**How the entries match your classes**\n" + "\n".join(rows[:MATCH_ROWS_SHOWN] + more) + "\n\n"


def _import(path: str | None) -> Any:
    if not path:
        return gr.skip()
    try:
        return export_descriptions(load_descriptions(Path(path)))
    except PromptingError as exc:
        raise messages.error(exc, title="Could not import the descriptions") from exc


def _exporter(kind: str) -> Callable[[str], Any]:
    def export(text: str) -> Any:
        try:
            data = load_descriptions(text or "")
        except PromptingError as exc:
            raise messages.error(exc, title="Nothing to export") from exc
        return gr.File(value=download_file(f"{kind}.json", export_descriptions(data)), visible=True)

    return export


def _generator(
    llm: LLMConfig, generate: Callable[..., GenerationReport], title: str, guard: LLMGuard
) -> Callable[..., str]:
    register_llm(llm)

    def run(classes_text: str, model: str, current: str, request: gr.Request,
            progress: gr.Progress = gr.Progress()) -> str:
        session = request.session_hash or ""
        try:
            classes = parse_class_list(classes_text)
            guard.check(len(classes), session)
            config = llm.with_allowed_model(model)
            existing = load_descriptions(current) if (current or "").strip() else {}
        except PromptingError as exc:
            raise messages.error(exc, title=f"Could not generate {title}") from exc
        progress(0, desc=f"Asking {model} for {title}")
        try:
            report = generate(
                [cls.prompt for cls in classes], config,
                progress=lambda done, total, message: progress(done / total, desc=messages.public(message)),
                controls=guard.controls(session),
            )
        except PromptingError as exc:
            raise messages.error(exc, title=f"Could not generate {title}") from exc
        _warn_failures(report, title)
        if not report.descriptions:
            first = next(iter(report.failures.values()), "")
            raise messages.error(f"No {title} were generated. {first}", title="Generation failed")
        messages.info(report.summary())
        return export_descriptions({**existing, **report.descriptions})

    return run


def _warn_failures(report: GenerationReport, title: str) -> None:
    if not report.failures:
        return
    shown = "; ".join(f"{name}: {reason}" for name, reason in list(report.failures.items())[:FAILURES_SHOWN])
    more = f" (and {len(report.failures) - FAILURES_SHOWN} more)" if len(report.failures) > FAILURES_SHOWN else ""
    messages.warning(f"{len(report.failures)} classes got no {title}{more}: {shown}", title="Some classes failed")
