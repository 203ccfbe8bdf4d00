"""The embedding store with the local engine: contents, bad inputs, determinism and resuming
(after an injected failure, a corrupted shard, and a real process killed part-way)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from prompting.cli.main import main
from prompting.data.engines import LocalEngine
from prompting.data.sources import open_source
from prompting.data.store import MANIFEST, BuildReport, StoreBuilder, open_store
from prompting.encoding.embeddings import DECODE_POLICY
from prompting.encoding.images import load_image
from prompting.encoding.models import load_model
from prompting.errors import StoreError
from prompting.evaluation.compare import ImageInput, encode_images
from tests.conftest import make_image

REPO = Path(__file__).resolve().parents[1]
SHARD, BATCH = 8, 4


def write_image_set(root: Path, per_class: int = 14, classes: int = 3) -> Path:
    """Small distinct images in class folders, plus an unreadable, a truncated and a bomb file."""
    for c in range(classes):
        for i in range(per_class):
            make_image(root / f"class{c}" / f"{i:03d}.png", 1000 * c + i, size=(20 + i % 7, 18 + c))
    (root / "class1" / "notes.jpg").write_text("not an image")
    whole = (root / "class0" / "000.png").read_bytes()
    (root / "class2" / "truncated.png").write_bytes(whole[: len(whole) // 2])
    Image.new("1", (10_000, 10_000)).save(root / "class0" / "bomb.png")  # 100 Mpixel in a few kB
    return root


@pytest.fixture(scope="module")
def image_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_image_set(tmp_path_factory.mktemp("store-set"))


def build(model: Path, source_dir: Path, out: Path, engine=None, shard_size: int | None = SHARD,
          batch_size: int | None = BATCH) -> BuildReport:
    source = open_source(source_dir)
    encoder = load_model(str(model))
    builder = StoreBuilder(out, source, {"name": str(model), "identity": encoder.identity}, shard_size, batch_size)
    return builder.build(engine or LocalEngine(str(model), source.spec))


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_store_holds_every_readable_image_and_lists_the_bad_ones(
    tiny_clip_dir: Path, image_set: Path, tmp_path: Path
) -> None:
    report = build(tiny_clip_dir, image_set, tmp_path / "store")
    assert (report.inputs, report.embedded, report.skipped) == (45, 42, 3)
    assert (report.shards_total, report.shards_written, report.shards_reused) == (6, 6, 0)
    store = open_store(tmp_path / "store")
    assert store.complete and store.classes == ["class0", "class1", "class2"] and store.label_kind == "names"
    encoder = load_model(str(tiny_clip_dir))
    assert store.model == {"name": str(tiny_clip_dir), "identity": encoder.identity,
                           "image_settings_key": encoder.image_settings_key, "dtype": "float32", "dim": 32,
                           "decode": DECODE_POLICY}
    reasons = {item["id"]: item["reason"] for item in store.manifest["skipped"]}
    assert set(reasons) == {"class0/bomb.png", "class1/notes.jpg", "class2/truncated.png"}
    assert "too large to decode safely" in reasons["class0/bomb.png"]
    assert "is not an image" in reasons["class1/notes.jpg"]
    assert "truncated or corrupt" in reasons["class2/truncated.png"]
    contents = store.load()
    assert [r.id for r in contents.records][:3] == ["class0/000.png", "class0/001.png", "class0/002.png"]
    assert [r.label for r in contents.records] == [0] * 14 + [1] * 14 + [2] * 14
    first = contents.records[5]
    path = image_set / first.id
    assert first.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (first.width, first.height) == Image.open(path).size
    expected = encoder.encode_images([load_image(image_set / r.id) for r in contents.records[:6]])
    np.testing.assert_allclose(contents.vectors[:6], expected, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(contents.vectors, axis=1), 1.0, atol=1e-6)


def test_a_large_photo_is_stored_as_an_upload_of_it_is_encoded(tiny_clip_dir: Path, tmp_path: Path) -> None:
    """Decoded at model size like uploads: the same vector through the store and through the
    upload path, and the recorded size is the reduced one."""
    rng = np.random.default_rng(3)
    smooth = Image.fromarray(rng.integers(0, 256, size=(30, 40, 3), dtype=np.uint8)).resize((1600, 1200), Image.BICUBIC)
    (tmp_path / "photos" / "cat").mkdir(parents=True)
    smooth.save(tmp_path / "photos" / "cat" / "big.jpg", quality=90)
    build(tiny_clip_dir, tmp_path / "photos", tmp_path / "store")
    contents = open_store(tmp_path / "store").load()
    encoder = load_model(str(tiny_clip_dir))
    record = contents.records[0]
    side = encoder.image_input_side
    assert 2 * side <= min(record.width, record.height) and max(record.width, record.height) < 1600
    uploaded = encode_images(encoder, [ImageInput(str(tmp_path / "photos" / "cat" / "big.jpg"))]).vectors
    np.testing.assert_allclose(contents.vectors, uploaded, atol=1e-6)


def test_a_store_decoded_at_full_size_is_not_resumed_at_model_size(
    tiny_clip_dir: Path, image_set: Path, tmp_path: Path
) -> None:
    """A store begun before decoding at model size (its manifest names no decoding) is refused
    rather than finished with vectors made another way."""
    build(tiny_clip_dir, image_set, tmp_path / "store")
    path = tmp_path / "store" / MANIFEST
    manifest = json.loads(path.read_text())
    del manifest["model"]["decode"]
    manifest["shards"] = manifest["shards"][:2]
    path.write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match=r"decoded another way \(full-size\)"):
        build(tiny_clip_dir, image_set, tmp_path / "store")


def test_two_runs_write_byte_identical_stores(tiny_clip_dir: Path, image_set: Path, tmp_path: Path) -> None:
    build(tiny_clip_dir, image_set, tmp_path / "a")
    build(tiny_clip_dir, image_set, tmp_path / "b")
    first, second = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert list(first) == [MANIFEST] + [f"shards/{n:05d}.{ext}" for n in range(6) for ext in ("jsonl", "safetensors")]
    assert first == second


class FailingEngine:
    """The local engine, failing after ``batches`` output batches (as a crash part-way would)."""

    def __init__(self, engine: LocalEngine, batches: int) -> None:
        self.engine, self.batches = engine, batches

    def encode(self, batches: list) -> Iterator[dict]:
        for number, output in enumerate(self.engine.encode(batches)):
            if number == self.batches:
                raise RuntimeError("worker lost")
            yield output


def test_a_failed_run_resumes_to_the_identical_store(tiny_clip_dir: Path, image_set: Path, tmp_path: Path) -> None:
    build(tiny_clip_dir, image_set, tmp_path / "reference")
    spec = open_source(image_set).spec
    with pytest.raises(RuntimeError, match="worker lost"):
        build(tiny_clip_dir, image_set, tmp_path / "store", FailingEngine(LocalEngine(str(tiny_clip_dir), spec), 5))
    partial = open_store(tmp_path / "store")
    assert [e["number"] for e in partial.manifest["shards"]] == [0, 1] and not partial.complete
    with pytest.raises(StoreError, match="incomplete \\(2 of 6 shards\\)"):
        partial.load()
    report = build(tiny_clip_dir, image_set, tmp_path / "store", shard_size=None, batch_size=None)
    assert (report.shards_reused, report.shards_written) == (2, 4)
    assert tree(tmp_path / "store") == tree(tmp_path / "reference")


def test_a_changed_shard_file_is_rebuilt(tiny_clip_dir: Path, image_set: Path, tmp_path: Path) -> None:
    build(tiny_clip_dir, image_set, tmp_path / "store")
    reference = tree(tmp_path / "store")
    records = tmp_path / "store" / "shards" / "00003.jsonl"
    records.write_text(records.read_text().replace("class1", "class9"))
    with pytest.raises(StoreError, match="does not match its hash"):
        open_store(tmp_path / "store").load()
    report = build(tiny_clip_dir, image_set, tmp_path / "store")
    assert (report.shards_reused, report.shards_written) == (5, 1)
    assert tree(tmp_path / "store") == reference


def test_resuming_needs_the_same_model_source_and_sizes(
    tiny_clip_dir: Path, tiny_siglip_dir: Path, image_set: Path, tmp_path: Path
) -> None:
    build(tiny_clip_dir, image_set, tmp_path / "store")
    with pytest.raises(StoreError, match="built with another model"):
        build(tiny_siglip_dir, image_set, tmp_path / "store")
    with pytest.raises(StoreError, match="uses batch size 4"):
        build(tiny_clip_dir, image_set, tmp_path / "store", batch_size=5)
    other = write_image_set(tmp_path / "other", per_class=3)
    with pytest.raises(StoreError, match="source has changed"):
        build(tiny_clip_dir, other, tmp_path / "store")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(StoreError, match="exists and is not an embedding store"):
        build(tiny_clip_dir, image_set, tmp_path / "notes")
    with pytest.raises(StoreError, match="is not an embedding store"):
        open_store(tmp_path / "notes")


def test_a_killed_embed_process_resumes_to_the_identical_store(tiny_clip_dir: Path, tmp_path: Path) -> None:
    """A real ``embed`` process is killed while it waits on an input (a named pipe in shard 2),
    after shards 0 and 1 are written; the re-run finishes the store exactly as one run would."""
    folder = tmp_path / "images"
    names = [f"{i:02d}.png" for i in range(12)]
    for i, name in enumerate(names):
        make_image(folder / name, 500 + i)
    (folder / "list.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    stalled = folder / names[9]
    stalled_bytes = stalled.read_bytes()
    stalled.unlink()
    os.mkfifo(stalled)  # reading it blocks until someone writes: the run stops inside shard 2
    out = tmp_path / "store"
    command = [sys.executable, "-m", "prompting", "embed", "--model", str(tiny_clip_dir), "--images",
               str(folder / "list.txt"), "--out", str(out), "--shard-size", "4", "--batch-size", "2"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while _finished_shards(out) < 2:
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the embed process wrote no shards"
            time.sleep(0.05)
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert _finished_shards(out) == 2 and not open_store(out).complete
    stalled.unlink()
    stalled.write_bytes(stalled_bytes)
    resume = command[3:]
    assert main(resume) == 0
    report = open_store(out).manifest
    assert report["complete"] and report["counts"] == {"inputs": 12, "embedded": 12, "skipped": 0}
    assert main(resume[:-4] + ["--out", str(tmp_path / "reference"), "--shard-size", "4", "--batch-size", "2"]) == 0
    assert tree(out) == tree(tmp_path / "reference")


def _finished_shards(out: Path) -> int:
    try:
        return len(json.loads((out / MANIFEST).read_text())["shards"])
    except (OSError, ValueError):
        return 0
