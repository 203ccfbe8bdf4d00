"""Step 1 of the page: the images to classify, and optionally their true classes."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from components.events import PAGE_ONLY
from components.local_files import local_only
from prompting.classes import ClassName, parse_class_line
from prompting.compare import ImageInput
from prompting.errors import PromptingError
from prompting.examples import EXAMPLE_CLASSES, example_images
from prompting.workflows import extract_labelled_zip, match_labels

LABEL_HEADERS = ["Image", "True class (optional)"]
GalleryValue = list[tuple[str, str | None]] | None


@dataclass
class ImagesPanel:
    """Handles of the images card."""

    gallery: gr.Gallery
    labels: gr.Dataframe
    examples_button: gr.Button
    clear_button: gr.Button
    zip_file: gr.UploadButton
    labels_box: gr.Accordion


def build_images_panel() -> ImagesPanel:
    """The images card: upload/paste gallery, example photos, labelled zip, labels table."""
    with gr.Column(elem_classes=["step-card"]):
        gr.Markdown("### 1 · Images", elem_classes=["step-title"])
        gr.Markdown(
            "Drag photos here, paste one from the clipboard, or try the example photos. "
            "Unreadable files are skipped and reported; the rest are scored.",
            elem_classes=["help"],
        )
        gallery = local_only(gr.Gallery(
            label="Your images", show_label=False, sources=["upload", "clipboard"], interactive=True,
            file_types=["image"], type="filepath", columns=3, height=250, object_fit="cover",
            elem_id="images-gallery",
        ))
        with gr.Row():
            examples_button = gr.Button("Use example photos", size="sm", elem_id="examples-btn")
            clear_button = gr.Button("Clear images", size="sm", variant="secondary", elem_id="clear-images-btn")
        with gr.Accordion("Know the true classes? Add them to measure accuracy", open=False,
                          elem_id="labels-accordion") as labels_box:
            gr.Markdown(
                "Type each image's true class below, or upload a **zip of folders named after the classes** "
                "(`cat/1.jpg`, `dog/2.jpg`, ...). With true classes you get accuracy, a confusion matrix and "
                "calibration plots.",
                elem_classes=["help"],
            )
            zip_file = local_only(gr.UploadButton("Upload a labelled set (.zip)", file_types=[".zip"], size="sm",
                                                   elem_id="zip-upload"))
            labels = gr.Dataframe(
                headers=LABEL_HEADERS, datatype=["str", "str"], column_count=2, interactive=True,
                static_columns=[0], max_height=260, wrap=True, label="True classes", elem_id="labels-table",
            )
    return ImagesPanel(gallery, labels, examples_button, clear_button, zip_file, labels_box)


def wire_images_panel(panel: ImagesPanel, classes_box: gr.Textbox) -> None:
    """Keep the labels table in step with the gallery; load examples and zips."""
    quiet = {"show_progress": "hidden", **PAGE_ONLY}
    panel.gallery.change(_sync_labels, [panel.gallery, panel.labels], [panel.labels], **quiet)
    labelled = [panel.gallery, panel.labels, classes_box, panel.labels_box]
    panel.examples_button.click(_load_examples, None, labelled, **PAGE_ONLY)
    panel.clear_button.click(lambda: (None, None), None, [panel.gallery, panel.labels], **quiet)
    panel.zip_file.upload(_load_zip, [panel.zip_file, classes_box], labelled, **PAGE_ONLY)


def display_names(gallery: GalleryValue) -> list[str]:
    """A distinct display name per gallery item: the file name, numbered when repeated."""
    names: list[str] = []
    for path, caption in gallery or []:
        base = (caption or Path(path).name).strip() or "image"
        name, count = base, 2
        while name in names:
            name, count = f"{base} ({count})", count + 1
        names.append(name)
    return names


def _label_lookup(labels: Any) -> dict[str, str]:
    rows = labels.values.tolist() if hasattr(labels, "values") else (labels or [])
    return {str(row[0]): str(row[1] or "").strip() for row in rows if len(row) >= 2 and row[0]}


def _sync_labels(gallery: GalleryValue, labels: Any) -> list[list[str]]:
    known = _label_lookup(labels)
    return [[name, known.get(name, "")] for name in display_names(gallery)]


def _load_examples() -> tuple[Any, ...]:
    try:
        pairs = example_images()
    except PromptingError as exc:
        raise gr.Error(str(exc)) from exc
    gallery = [(str(path), path.name) for path, _ in pairs]
    return gallery, [[path.name, label] for path, label in pairs], EXAMPLE_CLASSES, gr.Accordion(open=True)


def _load_zip(zip_path: str | None, classes_text: str) -> tuple[Any, ...]:
    if not zip_path:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    target = Path(tempfile.mkdtemp(prefix="zip-", dir=get_upload_folder()))
    try:
        items = extract_labelled_zip(zip_path, target)
    except PromptingError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise gr.Error(str(exc), title="Could not use this zip") from exc
    names = [f"{label}/{path.name}" if label else path.name for path, label in items]
    gallery = [(str(path), name) for (path, _), name in zip(items, names)]
    rows = [[name, label or ""] for name, (_, label) in zip(names, items)]
    folders = list(dict.fromkeys(label for _, label in items if label))
    if not folders:
        gr.Info(f"Loaded {len(items)} images without class folders; add true classes in the table if you know them.")
        return gallery, rows, gr.skip(), gr.Accordion(open=True)
    _, unknown = match_labels(folders, _lenient_classes(classes_text))
    if unknown:
        gr.Info(f"Loaded {len(items)} images in {len(folders)} class folders; the class list now holds the folder "
                "names.")
        return gallery, rows, "\n".join(folders), gr.Accordion(open=True)
    gr.Info(f"Loaded {len(items)} images in {len(folders)} class folders, all in your class list.")
    return gallery, rows, gr.skip(), gr.Accordion(open=True)


def _lenient_classes(text: str) -> list[ClassName]:
    """The class lines as written (no validation: an empty or odd list simply matches nothing)."""
    return [cls for cls in (parse_class_line(line) for line in (text or "").splitlines()) if cls is not None]


def image_inputs(gallery: GalleryValue, labels: Any, classes: list[ClassName]) -> tuple[list[ImageInput], list[str]]:
    """The gallery as ``ImageInput`` list with label indices, and labels not in the class list."""
    names = display_names(gallery)
    known = _label_lookup(labels)
    indices, unknown = match_labels([known.get(name, "") for name in names], classes)
    inputs = [
        ImageInput(path=str(path), label=label, name=name)
        for (path, _), name, label in zip(gallery or [], names, indices)
    ]
    return inputs, unknown
