"""Engines that fill an embedding store: one process (local) or a Ray cluster (Ray Data).

Both run the same callable class, ``EncodeBatch``: it holds the model, and for one batch of
source items reads each item's bytes, hashes them, decodes them at model size on the image
worker threads, as uploads are (``DECODE_POLICY``, recorded in the manifest; unreadable,
truncated and oversized images become a per-item error, never a failed batch) and
encodes the readable ones in one forward pass. The local engine calls it in a loop; the Ray
engine hands it to ``Dataset.map_batches`` as a stateful transform over a fixed pool of actors
(one model per actor, GPUs per actor when the cluster has them), with one input block per batch
and the order preserved, so both engines see the same batches and yield them in the same order.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from prompting.data.sources import SourceReader, SourceSpec
from prompting.data.store import Batch
from prompting.encoding.embeddings import DECODE_POLICY
from prompting.encoding.images import load_image_or_reason
from prompting.encoding.models import load_model
from prompting.encoding.workers import map_in_workers
from prompting.errors import StoreError

LOG = logging.getLogger(__name__)
PROBE_SIZE = (32, 32)
LOCAL_OBJECT_STORE_BYTES = 512 * 2**20


class EncodeBatch:
    """Read, decode and encode one batch of items (``index``, ``id``, ``locator`` arrays)."""

    def __init__(self, model: str, source: dict[str, Any], device: str | None = None) -> None:
        self.encoder = load_model(model, device=device)
        self.reader = SourceReader(SourceSpec.from_dict(source))
        self.dim = int(self.encoder.encode_images([Image.new("RGB", PROBE_SIZE)]).shape[1])
        self.info = json.dumps({
            "identity": self.encoder.identity,
            "image_settings_key": self.encoder.image_settings_key,
            "dtype": self.encoder.dtype,
            "decode": DECODE_POLICY,
            "dim": self.dim,
        })

    def __call__(self, batch: Batch) -> Batch:
        """Embeddings (zeros where ``error`` is not empty), content hashes and decoded sizes."""
        n = len(batch["index"])
        read = [self._read(str(item_id), str(locator)) for item_id, locator in zip(batch["id"], batch["locator"])]
        side = self.encoder.image_input_side
        decoded = map_in_workers(_decode, [(item_id, data, side) for item_id, (_, data) in zip(batch["id"], read)])
        readable = [row for row, image in enumerate(decoded) if isinstance(image, Image.Image)]
        embedding = np.zeros((n, self.dim), dtype=np.float32)
        if readable:
            embedding[readable] = self.encoder.encode_images([decoded[row] for row in readable])
        sizes = np.array([image.size if isinstance(image, Image.Image) else (0, 0) for image in decoded],
                         dtype=np.int64).reshape(n, 2)
        return {
            "index": np.asarray(batch["index"], dtype=np.int64),
            "embedding": embedding,
            "error": np.array(["" if isinstance(image, Image.Image) else image for image in decoded], dtype=object),
            "sha256": np.array([digest for digest, _ in read], dtype=object),
            "width": sizes[:, 0],
            "height": sizes[:, 1],
            "encoder": np.array([self.info] * n, dtype=object),
        }

    def _read(self, item_id: str, locator: str) -> tuple[str, bytes | str]:
        """(content hash, bytes) of one item, or ("", why it could not be read)."""
        try:
            data = self.reader.read(locator)
        except OSError as exc:
            return "", f"'{item_id}' could not be read ({exc.strerror or exc})."
        return hashlib.sha256(data).hexdigest(), data


def _decode(item: tuple[Any, bytes | str, int | None]) -> Image.Image | str:
    """One item's image decoded at model size (as uploads are), or the reason it has none."""
    item_id, data, side = item
    return data if isinstance(data, str) else load_image_or_reason(data, str(item_id), side)


class LocalEngine:
    """``EncodeBatch`` in this process, batch after batch."""

    def __init__(self, model: str, source: SourceSpec, device: str | None = None) -> None:
        self.model, self.source, self.device = model, source, device

    def encode(self, batches: list[Batch]) -> Iterator[Batch]:
        """Output batches in input order."""
        if not batches:
            return
        worker = EncodeBatch(self.model, self.source.as_dict(), self.device)
        for batch in batches:
            yield worker(batch)


class RayEngine:
    """``EncodeBatch`` in a pool of Ray actors through Ray Data ``map_batches``.

    With ``address`` it joins that cluster (and ships the ``prompting`` package to its
    workers); else it uses the Ray instance this process already started, or starts a local
    one for the run and stops it afterwards. Every worker must reach the model and the source
    at the same paths (a shared or copied folder); the store is written by this process only.
    """

    def __init__(self, model: str, source: SourceSpec, device: str | None = None, address: str | None = None,
                 workers: int = 1, cpus_per_worker: float = 1, gpus_per_worker: float | None = None) -> None:
        if workers < 1 or cpus_per_worker <= 0:
            raise StoreError("--workers and --cpus-per-worker must be positive.")
        self.model, self.source, self.device = model, source, device
        self.address, self.workers = address, workers
        self.cpus_per_worker, self.gpus_per_worker = cpus_per_worker, gpus_per_worker

    def encode(self, batches: list[Batch]) -> Iterator[Batch]:
        """Output batches in input order, streamed as the actors finish them."""
        if not batches:
            return
        import ray

        started = self._connect(ray)
        try:
            yield from self._run(ray, batches)
        finally:
            if started:
                ray.shutdown()

    def _connect(self, ray: Any) -> bool:
        """Join or start Ray; True when this engine started it (and must stop it)."""
        if ray.is_initialized():
            return False
        options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
        if self.address:
            package = str(Path(__file__).resolve().parents[1])
            options["runtime_env"] = {"py_modules": [package]}
        else:
            options["object_store_memory"] = LOCAL_OBJECT_STORE_BYTES
        try:
            ray.init(address=self.address, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise StoreError(f"Could not connect to the Ray cluster at '{self.address}': {exc}") from exc
        return True

    def _run(self, ray: Any, batches: list[Batch]) -> Iterator[Batch]:
        import pyarrow as pa
        import ray.data

        logging.getLogger("ray.data").setLevel(logging.WARNING)  # our progress bar says how far it is
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        resources = ray.cluster_resources()
        gpus = self.gpus_per_worker
        if gpus is None:
            gpus = 1 if resources.get("GPU", 0) >= 1 else 0
        for name, each in (("CPU", self.cpus_per_worker), ("GPU", gpus)):
            if self.workers * each > resources.get(name, 0):
                raise StoreError(
                    f"{self.workers} workers x {each:g} {name}s need {self.workers * each:g} {name}s, but the Ray "
                    f"cluster has {resources.get(name, 0):g}; use fewer --workers (or less per worker)."
                )
        blocks = [pa.table({key: list(values) for key, values in batch.items()}) for batch in batches]
        dataset = ray.data.from_arrow(blocks).map_batches(
            EncodeBatch,
            fn_constructor_kwargs={"model": self.model, "source": self.source.as_dict(), "device": self.device},
            batch_size=None,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.workers),
            num_cpus=self.cpus_per_worker,
            num_gpus=gpus,
        )
        yield from dataset.iter_batches(batch_size=None, batch_format="numpy")
