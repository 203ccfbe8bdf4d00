"""An embedding store: a folder of shards plus a manifest, built resumably and deterministically.

Layout of ``STORE/``::

    manifest.json                 format, model identity, image settings and decoding policy, source, classes,
                                  counts, skipped inputs with reasons, and each finished shard
    shards/00000.safetensors      "embeddings": float32 rows (L2-normalised), one per readable image
    shards/00000.jsonl            one JSON object per row: id, label, sha256, width, height (as
                                  decoded: at model size, see ``images.load_image``), locator

Shard k holds the source's items ``k * shard_size`` to ``(k + 1) * shard_size - 1`` in the
source's fixed order, encoded in batches of ``batch_size`` cut within the shard, so two runs
(and a resumed run) write byte-identical shards. Each shard's two files are written atomically
and only then entered, with their SHA-256, into the manifest (also written atomically): a
killed run loses at most the shards in flight, and a re-run skips every shard the manifest
lists whose files still match their hashes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from prompting.data.sources import Source, SourceSpec
from prompting.errors import StoreError
from prompting.storage import atomic_write_bytes, atomic_write_json

FORMAT = "prompt-workbench-embeddings"
VERSION = 1
MANIFEST = "manifest.json"
SHARD_DIR = "shards"
EMBEDDINGS_KEY = "embeddings"
DEFAULT_SHARD_SIZE = 1024
DEFAULT_BATCH_SIZE = 32
Batch = dict[str, np.ndarray]
Progress = Callable[[int, int], None]


class Engine(Protocol):
    """Runs ``engines.EncodeBatch`` over input batches and yields its output batches."""

    def encode(self, batches: list[Batch]) -> Iterator[Batch]:
        """Output batches (keys: index, embedding, error, sha256, width, height, encoder)."""
        ...


# How stores built before decoding at model size decoded their images (their manifests say nothing).
FULL_SIZE_DECODE = "full-size"


@dataclass(frozen=True)
class StoredRecord:
    """One embedded image: source id, label, content hash, decoded size and where it was read."""

    id: str
    label: int | None
    sha256: str
    width: int
    height: int
    locator: str


@dataclass
class StoreContents:
    """Every embedded image of a store (vectors aligned with records) and the skipped inputs."""

    vectors: np.ndarray
    records: list[StoredRecord]
    skipped: list[dict[str, str]]


@dataclass
class BuildReport:
    """What one ``build_store`` call did."""

    shards_total: int
    shards_reused: int
    shards_written: int
    inputs: int
    embedded: int
    skipped: int
    read_now: int


class EmbeddingStore:
    """A store on disk, read through its manifest."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest

    @property
    def name(self) -> str:
        """The store's folder name (what the web app shows)."""
        return self.path.name

    @property
    def model(self) -> dict[str, Any]:
        """name, identity, image_settings_key, dtype and dim of the encoder that filled it."""
        return self.manifest["model"]

    @property
    def classes(self) -> list[str] | None:
        """Class names the labels index, or None (labels are then positions in a class list)."""
        return self.manifest["classes"]

    @property
    def label_kind(self) -> str:
        """"names", "indices" or "none" (see ``sources``)."""
        return self.manifest["label_kind"]

    @property
    def source(self) -> SourceSpec:
        """Where the images were read from."""
        return SourceSpec.from_dict(self.manifest["source"])

    @property
    def counts(self) -> dict[str, int]:
        """inputs, embedded and skipped."""
        return self.manifest["counts"]

    @property
    def complete(self) -> bool:
        """True when every shard has been written."""
        return len(self.manifest["shards"]) == self.manifest["shards_total"]

    def load(self) -> StoreContents:
        """All vectors and records in source order; StoreError when incomplete or corrupt."""
        if not self.complete:
            raise StoreError(
                f"The store '{self.name}' is incomplete ({len(self.manifest['shards'])} of "
                f"{self.manifest['shards_total']} shards); run the same embed command again to finish it."
            )
        vectors: list[np.ndarray] = []
        records: list[StoredRecord] = []
        for entry in self.manifest["shards"]:
            shard_vectors, shard_records = read_shard(self.path, entry)
            vectors.append(shard_vectors)
            records.extend(shard_records)
        dim = int(self.model["dim"])
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32)
        return StoreContents(matrix, records, list(self.manifest["skipped"]))


