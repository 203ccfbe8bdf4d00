"""Load any Hugging Face dual encoder once per process; every model-family quirk lives here.

CLIP family (CLIP, MetaCLIP, ...): logits = exp(logit_scale) * cos, softmax over classes,
text padded dynamically (truncated at the model's context length).
SigLIP family (SigLIP, SigLIP 2): logits = exp(logit_scale) * cos + logit_bias, an independent
sigmoid per class, text right-padded to ``max_length`` 64 and encoded without an attention
mask, as big_vision trained them (the text tower pools the last position). transformers'
pipeline passes the tokenizer's mask; we follow the original training. SigLIP 2 was trained
on lower-cased text, so prompts are lower-cased for it (recognised by model type "siglip2" or,
for the fixed-resolution checkpoints that report "siglip", by their Gemma tokenizer).

Optional int8 (CPU): dynamic quantisation of every ``nn.Linear`` (weights int8 per tensor,
activations quantised per batch) with ``torch.ao.quantization.quantize_dynamic`` and the
fbgemm kernels. torchao's maintained successor (``Int8DynamicActivationInt8WeightConfig``)
was measured 12x slower than float32 on this CPU build (10x with ``torch.compile``, after a
30 s compile), so the older API is used; its deprecation warnings are silenced here only.

Loading is split in two: the *card* (identity, family, tokenisation, logit scale and bias, image
settings, embedding size; see ``model_cards``) and the *parts* (weights and processor). A
checkpoint loaded once before gets its card from the cache directory and its parts only when
something must be encoded, so a run whose prompts and images are all cached starts without
transformers and without reading the weights; with a CPU-only torch build it does not import
torch either (see ``devices``).
"""

from __future__ import annotations

import hashlib
import inspect
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image

from prompting.encoding.devices import device_type, dtype_name, pick_device
from prompting.encoding.model_cards import (
    cached_snapshot,
    card_key,
    checkpoint_folder,
    remember_card,
    remembered_card,
)
from prompting.encoding.pixels import FastPixels, fast_pixels
from prompting.errors import ModelLoadError
from prompting.storage import file_sha256
from prompting.vectors import softmax

if TYPE_CHECKING:
    import torch

DEFAULT_MODEL = "openai/clip-vit-base-patch32"
SIGLIP_MODEL_TYPES = frozenset({"siglip", "siglip2"})
SIGLIP_TEXT_LENGTH = 64
# Processor fields that do not change the pixels a model sees.
IMAGE_CONFIG_NOISE = frozenset({"processor_class", "image_processor_type", "_processor_class"})
Family = Literal["clip", "siglip"]
Quantization = Literal["int8"]
QUANTIZATIONS: tuple[str, ...] = ("int8",)
SPEED_SMOOTHING = 0.3  # weight of the newest batch in the moving average of seconds per item
# The speed probe: batches large enough to run near a real batch's speed per item (8 prompts or 2
# images took 1.3x as long per item as batches of 64 and 16 on the development machine).
PROBE_PROMPTS = tuple(template.format(word) for template in ("a photo of a {}.", "a blurry photo of a {}.",
                                                             "a photo of the small {}.", "a drawing of a {}, an animal.")
                      for word in ("cat", "dog", "bird", "crane", "fish", "frog", "horse", "deer"))
PROBE_IMAGES, PROBE_IMAGE_SIZE = 4, (640, 480)


@dataclass
class Throughput:
    """Seconds per prompt and per image measured on this machine (moving averages over
    batches, None until measured): the basis of time estimates and progress weights."""

    text: float | None = None
    image: float | None = None

    def record(self, kind: Literal["text", "image"], items: int, seconds: float) -> None:
        """Fold one batch of ``items`` that took ``seconds`` into the average for ``kind``."""
        if items <= 0:
            return
        per_item = seconds / items
        old = getattr(self, kind)
        setattr(self, kind, per_item if old is None else (1 - SPEED_SMOOTHING) * old + SPEED_SMOOTHING * per_item)


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


@dataclass(frozen=True)
class ModelCard:
    """What runs need to know about a checkpoint besides its weights (see ``model_cards``).

    ``image_preprocessing`` describes how images are preprocessed (processor class, sizes, crop,
    resampling, rescaling, normalisation); ``dtype`` is the weights' precision ("float32",
    "float16"); ``image_input_side`` is the largest side the processor resizes to (None: no
    fixed size); ``embedding_dim`` is the length of the model's embeddings.
    """

    identity: str
    family: Family
    model_type: str
    text_settings: TextSettings
    logit_scale: float
    logit_bias: float
    image_preprocessing: str
    dtype: str
    image_input_side: int | None
    embedding_dim: int
    quantization: Quantization | None = None

    @property
    def image_settings_key(self) -> str:
        """Part of every image-embedding key: the preprocessing, precision and quantisation."""
        return self.image_settings_key_in(self.dtype)

    def image_settings_key_in(self, dtype: str) -> str:
        """The image settings key these images would have if encoded in ``dtype`` (a store
        embedded in half precision on a GPU is checked against it)."""
        return settings_digest(self.image_preprocessing, dtype, self.quantization)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """The card ``as_dict`` wrote (KeyError/TypeError when it is not one)."""
        return cls(**{**data, "text_settings": TextSettings(**data["text_settings"])})


