"""The web app's settings, read once from the command line and the environment.

``--model`` is the model selected when the page opens; ``--models`` (or ``$ZSP_MODELS``, a
comma-separated list) is the menu the operator offers. The page never accepts a model name
outside that menu, so visitors cannot make the server download arbitrary checkpoints.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from prompting.encoding.embeddings import MAX_MB_ENV, cache_limit, set_cache_limit
from prompting.encoding.models import DEFAULT_MODEL, QUANTIZATIONS, DualEncoder, load_model
from prompting.errors import CacheError, LLMError
from prompting.storage import cache_dir
from prompting.llm.config import API_KEY_ENV, BASE_URL_ENV, MODEL_ENV, LLMConfig
from prompting.llm.config import MODELS_ENV as LLM_MODELS_ENV

LOG = logging.getLogger(__name__)
MODELS_ENV = "ZSP_MODELS"
STORES_ENV = "ZSP_STORES"
QUANTIZE_ENV = "ZSP_QUANTIZE"
DEFAULT_LONG_RUN_SECONDS = 60.0
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_MAX_UPLOAD_MB = 50
LLM_ENV_VARS = (BASE_URL_ENV, API_KEY_ENV, MODEL_ENV, LLM_MODELS_ENV)
NO_LLM_NOTE = (
    "No language model is configured on this server, so CuPL and DCLIP descriptions can be imported "
    "as JSON files but not generated here."
)
BAD_LLM_NOTE = (
    "The language-model settings on this server are unusable (the server log says why), so CuPL and DCLIP "
    "descriptions can be imported as JSON files but not generated here."
)
MiB = 2**20
GiB = 2**30


@dataclass(frozen=True)
class RunLimits:
    """What one request may ask of the server: the page and the API endpoints enforce the same caps.

    ``max_classes`` leaves room for ImageNet's 1000 classes (and is also the most classes one
    click may ask the language model about). The work budget of a run: ``max_prompts_per_run``
    new text prompts to encode (``budgets.py``) and ``max_pixels_per_run`` pixels that the new
    images of one run may decode to for each model, summed (JPEGs count at their reduced draft
    size; 400 million is a hundred 12-megapixel PNGs, or five hundred such JPEGs). Each session
    may send ``max_llm_requests_per_session`` requests to the language model and keep ``session_upload_bytes`` / ``session_upload_files`` of unpacked zip
    uploads, within ``upload_bytes_total`` for all sessions (deleted when the session ends).
    The result store keeps at most ``store_records`` runs (one per session) and about
    ``store_bytes`` of arrays. Template selection holds one cosine per (embedded template, image,
    class): at most ``max_selection_cells`` of them (80 MB as float32), with at most
    ``max_folds`` folds and sets of at most ``max_selected_templates``.
    A stored embedding set may hold up to ``max_stored_images`` images, and one run over it at
    most ``max_stored_scores`` images x classes x strategies (8 bytes each held while it runs).
    FuDD scores at most ``max_fudd_pairs`` described pairs with ``max_fudd_differences`` each
    (enough for the authors' DTD file) and asks the language model about at most
    ``max_fudd_generate`` pairs per request.
    """

    max_images: int = 500
    max_classes: int = 1000
    max_templates: int = 200
    max_descriptions_per_class: int = 200
    max_waffle_seeds: int = 10
    max_waffle_count: int = 100
    max_folds: int = 10
    max_selected_templates: int = 20
    max_selection_cells: int = 20_000_000
    max_fudd_pairs: int = 1200
    max_fudd_differences: int = 10
    max_fudd_generate: int = 30
    max_prompts_per_run: int = 100_000
    max_pixels_per_run: int = 400_000_000
    max_llm_requests_per_session: int = 1000
    session_upload_bytes: int = 200 * MiB
    session_upload_files: int = 2000
    upload_bytes_total: int = 2 * GiB
    store_records: int = 64
    store_bytes: int = GiB
    max_stored_images: int = 100_000
    max_stored_scores: int = 200_000_000


# Operator flags for the work budgets: (flag, RunLimits field, unit of the flag, help).
BUDGET_FLAGS = (
    ("--max-prompts-per-run", "max_prompts_per_run", 1, "new text prompts one run may encode"),
    ("--max-megapixels-per-run", "max_pixels_per_run", 1_000_000, "image megapixels one run may decode"),
    ("--max-llm-requests", "max_llm_requests_per_session", 1, "language-model requests per visitor session"),
    ("--max-session-upload-mb", "session_upload_bytes", MiB, "MiB of unpacked zip uploads per session"),
)


@dataclass(frozen=True)
class AppConfig:
    """What the operator chose: default model, model menu, address, upload limit, the folders
    of stored embedding sets (``stores``; the page shows the sets by folder name only), int8
    quantisation, the embedding cache's size and when a run is long enough to confirm."""

    model: str = DEFAULT_MODEL
    models: tuple[str, ...] = ()
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB
    llm: LLMConfig | None = None
    llm_note: str = NO_LLM_NOTE
    limits: RunLimits = RunLimits()
    stores: tuple[str, ...] = ()
    quantize: str | None = None
    cache_max_mb: float | None = None
    long_run_seconds: float = DEFAULT_LONG_RUN_SECONDS

    def load(self, name: str) -> DualEncoder:
        """Load a model as this server runs it (with the operator's quantisation)."""
        return load_model(name, quantize=self.quantize)

    @property
    def model_menu(self) -> list[str]:
        """The models offered in the page, the default first, without repeats."""
        return list(dict.fromkeys([self.model, *self.models]))

    @property
    def max_upload_bytes(self) -> int:
        """The per-file upload limit in bytes."""
        return self.max_upload_mb * 2**20

    @property
    def public_menu(self) -> dict[str, str]:
        """The model menu as visitors see it, ``{shown name: name to load}``: local folders by
        their last part (never a server path), hub ids as they are; full names if two would
        look the same."""
        menu = self.model_menu
        shown = {public_model_name(name): name for name in menu}
        return shown if len(shown) == len(menu) else {name: name for name in menu}

    def resolve_model(self, name: str) -> str | None:
        """The name to load for a menu entry given by its shown or full name (None if not offered)."""
        if name in self.model_menu:
            return name
        return self.public_menu.get(name)


def public_model_name(name: str) -> str:
    """A model name fit to show and download: a hub id as is, a local folder by its last part
    (never a server path)."""
    text = name.strip().rstrip("/\\")
    windows_drive = re.match(r"^[A-Za-z]:[\\/]", text) is not None
    if (Path(text).is_absolute() or text.startswith((".", "~")) or "\\" in text or windows_drive
            or text.count("/") > 1 or Path(text).exists()):
        return re.split(r"[\\/]", text)[-1] or text
    return text


def llm_from_env(env: Mapping[str, str]) -> tuple[LLMConfig | None, str]:
    """The operator's language model, or None with a sentence saying why there is none.

    The sentence is shown to visitors, so it names the model only: never the endpoint's address.
    """
    if not any(env.get(name, "").strip() for name in LLM_ENV_VARS):
        return None, NO_LLM_NOTE
    try:
        config = LLMConfig.from_env(env)
    except LLMError as exc:
        LOG.warning("Language-model settings unusable: %s", exc)
        return None, BAD_LLM_NOTE
    return config, llm_note(config)


def llm_note(config: LLMConfig) -> str:
    """The visitor-facing sentence on who writes the descriptions: model names only."""
    models = config.allowed_models or (config.model,)
    if len(models) == 1:
        return f"Descriptions are generated by the language model {models[0]}."
    return f"Descriptions are generated by the language model you pick ({', '.join(models)})."


def _split_names(text: str) -> tuple[str, ...]:
    """Comma-separated names (models or folders), blanks dropped."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def build_parser() -> argparse.ArgumentParser:
    """The ``python app.py`` argument parser."""
    parser = argparse.ArgumentParser(prog="python app.py", description="Prompt Workbench web app.")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"model selected at start (default {DEFAULT_MODEL})")
    parser.add_argument(
        "--models", help=f"comma-separated models offered in the page (default: ${MODELS_ENV}, else --model only)"
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--max-upload-mb", type=int, default=DEFAULT_MAX_UPLOAD_MB,
        help=f"largest accepted upload per file, in MiB (default {DEFAULT_MAX_UPLOAD_MB})",
    )
    parser.add_argument(
        "--stores", help=f"comma-separated folders of embedding stores offered as stored sets (default: ${STORES_ENV})"
    )
    parser.add_argument(
        "--quantize", choices=QUANTIZATIONS,
        help=f"int8: dynamic int8 quantisation of the encoders' linear layers on the CPU (default: ${QUANTIZE_ENV}, "
             "else off); results say so",
    )
    parser.add_argument(
        "--cache-max-mb", type=float,
        help=f"largest size of the embedding cache in MiB; least recently used go first (default: ${MAX_MB_ENV}, "
             "else 1024)",
    )
    parser.add_argument(
        "--long-run-seconds", type=float, default=DEFAULT_LONG_RUN_SECONDS,
        help="runs estimated to take longer ask the visitor to confirm first "
             f"(default {DEFAULT_LONG_RUN_SECONDS:g}; 0 asks always)",
    )
    defaults = RunLimits()
    for flag, field_name, scale, what in BUDGET_FLAGS:
        parser.add_argument(
            flag, type=int, dest=field_name, metavar="N", default=getattr(defaults, field_name) // scale,
            help=f"{what} (default {getattr(defaults, field_name) // scale:,})",
        )
    return parser


def parse_app_args(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> AppConfig:
    """Settings from ``argv`` and ``env`` (defaults: the process's); bad values exit with usage."""
    env = os.environ if env is None else env
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.max_upload_mb < 1:
        parser.error("--max-upload-mb must be at least 1")
    if not 0 < args.port < 65536:
        parser.error("--port must be between 1 and 65535")
    if args.cache_max_mb is not None and not args.cache_max_mb > 0:
        parser.error("--cache-max-mb must be greater than 0")
    if args.long_run_seconds < 0:
        parser.error("--long-run-seconds must be 0 or more")
    quantize = args.quantize or env.get(QUANTIZE_ENV, "").strip() or None
    if quantize is not None and quantize not in QUANTIZATIONS:
        parser.error(f"${QUANTIZE_ENV} must be one of: {', '.join(QUANTIZATIONS)} (got '{quantize}')")
    try:
        cache_dir()
        if args.cache_max_mb is None:
            cache_limit(env)
    except CacheError as exc:
        parser.error(str(exc))
    budgets = {}
    for flag, field_name, scale, _ in BUDGET_FLAGS:
        value = getattr(args, field_name)
        if value < 1:
            parser.error(f"{flag} must be at least 1")
        budgets[field_name] = value * scale
    models = _split_names(args.models) if args.models else _split_names(env.get(MODELS_ENV, ""))
    stores = _split_names(args.stores) if args.stores else _split_names(env.get(STORES_ENV, ""))
    llm, llm_note = llm_from_env(env)
    return AppConfig(
        model=args.model.strip() or DEFAULT_MODEL,
        models=models,
        host=args.host,
        port=args.port,
        max_upload_mb=args.max_upload_mb,
        llm=llm,
        llm_note=llm_note,
        stores=stores,
        quantize=quantize,
        cache_max_mb=args.cache_max_mb,
        long_run_seconds=args.long_run_seconds,
        limits=RunLimits(**budgets),
    )


def apply_cache_size(config: AppConfig) -> None:
    """Bound the process's embedding cache by the operator's ``--cache-max-mb`` (if given)."""
    if config.cache_max_mb is not None:
        set_cache_limit(int(config.cache_max_mb * 2**20))
