"""The Ray engine: started and stopped by the command itself, and on a local Ray instance of
2 CPUs started and stopped by this module; the stores it writes equal the local engine's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prompting.cli.main import main
from prompting.data.store import open_store
from tests.test_store import write_image_set

ray = pytest.importorskip("ray")  # in requirements.txt; the import only guards a broken install


def test_embed_starts_and_stops_its_own_ray_and_ships_the_package(tiny_clip_dir: Path, tmp_path: Path) -> None:
    """Without a running Ray, ``--address local`` starts a fresh instance (Ray's own word for it),
    ships ``prompting`` to the workers as a runtime-env module, and stops the instance after."""
    assert not ray.is_initialized()
    images = write_image_set(tmp_path / "images", per_class=4)
    common = ["embed", "--model", str(tiny_clip_dir), "--images", str(images)]
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--out", str(tmp_path / "ray"), "--engine", "ray", "--address", "local"]) == 0
    assert not ray.is_initialized()
    ours, theirs = open_store(tmp_path / "local").load(), open_store(tmp_path / "ray").load()
    assert theirs.records == ours.records and theirs.skipped == ours.skipped
    np.testing.assert_allclose(theirs.vectors, ours.vectors, atol=1e-5)


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


def test_more_workers_than_the_cluster_holds_is_refused(local_ray, tiny_clip_dir: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    images = write_image_set(tmp_path / "images", per_class=2)
    assert main(["embed", "--model", str(tiny_clip_dir), "--images", str(images), "--out", str(tmp_path / "s"),
                 "--engine", "ray", "--workers", "3"]) == 2
    assert "3 workers x 1 CPUs need 3 CPUs, but the Ray cluster has 2" in capsys.readouterr().err
