"""Choosing the device and precision without importing torch where the build decides it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from prompting.encoding.devices import (
    device_type,
    dtype_name,
    pick_device,
    torch_build_has_gpu_support,
)
from prompting.errors import ModelLoadError

REPO = Path(__file__).resolve().parent.parent
CPU_BUILD = """from typing import Optional
__version__ = '2.13.0+cpu'
cuda: Optional[str] = None
hip: Optional[str] = None
"""


def _torch_folder(tmp_path: Path, text: str | None) -> Path:
    folder = tmp_path / "torch"
    folder.mkdir()
    if text is not None:
        (folder / "version.py").write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize(("version_file", "gpu"), [
    (CPU_BUILD, False),
    (CPU_BUILD.replace("cuda: Optional[str] = None", "cuda: Optional[str] = '12.8'"), True),
    (CPU_BUILD.replace("hip: Optional[str] = None", "hip = '6.4.1'"), True),
    (CPU_BUILD.replace("hip: Optional[str] = None\n", ""), True),  # a field missing: ask torch
    ("cuda = (", True),  # unreadable: ask torch
    (None, True),  # no version.py: ask torch
])
def test_the_build_is_read_from_torch_version_file(tmp_path: Path, version_file: str | None, gpu: bool) -> None:
    assert torch_build_has_gpu_support(_torch_folder(tmp_path, version_file)) is gpu


def test_the_installed_build_agrees_with_torch() -> None:
    import torch

    built_for_gpu = torch.version.cuda is not None or torch.version.hip is not None
    assert torch_build_has_gpu_support() is built_for_gpu


def test_cpu_is_chosen_without_importing_torch_on_a_cpu_build() -> None:
    code = ("import sys\nfrom prompting.encoding.devices import pick_device\n"
            "print(pick_device(), pick_device('cpu'), 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=True)
    if torch_build_has_gpu_support():
        pytest.skip("this torch build supports GPUs, so choosing a device imports torch")
    assert proc.stdout.split() == ["cpu", "cpu", "False"]


def test_devices_are_named_as_torch_names_them() -> None:
    assert device_type("cuda:1") == "cuda" and pick_device("cpu") == "cpu"
    assert dtype_name("cuda:1") == "float16" and dtype_name("cpu") == "float32" and dtype_name("mps") == "float32"
    with pytest.raises(ModelLoadError, match="Unknown device 'gpu'. Use one of: cpu"):
        pick_device("gpu")
    with pytest.raises(ModelLoadError, match="Device 'meta' holds no data"):
        pick_device("meta")


def test_a_device_this_machine_lacks_is_refused_with_the_ones_it_has() -> None:
    import torch

    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU (cuda:0 on a machine without any)
    with pytest.raises(ModelLoadError, match=rf"Device '{missing}' is not available here \(.+\)\. Use one of: cpu"):
        pick_device(missing)
