"""Which device and precision a run uses, decided without importing torch where the answer is
plain: a CPU-only torch build can only run on the CPU, and importing torch (1.2 s) is most of a
run whose prompts and images are all cached.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from prompting.errors import ModelLoadError

GPU_BUILD_FIELDS = ("cuda", "hip")  # torch/version.py: the CUDA or ROCm version a build targets, else None


def pick_device(requested: str | None = None) -> str:
    """The requested device ("cpu", "cuda", "cuda:1", ...), else CUDA when present, else CPU."""
    if requested:
        return _canonical(requested)
    if not torch_build_has_gpu_support():
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def dtype_name(device: str) -> str:
    """The weights' precision on ``device``: half on CUDA, single elsewhere."""
    return "float16" if device_type(device) == "cuda" else "float32"


def device_type(device: str) -> str:
    """"cuda" for "cuda:1", and so on."""
    return device.split(":", 1)[0]


def torch_build_has_gpu_support(torch_folder: Path | None = None) -> bool:
    """Whether the installed torch was built for CUDA or ROCm, read from its ``version.py``
    without importing it; True when that cannot be read (then torch itself is asked)."""
    if torch_folder is None:
        spec = importlib.util.find_spec("torch")
        if spec is None or spec.origin is None:
            return True
        torch_folder = Path(spec.origin).parent
    try:
        tree = ast.parse((torch_folder / "version.py").read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return True
    values: dict[str, object] = {}
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        if isinstance(target, ast.Name) and target.id in GPU_BUILD_FIELDS and node.value is not None:
            values[target.id] = node.value.value if isinstance(node.value, ast.Constant) else "unknown"
    if set(values) != set(GPU_BUILD_FIELDS):
        return True
    return any(value is not None for value in values.values())


def _canonical(requested: str) -> str:
    """``requested`` as torch names it, once a tensor could be made there; a clear error for a
    device torch does not know or this machine does not have."""
    if requested == "cpu":
        return "cpu"
    import torch

    hint = f"Use one of: {', '.join(available_devices())}"
    try:
        device = torch.device(requested)
    except (RuntimeError, ValueError) as exc:
        raise ModelLoadError(f"Unknown device '{requested}'.", f"{hint}.") from exc
    if device.type == "meta":  # shapes without data: nothing can be computed there
        raise ModelLoadError("Device 'meta' holds no data, so no model can run on it.", f"{hint}.")
    try:
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError) as exc:  # torch asserts when it was built without CUDA
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0].rstrip(".")[:160]
        raise ModelLoadError(f"Device '{requested}' is not available here ({reason}).",
                             f"{hint}, or leave the device out.") from exc
    return str(device)


def available_devices() -> list[str]:
    """The devices this machine can run on, as torch names them."""
    import torch

    return ["cpu", *(f"cuda:{index}" for index in range(torch.cuda.device_count()))]