def open_store(path: str | Path) -> EmbeddingStore:
    """The store in ``path``; StoreError when there is none or its manifest is unusable."""
    folder = Path(path)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise StoreError(f"'{folder}' is not an embedding store (no {MANIFEST}); build one with `embed`.")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"The manifest of the store '{folder.name}' cannot be read ({exc}).") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise StoreError(f"'{folder.name}/{MANIFEST}' is not an embedding-store manifest.")
    if manifest.get("version") != VERSION:
        raise StoreError(
            f"The store '{folder.name}' has format version {manifest.get('version')}; this program reads "
            f"version {VERSION}. Rebuild it with `embed`."
        )
    return EmbeddingStore(folder, manifest)


def shard_paths(root: Path, number: int) -> tuple[Path, Path]:
    """The embeddings and records files of shard ``number``."""
    stem = root / SHARD_DIR / f"{number:05d}"
    return stem.with_suffix(".safetensors"), stem.with_suffix(".jsonl")


def read_shard(root: Path, entry: dict[str, Any]) -> tuple[np.ndarray, list[StoredRecord]]:
    """A finished shard's vectors and records, checked against the manifest's hashes."""
    from safetensors.numpy import load

    embeddings_path, records_path = shard_paths(root, entry["number"])
    data = {"embeddings": _checked_bytes(embeddings_path, entry), "records": _checked_bytes(records_path, entry)}
    vectors = load(data["embeddings"])[EMBEDDINGS_KEY]
    records = [StoredRecord(**json.loads(line)) for line in data["records"].decode("utf-8").splitlines()]
    if len(records) != len(vectors) or len(records) != entry["embedded"]:
        raise StoreError(f"Shard {entry['number']} of the store '{root.name}' has mismatched rows.")
    return vectors, records


def _checked_bytes(path: Path, entry: dict[str, Any]) -> bytes:
    kind = "embeddings" if path.suffix == ".safetensors" else "records"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"Shard file '{path.name}' of the store '{path.parent.parent.name}' is missing "
                         f"({exc.strerror or exc}); run the embed command again to rebuild it.") from exc
    if hashlib.sha256(data).hexdigest() != entry["sha256"][kind]:
        raise StoreError(f"Shard file '{path.name}' of the store '{path.parent.parent.name}' does not match its "
                         "hash in the manifest (changed or corrupt); run the embed command again to rebuild it.")
    return data


@dataclass(frozen=True)
class _ShardPlan:
    number: int
    first: int
    count: int


