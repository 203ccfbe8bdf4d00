"""Specific exceptions raised by the core; the CLI and the app turn them into messages."""


class PromptingError(Exception):
    """Base class for every error the core raises on bad input or a failed resource."""


class ModelLoadError(PromptingError):
    """A model could not be loaded (offline and not cached, bad path, not a dual encoder)."""


class ClassListError(PromptingError):
    """A class list is empty, has duplicates or is otherwise unusable."""


class DescriptionsError(PromptingError):
    """A CuPL/DCLIP descriptions file is malformed or does not cover the class list."""


class StrategyError(PromptingError):
    """An unknown strategy or a strategy missing what it needs (templates, descriptions)."""


class ImageDecodeError(PromptingError):
    """A file is not a decodable image; the message says why."""


class DatasetError(PromptingError):
    """An image folder is missing, empty or laid out wrongly."""


class LLMError(PromptingError):
    """A language-model request failed after retries; the message names endpoint and cause."""


class StoreError(PromptingError):
    """An embedding store is missing, incomplete, corrupt, or was built for another model or source."""


class CacheError(PromptingError):
    """The persistent cache is unusable as configured (its directory is a file or unwritable, a bad size)."""


class BudgetError(PromptingError):
    """A request asks for more work than this server allows (pixels to decode, prompts to encode)."""
