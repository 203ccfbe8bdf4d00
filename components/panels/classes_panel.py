"""Step 2 of the page: the class list, with presets, import/export and live validation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from components.panels.downloads import download_file
from components.panels import messages
from components.panels.events import PAGE_ONLY
from components.panels.local_files import local_only
from components.tables import plural
from prompting.classes import parse_class_list, read_class_file
from prompting.data.examples import EXAMPLE_CLASSES
from prompting.errors import PromptingError
from prompting.service.config import RunLimits
from prompting.strategies.classsets import CLASS_SETS, get_class_set

EXAMPLES_PRESET = "examples"
CLASSES_HELP = (
    "One class per line. To show one name but prompt another, write `shown | prompted`, "
    "e.g. `crane | crane bird`."
)


@dataclass
class ClassesPanel:
    """Handles of the classes card."""

    box: gr.Textbox
    status: gr.Markdown
    preset: gr.Dropdown
    import_button: gr.UploadButton
    export_button: gr.Button
    export_file: gr.File


def preset_choices() -> list[tuple[str, str]]:
    """Dropdown entries: the example photos' classes, then the core's class sets."""
    return [("Example photos (10 classes)", EXAMPLES_PRESET)] + [
        (f"{cls.title} ({len(cls.classes)} classes)", key) for key, cls in CLASS_SETS.items()
    ]


def build_classes_panel() -> ClassesPanel:
    """The classes card."""
    with gr.Column(elem_classes=["step-card"]):
        gr.Markdown("### 2 · Classes", elem_classes=["step-title"])
        gr.Markdown(CLASSES_HELP, elem_classes=["help"])
        preset = gr.Dropdown(
            preset_choices(), value=None, label="Start from a preset", elem_id="preset-picker",
            info="Replaces the list below (and the custom templates, for data-set presets).",
        )
        box = gr.Textbox(
            value=EXAMPLE_CLASSES, lines=9, max_lines=16, label="Class list", show_label=False,
            placeholder="cat\ndog\ncrane | crane bird", elem_id="classes-box",
        )
        status = gr.Markdown(class_status(EXAMPLE_CLASSES), elem_id="classes-status", elem_classes=["status-line"])
        with gr.Row():
            import_button = local_only(gr.UploadButton(
                "Import list (.txt)", file_types=[".txt"], size="sm", variant="secondary", elem_id="import-classes",
            ))
            export_button = gr.Button("Export list", size="sm", variant="secondary", elem_id="export-classes")
        export_file = gr.File(label="Class list file", visible=False, interactive=False, height=70)
    return ClassesPanel(box, status, preset, import_button, export_button, export_file)


def wire_classes_panel(panel: ClassesPanel, templates_box: gr.Textbox) -> None:
    """Validate while typing; load presets (with their templates), import and export lists."""
    panel.box.change(class_status, panel.box, panel.status, show_progress="hidden", **PAGE_ONLY)
    panel.preset.input(_load_preset, panel.preset, [panel.box, templates_box], **PAGE_ONLY)
    panel.import_button.upload(_import_list, panel.import_button, panel.box, **PAGE_ONLY)
    panel.export_button.click(_export_list, panel.box, panel.export_file, **PAGE_ONLY)


def class_status(text: str, max_classes: int = RunLimits().max_classes) -> str:
    """A one-line verdict on the class list: the count, or what is wrong with it."""
    try:
        classes = parse_class_list(text or "")
    except PromptingError as exc:
        return f"⚠️ {messages.markdown(exc)}"
    if len(classes) > max_classes:
        return f"⚠️ {len(classes)} classes: one run accepts at most {max_classes}."
    renamed = sum(1 for cls in classes if cls.prompt != cls.display)
    extra = f" · {renamed} prompted under another name" if renamed else ""
    if len(classes) == 1:
        return (f"⚠️ 1 class{extra}: a softmax over one class is always 1.00, so add at least one more class "
                "(the ones the images could be mistaken for).")
    return f"✓ {plural(len(classes), 'class')}{extra}"


def _load_preset(key: str | None) -> tuple[Any, Any]:
    if not key:
        return gr.skip(), gr.skip()
    if key == EXAMPLES_PRESET:
        return EXAMPLE_CLASSES, gr.skip()
    try:
        preset = get_class_set(key)
    except PromptingError as exc:
        raise messages.error(exc, title="Could not load the preset") from exc
    return "\n".join(preset.classes), "\n".join(preset.templates)


def _import_list(path: str | None) -> Any:
    if not path:
        return gr.skip()
    try:
        classes = read_class_file(path)
    except PromptingError as exc:
        raise messages.error(exc, title="Could not import the class list") from exc
    return "\n".join(cls.to_line() for cls in classes)


def _export_list(text: str) -> Any:
    try:
        classes = parse_class_list(text or "")
    except PromptingError as exc:
        raise messages.error(exc, title="Nothing to export") from exc
    path = download_file("classes.txt", "\n".join(cls.to_line() for cls in classes) + "\n")
    return gr.File(value=path, visible=True)
