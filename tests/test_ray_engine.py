"""The Ray engine on a local Ray instance of 2 CPUs (started and stopped by this module): the
store it writes equals the local engine's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prompting.cli.main import main
from prompting.data.store import open_store
from tests.test_store import write_image_set

ray = pytest.importorskip("ray")  # in requirements.txt; the import only guards a broken install


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 * 2**20, logging_level="WARNING")
    yield ray
    ray.shutdown()


def test_ray_store_equals_local_store(local_ray, tiny_clip_dir: Path, tmp_path: Path) -> None:
    images = write_image_set(tmp_path / "images", per_class=100)
    common = ["embed", "--model", str(tiny_clip_dir), "--images", str(images), "--shard-size", "64",
              "--batch-size", "16"]
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--out", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2"]) == 0
    assert local_ray.is_initialized()  # the engine leaves a Ray instance it did not start running
    local, distributed = open_store(tmp_path / "local"), open_store(tmp_path / "ray")
    assert distributed.counts == local.counts == {"inputs": 303, "embedded": 300, "skipped": 3}
    assert distributed.manifest["skipped"] == local.manifest["skipped"]
    assert {item["id"] for item in local.manifest["skipped"]} == {
        "class0/bomb.png", "class1/notes.jpg", "class2/truncated.png"}
    assert distributed.model == local.model and distributed.classes == local.classes
    ours, theirs = local.load(), distributed.load()
    assert theirs.records == ours.records
    np.testing.assert_allclose(theirs.vectors, ours.vectors, atol=1e-5)
    strip = ("shards", "complete")
    assert {k: v for k, v in distributed.manifest.items() if k not in strip} == \
        {k: v for k, v in local.manifest.items() if k not in strip}
    assert [(e["number"], e["count"], e["skipped"]) for e in distributed.manifest["shards"]] == \
        [(e["number"], e["count"], e["skipped"]) for e in local.manifest["shards"]]
