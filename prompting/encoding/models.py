"""Load any Hugging Face dual encoder once per process; every model-family quirk lives here.

CLIP family (CLIP, MetaCLIP, ...): logits = exp(logit_scale) * cos, softmax over classes,
text padded dynamically (truncated at the model's context length).
SigLIP family (SigLIP, SigLIP 2): logits = exp(logit_scale) * cos + logit_bias, an independent
sigmoid per class, text right-padded to ``max_length`` 64 and encoded without an attention
mask, as big_vision trained them (the text tower pools the last position). transformers'
pipeline passes the tokenizer's mask; we follow the original training. SigLIP 2 was trained
on lower-cased text, so prompts are lower-cased for it (recognised by model type "siglip2" or,
for the fixed-resolution checkpoints that report "siglip", by their Gemma tokenizer).
"""

from __future__ import annotations

import hashlib
import inspect
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from prompting.errors import ModelLoadError
from prompting.vectors import softmax

DEFAULT_MODEL = "openai/clip-vit-base-patch32"
SIGLIP_MODEL_TYPES = frozenset({"siglip", "siglip2"})
SIGLIP_TEXT_LENGTH = 64
# Processor fields that do not change the pixels a model sees.
IMAGE_CONFIG_NOISE = frozenset({"processor_class", "image_processor_type", "_processor_class"})
Family = Literal["clip", "siglip"]


@dataclass(frozen=True)
class TextSettings:
    """How prompts are tokenised; part of every text-embedding cache key."""

    padding: Literal["longest", "max_length"]
    max_length: int
    lowercase: bool
    attention_mask: bool

    def key(self) -> str:
        """A short string identifying these settings."""
        return (
            f"pad={self.padding};max={self.max_length};lower={int(self.lowercase)};"
            f"mask={int(self.attention_mask)}"
        )

    def tokenize(self, tokenizer: Any, texts: list[str]) -> dict[str, torch.Tensor]:
        """Token tensors for the text tower (right padding; no mask where the family has none)."""
        tokens = tokenizer(
            texts, padding=self.padding, max_length=self.max_length, truncation=True,
            padding_side="right", return_tensors="pt",
        )
        return {k: v for k, v in tokens.items() if k == "input_ids" or (self.attention_mask and k == "attention_mask")}


