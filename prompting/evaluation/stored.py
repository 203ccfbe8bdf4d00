"""A stored embedding set as the scoring half's input: ``EncodedImages`` from a store, with
the store's model and image settings checked against the loaded model. Images are never
re-encoded; each record's ``path`` is its source id."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prompting.classes import ClassName
from prompting.data.datasets import class_positions
from prompting.data.store import EmbeddingStore, StoredRecord
from prompting.encoding.models import DualEncoder
from prompting.errors import StoreError
from prompting.evaluation.compare import EncodedImages
from prompting.evaluation.results import ImageRecord


def check_store_model(store: EmbeddingStore, encoder: DualEncoder) -> list[str]:
    """Refuse a store embedded by another model or with other image preprocessing; return notes
    (a store encoded in another precision, e.g. float16 on a GPU, is accepted with a note)."""
    model = store.model
    if model["identity"] != encoder.identity:
        built, loaded = _readable(model["name"]), _readable(encoder.name)
        if built == loaded:
            raise StoreError(f"The store '{store.name}' was built with another version of the model '{built}' than "
                             "the one loaded; build the store again with `embed`.")
        raise StoreError(f"The store '{store.name}' holds embeddings of another model ('{built}') than the one "
                         f"loaded ('{loaded}'); score it with the model it was built with.")
    stored_dtype = str(model["dtype"])
    if encoder.card.image_settings_key_in(stored_dtype) != model["image_settings_key"]:
        if encoder.quantization:
            raise StoreError(
                f"The store '{store.name}' was embedded without quantisation, so it cannot be scored with "
                f"{encoder.quantization} quantisation; drop --quantize."
            )
        raise StoreError(
            f"The store '{store.name}' was embedded with other image preprocessing than this model's processor "
            "uses now; build the store again with `embed`."
        )
    if stored_dtype != encoder.dtype:
        return [(f"Images were encoded in {stored_dtype} and text here in {encoder.dtype}; scores can differ "
                "from a single-precision run in the third decimal.")]
    return []


def _readable(model_name: str) -> str:
    """A model as people name it: a hub id as is, a local checkpoint folder by its folder name."""
    return Path(model_name).name if Path(model_name).is_dir() else model_name


def store_labels(store: EmbeddingStore, records: list[StoredRecord], classes: list[ClassName]) -> list[int | None]:
    """Each record's position in ``classes``: by class name when the store names its classes
    (every one must be in the list), else the stored index itself (which must be in range)."""
    if store.label_kind == "names":
        positions = class_positions(store.classes or [], [cls.display for cls in classes])
        return [None if record.label is None else positions[record.label] for record in records]
    labels = [record.label for record in records]
    if store.label_kind == "indices":
        highest = max((label for label in labels if label is not None), default=-1)
        if highest >= len(classes):
            raise StoreError(
                f"The store '{store.name}' labels images by class index up to {highest}, but the class list has "
                f"{len(classes)} classes; give the class list the labels were numbered by (--classes or --preset)."
            )
    return labels


@dataclass
class StoredImages:
    """A store as scoring input: vectors, records (path = name = source id) and skipped inputs;
    notes for the reader; and each record's locator in the store's source (for thumbnails)."""

    encoded: EncodedImages
    notes: list[str]
    locators: list[str]


def encoded_from_store(store: EmbeddingStore, encoder: DualEncoder, classes: list[ClassName]) -> StoredImages:
    """Everything the scoring half needs from ``store``, checked against ``encoder``."""
    notes = check_store_model(store, encoder)
    contents = store.load()
    labels = store_labels(store, contents.records, classes)
    records = [ImageRecord(path=r.id, name=r.id, label=label) for r, label in zip(contents.records, labels)]
    skipped = [{"path": item["id"], "reason": item["reason"]} for item in contents.skipped]
    if not records:
        raise StoreError(f"The store '{store.name}' holds no embedded images (all {len(skipped)} were skipped).")
    encoded = EncodedImages(contents.vectors, records, skipped)
    return StoredImages(encoded, notes, [r.locator for r in contents.records])