class StoreBuilder:
    """Fills ``out`` from ``source`` shard by shard; re-running resumes (see the module docstring)."""

    def __init__(self, out: Path, source: Source, model: dict[str, str], shard_size: int | None,
                 batch_size: int | None) -> None:
        self.out = Path(out)
        self.source = source
        self.manifest = self._start(model, shard_size, batch_size)

    @property
    def shard_size(self) -> int:
        """Items per shard (fixed when the store was started)."""
        return int(self.manifest["shard_size"])

    @property
    def batch_size(self) -> int:
        """Items per encoder batch (fixed when the store was started)."""
        return int(self.manifest["batch_size"])

    def _start(self, model: dict[str, str], shard_size: int | None, batch_size: int | None) -> dict[str, Any]:
        fingerprint = items_fingerprint(self.source)
        if (self.out / MANIFEST).is_file():
            manifest = open_store(self.out).manifest
            _check_resumable(manifest, self.out, model, fingerprint, shard_size, batch_size)
            return manifest
        if self.out.exists() and any(self.out.iterdir()):
            raise StoreError(f"'{self.out}' exists and is not an embedding store; choose a new or empty folder.")
        shard_size = shard_size or DEFAULT_SHARD_SIZE
        batch_size = batch_size or DEFAULT_BATCH_SIZE
        if shard_size < 1 or batch_size < 1:
            raise StoreError("The shard size and the batch size must be at least 1.")
        items = len(self.source.items)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "model": {**model, "image_settings_key": None, "dtype": None, "dim": None, "decode": None},
            "source": self.source.spec.as_dict(),
            "items_fingerprint": fingerprint,
            "classes": self.source.classes,
            "label_kind": self.source.label_kind,
            "shard_size": shard_size,
            "batch_size": batch_size,
            "shards_total": -(-items // shard_size),
            "counts": {},
            "skipped": [],
            "rejected": list(self.source.rejected),
            "shards": [],
        }
        self._write_manifest(manifest)
        return manifest

    def pending(self) -> list[_ShardPlan]:
        """Shards still to write: not in the manifest, or with files that no longer match."""
        done = {}
        for entry in self.manifest["shards"]:
            try:
                read_shard(self.out, entry)
            except StoreError:
                continue
            done[entry["number"]] = entry
        self.manifest["shards"] = [done[number] for number in sorted(done)]
        total = len(self.source.items)
        return [
            _ShardPlan(number, number * self.shard_size, min(self.shard_size, total - number * self.shard_size))
            for number in range(self.manifest["shards_total"])
            if number not in done
        ]

    def batches(self, plans: list[_ShardPlan]) -> list[Batch]:
        """Encoder input batches of the pending shards, cut within each shard."""
        batches = []
        for plan in plans:
            for start in range(plan.first, plan.first + plan.count, self.batch_size):
                indices = range(start, min(start + self.batch_size, plan.first + plan.count))
                items = [self.source.items[i] for i in indices]
                batches.append({
                    "index": np.array(list(indices), dtype=np.int64),
                    "id": np.array([item.id for item in items], dtype=object),
                    "locator": np.array([item.locator for item in items], dtype=object),
                })
        return batches

    def build(self, engine: Engine, progress: Progress | None = None) -> BuildReport:
        """Encode and write every pending shard; the manifest is complete at the end."""
        plans = self.pending()
        reused = self.manifest["shards_total"] - len(plans)
        by_number = {plan.number: plan for plan in plans}
        waiting: dict[int, list[Batch]] = {}
        total = sum(plan.count for plan in plans)
        done = 0
        self._write_manifest(self.manifest)
        for output in engine.encode(self.batches(plans)):
            number = int(output["index"][0]) // self.shard_size
            waiting.setdefault(number, []).append(output)
            done += len(output["index"])
            if progress:
                progress(done, total)
            if sum(len(batch["index"]) for batch in waiting[number]) == by_number[number].count:
                self._write_shard(by_number[number], waiting.pop(number))
        if waiting:
            raise StoreError(f"The engine returned incomplete shards {sorted(waiting)}; run the command again.")
        counts = self.manifest["counts"]
        return BuildReport(self.manifest["shards_total"], reused, len(plans), counts["inputs"],
                           counts["embedded"], counts["skipped"], total)

    def _write_shard(self, plan: _ShardPlan, outputs: list[Batch]) -> None:
        from safetensors.numpy import save

        merged = {key: np.concatenate([batch[key] for batch in outputs]) for key in outputs[0]}
        order = np.argsort(merged["index"], kind="stable")
        merged = {key: value[order] for key, value in merged.items()}
        self._check_encoder(merged["encoder"])
        ok = merged["error"] == ""
        lines, skipped = [], []
        for row, index in enumerate(merged["index"]):
            item = self.source.items[int(index)]
            if not ok[row]:
                skipped.append({"id": item.id, "reason": str(merged["error"][row])})
                continue
            record = StoredRecord(item.id, item.label, str(merged["sha256"][row]), int(merged["width"][row]),
                                  int(merged["height"][row]), item.locator)
            lines.append(json.dumps(record.__dict__, ensure_ascii=False))
        vectors = np.ascontiguousarray(merged["embedding"][ok], dtype=np.float32)
        embeddings = save({EMBEDDINGS_KEY: vectors}, metadata={"format": f"{FORMAT}/{VERSION}"})
        records = ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")
        embeddings_path, records_path = shard_paths(self.out, plan.number)
        atomic_write_bytes(embeddings_path, embeddings)
        atomic_write_bytes(records_path, records)
        entry = {
            "number": plan.number, "first": plan.first, "count": plan.count, "embedded": len(lines),
            "skipped": skipped,
            "sha256": {"embeddings": hashlib.sha256(embeddings).hexdigest(),
                       "records": hashlib.sha256(records).hexdigest()},
        }
        shards = [e for e in self.manifest["shards"] if e["number"] != plan.number] + [entry]
        self.manifest["shards"] = sorted(shards, key=lambda e: e["number"])
        self._write_manifest(self.manifest)

    def _check_encoder(self, encoders: np.ndarray) -> None:
        """Every batch must come from the same model and image settings as the store."""
        reported = {json.loads(text)["identity"]: json.loads(text) for text in set(encoders.tolist())}
        model = self.manifest["model"]
        for identity, info in reported.items():
            if identity != model["identity"]:
                raise StoreError(f"A worker loaded a different model ({identity}) than this store's "
                                 f"({model['identity']}); every machine must have the same checkpoint.")
            if model["image_settings_key"] is None:
                model.update(image_settings_key=info["image_settings_key"], dtype=info["dtype"], dim=info["dim"],
                             decode=info["decode"])
            elif model.get("decode", FULL_SIZE_DECODE) != info["decode"]:
                raise StoreError(
                    f"This store's images were decoded another way ({model.get('decode', FULL_SIZE_DECODE)}) than "
                    f"this version decodes them ({info['decode']}); choose a new --out folder to build it afresh."
                )
            elif (info["image_settings_key"], info["dtype"]) != (model["image_settings_key"], model["dtype"]):
                raise StoreError(
                    f"A worker encodes images with other settings ({info['dtype']}, {info['image_settings_key']}) "
                    f"than this store ({model['dtype']}, {model['image_settings_key']}); use the same device "
                    "type (CPU or GPU) on every machine and for resuming."
                )

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        shards = manifest["shards"]
        skipped = list(manifest["rejected"]) + [item for entry in shards for item in entry["skipped"]]
        manifest["skipped"] = skipped
        manifest["counts"] = {
            "inputs": len(self.source.items) + len(manifest["rejected"]),
            "embedded": sum(entry["embedded"] for entry in shards),
            "skipped": len(skipped),
        }
        manifest["complete"] = len(shards) == manifest["shards_total"]
        atomic_write_json(self.out / MANIFEST, manifest)