@dataclass
class DualEncoder:
    """A loaded image-text model with its processor and the family's scoring rule."""

    name: str
    identity: str
    family: Family
    model_type: str
    model: Any
    processor: Any
    device: torch.device
    dtype: torch.dtype
    text_settings: TextSettings
    logit_scale: float
    logit_bias: float
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def image_settings_key(self) -> str:
        """A short digest of how images are preprocessed (processor class, sizes, crop, resampling,
        rescaling, normalisation) plus the weights' dtype: part of every image-embedding key."""
        config = self.processor.image_processor.to_dict()
        relevant = {key: repr(value) for key, value in sorted(config.items()) if key not in IMAGE_CONFIG_NOISE}
        text = f"{type(self.processor.image_processor).__name__}|{relevant}|{self.dtype}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def probability_kind(self) -> Literal["softmax", "sigmoid"]:
        """Softmax over classes (CLIP family) or independent sigmoid per class (SigLIP)."""
        return "sigmoid" if self.family == "siglip" else "softmax"

    def prepare_text(self, texts: list[str]) -> list[str]:
        """Apply the family's text preprocessing (SigLIP 2: lower-case)."""
        return [t.lower() for t in texts] if self.text_settings.lowercase else list(texts)

    def token_lengths(self, texts: list[str]) -> list[int]:
        """Token count of each prompt (after truncation), for length-sorted batching."""
        encoded = self.processor.tokenizer(
            self.prepare_text(texts), truncation=True, max_length=self.text_settings.max_length
        )
        return [len(ids) for ids in encoded["input_ids"]]

    def encode_text(self, texts: list[str]) -> np.ndarray:
        """L2-normalised text embeddings (float32, len(texts) x D) for one batch."""
        tokens = self.text_settings.tokenize(self.processor.tokenizer, self.prepare_text(texts))
        inputs = {k: v.to(self.device) for k, v in tokens.items()}
        with self.lock, torch.inference_mode():
            features = _pooled(self.model.get_text_features(**inputs))
        return _normalise(features)

    def encode_images(self, images: list[Image.Image]) -> np.ndarray:
        """L2-normalised image embeddings (float32, len(images) x D) for one batch."""
        pixels = self.processor.image_processor(images=images, return_tensors="pt")
        accepted = _accepted(self.model.get_image_features)
        inputs = {
            k: (v.to(self.device, self.dtype) if torch.is_floating_point(v) else v.to(self.device))
            for k, v in pixels.items()
            if k in accepted
        }
        with self.lock, torch.inference_mode():
            features = _pooled(self.model.get_image_features(**inputs))
        return _normalise(features)

    def logits(self, cosine: np.ndarray) -> np.ndarray:
        """Model logits from cosine similarities: scale * cos (+ bias for SigLIP)."""
        return self.logit_scale * np.asarray(cosine, dtype=np.float64) + self.logit_bias

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Softmax over the class axis (CLIP family) or an element-wise sigmoid (SigLIP)."""
        logits = np.asarray(logits, dtype=np.float64)
        if self.family == "siglip":
            return 1.0 / (1.0 + np.exp(-logits))
        return softmax(logits, axis=-1)


_MODELS: dict[tuple[str, str | None, str], DualEncoder] = {}
_MODELS_LOCK = threading.Lock()


def pick_device(requested: str | None = None) -> torch.device:
    """The requested device, else CUDA when present, else CPU."""
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(name: str = DEFAULT_MODEL, revision: str | None = None, device: str | None = None) -> DualEncoder:
    """Load (once per process, thread-safe) the dual encoder named by a hub id or a local directory."""
    target = pick_device(device)
    key = (name, revision, str(target))
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = _load(name, revision, target)
        return _MODELS[key]


def _load(name: str, revision: str | None, device: torch.device) -> DualEncoder:
    from transformers import AutoModel, AutoProcessor

    dtype = torch.float16 if device.type == "cuda" else torch.float32
    try:
        model = AutoModel.from_pretrained(name, revision=revision, dtype=dtype)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError... for bad sources
        raise ModelLoadError(*_load_failure_message(name, exc)) from exc
    if not (hasattr(model, "get_text_features") and hasattr(model, "get_image_features")):
        raise ModelLoadError(
            f"Model '{name}' ({type(model).__name__}) is not an image-text dual encoder: it has no "
            "get_text_features/get_image_features. Choose a CLIP, MetaCLIP, SigLIP or SigLIP 2 checkpoint."
        )
    try:
        processor = AutoProcessor.from_pretrained(name, revision=revision)
    except Exception as exc:
        raise ModelLoadError(*_load_failure_message(name, exc)) from exc
    if not (hasattr(processor, "tokenizer") and hasattr(processor, "image_processor")):
        raise ModelLoadError(f"Model '{name}' has no combined text tokenizer and image processor.")
    model = model.to(device).eval()
    model_type = getattr(model.config, "model_type", "")
    is_siglip = model_type in SIGLIP_MODEL_TYPES or hasattr(model, "logit_bias")
    settings = TextSettings(
        padding="max_length" if is_siglip else "longest",
        max_length=SIGLIP_TEXT_LENGTH if is_siglip else _context_length(model),
        lowercase=is_siglip and is_siglip2(model_type, processor.tokenizer),
        attention_mask=not is_siglip,
    )
    bias = float(model.logit_bias.detach().float().cpu().reshape(-1)[0]) if is_siglip else 0.0
    return DualEncoder(
        name=name,
        identity=_identity(name, revision, model),
        family="siglip" if is_siglip else "clip",
        model_type=model_type,
        model=model,
        processor=processor,
        device=device,
        dtype=dtype,
        text_settings=settings,
        logit_scale=float(model.logit_scale.detach().float().exp().cpu().reshape(-1)[0]),
        logit_bias=bias,
    )


def is_siglip2(model_type: str, tokenizer: Any) -> bool:
    """SigLIP 2, also in its fixed-resolution checkpoints that report model_type "siglip":
    those are the SigLIP-family models with a Gemma tokenizer."""
    return model_type == "siglip2" or "gemma" in type(tokenizer).__name__.lower()


def _context_length(model: Any) -> int:
    text_config = getattr(model.config, "text_config", None)
    return int(getattr(text_config, "max_position_embeddings", 77) or 77)


def _identity(name: str, revision: str | None, model: Any) -> str:
    """Hub id plus resolved commit, or for a local directory a fingerprint of its weight files."""
    path = Path(name)
    if path.is_dir():
        return f"local:{weights_fingerprint(path)}"
    commit = getattr(model.config, "_commit_hash", None)
    return f"hub:{name}@{commit or revision or 'main'}"


def weights_fingerprint(directory: Path) -> str:
    """SHA-256 over the names and contents of a checkpoint directory's weight and config files."""
    digest = hashlib.sha256()
    patterns = ("*.safetensors", "*.bin", "config.json", "tokenizer.json", "tokenizer_config.json")
    files = sorted({f for pattern in patterns for f in directory.glob(pattern)})
    for file in files:
        digest.update(file.name.encode())
        with file.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:32]


def _load_failure_message(name: str, exc: Exception) -> tuple[str, str]:
    """(what went wrong, what the operator can do about it)."""
    text = str(exc).strip()
    reason = (text.splitlines()[0] if text else type(exc).__name__).rstrip(".")
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    unreachable = offline or any(word in text.lower() for word in ("connect", "offline", "resolve host"))
    if Path(name).exists() and not Path(name).is_dir():
        hint = "A local model must be a directory saved with save_pretrained (config.json, weights, processor files)."
    elif Path(name).is_dir():
        hint = "The directory must hold a checkpoint saved with save_pretrained (config.json, weights, processor files)."
    elif unreachable:
        hint = (
            "The Hugging Face hub cannot be reached from here and the model is not in the local cache. Either pass "
            "a local directory saved with save_pretrained (--model /path/to/model), or download it where there is "
            f"internet (`hf download {name}`) and copy the Hugging Face cache (~/.cache/huggingface) to this machine"
            + ("; HF_HUB_OFFLINE=1 is set, so only that cache is searched." if offline
               else "; HF_HUB_OFFLINE=1 then uses the cache without trying the network.")
        )
    else:
        hint = "Check the hub id (for example openai/clip-vit-base-patch32 or google/siglip-base-patch16-224)."
    return f"Could not load model '{name}': {reason}.", hint


def _accepted(method: Any) -> set[str]:
    return set(inspect.signature(method).parameters)


def _pooled(output: Any) -> torch.Tensor:
    """transformers 5 returns an output object; older versions a tensor."""
    return output.pooler_output if hasattr(output, "pooler_output") else output


def _normalise(features: torch.Tensor) -> np.ndarray:
    array = features.float().cpu().numpy()
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    return (array / np.maximum(norms, 1e-12)).astype(np.float32)