class ModelParts:
    """The heavy half of a dual encoder, weights and processor, loaded once on first use."""

    def __init__(self, loader: Callable[[], tuple[Any, Any]], loaded: tuple[Any, Any] | None = None) -> None:
        self._loader = loader
        self._loaded = loaded
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the weights and processor are in memory."""
        return self._loaded is not None

    def get(self) -> tuple[Any, Any]:
        """(model, processor), loading them the first time."""
        with self._lock:
            if self._loaded is None:
                self._loaded = self._loader()
            return self._loaded


@dataclass
class DualEncoder:
    """A dual encoder: its card (cheap facts) and its parts (weights, processor; loaded on first
    use), with the family's scoring rule."""

    name: str
    card: ModelCard
    parts: ModelParts
    device: str
    speed: Throughput = field(default_factory=Throughput, repr=False)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _fast_pixels: FastPixels | Literal[False] | None = field(default=None, repr=False)

    @property
    def model(self) -> Any:
        """The torch model (loaded on first use)."""
        return self.parts.get()[0]

    @property
    def processor(self) -> Any:
        """The tokenizer and image processor (loaded on first use)."""
        return self.parts.get()[1]

    @property
    def dtype(self) -> str:
        """The weights' precision: "float32", or "float16" on CUDA."""
        return self.card.dtype

    @property
    def identity(self) -> str:
        """Hub id and commit, or ``local:`` and a fingerprint of the weights."""
        return self.card.identity

    @property
    def family(self) -> Family:
        """"clip" (softmax over classes) or "siglip" (sigmoid per class)."""
        return self.card.family

    @property
    def model_type(self) -> str:
        """The config's model type (clip, siglip, siglip2, ...)."""
        return self.card.model_type

    @property
    def text_settings(self) -> TextSettings:
        """How prompts are tokenised."""
        return self.card.text_settings

    @property
    def logit_scale(self) -> float:
        """exp(logit_scale) of the model."""
        return self.card.logit_scale

    @property
    def logit_bias(self) -> float:
        """SigLIP's logit bias (0 for the CLIP family)."""
        return self.card.logit_bias

    @property
    def quantization(self) -> Quantization | None:
        """"int8" when the linear layers run dynamically quantised, else None."""
        return self.card.quantization

    @property
    def image_settings_key(self) -> str:
        """A short digest of how images are preprocessed (processor class, sizes, crop, resampling,
        rescaling, normalisation) plus the weights' dtype and quantisation, if any: part of every
        image-embedding key."""
        return self.card.image_settings_key

    @property
    def text_settings_key(self) -> str:
        """Tokenisation settings plus quantisation, if any: part of every text-embedding key."""
        return self.text_settings.key() + (f";quant={self.quantization}" if self.quantization else "")

    @property
    def image_input_side(self) -> int | None:
        """The largest side the image processor resizes to (what decoding at model size must
        keep), or None when it does not resize to a fixed size (then nothing is reduced)."""
        return self.card.image_input_side

    @property
    def embedding_dim(self) -> int:
        """Length of this model's embeddings."""
        return self.card.embedding_dim

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
        import torch

        tokens = self.text_settings.tokenize(self.processor.tokenizer, self.prepare_text(texts))
        inputs = {k: v.to(self.device) for k, v in tokens.items()}
        with self.lock, torch.inference_mode():
            features = _pooled(self.model.get_text_features(**inputs))
        return _normalise(features)

    def encode_images(self, images: list[Image.Image]) -> np.ndarray:
        """L2-normalised image embeddings (float32, len(images) x D) for one batch (any size:
        the processor resizes; ``images.load_image(..., min_side=image_input_side)`` decodes
        no larger than needed)."""
        import torch

        pixels = self._pixel_values(images)
        accepted = _accepted(self.model.get_image_features)
        dtype = getattr(torch, self.dtype)
        inputs = {
            k: (v.to(self.device, dtype) if torch.is_floating_point(v) else v.to(self.device))
            for k, v in pixels.items()
            if k in accepted
        }
        with self.lock, torch.inference_mode():
            features = _pooled(self.model.get_image_features(**inputs))
        return _normalise(features)

    def _pixel_values(self, images: list[Image.Image]) -> Any:
        """The image processor's inputs for ``images``: by ``FastPixels`` (the same values, in
        a fraction of the time) when it can make them, else by the processor itself."""
        processor = self.processor.image_processor
        if self._fast_pixels is None:
            self._fast_pixels = fast_pixels(processor) or False
        values = self._fast_pixels(images) if self._fast_pixels else None
        return {"pixel_values": values} if values is not None else processor(images=images, return_tensors="pt")

    def measure_speed(self) -> Throughput:
        """Time one small batch of each kind not yet measured (after a warm-up call), so a run
        can be estimated before it starts; real batches refine the figures as they run."""
        probes = {
            "text": lambda: self.encode_text(list(PROBE_PROMPTS)),
            "image": lambda: self.encode_images([Image.new("RGB", PROBE_IMAGE_SIZE, (128, 128, 128))] * PROBE_IMAGES),
        }
        for kind, probe in probes.items():
            if getattr(self.speed, kind) is None:
                probe()
                start = time.perf_counter()
                items = len(probe())
                self.speed.record(kind, items, time.perf_counter() - start)
        return self.speed

    def logits(self, cosine: np.ndarray) -> np.ndarray:
        """Model logits from cosine similarities: scale * cos (+ bias for SigLIP)."""
        return self.logit_scale * np.asarray(cosine, dtype=np.float64) + self.logit_bias

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Softmax over the class axis (CLIP family) or an element-wise sigmoid (SigLIP)."""
        logits = np.asarray(logits, dtype=np.float64)
        if self.family == "siglip":
            return 1.0 / (1.0 + np.exp(-logits))
        return softmax(logits, axis=-1)


_MODELS: dict[tuple[str, str | None, str, str | None], DualEncoder] = {}
_MODELS_LOCK = threading.Lock()


def load_model(
    name: str = DEFAULT_MODEL, revision: str | None = None, device: str | None = None,
    quantize: str | None = None,
) -> DualEncoder:
    """Load (once per process, thread-safe) the dual encoder named by a hub id or a local
    directory; ``quantize="int8"`` gives its dynamically quantised variant, on the CPU even where
    a GPU is present (naming another device with it is refused). A checkpoint
    loaded before in this cache directory comes back from its card, its weights and processor
    loading only when something must be encoded (see the module notes)."""
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ModelLoadError(f"Unknown quantisation '{quantize}'; choose one of: {', '.join(QUANTIZATIONS)}.")
    if quantize and device and device_type(device) != "cpu":
        raise ModelLoadError(f"int8 quantisation runs on the CPU only, not on {device_type(device)}; use the CPU or "
                             "leave quantisation off (CUDA runs in half precision).")
    target = "cpu" if quantize and not device else pick_device(device)
    key = (name, revision, target, quantize)
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = _from_card(name, revision, target, quantize) or _load(name, revision, target, quantize)
        return _MODELS[key]


def forget_models() -> None:
    """Drop the loaded models (the next ``load_model`` starts afresh, as a new process would)."""
    with _MODELS_LOCK:
        _MODELS.clear()


def _card_settings(device: str, quantize: str | None) -> str:
    return f"device={device_type(device)};dtype={dtype_name(device)};quant={quantize}"


def _from_card(name: str, revision: str | None, device: str, quantize: str | None) -> DualEncoder | None:
    """The encoder from its remembered card, parts not loaded; None when there is no card."""
    folder = checkpoint_folder(name, revision)
    if folder is None:
        return None
    key = card_key(folder, _card_settings(device, quantize))
    stored = remembered_card(key)
    try:
        card = ModelCard.from_dict(stored) if stored else None
    except (KeyError, TypeError):
        card = None
    if card is None:
        return None

    def load_parts() -> tuple[Any, Any]:
        model, processor = _load_parts(name, revision, device, quantize)
        if _card(name, revision, model, processor, device, quantize) != card:
            raise ModelLoadError(f"Model '{name}' changed on disk while in use; run again to use the new files.")
        return model, processor

    return DualEncoder(name=name, card=card, parts=ModelParts(load_parts), device=device)


def _load(name: str, revision: str | None, device: str, quantize: str | None = None) -> DualEncoder:
    """Load the parts now, derive the card and remember it for later processes."""
    model, processor = _load_parts(name, revision, device, quantize)
    card = _card(name, revision, model, processor, device, quantize)
    folder = checkpoint_folder(name, revision)
    if folder is not None:
        remember_card(card_key(folder, _card_settings(device, quantize)), card.as_dict())
    parts = ModelParts(lambda: (model, processor), loaded=(model, processor))
    return DualEncoder(name=name, card=card, parts=parts, device=device)


def _load_parts(name: str, revision: str | None, device: str, quantize: str | None) -> tuple[Any, Any]:
    """The model (on ``device``, in eval mode, quantised if asked) and its processor."""
    import torch
    from transformers import AutoModel, AutoProcessor

    try:
        model = AutoModel.from_pretrained(name, revision=revision, dtype=getattr(torch, dtype_name(device)))
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
    return (_quantize_int8(model) if quantize else model), processor


def _card(
    name: str, revision: str | None, model: Any, processor: Any, device: str, quantize: str | None
) -> ModelCard:
    """Everything runs need besides the parts, read from the loaded model and processor."""
    model_type = getattr(model.config, "model_type", "")
    is_siglip = model_type in SIGLIP_MODEL_TYPES or hasattr(model, "logit_bias")
    settings = TextSettings(
        padding="max_length" if is_siglip else "longest",
        max_length=SIGLIP_TEXT_LENGTH if is_siglip else _context_length(model),
        lowercase=is_siglip and is_siglip2(model_type, processor.tokenizer),
        attention_mask=not is_siglip,
    )
    return ModelCard(
        identity=_identity(name, revision, model),
        family="siglip" if is_siglip else "clip",
        model_type=model_type,
        text_settings=settings,
        logit_scale=float(model.logit_scale.detach().float().exp().cpu().reshape(-1)[0]),
        logit_bias=float(model.logit_bias.detach().float().cpu().reshape(-1)[0]) if is_siglip else 0.0,
        image_preprocessing=image_preprocessing(processor.image_processor),
        dtype=dtype_name(device),
        image_input_side=image_input_side(processor.image_processor),
        embedding_dim=_embedding_dim(model.config, is_siglip),
        quantization="int8" if quantize else None,
    )


def image_preprocessing(image_processor: Any) -> str:
    """The processor's class and every setting that changes the pixels a model sees."""
    config = image_processor.to_dict()
    relevant = {key: repr(value) for key, value in sorted(config.items()) if key not in IMAGE_CONFIG_NOISE}
    return f"{type(image_processor).__name__}|{relevant}"