def items_fingerprint(source: Source) -> str:
    """SHA-256 over the source's items (id, label, locator) and class names, in order."""
    digest = hashlib.sha256(json.dumps(source.classes).encode())
    for item in source.items:
        digest.update(json.dumps([item.id, item.label, item.locator], ensure_ascii=False).encode())
    return digest.hexdigest()


def _check_resumable(manifest: dict[str, Any], out: Path, model: dict[str, str], fingerprint: str,
                     shard_size: int | None, batch_size: int | None) -> None:
    """A re-run must use the same model, source items, shard size and batch size."""
    name = out.name
    if manifest["model"]["identity"] != model["identity"]:
        raise StoreError(f"The store '{name}' was built with another model ({manifest['model']['name']}); "
                         "choose a new --out folder for this model.")
    if manifest["items_fingerprint"] != fingerprint:
        raise StoreError(f"The source has changed since the store '{name}' was started (other images, labels or "
                         "order); choose a new --out folder, or delete the old store to rebuild it.")
    for what, asked in (("shard_size", shard_size), ("batch_size", batch_size)):
        if asked is not None and asked != manifest[what]:
            raise StoreError(f"The store '{name}' uses {what.replace('_', ' ')} {manifest[what]}; resume it with "
                             f"the same value (or leave the option out).")

