"""Step 1 of the page: the images to classify, and optionally their true classes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from components.panels import messages
from components.panels.events import PAGE_ONLY
from components.panels.local_files import local_only
from components.tables import plural
from prompting.classes import ClassName, parse_class_line
from prompting.data.examples import EXAMPLE_CLASSES, example_images
from prompting.encoding.images import IMAGE_EXTENSIONS, load_image
from prompting.errors import PromptingError
from prompting.evaluation.compare import ImageInput
from prompting.service.config import RunLimits
from prompting.service.session_files import SessionFiles
from prompting.service.workflows import labelled_images, match_labels

LABEL_HEADERS = ["Image", "True class (optional)"]
GalleryValue = list[tuple[str, str | None]] | None
# The browser refuses other files with "Only .bmp, .gif, ... allowed" (Gradio's own wording).
ACCEPTED_TYPES = sorted(IMAGE_EXTENSIONS)
FORMATS = "JPEG, PNG, GIF, BMP, WebP or TIFF"
GALLERY_COLUMNS = 3
CHECKED_UPLOADS = 4096


@dataclass
class ImagesPanel:
    """Handles of the images card."""

    gallery: gr.Gallery
    labels: gr.Dataframe
    examples_button: gr.Button
    clear_button: gr.Button
    zip_file: gr.UploadButton
    labels_box: gr.Accordion
    count: gr.Markdown


def build_images_panel() -> ImagesPanel:
    """The images card: upload/paste gallery, example photos, labelled zip, labels table."""
    with gr.Column(elem_classes=["step-card"]):
        gr.Markdown("### 1 · Images", elem_classes=["step-title"])
        gr.Markdown(
            f"Drag photos here ({FORMATS}), paste one from the clipboard, or try the example photos. "
            "Files that are not readable images are removed and reported.",
            elem_classes=["help"],
        )
        gallery = local_only(gr.Gallery(
            label="Your images", show_label=False, sources=["upload", "clipboard"], interactive=True,
            file_types=ACCEPTED_TYPES, type="filepath", columns=GALLERY_COLUMNS, height=250, object_fit="cover",
            elem_id="images-gallery",
        ))
        count = gr.Markdown("", elem_classes=["help"], elem_id="images-count")
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
    return ImagesPanel(gallery, labels, examples_button, clear_button, zip_file, labels_box, count)


def wire_images_panel(panel: ImagesPanel, classes_box: gr.Textbox, files: SessionFiles,
                      limits: RunLimits | None = None) -> None:
    """Keep the labels table in step with the gallery; check uploads; load examples and zips
    (unpacked within the session's bounds, deleted when it ends)."""
    quiet = {"show_progress": "hidden", **PAGE_ONLY}
    cap = (limits or RunLimits()).max_images
    panel.gallery.change(_sync_labels, [panel.gallery, panel.labels], [panel.labels], **quiet)
    labelled = [panel.gallery, panel.labels, classes_box, panel.labels_box]

    def load_zip(zip_path: str | None, classes_text: str, request: gr.Request) -> tuple[Any, ...]:
        return _load_zip(zip_path, classes_text, files, request.session_hash or "")

    filled = (
        panel.gallery.upload(lambda gallery: check_uploads(gallery, cap), panel.gallery, panel.gallery, **quiet),
        panel.examples_button.click(_load_examples, None, labelled, **PAGE_ONLY),
        panel.clear_button.click(lambda: (None, None), None, [panel.gallery, panel.labels], **quiet),
        panel.zip_file.upload(load_zip, [panel.zip_file, classes_box], labelled, **PAGE_ONLY),
    )
    for event in filled:  # the gallery's own change event does not fire for these updates
        event.then(images_count, panel.gallery, panel.count, **quiet)
    panel.gallery.change(images_count, panel.gallery, panel.count, **quiet)  # the visitor's own edits in the gallery


@lru_cache(maxsize=CHECKED_UPLOADS)
def unreadable_reason(path: str) -> str | None:
    """Why the uploaded file at ``path`` is not a usable image, or None when it decodes.

    Uploads live in content-addressed cache folders, so a path's answer never changes and is
    remembered: each file is decoded once however often the gallery changes.
    """
    try:
        load_image(path)
    except PromptingError as exc:
        return str(exc)
    return None


def readable_only(items: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """The (path, shown name) items that decode as images; the others are removed with one warning
    that names them (by their shown name) and says why."""
    kept, dropped = [], []
    for path, caption in items:
        reason = unreadable_reason(str(path))
        if reason is None:
            kept.append((path, caption))
        else:
            dropped.append(reason.replace(f"'{Path(path).name}'", f"'{caption or Path(path).name}'"))
    if dropped:
        shown = " ".join(dropped[:3]) + (f" (and {len(dropped) - 3} more)" if len(dropped) > 3 else "")
        messages.warning(f"Removed {plural(len(dropped), 'file')} that could not be read as an image: {shown} "
                         f"Accepted: {FORMATS}.", title="Not a readable image")
    return kept


def check_uploads(gallery: GalleryValue, max_images: int) -> Any:
    """After an upload: remove files that do not decode as images (saying which and why), and
    warn when there are more images than one run may score."""
    items = list(gallery or [])
    kept = readable_only(items)
    if len(kept) > max_images:
        messages.warning(f"{len(kept)} images are here, but one run scores at most {max_images}. Remove some, or "
                         "split them over several runs.", title="Too many images")
    return kept if len(kept) < len(items) else gr.skip()


def images_count(gallery: GalleryValue) -> str:
    """How many images the gallery holds (it shows about two rows at a time)."""
    count = len(gallery or [])
    if not count:
        return ""
    more = "; scroll the gallery to see them all" if count > GALLERY_COLUMNS * 2 else ""
    return f"{plural(count, 'image')} added{more}."


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
        raise messages.error(exc, title="Could not load the example photos") from exc
    gallery = [(str(path), path.name) for path, _ in pairs]
    return gallery, [[path.name, label] for path, label in pairs], EXAMPLE_CLASSES, gr.Accordion(open=True)


def _load_zip(zip_path: str | None, classes_text: str, files: SessionFiles, session: str) -> tuple[Any, ...]:
    if not zip_path:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    try:
        items = labelled_images(files.unpack(session, zip_path, get_upload_folder()), zip_path)
    except PromptingError as exc:
        raise messages.error(exc, title="Could not use this zip") from exc
    named = [(path, f"{label}/{path.name}" if label else path.name, label) for path, label in items]
    readable = {path for path, _ in readable_only([(str(path), name) for path, name, _ in named])}
    named = [entry for entry in named if str(entry[0]) in readable]
    if not named:
        raise messages.error("None of the files in this zip could be read as an image.", title="Could not use this zip")
    items = [(path, label) for path, _, label in named]
    gallery = [(str(path), name) for path, name, _ in named]
    rows = [[name, label or ""] for _, name, label in named]
    folders = list(dict.fromkeys(label for _, label in items if label))
    if not folders:
        messages.info(f"Loaded {len(items)} images without class folders; add true classes in the table if you know "
                      "them.")
        return gallery, rows, gr.skip(), gr.Accordion(open=True)
    _, unknown = match_labels(folders, _lenient_classes(classes_text))
    if unknown:
        messages.info(f"Loaded {len(items)} images in {len(folders)} class folders; the class list now holds the "
                      "folder names.")
        return gallery, rows, "\n".join(folders), gr.Accordion(open=True)
    messages.info(f"Loaded {len(items)} images in {len(folders)} class folders, all in your class list.")
    return gallery, rows, gr.skip(), gr.Accordion(open=True)


def _lenient_classes(text: str) -> list[ClassName]:
    """The class lines as written (no validation: an empty or odd list simply matches nothing)."""
    return [cls for cls in (parse_class_line(line) for line in (text or "").splitlines()) if cls is not None]


def image_inputs(
    gallery: GalleryValue, labels: Any, classes: list[ClassName]
) -> tuple[list[ImageInput], dict[str, int]]:
    """The gallery as ``ImageInput`` list with label indices, and the true classes not in the class
    list with how many images carry each (in order of first appearance)."""
    names = display_names(gallery)
    known = _label_lookup(labels)
    typed = [known.get(name, "").strip() for name in names]
    indices, unknown = match_labels(typed, classes)
    inputs = [
        ImageInput(path=str(path), label=label, name=name, given_label=text if label is None and text else None)
        for (path, _), name, label, text in zip(gallery or [], names, indices, typed)
    ]
    return inputs, {label: sum(1 for text in typed if text == label) for label in unknown}