def settings_digest(preprocessing: str, dtype: str, quantize: str | None) -> str:
    """The image settings key: a digest of the preprocessing, "torch.<dtype>" and the quantisation."""
    text = f"{preprocessing}|torch.{dtype}" + (f"|{quantize}" if quantize else "")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def image_input_side(image_processor: Any) -> int | None:
    """The largest side an image processor resizes to, or None when it does not resize to a
    fixed size (``shortest_edge`` or ``height``/``width``; others are left alone)."""
    if not getattr(image_processor, "do_resize", True):
        return None
    size = getattr(image_processor, "size", None) or {}
    sides = [int(value) for key, value in dict(size).items() if key in ("shortest_edge", "height", "width") and value]
    return max(sides) if sides else None


def _embedding_dim(config: Any, is_siglip: bool) -> int:
    """CLIP-family models project to ``projection_dim``; SigLIP's text head maps to
    ``projection_size`` (its hidden size by default) and its vision tower pools to the same width."""
    if not is_siglip:
        return int(config.projection_dim)
    text = config.text_config
    return int(getattr(text, "projection_size", None) or text.hidden_size)


def _quantize_int8(model: Any) -> Any:
    """Dynamic int8 quantisation of every linear layer, in place (see the module notes)."""
    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated")
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


def is_siglip2(model_type: str, tokenizer: Any) -> bool:
    """SigLIP 2, also in its fixed-resolution checkpoints that report model_type "siglip":
    those are the SigLIP-family models with a Gemma tokenizer."""
    return model_type == "siglip2" or "gemma" in type(tokenizer).__name__.lower()


def _context_length(model: Any) -> int:
    text_config = getattr(model.config, "text_config", None)
    return int(getattr(text_config, "max_position_embeddings", 77) or 77)


def _identity(name: str, revision: str | None, model: Any) -> str:
    """Hub id plus resolved commit (from the config, else the cache's snapshot), or for a local
    directory a fingerprint of its weight files."""
    path = Path(name)
    if path.is_dir():
        return f"local:{weights_fingerprint(path)}"
    snapshot = cached_snapshot(name, revision)
    commit = getattr(model.config, "_commit_hash", None) or (snapshot.name if snapshot else None)
    return f"hub:{name}@{commit or revision or 'main'}"


def weights_fingerprint(directory: Path) -> str:
    """SHA-256 over the names and contents of a checkpoint directory's weight and config files
    (each file's digest is remembered by path, size, times and inode across processes, so an
    unchanged checkpoint is not read again at every start)."""
    digest = hashlib.sha256()
    patterns = ("*.safetensors", "*.bin", "config.json", "tokenizer.json", "tokenizer_config.json")
    files = sorted({f for pattern in patterns for f in directory.glob(pattern)})
    for file in files:
        digest.update(file.name.encode())
        digest.update(bytes.fromhex(file_sha256(file, remember=True)))
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
